#pragma once
// Gradient-boosted trees for fraud classification, through libxgboost's C API (XGBoost 1.7).
// Paper: T. Chen, C. Guestrin, "XGBoost: A Scalable Tree Boosting System", KDD 2016.
//
// Supervised: trained with FitSupervised() on labelled rows (0 = genuine, 1 = fraud); Fit(x)
// without labels is an error. objective binary:logistic, tree_method hist (features quantised
// into at most 256 bins, histograms built on `threads` threads). The score of a row is the
// predicted fraud probability in [0, 1].
//
// Class imbalance: scale_pos_weight multiplies the gradient of every fraud row; "auto" uses
// (negatives / positives) of the training labels (counts, not weights), which equalises the two
// classes' total weight but makes the scores uncalibrated (ranking only). Default 1: scores are
// calibrated probabilities.
// Early stopping: with a validation set (a later time window) and early_stopping = k > 0, the
// validation eval_metric is computed after every round; training stops after k rounds without
// strict improvement (as xgboost's Python EarlyStopping callback: aucpr/auc maximised, logloss
// minimised) and the model is cut to the best round's trees (best_iteration, 0-based, is in
// Params()). Without a validation set all `trees` rounds are kept.
// Missing values: NaN in x (at fit and score) is a missing value, routed by xgboost's learned
// default direction; infinities are errors.
// Determinism: the model depends on the data, the parameters and `seed` only: xgboost 1.7's CPU
// hist builder gave byte-identical boosters for 1 and 2 threads (unit test; also 200k x 15,
// 300 rounds), and the trees equal those of Python xgboost.train with the same parameters.
// Threads: xgboost uses OpenMP; on an oversubscribed machine its spin-waiting barriers make
// threads > 1 several times slower (measured 8x) unless OMP_WAIT_POLICY=passive is set in the
// environment (it is read when libgomp loads, so it cannot be set from here).
// Save(): txguard header (format number, parameters, features, best iteration) + the booster in
// xgboost's UBJSON model format + an FNV-1a 64 checksum; Load() refuses any mismatch (kCorrupt).
// libxgboost's own loader trusts its input (damaged UBJSON can crash it), so Load() first parses
// the booster with nlohmann::json and checks its structure (tree arrays, child indices, split
// features) before xgboost sees it: no crash in 1500 mutated boosters behind valid checksums.
// Thread safety: Score() may run concurrently (xgboost's in-place prediction); Contributions()
// calls are serialised by a mutex.
// Contributions: exact TreeSHAP values (Lundberg et al. 2020) of the margin (log-odds), bias last;
// they sum to logit(score).
// FeatureImportance: total gain of each feature's splits over all kept trees (0 if unused).
//
// Cost: fit O(trees * (rows * features / threads + 2^depth * bins * features)) after a one-off
// O(rows * features * log rows) quantile sketch; score O(trees * depth) a row (rows in parallel);
// contributions O(trees * leaves * depth^2) a row; memory O(rows * features) bytes of bin indices
// during fit and O(trees * 2^depth) nodes for the model.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "txguard/detect/detector.hpp"

namespace txguard {

struct XgboostParams {
    std::uint32_t trees = 300;           // boosting rounds, [1, 100000]
    std::uint32_t depth = 6;             // max_depth, [1, 30]
    double eta = 0.1;                    // learning rate, (0, 1]
    double subsample = 1.0;              // row subsampling per tree, (0, 1]
    double colsample = 1.0;              // colsample_bytree, (0, 1]
    double min_child_weight = 1;         // minimum hessian sum in a child, >= 0
    double lambda = 1;                   // L2 regularisation of leaf weights, >= 0
    std::string scale_pos_weight = "1";  // "auto" or a number > 0
    std::uint32_t early_stopping = 20;   // rounds without improvement; 0 = off
    std::string eval_metric = "aucpr";   // aucpr, auc or logloss
    std::uint64_t seed = 0;              // < 2^63
    unsigned threads = 0;                // 0 = all cores (runtime setting, not saved)

    Result<void> Validate() const;
    static Result<XgboostParams> FromMap(const ParamMap& params);
    ParamMap ToMap() const;
};

class XgboostDetector final : public Detector {
  public:
    explicit XgboostDetector(XgboostParams params = {});
    ~XgboostDetector() override;
    XgboostDetector(const XgboostDetector&) = delete;
    XgboostDetector& operator=(const XgboostDetector&) = delete;

    std::string_view Name() const override { return "xgboost"; }
    bool Supervised() const override { return true; }
    // Always an error: xgboost needs labels (use FitSupervised).
    Result<void> Fit(MatrixView x) override;
    Result<void> FitSupervised(const SupervisedData& data) override;
    // out[i] = P(fraud | row i), out.size() == x.rows; NaN = missing.
    Result<void> Score(MatrixView x, std::span<double> out) const override;
    std::size_t NumFeatures() const override { return num_features_; }
    // The parameters, plus (once fitted) best_iteration and the resolved scale_pos_weight_used.
    ParamMap Params() const override;
    std::string Save() const override;
    Result<void> Load(std::string_view bytes) override;
    Result<void> Contributions(std::span<const double> row, std::span<double> out) const override;
    std::vector<double> FeatureImportance() const override;

    // 0-based index of the last kept round (trees kept = best_iteration + 1); -1 before fit.
    std::int64_t BestIteration() const { return best_iteration_; }
    // Rounds actually trained (>= BestIteration() + 1 when early stopping cut the model).
    std::uint32_t RoundsTrained() const { return rounds_trained_; }
    // The validation metric after each trained round (empty without early stopping).
    const std::vector<double>& ValidationHistory() const { return valid_history_; }
    // The booster alone, in xgboost's UBJSON model format (loadable by xgboost.Booster).
    const std::string& BoosterBytes() const { return booster_bytes_; }

  private:
    struct Booster;
    // Loads `bytes` (UBJSON) into a fresh booster, checks it against num_features and
    // best_iteration, and commits it (state unchanged on error).
    Result<void> Install(std::string bytes, std::size_t num_features, std::int64_t best_iteration);

    XgboostParams params_;
    std::size_t num_features_ = 0;
    std::int64_t best_iteration_ = -1;
    std::uint32_t rounds_trained_ = 0;
    double scale_pos_weight_used_ = 1.0;
    std::vector<double> valid_history_;
    std::string booster_bytes_;
    std::vector<double> importance_;  // total gain per feature
    std::unique_ptr<Booster> booster_;
    mutable std::mutex contrib_mutex_;  // XGBoosterPredictFromDMatrix is not thread-safe
};

}  // namespace txguard
