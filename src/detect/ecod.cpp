#include "txguard/detect/ecod.hpp"

#include <algorithm>
#include <cmath>

#include "contributions.hpp"
#include "param_parse.hpp"
#include "txguard/core/bytes.hpp"
#include "txguard/core/parallel.hpp"

namespace txguard {

Result<EcodParams> EcodParams::FromMap(const ParamMap& params) {
    EcodParams p;
    ParamParser parser("ecod", params);
    parser.Unsigned("threads", &p.threads);
    TXG_RETURN_IF_ERROR(parser.Finish());
    return p;
}

ParamMap EcodParams::ToMap() const { return {{"threads", std::to_string(threads)}}; }

Result<void> EcodDetector::Fit(MatrixView x) {
    TXG_RETURN_IF_ERROR(CheckFiniteMatrix(x, 0, "ecod fit"));
    const std::size_t n = x.rows, d = x.cols;
    std::vector<double> sorted(n * d);
    std::vector<std::int8_t> sign(d, 0);
    ParallelChunks(d, std::min<unsigned>(ResolveThreads(params_.threads), d),
                   [&](std::size_t b, std::size_t e, unsigned) {
                       for (std::size_t j = b; j < e; ++j) {
                           double* col = sorted.data() + j * n;
                           double mean = 0.0;
                           for (std::size_t i = 0; i < n; ++i) {
                               col[i] = x.data[i * d + j];
                               mean += col[i];
                           }
                           mean /= static_cast<double>(n);
                           double m2 = 0.0, m3 = 0.0;
                           for (std::size_t i = 0; i < n; ++i) {
                               const double t = col[i] - mean;
                               m2 += t * t;
                               m3 += t * t * t;
                           }
                           // Sign of m3 / m2^1.5; (near-)constant columns count as symmetric.
                           const double tol = 1e-12 * std::max(1.0, m2);
                           sign[j] = m2 <= 0.0 || std::fabs(m3) <= tol ? 0 : (m3 > 0 ? 1 : -1);
                           std::sort(col, col + n);
                       }
                   });
    rows_ = n;
    sorted_ = std::move(sorted);
    skew_sign_ = std::move(sign);
    return Ok();
}

Result<void> EcodDetector::Score(MatrixView x, std::span<double> out) const {
    if (rows_ == 0) return MakeError(ErrorCode::kInvalidArgument, "ecod: not fitted");
    if (out.size() != x.rows)
        return MakeError(ErrorCode::kInvalidArgument, "ecod: output size != rows");
    if (x.rows == 0) return Ok();
    TXG_RETURN_IF_ERROR(CheckFiniteMatrix(x, skew_sign_.size(), "ecod score"));
    const std::size_t d = x.cols;
    ParallelChunks(x.rows, x.rows < 2048 ? 1u : ResolveThreads(params_.threads),
                   [&](std::size_t b, std::size_t e, unsigned) {
                       for (std::size_t i = b; i < e; ++i) {
                           double ul = 0.0, ur = 0.0, us = 0.0;
                           for (std::size_t j = 0; j < d; ++j) {
                               double l, r;
                               Tails(j, x.data[i * d + j], &l, &r);
                               ul += l;
                               ur += r;
                               us += skew_sign_[j] < 0 ? l : skew_sign_[j] > 0 ? r : l + r;
                           }
                           out[i] = std::max({ul, ur, us});
                       }
                   });
    return Ok();
}

void EcodDetector::Tails(std::size_t j, double v, double* left, double* right) const {
    const double denom = std::log(static_cast<double>(rows_) + 1.0);
    const double* col = sorted_.data() + j * rows_;
    const double* end = col + rows_;
    const auto le = std::upper_bound(col, end, v) - col;  // <= v
    const auto ge = end - std::lower_bound(col, end, v);  // >= v
    *left = denom - std::log(static_cast<double>(le) + 1.0);
    *right = denom - std::log(static_cast<double>(ge) + 1.0);
}

Result<void> EcodDetector::Contributions(std::span<const double> row, std::span<double> out) const {
    if (rows_ == 0) return MakeError(ErrorCode::kInvalidArgument, "ecod: not fitted");
    const std::size_t d = skew_sign_.size();
    TXG_RETURN_IF_ERROR(detail::CheckContributionArgs("ecod", d, row, out));
    // The three sums, in Score's order, then the winner's terms.
    double ul = 0.0, ur = 0.0, us = 0.0;
    for (std::size_t j = 0; j < d; ++j) {
        double l, r;
        Tails(j, row[j], &l, &r);
        ul += l;
        ur += r;
        us += skew_sign_[j] < 0 ? l : skew_sign_[j] > 0 ? r : l + r;
    }
    const double score = std::max({ul, ur, us});
    const int winner = ul == score ? 0 : ur == score ? 1 : 2;
    for (std::size_t j = 0; j < d; ++j) {
        double l, r;
        Tails(j, row[j], &l, &r);
        out[j] = winner == 0         ? l
                 : winner == 1       ? r
                 : skew_sign_[j] < 0 ? l
                 : skew_sign_[j] > 0 ? r
                                     : l + r;
    }
    out[d] = 0.0;
    return Ok();
}

namespace {
constexpr std::uint32_t kEcodFormat = 1;
}

std::string EcodDetector::Save() const {
    ByteWriter w;
    w.Put(kEcodFormat);
    w.Put(rows_);
    w.PutVector(skew_sign_);
    w.PutVector(sorted_);
    return w.Take();
}

Result<void> EcodDetector::Load(std::string_view bytes) {
    ByteReader r(bytes, "ecod model");
    auto format = r.Get<std::uint32_t>();
    if (!format) return std::unexpected(format.error());
    if (*format != kEcodFormat)
        return MakeError(ErrorCode::kIncompatible, "ecod model format " + std::to_string(*format) +
                                                       ", this txguard reads format " +
                                                       std::to_string(kEcodFormat));
    auto rows = r.Get<std::uint64_t>();
    if (!rows) return std::unexpected(rows.error());
    auto sign = r.GetVector<std::int8_t>(1u << 20);
    if (!sign) return std::unexpected(sign.error());
    auto sorted = r.GetVector<double>();
    if (!sorted) return std::unexpected(sorted.error());
    if (!r.AtEnd()) return r.Corrupt("trailing bytes");
    if (*rows == 0 || sign->empty() || sorted->size() / sign->size() != *rows ||
        sorted->size() % sign->size() != 0)
        return r.Corrupt("inconsistent sizes");
    for (auto s : *sign)
        if (s < -1 || s > 1) return r.Corrupt("bad skewness sign");
    for (std::size_t j = 0; j < sign->size(); ++j) {
        const double* col = sorted->data() + j * *rows;
        for (std::size_t i = 0; i < *rows; ++i)
            if (!std::isfinite(col[i]) || (i > 0 && col[i] < col[i - 1]))
                return r.Corrupt("feature " + std::to_string(j) + " is not sorted and finite");
    }
    rows_ = *rows;
    skew_sign_ = std::move(*sign);
    sorted_ = std::move(*sorted);
    return Ok();
}

}  // namespace txguard
