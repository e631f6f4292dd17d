#include "txguard/sim/simulator.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "txguard/core/time.hpp"

namespace txguard {
namespace {

SimParams Small(std::uint64_t seed = 7) {
    SimParams p;
    p.customers = 200;
    p.terminals = 400;
    p.days = 20;
    p.seed = seed;
    return p;
}

TEST(SimulatorTest, SameSeedSameTableWhateverTheThreads) {
    SimParams p = Small();
    p.threads = 1;
    auto a = Simulate(p);
    ASSERT_TRUE(a) << a.error().ToString();
    ASSERT_GT(a->rows, 1000u);
    const std::uint64_t fp = a->Fingerprint();
    for (unsigned threads : {1u, 2u, 3u, 4u, 0u}) {
        p.threads = threads;
        auto b = Simulate(p);
        ASSERT_TRUE(b);
        EXPECT_EQ(b->Fingerprint(), fp) << "threads=" << threads;
    }
    p.seed = 8;
    auto c = Simulate(p);
    ASSERT_TRUE(c);
    EXPECT_NE(c->Fingerprint(), fp);
}

TEST(SimulatorTest, CustomerProfilesDoNotDependOnTheCustomerCount) {
    SimParams p = Small();
    SimWorld w1, w2;
    ASSERT_TRUE(Simulate(p, nullptr, &w1));
    p.customers = 50;
    p.days = 3;
    ASSERT_TRUE(Simulate(p, nullptr, &w2));
    ASSERT_EQ(w2.customers.size(), 50u);
    for (std::size_t c = 0; c < 50; ++c) {
        EXPECT_EQ(w1.customers[c].x, w2.customers[c].x);
        EXPECT_EQ(w1.customers[c].mean_amount, w2.customers[c].mean_amount);
    }
    EXPECT_EQ(w1.terminals[10].x, w2.terminals[10].x);
}

void ExpectInvalid(const SimParams& p, const std::string& name) {
    auto v = p.Validate();
    ASSERT_FALSE(v) << name;
    EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(v.error().message.find(name), std::string::npos) << v.error().message;
    auto t = Simulate(p);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().message, v.error().message);
}

TEST(SimulatorTest, ValidateNamesTheBadParameter) {
    EXPECT_TRUE(SimParams{}.Validate());
    SimParams p;
    p.customers = 0;
    ExpectInvalid(p, "customers");
    p = {};
    p.terminals = 0;
    ExpectInvalid(p, "terminals");
    p = {};
    p.days = 0;
    ExpectInvalid(p, "days");
    for (double r : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
        p = {};
        p.radius = r;
        ExpectInvalid(p, "radius");
    }
    p = {};
    p.compromised_terminals_per_day = p.terminals + 1;
    ExpectInvalid(p, "compromised_terminals_per_day");
    p = {};
    p.compromised_cards_per_day = p.customers + 1;
    ExpectInvalid(p, "compromised_cards_per_day");
    for (double r : {-0.5, std::nan(""), 1e12}) {
        p = {};
        p.card_testing_per_day = r;
        ExpectInvalid(p, "card_testing_per_day");
        p = {};
        p.account_takeover_per_day = r;
        ExpectInvalid(p, "account_takeover_per_day");
    }
    p = {};
    p.start_ms = DaysFromCivil(9999, 12, 1) * kMsPerDay;
    ExpectInvalid(p, "start_ms");
    p = {};
    p.customers = 100'000'000;
    p.days = 100;
    ExpectInvalid(p, "customers x days");
}

TEST(SimulatorTest, CustomerWithoutTerminalsMakesNoTransactions) {
    SimParams p;
    p.customers = 3;
    p.terminals = 1;
    p.days = 5;
    p.radius = 1e-9;
    p.compromised_cards_per_day = 1;
    p.compromised_terminals_per_day = 1;
    p.card_testing_per_day = 0;
    p.account_takeover_per_day = 0;
    SimStats stats;
    auto t = Simulate(p, &stats);
    ASSERT_TRUE(t) << t.error().ToString();
    EXPECT_EQ(t->rows, 0u);
    EXPECT_EQ(stats.transactions, 0u);
    t->CheckConsistent();
    EXPECT_EQ(t->customer.pool.size(), 3u);
}

// The statistical shape of a small run, checked against the world behind it.
class SimulatorShapeTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        params_ = new SimParams;
        params_->customers = 500;
        params_->terminals = 1000;
        params_->days = 60;
        params_->seed = 42;
        world_ = new SimWorld;
        stats_ = new SimStats;
        auto t = Simulate(*params_, stats_, world_);
        ASSERT_TRUE(t) << t.error().ToString();
        table_ = new TransactionTable(std::move(*t));
    }
    static void TearDownTestSuite() {
        delete table_;
        delete world_;
        delete stats_;
        delete params_;
    }
    static std::uint32_t DayOf(std::size_t row) {
        return static_cast<std::uint32_t>((table_->ts_ms[row] - params_->start_ms) / kMsPerDay);
    }
    static double Distance(std::uint32_t c, std::uint32_t t) {
        return std::hypot(world_->customers[c].x - world_->terminals[t].x,
                          world_->customers[c].y - world_->terminals[t].y);
    }

    static SimParams* params_;
    static SimWorld* world_;
    static SimStats* stats_;
    static TransactionTable* table_;
};
SimParams* SimulatorShapeTest::params_ = nullptr;
SimWorld* SimulatorShapeTest::world_ = nullptr;
SimStats* SimulatorShapeTest::stats_ = nullptr;
TransactionTable* SimulatorShapeTest::table_ = nullptr;

TEST_F(SimulatorShapeTest, TableHasTheHandbookShape) {
    const TransactionTable& t = *table_;
    t.CheckConsistent();
    ASSERT_GT(t.rows, 0u);
    EXPECT_EQ(t.tx_id.size(), t.rows);
    EXPECT_EQ(t.ts_ms.size(), t.rows);
    EXPECT_EQ(t.customer.ids.size(), t.rows);
    EXPECT_EQ(t.terminal.ids.size(), t.rows);
    EXPECT_EQ(t.amount.size(), t.rows);
    EXPECT_EQ(t.label.size(), t.rows);
    EXPECT_EQ(t.fraud_scenario.size(), t.rows);
    EXPECT_TRUE(t.category.ids.empty());
    EXPECT_TRUE(t.lat.empty());
    EXPECT_TRUE(t.extra.empty());
    for (std::size_t i = 0; i < t.rows; ++i) ASSERT_EQ(t.tx_id.Get(i), std::to_string(i));
    ASSERT_EQ(t.customer.pool.size(), params_->customers);
    for (std::uint32_t c = 0; c < params_->customers; ++c)
        ASSERT_EQ(t.customer.pool.Get(c), std::to_string(c));
    ASSERT_EQ(t.terminal.pool.size(), params_->terminals);
    for (std::uint32_t c = 0; c < params_->terminals; ++c)
        ASSERT_EQ(t.terminal.pool.Get(c), std::to_string(c));
}

TEST_F(SimulatorShapeTest, RowsInTimeOrderThenCustomer) {
    const TransactionTable& t = *table_;
    EXPECT_TRUE(t.IsTimeOrdered());
    const std::int64_t end = params_->start_ms + std::int64_t{params_->days} * kMsPerDay;
    for (std::size_t i = 0; i < t.rows; ++i) {
        ASSERT_GE(t.ts_ms[i], params_->start_ms);
        ASSERT_LT(t.ts_ms[i], end);
        ASSERT_EQ(t.ts_ms[i] % kMsPerSecond, 0);
        if (i > 0 && t.ts_ms[i] == t.ts_ms[i - 1]) {
            ASSERT_LE(t.customer.ids[i - 1], t.customer.ids[i]);
        }
    }
}

TEST_F(SimulatorShapeTest, StatsMatchTheTable) {
    const TransactionTable& t = *table_;
    std::uint64_t by[6] = {};
    for (std::size_t i = 0; i < t.rows; ++i) {
        ASSERT_GE(t.fraud_scenario[i], 0);
        ASSERT_LE(t.fraud_scenario[i], 5);
        ASSERT_EQ(t.label[i], t.fraud_scenario[i] != 0 ? 1 : 0);
        ++by[t.fraud_scenario[i]];
    }
    EXPECT_EQ(stats_->transactions, t.rows);
    EXPECT_EQ(stats_->frauds, t.rows - by[0]);
    for (int s = 0; s < 6; ++s) EXPECT_EQ(stats_->by_scenario[s], by[s]) << s;
    for (int s = 1; s <= 5; ++s) EXPECT_GT(by[s], 0u) << "scenario " << s << " missing";
    // 2 of 1000 terminals a day for 28 days dominate: a few percent of transactions are fraud.
    const double rate = static_cast<double>(stats_->frauds) / t.rows;
    EXPECT_GT(rate, 0.01);
    EXPECT_LT(rate, 0.15);
    EXPECT_GE(stats_->seconds, 0.0);
}

TEST_F(SimulatorShapeTest, TransactionsPerCustomerDayNearTheMeanFrequency) {
    const TransactionTable& t = *table_;
    std::vector<double> genuine(params_->customers, 0.0);
    for (std::size_t i = 0; i < t.rows; ++i)
        if (t.fraud_scenario[i] <= 3) genuine[t.customer.ids[i]] += 1;
    // P(0 < Normal(43200, 20000) < 86400) = P(|Z| < 2.16).
    const double kept = std::erf(2.16 / std::sqrt(2.0));
    double expected = 0.0, observed = 0.0;
    for (std::uint32_t c = 0; c < params_->customers; ++c) {
        bool has_terminal = false;
        for (std::uint32_t k = 0; k < params_->terminals && !has_terminal; ++k)
            has_terminal =
                SimTerminalInRadius(world_->customers[c], world_->terminals[k], params_->radius);
        if (!has_terminal) {
            EXPECT_EQ(genuine[c], 0.0) << "customer " << c << " has no terminal in reach";
            continue;
        }
        expected += world_->customers[c].mean_tx_per_day * kept * params_->days;
        observed += genuine[c];
    }
    EXPECT_NEAR(observed / expected, 1.0, 0.03);
    // Per day: the overall mean frequency is about 2 x kept.
    EXPECT_NEAR(observed / params_->customers / params_->days, 2.0 * kept, 0.25);
}

TEST_F(SimulatorShapeTest, ProfilesFollowTheHandbook) {
    for (const auto& c : world_->customers) {
        ASSERT_GE(c.x, 0.0);
        ASSERT_LT(c.x, 100.0);
        ASSERT_GE(c.mean_amount, 5.0);
        ASSERT_LT(c.mean_amount, 100.0);
        ASSERT_EQ(c.std_amount, c.mean_amount / 2);
        ASSERT_GE(c.mean_tx_per_day, 0.0);
        ASSERT_LT(c.mean_tx_per_day, 4.0);
    }
    ASSERT_EQ(world_->terminals.size(), params_->terminals);
    // Handbook: compromises start on days 0 .. days - 2.
    ASSERT_EQ(world_->compromised_terminals.size(), params_->days - 1);
    for (const auto& d : world_->compromised_terminals) {
        ASSERT_EQ(d.size(), params_->compromised_terminals_per_day);
        ASSERT_NE(d[0], d[1]);
    }
    ASSERT_EQ(world_->compromised_cards.size(), params_->days - 1);
    for (const auto& d : world_->compromised_cards)
        ASSERT_EQ(d.size(), params_->compromised_cards_per_day);
}

TEST_F(SimulatorShapeTest, GenuineTransactionsUseTerminalsWithinRadius) {
    const TransactionTable& t = *table_;
    for (std::size_t i = 0; i < t.rows; ++i) {
        if (t.fraud_scenario[i] > 3) continue;  // injected rows happen elsewhere on purpose
        const std::uint32_t c = t.customer.ids[i], k = t.terminal.ids[i];
        ASSERT_TRUE(
            SimTerminalInRadius(world_->customers[c], world_->terminals[k], params_->radius))
            << "row " << i;
        ASSERT_LT(Distance(c, k), params_->radius);
        const std::int64_t sec = (t.ts_ms[i] - params_->start_ms) % kMsPerDay / 1000;
        ASSERT_GT(sec, 0);  // kept only when 0 < t < 86400
    }
}

TEST_F(SimulatorShapeTest, Scenario1IsAmountAbove220) {
    const TransactionTable& t = *table_;
    for (std::size_t i = 0; i < t.rows; ++i) {
        if (t.fraud_scenario[i] == 1) {
            ASSERT_GT(t.amount[i], 220.0);
        }
        if (t.fraud_scenario[i] == 0) {
            ASSERT_LE(t.amount[i], 220.0);
            ASSERT_GE(t.amount[i], 0.0);
            ASSERT_EQ(std::nearbyint(t.amount[i] * 100) / 100, t.amount[i]) << "cents";
        }
    }
}

TEST_F(SimulatorShapeTest, Scenario2IsACompromisedTerminalWithin28Days) {
    const TransactionTable& t = *table_;
    auto compromised = [&](std::uint32_t terminal, std::uint32_t day) {
        for (std::uint32_t d = 0; d < world_->compromised_terminals.size(); ++d) {
            if (d > day || day >= d + 28) continue;
            for (std::uint32_t k : world_->compromised_terminals[d])
                if (k == terminal) return true;
        }
        return false;
    };
    std::size_t checked = 0;
    for (std::size_t i = 0; i < t.rows; ++i) {
        const bool on_bad = compromised(t.terminal.ids[i], DayOf(i));
        if (t.fraud_scenario[i] == 2) {
            ASSERT_TRUE(on_bad) << "row " << i;
        }
        // Every genuine-origin row on a compromised terminal is labelled 2 (or 3, which overrides).
        if (on_bad && t.fraud_scenario[i] <= 3) {
            ASSERT_GE(t.fraud_scenario[i], 2) << "row " << i;
        }
        checked += on_bad;
    }
    EXPECT_GT(checked, 0u);
}

TEST_F(SimulatorShapeTest, Scenario3IsACompromisedCardWithin14Days) {
    const TransactionTable& t = *table_;
    std::size_t in_window = 0, fraud = 0;
    for (std::size_t i = 0; i < t.rows; ++i) {
        if (t.fraud_scenario[i] > 3) continue;
        const std::uint32_t day = DayOf(i), c = t.customer.ids[i];
        bool bad = false;
        for (std::uint32_t d = 0; d < world_->compromised_cards.size() && !bad; ++d) {
            if (d > day || day >= d + 14) continue;
            for (std::uint32_t k : world_->compromised_cards[d]) bad = bad || k == c;
        }
        if (t.fraud_scenario[i] == 3) {
            ASSERT_TRUE(bad) << "row " << i;
            ++fraud;
        }
        in_window += bad;
    }
    // About a third of the window's transactions (more with overlapping windows).
    const double share = static_cast<double>(fraud) / in_window;
    EXPECT_GT(share, 0.25);
    EXPECT_LT(share, 0.5);
}

TEST_F(SimulatorShapeTest, Scenario4IsCardTesting) {
    const TransactionTable& t = *table_;
    std::size_t tiny = 0, large = 0;
    for (std::size_t i = 0; i < t.rows; ++i) {
        if (t.fraud_scenario[i] != 4) continue;
        const std::uint32_t c = t.customer.ids[i], k = t.terminal.ids[i];
        EXPECT_FALSE(
            SimTerminalInRadius(world_->customers[c], world_->terminals[k], params_->radius))
            << "a terminal the customer never uses";
        if (t.amount[i] <= 2.0) {
            EXPECT_GE(t.amount[i], 0.5);
            ++tiny;
        } else {
            EXPECT_GE(t.amount[i], 150.0);
            EXPECT_LE(t.amount[i], 750.0);
            ++large;
        }
    }
    EXPECT_GT(tiny, 2 * large);
    std::size_t cases = 0, rows = 0;
    for (const auto& f : world_->injected) {
        if (f.scenario != 4) continue;
        ++cases;
        rows += f.transactions;
        EXPECT_GE(f.transactions, 4u);
        EXPECT_LE(f.transactions, 10u);
    }
    EXPECT_EQ(rows, stats_->by_scenario[4]);
    // Poisson(1) a day for 60 days.
    EXPECT_GT(cases, 35u);
    EXPECT_LT(cases, 90u);
}

TEST_F(SimulatorShapeTest, Scenario5IsNightSpendingFarFromHome) {
    const TransactionTable& t = *table_;
    for (std::size_t i = 0; i < t.rows; ++i) {
        if (t.fraud_scenario[i] != 5) continue;
        const std::uint32_t c = t.customer.ids[i], k = t.terminal.ids[i];
        EXPECT_LT(HourOfDay(t.ts_ms[i]), 5);
        EXPECT_GE(Distance(c, k), 25.0);
        const double mean = world_->customers[c].mean_amount;
        EXPECT_GE(t.amount[i], 3 * mean - 0.005);
        EXPECT_LE(t.amount[i], 8 * mean + 0.005);
    }
    std::size_t rows = 0;
    for (const auto& f : world_->injected) {
        if (f.scenario != 5) continue;
        rows += f.transactions;
        EXPECT_GE(f.days, 1u);
        EXPECT_LE(f.days, 5u);
        EXPECT_LE(f.first_day + f.days, params_->days);
    }
    EXPECT_EQ(rows, stats_->by_scenario[5]);
}

TEST(SimulatorTest, NoInjectedFraudWhenRatesAreZero) {
    SimParams p = Small();
    p.card_testing_per_day = 0;
    p.account_takeover_per_day = 0;
    p.compromised_terminals_per_day = 0;
    p.compromised_cards_per_day = 0;
    SimStats s;
    auto t = Simulate(p, &s);
    ASSERT_TRUE(t);
    EXPECT_EQ(s.by_scenario[2] + s.by_scenario[3] + s.by_scenario[4] + s.by_scenario[5], 0u);
    EXPECT_EQ(s.frauds, s.by_scenario[1]);
}

}  // namespace
}  // namespace txguard
