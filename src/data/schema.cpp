// Schema: canonical field names, presets, validation, schema files (JSON and YAML) and the JSON
// round trip used by model bundles. nlohmann and yaml-cpp exceptions are caught here and returned
// as Result errors; none leaves the module.
#include "txguard/data/schema.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <utility>

namespace txguard {
namespace {

struct FieldInfo {
    Field field;
    const char* name;
};

constexpr FieldInfo kFields[] = {
    {Field::kTransactionId, "transaction_id"},
    {Field::kTimestamp, "timestamp"},
    {Field::kCustomerId, "customer_id"},
    {Field::kTerminalId, "terminal_id"},
    {Field::kAmount, "amount"},
    {Field::kCategory, "category"},
    {Field::kChannel, "channel"},
    {Field::kCountry, "country"},
    {Field::kLat, "lat"},
    {Field::kLon, "lon"},
    {Field::kLabel, "label"},
    {Field::kFraudScenario, "fraud_scenario"},
};

struct TimeFormatInfo {
    SchemaTimeFormat format;
    const char* name;
};

constexpr TimeFormatInfo kTimeFormats[] = {
    {SchemaTimeFormat::kAuto, "auto"},
    {SchemaTimeFormat::kIso8601, "iso8601"},
    {SchemaTimeFormat::kEpochSeconds, "epoch_s"},
    {SchemaTimeFormat::kEpochMillis, "epoch_ms"},
    {SchemaTimeFormat::kOffset, "offset"},
};

const char* TimeFormatName(SchemaTimeFormat f) {
    for (const auto& t : kTimeFormats)
        if (t.format == f) return t.name;
    return "auto";
}

std::string FieldNameList() {
    std::string s;
    for (const auto& f : kFields) {
        if (!s.empty()) s += ", ";
        s += f.name;
    }
    return s;
}

constexpr const char* kKeys[] = {"name",          "columns",        "time_format",
                                 "time_origin",   "time_origin_ms", "time_unit_s",
                                 "extra_columns", "ignore_columns"};

std::string KeyList() {
    std::string s;
    for (const char* k : kKeys) {
        if (!s.empty()) s += ", ";
        s += k;
    }
    return s;
}

// Largest |time_origin_ms| accepted (about year 33,700): keeps origin + offset inside int64.
constexpr std::int64_t kMaxOriginMs = 1'000'000'000'000'000;

Schema Handbook() {
    Schema s;
    s.name = "handbook";
    s.columns = {{Field::kTransactionId, "TRANSACTION_ID"},
                 {Field::kTimestamp, "TX_DATETIME"},
                 {Field::kCustomerId, "CUSTOMER_ID"},
                 {Field::kTerminalId, "TERMINAL_ID"},
                 {Field::kAmount, "TX_AMOUNT"},
                 {Field::kLabel, "TX_FRAUD"},
                 {Field::kFraudScenario, "TX_FRAUD_SCENARIO"}};
    s.time_format = SchemaTimeFormat::kIso8601;
    s.ignore_columns = {"TX_TIME_SECONDS", "TX_TIME_DAYS"};
    return s;
}

Schema Ulb() {
    Schema s;
    s.name = "ulb";
    s.columns = {{Field::kTimestamp, "Time"}, {Field::kAmount, "Amount"}, {Field::kLabel, "Class"}};
    s.time_format = SchemaTimeFormat::kOffset;
    s.time_origin_ms = DaysFromCivil(2013, 9, 1) * kMsPerDay;
    s.time_unit_s = 1.0;
    for (int i = 1; i <= 28; ++i) s.extra_columns.push_back("V" + std::to_string(i));
    return s;
}

Schema Paysim() {
    Schema s;
    s.name = "paysim";
    s.columns = {{Field::kTimestamp, "step"},      {Field::kCategory, "type"},
                 {Field::kAmount, "amount"},       {Field::kCustomerId, "nameOrig"},
                 {Field::kTerminalId, "nameDest"}, {Field::kLabel, "isFraud"}};
    s.time_format = SchemaTimeFormat::kOffset;
    s.time_origin_ms = DaysFromCivil(2016, 9, 1) * kMsPerDay;
    s.time_unit_s = 3600.0;
    s.extra_columns = {"oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest"};
    s.ignore_columns = {"isFlaggedFraud"};
    return s;
}

Schema Adbench() {
    Schema s;
    s.name = "adbench";
    s.columns = {{Field::kLabel, "label"}};
    s.extras_rest = true;
    return s;
}

// ---- schema documents (JSON, or YAML converted to JSON with every scalar a string) ----

std::string TypeName(const nlohmann::json& v) {
    switch (v.type()) {
        case nlohmann::json::value_t::null:
            return "null";
        case nlohmann::json::value_t::object:
            return "an object";
        case nlohmann::json::value_t::array:
            return "a list";
        case nlohmann::json::value_t::string:
            return "a string";
        case nlohmann::json::value_t::boolean:
            return "a boolean";
        case nlohmann::json::value_t::number_integer:
        case nlohmann::json::value_t::number_unsigned:
        case nlohmann::json::value_t::number_float:
            return "a number";
        default:
            return "an unsupported value";
    }
}

// Builds a schema from a parsed document. `where` names the source in messages (a file path or
// "schema JSON"). `scalars_are_strings`: YAML input, where numbers arrive as text.
class SchemaBuilder {
  public:
    SchemaBuilder(std::string where, bool scalars_are_strings)
        : where_(std::move(where)), yaml_(scalars_are_strings) {}

    Result<Schema> Build(const nlohmann::json& doc) {
        if (!doc.is_object())
            return Fail("expected a mapping of keys at the top level, got " + TypeName(doc));
        Schema s;
        bool has_origin = false;
        for (auto it = doc.begin(); it != doc.end(); ++it) {
            const std::string& key = it.key();
            const nlohmann::json& v = it.value();
            if (key == "name") {
                auto r = String(key, v);
                if (!r) return std::unexpected(r.error());
                s.name = *r;
            } else if (key == "columns") {
                if (!v.is_object()) return Type(key, "a mapping of field names to column names", v);
                for (auto c = v.begin(); c != v.end(); ++c) {
                    auto f = FieldFromName(c.key());
                    if (!f) {
                        return Fail("key \"columns\": unknown field \"" + c.key() +
                                    "\" (fields: " + FieldNameList() + ")");
                    }
                    auto col = String("columns." + c.key(), c.value());
                    if (!col) return std::unexpected(col.error());
                    s.columns[*f] = *col;
                }
            } else if (key == "time_format") {
                auto r = String(key, v);
                if (!r) return std::unexpected(r.error());
                bool found = false;
                for (const auto& t : kTimeFormats) {
                    if (*r == t.name) {
                        s.time_format = t.format;
                        found = true;
                    }
                }
                if (!found) {
                    return Fail("key \"time_format\": unknown format \"" + *r +
                                "\" (formats: auto, iso8601, epoch_s, epoch_ms, offset)");
                }
            } else if (key == "time_origin") {
                auto r = String(key, v);
                if (!r) return std::unexpected(r.error());
                auto ts = ParseTimestamp(*r, TimeFormat::kIso8601);
                if (!ts) return Fail("key \"time_origin\": " + ts.error().message);
                s.time_origin_ms = *ts;
                has_origin = true;
            } else if (key == "time_origin_ms") {
                auto r = Integer(key, v);
                if (!r) return std::unexpected(r.error());
                s.time_origin_ms = *r;
                has_origin = true;
            } else if (key == "time_unit_s") {
                auto r = Number(key, v);
                if (!r) return std::unexpected(r.error());
                s.time_unit_s = *r;
            } else if (key == "extra_columns") {
                if (v.is_string() && v.get<std::string>() == "rest") {
                    s.extras_rest = true;
                } else {
                    auto r = StringList(key, v, "a list of column names or \"rest\"");
                    if (!r) return std::unexpected(r.error());
                    s.extra_columns = std::move(*r);
                }
            } else if (key == "ignore_columns") {
                auto r = StringList(key, v, "a list of column names");
                if (!r) return std::unexpected(r.error());
                s.ignore_columns = std::move(*r);
            } else {
                return Fail("unknown key \"" + key + "\" (known keys: " + KeyList() + ")");
            }
        }
        if (s.time_format == SchemaTimeFormat::kOffset && !has_origin) {
            return Fail("key \"time_format\": \"offset\" needs \"time_origin\" (a date such as " +
                        std::string("\"2018-04-01\") or \"time_origin_ms\""));
        }
        auto valid = s.Validate();
        if (!valid) return Fail(valid.error().message);
        return s;
    }

  private:
    std::unexpected<Error> Fail(const std::string& msg) const {
        return MakeError(ErrorCode::kInvalidArgument, where_ + ": " + msg);
    }
    std::unexpected<Error> Type(const std::string& key, const std::string& expected,
                                const nlohmann::json& v) const {
        return Fail("key \"" + key + "\": expected " + expected + ", got " + TypeName(v));
    }
    Result<std::string> String(const std::string& key, const nlohmann::json& v) const {
        if (!v.is_string()) return Type(key, "a string", v);
        return v.get<std::string>();
    }
    Result<std::vector<std::string>> StringList(const std::string& key, const nlohmann::json& v,
                                                const std::string& expected) const {
        if (!v.is_array()) return Type(key, expected, v);
        std::vector<std::string> out;
        for (const auto& e : v) {
            if (!e.is_string()) return Type(key, expected, e);
            out.push_back(e.get<std::string>());
        }
        return out;
    }
    Result<double> Number(const std::string& key, const nlohmann::json& v) const {
        if (v.is_number()) return v.get<double>();
        if (yaml_ && v.is_string()) {
            const std::string s = v.get<std::string>();
            double d = 0;
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
            if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return d;
            return Fail("key \"" + key + "\": expected a number, got \"" + s + "\"");
        }
        return Type(key, "a number", v);
    }
    Result<std::int64_t> Integer(const std::string& key, const nlohmann::json& v) const {
        if (v.is_number_integer()) return v.get<std::int64_t>();
        if (v.is_number_unsigned()) {
            return Fail("key \"" + key + "\": expected an integer in the int64 range, got " +
                        v.dump());
        }
        if (yaml_ && v.is_string()) {
            const std::string s = v.get<std::string>();
            std::int64_t i = 0;
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
            if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return i;
            return Fail("key \"" + key + "\": expected an integer, got \"" + s + "\"");
        }
        return Type(key, "an integer", v);
    }

    std::string where_;
    bool yaml_;
};

// YAML -> JSON with every scalar kept as its text (the builder converts where it wants numbers).
Result<nlohmann::json> YamlToJson(const YAML::Node& node, const std::string& where, int depth) {
    if (depth > 64) {
        return MakeError(ErrorCode::kInvalidArgument, where + ": nesting too deep");
    }
    switch (node.Type()) {
        case YAML::NodeType::Undefined:
        case YAML::NodeType::Null:
            return nlohmann::json();
        case YAML::NodeType::Scalar:
            return nlohmann::json(node.Scalar());
        case YAML::NodeType::Sequence: {
            nlohmann::json arr = nlohmann::json::array();
            for (const auto& e : node) {
                auto r = YamlToJson(e, where, depth + 1);
                if (!r) return r;
                arr.push_back(std::move(*r));
            }
            return arr;
        }
        case YAML::NodeType::Map: {
            nlohmann::json obj = nlohmann::json::object();
            for (const auto& kv : node) {
                if (!kv.first.IsScalar()) {
                    return MakeError(ErrorCode::kInvalidArgument,
                                     where + ": keys must be plain names");
                }
                const std::string key = kv.first.Scalar();
                if (obj.contains(key)) {
                    return MakeError(ErrorCode::kInvalidArgument,
                                     where + ": key \"" + key + "\" appears twice");
                }
                auto r = YamlToJson(kv.second, where, depth + 1);
                if (!r) return r;
                obj[key] = std::move(*r);
            }
            return obj;
        }
    }
    return nlohmann::json();
}

bool EndsWith(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
}

Result<Schema> BuildGuarded(const nlohmann::json& doc, const std::string& where, bool yaml) {
    try {
        return SchemaBuilder(where, yaml).Build(doc);
    } catch (const std::exception& e) {
        return MakeError(ErrorCode::kInvalidArgument, where + ": " + e.what());
    }
}

Result<Schema> SchemaFromJsonText(std::string_view text, const std::string& where) {
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::exception& e) {
        return MakeError(ErrorCode::kParse, where + ": invalid JSON: " + e.what());
    }
    return BuildGuarded(doc, where, false);
}

Result<Schema> SchemaFromYamlText(const std::string& text, const std::string& where) {
    YAML::Node node;
    try {
        node = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        return MakeError(ErrorCode::kParse, where + ": invalid YAML: " + e.what());
    }
    Result<nlohmann::json> doc;
    try {
        doc = YamlToJson(node, where, 0);
    } catch (const std::exception& e) {
        return MakeError(ErrorCode::kParse, where + ": invalid YAML: " + e.what());
    }
    if (!doc) return std::unexpected(doc.error());
    return BuildGuarded(*doc, where, true);
}

}  // namespace

const char* FieldName(Field f) {
    for (const auto& info : kFields)
        if (info.field == f) return info.name;
    return "unknown";
}

Result<Field> FieldFromName(std::string_view name) {
    for (const auto& info : kFields)
        if (name == info.name) return info.field;
    return MakeError(ErrorCode::kInvalidArgument, "unknown field \"" + std::string(name) +
                                                      "\" (fields: " + FieldNameList() + ")");
}

Result<void> Schema::Validate() const {
    const std::string who = name.empty() ? std::string("schema") : "schema \"" + name + "\"";
    std::map<std::string, Field> used;  // column name -> field
    for (const auto& [field, column] : columns) {
        if (column.empty()) {
            return MakeError(ErrorCode::kInvalidArgument,
                             who + ": field " + FieldName(field) + " maps to an empty column name");
        }
        auto [it, inserted] = used.emplace(column, field);
        if (!inserted) {
            return MakeError(ErrorCode::kInvalidArgument,
                             who + ": column \"" + column + "\" is mapped twice (to " +
                                 FieldName(it->second) + " and " + FieldName(field) + ")");
        }
    }
    if (extras_rest && !extra_columns.empty()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         who + ": extra columns are either a list or \"rest\", not both");
    }
    std::set<std::string> extras;
    for (const auto& e : extra_columns) {
        if (e.empty()) {
            return MakeError(ErrorCode::kInvalidArgument, who + ": empty extra column name");
        }
        if (auto it = used.find(e); it != used.end()) {
            return MakeError(ErrorCode::kInvalidArgument,
                             who + ": column \"" + e + "\" is both mapped (to " +
                                 FieldName(it->second) + ") and an extra column");
        }
        if (!extras.insert(e).second) {
            return MakeError(ErrorCode::kInvalidArgument,
                             who + ": extra column \"" + e + "\" is listed twice");
        }
    }
    for (const auto& ig : ignore_columns) {
        if (auto it = used.find(ig); it != used.end()) {
            return MakeError(ErrorCode::kInvalidArgument,
                             who + ": column \"" + ig + "\" is both mapped (to " +
                                 FieldName(it->second) + ") and ignored");
        }
        if (extras.count(ig) != 0) {
            return MakeError(ErrorCode::kInvalidArgument,
                             who + ": column \"" + ig + "\" is both an extra column and ignored");
        }
    }
    if (!std::isfinite(time_unit_s) || time_unit_s <= 0) {
        return MakeError(ErrorCode::kInvalidArgument,
                         who + ": time_unit_s must be a positive number of seconds");
    }
    if (time_origin_ms > kMaxOriginMs || time_origin_ms < -kMaxOriginMs) {
        return MakeError(ErrorCode::kInvalidArgument,
                         who + ": time origin out of range (|ms| > 1e15)");
    }
    return Ok();
}

std::vector<std::string> SchemaPresetNames() { return {"handbook", "ulb", "paysim", "adbench"}; }

Result<Schema> SchemaPreset(std::string_view name) {
    if (name == "handbook") return Handbook();
    if (name == "ulb") return Ulb();
    if (name == "paysim") return Paysim();
    if (name == "adbench") return Adbench();
    return MakeError(ErrorCode::kNotFound, "unknown schema preset \"" + std::string(name) + "\"",
                     "presets: handbook, ulb, paysim, adbench");
}

Result<Schema> LoadSchemaFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return MakeError(ErrorCode::kNotFound, "cannot open schema file " + path);
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return MakeError(ErrorCode::kIo, "cannot read schema file " + path);
    bool json;
    if (EndsWith(path, ".json")) {
        json = true;
    } else if (EndsWith(path, ".yaml") || EndsWith(path, ".yml")) {
        json = false;
    } else {
        const auto first = text.find_first_not_of(" \t\r\n");
        json = first != std::string::npos && text[first] == '{';
    }
    return json ? SchemaFromJsonText(text, path) : SchemaFromYamlText(text, path);
}

Result<Schema> ResolveSchema(const std::string& preset_or_path) {
    for (const auto& p : SchemaPresetNames())
        if (preset_or_path == p) return SchemaPreset(p);
    std::error_code ec;
    if (!std::filesystem::exists(preset_or_path, ec)) {
        return MakeError(ErrorCode::kNotFound,
                         "unknown schema \"" + preset_or_path + "\": not a preset and no such file",
                         "presets: handbook, ulb, paysim, adbench; or a .json/.yaml schema file");
    }
    return LoadSchemaFile(preset_or_path);
}

std::string SchemaToJson(const Schema& schema) {
    nlohmann::ordered_json j;
    j["name"] = schema.name;
    nlohmann::ordered_json cols = nlohmann::ordered_json::object();
    for (const auto& [field, column] : schema.columns) cols[FieldName(field)] = column;
    j["columns"] = std::move(cols);
    j["time_format"] = TimeFormatName(schema.time_format);
    j["time_origin_ms"] = schema.time_origin_ms;
    j["time_unit_s"] = schema.time_unit_s;
    if (schema.extras_rest) {
        j["extra_columns"] = "rest";
    } else {
        j["extra_columns"] = schema.extra_columns;
    }
    j["ignore_columns"] = schema.ignore_columns;
    // Invalid UTF-8 in a name cannot be stored in JSON: such bytes become U+FFFD.
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<Schema> SchemaFromJson(std::string_view json_text) {
    return SchemaFromJsonText(json_text, "schema JSON");
}

}  // namespace txguard
