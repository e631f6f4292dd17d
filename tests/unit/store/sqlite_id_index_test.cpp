// The SQLite store's id index (src/store/sqlite_id_index.hpp): ids are found, and never stored
// twice, whether they sit in the in-memory tail, a level-0 run or a merged run, written by this
// connection, another one or another process; a failed append leaves nothing behind; a corrupt
// run is refused with a reason; a database from before the index is upgraded with its ids.
#include "store/sqlite_id_index.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "store_test_util.hpp"
#include "txguard/store/store.hpp"

namespace txguard {
namespace {

using store_detail::IdIndex;
using store_test::MakeTx;
using store_test::RawDb;
using store_test::TempDir;

// Ids that hash all over (like UUIDs), distinct for distinct n.
std::string Id(std::uint64_t n) {
    return "id-" + std::to_string((n * 2654435761u) % 4294967291u) + "-" + std::to_string(n);
}

// Appends ids n = first..first+count-1 with seq = n, in batches of `batch`.
void AppendRange(Store& store, std::uint64_t first, std::uint64_t count, std::size_t batch = 1000,
                 std::uint32_t partition = 0) {
    std::vector<StoredTransaction> txs;
    for (std::uint64_t n = first; n < first + count; ++n) {
        auto tx = MakeTx(n, Id(n));
        tx.partition = partition;
        txs.push_back(std::move(tx));
        if (txs.size() == batch || n + 1 == first + count) {
            auto r = store.Append(txs, {});
            ASSERT_TRUE(r.has_value()) << r.error().ToString();
            ASSERT_EQ(*r, txs.size());
            txs.clear();
        }
    }
}

std::map<std::string, std::string> RunsPerLevel(const std::string& path) {
    RawDb raw(path);
    std::map<std::string, std::string> out;
    for (int level = -1; level <= 3; ++level)
        out[std::to_string(level)] =
            raw.Exec("SELECT count(*) FROM id_runs WHERE level = " + std::to_string(level));
    return out;
}

// 9 level-0 runs' worth of ids: 8 runs are merged into one of level 1 (written in pieces: it
// has more blocks than one transaction takes), one stays at level 0, the rest is the tail. Every
// id is then found wherever it sits, by this connection and by a new one, and appending any of
// them again stores nothing.
TEST(SqliteIdIndex, FindsIdsInTheTailAndInRunsOfEveryLevel) {
    TempDir dir;
    const std::uint64_t total = 9 * IdIndex::kRunEntries + 5000;
    {
        auto s = OpenStore(dir.Url("ids.db"));
        ASSERT_TRUE(s.has_value()) << s.error().ToString();
        AppendRange(**s, 1, total);
        const auto levels = RunsPerLevel(dir.File("ids.db"));
        EXPECT_EQ(levels.at("1"), "1");
        EXPECT_EQ(levels.at("0"), "1");
        EXPECT_EQ(levels.at("-1"), "0");
        {
            RawDb raw(dir.File("ids.db"));
            // The merged inputs' blocks are gone: only the two runs' blocks are left.
            const auto blocks = [&](std::uint64_t n) {
                return (n + IdIndex::kBlockEntries - 1) / IdIndex::kBlockEntries;
            };
            EXPECT_EQ(
                raw.Exec("SELECT count(*) FROM id_blocks"),
                std::to_string(blocks(8 * IdIndex::kRunEntries) + blocks(IdIndex::kRunEntries)));
        }
        // Every 97th id again, among new ones: only the new ones are stored.
        std::vector<StoredTransaction> again;
        std::uint64_t seq = total;
        std::size_t new_ids = 0;
        for (std::uint64_t n = 1; n <= total; n += 97) {
            again.push_back(MakeTx(++seq, Id(n)));
            if (n % 5 == 0) {
                ++seq;
                again.push_back(MakeTx(seq, Id(10'000'000 + seq)));
                ++new_ids;
            }
        }
        auto r = (*s)->Append(again, {});
        ASSERT_TRUE(r.has_value()) << r.error().ToString();
        EXPECT_EQ(*r, new_ids);
        EXPECT_EQ(*(*s)->CountTransactions(), total + new_ids);
    }
    auto s = OpenStore(dir.Url("ids.db"));
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    for (const std::uint64_t n : {std::uint64_t{1}, std::uint64_t{77777}, 8 * IdIndex::kRunEntries,
                                  8 * IdIndex::kRunEntries + 1, 9 * IdIndex::kRunEntries,
                                  9 * IdIndex::kRunEntries + 1, total}) {
        auto got = (*s)->GetTransaction(Id(n));
        ASSERT_TRUE(got.has_value()) << got.error().ToString();
        ASSERT_TRUE(got->has_value()) << Id(n);
        EXPECT_EQ((*got)->seq, n);
        EXPECT_EQ((*got)->transaction_id, Id(n));
    }
    EXPECT_FALSE(*(*s)->GetTransaction(Id(total + 5'000'000)));
    EXPECT_FALSE(*(*s)->GetTransaction(""));
}

// A failed append rolls back: its ids may be appended again, and rows another connection then
// writes at the same row numbers are seen (the tail forgets what the failed append added).
TEST(SqliteIdIndex, AFailedAppendLeavesNoTraceInTheIndex) {
    TempDir dir;
    auto a = OpenStore(dir.Url("ids.db"));
    auto b = OpenStore(dir.Url("ids.db"));
    ASSERT_TRUE(a.has_value() && b.has_value());
    ASSERT_EQ(*(*a)->Append(std::vector{MakeTx(1, "x1")}, {}), 1u);
    // seq 1 again: the batch fails after "x2" was inserted.
    EXPECT_FALSE((*a)->Append(std::vector{MakeTx(2, "x2"), MakeTx(1, "x3")}, {}).has_value());
    EXPECT_FALSE(*(*a)->GetTransaction("x2"));
    // Another connection takes the row number "x2" had.
    ASSERT_EQ(*(*b)->Append(std::vector{MakeTx(3, "y")}, {}), 1u);
    EXPECT_EQ(*(*a)->Append(std::vector{MakeTx(4, "y"), MakeTx(5, "x2")}, {}), 1u);
    EXPECT_EQ(*(*a)->CountTransactions(), 3u);
    EXPECT_EQ((**(*a)->GetTransaction("y")).seq, 3u);
    EXPECT_EQ((**(*b)->GetTransaction("x2")).seq, 5u);
}

// Three processes append at once (each with its own process-wide cache, so each reads the
// others' runs from the file), each re-appending ids another one appended earlier: every id is
// stored once, whoever wrote the run it sits in.
TEST(SqliteIdIndex, WorkerProcessesFindEachOthersIdsInRuns) {
    TempDir dir;
    const std::string url = dir.Url("ids.db");
    constexpr int kWorkers = 3;
    constexpr std::uint64_t kPerWorker = 4 * IdIndex::kRunEntries;
    constexpr std::uint64_t kBatch = 1000;
    std::vector<pid_t> pids;
    for (int w = 0; w < kWorkers; ++w) {
        const pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            auto s = OpenStore(url);
            if (!s) _exit(2);
            const auto partition = static_cast<std::uint32_t>(w + 1);
            const std::uint64_t base = static_cast<std::uint64_t>(w) * kPerWorker;
            const std::uint64_t other = static_cast<std::uint64_t>((w + 1) % kWorkers) * kPerWorker;
            std::uint64_t seq = 0;
            for (std::uint64_t at = 0; at < kPerWorker; at += kBatch) {
                std::vector<StoredTransaction> txs;
                for (std::uint64_t i = 0; i < kBatch && at + i < kPerWorker; ++i) {
                    auto tx = MakeTx(++seq, Id(base + at + i + 1));
                    tx.partition = partition;
                    txs.push_back(std::move(tx));
                }
                // The next worker's ids from 20 batches back (stored by it, or not yet).
                for (std::uint64_t i = 0; at >= 20 * kBatch && i < 50; ++i) {
                    auto tx = MakeTx(++seq, Id(other + at - 20 * kBatch + i * 7 + 1));
                    tx.partition = partition;
                    txs.push_back(std::move(tx));
                }
                if (!(*s)->Append(txs, {})) _exit(3);
            }
            _exit(0);
        }
        pids.push_back(pid);
    }
    for (const pid_t pid : pids) {
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 0);
    }
    RawDb raw(dir.File("ids.db"));
    EXPECT_EQ(raw.Exec("SELECT count(*) FROM transactions"), std::to_string(kWorkers * kPerWorker));
    EXPECT_EQ(raw.Exec("SELECT count(DISTINCT transaction_id) FROM transactions"),
              std::to_string(kWorkers * kPerWorker));
    EXPECT_NE(raw.Exec("SELECT count(*) FROM id_runs WHERE level = 1"), "0");
    // The runs cover the rows without a gap or an overlap.
    EXPECT_EQ(
        raw.Exec("SELECT count(*) FROM id_runs a JOIN id_runs b ON b.first_rowid = "
                 "a.last_rowid + 1 WHERE a.level >= 0 AND b.level >= 0"),
        std::to_string(std::stoi(raw.Exec("SELECT count(*) FROM id_runs WHERE level >= 0")) - 1));
}

// A run whose block was damaged is refused when read, naming the run and how to rebuild.
TEST(SqliteIdIndex, ACorruptRunIsRefusedWithAReason) {
    TempDir dir;
    {
        auto s = OpenStore(dir.Url("ids.db"));
        ASSERT_TRUE(s.has_value());
        AppendRange(**s, 1, IdIndex::kRunEntries + 10);
    }
    {
        RawDb raw(dir.File("ids.db"));
        EXPECT_EQ(raw.Exec("SELECT count(*) FROM id_runs"), "1");
        raw.Exec(
            "UPDATE id_blocks SET bytes = x'0011' WHERE key = (SELECT min(key) FROM id_blocks)");
    }
    auto s = OpenStore(dir.Url("ids.db"));
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code, ErrorCode::kCorrupt);
    EXPECT_NE(s.error().message.find("run 1 of the id index is corrupt: block 0 has 2 bytes"),
              std::string::npos)
        << s.error().message;
    EXPECT_NE(s.error().hint.find("DELETE FROM id_runs"), std::string::npos);
    {
        // The hint's rebuild works: the index is written again from the table.
        RawDb raw(dir.File("ids.db"));
        raw.Exec(
            "DELETE FROM id_runs; DELETE FROM id_blocks; "
            "UPDATE id_index_state SET generation = generation + 1;");
    }
    auto rebuilt = OpenStore(dir.Url("ids.db"));
    ASSERT_TRUE(rebuilt.has_value()) << rebuilt.error().ToString();
    EXPECT_EQ((**(*rebuilt)->GetTransaction(Id(5))).seq, 5u);
    EXPECT_EQ(*(*rebuilt)->Append(std::vector{MakeTx(99'999'999, Id(7))}, {}), 0u);
}

// A database of schema version 3 (ids in a UNIQUE column) is upgraded: its rows are written
// into runs while it opens, and its ids are still found and never stored twice.
TEST(SqliteIdIndex, AnUpgradedDatabaseKeepsItsIds) {
    TempDir dir;
    {
        RawDb raw(dir.File("v3.db"));
        raw.Exec(R"sql(
PRAGMA journal_mode=WAL;
CREATE TABLE schema_version(version INTEGER NOT NULL);
INSERT INTO schema_version VALUES(3);
CREATE TABLE transactions(partition INTEGER NOT NULL, seq INTEGER NOT NULL,
    transaction_id TEXT NOT NULL UNIQUE, ts_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL,
    customer_id TEXT NOT NULL, terminal_id TEXT NOT NULL, amount REAL, fields_json TEXT NOT NULL,
    score REAL, decision TEXT NOT NULL, reasons_json TEXT NOT NULL, model_version TEXT NOT NULL);
CREATE UNIQUE INDEX transactions_seq ON transactions(partition, seq);
CREATE INDEX transactions_alerts ON transactions(ts_ms, seq, partition) WHERE decision != 'allow';
CREATE TABLE labels(partition INTEGER NOT NULL, seq INTEGER NOT NULL,
    transaction_id TEXT NOT NULL, label INTEGER NOT NULL, known_at_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL);
CREATE UNIQUE INDEX labels_seq ON labels(partition, seq);
CREATE INDEX labels_transaction ON labels(transaction_id, seq);
CREATE TABLE snapshots(model_key TEXT PRIMARY KEY, seq INTEGER NOT NULL,
    created_ms INTEGER NOT NULL, bytes BLOB NOT NULL, chunks INTEGER NOT NULL DEFAULT 0);
CREATE TABLE snapshot_chunks(model_key TEXT NOT NULL, seq INTEGER NOT NULL, idx INTEGER NOT NULL,
    bytes BLOB NOT NULL, PRIMARY KEY(model_key, seq, idx)) WITHOUT ROWID;
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 40000)
INSERT INTO transactions SELECT 0, x, 'old-' || x, x, x, 'c', 't', 1.0, '{}', 0.5,
    CASE WHEN x % 100 = 0 THEN 'review' ELSE 'allow' END, '[]', 'm1' FROM n;
)sql");
    }
    auto s = OpenStore(dir.Url("v3.db"));
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    {
        RawDb raw(dir.File("v3.db"));
        EXPECT_EQ(raw.Exec("SELECT count(*) FROM id_runs WHERE level = 0"),
                  std::to_string(40000 / IdIndex::kRunEntries));
        EXPECT_EQ(raw.Exec("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                           "tbl_name = 'transactions' AND name LIKE 'sqlite_autoindex%'"),
                  "0");
    }
    EXPECT_EQ((**(*s)->GetTransaction("old-1")).seq, 1u);
    EXPECT_EQ((**(*s)->GetTransaction("old-40000")).seq, 40000u);
    EXPECT_EQ((*s)->Alerts({.since_ms = 0, .limit = 1000})->size(), 400u);
    EXPECT_EQ(*(*s)->Append(std::vector{MakeTx(40001, "old-17"), MakeTx(40002, "old-39999"),
                                        MakeTx(40003, "new")},
                            {}),
              1u);
}

// What the index is for: a random id costs the write-ahead log a few bytes of run, not a
// rewritten leaf of a B-tree index. Commits of 32 scattered ids, log never checkpointed: with
// the UNIQUE index on the column (schema version 3, this test built against e30900e) this took
// 5,769 bytes of log a row; with the runs 735.
TEST(SqliteIdIndex, ScatteredIdsWriteLittleLog) {
    TempDir dir;
    auto s = OpenStore(dir.Url("ids.db", "?wal_limit_mb=0"));
    ASSERT_TRUE(s.has_value());
    (*s)->SetAutoCheckpoint(false);
    const std::string wal = dir.File("ids.db") + "-wal";
    AppendRange(**s, 1, 60000, 32);
    const auto before = std::filesystem::file_size(wal);
    AppendRange(**s, 60001, 32000, 32);
    const double per_row = static_cast<double>(std::filesystem::file_size(wal) - before) / 32000;
    std::printf("log bytes per stored transaction: %.0f\n", per_row);
    EXPECT_LT(per_row, 1500.0);
}

}  // namespace
}  // namespace txguard
