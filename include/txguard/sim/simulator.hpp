#pragma once
// Transaction simulator following the generation model published with the fraud handbook
// (Le Borgne et al., "Reproducible Machine Learning for Credit Card Fraud Detection - Practical
// Handbook", ULB, chapter 3.2 "Transaction data simulator"), plus two further fraud patterns.
//
// Genuine activity: customers at a home location (uniform on a 100x100 grid) with a spending mean
// (uniform 5..100), std (mean / 2) and daily frequency (uniform 0..4); terminals at uniform
// locations; each customer uses the terminals within `radius` of home. Each day a customer makes
// Poisson(frequency) transactions at times ~ Normal(noon, 20000 s) (kept when inside the day),
// amounts ~ Normal(mean, std) (negative draws replaced by Uniform(0, 2 mean)), rounded to cents.
//
// Fraud scenarios (label 1, TX_FRAUD_SCENARIO = the number):
//   1  any amount above 220 is fraud;
//   2  each day `compromised_terminals_per_day` terminals are compromised for 28 days: every
//      transaction on them in that period is fraud;
//   3  each day `compromised_cards_per_day` customers are compromised for 14 days: a third of their
//      transactions in that period have their amount multiplied by 5 and are fraud;
//   4  card testing: a compromised card makes a burst of tiny amounts (0.5..2.0) at terminals it
//      never used, minutes apart, then one or two large purchases;
//   5  account takeover: over a few days the card is used at night, at terminals far from home,
//      for amounts well above the customer's habit.
// Scenarios 1 to 3 label the genuine transactions (1 first, then 2 overrides, then 3, as in the
// handbook; like the handbook, compromises start on days 0 .. days - 2). Scenarios 4 and 5 add
// rows:
//   4  Poisson(card_testing_per_day) new cases a day, each a random customer: 3..8 amounts
//      Uniform(0.5, 2.0) 1..10 minutes apart, then 1..2 purchases Uniform(150, 750) 10 minutes to
//      2 hours apart, all the same day, each at a terminal outside the customer's radius;
//   5  Poisson(account_takeover_per_day) new cases a day, each a random customer for 2..5 days:
//      1..3 transactions a day between 00:00 and 05:00 at terminals at least max(25, 3 radius) from
//      home, amounts Uniform(3, 8) times the customer's mean_amount.
// As in the handbook, scenario 3's amount x 5 is not rounded again (85.64999999999999 happens).
// Output rows are in time order (ties by customer, then generation order), transaction ids are
// "0".."n-1" in that order.
//
// Cost: O(customers x terminals in reach + transactions x log(transactions a day)), customers
// spread over `threads`; the handbook's defaults (about 1.76M transactions) take about 0.2 s on
// 2 cores (docs/benchmarks.md).
#include <cstdint>
#include <vector>

#include "txguard/core/result.hpp"
#include "txguard/data/transaction_table.hpp"

namespace txguard {

struct SimParams {
    std::uint32_t customers = 5000;
    std::uint32_t terminals = 10000;
    std::uint32_t days = 183;
    std::int64_t start_ms = 1522540800000;  // 2018-04-01 00:00:00 UTC
    double radius = 5.0;                    // grid units (grid is 100 x 100)
    std::uint64_t seed = 0;
    std::uint32_t compromised_terminals_per_day = 2;  // scenario 2
    std::uint32_t compromised_cards_per_day = 3;      // scenario 3
    double card_testing_per_day = 1.0;                // scenario 4: expected new cases per day
    double account_takeover_per_day = 1.0;            // scenario 5: expected new cases per day
    unsigned threads = 0;                             // 0 = all; output does not depend on it

    Result<void> Validate() const;
};

struct SimStats {
    std::uint64_t transactions = 0;
    std::uint64_t frauds = 0;
    std::uint64_t by_scenario[6] = {0, 0, 0, 0, 0, 0};
    double seconds = 0.0;
};

// Generates the history as a table in the handbook's shape: tx_id, ts_ms, customer, terminal,
// amount, label, fraud_scenario. Deterministic for a given params (seed), whatever `threads`.
Result<TransactionTable> Simulate(const SimParams& params, SimStats* stats = nullptr);

// ---- Ground truth behind a simulated table (for tests, reports and what-if analyses) ----------
//
// Customer c is the string "c" in the table's customer pool and has pool id c (every customer is
// interned, also one that made no transaction); terminals likewise. Days are 0-based from
// params.start_ms. Random streams: every customer has its own (profile, transactions) and every
// day its own for each fraud scenario, so the output does not depend on the thread count, a
// customer's profile does not depend on how many customers there are, and so on.

struct SimCustomerProfile {
    double x = 0.0, y = 0.0;       // home on the 100 x 100 grid
    double mean_amount = 0.0;      // Uniform(5, 100)
    double std_amount = 0.0;       // mean_amount / 2
    double mean_tx_per_day = 0.0;  // Uniform(0, 4)
};

struct SimTerminalProfile {
    double x = 0.0, y = 0.0;
};

// One injected fraud case of scenario 4 (card testing) or 5 (account takeover).
struct SimFraudCase {
    std::int32_t scenario = 0;  // 4 or 5
    std::uint32_t customer = 0;
    std::uint32_t first_day = 0;
    std::uint32_t days = 1;  // days with injected transactions (ATO: 2..5; card testing: 1)
    std::uint32_t transactions = 0;
};

struct SimWorld {
    std::vector<SimCustomerProfile> customers;  // [customer]
    std::vector<SimTerminalProfile> terminals;  // [terminal]
    // Scenario 2: terminals compromised on day d (each stays compromised for days d .. d + 27).
    std::vector<std::vector<std::uint32_t>> compromised_terminals;  // [day]
    // Scenario 3: customers compromised on day d (for days d .. d + 13).
    std::vector<std::vector<std::uint32_t>> compromised_cards;  // [day]
    std::vector<SimFraudCase> injected;                         // scenarios 4 and 5, by first day
};

// Simulate, also returning the world behind the table (profiles and the fraud schedule).
Result<TransactionTable> Simulate(const SimParams& params, SimStats* stats, SimWorld* world);

// True when terminal t is within `radius` of customer c's home, as the simulator decides which
// terminals a customer uses: Euclidean distance strictly below the radius.
bool SimTerminalInRadius(const SimCustomerProfile& customer, const SimTerminalProfile& terminal,
                         double radius);

}  // namespace txguard
