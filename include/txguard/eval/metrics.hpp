#pragma once
// Classification metrics for anomaly/fraud scores, defined as scikit-learn 1.2 defines them so that
// numbers can be compared directly. Scores: higher = more suspicious. Labels: 0 or 1.
//
// RocAuc: area under the ROC curve with the trapezoidal rule over distinct score thresholds (tied
//   scores form one step, i.e. half credit), as sklearn.metrics.roc_auc_score.
// AveragePrecision: sum over distinct thresholds (descending) of (R_k - R_{k-1}) * P_k, as
//   sklearn.metrics.average_precision_score (no interpolation).
// At a threshold t a transaction is flagged when score >= t. Precision with no flagged
//   transaction is 0, recall with no positive is 0, F1 is 0 when precision + recall is 0
//   (sklearn's zero_division behaviour, without the warning).
// Cost: O(n log n) for the curve metrics (one sort), O(n) at a threshold.
#include <cstdint>
#include <span>

#include "txguard/core/result.hpp"

namespace txguard {

struct Confusion {
    std::uint64_t tp = 0, fp = 0, tn = 0, fn = 0;
};

struct ThresholdMetrics {
    double threshold = 0.0;
    Confusion confusion;
    double precision = 0.0;
    double recall = 0.0;
    double f1 = 0.0;
};

// Errors (kInvalidArgument) on size mismatch, NaN scores, labels other than 0/1, or when only one
// class is present (the curve is undefined then, as in sklearn).
Result<double> RocAuc(std::span<const double> scores, std::span<const std::int8_t> labels);
Result<double> AveragePrecision(std::span<const double> scores,
                                std::span<const std::int8_t> labels);
Result<ThresholdMetrics> AtThreshold(std::span<const double> scores,
                                     std::span<const std::int8_t> labels, double threshold);

// The q-quantile (0 <= q <= 1) of values with linear interpolation (numpy's default).
Result<double> Quantile(std::span<const double> values, double q);

}  // namespace txguard
