#include <cmath>
#include <memory>

#include "txguard/detect/dbscan.hpp"
#include "txguard/detect/detector.hpp"
#include "txguard/detect/ecod.hpp"
#include "txguard/detect/iforest.hpp"
#include "txguard/detect/knn.hpp"
#include "txguard/detect/lof.hpp"
#include "txguard/detect/xgboost.hpp"

namespace txguard {

const std::vector<DetectorInfo>& ListDetectors() {
    static const std::vector<DetectorInfo> kInfo = {
        {"dbscan",
         "DBSCAN (Ester et al. 1996), exact, k-d tree, O(n) memory; score = distance to the "
         "nearest core point / eps (> 1 = noise); fit O(n log n) typical, score O(log n) a row",
         {{"eps", "auto",
           "neighbourhood radius on z-scored features, > 0 (auto = the eps_quantile of the "
           "distances to the (min_samples-1)-th neighbour)"},
          {"min_samples", "10", "neighbours within eps (the point included) for a core point"},
          {"eps_quantile", "0.95", "k-distance quantile used when eps = auto"},
          {"threads", "0", "threads (0 = all cores)"}}},
        {"ecod",
         "ECOD (Li et al. 2022): parameter-free, per-feature empirical tail probabilities; fit "
         "O(d n log n), score O(d log n) a row",
         {{"threads", "0", "threads (0 = all cores)"}}},
        {"iforest",
         "Isolation Forest (Liu, Ting, Zhou 2008), or Extended Isolation Forest (Hariri et al. "
         "2019) with extension=L; fit O(trees*sample*log sample), score O(rows*trees*log sample)",
         {{"trees", "100", "number of trees"},
          {"sample", "256", "rows drawn (without replacement) per tree"},
          {"extension", "none",
           "none = axis-parallel splits; L in [0, features-1] = extended "
           "forest with hyperplanes of L+1 non-zero coefficients"},
          {"seed", "0", "random seed (the model depends only on it, not on threads)"},
          {"threads", "0", "threads for fit and score (0 = all cores)"}}},
        {"knn",
         "KNN distance (Ramaswamy, Rastogi, Shim 2000), exact k-d tree / blocked brute force on "
         "z-scored features; fit O(n log n), score O(log n + k) a row (low d)",
         {{"k", "5", "neighbours (a training row is not its own neighbour); 1 <= k < rows"},
          {"aggregate", "largest",
           "largest = distance to the k-th neighbour, mean = mean of the k"},
          {"threads", "0", "threads (0 = all cores)"}}},
        {"lof",
         "Local Outlier Factor (Breunig et al. 2000), as scikit-learn computes it, with novelty "
         "scoring of new rows; fit O(n k log n) (low d), score one k-NN query a row",
         {{"k", "20", "n_neighbors; 1 <= k < rows"}, {"threads", "0", "threads (0 = all cores)"}}},
        {"xgboost",
         "XGBoost (Chen & Guestrin 2016) through libxgboost: supervised gradient-boosted trees "
         "(hist, binary:logistic), score = fraud probability; fit O(trees * rows * features / "
         "threads), score O(trees * depth) a row",
         {{"trees", "300", "boosting rounds (most trees kept), [1, 100000]"},
          {"depth", "6", "max_depth of each tree, [1, 30]"},
          {"eta", "0.1", "learning rate, (0, 1]"},
          {"subsample", "1", "fraction of rows sampled per tree, (0, 1]"},
          {"colsample", "1", "fraction of features sampled per tree (colsample_bytree), (0, 1]"},
          {"min_child_weight", "1", "minimum hessian sum in a child, >= 0"},
          {"lambda", "1", "L2 regularisation of leaf weights, >= 0"},
          {"scale_pos_weight", "1",
           "weight of fraud rows: a number > 0, or auto = "
           "genuine/fraud count ratio of the training labels (ranking "
           "improves for rare frauds; scores are then not calibrated)"},
          {"early_stopping", "20",
           "stop after this many rounds without improvement on the "
           "validation window and keep the best round (0 = off)"},
          {"eval_metric", "aucpr", "validation metric for early stopping: aucpr, auc, logloss"},
          {"seed", "0", "random seed (row/column sampling)"},
          {"threads", "0",
           "threads for fit and score (0 = all cores); the model does not "
           "depend on it"},
          {"best_iteration", "",
           "reported after training (0-based last kept round); ignored as "
           "input"},
          {"scale_pos_weight_used", "", "reported after training; ignored as input"}}},
    };
    return kInfo;
}

Result<std::unique_ptr<Detector>> CreateDetector(std::string_view name, const ParamMap& params) {
    if (name == "iforest") {
        auto p = IForestParams::FromMap(params);
        if (!p) return std::unexpected(p.error());
        return std::unique_ptr<Detector>(std::make_unique<IsolationForest>(*p));
    }
    if (name == "knn") {
        auto p = KnnParams::FromMap(params);
        if (!p) return std::unexpected(p.error());
        return std::unique_ptr<Detector>(std::make_unique<KnnDetector>(*p));
    }
    if (name == "lof") {
        auto p = LofParams::FromMap(params);
        if (!p) return std::unexpected(p.error());
        return std::unique_ptr<Detector>(std::make_unique<LofDetector>(*p));
    }
    if (name == "dbscan") {
        auto p = DbscanParams::FromMap(params);
        if (!p) return std::unexpected(p.error());
        return std::unique_ptr<Detector>(std::make_unique<DbscanDetector>(*p));
    }
    if (name == "xgboost") {
        auto p = XgboostParams::FromMap(params);
        if (!p) return std::unexpected(p.error());
        return std::unique_ptr<Detector>(std::make_unique<XgboostDetector>(*p));
    }
    if (name == "ecod") {
        auto p = EcodParams::FromMap(params);
        if (!p) return std::unexpected(p.error());
        return std::unique_ptr<Detector>(std::make_unique<EcodDetector>(*p));
    }
    std::string names;
    for (const auto& d : ListDetectors()) names += (names.empty() ? "" : ", ") + d.name;
    return MakeError(ErrorCode::kInvalidArgument, "unknown detector \"" + std::string(name) + "\"",
                     "available detectors: " + names);
}

Result<void> CheckFiniteMatrix(MatrixView x, std::size_t expected_cols, std::string_view what) {
    if (x.rows == 0) return MakeError(ErrorCode::kInvalidArgument, std::string(what) + ": no rows");
    if (x.cols == 0)
        return MakeError(ErrorCode::kInvalidArgument, std::string(what) + ": no feature columns");
    if (expected_cols != 0 && x.cols != expected_cols)
        return MakeError(ErrorCode::kInvalidArgument,
                         std::string(what) + ": expected " + std::to_string(expected_cols) +
                             " features, got " + std::to_string(x.cols));
    const std::size_t n = x.rows * x.cols;
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(x.data[i])) [[unlikely]]
            return MakeError(ErrorCode::kInvalidArgument,
                             std::string(what) + ": non-finite value (NaN or infinity) at row " +
                                 std::to_string(i / x.cols) + ", feature " +
                                 std::to_string(i % x.cols),
                             "remove or impute missing values first");
    }
    return Ok();
}

}  // namespace txguard
