#include "txguard/model/pipeline.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "txguard/core/time.hpp"
#include "txguard/eval/metrics.hpp"
#include "txguard/version.hpp"

namespace txguard {

bool DateRange::Contains(std::int64_t ts) const {
    if (from_ms && ts < *from_ms) return false;
    if (to_ms && ts >= *to_ms + kMsPerDay) return false;
    return true;
}

Result<DateRange> DateRange::Parse(const std::string& from, const std::string& to) {
    DateRange r;
    if (!from.empty()) {
        auto v = ParseDate(from);
        if (!v) return std::unexpected(v.error());
        r.from_ms = *v;
    }
    if (!to.empty()) {
        auto v = ParseDate(to);
        if (!v) return std::unexpected(v.error());
        r.to_ms = *v;
    }
    if (r.from_ms && r.to_ms && *r.to_ms < *r.from_ms)
        return MakeError(ErrorCode::kInvalidArgument,
                         "the date range ends (" + to + ") before it starts (" + from + ")");
    return r;
}

Result<std::vector<std::size_t>> RowsInRange(const TransactionTable& table,
                                             const DateRange& range) {
    std::vector<std::size_t> rows;
    if (!range.Active()) {
        rows.resize(table.rows);
        for (std::size_t i = 0; i < table.rows; ++i) rows[i] = i;
        return rows;
    }
    if (!table.has_time())
        return MakeError(ErrorCode::kInvalidArgument,
                         "a date range was given but the data has no timestamp column");
    for (std::size_t i = 0; i < table.rows; ++i)
        if (range.Contains(table.ts_ms[i])) rows.push_back(i);
    if (rows.empty())
        return MakeError(ErrorCode::kInvalidArgument, "no transactions in the date range",
                         table.rows ? "the data spans " + FormatDate(table.ts_ms.front()) + " .. " +
                                          FormatDate(table.ts_ms.back())
                                    : "the data is empty");
    return rows;
}

namespace {

std::string NowUtc() {
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

Matrix SelectRows(const Matrix& m, std::span<const std::size_t> rows) {
    Matrix out(rows.size(), m.cols());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        auto src = m.View().Row(rows[i]);
        std::copy(src.begin(), src.end(), out.Row(i).begin());
    }
    return out;
}

std::vector<std::int8_t> LabelsOf(const TransactionTable& t, std::span<const std::size_t> rows) {
    std::vector<std::int8_t> y(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) y[i] = t.label[rows[i]];
    return y;
}

bool IsIdentity(std::span<const std::size_t> rows, std::size_t n) {
    if (rows.size() != n) return false;
    for (std::size_t i = 0; i < n; ++i)
        if (rows[i] != i) return false;
    return true;
}

// Feature rows of `rows` plus one column per hybrid part (its score).
Result<Matrix> InputsFromFeatures(const ModelBundle& b, const Matrix& features,
                                  std::span<const std::size_t> rows) {
    return ModelInputsFromFeatures(b, SelectRows(features, rows));
}

}  // namespace

Result<ModelBundle> TrainModel(const TransactionTable& table, const Schema& schema,
                               const TrainOptions& options) {
    if (!(options.alert_rate > 0.0 && options.alert_rate < 1.0))
        return MakeError(ErrorCode::kInvalidArgument, "alert rate must be in (0, 1)");
    if (table.rows == 0)
        return MakeError(ErrorCode::kInvalidArgument, "the training data is empty");
    ModelBundle b;
    b.schema = schema;
    if (options.features.empty()) {
        b.features = DefaultFeatureSpec(schema, table);
    } else {
        auto spec = ResolveFeatureSpec(options.features, schema, table);
        if (!spec) return std::unexpected(spec.error());
        b.features = std::move(*spec);
    }
    auto det = CreateDetector(options.detector, options.params);
    if (!det) return std::unexpected(det.error());
    b.detector = std::move(*det);
    b.detector_name = options.detector;
    const bool supervised = b.detector->Supervised();
    const bool need_labels = supervised || options.genuine_only || !options.hybrid.empty();
    if (need_labels && !table.has_label())
        return MakeError(ErrorCode::kInvalidArgument,
                         (supervised ? "the " + options.detector + " detector"
                                     : std::string("--genuine-only and --hybrid")) +
                             " need a label column in the training data");

    auto rows = RowsInRange(table, options.range);
    if (!rows) return std::unexpected(rows.error());
    TXG_RETURN_IF_ERROR(FitCategoricalVocabularies(b.features, table, *rows));
    TXG_RETURN_IF_ERROR(b.features.Validate());
    FeatureEngine engine(b.features);
    BatchOptions batch;
    batch.threads = options.threads;
    auto features = ComputeFeatures(engine, table, batch);
    if (!features) return std::unexpected(features.error());

    // Semi-supervised parts: fitted on the known-genuine training rows.
    std::vector<std::size_t> genuine;
    if (need_labels)
        for (std::size_t r : *rows)
            if (table.label[r] == 0) genuine.push_back(r);
    if (need_labels && genuine.empty())
        return MakeError(ErrorCode::kInvalidArgument, "no genuine (label 0) training rows");
    for (const auto& name : options.hybrid) {
        auto part =
            CreateDetector(name, {{"seed", options.params.count("seed") ? options.params.at("seed")
                                                                        : std::string("0")}});
        if (!part) return std::unexpected(part.error());
        if ((*part)->Supervised())
            return MakeError(ErrorCode::kInvalidArgument,
                             "--hybrid takes unsupervised detectors; " + name + " is supervised");
        TXG_RETURN_IF_ERROR((*part)->Fit(SelectRows(*features, genuine)));
        b.hybrid.push_back({name, std::move(*part)});
    }

    auto train = InputsFromFeatures(b, *features, *rows);
    if (!train) return std::unexpected(train.error());
    std::vector<double> scores(train->rows());
    if (supervised) {
        const auto y = LabelsOf(table, *rows);
        SupervisedData data;
        data.x = *train;
        data.y = y;
        Matrix valid;
        std::vector<std::int8_t> valid_y;
        if (options.valid_range.Active()) {
            auto vrows = RowsInRange(table, options.valid_range);
            if (!vrows) return std::unexpected(vrows.error());
            auto v = InputsFromFeatures(b, *features, *vrows);
            if (!v) return std::unexpected(v.error());
            valid = std::move(*v);
            valid_y = LabelsOf(table, *vrows);
            data.valid_x = valid;
            data.valid_y = valid_y;
        }
        TXG_RETURN_IF_ERROR(b.detector->FitSupervised(data));
        TXG_RETURN_IF_ERROR(b.detector->Score(*train, scores));
    } else if (options.genuine_only) {
        // Rows of `train` that are genuine: positions within *rows.
        std::vector<std::size_t> pos;
        for (std::size_t i = 0; i < rows->size(); ++i)
            if (table.label[(*rows)[i]] == 0) pos.push_back(i);
        TXG_RETURN_IF_ERROR(b.detector->Fit(SelectRows(*train, pos)));
        TXG_RETURN_IF_ERROR(b.detector->Score(*train, scores));
    } else {
        TXG_RETURN_IF_ERROR(b.detector->FitScore(*train, scores));
    }
    auto threshold = Quantile(scores, 1.0 - options.alert_rate);
    if (!threshold) return std::unexpected(threshold.error());
    b.threshold = *threshold;
    // The block threshold: the top tenth of the alert budget (the serving decision "block";
    // between the two thresholds a transaction is sent for review).
    auto block = Quantile(scores, 1.0 - options.alert_rate / 10.0);
    if (!block) return std::unexpected(block.error());
    b.block_threshold = std::max(*block, b.threshold);

    b.meta.txguard_version = kVersion;
    b.meta.created_at = NowUtc();
    b.meta.data_path = options.data_path;
    char fp[17];
    std::snprintf(
        fp, sizeof fp, "%016llx",
        static_cast<unsigned long long>(options.range.Active() ? table.Select(*rows).Fingerprint()
                                                               : table.Fingerprint()));
    b.meta.data_fingerprint = fp;
    b.meta.train_rows = train->rows();
    if (options.range.from_ms) b.meta.train_from = FormatDate(*options.range.from_ms);
    if (options.range.to_ms) b.meta.train_to = FormatDate(*options.range.to_ms);
    if (options.valid_range.from_ms) b.meta.valid_from = FormatDate(*options.valid_range.from_ms);
    if (options.valid_range.to_ms) b.meta.valid_to = FormatDate(*options.valid_range.to_ms);
    b.meta.alert_rate = options.alert_rate;
    b.meta.genuine_only = options.genuine_only;
    return b;
}

Result<Matrix> ModelInputsFromFeatures(const ModelBundle& b, MatrixView features) {
    const std::size_t cols = features.cols;
    Matrix out(features.rows, cols + b.hybrid.size());
    for (std::size_t i = 0; i < features.rows; ++i) {
        auto src = features.Row(i);
        std::copy(src.begin(), src.end(), out.Row(i).begin());
    }
    if (b.hybrid.empty() || features.rows == 0) return out;
    std::vector<double> scores(features.rows);
    for (std::size_t h = 0; h < b.hybrid.size(); ++h) {
        TXG_RETURN_IF_ERROR(b.hybrid[h].detector->Score(features, scores));
        for (std::size_t i = 0; i < features.rows; ++i) out(i, cols + h) = scores[i];
    }
    return out;
}

Result<Matrix> ModelInputs(const ModelBundle& bundle, const TransactionTable& table,
                           std::span<const std::size_t> rows, unsigned threads) {
    FeatureEngine engine(bundle.features);
    BatchOptions batch;
    batch.threads = threads;
    auto features = ComputeFeatures(engine, table, batch);
    if (!features) return std::unexpected(features.error());
    // Scoring a whole table with no hybrid part: the feature matrix is the input (no copy).
    if (bundle.hybrid.empty() && IsIdentity(rows, features->rows())) return std::move(*features);
    return InputsFromFeatures(bundle, *features, rows);
}

Result<std::vector<double>> ScoreTable(const ModelBundle& bundle, const TransactionTable& table) {
    std::vector<std::size_t> all(table.rows);
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    return ScoreTable(bundle, table, all);
}

Result<std::vector<double>> ScoreTable(const ModelBundle& bundle, const TransactionTable& table,
                                       std::span<const std::size_t> rows) {
    std::vector<double> scores(rows.size());
    if (rows.empty()) return scores;
    auto inputs = ModelInputs(bundle, table, rows);
    if (!inputs) return std::unexpected(inputs.error());
    TXG_RETURN_IF_ERROR(bundle.detector->Score(*inputs, scores));
    return scores;
}

}  // namespace txguard
