#include "txguard/store/store.hpp"

#include <gtest/gtest.h>
#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>

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
    auto opts = ParseSqliteUrl("sqlite:///a.db?synchronous=full&busy_timeout_ms=250");
    ASSERT_TRUE(opts.has_value()) << opts.error().ToString();
    EXPECT_EQ(opts->path, "/a.db");
    EXPECT_TRUE(opts->synchronous_full);
    EXPECT_EQ(opts->busy_timeout_ms, 250);
    EXPECT_FALSE(ParseSqliteUrl("sqlite:///a.db?synchronous=normal")->synchronous_full);
    for (const char* bad : {"sqlite://", "sqlite:///", "sqlite:///a.db?synchronous=sometimes",
                            "sqlite:///a.db?busy_timeout_ms=-1", "sqlite:///a.db?busy_timeout_ms=x",
                            "sqlite:///a.db?cache=big", "sqlite:a.db"}) {
        auto r = ParseSqliteUrl(bad);
        ASSERT_FALSE(r.has_value()) << bad;
        EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
        EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
    }
}

TEST(OpenStore, SchemeErrors) {
    for (const char* pg : {"postgresql://u:p@localhost/txguard", "postgres://localhost/x"}) {
        auto r = OpenStore(pg);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
        EXPECT_EQ(r.error().message,
                  "PostgreSQL store is not built yet (issue 7); use sqlite:///path");
    }
    auto r = OpenStore("mysql://localhost/db");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("mysql://localhost/db"), std::string::npos);
    const std::string all = r.error().ToString();
    EXPECT_NE(all.find("sqlite:///"), std::string::npos) << all;
    EXPECT_NE(all.find("sqlite::memory:"), std::string::npos) << all;
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

TEST(SqliteStore, RoundTripsEveryField) {
    auto s = MustOpen("sqlite::memory:");
    ASSERT_TRUE(s);
    StoredTransaction tx;
    tx.seq = 42;
    tx.transaction_id = "tx-\"quoted\"-é";
    tx.ts_ms = 1522540831250;
    tx.received_ms = 1700000000123;
    tx.customer_id = "cust 7";
    tx.terminal_id = "term\t9";
    tx.amount = 123.456;
    tx.fields_json = R"({"amount":123.456,"note":"a\u0000b"})";
    tx.score = 0.987654321;
    tx.decision = "block";
    tx.reasons_json = R"([{"feature":"amount","value":123.456,"contribution":0.3}])";
    tx.model_version = "iforest-3";
    std::string with_nul = "x";
    with_nul.push_back('\0');
    with_nul += "y";
    tx.customer_id = with_nul;  // embedded NUL survives (lengths are explicit)
    auto n = s->Append(std::vector{tx}, std::vector{MakeLabel(43, tx.transaction_id, 1)});
    ASSERT_TRUE(n.has_value()) << n.error().ToString();
    EXPECT_EQ(*n, 1u);

    auto got = s->GetTransaction(tx.transaction_id);
    ASSERT_TRUE(got.has_value());
    ASSERT_TRUE(got->has_value());
    const StoredTransaction& g = **got;
    EXPECT_EQ(g.seq, tx.seq);
    EXPECT_EQ(g.transaction_id, tx.transaction_id);
    EXPECT_EQ(g.ts_ms, tx.ts_ms);
    EXPECT_EQ(g.received_ms, tx.received_ms);
    EXPECT_EQ(g.customer_id, tx.customer_id);
    EXPECT_EQ(g.terminal_id, tx.terminal_id);
    EXPECT_EQ(g.amount, tx.amount);
    EXPECT_EQ(g.fields_json, tx.fields_json);
    EXPECT_EQ(g.score, tx.score);
    EXPECT_EQ(g.decision, tx.decision);
    EXPECT_EQ(g.reasons_json, tx.reasons_json);
    EXPECT_EQ(g.model_version, tx.model_version);

    auto label = s->GetLabel(tx.transaction_id);
    ASSERT_TRUE(label.has_value() && label->has_value());
    EXPECT_EQ((*label)->seq, 43u);
    EXPECT_EQ((*label)->transaction_id, tx.transaction_id);
    EXPECT_EQ((*label)->label, 1);
    EXPECT_EQ((*label)->known_at_ms, 430);
    EXPECT_EQ((*label)->received_ms, 431);

    EXPECT_FALSE(s->GetTransaction("nope")->has_value());
    EXPECT_FALSE(s->GetLabel("nope")->has_value());

    // NaN scores come back as NaN (SQLite keeps NaN as NULL).
    auto nan_tx = MakeTx(44, "nan");
    nan_tx.score = std::nan("");
    ASSERT_TRUE(s->Append(std::vector{nan_tx}, {}).has_value());
    EXPECT_TRUE(std::isnan((*s->GetTransaction("nan"))->score));
}

TEST(SqliteStore, DuplicateIdsAreSkippedAndCounted) {
    auto s = MustOpen("sqlite::memory:");
    ASSERT_TRUE(s);
    auto n = s->Append(std::vector{MakeTx(1, "a"), MakeTx(2, "b"), MakeTx(3, "a")}, {});
    ASSERT_TRUE(n.has_value()) << n.error().ToString();
    EXPECT_EQ(*n, 2u);  // the second "a" in the same batch is skipped
    n = s->Append(std::vector{MakeTx(4, "b"), MakeTx(5, "c")}, {});
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, 1u);
    n = s->Append(std::vector{MakeTx(1, "a")}, {});  // exact replay of a stored one
    ASSERT_TRUE(n.has_value()) << n.error().ToString();
    EXPECT_EQ(*n, 0u);
    EXPECT_EQ(*s->CountTransactions(), 3u);
    EXPECT_EQ((*s->GetTransaction("a"))->seq, 1u);  // the first write wins
    EXPECT_EQ(*s->MaxSeq(), 5u);
}

TEST(SqliteStore, FailedBatchIsRolledBackWhole) {
    auto s = MustOpen("sqlite::memory:");
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Append(std::vector{MakeTx(1, "a")}, {}).has_value());
    // seq 1 again under another id: a scorer bug, refused; nothing of the batch stays.
    auto r =
        s->Append(std::vector{MakeTx(2, "b"), MakeTx(1, "z")}, std::vector{MakeLabel(3, "a", 1)});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kIo);
    EXPECT_NE(r.error().message.find("sqlite::memory:"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("'z'"), std::string::npos) << r.error().message;
    EXPECT_EQ(*s->CountTransactions(), 1u);
    EXPECT_FALSE(s->GetTransaction("b")->has_value());
    EXPECT_FALSE(s->GetLabel("a")->has_value());
    // The store is still usable afterwards.
    EXPECT_EQ(*s->Append(std::vector{MakeTx(2, "b")}, {}), 1u);
}

TEST(SqliteStore, LatestLabelWins) {
    auto s = MustOpen("sqlite::memory:");
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Append(std::vector{MakeTx(1, "a")}, std::vector{MakeLabel(2, "a", 1)}));
    ASSERT_TRUE(s->Append({}, std::vector{MakeLabel(5, "a", 0), MakeLabel(3, "b", 1)}));
    ASSERT_TRUE(s->Append({}, std::vector{MakeLabel(4, "a", 1)}));
    auto l = s->GetLabel("a");
    ASSERT_TRUE(l.has_value() && l->has_value());
    EXPECT_EQ((*l)->seq, 5u);  // the highest seq, not the last written
    EXPECT_EQ((*l)->label, 0);
    EXPECT_EQ((*s->GetLabel("b"))->label, 1);  // a label may precede its transaction
    EXPECT_EQ(*s->MaxSeq(), 5u);
}

TEST(SqliteStore, AlertsOrderSinceAndLimit) {
    auto s = MustOpen("sqlite::memory:");
    ASSERT_TRUE(s);
    std::vector<StoredTransaction> txs = {
        MakeTx(1, "a", 500, "block"), MakeTx(2, "b", 100, "review"), MakeTx(3, "c", 300, "allow"),
        MakeTx(4, "d", 300, "block"), MakeTx(5, "e", 200, "review"), MakeTx(6, "f", 300, "review"),
        MakeTx(7, "g", 50, "block"),
    };
    ASSERT_TRUE(s->Append(txs, {}));
    auto ids = [&](AlertQuery q) {
        std::string out;
        auto r = s->Alerts(q);
        EXPECT_TRUE(r.has_value());
        for (const auto& t : *r) out += t.transaction_id;
        return out;
    };
    EXPECT_EQ(ids({0, 100}), "gbedfa");  // ts_ms, then seq; "c" is allowed
    EXPECT_EQ(ids({100, 100}), "bedfa");
    EXPECT_EQ(ids({300, 100}), "dfa");
    EXPECT_EQ(ids({100, 3}), "bed");
    EXPECT_EQ(ids({501, 100}), "");
    EXPECT_EQ(ids({0, 0}), "");
    auto full = s->Alerts({0, 1});
    ASSERT_EQ(full->size(), 1u);
    EXPECT_EQ((*full)[0].fields_json, txs[6].fields_json);
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
                                 "'allow' AND ts_ms >= 5 ORDER BY ts_ms, seq LIMIT 10",
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

TEST(SqliteStore, ForEachEventMergesBySeqAfterSeq) {
    auto s = MustOpen("sqlite::memory:");
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Append(std::vector{MakeTx(1, "a"), MakeTx(2, "b"), MakeTx(5, "c")},
                          std::vector{MakeLabel(3, "a", 1), MakeLabel(4, "b", 0)}));
    ASSERT_TRUE(s->Append(std::vector{MakeTx(7, "d")}, std::vector{MakeLabel(6, "c", 1)}));
    ASSERT_TRUE(s->Append({}, std::vector{MakeLabel(8, "d", 1), MakeLabel(9, "d", 0)}));
    auto trace = [&](std::uint64_t after) {
        std::string out;
        auto r = s->ForEachEvent(after, [&](const StoredEvent& e) -> Result<void> {
            EXPECT_NE(e.transaction.has_value(), e.label.has_value());
            out += std::to_string(e.seq());
            out +=
                e.transaction ? "T" + e.transaction->transaction_id : "L" + e.label->transaction_id;
            out += " ";
            return Ok();
        });
        EXPECT_TRUE(r.has_value());
        return out;
    };
    EXPECT_EQ(trace(0), "1Ta 2Tb 3La 4Lb 5Tc 6Lc 7Td 8Ld 9Ld ");
    EXPECT_EQ(trace(4), "5Tc 6Lc 7Td 8Ld 9Ld ");
    EXPECT_EQ(trace(7), "8Ld 9Ld ");
    EXPECT_EQ(trace(9), "");

    int visited = 0;
    auto r = s->ForEachEvent(0, [&](const StoredEvent& e) -> Result<void> {
        ++visited;
        if (e.seq() == 3) return MakeError(ErrorCode::kCorrupt, "stop at 3");
        return Ok();
    });
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
    EXPECT_EQ(r.error().message, "stop at 3");
    EXPECT_EQ(visited, 3);
    EXPECT_EQ(trace(8), "9Ld ");  // the stopped scan left nothing behind

    std::string ids;
    ASSERT_TRUE(s->ForEachTransactionId([&](std::string_view id, std::uint64_t seq) {
        ids += std::string(id) + std::to_string(seq);
    }));
    EXPECT_EQ(ids, "a1b2c5d7");
}

TEST(SqliteStore, EmptyStore) {
    auto s = MustOpen("sqlite::memory:");
    ASSERT_TRUE(s);
    EXPECT_EQ(*s->MaxSeq(), 0u);
    EXPECT_EQ(*s->CountTransactions(), 0u);
    EXPECT_EQ(*s->Append({}, {}), 0u);
    EXPECT_TRUE(s->Alerts({})->empty());
    EXPECT_FALSE(s->LatestSnapshot("k")->has_value());
    int n = 0;
    EXPECT_TRUE(s->ForEachEvent(0, [&](const StoredEvent&) -> Result<void> {
        ++n;
        return Ok();
    }));
    EXPECT_EQ(n, 0);
}

TEST(SqliteStore, SnapshotsPerModelKey) {
    auto s = MustOpen("sqlite::memory:");
    ASSERT_TRUE(s);
    std::string bytes(1000, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
    ASSERT_TRUE(s->PutSnapshot({10, "spec-a", bytes, 111}));
    ASSERT_TRUE(s->PutSnapshot({5, "spec-b", "bee", 112}));
    ASSERT_TRUE(s->PutSnapshot({20, "spec-a", bytes + "more", 113}));
    auto a = s->LatestSnapshot("spec-a");
    ASSERT_TRUE(a.has_value() && a->has_value());
    EXPECT_EQ((*a)->seq, 20u);
    EXPECT_EQ((*a)->model_key, "spec-a");
    EXPECT_EQ((*a)->bytes, bytes + "more");
    EXPECT_EQ((*a)->created_ms, 113);
    auto b = s->LatestSnapshot("spec-b");
    ASSERT_TRUE(b->has_value());
    EXPECT_EQ((*b)->bytes, "bee");
    EXPECT_EQ((*b)->seq, 5u);
    EXPECT_FALSE(s->LatestSnapshot("spec-c")->has_value());
    ASSERT_TRUE(s->PutSnapshot({21, "spec-c", "", 1}));
    EXPECT_EQ((*s->LatestSnapshot("spec-c"))->bytes, "");
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

TEST(SqliteStore, DataSurvivesReopenAndIsSharedBetweenConnections) {
    TempDir dir;
    const std::string url = dir.Url("s.db", "?synchronous=full");
    {
        auto s = MustOpen(url);
        ASSERT_TRUE(s);
        ASSERT_TRUE(
            s->Append(std::vector{MakeTx(1, "a", 10, "block")}, std::vector{MakeLabel(2, "a", 1)}));
        ASSERT_TRUE(s->PutSnapshot({2, "k", "state", 3}));
        auto reader = MustOpen(url);  // a second connection sees the commit
        ASSERT_TRUE(reader);
        EXPECT_TRUE((*reader->GetTransaction("a")).has_value());
    }
    {
        RawDb raw(dir.File("s.db"));
        EXPECT_EQ(raw.Exec("PRAGMA journal_mode"), "wal");
    }
    auto s = MustOpen(url);
    ASSERT_TRUE(s);
    EXPECT_EQ(*s->CountTransactions(), 1u);
    EXPECT_EQ(*s->MaxSeq(), 2u);
    EXPECT_EQ((*s->GetTransaction("a"))->decision, "block");
    EXPECT_EQ((*s->GetLabel("a"))->label, 1);
    EXPECT_EQ((*s->LatestSnapshot("k"))->bytes, "state");
    EXPECT_EQ(s->Alerts({})->size(), 1u);
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
