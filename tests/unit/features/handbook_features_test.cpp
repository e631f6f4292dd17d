// The handbook's 15 baseline features (../shared/data/handbook/PROTOCOL.md) computed by the engine
// equal an independent computation of their definitions, on the real handbook data; and the
// online path (one transaction at a time, labels added when known, a snapshot/restore half way)
// equals the batch path bit for bit for the richer default spec.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "txguard/core/rng.hpp"
#include "txguard/core/time.hpp"
#include "txguard/data/csv.hpp"
#include "txguard/data/schema.hpp"
#include "txguard/features/feature_engine.hpp"

namespace txguard {
namespace {

const std::filesystem::path kHandbook =
    std::filesystem::path(TXGUARD_SHARED_DIR) / "data/handbook/transactions.csv.gz";

// Per entity: its rows in input order (the file is time ordered), with prefix sums.
struct EntityIndex {
    std::vector<std::vector<std::size_t>> rows;  // by entity id
    std::vector<std::size_t> pos;                // position of each row in its entity's list
};
EntityIndex Index(const std::vector<std::uint32_t>& ids, std::size_t entities) {
    EntityIndex ix;
    ix.rows.resize(entities);
    ix.pos.resize(ids.size());
    for (std::size_t r = 0; r < ids.size(); ++r) {
        ix.pos[r] = ix.rows[ids[r]].size();
        ix.rows[ids[r]].push_back(r);
    }
    return ix;
}

TEST(HandbookFeatures, FifteenBaselineFeaturesMatchTheirDefinitions) {
    if (!std::filesystem::exists(kHandbook))
        GTEST_SKIP() << "needs ../shared/data/handbook (absent)";
    auto schema = SchemaPreset("handbook");
    ASSERT_TRUE(schema);
    auto table = ReadTransactionsCsv(kHandbook.string(), *schema);
    ASSERT_TRUE(table) << table.error().message;
    ASSERT_TRUE(table->IsTimeOrdered());
    auto spec = FeatureSpecPreset("handbook", *schema, *table);
    ASSERT_TRUE(spec);
    ASSERT_EQ(spec->Size(), 15u);
    FeatureEngine engine(*spec);
    auto m = ComputeFeatures(engine, *table);
    ASSERT_TRUE(m) << m.error().message;

    const auto& t = *table;
    const EntityIndex cust = Index(t.customer.ids, t.customer.pool.size());
    const EntityIndex term = Index(t.terminal.ids, t.terminal.pool.size());
    // Prefix sums (long double) of amounts per customer and of labels per terminal.
    std::vector<std::vector<long double>> cust_sum(cust.rows.size());
    for (std::size_t c = 0; c < cust.rows.size(); ++c) {
        cust_sum[c].assign(1, 0.0L);
        for (std::size_t r : cust.rows[c]) cust_sum[c].push_back(cust_sum[c].back() + t.amount[r]);
    }
    std::vector<std::vector<std::int64_t>> term_frauds(term.rows.size());
    for (std::size_t k = 0; k < term.rows.size(); ++k) {
        term_frauds[k].assign(1, 0);
        for (std::size_t r : term.rows[k])
            term_frauds[k].push_back(term_frauds[k].back() + t.label[r]);
    }
    // First index in `rows` whose timestamp is > bound.
    auto first_after = [&](const std::vector<std::size_t>& rows, std::size_t end,
                           std::int64_t bound) {
        return static_cast<std::size_t>(
            std::upper_bound(rows.begin(), rows.begin() + end, bound,
                             [&](std::int64_t b, std::size_t r) { return b < t.ts_ms[r]; }) -
            rows.begin());
    };
    const int windows[] = {1, 7, 30};
    const std::int64_t delay = 7 * kMsPerDay;
    std::size_t mismatches = 0;
    for (std::size_t r = 0; r < t.rows; ++r) {
        const double* f = &(*m)(r, 0);
        const std::int64_t ts = t.ts_ms[r];
        double expect[15];
        expect[0] = t.amount[r];
        expect[1] = DayOfWeek(ts) >= 5;
        expect[2] = HourOfDay(ts) <= 6;
        // Customer: (t - w, t], this row and earlier rows of the customer (input order).
        const auto& crows = cust.rows[t.customer.ids[r]];
        const std::size_t cend = cust.pos[r] + 1;
        for (int i = 0; i < 3; ++i) {
            const std::size_t lo = first_after(crows, cend, ts - windows[i] * kMsPerDay);
            const double n = static_cast<double>(cend - lo);
            const auto& ps = cust_sum[t.customer.ids[r]];
            expect[3 + 2 * i] = n;
            expect[4 + 2 * i] = static_cast<double>((ps[cend] - ps[lo]) / n);
        }
        // Terminal: transactions in (t - 7d - w, t - 7d] and their fraud ratio.
        const auto& trows = term.rows[t.terminal.ids[r]];
        const std::size_t tend = term.pos[r] + 1;
        const std::size_t hi = first_after(trows, tend, ts - delay);
        for (int i = 0; i < 3; ++i) {
            const std::size_t lo = first_after(trows, tend, ts - delay - windows[i] * kMsPerDay);
            const std::size_t n = hi - lo;
            const auto& fr = term_frauds[t.terminal.ids[r]];
            expect[9 + 2 * i] = static_cast<double>(n);
            expect[10 + 2 * i] =
                n ? static_cast<double>(fr[hi] - fr[lo]) / static_cast<double>(n) : 0.0;
        }
        for (int j = 0; j < 15; ++j) {
            const double tol = 1e-9 * std::max(1.0, std::fabs(expect[j]));
            if (!(std::fabs(f[j] - expect[j]) <= tol)) {
                if (++mismatches <= 10)
                    ADD_FAILURE() << "row " << r << " feature " << spec->Names()[j] << ": got "
                                  << f[j] << ", expected " << expect[j];
            }
        }
    }
    EXPECT_EQ(mismatches, 0u);
}

// A small handbook-like history with terminals and labels, for the online/batch equality tests.
TransactionTable Synthetic(std::uint64_t seed, std::size_t n) {
    TransactionTable t;
    t.rows = n;
    Rng rng(seed);
    std::int64_t ts = 1522540800000;
    for (std::size_t i = 0; i < n; ++i) {
        ts += static_cast<std::int64_t>(rng.Exponential(1.0 / 900'000.0));  // ~15 min apart
        if (rng.Uniform() < 0.03) ts += 0;
        t.tx_id.Append(std::to_string(i));
        t.ts_ms.push_back(ts);
        t.customer.ids.push_back(t.customer.pool.Intern("c" + std::to_string(rng.Below(40))));
        t.terminal.ids.push_back(t.terminal.pool.Intern("t" + std::to_string(rng.Below(25))));
        t.amount.push_back(std::round(rng.Uniform(1, 400) * 100) / 100);
        t.label.push_back(rng.Uniform() < 0.05);
    }
    return t;
}

// Like Synthetic, with the handbook simulator's compromised terminals: every transaction of
// terminals t0..t2 is a fraud on days [4k, 4k + 2) of each terminal's cycle, so label runs form.
TransactionTable Compromised(std::uint64_t seed, std::size_t n) {
    TransactionTable t = Synthetic(seed, n);
    for (std::size_t r = 0; r < n; ++r) {
        const std::string term(t.terminal.pool.Get(t.terminal.ids[r]));
        const std::int64_t day = DayIndex(t.ts_ms[r]);
        if ((term == "t0" || term == "t1" || term == "t2") && (day + term[1]) % 4 < 2)
            t.label[r] = 1;
    }
    return t;
}

Schema HandbookSchema() { return *SchemaPreset("handbook"); }

// Replays the table one transaction at a time, adding each label `delay_days` after its
// transaction, optionally snapshotting and restoring into a fresh engine half way. `stepped`:
// a snapshot begun a third of the way is written in steps of a few bytes, one step a
// transaction, while the replay goes on; it must equal the snapshot taken whole at its start.
Matrix Online(const FeatureSpec& spec, const TransactionTable& t, int delay_days, bool restore,
              bool stepped = false) {
    auto engine = std::make_unique<FeatureEngine>(spec);
    Matrix out(t.rows, engine->NumFeatures());
    std::vector<TxInput> txs(t.rows);
    std::size_t next_label = 0;
    std::string expected;  // the stepped snapshot's bytes, taken whole at its start
    std::string pieces;    // the stepped snapshot's pieces so far
    bool finished = false;
    for (std::size_t r = 0; r < t.rows; ++r) {
        if (restore && r == t.rows / 2) {
            const std::string snap = engine->Snapshot();
            EXPECT_EQ(engine->SnapshotSize(), snap.size());
            auto fresh = std::make_unique<FeatureEngine>(spec);
            EXPECT_TRUE(fresh->Restore(snap));
            EXPECT_TRUE(fresh->Snapshot() == snap);
            // Into reused memory (a longer and a shorter earlier buffer): the same bytes.
            EXPECT_TRUE(fresh->Snapshot(std::string(snap.size() * 2, 'x')) == snap);
            EXPECT_TRUE(fresh->Snapshot(std::string(3, 'x')) == snap);
            engine = std::move(fresh);
        }
        if (stepped && r == t.rows / 3) {
            expected = engine->Snapshot();
            engine->BeginSnapshot();
            EXPECT_TRUE(engine->SnapshotInProgress());
        }
        if (engine->SnapshotInProgress()) {
            std::string piece(7, 'x');  // its memory is reused, its content replaced
            const bool last = engine->SnapshotStep(piece, r % 5 == 0 ? 1 : 300);
            pieces += piece;
            if (last) {
                EXPECT_FALSE(engine->SnapshotInProgress());
                EXPECT_EQ(pieces.size(), expected.size());
                EXPECT_TRUE(pieces == expected) << "the stepped snapshot differs (row " << r << ")";
                FeatureEngine fresh(spec);
                EXPECT_TRUE(fresh.Restore(pieces));
                finished = true;
            }
        }
        TxInput& tx = txs[r];
        tx.seq = r;
        tx.ts_ms = t.ts_ms[r];
        tx.amount = t.amount[r];
        tx.keys[static_cast<int>(KeyField::kCustomer)] =
            engine->KeyId(KeyField::kCustomer, t.customer.pool.Get(t.customer.ids[r]));
        tx.keys[static_cast<int>(KeyField::kTerminal)] =
            engine->KeyId(KeyField::kTerminal, t.terminal.pool.Get(t.terminal.ids[r]));
        while (next_label < r && t.ts_ms[next_label] + delay_days * kMsPerDay <= tx.ts_ms) {
            EXPECT_TRUE(engine->AddLabel(txs[next_label], t.label[next_label],
                                         t.ts_ms[next_label] + delay_days * kMsPerDay));
            ++next_label;
        }
        EXPECT_TRUE(engine->Process(tx, out.Row(r)));
    }
    EXPECT_EQ(finished, stepped);
    return out;
}

void ExpectBitEqual(const Matrix& a, const Matrix& b, const std::vector<std::string>& names) {
    ASSERT_EQ(a.rows(), b.rows());
    ASSERT_EQ(a.cols(), b.cols());
    for (std::size_t r = 0; r < a.rows(); ++r)
        for (std::size_t j = 0; j < a.cols(); ++j)
            ASSERT_EQ(std::bit_cast<std::uint64_t>(a(r, j)), std::bit_cast<std::uint64_t>(b(r, j)))
                << "row " << r << " feature " << names[j] << ": " << a(r, j) << " vs " << b(r, j);
}

TEST(FeatureEngine, OnlineReplayWithLabelsAndSnapshotEqualsBatch) {
    for (const TransactionTable& t : {Synthetic(5, 6000), Compromised(6, 6000)}) {
        for (const char* preset : {"default", "handbook"}) {
            auto spec = FeatureSpecPreset(preset, HandbookSchema(), t);
            ASSERT_TRUE(spec);
            for (unsigned threads : {1u, 3u}) {
                FeatureEngine batch_engine(*spec);
                BatchOptions opt;
                opt.threads = threads;
                auto batch = ComputeFeatures(batch_engine, t, opt);
                ASSERT_TRUE(batch) << batch.error().message;
                ExpectBitEqual(Online(*spec, t, 7, false), *batch, spec->Names());
                ExpectBitEqual(Online(*spec, t, 7, true), *batch, spec->Names());
                ExpectBitEqual(Online(*spec, t, 7, false, true), *batch, spec->Names());
            }
        }
    }
}

// The fraud streak of a delayed label window, against its definition: over the terminal's
// transactions in (t - delay - w_max, t - delay], newest first, the consecutive frauds and the
// seconds from the oldest of them to t. Online (with a snapshot) equals batch too.
TEST(FeatureEngine, FraudStreakMatchesItsDefinition) {
    const TransactionTable t = Compromised(8, 5000);
    const char* json = R"({"amount": false, "time": [], "entities": [
        {"name": "t", "key": "terminal_id", "windows_days": [], "aggregates": [],
         "label_risk": {"delay_days": 2, "windows_days": [3, 1], "streak": true}}]})";
    auto spec = FeatureSpecFromJson(json);
    ASSERT_TRUE(spec) << spec.error().message;
    ASSERT_EQ(spec->Names(), (std::vector<std::string>{
                                 "t_nb_tx_d2_3d", "t_risk_d2_3d", "t_nb_tx_d2_1d", "t_risk_d2_1d",
                                 "t_fraud_streak_d2", "t_fraud_streak_secs_d2"}));
    auto rt = FeatureSpecFromJson(FeatureSpecToJson(*spec));
    ASSERT_TRUE(rt);
    EXPECT_TRUE(rt->entities[0].label_risk.streak);
    FeatureEngine engine(*spec);
    auto m = ComputeFeatures(engine, t);
    ASSERT_TRUE(m) << m.error().message;
    const std::int64_t delay = 2 * kMsPerDay, w = 3 * kMsPerDay;
    std::size_t long_streaks = 0;
    for (std::size_t r = 0; r < t.rows; ++r) {
        // The terminal's earlier rows (the file is time ordered) in the window, newest first.
        double streak = 0, secs = -1;
        for (std::size_t q = r; q-- > 0;) {
            if (t.terminal.ids[q] != t.terminal.ids[r]) continue;
            if (t.ts_ms[q] > t.ts_ms[r] - delay) continue;
            if (t.ts_ms[q] <= t.ts_ms[r] - delay - w || t.label[q] != 1) break;
            streak += 1;
            secs = static_cast<double>(t.ts_ms[r] - t.ts_ms[q]) / 1000.0;
        }
        long_streaks += streak >= 5;
        ASSERT_EQ((*m)(r, 4), streak) << "row " << r;
        ASSERT_EQ((*m)(r, 5), secs) << "row " << r;
    }
    EXPECT_GT(long_streaks, 100u);  // the fixture has runs to find
    ExpectBitEqual(Online(*spec, t, 2, true), *m, spec->Names());
    auto bucketed = FeatureSpecFromJson(R"({"entities": [{"key": "terminal_id", "bucket_s": 60,
        "label_risk": {"streak": true}}]})");
    EXPECT_FALSE(bucketed);
}

TEST(FeatureEngine, RicherAggregatesMatchNaiveDefinitions) {
    const TransactionTable t = Synthetic(9, 3000);
    const char* json = R"({"amount": false, "time": [], "entities": [
        {"name": "c", "key": "customer_id", "windows_days": [2],
         "aggregates": ["count", "sum", "std", "max", "distinct"], "counterparty": "terminal_id",
         "time_since_last": true, "amount_vs_history": ["ratio_to_mean", "zscore"],
         "new_counterparty": true}]})";
    auto spec = FeatureSpecFromJson(json);
    ASSERT_TRUE(spec) << spec.error().message;
    FeatureEngine engine(*spec);
    auto m = ComputeFeatures(engine, t);
    ASSERT_TRUE(m);
    const std::int64_t w = 2 * kMsPerDay;
    for (std::size_t r = 0; r < t.rows; ++r) {
        std::vector<double> amounts, prev;
        std::vector<std::uint32_t> terms;
        std::int64_t last = -1;
        bool seen_term = false;
        for (std::size_t q = 0; q < r; ++q)
            if (t.customer.ids[q] == t.customer.ids[r]) {
                last = t.ts_ms[q];
                if (t.ts_ms[q] > t.ts_ms[r] - w) {
                    prev.push_back(t.amount[q]);
                    terms.push_back(t.terminal.ids[q]);
                    seen_term |= t.terminal.ids[q] == t.terminal.ids[r];
                }
            }
        amounts = prev;
        amounts.push_back(t.amount[r]);
        terms.push_back(t.terminal.ids[r]);
        auto stats = [](const std::vector<double>& v, double* mean, double* sd) {
            const double n = static_cast<double>(v.size());
            *mean = n ? std::accumulate(v.begin(), v.end(), 0.0) / n : 0.0;
            double ss = 0;
            for (double x : v) ss += (x - *mean) * (x - *mean);
            *sd = n > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
        };
        double mean, sd, pmean, psd;
        stats(amounts, &mean, &sd);
        stats(prev, &pmean, &psd);
        std::sort(terms.begin(), terms.end());
        const double distinct =
            static_cast<double>(std::unique(terms.begin(), terms.end()) - terms.begin());
        const double a = t.amount[r];
        const double expect[] = {static_cast<double>(amounts.size()),
                                 mean * static_cast<double>(amounts.size()),
                                 sd,
                                 *std::max_element(amounts.begin(), amounts.end()),
                                 distinct,
                                 last < 0 ? -1.0 : static_cast<double>(t.ts_ms[r] - last) / 1000.0,
                                 prev.empty() ? 1.0 : a / pmean,
                                 psd > 0 ? (a - pmean) / psd : 0.0,
                                 seen_term ? 0.0 : 1.0};
        for (int j = 0; j < 9; ++j)
            ASSERT_NEAR((*m)(r, j), expect[j], 1e-6 * std::max(1.0, std::fabs(expect[j])))
                << "row " << r << " " << spec->Names()[j];
    }
}

TEST(FeatureEngine, PerEntityCapAndBucketsStayBounded) {
    const TransactionTable t = Synthetic(3, 4000);
    const char* json = R"({"amount": false, "time": [], "entities": [
        {"name": "t", "key": "terminal_id", "windows_days": [30], "aggregates": ["count", "sum"],
         "max_events": 10},
        {"name": "b", "key": "terminal_id", "windows_days": [30], "aggregates": ["count", "sum", "max"],
         "bucket_s": 86400}]})";
    auto spec = FeatureSpecFromJson(json);
    ASSERT_TRUE(spec) << spec.error().message;
    FeatureEngine engine(*spec);
    auto m = ComputeFeatures(engine, t);
    ASSERT_TRUE(m);
    for (std::size_t r = 0; r < t.rows; ++r) {
        EXPECT_LE((*m)(r, 0), 10.0);  // capped: at most the newest 10 events
        // Buckets of one day: the window holds whole days, counts never fall below the exact
        // (t - 30d, t] count by more than one day's worth and the sum stays consistent.
        EXPECT_GE((*m)(r, 2), 1.0);
        EXPECT_GE((*m)(r, 4), t.amount[r]);
    }
    const std::string snap = engine.Snapshot();
    FeatureEngine other(*spec);
    ASSERT_TRUE(other.Restore(snap));
    EXPECT_TRUE(other.Snapshot() == snap);
    EXPECT_FALSE(other.Restore(snap.substr(0, snap.size() / 2)));
    FeatureEngine different(*FeatureSpecPreset("handbook", HandbookSchema(), t));
    EXPECT_FALSE(different.Restore(snap));
}

}  // namespace
}  // namespace txguard
