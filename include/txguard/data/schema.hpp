#pragma once
// A Schema maps the columns of a source file to the canonical transaction fields. Presets cover
// the datasets people actually have; a user schema file (JSON or YAML) maps any column names.
//
// Schema file (JSON shown; YAML with the same keys works too):
//   {
//     "name": "my-bank",
//     "columns": {"transaction_id": "tx", "timestamp": "when", "customer_id": "card",
//                 "terminal_id": "merchant", "amount": "amt", "label": "is_fraud",
//                 "category": "mcc", "channel": "chan", "country": "cc", "lat": "lat",
//                 "lon": "lon", "fraud_scenario": "scenario"},
//     "time_format": "auto" | "iso8601" | "epoch_s" | "epoch_ms" | "offset",
//     "time_origin": "2018-04-01",      // for "offset": timestamp = origin + value * time_unit_s
//     "time_origin_ms": 1522540800000,  // the same origin as epoch ms (exact; SchemaToJson's form)
//     "time_unit_s": 3600,
//     "extra_columns": ["v1", "v2"],    // extra numeric columns (features), or
//     "extra_columns": "rest"           // every column not mapped above
//     "ignore_columns": ["notes"]       // with "rest": columns to leave out
//   }
// Only the fields a schema maps are read; unmapped columns are ignored unless extras say otherwise.
// Errors in a schema file name the file and the key (unknown keys, unknown field names and values
// of the wrong type are errors). In YAML every scalar may be written plain or quoted.
//
// Presets:
//   handbook  the fraud handbook's simulated data: TRANSACTION_ID, TX_DATETIME (iso8601),
//             CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD (label), TX_FRAUD_SCENARIO;
//             TX_TIME_SECONDS and TX_TIME_DAYS are ignored.
//   ulb       Kaggle creditcard.csv (ULB, September 2013): Time = seconds since the first
//             transaction (offset, origin 2013-09-01 00:00 UTC, unit 1 s), V1..V28 as extra
//             columns, Amount, Class (label); no ids.
//   paysim    PaySim (Kaggle "Synthetic Financial Datasets For Fraud Detection"): step = hours
//             since the start of the simulated month (offset, unit 3600 s; the data gives no date,
//             so the origin is fixed at 2016-09-01 00:00 UTC), type -> category, amount,
//             nameOrig -> customer_id, nameDest -> terminal_id, isFraud -> label, the four
//             balance columns as extras; isFlaggedFraud is ignored.
//   adbench   ADBench/ODDS tables: label -> label, every other column (f0..fN) an extra numeric
//             column (extra_columns "rest"); no ids, no time.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/result.hpp"
#include "txguard/core/time.hpp"

namespace txguard {

enum class Field {
    kTransactionId,
    kTimestamp,
    kCustomerId,
    kTerminalId,
    kAmount,
    kCategory,
    kChannel,
    kCountry,
    kLat,
    kLon,
    kLabel,
    kFraudScenario,
};

// Canonical names, as used in schema files: "transaction_id", "timestamp", ...
const char* FieldName(Field f);
Result<Field> FieldFromName(std::string_view name);

enum class SchemaTimeFormat { kAuto, kIso8601, kEpochSeconds, kEpochMillis, kOffset };

struct Schema {
    std::string name;                      // preset name or the file's "name"
    std::map<Field, std::string> columns;  // canonical field -> column name in the file
    SchemaTimeFormat time_format = SchemaTimeFormat::kAuto;
    std::int64_t time_origin_ms = 0;  // kOffset: ts = origin + value * time_unit_s
    double time_unit_s = 1.0;
    std::vector<std::string> extra_columns;  // explicit extra numeric columns
    bool extras_rest = false;                // every unmapped column is an extra numeric column
    std::vector<std::string> ignore_columns;

    bool Has(Field f) const { return columns.count(f) != 0; }
    // Checks internal consistency (no column mapped twice, offset format has an origin...).
    Result<void> Validate() const;
};

// Preset names: handbook, ulb, paysim, adbench.
std::vector<std::string> SchemaPresetNames();
Result<Schema> SchemaPreset(std::string_view name);
// Reads a JSON (.json) or YAML (.yaml/.yml) schema file.
Result<Schema> LoadSchemaFile(const std::string& path);
// A preset name, or else a path to a schema file.
Result<Schema> ResolveSchema(const std::string& preset_or_path);

// Round trip through JSON text (the model bundle stores the schema this way).
std::string SchemaToJson(const Schema& schema);
Result<Schema> SchemaFromJson(std::string_view json_text);

}  // namespace txguard
