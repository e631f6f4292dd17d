#pragma once
// The evaluation report: one self-contained HTML page comparing one or more scored models on
// labelled data (see report_options.hpp for how pages are built).
//
// Sections: a summary table (ROC-AUC and average precision from txguard/eval/metrics.hpp,
// precision, recall, F1 and the confusion matrix at each model's threshold, CP@k mean); ROC and
// precision-recall curves, overlaid per model, with their AUCs in the legend; score distributions
// by class; precision, recall and F1 against the threshold with the chosen threshold marked; the
// confusion matrices; daily alerts and frauds (when ts_ms is given); daily card precision@k (when
// card_precision is given); feature importance; the top alerts with their reasons; metadata.
//
// Curves are computed over every distinct score and then thinned to at most kMaxCurvePoints points
// per curve (a point is kept when it moved at least 1/kMaxCurvePoints of the curve's length since
// the last kept one; the ends are always kept), so a curve drawn from 1M scores stays small.
// Threshold sweeps use at most kMaxThresholdPoints thresholds, spread evenly over score ranks.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "txguard/core/result.hpp"
#include "txguard/eval/card_precision.hpp"
#include "txguard/report/report_options.hpp"

namespace txguard {

inline constexpr std::size_t kMaxCurvePoints = 2000;
inline constexpr std::size_t kMaxThresholdPoints = 400;

// One model's scores on the evaluation rows. scores and labels are required and of equal length;
// ts_ms and customer are optional (empty) or of the same length.
struct ModelEvaluation {
    std::string name;                     // legend name, e.g. "iforest (model.txg)"; unique
    std::vector<double> scores;           // higher = more suspicious; no NaN
    std::vector<std::int8_t> labels;      // 0 genuine, 1 fraud
    std::vector<std::int64_t> ts_ms;      // optional: per-day alerts and frauds
    std::vector<std::uint32_t> customer;  // optional: fraudulent cards caught at the threshold
    double threshold = 0.0;               // score >= threshold raises an alert
    std::vector<std::pair<std::string, double>> feature_importance;  // optional, any order

    struct Alert {
        std::string transaction_id;
        double score = 0.0;
        std::string customer;
        std::vector<std::pair<std::string, double>> reasons;  // (feature, contribution)
        std::int8_t label = -1;  // -1 unknown, else 0/1 (shown as "fraud" / "genuine")
    };
    std::vector<Alert> top_alerts;  // optional, shown in the order given
    std::vector<std::pair<std::string, std::string>> metadata;  // model and data facts
    std::optional<CardPrecisionResult> card_precision;          // optional: daily CP@k
    std::size_t card_precision_k = 0;                           // the k of card_precision
};

// Writes the report to `path`. Errors: no model, empty or mismatched columns, NaN scores, labels
// other than 0/1, duplicate names, an unwritable path, or (with png_dir) a Chromium failure.
// A model whose labels hold one class only still gets a report; its curves are left out.
Result<void> WriteEvaluationReport(std::span<const ModelEvaluation> models, const std::string& path,
                                   const ReportOptions& options = {});
// The page itself (used by WriteEvaluationReport and the tests).
Result<std::string> RenderEvaluationHtml(std::span<const ModelEvaluation> models,
                                         const ReportOptions& options = {});

}  // namespace txguard
