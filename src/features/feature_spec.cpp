#include "txguard/features/feature_spec.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

namespace txguard {
namespace {

using nlohmann::json;

struct Named {
    const char* name;
    int value;
};
constexpr Named kTimeNames[] = {{"hour", 0},     {"day_of_week", 1}, {"is_weekend", 2},
                                {"is_night", 3}, {"hour_sin", 4},    {"hour_cos", 5}};
constexpr Named kAggNames[] = {{"count", 0}, {"sum", 1}, {"mean", 2},
                               {"std", 3},   {"max", 4}, {"distinct", 5}};
constexpr Named kKeyNames[] = {
    {"customer_id", 0}, {"terminal_id", 1}, {"category", 2}, {"channel", 3}, {"country", 4}};

template <std::size_t N>
const char* NameOf(const Named (&table)[N], int v) {
    for (const auto& n : table)
        if (n.value == v) return n.name;
    return "?";
}
template <std::size_t N>
Result<int> ValueOf(const Named (&table)[N], std::string_view name, const char* what) {
    for (const auto& n : table)
        if (name == n.name) return n.value;
    std::string valid;
    for (const auto& n : table) valid += std::string(valid.empty() ? "" : ", ") + n.name;
    return MakeError(ErrorCode::kInvalidArgument,
                     std::string("unknown ") + what + " \"" + std::string(name) + "\"",
                     "valid: " + valid);
}

std::string Days(int w) { return std::to_string(w) + "d"; }

bool Has(const std::vector<Aggregate>& v, Aggregate a) {
    return std::find(v.begin(), v.end(), a) != v.end();
}

Result<void> CheckWindows(const std::vector<int>& windows, const std::string& where) {
    for (int w : windows)
        if (w < 1 || w > 3650)
            return MakeError(
                ErrorCode::kInvalidArgument,
                where + ": window of " + std::to_string(w) + " days; expected 1..3650");
    return Ok();
}

}  // namespace

const char* KeyFieldName(KeyField f) { return NameOf(kKeyNames, static_cast<int>(f)); }

Result<KeyField> KeyFieldFromName(std::string_view name) {
    auto v = ValueOf(kKeyNames, name, "key column");
    if (!v) return std::unexpected(v.error());
    return static_cast<KeyField>(*v);
}

bool EntitySpec::NeedsCounterparty() const {
    return Has(aggregates, Aggregate::kDistinct) || new_counterparty;
}

bool FeatureSpec::NeedsLabels() const {
    for (const auto& e : entities)
        if (e.has_label_risk) return true;
    return false;
}

std::vector<std::string> FeatureSpec::Names() const {
    std::vector<std::string> names;
    if (amount) names.push_back("amount");
    for (auto t : time) names.push_back(NameOf(kTimeNames, static_cast<int>(t)));
    for (const auto& e : entities) {
        for (int w : e.windows_days)
            for (auto a : e.aggregates)
                names.push_back(e.name + "_" + NameOf(kAggNames, static_cast<int>(a)) + "_" +
                                Days(w));
        const int longest = e.windows_days.empty()
                                ? 0
                                : *std::max_element(e.windows_days.begin(), e.windows_days.end());
        if (e.time_since_last) names.push_back(e.name + "_secs_since_last");
        if (e.amount_ratio_to_mean) names.push_back(e.name + "_amount_ratio_" + Days(longest));
        if (e.amount_zscore) names.push_back(e.name + "_amount_z_" + Days(longest));
        if (e.new_counterparty) names.push_back(e.name + "_new_counterparty");
        if (e.has_label_risk) {
            const std::string d = "_d" + std::to_string(e.label_risk.delay_days) + "_";
            for (int w : e.label_risk.windows_days) {
                names.push_back(e.name + "_nb_tx" + d + Days(w));
                names.push_back(e.name + "_risk" + d + Days(w));
            }
            if (e.label_risk.streak) {
                const std::string dd = "_d" + std::to_string(e.label_risk.delay_days);
                names.push_back(e.name + "_fraud_streak" + dd);
                names.push_back(e.name + "_fraud_streak_secs" + dd);
            }
        }
    }
    for (const auto& c : categorical) names.push_back(std::string("cat_") + KeyFieldName(c.column));
    for (const auto& x : extra_columns) names.push_back(x);
    return names;
}

Result<void> FeatureSpec::Validate() const {
    if (version != 2)
        return MakeError(
            ErrorCode::kIncompatible,
            "feature spec version " + std::to_string(version) + ", this txguard reads version 2");
    std::set<std::string> entity_names;
    for (const auto& e : entities) {
        const std::string where = "feature spec, entity \"" + e.name + "\"";
        if (e.name.empty() || !entity_names.insert(e.name).second)
            return MakeError(ErrorCode::kInvalidArgument,
                             where + ": names must be unique, non-empty");
        TXG_RETURN_IF_ERROR(CheckWindows(e.windows_days, where));
        if (!e.aggregates.empty() && e.windows_days.empty())
            return MakeError(ErrorCode::kInvalidArgument, where + ": aggregates need windows_days");
        if ((e.amount_ratio_to_mean || e.amount_zscore || e.new_counterparty) &&
            e.windows_days.empty())
            return MakeError(ErrorCode::kInvalidArgument,
                             where + ": amount_vs_history and new_counterparty need windows_days");
        if (e.NeedsCounterparty() && e.counterparty == e.key)
            return MakeError(ErrorCode::kInvalidArgument,
                             where + ": the counterparty must differ from the key");
        if (e.has_label_risk) {
            if (e.label_risk.delay_days < 1 || e.label_risk.delay_days > 365)
                return MakeError(ErrorCode::kInvalidArgument,
                                 where + ": label_risk.delay_days must be in 1..365");
            if (e.label_risk.windows_days.empty())
                return MakeError(ErrorCode::kInvalidArgument,
                                 where + ": label_risk needs windows_days");
            TXG_RETURN_IF_ERROR(CheckWindows(e.label_risk.windows_days, where + " label_risk"));
        }
        if (e.max_events < 1)
            return MakeError(ErrorCode::kInvalidArgument, where + ": max_events must be >= 1");
        if (e.bucket_s > 0 && e.NeedsCounterparty())
            return MakeError(
                ErrorCode::kInvalidArgument,
                where + ": distinct and new_counterparty need exact events (bucket_s 0)");
        if (e.bucket_s > 0 && e.has_label_risk && e.label_risk.streak)
            return MakeError(ErrorCode::kInvalidArgument,
                             where + ": label_risk.streak needs exact events (bucket_s 0)");
    }
    for (const auto& c : categorical)
        if (c.max_values < 1 || c.max_values > 100000)
            return MakeError(ErrorCode::kInvalidArgument,
                             "feature spec: categorical max_values must be in 1..100000");
    if (Names().empty())
        return MakeError(ErrorCode::kInvalidArgument, "the feature spec has no features",
                         "map an amount or extra numeric columns in the schema");
    return Ok();
}

namespace {

bool SchemaHasKey(const Schema& s, KeyField k) {
    switch (k) {
        case KeyField::kCustomer:
            return s.Has(Field::kCustomerId);
        case KeyField::kTerminal:
            return s.Has(Field::kTerminalId);
        case KeyField::kCategory:
            return s.Has(Field::kCategory);
        case KeyField::kChannel:
            return s.Has(Field::kChannel);
        case KeyField::kCountry:
            return s.Has(Field::kCountry);
    }
    return false;
}

FeatureSpec NumericSpec(const Schema& schema, const TransactionTable& table) {
    FeatureSpec spec;
    spec.amount = schema.Has(Field::kAmount);
    spec.extra_columns = table.extra_names;
    return spec;
}

bool Behavioural(const Schema& s) {
    return s.Has(Field::kTimestamp) && s.Has(Field::kCustomerId) && s.Has(Field::kAmount);
}

}  // namespace

std::vector<std::string> FeatureSpecPresetNames() { return {"default", "handbook", "basic"}; }

Result<FeatureSpec> FeatureSpecPreset(std::string_view name, const Schema& schema,
                                      const TransactionTable& table) {
    if (name != "default" && name != "handbook" && name != "basic")
        return MakeError(ErrorCode::kInvalidArgument,
                         "unknown feature preset \"" + std::string(name) + "\"",
                         "presets: default, handbook, basic, or a JSON spec file");
    if (!Behavioural(schema)) {
        if (name != "default")
            return MakeError(ErrorCode::kInvalidArgument,
                             "the \"" + std::string(name) +
                                 "\" features need timestamp, customer_id and amount columns");
        return NumericSpec(schema, table);
    }
    FeatureSpec spec;
    EntitySpec cust;
    cust.name = "cust";
    cust.key = KeyField::kCustomer;
    if (name == "handbook") {
        spec.time = {TimeFeature::kIsWeekend, TimeFeature::kIsNight};
        spec.entities.push_back(cust);
        if (!schema.Has(Field::kTerminalId))
            return MakeError(ErrorCode::kInvalidArgument,
                             "the \"handbook\" features need a terminal_id column");
        EntitySpec term;
        term.name = "term";
        term.key = KeyField::kTerminal;
        term.windows_days = {};
        term.aggregates = {};
        term.has_label_risk = true;
        spec.entities.push_back(term);
        return spec;  // the handbook's 15 features, no extras
    }
    spec.time = {TimeFeature::kHour, TimeFeature::kIsWeekend, TimeFeature::kIsNight};
    if (name == "basic") {
        spec.entities.push_back(cust);
        spec.extra_columns = table.extra_names;
        return spec;
    }
    // default: richer customer behaviour, terminal activity and delayed terminal risk.
    cust.aggregates = {Aggregate::kCount, Aggregate::kMean, Aggregate::kStd, Aggregate::kMax};
    cust.time_since_last = true;
    cust.amount_ratio_to_mean = true;
    cust.amount_zscore = true;
    if (schema.Has(Field::kTerminalId)) {
        cust.aggregates.push_back(Aggregate::kDistinct);
        cust.counterparty = KeyField::kTerminal;
        cust.new_counterparty = true;
    }
    spec.entities.push_back(cust);
    if (schema.Has(Field::kTerminalId)) {
        EntitySpec term;
        term.name = "term";
        term.key = KeyField::kTerminal;
        term.aggregates = {Aggregate::kCount, Aggregate::kMean};
        term.has_label_risk = schema.Has(Field::kLabel);
        term.label_risk.windows_days = {1, 7, 14, 30};
        term.label_risk.streak = true;
        spec.entities.push_back(term);
    }
    for (KeyField k : {KeyField::kCategory, KeyField::kChannel, KeyField::kCountry})
        if (SchemaHasKey(schema, k)) spec.categorical.push_back({k, 32, {}});
    spec.extra_columns = table.extra_names;
    return spec;
}

FeatureSpec DefaultFeatureSpec(const Schema& schema, const TransactionTable& table) {
    auto spec = FeatureSpecPreset("default", schema, table);
    return spec ? *spec : NumericSpec(schema, table);
}

Result<FeatureSpec> ResolveFeatureSpec(const std::string& preset_or_path, const Schema& schema,
                                       const TransactionTable& table) {
    const auto presets = FeatureSpecPresetNames();
    if (std::find(presets.begin(), presets.end(), preset_or_path) != presets.end())
        return FeatureSpecPreset(preset_or_path, schema, table);
    std::ifstream in(preset_or_path, std::ios::binary);
    if (!in)
        return MakeError(ErrorCode::kNotFound,
                         "no feature preset or file named \"" + preset_or_path + "\"",
                         "presets: default, handbook, basic");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto spec = FeatureSpecFromJson(text);
    if (!spec)
        return MakeError(spec.error().code, preset_or_path + ": " + spec.error().message,
                         spec.error().hint);
    return spec;
}

Result<void> FitCategoricalVocabularies(FeatureSpec& spec, const TransactionTable& table,
                                        const std::vector<std::size_t>& rows) {
    for (auto& c : spec.categorical) {
        const CategoricalColumn* col = nullptr;
        switch (c.column) {
            case KeyField::kCustomer:
                col = &table.customer;
                break;
            case KeyField::kTerminal:
                col = &table.terminal;
                break;
            case KeyField::kCategory:
                col = &table.category;
                break;
            case KeyField::kChannel:
                col = &table.channel;
                break;
            case KeyField::kCountry:
                col = &table.country;
                break;
        }
        if (col->ids.empty())
            return MakeError(ErrorCode::kInvalidArgument,
                             std::string("the data has no ") + KeyFieldName(c.column) +
                                 " column for the categorical feature");
        std::vector<std::uint64_t> counts(col->pool.size(), 0);
        for (std::size_t r : rows) ++counts[col->ids[r]];
        std::vector<std::uint32_t> order;
        for (std::uint32_t i = 0; i < counts.size(); ++i)
            if (counts[i]) order.push_back(i);
        // Most frequent first; ties by value text so the vocabulary does not depend on row order.
        std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
            if (counts[a] != counts[b]) return counts[a] > counts[b];
            return col->pool.Get(a) < col->pool.Get(b);
        });
        if (order.size() > c.max_values) order.resize(c.max_values);
        c.values.clear();
        for (auto i : order) c.values.emplace_back(col->pool.Get(i));
    }
    return Ok();
}

std::string FeatureSpecToJson(const FeatureSpec& spec) {
    json j;
    j["version"] = spec.version;
    j["amount"] = spec.amount;
    j["time"] = json::array();
    for (auto t : spec.time) j["time"].push_back(NameOf(kTimeNames, static_cast<int>(t)));
    j["entities"] = json::array();
    for (const auto& e : spec.entities) {
        json o;
        o["name"] = e.name;
        o["key"] = KeyFieldName(e.key);
        o["windows_days"] = e.windows_days;
        o["aggregates"] = json::array();
        for (auto a : e.aggregates)
            o["aggregates"].push_back(NameOf(kAggNames, static_cast<int>(a)));
        o["counterparty"] = KeyFieldName(e.counterparty);
        o["time_since_last"] = e.time_since_last;
        o["amount_vs_history"] = json::array();
        if (e.amount_ratio_to_mean) o["amount_vs_history"].push_back("ratio_to_mean");
        if (e.amount_zscore) o["amount_vs_history"].push_back("zscore");
        o["new_counterparty"] = e.new_counterparty;
        if (e.has_label_risk) {
            o["label_risk"] = {{"delay_days", e.label_risk.delay_days},
                               {"windows_days", e.label_risk.windows_days}};
            // Written only when set, so specs (and bundles, snapshots) without it keep their
            // bytes.
            if (e.label_risk.streak) o["label_risk"]["streak"] = true;
        } else {
            o["label_risk"] = nullptr;
        }
        o["max_events"] = e.max_events;
        o["bucket_s"] = e.bucket_s;
        j["entities"].push_back(o);
    }
    j["categorical"] = json::array();
    for (const auto& c : spec.categorical)
        j["categorical"].push_back({{"column", KeyFieldName(c.column)},
                                    {"max_values", c.max_values},
                                    {"values", c.values}});
    j["extra_columns"] = spec.extra_columns;
    return j.dump();
}

namespace {

Result<void> CheckKeys(const json& o, std::initializer_list<const char*> allowed,
                       const std::string& where) {
    for (auto it = o.begin(); it != o.end(); ++it) {
        bool ok = false;
        for (const char* a : allowed) ok |= it.key() == a;
        if (!ok) {
            std::string valid;
            for (const char* a : allowed) valid += std::string(valid.empty() ? "" : ", ") + a;
            return MakeError(ErrorCode::kInvalidArgument,
                             where + ": unknown key \"" + it.key() + "\"", "valid keys: " + valid);
        }
    }
    return Ok();
}

}  // namespace

Result<FeatureSpec> FeatureSpecFromJson(std::string_view text) {
    try {
        const json j = json::parse(text);
        if (!j.is_object())
            return MakeError(ErrorCode::kInvalidArgument, "feature spec: expected a JSON object");
        TXG_RETURN_IF_ERROR(
            CheckKeys(j, {"version", "amount", "time", "entities", "categorical", "extra_columns"},
                      "feature spec"));
        FeatureSpec spec;
        spec.version = j.value("version", 2);
        spec.amount = j.value("amount", true);
        spec.time.clear();
        if (j.contains("time")) {
            for (const auto& t : j.at("time")) {
                auto v = ValueOf(kTimeNames, t.get<std::string>(), "time feature");
                if (!v) return std::unexpected(v.error());
                spec.time.push_back(static_cast<TimeFeature>(*v));
            }
        } else {
            spec.time = {TimeFeature::kHour, TimeFeature::kIsWeekend, TimeFeature::kIsNight};
        }
        for (const auto& o : j.value("entities", json::array())) {
            EntitySpec e;
            const std::string where = "feature spec entity";
            TXG_RETURN_IF_ERROR(CheckKeys(
                o,
                {"name", "key", "windows_days", "aggregates", "counterparty", "time_since_last",
                 "amount_vs_history", "new_counterparty", "label_risk", "max_events", "bucket_s"},
                where));
            e.name = o.value("name", std::string("cust"));
            auto key = KeyFieldFromName(o.value("key", std::string("customer_id")));
            if (!key) return std::unexpected(key.error());
            e.key = *key;
            e.windows_days = o.value("windows_days", std::vector<int>{1, 7, 30});
            if (o.contains("aggregates")) {
                e.aggregates.clear();
                for (const auto& a : o.at("aggregates")) {
                    auto v = ValueOf(kAggNames, a.get<std::string>(), "aggregate");
                    if (!v) return std::unexpected(v.error());
                    e.aggregates.push_back(static_cast<Aggregate>(*v));
                }
            }
            auto cp = KeyFieldFromName(
                o.value("counterparty",
                        std::string(e.key == KeyField::kTerminal ? "customer_id" : "terminal_id")));
            if (!cp) return std::unexpected(cp.error());
            e.counterparty = *cp;
            e.time_since_last = o.value("time_since_last", false);
            for (const auto& h : o.value("amount_vs_history", json::array())) {
                const auto s = h.get<std::string>();
                if (s == "ratio_to_mean") {
                    e.amount_ratio_to_mean = true;
                } else if (s == "zscore") {
                    e.amount_zscore = true;
                } else {
                    return MakeError(ErrorCode::kInvalidArgument,
                                     "unknown amount_vs_history \"" + s + "\"",
                                     "valid: ratio_to_mean, zscore");
                }
            }
            e.new_counterparty = o.value("new_counterparty", false);
            if (o.contains("label_risk") && !o.at("label_risk").is_null()) {
                const auto& r = o.at("label_risk");
                TXG_RETURN_IF_ERROR(
                    CheckKeys(r, {"delay_days", "windows_days", "streak"}, "label_risk"));
                e.has_label_risk = true;
                e.label_risk.delay_days = r.value("delay_days", 7);
                e.label_risk.windows_days = r.value("windows_days", std::vector<int>{1, 7, 30});
                e.label_risk.streak = r.value("streak", false);
            }
            e.max_events = o.value("max_events", 100000u);
            e.bucket_s = o.value("bucket_s", 0u);
            spec.entities.push_back(std::move(e));
        }
        for (const auto& o : j.value("categorical", json::array())) {
            TXG_RETURN_IF_ERROR(CheckKeys(o, {"column", "max_values", "values"}, "categorical"));
            CategoricalSpec c;
            auto col = KeyFieldFromName(o.value("column", std::string("category")));
            if (!col) return std::unexpected(col.error());
            c.column = *col;
            c.max_values = o.value("max_values", 32u);
            c.values = o.value("values", std::vector<std::string>{});
            spec.categorical.push_back(std::move(c));
        }
        spec.extra_columns = j.value("extra_columns", std::vector<std::string>{});
        TXG_RETURN_IF_ERROR(spec.Validate());
        return spec;
    } catch (const json::exception& e) {
        return MakeError(ErrorCode::kInvalidArgument, std::string("feature spec: ") + e.what());
    }
}

}  // namespace txguard
