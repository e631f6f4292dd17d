#include "txguard/eval/card_precision.hpp"

#include <gtest/gtest.h>

#include "txguard/core/time.hpp"

namespace txguard {
namespace {

const std::int64_t kDay0 = 1533686400000;  // 2018-08-08 00:00 UTC

TEST(CardPrecision, PerDayMaxGroupingTopKAndDetectedCardRemoval) {
    // Day 0: customers 1 (fraud, max score .9), 2 (genuine, .8), 3 (fraud, .3).
    // Day 1: customer 1 again (fraud, .95: removed, found on day 0), 4 (genuine, .7), 3 (fraud,
    // .6).
    const std::int64_t h = 3'600'000;
    std::vector<std::int64_t> ts = {kDay0 + h,
                                    kDay0 + 2 * h,
                                    kDay0 + 3 * h,
                                    kDay0 + 4 * h,
                                    kDay0 + kMsPerDay + h,
                                    kDay0 + kMsPerDay + 2 * h,
                                    kDay0 + kMsPerDay + 3 * h};
    std::vector<std::uint32_t> cust = {1, 1, 2, 3, 1, 4, 3};
    std::vector<double> score = {0.9, 0.1, 0.8, 0.3, 0.95, 0.7, 0.6};
    std::vector<std::int8_t> label = {0, 1, 0, 1, 1, 0, 1};  // card 1's max label is 1
    auto r = CardPrecisionAtK(ts, cust, score, label, 2);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->days.size(), 2u);
    // Day 0 top 2: card 1 (fraud), card 2 (genuine) -> 1/2.
    EXPECT_DOUBLE_EQ(r->days[0].card_precision, 0.5);
    EXPECT_EQ(r->days[0].cards, 3u);
    EXPECT_EQ(r->days[0].fraud_cards, 2u);
    // Day 1: card 1 removed; top 2: card 4 (.7, genuine), card 3 (.6, fraud) -> 1/2.
    EXPECT_DOUBLE_EQ(r->days[1].card_precision, 0.5);
    EXPECT_EQ(r->days[1].cards, 2u);
    EXPECT_DOUBLE_EQ(r->mean, 0.5);
    // k larger than the cards of a day still divides by k, as the handbook does.
    auto wide = CardPrecisionAtK(ts, cust, score, label, 4);
    ASSERT_TRUE(wide);
    EXPECT_DOUBLE_EQ(wide->days[0].card_precision, 0.5);  // 2 frauds / 4
    EXPECT_FALSE(CardPrecisionAtK(ts, cust, score, label, 0));
}

TEST(CardPrecision, KnownCompromisedCardsAreRemovedAfterTheDelay) {
    const std::int64_t train_from = kDay0 - 14 * kMsPerDay;
    // Customer 7: fraud on train day 0 -> removed from every test day.
    // Customer 8: fraud on day kDay0 - 3 (in the delay week): known only for test days >= that
    // day + delay + 1 = kDay0 + 5 with delay 7.
    // Customer 9: fraud before training start: not known.
    std::vector<std::int64_t> ts = {
        train_from + 1000, kDay0 - 3 * kMsPerDay + 1000, train_from - kMsPerDay,    kDay0 + 1000,
        kDay0 + 1001,      kDay0 + 5 * kMsPerDay + 1,    kDay0 + 4 * kMsPerDay + 1, kDay0 + 2};
    std::vector<std::uint32_t> cust = {7, 8, 9, 7, 8, 8, 8, 9};
    std::vector<std::int8_t> label = {1, 1, 1, 0, 0, 0, 0, 0};
    std::vector<std::size_t> test = {3, 4, 5, 6, 7};
    auto kept = RemoveKnownCompromised(ts, cust, label, test, train_from, 7);
    EXPECT_EQ(kept, (std::vector<std::size_t>{4, 6, 7}));
}

}  // namespace
}  // namespace txguard
