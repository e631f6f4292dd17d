#pragma once
// Evaluating a model the way fraud teams do (../shared/data/handbook/PROTOCOL.md): score the test
// days (features over the whole file in time order), optionally drop the cards already known to be
// compromised given a label delay, and report ROC-AUC, average precision, precision/recall/F1 at
// the threshold, the confusion matrix and Card Precision@k per day.
#include <cstddef>
#include <optional>
#include <vector>

#include "txguard/core/matrix.hpp"
#include "txguard/core/result.hpp"
#include "txguard/eval/card_precision.hpp"
#include "txguard/eval/metrics.hpp"
#include "txguard/model/bundle.hpp"
#include "txguard/model/pipeline.hpp"

namespace txguard {

struct EvalOptions {
    DateRange range;                  // test days
    std::optional<double> threshold;  // default: the model's
    std::optional<int> delay_days;    // set: remove known-compromised cards (needs customers)
    std::size_t top_k = 100;          // Card Precision@k
    unsigned threads = 0;
};

struct Evaluation {
    std::vector<std::size_t> rows;  // evaluated table rows (after removals)
    std::vector<double> scores;     // scores[i] of rows[i]
    std::vector<std::int8_t> labels;
    Matrix inputs;  // the detector's input row of each evaluated row
    std::size_t removed_known_compromised = 0;
    std::uint64_t n_positive = 0;
    double roc_auc = 0.0;
    double average_precision = 0.0;
    ThresholdMetrics at_threshold;
    std::optional<CardPrecisionResult> card_precision;  // when the data has customers and time
    std::size_t top_k = 100;
};

Result<Evaluation> EvaluateModel(const ModelBundle& bundle, const TransactionTable& table,
                                 const EvalOptions& options);

}  // namespace txguard
