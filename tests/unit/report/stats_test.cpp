// Column statistics checked against numpy 1.24 / scipy 1.10 / scikit-learn 1.2 (Debian) on the
// fixture below: x.mean(), x.std(ddof=1), np.quantile, scipy.stats.pearsonr, spearmanr, rankdata,
// sklearn.metrics.roc_auc_score.
#include "report/stats.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace txguard {
namespace {

const std::vector<double> kX = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3};
const std::vector<double> kY = {2, 7, 1, 8, 2, 8, 1, 8, 2, 8};
const std::vector<std::int8_t> kLabel = {0, 0, 1, 0, 1, 1, 0, 1, 0, 0};
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(ReportStats, MeanStdAndQuantilesMatchNumpy) {
    const MeanStd ms = MeanAndStd(kX);
    EXPECT_NEAR(ms.mean, 3.9, 1e-12);
    EXPECT_NEAR(ms.stddev, 2.4698178070456938, 1e-12);
    const RankedColumn r = RankColumn(kX);
    ASSERT_EQ(r.sorted.size(), kX.size());
    EXPECT_NEAR(QuantileSorted(r.sorted, 0.01), 1.0, 1e-12);
    EXPECT_NEAR(QuantileSorted(r.sorted, 0.25), 2.25, 1e-12);
    EXPECT_NEAR(QuantileSorted(r.sorted, 0.5), 3.5, 1e-12);
    EXPECT_NEAR(QuantileSorted(r.sorted, 0.75), 5.0, 1e-12);
    EXPECT_NEAR(QuantileSorted(r.sorted, 0.99), 8.73, 1e-12);
    EXPECT_TRUE(std::isnan(QuantileSorted({}, 0.5)));
}

TEST(ReportStats, AverageRanksWithTiesMatchScipy) {
    // Integer column: the counting path.
    const std::vector<double> expected = {4.5, 1.5, 6, 1.5, 7.5, 10, 3, 9, 7.5, 4.5};
    EXPECT_EQ(RankColumn(kX).ranks, expected);
    // Non-integer column (the sorting path), with a missing value left out.
    const std::vector<double> xf = {0.5, 2.25, -1.0, kNaN, 2.25, 7.5, 0.5, 3.0};
    const RankedColumn r = RankColumn(xf);
    EXPECT_EQ(r.missing, 1u);
    const std::vector<double> present = {2.5, 4.5, 1, 4.5, 7, 2.5, 6};
    std::vector<double> got;
    for (double v : r.ranks)
        if (!std::isnan(v)) got.push_back(v);
    EXPECT_EQ(got, present);
    EXPECT_TRUE(std::isnan(r.ranks[3]));
    EXPECT_EQ(r.sorted, (std::vector<double>{-1.0, 0.5, 0.5, 2.25, 2.25, 3.0, 7.5}));
}

TEST(ReportStats, PearsonAndSpearmanMatchScipy) {
    EXPECT_NEAR(Pearson(kX, kY), 0.10492284287735876, 1e-12);
    EXPECT_NEAR(Pearson(RankColumn(kX).ranks, RankColumn(kY).ranks), 0.13471506281091267, 1e-12);
    // Perfect and constant cases.
    const std::vector<double> a = {1, 2, 3, 4}, b = {10, 20, 30, 40}, c = {5, 5, 5, 5};
    EXPECT_NEAR(Pearson(a, b), 1.0, 1e-15);
    EXPECT_TRUE(std::isnan(Pearson(a, c)));
    // Pairwise complete: the NaN row is left out of both.
    const std::vector<double> xn = {1, 2, kNaN, 4}, yn = {2, 4, 100, 8};
    EXPECT_NEAR(Pearson(xn, yn), 1.0, 1e-15);
}

TEST(ReportStats, AucFromRanksMatchesSklearn) {
    const RankedColumn r = RankColumn(kX);
    EXPECT_NEAR(AucFromRanks(r.ranks, kLabel), 0.9375, 1e-12);
    std::vector<double> neg = kX;
    for (auto& v : neg) v = -v;
    EXPECT_NEAR(AucFromRanks(RankColumn(neg).ranks, kLabel), 1 - 0.9375, 1e-12);
    const std::vector<std::int8_t> one_class(kX.size(), 0);
    EXPECT_TRUE(std::isnan(AucFromRanks(r.ranks, one_class)));
}

TEST(ReportStats, CountingAndSortingRanksAgree) {
    std::vector<double> v;
    for (int i = 0; i < 5000; ++i) v.push_back(static_cast<double>((i * 7919) % 101));
    std::vector<double> shifted = v;
    for (auto& x : shifted) x += 0.5;  // not integral: the sorting path
    EXPECT_EQ(RankColumn(v).ranks, RankColumn(shifted).ranks);
}

}  // namespace
}  // namespace txguard
