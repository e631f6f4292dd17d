#pragma once
// The store: every accepted transaction with its score and decision, every label, and snapshots
// of the feature engine's state, in one event sequence. The server and stream workers write it
// and rebuild their in-memory state from it after a restart (latest snapshot, then a replay of
// the events after it, in sequence order).
//
// Implementations are chosen by URL (OpenStore): `sqlite:///abs/path.db`, `sqlite://rel/path.db`,
// `sqlite::memory:` (the embedded default; WAL mode) and, later, `postgresql://...`.
// SQLite URLs take query options: `?synchronous=full` (fsync the WAL on every commit) and
// `?busy_timeout_ms=N` (how long a connection waits for another one's lock; default 5000), e.g.
// `sqlite:///var/lib/txguard/store.db?synchronous=full&busy_timeout_ms=2000`.
//
// Durability (SQLite, WAL mode): with the default synchronous=NORMAL a committed batch survives a
// crash or SIGKILL of the process; a power loss or OS crash can lose the batches committed since
// the WAL was last synced (at a checkpoint), though the database stays consistent. With
// `?synchronous=full` every commit is fsynced and survives power loss too, at a cost per commit.
//
// The schema is versioned (a `schema_version` table, migrations applied on open; a database from
// a newer txguard is refused with a reason).
//
// Thread safety: a Store object is used by one thread at a time; open one per thread (SQLite WAL
// lets readers run beside the one writer). StoreWriter (below) owns the writing connection.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/result.hpp"

namespace txguard {

// One scored transaction. `seq` is the event sequence number the scorer assigned (transactions
// and labels share one increasing sequence); `fields_json` is the validated request as a JSON
// object (every field the model's schema takes), enough to replay the transaction exactly.
struct StoredTransaction {
    std::uint64_t seq = 0;
    std::string transaction_id;
    std::int64_t ts_ms = 0;  // processing time: the event time, or later for a late event (the
                             // time the scorer processed it at; its own time is in fields_json)
    std::int64_t received_ms = 0;  // wall clock when the scorer accepted it
    std::string customer_id;
    std::string terminal_id;
    double amount = 0.0;
    std::string fields_json;
    double score = 0.0;
    std::string decision;      // "allow", "review" or "block"
    std::string reasons_json;  // JSON array of {feature, value, contribution}
    std::string model_version;
};

// A confirmed label of a stored transaction.
struct StoredLabel {
    std::uint64_t seq = 0;
    std::string transaction_id;
    std::int8_t label = 0;  // 0 genuine, 1 fraud
    std::int64_t known_at_ms = 0;
    std::int64_t received_ms = 0;
};

// One entry of the event sequence (replay): exactly one of the two is set.
struct StoredEvent {
    std::optional<StoredTransaction> transaction;
    std::optional<StoredLabel> label;
    std::uint64_t seq() const { return transaction ? transaction->seq : label->seq; }
};

struct StoredSnapshot {
    std::uint64_t seq = 0;  // the state after every event with seq <= this
    std::string model_key;  // what the state belongs to (e.g. the feature spec's hash)
    std::string bytes;      // FeatureEngine::Snapshot()
    std::int64_t created_ms = 0;
};

struct AlertQuery {
    std::int64_t since_ms = 0;  // transactions with ts_ms >= since_ms
    std::size_t limit = 100;
};

class Store {
  public:
    virtual ~Store() = default;
    // The URL it was opened with, for messages (passwords masked).
    virtual std::string Url() const = 0;

    // Writes a batch atomically (one database transaction). Transactions whose transaction_id is
    // already stored are skipped (idempotent writes); labels are appended (a later label of the
    // same transaction overrides an earlier one when read back). Returns the number of
    // transactions actually inserted.
    virtual Result<std::size_t> Append(std::span<const StoredTransaction> transactions,
                                       std::span<const StoredLabel> labels) = 0;

    virtual Result<std::optional<StoredTransaction>> GetTransaction(std::string_view id) = 0;
    // The latest label of a transaction, if any.
    virtual Result<std::optional<StoredLabel>> GetLabel(std::string_view transaction_id) = 0;
    // Transactions whose decision is not "allow", ordered by ts_ms then seq.
    virtual Result<std::vector<StoredTransaction>> Alerts(const AlertQuery& query) = 0;

    // Every event with seq > after_seq in seq order; `visit` returning an error stops the scan
    // and that error is returned.
    virtual Result<void> ForEachEvent(
        std::uint64_t after_seq, const std::function<Result<void>(const StoredEvent&)>& visit) = 0;
    // Every stored transaction id (the idempotency index after a restart), in seq order.
    virtual Result<void> ForEachTransactionId(
        const std::function<void(std::string_view id, std::uint64_t seq)>& visit) = 0;
    virtual Result<std::uint64_t> MaxSeq() = 0;  // 0 when empty
    virtual Result<std::uint64_t> CountTransactions() = 0;

    // Keeps the newest snapshot per model_key (older ones may be deleted).
    virtual Result<void> PutSnapshot(const StoredSnapshot& snapshot) = 0;
    virtual Result<std::optional<StoredSnapshot>> LatestSnapshot(std::string_view model_key) = 0;

    // Log maintenance, for stores that have a write-ahead log (SQLite). A writer that must not
    // stall turns automatic checkpoints off on its connection and another connection runs
    // Checkpoint() periodically (a passive checkpoint: it never blocks the writer). Defaults:
    // no-op.
    virtual void SetAutoCheckpoint(bool /*on*/) {}
    virtual Result<void> Checkpoint() { return Ok(); }
};

// Opens (creating and migrating) the store at `url`. Errors name the URL and the reason
// (unknown scheme, cannot open, newer schema version, ...).
Result<std::unique_ptr<Store>> OpenStore(std::string_view url);

// Group commit off the request's critical path: producers Submit() records and get a callback
// once the batch holding them is committed (or failed); one background thread drains the queue,
// writing everything queued so far in one Append (at most max_batch records), so under load many
// requests share one commit. The queue is bounded: Submit returns false when it is full (the
// server then answers 503). Close() stops accepting, drains and commits what is queued, and joins.
struct StoreWriterOptions {
    std::size_t max_queue = 65536;  // records waiting (transactions + labels)
    std::size_t max_batch = 4096;   // records per commit
    // When a commit would hold fewer than max_batch records, wait this long for more
    // (group commit under light load: a commit's fixed cost is shared by more records, at the
    // price of this much added latency). 0 = commit at once.
    std::uint32_t commit_delay_us = 200;
};

class StoreWriter {
  public:
    using Done = std::function<void(const Result<void>&)>;
    StoreWriter(std::unique_ptr<Store> store, StoreWriterOptions options = {});
    ~StoreWriter();  // Close()
    StoreWriter(const StoreWriter&) = delete;
    StoreWriter& operator=(const StoreWriter&) = delete;

    // Queues one transaction or one label; `done` runs on the writer thread after the commit.
    // Returns false (and does not call `done`) when the queue is full or the writer is closed.
    bool Submit(StoredTransaction tx, Done done);
    bool Submit(StoredLabel label, Done done);
    // Several records queued together (all or none); `done` once for all of them.
    bool SubmitBatch(std::vector<StoredTransaction> txs, std::vector<StoredLabel> labels,
                     Done done);

    // Blocks until everything submitted before the call is committed.
    void Flush();
    void Close();

    std::size_t QueueDepth() const;          // records waiting now
    std::uint64_t CommittedRecords() const;  // since start
    std::uint64_t Commits() const;           // number of Append calls made
    std::uint64_t FailedCommits() const;
    double LastCommitSeconds() const;  // duration of the latest commit

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace txguard
