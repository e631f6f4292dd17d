#include "txguard/detect/xgboost.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "txguard/core/rng.hpp"
#include "txguard/eval/metrics.hpp"

namespace txguard {
namespace {

// Rows with d features; fraud probability rises steeply with feature 0, mildly with feature 1;
// the other features are noise. About 8% frauds.
struct Labelled {
    Matrix x;
    std::vector<std::int8_t> y;
};
Labelled MakeData(std::uint64_t seed, std::size_t n = 3000, std::size_t d = 5, double noise = 0.5) {
    Rng rng(seed);
    Labelled b{Matrix(n, d), std::vector<std::int8_t>(n, 0)};
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < d; ++j) b.x(i, j) = rng.Normal(0.0, 1.0);
        const double logit = 4.0 * b.x(i, 0) + 0.8 * b.x(i, 1) - 7.0 + rng.Normal(0.0, noise);
        b.y[i] = rng.Uniform() < 1.0 / (1.0 + std::exp(-logit)) ? 1 : 0;
    }
    return b;
}

XgboostParams Small() {
    XgboostParams p;
    p.trees = 40;
    p.depth = 4;
    p.eta = 0.3;
    p.threads = 1;  // fast on a busy machine (OpenMP spins); threads = 2 tested below
    return p;
}

std::vector<double> ScoreAll(const XgboostDetector& m, MatrixView x) {
    std::vector<double> s(x.rows);
    EXPECT_TRUE(m.Score(x, s));
    return s;
}

TEST(Xgboost, LearnsASeparableProblem) {
    const Labelled train = MakeData(1), test = MakeData(2);
    XgboostDetector m(Small());
    ASSERT_TRUE(m.FitSupervised({train.x, train.y, {}, {}, {}}));
    EXPECT_TRUE(m.Supervised());
    EXPECT_EQ(m.NumFeatures(), 5u);
    EXPECT_EQ(m.BestIteration(), 39);
    const auto s = ScoreAll(m, test.x);
    EXPECT_GT(*RocAuc(s, test.y), 0.95);
    for (double v : s) {
        EXPECT_GE(v, 0.0);
        EXPECT_LE(v, 1.0);
    }
    EXPECT_EQ(m.Params().at("best_iteration"), "39");
}

TEST(Xgboost, EarlyStoppingKeepsTheBestIteration) {
    // Noisy labels and a fast learner: the validation aucpr peaks early.
    const Labelled train = MakeData(3, 2000, 5, 3.0), valid = MakeData(4, 2000, 5, 3.0);
    XgboostParams p = Small();
    p.trees = 300;
    p.depth = 6;
    p.eta = 0.5;
    p.early_stopping = 5;
    XgboostDetector m(p);
    ASSERT_TRUE(m.FitSupervised({train.x, train.y, valid.x, valid.y, {}}));
    ASSERT_LT(m.RoundsTrained(), 300u);
    EXPECT_EQ(m.BestIteration() + 1 + 5, static_cast<std::int64_t>(m.RoundsTrained()));
    const auto& h = m.ValidationHistory();
    ASSERT_EQ(h.size(), m.RoundsTrained());
    EXPECT_EQ(std::max_element(h.begin(), h.end()) - h.begin(), m.BestIteration());
    // The kept model is the first best_iteration + 1 rounds: identical to training that many.
    XgboostParams q = p;
    q.trees = static_cast<std::uint32_t>(m.BestIteration() + 1);
    XgboostDetector cut(q);
    ASSERT_TRUE(cut.FitSupervised({train.x, train.y, {}, {}, {}}));
    EXPECT_EQ(ScoreAll(m, valid.x), ScoreAll(cut, valid.x));
    EXPECT_EQ(m.BoosterBytes(), cut.BoosterBytes());
    // early_stopping = 0 trains every round even with a validation set.
    p.early_stopping = 0;
    p.trees = 30;
    XgboostDetector all(p);
    ASSERT_TRUE(all.FitSupervised({train.x, train.y, valid.x, valid.y, {}}));
    EXPECT_EQ(all.RoundsTrained(), 30u);
    EXPECT_EQ(all.BestIteration(), 29);
}

TEST(Xgboost, LoglossIsMinimised) {
    const Labelled train = MakeData(3, 2000, 5, 3.0), valid = MakeData(4, 2000, 5, 3.0);
    XgboostParams p = Small();
    p.trees = 300;
    p.eta = 0.5;
    p.depth = 6;
    p.early_stopping = 5;
    p.eval_metric = "logloss";
    XgboostDetector m(p);
    ASSERT_TRUE(m.FitSupervised({train.x, train.y, valid.x, valid.y, {}}));
    const auto& h = m.ValidationHistory();
    ASSERT_LT(m.RoundsTrained(), 300u);
    EXPECT_EQ(std::min_element(h.begin(), h.end()) - h.begin(), m.BestIteration());
}

TEST(Xgboost, DeterministicForASeedWhateverTheThreads) {
    const Labelled train = MakeData(5, 1500);
    for (std::uint64_t seed : {0ull, 7ull}) {
        XgboostParams p = Small();
        p.subsample = 0.7;
        p.colsample = 0.6;
        p.seed = seed;
        p.threads = 1;
        XgboostDetector one(p), again(p);
        ASSERT_TRUE(one.FitSupervised({train.x, train.y, {}, {}, {}}));
        ASSERT_TRUE(again.FitSupervised({train.x, train.y, {}, {}, {}}));
        EXPECT_EQ(one.Save(), again.Save());
        p.threads = 2;
        XgboostDetector two(p);
        ASSERT_TRUE(two.FitSupervised({train.x, train.y, {}, {}, {}}));
        EXPECT_EQ(one.Save(), two.Save()) << "seed " << seed;
        EXPECT_EQ(ScoreAll(one, train.x), ScoreAll(two, train.x));
    }
    XgboostParams a = Small(), b = Small();
    a.subsample = b.subsample = 0.7;
    b.seed = 1;
    XgboostDetector ma(a), mb(b);
    ASSERT_TRUE(ma.FitSupervised({train.x, train.y, {}, {}, {}}));
    ASSERT_TRUE(mb.FitSupervised({train.x, train.y, {}, {}, {}}));
    EXPECT_NE(ma.Save(), mb.Save());
}

TEST(Xgboost, SaveLoadRoundTripScoresBitForBit) {
    const Labelled train = MakeData(8), test = MakeData(9);
    XgboostDetector m(Small());
    ASSERT_TRUE(m.FitSupervised({train.x, train.y, {}, {}, {}}));
    const std::string bytes = m.Save();
    auto created = CreateDetector("xgboost", m.Params());  // as the model bundle does
    ASSERT_TRUE(created) << created.error().ToString();
    ASSERT_TRUE((*created)->Load(bytes));
    EXPECT_EQ((*created)->NumFeatures(), 5u);
    EXPECT_EQ((*created)->Save(), bytes);
    std::vector<double> a(test.x.rows()), b(test.x.rows());
    ASSERT_TRUE(m.Score(test.x, a));
    ASSERT_TRUE((*created)->Score(test.x, b));
    EXPECT_EQ(a, b);
    EXPECT_EQ((*created)->Params(), m.Params());
    EXPECT_EQ((*created)->FeatureImportance(), m.FeatureImportance());
}

TEST(Xgboost, RefusesCorruptBytes) {
    const Labelled train = MakeData(10, 1000);
    XgboostParams p = Small();
    p.trees = 5;
    XgboostDetector m(p);
    ASSERT_TRUE(m.FitSupervised({train.x, train.y, {}, {}, {}}));
    const std::string bytes = m.Save();
    XgboostDetector fresh;
    EXPECT_FALSE(fresh.Load(""));
    EXPECT_FALSE(fresh.Load(bytes.substr(0, 3)));
    for (std::size_t cut : {std::size_t{4}, std::size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
        auto r = fresh.Load(bytes.substr(0, cut));
        ASSERT_FALSE(r) << "cut " << cut;
        EXPECT_EQ(r.error().code, ErrorCode::kCorrupt) << r.error().message;
    }
    // Flip one bit at positions across the header, the booster and the checksum.
    for (std::size_t i = 4; i < bytes.size(); i += std::max<std::size_t>(1, bytes.size() / 97)) {
        std::string bad = bytes;
        bad[i] = static_cast<char>(bad[i] ^ 0x10);
        auto r = fresh.Load(bad);
        ASSERT_FALSE(r) << "flip at " << i;
        EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
    }
    std::string other = bytes;
    other[0] = 9;  // format number
    auto r = fresh.Load(other);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kIncompatible);
    EXPECT_EQ(fresh.NumFeatures(), 0u);  // nothing was installed
    ASSERT_TRUE(fresh.Load(bytes));
}

// The booster's own bytes damaged behind a valid txguard checksum: xgboost's loader (or the
// header cross-checks) must refuse them without crashing.
std::uint64_t Fnv1a(std::string_view bytes) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}
TEST(Xgboost, RefusesDamagedBoosterBehindAValidChecksum) {
    const Labelled train = MakeData(18, 1000);
    XgboostParams p = Small();
    p.trees = 5;
    XgboostDetector m(p);
    ASSERT_TRUE(m.FitSupervised({train.x, train.y, {}, {}, {}}));
    const std::string saved = m.Save();
    const std::string& booster = m.BoosterBytes();
    // Layout: header, u64 booster length, booster bytes, u64 checksum.
    const std::size_t header = saved.size() - 8 - booster.size() - 8;
    ASSERT_EQ(saved.substr(header + 8, booster.size()), booster);
    auto seal = [&](const std::string& b) {
        std::string out = saved.substr(0, header);
        const std::uint64_t n = b.size();
        out.append(reinterpret_cast<const char*>(&n), 8);
        out += b;
        const std::uint64_t sum = Fnv1a(out);
        out.append(reinterpret_cast<const char*>(&sum), 8);
        return out;
    };
    XgboostDetector fresh;
    ASSERT_TRUE(fresh.Load(seal(booster)));
    std::vector<std::string> damaged = {booster.substr(0, booster.size() / 2),
                                        booster.substr(0, 10), "{}", "not a model",
                                        std::string(64, '\0')};
    Rng rng(3);
    for (int k = 0; k < 40; ++k) {
        std::string b = booster;
        const std::size_t at = rng.Below(b.size());
        b[at] = static_cast<char>(rng.Below(256));
        damaged.push_back(b);
    }
    int refused = 0;
    for (const auto& b : damaged) {
        XgboostDetector d;
        auto r = d.Load(seal(b));
        if (!r) {
            EXPECT_EQ(r.error().code, ErrorCode::kCorrupt) << r.error().message;
            ++refused;
        } else {  // a change xgboost cannot see (e.g. in a leaf value) still gives a usable model
            std::vector<double> out(train.x.rows());
            EXPECT_TRUE(d.Score(train.x, out));
        }
    }
    EXPECT_GE(refused, 5);
}

TEST(Xgboost, ContributionsSumToTheMargin) {
    const Labelled train = MakeData(11), test = MakeData(12, 200);
    XgboostDetector m(Small());
    ASSERT_TRUE(m.FitSupervised({train.x, train.y, {}, {}, {}}));
    const auto s = ScoreAll(m, test.x);
    std::vector<double> c(6);
    int checked = 0;
    for (std::size_t i = 0; i < test.x.rows(); ++i) {
        ASSERT_TRUE(m.Contributions(test.x.View().Row(i), c));
        if (s[i] < 1e-4 || s[i] > 1 - 1e-4) continue;  // float probability: logit imprecise
        double sum = 0;
        for (double v : c) sum += v;
        EXPECT_NEAR(sum, std::log(s[i] / (1 - s[i])), 1e-4) << "row " << i;
        ++checked;
    }
    EXPECT_GT(checked, 50);
    EXPECT_FALSE(m.Contributions(test.x.View().Row(0), std::span<double>(c).first(5)));
    std::vector<double> missing(5, std::numeric_limits<double>::quiet_NaN());
    EXPECT_TRUE(m.Contributions(missing, c));
}

TEST(Xgboost, ImportanceIsHighestOnTheInformativeFeature) {
    const Labelled train = MakeData(13);
    XgboostDetector m(Small());
    ASSERT_TRUE(m.FitSupervised({train.x, train.y, {}, {}, {}}));
    const auto imp = m.FeatureImportance();
    ASSERT_EQ(imp.size(), 5u);
    for (double v : imp) EXPECT_GE(v, 0.0);
    EXPECT_EQ(std::max_element(imp.begin(), imp.end()) - imp.begin(), 0);
    EXPECT_GT(imp[0], imp[1]);
}

TEST(Xgboost, MissingValuesAndWeights) {
    Labelled train = MakeData(14);
    for (std::size_t i = 0; i < train.x.rows(); i += 7) train.x(i, 2) = std::nan("");
    std::vector<double> w(train.x.rows(), 1.0);
    for (std::size_t i = 0; i < w.size(); ++i)
        if (train.y[i]) w[i] = 5.0;
    XgboostDetector m(Small());
    ASSERT_TRUE(m.FitSupervised({train.x, train.y, {}, {}, w}));
    const auto s = ScoreAll(m, train.x);
    for (double v : s) EXPECT_TRUE(std::isfinite(v));
    // Up-weighting frauds (by row weights or scale_pos_weight) raises the mean probability. (Not
    // bit-equal to each other: row weights also weight hist's quantile sketch.)
    auto mean = [](const std::vector<double>& v) {
        double t = 0;
        for (double e : v) t += e;
        return t / static_cast<double>(v.size());
    };
    XgboostParams p = Small();
    XgboostDetector plain(p);
    ASSERT_TRUE(plain.FitSupervised({train.x, train.y, {}, {}, {}}));
    const Labelled test = MakeData(17);
    const double base = mean(ScoreAll(plain, test.x));
    EXPECT_GT(mean(ScoreAll(m, test.x)), 1.2 * base);
    p.scale_pos_weight = "5";
    XgboostDetector spw(p);
    ASSERT_TRUE(spw.FitSupervised({train.x, train.y, {}, {}, {}}));
    EXPECT_GT(mean(ScoreAll(spw, test.x)), 1.2 * base);
    p.scale_pos_weight = "auto";
    XgboostDetector autow(p);
    ASSERT_TRUE(autow.FitSupervised({train.x, train.y, {}, {}, {}}));
    std::size_t pos = 0;
    for (auto v : train.y) pos += static_cast<std::size_t>(v);
    EXPECT_DOUBLE_EQ(std::stod(autow.Params().at("scale_pos_weight_used")),
                     static_cast<double>(train.y.size() - pos) / static_cast<double>(pos));
}

TEST(Xgboost, BadInputIsAnError) {
    const Labelled train = MakeData(15, 500);
    XgboostDetector m(Small());
    auto r = m.Fit(train.x);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "xgboost is supervised: it needs labelled training data");
    std::vector<double> out(train.x.rows());
    EXPECT_FALSE(m.FitScore(train.x, out));
    EXPECT_FALSE(m.Score(train.x, out));  // not fitted

    std::vector<std::int8_t> y = train.y;
    y[3] = 2;
    EXPECT_FALSE(m.FitSupervised({train.x, y, {}, {}, {}}));
    std::vector<std::int8_t> zeros(train.y.size(), 0);
    r = m.FitSupervised({train.x, zeros, {}, {}, {}});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("only one class"), std::string::npos);
    EXPECT_FALSE(m.FitSupervised({train.x, std::span(train.y).first(10), {}, {}, {}}));
    std::vector<double> w(3, 1.0);
    EXPECT_FALSE(m.FitSupervised({train.x, train.y, {}, {}, w}));
    const Matrix narrow(100, 4);
    EXPECT_FALSE(m.FitSupervised({train.x, train.y, narrow, std::span(train.y).first(100), {}}));
    Matrix inf = train.x;
    inf(5, 1) = std::numeric_limits<double>::infinity();
    EXPECT_FALSE(m.FitSupervised({inf, train.y, {}, {}, {}}));

    ASSERT_TRUE(m.FitSupervised({train.x, train.y, {}, {}, {}}));
    EXPECT_FALSE(m.Score(narrow, std::span(out).first(100)));
    EXPECT_FALSE(m.Score(inf, out));
    EXPECT_FALSE(m.Score(train.x, std::span(out).first(3)));
    EXPECT_TRUE(m.Score(MatrixView{train.x.data(), 0, 5}, {}));
}

TEST(Xgboost, BadParamsAreErrors) {
    for (const ParamMap& bad : std::vector<ParamMap>{{{"trees", "0"}},
                                                     {{"depth", "0"}},
                                                     {{"eta", "0"}},
                                                     {{"eta", "1.5"}},
                                                     {{"subsample", "0"}},
                                                     {{"colsample", "2"}},
                                                     {{"lambda", "-1"}},
                                                     {{"scale_pos_weight", "0"}},
                                                     {{"scale_pos_weight", "many"}},
                                                     {{"eval_metric", "error"}},
                                                     {{"trees", "-3"}},
                                                     {{"tree", "10"}}}) {
        auto d = CreateDetector("xgboost", bad);
        EXPECT_FALSE(d) << bad.begin()->first << "=" << bad.begin()->second;
        if (!d) {
            EXPECT_EQ(d.error().code, ErrorCode::kInvalidArgument);
        }
    }
}

TEST(Xgboost, RegistryCreatesIt) {
    auto d = CreateDetector("xgboost", {{"trees", "10"}, {"scale_pos_weight", "auto"}});
    ASSERT_TRUE(d) << d.error().ToString();
    EXPECT_EQ((*d)->Name(), "xgboost");
    EXPECT_TRUE((*d)->Supervised());
    EXPECT_EQ((*d)->Params().at("trees"), "10");
    EXPECT_EQ((*d)->Params().count("best_iteration"), 0u);
    bool listed = false;
    for (const auto& info : ListDetectors()) listed = listed || info.name == "xgboost";
    EXPECT_TRUE(listed);
    // Unsupervised detectors: FitSupervised falls back to Fit (iforest's contributions are its
    // path-based ones, bias 0.5).
    auto f = CreateDetector("iforest", {{"trees", "10"}});
    ASSERT_TRUE(f);
    const Labelled train = MakeData(16, 300);
    EXPECT_FALSE((*f)->Supervised());
    EXPECT_TRUE((*f)->FitSupervised({train.x, train.y, {}, {}, {}}));
    std::vector<double> c(6);
    EXPECT_TRUE((*f)->Contributions(train.x.View().Row(0), c));
    EXPECT_EQ(c.back(), 0.5);
    EXPECT_TRUE((*f)->FeatureImportance().empty());
}

}  // namespace
}  // namespace txguard
