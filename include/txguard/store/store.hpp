#pragma once
// The store: every accepted transaction with its score and decision, every label, and snapshots
// of the feature engine's state, in event sequences. The server and stream workers write it and
// rebuild their in-memory state from it after a restart (latest snapshot, then a replay of the
// events after it, in sequence order).
//
// Partitions: stream workers split customers into partitions (hash buckets); each partition has
// one owner at a time and its own event sequence: `seq` is unique per partition, and replay
// (ForEachEvent, MaxSeq, ForEachTransactionId) is per partition. The single server uses
// partition 0 only (the calls without a partition argument). transaction_id is unique across all
// partitions: Append skips an id already stored in ANY partition, and GetTransaction, GetLabel,
// Alerts and CountTransactions look at every partition. Snapshots are keyed by model_key alone;
// a worker encodes its partition into the key.
//
// Implementations are chosen by URL (OpenStore):
//   sqlite:///abs/path.db, sqlite://rel/path.db, sqlite::memory:   embedded (the default; WAL)
//   postgresql://user:pass@host:port/dbname?opts (or postgres://)  PostgreSQL server (libpqxx)
// SQLite URLs take query options: `?synchronous=full` (fsync the WAL on every commit),
// `?busy_timeout_ms=N` (how long a writer waits for another connection's or process's lock;
// default 5000) and `?wal_limit_mb=N` (Checkpoint() restarts the WAL once it holds N MiB;
// default 1024, 0 = never), e.g.
// `sqlite:///var/lib/txguard/store.db?synchronous=full&busy_timeout_ms=2000`.
// PostgreSQL URLs are libpq connection URIs (every libpq option passes through, e.g.
// `sslmode=require`, `connect_timeout=5`) plus one txguard option, `copy_min_rows=N`: batches of
// at least N transactions are written with COPY through a staging table, smaller ones with
// multi-row prepared INSERTs (default 16384, i.e. INSERTs for StoreWriter's batches; measured in
// docs/store-postgres.md). Url() and every message mask the password.
//
// Durability (SQLite, WAL mode): with the default synchronous=NORMAL a committed batch survives a
// crash or SIGKILL of the process; a power loss or OS crash can lose the batches committed since
// the WAL was last synced (at a checkpoint), though the database stays consistent. With
// `?synchronous=full` every commit is fsynced and survives power loss too, at a cost per commit.
// Durability (PostgreSQL): a batch is one database transaction; once Append returns it is as
// durable as the server's `synchronous_commit` makes it (on, the default: flushed to the server's
// WAL, and to a synchronous standby if configured; off: a server crash may lose the last few
// hundred milliseconds of commits, never half a batch).
//
// Several processes may write one store at once (stream workers, one per set of partitions):
// SQLite serialises writers with BEGIN IMMEDIATE and waits up to busy_timeout_ms for the lock;
// PostgreSQL runs them concurrently. Two writers appending the same transaction_id at once store
// it once, without an error. (SQLite finds ids through sorted runs kept by Checkpoint() and by
// writers with automatic checkpoints, not a B-tree index: src/store/sqlite_id_index.hpp.)
//
// The schema is versioned (a `schema_version` table, migrations applied on open; a database from
// a newer txguard is refused with a reason).
//
// Thread safety: a Store object is used by one thread at a time; open one per thread (SQLite WAL
// lets readers run beside the one writer). StoreWriter (below) owns the writing connection.
// A ForEachEvent / ForEachTransactionId visitor may read from the Store it is scanning (on
// PostgreSQL those reads join the scan's snapshot) but must not write to it.
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
// and labels of one partition share one increasing sequence); `fields_json` is the validated
// request as a JSON object (every field the model's schema takes), enough to replay the
// transaction exactly.
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
    // Whose event sequence `seq` belongs to (0: the single server). Last, so that aggregate
    // initialisers written before partitions existed still compile and mean partition 0.
    std::uint32_t partition = 0;
};

// A confirmed label of a stored transaction.
struct StoredLabel {
    std::uint64_t seq = 0;
    std::string transaction_id;
    std::int8_t label = 0;  // 0 genuine, 1 fraud
    std::int64_t known_at_ms = 0;
    std::int64_t received_ms = 0;
    std::uint32_t partition = 0;  // as in StoredTransaction
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

// A snapshot written in pieces, so that its writer never holds all of it (the server writes its
// feature state out in steps: FeatureEngine::SnapshotStep). Nothing is visible until Commit; a
// sink destroyed without Commit leaves nothing behind.
class SnapshotSink {
  public:
    virtual ~SnapshotSink() = default;
    virtual Result<void> Append(std::string_view piece) = 0;
    virtual Result<void> Commit() = 0;
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
    // Transactions whose decision is not "allow" (all partitions), ordered by ts_ms, seq,
    // partition.
    virtual Result<std::vector<StoredTransaction>> Alerts(const AlertQuery& query) = 0;

    using EventVisitor = std::function<Result<void>(const StoredEvent&)>;
    using IdVisitor = std::function<void(std::string_view id, std::uint64_t seq)>;

    // Every event of `partition` with seq > after_seq in seq order; `visit` returning an error
    // stops the scan and that error is returned.
    virtual Result<void> ForEachEvent(std::uint32_t partition, std::uint64_t after_seq,
                                      const EventVisitor& visit) = 0;
    // Every transaction id stored in `partition` (the idempotency index after a restart), in seq
    // order.
    virtual Result<void> ForEachTransactionId(std::uint32_t partition, const IdVisitor& visit) = 0;
    // The highest seq of `partition` (transactions and labels); 0 when it has no events.
    virtual Result<std::uint64_t> MaxSeq(std::uint32_t partition) = 0;

    // Partition 0 (the single server).
    Result<void> ForEachEvent(std::uint64_t after_seq, const EventVisitor& visit) {
        return ForEachEvent(0, after_seq, visit);
    }
    Result<void> ForEachTransactionId(const IdVisitor& visit) {
        return ForEachTransactionId(0, visit);
    }
    Result<std::uint64_t> MaxSeq() { return MaxSeq(0); }

    // Every stored transaction, all partitions.
    virtual Result<std::uint64_t> CountTransactions() = 0;

    // Keeps the newest snapshot per model_key (older ones may be deleted).
    virtual Result<void> PutSnapshot(const StoredSnapshot& snapshot) = 0;
    // The same, written in pieces: `head` is the snapshot without its bytes, which are the
    // sink's pieces. The default collects them and calls PutSnapshot at Commit; a SQLite store
    // on a file writes them into a file beside the database as they come (sqlite_store.hpp).
    virtual Result<std::unique_ptr<SnapshotSink>> OpenSnapshot(const StoredSnapshot& head);
    virtual Result<std::optional<StoredSnapshot>> LatestSnapshot(std::string_view model_key) = 0;

    // Log maintenance, for stores that have a write-ahead log (SQLite). A writer that must not
    // stall turns automatic checkpoints off on its connection and another connection runs
    // Checkpoint() periodically: a passive checkpoint, which never blocks the writer; and once
    // the log holds wal_limit_mb, a restart of the log, which holds writers off while it copies
    // and syncs the last frames (16-30 ms here), or up to 100 ms while a reader still uses the
    // old log. Without restarts the log file grows for as long as commits never pause. With
    // automatic checkpoints on (the default), the committing connection runs the same
    // Checkpoint() after a commit that leaves 1000 frames or more in the log. Defaults: no-op.
    virtual void SetAutoCheckpoint(bool /*on*/) {}
    virtual Result<void> Checkpoint() { return Ok(); }
    // What this connection's checkpoints saw: the log's size at the latest one (bytes of
    // frames), and how many times they restarted it. Defaults: 0.
    virtual std::uint64_t LogBytes() const { return 0; }
    virtual std::uint64_t LogRestarts() const { return 0; }
};

// Opens (creating and migrating) the store at `url`. Errors name the URL (password masked) and
// the reason (unknown scheme, cannot open or connect, authentication failed, newer schema
// version, ...).
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
