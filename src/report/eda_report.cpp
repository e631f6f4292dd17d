// The EDA statistics as JSON and as an HTML page with Vega-Lite charts.
#include <cmath>
#include <exception>
#include <nlohmann/json.hpp>

#include "html_page.hpp"
#include "txguard/core/time.hpp"
#include "txguard/report/eda.hpp"

namespace txguard {
namespace {

using nlohmann::json;

constexpr const char* kGenuineColor = "#4c78a8";
constexpr const char* kFraudColor = "#e45756";

double Rate(std::uint64_t part, std::uint64_t whole) {
    return whole == 0 ? std::nan("") : static_cast<double>(part) / static_cast<double>(whole);
}

json HistogramJson(const Histogram& h) {
    return {{"edges", h.edges},
            {"counts", h.counts},
            {"fraud_counts", h.fraud_counts},
            {"log_scale", h.log_scale},
            {"non_positive", h.non_positive}};
}

json BucketsJson(const std::vector<Bucket>& buckets) {
    json a = json::array();
    for (const auto& b : buckets)
        a.push_back({{"label", b.label},
                     {"start", b.start},
                     {"count", b.count},
                     {"frauds", b.frauds},
                     {"fraud_rate", Rate(b.frauds, b.count)}});
    return a;
}

json EntitiesJson(const std::vector<EntityStats>& v) {
    json a = json::array();
    for (const auto& e : v)
        a.push_back({{"id", e.id},
                     {"count", e.count},
                     {"frauds", e.frauds},
                     {"fraud_rate", Rate(e.frauds, e.count)}});
    return a;
}

json StatsJson(const EdaStats& s) {
    json j;
    j["data"] = s.data_name;
    j["schema"] = s.schema_name;
    j["rows"] = s.rows;
    json cols = json::array();
    for (const auto& c : s.columns)
        cols.push_back(
            {{"name", c.name}, {"field", c.field}, {"type", c.type}, {"missing", c.missing}});
    j["columns"] = cols;
    j["duplicate_ids"] = s.duplicate_ids;
    if (s.has_time) {
        j["time"] = {{"first", FormatTimestamp(s.first_ts_ms)},
                     {"last", FormatTimestamp(s.last_ts_ms)},
                     {"first_ts_ms", s.first_ts_ms},
                     {"last_ts_ms", s.last_ts_ms},
                     {"days", DayIndex(s.last_ts_ms) - DayIndex(s.first_ts_ms) + 1}};
    } else {
        j["time"] = nullptr;
    }
    j["customers"] = s.customers;
    j["terminals"] = s.terminals;
    j["labelled"] = s.has_label;
    j["frauds"] = s.frauds;
    j["fraud_rate"] = s.has_label ? json(s.fraud_rate) : json(nullptr);
    j["frauds_by_scenario"] = s.frauds_by_scenario;
    json num = json::array();
    for (const auto& c : s.numeric)
        num.push_back({{"name", c.name},
                       {"count", c.count},
                       {"missing", c.missing},
                       {"mean", c.mean},
                       {"std", c.stddev},
                       {"min", c.min},
                       {"q01", c.q01},
                       {"q05", c.q05},
                       {"q25", c.q25},
                       {"median", c.median},
                       {"q75", c.q75},
                       {"q95", c.q95},
                       {"q99", c.q99},
                       {"max", c.max},
                       {"histogram", HistogramJson(c.histogram)}});
    j["numeric"] = num;
    json cat = json::array();
    for (const auto& c : s.categorical) {
        json top = json::array();
        for (const auto& v : c.top)
            top.push_back({{"value", v.value},
                           {"count", v.count},
                           {"frauds", v.frauds},
                           {"fraud_rate", Rate(v.frauds, v.count)}});
        cat.push_back(
            {{"name", c.name}, {"distinct", c.distinct}, {"missing", c.missing}, {"top", top}});
    }
    j["categorical"] = cat;
    j["time_patterns"] = {{"by_hour", BucketsJson(s.by_hour)},
                          {"by_weekday", BucketsJson(s.by_weekday)},
                          {"by_day", BucketsJson(s.by_day)},
                          {"day_bucket_days", s.day_bucket_days}};
    j["amount_bands"] = BucketsJson(s.by_amount_band);
    j["correlation"] = {
        {"columns", s.corr_names}, {"pearson", s.pearson}, {"spearman", s.spearman}};
    json assoc = json::array();
    for (const auto& a : s.label_association)
        assoc.push_back({{"name", a.name},
                         {"pearson", a.pearson},
                         {"spearman", a.spearman},
                         {"roc_auc", a.roc_auc}});
    j["label_association"] = assoc;
    j["behaviour"] = {{"tx_per_customer", HistogramJson(s.tx_per_customer)},
                      {"tx_per_terminal", HistogramJson(s.tx_per_terminal)},
                      {"top_fraud_customers", EntitiesJson(s.top_fraud_customers)},
                      {"top_fraud_terminals", EntitiesJson(s.top_fraud_terminals)}};
    j["seconds"] = s.seconds;
    return j;
}

// ---- chart specs ------------------------------------------------------------------------------

std::string ChartId(std::string prefix, const std::string& name) {
    for (char c : name) {
        const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        prefix += ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9')) ? l : '_';
    }
    return prefix;
}

json ClassColor() {
    return {{"field", "class"},
            {"type", "nominal"},
            {"title", nullptr},
            {"scale", {{"domain", {"genuine", "fraud"}}, {"range", {kGenuineColor, kFraudColor}}}}};
}

// Per-class distribution of a numeric column (share of each class per bin), or counts when
// unlabelled.
json HistogramSpec(const std::string& title, const Histogram& h, bool labelled) {
    json values = json::array();
    std::uint64_t total = 0, frauds = 0;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
        total += h.counts[i];
        if (labelled) frauds += h.fraud_counts[i];
    }
    const std::uint64_t genuine = total - frauds;
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
        if (labelled) {
            const std::uint64_t f = h.fraud_counts[i];
            const std::uint64_t g = h.counts[i] - f;
            values.push_back({{"lo", h.edges[i]},
                              {"hi", h.edges[i + 1]},
                              {"class", "genuine"},
                              {"count", g},
                              {"share", Rate(g, genuine)}});
            values.push_back({{"lo", h.edges[i]},
                              {"hi", h.edges[i + 1]},
                              {"class", "fraud"},
                              {"count", f},
                              {"share", Rate(f, frauds)}});
        } else {
            values.push_back({{"lo", h.edges[i]}, {"hi", h.edges[i + 1]}, {"count", h.counts[i]}});
        }
    }
    json x = {
        {"field", "lo"}, {"type", "quantitative"}, {"title", title}, {"bin", {{"binned", true}}}};
    if (h.log_scale) x["scale"] = {{"type", "log"}};
    json enc = {{"x", x}, {"x2", {{"field", "hi"}}}};
    json tooltip = json::array({{{"field", "lo"}, {"type", "quantitative"}, {"format", ".4~g"}},
                                {{"field", "hi"}, {"type", "quantitative"}, {"format", ".4~g"}},
                                {{"field", "count"}, {"type", "quantitative"}, {"format", ","}}});
    if (labelled) {
        enc["y"] = {{"field", "share"},
                    {"type", "quantitative"},
                    {"stack", nullptr},
                    {"title", "share of class"},
                    {"axis", {{"format", ".0%"}}}};
        enc["color"] = ClassColor();
        tooltip.push_back({{"field", "class"}, {"type", "nominal"}});
        tooltip.push_back({{"field", "share"}, {"type", "quantitative"}, {"format", ".2%"}});
    } else {
        enc["y"] = {{"field", "count"}, {"type", "quantitative"}, {"title", "transactions"}};
    }
    enc["tooltip"] = tooltip;
    std::string full_title = title + (h.log_scale ? " (log scale)" : "");
    if (h.non_positive > 0)
        full_title += ", " + FormatCount(h.non_positive) + " values <= 0 not shown";
    return {{"title", full_title},
            {"width", 380},
            {"height", 170},
            {"data", {{"values", values}}},
            {"mark", {{"type", "bar"}, {"opacity", labelled ? 0.55 : 0.85}, {"binSpacing", 0}}},
            {"encoding", enc}};
}

// Volume (bars or area) and fraud rate (line) on two y axes.
json VolumeRateSpec(const std::string& title, const std::vector<Bucket>& buckets,
                    const std::string& x_title, bool temporal, bool labelled, int width) {
    json values = BucketsJson(buckets);
    json x = temporal ? DayAxisEncoding("label", x_title)
                      : json{{"field", "label"},
                             {"type", "ordinal"},
                             {"sort", nullptr},
                             {"title", x_title},
                             {"axis", {{"labelAngle", 0}}}};
    if (temporal) x["axis"]["labelAngle"] = 0;
    json tooltip =
        json::array({{{"field", "label"}, {"type", "nominal"}, {"title", x_title}},
                     {{"field", "count"}, {"type", "quantitative"}, {"format", ","}},
                     {{"field", "frauds"}, {"type", "quantitative"}, {"format", ","}},
                     {{"field", "fraud_rate"}, {"type", "quantitative"}, {"format", ".3%"}}});
    json layers = json::array();
    layers.push_back({{"mark", {{"type", temporal ? "area" : "bar"}, {"color", "#9db4d0"}}},
                      {"encoding",
                       {{"y",
                         {{"field", "count"},
                          {"type", "quantitative"},
                          {"title", "transactions"},
                          {"axis", {{"titleColor", "#4c78a8"}}}}},
                        {"tooltip", tooltip}}}});
    if (labelled) {
        layers.push_back(
            {{"mark", {{"type", "line"}, {"color", kFraudColor}, {"point", !temporal}}},
             {"encoding",
              {{"y",
                {{"field", "fraud_rate"},
                 {"type", "quantitative"},
                 {"title", "fraud rate"},
                 {"axis", {{"format", ".2%"}, {"titleColor", kFraudColor}}}}},
               {"tooltip", tooltip}}}});
    }
    json spec = {{"title", title},         {"width", width},
                 {"height", 200},          {"data", {{"values", values}}},
                 {"encoding", {{"x", x}}}, {"layer", layers}};
    if (labelled) spec["resolve"] = {{"scale", {{"y", "independent"}}}};
    return spec;
}

json TopValuesSpec(const CategoricalSummary& c, bool labelled, std::size_t max_bars) {
    json values = json::array();
    for (std::size_t i = 0; i < c.top.size() && i < max_bars; ++i) {
        const auto& v = c.top[i];
        values.push_back({{"value", v.value.empty() ? "(empty)" : v.value},
                          {"count", v.count},
                          {"frauds", v.frauds},
                          {"fraud_rate", Rate(v.frauds, v.count)}});
    }
    json tooltip = json::array({{{"field", "value"}, {"type", "nominal"}},
                                {{"field", "count"}, {"type", "quantitative"}, {"format", ","}}});
    json enc = {
        {"y", {{"field", "value"}, {"type", "nominal"}, {"sort", "-x"}, {"title", nullptr}}},
        {"x", {{"field", "count"}, {"type", "quantitative"}, {"title", "transactions"}}}};
    if (labelled) {
        tooltip.push_back({{"field", "frauds"}, {"type", "quantitative"}, {"format", ","}});
        tooltip.push_back({{"field", "fraud_rate"}, {"type", "quantitative"}, {"format", ".2%"}});
        enc["color"] = {{"field", "fraud_rate"},
                        {"type", "quantitative"},
                        {"title", "fraud rate"},
                        {"scale", {{"scheme", "orangered"}}},
                        {"legend", {{"format", ".1%"}}}};
    }
    enc["tooltip"] = tooltip;
    return {{"title", "Top values of " + c.name + " (" + FormatCount(c.distinct) + " distinct)"},
            {"width", 320},
            {"height", {{"step", 14}}},
            {"data", {{"values", values}}},
            {"mark", {{"type", "bar"}, {"color", kGenuineColor}}},
            {"encoding", enc}};
}

json HeatmapSpec(const std::string& title, const std::vector<std::string>& names,
                 const std::vector<std::vector<double>>& m) {
    json values = json::array();
    for (std::size_t a = 0; a < names.size(); ++a)
        for (std::size_t b = 0; b < names.size(); ++b)
            values.push_back({{"x", names[b]}, {"y", names[a]}, {"r", m[a][b]}});
    json order = names;
    const int cell = names.size() > 20 ? 18 : 40;
    json text_layer = {
        {"mark", {{"type", "text"}, {"fontSize", 10}}},
        {"encoding",
         {{"text", {{"field", "r"}, {"type", "quantitative"}, {"format", ".2f"}}},
          {"color",
           {{"condition", {{"test", "datum.r != null && abs(datum.r) > 0.6"}, {"value", "white"}}},
            {"value", "black"}}}}}};
    json layers = json::array(
        {{{"mark", "rect"},
          {"encoding",
           {{"color",
             {{"field", "r"},
              {"type", "quantitative"},
              {"title", "r"},
              {"scale", {{"scheme", "redblue"}, {"reverse", true}, {"domain", {-1, 1}}}}}},
            {"tooltip",
             json::array({{{"field", "y"}, {"type", "nominal"}},
                          {{"field", "x"}, {"type", "nominal"}},
                          {{"field", "r"}, {"type", "quantitative"}, {"format", ".4f"}}})}}}}});
    if (names.size() <= 20) layers.push_back(text_layer);
    return {{"title", title},
            {"width", {{"step", cell}}},
            {"height", {{"step", cell}}},
            {"data", {{"values", values}}},
            {"encoding",
             {{"x", {{"field", "x"}, {"type", "nominal"}, {"sort", order}, {"title", nullptr}}},
              {"y", {{"field", "y"}, {"type", "nominal"}, {"sort", order}, {"title", nullptr}}}}},
            {"layer", layers}};
}

json AssociationSpec(const std::vector<LabelAssociation>& assoc) {
    json values = json::array();
    for (const auto& a : assoc) {
        if (std::isnan(a.roc_auc)) continue;
        values.push_back({{"name", a.name},
                          {"roc_auc", a.roc_auc},
                          {"strength", std::fabs(a.roc_auc - 0.5)},
                          {"pearson", a.pearson},
                          {"spearman", a.spearman}});
    }
    return {
        {"title", "Each column as a fraud score: ROC AUC (0.5 = no signal)"},
        {"width", 420},
        {"height", {{"step", 18}}},
        {"data", {{"values", values}}},
        {"layer",
         json::array(
             {{{"mark", {{"type", "bar"}, {"color", kFraudColor}}},
               {"encoding",
                {{"y",
                  {{"field", "name"},
                   {"type", "nominal"},
                   {"title", nullptr},
                   {"sort", {{"field", "strength"}, {"order", "descending"}}}}},
                 {"x",
                  {{"field", "roc_auc"},
                   {"type", "quantitative"},
                   {"title", "ROC AUC"},
                   {"scale", {{"domain", {0, 1}}}}}},
                 {"tooltip",
                  json::array(
                      {{{"field", "name"}, {"type", "nominal"}},
                       {{"field", "roc_auc"}, {"type", "quantitative"}, {"format", ".4f"}},
                       {{"field", "pearson"}, {"type", "quantitative"}, {"format", ".4f"}},
                       {{"field", "spearman"}, {"type", "quantitative"}, {"format", ".4f"}}})}}}},
              {{"mark", {{"type", "rule"}, {"color", "black"}, {"strokeDash", {4, 3}}}},
               {"encoding", {{"x", {{"datum", 0.5}}}}}}})}};
}

json EntityHistogramSpec(const std::string& title, const std::string& x_title, const Histogram& h,
                         bool labelled) {
    json values = json::array();
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
        const std::uint64_t f = labelled ? h.fraud_counts[i] : 0;
        values.push_back({{"lo", h.edges[i]},
                          {"hi", h.edges[i + 1]},
                          {"class", "no fraud"},
                          {"count", h.counts[i] - f}});
        if (labelled)
            values.push_back({{"lo", h.edges[i]},
                              {"hi", h.edges[i + 1]},
                              {"class", "with fraud"},
                              {"count", f}});
    }
    return {
        {"title", title},
        {"width", 380},
        {"height", 170},
        {"data", {{"values", values}}},
        {"mark", {{"type", "bar"}, {"binSpacing", 0}}},
        {"encoding",
         {{"x",
           {{"field", "lo"},
            {"type", "quantitative"},
            {"bin", {{"binned", true}}},
            {"title", x_title}}},
          {"x2", {{"field", "hi"}}},
          {"y", {{"field", "count"}, {"type", "quantitative"}, {"title", "count"}}},
          {"color",
           {{"field", "class"},
            {"type", "nominal"},
            {"title", nullptr},
            {"scale",
             {{"domain", {"no fraud", "with fraud"}}, {"range", {kGenuineColor, kFraudColor}}}}}},
          {"tooltip",
           json::array({{{"field", "lo"}, {"type", "quantitative"}},
                        {{"field", "hi"}, {"type", "quantitative"}},
                        {{"field", "class"}, {"type", "nominal"}},
                        {{"field", "count"}, {"type", "quantitative"}, {"format", ","}}})}}}};
}

json TopEntitiesSpec(const std::string& title, const std::vector<EntityStats>& v) {
    return {{"title", title},
            {"width", 320},
            {"height", {{"step", 14}}},
            {"data", {{"values", EntitiesJson(v)}}},
            {"mark", {{"type", "bar"}, {"color", kFraudColor}}},
            {"encoding",
             {{"y", {{"field", "id"}, {"type", "nominal"}, {"sort", "-x"}, {"title", nullptr}}},
              {"x", {{"field", "frauds"}, {"type", "quantitative"}, {"title", "frauds"}}},
              {"tooltip",
               json::array(
                   {{{"field", "id"}, {"type", "nominal"}},
                    {{"field", "count"}, {"type", "quantitative"}, {"title", "transactions"}},
                    {{"field", "frauds"}, {"type", "quantitative"}},
                    {{"field", "fraud_rate"}, {"type", "quantitative"}, {"format", ".2%"}}})}}}};
}

std::vector<std::vector<std::string>> EntityRows(const std::vector<EntityStats>& v) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : v)
        rows.push_back({e.id, FormatCount(e.count), FormatCount(e.frauds),
                        FormatPercent(Rate(e.frauds, e.count), 1)});
    return rows;
}

HtmlPage BuildPage(const EdaStats& s, const ReportOptions& options) {
    const bool lab = s.has_label;
    std::string subtitle = (s.data_name.empty() ? std::string("transactions") : s.data_name) +
                           " - schema " + s.schema_name + " - " + FormatCount(s.rows) + " rows";
    HtmlPage page(options.title.empty() ? "txguard EDA report" : options.title, subtitle);

    // Overview
    page.Section("overview", "Overview");
    std::vector<std::vector<std::string>> ov;
    ov.push_back({"rows", FormatCount(s.rows)});
    ov.push_back({"columns", std::to_string(s.columns.size())});
    if (s.has_time) {
        ov.push_back(
            {"time span",
             FormatTimestamp(s.first_ts_ms) + " .. " + FormatTimestamp(s.last_ts_ms) + " UTC (" +
                 std::to_string(DayIndex(s.last_ts_ms) - DayIndex(s.first_ts_ms) + 1) + " days)"});
    }
    ov.push_back({"duplicate transaction ids", FormatCount(s.duplicate_ids)});
    if (s.customers) ov.push_back({"customers", FormatCount(s.customers)});
    if (s.terminals) ov.push_back({"terminals / merchants", FormatCount(s.terminals)});
    if (lab) {
        ov.push_back({"frauds", FormatCount(s.frauds)});
        ov.push_back({"fraud rate", FormatPercent(s.fraud_rate, 3)});
    } else {
        ov.push_back({"label", "none (unlabelled data)"});
    }
    for (std::size_t sc = 1; sc < s.frauds_by_scenario.size(); ++sc)
        ov.push_back(
            {"fraud scenario " + std::to_string(sc), FormatCount(s.frauds_by_scenario[sc])});
    ov.push_back({"computed in", FormatNumber(s.seconds, 3) + " s"});
    page.Table({"", "value"}, ov);
    std::vector<std::vector<std::string>> cols;
    for (const auto& c : s.columns)
        cols.push_back({c.name, c.field, c.type, FormatCount(c.missing),
                        FormatPercent(Rate(c.missing, s.rows), 2)});
    page.Table({"column", "field", "type", "missing", "missing %"}, cols, 3);

    // Numeric columns
    if (!s.numeric.empty()) {
        page.Section("numeric", "Numeric columns");
        page.Note(
            "Quantiles interpolate linearly (numpy's default); std is the sample standard "
            "deviation. Histograms compare the share of each class per bin" +
            std::string(lab ? "" : " (unlabelled: counts)") +
            "; values beyond the 0.1% and 99.9% quantiles fall into the end bins, except on "
            "log scales and for small integer columns (one bin per value).");
        std::vector<std::vector<std::string>> rows;
        for (const auto& c : s.numeric)
            rows.push_back({c.name, FormatCount(c.count), FormatCount(c.missing),
                            FormatNumber(c.mean), FormatNumber(c.stddev), FormatNumber(c.min),
                            FormatNumber(c.q01), FormatNumber(c.q25), FormatNumber(c.median),
                            FormatNumber(c.q75), FormatNumber(c.q99), FormatNumber(c.max)});
        page.Table({"column", "count", "missing", "mean", "std", "min", "1%", "25%", "median",
                    "75%", "99%", "max"},
                   rows);
        page.BeginRow();
        for (const auto& c : s.numeric)
            page.Chart(ChartId("hist_", c.name), HistogramSpec(c.name, c.histogram, lab));
        page.EndRow();
    }

    // Categorical columns
    if (!s.categorical.empty()) {
        page.Section("categorical", "Categorical columns");
        std::vector<std::vector<std::string>> rows;
        for (const auto& c : s.categorical)
            rows.push_back({c.name, FormatCount(c.distinct), FormatCount(c.missing)});
        page.Table({"column", "distinct values", "missing (empty)"}, rows);
        page.BeginRow();
        for (const auto& c : s.categorical)
            page.Chart(ChartId("top_", c.name), TopValuesSpec(c, lab, 20),
                       lab ? "Most frequent values; colour = fraud rate." : "");
        page.EndRow();
    }

    // Time patterns
    if (s.has_time || !s.by_amount_band.empty()) {
        page.Section("time", "Time patterns and amounts");
        if (lab) page.Note("Bars: transactions; red line: fraud rate (right axis).");
        if (s.has_time) {
            page.BeginRow();
            page.Chart("by_hour",
                       VolumeRateSpec("By hour of day (UTC)", s.by_hour, "hour", false, lab, 420));
            page.Chart("by_weekday", VolumeRateSpec("By day of week", s.by_weekday, "day of week",
                                                    false, lab, 300));
            page.EndRow();
            const std::string unit =
                s.day_bucket_days == 1 ? "day" : std::to_string(s.day_bucket_days) + " days";
            page.Chart("by_day", VolumeRateSpec("Per " + unit, s.by_day, "date", true, lab, 900));
        }
        if (!s.by_amount_band.empty())
            page.Chart("by_amount_band", VolumeRateSpec("By amount band", s.by_amount_band,
                                                        "amount", false, lab, 700));
    }

    // Correlations
    if (s.corr_names.size() >= 2) {
        page.Section("correlation", "Correlations");
        page.Note(
            "Pearson (linear) and Spearman (rank) correlation over the numeric columns, "
            "derived ones (hour, weekday, transactions per customer and terminal) and the "
            "label. Spearman uses average ranks for ties.");
        page.BeginRow();
        page.Chart("corr_pearson", HeatmapSpec("Pearson correlation", s.corr_names, s.pearson));
        page.Chart("corr_spearman", HeatmapSpec("Spearman correlation", s.corr_names, s.spearman));
        page.EndRow();
    }
    if (!s.label_association.empty()) {
        page.Section("association", "Association with the label");
        page.Note(
            "Each column used on its own as a fraud score: ROC AUC (ties count half; below "
            "0.5 means low values are the suspicious ones), point-biserial (Pearson) and "
            "Spearman correlation with the label.");
        std::vector<std::vector<std::string>> rows;
        for (const auto& a : s.label_association)
            rows.push_back({a.name, FormatNumber(a.roc_auc), FormatNumber(a.pearson),
                            FormatNumber(a.spearman)});
        page.Table({"column", "ROC AUC", "Pearson", "Spearman"}, rows);
        page.Chart("label_association", AssociationSpec(s.label_association));
    }

    // Behaviour
    if (s.customers || s.terminals) {
        page.Section("behaviour", "Customers and terminals");
        page.BeginRow();
        if (s.customers)
            page.Chart("tx_per_customer",
                       EntityHistogramSpec("Transactions per customer", "transactions",
                                           s.tx_per_customer, lab));
        if (s.terminals)
            page.Chart("tx_per_terminal",
                       EntityHistogramSpec("Transactions per terminal", "transactions",
                                           s.tx_per_terminal, lab));
        page.EndRow();
        if (!s.top_fraud_customers.empty() || !s.top_fraud_terminals.empty()) {
            page.BeginRow();
            if (!s.top_fraud_customers.empty())
                page.Chart("top_fraud_customers",
                           TopEntitiesSpec("Customers with most frauds", s.top_fraud_customers));
            if (!s.top_fraud_terminals.empty())
                page.Chart("top_fraud_terminals",
                           TopEntitiesSpec("Terminals with most frauds", s.top_fraud_terminals));
            page.EndRow();
            page.RawHtml("<div class=\"row\"><div>");
            if (!s.top_fraud_customers.empty())
                page.Table({"customer", "transactions", "frauds", "fraud rate"},
                           EntityRows(s.top_fraud_customers));
            page.RawHtml("</div><div>");
            if (!s.top_fraud_terminals.empty())
                page.Table({"terminal", "transactions", "frauds", "fraud rate"},
                           EntityRows(s.top_fraud_terminals));
            page.RawHtml("</div></div>\n");
        }
    }
    return page;
}

}  // namespace

std::string EdaToJson(const EdaStats& stats, int indent) {
    try {
        return StatsJson(stats).dump(indent, ' ', false, json::error_handler_t::replace);
    } catch (const std::exception& e) {
        return json{{"error", e.what()}}.dump();
    }
}

Result<std::string> RenderEdaHtml(const EdaStats& stats, const ReportOptions& options) {
    try {
        return BuildPage(stats, options).Render(false);
    } catch (const std::exception& e) {
        return MakeError(ErrorCode::kInternal, std::string("EDA report failed: ") + e.what());
    }
}

Result<void> WriteEdaReport(const EdaStats& stats, const std::string& path,
                            const ReportOptions& options) {
    try {
        return WritePage(BuildPage(stats, options), path, options);
    } catch (const std::exception& e) {
        return MakeError(ErrorCode::kInternal, std::string("EDA report failed: ") + e.what());
    }
}

}  // namespace txguard
