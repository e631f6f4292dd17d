#include "sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>

#include "sqlite_id_index.hpp"
#include "sqlite_snapshot_file.hpp"
#include "sqlite_stmt.hpp"
#include "sqlite_vfs.hpp"

namespace txguard::store_detail {
namespace {

// Migration i (0-based) takes the schema from version i to version i + 1.
constexpr std::array<const char*, 4> kMigrations = {
    R"sql(
CREATE TABLE transactions(
    seq INTEGER PRIMARY KEY,
    transaction_id TEXT NOT NULL UNIQUE,
    ts_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    amount REAL,
    fields_json TEXT NOT NULL,
    score REAL,
    decision TEXT NOT NULL,
    reasons_json TEXT NOT NULL,
    model_version TEXT NOT NULL);
CREATE INDEX transactions_alerts ON transactions(ts_ms, seq) WHERE decision != 'allow';
CREATE TABLE labels(
    seq INTEGER PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    label INTEGER NOT NULL,
    known_at_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL);
CREATE INDEX labels_transaction ON labels(transaction_id, seq);
CREATE TABLE snapshots(
    model_key TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    bytes BLOB NOT NULL);
)sql",
    // v2: partitions. seq is unique per partition, so it can no longer be the rowid: the tables
    // are rebuilt with an implicit rowid (insertion order) and a unique (partition, seq) index;
    // existing events move to partition 0.
    R"sql(
CREATE TABLE transactions_v2(
    partition INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    transaction_id TEXT NOT NULL UNIQUE,
    ts_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    amount REAL,
    fields_json TEXT NOT NULL,
    score REAL,
    decision TEXT NOT NULL,
    reasons_json TEXT NOT NULL,
    model_version TEXT NOT NULL);
INSERT INTO transactions_v2 SELECT 0, seq, transaction_id, ts_ms, received_ms, customer_id,
    terminal_id, amount, fields_json, score, decision, reasons_json, model_version
    FROM transactions ORDER BY seq;
DROP TABLE transactions;
ALTER TABLE transactions_v2 RENAME TO transactions;
CREATE UNIQUE INDEX transactions_seq ON transactions(partition, seq);
CREATE INDEX transactions_alerts ON transactions(ts_ms, seq, partition) WHERE decision != 'allow';
CREATE TABLE labels_v2(
    partition INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    transaction_id TEXT NOT NULL,
    label INTEGER NOT NULL,
    known_at_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL);
INSERT INTO labels_v2 SELECT 0, seq, transaction_id, label, known_at_ms, received_ms
    FROM labels ORDER BY seq;
DROP TABLE labels;
ALTER TABLE labels_v2 RENAME TO labels;
CREATE UNIQUE INDEX labels_seq ON labels(partition, seq);
CREATE INDEX labels_transaction ON labels(transaction_id, seq);
)sql",
    // v3: snapshots larger than one chunk are written in pieces, one transaction each, so a
    // snapshot of tens of MB never holds the write lock (and the live writer's commits) for long;
    // the snapshots row (with the chunk count) is written last and makes it visible.
    R"sql(
CREATE TABLE snapshot_chunks(
    model_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY(model_key, seq, idx)) WITHOUT ROWID;
ALTER TABLE snapshots ADD COLUMN chunks INTEGER NOT NULL DEFAULT 0;
)sql",
    // v4: transaction ids are found through the id index (sqlite_id_index.hpp) instead of a
    // B-tree index on the column, so the table is rebuilt without its UNIQUE constraint (an
    // index SQLite cannot drop); the rows keep their order, and Init writes them into the id
    // index's runs before the store is returned.
    R"sql(
CREATE TABLE transactions_v4(
    partition INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    transaction_id TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    amount REAL,
    fields_json TEXT NOT NULL,
    score REAL,
    decision TEXT NOT NULL,
    reasons_json TEXT NOT NULL,
    model_version TEXT NOT NULL);
INSERT INTO transactions_v4 SELECT partition, seq, transaction_id, ts_ms, received_ms,
    customer_id, terminal_id, amount, fields_json, score, decision, reasons_json, model_version
    FROM transactions ORDER BY rowid;
DROP TABLE transactions;
ALTER TABLE transactions_v4 RENAME TO transactions;
CREATE UNIQUE INDEX transactions_seq ON transactions(partition, seq);
CREATE INDEX transactions_alerts ON transactions(ts_ms, seq, partition) WHERE decision != 'allow';
CREATE TABLE id_runs(
    run INTEGER PRIMARY KEY AUTOINCREMENT,
    level INTEGER NOT NULL,
    first_rowid INTEGER NOT NULL,
    last_rowid INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    blocks INTEGER NOT NULL,
    created_ms INTEGER NOT NULL);
CREATE TABLE id_blocks(key INTEGER PRIMARY KEY, bytes BLOB NOT NULL);
CREATE TABLE id_index_state(generation INTEGER NOT NULL, nonce INTEGER NOT NULL);
INSERT INTO id_index_state VALUES(0, random());
)sql",
};

// Earlier versions wrote large snapshots into snapshot_chunks in 256 KiB pieces; they are still
// read, and dropped this many per transaction once the key has a newer snapshot.
constexpr int kChunksDroppedPerTransaction = 8;

constexpr int kLatestVersion = static_cast<int>(kMigrations.size());

// How long a log restart (SqliteStore::Checkpoint) waits for the writer's transaction and for
// readers of the old log, holding new writers off meanwhile, before it gives up until next time.
constexpr int kRestartWaitMs = 100;

// SQLite's default: an automatic checkpoint once a commit leaves this many frames in the log.
constexpr int kAutoCheckpointFrames = 1000;

#define TXG_TX_COLUMNS                                                                       \
    "partition, seq, transaction_id, ts_ms, received_ms, customer_id, terminal_id, amount, " \
    "fields_json, "                                                                          \
    "score, decision, reasons_json, model_version"
#define TXG_LABEL_COLUMNS "partition, seq, transaction_id, label, known_at_ms, received_ms"

enum StmtId : int {
    kBegin,
    kCommit,
    kRollback,
    kInsertTx,
    kInsertLabel,
    kGetTx,
    kGetLabel,
    kAlerts,
    kEventsTx,
    kEventsLabel,
    kTxIds,
    kMaxSeq,
    kCountTx,
    kPutSnapshot,
    kGetSnapshot,
    kDropSnapshotRow,
    kGetChunks,
    kDropChunks,
    kBeginRead,
    kNumStmts,
};

constexpr std::array<const char*, kNumStmts> kSql = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    // Duplicate transaction ids are skipped before (the id index); a clash on seq is an error
    // (a scorer bug).
    "INSERT INTO transactions(" TXG_TX_COLUMNS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "INSERT INTO labels(" TXG_LABEL_COLUMNS ") VALUES(?,?,?,?,?,?)",
    "SELECT " TXG_TX_COLUMNS " FROM transactions WHERE rowid = ?",
    "SELECT " TXG_LABEL_COLUMNS " FROM labels WHERE transaction_id = ? ORDER BY seq DESC LIMIT 1",
    "SELECT " TXG_TX_COLUMNS
    " FROM transactions WHERE decision != 'allow' AND ts_ms >= ?"
    " ORDER BY ts_ms, seq, partition LIMIT ?",
    "SELECT " TXG_TX_COLUMNS " FROM transactions WHERE partition = ? AND seq > ? ORDER BY seq",
    "SELECT " TXG_LABEL_COLUMNS " FROM labels WHERE partition = ? AND seq > ? ORDER BY seq",
    "SELECT transaction_id, seq FROM transactions WHERE partition = ? ORDER BY seq",
    "SELECT max(coalesce((SELECT max(seq) FROM transactions WHERE partition = ?1), 0),"
    " coalesce((SELECT max(seq) FROM labels WHERE partition = ?1), 0))",
    "SELECT count(*) FROM transactions",
    "INSERT OR REPLACE INTO snapshots(model_key, seq, created_ms, bytes, chunks) VALUES(?,?,?,?,?)",
    "SELECT model_key, seq, created_ms, bytes, chunks FROM snapshots WHERE model_key = ?",
    "DELETE FROM snapshots WHERE model_key = ?",
    "SELECT bytes FROM snapshot_chunks WHERE model_key = ? AND seq = ? ORDER BY idx",
    "DELETE FROM snapshot_chunks WHERE model_key = ?1 AND (seq, idx) IN (SELECT seq, idx FROM"
    " snapshot_chunks WHERE model_key = ?1 LIMIT ?2)",
    "BEGIN",
};

void BindText(sqlite3_stmt* s, int i, std::string_view text) {
    // SQLITE_STATIC: the caller's strings outlive the step; a null pointer would bind NULL.
    sqlite3_bind_text64(s, i, text.data() ? text.data() : "", text.size(), SQLITE_STATIC,
                        SQLITE_UTF8);
}

void BindDouble(sqlite3_stmt* s, int i, double v) {
    if (std::isnan(v)) {
        sqlite3_bind_null(s, i);  // SQLite stores NaN as NULL anyway; read back as NaN
    } else {
        sqlite3_bind_double(s, i, v);
    }
}

void ReadText(sqlite3_stmt* s, int i, std::string& out) {
    const auto* p = sqlite3_column_text(s, i);
    const int n = sqlite3_column_bytes(s, i);
    if (p == nullptr || n <= 0) {
        out.clear();
    } else {
        out.assign(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    }
}

double ReadDouble(sqlite3_stmt* s, int i) {
    if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::numeric_limits<double>::quiet_NaN();
    return sqlite3_column_double(s, i);
}

void BindTransaction(sqlite3_stmt* s, const StoredTransaction& tx) {
    sqlite3_bind_int64(s, 1, tx.partition);
    sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(tx.seq));
    BindText(s, 3, tx.transaction_id);
    sqlite3_bind_int64(s, 4, tx.ts_ms);
    sqlite3_bind_int64(s, 5, tx.received_ms);
    BindText(s, 6, tx.customer_id);
    BindText(s, 7, tx.terminal_id);
    BindDouble(s, 8, tx.amount);
    BindText(s, 9, tx.fields_json);
    BindDouble(s, 10, tx.score);
    BindText(s, 11, tx.decision);
    BindText(s, 12, tx.reasons_json);
    BindText(s, 13, tx.model_version);
}

void ReadTransaction(sqlite3_stmt* s, StoredTransaction& tx) {
    tx.partition = static_cast<std::uint32_t>(sqlite3_column_int64(s, 0));
    tx.seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    ReadText(s, 2, tx.transaction_id);
    tx.ts_ms = sqlite3_column_int64(s, 3);
    tx.received_ms = sqlite3_column_int64(s, 4);
    ReadText(s, 5, tx.customer_id);
    ReadText(s, 6, tx.terminal_id);
    tx.amount = ReadDouble(s, 7);
    ReadText(s, 8, tx.fields_json);
    tx.score = ReadDouble(s, 9);
    ReadText(s, 10, tx.decision);
    ReadText(s, 11, tx.reasons_json);
    ReadText(s, 12, tx.model_version);
}

void BindLabel(sqlite3_stmt* s, const StoredLabel& label) {
    sqlite3_bind_int64(s, 1, label.partition);
    sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(label.seq));
    BindText(s, 3, label.transaction_id);
    sqlite3_bind_int(s, 4, label.label);
    sqlite3_bind_int64(s, 5, label.known_at_ms);
    sqlite3_bind_int64(s, 6, label.received_ms);
}

void ReadLabel(sqlite3_stmt* s, StoredLabel& label) {
    label.partition = static_cast<std::uint32_t>(sqlite3_column_int64(s, 0));
    label.seq = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    ReadText(s, 2, label.transaction_id);
    label.label = static_cast<std::int8_t>(sqlite3_column_int(s, 3));
    label.known_at_ms = sqlite3_column_int64(s, 4);
    label.received_ms = sqlite3_column_int64(s, 5);
}

class SqliteStore final : public Store {
  public:
    SqliteStore(std::string url, sqlite3* db) : url_(std::move(url)), db_(db), ids_(db, url_) {}
    ~SqliteStore() override {
        for (auto* s : stmts_) sqlite3_finalize(s);
        sqlite3_close_v2(db_);
    }
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    std::string Url() const override { return url_; }

    // Automatic checkpoints (on by default): after a commit that leaves the log with at least
    // kAutoCheckpointFrames frames, the committing connection runs Checkpoint() — SQLite's own
    // automatic checkpoint is a passive one only, and with two writer processes on one file
    // (stream workers) each one's checkpoint ends behind the other's commits, so the log never
    // started over (1.9 GB after 10 s of two processes committing 32 rows at a time, beside a
    // 132 MB database); Checkpoint() restarts it at wal_limit_mb.
    void SetAutoCheckpoint(bool on) override {
        auto_checkpoint_ = on;
        if (on)
            sqlite3_wal_hook(db_, &SqliteStore::AfterCommit, this);
        else
            sqlite3_wal_hook(db_, nullptr, nullptr);
    }

    // A passive checkpoint copies the log's pages into the database without blocking anyone,
    // but the log file is only written again from its start by a writer that begins when every
    // frame is copied. Under continuous commits from another connection that moment never
    // comes: each checkpoint ends behind the commits made while it ran, and the log grew without
    // bound (4.8 GB after 40 s of the shared single-request load, against a 354 MB database;
    // docs/benchmarks.md, session 9). So once the log holds wal_limit_mb, a RESTART checkpoint
    // follows: it waits (busy handler) for the writer's current transaction, holds new writers
    // off while it copies the frames the passive one left and syncs both files, and returns once
    // no reader uses the log, so the next commit writes the log from its start again. Writers
    // wait 16-30 ms on this machine's disk while it runs (two fsyncs).
    Result<void> Checkpoint() override {
        // The id index's runs first (short write transactions of their own, when due).
        TXG_RETURN_IF_ERROR(ids_.Maintain());
        return CheckpointLog();
    }

    Result<void> CheckpointLog() {
        int log_frames = 0;
        int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                           nullptr);
        if (rc == SQLITE_OK)
            log_bytes_.store(static_cast<std::uint64_t>(std::max(log_frames, 0)) *
                                 static_cast<std::uint64_t>(page_size_),
                             std::memory_order_relaxed);
        if (rc == SQLITE_OK && wal_limit_bytes_ > 0 &&
            static_cast<std::int64_t>(log_frames) * page_size_ >= wal_limit_bytes_) {
            // A checkpoint syncs the database file only when it copied every frame, so under
            // continuous commits the pages copied since the last restart all wait in the OS's
            // cache, and the RESTART's sync would write them all while writers wait (67-83 ms
            // at 512 MiB). Synced here first, while the writer goes on; then a passive
            // checkpoint copies what was committed meanwhile, so the RESTART is left with the
            // frames of a few milliseconds.
            if (auto synced = SyncDatabaseFile(); !synced) return synced;
            rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                           nullptr);
            if (rc == SQLITE_OK) {
                // It holds the write lock while it waits for readers of the old log, so a long
                // read (a large alerts query, another process's replay) would stall every
                // writer for up to busy_timeout_ms: it gives up after kRestartWaitMs instead
                // (SQLITE_BUSY), and the next call tries again.
                const int saved = busy_timeout_ms_;
                busy_timeout_ms_ = std::min(saved, kRestartWaitMs);
                rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_RESTART, nullptr,
                                               nullptr);
                busy_timeout_ms_ = saved;
                if (rc == SQLITE_OK) log_restarts_.fetch_add(1, std::memory_order_relaxed);
            }
        }
        // SQLITE_BUSY: a reader or writer held on past busy_timeout_ms; the next call tries again.
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            return MakeError(ErrorCode::kIo,
                             "store " + url_ + ": checkpoint failed: " + sqlite3_errmsg(db_));
        return Ok();
    }

    std::uint64_t LogBytes() const override { return log_bytes_.load(std::memory_order_relaxed); }
    std::uint64_t LogRestarts() const override {
        return log_restarts_.load(std::memory_order_relaxed);
    }

    // Sets the PRAGMAs and applies pending migrations.
    Result<void> Init(const SqliteUrl& parsed) {
        busy_timeout_ms_ = parsed.busy_timeout_ms;
        sqlite3_busy_handler(db_, &SqliteStore::BusyWait, this);
        // 4 KiB pages (new databases only; must precede WAL). The live server commits small
        // groups and every WAL frame is a whole page: on scripts/bench/serve.sh's load 4 KiB
        // gave +11% requests/s and a lower p99 than 16 KiB (median of 3 interleaved runs,
        // 2026-11-25), while 16 KiB is ~10-30% cheaper for 1000-row batches.
        if (sqlite3_exec(db_, "PRAGMA page_size=4096", nullptr, nullptr, nullptr) != SQLITE_OK) {
            return OpenError(parsed, "cannot set page_size");
        }
        std::string mode;
        if (auto r = QueryText("PRAGMA journal_mode=WAL", mode); !r) {
            return OpenError(parsed, "cannot set journal_mode=WAL");
        }
        if (mode != "wal" && mode != "memory") {
            return MakeError(ErrorCode::kIo, "store " + url_ + ": journal_mode is '" + mode +
                                                 "', WAL could not be enabled");
        }
        // A 4 MiB page cache per connection: SQLite scans the whole cache's hash table at many
        // commits (sqlite3PcacheTruncate), so a bigger cache made every commit dearer; with 32 MiB
        // that scan was 3-4% of the scoring service's CPU; in three interleaved runs the server
        // used 105/107/124 µs of CPU a request with 32 MiB and 96/90/113 with 4 MiB (2026-12-05,
        // docs/benchmarks.md). It still holds the indexes' interior pages; leaf pages of a large
        // store come from the OS page cache.
        // journal_size_limit: a log that restarts larger than twice wal_limit_mb (a reader held
        // the restart off) is truncated back to that. Not to wal_limit_mb itself: the log
        // restarts at about that size, and truncating it then cost the writer 13-16 ms
        // (ftruncate) at every restart, where reusing the file's blocks costs nothing.
        // -1 = never truncated (wal_limit_mb=0).
        wal_limit_bytes_ = static_cast<std::int64_t>(parsed.wal_limit_mb) << 20;
        const std::string pragmas =
            std::string("PRAGMA synchronous=") + (parsed.synchronous_full ? "FULL" : "NORMAL") +
            "; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-4096;"
            " PRAGMA journal_size_limit=" +
            std::to_string(wal_limit_bytes_ > 0 ? 2 * wal_limit_bytes_ : -1) + ";";
        if (sqlite3_exec(db_, pragmas.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
            return OpenError(parsed, "cannot set PRAGMAs");
        }
        std::string page_size;
        if (auto r = QueryText("PRAGMA page_size", page_size); !r) {
            return OpenError(parsed, "cannot read page_size");
        }
        std::from_chars(page_size.data(), page_size.data() + page_size.size(), page_size_);
        SetAutoCheckpoint(true);
        TXG_RETURN_IF_ERROR(Migrate());
        // Snapshot files sit beside a database on a file ("" for an in-memory one) and name
        // this database's nonce.
        if (const char* f = sqlite3_db_filename(db_, "main"); f != nullptr) db_path_ = f;
        std::string nonce;
        if (auto r = QueryText("SELECT nonce FROM id_index_state", nonce); !r || nonce.empty())
            return OpenError(parsed, "cannot read the database's nonce");
        std::from_chars(nonce.data(), nonce.data() + nonce.size(), nonce_);
        // Leftovers of a crashed merge are dropped, and a tail left by an upgrade from schema
        // version 3 (every row) is written into runs now rather than read into every
        // connection's memory.
        do {
            TXG_RETURN_IF_ERROR(ids_.Maintain());
        } while (ids_.MaintenanceDue());
        return Ok();
    }

    Result<std::size_t> Append(std::span<const StoredTransaction> transactions,
                               std::span<const StoredLabel> labels) override {
        if (transactions.empty() && labels.empty()) return std::size_t{0};
        auto begin = Stmt(kBegin);
        if (!begin) return std::unexpected(begin.error());
        // BEGIN IMMEDIATE takes the write lock up front (waiting busy_timeout_ms for another
        // writer, in this process or another), so a batch never has to upgrade a read lock and
        // two writers cannot deadlock.
        const auto deadline = BusyDeadline();
        if (StepRetryingBusy(*begin, deadline) != SQLITE_DONE) {
            return Fail("append: cannot begin a transaction");
        }
        std::size_t inserted = 0;
        // Captures sqlite3_errmsg first, then resets the failed statement and rolls back.
        auto rollback = [&](std::string what, sqlite3_stmt* failed = nullptr) {
            Error e = MakeIoError(std::move(what));
            if (failed != nullptr) sqlite3_reset(failed);
            if (!sqlite3_get_autocommit(db_)) {
                if (auto rb = Stmt(kRollback); rb) StepOnce(*rb);
            }
            ids_.RolledBack();
            return std::unexpected(std::move(e));
        };
        if (!transactions.empty()) {
            // Under the write lock: every id any process committed is in the index's view.
            if (auto fresh = ids_.Refresh(); !fresh) {
                Error e = fresh.error();
                (void)rollback("append");
                return std::unexpected(std::move(e));
            }
            auto ins = Stmt(kInsertTx);
            if (!ins) return rollback("append: cannot prepare insert");
            StmtLease lease(*ins);
            for (const auto& tx : transactions) {
                const std::uint64_t hash = IdHash(tx.transaction_id);
                auto stored = ids_.Find(tx.transaction_id, hash);
                if (!stored) {
                    Error e = stored.error();
                    (void)rollback("append");
                    return std::unexpected(std::move(e));
                }
                if (stored->has_value()) continue;  // stored before (or earlier in this batch)
                BindTransaction(*ins, tx);
                if (sqlite3_step(*ins) != SQLITE_DONE) {
                    return rollback("append: cannot insert transaction '" + tx.transaction_id +
                                        "' (seq " + std::to_string(tx.seq) + ")",
                                    *ins);
                }
                ids_.Inserted(hash, sqlite3_last_insert_rowid(db_));
                ++inserted;
                sqlite3_reset(*ins);
            }
        }
        if (!labels.empty()) {
            auto ins = Stmt(kInsertLabel);
            if (!ins) return rollback("append: cannot prepare insert");
            StmtLease lease(*ins);
            for (const auto& label : labels) {
                BindLabel(*ins, label);
                if (sqlite3_step(*ins) != SQLITE_DONE) {
                    return rollback("append: cannot insert label of '" + label.transaction_id +
                                        "' (seq " + std::to_string(label.seq) + ")",
                                    *ins);
                }
                sqlite3_reset(*ins);
            }
        }
        auto commit = Stmt(kCommit);
        if (!commit) return rollback("append: cannot prepare commit");
        if (StepRetryingBusy(*commit, deadline) != SQLITE_DONE) {
            return rollback("append: commit failed");
        }
        ids_.Committed();
        // A writer with automatic checkpoints also keeps the id index's runs (the service's
        // writer has them off: its checkpointing connection does it). An error is not the
        // append's; the next call retries.
        if (auto_checkpoint_ && ids_.MaintenanceDue()) (void)ids_.Maintain();
        return inserted;
    }

    Result<std::optional<StoredTransaction>> GetTransaction(std::string_view id) override {
        // One read transaction: the index's view and the row from the same state.
        auto begin = Stmt(kBeginRead);
        if (!begin) return std::unexpected(begin.error());
        if (StepOnce(*begin) != SQLITE_DONE) return Fail("cannot begin a read");
        auto read = [&]() -> Result<std::optional<StoredTransaction>> {
            TXG_RETURN_IF_ERROR(ids_.Refresh());
            auto rowid = ids_.Find(id, IdHash(id));
            if (!rowid) return std::unexpected(rowid.error());
            if (!rowid->has_value()) return std::optional<StoredTransaction>();
            auto s = Stmt(kGetTx);
            if (!s) return std::unexpected(s.error());
            StmtLease lease(*s);
            sqlite3_bind_int64(*s, 1, **rowid);
            if (sqlite3_step(*s) != SQLITE_ROW)
                return Fail("cannot read transaction '" + std::string(id) + "'");
            std::optional<StoredTransaction> tx(std::in_place);
            ReadTransaction(*s, *tx);
            return tx;
        };
        auto got = read();
        if (!sqlite3_get_autocommit(db_)) {
            if (auto c = Stmt(kCommit); c) StepOnce(*c);
        }
        return got;
    }

    Result<std::optional<StoredLabel>> GetLabel(std::string_view transaction_id) override {
        auto s = Stmt(kGetLabel);
        if (!s) return std::unexpected(s.error());
        StmtLease lease(*s);
        BindText(*s, 1, transaction_id);
        const int rc = sqlite3_step(*s);
        if (rc == SQLITE_DONE) return std::optional<StoredLabel>();
        if (rc != SQLITE_ROW) {
            return Fail("cannot read the label of '" + std::string(transaction_id) + "'");
        }
        std::optional<StoredLabel> label(std::in_place);
        ReadLabel(*s, *label);
        return label;
    }

    Result<std::vector<StoredTransaction>> Alerts(const AlertQuery& query) override {
        auto s = Stmt(kAlerts);
        if (!s) return std::unexpected(s.error());
        StmtLease lease(*s);
        sqlite3_bind_int64(*s, 1, query.since_ms);
        const auto max_limit = static_cast<std::size_t>(std::numeric_limits<sqlite3_int64>::max());
        sqlite3_bind_int64(*s, 2, static_cast<sqlite3_int64>(std::min(query.limit, max_limit)));
        std::vector<StoredTransaction> out;
        for (;;) {
            const int rc = sqlite3_step(*s);
            if (rc == SQLITE_DONE) break;
            if (rc != SQLITE_ROW) return Fail("cannot read alerts");
            ReadTransaction(*s, out.emplace_back());
        }
        return out;
    }

    using Store::ForEachEvent;
    using Store::ForEachTransactionId;
    using Store::MaxSeq;

    Result<void> ForEachEvent(std::uint32_t partition, std::uint64_t after_seq,
                              const EventVisitor& visit) override {
        if (after_seq >= static_cast<std::uint64_t>(std::numeric_limits<sqlite3_int64>::max())) {
            return Ok();  // seqs are stored as signed 64-bit integers: nothing can follow
        }
        auto txs = Stmt(kEventsTx);
        if (!txs) return std::unexpected(txs.error());
        auto labels = Stmt(kEventsLabel);
        if (!labels) return std::unexpected(labels.error());
        StmtLease tx_lease(*txs);
        StmtLease label_lease(*labels);
        sqlite3_bind_int64(*txs, 1, partition);
        sqlite3_bind_int64(*txs, 2, static_cast<sqlite3_int64>(after_seq));
        sqlite3_bind_int64(*labels, 1, partition);
        sqlite3_bind_int64(*labels, 2, static_cast<sqlite3_int64>(after_seq));
        // Two cursors ordered by seq, merged here. Both are stepped before any visit, so they
        // read one snapshot (the implicit read transaction lasts while either is active).
        StoredEvent tx_event;
        StoredEvent label_event;
        tx_event.transaction.emplace();
        label_event.label.emplace();
        int tx_rc = sqlite3_step(*txs);
        int label_rc = sqlite3_step(*labels);
        for (;;) {
            if (tx_rc != SQLITE_ROW && tx_rc != SQLITE_DONE) return Fail("cannot read events");
            if (label_rc != SQLITE_ROW && label_rc != SQLITE_DONE) {
                return Fail("cannot read events");
            }
            if (tx_rc == SQLITE_DONE && label_rc == SQLITE_DONE) break;
            bool take_tx = label_rc == SQLITE_DONE;
            if (tx_rc == SQLITE_ROW && label_rc == SQLITE_ROW) {
                take_tx = sqlite3_column_int64(*txs, 1) < sqlite3_column_int64(*labels, 1);
            }
            if (take_tx) {
                ReadTransaction(*txs, *tx_event.transaction);
                TXG_RETURN_IF_ERROR(visit(tx_event));
                tx_rc = sqlite3_step(*txs);
            } else {
                ReadLabel(*labels, *label_event.label);
                TXG_RETURN_IF_ERROR(visit(label_event));
                label_rc = sqlite3_step(*labels);
            }
        }
        return Ok();
    }

    Result<void> ForEachTransactionId(std::uint32_t partition, const IdVisitor& visit) override {
        auto s = Stmt(kTxIds);
        if (!s) return std::unexpected(s.error());
        StmtLease lease(*s);
        sqlite3_bind_int64(*s, 1, partition);
        for (;;) {
            const int rc = sqlite3_step(*s);
            if (rc == SQLITE_DONE) break;
            if (rc != SQLITE_ROW) return Fail("cannot read transaction ids");
            const auto* p = sqlite3_column_text(*s, 0);
            const int n = sqlite3_column_bytes(*s, 0);
            const std::string_view id =
                p ? std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
                  : std::string_view();
            visit(id, static_cast<std::uint64_t>(sqlite3_column_int64(*s, 1)));
        }
        return Ok();
    }

    Result<std::uint64_t> MaxSeq(std::uint32_t partition) override {
        auto s = Stmt(kMaxSeq);
        if (!s) return std::unexpected(s.error());
        StmtLease lease(*s);
        sqlite3_bind_int64(*s, 1, partition);
        if (sqlite3_step(*s) != SQLITE_ROW) {
            return Fail("cannot read the max seq of partition " + std::to_string(partition));
        }
        return static_cast<std::uint64_t>(sqlite3_column_int64(*s, 0));
    }

    Result<std::uint64_t> CountTransactions() override {
        return QueryInt(kCountTx, "cannot count transactions");
    }

    // Snapshots of a store on a file go to a file beside it (sqlite_snapshot_file.hpp); the
    // snapshots table then only holds those of an in-memory store and of earlier versions.
    Result<void> PutSnapshot(const StoredSnapshot& snapshot) override {
        if (!db_path_.empty()) {
            auto sink = OpenSnapshot(snapshot);
            if (!sink) return std::unexpected(sink.error());
            TXG_RETURN_IF_ERROR((*sink)->Append(snapshot.bytes));
            return (*sink)->Commit();
        }
        const std::string what = "cannot write the snapshot of '" + snapshot.model_key + "'";
        auto s = Stmt(kPutSnapshot);
        if (!s) return std::unexpected(s.error());
        StmtLease lease(*s);
        BindText(*s, 1, snapshot.model_key);
        sqlite3_bind_int64(*s, 2, static_cast<sqlite3_int64>(snapshot.seq));
        sqlite3_bind_int64(*s, 3, snapshot.created_ms);
        const std::string_view bytes = snapshot.bytes;
        sqlite3_bind_blob64(*s, 4, bytes.data() ? bytes.data() : "", bytes.size(), SQLITE_STATIC);
        sqlite3_bind_int64(*s, 5, 0);
        if (StepRetryingBusy(*s, BusyDeadline()) != SQLITE_DONE) return Fail(what);
        return DropSnapshotPieces(snapshot.model_key);
    }

    Result<std::unique_ptr<SnapshotSink>> OpenSnapshot(const StoredSnapshot& head) override {
        if (db_path_.empty()) return Store::OpenSnapshot(head);
        auto file = OpenSnapshotFile(db_path_, nonce_, head);
        if (!file) return std::unexpected(file.error());
        // Once the file is in place, a snapshot of the key that an earlier version stored in the
        // database is dropped.
        class Sink final : public SnapshotSink {
          public:
            Sink(std::unique_ptr<SnapshotSink> file, SqliteStore& store, std::string key)
                : file_(std::move(file)), store_(store), key_(std::move(key)) {}
            Result<void> Append(std::string_view piece) override { return file_->Append(piece); }
            Result<void> Commit() override {
                TXG_RETURN_IF_ERROR(file_->Commit());
                return store_.DropTableSnapshot(key_);
            }

          private:
            std::unique_ptr<SnapshotSink> file_;
            SqliteStore& store_;
            std::string key_;
        };
        return std::unique_ptr<SnapshotSink>(
            std::make_unique<Sink>(std::move(*file), *this, head.model_key));
    }

    // The newer of the file's snapshot and the table's (a store written by an earlier version
    // has its snapshots in the table).
    Result<std::optional<StoredSnapshot>> LatestSnapshot(std::string_view model_key) override {
        if (db_path_.empty()) return LatestTableSnapshot(model_key);
        auto file = ReadSnapshotFile(db_path_, nonce_, model_key);
        if (!file) return std::unexpected(file.error());
        auto table = LatestTableSnapshot(model_key);
        if (!*file) return table;
        if (table && *table && (**table).seq > (**file).seq) return table;
        return file;
    }

  private:
    Result<std::optional<StoredSnapshot>> LatestTableSnapshot(std::string_view model_key) {
        const std::string what = "cannot read the snapshot of '" + std::string(model_key) + "'";
        // One read transaction: the row and its pieces from the same state of the database.
        auto begin = Stmt(kBeginRead);
        if (!begin) return std::unexpected(begin.error());
        if (StepOnce(*begin) != SQLITE_DONE) return Fail(what);
        auto end_read = [&] {
            if (!sqlite3_get_autocommit(db_)) {
                if (auto c = Stmt(kCommit); c) StepOnce(*c);
            }
        };
        auto read = [&]() -> Result<std::optional<StoredSnapshot>> {
            std::optional<StoredSnapshot> snap;
            std::uint64_t chunks = 0;
            {
                auto s = Stmt(kGetSnapshot);
                if (!s) return std::unexpected(s.error());
                StmtLease lease(*s);
                BindText(*s, 1, model_key);
                const int rc = sqlite3_step(*s);
                if (rc == SQLITE_DONE) return snap;
                if (rc != SQLITE_ROW) return Fail(what);
                snap.emplace();
                ReadText(*s, 0, snap->model_key);
                snap->seq = static_cast<std::uint64_t>(sqlite3_column_int64(*s, 1));
                snap->created_ms = sqlite3_column_int64(*s, 2);
                const void* p = sqlite3_column_blob(*s, 3);
                const int n = sqlite3_column_bytes(*s, 3);
                if (p != nullptr && n > 0)
                    snap->bytes.assign(static_cast<const char*>(p), static_cast<std::size_t>(n));
                chunks = static_cast<std::uint64_t>(sqlite3_column_int64(*s, 4));
            }
            if (chunks == 0) return snap;
            auto c = Stmt(kGetChunks);
            if (!c) return std::unexpected(c.error());
            StmtLease lease(*c);
            BindText(*c, 1, model_key);
            sqlite3_bind_int64(*c, 2, static_cast<sqlite3_int64>(snap->seq));
            std::uint64_t got = 0;
            int rc;
            while ((rc = sqlite3_step(*c)) == SQLITE_ROW) {
                const void* p = sqlite3_column_blob(*c, 0);
                const int n = sqlite3_column_bytes(*c, 0);
                if (p != nullptr && n > 0)
                    snap->bytes.append(static_cast<const char*>(p), static_cast<std::size_t>(n));
                ++got;
            }
            if (rc != SQLITE_DONE) return Fail(what);
            if (got != chunks)
                return MakeError(ErrorCode::kCorrupt, "store " + url_ + ": the snapshot of '" +
                                                          std::string(model_key) + "' has " +
                                                          std::to_string(got) + " of its " +
                                                          std::to_string(chunks) + " pieces");
            return snap;
        };
        auto r = read();
        end_read();
        return r;
    }

    // Drops the table's snapshot of `key` and its pieces (a few per transaction: deleting tens
    // of MB in one held the write lock for long).
    Result<void> DropTableSnapshot(const std::string& key) {
        auto s = Stmt(kDropSnapshotRow);
        if (!s) return std::unexpected(s.error());
        StmtLease lease(*s);
        BindText(*s, 1, key);
        if (StepRetryingBusy(*s, BusyDeadline()) != SQLITE_DONE)
            return Fail("cannot drop the stored snapshot of '" + key + "'");
        return DropSnapshotPieces(key);
    }

    // Drops every piece of the key's snapshots (only earlier versions wrote pieces).
    Result<void> DropSnapshotPieces(const std::string& key) {
        for (;;) {
            auto d = Stmt(kDropChunks);
            if (!d) return std::unexpected(d.error());
            StmtLease lease(*d);
            BindText(*d, 1, key);
            sqlite3_bind_int(*d, 2, kChunksDroppedPerTransaction);
            if (StepRetryingBusy(*d, BusyDeadline()) != SQLITE_DONE)
                return Fail("cannot drop the pieces of earlier snapshots of '" + key + "'");
            if (sqlite3_changes(db_) == 0) return Ok();
        }
    }

    // The WAL hook: SQLite calls it after each commit, with the write lock released.
    static int AfterCommit(void* self, sqlite3*, const char*, int frames) {
        // An error here is not the commit's (it is done); the next commit's checkpoint retries.
        // The log only: the id index's maintenance writes, and would come back here.
        if (frames >= kAutoCheckpointFrames) (void)static_cast<SqliteStore*>(self)->CheckpointLog();
        return SQLITE_OK;
    }

    // fdatasync of the main database file (through SQLite's file handle, so through any VFS
    // shim); takes no database lock.
    Result<void> SyncDatabaseFile() {
        sqlite3_file* file = nullptr;
        if (sqlite3_file_control(db_, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK ||
            file == nullptr || file->pMethods == nullptr)
            return MakeError(ErrorCode::kIo, "store " + url_ + ": no database file to sync");
        if (file->pMethods->xSync(file, SQLITE_SYNC_NORMAL) != SQLITE_OK)
            return MakeError(ErrorCode::kIo, "store " + url_ + ": cannot sync the database file");
        return Ok();
    }

    Error MakeIoError(std::string what) const {
        return Error{
            ErrorCode::kIo, "store " + url_ + ": " + what + ": " + sqlite3_errmsg(db_), {}};
    }
    std::unexpected<Error> Fail(std::string what) const {
        return std::unexpected(MakeIoError(std::move(what)));
    }
    std::unexpected<Error> OpenError(const SqliteUrl& parsed, std::string what) const {
        return std::unexpected(Error{ErrorCode::kIo,
                                     "cannot open store " + url_ + " (file '" + parsed.path +
                                         "'): " + what + ": " + sqlite3_errmsg(db_),
                                     "is it a txguard SQLite database, in a writable directory?"});
    }

    // The cached prepared statement `id` (prepared on first use).
    Result<sqlite3_stmt*> Stmt(StmtId id) {
        if (stmts_[id] == nullptr) {
            if (sqlite3_prepare_v3(db_, kSql[id], -1, SQLITE_PREPARE_PERSISTENT, &stmts_[id],
                                   nullptr) != SQLITE_OK) {
                stmts_[id] = nullptr;
                return Fail(std::string("cannot prepare '") + kSql[id] + "'");
            }
        }
        return stmts_[id];
    }

    static int StepOnce(sqlite3_stmt* s) {
        const int rc = sqlite3_step(s);
        sqlite3_reset(s);
        return rc;
    }

    // The busy handler: retries every 100 µs for the first 10 ms of a wait, then every 1 ms,
    // until busy_timeout_ms. (SQLite's own, sqlite3_busy_timeout, sleeps 1, 2, 5, 10, 15, 20,
    // 25, ... ms between tries, so a writer that met a lock held for a millisecond, such as one
    // snapshot piece, slept several times longer than the lock was held.)
    static int BusyWait(void* self, int count) {
        auto* store = static_cast<SqliteStore*>(self);
        const auto now = std::chrono::steady_clock::now();
        if (count == 0) store->busy_since_ = now;
        const auto waited = now - store->busy_since_;
        if (waited >= std::chrono::milliseconds(store->busy_timeout_ms_)) return 0;
        std::this_thread::sleep_for(waited < std::chrono::milliseconds(10)
                                        ? std::chrono::microseconds(100)
                                        : std::chrono::microseconds(1000));
        return 1;
    }

    std::chrono::steady_clock::time_point BusyDeadline() const {
        return std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms_);
    }

    // Steps a statement that returns no rows, retrying while it meets SQLITE_BUSY until
    // `deadline`. The busy handler (busy_timeout_ms) already waits in most cases; this covers
    // the ones where SQLite returns SQLITE_BUSY without calling it (e.g. while another process
    // runs WAL recovery). Leaves the statement reset.
    static int StepRetryingBusy(sqlite3_stmt* s, std::chrono::steady_clock::time_point deadline) {
        for (int attempt = 0;; ++attempt) {
            const int rc = sqlite3_step(s);
            sqlite3_reset(s);
            if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) {
                return rc;
            }
            std::this_thread::sleep_for(
                std::chrono::microseconds(std::min(attempt, 10) * 500 + 100));
        }
    }

    Result<std::uint64_t> QueryInt(StmtId id, std::string what) {
        auto s = Stmt(id);
        if (!s) return std::unexpected(s.error());
        StmtLease lease(*s);
        if (sqlite3_step(*s) != SQLITE_ROW) return Fail(std::move(what));
        return static_cast<std::uint64_t>(sqlite3_column_int64(*s, 0));
    }

    // Runs an uncached one-row query returning text (empty when no row).
    Result<void> QueryText(const char* sql, std::string& out) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) {
            sqlite3_finalize(s);
            return Fail(std::string("cannot prepare '") + sql + "'");
        }
        // Retried while busy: changing the journal mode of a new file that other processes are
        // opening at the same moment fails with SQLITE_BUSY at once, without the busy handler
        // (seen as "cannot set journal_mode=WAL: database is locked" when workers start
        // together on one file).
        const auto deadline = BusyDeadline();
        int rc = sqlite3_step(s);
        for (int attempt = 0;
             (rc & 0xff) == SQLITE_BUSY && std::chrono::steady_clock::now() < deadline; ++attempt) {
            sqlite3_reset(s);
            std::this_thread::sleep_for(
                std::chrono::microseconds(std::min(attempt, 10) * 500 + 100));
            rc = sqlite3_step(s);
        }
        if (rc == SQLITE_ROW) ReadText(s, 0, out);
        sqlite3_finalize(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Fail(std::string("'") + sql + "' failed");
        return Ok();
    }

    // The schema version stored (0 for a new database).
    Result<int> ReadVersion() {
        std::string exists;
        TXG_RETURN_IF_ERROR(QueryText(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
            exists));
        if (exists.empty()) return 0;
        std::string version;
        TXG_RETURN_IF_ERROR(QueryText("SELECT max(version) FROM schema_version", version));
        int v = 0;
        std::from_chars(version.data(), version.data() + version.size(), v);
        return v;
    }

    Result<void> Migrate() {
        auto version = ReadVersion();
        if (!version) return std::unexpected(version.error());
        if (*version == kLatestVersion) return Ok();
        if (*version > kLatestVersion) return TooNew(*version);
        if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
            return Fail("migration: cannot begin a transaction");
        }
        auto fail = [&](std::string what) -> Result<void> {
            Error e = MakeIoError(std::move(what));
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            return std::unexpected(std::move(e));
        };
        // Read again under the write lock: another process may have migrated meanwhile.
        version = ReadVersion();
        if (!version) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            return std::unexpected(version.error());
        }
        if (*version > kLatestVersion) {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            return TooNew(*version);
        }
        if (sqlite3_exec(db_, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)",
                         nullptr, nullptr, nullptr) != SQLITE_OK) {
            return fail("migration: cannot create schema_version");
        }
        for (int v = *version; v < kLatestVersion; ++v) {
            if (sqlite3_exec(db_, kMigrations[static_cast<std::size_t>(v)], nullptr, nullptr,
                             nullptr) != SQLITE_OK) {
                return fail("migration to schema version " + std::to_string(v + 1) + " failed");
            }
        }
        const std::string set_version =
            "DELETE FROM schema_version; INSERT INTO schema_version "
            "VALUES(" +
            std::to_string(kLatestVersion) + ")";
        if (sqlite3_exec(db_, set_version.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
            return fail("migration: cannot record the schema version");
        }
        if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
            return fail("migration: commit failed");
        }
        return Ok();
    }

    std::unexpected<Error> TooNew(int version) const {
        return std::unexpected(Error{ErrorCode::kIncompatible,
                                     "store " + url_ + " has schema version " +
                                         std::to_string(version) + ", this txguard knows up to " +
                                         std::to_string(kLatestVersion),
                                     "upgrade txguard, or point it at another store"});
    }

    std::string url_;
    sqlite3* db_;
    std::string db_path_;     // the database file; "" in memory
    std::int64_t nonce_ = 0;  // id_index_state.nonce: random per database
    IdIndex ids_;             // finds transactions by id (sqlite_id_index.hpp)
    bool auto_checkpoint_ = false;
    int busy_timeout_ms_ = 5000;
    std::int64_t wal_limit_bytes_ = 0;  // 0: Checkpoint() never restarts the log
    std::int64_t page_size_ = 4096;
    // Read by other threads (the service's /metrics): atomics.
    std::atomic<std::uint64_t> log_bytes_{0};
    std::atomic<std::uint64_t> log_restarts_{0};
    std::chrono::steady_clock::time_point busy_since_{};  // start of the busy handler's wait
    std::array<sqlite3_stmt*, kNumStmts> stmts_{};
};

}  // namespace

int SqliteSchemaVersion() { return kLatestVersion; }

Result<std::unique_ptr<Store>> OpenSqliteStore(std::string url, const SqliteUrl& parsed) {
    // Process-wide, once, before SQLite initialises (else it is refused, harmlessly): no memory
    // statistics. With them every sqlite3_malloc and free takes a global mutex and updates
    // counters, ~8 allocations a stored transaction; txguard reads none of them.
    static std::once_flag sqlite_config;
    std::call_once(sqlite_config, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
    sqlite3* db = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    // WalBufferingVfs: each commit's WAL frames in one write (sqlite_vfs.hpp).
    const int rc = sqlite3_open_v2(parsed.path.c_str(), &db, flags, WalBufferingVfs());
    if (rc != SQLITE_OK) {
        std::string reason = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close_v2(db);
        return MakeError(ErrorCode::kIo,
                         "cannot open store " + url + " (file '" + parsed.path + "'): " + reason,
                         "the directory must exist and be writable");
    }
    auto store = std::make_unique<SqliteStore>(std::move(url), db);
    TXG_RETURN_IF_ERROR(store->Init(parsed));
    return std::unique_ptr<Store>(std::move(store));
}

}  // namespace txguard::store_detail
