#pragma once
// The one engine that computes features, for training files and live transactions alike
// (DESIGN.md: a feature is computed by exactly one piece of code).
//
// Process(tx) updates the state of every entity the transaction touches and writes its feature
// row. AddLabel(tx, label, known_at) records a confirmed label; delayed label features (label_risk)
// see a label only once it has been added, so a replay that adds each label when it becomes known
// reproduces live operation. The batch path (ComputeFeatures) replays a table in time order through
// the same per-entity code, in parallel across entities: each entity's state sees the same sequence
// of operations as in a one-at-a-time replay, so batch and online rows are equal bit for bit.
//
// Window semantics: a window of w ending at t covers (t - w, t]; the current transaction is
// included; transactions with equal timestamps are ordered by input order (a later row sees an
// earlier one, not the reverse). A label-risk window with delay d covers (t - d - w, t - d].
//
// State per entity: the events of its longest window (or longest delay + window) in a ring, with
// running count, sum, sum of squares, fraud count, a monotonic max deque and a counterparty count
// map per window where the spec asks. Bounded by the spec's `max_events` per entity: beyond it the
// oldest events are dropped and leave their windows early, so aggregates then describe the newest
// max_events events (documented in docs/features.md). With `bucket_s` > 0 events falling in the
// same bucket are merged (windows then move at bucket granularity: an approximation for very busy
// entities such as large merchants).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/matrix.hpp"
#include "txguard/core/result.hpp"
#include "txguard/data/transaction_table.hpp"
#include "txguard/features/feature_spec.hpp"

namespace txguard {

// One transaction as the engine sees it. keys[k] is the engine id of key field k (FeatureEngine::
// KeyId), for the fields the spec uses; `seq` identifies the transaction for AddLabel (strictly
// increasing in processing order). extras: the spec's extra columns in spec order.
struct TxInput {
    std::uint64_t seq = 0;
    std::int64_t ts_ms = 0;
    double amount = 0.0;
    std::uint32_t keys[kNumKeyFields] = {0, 0, 0, 0, 0};
    std::span<const double> extras;
};

class FeatureEngine {
  public:
    explicit FeatureEngine(FeatureSpec spec);
    ~FeatureEngine();
    FeatureEngine(FeatureEngine&&) noexcept;
    FeatureEngine& operator=(FeatureEngine&&) noexcept;

    const FeatureSpec& spec() const { return spec_; }
    std::size_t NumFeatures() const { return num_features_; }

    // The engine's id for a key value (created on first sight).
    std::uint32_t KeyId(KeyField field, std::string_view value);
    // Convenience for the customer key.
    std::uint32_t CustomerId(std::string_view key) { return KeyId(KeyField::kCustomer, key); }

    // Updates the state with `tx` and writes its feature row (NumFeatures values). A transaction
    // earlier than the entity's latest one is an error: each entity consumes events in time order.
    Result<void> Process(const TxInput& tx, std::span<double> out);
    // The latest time among the entities `tx` touches (INT64_MIN when none has been seen): a
    // live caller that accepts late events processes them at max(ts, LatestTime) so that every
    // entity still consumes its events in time order.
    std::int64_t LatestTime(const TxInput& tx) const;
    // Records the label (0/1) of an already processed transaction; known_at_ms must not precede
    // it. Labels of events no longer held (outside every window) change nothing.
    Result<void> AddLabel(const TxInput& tx, std::int8_t label, std::int64_t known_at_ms);

    // The whole state (key dictionaries and every entity), for the server and stream workers.
    // `reuse`: a buffer whose memory the snapshot may take over (the previous snapshot's bytes).
    std::string Snapshot(std::string reuse = {}) const;
    // Snapshot().size(), without writing it (Snapshot reserves this much).
    std::size_t SnapshotSize() const;
    // A snapshot written in steps, for a caller that holds a lock around the engine and releases
    // it between steps, and writes each step's bytes out meanwhile (the live server: a whole
    // snapshot of ~260 MB held its scoring lock for ~150 ms and its memory twice over).
    // BeginSnapshot fixes the snapshot's point: the state as it is then. Each SnapshotStep
    // replaces `out` with the next ~step_bytes (its memory is reused) and returns true with the
    // last piece, which ends the snapshot. Between steps the engine may take transactions and
    // labels: an entity about to change before the snapshot has reached it is written first
    // (copy on write), and entities new since BeginSnapshot are left out, so the pieces put
    // together equal what Snapshot() gave at BeginSnapshot. One at a time: Begin again abandons
    // the one in progress, as does Restore (a moved engine takes it along).
    void BeginSnapshot();
    bool SnapshotStep(std::string& out, std::size_t step_bytes);
    void AbandonSnapshot();  // ends the snapshot in progress, if any, without its last pieces
    bool SnapshotInProgress() const;
    Result<void> Restore(std::string_view bytes);

    // Internal: the batch driver runs entity blocks directly.
    struct Impl;
    Impl& impl() { return *impl_; }

  private:
    FeatureSpec spec_;
    std::size_t num_features_;
    std::unique_ptr<Impl> impl_;
};

struct BatchOptions {
    unsigned threads = 0;  // 0 = all cores
    // Labels of the table enter the label-risk features `delay_days` after each transaction
    // (the entity's label_risk delay), i.e. known_at = ts + delay: the handbook's assumption
    // that every label older than the delay is known. false: no labels are used.
    bool use_table_labels = true;
};

// The batch path: replays `table` in time order (stable by input order) through the engine and
// returns one feature row per table row, in table order.
Result<Matrix> ComputeFeatures(FeatureEngine& engine, const TransactionTable& table,
                               const BatchOptions& options = {});

}  // namespace txguard
