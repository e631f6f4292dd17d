#include "txguard/report/evaluation_report.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <unordered_set>

#include "html_page.hpp"
#include "txguard/core/time.hpp"
#include "txguard/eval/metrics.hpp"

namespace txguard {
namespace {

using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr const char* kGenuineColor = "#4c78a8";
constexpr const char* kFraudColor = "#e45756";
constexpr std::size_t kScoreBins = 40;
constexpr std::size_t kMaxImportanceBars = 25;

struct CurvePoint {
    double x = 0, y = 0, threshold = 0;
};

// Keeps at most ~max_points points: a point is kept when the path since the last kept point is at
// least total_length / max_points long (L1); the first and last points are always kept.
std::vector<CurvePoint> Thin(const std::vector<CurvePoint>& pts, std::size_t max_points) {
    if (pts.size() <= max_points) return pts;
    double total = 0;
    for (std::size_t i = 1; i < pts.size(); ++i)
        total += std::fabs(pts[i].x - pts[i - 1].x) + std::fabs(pts[i].y - pts[i - 1].y);
    const double step = total / static_cast<double>(max_points - 2);
    std::vector<CurvePoint> out = {pts.front()};
    double acc = 0;
    for (std::size_t i = 1; i + 1 < pts.size(); ++i) {
        acc += std::fabs(pts[i].x - pts[i - 1].x) + std::fabs(pts[i].y - pts[i - 1].y);
        if (acc >= step) {
            out.push_back(pts[i]);
            acc = 0;
        }
    }
    out.push_back(pts.back());
    return out;
}

// Everything the page shows about one model.
struct Analysis {
    const ModelEvaluation* m = nullptr;
    std::uint64_t n = 0, positives = 0;
    bool two_classes = false;
    double roc_auc = kNaN, average_precision = kNaN;
    ThresholdMetrics at;
    std::vector<CurvePoint> roc, pr;
    struct Sweep {
        double threshold, precision, recall, f1, alert_rate;
    };
    std::vector<Sweep> sweep;
    std::vector<double> score_edges;
    std::vector<std::uint64_t> score_genuine, score_fraud;
    std::uint64_t fraud_cards = 0, fraud_cards_caught = 0;
    struct Day {
        std::uint64_t transactions = 0, frauds = 0, alerts = 0, caught = 0;
    };
    std::map<std::int64_t, Day> days;  // day index -> counts
};

Result<void> Validate(std::span<const ModelEvaluation> models) {
    if (models.empty())
        return MakeError(ErrorCode::kInvalidArgument, "evaluation report: no model to report on");
    std::set<std::string> names;
    for (const auto& m : models) {
        const std::string who = "evaluation report, model \"" + m.name + "\"";
        if (m.name.empty())
            return MakeError(ErrorCode::kInvalidArgument, "evaluation report: a model has no name");
        if (!names.insert(m.name).second)
            return MakeError(ErrorCode::kInvalidArgument, who + ": duplicate model name");
        if (m.scores.empty()) return MakeError(ErrorCode::kInvalidArgument, who + ": no scores");
        if (m.labels.size() != m.scores.size())
            return MakeError(ErrorCode::kInvalidArgument,
                             who + ": " + std::to_string(m.scores.size()) + " scores but " +
                                 std::to_string(m.labels.size()) + " labels");
        if (!m.ts_ms.empty() && m.ts_ms.size() != m.scores.size())
            return MakeError(ErrorCode::kInvalidArgument,
                             who + ": ts_ms and scores differ in length");
        if (!m.customer.empty() && m.customer.size() != m.scores.size())
            return MakeError(ErrorCode::kInvalidArgument,
                             who + ": customer and scores differ in length");
        for (std::size_t i = 0; i < m.scores.size(); ++i) {
            if (!std::isfinite(m.scores[i]))
                return MakeError(ErrorCode::kInvalidArgument,
                                 who + ": score of row " + std::to_string(i) + " is not finite");
            if (m.labels[i] != 0 && m.labels[i] != 1)
                return MakeError(ErrorCode::kInvalidArgument,
                                 who + ": label of row " + std::to_string(i) + " is " +
                                     std::to_string(m.labels[i]) + ", expected 0 or 1");
        }
        if (!std::isfinite(m.threshold))
            return MakeError(ErrorCode::kInvalidArgument, who + ": threshold is not finite");
    }
    return Ok();
}

Result<Analysis> Analyze(const ModelEvaluation& m) {
    Analysis a;
    a.m = &m;
    a.n = m.scores.size();
    for (auto l : m.labels) a.positives += l;
    const double pos = static_cast<double>(a.positives);
    const double neg = static_cast<double>(a.n - a.positives);
    a.two_classes = a.positives > 0 && a.positives < a.n;
    auto at = AtThreshold(m.scores, m.labels, m.threshold);
    if (!at) return std::unexpected(at.error());
    a.at = *at;
    if (a.two_classes) {
        auto auc = RocAuc(m.scores, m.labels);
        if (!auc) return std::unexpected(auc.error());
        auto ap = AveragePrecision(m.scores, m.labels);
        if (!ap) return std::unexpected(ap.error());
        a.roc_auc = *auc;
        a.average_precision = *ap;
    }

    // One pass over the scores in descending order: cumulative counts per distinct threshold.
    std::vector<std::uint32_t> order(a.n);
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(),
              [&](std::uint32_t x, std::uint32_t y) { return m.scores[x] > m.scores[y]; });
    std::vector<CurvePoint> roc = {{0, 0, m.scores[order[0]]}};
    std::vector<CurvePoint> pr = {{0, 1, m.scores[order[0]]}};
    struct Step {
        double threshold, tp, fp;
    };
    std::vector<Step> steps;
    double tp = 0, fp = 0;
    for (std::size_t i = 0; i < a.n;) {
        const double s = m.scores[order[i]];
        while (i < a.n && m.scores[order[i]] == s) {
            (m.labels[order[i]] ? tp : fp) += 1;
            ++i;
        }
        steps.push_back({s, tp, fp});
        if (a.two_classes) {
            roc.push_back({fp / neg, tp / pos, s});
            pr.push_back({tp / pos, tp / (tp + fp), s});
        }
    }
    if (a.two_classes) {
        a.roc = Thin(roc, kMaxCurvePoints);
        a.pr = Thin(pr, kMaxCurvePoints);
    }
    const std::size_t ns = std::min(steps.size(), kMaxThresholdPoints);
    for (std::size_t k = 0; k < ns; ++k) {
        const std::size_t idx = ns == 1 ? 0 : k * (steps.size() - 1) / (ns - 1);
        const Step& st = steps[idx];
        const double precision = st.tp + st.fp > 0 ? st.tp / (st.tp + st.fp) : 0;
        const double recall = pos > 0 ? st.tp / pos : 0;
        const double f1 =
            precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0;
        a.sweep.push_back(
            {st.threshold, precision, recall, f1, (st.tp + st.fp) / static_cast<double>(a.n)});
    }

    // Score histogram by class over the 0.1%..99.9% range (end bins take the rest).
    const double lo = m.scores[order[std::min(
        a.n - 1, static_cast<std::size_t>(0.999 * static_cast<double>(a.n)))]];
    const double hi = m.scores[order[a.n / 1000]];
    double b_lo = lo, b_hi = hi;
    if (!(b_hi > b_lo)) {
        b_lo = m.scores[order[a.n - 1]];
        b_hi = m.scores[order[0]];
    }
    if (!(b_hi > b_lo)) b_hi = b_lo + 1;
    for (std::size_t i = 0; i <= kScoreBins; ++i)
        a.score_edges.push_back(b_lo + (b_hi - b_lo) * static_cast<double>(i) / kScoreBins);
    a.score_genuine.assign(kScoreBins, 0);
    a.score_fraud.assign(kScoreBins, 0);
    for (std::size_t i = 0; i < a.n; ++i) {
        const double p = (m.scores[i] - b_lo) / (b_hi - b_lo) * kScoreBins;
        const std::size_t bin = p <= 0 ? 0 : std::min(kScoreBins - 1, static_cast<std::size_t>(p));
        ++(m.labels[i] ? a.score_fraud : a.score_genuine)[bin];
    }

    if (!m.customer.empty()) {
        std::unordered_set<std::uint32_t> fraud, caught;
        for (std::size_t i = 0; i < a.n; ++i) {
            if (!m.labels[i]) continue;
            fraud.insert(m.customer[i]);
            if (m.scores[i] >= m.threshold) caught.insert(m.customer[i]);
        }
        a.fraud_cards = fraud.size();
        a.fraud_cards_caught = caught.size();
    }
    if (!m.ts_ms.empty()) {
        for (std::size_t i = 0; i < a.n; ++i) {
            auto& d = a.days[DayIndex(m.ts_ms[i])];
            const bool alert = m.scores[i] >= m.threshold;
            ++d.transactions;
            d.frauds += m.labels[i];
            d.alerts += alert;
            d.caught += alert && m.labels[i];
        }
    }
    return a;
}

std::string Legend(const Analysis& a, double auc) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " (AUC %.4f)", auc);
    return a.m->name + buf;
}

// Model i has colour kPalette[i % 10] in every chart (Tableau 10).
constexpr const char* kPalette[] = {"#4c78a8", "#f58518", "#54a24b", "#b279a2", "#72b7b2",
                                    "#eeca3b", "#ff9da6", "#9d755d", "#bab0ac", "#e45756"};

json SeriesColor(const std::string& field, const std::vector<std::string>& domain,
                 const std::vector<std::string>& range) {
    return {{"field", field},
            {"type", "nominal"},
            {"title", nullptr},
            {"sort", domain},
            {"scale", {{"domain", domain}, {"range", range}}},
            {"legend", {{"orient", "bottom"}, {"direction", "vertical"}, {"labelLimit", 400}}}};
}

// The colours of the models with these indices.
std::vector<std::string> PaletteFor(const std::vector<std::size_t>& model_indices) {
    std::vector<std::string> range;
    for (std::size_t i : model_indices) range.push_back(kPalette[i % 10]);
    return range;
}

json CurveSpec(const std::vector<Analysis>& as, bool roc) {
    json values = json::array();
    std::vector<std::string> domain;
    std::vector<std::size_t> idx;
    for (std::size_t mi = 0; mi < as.size(); ++mi) {
        const Analysis& a = as[mi];
        if (!a.two_classes) continue;
        const std::string legend = Legend(a, roc ? a.roc_auc : a.average_precision);
        domain.push_back(legend);
        idx.push_back(mi);
        std::size_t i = 0;
        for (const auto& p : roc ? a.roc : a.pr)
            values.push_back({{"model", legend},
                              {"i", i++},
                              {"x", p.x},
                              {"y", p.y},
                              {"threshold", p.threshold}});
    }
    const char* xt = roc ? "false positive rate" : "recall";
    const char* yt = roc ? "true positive rate (recall)" : "precision";
    json line = {
        {"mark", {{"type", "line"}, {"interpolate", roc ? "linear" : "step-before"}}},
        {"encoding",
         {{"x",
           {{"field", "x"},
            {"type", "quantitative"},
            {"title", xt},
            {"scale", {{"domain", {0, 1}}}}}},
          {"y",
           {{"field", "y"},
            {"type", "quantitative"},
            {"title", yt},
            {"scale", {{"domain", {0, 1}}}}}},
          {"color", SeriesColor("model", domain, PaletteFor(idx))},
          {"order", {{"field", "i"}, {"type", "quantitative"}}},
          {"tooltip",
           json::array(
               {{{"field", "model"}, {"type", "nominal"}},
                {{"field", "x"}, {"type", "quantitative"}, {"title", xt}, {"format", ".4f"}},
                {{"field", "y"}, {"type", "quantitative"}, {"title", yt}, {"format", ".4f"}},
                {{"field", "threshold"}, {"type", "quantitative"}, {"format", ".6g"}}})}}}};
    json layers = json::array({line});
    if (roc) {
        layers.push_back(
            {{"data", {{"values", json::array({{{"x", 0}, {"y", 0}}, {{"x", 1}, {"y", 1}}})}}},
             {"mark", {{"type", "line"}, {"color", "#9aa5b1"}, {"strokeDash", {4, 4}}}},
             {"encoding",
              {{"x", {{"field", "x"}, {"type", "quantitative"}}},
               {"y", {{"field", "y"}, {"type", "quantitative"}}}}}});
    } else if (!as.empty() && as[0].n > 0) {
        const double prevalence =
            static_cast<double>(as[0].positives) / static_cast<double>(as[0].n);
        layers.push_back(
            {{"mark", {{"type", "rule"}, {"color", "#9aa5b1"}, {"strokeDash", {4, 4}}}},
             {"encoding", {{"y", {{"datum", prevalence}}}}}});
    }
    return {{"title", roc ? "ROC curve" : "Precision-recall curve (legend: average precision)"},
            {"width", 420},
            {"height", 380},
            {"data", {{"values", values}}},
            {"layer", layers}};
}

json ScoreDistributionSpec(const Analysis& a) {
    json values = json::array();
    std::uint64_t g_total = 0, f_total = 0;
    for (std::size_t i = 0; i < a.score_genuine.size(); ++i) {
        g_total += a.score_genuine[i];
        f_total += a.score_fraud[i];
    }
    for (std::size_t i = 0; i < a.score_genuine.size(); ++i) {
        for (int c = 0; c < 2; ++c) {
            const std::uint64_t cnt = c ? a.score_fraud[i] : a.score_genuine[i];
            const std::uint64_t tot = c ? f_total : g_total;
            values.push_back(
                {{"lo", a.score_edges[i]},
                 {"hi", a.score_edges[i + 1]},
                 {"class", c ? "fraud" : "genuine"},
                 {"count", cnt},
                 {"share", tot ? static_cast<double>(cnt) / static_cast<double>(tot) : kNaN}});
        }
    }
    return {
        {"title", a.m->name + ": scores by class"},
        {"width", 380},
        {"height", 170},
        {"data", {{"values", values}}},
        {"layer",
         json::array(
             {{{"mark", {{"type", "bar"}, {"opacity", 0.55}, {"binSpacing", 0}}},
               {"encoding",
                {{"x",
                  {{"field", "lo"},
                   {"type", "quantitative"},
                   {"bin", {{"binned", true}}},
                   {"title", "score"}}},
                 {"x2", {{"field", "hi"}}},
                 {"y",
                  {{"field", "share"},
                   {"type", "quantitative"},
                   {"stack", nullptr},
                   {"title", "share of class"},
                   {"axis", {{"format", ".0%"}}}}},
                 {"color",
                  {{"field", "class"},
                   {"type", "nominal"},
                   {"title", nullptr},
                   {"scale",
                    {{"domain", {"genuine", "fraud"}}, {"range", {kGenuineColor, kFraudColor}}}}}},
                 {"tooltip",
                  json::array(
                      {{{"field", "class"}, {"type", "nominal"}},
                       {{"field", "lo"}, {"type", "quantitative"}, {"format", ".4~g"}},
                       {{"field", "hi"}, {"type", "quantitative"}, {"format", ".4~g"}},
                       {{"field", "count"}, {"type", "quantitative"}, {"format", ","}},
                       {{"field", "share"}, {"type", "quantitative"}, {"format", ".2%"}}})}}}},
              {{"mark", {{"type", "rule"}, {"color", "black"}, {"strokeDash", {4, 3}}}},
               {"encoding", {{"x", {{"datum", a.m->threshold}}}}}}})}};
}

json ThresholdSpec(const Analysis& a) {
    json values = json::array();
    for (const auto& s : a.sweep) {
        for (auto [metric, v] : {std::pair{"precision", s.precision}, std::pair{"recall", s.recall},
                                 std::pair{"F1", s.f1}}) {
            values.push_back({{"threshold", s.threshold},
                              {"metric", metric},
                              {"value", v},
                              {"alert_rate", s.alert_rate}});
        }
    }
    return {
        {"title", a.m->name + ": metrics vs threshold (dashed: chosen threshold)"},
        {"width", 380},
        {"height", 200},
        {"data", {{"values", values}}},
        {"layer",
         json::array(
             {{{"mark", {{"type", "line"}}},
               {"encoding",
                {{"x",
                  {{"field", "threshold"}, {"type", "quantitative"}, {"scale", {{"zero", false}}}}},
                 {"y",
                  {{"field", "value"},
                   {"type", "quantitative"},
                   {"title", nullptr},
                   {"scale", {{"domain", {0, 1}}}}}},
                 {"color",
                  {{"field", "metric"},
                   {"type", "nominal"},
                   {"title", nullptr},
                   {"sort", {"precision", "recall", "F1"}},
                   {"scale",
                    {{"domain", {"precision", "recall", "F1"}},
                     {"range", {"#4c78a8", "#f58518", "#54a24b"}}}}}},
                 {"tooltip",
                  json::array(
                      {{{"field", "metric"}, {"type", "nominal"}},
                       {{"field", "threshold"}, {"type", "quantitative"}, {"format", ".6g"}},
                       {{"field", "value"}, {"type", "quantitative"}, {"format", ".4f"}},
                       {{"field", "alert_rate"},
                        {"type", "quantitative"},
                        {"format", ".3%"},
                        {"title", "alert rate"}}})}}}},
              {{"mark", {{"type", "rule"}, {"color", "black"}, {"strokeDash", {4, 3}}}},
               {"encoding", {{"x", {{"datum", a.m->threshold}}}}}}})}};
}

json ConfusionSpec(const std::vector<Analysis>& as) {
    json values = json::array();
    std::vector<std::string> names;
    for (const auto& a : as) names.push_back(a.m->name);
    for (const auto& a : as) {
        const auto& c = a.at.confusion;
        for (auto [actual, predicted, count] :
             {std::tuple{"fraud", "alert", c.tp}, std::tuple{"fraud", "no alert", c.fn},
              std::tuple{"genuine", "alert", c.fp}, std::tuple{"genuine", "no alert", c.tn}}) {
            const std::uint64_t row_total =
                std::string(actual) == "fraud" ? c.tp + c.fn : c.fp + c.tn;
            values.push_back(
                {{"model", a.m->name},
                 {"actual", actual},
                 {"predicted", predicted},
                 {"count", count},
                 {"row_share",
                  row_total ? static_cast<double>(count) / static_cast<double>(row_total) : kNaN}});
        }
    }
    json cell = {
        {"layer",
         json::array(
             {{{"mark", "rect"},
               {"encoding",
                {{"color",
                  {{"field", "row_share"},
                   {"type", "quantitative"},
                   {"title", "share of row"},
                   {"scale", {{"scheme", "blues"}, {"domain", {0, 1}}}},
                   {"legend", {{"format", ".0%"}}}}},
                 {"tooltip",
                  json::array(
                      {{{"field", "model"}, {"type", "nominal"}},
                       {{"field", "actual"}, {"type", "nominal"}},
                       {{"field", "predicted"}, {"type", "nominal"}},
                       {{"field", "count"}, {"type", "quantitative"}, {"format", ","}},
                       {{"field", "row_share"}, {"type", "quantitative"}, {"format", ".2%"}}})}}}},
              {{"mark", {{"type", "text"}, {"fontSize", 13}}},
               {"encoding",
                {{"text", {{"field", "count"}, {"type", "quantitative"}, {"format", ","}}},
                 {"color",
                  {{"condition", {{"test", "datum.row_share > 0.6"}, {"value", "white"}}},
                   {"value", "black"}}}}}}})},
        {"encoding",
         {{"x",
           {{"field", "predicted"},
            {"type", "nominal"},
            {"sort", {"alert", "no alert"}},
            {"axis", {{"labelAngle", 0}}}}},
          {"y", {{"field", "actual"}, {"type", "nominal"}, {"sort", {"fraud", "genuine"}}}}}},
        {"width", 180},
        {"height", 120}};
    return {{"title", "Confusion matrices at each model's threshold"},
            {"data", {{"values", values}}},
            {"facet",
             {{"column",
               {{"field", "model"}, {"type", "nominal"}, {"title", nullptr}, {"sort", names}}}}},
            {"spec", cell}};
}

json DailySpec(const std::vector<Analysis>& as, bool alerts) {
    json values = json::array();
    bool frauds_added = false;
    std::vector<std::string> domain, range;
    if (!alerts) {
        domain.push_back("frauds (all)");
        range.push_back("#333333");
    }
    for (std::size_t mi = 0; mi < as.size(); ++mi) {
        const Analysis& a = as[mi];
        if (a.days.empty()) continue;
        const std::string series = a.m->name + (alerts ? ": alerts" : ": frauds caught");
        domain.push_back(series);
        range.push_back(kPalette[mi % 10]);
        for (const auto& [day, d] : a.days) {
            const std::string date = FormatDate(day * kMsPerDay);
            values.push_back(
                {{"date", date}, {"series", series}, {"value", alerts ? d.alerts : d.caught}});
            if (!alerts && !frauds_added)
                values.push_back({{"date", date}, {"series", "frauds (all)"}, {"value", d.frauds}});
        }
        if (!a.days.empty()) frauds_added = true;
    }
    return {{"title", alerts ? "Alerts per day" : "Frauds and frauds caught per day"},
            {"width", 900},
            {"height", 200},
            {"data", {{"values", values}}},
            {"mark", {{"type", "line"}, {"point", {{"size", 12}}}}},
            {"encoding",
             {{"x", DayAxisEncoding("date", nullptr)},
              {"y",
               {{"field", "value"},
                {"type", "quantitative"},
                {"title", alerts ? "alerts" : "transactions"}}},
              {"color", SeriesColor("series", domain, range)},
              {"tooltip", json::array({{{"field", "date"}, {"type", "nominal"}},
                                       {{"field", "series"}, {"type", "nominal"}},
                                       {{"field", "value"}, {"type", "quantitative"}}})}}}};
}

json CardPrecisionSpec(const std::vector<Analysis>& as) {
    json values = json::array();
    std::vector<std::string> domain;
    std::vector<std::size_t> idx;
    for (std::size_t mi = 0; mi < as.size(); ++mi) {
        const Analysis& a = as[mi];
        if (!a.m->card_precision) continue;
        char buf[96];
        std::snprintf(buf, sizeof buf, " (mean %.4f)", a.m->card_precision->mean);
        const std::string legend = a.m->name + buf;
        domain.push_back(legend);
        idx.push_back(mi);
        for (const auto& d : a.m->card_precision->days)
            values.push_back({{"date", FormatDate(d.day_ms)},
                              {"model", legend},
                              {"cp", d.card_precision},
                              {"cards", d.cards},
                              {"fraud_cards", d.fraud_cards}});
    }
    std::string k;
    for (const auto& a : as)
        if (a.m->card_precision && a.m->card_precision_k) {
            k = std::to_string(a.m->card_precision_k);
            break;
        }
    return {
        {"title", "Daily card precision@" + (k.empty() ? std::string("k") : k)},
        {"width", 900},
        {"height", 200},
        {"data", {{"values", values}}},
        {"mark", {{"type", "line"}, {"point", {{"size", 14}}}}},
        {"encoding",
         {{"x", DayAxisEncoding("date", nullptr)},
          {"y",
           {{"field", "cp"},
            {"type", "quantitative"},
            {"title", "card precision"},
            {"scale", {{"domain", {0, 1}}}}}},
          {"color", SeriesColor("model", domain, PaletteFor(idx))},
          {"tooltip", json::array({{{"field", "date"}, {"type", "nominal"}},
                                   {{"field", "model"}, {"type", "nominal"}},
                                   {{"field", "cp"}, {"type", "quantitative"}, {"format", ".3f"}},
                                   {{"field", "cards"}, {"type", "quantitative"}},
                                   {{"field", "fraud_cards"}, {"type", "quantitative"}}})}}}};
}

json ImportanceSpec(const ModelEvaluation& m) {
    auto fi = m.feature_importance;
    std::stable_sort(fi.begin(), fi.end(), [](const auto& x, const auto& y) {
        return std::fabs(x.second) > std::fabs(y.second);
    });
    if (fi.size() > kMaxImportanceBars) fi.resize(kMaxImportanceBars);
    json values = json::array();
    for (const auto& [name, v] : fi)
        values.push_back({{"feature", name}, {"importance", v}, {"magnitude", std::fabs(v)}});
    return {{"title", m.name + ": feature importance"},
            {"width", 360},
            {"height", {{"step", 16}}},
            {"data", {{"values", values}}},
            {"mark", {{"type", "bar"}, {"color", kGenuineColor}}},
            {"encoding",
             {{"y",
               {{"field", "feature"},
                {"type", "nominal"},
                {"title", nullptr},
                {"sort", {{"field", "magnitude"}, {"order", "descending"}}}}},
              {"x", {{"field", "importance"}, {"type", "quantitative"}}},
              {"tooltip",
               json::array(
                   {{{"field", "feature"}, {"type", "nominal"}},
                    {{"field", "importance"}, {"type", "quantitative"}, {"format", ".4g"}}})}}}};
}

std::string ChartSuffix(std::size_t i) { return "_m" + std::to_string(i + 1); }

HtmlPage BuildPage(const std::vector<Analysis>& as, const ReportOptions& options) {
    std::string subtitle;
    for (std::size_t i = 0; i < as.size(); ++i) subtitle += (i ? ", " : "") + as[i].m->name;
    HtmlPage page(
        options.title.empty() ? "txguard evaluation report" : options.title,
        std::to_string(as.size()) + (as.size() == 1 ? " model: " : " models: ") + subtitle);

    page.Section("summary", "Summary");
    page.Note(
        "ROC-AUC and average precision are defined as in scikit-learn. Precision, recall, "
        "F1 and the confusion matrix are taken at each model's threshold (a transaction "
        "with score >= threshold raises an alert).");
    std::vector<std::vector<std::string>> rows;
    bool any_cards = false, any_cp = false;
    for (const auto& a : as) {
        any_cards |= !a.m->customer.empty();
        any_cp |= a.m->card_precision.has_value();
    }
    for (const auto& a : as) {
        const auto& c = a.at.confusion;
        std::vector<std::string> r = {a.m->name,
                                      FormatCount(a.n),
                                      FormatCount(a.positives),
                                      FormatNumber(a.roc_auc),
                                      FormatNumber(a.average_precision),
                                      FormatNumber(a.m->threshold, 6),
                                      FormatCount(c.tp + c.fp),
                                      FormatNumber(a.at.precision),
                                      FormatNumber(a.at.recall),
                                      FormatNumber(a.at.f1)};
        if (any_cards)
            r.push_back(a.m->customer.empty() ? "-"
                                              : FormatCount(a.fraud_cards_caught) + " / " +
                                                    FormatCount(a.fraud_cards));
        if (any_cp)
            r.push_back(a.m->card_precision ? FormatNumber(a.m->card_precision->mean) : "-");
        rows.push_back(std::move(r));
    }
    std::vector<std::string> headers = {
        "model",     "transactions", "frauds",    "ROC-AUC", "avg prec.",
        "threshold", "alerts",       "precision", "recall",  "F1"};
    if (any_cards) headers.push_back("fraud cards caught");
    if (any_cp) headers.push_back("CP@k mean");
    page.Table(headers, rows);

    bool any_two = false;
    for (const auto& a : as) any_two |= a.two_classes;
    page.Section("curves", "ROC and precision-recall curves");
    if (any_two) {
        page.BeginRow();
        page.Chart("roc", CurveSpec(as, true));
        page.Chart("pr", CurveSpec(as, false));
        page.EndRow();
    }
    for (const auto& a : as)
        if (!a.two_classes)
            page.Note(a.m->name + ": the labels hold one class only; its curves are undefined.");

    page.Section("scores", "Score distributions and thresholds");
    page.Note(
        "Dashed line: the chosen threshold. Score histograms span the 0.1%..99.9% score "
        "range; the end bins hold the rest.");
    for (std::size_t i = 0; i < as.size(); ++i) {
        page.BeginRow();
        page.Chart("scores" + ChartSuffix(i), ScoreDistributionSpec(as[i]));
        page.Chart("threshold" + ChartSuffix(i), ThresholdSpec(as[i]));
        page.EndRow();
    }

    page.Section("confusion", "Confusion matrices");
    page.Chart("confusion", ConfusionSpec(as));

    bool any_days = false;
    for (const auto& a : as) any_days |= !a.days.empty();
    if (any_days || any_cp) {
        page.Section("daily", "Day by day");
        if (any_days) {
            page.Chart("daily_caught", DailySpec(as, false));
            page.Chart("daily_alerts", DailySpec(as, true));
        }
        if (any_cp) {
            page.Note(
                "Card precision@k: each day, the share of frauds among the k cards with the "
                "highest scores (the fraud handbook's protocol).");
            page.Chart("daily_cp", CardPrecisionSpec(as));
        }
    }

    bool any_fi = false;
    for (const auto& a : as) any_fi |= !a.m->feature_importance.empty();
    if (any_fi) {
        page.Section("importance", "Feature importance");
        page.BeginRow();
        for (std::size_t i = 0; i < as.size(); ++i)
            if (!as[i].m->feature_importance.empty())
                page.Chart("importance" + ChartSuffix(i), ImportanceSpec(*as[i].m));
        page.EndRow();
    }

    bool any_alerts = false;
    for (const auto& a : as) any_alerts |= !a.m->top_alerts.empty();
    if (any_alerts) {
        page.Section("alerts", "Top alerts");
        for (const auto& a : as) {
            if (a.m->top_alerts.empty()) continue;
            page.RawHtml("<h3>" + HtmlEscape(a.m->name) + "</h3>\n");
            std::vector<std::vector<std::string>> alert_rows;
            std::size_t rank = 0;
            for (const auto& al : a.m->top_alerts) {
                std::string reasons;
                for (const auto& [feature, v] : al.reasons) {
                    char buf[48];
                    std::snprintf(buf, sizeof buf, " (%+.4g)", v);
                    reasons += (reasons.empty() ? "" : ", ") + feature + buf;
                }
                alert_rows.push_back({std::to_string(++rank), al.transaction_id, al.customer,
                                      FormatNumber(al.score, 6),
                                      al.label < 0 ? "-" : (al.label ? "fraud" : "genuine"),
                                      reasons});
            }
            page.Table({"#", "transaction", "customer", "score", "label", "reasons"}, alert_rows,
                       3);
        }
    }

    bool any_meta = false;
    for (const auto& a : as) any_meta |= !a.m->metadata.empty();
    if (any_meta) {
        page.Section("metadata", "Models and data");
        for (const auto& a : as) {
            if (a.m->metadata.empty()) continue;
            page.RawHtml("<h3>" + HtmlEscape(a.m->name) + "</h3>\n");
            std::vector<std::vector<std::string>> meta_rows;
            for (const auto& [k, v] : a.m->metadata) meta_rows.push_back({k, v});
            page.Table({"", "value"}, meta_rows, 2);
        }
    }
    return page;
}

Result<HtmlPage> Build(std::span<const ModelEvaluation> models, const ReportOptions& options) {
    TXG_RETURN_IF_ERROR(Validate(models));
    std::vector<Analysis> as;
    for (const auto& m : models) {
        auto a = Analyze(m);
        if (!a) return std::unexpected(a.error());
        as.push_back(std::move(*a));
    }
    return BuildPage(as, options);
}

}  // namespace

Result<std::string> RenderEvaluationHtml(std::span<const ModelEvaluation> models,
                                         const ReportOptions& options) {
    try {
        auto page = Build(models, options);
        if (!page) return std::unexpected(page.error());
        return page->Render(false);
    } catch (const std::exception& e) {
        return MakeError(ErrorCode::kInternal,
                         std::string("evaluation report failed: ") + e.what());
    }
}

Result<void> WriteEvaluationReport(std::span<const ModelEvaluation> models, const std::string& path,
                                   const ReportOptions& options) {
    try {
        auto page = Build(models, options);
        if (!page) return std::unexpected(page.error());
        return WritePage(*page, path, options);
    } catch (const std::exception& e) {
        return MakeError(ErrorCode::kInternal,
                         std::string("evaluation report failed: ") + e.what());
    }
}

}  // namespace txguard
