#pragma once
// The Detector interface: every anomaly detector and supervised model behind one API.
//
//   Fit(x)          x: rows x features, row-major, finite values. Learns the model.
//   Score(x, out)   out.size() == x.rows; higher = more anomalous / more likely fraud. Rows are
//                   scored as new points against the fitted model (novelty / live scoring).
//   FitScore(x,out) Fit, then the scores of the training rows themselves (see below).
//   Save()/Load()   the detector's own bytes (the model bundle wraps them with a checksum).
//
// Detectors are created by name with string parameters (`--param trees=100` on the CLI) through
// the registry below; each documents its parameters, defaults and cost. Fit and Score are
// deterministic for a given `seed` parameter, whatever the number of threads.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/matrix.hpp"
#include "txguard/core/result.hpp"

namespace txguard {

using ParamMap = std::map<std::string, std::string>;

struct ParamInfo {
    std::string name;
    std::string default_value;
    std::string help;
};

struct DetectorInfo {
    std::string name;
    std::string summary;  // one line: algorithm, paper, cost
    std::vector<ParamInfo> params;
};

// Labelled training data for supervised detectors. x: rows x features, row-major; y: one label
// (0 = genuine, 1 = fraud) per row of x. valid_x/valid_y: an optional later time window used for
// early stopping (valid_x.rows == 0: none); same columns as x. weights: optional per-row weights of
// x (empty = all 1), finite and >= 0.
struct SupervisedData {
    MatrixView x;
    std::span<const std::int8_t> y;
    MatrixView valid_x;  // rows == 0: no validation set
    std::span<const std::int8_t> valid_y;
    std::span<const double> weights;  // empty = none
};

class Detector {
  public:
    using SupervisedData = txguard::SupervisedData;
    virtual ~Detector() = default;
    virtual std::string_view Name() const = 0;
    virtual Result<void> Fit(MatrixView x) = 0;
    virtual Result<void> Score(MatrixView x, std::span<double> out) const = 0;
    // Fits on x and scores x's rows as the training rows they are (out.size() == x.rows). For
    // neighbour-based detectors (knn, lof) a training row is not its own neighbour, so this is not
    // Fit(x) then Score(x), which treats the rows as new points (novelty scoring). Training-set
    // thresholds and the fit-on-all, score-all benchmark protocol use this. Default: Fit + Score.
    virtual Result<void> FitScore(MatrixView x, std::span<double> out) {
        if (out.size() != x.rows)
            return MakeError(ErrorCode::kInvalidArgument, "output size != rows");
        auto fitted = Fit(x);
        if (!fitted) return fitted;
        return Score(x, out);
    }
    // Number of features the fitted model expects (0 before Fit/Load).
    virtual std::size_t NumFeatures() const = 0;
    // The resolved parameters (defaults filled in), for metadata and --help.
    virtual ParamMap Params() const = 0;
    virtual std::string Save() const = 0;
    virtual Result<void> Load(std::string_view bytes) = 0;

    // Supervised training (labels 0/1). Detectors that need labels return true from Supervised();
    // for them Fit(x) without labels is an error. Default: ignores the labels (and validation set
    // and weights) and calls Fit(data.x), so unsupervised detectors can be trained the same way.
    virtual bool Supervised() const { return false; }
    virtual Result<void> FitSupervised(const SupervisedData& data);
    // Per-feature contributions to one row's score (reasons), in the detector's own score space
    // (xgboost: SHAP values of the margin, i.e. log-odds). row.size() == NumFeatures();
    // out.size() == NumFeatures() + 1, the last entry being the bias (expected value).
    // Default: kInvalidArgument "not supported by <name>".
    virtual Result<void> Contributions(std::span<const double> row, std::span<double> out) const;
    // Score and Contributions in one call, for the rows the caller wants explained: writes x's
    // scores (as Score) and, for each row r with explain(r, scores[r]) true, the row's
    // contributions (as Contributions, bit for bit) to contributions->Row(r). contributions is
    // reshaped to x.rows x (NumFeatures() + 1) when its shape differs; rows not explained hold
    // unspecified values. explain may be called from several threads at once; an empty explain
    // explains nothing. Default: Score, then Contributions for each wanted row (an error of
    // either is returned). The axis-parallel isolation forest explains from the leaves its
    // scoring walk reached, so scoring and reasons cost one walk.
    using ExplainFilter = std::function<bool(std::size_t row, double score)>;
    virtual Result<void> ScoreExplained(MatrixView x, std::span<double> scores,
                                        const ExplainFilter& explain, Matrix* contributions) const;
    // Global feature importance (e.g. total gain), size NumFeatures(); default: empty vector.
    virtual std::vector<double> FeatureImportance() const { return {}; }
};

// All registered detectors, sorted by name.
const std::vector<DetectorInfo>& ListDetectors();
// Creates a detector; unknown names and unknown/invalid parameters are kInvalidArgument errors
// that name the parameter and list the valid ones.
Result<std::unique_ptr<Detector>> CreateDetector(std::string_view name, const ParamMap& params);

// Shared checks: the matrix is non-empty, has `expected_cols` columns (0 = any) and only finite
// values; errors name the first offending row and column.
Result<void> CheckFiniteMatrix(MatrixView x, std::size_t expected_cols, std::string_view what);

}  // namespace txguard
