// Property and exactness tests for every detector in the registry.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "detect/neighbors.hpp"
#include "txguard/core/rng.hpp"
#include "txguard/detect/dbscan.hpp"
#include "txguard/detect/detector.hpp"
#include "txguard/detect/ecod.hpp"
#include "txguard/detect/iforest.hpp"
#include "txguard/detect/knn.hpp"
#include "txguard/detect/lof.hpp"
#include "txguard/eval/metrics.hpp"

namespace txguard {
namespace {

struct Data {
    Matrix x;
    std::vector<std::int8_t> y;
};

// Two Gaussian clusters plus scattered outliers (labelled 1).
Data MakeData(std::uint64_t seed, std::size_t n, std::size_t d) {
    Rng rng(seed);
    Data b{Matrix(n, d), std::vector<std::int8_t>(n, 0)};
    for (std::size_t i = 0; i < n; ++i) {
        const bool outlier = i % 40 == 7;
        b.y[i] = outlier;
        const double center = i % 2 ? 3.0 : -3.0;
        for (std::size_t j = 0; j < d; ++j)
            b.x(i, j) = outlier ? rng.Uniform(-9.0, 9.0) : center + rng.Normal(0.0, 1.0);
    }
    return b;
}

// Integer grid points: many duplicates and tied distances.
Matrix MakeTies(std::uint64_t seed, std::size_t n, std::size_t d, int range) {
    Rng rng(seed);
    Matrix x(n, d);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j)
            x(i, j) = static_cast<double>(rng.Below(static_cast<std::uint64_t>(range)));
    return x;
}

struct Case {
    std::string name;
    ParamMap params;
    bool order_invariant;  // FitScore on permuted rows gives permuted scores
};

std::vector<Case> Cases() {
    return {{"iforest", {{"trees", "50"}}, false},
            {"iforest", {{"trees", "50"}, {"extension", "2"}}, false},
            {"knn", {}, true},
            {"knn", {{"aggregate", "mean"}, {"k", "7"}}, true},
            {"lof", {}, true},
            {"dbscan", {}, true},
            {"dbscan", {{"eps", "0.8"}, {"min_samples", "5"}}, true},
            {"ecod", {}, true}};
}

std::string CaseName(const Case& c) {
    std::string s = c.name;
    for (const auto& [k, v] : c.params) s += " " + k + "=" + v;
    return s;
}

std::unique_ptr<Detector> Make(const Case& c) {
    auto d = CreateDetector(c.name, c.params);
    EXPECT_TRUE(d) << CaseName(c) << ": " << d.error().ToString();
    return std::move(*d);
}

std::vector<double> FitScore(Detector& det, MatrixView x) {
    std::vector<double> s(x.rows);
    auto r = det.FitScore(x, s);
    EXPECT_TRUE(r) << r.error().ToString();
    return s;
}

TEST(Detectors, RegistryListsEveryDetectorWithParams) {
    std::vector<std::string> names;
    for (const auto& info : ListDetectors()) names.push_back(info.name);
    for (const std::string name : {"dbscan", "ecod", "iforest", "knn", "lof"}) {
        const auto it = std::find_if(ListDetectors().begin(), ListDetectors().end(),
                                     [&](const DetectorInfo& i) { return i.name == name; });
        ASSERT_NE(it, ListDetectors().end()) << name;
        EXPECT_FALSE(it->summary.empty());
        auto d = CreateDetector(name, {});
        ASSERT_TRUE(d) << name;
        EXPECT_EQ((*d)->Name(), name);
        for (const auto& p : it->params)
            EXPECT_TRUE((*d)->Params().count(p.name)) << name << " " << p.name;
    }
    EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(Detectors, FindOutliersAndReversedScoresGiveOneMinusAuc) {
    const Data data = MakeData(1, 1200, 3);
    for (const auto& c : Cases()) {
        auto det = Make(c);
        const auto s = FitScore(*det, data.x);
        for (double v : s) ASSERT_TRUE(std::isfinite(v)) << CaseName(c);
        const double auc = *RocAuc(s, data.y);
        // ECOD scores each feature's tails: points between the two clusters look normal to it.
        EXPECT_GT(auc, c.name == "ecod" ? 0.8 : 0.9) << CaseName(c);
        std::vector<double> rev(s.size());
        for (std::size_t i = 0; i < s.size(); ++i) rev[i] = -s[i];
        EXPECT_NEAR(*RocAuc(rev, data.y), 1.0 - auc, 1e-12) << CaseName(c);
    }
}

TEST(Detectors, DeterministicWhateverTheThreads) {
    const Data data = MakeData(2, 5000, 4);  // above the single-thread cut-offs
    for (auto c : Cases()) {
        c.params["threads"] = "1";
        auto a = Make(c);
        const auto sa = FitScore(*a, data.x);
        c.params["threads"] = "3";
        auto b = Make(c);
        const auto sb = FitScore(*b, data.x);
        EXPECT_EQ(sa, sb) << CaseName(c);
        EXPECT_EQ(a->Save(), b->Save()) << CaseName(c);
        std::vector<double> na(600), nb(600);
        ASSERT_TRUE(a->Score(data.x.View().Slice(0, 600), na));
        ASSERT_TRUE(b->Score(data.x.View().Slice(0, 600), nb));
        EXPECT_EQ(na, nb) << CaseName(c);
    }
}

TEST(Detectors, SaveLoadRoundTripScoresBitForBit) {
    const Data data = MakeData(3, 900, 3);
    const Data fresh = MakeData(33, 300, 3);
    for (const auto& c : Cases()) {
        auto det = Make(c);
        FitScore(*det, data.x);
        std::vector<double> s1(fresh.x.rows()), s2(fresh.x.rows());
        ASSERT_TRUE(det->Score(fresh.x, s1));
        auto other = Make({c.name, {}, false});
        auto loaded = other->Load(det->Save());
        ASSERT_TRUE(loaded) << CaseName(c) << ": " << loaded.error().ToString();
        ASSERT_TRUE(other->Score(fresh.x, s2));
        EXPECT_EQ(s1, s2) << CaseName(c);
        EXPECT_EQ(other->Save(), det->Save()) << CaseName(c);
        EXPECT_EQ(other->NumFeatures(), 3u);
    }
}

TEST(Detectors, RowOrderInvarianceWherePromised) {
    const Data data = MakeData(4, 800, 3);
    std::vector<std::size_t> perm(data.x.rows());
    std::iota(perm.begin(), perm.end(), 0);
    Rng rng(9);
    for (std::size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.Below(i)]);
    Matrix shuffled(data.x.rows(), data.x.cols());
    for (std::size_t i = 0; i < perm.size(); ++i)
        for (std::size_t j = 0; j < data.x.cols(); ++j) shuffled(i, j) = data.x(perm[i], j);
    for (const auto& c : Cases()) {
        if (!c.order_invariant) continue;
        auto a = Make(c);
        auto b = Make(c);
        const auto sa = FitScore(*a, data.x);
        const auto sb = FitScore(*b, shuffled);
        for (std::size_t i = 0; i < perm.size(); ++i)
            ASSERT_NEAR(sb[i], sa[perm[i]], 1e-12 * std::max(1.0, std::fabs(sa[perm[i]])))
                << CaseName(c) << " row " << i;
    }
}

TEST(Detectors, SingleRowScoresEqualBatchScores) {
    const Data data = MakeData(5, 700, 3);
    for (const auto& c : Cases()) {
        auto det = Make(c);
        FitScore(*det, data.x);
        std::vector<double> all(data.x.rows());
        ASSERT_TRUE(det->Score(data.x, all));
        for (std::size_t i = 0; i < data.x.rows(); i += 37) {
            double one = 0;
            ASSERT_TRUE(det->Score(data.x.View().Slice(i, i + 1), std::span<double>(&one, 1)));
            ASSERT_EQ(one, all[i]) << CaseName(c);
        }
    }
}

TEST(Detectors, BadInputIsAClearError) {
    Matrix x = MakeData(6, 50, 3).x;
    for (const auto& c : Cases()) {
        Matrix bad = x;
        bad(7, 1) = std::nan("");
        auto det = Make(c);
        std::vector<double> s(bad.rows());
        auto r = det->FitScore(bad, s);
        ASSERT_FALSE(r) << CaseName(c);
        EXPECT_NE(r.error().message.find("row 7, feature 1"), std::string::npos) << CaseName(c);
        auto unfitted = Make(c);
        EXPECT_FALSE(unfitted->Score(x, s)) << CaseName(c);
        ASSERT_TRUE(det->FitScore(x, s)) << CaseName(c);
        std::vector<double> s3(5);
        EXPECT_FALSE(det->Score(Matrix(5, 4), s3)) << CaseName(c);  // wrong width
    }
    auto expect_error = [](std::string_view name, const ParamMap& p, const std::string& word) {
        auto d = CreateDetector(name, p);
        ASSERT_FALSE(d) << name;
        EXPECT_NE(d.error().ToString().find(word), std::string::npos) << d.error().ToString();
    };
    expect_error("knn", {{"k", "0"}}, "k");
    expect_error("knn", {{"aggregate", "median"}}, "aggregate");
    expect_error("lof", {{"k", "-3"}}, "k");
    expect_error("dbscan", {{"eps", "0"}}, "eps");
    expect_error("dbscan", {{"eps", "-1"}}, "eps");
    expect_error("dbscan", {{"min_samples", "0"}}, "min_samples");
    expect_error("dbscan", {{"epsilon", "1"}}, "min_samples");  // hint lists valid names
    expect_error("iforest", {{"extension", "x"}}, "extension");
    expect_error("ecod", {{"k", "3"}}, "threads");
    // k >= rows, extension >= features, eps from too few rows.
    Matrix small = MakeData(7, 5, 2).x;
    std::vector<double> s(5);
    for (auto [name, params, word] : std::vector<std::tuple<std::string, ParamMap, std::string>>{
             {"knn", {{"k", "5"}}, "k=5"},
             {"lof", {}, "k=20"},
             {"dbscan", {}, "min_samples"},
             {"iforest", {{"extension", "2"}}, "extension=2"}}) {
        auto d = CreateDetector(name, params);
        ASSERT_TRUE(d);
        auto r = (*d)->FitScore(small, s);
        ASSERT_FALSE(r) << name;
        EXPECT_NE(r.error().message.find(word), std::string::npos) << r.error().message;
    }
}

TEST(Detectors, CorruptBytesAreRefusedOrScoreSafely) {
    const Data data = MakeData(8, 300, 3);
    Rng rng(4);
    for (const auto& c : Cases()) {
        auto det = Make(c);
        FitScore(*det, data.x);
        const std::string bytes = det->Save();
        auto g = Make({c.name, {}, false});
        EXPECT_FALSE(g->Load(bytes.substr(0, bytes.size() / 2))) << CaseName(c);
        EXPECT_FALSE(g->Load(bytes + "x")) << CaseName(c);
        std::string wrong_version = bytes;
        wrong_version[0] = 9;
        auto r = g->Load(wrong_version);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, ErrorCode::kIncompatible);
        for (int i = 0; i < 60; ++i) {
            std::string m = bytes;
            for (int f = 0; f < 3; ++f)
                m[4 + rng.Below(m.size() - 4)] ^= static_cast<char>(1 + rng.Below(255));
            auto h = Make({c.name, {}, false});
            if (h->Load(m)) {
                std::vector<double> s(40);
                EXPECT_TRUE(h->Score(data.x.View().Slice(0, 40), s)) << CaseName(c);
            }
        }
    }
}

// ---- exactness against brute-force references
// -----------------------------------------------------

// All training distances from the detector's own standardisation.
struct Reference {
    Matrix z;
    std::vector<std::vector<std::pair<double, std::uint32_t>>> sorted;  // per row, others only
};
Reference BruteNeighbours(MatrixView x) {
    detail::Standardizer st;
    st.Fit(x);
    Reference ref{st.Apply(x), {}};
    ref.sorted.resize(x.rows);
    for (std::size_t i = 0; i < x.rows; ++i) {
        for (std::size_t j = 0; j < x.rows; ++j)
            if (j != i)
                ref.sorted[i].push_back(
                    {std::sqrt(detail::SquaredDistance(ref.z.data() + i * x.cols,
                                                       ref.z.data() + j * x.cols, x.cols)),
                     static_cast<std::uint32_t>(j)});
        std::sort(ref.sorted[i].begin(), ref.sorted[i].end());
    }
    return ref;
}

TEST(KnnExact, EqualsBruteForceInLowAndHighDimensions) {
    for (std::size_t d : {3u, 20u}) {  // k-d tree, blocked brute force
        const Data data = MakeData(10 + d, 600, d);
        const Reference ref = BruteNeighbours(data.x);
        for (std::uint32_t k : {1u, 5u, 12u}) {
            KnnParams p;
            p.k = k;
            KnnDetector knn(p);
            const auto s = FitScore(knn, data.x);
            p.aggregate = "mean";
            KnnDetector mean(p);
            const auto sm = FitScore(mean, data.x);
            for (std::size_t i = 0; i < data.x.rows(); ++i) {
                ASSERT_EQ(s[i], ref.sorted[i][k - 1].first) << "d=" << d << " k=" << k;
                double sum = 0;
                for (std::size_t j = 0; j < k; ++j) sum += ref.sorted[i][j].first;
                ASSERT_NEAR(sm[i], sum / k, 1e-12 * sum);
            }
            // Novelty: a training row scored as a new point has itself at distance 0.
            std::vector<double> novel(data.x.rows());
            ASSERT_TRUE(knn.Score(data.x, novel));
            for (std::size_t i = 0; i < data.x.rows(); ++i)
                ASSERT_EQ(novel[i], k == 1 ? 0.0 : ref.sorted[i][k - 2].first);
        }
    }
}

TEST(KnnExact, DuplicatesDoNotCountThemselves) {
    const Matrix x = MakeTies(3, 400, 2, 4);  // 16 distinct points, ~25 copies each
    KnnParams p;
    p.k = 30;
    KnnDetector knn(p);
    const auto s = FitScore(knn, x);
    const Reference ref = BruteNeighbours(x);
    for (std::size_t i = 0; i < x.rows(); ++i) ASSERT_EQ(s[i], ref.sorted[i][29].first);
}

std::vector<double> LofReference(const Reference& ref, std::size_t k) {
    const std::size_t n = ref.sorted.size();
    std::vector<double> kdist(n), lrd(n), lof(n);
    for (std::size_t i = 0; i < n; ++i) kdist[i] = ref.sorted[i][k - 1].first;
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < k; ++j) {
            const auto [dist, o] = ref.sorted[i][j];
            s += std::max(dist, kdist[o]);
        }
        lrd[i] = 1.0 / (s / k + 1e-10);
    }
    for (std::size_t i = 0; i < n; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < k; ++j) s += lrd[ref.sorted[i][j].second] / lrd[i];
        lof[i] = s / k;
    }
    return lof;
}

TEST(LofExact, EqualsBruteForceReference) {
    for (std::size_t d : {2u, 4u, 18u}) {
        const Data data = MakeData(20 + d, 500, d);
        const Reference ref = BruteNeighbours(data.x);
        for (std::uint32_t k : {3u, 20u}) {
            LofParams p;
            p.k = k;
            LofDetector lof(p);
            const auto s = FitScore(lof, data.x);
            const auto want = LofReference(ref, k);
            for (std::size_t i = 0; i < s.size(); ++i)
                ASSERT_NEAR(s[i], want[i], 1e-12 * want[i]) << "d=" << d << " k=" << k;
        }
    }
}

#include "lof_sklearn_ties.inc"

// Integer data where 455 of 500 rows get a different LOF from scikit-learn's brute force than from
// its kd_tree: which tied neighbours count matters. txguard reproduces algorithm='auto' (kd_tree).
TEST(LofExact, EqualsScikitLearnOnTiedData) {
    Matrix x(kLofTiesRows, kLofTiesCols);
    std::copy(std::begin(kLofTiesX), std::end(kLofTiesX), x.data());
    LofDetector lof;
    const auto s = FitScore(lof, x);
    for (std::size_t i = 0; i < s.size(); ++i)
        ASSERT_NEAR(s[i], kLofTiesTrain[i], 1e-12 * kLofTiesTrain[i]) << "row " << i;
    Matrix q(kLofTiesQueries, kLofTiesCols);
    std::copy(std::begin(kLofTiesQ), std::end(kLofTiesQ), q.data());
    std::vector<double> novel(q.rows());
    ASSERT_TRUE(lof.Score(q, novel));
    for (std::size_t i = 0; i < novel.size(); ++i)
        ASSERT_NEAR(novel[i], kLofTiesNovel[i], 1e-12 * kLofTiesNovel[i]) << "query " << i;
    // Ties broken by row index instead (a brute-force reference) would not match.
    const auto by_index = LofReference(BruteNeighbours(x), 20);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < s.size(); ++i)
        differ += std::fabs(by_index[i] - kLofTiesTrain[i]) > 1e-6 * kLofTiesTrain[i];
    EXPECT_GT(differ, 50u);
}

TEST(LofExact, NoveltyScoreOfACopyOfAFarPointIsHigh) {
    const Data data = MakeData(31, 400, 3);
    LofDetector lof;
    FitScore(lof, data.x);
    Matrix probe(2, 3, 0.0);
    for (std::size_t j = 0; j < 3; ++j) {
        probe(0, j) = 3.0;   // cluster centre
        probe(1, j) = 30.0;  // far away
    }
    std::vector<double> s(2);
    ASSERT_TRUE(lof.Score(probe, s));
    EXPECT_LT(s[0], 1.5);
    EXPECT_GT(s[1], 3.0);
}

// scikit-learn's DBSCAN, literally: neighbourhoods by |p-q|^2 <= eps^2, then dbscan_inner's
// depth-first expansion in row order.
std::vector<std::int32_t> NaiveDbscan(const Matrix& z, double eps, std::size_t min_samples) {
    const std::size_t n = z.rows();
    std::vector<std::vector<std::size_t>> nb(n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < n; ++j)
            if (detail::SquaredDistance(z.data() + i * z.cols(), z.data() + j * z.cols(),
                                        z.cols()) <= eps * eps)
                nb[i].push_back(j);
    std::vector<std::int32_t> labels(n, -1);
    std::int32_t label = 0;
    for (std::size_t i0 = 0; i0 < n; ++i0) {
        if (labels[i0] != -1 || nb[i0].size() < min_samples) continue;
        std::vector<std::size_t> stack;
        std::size_t i = i0;
        while (true) {
            if (labels[i] == -1) {
                labels[i] = label;
                if (nb[i].size() >= min_samples)
                    for (std::size_t v : nb[i])
                        if (labels[v] == -1) stack.push_back(v);
            }
            if (stack.empty()) break;
            i = stack.back();
            stack.pop_back();
        }
        ++label;
    }
    return labels;
}

TEST(DbscanExact, LabelsEqualNaiveDbscanWithTies) {
    int checked = 0;
    for (std::uint64_t seed = 0; seed < 8; ++seed) {
        // Seeds 6 and 7: above 15 features (blocked brute force instead of the k-d tree).
        const std::size_t d = seed < 6 ? 2 + seed % 3 : 16 + 4 * (seed - 6);
        const Matrix x = MakeTies(seed, 300 + 50 * seed, d, 7 + static_cast<int>(seed));
        detail::Standardizer st;
        st.Fit(x);
        const Matrix z = st.Apply(x);
        // eps exactly equal to a distance that occurs (ties on the boundary), and one from the
        // k-distance curve.
        const double exact_eps = std::sqrt(detail::SquaredDistance(z.data(), z.data() + d, d));
        for (double eps : {exact_eps, 0.0}) {
            if (eps == 0.0 && seed % 2) continue;
            for (std::uint32_t min_samples : {3u, 10u}) {
                DbscanParams p;
                p.eps = eps;
                p.min_samples = min_samples;
                DbscanDetector det(p);
                std::vector<double> s(x.rows());
                auto r = det.FitScore(x, s);
                if (!r) continue;  // no core points for this eps
                const auto want = NaiveDbscan(z, det.eps(), min_samples);
                ASSERT_EQ(det.Labels(), want) << "seed " << seed << " eps " << det.eps();
                for (std::size_t i = 0; i < s.size(); ++i) {
                    ASSERT_EQ(want[i] == -1, s[i] > 1.0) << "row " << i;
                    ASSERT_GE(s[i], 0.0);
                }
                std::vector<double> again(x.rows());  // training rows as new points
                ASSERT_TRUE(det.Score(x, again));
                ASSERT_EQ(s, again) << "seed " << seed;
                ++checked;
            }
        }
    }
    EXPECT_GT(checked, 16);
}

// Above the single-thread cut-off: concurrent joins (with the tree's component shortcuts) still
// give scikit-learn's labels, whatever the thread count.
TEST(DbscanExact, LargeDataLabelsEqualNaiveDbscanOnAnyThreads) {
    for (std::size_t d : {3u, 17u}) {
        // d = 3: integer grid; d = 17: 6 blobs, values rounded to 0.5 (ties), 2% scattered.
        Matrix x = MakeTies(50 + d, 5000, d, 12);
        if (d == 17) {
            Rng rng(77);
            std::vector<double> centres(6 * d);
            for (double& c : centres) c = rng.Uniform(-6.0, 6.0);
            for (std::size_t i = 0; i < x.rows(); ++i)
                for (std::size_t j = 0; j < d; ++j)
                    x(i, j) =
                        i % 50 == 0
                            ? std::round(rng.Uniform(-12.0, 12.0))
                            : std::round(2.0 * (centres[(i % 6) * d + j] + rng.Normal(0.0, 0.6))) /
                                  2.0;
        }
        detail::Standardizer st;
        st.Fit(x);
        const Matrix z = st.Apply(x);
        std::vector<std::int32_t> first;
        for (const char* threads : {"1", "3"}) {
            auto det = CreateDetector("dbscan", {{"threads", threads}});
            ASSERT_TRUE(det);
            std::vector<double> s(x.rows());
            ASSERT_TRUE((*det)->FitScore(x, s));
            const auto& labels = static_cast<DbscanDetector&>(**det).Labels();
            if (first.empty()) {
                const double eps = static_cast<DbscanDetector&>(**det).eps();
                ASSERT_EQ(labels, NaiveDbscan(z, eps, 10)) << "d=" << d;
                first = labels;
            }
            EXPECT_EQ(labels, first) << "d=" << d << " threads=" << threads;
        }
    }
}

TEST(DbscanExact, AutomaticEpsIsTheKDistanceQuantile) {
    const Data data = MakeData(40, 400, 3);
    const Reference ref = BruteNeighbours(data.x);
    std::vector<double> kd(400);
    for (std::size_t i = 0; i < 400; ++i) kd[i] = ref.sorted[i][8].first;
    DbscanDetector det;
    std::vector<double> s(400);
    ASSERT_TRUE(det.FitScore(data.x, s));
    EXPECT_NEAR(det.eps(), *Quantile(kd, 0.95), 1e-12);
    EXPECT_EQ(det.Params().at("min_samples"), "10");
    // Scores of the training rows as new points equal the training scores.
    std::vector<double> again(400);
    ASSERT_TRUE(det.Score(data.x, again));
    EXPECT_EQ(s, again);
}

TEST(EcodTest, ScoresMatchDefinition) {
    Matrix x(5, 1);
    for (std::size_t i = 0; i < 5; ++i) x(i, 0) = static_cast<double>(i * i);  // skewed right
    EcodDetector e;
    std::vector<double> s(5);
    ASSERT_TRUE(e.FitScore(x, s));
    // Right skew: U_s is the right tail; the largest value has 1 value >= it.
    const double want = std::max({std::log(6.0) - std::log(6.0), std::log(6.0) - std::log(2.0)});
    EXPECT_NEAR(s[4], want, 1e-12);
    EXPECT_GT(s[4], s[2]);
}

}  // namespace
}  // namespace txguard
