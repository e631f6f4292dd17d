#pragma once
// ECOD: Empirical-Cumulative-distribution-based Outlier Detection, a parameter-free baseline.
// Paper: Z. Li, Y. Zhao, X. Hu, N. Botta, C. Ionescu, G. H. Chen, "ECOD: Unsupervised Outlier
// Detection Using Empirical Cumulative Distribution Functions", IEEE TKDE 2022.
//
// For each feature j the training values give a left-tail ECDF F_j(x) = P(X_j <= x) and a
// right-tail one G_j(x) = P(X_j >= x), with one added observation (count + 1) / (n + 1) so a new
// point beyond the training range still has a finite score. With U_l = -sum_j log F_j(x_j),
// U_r = -sum_j log G_j(x_j) and U_s the sum taking, per feature, the left tail when the feature's
// sample skewness is negative, the right tail when positive and both when zero (as PyOD's
// reference implementation), the score is max(U_l, U_r, U_s). Training and new rows are scored
// alike (FitScore = Fit + Score); scores do not depend on row order.
//
// Cost: fit O(d n log n) (a sort per feature); score O(d log n) per row; memory O(n d) (the sorted
// columns).
//
// Contributions (reasons): the score is a sum over features of tail terms
// log(n + 1) - log(count + 1) (count = training values at or beyond the row's value in that tail)
// of whichever aggregate wins the max (U_l, else U_r, else U_s on ties); contribution_j is feature
// j's term of it, bias = 0, and the contributions add up to the score (the same additions).
#include <cstdint>
#include <vector>

#include "txguard/detect/detector.hpp"

namespace txguard {

struct EcodParams {
    unsigned threads = 0;  // 0 = all cores

    static Result<EcodParams> FromMap(const ParamMap& params);
    ParamMap ToMap() const;
};

class EcodDetector final : public Detector {
  public:
    explicit EcodDetector(EcodParams params = {}) : params_(params) {}

    std::string_view Name() const override { return "ecod"; }
    Result<void> Fit(MatrixView x) override;
    Result<void> Score(MatrixView x, std::span<double> out) const override;
    std::size_t NumFeatures() const override { return skew_sign_.size(); }
    ParamMap Params() const override { return params_.ToMap(); }
    std::string Save() const override;
    Result<void> Load(std::string_view bytes) override;
    // See above: out.size() == NumFeatures() + 1, last = bias 0. Thread-safe.
    Result<void> Contributions(std::span<const double> row, std::span<double> out) const override;

  private:
    // Feature j's left- and right-tail terms for value v: log(n+1) - log(count + 1).
    void Tails(std::size_t j, double v, double* left, double* right) const;

    EcodParams params_;
    std::uint64_t rows_ = 0;
    std::vector<double> sorted_;          // feature-major: column j sorted, at j * rows_
    std::vector<std::int8_t> skew_sign_;  // sign of each feature's sample skewness
};

}  // namespace txguard
