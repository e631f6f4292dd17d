#include "sqlite_id_index.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

#include "sqlite_stmt.hpp"
#include "txguard/core/bytes.hpp"

namespace txguard::store_detail {

static_assert(std::endian::native == std::endian::little, "id blocks are stored little-endian");

namespace {

constexpr std::size_t kPairBytes = sizeof(IdPair);
static_assert(kPairBytes == 16);
// A merge whose output has more blocks than this writes them in transactions of this many
// (256 KiB, the snapshot pieces' size), so that it never holds the writer off for long.
constexpr std::size_t kBlocksPerTransaction = 64;
// A run left at level -1 this long ago belongs to a merge that died; it is dropped.
constexpr std::int64_t kStalePendingMs = 3600 * 1000;
// Bloom filter: bits per entry and probes (~1% false positives), in 512-bit buckets.
constexpr std::size_t kBloomBitsPerEntry = 10;
constexpr int kBloomProbes = 7;

constexpr std::array<const char*, 16> kSql = {
    "SELECT generation, nonce FROM id_index_state",
    "SELECT run, level, first_rowid, last_rowid, entries, blocks FROM id_runs WHERE level >= 0"
    " ORDER BY first_rowid",
    "SELECT rowid, transaction_id FROM transactions WHERE rowid > ? ORDER BY rowid",
    "SELECT transaction_id FROM transactions WHERE rowid = ?",
    "SELECT bytes FROM id_blocks WHERE key = ?",
    "SELECT key, bytes FROM id_blocks WHERE key BETWEEN ? AND ? ORDER BY key",
    "INSERT INTO id_runs(level, first_rowid, last_rowid, entries, blocks, created_ms)"
    " VALUES(?,?,?,?,?,?)",
    "INSERT INTO id_blocks(key, bytes) VALUES(?,?)",
    "UPDATE id_index_state SET generation = generation + 1",
    "UPDATE id_runs SET level = ? WHERE run = ?",
    "DELETE FROM id_runs WHERE run = ?",
    "DELETE FROM id_blocks WHERE key IN (SELECT key FROM id_blocks WHERE key BETWEEN ?1 AND ?2"
    " LIMIT ?3)",
    "SELECT count(*) FROM id_runs WHERE run = ? AND level = ?",
    "SELECT run FROM id_runs WHERE level < 0 AND created_ms < ?",
    "SELECT key FROM id_blocks WHERE key >= ? ORDER BY key LIMIT 1",
    "SELECT count(*) FROM id_runs WHERE run = ?",
};

std::int64_t BlockKey(std::int64_t run, std::size_t block) {
    return static_cast<std::int64_t>((static_cast<std::uint64_t>(run) << 32) | block);
}

std::int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Runs are immutable: their loaded form is shared by every connection of the process.
std::mutex g_cache_mutex;
std::map<std::pair<std::int64_t, std::int64_t>, std::weak_ptr<const IdRun>> g_cache;

}  // namespace

std::uint64_t IdHash(std::string_view id) {
    // FNV-1a, then a finaliser (splitmix64's) so that every bit depends on every byte: the high
    // bits pick Bloom buckets and order the runs.
    return MixBits64(Fnv1a64(id));
}

// One run, as a lookup needs it in memory: the first hash of each block, and a Bloom filter.
struct IdRun {
    std::int64_t run = 0, level = 0, first = 0, last = 0, entries = 0, blocks = 0;
    std::vector<std::uint64_t> fence;
    std::vector<std::uint64_t> bloom;  // 8 words (512 bits) a bucket

    // From the run's pairs (sorted).
    void Index(const std::vector<IdPair>& pairs) {
        const std::size_t n = pairs.size();
        fence.clear();
        for (std::size_t i = 0; i < n; i += IdIndex::kBlockEntries) fence.push_back(pairs[i].hash);
        const std::size_t buckets = std::max<std::size_t>(1, n * kBloomBitsPerEntry / 512 + 1);
        bloom.assign(buckets * 8, 0);
        for (std::size_t i = 0; i < n; ++i) {
            std::uint64_t* b = Bucket(pairs[i].hash);
            std::uint64_t g = Probes(pairs[i].hash);
            for (int k = 0; k < kBloomProbes; ++k, g >>= 9) b[(g & 511) >> 6] |= 1ull << (g & 63);
        }
    }
    bool MayContain(std::uint64_t h) const {
        const std::uint64_t* b = Bucket(h);
        std::uint64_t g = Probes(h);
        for (int k = 0; k < kBloomProbes; ++k, g >>= 9)
            if ((b[(g & 511) >> 6] & (1ull << (g & 63))) == 0) return false;
        return true;
    }

  private:
    std::uint64_t* Bucket(std::uint64_t h) {
        return const_cast<std::uint64_t*>(std::as_const(*this).Bucket(h));
    }
    const std::uint64_t* Bucket(std::uint64_t h) const {
        const std::uint64_t buckets = bloom.size() / 8;  // < 2^32
        return bloom.data() + 8 * static_cast<std::size_t>(((h >> 32) * buckets) >> 32);
    }
    static std::uint64_t Probes(std::uint64_t h) { return h * 0x9e3779b97f4a7c15ull; }
};

IdIndex::~IdIndex() {
    for (auto* s : stmts_) sqlite3_finalize(s);
}

Result<sqlite3_stmt*> IdIndex::Prepare(Stmt s) {
    if (stmts_[s] == nullptr && sqlite3_prepare_v3(db_, kSql[s], -1, SQLITE_PREPARE_PERSISTENT,
                                                   &stmts_[s], nullptr) != SQLITE_OK) {
        stmts_[s] = nullptr;
        return Fail(std::string("cannot prepare '") + kSql[s] + "'");
    }
    return stmts_[s];
}

Result<void> IdIndex::Exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
        return Fail(std::string("id index: '") + sql + "' failed");
    return Ok();
}

std::unexpected<Error> IdIndex::Fail(const std::string& what) const {
    return std::unexpected(
        Error{ErrorCode::kIo, "store " + url_ + ": " + what + ": " + sqlite3_errmsg(db_), {}});
}

std::unexpected<Error> IdIndex::Corrupt(std::int64_t run, const std::string& what) const {
    return std::unexpected(Error{
        ErrorCode::kCorrupt,
        "store " + url_ + ": run " + std::to_string(run) + " of the id index is corrupt: " + what,
        "the id index is derived from the transactions table: to rebuild it, stop every "
        "process using the store and run sqlite3 on the file: DELETE FROM id_runs; DELETE FROM "
        "id_blocks; UPDATE id_index_state SET generation = generation + 1;"});
}

Result<void> IdIndex::Refresh() {
    auto state = Prepare(kState);
    if (!state) return std::unexpected(state.error());
    std::int64_t generation = 0;
    {
        StmtLease reset(*state);
        if (sqlite3_step(*state) != SQLITE_ROW) return Fail("cannot read the id index's state");
        generation = sqlite3_column_int64(*state, 0);
        nonce_ = sqlite3_column_int64(*state, 1);
    }
    if (generation != generation_) {
        auto list = Prepare(kRuns);
        if (!list) return std::unexpected(list.error());
        std::vector<std::array<std::int64_t, 6>> rows;
        {
            StmtLease reset(*list);
            int rc;
            while ((rc = sqlite3_step(*list)) == SQLITE_ROW) {
                auto& r = rows.emplace_back();
                for (int i = 0; i < 6; ++i)
                    r[static_cast<std::size_t>(i)] = sqlite3_column_int64(*list, i);
            }
            if (rc != SQLITE_DONE) return Fail("cannot read the id index's runs");
        }
        std::vector<std::shared_ptr<const IdRun>> runs;
        std::int64_t covered = 0;
        for (const auto& r : rows) {
            if (r[2] != covered + 1)
                return Corrupt(r[0], "it starts at row " + std::to_string(r[2]) +
                                         ", the runs before it end at row " +
                                         std::to_string(covered));
            auto run = Acquire(r[0], r[1], r[2], r[3], r[4], r[5]);
            if (!run) return std::unexpected(run.error());
            runs.push_back(std::move(*run));
            covered = r[3];
        }
        runs_ = std::move(runs);
        written_.clear();
        if (covered < covered_) seen_ = 0;  // the index was rebuilt: read the tail again
        covered_ = covered;
        seen_ = std::max(seen_, covered_);
        std::erase_if(tail_, [&](const IdPair& e) { return e.rowid <= covered_; });
        if (seen_ == covered_) tail_.clear();
        TailRebuild();
        generation_ = generation;
    }
    auto tail = Prepare(kTail);
    if (!tail) return std::unexpected(tail.error());
    StmtLease reset(*tail);
    sqlite3_bind_int64(*tail, 1, seen_);
    int rc;
    while ((rc = sqlite3_step(*tail)) == SQLITE_ROW) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(*tail, 1));
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(*tail, 1));
        seen_ = sqlite3_column_int64(*tail, 0);
        TailAdd({IdHash(std::string_view(p ? p : "", n)), seen_});
    }
    if (rc != SQLITE_DONE) return Fail("cannot read the newest transaction ids");
    return Ok();
}

Result<std::shared_ptr<const IdRun>> IdIndex::Acquire(std::int64_t run, std::int64_t level,
                                                      std::int64_t first, std::int64_t last,
                                                      std::int64_t entries, std::int64_t blocks) {
    const auto key = std::make_pair(nonce_, run);
    {
        std::lock_guard lock(g_cache_mutex);
        if (auto it = g_cache.find(key); it != g_cache.end()) {
            if (auto loaded = it->second.lock()) {
                // The cached form may predate a merge's activation (loaded at level -1).
                if (loaded->level == level) return loaded;
            }
        }
    }
    auto loaded = std::make_shared<IdRun>();
    loaded->run = run;
    loaded->level = level;
    loaded->first = first;
    loaded->last = last;
    loaded->entries = entries;
    loaded->blocks = blocks;
    if (entries <= 0 || last < first || entries > last - first + 1 ||
        blocks != (entries + static_cast<std::int64_t>(kBlockEntries) - 1) /
                      static_cast<std::int64_t>(kBlockEntries))
        return Corrupt(run, "its row (" + std::to_string(entries) + " entries in " +
                                std::to_string(blocks) + " blocks for rows " +
                                std::to_string(first) + ".." + std::to_string(last) +
                                ") does not add up");
    auto pairs = ReadRun(*loaded);
    if (!pairs) return std::unexpected(pairs.error());
    loaded->Index(*pairs);
    std::lock_guard lock(g_cache_mutex);
    std::erase_if(g_cache, [](const auto& e) { return e.second.expired(); });
    g_cache[key] = loaded;
    return std::shared_ptr<const IdRun>(std::move(loaded));
}

Result<std::vector<IdPair>> IdIndex::ReadRun(const IdRun& run) {
    auto s = Prepare(kRunBlocks);
    if (!s) return std::unexpected(s.error());
    StmtLease reset(*s);
    sqlite3_bind_int64(*s, 1, BlockKey(run.run, 0));
    sqlite3_bind_int64(*s, 2, BlockKey(run.run, 0xffffffffu));
    std::vector<IdPair> pairs;
    pairs.reserve(static_cast<std::size_t>(run.entries));
    std::size_t block = 0;
    int rc;
    while ((rc = sqlite3_step(*s)) == SQLITE_ROW) {
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(*s, 1));
        const void* p = sqlite3_column_blob(*s, 1);
        if (sqlite3_column_int64(*s, 0) != BlockKey(run.run, block))
            return Corrupt(run.run, "block " + std::to_string(block) + " is missing");
        const bool last_block = block + 1 == static_cast<std::size_t>(run.blocks);
        const std::size_t want = last_block
                                     ? static_cast<std::size_t>(run.entries) - block * kBlockEntries
                                     : kBlockEntries;
        if (block >= static_cast<std::size_t>(run.blocks) || n != want * kPairBytes || !p)
            return Corrupt(
                run.run, "block " + std::to_string(block) + " has " + std::to_string(n) + " bytes");
        const std::size_t at = pairs.size();
        pairs.resize(at + want);
        std::memcpy(pairs.data() + at, p, n);
        ++block;
    }
    if (rc != SQLITE_DONE)
        return Fail("cannot read run " + std::to_string(run.run) + " of the id index");
    if (block != static_cast<std::size_t>(run.blocks))
        return Corrupt(run.run, "it has " + std::to_string(block) + " of its " +
                                    std::to_string(run.blocks) + " blocks");
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        if (pairs[i].rowid < run.first || pairs[i].rowid > run.last ||
            (i > 0 && !(pairs[i - 1] < pairs[i])))
            return Corrupt(run.run,
                           "entry " + std::to_string(i) + " is out of order or out of its rows");
    }
    return pairs;
}

// Appends the rowids of `run` whose hash is h; false if the run cannot hold it.
Result<bool> IdIndex::Candidates(const IdRun& run, std::uint64_t h,
                                 std::vector<std::int64_t>& out) {
    if (!run.MayContain(h)) return false;
    // The first block that may hold h: the last one starting below h (equal hashes may spill
    // over a block's end, so a block starting at h is preceded by one that may hold it too).
    auto it = std::lower_bound(run.fence.begin(), run.fence.end(), h);
    std::size_t block =
        it == run.fence.begin() ? 0 : static_cast<std::size_t>(it - run.fence.begin()) - 1;
    auto s = Prepare(kBlock);
    if (!s) return std::unexpected(s.error());
    for (; block < run.fence.size() && run.fence[block] <= h; ++block) {
        StmtLease reset(*s);
        sqlite3_bind_int64(*s, 1, BlockKey(run.run, block));
        if (sqlite3_step(*s) != SQLITE_ROW)
            return Corrupt(run.run, "block " + std::to_string(block) + " cannot be read");
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(*s, 0)) / kPairBytes;
        const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(*s, 0));
        bool past = false;
        for (std::size_t i = 0; i < n && !past; ++i) {
            IdPair pair;
            std::memcpy(&pair, p + i * kPairBytes, kPairBytes);
            if (pair.hash == h) out.push_back(pair.rowid);
            past = pair.hash > h;
        }
        if (past) break;
    }
    return true;
}

Result<std::optional<std::int64_t>> IdIndex::Find(std::string_view id, std::uint64_t h) {
    std::vector<std::int64_t> rowids;
    if (!slots_.empty()) {
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = h & mask; slots_[i] != 0; i = (i + 1) & mask)
            if (tail_[slots_[i] - 1].hash == h) rowids.push_back(tail_[slots_[i] - 1].rowid);
    }
    for (auto r = runs_.rbegin(); r != runs_.rend(); ++r) {
        auto got = Candidates(**r, h, rowids);
        if (!got) return std::unexpected(got.error());
    }
    if (rowids.empty()) return std::optional<std::int64_t>();
    auto s = Prepare(kRowId);
    if (!s) return std::unexpected(s.error());
    for (const auto rowid : rowids) {
        StmtLease reset(*s);
        sqlite3_bind_int64(*s, 1, rowid);
        const int rc = sqlite3_step(*s);
        if (rc == SQLITE_DONE) continue;  // a rolled-back insert's rowid
        if (rc != SQLITE_ROW) return Fail("cannot read row " + std::to_string(rowid));
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(*s, 0));
        const auto n = static_cast<std::size_t>(sqlite3_column_bytes(*s, 0));
        if (std::string_view(p ? p : "", n) == id) return std::optional<std::int64_t>(rowid);
    }
    return std::optional<std::int64_t>();
}

void IdIndex::Inserted(std::uint64_t hash, std::int64_t rowid) {
    if (pending_ == 0) seen_before_pending_ = seen_;
    TailAdd({hash, rowid});
    ++pending_;
    seen_ = std::max(seen_, rowid);
}

void IdIndex::RolledBack() {
    if (pending_ == 0) return;
    // What this transaction inserted is the end of the tail (Refresh came before).
    tail_.resize(tail_.size() - std::min(pending_, tail_.size()));
    seen_ = seen_before_pending_;
    pending_ = 0;
    TailRebuild();
}

void IdIndex::TailAdd(IdPair p) {
    tail_.push_back(p);
    if (2 * tail_.size() > slots_.size()) {
        TailRebuild();
        return;
    }
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = p.hash & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = static_cast<std::uint32_t>(tail_.size());
}

void IdIndex::TailRebuild() {
    std::size_t capacity = 1024;
    while (capacity < 4 * tail_.size()) capacity *= 2;
    slots_.assign(capacity, 0);
    const std::size_t mask = capacity - 1;
    for (std::size_t k = 0; k < tail_.size(); ++k) {
        std::size_t i = tail_[k].hash & mask;
        while (slots_[i] != 0) i = (i + 1) & mask;
        slots_[i] = static_cast<std::uint32_t>(k + 1);
    }
}

bool IdIndex::MaintenanceDue() const {
    if (tail_.size() >= kRunEntries) return true;
    std::map<std::int64_t, std::size_t> per_level;
    for (const auto& r : runs_)
        if (++per_level[r->level] >= kFanout) return true;
    return false;
}

Result<void> IdIndex::Maintain() {
    if (!orphans_checked_) {
        TXG_RETURN_IF_ERROR(DropOrphans());
        orphans_checked_ = true;
    }
    // Bounded work a call: a store opened on a large table without runs catches up over calls.
    for (int step = 0; step < 16; ++step) {
        TXG_RETURN_IF_ERROR(Exec("BEGIN"));
        auto fresh = Refresh();
        (void)Exec("COMMIT");
        if (!fresh) return fresh;
        if (tail_.size() >= kRunEntries) {
            TXG_RETURN_IF_ERROR(BuildLevel0());
        } else if (MaintenanceDue()) {
            TXG_RETURN_IF_ERROR(Merge());
        } else {
            break;
        }
    }
    return Ok();
}

Result<void> IdIndex::BuildLevel0() {
    // The tail is in rowid order: its first kRunEntries rows.
    std::vector<IdPair> pairs(tail_.begin(), tail_.begin() + kRunEntries);
    const std::int64_t last = pairs.back().rowid;
    std::sort(pairs.begin(), pairs.end());
    auto run = WriteRun(0, covered_ + 1, last, pairs, {});
    if (!run) return std::unexpected(run.error());
    return Ok();
}

Result<void> IdIndex::Merge() {
    // The lowest level with kFanout runs; its runs are contiguous (runs of a level are written
    // after every run of a higher level), the oldest kFanout are merged.
    std::map<std::int64_t, std::vector<std::size_t>> per_level;
    for (std::size_t i = 0; i < runs_.size(); ++i) per_level[runs_[i]->level].push_back(i);
    for (auto& [level, at] : per_level) {
        if (at.size() < kFanout) continue;
        at.resize(kFanout);
        std::vector<std::shared_ptr<const IdRun>> inputs;
        for (std::size_t k = 0; k < at.size(); ++k) {
            if (k > 0 && at[k] != at[k - 1] + 1)
                return Corrupt(runs_[at[k]]->run,
                               "runs of level " + std::to_string(level) + " are not contiguous");
            inputs.push_back(runs_[at[k]]);
        }
        // Read in one transaction, in which the inputs are still listed: another process's
        // merge of the same runs drops their blocks only after it unlisted them.
        TXG_RETURN_IF_ERROR(Exec("BEGIN"));
        auto read = [&]() -> Result<std::vector<IdPair>> {
            std::vector<IdPair> pairs;
            auto listed = Prepare(kCountRuns);
            if (!listed) return std::unexpected(listed.error());
            for (const auto& in : inputs) {
                {
                    StmtLease reset(*listed);
                    sqlite3_bind_int64(*listed, 1, in->run);
                    sqlite3_bind_int64(*listed, 2, in->level);
                    if (sqlite3_step(*listed) != SQLITE_ROW)
                        return Fail("cannot read the id index's runs");
                    if (sqlite3_column_int64(*listed, 0) != 1) return std::vector<IdPair>();
                }
                auto got = ReadRun(*in);
                if (!got) return std::unexpected(got.error());
                const auto middle = static_cast<std::ptrdiff_t>(pairs.size());
                pairs.insert(pairs.end(), got->begin(), got->end());
                std::inplace_merge(pairs.begin(), pairs.begin() + middle, pairs.end());
            }
            return pairs;
        };
        auto pairs = read();
        (void)Exec("COMMIT");
        if (!pairs) return std::unexpected(pairs.error());
        if (pairs->empty()) return Ok();  // merged by another process meanwhile
        auto made = WriteRun(level + 1, inputs.front()->first, inputs.back()->last, *pairs, inputs);
        if (!made) return std::unexpected(made.error());
        return Ok();
    }
    return Ok();
}

// Writes a run and puts it in use: a level-0 run (no inputs) in one transaction, if the run
// list is still the one this connection saw; a merge's run in pieces, then swapped for its
// inputs in one transaction if they are all still there. Returns the run's id (0: abandoned).
Result<std::int64_t> IdIndex::WriteRun(std::int64_t level, std::int64_t first, std::int64_t last,
                                       const std::vector<IdPair>& pairs,
                                       std::span<const std::shared_ptr<const IdRun>> inputs) {
    const std::size_t n = pairs.size();
    const std::size_t blocks = (n + kBlockEntries - 1) / kBlockEntries;
    const bool in_pieces = !inputs.empty() && blocks > kBlocksPerTransaction;
    auto rollback = [&](Error e) -> Result<std::int64_t> {
        if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return std::unexpected(std::move(e));
    };
    auto step_done = [&](sqlite3_stmt* s, const char* what) -> Result<void> {
        StmtLease reset(s);
        if (sqlite3_step(s) != SQLITE_DONE) return Fail(what);
        return Ok();
    };
    TXG_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    if (inputs.empty()) {
        auto state = Prepare(kState);
        if (!state) return rollback(state.error());
        std::int64_t generation = -1;
        {
            StmtLease reset(*state);
            if (sqlite3_step(*state) != SQLITE_ROW)
                return rollback(Fail("cannot read the id index's state").error());
            generation = sqlite3_column_int64(*state, 0);
        }
        if (generation != generation_) {  // another connection changed the runs meanwhile
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            return std::int64_t{0};
        }
    }
    auto add = Prepare(kNewRun);
    if (!add) return rollback(add.error());
    sqlite3_bind_int64(*add, 1, in_pieces ? -1 : level);
    sqlite3_bind_int64(*add, 2, first);
    sqlite3_bind_int64(*add, 3, last);
    sqlite3_bind_int64(*add, 4, static_cast<std::int64_t>(n));
    sqlite3_bind_int64(*add, 5, static_cast<std::int64_t>(blocks));
    sqlite3_bind_int64(*add, 6, NowMs());
    if (auto r = step_done(*add, "cannot add a run to the id index"); !r)
        return rollback(r.error());
    const std::int64_t run = sqlite3_last_insert_rowid(db_);
    auto put = Prepare(kPutBlock);
    if (!put) return rollback(put.error());
    for (std::size_t b = 0; b < blocks; ++b) {
        if (in_pieces && b > 0 && b % kBlocksPerTransaction == 0) {
            TXG_RETURN_IF_ERROR(Exec("COMMIT"));
            TXG_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
        }
        const std::size_t count = std::min(kBlockEntries, n - b * kBlockEntries);
        sqlite3_bind_int64(*put, 1, BlockKey(run, b));
        sqlite3_bind_blob64(*put, 2, pairs.data() + b * kBlockEntries, count * kPairBytes,
                            SQLITE_STATIC);
        if (auto r = step_done(*put, "cannot write a block of the id index"); !r)
            return rollback(r.error());
    }
    if (!inputs.empty()) {
        auto check = Prepare(kCountRuns);
        if (!check) return rollback(check.error());
        for (const auto& in : inputs) {
            StmtLease reset(*check);
            sqlite3_bind_int64(*check, 1, in->run);
            sqlite3_bind_int64(*check, 2, in->level);
            if (sqlite3_step(*check) != SQLITE_ROW)
                return rollback(Fail("cannot read the id index's runs").error());
            if (sqlite3_column_int64(*check, 0) != 1) {  // merged by another process meanwhile
                if (!in_pieces) {
                    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
                    return std::int64_t{0};
                }
                TXG_RETURN_IF_ERROR(Exec("COMMIT"));
                TXG_RETURN_IF_ERROR(DropBlocks(run));
                TXG_RETURN_IF_ERROR(DropRun(run));
                return std::int64_t{0};
            }
        }
    }
    if (in_pieces) {
        auto activate = Prepare(kActivate);
        if (!activate) return rollback(activate.error());
        sqlite3_bind_int64(*activate, 1, level);
        sqlite3_bind_int64(*activate, 2, run);
        if (auto r = step_done(*activate, "cannot put a run of the id index in use"); !r)
            return rollback(r.error());
    }
    auto drop = Prepare(kDropRun);
    if (!drop) return rollback(drop.error());
    for (const auto& in : inputs) {
        sqlite3_bind_int64(*drop, 1, in->run);
        if (auto r = step_done(*drop, "cannot drop a merged run of the id index"); !r)
            return rollback(r.error());
    }
    auto bump = Prepare(kBumpGeneration);
    if (!bump) return rollback(bump.error());
    if (auto r = step_done(*bump, "cannot update the id index's state"); !r)
        return rollback(r.error());
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
        return rollback(Fail("cannot commit a run of the id index").error());
    // In use: shared with this process's other connections, so that none reads it back.
    auto loaded = std::make_shared<IdRun>();
    loaded->run = run;
    loaded->level = level;
    loaded->first = first;
    loaded->last = last;
    loaded->entries = static_cast<std::int64_t>(n);
    loaded->blocks = static_cast<std::int64_t>(blocks);
    loaded->Index(pairs);
    {
        std::lock_guard lock(g_cache_mutex);
        std::erase_if(g_cache, [](const auto& e) { return e.second.expired(); });
        g_cache[{nonce_, run}] = loaded;
    }
    // Kept alive until this connection's next Refresh takes it from the cache.
    written_.push_back(std::move(loaded));
    for (const auto& in : inputs) TXG_RETURN_IF_ERROR(DropBlocks(in->run));
    return run;
}

Result<void> IdIndex::DropBlocks(std::int64_t run) {
    auto s = Prepare(kDropBlocks);
    if (!s) return std::unexpected(s.error());
    for (;;) {
        StmtLease reset(*s);
        sqlite3_bind_int64(*s, 1, BlockKey(run, 0));
        sqlite3_bind_int64(*s, 2, BlockKey(run, 0xffffffffu));
        sqlite3_bind_int64(*s, 3, static_cast<std::int64_t>(kBlocksPerTransaction));
        if (sqlite3_step(*s) != SQLITE_DONE)
            return Fail("cannot drop the blocks of run " + std::to_string(run) +
                        " of the id index");
        if (sqlite3_changes(db_) == 0) return Ok();
    }
}

Result<void> IdIndex::DropOrphans() {
    auto s = Prepare(kStale);
    if (!s) return std::unexpected(s.error());
    std::vector<std::int64_t> runs;
    {
        StmtLease reset(*s);
        sqlite3_bind_int64(*s, 1, NowMs() - kStalePendingMs);
        int rc;
        while ((rc = sqlite3_step(*s)) == SQLITE_ROW) runs.push_back(sqlite3_column_int64(*s, 0));
        if (rc != SQLITE_DONE) return Fail("cannot look for leftovers of the id index");
    }
    // Blocks whose run is gone (a crash while a merge dropped its inputs' blocks): one seek per
    // run that has blocks, not a scan of the blocks.
    auto next = Prepare(kNextBlock);
    auto exists = Prepare(kRunExists);
    if (!next) return std::unexpected(next.error());
    if (!exists) return std::unexpected(exists.error());
    for (std::int64_t from = 0;;) {
        StmtLease reset(*next);
        sqlite3_bind_int64(*next, 1, from);
        const int rc = sqlite3_step(*next);
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) return Fail("cannot look for leftovers of the id index");
        const std::int64_t run = sqlite3_column_int64(*next, 0) >> 32;
        StmtLease reset_exists(*exists);
        sqlite3_bind_int64(*exists, 1, run);
        if (sqlite3_step(*exists) != SQLITE_ROW)
            return Fail("cannot look for leftovers of the id index");
        if (sqlite3_column_int64(*exists, 0) == 0) runs.push_back(run);
        from = BlockKey(run + 1, 0);
    }
    for (const auto run : runs) {
        TXG_RETURN_IF_ERROR(DropBlocks(run));
        TXG_RETURN_IF_ERROR(DropRun(run));
    }
    return Ok();
}

Result<void> IdIndex::DropRun(std::int64_t run) {
    auto drop = Prepare(kDropRun);
    if (!drop) return std::unexpected(drop.error());
    StmtLease reset(*drop);
    sqlite3_bind_int64(*drop, 1, run);
    if (sqlite3_step(*drop) != SQLITE_DONE)
        return Fail("cannot drop run " + std::to_string(run) + " of the id index");
    return Ok();
}

}  // namespace txguard::store_detail
