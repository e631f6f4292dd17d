// EDA statistics on a hand-made table (expected values worked out by hand or with numpy/scipy),
// the JSON document's structure, and the HTML page being self-contained.
#include "txguard/report/eda.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "txguard/core/time.hpp"
#include "txguard/data/schema.hpp"
#include "unit/report/html_check.hpp"

namespace txguard {
namespace {

// 10 rows over two days (2018-04-01 Sunday, 2018-04-02 Monday); ids "t3" twice.
TransactionTable SmallTable() {
    TransactionTable t;
    const std::int64_t day0 = *ParseDate("2018-04-01");
    const std::vector<std::string> ids = {"t0", "t1", "t2", "t3", "t3",
                                          "t5", "t6", "t7", "t8", "t9"};
    const std::vector<int> hours = {0, 1, 1, 13, 13, 23, 0, 5, 13, 13};
    const std::vector<int> days = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1};
    const std::vector<std::string> cust = {"c1", "c1", "c2", "c2", "c3",
                                           "c1", "c1", "c2", "c2", "c1"};
    const std::vector<std::string> term = {"a", "b", "a", "a", "b", "a", "a", "a", "b", "a"};
    const std::vector<double> amount = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3};
    const std::vector<std::int8_t> label = {0, 0, 1, 0, 1, 1, 0, 1, 0, 0};
    for (std::size_t i = 0; i < ids.size(); ++i) {
        t.tx_id.Append(ids[i]);
        t.ts_ms.push_back(day0 + days[i] * kMsPerDay + hours[i] * 3'600'000LL);
        t.customer.ids.push_back(t.customer.pool.Intern(cust[i]));
        t.terminal.ids.push_back(t.terminal.pool.Intern(term[i]));
        t.amount.push_back(amount[i]);
        t.label.push_back(label[i]);
    }
    t.rows = ids.size();
    return t;
}

EdaStats Compute(const TransactionTable& t) {
    EdaOptions opt;
    opt.threads = 2;
    opt.show_progress = false;
    auto s = ComputeEda(t, *SchemaPreset("handbook"), opt);
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    return *s;
}

const NumericSummary* FindNumeric(const EdaStats& s, const std::string& name) {
    for (const auto& c : s.numeric)
        if (c.name == name) return &c;
    return nullptr;
}

TEST(Eda, Overview) {
    const EdaStats s = Compute(SmallTable());
    EXPECT_EQ(s.rows, 10u);
    EXPECT_EQ(s.duplicate_ids, 1u);
    EXPECT_EQ(s.customers, 3u);
    EXPECT_EQ(s.terminals, 2u);
    EXPECT_EQ(s.frauds, 4u);
    EXPECT_DOUBLE_EQ(s.fraud_rate, 0.4);
    EXPECT_EQ(FormatDate(s.first_ts_ms), "2018-04-01");
    EXPECT_EQ(FormatTimestamp(s.last_ts_ms), "2018-04-02 13:00:00");
    // Columns named as in the file (handbook schema).
    std::vector<std::string> names;
    for (const auto& c : s.columns) names.push_back(c.name);
    EXPECT_NE(std::find(names.begin(), names.end(), "TX_AMOUNT"), names.end());
    EXPECT_NE(std::find(names.begin(), names.end(), "hour_of_day"), names.end());
}

TEST(Eda, NumericSummaryMatchesNumpy) {
    const EdaStats s = Compute(SmallTable());
    const NumericSummary* a = FindNumeric(s, "TX_AMOUNT");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->count, 10u);
    EXPECT_NEAR(a->mean, 3.9, 1e-12);
    EXPECT_NEAR(a->stddev, 2.4698178070456938, 1e-12);
    EXPECT_NEAR(a->q25, 2.25, 1e-12);
    EXPECT_NEAR(a->median, 3.5, 1e-12);
    EXPECT_NEAR(a->q99, 8.73, 1e-12);
    EXPECT_EQ(a->min, 1);
    EXPECT_EQ(a->max, 9);
    EXPECT_TRUE(a->histogram.log_scale);
    std::uint64_t total = 0, frauds = 0;
    for (auto c : a->histogram.counts) total += c;
    for (auto c : a->histogram.fraud_counts) frauds += c;
    EXPECT_EQ(total, 10u);
    EXPECT_EQ(frauds, 4u);
    // Derived: transactions per customer (c1: 5, c2: 4, c3: 1).
    const NumericSummary* cc = FindNumeric(s, "customer_tx_count");
    ASSERT_NE(cc, nullptr);
    EXPECT_NEAR(cc->mean, (5 * 5 + 4 * 4 + 1) / 10.0, 1e-12);
}

TEST(Eda, TimePatternsAndBands) {
    const EdaStats s = Compute(SmallTable());
    ASSERT_EQ(s.by_hour.size(), 24u);
    EXPECT_EQ(s.by_hour[13].count, 4u);
    EXPECT_EQ(s.by_hour[13].frauds, 1u);
    ASSERT_EQ(s.by_weekday.size(), 7u);
    EXPECT_EQ(s.by_weekday[6].count, 6u);  // Sunday
    EXPECT_EQ(s.by_weekday[0].count, 4u);  // Monday
    ASSERT_EQ(s.by_day.size(), 2u);
    EXPECT_EQ(s.by_day[0].frauds, 3u);
    EXPECT_EQ(s.by_day[1].frauds, 1u);
    // Bands [1,2) [2,5) [5,10): 2, 4, 4 transactions.
    ASSERT_EQ(s.by_amount_band.size(), 3u);
    EXPECT_EQ(s.by_amount_band[0].label, "1-2");
    EXPECT_EQ(s.by_amount_band[0].count, 2u);
    EXPECT_EQ(s.by_amount_band[1].count, 4u);
    EXPECT_EQ(s.by_amount_band[2].count, 4u);
    EXPECT_EQ(s.by_amount_band[2].frauds, 3u);
}

TEST(Eda, CorrelationsAndLabelAssociation) {
    const EdaStats s = Compute(SmallTable());
    ASSERT_FALSE(s.corr_names.empty());
    EXPECT_EQ(s.corr_names.front(), "TX_AMOUNT");
    EXPECT_EQ(s.corr_names.back(), "TX_FRAUD");
    const std::size_t k = s.corr_names.size();
    // Amount vs label: point-biserial 0.7317917228850433 (scipy.stats.pearsonr).
    EXPECT_NEAR(s.pearson[0][k - 1], 0.7317917228850433, 1e-12);
    EXPECT_NEAR(s.pearson[k - 1][0], 0.7317917228850433, 1e-12);
    EXPECT_NEAR(s.pearson[0][0], 1.0, 1e-12);
    ASSERT_FALSE(s.label_association.empty());
    EXPECT_EQ(s.label_association[0].name, "TX_AMOUNT");
    EXPECT_NEAR(s.label_association[0].roc_auc, 0.9375, 1e-12);
    EXPECT_NEAR(s.label_association[0].pearson, 0.7317917228850433, 1e-12);
    for (std::size_t a = 0; a < k; ++a)
        for (std::size_t b = 0; b < k; ++b) {
            if (std::isnan(s.spearman[a][b])) continue;
            EXPECT_LE(std::fabs(s.spearman[a][b]), 1.0);
            EXPECT_EQ(s.spearman[a][b], s.spearman[b][a]);
        }
}

TEST(Eda, BehaviourTopFraudEntities) {
    const EdaStats s = Compute(SmallTable());
    ASSERT_EQ(s.top_fraud_customers.size(), 3u);
    EXPECT_EQ(s.top_fraud_customers[0].id, "c2");  // 2 frauds in 4, c1: 1 in 5, c3: 1 in 1
    EXPECT_EQ(s.top_fraud_customers[0].frauds, 2u);
    EXPECT_EQ(s.top_fraud_customers[1].id, "c1");
    std::uint64_t customers = 0;
    for (auto c : s.tx_per_customer.counts) customers += c;
    EXPECT_EQ(customers, 3u);
}

TEST(Eda, EmptyTableIsAnError) {
    TransactionTable t;
    auto s = ComputeEda(t, *SchemaPreset("handbook"));
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
}

TEST(Eda, JsonStructure) {
    const EdaStats s = Compute(SmallTable());
    const auto j = nlohmann::json::parse(EdaToJson(s));
    for (const char* key : {"rows", "columns", "duplicate_ids", "time", "customers", "terminals",
                            "frauds", "fraud_rate", "numeric", "categorical", "time_patterns",
                            "amount_bands", "correlation", "label_association", "behaviour"})
        EXPECT_TRUE(j.contains(key)) << key;
    EXPECT_EQ(j["rows"], 10);
    EXPECT_EQ(j["time"]["days"], 2);
    EXPECT_EQ(j["time_patterns"]["by_hour"].size(), 24u);
    EXPECT_TRUE(j["numeric"][0].contains("histogram"));
    EXPECT_EQ(j["numeric"][0]["name"], "TX_AMOUNT");
    EXPECT_EQ(j["correlation"]["pearson"].size(), j["correlation"]["columns"].size());
    EXPECT_TRUE(j["behaviour"]["top_fraud_customers"].is_array());
}

// No script, stylesheet, image or frame loaded from anywhere: everything is inline.
void ExpectSelfContained(const std::string& html) {
    EXPECT_TRUE(IsSelfContained(html));
    EXPECT_EQ(html.find("sourceMappingURL"), std::string::npos);
}

TEST(Eda, SelfContainedCheckCatchesExternalReferences) {
    EXPECT_TRUE(IsSelfContained("<html><script>var a = 1;</script></html>"));
    EXPECT_FALSE(IsSelfContained("<script src=\"https://cdn.example/vega.js\"></script>"));
    EXPECT_FALSE(IsSelfContained("<SCRIPT type=module SRC='x.js'></SCRIPT>"));
    EXPECT_FALSE(IsSelfContained("<link rel=stylesheet href=\"style.css\">"));
    EXPECT_FALSE(IsSelfContained("<img src=\"//host/x.png\">"));
}

TEST(Eda, HtmlIsSelfContainedWithCharts) {
    const EdaStats s = Compute(SmallTable());
    auto html = RenderEdaHtml(s);
    ASSERT_TRUE(html.has_value()) << html.error().ToString();
    ExpectSelfContained(*html);
    EXPECT_NE(html->find("vegaEmbed"), std::string::npos);
    for (const char* id :
         {"chart-by_hour", "chart-corr_pearson", "chart-corr_spearman", "chart-hist_tx_amount",
          "chart-label_association", "chart-tx_per_customer"})
        EXPECT_NE(html->find(id), std::string::npos) << id;
    EXPECT_GT(html->size(), 500000u);  // the chart libraries are inline
}

TEST(Eda, UnlabelledTableWithoutTime) {
    TransactionTable t;
    for (int i = 0; i < 50; ++i) {
        t.amount.push_back(i % 7 == 0 ? std::nan("") : i * 1.5);
        t.extra_names = {"v1"};
    }
    t.extra.push_back({});
    for (int i = 0; i < 50; ++i) t.extra[0].push_back(std::sin(i));
    t.rows = 50;
    Schema schema;
    schema.name = "custom";
    schema.columns[Field::kAmount] = "amt";
    EdaOptions opt;
    opt.show_progress = false;
    auto s = ComputeEda(t, schema, opt);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    EXPECT_FALSE(s->has_label);
    EXPECT_TRUE(s->by_hour.empty());
    EXPECT_EQ(s->numeric[0].missing, 8u);
    EXPECT_TRUE(s->label_association.empty());
    auto html = RenderEdaHtml(*s);
    ASSERT_TRUE(html.has_value());
    ExpectSelfContained(*html);
    EXPECT_TRUE(nlohmann::json::accept(EdaToJson(*s)));
}

}  // namespace
}  // namespace txguard
