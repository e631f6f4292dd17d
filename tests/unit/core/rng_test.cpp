#include "txguard/core/rng.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "txguard/core/bytes.hpp"
#include "txguard/core/parallel.hpp"

namespace txguard {
namespace {

TEST(Rng, SameSeedSameSequenceDifferentStreamsDiffer) {
    Rng a(42), b(42), c(42, 1);
    bool differs = false;
    for (int i = 0; i < 100; ++i) {
        const auto x = a.NextU64();
        EXPECT_EQ(x, b.NextU64());
        differs |= x != c.NextU64();
    }
    EXPECT_TRUE(differs);
}

TEST(Rng, DistributionsHaveTheirMoments) {
    Rng rng(7);
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0, sp = 0, se = 0;
    for (int i = 0; i < n; ++i) {
        su += rng.Uniform();
        const double z = rng.Normal(3.0, 2.0);
        sn += z;
        sn2 += z * z;
        sp += rng.Poisson(2.5);
        se += rng.Exponential(4.0);
    }
    EXPECT_NEAR(su / n, 0.5, 0.01);
    EXPECT_NEAR(sn / n, 3.0, 0.02);
    EXPECT_NEAR(std::sqrt(sn2 / n - (sn / n) * (sn / n)), 2.0, 0.02);
    EXPECT_NEAR(sp / n, 2.5, 0.02);
    EXPECT_NEAR(se / n, 0.25, 0.005);
    EXPECT_NEAR(static_cast<double>(rng.Poisson(1000.0)), 1000.0, 200.0);
    EXPECT_EQ(rng.Poisson(0.0), 0u);
}

TEST(Rng, BelowStaysInRange) {
    Rng rng(1);
    int counts[5] = {0, 0, 0, 0, 0};
    for (int i = 0; i < 50000; ++i) {
        const auto v = rng.Below(5);
        ASSERT_LT(v, 5u);
        ++counts[v];
    }
    for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}

TEST(Parallel, ChunksCoverTheRangeOnce) {
    for (unsigned chunks : {1u, 2u, 3u, 8u}) {
        std::vector<int> seen(1000, 0);
        ParallelChunks(seen.size(), chunks, [&](std::size_t b, std::size_t e, unsigned) {
            for (std::size_t i = b; i < e; ++i) seen[i] += 1;
        });
        for (int s : seen) ASSERT_EQ(s, 1);
    }
    int calls = 0;
    ParallelChunks(0, 4, [&](std::size_t b, std::size_t e, unsigned) { calls += e == b; });
    EXPECT_EQ(calls, 1);
}

TEST(Bytes, RoundTripAndTruncation) {
    ByteWriter w;
    w.Put<std::uint32_t>(7);
    w.PutString("hello");
    w.PutVector(std::vector<double>{1.5, -2.0});
    const std::string bytes = w.bytes();
    ByteReader r(bytes, "test");
    EXPECT_EQ(*r.Get<std::uint32_t>(), 7u);
    EXPECT_EQ(*r.GetString(), "hello");
    EXPECT_EQ(*r.GetVector<double>(), (std::vector<double>{1.5, -2.0}));
    EXPECT_TRUE(r.AtEnd());
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
        ByteReader t(std::string_view(bytes).substr(0, cut), "test");
        const bool ok = t.Get<std::uint32_t>() && t.GetString() && t.GetVector<double>();
        EXPECT_FALSE(ok) << "cut at " << cut;
    }
}

}  // namespace
}  // namespace txguard
