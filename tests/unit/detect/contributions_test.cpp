// Per-feature contributions (reasons) of the unsupervised detectors: the sum property, the planted
// outlier's reason, determinism, thread safety and argument errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "txguard/core/rng.hpp"
#include "txguard/detect/detector.hpp"

namespace txguard {
namespace {

struct Case {
    std::string name;
    ParamMap params;
    double bias;  // documented bias (last entry)
};

std::vector<Case> Cases() {
    return {{"iforest", {}, 0.5},
            {"iforest", {{"extension", "1"}}, 0.5},
            {"iforest", {{"extension", "4"}}, 0.5},
            {"knn", {}, 0.0},
            {"knn", {{"aggregate", "mean"}, {"k", "7"}}, 0.0},
            {"lof", {}, 1.0},
            {"dbscan", {}, 0.0},
            {"ecod", {}, 0.0}};
}

std::string CaseName(const Case& c) {
    std::string s = c.name;
    for (const auto& [k, v] : c.params) s += " " + k + "=" + v;
    return s;
}

constexpr std::size_t kDims = 5, kRows = 600, kPlanted = 123, kOddFeature = 3;

// Standard normal data in 5 features; row kPlanted is ordinary except 8 standard deviations off in
// feature 3.
Matrix PlantedData(std::uint64_t seed) {
    Rng rng(seed);
    Matrix x(kRows, kDims);
    for (std::size_t i = 0; i < kRows; ++i)
        for (std::size_t j = 0; j < kDims; ++j) x(i, j) = rng.Normal(0.0, 1.0);
    for (std::size_t j = 0; j < kDims; ++j) x(kPlanted, j) = 0.2;
    x(kPlanted, kOddFeature) = 8.0;
    return x;
}

std::unique_ptr<Detector> Fitted(const Case& c, MatrixView x) {
    auto d = CreateDetector(c.name, c.params);
    EXPECT_TRUE(d) << CaseName(c);
    auto r = (*d)->Fit(x);
    EXPECT_TRUE(r) << CaseName(c) << ": " << r.error().ToString();
    return std::move(*d);
}

TEST(Contributions, SumToTheScoreAndNameThePlantedFeature) {
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        const Matrix x = PlantedData(seed);
        for (const auto& c : Cases()) {
            auto det = Fitted(c, x);
            std::vector<double> scores(kRows);
            ASSERT_TRUE(det->Score(x, scores));
            std::vector<double> out(kDims + 1);
            for (std::size_t i = 0; i < kRows; i += 7) {
                ASSERT_TRUE(det->Contributions(x.View().Row(i), out)) << CaseName(c);
                double sum = 0.0;
                for (double v : out) sum += v;
                ASSERT_NEAR(sum, scores[i], 1e-12 * std::max(1.0, std::fabs(scores[i])))
                    << CaseName(c) << " row " << i;
                ASSERT_EQ(out[kDims], c.bias) << CaseName(c);
            }
            ASSERT_TRUE(det->Contributions(x.View().Row(kPlanted), out)) << CaseName(c);
            const auto top = std::max_element(out.begin(), out.begin() + kDims) - out.begin();
            EXPECT_EQ(static_cast<std::size_t>(top), kOddFeature)
                << CaseName(c) << " seed " << seed << ": " << out[0] << " " << out[1] << " "
                << out[2] << " " << out[3] << " " << out[4];
            EXPECT_GT(out[kOddFeature], 0.0) << CaseName(c);
            double sum = 0.0;
            for (double v : out) sum += v;
            EXPECT_NEAR(sum, scores[kPlanted], 1e-12 * std::max(1.0, scores[kPlanted]));
        }
    }
}

TEST(Contributions, DeterministicAndThreadSafe) {
    const Matrix x = PlantedData(4);
    for (const auto& c : Cases()) {
        auto det = Fitted(c, x);
        auto a = Fitted(c, x);  // a second model from the same data and parameters
        std::vector<double> want(kRows * (kDims + 1)), got(want.size()), other(want.size());
        for (std::size_t i = 0; i < kRows; ++i)
            ASSERT_TRUE(det->Contributions(
                x.View().Row(i), std::span<double>(want).subspan(i * (kDims + 1), kDims + 1)));
        // Two threads over interleaved rows of the same (const) detector.
        auto work = [&](std::size_t first) {
            for (std::size_t i = first; i < kRows; i += 2)
                (void)det->Contributions(
                    x.View().Row(i), std::span<double>(got).subspan(i * (kDims + 1), kDims + 1));
        };
        std::thread t1(work, 0), t2(work, 1);
        t1.join();
        t2.join();
        EXPECT_EQ(got, want) << CaseName(c);
        for (std::size_t i = 0; i < kRows; ++i)
            ASSERT_TRUE(a->Contributions(
                x.View().Row(i), std::span<double>(other).subspan(i * (kDims + 1), kDims + 1)));
        EXPECT_EQ(other, want) << CaseName(c);
    }
}

// ScoreExplained gives Score's scores and Contributions' values, bit for bit, for the rows its
// filter asks for: 2,603 rows (several 256-row blocks on several threads, and a tail that is not
// a multiple of the 8 rows walked in lock step), one row (a live request), and no filter.
TEST(Contributions, ScoreExplainedEqualsScoreThenContributions) {
    const Matrix base = PlantedData(6);
    Matrix x(2603, kDims);
    for (std::size_t i = 0; i < x.rows(); ++i)
        for (std::size_t j = 0; j < kDims; ++j)
            x(i, j) = base(i % kRows, j) + 1e-3 * double(i / kRows);
    for (const auto& c : Cases()) {
        auto det = Fitted(c, base);
        for (const std::size_t rows : {x.rows(), std::size_t{1}, std::size_t{13}}) {
            const MatrixView v = x.View().Slice(0, rows);
            std::vector<double> want(rows);
            ASSERT_TRUE(det->Score(v, want)) << CaseName(c);
            std::vector<double> got(rows), asked_score(rows, -1.0);
            Matrix contrib;
            std::vector<char> asked(rows, 0);
            auto explain = [&](std::size_t r, double score) {
                asked[r] = 1;
                asked_score[r] = score;
                return r % 3 != 1;
            };
            ASSERT_TRUE(det->ScoreExplained(v, got, explain, &contrib)) << CaseName(c);
            ASSERT_EQ(got, want) << CaseName(c) << " rows " << rows;
            ASSERT_EQ(asked_score, want) << CaseName(c) << " rows " << rows;
            ASSERT_EQ(contrib.rows(), rows);
            ASSERT_EQ(contrib.cols(), kDims + 1);
            std::vector<double> one(kDims + 1);
            for (std::size_t r = 0; r < rows; r += (rows > 100 ? 5 : 1)) {
                ASSERT_TRUE(asked[r]) << CaseName(c) << " row " << r;
                if (r % 3 == 1) continue;
                ASSERT_TRUE(det->Contributions(v.Row(r), one));
                const auto row = contrib.View().Row(r);
                ASSERT_EQ(std::vector<double>(row.begin(), row.end()), one)
                    << CaseName(c) << " rows " << rows << " row " << r;
            }
            // No filter: the scores alone, the matrix left as it was.
            std::vector<double> plain(rows);
            ASSERT_TRUE(det->ScoreExplained(v, plain, {}, &contrib)) << CaseName(c);
            EXPECT_EQ(plain, want) << CaseName(c);
        }
    }
}

TEST(Contributions, SizeAndInputErrors) {
    const Matrix x = PlantedData(5);
    for (const auto& c : Cases()) {
        std::vector<double> out(kDims + 1);
        auto unfitted = CreateDetector(c.name, c.params);
        ASSERT_TRUE(unfitted);
        EXPECT_FALSE((*unfitted)->Contributions(x.View().Row(0), out)) << CaseName(c);
        auto det = Fitted(c, x);
        std::vector<double> short_out(kDims);
        auto r = det->Contributions(x.View().Row(0), short_out);
        ASSERT_FALSE(r) << CaseName(c);
        EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
        EXPECT_NE(r.error().message.find("expected 5 and 6"), std::string::npos)
            << r.error().message;
        std::vector<double> long_row(kDims + 1, 0.0);
        EXPECT_FALSE(det->Contributions(long_row, out)) << CaseName(c);
        std::vector<double> nan_row(kDims, 0.0);
        nan_row[2] = std::nan("");
        r = det->Contributions(nan_row, out);
        ASSERT_FALSE(r) << CaseName(c);
        EXPECT_NE(r.error().message.find("feature 2"), std::string::npos) << r.error().message;
        // An all-zero row (what the scoring service probes with) is fine.
        std::vector<double> zeros(kDims, 0.0);
        EXPECT_TRUE(det->Contributions(zeros, out)) << CaseName(c);
    }
}

}  // namespace
}  // namespace txguard
