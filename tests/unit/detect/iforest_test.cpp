#include "txguard/detect/iforest.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "txguard/core/rng.hpp"
#include "txguard/eval/metrics.hpp"

namespace txguard {
namespace {

// A Gaussian blob with a few far points; labels mark the far points.
struct Blob {
    Matrix x;
    std::vector<std::int8_t> y;
};
Blob MakeBlob(std::uint64_t seed, std::size_t n = 2000, std::size_t d = 4) {
    Rng rng(seed);
    Blob b{Matrix(n, d), std::vector<std::int8_t>(n, 0)};
    for (std::size_t i = 0; i < n; ++i) {
        const bool outlier = i % 50 == 0;
        b.y[i] = outlier;
        for (std::size_t j = 0; j < d; ++j)
            b.x(i, j) = outlier ? rng.Uniform(4.0, 8.0) * (rng.Uniform() < 0.5 ? -1 : 1)
                                : rng.Normal(0.0, 1.0);
    }
    return b;
}

std::vector<double> FitScore(const Blob& b, IForestParams p) {
    IsolationForest f(p);
    EXPECT_TRUE(f.Fit(b.x));
    std::vector<double> s(b.x.rows());
    EXPECT_TRUE(f.Score(b.x, s));
    return s;
}

TEST(IForest, AveragePathLengthMatchesDefinition) {
    EXPECT_EQ(IsolationForest::AveragePathLength(1), 0.0);
    EXPECT_EQ(IsolationForest::AveragePathLength(2), 1.0);
    // c(256) = 2 (ln 255 + gamma) - 2 * 255 / 256
    EXPECT_NEAR(IsolationForest::AveragePathLength(256), 10.244770920119917, 1e-12);
}

TEST(IForest, FindsPlantedOutliers) {
    const Blob b = MakeBlob(3);
    const auto s = FitScore(b, {});
    EXPECT_GT(*RocAuc(s, b.y), 0.97);
    for (double v : s) {
        EXPECT_GT(v, 0.0);
        EXPECT_LT(v, 1.0);
    }
}

TEST(IForest, DeterministicForASeedWhateverTheThreads) {
    const Blob b = MakeBlob(5);
    for (std::uint64_t seed : {0ull, 1ull, 99ull}) {
        IForestParams p;
        p.seed = seed;
        p.threads = 1;
        IsolationForest one(p);
        ASSERT_TRUE(one.Fit(b.x));
        p.threads = 3;
        IsolationForest three(p);
        ASSERT_TRUE(three.Fit(b.x));
        EXPECT_EQ(one.Save(), three.Save()) << "seed " << seed;
    }
    IForestParams p1, p2;
    p2.seed = 1;
    IsolationForest a(p1), c(p2);
    ASSERT_TRUE(a.Fit(b.x));
    ASSERT_TRUE(c.Fit(b.x));
    EXPECT_NE(a.Save(), c.Save());
}

TEST(IForest, SaveLoadRoundTripScoresBitForBit) {
    const Blob b = MakeBlob(8);
    IsolationForest f;
    ASSERT_TRUE(f.Fit(b.x));
    std::vector<double> s1(b.x.rows()), s2(b.x.rows());
    ASSERT_TRUE(f.Score(b.x, s1));
    IsolationForest g;
    ASSERT_TRUE(g.Load(f.Save()));
    ASSERT_TRUE(g.Score(b.x, s2));
    EXPECT_EQ(s1, s2);
    EXPECT_EQ(g.Save(), f.Save());
}

TEST(IForest, ScoresDoNotDependOnRowOrderOrBatching) {
    const Blob b = MakeBlob(9, 3000);
    IsolationForest f;
    ASSERT_TRUE(f.Fit(b.x));
    std::vector<double> all(b.x.rows());
    ASSERT_TRUE(f.Score(b.x, all));
    // Reversed rows give reversed scores; single rows give the batch scores.
    Matrix rev(b.x.rows(), b.x.cols());
    for (std::size_t i = 0; i < b.x.rows(); ++i)
        for (std::size_t j = 0; j < b.x.cols(); ++j) rev(i, j) = b.x(b.x.rows() - 1 - i, j);
    std::vector<double> rs(b.x.rows());
    ASSERT_TRUE(f.Score(rev, rs));
    for (std::size_t i = 0; i < b.x.rows(); ++i) ASSERT_EQ(rs[i], all[b.x.rows() - 1 - i]);
    for (std::size_t i = 0; i < b.x.rows(); i += 97) {
        double one;
        ASSERT_TRUE(f.Score(b.x.View().Slice(i, i + 1), std::span<double>(&one, 1)));
        ASSERT_EQ(one, all[i]);
    }
}

TEST(IForest, ConstantColumnsAndTinyData) {
    Matrix x(10, 2, 1.0);
    for (std::size_t i = 0; i < 10; ++i) x(i, 1) = static_cast<double>(i);
    IsolationForest f;
    ASSERT_TRUE(f.Fit(x));  // fewer rows than the sample size: uses all rows
    std::vector<double> s(10);
    ASSERT_TRUE(f.Score(x, s));
    Matrix all_const(5, 3, 2.0);
    IsolationForest g;
    ASSERT_TRUE(g.Fit(all_const));
    std::vector<double> s2(5);
    ASSERT_TRUE(g.Score(all_const, s2));
    for (double v : s2) EXPECT_EQ(v, s2[0]);
}

TEST(IForest, BadInputIsAClearError) {
    Matrix x(10, 2, 0.0);
    x(3, 1) = std::nan("");
    IsolationForest f;
    auto r = f.Fit(x);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("row 3, feature 1"), std::string::npos);
    EXPECT_FALSE(IForestParams::FromMap({{"trees", "0"}}));
    EXPECT_FALSE(IForestParams::FromMap({{"trees", "ten"}}));
    auto unknown = IForestParams::FromMap({{"tress", "10"}});
    ASSERT_FALSE(unknown);
    EXPECT_NE(unknown.error().hint.find("trees"), std::string::npos);
    EXPECT_EQ(IForestParams::FromMap({{"trees", "10"}, {"sample", "64"}})->trees, 10u);
    IsolationForest unfitted;
    std::vector<double> s(10);
    EXPECT_FALSE(unfitted.Score(Matrix(10, 2), s));
    IsolationForest fitted;
    ASSERT_TRUE(fitted.Fit(Matrix(10, 2)));
    EXPECT_FALSE(fitted.Score(Matrix(10, 3), s));  // wrong width
}

TEST(IForest, CorruptBytesAreRefused) {
    const Blob b = MakeBlob(1, 500);
    IsolationForest f;
    ASSERT_TRUE(f.Fit(b.x));
    const std::string bytes = f.Save();
    IsolationForest g;
    EXPECT_FALSE(g.Load(bytes.substr(0, bytes.size() / 2)));
    EXPECT_FALSE(g.Load(bytes + "x"));
    std::string wrong_version = bytes;
    wrong_version[0] = 9;
    auto r = g.Load(wrong_version);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kIncompatible);
    // Flip bytes inside the node array: must be refused or load to a model that scores safely.
    Rng rng(4);
    for (int i = 0; i < 200; ++i) {
        std::string m = bytes;
        m[40 + rng.Below(m.size() - 40)] ^= static_cast<char>(1 + rng.Below(255));
        IsolationForest h;
        if (h.Load(m)) {
            std::vector<double> s(b.x.rows());
            EXPECT_TRUE(h.Score(b.x, s));
        }
    }
}

TEST(Registry, CreatesByNameAndRejectsUnknown) {
    auto d = CreateDetector("iforest", {{"trees", "10"}});
    ASSERT_TRUE(d);
    EXPECT_EQ((*d)->Name(), "iforest");
    EXPECT_EQ((*d)->Params().at("trees"), "10");
    auto bad = CreateDetector("nope", {});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().hint.find("iforest"), std::string::npos);
}

}  // namespace
}  // namespace txguard
