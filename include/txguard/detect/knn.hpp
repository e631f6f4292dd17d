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
// Cost: fit O(n log n) (tree) or O(1) (brute); memory O(n d) (the standardised training data is
// part of the model). Score per row about O(log n + k) for low d with the tree, O(n d) brute.
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

  private:
    struct State;
    KnnParams params_;
    std::size_t num_features_ = 0;
    std::unique_ptr<State> state_;
};

}  // namespace txguard
