#include "txguard/eval/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

namespace txguard {
namespace {

Result<void> CheckInputs(std::span<const double> scores, std::span<const std::int8_t> labels) {
    if (scores.size() != labels.size()) {
        return MakeError(ErrorCode::kInvalidArgument, "scores and labels differ in length (" +
                                                          std::to_string(scores.size()) + " vs " +
                                                          std::to_string(labels.size()) + ")");
    }
    for (std::size_t i = 0; i < scores.size(); ++i) {
        if (std::isnan(scores[i]))
            return MakeError(ErrorCode::kInvalidArgument,
                             "score of row " + std::to_string(i) + " is NaN");
        if (labels[i] != 0 && labels[i] != 1)
            return MakeError(ErrorCode::kInvalidArgument, "label of row " + std::to_string(i) +
                                                              " is " + std::to_string(labels[i]) +
                                                              ", expected 0 or 1");
    }
    return Ok();
}

// Walks the thresholds from the highest score down and calls step(tps, fps) after each group of
// tied scores. Returns (P, N).
template <class Step>
Result<std::pair<double, double>> Sweep(std::span<const double> scores,
                                        std::span<const std::int8_t> labels, Step step) {
    TXG_RETURN_IF_ERROR(CheckInputs(scores, labels));
    const std::size_t n = scores.size();
    std::vector<std::uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t a, std::uint32_t b) { return scores[a] > scores[b]; });
    double pos = 0;
    for (auto l : labels) pos += l;
    const double neg = static_cast<double>(n) - pos;
    if (pos == 0 || neg == 0) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "only one class present in the labels (" + std::to_string(n) + " rows, " +
                             std::to_string(static_cast<std::uint64_t>(pos)) +
                             " positive): the metric is undefined");
    }
    double tps = 0, fps = 0;
    for (std::size_t i = 0; i < n;) {
        const double s = scores[order[i]];
        while (i < n && scores[order[i]] == s) {
            if (labels[order[i]])
                tps += 1;
            else
                fps += 1;
            ++i;
        }
        step(tps, fps);
    }
    return std::pair{pos, neg};
}

}  // namespace

Result<double> RocAuc(std::span<const double> scores, std::span<const std::int8_t> labels) {
    double area = 0, prev_tps = 0, prev_fps = 0;
    auto pn = Sweep(scores, labels, [&](double tps, double fps) {
        area += (fps - prev_fps) * (tps + prev_tps) / 2.0;
        prev_tps = tps;
        prev_fps = fps;
    });
    if (!pn) return std::unexpected(pn.error());
    return area / (pn->first * pn->second);
}

Result<double> AveragePrecision(std::span<const double> scores,
                                std::span<const std::int8_t> labels) {
    double sum = 0, prev_tps = 0;
    auto pn = Sweep(scores, labels, [&](double tps, double fps) {
        sum += (tps - prev_tps) * (tps / (tps + fps));
        prev_tps = tps;
    });
    if (!pn) return std::unexpected(pn.error());
    return sum / pn->first;
}

Result<ThresholdMetrics> AtThreshold(std::span<const double> scores,
                                     std::span<const std::int8_t> labels, double threshold) {
    TXG_RETURN_IF_ERROR(CheckInputs(scores, labels));
    ThresholdMetrics m;
    m.threshold = threshold;
    for (std::size_t i = 0; i < scores.size(); ++i) {
        const bool flagged = scores[i] >= threshold;
        if (labels[i]) {
            ++(flagged ? m.confusion.tp : m.confusion.fn);
        } else {
            ++(flagged ? m.confusion.fp : m.confusion.tn);
        }
    }
    const double tp = static_cast<double>(m.confusion.tp);
    const double flagged = tp + static_cast<double>(m.confusion.fp);
    const double positives = tp + static_cast<double>(m.confusion.fn);
    m.precision = flagged > 0 ? tp / flagged : 0.0;
    m.recall = positives > 0 ? tp / positives : 0.0;
    m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
    return m;
}

Result<double> Quantile(std::span<const double> values, double q) {
    if (values.empty()) return MakeError(ErrorCode::kInvalidArgument, "quantile of no values");
    if (!(q >= 0.0 && q <= 1.0))
        return MakeError(ErrorCode::kInvalidArgument, "quantile must be in [0, 1]");
    std::vector<double> v(values.begin(), values.end());
    for (double x : v)
        if (std::isnan(x)) return MakeError(ErrorCode::kInvalidArgument, "quantile of NaN values");
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    std::nth_element(v.begin(), v.begin() + lo, v.end());
    const double a = v[lo];
    if (lo + 1 >= v.size()) return a;
    const double b = *std::min_element(v.begin() + lo + 1, v.end());
    return a + (b - a) * (pos - static_cast<double>(lo));
}

}  // namespace txguard
