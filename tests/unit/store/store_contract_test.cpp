// The Store contract, run against every implementation: SQLite (a file per test) and PostgreSQL
// (a database per test on one real server per test binary, tests/support/postgres_server.hpp).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "store_test_util.hpp"
#include "txguard/store/store.hpp"

namespace txguard {
namespace {

using store_test::Backend;
using store_test::MakeLabel;
using store_test::MakeTx;
using store_test::TempDir;

StoredTransaction InPartition(StoredTransaction tx, std::uint32_t partition) {
    tx.partition = partition;
    return tx;
}

StoredLabel InPartition(StoredLabel label, std::uint32_t partition) {
    label.partition = partition;
    return label;
}

class StoreContract : public ::testing::TestWithParam<Backend> {
  protected:
    // A new empty store; its URL is url_.
    std::unique_ptr<Store> Fresh(const std::string& query = "") {
        url_ = store_test::FreshStoreUrl(GetParam(), dir_, query);
        if (url_.empty()) return nullptr;
        return Open(url_);
    }
    static std::unique_ptr<Store> Open(const std::string& url) {
        auto s = OpenStore(url);
        EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().ToString());
        return s ? std::move(*s) : nullptr;
    }
    bool IsSqlite() const { return GetParam() == Backend::kSqlite; }

    // "1Ta 2Lb ..." for the events of `partition` after `after`.
    static std::string Trace(Store& s, std::uint32_t partition, std::uint64_t after) {
        std::string out;
        auto r = s.ForEachEvent(partition, after, [&](const StoredEvent& e) -> Result<void> {
            EXPECT_NE(e.transaction.has_value(), e.label.has_value());
            out += std::to_string(e.seq());
            out +=
                e.transaction ? "T" + e.transaction->transaction_id : "L" + e.label->transaction_id;
            const std::uint32_t p = e.transaction ? e.transaction->partition : e.label->partition;
            EXPECT_EQ(p, partition);
            out += " ";
            return Ok();
        });
        EXPECT_TRUE(r.has_value()) << r.error().ToString();
        return out;
    }

    TempDir dir_;
    std::string url_;
};

TEST_P(StoreContract, RoundTripsEveryField) {
    auto s = Fresh();
    ASSERT_TRUE(s);
    StoredTransaction tx;
    tx.seq = 42;
    tx.transaction_id = "tx-\"quoted\"-é\\back\tslash\nline";
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
    tx.partition = 7;
    if (IsSqlite()) {
        std::string with_nul = "x";
        with_nul.push_back('\0');
        with_nul += "y";
        tx.customer_id = with_nul;  // embedded NUL survives (lengths are explicit)
    }
    auto n = s->Append(std::vector{tx},
                       std::vector{InPartition(MakeLabel(43, tx.transaction_id, 1), 7)});
    ASSERT_TRUE(n.has_value()) << n.error().ToString();
    EXPECT_EQ(*n, 1u);

    auto got = s->GetTransaction(tx.transaction_id);
    ASSERT_TRUE(got.has_value()) << got.error().ToString();
    ASSERT_TRUE(got->has_value());
    const StoredTransaction& g = **got;
    EXPECT_EQ(g.partition, tx.partition);
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
    EXPECT_EQ((*label)->partition, 7u);
    EXPECT_EQ((*label)->seq, 43u);
    EXPECT_EQ((*label)->transaction_id, tx.transaction_id);
    EXPECT_EQ((*label)->label, 1);
    EXPECT_EQ((*label)->known_at_ms, 430);
    EXPECT_EQ((*label)->received_ms, 431);

    EXPECT_FALSE(s->GetTransaction("nope")->has_value());
    EXPECT_FALSE(s->GetLabel("nope")->has_value());

    // NaN scores come back as NaN (SQLite keeps NaN as NULL); extreme values exactly.
    auto nan_tx = MakeTx(44, "nan");
    nan_tx.score = std::nan("");
    nan_tx.amount = 1e-300;
    ASSERT_TRUE(s->Append(std::vector{nan_tx}, {}).has_value());
    EXPECT_TRUE(std::isnan((*s->GetTransaction("nan"))->score));
    EXPECT_EQ((*s->GetTransaction("nan"))->amount, 1e-300);
    auto big = MakeTx(45, "big");
    big.amount = 0.1 + 0.2;
    big.score = -1.7976931348623157e308;
    ASSERT_TRUE(s->Append(std::vector{big}, {}).has_value());
    EXPECT_EQ((*s->GetTransaction("big"))->amount, 0.1 + 0.2);
    EXPECT_EQ((*s->GetTransaction("big"))->score, -1.7976931348623157e308);
}

TEST_P(StoreContract, TextPostgresCannotHoldIsRefusedWholeBatch) {
    if (IsSqlite()) GTEST_SKIP() << "SQLite stores any bytes (RoundTripsEveryField)";
    auto s = Fresh();
    ASSERT_TRUE(s);
    auto bad = MakeTx(2, "bad");
    bad.customer_id = std::string("x\0y", 3);
    auto r = s->Append(std::vector{MakeTx(1, "good"), bad}, {});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("'bad'"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("customer_id"), std::string::npos) << r.error().message;
    auto latin1 = MakeTx(3, "latin1");
    latin1.terminal_id = "caf\xe9";
    EXPECT_FALSE(s->Append(std::vector{latin1}, {}).has_value());
    EXPECT_EQ(*s->CountTransactions(), 0u);
}

TEST_P(StoreContract, DuplicateIdsAreSkippedAndCounted) {
    auto s = Fresh();
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

// Large batches take PostgreSQL's COPY path (>= copy_min_rows, set low here), small ones
// multi-row INSERTs; both must skip duplicates the same way, also within the batch.
TEST_P(StoreContract, LargeAndOddSizedBatches) {
    auto s = Fresh(IsSqlite() ? "" : "?copy_min_rows=1000");
    ASSERT_TRUE(s);
    std::vector<StoredTransaction> big;
    for (std::uint64_t i = 1; i <= 3000; ++i) big.push_back(MakeTx(i, "id" + std::to_string(i)));
    big.push_back(MakeTx(3001, "id7"));  // a duplicate inside the batch
    std::vector<StoredLabel> labels;
    for (std::uint64_t i = 0; i < 500; ++i) {
        labels.push_back(MakeLabel(4000 + i, "id" + std::to_string(i + 1), 1));
    }
    auto n = s->Append(big, labels);
    ASSERT_TRUE(n.has_value()) << n.error().ToString();
    EXPECT_EQ(*n, 3000u);
    EXPECT_EQ((*s->GetTransaction("id7"))->seq, 7u);
    // 301 rows = 256 + 32 + 8 + 4 + 1 for the chunked INSERT path; half already stored.
    std::vector<StoredTransaction> odd;
    for (std::uint64_t i = 0; i < 301; ++i) {
        odd.push_back(MakeTx(5000 + i, "id" + std::to_string(2850 + i)));
    }
    n = s->Append(odd, std::vector{MakeLabel(6000, "id1", 0)});
    ASSERT_TRUE(n.has_value()) << n.error().ToString();
    EXPECT_EQ(*n, 150u);  // id2850..id3000 stored before
    EXPECT_EQ(*s->CountTransactions(), 3150u);
    EXPECT_EQ((*s->GetLabel("id1"))->label, 0);
    EXPECT_EQ((*s->GetLabel("id2"))->seq, 4001u);
    EXPECT_EQ(*s->MaxSeq(), 6000u);
}

TEST_P(StoreContract, FailedBatchIsRolledBackWhole) {
    auto s = Fresh();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Append(std::vector{MakeTx(1, "a")}, {}).has_value());
    // seq 1 again under another id: a scorer bug, refused; nothing of the batch stays.
    auto r =
        s->Append(std::vector{MakeTx(2, "b"), MakeTx(1, "z")}, std::vector{MakeLabel(3, "a", 1)});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kIo);
    EXPECT_NE(r.error().message.find(s->Url()), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("'z'"), std::string::npos) << r.error().message;
    EXPECT_EQ(*s->CountTransactions(), 1u);
    EXPECT_FALSE(s->GetTransaction("b")->has_value());
    EXPECT_FALSE(s->GetLabel("a")->has_value());
    // The store is still usable afterwards.
    EXPECT_EQ(*s->Append(std::vector{MakeTx(2, "b")}, {}), 1u);
}

TEST_P(StoreContract, LatestLabelWins) {
    auto s = Fresh();
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

TEST_P(StoreContract, AlertsOrderSinceAndLimit) {
    auto s = Fresh();
    ASSERT_TRUE(s);
    std::vector<StoredTransaction> txs = {
        MakeTx(1, "a", 500, "block"), MakeTx(2, "b", 100, "review"), MakeTx(3, "c", 300, "allow"),
        MakeTx(4, "d", 300, "block"), MakeTx(5, "e", 200, "review"), MakeTx(6, "f", 300, "review"),
        MakeTx(7, "g", 50, "block"),
    };
    ASSERT_TRUE(s->Append(txs, {}));
    // Another partition: same ts and seq as "d" sorts after it (partition breaks the tie).
    ASSERT_TRUE(s->Append(std::vector{InPartition(MakeTx(4, "D", 300, "block"), 3)}, {}));
    auto ids = [&](AlertQuery q) {
        std::string out;
        auto r = s->Alerts(q);
        EXPECT_TRUE(r.has_value());
        for (const auto& t : *r) out += t.transaction_id;
        return out;
    };
    EXPECT_EQ(ids({0, 100}), "gbedDfa");  // ts_ms, then seq, then partition; "c" is allowed
    EXPECT_EQ(ids({100, 100}), "bedDfa");
    EXPECT_EQ(ids({300, 100}), "dDfa");
    EXPECT_EQ(ids({100, 3}), "bed");
    EXPECT_EQ(ids({501, 100}), "");
    EXPECT_EQ(ids({0, 0}), "");
    auto full = s->Alerts({0, 1});
    ASSERT_EQ(full->size(), 1u);
    EXPECT_EQ((*full)[0].fields_json, txs[6].fields_json);
}

TEST_P(StoreContract, ForEachEventMergesBySeqAfterSeq) {
    auto s = Fresh();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Append(std::vector{MakeTx(1, "a"), MakeTx(2, "b"), MakeTx(5, "c")},
                          std::vector{MakeLabel(3, "a", 1), MakeLabel(4, "b", 0)}));
    ASSERT_TRUE(s->Append(std::vector{MakeTx(7, "d")}, std::vector{MakeLabel(6, "c", 1)}));
    ASSERT_TRUE(s->Append({}, std::vector{MakeLabel(8, "d", 1), MakeLabel(9, "d", 0)}));
    auto trace = [&](std::uint64_t after) {
        std::string out;
        // The partition-0 convenience overload.
        auto r = s->ForEachEvent(after, [&](const StoredEvent& e) -> Result<void> {
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
    EXPECT_EQ(trace(~std::uint64_t{0}), "");

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

// A replay longer than one page (PostgreSQL pages by 2000 rows) keeps the merged order, and the
// visitor may read the store it is scanning (the server looks up a label's transaction).
TEST_P(StoreContract, LongReplayAndReadsFromTheVisitor) {
    auto s = Fresh();
    ASSERT_TRUE(s);
    std::vector<StoredTransaction> txs;
    std::vector<StoredLabel> labels;
    for (std::uint64_t seq = 1; seq <= 9000; ++seq) {
        if (seq % 3 == 0) {
            labels.push_back(MakeLabel(seq, "t" + std::to_string(seq - 1), 1));
        } else {
            txs.push_back(MakeTx(seq, "t" + std::to_string(seq)));
        }
    }
    ASSERT_TRUE(s->Append(txs, labels));
    std::uint64_t expect = 1;
    std::size_t lookups = 0;
    auto r = s->ForEachEvent(0, [&](const StoredEvent& e) -> Result<void> {
        EXPECT_EQ(e.seq(), expect);
        ++expect;
        if (e.label && e.seq() % 300 == 0) {
            auto tx = s->GetTransaction(e.label->transaction_id);
            if (!tx) return std::unexpected(tx.error());
            EXPECT_TRUE(tx->has_value());
            EXPECT_EQ((*tx)->seq + 1, e.seq());
            ++lookups;
        }
        return Ok();
    });
    ASSERT_TRUE(r.has_value()) << r.error().ToString();
    EXPECT_EQ(expect, 9001u);
    EXPECT_EQ(lookups, 30u);
    std::size_t ids = 0;
    std::uint64_t last = 0;
    ASSERT_TRUE(s->ForEachTransactionId([&](std::string_view, std::uint64_t seq) {
        EXPECT_GT(seq, last);
        last = seq;
        ++ids;
    }));
    EXPECT_EQ(ids, txs.size());
}

TEST_P(StoreContract, EmptyStore) {
    auto s = Fresh();
    ASSERT_TRUE(s);
    EXPECT_EQ(*s->MaxSeq(), 0u);
    EXPECT_EQ(*s->MaxSeq(5), 0u);
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

TEST_P(StoreContract, SnapshotsPerModelKey) {
    auto s = Fresh();
    ASSERT_TRUE(s);
    std::string bytes(1000, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
    ASSERT_TRUE(s->PutSnapshot({10, "spec-a", bytes, 111}));
    ASSERT_TRUE(s->PutSnapshot({5, "spec-b", "bee", 112}));
    ASSERT_TRUE(s->PutSnapshot({20, "spec-a", bytes + "more", 113}));
    auto a = s->LatestSnapshot("spec-a");
    ASSERT_TRUE(a.has_value() && a->has_value()) << (a ? "" : a.error().ToString());
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
    // A worker encodes its partition in the key.
    ASSERT_TRUE(s->PutSnapshot({3, "spec-a/p7", "seven", 2}));
    EXPECT_EQ((*s->LatestSnapshot("spec-a/p7"))->bytes, "seven");
    EXPECT_EQ((*s->LatestSnapshot("spec-a"))->seq, 20u);
}

// A snapshot written in pieces (the live server's way): the pieces are the bytes, nothing is
// visible before Commit, and a sink dropped uncommitted leaves the previous snapshot.
TEST_P(StoreContract, SnapshotsWrittenInPieces) {
    auto s = Fresh();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->PutSnapshot({1, "k", "old", 1}));
    std::string big(3u << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 13 + i / 4096);
    {
        auto sink = s->OpenSnapshot({2, "k", "ignored: the pieces are the bytes", 2});
        ASSERT_TRUE(sink) << sink.error().ToString();
        ASSERT_TRUE((*sink)->Append(big));
        EXPECT_EQ((*s->LatestSnapshot("k"))->bytes, "old");
    }
    EXPECT_EQ((*s->LatestSnapshot("k"))->bytes, "old");
    auto sink = s->OpenSnapshot({3, "k", "", 3});
    ASSERT_TRUE(sink);
    for (std::size_t at = 0; at < big.size(); at += 512 << 10)
        ASSERT_TRUE((*sink)->Append(std::string_view(big).substr(at, 512 << 10)));
    ASSERT_TRUE((*sink)->Append("!"));
    EXPECT_EQ((*s->LatestSnapshot("k"))->seq, 1u);
    ASSERT_TRUE((*sink)->Commit());
    auto got = s->LatestSnapshot("k");
    ASSERT_TRUE(got.has_value() && got->has_value());
    EXPECT_EQ((*got)->seq, 3u);
    EXPECT_EQ((*got)->created_ms, 3);
    EXPECT_TRUE((*got)->bytes == big + "!");
}

// Snapshots of several MB (a live server's state is tens of MB; SQLite puts a file-backed
// store's in files beside it): whatever the layout, a reader gets back exactly the latest
// snapshot's bytes, big after small, small after big, big after big.
TEST_P(StoreContract, LargeSnapshotsRoundTrip) {
    auto s = Fresh();
    ASSERT_TRUE(s);
    const auto blob = [](std::size_t n, unsigned salt) {
        std::string b(n, '\0');
        for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<char>((i * 131 + salt) >> 3);
        return b;
    };
    const std::string big1 = blob((5u << 20) / 2 + 17, 1);  // 2.5 MB: three pieces
    const std::string big2 = blob((3u << 20) / 2, 2);       // 1.5 MB: two pieces
    for (const auto& [seq, bytes] : std::vector<std::pair<std::uint64_t, std::string>>{
             {1, big1}, {2, "small"}, {3, big1}, {4, big2}, {5, std::string(1u << 20, 'x')}}) {
        ASSERT_TRUE(s->PutSnapshot({seq, "k", bytes, 7})) << seq;
        auto got = s->LatestSnapshot("k");
        ASSERT_TRUE(got.has_value() && got->has_value()) << (got ? "" : got.error().ToString());
        EXPECT_EQ((*got)->seq, seq);
        EXPECT_TRUE((*got)->bytes == bytes)
            << "seq " << seq << ": " << (*got)->bytes.size() << " bytes back of " << bytes.size();
    }
    ASSERT_TRUE(s->PutSnapshot({9, "other", big2, 8}));
    EXPECT_TRUE((*s->LatestSnapshot("other"))->bytes == big2);
    EXPECT_TRUE((*s->LatestSnapshot("k"))->bytes == std::string(1u << 20, 'x'));
}

TEST_P(StoreContract, DataSurvivesReopenAndIsSharedBetweenConnections) {
    auto first = Fresh(IsSqlite() ? "?synchronous=full" : "");
    ASSERT_TRUE(first);
    first.reset();
    {
        auto s = Open(url_);
        ASSERT_TRUE(s);
        ASSERT_TRUE(
            s->Append(std::vector{MakeTx(1, "a", 10, "block")}, std::vector{MakeLabel(2, "a", 1)}));
        ASSERT_TRUE(s->PutSnapshot({2, "k", "state", 3}));
        auto reader = Open(url_);  // a second connection sees the commit
        ASSERT_TRUE(reader);
        EXPECT_TRUE((*reader->GetTransaction("a")).has_value());
    }
    auto s = Open(url_);
    ASSERT_TRUE(s);
    EXPECT_EQ(*s->CountTransactions(), 1u);
    EXPECT_EQ(*s->MaxSeq(), 2u);
    EXPECT_EQ((*s->GetTransaction("a"))->decision, "block");
    EXPECT_EQ((*s->GetLabel("a"))->label, 1);
    EXPECT_EQ((*s->LatestSnapshot("k"))->bytes, "state");
    EXPECT_EQ(s->Alerts({})->size(), 1u);
}

// ---- partitions ---------------------------------------------------------------------------------

TEST_P(StoreContract, SeqIsPerPartition) {
    auto s = Fresh();
    ASSERT_TRUE(s);
    // The same seqs in partitions 0, 1 and 4000000000 (uint32 range).
    constexpr std::uint32_t kHigh = 4000000000u;
    for (std::uint32_t p : {0u, 1u, kHigh}) {
        const std::string k = std::to_string(p);
        auto n = s->Append(
            std::vector{InPartition(MakeTx(1, "a" + k), p), InPartition(MakeTx(3, "b" + k), p)},
            std::vector{InPartition(MakeLabel(2, "a" + k, 1), p)});
        ASSERT_TRUE(n.has_value()) << n.error().ToString();
        EXPECT_EQ(*n, 2u);
    }
    ASSERT_TRUE(s->Append({}, std::vector{InPartition(MakeLabel(9, "b1", 0), 1)}));
    EXPECT_EQ(Trace(*s, 0, 0), "1Ta0 2La0 3Tb0 ");
    EXPECT_EQ(Trace(*s, 1, 0), "1Ta1 2La1 3Tb1 9Lb1 ");
    EXPECT_EQ(Trace(*s, 1, 2), "3Tb1 9Lb1 ");
    EXPECT_EQ(Trace(*s, kHigh, 1),
              "2La" + std::to_string(kHigh) + " 3Tb" + std::to_string(kHigh) + " ");
    EXPECT_EQ(Trace(*s, 2, 0), "");
    EXPECT_EQ(*s->MaxSeq(0), 3u);
    EXPECT_EQ(*s->MaxSeq(), 3u);
    EXPECT_EQ(*s->MaxSeq(1), 9u);
    EXPECT_EQ(*s->MaxSeq(kHigh), 3u);
    EXPECT_EQ(*s->MaxSeq(2), 0u);
    EXPECT_EQ(*s->CountTransactions(), 6u);  // global
    EXPECT_EQ((*s->GetTransaction("b1"))->partition, 1u);
    EXPECT_EQ((*s->GetLabel("b1"))->partition, 1u);
    std::string ids;
    ASSERT_TRUE(s->ForEachTransactionId(1, [&](std::string_view id, std::uint64_t seq) {
        ids += std::string(id) + std::to_string(seq) + " ";
    }));
    EXPECT_EQ(ids, "a11 b13 ");
    // A seq taken in its own partition is still a clash.
    auto clash = s->Append(std::vector{InPartition(MakeTx(3, "c1"), 1)}, {});
    ASSERT_FALSE(clash.has_value());
    EXPECT_NE(clash.error().message.find("'c1'"), std::string::npos) << clash.error().message;
}

TEST_P(StoreContract, IdsAreUniqueAcrossPartitions) {
    auto s = Fresh();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Append(std::vector{InPartition(MakeTx(1, "x"), 1)}, {}));
    // The same id in another partition is skipped (first write wins), in one batch too.
    auto n = s->Append(std::vector{InPartition(MakeTx(1, "x"), 2), InPartition(MakeTx(2, "y"), 2),
                                   InPartition(MakeTx(3, "y"), 3)},
                       {});
    ASSERT_TRUE(n.has_value()) << n.error().ToString();
    EXPECT_EQ(*n, 1u);
    EXPECT_EQ((*s->GetTransaction("x"))->partition, 1u);
    EXPECT_EQ((*s->GetTransaction("y"))->partition, 2u);
    EXPECT_EQ(Trace(*s, 2, 0), "2Ty ");
    EXPECT_EQ(Trace(*s, 3, 0), "");
    EXPECT_EQ(*s->MaxSeq(3), 0u);
    EXPECT_EQ(*s->CountTransactions(), 2u);
}

INSTANTIATE_TEST_SUITE_P(, StoreContract, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                             return store_test::BackendName(info.param);
                         });

}  // namespace
}  // namespace txguard
