#pragma once
// KNN outlier score.
// Paper: S. Ramaswamy, R. Rastogi, K. Shim, "Efficient algorithms for mining outliers from large
// data sets", SIGMOD 2000 (score = distance to the k-th nearest neighbour); the mean over the k
// nearest is F. Angiulli, C. Pizzuti, "Fast outlier detection in high dimensional spaces",
// PKDD 2002.
//
// Features are z-scored with the training mean and population standard deviation (a constant
// column maps to 0), as scikit-learn users do with (X - X.mean(0)) / X.std(0). The search is exact:
// a k-d tree for up to 15 features, blocked brute force above (scikit-learn's own switch).
//
// Training rows versus new rows: FitScore(x) scores the training rows with the row itself
// excluded from its neighbours (a point is not its own neighbour; the same numbers as
// scikit-learn's NearestNeighbors(n_neighbors=k).fit(X).kneighbors()). Score(x) treats every row
// as a new point scored against the whole training set (novelty mode, used for live scoring), so
// Score on a training row counts that row itself at distance 0.
//
// Neighbours are found as scikit-learn finds them (its KDTree layout, search order and heap, or
// brute force in row order), so even the neighbour indices agree on ties.
//
// Cost: fit O(n log n) (tree) or O(1) (brute); memory O(n d) (the standardised training data is
// part of the model). Score per row about O(log n + k) for low d with the tree, O(n d) brute.
//
// Contributions (reasons) of a row scored as a new point: with its k nearest training rows t_j
// (standardised space), w_f = sum_j (z_f - t_jf)^2 / sum_j |z - t_j|^2, the feature's share of
// the squared distances, and contribution_f = score * w_f, bias = 0; they sum to the score. (The
// score is a distance, not a squared one, so this is a proportional split, not an additive model.)
#include <cstdint>
#include <memory>
#include <string>

#include "txguard/detect/detector.hpp"

namespace txguard {

namespace detail {
class NeighborIndex;
}

struct KnnParams {
    std::uint32_t k = 5;                // neighbours, 1 <= k < training rows
    std::string aggregate = "largest";  // "largest": k-th distance; "mean": mean of the k
    unsigned threads = 0;               // 0 = all cores

    Result<void> Validate() const;
    static Result<KnnParams> FromMap(const ParamMap& params);
    ParamMap ToMap() const;
};

class KnnDetector final : public Detector {
  public:
    explicit KnnDetector(KnnParams params = {});
    ~KnnDetector() override;

    std::string_view Name() const override { return "knn"; }
    Result<void> Fit(MatrixView x) override;
    Result<void> FitScore(MatrixView x, std::span<double> out) override;
    Result<void> Score(MatrixView x, std::span<double> out) const override;
    std::size_t NumFeatures() const override { return num_features_; }
    ParamMap Params() const override { return params_.ToMap(); }
    std::string Save() const override;
    Result<void> Load(std::string_view bytes) override;
    // Reasons (see above): out.size() == NumFeatures() + 1, last = bias 0. Thread-safe.
    Result<void> Contributions(std::span<const double> row, std::span<double> out) const override;

  private:
    struct State;
    KnnParams params_;
    std::size_t num_features_ = 0;
    std::unique_ptr<State> state_;
};

}  // namespace txguard
