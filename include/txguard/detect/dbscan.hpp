#pragma once
// DBSCAN as an anomaly detector.
// Paper: M. Ester, H.-P. Kriegel, J. Sander, X. Xu, "A Density-Based Algorithm for Discovering
// Clusters in Large Spatial Databases with Noise", KDD 1996.
//
// Clustering exactly as scikit-learn's DBSCAN (Euclidean, on z-scored features with the population
// std, a constant column -> 0): the neighbourhood of p is every training point q with
// |p - q|^2 <= eps^2 (p included); p is a core point when its neighbourhood has at least
// min_samples points; core points within eps of each other share a cluster; a non-core point
// within eps of a core point is a border point and joins the lowest-numbered adjacent cluster
// (clusters are numbered by their lowest row, as scikit-learn's expansion order gives); the rest is
// noise (label -1). Labels() are therefore identical to scikit-learn's fit_predict.
//
// eps = auto (0 in the struct, the default) chooses eps from the k-distance curve: the eps_quantile
// (0.95) quantile (numpy's linear interpolation) of every training row's distance to its
// (min_samples - 1)-th neighbour, itself excluded, floored at 1e-6.
//
// Score (training rows and new rows alike): distance to the nearest core point divided by eps, so
// 0 for a core point, at most 1 for a border point and above 1 exactly for noise. The model keeps
// only the core points.
//
// Implementation, O(n) memory (no neighbour lists are stored). Core flags: p is core exactly when
// its (min_samples - 1)-th neighbour (itself excluded) is within eps, so when eps is chosen from
// the k-distance curve the flags come with it. Up to 15 features a k-d tree: core flags by
// counting neighbours when eps is given (stopping at min_samples, whole boxes inside the ball
// counted at once); clusters by union-find over core points, with range queries in which a box of
// diameter <= eps holding core points is one pre-joined group and a box whose core points are
// already one component with the query point is skipped; duplicate rows share one query.
// Above 15 features (where a k-d tree prunes little) blocked exact brute force, 32 rows at a time
// against every other (the same squared distances as the tree's): joins over each pair of core
// points once, skipping reference points already in the same component as the whole block, and
// border labels plus nearest-core distances in one pass over non-core rows times core points.
// Cost: fit O(n log n) for low d plus the sum over core points of their neighbourhood sizes (much
// less with the box shortcuts), worst case O(n^2); above 15 features O(n^2 d) time; score per row
// one nearest-neighbour query among the core points.
//
// Contributions (reasons): with c the nearest core point (standardised space),
// contribution_f = score * (z_f - c_f)^2 / |z - c|^2, bias = 0; they sum to the score (all 0 for
// a core point).
#include <cstdint>
#include <memory>
#include <vector>

#include "txguard/detect/detector.hpp"

namespace txguard {

struct DbscanParams {
    double eps = 0.0;                // neighbourhood radius in z-score units; 0 = from k-distances
    std::uint32_t min_samples = 10;  // neighbourhood size (the point included) for a core point
    double eps_quantile = 0.95;      // quantile of the k-distance curve used when eps = 0
    unsigned threads = 0;            // 0 = all cores

    Result<void> Validate() const;
    static Result<DbscanParams> FromMap(const ParamMap& params);
    ParamMap ToMap() const;
};

class DbscanDetector final : public Detector {
  public:
    explicit DbscanDetector(DbscanParams params = {});
    ~DbscanDetector() override;

    std::string_view Name() const override { return "dbscan"; }
    Result<void> Fit(MatrixView x) override;
    Result<void> FitScore(MatrixView x, std::span<double> out) override;
    Result<void> Score(MatrixView x, std::span<double> out) const override;
    std::size_t NumFeatures() const override { return num_features_; }
    // After Fit/Load, eps is the radius actually used.
    ParamMap Params() const override;
    std::string Save() const override;
    Result<void> Load(std::string_view bytes) override;
    // Reasons (see above): out.size() == NumFeatures() + 1, last = bias 0. Thread-safe.
    Result<void> Contributions(std::span<const double> row, std::span<double> out) const override;

    // The radius used (after Fit or Load).
    double eps() const { return eps_; }
    // Cluster label of each training row from the last Fit (-1 = noise); empty after Load.
    const std::vector<std::int32_t>& Labels() const { return labels_; }
    std::size_t NumCorePoints() const;

  private:
    struct State;
    Result<void> FitImpl(MatrixView x, std::span<double> train_scores);

    DbscanParams params_;
    double eps_ = 0.0;
    std::size_t num_features_ = 0;
    std::vector<std::int32_t> labels_;
    std::vector<std::uint8_t> train_core_;  // core flags of the last Fit (for FitScore)
    std::unique_ptr<State> state_;
};

}  // namespace txguard
