#include "txguard/features/feature_engine.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>

#include "txguard/core/rng.hpp"
#include "txguard/core/time.hpp"

namespace txguard {
namespace {

constexpr std::int64_t kH = 3'600'000;
constexpr std::int64_t kD = kMsPerDay;
const std::int64_t kT0 = 1522540800000;  // 2018-04-01 00:00 UTC, a Sunday

Schema BehaviourSchema() {
    Schema s;
    s.columns = {{Field::kTimestamp, "t"}, {Field::kCustomerId, "c"}, {Field::kAmount, "a"}};
    return s;
}

// A small table: customers "a" and "b", given (offset ms, customer, amount) rows.
TransactionTable MakeTable(const std::vector<std::tuple<std::int64_t, const char*, double>>& rows) {
    TransactionTable t;
    t.rows = rows.size();
    for (const auto& [off, c, amount] : rows) {
        t.ts_ms.push_back(kT0 + off);
        t.customer.ids.push_back(t.customer.pool.Intern(c));
        t.amount.push_back(amount);
    }
    return t;
}

// The foundation's v1 features, now the "basic" preset.
FeatureSpec Basic(const TransactionTable& t) {
    auto spec = FeatureSpecPreset("basic", BehaviourSchema(), t);
    EXPECT_TRUE(spec) << spec.error().message;
    return *spec;
}

TxInput Tx(std::int64_t ts, std::uint32_t customer, double amount, std::uint64_t seq = 0) {
    TxInput tx;
    tx.seq = seq;
    tx.ts_ms = ts;
    tx.amount = amount;
    tx.keys[static_cast<int>(KeyField::kCustomer)] = customer;
    return tx;
}

TEST(FeatureSpec, NamesAndDefaults) {
    TransactionTable t = MakeTable({{0, "a", 1.0}});
    FeatureSpec spec = Basic(t);
    EXPECT_EQ(spec.Names(),
              (std::vector<std::string>{"amount", "hour", "is_weekend", "is_night", "cust_count_1d",
                                        "cust_mean_1d", "cust_count_7d", "cust_mean_7d",
                                        "cust_count_30d", "cust_mean_30d"}));
    Schema numeric;
    numeric.columns = {{Field::kLabel, "label"}};
    TransactionTable n;
    n.extra_names = {"f0", "f1"};
    FeatureSpec ns = DefaultFeatureSpec(numeric, n);
    EXPECT_TRUE(ns.entities.empty());
    EXPECT_EQ(ns.Names(), (std::vector<std::string>{"f0", "f1"}));
    auto rt = FeatureSpecFromJson(FeatureSpecToJson(spec));
    ASSERT_TRUE(rt);
    EXPECT_EQ(rt->Names(), spec.Names());
    EXPECT_EQ(FeatureSpecToJson(*rt), FeatureSpecToJson(spec));
    FeatureSpec bad = spec;
    bad.entities[0].windows_days = {0};
    EXPECT_FALSE(bad.Validate());
    EXPECT_FALSE(FeatureSpecFromJson("{\"version\": 3}"));
}

TEST(FeatureEngine, WindowsAreHalfOpenAndIncludeTheCurrentTransaction) {
    // Customer a: at 0h (10), 12h (20), 24h (30) exactly one day later, 24h+1ms (40).
    TransactionTable t = MakeTable({{0, "a", 10},
                                    {12 * kH, "a", 20},
                                    {13 * kH, "b", 5},
                                    {kD, "a", 30},
                                    {kD + 1, "a", 40},
                                    {8 * kD, "a", 50}});
    FeatureEngine engine(Basic(t));
    auto m = ComputeFeatures(engine, t);
    ASSERT_TRUE(m);
    auto row = [&](std::size_t r) { return m->View().Row(r); };
    // Row 0: first transaction: count 1, mean 10 in every window; Sunday, midnight = night.
    EXPECT_EQ(row(0)[0], 10);
    EXPECT_EQ(row(0)[1], 0);
    EXPECT_EQ(row(0)[2], 1);
    EXPECT_EQ(row(0)[3], 1);
    EXPECT_EQ(row(0)[4], 1);
    EXPECT_EQ(row(0)[5], 10);
    // Row 1: 12:00, not night; 1d window holds 10 and 20.
    EXPECT_EQ(row(1)[1], 12);
    EXPECT_EQ(row(1)[3], 0);
    EXPECT_EQ(row(1)[4], 2);
    EXPECT_EQ(row(1)[5], 15);
    // Row 2 is customer b: its own history only.
    EXPECT_EQ(row(2)[4], 1);
    EXPECT_EQ(row(2)[5], 5);
    // Row 3 at exactly t0 + 1 day: the event at t0 is at t - w, outside (t - w, t].
    EXPECT_EQ(row(3)[4], 2);
    EXPECT_EQ(row(3)[5], 25);
    EXPECT_EQ(row(3)[2], 0);  // Monday
    EXPECT_EQ(row(3)[6], 3);  // 7d window: all three
    EXPECT_EQ(row(3)[7], 20);
    // Row 4 at t0 + 1d + 1ms.
    EXPECT_EQ(row(4)[4], 3);
    EXPECT_EQ(row(4)[5], 30);
    // Row 5 at t0 + 8d: 1d window only itself; the 7d window (t0 + 1d, t0 + 8d] excludes the
    // event at exactly t0 + 1d and holds the one at t0 + 1d + 1ms.
    EXPECT_EQ(row(5)[4], 1);
    EXPECT_EQ(row(5)[6], 2);
    EXPECT_EQ(row(5)[7], 45);
    EXPECT_EQ(row(5)[8], 5);
    EXPECT_EQ(row(5)[9], 30);
}

// Independent O(n^2) computation of the behaviour features, for random tables.
TEST(FeatureEngine, MatchesANaiveComputationOnRandomHistories) {
    Rng rng(11);
    std::vector<std::tuple<std::int64_t, const char*, double>> rows;
    const char* names[] = {"c0", "c1", "c2", "c3", "c4"};
    std::int64_t t = 0;
    for (int i = 0; i < 3000; ++i) {
        t += static_cast<std::int64_t>(rng.Exponential(1.0 / (3 * kH)));
        if (rng.Uniform() < 0.05) t += 0;  // exact ties happen too
        rows.emplace_back(t, names[rng.Below(5)], std::round(rng.Uniform(1, 300) * 100) / 100);
    }
    TransactionTable table = MakeTable(rows);
    FeatureEngine engine(Basic(table));
    auto m = ComputeFeatures(engine, table);
    ASSERT_TRUE(m);
    const std::int64_t windows[] = {1, 7, 30};
    for (std::size_t r = 0; r < table.rows; ++r) {
        for (int w = 0; w < 3; ++w) {
            double count = 0, sum = 0;
            for (std::size_t q = 0; q <= r; ++q) {
                if (table.customer.ids[q] != table.customer.ids[r]) continue;
                if (table.ts_ms[q] > table.ts_ms[r] - windows[w] * kD) {
                    count += 1;
                    sum += table.amount[q];
                }
            }
            ASSERT_EQ((*m)(r, 4 + 2 * w), count) << "row " << r << " window " << w;
            ASSERT_NEAR((*m)(r, 5 + 2 * w), sum / count, 1e-9 * (1 + sum / count))
                << "row " << r << " window " << w;
        }
    }
}

TEST(FeatureEngine, OnlineProcessingEqualsBatchBitForBit) {
    Rng rng(12);
    std::vector<std::tuple<std::int64_t, const char*, double>> rows;
    const char* names[] = {"x", "y", "z"};
    for (int i = 0; i < 2000; ++i)
        rows.emplace_back(i * 17 * 60'000LL, names[rng.Below(3)], rng.Uniform(1, 500));
    TransactionTable table = MakeTable(rows);
    const FeatureSpec spec = Basic(table);
    FeatureEngine batch(spec);
    auto m = ComputeFeatures(batch, table);
    ASSERT_TRUE(m);
    // Live: one transaction at a time, customers by their string keys.
    FeatureEngine online(spec);
    std::vector<double> out(spec.Size());
    for (std::size_t r = 0; r < table.rows; ++r) {
        TxInput tx =
            Tx(table.ts_ms[r], online.CustomerId(table.customer.pool.Get(table.customer.ids[r])),
               table.amount[r], r);
        ASSERT_TRUE(online.Process(tx, out));
        for (std::size_t j = 0; j < out.size(); ++j) ASSERT_EQ(out[j], (*m)(r, j));
    }
}

TEST(FeatureEngine, UnorderedTablesAreReplayedInTimeOrder) {
    TransactionTable ordered = MakeTable({{0, "a", 1}, {kH, "a", 2}, {2 * kH, "a", 4}});
    TransactionTable shuffled = MakeTable({{2 * kH, "a", 4}, {0, "a", 1}, {kH, "a", 2}});
    const FeatureSpec spec = Basic(ordered);
    FeatureEngine e1(spec), e2(spec);
    auto a = ComputeFeatures(e1, ordered);
    auto b = ComputeFeatures(e2, shuffled);
    ASSERT_TRUE(a && b);
    for (std::size_t j = 0; j < spec.Size(); ++j) {
        EXPECT_EQ((*a)(2, j), (*b)(0, j));
        EXPECT_EQ((*a)(0, j), (*b)(1, j));
    }
}

// A snapshot's event counts become the engine's 32-bit float counts: only whole numbers up to
// 2^24 are exact, so anything else is refused as corrupt instead of silently rounded.
TEST(FeatureEngine, SnapshotEventCountsMustBeExactWholeNumbers) {
    TransactionTable t = MakeTable({{0, "a", 7.25}});
    FeatureSpec spec = Basic(t);
    spec.entities.at(0).bucket_s = 3600;  // two events in one record: written in full
    FeatureEngine engine(spec);
    std::vector<double> out(engine.NumFeatures());
    ASSERT_TRUE(engine.Process(Tx(kT0, engine.CustomerId("a"), 7.25, 5), out));
    ASSERT_TRUE(engine.Process(Tx(kT0 + 60'000, engine.CustomerId("a"), 2.5, 6), out));
    const std::string snap = engine.Snapshot();
    // The record: ts, first seq, last seq, then its count n (a double in the snapshot).
    std::string head(24, '\0');
    const std::int64_t ts = kT0;
    const std::uint64_t first = 5, last = 6;
    std::memcpy(head.data(), &ts, 8);
    std::memcpy(head.data() + 8, &first, 8);
    std::memcpy(head.data() + 16, &last, 8);
    const auto at = snap.find(head);
    ASSERT_NE(at, std::string::npos);
    ASSERT_EQ(snap.find(head, at + 1), std::string::npos);
    const auto with_count = [&](double n) {
        std::string s = snap;
        std::memcpy(s.data() + at + 24, &n, 8);
        FeatureEngine other(spec);
        return other.Restore(s);
    };
    EXPECT_TRUE(with_count(2.0));
    EXPECT_TRUE(with_count(3.0));
    for (double bad : {0.5, -1.0, 16777217.0, 1e30, std::nan("")}) {
        auto r = with_count(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message.find("count"), std::string::npos) << r.error().message;
    }
}

// The events of the snapshot-format tests: three customers, one event every 20 minutes, every
// seventh labelled a day later, and a second, hour-bucketed view of the customer (records that
// hold several events).
FeatureSpec FormatSpec() {
    FeatureSpec spec = Basic(MakeTable({{0, "a", 1.0}}));
    EntitySpec hourly = spec.entities.at(0);
    hourly.name = "hourly";
    hourly.bucket_s = 3600;
    spec.entities.push_back(hourly);
    return spec;
}

void FeedFormatEvents(FeatureEngine& e, std::size_t begin, std::size_t end,
                      std::vector<std::vector<double>>* rows = nullptr) {
    const char* names[] = {"a", "b", "c"};
    std::vector<double> out(e.NumFeatures());
    for (std::size_t i = begin; i < end; ++i) {
        const TxInput tx =
            Tx(kT0 + static_cast<std::int64_t>(i) * 20 * 60'000, e.CustomerId(names[i % 3]),
               1.25 + static_cast<double>((i * 37) % 500), i);
        ASSERT_TRUE(e.Process(tx, out));
        if (rows) rows->push_back(out);
        if (i % 7 == 0) {
            ASSERT_TRUE(e.AddLabel(tx, static_cast<std::int8_t>(i % 2), tx.ts_ms + kD));
        }
    }
}

// Snapshots written by earlier builds still restore (a server upgraded in place keeps its fast
// restart). tests/unit/features/data/snapshot_format1.bin was written by the build before the
// compact event records (a8f5257) from FeedFormatEvents(0, 200): set
// TXGUARD_WRITE_SNAPSHOT_FIXTURE=path to write the current format's equivalent.
TEST(FeatureEngine, ReadsSnapshotsOfTheEarlierFormat) {
    const FeatureSpec spec = FormatSpec();
    FeatureEngine live(spec);
    FeedFormatEvents(live, 0, 200);
    if (const char* path = std::getenv("TXGUARD_WRITE_SNAPSHOT_FIXTURE")) {
        std::ofstream(path, std::ios::binary) << live.Snapshot();
        GTEST_SKIP() << "wrote " << path;
    }
    std::ifstream in(TXGUARD_SOURCE_DIR "/tests/unit/features/data/snapshot_format1.bin",
                     std::ios::binary);
    ASSERT_TRUE(in) << "fixture missing";
    const std::string old((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    FeatureEngine restored(spec);
    ASSERT_TRUE(restored.Restore(old));
    EXPECT_TRUE(restored.Snapshot() == live.Snapshot());
    std::vector<std::vector<double>> a, b;
    FeedFormatEvents(live, 200, 300, &a);
    FeedFormatEvents(restored, 200, 300, &b);
    EXPECT_EQ(a, b);
}

// Most records hold one transaction and are written compactly; the result is the same state.
TEST(FeatureEngine, SingleEventRecordsAreWrittenCompactlyAndRestoreExactly) {
    const FeatureSpec spec = FormatSpec();
    FeatureEngine live(spec);
    FeedFormatEvents(live, 0, 200);
    const std::string snap = live.Snapshot();
    EXPECT_EQ(snap.size(), live.SnapshotSize());
    std::ifstream in(TXGUARD_SOURCE_DIR "/tests/unit/features/data/snapshot_format1.bin",
                     std::ios::binary);
    const std::string old((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_LT(snap.size() * 10, old.size() * 7) << snap.size() << " vs " << old.size();
    FeatureEngine restored(spec);
    ASSERT_TRUE(restored.Restore(snap));
    EXPECT_TRUE(restored.Snapshot() == snap);
    // A record's tag is 0 (in full) or 1 (one transaction); anything else is refused.
    const std::int64_t ts = kT0 + 199 * 20 * 60'000;
    const std::uint64_t seq = 199;
    std::string head(16, '\0');
    std::memcpy(head.data(), &ts, 8);
    std::memcpy(head.data() + 8, &seq, 8);
    const auto at = snap.find(head);
    ASSERT_NE(at, std::string::npos);
    ASSERT_GT(at, 0u);
    EXPECT_EQ(snap[at - 1], 1);  // the newest event of its customer: one transaction
    std::string bad = snap;
    bad[at - 1] = 7;
    auto r = FeatureEngine(spec).Restore(bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("tag"), std::string::npos) << r.error().message;
}

// A merchant's distinct customers: the per-window counts go from one sorted vector to sorted
// chunks past 256 counterparties (chunks split and merge as customers come and go) and back to
// one vector below 64 (CounterpartyCounts). Every row must equal a naive count over the history,
// through both switches in both directions, and a snapshot taken in either form must restore to
// an engine that writes the same bytes and goes on identically.
TEST(FeatureEngine, ManyDistinctCounterpartiesCountExactlyInEitherFormAndSnapshotTheSame) {
    FeatureSpec spec;
    EntitySpec term;
    term.name = "term";
    term.key = KeyField::kTerminal;
    term.counterparty = KeyField::kCustomer;
    term.windows_days = {1, 7};
    term.aggregates = {Aggregate::kCount, Aggregate::kDistinct};
    term.new_counterparty = true;
    spec.entities.push_back(term);
    const auto names = spec.Names();
    ASSERT_EQ(names, (std::vector<std::string>{"amount", "term_count_1d", "term_distinct_1d",
                                               "term_count_7d", "term_distinct_7d",
                                               "term_new_counterparty"}));
    FeatureEngine live(spec);
    std::vector<std::uint32_t> customers(2000);
    for (std::uint32_t c = 0; c < customers.size(); ++c)
        customers[c] = live.KeyId(KeyField::kCustomer, "C" + std::to_string(c));
    const std::uint32_t terminal = live.KeyId(KeyField::kTerminal, "T0");
    // Phases of (events, minutes between events, customers drawn from): many customers (the 7-day
    // window reaches ~1,700 distinct, the 1-day one ~600), then only 5 for two weeks (both fall
    // below 64: back to one vector), then many again.
    struct Phase {
        int events;
        std::int64_t gap_min;
        std::uint32_t pool;
    };
    const Phase phases[] = {{4000, 2, 2000}, {3000, 7, 5}, {3000, 2, 1500}};
    Rng rng(7);
    std::vector<std::pair<std::int64_t, std::uint32_t>> history;  // (ts, customer index)
    std::vector<double> row(spec.Names().size()), again(row.size());
    std::int64_t t = kT0;
    std::uint64_t seq = 0;
    std::optional<FeatureEngine> restored;
    std::size_t snapshots = 0;
    bool band_taken = false;
    for (const Phase& ph : phases) {
        for (int i = 0; i < ph.events; ++i) {
            t += ph.gap_min * 60'000;
            const auto c = static_cast<std::uint32_t>(rng.Below(ph.pool));
            history.emplace_back(t, c);
            TxInput in;
            in.seq = ++seq;
            in.ts_ms = t;
            in.amount = 10;
            in.keys[static_cast<int>(KeyField::kTerminal)] = terminal;
            in.keys[static_cast<int>(KeyField::kCustomer)] = customers[c];
            ASSERT_TRUE(live.Process(in, row));
            // Naive counts over the history: windows are (t - w, t].
            for (int w = 0; w < 2; ++w) {
                const std::int64_t from = t - (w == 0 ? 1 : 7) * kD;
                std::vector<std::uint32_t> seen;
                std::uint32_t mine = 0;
                for (auto it = history.rbegin(); it != history.rend() && it->first > from; ++it) {
                    seen.push_back(it->second);
                    if (w == 1 && it->second == c) ++mine;
                }
                std::sort(seen.begin(), seen.end());
                const auto distinct = std::unique(seen.begin(), seen.end()) - seen.begin();
                ASSERT_EQ(row[1 + 2 * w], static_cast<double>(seen.size())) << "event " << seq;
                ASSERT_EQ(row[2 + 2 * w], static_cast<double>(distinct)) << "event " << seq;
                if (w == 1) {
                    ASSERT_EQ(row[5], mine <= 1 ? 1.0 : 0.0) << "event " << seq;
                }
            }
            if (restored) {  // a restored engine goes on exactly as the live one
                ASSERT_TRUE(restored->Process(in, again));
                ASSERT_EQ(again, row) << "event " << seq;
            }
            // Snapshots in chunks (the windows past 256), in one vector after the fall, and once
            // while the falling 1-day window is still in chunks with 64 to 100 counterparties (a
            // restored engine holds that as one vector); each restored engine must write the
            // same bytes.
            const bool band = !band_taken && ph.pool == 5 && row[2] < 100 && row[2] >= 64;
            band_taken = band_taken || band;
            if (seq % 1700 == 0 || band) {
                const std::string snap = live.Snapshot();
                restored.emplace(spec);
                ASSERT_TRUE(restored->Restore(snap));
                ASSERT_TRUE(restored->Snapshot() == snap) << "event " << seq;
                ++snapshots;
            }
        }
    }
    EXPECT_TRUE(band_taken);
    EXPECT_EQ(snapshots, 6u);
    EXPECT_TRUE(restored->Snapshot() == live.Snapshot());
}

TEST(FeatureEngine, OutOfOrderLiveTransactionIsAnError) {
    TransactionTable t = MakeTable({{0, "a", 1}});
    FeatureEngine engine(Basic(t));
    std::vector<double> out(engine.NumFeatures());
    const auto id = engine.CustomerId("a");
    ASSERT_TRUE(engine.Process(Tx(kT0 + kH, id, 1.0), out));
    auto r = engine.Process(Tx(kT0, id, 1.0, 1), out);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("earlier"), std::string::npos);
}

TEST(FeatureEngine, MissingColumnsAreErrors) {
    TransactionTable t = MakeTable({{0, "a", 1}});
    FeatureSpec spec = Basic(t);
    spec.extra_columns = {"v1"};
    FeatureEngine engine(spec);
    auto r = ComputeFeatures(engine, t);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("v1"), std::string::npos);
}

}  // namespace
}  // namespace txguard
