#pragma once
// The fraud handbook's evaluation protocol (../shared/data/handbook/PROTOCOL.md; Le Borgne et al.,
// "Reproducible Machine Learning for Credit Card Fraud Detection - Practical Handbook", ch. 3-4).
//
// Card Precision@k: for each test day, group that day's transactions by customer (card), take
// each customer's maximum score and maximum label, rank customers by score (descending; ties by
// customer id), and take the share of frauds among the top k. Customers found fraudulent in
// the top k of an earlier test day are removed from later days. The result is the mean over the
// test days. It models investigators who can check k cards a day. As in the handbook's code, the
// denominator is k even on a day with fewer than k cards.
//
// Known-compromised cards: for test day D, every transaction of a customer that had a fraud with
// train_from <= day <= D - delay - 1 is removed from the test set (such a card would already be
// blocked).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "txguard/core/result.hpp"

namespace txguard {

struct DailyCardPrecision {
    std::int64_t day_ms = 0;        // midnight of the test day
    double card_precision = 0.0;    // frauds in the top k / k
    std::uint64_t cards = 0;        // customers with transactions that day (after removals)
    std::uint64_t fraud_cards = 0;  // of which fraudulent
};

struct CardPrecisionResult {
    std::vector<DailyCardPrecision> days;
    double mean = 0.0;  // mean of the per-day values
};

// Inputs are per transaction of the test set, any order; customer ids are dense uint32.
// k >= 1. Errors on size mismatch or NaN scores.
Result<CardPrecisionResult> CardPrecisionAtK(std::span<const std::int64_t> ts_ms,
                                             std::span<const std::uint32_t> customer,
                                             std::span<const double> scores,
                                             std::span<const std::int8_t> labels, std::size_t k);

// Filters `test_rows` (indices into the columns, any order) by the known-compromised rule above.
// Frauds are looked up over ALL rows of the columns (the whole file), restricted to days in
// [train_from_ms, D - delay_days - 1]. Returns the kept indices in their input order.
std::vector<std::size_t> RemoveKnownCompromised(std::span<const std::int64_t> ts_ms,
                                                std::span<const std::uint32_t> customer,
                                                std::span<const std::int8_t> labels,
                                                std::span<const std::size_t> test_rows,
                                                std::int64_t train_from_ms, int delay_days);

}  // namespace txguard
