// Metric values checked against scikit-learn 1.2.1 (Debian python3-sklearn) on fixtures; the
// expected numbers were printed by roc_auc_score, average_precision_score, precision_score,
// recall_score, f1_score and confusion_matrix on exactly these arrays.
#include "txguard/eval/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "txguard/core/rng.hpp"

namespace txguard {
namespace {

const std::vector<double> kScores1 = {0.9, 0.8, 0.8, 0.7, 0.6, 0.6, 0.6, 0.4, 0.3, 0.1, 0.1, 0.05};
const std::vector<std::int8_t> kLabels1 = {1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0};

const std::vector<double> kScores2 = {0.1, 0.8, 0.4, 0.7, 1.0, 0.5, 0.5, 0.1, 0.3, 0.5,
                                      0.7, 0.8, 0.4, 0.1, 0.3, 0.9, 0.2, 0.5, 0.9, 0.0,
                                      0.6, 1.0, 0.2, 0.5, 0.9, 0.1, 0.5, 0.8, 0.7, 0.5,
                                      0.2, 0.5, 0.4, 0.5, 0.4, 0.8, 0.8, 0.3, 0.6, 0.3};
const std::vector<std::int8_t> kLabels2 = {0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0,
                                           0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0,
                                           0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0};

TEST(Metrics, RocAucMatchesSklearnWithTies) {
    EXPECT_NEAR(*RocAuc(kScores1, kLabels1), 0.7857142857142858, 1e-12);
    EXPECT_NEAR(*RocAuc(kScores2, kLabels2), 0.3939393939393939, 1e-12);
}

TEST(Metrics, AveragePrecisionMatchesSklearnWithTies) {
    EXPECT_NEAR(*AveragePrecision(kScores1, kLabels1), 0.7087301587301588, 1e-12);
    EXPECT_NEAR(*AveragePrecision(kScores2, kLabels2), 0.16747776033490322, 1e-12);
}

TEST(Metrics, AtThresholdMatchesSklearn) {
    auto m = *AtThreshold(kScores1, kLabels1, 0.6);
    EXPECT_EQ(m.confusion.tp, 4u);
    EXPECT_EQ(m.confusion.fp, 3u);
    EXPECT_EQ(m.confusion.tn, 4u);
    EXPECT_EQ(m.confusion.fn, 1u);
    EXPECT_NEAR(m.precision, 0.5714285714285714, 1e-12);
    EXPECT_NEAR(m.recall, 0.8, 1e-12);
    EXPECT_NEAR(m.f1, 0.6666666666666666, 1e-12);
    auto m2 = *AtThreshold(kScores2, kLabels2, 0.5);
    EXPECT_EQ(m2.confusion.tp, 3u);
    EXPECT_EQ(m2.confusion.fp, 21u);
    EXPECT_EQ(m2.confusion.tn, 12u);
    EXPECT_EQ(m2.confusion.fn, 4u);
    EXPECT_NEAR(m2.precision, 0.125, 1e-12);
    EXPECT_NEAR(m2.recall, 0.42857142857142855, 1e-12);
    EXPECT_NEAR(m2.f1, 0.19354838709677416, 1e-12);
}

TEST(Metrics, NoFlaggedTransactionGivesZeroPrecision) {
    auto m = *AtThreshold(kScores1, kLabels1, 2.0);
    EXPECT_EQ(m.precision, 0.0);
    EXPECT_EQ(m.recall, 0.0);
    EXPECT_EQ(m.f1, 0.0);
}

TEST(Metrics, ReversedScoresGiveOneMinusAuc) {
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        Rng rng(seed);
        const std::size_t n = 50 + rng.Below(500);
        std::vector<double> s(n), r(n);
        std::vector<std::int8_t> y(n);
        for (std::size_t i = 0; i < n; ++i) {
            s[i] = static_cast<double>(rng.Below(20));  // many ties
            r[i] = -s[i];
            y[i] = rng.Uniform() < 0.2;
        }
        y[0] = 1;
        y[1] = 0;
        EXPECT_NEAR(*RocAuc(s, y), 1.0 - *RocAuc(r, y), 1e-12) << "seed " << seed;
    }
}

TEST(Metrics, PerfectAndConstantScores) {
    std::vector<double> s = {0.1, 0.2, 0.3, 0.9};
    std::vector<std::int8_t> y = {0, 0, 1, 1};
    EXPECT_DOUBLE_EQ(*RocAuc(s, y), 1.0);
    EXPECT_DOUBLE_EQ(*AveragePrecision(s, y), 1.0);
    std::vector<double> c(4, 0.5);
    EXPECT_DOUBLE_EQ(*RocAuc(c, y), 0.5);
    EXPECT_DOUBLE_EQ(*AveragePrecision(c, y), 0.5);
}

TEST(Metrics, BadInputIsAnError) {
    std::vector<double> s = {0.1, 0.2};
    std::vector<std::int8_t> one_class = {1, 1};
    auto r = RocAuc(s, one_class);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("only one class"), std::string::npos);
    std::vector<std::int8_t> short_labels = {1};
    EXPECT_FALSE(AveragePrecision(s, short_labels));
    std::vector<double> nan = {0.1, std::nan("")};
    std::vector<std::int8_t> y = {0, 1};
    EXPECT_FALSE(RocAuc(nan, y));
    std::vector<std::int8_t> bad = {0, 2};
    EXPECT_FALSE(AtThreshold(s, bad, 0.1));
}

TEST(Metrics, QuantileMatchesNumpy) {
    EXPECT_NEAR(*Quantile(kScores2, 0.9), 0.9, 1e-12);
    EXPECT_NEAR(*Quantile(kScores1, 0.25), 0.25, 1e-12);
    EXPECT_DOUBLE_EQ(*Quantile(kScores1, 0.0), 0.05);
    EXPECT_DOUBLE_EQ(*Quantile(kScores1, 1.0), 0.9);
    EXPECT_FALSE(Quantile({}, 0.5));
    EXPECT_FALSE(Quantile(kScores1, 1.5));
}

}  // namespace
}  // namespace txguard
