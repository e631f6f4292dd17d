#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace txguard {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMaxCountingRange = 65536;
}  // namespace

RankedColumn RankColumn(std::span<const double> values) {
    RankedColumn out;
    const std::size_t n = values.size();
    out.ranks.assign(n, kNaN);
    double lo = std::numeric_limits<double>::infinity();
    double hi = -lo;
    bool integral = true;
    for (double v : values) {
        if (std::isnan(v)) {
            ++out.missing;
            continue;
        }
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        if (integral && v != std::floor(v)) integral = false;
    }
    const std::size_t present = n - out.missing;
    if (present == 0) return out;
    out.sorted.reserve(present);
    if (integral && hi - lo < kMaxCountingRange) {
        // Counting: rank of value v = (values below v) + (count(v) + 1) / 2.
        const auto range = static_cast<std::size_t>(hi - lo) + 1;
        std::vector<std::uint64_t> counts(range, 0);
        for (double v : values)
            if (!std::isnan(v)) ++counts[static_cast<std::size_t>(v - lo)];
        std::vector<double> rank_of(range, 0.0);
        std::uint64_t below = 0;
        for (std::size_t k = 0; k < range; ++k) {
            rank_of[k] = static_cast<double>(below) + (static_cast<double>(counts[k]) + 1.0) / 2.0;
            out.sorted.insert(out.sorted.end(), counts[k], lo + static_cast<double>(k));
            below += counts[k];
        }
        for (std::size_t i = 0; i < n; ++i)
            if (!std::isnan(values[i]))
                out.ranks[i] = rank_of[static_cast<std::size_t>(values[i] - lo)];
        return out;
    }
    std::vector<std::pair<double, std::uint32_t>> pairs;
    pairs.reserve(present);
    for (std::size_t i = 0; i < n; ++i)
        if (!std::isnan(values[i])) pairs.emplace_back(values[i], static_cast<std::uint32_t>(i));
    std::sort(pairs.begin(), pairs.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < pairs.size();) {
        std::size_t j = i;
        while (j < pairs.size() && pairs[j].first == pairs[i].first) ++j;
        const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
        for (std::size_t k = i; k < j; ++k) {
            out.ranks[pairs[k].second] = rank;
            out.sorted.push_back(pairs[k].first);
        }
        i = j;
    }
    return out;
}

double QuantileSorted(std::span<const double> sorted, double q) {
    if (sorted.empty()) return kNaN;
    const double pos = q * static_cast<double>(sorted.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
    const double frac = pos - static_cast<double>(lo);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

double Pearson(std::span<const double> x, std::span<const double> y) {
    const std::size_t n = std::min(x.size(), y.size());
    double sx = 0, sy = 0;
    std::uint64_t m = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(x[i]) || std::isnan(y[i])) continue;
        sx += x[i];
        sy += y[i];
        ++m;
    }
    if (m < 2) return kNaN;
    return PearsonCentred(x, y, sx / static_cast<double>(m), sy / static_cast<double>(m));
}

double PearsonCentred(std::span<const double> x, std::span<const double> y, double mx, double my) {
    const std::size_t n = std::min(x.size(), y.size());
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(x[i]) || std::isnan(y[i])) continue;
        const double dx = x[i] - mx;
        const double dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (!(sxx > 0) || !(syy > 0)) return kNaN;
    return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

double AucFromRanks(std::span<const double> ranks, std::span<const std::int8_t> labels) {
    // The ranks were taken over every present value, which is what U needs.
    double pos_rank_sum = 0;
    double n1 = 0, n0 = 0;
    const std::size_t n = std::min(ranks.size(), labels.size());
    for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(ranks[i])) continue;
        if (labels[i]) {
            pos_rank_sum += ranks[i];
            n1 += 1;
        } else {
            n0 += 1;
        }
    }
    if (n1 == 0 || n0 == 0) return kNaN;
    return (pos_rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0);
}

MeanStd MeanAndStd(std::span<const double> values) {
    double s = 0;
    std::uint64_t m = 0;
    for (double v : values)
        if (!std::isnan(v)) {
            s += v;
            ++m;
        }
    MeanStd out;
    if (m == 0) return {kNaN, kNaN};
    out.mean = s / static_cast<double>(m);
    if (m < 2) {
        out.stddev = kNaN;
        return out;
    }
    double ss = 0;
    for (double v : values)
        if (!std::isnan(v)) ss += (v - out.mean) * (v - out.mean);
    out.stddev = std::sqrt(ss / static_cast<double>(m - 1));
    return out;
}

}  // namespace txguard
