#pragma once
// The SQLite store's index of transaction ids (private to the store module).
//
// Why not a B-tree index on transaction_id: ids are random (UUIDs, the shared wrk load's
// "w<random>-<n>"), so every insert lands on a random leaf of the index, and a commit of 30
// requests rewrote ~37 leaf pages of it into the write-ahead log: 6.6 KB of log a stored
// transaction against 1.5 KB without that index (scratch measurement, docs/benchmarks.md,
// session 10). The log's volume is what makes its restarts frequent (Checkpoint), and the random
// leaf reads made appends 4-5x dearer than with ordered ids (bench_store).
//
// Instead, ids are found through sorted runs, as in an LSM tree, written as blobs:
//   - the transactions table is the log: rows are appended in rowid order and never deleted;
//   - `id_runs` lists runs; a run holds the (hash, rowid) pairs of the rows in a rowid range,
//     sorted by hash, in `id_blocks` rows of kBlockEntries pairs (one 4 KiB page each), keyed
//     (run << 32 | block) so that a run's blocks are contiguous;
//   - the runs cover rowids 1..covered; the rows after them (the tail) are read into memory by
//     each connection that looks ids up (Refresh), incrementally;
//   - Maintain writes a run of the tail once it holds kRunEntries rows, and merges kFanout runs
//     of one level into one of the next (size-tiered), writing big runs in short transactions
//     and swapping them in at the end, so the writer is never held for long;
//   - in memory each connection keeps, per run, the first hash of every block and a Bloom
//     filter; a lookup of a new id mostly touches no page at all. Runs never change once
//     written, so the loaded form is shared by every connection of the process (keyed by the
//     database's nonce and the run's id).
// Hash collisions are harmless: every candidate row's id is read and compared.
//
// Writers serialise on SQLite's write lock (BEGIN IMMEDIATE), and a writer calls Refresh inside
// its write transaction, so it sees every row any process committed before it: uniqueness holds
// across processes. `id_index_state.generation` changes with every change of the run list.
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/result.hpp"

namespace txguard::store_detail {

// Its tables are created by the store's migration to schema version 4 (sqlite_store.cpp).

// The hash ids are indexed by. Runs on disk hold it: changing it needs a schema migration that
// rebuilds them.
std::uint64_t IdHash(std::string_view id);

struct IdRun;

// One entry of a run: the id's hash and its row. Runs are sorted by hash, then rowid, and stored
// as the bytes of these structs.
struct IdPair {
    std::uint64_t hash = 0;
    std::int64_t rowid = 0;
    auto operator<=>(const IdPair&) const = default;
};

class IdIndex {
  public:
    // Pairs a block holds (16 bytes each: one 4 KiB page with the row's overhead).
    static constexpr std::size_t kBlockEntries = 240;
    // Rows of the tail a level-0 run takes.
    static constexpr std::size_t kRunEntries = 16384;
    // Runs of one level merged into one of the next.
    static constexpr std::size_t kFanout = 8;

    IdIndex(sqlite3* db, std::string url) : db_(db), url_(std::move(url)) {}
    ~IdIndex();
    IdIndex(const IdIndex&) = delete;
    IdIndex& operator=(const IdIndex&) = delete;

    // Inside a transaction: loads the runs if they changed, then reads the rows appended after
    // what this connection has seen into the tail.
    Result<void> Refresh();
    // Inside the same transaction, after Refresh: the rowid of the transaction with this id
    // (`hash` = IdHash(id), computed once by the caller for Find and Inserted).
    Result<std::optional<std::int64_t>> Find(std::string_view id, std::uint64_t hash);
    // This connection inserted the id of this hash at `rowid` in its current write transaction
    // (after Refresh).
    void Inserted(std::uint64_t hash, std::int64_t rowid);
    // The write transaction committed, or rolled back (what Inserted added is forgotten).
    void Committed() { pending_ = 0; }
    void RolledBack();

    // Outside any transaction: writes runs of the tail while it holds kRunEntries rows, merges
    // kFanout runs of a level, and drops blocks that no run owns (left by a crash). Each write is
    // a short transaction of its own. Cheap when there is nothing to do.
    Result<void> Maintain();
    // Whether Maintain has work (as of the last Refresh).
    bool MaintenanceDue() const;

  private:
    enum Stmt : int {
        kState,
        kRuns,
        kTail,
        kRowId,
        kBlock,
        kRunBlocks,
        kNewRun,
        kPutBlock,
        kBumpGeneration,
        kActivate,
        kDropRun,
        kDropBlocks,
        kCountRuns,
        kStale,
        kNextBlock,
        kRunExists,
        kNumStmts
    };
    Result<sqlite3_stmt*> Prepare(Stmt s);
    Result<void> Exec(const char* sql);
    std::unexpected<Error> Fail(const std::string& what) const;
    std::unexpected<Error> Corrupt(std::int64_t run, const std::string& what) const;
    Result<std::shared_ptr<const IdRun>> Acquire(std::int64_t run, std::int64_t level,
                                                 std::int64_t first, std::int64_t last,
                                                 std::int64_t entries, std::int64_t blocks);
    Result<std::vector<IdPair>> ReadRun(const IdRun& run);
    Result<bool> Candidates(const IdRun& run, std::uint64_t h, std::vector<std::int64_t>& out);
    Result<std::int64_t> WriteRun(std::int64_t level, std::int64_t first, std::int64_t last,
                                  const std::vector<IdPair>& pairs,
                                  std::span<const std::shared_ptr<const IdRun>> inputs);
    Result<void> BuildLevel0();
    Result<void> Merge();
    Result<void> DropOrphans();
    Result<void> DropBlocks(std::int64_t run);
    Result<void> DropRun(std::int64_t run);

    sqlite3* db_;
    std::string url_;
    std::vector<sqlite3_stmt*> stmts_ = std::vector<sqlite3_stmt*>(kNumStmts, nullptr);
    std::int64_t generation_ = -1;
    std::int64_t nonce_ = 0;
    std::vector<std::shared_ptr<const IdRun>> runs_;     // in rowid order
    std::vector<std::shared_ptr<const IdRun>> written_;  // by this connection, until Refresh
    std::int64_t covered_ = 0;                           // the runs cover rowids 1..covered_
    std::int64_t seen_ = 0;                              // the tail holds rowids covered_+1..seen_
    // The tail in rowid order, and an open-addressing table over it (linear probing on the
    // hash; a slot holds a position + 1, 0 = empty) rebuilt when it grows, is pruned or loses a
    // rolled-back insert: no allocation a row.
    std::vector<IdPair> tail_;
    std::vector<std::uint32_t> slots_;
    void TailAdd(IdPair p);
    void TailRebuild();
    std::size_t pending_ = 0;  // rows this connection inserted in its current write transaction
    std::int64_t seen_before_pending_ = 0;
    bool orphans_checked_ = false;
};

}  // namespace txguard::store_detail
