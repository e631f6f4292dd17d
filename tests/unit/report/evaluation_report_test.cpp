// The evaluation report on synthetic scores: input validation, curve thinning, the chart data
// embedded in the page, and the page being self-contained.
#include "txguard/report/evaluation_report.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "txguard/core/rng.hpp"
#include "txguard/core/time.hpp"
#include "unit/report/html_check.hpp"

namespace txguard {
namespace {

ModelEvaluation Synthetic(const std::string& name, std::uint64_t seed, std::size_t n,
                          double separation) {
    ModelEvaluation m;
    m.name = name;
    Rng rng(seed);
    const std::int64_t day0 = *ParseDate("2018-08-01");
    for (std::size_t i = 0; i < n; ++i) {
        const std::int8_t y = rng.Uniform() < 0.02 ? 1 : 0;
        m.labels.push_back(y);
        m.scores.push_back(rng.Normal(y ? separation : 0.0, 1.0));
        m.ts_ms.push_back(day0 + static_cast<std::int64_t>(i % 30) * kMsPerDay);
        m.customer.push_back(static_cast<std::uint32_t>(rng.Below(500)));
    }
    m.threshold = 1.5;
    m.feature_importance = {{"amount", 0.4}, {"tx_count_1d", 0.25}, {"hour", -0.05}};
    m.top_alerts.push_back({"tx<42>", 4.2, "c&7", {{"amount", 1.5}, {"hour", -0.2}}, 1});
    m.metadata = {{"detector", "synthetic"}, {"data", "none"}};
    CardPrecisionResult cp;
    for (int d = 0; d < 30; ++d) cp.days.push_back({day0 + d * kMsPerDay, 0.1 + 0.01 * d, 400, 12});
    cp.mean = 0.245;
    m.card_precision = cp;
    m.card_precision_k = 100;
    return m;
}

nlohmann::json ChartsOf(const std::string& html) {
    const std::string open = "window.TXG_CHARTS = ";
    const auto b = html.find(open);
    EXPECT_NE(b, std::string::npos);
    const auto e = html.find(";\n</script>", b);
    return nlohmann::json::parse(html.substr(b + open.size(), e - b - open.size()));
}

const nlohmann::json* FindChart(const nlohmann::json& charts, const std::string& id) {
    for (const auto& c : charts)
        if (c["id"] == id) return &c["spec"];
    return nullptr;
}

TEST(EvaluationReport, TwoModelsAllSections) {
    const std::vector<ModelEvaluation> models = {Synthetic("good", 1, 50000, 3.0),
                                                 Synthetic("weak", 2, 50000, 0.8)};
    auto html = RenderEvaluationHtml(models);
    ASSERT_TRUE(html.has_value()) << html.error().ToString();
    // Self-contained: no external script, stylesheet or URL reference.
    EXPECT_TRUE(IsSelfContained(*html));
    // Text is escaped.
    EXPECT_NE(html->find("tx&lt;42&gt;"), std::string::npos);
    EXPECT_NE(html->find("c&amp;7"), std::string::npos);
    const auto charts = ChartsOf(*html);
    for (const char* id :
         {"roc", "pr", "scores_m1", "scores_m2", "threshold_m1", "threshold_m2", "confusion",
          "daily_caught", "daily_alerts", "daily_cp", "importance_m1", "importance_m2"})
        EXPECT_NE(FindChart(charts, id), nullptr) << id;
    // Curves overlaid, thinned to at most ~kMaxCurvePoints points per model.
    const auto* roc = FindChart(charts, "roc");
    ASSERT_NE(roc, nullptr);
    std::map<std::string, std::size_t> points;
    for (const auto& v : (*roc)["data"]["values"]) ++points[v["model"].get<std::string>()];
    ASSERT_EQ(points.size(), 2u);
    for (const auto& [model, count] : points) {
        EXPECT_LE(count, kMaxCurvePoints + 1) << model;
        EXPECT_GE(count, 100u) << model;
        EXPECT_NE(model.find("(AUC 0."), std::string::npos) << model;
    }
    // The good model's curve ends at (1, 1) and starts at (0, 0).
    const auto& values = (*roc)["data"]["values"];
    EXPECT_EQ(values.front()["x"], 0.0);
    EXPECT_EQ(values.front()["y"], 0.0);
}

TEST(EvaluationReport, Validation) {
    ModelEvaluation m = Synthetic("m", 3, 1000, 2.0);
    std::vector<ModelEvaluation> none;
    EXPECT_FALSE(RenderEvaluationHtml(none).has_value());
    {
        auto bad = m;
        bad.labels.pop_back();
        auto r = RenderEvaluationHtml(std::vector<ModelEvaluation>{bad});
        ASSERT_FALSE(r.has_value());
        EXPECT_NE(r.error().message.find("labels"), std::string::npos);
    }
    {
        auto bad = m;
        bad.scores[5] = std::nan("");
        EXPECT_FALSE(RenderEvaluationHtml(std::vector<ModelEvaluation>{bad}).has_value());
    }
    {
        auto bad = m;
        bad.labels[5] = 2;
        EXPECT_FALSE(RenderEvaluationHtml(std::vector<ModelEvaluation>{bad}).has_value());
    }
    EXPECT_FALSE(RenderEvaluationHtml(std::vector<ModelEvaluation>{m, m}).has_value());  // names
    {
        auto bad = m;
        bad.ts_ms.resize(3);
        EXPECT_FALSE(RenderEvaluationHtml(std::vector<ModelEvaluation>{bad}).has_value());
    }
}

TEST(EvaluationReport, OneClassAndMinimalInputs) {
    ModelEvaluation m;
    m.name = "minimal";
    m.scores = {0.1, 0.2, 0.3};
    m.labels = {0, 0, 0};
    m.threshold = 0.25;
    auto html = RenderEvaluationHtml(std::vector<ModelEvaluation>{m});
    ASSERT_TRUE(html.has_value()) << html.error().ToString();
    const auto charts = ChartsOf(*html);
    EXPECT_EQ(FindChart(charts, "roc"), nullptr);
    EXPECT_NE(FindChart(charts, "confusion"), nullptr);
    EXPECT_EQ(FindChart(charts, "daily_cp"), nullptr);
    EXPECT_NE(html->find("one class only"), std::string::npos);
}

TEST(EvaluationReport, UnwritablePathIsAnError) {
    auto r = WriteEvaluationReport(std::vector<ModelEvaluation>{Synthetic("m", 4, 200, 2.0)},
                                   "/nonexistent-dir/report.html");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kIo);
}

}  // namespace
}  // namespace txguard
