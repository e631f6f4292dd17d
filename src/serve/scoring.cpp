#include "txguard/serve/scoring.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "json_text.hpp"
#include "txguard/core/bytes.hpp"
#include "txguard/model/pipeline.hpp"

namespace txguard {

namespace {

std::string Hex16(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

std::int64_t WallClockMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Result<std::shared_ptr<const ScoringModel>> LoadScoringModel(const std::string& path,
                                                             const ScoringOptions& options) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return MakeError(ErrorCode::kNotFound, "cannot open model file " + path);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto bundle = DeserializeModel(bytes, path);
    if (!bundle) return std::unexpected(bundle.error());
    if (!bundle->schema.Has(Field::kTimestamp) || bundle->features.entities.empty())
        return MakeError(ErrorCode::kIncompatible,
                         "model " + path + " has no per-entity features over time",
                         "serve a model trained on transactions with timestamps and customers");
    auto m = std::make_shared<ScoringModel>(std::move(*bundle), options.limits);
    m->path = path;
    m->version = m->bundle.detector_name + "-" + Hex16(Fnv1a64(bytes));
    m->spec_key = Hex16(Fnv1a64(FeatureSpecToJson(m->bundle.features)));
    m->input_names = ModelInputNames(m->bundle);
    m->num_features = m->bundle.features.Size();
    m->review = options.review_threshold.value_or(m->bundle.threshold);
    m->block = std::max(m->review, options.block_threshold.value_or(m->bundle.block_threshold));
    m->reasons = options.reasons;
    m->reasons_for_all = options.reasons_for_all;
    // Reasons need per-feature contributions; find out once whether the detector has them.
    std::vector<double> row(m->input_names.size(), 0.0), out(row.size() + 1);
    m->has_reasons =
        options.reasons > 0 && static_cast<bool>(m->bundle.detector->Contributions(row, out));
    return std::shared_ptr<const ScoringModel>(std::move(m));
}

const char* Decide(const ScoringModel& m, double score) {
    if (score >= m.block) return "block";
    if (score >= m.review) return "review";
    return "allow";
}

bool WantsReasons(const ScoringModel& m, double score) {
    return m.has_reasons && (m.reasons_for_all || Decide(m, score)[0] != 'a');
}

std::string FormatReasons(const ScoringModel& m, std::span<const double> input,
                          std::span<const double> contrib) {
    thread_local std::vector<std::size_t> order;
    order.resize(input.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    const std::size_t k = std::min(m.reasons, order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](std::size_t a, std::size_t b) { return contrib[a] > contrib[b]; });
    std::string s = "[";
    for (std::size_t i = 0; i < k; ++i) {
        const std::size_t f = order[i];
        if (i) s += ',';
        s += "{\"feature\":";
        AppendJsonString(s, m.input_names[f]);
        s += ",\"value\":";
        AppendJsonNumber(s, input[f]);
        s += ",\"contribution\":";
        AppendJsonNumber(s, contrib[f]);
        s += '}';
    }
    s += ']';
    return s;
}

TxInput EngineInput(FeatureEngine& engine, const TxRequest& req, std::uint64_t seq, bool* late) {
    TxInput in;
    in.seq = seq;
    in.amount = req.amount;
    for (int f = 0; f < kNumKeyFields; ++f)
        if (!req.keys[f].empty()) in.keys[f] = engine.KeyId(static_cast<KeyField>(f), req.keys[f]);
    in.ts_ms = req.ts_ms;
    const std::int64_t latest = engine.LatestTime(in);
    if (late) *late = latest > in.ts_ms;
    if (latest > in.ts_ms) in.ts_ms = latest;
    in.extras = req.extras;
    return in;
}

Result<void> ScoreFeatureRows(const ScoringModel& m, MatrixView features, std::span<double> scores,
                              std::span<std::string> reasons) {
    auto inputs = ModelInputsFromFeatures(m.bundle, features);
    if (!inputs) return std::unexpected(inputs.error());
    thread_local Matrix contrib;
    Detector::ExplainFilter explain;
    if (m.has_reasons) explain = [&m](std::size_t, double score) { return WantsReasons(m, score); };
    TXG_RETURN_IF_ERROR(m.bundle.detector->ScoreExplained(*inputs, scores, explain, &contrib));
    for (std::size_t r = 0; r < features.rows; ++r)
        reasons[r] = WantsReasons(m, scores[r])
                         ? FormatReasons(m, inputs->View().Row(r), contrib.View().Row(r))
                         : "[]";
    return Ok();
}

StoredTransaction MakeRecord(const ScoringModel& m, const TxRequest& req, const TxInput& in,
                             double score, const char* decision, std::string reasons,
                             std::int64_t received_ms) {
    StoredTransaction rec;
    rec.seq = in.seq;
    rec.transaction_id = req.transaction_id;
    rec.ts_ms = in.ts_ms;
    rec.received_ms = received_ms;
    rec.customer_id = req.customer_id();
    rec.terminal_id = req.terminal_id();
    rec.amount = req.amount;
    rec.fields_json = m.parser.ToJson(req);
    rec.score = score;
    rec.decision = decision;
    rec.reasons_json = std::move(reasons);
    rec.model_version = m.version;
    return rec;
}

Result<TxInput> ReplayStoredTransaction(FeatureEngine& engine, const ScoringModel& m,
                                        const StoredTransaction& st, std::span<double> row) {
    auto req = m.parser.ParseTransaction(st.fields_json);
    if (!req)
        return MakeError(ErrorCode::kIncompatible,
                         "stored transaction " + st.transaction_id +
                             " does not fit the model: " + req.error().message,
                         "serve this store with the model it was written with");
    TxInput in = EngineInput(engine, *req, st.seq);
    TXG_RETURN_IF_ERROR(engine.Process(in, row));
    in.extras = {};  // pointed into the request, which ends here
    return in;
}

Result<std::uint64_t> RestoreLatestSnapshot(FeatureEngine& engine, Store& store,
                                            std::uint32_t partition, std::string_view key,
                                            std::string* skipped) {
    if (skipped != nullptr) skipped->clear();
    auto snap = store.LatestSnapshot(key);
    if (!snap) {
        // A damaged snapshot (a file cut short, a checksum mismatch) is derived data: the events
        // it would spare replaying are all in the store.
        if (snap.error().code != ErrorCode::kCorrupt) return std::unexpected(snap.error());
        if (skipped != nullptr)
            *skipped = "stored snapshot skipped (" + snap.error().message +
                       "); replaying every stored event";
        return std::uint64_t{0};
    }
    if (!*snap) return std::uint64_t{0};
    auto newest = store.MaxSeq(partition);
    if (!newest) return std::unexpected(newest.error());
    if ((*snap)->seq > *newest) {
        if (skipped != nullptr)
            *skipped = "snapshot at seq " + std::to_string((*snap)->seq) +
                       " skipped (it is ahead of the store, whose newest event is seq " +
                       std::to_string(*newest) + "); replaying every stored event";
        return std::uint64_t{0};
    }
    if (auto r = engine.Restore((*snap)->bytes); !r) {
        // Restore leaves the engine as it was (empty) when it refuses.
        if (skipped != nullptr)
            *skipped = "snapshot at seq " + std::to_string((*snap)->seq) + " skipped (" +
                       r.error().message + "); replaying every stored event";
        return std::uint64_t{0};
    }
    return (*snap)->seq;
}

std::string ScoreBody(std::string_view id, double score, std::string_view decision,
                      std::string_view reasons_json, std::string_view model_version) {
    std::string s;
    s.reserve(192 + id.size() + reasons_json.size() + model_version.size());  // + latency_us
    s += "{\"transaction_id\":";
    AppendJsonString(s, id);
    s += ",\"score\":";
    AppendJsonNumber(s, score);
    s += ",\"decision\":\"";
    s += decision;
    s += "\",\"reasons\":";
    s += reasons_json.empty() ? "[]" : reasons_json;
    s += ",\"model_version\":";
    AppendJsonString(s, model_version);
    return s;
}

std::string ScoreBody(const StoredTransaction& st) {
    return ScoreBody(st.transaction_id, st.score, st.decision, st.reasons_json, st.model_version);
}

}  // namespace txguard
