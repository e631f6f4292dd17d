#include "txguard/data/schema.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace txguard {
namespace {

using ::testing::HasSubstr;

// A temporary file removed at the end of the test.
class TempFile {
  public:
    TempFile(const std::string& name, const std::string& contents) {
        path_ = (std::filesystem::temp_directory_path() /
                 ("txguard_schema_test_" + std::to_string(::getpid()) + "_" + name))
                    .string();
        std::ofstream(path_, std::ios::binary) << contents;
    }
    ~TempFile() { std::filesystem::remove(path_); }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

void ExpectSameSchema(const Schema& a, const Schema& b) {
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.columns, b.columns);
    EXPECT_EQ(a.time_format, b.time_format);
    EXPECT_EQ(a.time_origin_ms, b.time_origin_ms);
    EXPECT_EQ(a.time_unit_s, b.time_unit_s);
    EXPECT_EQ(a.extra_columns, b.extra_columns);
    EXPECT_EQ(a.extras_rest, b.extras_rest);
    EXPECT_EQ(a.ignore_columns, b.ignore_columns);
}

TEST(Schema, FieldNamesRoundTrip) {
    for (int i = 0; i <= static_cast<int>(Field::kFraudScenario); ++i) {
        const auto f = static_cast<Field>(i);
        auto back = FieldFromName(FieldName(f));
        ASSERT_TRUE(back) << FieldName(f);
        EXPECT_EQ(*back, f);
    }
    EXPECT_STREQ(FieldName(Field::kCustomerId), "customer_id");
    auto bad = FieldFromName("amout");
    ASSERT_FALSE(bad);
    EXPECT_THAT(bad.error().message, HasSubstr("\"amout\""));
    EXPECT_THAT(bad.error().message, HasSubstr("amount"));
}

TEST(Schema, PresetsAreValid) {
    EXPECT_EQ(SchemaPresetNames(),
              (std::vector<std::string>{"handbook", "ulb", "paysim", "adbench"}));
    for (const auto& name : SchemaPresetNames()) {
        auto s = SchemaPreset(name);
        ASSERT_TRUE(s) << name;
        EXPECT_EQ(s->name, name);
        EXPECT_TRUE(s->Validate()) << name;
    }
    auto missing = SchemaPreset("nope");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST(Schema, PresetContents) {
    const Schema hb = SchemaPreset("handbook").value();
    EXPECT_EQ(hb.columns.at(Field::kTransactionId), "TRANSACTION_ID");
    EXPECT_EQ(hb.columns.at(Field::kTimestamp), "TX_DATETIME");
    EXPECT_EQ(hb.columns.at(Field::kCustomerId), "CUSTOMER_ID");
    EXPECT_EQ(hb.columns.at(Field::kTerminalId), "TERMINAL_ID");
    EXPECT_EQ(hb.columns.at(Field::kAmount), "TX_AMOUNT");
    EXPECT_EQ(hb.columns.at(Field::kLabel), "TX_FRAUD");
    EXPECT_EQ(hb.columns.at(Field::kFraudScenario), "TX_FRAUD_SCENARIO");
    EXPECT_EQ(hb.time_format, SchemaTimeFormat::kIso8601);

    const Schema ulb = SchemaPreset("ulb").value();
    EXPECT_EQ(ulb.time_format, SchemaTimeFormat::kOffset);
    EXPECT_EQ(ulb.time_origin_ms, ParseDate("2013-09-01").value());
    EXPECT_EQ(ulb.time_unit_s, 1.0);
    ASSERT_EQ(ulb.extra_columns.size(), 28u);
    EXPECT_EQ(ulb.extra_columns.front(), "V1");
    EXPECT_EQ(ulb.extra_columns.back(), "V28");
    EXPECT_FALSE(ulb.Has(Field::kCustomerId));
    EXPECT_FALSE(ulb.Has(Field::kTransactionId));

    const Schema ps = SchemaPreset("paysim").value();
    EXPECT_EQ(ps.time_unit_s, 3600.0);
    EXPECT_EQ(ps.time_origin_ms, ParseDate("2016-09-01").value());
    EXPECT_EQ(ps.columns.at(Field::kCategory), "type");
    EXPECT_EQ(ps.columns.at(Field::kCustomerId), "nameOrig");
    EXPECT_EQ(ps.columns.at(Field::kTerminalId), "nameDest");
    EXPECT_EQ(ps.columns.at(Field::kLabel), "isFraud");
    EXPECT_EQ(ps.extra_columns.size(), 4u);

    const Schema ad = SchemaPreset("adbench").value();
    EXPECT_TRUE(ad.extras_rest);
    EXPECT_EQ(ad.columns.size(), 1u);
    EXPECT_EQ(ad.columns.at(Field::kLabel), "label");
}

TEST(Schema, ValidateRejectsInconsistentSchemas) {
    Schema s;
    s.name = "x";
    s.columns = {{Field::kAmount, "a"}, {Field::kLabel, "a"}};
    auto r = s.Validate();
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message, HasSubstr("column \"a\" is mapped twice"));

    s.columns = {{Field::kAmount, "a"}};
    s.extra_columns = {"b"};
    s.extras_rest = true;
    EXPECT_FALSE(s.Validate());
    s.extras_rest = false;
    s.extra_columns = {"b", "b"};
    EXPECT_FALSE(s.Validate());
    s.extra_columns = {"a"};
    EXPECT_FALSE(s.Validate());
    s.extra_columns = {};
    s.time_unit_s = 0;
    EXPECT_FALSE(s.Validate());
    s.time_unit_s = 1;
    s.columns[Field::kLabel] = "";
    EXPECT_FALSE(s.Validate());
    s.columns.erase(Field::kLabel);
    s.ignore_columns = {"a"};
    EXPECT_FALSE(s.Validate());
    s.ignore_columns = {"z"};
    EXPECT_TRUE(s.Validate());
}

Schema CustomSchema() {
    Schema s;
    s.name = "my-bank";
    s.columns = {{Field::kTransactionId, "tx"}, {Field::kTimestamp, "when"},
                 {Field::kCustomerId, "card"},  {Field::kTerminalId, "merchant"},
                 {Field::kAmount, "amt"},       {Field::kLabel, "is_fraud"},
                 {Field::kCategory, "mcc"},     {Field::kChannel, "chan"},
                 {Field::kCountry, "cc"},       {Field::kLat, "lat"},
                 {Field::kLon, "lon"},          {Field::kFraudScenario, "scenario"}};
    s.time_format = SchemaTimeFormat::kOffset;
    s.time_origin_ms = 1522540800123;
    s.time_unit_s = 0.1;
    s.extra_columns = {"v1", "v2 with space", "ünï\"cödé"};
    s.ignore_columns = {"notes"};
    return s;
}

TEST(Schema, JsonRoundTripIsExact) {
    std::vector<Schema> all = {CustomSchema()};
    for (const auto& name : SchemaPresetNames()) all.push_back(SchemaPreset(name).value());
    for (const auto& s : all) {
        const std::string json = SchemaToJson(s);
        auto back = SchemaFromJson(json);
        ASSERT_TRUE(back) << back.error().message;
        ExpectSameSchema(s, *back);
        EXPECT_EQ(SchemaToJson(*back), json);
    }
}

TEST(Schema, FromJsonErrors) {
    auto r = SchemaFromJson("{\"name\": 3}");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "schema JSON: key \"name\": expected a string, got a number");
    r = SchemaFromJson("{\"name\": \"x\", ");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message, HasSubstr("schema JSON: invalid JSON"));
    r = SchemaFromJson("[1, 2]");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message, HasSubstr("expected a mapping"));
}

constexpr const char* kJsonSchema = R"({
  "name": "my-bank",
  "columns": {"transaction_id": "tx", "timestamp": "when", "customer_id": "card",
              "terminal_id": "merchant", "amount": "amt", "label": "is_fraud"},
  "time_format": "offset",
  "time_origin": "2018-04-01",
  "time_unit_s": 3600,
  "extra_columns": ["v1", "v2"],
  "ignore_columns": ["notes"]
})";

constexpr const char* kYamlSchema = R"(# the same schema in YAML
name: my-bank
columns:
  transaction_id: tx
  timestamp: when
  customer_id: card
  terminal_id: merchant
  amount: amt
  label: is_fraud
time_format: offset
time_origin: "2018-04-01"
time_unit_s: 3600
extra_columns: [v1, v2]
ignore_columns:
  - notes
)";

TEST(Schema, LoadJsonAndYamlFiles) {
    TempFile json("a.json", kJsonSchema);
    TempFile yaml("a.yaml", kYamlSchema);
    auto j = LoadSchemaFile(json.path());
    ASSERT_TRUE(j) << j.error().message;
    auto y = LoadSchemaFile(yaml.path());
    ASSERT_TRUE(y) << y.error().message;
    EXPECT_EQ(j->name, "my-bank");
    EXPECT_EQ(j->columns.size(), 6u);
    EXPECT_EQ(j->columns.at(Field::kCustomerId), "card");
    EXPECT_EQ(j->time_format, SchemaTimeFormat::kOffset);
    EXPECT_EQ(j->time_origin_ms, ParseDate("2018-04-01").value());
    EXPECT_EQ(j->time_unit_s, 3600.0);
    EXPECT_EQ(j->extra_columns, (std::vector<std::string>{"v1", "v2"}));
    EXPECT_EQ(j->ignore_columns, (std::vector<std::string>{"notes"}));
    ExpectSameSchema(*j, *y);

    TempFile rest("rest.yml", "name: r\ncolumns: {label: y}\nextra_columns: rest\n");
    auto r = LoadSchemaFile(rest.path());
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->extras_rest);

    // ResolveSchema: presets by name, else files.
    auto p = ResolveSchema("handbook");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->name, "handbook");
    auto f = ResolveSchema(yaml.path());
    ASSERT_TRUE(f);
    EXPECT_EQ(f->name, "my-bank");
    auto none = ResolveSchema("no-such-preset-or-file");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
    EXPECT_THAT(none.error().message, HasSubstr("no-such-preset-or-file"));
}

TEST(Schema, FileErrorsNameTheKeyAndTheFile) {
    struct Case {
        const char* file;
        const char* text;
        const char* expected;  // after "<path>: "
    };
    const Case cases[] = {
        {"k.json", R"({"name": "x", "colums": {}})",
         "unknown key \"colums\" (known keys: name, columns, time_format, time_origin, "
         "time_origin_ms, time_unit_s, extra_columns, ignore_columns)"},
        {"f.json", R"({"columns": {"amout": "a"}})", "key \"columns\": unknown field \"amout\""},
        {"t.json", R"({"time_unit_s": "x"})",
         "key \"time_unit_s\": expected a number, got a string"},
        {"c.json", R"({"columns": ["a"]})",
         "key \"columns\": expected a mapping of field names to column names, got a list"},
        {"e.json", R"({"extra_columns": [1]})",
         "key \"extra_columns\": expected a list of column names or \"rest\", got a number"},
        {"o.json", R"({"time_format": "offset"})", "key \"time_format\": \"offset\" needs"},
        {"fmt.json", R"({"time_format": "unix"})", "key \"time_format\": unknown format \"unix\""},
        {"k.yaml", "name: x\nextra: [a]\n", "unknown key \"extra\""},
        {"t.yaml", "time_unit_s: fast\n", "key \"time_unit_s\": expected a number, got \"fast\""},
        {"c.yaml", "columns: [a, b]\n",
         "key \"columns\": expected a mapping of field names to column names, got a list"},
        {"n.yaml", "columns:\n  amount: {a: b}\n",
         "key \"columns.amount\": expected a string, got an object"},
        {"v.yaml", "columns:\n  amount: a\n  label: a\n",
         "schema: column \"a\" is mapped twice (to amount and label)"},
    };
    for (const auto& c : cases) {
        TempFile f(c.file, c.text);
        auto r = LoadSchemaFile(f.path());
        ASSERT_FALSE(r) << c.file;
        EXPECT_THAT(r.error().message, HasSubstr(f.path() + ": " + c.expected)) << c.file;
    }
    TempFile bad_yaml("bad.yaml", "columns: {a: [\n");
    auto r = LoadSchemaFile(bad_yaml.path());
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message, HasSubstr(bad_yaml.path() + ": invalid YAML"));
    TempFile bad_json("bad.json", "{\"name\": }");
    r = LoadSchemaFile(bad_json.path());
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message, HasSubstr(bad_json.path() + ": invalid JSON"));
    r = LoadSchemaFile("/nonexistent/dir/schema.json");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
    EXPECT_THAT(r.error().message, HasSubstr("/nonexistent/dir/schema.json"));
}

}  // namespace
}  // namespace txguard
