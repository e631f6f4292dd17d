#pragma once
// The live scoring core shared by the HTTP service (service.hpp) and the stream workers
// (txguard/stream/worker.hpp): a served model with its thresholds and request parser, and the
// steps from a validated request to a stored record — engine input (late events at their
// entities' latest time), model score, decision, reasons, the store's record. One place for
// these steps, so a transaction scored over HTTP and one scored from a stream get the same answer.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/matrix.hpp"
#include "txguard/core/result.hpp"
#include "txguard/features/feature_engine.hpp"
#include "txguard/model/bundle.hpp"
#include "txguard/serve/request.hpp"
#include "txguard/store/store.hpp"

namespace txguard {

struct ScoringOptions {
    std::optional<double> review_threshold;  // default: the model's alert threshold
    std::optional<double> block_threshold;   // default: the model's block threshold
    std::size_t reasons = 3;                 // top features per decision (0: none)
    bool reasons_for_all = false;            // false: reasons for review/block decisions only
    RequestLimits limits;
};

// A loaded model and everything derived from it; immutable once built (the server swaps it whole
// on reload).
struct ScoringModel {
    ModelBundle bundle;
    std::string path;
    std::string version;   // "<detector>-<16 hex of the file's hash>"
    std::string spec_key;  // what engine state belongs to: the hash of the feature spec's JSON
    std::vector<std::string> input_names;
    std::size_t num_features = 0;
    double review = 0.0;
    double block = 0.0;
    bool has_reasons = false;
    std::size_t reasons = 3;
    bool reasons_for_all = false;
    RequestParser parser;

    ScoringModel(ModelBundle b, const RequestLimits& limits)
        : bundle(std::move(b)), parser(bundle.features, limits) {}
};

// Loads a bundle for live scoring; refuses models without per-entity features over time.
Result<std::shared_ptr<const ScoringModel>> LoadScoringModel(const std::string& path,
                                                             const ScoringOptions& options);

// "allow", "review" or "block" by the model's thresholds.
const char* Decide(const ScoringModel& m, double score);

// Whether a decision at this score carries reasons: the detector has contributions and the
// decision is an alert (review, block), or any decision with reasons_for_all.
bool WantsReasons(const ScoringModel& m, double score);
// The top-k features of one model input row by their contributions (the detector's
// Contributions for that row) as a JSON array [{"feature","value","contribution"}, ...].
std::string FormatReasons(const ScoringModel& m, std::span<const double> input,
                          std::span<const double> contributions);

// The engine input of a request with sequence number `seq`. A transaction older than its
// entities' latest is processed at that latest time (FeatureEngine::LatestTime); *late tells.
TxInput EngineInput(FeatureEngine& engine, const TxRequest& req, std::uint64_t seq,
                    bool* late = nullptr);

// Model scores of feature rows (the engine's output), and each row's reasons JSON: the top-k
// contributions when WantsReasons, else "[]". One ScoreExplained call of the detector, so an
// isolation forest walks its trees once for the score and the reasons.
Result<void> ScoreFeatureRows(const ScoringModel& m, MatrixView features, std::span<double> scores,
                              std::span<std::string> reasons);

// The store's record of a scored transaction.
StoredTransaction MakeRecord(const ScoringModel& m, const TxRequest& req, const TxInput& in,
                             double score, const char* decision, std::string reasons,
                             std::int64_t received_ms);

// Replays a stored transaction into the engine exactly as it was processed live (its stored
// request re-parsed by the model's rules, its stored sequence number); returns its engine input.
Result<TxInput> ReplayStoredTransaction(FeatureEngine& engine, const ScoringModel& m,
                                        const StoredTransaction& stored, std::span<double> row);

// Restores `engine` from the newest snapshot stored under `key` and returns the sequence number
// to replay the store's events after (0 when there is none). A snapshot this build cannot use —
// another snapshot format, another feature spec, corrupt bytes, a damaged file (kCorrupt from
// the store) — is skipped, not an error: a
// snapshot only saves replay time, so the engine stays empty and every stored event is replayed
// (same state, slower start); *skipped then says why (empty otherwise). Store failures are errors.
// A snapshot ahead of the store (its seq beyond the newest stored event of `partition`: a database
// restored from an older backup beside a newer snapshot file) is skipped the same way.
Result<std::uint64_t> RestoreLatestSnapshot(FeatureEngine& engine, Store& store,
                                            std::uint32_t partition, std::string_view key,
                                            std::string* skipped);

// The stored part of a score answer: {"transaction_id","score","decision","reasons",
// "model_version" — without the closing brace (the HTTP answer appends latency_us).
std::string ScoreBody(std::string_view id, double score, std::string_view decision,
                      std::string_view reasons_json, std::string_view model_version);
// The same for a stored transaction: what its first answer said.
std::string ScoreBody(const StoredTransaction& stored);

std::int64_t WallClockMs();

}  // namespace txguard
