#pragma once
// Local Outlier Factor.
// Paper: M. M. Breunig, H.-P. Kriegel, R. T. Ng, J. Sander, "LOF: Identifying Density-Based Local
// Outliers", SIGMOD 2000.
//
// As scikit-learn's LocalOutlierFactor computes it (so scores match its negative_outlier_factor_,
// sign flipped): on z-scored features (population std, constant column -> 0) take exactly k
// neighbours of each training row (the row itself excluded); k-distance(o) = distance to o's k-th
// neighbour; reach(p, o) = max(d(p, o), k-distance(o)); lrd(p) = 1 / (mean over p's neighbours of
// reach(p, o) + 1e-10) (the 1e-10 keeps groups of more than k duplicates finite: their lrd is
// 1e10); LOF(p) = mean over p's neighbours o of lrd(o) / lrd(p). Higher = more anomalous; about 1
// inside clusters.
//
// FitScore gives the training rows' LOF (each row excluded from its own neighbours). Score
// treats rows as new points (novelty mode, scikit-learn's novelty=True score_samples): their k
// neighbours are found among the training rows and compared with the training lrd.
//
// Ties: when several training points lie at exactly the k-th distance, which of them count as
// neighbours changes lrd and LOF. scikit-learn's choice follows its tree (algorithm='auto' is a
// KDTree with leaf_size 30 up to 15 features): txguard builds the same tree (same levels, split
// dimensions and nth_element partitions), searches it in the same order with the same fixed-size
// heap, and, like kneighbors(), searches k + 1 neighbours with the row itself then drops it. So
// the neighbour lists, and the scores, equal scikit-learn's on tied data too (bit-identical on the
// ADBench data). scikit-learn's own answer on tied data depends on the algorithm and the row order
// (brute, ball_tree and kd_tree disagree); txguard reproduces algorithm='auto' on the rows as
// given. Above 15 features scikit-learn uses GEMM-based brute force, whose rounding decides exact
// ties; txguard uses exact distances with candidates in row order there.
//
// Contributions (reasons) of a row scored as a new point: w_f = sum_j (z_f - t_jf)^2 /
// sum_j |z - t_j|^2 over its k nearest training rows t_j (standardised space), and
// contribution_f = (LOF - 1) * w_f, bias = 1 (the LOF of a point as dense as its neighbours); they
// sum to the score. A proportional split of the deviation from 1 by where the row is far from its
// neighbours, not an additive decomposition of the density ratio.
//
// Cost: fit O(n log n + n k log n) for low d (k-d tree), O(n^2 d) brute force above 15 features;
// memory O(n d + n k) during fit, O(n d) in the model (standardised data, k-distance and lrd).
// Score per row as one k-NN query.
#include <cstdint>
#include <memory>

#include "txguard/detect/detector.hpp"

namespace txguard {

struct LofParams {
    std::uint32_t k = 20;  // n_neighbors, 1 <= k < training rows
    unsigned threads = 0;  // 0 = all cores

    Result<void> Validate() const;
    static Result<LofParams> FromMap(const ParamMap& params);
    ParamMap ToMap() const;
};

class LofDetector final : public Detector {
  public:
    explicit LofDetector(LofParams params = {});
    ~LofDetector() override;

    std::string_view Name() const override { return "lof"; }
    Result<void> Fit(MatrixView x) override;
    Result<void> FitScore(MatrixView x, std::span<double> out) override;
    Result<void> Score(MatrixView x, std::span<double> out) const override;
    std::size_t NumFeatures() const override { return num_features_; }
    ParamMap Params() const override { return params_.ToMap(); }
    std::string Save() const override;
    Result<void> Load(std::string_view bytes) override;
    // Reasons (see above): out.size() == NumFeatures() + 1, last = bias 1. Thread-safe.
    Result<void> Contributions(std::span<const double> row, std::span<double> out) const override;

  private:
    struct State;
    Result<void> FitImpl(MatrixView x, std::span<double> train_scores);

    LofParams params_;
    std::size_t num_features_ = 0;
    std::unique_ptr<State> state_;
};

}  // namespace txguard
