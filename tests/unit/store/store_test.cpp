#include "txguard/store/store.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "store/sqlite_snapshot_file.hpp"
#include "store/sqlite_store.hpp"
#include "store/store_url.hpp"
#include "store_test_util.hpp"

namespace txguard {
namespace {

using store_test::MakeLabel;
using store_test::MakeTx;
using store_test::RawDb;
using store_test::TempDir;

double ThreadCpuSeconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::unique_ptr<Store> MustOpen(const std::string& url) {
    auto s = OpenStore(url);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().ToString());
    return s ? std::move(*s) : nullptr;
}

TEST(StoreUrl, ParsesPathsAndOptions) {
    using store_detail::ParseSqliteUrl;
    EXPECT_EQ(ParseSqliteUrl("sqlite:///abs/path.db")->path, "/abs/path.db");
    EXPECT_EQ(ParseSqliteUrl("sqlite://rel/path.db")->path, "rel/path.db");
    EXPECT_EQ(ParseSqliteUrl("sqlite::memory:")->path, ":memory:");
    auto plain = ParseSqliteUrl("sqlite:///a.db");
    EXPECT_FALSE(plain->synchronous_full);
    EXPECT_EQ(plain->busy_timeout_ms, 5000);
    EXPECT_EQ(plain->wal_limit_mb, 1024);
    auto opts =
        ParseSqliteUrl("sqlite:///a.db?synchronous=full&busy_timeout_ms=250&wal_limit_mb=0");
    ASSERT_TRUE(opts.has_value()) << opts.error().ToString();
    EXPECT_EQ(opts->path, "/a.db");
    EXPECT_TRUE(opts->synchronous_full);
    EXPECT_EQ(opts->busy_timeout_ms, 250);
    EXPECT_EQ(opts->wal_limit_mb, 0);
    EXPECT_EQ(ParseSqliteUrl("sqlite:///a.db?wal_limit_mb=64")->wal_limit_mb, 64);
    EXPECT_FALSE(ParseSqliteUrl("sqlite:///a.db?synchronous=normal")->synchronous_full);
    for (const char* bad : {"sqlite://", "sqlite:///", "sqlite:///a.db?synchronous=sometimes",
                            "sqlite:///a.db?busy_timeout_ms=-1", "sqlite:///a.db?busy_timeout_ms=x",
                            "sqlite:///a.db?wal_limit_mb=-5", "sqlite:///a.db?wal_limit_mb=",
                            "sqlite:///a.db?cache=big", "sqlite:a.db"}) {
        auto r = ParseSqliteUrl(bad);
        ASSERT_FALSE(r.has_value()) << bad;
        EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
        EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
    }
}

// 32 transactions whose ids land all over the id index, as UUIDs do (many pages a commit).
std::vector<StoredTransaction> ScatteredBatch(std::uint64_t& seq, std::uint32_t partition = 0) {
    std::vector<StoredTransaction> batch;
    for (int i = 0; i < 32; ++i) {
        ++seq;
        auto tx = MakeTx(seq, std::to_string(partition) + "-" +
                                  std::to_string((seq * 2654435761u) % 1000003) + "-" +
                                  std::to_string(seq));
        tx.partition = partition;
        batch.push_back(std::move(tx));
    }
    return batch;
}

// The service's pair: a writer with automatic checkpoints off, and a connection that
// checkpoints it. Null stores when either cannot be opened.
std::pair<std::unique_ptr<Store>, std::unique_ptr<Store>> WriterAndCheckpointer(
    const std::string& url) {
    auto writer = OpenStore(url);
    auto checkpointer = OpenStore(url);
    EXPECT_TRUE(writer.has_value() && checkpointer.has_value());
    if (!writer || !checkpointer) return {};
    (*writer)->SetAutoCheckpoint(false);
    return {std::move(*writer), std::move(*checkpointer)};
}

// The service's arrangement: one connection appends without pause (automatic checkpoints off),
// another checkpoints every few milliseconds. Passive checkpoints alone never let the log start
// over while commits keep coming (each ends behind the commits made while it ran), so the log
// file only grew: with ?wal_limit_mb=0 here it reached 437 MiB with the B-tree id index of
// schema version 3 (half as many batches), 143 MiB with the id index's runs (less log a row).
// With a limit the checkpointer restarts the log: 13-16 MiB at most in three runs, 33 MiB once
// in a full parallel test run (half as many batches) that starved the checkpointer's thread.
TEST(SqliteStore, CheckpointsRestartTheLogUnderContinuousCommits) {
    TempDir dir;
    const std::string url = dir.Url("wal.db", "?wal_limit_mb=1");
    auto [writer, checkpointer] = WriterAndCheckpointer(url);
    ASSERT_TRUE(writer && checkpointer);
    std::atomic<bool> done{false};
    std::atomic<int> checkpoints{0};
    std::thread ckpt([&] {
        while (!done.load()) {
            EXPECT_TRUE(checkpointer->Checkpoint().has_value());
            ++checkpoints;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    const std::string wal = dir.File("wal.db") + "-wal";
    std::uintmax_t size = 0, largest = 0;
    int shrank = 0;
    std::uint64_t seq = 0;
    for (int b = 0; b < 6000; ++b) {
        auto r = writer->Append(ScatteredBatch(seq), {});
        ASSERT_TRUE(r.has_value()) << r.error().ToString();
        const std::uintmax_t now = std::filesystem::file_size(wal);
        if (now < size) ++shrank;
        size = now;
        largest = std::max(largest, now);
    }
    done = true;
    ckpt.join();
    EXPECT_GT(checkpoints.load(), 10);
    EXPECT_GE(checkpointer->LogRestarts(), 3u);
    EXPECT_EQ(writer->LogRestarts(), 0u);  // its checkpoints are off
    EXPECT_EQ(*writer->CountTransactions(), seq);
    std::printf("largest log: %ju KiB; it shrank %d times\n", largest >> 10, shrank);
    // The limit, plus what is committed while the checkpointer syncs before a restart (the
    // writer here commits far faster than the service does). The log restarts from its start
    // without shrinking unless it outgrew twice the limit (journal_size_limit).
    EXPECT_LE(largest, std::uintmax_t{64} << 20) << (largest >> 20) << " MiB";
}

// Two writers on one file with automatic checkpoints, as stream workers in two processes run:
// each one's checkpoint (SQLite's own automatic one is passive) ends behind the other's
// commits, so the log never started over (342 MiB here before the store's own automatic
// checkpoint, with schema version 3's id index). The store's automatic checkpoint restarts it
// (12-17 MiB at most in 5 runs; 150 MiB with ?wal_limit_mb=0).
TEST(SqliteStore, TwoWritersWithAutomaticCheckpointsRestartTheLog) {
    TempDir dir;
    const std::string url = dir.Url("wal.db", "?wal_limit_mb=1");
    const std::string wal = dir.File("wal.db") + "-wal";
    std::atomic<int> shrank{0};
    std::atomic<std::uint64_t> restarts{0};
    std::atomic<std::uintmax_t> largest{0};
    auto write = [&](int who) {
        auto store = OpenStore(url);
        ASSERT_TRUE(store.has_value()) << store.error().ToString();
        struct Count {
            Store& s;
            std::atomic<std::uint64_t>& n;
            ~Count() { n += s.LogRestarts(); }
        } count{**store, restarts};
        std::uintmax_t size = 0;
        std::uint64_t seq = 0;
        for (int b = 0; b < 3000; ++b) {
            auto r = (*store)->Append(ScatteredBatch(seq, static_cast<std::uint32_t>(who)), {});
            ASSERT_TRUE(r.has_value()) << r.error().ToString();
            std::error_code ec;
            const std::uintmax_t now = std::filesystem::file_size(wal, ec);
            if (now < size) ++shrank;
            size = now;
            std::uintmax_t seen = largest.load();
            while (now > seen && !largest.compare_exchange_weak(seen, now)) {
            }
        }
    };
    std::thread other(write, 1);
    write(0);
    other.join();
    std::printf("largest log: %ju KiB; it shrank %d times, restarted %ju times\n",
                largest.load() >> 10, shrank.load(), static_cast<std::uintmax_t>(restarts.load()));
    EXPECT_GE(restarts.load(), 3u);
    EXPECT_LE(largest.load(), std::uintmax_t{64} << 20) << (largest.load() >> 20) << " MiB";
}

// A restart holds the write lock while it waits for readers of the old log. A reader that
// keeps its read transaction open for 1.5 s (here a replay whose visitor sleeps) must not hold
// the writer for that long: the restart gives up after ~100 ms and tries again later. (Waiting
// the whole busy timeout, the writer's slowest append here took the reader's 1.5 s.)
TEST(SqliteStore, ALongReaderDoesNotStallTheWriterThroughALogRestart) {
    TempDir dir;
    const std::string url = dir.Url("wal.db", "?wal_limit_mb=1");
    auto [writer, checkpointer] = WriterAndCheckpointer(url);
    ASSERT_TRUE(writer && checkpointer);
    auto reader = OpenStore(url);
    ASSERT_TRUE(reader.has_value()) << reader.error().ToString();
    std::uint64_t seq = 0;
    auto append = [&] {
        auto batch = ScatteredBatch(seq);
        const auto t0 = std::chrono::steady_clock::now();
        auto r = writer->Append(batch, {});
        EXPECT_TRUE(r.has_value()) << r.error().ToString();
        return std::chrono::steady_clock::now() - t0;
    };
    for (int b = 0; b < 10; ++b) append();
    std::atomic<bool> reading{false}, done{false};
    std::thread read([&] {
        bool slept = false;
        auto r = (*reader)->ForEachEvent(0, [&](const StoredEvent&) -> Result<void> {
            if (!slept) {
                reading = true;
                std::this_thread::sleep_for(std::chrono::milliseconds(1500));
                slept = true;
            }
            return Ok();
        });
        EXPECT_TRUE(r.has_value());
    });
    while (!reading.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::thread ckpt([&] {
        while (!done.load()) {
            EXPECT_TRUE(checkpointer->Checkpoint().has_value());
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    std::chrono::steady_clock::duration slowest{};
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1400);
    while (std::chrono::steady_clock::now() < until) slowest = std::max(slowest, append());
    done = true;
    ckpt.join();
    read.join();
    EXPECT_LT(slowest, std::chrono::milliseconds(700))
        << std::chrono::duration<double, std::milli>(slowest).count() << " ms";
}

TEST(OpenStore, SchemeErrors) {
    auto r = OpenStore("mysql://root:hunter2@localhost/db");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("mysql://root:***@localhost/db"), std::string::npos)
        << r.error().message;
    const std::string all = r.error().ToString();
    EXPECT_EQ(all.find("hunter2"), std::string::npos) << all;
    EXPECT_NE(all.find("sqlite:///"), std::string::npos) << all;
    EXPECT_NE(all.find("sqlite::memory:"), std::string::npos) << all;
    EXPECT_NE(all.find("postgresql://"), std::string::npos) << all;
}

TEST(StoreUrl, PostgresUrlsAndPasswordMasking) {
    using store_detail::MaskPassword;
    using store_detail::ParsePostgresUrl;
    EXPECT_EQ(MaskPassword("postgresql://u:secret@h:5432/db"), "postgresql://u:***@h:5432/db");
    EXPECT_EQ(MaskPassword("postgres://u:p@ss:w@rd@h/db?x=1"), "postgres://u:***@h/db?x=1");
    EXPECT_EQ(MaskPassword("postgresql://u@h/db"), "postgresql://u@h/db");
    EXPECT_EQ(MaskPassword("postgresql://h:5432/db"), "postgresql://h:5432/db");
    EXPECT_EQ(MaskPassword("postgresql:///db?host=/tmp&password=pw&user=u"),
              "postgresql:///db?host=/tmp&password=***&user=u");
    auto p = ParsePostgresUrl("postgresql://u:pw@h/db?sslmode=disable&copy_min_rows=128");
    ASSERT_TRUE(p.has_value()) << p.error().ToString();
    EXPECT_EQ(p->conninfo, "postgresql://u:pw@h/db?sslmode=disable");  // txguard's option removed
    EXPECT_EQ(p->masked, "postgresql://u:***@h/db?sslmode=disable&copy_min_rows=128");
    EXPECT_EQ(p->copy_min_rows, 128u);
    EXPECT_EQ(ParsePostgresUrl("postgres://h/db")->conninfo, "postgres://h/db");
    EXPECT_EQ(ParsePostgresUrl("postgres://h/db?copy_min_rows=1")->conninfo, "postgres://h/db");
    for (const char* bad :
         {"postgresql://u:pw@h/db?copy_min_rows=0", "postgresql://u:pw@h/db?copy_min_rows=x"}) {
        auto r = ParsePostgresUrl(bad);
        ASSERT_FALSE(r.has_value()) << bad;
        EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
        EXPECT_EQ(r.error().message.find("pw@"), std::string::npos) << r.error().message;
    }
}

TEST(OpenStore, PostgresServerDownIsAnErrorNamingTheUrl) {
    // A port nothing listens on (bound, never listened).
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    const std::string url =
        "postgresql://u:topsecret@127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) +
        "/db?connect_timeout=5";
    auto r = OpenStore(url);
    close(fd);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kIo);
    EXPECT_NE(r.error().message.find("cannot connect to store postgresql://u:***@127.0.0.1:"),
              std::string::npos)
        << r.error().message;
    EXPECT_EQ(r.error().ToString().find("topsecret"), std::string::npos) << r.error().ToString();
}

TEST(OpenStore, MissingDirectoryAndGarbageFileAreErrors) {
    TempDir dir;
    const std::string missing = dir.Url("no/such/dir/store.db");
    auto r = OpenStore(missing);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kIo);
    EXPECT_NE(r.error().message.find(dir.File("no/such/dir/store.db")), std::string::npos)
        << r.error().message;
    EXPECT_FALSE(std::filesystem::exists(dir.File("no")));  // no directory created

    std::ofstream(dir.File("garbage.db")) << std::string(8192, 'x');
    auto g = OpenStore(dir.Url("garbage.db"));
    ASSERT_FALSE(g.has_value());
    EXPECT_NE(g.error().message.find(dir.Url("garbage.db")), std::string::npos)
        << g.error().message;
}

TEST(OpenStore, RelativePathAndMemory) {
    TempDir dir;
    const auto cwd = std::filesystem::current_path();
    std::filesystem::current_path(dir.path());
    {
        auto s = MustOpen("sqlite://sub.db");
        ASSERT_TRUE(s);
        EXPECT_EQ(s->Url(), "sqlite://sub.db");
    }
    std::filesystem::current_path(cwd);
    EXPECT_TRUE(std::filesystem::exists(dir.File("sub.db")));
    auto m = MustOpen("sqlite::memory:");
    ASSERT_TRUE(m);
    ASSERT_TRUE(m->Append(std::vector{MakeTx(1, "a")}, {}).has_value());
    EXPECT_EQ(*m->CountTransactions(), 1u);
}

TEST(SqliteStore, AlertsUseThePartialIndex) {
    TempDir dir;
    auto s = MustOpen(dir.Url("s.db"));
    ASSERT_TRUE(s);
    RawDb raw(dir.File("s.db"));
    std::string plan;
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw.get(),
                                 "EXPLAIN QUERY PLAN SELECT * FROM transactions WHERE decision != "
                                 "'allow' AND ts_ms >= 5 ORDER BY ts_ms, seq, partition LIMIT 10",
                                 -1, &st, nullptr),
              SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        plan += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
        plan += "\n";
    }
    sqlite3_finalize(st);
    EXPECT_NE(plan.find("transactions_alerts"), std::string::npos) << plan;
    EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;  // no sort
}

// SQLite's memory statistics are off (each allocation would take a global mutex): in a fresh
// process (the "threadsafe" death-test style re-runs this test alone), a store that has stored
// transactions reports no memory in use, which SQLite only counts with the statistics on.
TEST(SqliteStore, MemoryStatisticsAreOff) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            TempDir dir;
            auto s = OpenStore(dir.Url("s.db"));
            if (!s) std::_Exit(2);
            std::vector<StoredTransaction> txs;
            for (int i = 0; i < 50; ++i)
                txs.push_back(MakeTx(static_cast<std::uint64_t>(i + 1), "t" + std::to_string(i)));
            if (!(*s)->Append(txs, {})) std::_Exit(3);
            std::_Exit(sqlite3_memory_used() == 0 ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "");
}

TEST(SqliteStore, NewerSchemaIsRefused) {
    TempDir dir;
    const std::string url = dir.Url("s.db");
    ASSERT_TRUE(MustOpen(url));
    {
        RawDb raw(dir.File("s.db"));
        EXPECT_EQ(raw.Exec("SELECT version FROM schema_version"),
                  std::to_string(store_detail::SqliteSchemaVersion()));
        raw.Exec("UPDATE schema_version SET version = 99");
    }
    auto r = OpenStore(url);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kIncompatible);
    EXPECT_EQ(r.error().message, "store " + url +
                                     " has schema version 99, this txguard knows up to " +
                                     std::to_string(store_detail::SqliteSchemaVersion()));
}

std::vector<std::string> FilesIn(const std::filesystem::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// A store on a file keeps its snapshots in files beside the database, written in pieces through
// OpenSnapshot and visible only once committed; nothing goes into the database or its log.
TEST(SqliteStore, SnapshotsAreFilesBesideTheDatabase) {
    TempDir dir;
    auto s = MustOpen(dir.Url("s.db"));
    ASSERT_TRUE(s);
    const std::string big(3u << 20, 'b');
    ASSERT_TRUE(s->PutSnapshot({1, "k", big, 1}));
    const std::string file = store_detail::SnapshotFilePath(dir.File("s.db"), "k");
    ASSERT_TRUE(std::filesystem::exists(file));
    EXPECT_GT(std::filesystem::file_size(file), big.size());
    {
        RawDb raw(dir.File("s.db"));
        EXPECT_EQ(raw.Exec("SELECT count(*) FROM snapshots"), "0");
        EXPECT_EQ(raw.Exec("SELECT count(*) FROM snapshot_chunks"), "0");
    }
    // Temporary files of a writer that died are removed by the next snapshot of the key; those
    // of a live process (pid 1 here) are left alone.
    const std::string dead = file + ".tmp-999999999-0", live = file + ".tmp-1-0";
    std::ofstream(dead) << "x";
    std::ofstream(live) << "x";
    ASSERT_TRUE(s->PutSnapshot({1, "k", big, 1}));
    EXPECT_FALSE(std::filesystem::exists(dead));
    EXPECT_TRUE(std::filesystem::exists(live));
    std::filesystem::remove(live);
    // In pieces; nothing shows until Commit, and a sink dropped uncommitted leaves no file.
    const auto before = FilesIn(dir.path());
    {
        auto sink = s->OpenSnapshot({2, "k", "", 2});
        ASSERT_TRUE(sink);
        ASSERT_TRUE((*sink)->Append(big));
        EXPECT_EQ(FilesIn(dir.path()).size(), before.size() + 1);  // its temporary file
        EXPECT_EQ((*s->LatestSnapshot("k"))->seq, 1u);
    }
    EXPECT_EQ(FilesIn(dir.path()), before);
    {
        auto sink = s->OpenSnapshot({3, "k", "", 3});
        ASSERT_TRUE(sink);
        ASSERT_TRUE((*sink)->Append("ab"));
        ASSERT_TRUE((*sink)->Append(""));
        ASSERT_TRUE((*sink)->Append(std::string("\0c", 2)));
        ASSERT_TRUE((*sink)->Commit());
    }
    EXPECT_EQ(FilesIn(dir.path()), before);
    auto got = s->LatestSnapshot("k");
    ASSERT_TRUE(got.has_value() && got->has_value());
    EXPECT_EQ((*got)->seq, 3u);
    EXPECT_EQ((*got)->created_ms, 3);
    EXPECT_EQ((*got)->model_key, "k");
    EXPECT_EQ((*got)->bytes, std::string("ab\0c", 4));
    // Another connection (another process would do the same) reads it.
    EXPECT_EQ((*MustOpen(dir.Url("s.db"))->LatestSnapshot("k"))->seq, 3u);
    // Damage is reported with the file's path, not returned.
    const auto damaged = [&](const std::string& expect) {
        auto r = s->LatestSnapshot("k");
        ASSERT_FALSE(r.has_value()) << expect;
        EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
        EXPECT_NE(r.error().message.find(expect), std::string::npos) << r.error().message;
        EXPECT_NE(r.error().message.find(file), std::string::npos) << r.error().message;
    };
    ASSERT_TRUE(s->PutSnapshot({4, "k", big, 4}));
    const auto size = std::filesystem::file_size(file);
    {
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(size / 2));
        f.put('x');
    }
    damaged("checksum mismatch");
    std::filesystem::resize_file(file, size - 3);
    damaged("truncated");
    std::filesystem::resize_file(file, 5);
    damaged("too short");
    // Every cut and every flipped byte of a small file is refused as damaged, never read.
    ASSERT_TRUE(s->PutSnapshot({6, "k", "a small snapshot", 6}));
    std::string sound;
    {
        std::ifstream in(file, std::ios::binary);
        sound.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const auto refused = [&](const std::string& content, const std::string& what) {
        std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
        auto r = s->LatestSnapshot("k");
        ASSERT_FALSE(r.has_value()) << what;
        EXPECT_EQ(r.error().code, ErrorCode::kCorrupt) << what;
    };
    for (std::size_t n = 0; n < sound.size(); ++n) refused(sound.substr(0, n), "cut");
    for (std::size_t i = 0; i < sound.size(); ++i) {
        std::string flipped = sound;
        flipped[i] = static_cast<char>(flipped[i] ^ 0x10);
        refused(flipped, "byte " + std::to_string(i));
    }
    std::ofstream(file, std::ios::binary | std::ios::trunc) << sound;
    EXPECT_EQ((*s->LatestSnapshot("k"))->bytes, "a small snapshot");
    // A file left beside a database that was deleted and created again is not that database's.
    ASSERT_TRUE(s->PutSnapshot({5, "k", "five", 5}));
    s.reset();
    for (const char* f : {"s.db", "s.db-wal", "s.db-shm"}) std::filesystem::remove(dir.File(f));
    auto again = MustOpen(dir.Url("s.db"));
    ASSERT_TRUE(again);
    ASSERT_TRUE(std::filesystem::exists(file));
    EXPECT_FALSE(again->LatestSnapshot("k")->has_value());
}

// Snapshots that earlier versions stored in the database, inline or in pieces, are still read;
// the first snapshot written to a file for the key drops them.
TEST(SqliteStore, SnapshotsStoredInTheDatabaseByEarlierVersionsAreRead) {
    TempDir dir;
    auto s = MustOpen(dir.Url("s.db"));
    ASSERT_TRUE(s);
    {
        RawDb raw(dir.File("s.db"));
        raw.Exec(
            "INSERT INTO snapshots VALUES('k', 7, 70, x'', 2);"
            "INSERT INTO snapshot_chunks VALUES('k', 7, 0, x'0102'), ('k', 7, 1, x'03');"
            "INSERT INTO snapshots VALUES('j', 8, 80, x'09', 0)");
    }
    auto k = s->LatestSnapshot("k");
    ASSERT_TRUE(k.has_value() && k->has_value());
    EXPECT_EQ((*k)->seq, 7u);
    EXPECT_EQ((*k)->bytes, "\x01\x02\x03");
    EXPECT_EQ((*s->LatestSnapshot("j"))->bytes, "\x09");
    {
        RawDb raw(dir.File("s.db"));
        raw.Exec("DELETE FROM snapshot_chunks WHERE idx = 1");
    }
    auto missing = s->LatestSnapshot("k");
    ASSERT_FALSE(missing.has_value());
    EXPECT_EQ(missing.error().code, ErrorCode::kCorrupt);
    EXPECT_NE(missing.error().message.find("has 1 of its 2 pieces"), std::string::npos)
        << missing.error().message;
    ASSERT_TRUE(s->PutSnapshot({9, "k", "new", 9}));
    EXPECT_EQ((*s->LatestSnapshot("k"))->bytes, "new");
    RawDb raw(dir.File("s.db"));
    EXPECT_EQ(raw.Exec("SELECT group_concat(model_key) FROM snapshots"), "j");
    EXPECT_EQ(raw.Exec("SELECT count(*) FROM snapshot_chunks"), "0");
}

// A database written by a txguard before partitions (schema version 1) is migrated on open:
// its events land in partition 0, unchanged, and the seq rules become per partition.
TEST(SqliteStore, MigratesAVersion1Database) {
    TempDir dir;
    {
        RawDb raw(dir.File("v1.db"));
        raw.Exec(R"sql(
PRAGMA journal_mode=WAL;
CREATE TABLE schema_version(version INTEGER NOT NULL);
INSERT INTO schema_version VALUES(1);
CREATE TABLE transactions(
    seq INTEGER PRIMARY KEY, transaction_id TEXT NOT NULL UNIQUE, ts_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL, customer_id TEXT NOT NULL, terminal_id TEXT NOT NULL,
    amount REAL, fields_json TEXT NOT NULL, score REAL, decision TEXT NOT NULL,
    reasons_json TEXT NOT NULL, model_version TEXT NOT NULL);
CREATE INDEX transactions_alerts ON transactions(ts_ms, seq) WHERE decision != 'allow';
CREATE TABLE labels(seq INTEGER PRIMARY KEY, transaction_id TEXT NOT NULL,
    label INTEGER NOT NULL, known_at_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL);
CREATE INDEX labels_transaction ON labels(transaction_id, seq);
CREATE TABLE snapshots(model_key TEXT PRIMARY KEY, seq INTEGER NOT NULL,
    created_ms INTEGER NOT NULL, bytes BLOB NOT NULL);
INSERT INTO transactions VALUES(1, 'a', 100, 105, 'c1', 't1', 12.5, '{}', NULL, 'block', '[]', 'm1');
INSERT INTO transactions VALUES(3, 'b', 200, 205, 'c2', 't2', 7.25, '{"x":1}', 0.25, 'allow', '[]', 'm1');
INSERT INTO labels VALUES(2, 'a', 1, 20, 21);
INSERT INTO snapshots VALUES('k', 3, 9, x'00ff');
)sql");
    }
    auto s = MustOpen(dir.Url("v1.db"));
    ASSERT_TRUE(s);
    {
        RawDb raw(dir.File("v1.db"));
        EXPECT_EQ(raw.Exec("SELECT version FROM schema_version"),
                  std::to_string(store_detail::SqliteSchemaVersion()));
        EXPECT_EQ(raw.Exec("SELECT count(*) FROM schema_version"), "1");
    }
    auto a = s->GetTransaction("a");
    ASSERT_TRUE(a.has_value() && a->has_value());
    EXPECT_EQ((*a)->partition, 0u);
    EXPECT_EQ((*a)->seq, 1u);
    EXPECT_EQ((*a)->amount, 12.5);
    EXPECT_TRUE(std::isnan((*a)->score));
    EXPECT_EQ((*s->GetTransaction("b"))->fields_json, R"({"x":1})");
    EXPECT_EQ((*s->GetLabel("a"))->known_at_ms, 20);
    EXPECT_EQ((*s->LatestSnapshot("k"))->bytes, std::string("\0\xff", 2));
    std::string trace;
    ASSERT_TRUE(s->ForEachEvent(0, [&](const StoredEvent& e) -> Result<void> {
        trace += std::to_string(e.seq()) + (e.transaction ? "T" : "L");
        return Ok();
    }));
    EXPECT_EQ(trace, "1T2L3T");
    EXPECT_EQ(*s->MaxSeq(), 3u);
    EXPECT_EQ(s->Alerts({})->size(), 1u);
    // Now seq 1 is free in partition 1, taken in partition 0; ids stay globally unique.
    EXPECT_EQ(*s->Append(std::vector{[] {
                             auto t = MakeTx(1, "c");
                             t.partition = 1;
                             return t;
                         }()},
                         {}),
              1u);
    EXPECT_FALSE(s->Append(std::vector{MakeTx(1, "d")}, {}).has_value());
    EXPECT_EQ(*s->Append(std::vector{MakeTx(4, "a")}, {}), 0u);
    s.reset();
    EXPECT_TRUE(MustOpen(dir.Url("v1.db")));  // reopening a migrated database is a no-op
}

// Replay of one partition walks the (partition, seq) indexes: no sort, no full scan.
TEST(SqliteStore, PartitionQueriesUseTheSeqIndexes) {
    TempDir dir;
    auto s = MustOpen(dir.Url("s.db"));
    ASSERT_TRUE(s);
    RawDb raw(dir.File("s.db"));
    auto plan = [&](const std::string& sql) {
        std::string out;
        sqlite3_stmt* st = nullptr;
        EXPECT_EQ(
            sqlite3_prepare_v2(raw.get(), ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &st, nullptr),
            SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            out += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
            out += "\n";
        }
        sqlite3_finalize(st);
        return out;
    };
    for (const auto& [sql, index] : std::vector<std::pair<std::string, std::string>>{
             {"SELECT * FROM transactions WHERE partition = 1 AND seq > 5 ORDER BY seq",
              "transactions_seq"},
             {"SELECT * FROM labels WHERE partition = 1 AND seq > 5 ORDER BY seq", "labels_seq"},
             {"SELECT max(seq) FROM labels WHERE partition = 1", "labels_seq"}}) {
        const std::string p = plan(sql);
        EXPECT_NE(p.find(index), std::string::npos) << sql << "\n" << p;
        EXPECT_EQ(p.find("TEMP B-TREE"), std::string::npos) << sql << "\n" << p;
    }
}

// Measures Append (batches of 1000 transactions, ~200-byte fields_json, file database) and the
// ForEachEvent replay rate; prints both. The floors are far below the targets (shared CI cores).
TEST(SqlitePerf, AppendAndReplayThroughput) {
    TempDir dir;
    auto s = MustOpen(dir.Url("perf.db"));
    ASSERT_TRUE(s);
    constexpr int kBatches = 300;
    constexpr int kBatch = 1000;
    std::vector<std::vector<StoredTransaction>> batches(kBatches);
    std::uint64_t seq = 0;
    for (auto& b : batches) {
        b.reserve(kBatch);
        for (int i = 0; i < kBatch; ++i) {
            ++seq;
            auto tx = MakeTx(seq, "tx-" + std::to_string(seq) + "-abcdef", 1522540800000 + seq,
                             seq % 50 == 0 ? "review" : "allow");
            tx.fields_json =
                R"({"TRANSACTION_ID":")" + tx.transaction_id +
                R"(","TX_DATETIME":"2018-04-01 00:00:31","CUSTOMER_ID":"596","TERMINAL_ID":"3156",)"
                R"("TX_AMOUNT":57.16,"TX_TIME_SECONDS":31,"TX_TIME_DAYS":0,"TX_FRAUD_SCENARIO":0,"extra":"pad"})";
            tx.reasons_json = R"([{"feature":"amount","value":57.16,"contribution":0.12}])";
            b.push_back(std::move(tx));
        }
    }
    EXPECT_GE(batches[0][0].fields_json.size(), 190u);
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = ThreadCpuSeconds();
    for (const auto& b : batches) {
        auto r = s->Append(b, {});
        ASSERT_TRUE(r.has_value()) << r.error().ToString();
        ASSERT_EQ(*r, static_cast<std::size_t>(kBatch));
    }
    const double append_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double append_cpu_s = ThreadCpuSeconds() - cpu0;
    const double append_rate = kBatches * kBatch / append_s;

    std::vector<StoredLabel> labels;
    for (std::uint64_t i = 1; i <= 50000; ++i) labels.push_back(MakeLabel(seq + i, "x", 1));
    ASSERT_TRUE(s->Append({}, labels));
    const auto t1 = std::chrono::steady_clock::now();
    std::size_t events = 0;
    double sum = 0;
    ASSERT_TRUE(s->ForEachEvent(0, [&](const StoredEvent& e) -> Result<void> {
        ++events;
        if (e.transaction) sum += e.transaction->amount;
        return Ok();
    }));
    const double replay_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    const double replay_rate = static_cast<double>(events) / replay_s;
    EXPECT_EQ(events, static_cast<std::size_t>(kBatches * kBatch + 50000));
    EXPECT_GT(sum, 0.0);
    std::printf(
        "[ perf ] Append: %d x %d transactions in %.3f s = %.0f transactions/s"
        " (%.3f s CPU = %.0f transactions per CPU-second)\n",
        kBatches, kBatch, append_s, append_rate, append_cpu_s, kBatches * kBatch / append_cpu_s);
    std::printf("[ perf ] ForEachEvent: %zu events in %.3f s = %.0f events/s\n", events, replay_s,
                replay_rate);
    EXPECT_GT(append_rate, 20000.0);
    EXPECT_GT(replay_rate, 50000.0);
}

}  // namespace
}  // namespace txguard
