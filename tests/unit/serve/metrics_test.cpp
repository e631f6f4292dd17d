#include "txguard/serve/metrics.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace txguard {
namespace {

TEST(Metrics, RendersCountersAndGaugesAsFamilies) {
    MetricsRegistry reg;
    Counter& ok = reg.AddCounter("txguard_http_requests_total", "HTTP requests by status.",
                                 R"(code="200",path="/v1/score")");
    Counter& bad = reg.AddCounter("txguard_http_requests_total", "ignored: first help wins",
                                  R"(code="400",path="/v1/score")");
    Gauge& inflight = reg.AddGauge("txguard_http_in_flight", "Requests being served.");
    reg.AddCallbackGauge("txguard_model_age_seconds", "Age of the loaded model.",
                         [] { return 12.5; });
    ok.Inc();
    ok.Inc(41);
    bad.Inc();
    inflight.Set(3);
    inflight.Add(-1.5);
    EXPECT_EQ(&reg.AddCounter("txguard_http_requests_total", "", R"(code="200",path="/v1/score")"),
              &ok);  // registering again returns the same counter
    EXPECT_EQ(reg.Render(),
              "# HELP txguard_http_requests_total HTTP requests by status.\n"
              "# TYPE txguard_http_requests_total counter\n"
              "txguard_http_requests_total{code=\"200\",path=\"/v1/score\"} 42\n"
              "txguard_http_requests_total{code=\"400\",path=\"/v1/score\"} 1\n"
              "# HELP txguard_http_in_flight Requests being served.\n"
              "# TYPE txguard_http_in_flight gauge\n"
              "txguard_http_in_flight 1.5\n"
              "# HELP txguard_model_age_seconds Age of the loaded model.\n"
              "# TYPE txguard_model_age_seconds gauge\n"
              "txguard_model_age_seconds 12.5\n");
}

TEST(Metrics, RendersHistogramsWithCumulativeBuckets) {
    MetricsRegistry reg;
    HistogramMetric& h = reg.AddHistogram("txguard_score_seconds", "Scoring latency.",
                                          {0.001, 0.01, 0.1}, R"(path="/v1/score")");
    double sum = 0;
    for (double v : {0.0005, 0.001, 0.002, 0.05, 0.05, 3.0}) {
        h.Observe(v);
        sum += v;
    }
    char sum_text[32];
    *std::to_chars(sum_text, sum_text + 31, sum).ptr = 0;
    h.Observe(std::numeric_limits<double>::quiet_NaN());  // dropped
    EXPECT_EQ(h.Count(), 6u);
    EXPECT_EQ(h.BucketCount(0), 2u);  // le is inclusive: 0.001 falls in the first bucket
    EXPECT_EQ(reg.Render(),
              "# HELP txguard_score_seconds Scoring latency.\n"
              "# TYPE txguard_score_seconds histogram\n"
              "txguard_score_seconds_bucket{path=\"/v1/score\",le=\"0.001\"} 2\n"
              "txguard_score_seconds_bucket{path=\"/v1/score\",le=\"0.01\"} 3\n"
              "txguard_score_seconds_bucket{path=\"/v1/score\",le=\"0.1\"} 5\n"
              "txguard_score_seconds_bucket{path=\"/v1/score\",le=\"+Inf\"} 6\n"
              "txguard_score_seconds_sum{path=\"/v1/score\"} " +
                  std::string(sum_text) +
                  "\n"
                  "txguard_score_seconds_count{path=\"/v1/score\"} 6\n");

    MetricsRegistry plain;
    HistogramMetric& p =
        plain.AddHistogram("x_seconds", "X.", {1, 2, std::numeric_limits<double>::infinity()});
    EXPECT_EQ(p.bounds().size(), 2u);  // a trailing +Inf is implied
    p.Observe(1.5);
    EXPECT_EQ(plain.Render(),
              "# HELP x_seconds X.\n# TYPE x_seconds histogram\n"
              "x_seconds_bucket{le=\"1\"} 0\nx_seconds_bucket{le=\"2\"} 1\n"
              "x_seconds_bucket{le=\"+Inf\"} 1\nx_seconds_sum 1.5\nx_seconds_count 1\n");
}

TEST(Metrics, EscapesHelpAndSpecialValues) {
    MetricsRegistry reg;
    reg.AddGauge("g", "line one\nback\\slash").Set(std::numeric_limits<double>::infinity());
    reg.AddGauge("g", "", R"(v="a\"b\\c\nd")").Set(std::nan(""));
    reg.AddCallbackGauge("h", "throws", []() -> double { throw std::runtime_error("x"); });
    EXPECT_EQ(reg.Render(),
              "# HELP g line one\\nback\\\\slash\n# TYPE g gauge\ng +Inf\n"
              "g{v=\"a\\\"b\\\\c\\nd\"} NaN\n"
              "# HELP h throws\n# TYPE h gauge\nh NaN\n");
}

TEST(Metrics, ValidatesNamesAndLabels) {
    EXPECT_TRUE(IsValidMetricName("txguard_http_requests_total"));
    EXPECT_TRUE(IsValidMetricName("a:b_c9"));
    EXPECT_FALSE(IsValidMetricName(""));
    EXPECT_FALSE(IsValidMetricName("9a"));
    EXPECT_FALSE(IsValidMetricName("a-b"));
    EXPECT_TRUE(IsValidMetricLabels(""));
    EXPECT_TRUE(IsValidMetricLabels(R"(a="",b_2="x y\"\\\n")"));
    EXPECT_FALSE(IsValidMetricLabels(R"(a="x",)"));
    EXPECT_FALSE(IsValidMetricLabels(R"(a=x)"));
    EXPECT_FALSE(IsValidMetricLabels(R"(a="x)"));
    EXPECT_FALSE(IsValidMetricLabels(R"(9="x")"));
    EXPECT_FALSE(IsValidMetricLabels(R"(a:b="x")"));
    EXPECT_FALSE(IsValidMetricLabels(R"({a="x"})"));
    EXPECT_FALSE(IsValidMetricLabels(R"(a="\t")"));
    EXPECT_FALSE(IsValidMetricLabels("a=\"\n\""));
}

TEST(MetricsDeathTest, ProgrammerErrorsAbort) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(
        {
            MetricsRegistry reg;
            reg.AddCounter("bad name", "");
        },
        "invalid metric name");
    EXPECT_DEATH(
        {
            MetricsRegistry reg;
            reg.AddCounter("a", "");
            reg.AddGauge("a", "");
        },
        "another type");
    EXPECT_DEATH(HistogramMetric({1, 1}), "strictly increasing");
    EXPECT_DEATH(
        {
            MetricsRegistry reg;
            reg.AddHistogram("h", "", {1}, R"(le="1")");
        },
        "reserved label le");
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
    MetricsRegistry reg;
    Counter& c = reg.AddCounter("c_total", "C.");
    Gauge& g = reg.AddGauge("g", "G.");
    HistogramMetric& h = reg.AddHistogram("h_seconds", "H.", HistogramMetric::LatencyBounds());
    constexpr int kThreads = 4;
    constexpr int kEach = 50000;
    std::vector<std::thread> threads;
    std::atomic<bool> done{false};
    std::thread scraper([&] {  // renders while the counts move
        while (!done.load()) EXPECT_FALSE(reg.Render().empty());
    });
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i) {
                c.Inc();
                g.Add(1.0);
                h.Observe(0.001 * (t + 1));  // 1 ms: le=0.001; 2 ms: 0.0025; 3, 4 ms: 0.005
            }
        });
    for (auto& t : threads) t.join();
    done = true;
    scraper.join();
    EXPECT_EQ(c.Value(), std::uint64_t{kThreads} * kEach);
    EXPECT_EQ(g.Value(), double{kThreads} * kEach);
    EXPECT_EQ(h.Count(), std::uint64_t{kThreads} * kEach);
    EXPECT_EQ(h.BucketCount(1), std::uint64_t{kEach});      // le=0.001
    EXPECT_EQ(h.BucketCount(2), std::uint64_t{kEach});      // le=0.0025
    EXPECT_EQ(h.BucketCount(3), std::uint64_t{2 * kEach});  // le=0.005
    EXPECT_NEAR(h.Sum(), 0.010 * kEach, 1e-6);
}

// Parses the text line by line as the exposition format 0.0.4 describes it and checks its rules:
// # HELP / # TYPE once per family and before its samples; samples of a family contiguous; names
// and labels well formed; values parse as floats; histogram buckets cumulative, ending with
// le="+Inf" equal to _count.
void CheckExposition(const std::string& text) {
    ASSERT_FALSE(text.empty());
    ASSERT_EQ(text.back(), '\n');
    static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
    static const std::regex kType(
        R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
    static const std::regex kSample(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? )"
        R"(([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN)))");
    std::set<std::string> done_families;
    std::string family, type;
    bool has_help = false;
    std::map<std::string, std::vector<double>> buckets;  // labels (without le) -> counts
    std::map<std::string, double> counts;
    const auto close = [&] {
        for (const auto& [labels, b] : buckets) {
            ASSERT_FALSE(b.empty());
            for (std::size_t i = 1; i < b.size(); ++i) EXPECT_LE(b[i - 1], b[i]) << labels;
            ASSERT_TRUE(counts.count(labels)) << labels;
            EXPECT_EQ(b.back(), counts[labels]) << labels;
        }
        buckets.clear();
        counts.clear();
        if (!family.empty()) done_families.insert(family);
    };
    std::istringstream in(text);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
        ASSERT_FALSE(line.empty());
        if (std::regex_match(line, m, kHelp)) {
            close();
            family = m[1];
            ASSERT_FALSE(done_families.count(family)) << "family split: " << family;
            has_help = true;
            type.clear();
        } else if (std::regex_match(line, m, kType)) {
            ASSERT_TRUE(has_help && m[1] == family) << line;
            ASSERT_TRUE(type.empty()) << "second TYPE: " << line;
            type = m[2];
        } else {
            ASSERT_TRUE(std::regex_match(line, m, kSample)) << "not a sample line: " << line;
            ASSERT_FALSE(type.empty()) << "sample before TYPE: " << line;
            const std::string name = m[1];
            std::string labels = m[3];
            const double value = m[4] == "+Inf"  ? HUGE_VAL
                                 : m[4] == "NaN" ? std::nan("")
                                                 : std::stod(m[4]);
            if (type == "histogram") {
                if (name == family + "_bucket") {
                    const auto le = labels.rfind("le=\"");
                    ASSERT_NE(le, std::string::npos) << line;
                    ASSERT_EQ(labels.back(), '"');
                    const std::string bound = labels.substr(le + 4, labels.size() - le - 5);
                    labels = labels.substr(0, le == 0 ? 0 : le - 1);
                    auto& b = buckets[labels];
                    b.push_back(value);
                    if (bound != "+Inf") {
                        EXPECT_NO_THROW((void)std::stod(bound)) << line;
                    }
                } else if (name == family + "_count") {
                    counts[labels] = value;
                } else {
                    ASSERT_EQ(name, family + "_sum") << line;
                }
            } else {
                ASSERT_EQ(name, family) << line;
            }
        }
    }
    close();
}

TEST(Metrics, RenderIsValidExpositionText) {
    MetricsRegistry reg;
    reg.AddCounter("txguard_http_requests_total", "Requests.", R"(code="200")").Inc(3);
    reg.AddCounter("txguard_http_requests_total", "Requests.", R"(code="500")").Inc();
    reg.AddGauge("txguard_up", "1 when serving.").Set(1);
    reg.AddCallbackGauge("txguard_queue_depth", "Queued.", [] { return 7.0; });
    HistogramMetric& a = reg.AddHistogram("txguard_request_seconds", "Latency.",
                                          HistogramMetric::LatencyBounds(), R"(path="/v1/score")");
    HistogramMetric& b = reg.AddHistogram("txguard_request_seconds", "Latency.",
                                          HistogramMetric::LatencyBounds(), R"(path="/v1/batch")");
    for (int i = 0; i < 1000; ++i) {
        a.Observe(i * 1e-5);
        b.Observe(i * 1e-2);
    }
    reg.AddGauge("txguard_weird", "help with \\ and \n newline", R"(x="q\"\\\n")").Set(-1e-300);
    const std::string text = reg.Render();
    CheckExposition(text);
    EXPECT_NE(text.find("txguard_request_seconds_bucket{path=\"/v1/batch\",le=\"+Inf\"} 1000\n"),
              std::string::npos);
    EXPECT_NE(text.find("txguard_request_seconds_count{path=\"/v1/score\"} 1000\n"),
              std::string::npos);
    EXPECT_EQ(MetricsRegistry().Render(), "");
}

}  // namespace
}  // namespace txguard
