// Writes an evaluation report of two synthetic models (every section filled) for the browser
// test:  browser_eval_report OUT.html
#include <cstdio>
#include <string>
#include <vector>

#include "txguard/core/rng.hpp"
#include "txguard/core/time.hpp"
#include "txguard/report/evaluation_report.hpp"

namespace {

txguard::ModelEvaluation Synthetic(const std::string& name, std::uint64_t seed, double separation,
                                   double threshold) {
    using namespace txguard;
    ModelEvaluation m;
    m.name = name;
    m.threshold = threshold;
    Rng rng(seed);
    const std::int64_t day0 = *ParseDate("2018-08-01");
    const std::size_t n = 60000, days = 30, customers = 2000;
    for (std::size_t i = 0; i < n; ++i) {
        const std::int8_t y = rng.Uniform() < 0.01 ? 1 : 0;
        m.labels.push_back(y);
        m.scores.push_back(rng.Normal(y ? separation : 0.0, 1.0));
        m.ts_ms.push_back(day0 + static_cast<std::int64_t>(i * days / n) * kMsPerDay);
        m.customer.push_back(static_cast<std::uint32_t>(rng.Below(customers)));
    }
    m.feature_importance = {{"amount", 0.31},
                            {"customer_tx_count_1d", 0.22},
                            {"terminal_risk_7d", 0.18},
                            {"hour", 0.07},
                            {"customer_avg_amount_30d", 0.12}};
    for (int k = 0; k < 5; ++k) {
        m.top_alerts.push_back({"tx" + std::to_string(1000 + k),
                                4.0 - 0.1 * k,
                                "C" + std::to_string(17 * k),
                                {{"amount", 1.2 - 0.1 * k}, {"terminal_risk_7d", 0.4}},
                                static_cast<std::int8_t>(k % 2)});
    }
    m.metadata = {
        {"detector", name}, {"data", "synthetic"}, {"test days", "2018-08-01..2018-08-30"}};
    CardPrecisionResult cp;
    double sum = 0;
    for (std::size_t d = 0; d < days; ++d) {
        const double v = std::min(1.0, 0.2 * separation * (0.8 + rng.Uniform() * 0.4));
        cp.days.push_back({day0 + static_cast<std::int64_t>(d) * kMsPerDay, v, 1500, 20});
        sum += v;
    }
    cp.mean = sum / static_cast<double>(days);
    m.card_precision = cp;
    m.card_precision_k = 100;
    return m;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: browser_eval_report OUT.html\n");
        return 2;
    }
    const std::vector<txguard::ModelEvaluation> models = {
        Synthetic("supervised (synthetic)", 1, 3.0, 2.0),
        Synthetic("iforest (synthetic)", 2, 1.2, 1.5)};
    auto r = txguard::WriteEvaluationReport(models, argv[1]);
    if (!r) {
        std::fprintf(stderr, "error: %s\n", r.error().ToString().c_str());
        return 1;
    }
    return 0;
}
