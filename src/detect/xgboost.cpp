#include "txguard/detect/xgboost.hpp"

#include <xgboost/c_api.h>

#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "param_parse.hpp"
#include "txguard/core/bytes.hpp"
#include "txguard/core/parallel.hpp"
#include "txguard/core/progress.hpp"

namespace txguard {

namespace {

constexpr std::uint32_t kXgboostFormat = 1;
constexpr const char* kPredictConfig =
    R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, )"
    R"("strict_shape": false, "cache_id": 0, "missing": NaN})";
constexpr const char* kContribConfig =
    R"({"type": 2, "training": false, "iteration_begin": 0, "iteration_end": 0, )"
    R"("strict_shape": false})";

// xgboost's message without its stack trace and "[hh:mm:ss] file:line: " prefix.
std::string LastError() {
    const char* e = XGBGetLastError();
    std::string_view s = e != nullptr ? std::string_view(e) : std::string_view();
    s = s.substr(0, s.find('\n'));
    if (s.starts_with('[')) {
        const auto colon = s.find(": ");
        if (colon != std::string_view::npos) s.remove_prefix(colon + 2);
    }
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s.empty() ? std::string("unknown error") : std::string(s);
}

// An xgboost return code as a Result; `code` is the txguard code for a failure.
Result<void> Xg(int rc, const char* what, ErrorCode code = ErrorCode::kInternal) {
    if (rc == 0) return Ok();
    return MakeError(code, std::string("xgboost: ") + what + " failed: " + LastError());
}

std::string FormatDouble(double v) {
    char buf[64];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc() ? std::string(buf, p) : std::to_string(v);
}

// FNV-1a, 64 bits.
std::uint64_t Fnv1a(std::string_view bytes) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

// numpy __array_interface__ (version 3) of a row-major matrix of doubles, as xgboost reads it.
std::string ArrayInterface(const double* data, std::size_t rows, std::size_t cols) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  R"({"data": [%)" PRIuPTR R"(, true], "shape": [%zu, %zu], "typestr": "<f8", )"
                  R"("version": 3})",
                  reinterpret_cast<std::uintptr_t>(data), rows, cols);
    return buf;
}

struct DMatrix {
    DMatrixHandle h = nullptr;
    DMatrix() = default;
    DMatrix(const DMatrix&) = delete;
    DMatrix& operator=(const DMatrix&) = delete;
    ~DMatrix() {
        if (h != nullptr) XGDMatrixFree(h);
    }
};

Result<void> MakeDMatrix(MatrixView x, unsigned threads, DMatrix* out) {
    const std::string config = R"({"missing": NaN, "nthread": )" + std::to_string(threads) + "}";
    return Xg(XGDMatrixCreateFromDense(ArrayInterface(x.data, x.rows, x.cols).c_str(),
                                       config.c_str(), &out->h),
              "creating the data matrix");
}

// x has rows and `cols` columns (0 = any) and no infinity; NaN is allowed (missing).
Result<void> CheckMatrix(MatrixView x, std::size_t cols, std::string_view what) {
    if (x.rows == 0) return MakeError(ErrorCode::kInvalidArgument, std::string(what) + ": no rows");
    if (x.cols == 0)
        return MakeError(ErrorCode::kInvalidArgument, std::string(what) + ": no feature columns");
    if (cols != 0 && x.cols != cols)
        return MakeError(ErrorCode::kInvalidArgument, std::string(what) + ": expected " +
                                                          std::to_string(cols) + " features, got " +
                                                          std::to_string(x.cols));
    constexpr double kMax = std::numeric_limits<float>::max();
    const std::size_t n = x.rows * x.cols;
    for (std::size_t i = 0; i < n; ++i) {
        if (std::abs(x.data[i]) > kMax) [[unlikely]]  // false for NaN
            return MakeError(ErrorCode::kInvalidArgument,
                             std::string(what) +
                                 ": value out of range (infinite or beyond "
                                 "float) at row " +
                                 std::to_string(i / x.cols) + ", feature " +
                                 std::to_string(i % x.cols),
                             "NaN is accepted as a missing value; clip or impute infinities");
    }
    return Ok();
}

// Labels are 0/1, one per row; counts positives.
Result<std::size_t> CheckLabels(std::span<const std::int8_t> y, std::size_t rows,
                                std::string_view what) {
    if (y.size() != rows)
        return MakeError(ErrorCode::kInvalidArgument,
                         std::string(what) + ": " + std::to_string(y.size()) + " labels for " +
                             std::to_string(rows) + " rows");
    std::size_t pos = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
        if (y[i] != 0 && y[i] != 1)
            return MakeError(ErrorCode::kInvalidArgument,
                             std::string(what) + ": label " + std::to_string(int{y[i]}) +
                                 " at row " + std::to_string(i) + " (labels must be 0 or 1)");
        pos += static_cast<std::size_t>(y[i]);
    }
    if (pos == 0 || pos == rows)
        return MakeError(ErrorCode::kInvalidArgument,
                         std::string(what) + ": only one class present (" + std::to_string(pos) +
                             " frauds in " + std::to_string(rows) + " rows)",
                         "a classifier needs both genuine (0) and fraud (1) rows");
    return pos;
}

Result<void> SetLabels(const DMatrix& d, std::span<const std::int8_t> y) {
    std::vector<float> f(y.begin(), y.end());
    return Xg(XGDMatrixSetFloatInfo(d.h, "label", f.data(), f.size()), "setting labels");
}

Result<double> ParseScalePosWeight(const std::string& s) {
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) || v <= 0)
        return MakeError(
            ErrorCode::kInvalidArgument,
            "xgboost: parameter scale_pos_weight must be auto or a number > 0, got \"" + s + "\"");
    return v;
}

// The metric value at the end of an XGBoosterEvalOneIter line ("[3]\tvalid-aucpr:0.8125").
Result<double> ParseEval(const char* line) {
    const std::string_view s(line != nullptr ? line : "");
    const auto colon = s.rfind(':');
    double v = 0;
    if (colon != std::string_view::npos) {
        auto [p, ec] = std::from_chars(s.data() + colon + 1, s.data() + s.size(), v);
        if (ec == std::errc()) return v;
    }
    return MakeError(ErrorCode::kInternal,
                     "xgboost: cannot read the validation metric from \"" + std::string(s) + "\"");
}

// Rejects UBJSON nested deeper than kMaxDepth before the recursive DOM parser sees it.
struct DepthCheck : nlohmann::json_sax<nlohmann::json> {
    static constexpr int kMaxDepth = 32;
    int depth = 0;
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { return ++depth <= kMaxDepth; }
    bool key(string_t&) override { return true; }
    bool end_object() override { return --depth >= 0; }
    bool start_array(std::size_t) override { return ++depth <= kMaxDepth; }
    bool end_array() override { return --depth >= 0; }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return false;
    }
};

// libxgboost 1.7's model loader trusts its input: damaged UBJSON can crash or hang it (measured:
// about 1 in 8 single-byte changes). So the booster is parsed here first by nlohmann::json (a
// checked parser) and its structure verified — a binary:logistic gbtree with `num_features`
// features and `rounds` trees whose node arrays are consistent, children after their parent
// (acyclic), split features in range — before xgboost sees it. Returns the reason on failure.
std::string CheckBoosterStructure(std::string_view bytes, std::size_t num_features,
                                  std::int64_t rounds) {
    DepthCheck depth;
    if (!nlohmann::json::sax_parse(bytes.begin(), bytes.end(), &depth,
                                   nlohmann::json::input_format_t::ubjson, true))
        return "the booster is not valid UBJSON";
    const nlohmann::json j = nlohmann::json::from_ubjson(bytes, true, false);
    if (j.is_discarded()) return "the booster is not valid UBJSON";
    try {
        auto as_int = [](const nlohmann::json& v) -> std::int64_t {
            if (v.is_string()) return std::stoll(v.get<std::string>());
            return v.get<std::int64_t>();
        };
        const auto& learner = j.at("learner");
        const auto& lp = learner.at("learner_model_param");
        if (as_int(lp.at("num_feature")) != static_cast<std::int64_t>(num_features))
            return "the booster's num_feature differs from the header's";
        if (as_int(lp.at("num_class")) != 0 || as_int(lp.at("num_target")) != 1)
            return "the booster is not a binary model";
        if (learner.at("objective").at("name") != "binary:logistic")
            return "the booster's objective is not binary:logistic";
        const auto& gb = learner.at("gradient_booster");
        if (gb.at("name") != "gbtree") return "the booster is not a gbtree";
        const auto& model = gb.at("model");
        const auto& trees = model.at("trees");
        const auto& info = model.at("tree_info");
        if (as_int(model.at("gbtree_model_param").at("num_trees")) != rounds ||
            as_int(model.at("gbtree_model_param").at("num_parallel_tree")) != 1 ||
            !trees.is_array() || !info.is_array() ||
            static_cast<std::int64_t>(trees.size()) != rounds ||
            static_cast<std::int64_t>(info.size()) != rounds)
            return "the booster's tree count differs from the header's";
        for (std::size_t t = 0; t < trees.size(); ++t) {
            const auto& tree = trees[t];
            const std::string where = "tree " + std::to_string(t) + ": ";
            if (as_int(info[t]) != 0 || as_int(tree.at("id")) != static_cast<std::int64_t>(t))
                return where + "bad id";
            const auto& tp = tree.at("tree_param");
            const std::int64_t n = as_int(tp.at("num_nodes"));
            if (n < 1 || n > (1 << 24) || as_int(tp.at("num_deleted")) != 0 ||
                as_int(tp.at("num_feature")) != static_cast<std::int64_t>(num_features) ||
                as_int(tp.at("size_leaf_vector")) != 0)
                return where + "bad tree parameters";
            for (const char* key : {"base_weights", "default_left", "left_children", "loss_changes",
                                    "parents", "right_children", "split_conditions",
                                    "split_indices", "split_type", "sum_hessian"}) {
                const auto& a = tree.at(key);
                if (!a.is_array() || static_cast<std::int64_t>(a.size()) != n)
                    return where + key + " has the wrong size";
                for (const auto& v : a)
                    if (!v.is_number()) return where + key + " is not numeric";
            }
            for (const char* key :
                 {"categories", "categories_nodes", "categories_segments", "categories_sizes"})
                if (!tree.at(key).is_array() || !tree.at(key).empty())
                    return where + "categorical splits are not supported";
            const auto& left = tree.at("left_children");
            const auto& right = tree.at("right_children");
            const auto& parents = tree.at("parents");
            const auto& split = tree.at("split_indices");
            const auto& type = tree.at("split_type");
            if (as_int(parents[0]) != 0x7fffffff && as_int(parents[0]) != -1)
                return where + "bad root";
            for (std::int64_t i = 0; i < n; ++i) {
                const std::int64_t l = as_int(left[i]), r = as_int(right[i]);
                if (as_int(type[i]) != 0) return where + "bad split type";
                if (l == -1 && r == -1) continue;
                if (l <= i || r <= i || l >= n || r >= n || l == r || as_int(parents[l]) != i ||
                    as_int(parents[r]) != i)
                    return where + "bad children at node " + std::to_string(i);
                const std::int64_t f = as_int(split[i]);
                if (f < 0 || f >= static_cast<std::int64_t>(num_features))
                    return where + "bad split feature at node " + std::to_string(i);
            }
        }
    } catch (const std::exception& e) {
        return std::string("the booster's structure is malformed (") + e.what() + ")";
    }
    return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Parameters

Result<void> XgboostParams::Validate() const {
    auto bad = [](const std::string& m) {
        return MakeError(ErrorCode::kInvalidArgument, "xgboost: parameter " + m);
    };
    if (trees < 1 || trees > 100000) return bad("trees must be in [1, 100000]");
    if (depth < 1 || depth > 30) return bad("depth must be in [1, 30]");
    if (!(eta > 0 && eta <= 1)) return bad("eta must be in (0, 1]");
    if (!(subsample > 0 && subsample <= 1)) return bad("subsample must be in (0, 1]");
    if (!(colsample > 0 && colsample <= 1)) return bad("colsample must be in (0, 1]");
    if (!(min_child_weight >= 0)) return bad("min_child_weight must be >= 0");
    if (!(lambda >= 0)) return bad("lambda must be >= 0");
    if (scale_pos_weight != "auto") TXG_RETURN_IF_ERROR(ParseScalePosWeight(scale_pos_weight));
    if (eval_metric != "aucpr" && eval_metric != "auc" && eval_metric != "logloss")
        return bad("eval_metric must be one of aucpr, auc, logloss, got \"" + eval_metric + "\"");
    if (seed > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return bad("seed must be below 2^63");
    return Ok();
}

Result<XgboostParams> XgboostParams::FromMap(const ParamMap& params) {
    XgboostParams p;
    ParamParser parser("xgboost", params);
    parser.Uint32("trees", &p.trees);
    parser.Uint32("depth", &p.depth);
    parser.Double("eta", &p.eta);
    parser.Double("subsample", &p.subsample);
    parser.Double("colsample", &p.colsample);
    parser.Double("min_child_weight", &p.min_child_weight);
    parser.Double("lambda", &p.lambda);
    parser.String("scale_pos_weight", &p.scale_pos_weight);
    parser.Uint32("early_stopping", &p.early_stopping);
    parser.String("eval_metric", &p.eval_metric, {"aucpr", "auc", "logloss"});
    parser.Uint64("seed", &p.seed);
    parser.Unsigned("threads", &p.threads);
    // Reported by Params() after training (so a bundle's metadata re-creates the detector);
    // ignored as input.
    std::string ignored;
    parser.String("best_iteration", &ignored);
    parser.String("scale_pos_weight_used", &ignored);
    TXG_RETURN_IF_ERROR(parser.Finish());
    TXG_RETURN_IF_ERROR(p.Validate());
    return p;
}

ParamMap XgboostParams::ToMap() const {
    return {{"trees", std::to_string(trees)},
            {"depth", std::to_string(depth)},
            {"eta", FormatDouble(eta)},
            {"subsample", FormatDouble(subsample)},
            {"colsample", FormatDouble(colsample)},
            {"min_child_weight", FormatDouble(min_child_weight)},
            {"lambda", FormatDouble(lambda)},
            {"scale_pos_weight", scale_pos_weight},
            {"early_stopping", std::to_string(early_stopping)},
            {"eval_metric", eval_metric},
            {"seed", std::to_string(seed)},
            {"threads", std::to_string(threads)}};
}

// ---------------------------------------------------------------------------------------------
// Detector

struct XgboostDetector::Booster {
    BoosterHandle h = nullptr;
    Booster() = default;
    Booster(const Booster&) = delete;
    Booster& operator=(const Booster&) = delete;
    ~Booster() {
        if (h != nullptr) XGBoosterFree(h);
    }
};

XgboostDetector::XgboostDetector(XgboostParams params) : params_(std::move(params)) {}
XgboostDetector::~XgboostDetector() = default;

ParamMap XgboostDetector::Params() const {
    ParamMap m = params_.ToMap();
    if (booster_) {
        m["best_iteration"] = std::to_string(best_iteration_);
        m["scale_pos_weight_used"] = FormatDouble(scale_pos_weight_used_);
    }
    return m;
}

Result<void> XgboostDetector::Fit(MatrixView /*x*/) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "xgboost is supervised: it needs labelled training data",
                     "train it with labels (FitSupervised; on the CLI, a data set with a label "
                     "column)");
}

Result<void> XgboostDetector::FitSupervised(const SupervisedData& data) {
    TXG_RETURN_IF_ERROR(params_.Validate());
    TXG_RETURN_IF_ERROR(CheckMatrix(data.x, 0, "xgboost fit"));
    auto positives = CheckLabels(data.y, data.x.rows, "xgboost fit");
    if (!positives) return std::unexpected(positives.error());
    if (!data.weights.empty()) {
        if (data.weights.size() != data.x.rows)
            return MakeError(ErrorCode::kInvalidArgument,
                             "xgboost fit: " + std::to_string(data.weights.size()) +
                                 " weights for " + std::to_string(data.x.rows) + " rows");
        for (std::size_t i = 0; i < data.weights.size(); ++i)
            if (!(data.weights[i] >= 0) || !std::isfinite(data.weights[i]))
                return MakeError(
                    ErrorCode::kInvalidArgument,
                    "xgboost fit: weight at row " + std::to_string(i) + " must be finite and >= 0");
    }
    const bool early = params_.early_stopping > 0 && data.valid_x.rows > 0;
    if (data.valid_x.rows > 0) {
        TXG_RETURN_IF_ERROR(CheckMatrix(data.valid_x, data.x.cols, "xgboost validation set"));
        auto vp = CheckLabels(data.valid_y, data.valid_x.rows, "xgboost validation set");
        if (!vp) return std::unexpected(vp.error());
    }
    double spw = 1.0;
    if (params_.scale_pos_weight == "auto") {
        spw = static_cast<double>(data.x.rows - *positives) / static_cast<double>(*positives);
    } else {
        auto v = ParseScalePosWeight(params_.scale_pos_weight);
        if (!v) return std::unexpected(v.error());
        spw = *v;
    }
    const unsigned threads = ResolveThreads(params_.threads);

    DMatrix train, valid;
    TXG_RETURN_IF_ERROR(MakeDMatrix(data.x, threads, &train));
    TXG_RETURN_IF_ERROR(SetLabels(train, data.y));
    if (!data.weights.empty()) {
        std::vector<float> w(data.weights.begin(), data.weights.end());
        TXG_RETURN_IF_ERROR(
            Xg(XGDMatrixSetFloatInfo(train.h, "weight", w.data(), w.size()), "setting weights"));
    }
    if (early) {
        TXG_RETURN_IF_ERROR(MakeDMatrix(data.valid_x, threads, &valid));
        TXG_RETURN_IF_ERROR(SetLabels(valid, data.valid_y));
    }

    Booster b;
    // The booster learns the number of features from the matrices it is created with.
    const DMatrixHandle cache[] = {train.h, valid.h};
    TXG_RETURN_IF_ERROR(Xg(XGBoosterCreate(cache, early ? 2 : 1, &b.h), "creating the booster"));
    const std::pair<const char*, std::string> settings[] = {
        {"objective", "binary:logistic"},
        {"tree_method", "hist"},
        {"max_depth", std::to_string(params_.depth)},
        {"eta", FormatDouble(params_.eta)},
        {"subsample", FormatDouble(params_.subsample)},
        {"colsample_bytree", FormatDouble(params_.colsample)},
        {"min_child_weight", FormatDouble(params_.min_child_weight)},
        {"lambda", FormatDouble(params_.lambda)},
        {"scale_pos_weight", FormatDouble(spw)},
        {"eval_metric", params_.eval_metric},
        {"seed", std::to_string(params_.seed)},
        {"nthread", std::to_string(threads)},
        {"verbosity", "1"},
        {"validate_parameters", "1"},
    };
    for (const auto& [key, value] : settings)
        TXG_RETURN_IF_ERROR(Xg(XGBoosterSetParam(b.h, key, value.c_str()),
                               (std::string("setting ") + key).c_str(),
                               ErrorCode::kInvalidArgument));

    // Early stopping as xgboost.callback.EarlyStopping: the first round sets the best score;
    // later rounds must be strictly better; stop once `early_stopping` rounds in a row are not.
    const bool maximize = params_.eval_metric != "logloss";
    std::vector<double> history;
    std::int64_t best = -1;
    double best_score = 0;
    std::uint32_t stale = 0, rounds = 0;
    const char* valid_name = "valid";
    Progress progress("xgboost fit", static_cast<std::uint64_t>(params_.trees) * data.x.rows);
    for (std::uint32_t it = 0; it < params_.trees; ++it) {
        TXG_RETURN_IF_ERROR(
            Xg(XGBoosterUpdateOneIter(b.h, static_cast<int>(it), train.h), "training round"));
        rounds = it + 1;
        progress.Add(data.x.rows);
        if (!early) continue;
        const char* line = nullptr;
        TXG_RETURN_IF_ERROR(
            Xg(XGBoosterEvalOneIter(b.h, static_cast<int>(it), &valid.h, &valid_name, 1, &line),
               "evaluating the validation set"));
        auto score = ParseEval(line);
        if (!score) return std::unexpected(score.error());
        history.push_back(*score);
        const bool better = best < 0 || (maximize ? *score > best_score : *score < best_score);
        if (better) {
            best = it;
            best_score = *score;
            stale = 0;
        } else if (++stale >= params_.early_stopping) {
            break;
        }
    }
    progress.Finish();
    if (!early) best = static_cast<std::int64_t>(rounds) - 1;

    // Keep rounds [0, best]: the saved model, the scores, the contributions and the importance
    // all see exactly the trees of the best iteration.
    Booster kept;
    BoosterHandle source = b.h;
    if (best + 1 < static_cast<std::int64_t>(rounds)) {
        TXG_RETURN_IF_ERROR(Xg(XGBoosterSlice(b.h, 0, static_cast<int>(best + 1), 1, &kept.h),
                               "cutting the model at the best iteration"));
        source = kept.h;
    }
    bst_ulong len = 0;
    const char* raw = nullptr;
    TXG_RETURN_IF_ERROR(Xg(XGBoosterSaveModelToBuffer(source, R"({"format": "ubj"})", &len, &raw),
                           "serialising the model"));
    TXG_RETURN_IF_ERROR(Install(std::string(raw, len), data.x.cols, best));
    rounds_trained_ = rounds;
    scale_pos_weight_used_ = spw;
    valid_history_ = std::move(history);
    return Ok();
}

Result<void> XgboostDetector::Install(std::string bytes, std::size_t num_features,
                                      std::int64_t best_iteration) {
    if (const std::string why = CheckBoosterStructure(bytes, num_features, best_iteration + 1);
        !why.empty())
        return MakeError(ErrorCode::kCorrupt, "xgboost model: " + why);
    auto b = std::make_unique<Booster>();
    TXG_RETURN_IF_ERROR(Xg(XGBoosterCreate(nullptr, 0, &b->h), "creating the booster"));
    TXG_RETURN_IF_ERROR(Xg(XGBoosterLoadModelFromBuffer(b->h, bytes.data(), bytes.size()),
                           "loading the model", ErrorCode::kCorrupt));
    const unsigned threads = ResolveThreads(params_.threads);
    TXG_RETURN_IF_ERROR(
        Xg(XGBoosterSetParam(b->h, "nthread", std::to_string(threads).c_str()), "setting nthread"));
    bst_ulong nf = 0;
    int rounds = 0;
    TXG_RETURN_IF_ERROR(
        Xg(XGBoosterGetNumFeature(b->h, &nf), "reading the model", ErrorCode::kCorrupt));
    TXG_RETURN_IF_ERROR(
        Xg(XGBoosterBoostedRounds(b->h, &rounds), "reading the model", ErrorCode::kCorrupt));
    if (nf != num_features || rounds != best_iteration + 1)
        return MakeError(ErrorCode::kCorrupt,
                         "xgboost model: the booster has " + std::to_string(nf) + " features and " +
                             std::to_string(rounds) + " rounds, the header says " +
                             std::to_string(num_features) + " and " +
                             std::to_string(best_iteration + 1));
    // One prediction configures the learner now, so that later const (possibly concurrent)
    // Score() calls find it ready.
    const std::vector<double> probe(num_features, std::numeric_limits<double>::quiet_NaN());
    bst_ulong const* shape = nullptr;
    bst_ulong dim = 0;
    const float* pred = nullptr;
    TXG_RETURN_IF_ERROR(
        Xg(XGBoosterPredictFromDense(b->h, ArrayInterface(probe.data(), 1, num_features).c_str(),
                                     kPredictConfig, nullptr, &shape, &dim, &pred),
           "predicting", ErrorCode::kCorrupt));
    // Total gain per feature; xgboost names unnamed features f0, f1, ... and lists used ones only.
    std::vector<double> importance(num_features, 0.0);
    bst_ulong n_names = 0, n_dim = 0;
    const char** names = nullptr;
    const float* scores = nullptr;
    TXG_RETURN_IF_ERROR(Xg(XGBoosterFeatureScore(b->h, R"({"importance_type": "total_gain"})",
                                                 &n_names, &names, &n_dim, &shape, &scores),
                           "computing feature importance", ErrorCode::kCorrupt));
    for (bst_ulong i = 0; i < n_names; ++i) {
        const std::string_view name(names[i]);
        std::size_t f = 0;
        auto [p, ec] = std::from_chars(name.data() + 1, name.data() + name.size(), f);
        if (name.size() < 2 || name[0] != 'f' || ec != std::errc() ||
            p != name.data() + name.size() || f >= num_features)
            return MakeError(ErrorCode::kCorrupt, "xgboost model: unexpected feature name \"" +
                                                      std::string(name) + "\"");
        importance[f] = scores[i];
    }
    booster_ = std::move(b);
    booster_bytes_ = std::move(bytes);
    num_features_ = num_features;
    best_iteration_ = best_iteration;
    importance_ = std::move(importance);
    return Ok();
}

Result<void> XgboostDetector::Score(MatrixView x, std::span<double> out) const {
    if (!booster_) return MakeError(ErrorCode::kInvalidArgument, "xgboost: not fitted");
    if (out.size() != x.rows)
        return MakeError(ErrorCode::kInvalidArgument, "xgboost: output size != rows");
    if (x.rows == 0) return Ok();
    TXG_RETURN_IF_ERROR(CheckMatrix(x, num_features_, "xgboost score"));
    bst_ulong const* shape = nullptr;
    bst_ulong dim = 0;
    const float* pred = nullptr;
    TXG_RETURN_IF_ERROR(
        Xg(XGBoosterPredictFromDense(booster_->h, ArrayInterface(x.data, x.rows, x.cols).c_str(),
                                     kPredictConfig, nullptr, &shape, &dim, &pred),
           "predicting"));
    bst_ulong total = dim > 0 ? 1 : 0;
    for (bst_ulong i = 0; i < dim; ++i) total *= shape[i];
    if (total != x.rows)
        return MakeError(ErrorCode::kInternal, "xgboost: prediction has " + std::to_string(total) +
                                                   " values for " + std::to_string(x.rows) +
                                                   " rows");
    for (std::size_t i = 0; i < x.rows; ++i) out[i] = pred[i];
    return Ok();
}

Result<void> XgboostDetector::Contributions(std::span<const double> row,
                                            std::span<double> out) const {
    if (!booster_) return MakeError(ErrorCode::kInvalidArgument, "xgboost: not fitted");
    if (row.size() != num_features_ || out.size() != num_features_ + 1)
        return MakeError(ErrorCode::kInvalidArgument,
                         "xgboost contributions: row has " + std::to_string(row.size()) +
                             " values and out " + std::to_string(out.size()) + ", expected " +
                             std::to_string(num_features_) + " and " +
                             std::to_string(num_features_ + 1));
    const MatrixView x{row.data(), 1, row.size()};
    TXG_RETURN_IF_ERROR(CheckMatrix(x, num_features_, "xgboost contributions"));
    std::lock_guard lock(contrib_mutex_);
    DMatrix d;
    TXG_RETURN_IF_ERROR(MakeDMatrix(x, 1, &d));
    bst_ulong const* shape = nullptr;
    bst_ulong dim = 0;
    const float* res = nullptr;
    TXG_RETURN_IF_ERROR(
        Xg(XGBoosterPredictFromDMatrix(booster_->h, d.h, kContribConfig, &shape, &dim, &res),
           "computing contributions"));
    bst_ulong total = dim > 0 ? 1 : 0;
    for (bst_ulong i = 0; i < dim; ++i) total *= shape[i];
    if (total != out.size())
        return MakeError(ErrorCode::kInternal, "xgboost: contributions have " +
                                                   std::to_string(total) + " values, expected " +
                                                   std::to_string(out.size()));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = res[i];
    return Ok();
}

std::vector<double> XgboostDetector::FeatureImportance() const { return importance_; }

// ---------------------------------------------------------------------------------------------
// Save / Load

std::string XgboostDetector::Save() const {
    ByteWriter w;
    w.Put(kXgboostFormat);
    w.Put(params_.trees);
    w.Put(params_.depth);
    w.Put(params_.eta);
    w.Put(params_.subsample);
    w.Put(params_.colsample);
    w.Put(params_.min_child_weight);
    w.Put(params_.lambda);
    w.PutString(params_.scale_pos_weight);
    w.Put(params_.early_stopping);
    w.PutString(params_.eval_metric);
    w.Put(params_.seed);
    w.Put<std::uint64_t>(num_features_);
    w.Put(best_iteration_);
    w.Put(rounds_trained_);
    w.Put(scale_pos_weight_used_);
    w.PutString(booster_bytes_);
    std::string out = w.Take();
    const std::uint64_t sum = Fnv1a(out);
    out.append(reinterpret_cast<const char*>(&sum), sizeof sum);
    return out;
}

Result<void> XgboostDetector::Load(std::string_view bytes) {
    ByteReader r(bytes, "xgboost model");
    auto format = r.Get<std::uint32_t>();
    if (!format) return std::unexpected(format.error());
    if (*format != kXgboostFormat)
        return MakeError(ErrorCode::kIncompatible,
                         "xgboost model format " + std::to_string(*format) +
                             ", this txguard reads format " + std::to_string(kXgboostFormat));
    std::uint64_t stored = 0;
    if (bytes.size() < sizeof(std::uint32_t) + sizeof stored) return r.Corrupt("truncated");
    std::memcpy(&stored, bytes.data() + bytes.size() - sizeof stored, sizeof stored);
    const std::string_view body = bytes.substr(0, bytes.size() - sizeof stored);
    if (Fnv1a(body) != stored) return r.Corrupt("checksum mismatch (corrupt or truncated)");

    ByteReader b(body.substr(sizeof(std::uint32_t)), "xgboost model");
    XgboostParams p = params_;
    auto trees = b.Get<std::uint32_t>();
    auto depth = b.Get<std::uint32_t>();
    auto eta = b.Get<double>();
    auto subsample = b.Get<double>();
    auto colsample = b.Get<double>();
    auto mcw = b.Get<double>();
    auto lambda = b.Get<double>();
    auto spw = b.GetString(64);
    auto early = b.Get<std::uint32_t>();
    auto metric = b.GetString(64);
    auto seed = b.Get<std::uint64_t>();
    auto nf = b.Get<std::uint64_t>();
    auto best = b.Get<std::int64_t>();
    auto rounds = b.Get<std::uint32_t>();
    auto spw_used = b.Get<double>();
    auto booster = b.GetString();
    if (!trees || !depth || !eta || !subsample || !colsample || !mcw || !lambda || !spw || !early ||
        !metric || !seed || !nf || !best || !rounds || !spw_used || !booster)
        return b.Corrupt("truncated header");
    if (!b.AtEnd()) return b.Corrupt("trailing bytes");
    p.trees = *trees;
    p.depth = *depth;
    p.eta = *eta;
    p.subsample = *subsample;
    p.colsample = *colsample;
    p.min_child_weight = *mcw;
    p.lambda = *lambda;
    p.scale_pos_weight = *spw;
    p.early_stopping = *early;
    p.eval_metric = *metric;
    p.seed = *seed;
    if (auto v = p.Validate(); !v) return b.Corrupt("invalid parameters: " + v.error().message);
    if (*nf == 0 || *nf > (1u << 24)) return b.Corrupt("invalid number of features");
    if (*best < 0 || *best >= static_cast<std::int64_t>(*rounds) || *rounds > p.trees)
        return b.Corrupt("invalid best iteration " + std::to_string(*best) + " of " +
                         std::to_string(*rounds) + " rounds");
    if (!std::isfinite(*spw_used) || *spw_used <= 0) return b.Corrupt("invalid scale_pos_weight");
    if (booster->empty()) return b.Corrupt("no booster (saved before fitting)");
    const XgboostParams old = params_;
    params_ = p;  // Install reads the thread count
    auto installed = Install(std::move(*booster), static_cast<std::size_t>(*nf), *best);
    if (!installed) {
        params_ = old;
        return installed;
    }
    rounds_trained_ = *rounds;
    scale_pos_weight_used_ = *spw_used;
    valid_history_.clear();
    return Ok();
}

}  // namespace txguard
