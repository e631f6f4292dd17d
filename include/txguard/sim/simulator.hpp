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
// Output rows are in time order (ties by customer), transaction ids are 0..n-1.
#include <cstdint>

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

}  // namespace txguard
