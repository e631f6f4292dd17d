#pragma once
// The declarative feature spec: which features a model uses. Stored in the model bundle (JSON),
// loadable from a file (`txguard train --features spec.json`) or a preset name.
//
// JSON form (every key optional; defaults shown):
// clang-format off
// {
//   "version": 2,
//   "amount": true,                  // the transaction amount itself
//   "time": ["hour", "is_weekend", "is_night"],  // also: day_of_week, hour_sin, hour_cos
//   "entities": [                    // per-entity history features
//     {"name": "cust",               // prefix of the feature names
//      "key": "customer_id",         // customer_id | terminal_id | category | channel | country
//      "windows_days": [1, 7, 30],   // windows (t - w, t], the current transaction included
//      "aggregates": ["count", "mean"],  // count, sum, mean, std (sample), max, distinct
//      "counterparty": "terminal_id",    // for distinct / new_counterparty (the other key)
//      "time_since_last": false,     // seconds since the entity's previous transaction (-1: none)
//      "amount_vs_history": [],      // ratio_to_mean, zscore: the amount against the entity's
//                                    //   longest window, the current transaction excluded
//      "new_counterparty": false,    // 1 when the counterparty is not in the longest window
//      "label_risk": {"delay_days": 7, "windows_days": [1, 7, 30], "streak": false},
//                                    // or null: per window, the entity's transactions in
//                                    //   (t - delay - w, t - delay]: their number and fraud
//                                    //   ratio (0 when none); streak: over the longest of these
//                                    //   windows, newest first, the number of consecutive known
//                                    //   frauds and the seconds from the oldest of them to t
//                                    //   (-1 when the newest is not a known fraud)
//      "max_events": 100000,         // per-entity cap on stored events (see feature_engine.hpp)
//      "bucket_s": 0}                // > 0: aggregate events into buckets of this many seconds
//   ],
//   "categorical": [{"column": "category", "max_values": 32}],  // code = rank of the value by
//                                    //   training frequency; unseen or rarer values = max_values
//   "extra_columns": []              // the schema's extra numeric columns to pass through
// }
// clang-format on
// Presets: "handbook" — exactly the 15 baseline features of the fraud handbook (PROTOCOL.md);
// "basic" — amount, hour, weekend, night, customer count/mean over 1/7/30 days; "default" —
// txguard's richer spec (see DefaultFeatureSpec). Schemas without time or customers (adbench,
// ulb) get the amount and extra columns only.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/result.hpp"
#include "txguard/data/schema.hpp"
#include "txguard/data/transaction_table.hpp"

namespace txguard {

enum class TimeFeature { kHour, kDayOfWeek, kIsWeekend, kIsNight, kHourSin, kHourCos };
enum class Aggregate { kCount, kSum, kMean, kStd, kMax, kDistinct };
// Columns that can key an entity or be a counterparty.
enum class KeyField { kCustomer, kTerminal, kCategory, kChannel, kCountry };
inline constexpr int kNumKeyFields = 5;

struct LabelRisk {
    int delay_days = 7;
    std::vector<int> windows_days = {1, 7, 30};
    // The run of known frauds ending at the entity's newest transaction of the longest window:
    // its length and age (e.g. a compromised terminal, and for how long it has been).
    bool streak = false;
};

struct EntitySpec {
    std::string name = "cust";
    KeyField key = KeyField::kCustomer;
    std::vector<int> windows_days = {1, 7, 30};
    std::vector<Aggregate> aggregates = {Aggregate::kCount, Aggregate::kMean};
    KeyField counterparty = KeyField::kTerminal;
    bool time_since_last = false;
    bool amount_ratio_to_mean = false;
    bool amount_zscore = false;
    bool new_counterparty = false;
    bool has_label_risk = false;
    LabelRisk label_risk;
    std::uint32_t max_events = 100000;
    std::uint32_t bucket_s = 0;

    bool NeedsCounterparty() const;
};

struct CategoricalSpec {
    KeyField column = KeyField::kCategory;
    std::uint32_t max_values = 32;
    std::vector<std::string> values;  // learned at training: most frequent first
};

struct FeatureSpec {
    int version = 2;
    bool amount = true;
    std::vector<TimeFeature> time;
    std::vector<EntitySpec> entities;
    std::vector<CategoricalSpec> categorical;
    std::vector<std::string> extra_columns;

    // Feature names in output order.
    std::vector<std::string> Names() const;
    std::size_t Size() const { return Names().size(); }
    bool NeedsTime() const { return !time.empty() || !entities.empty(); }
    bool NeedsLabels() const;
    Result<void> Validate() const;
};

const char* KeyFieldName(KeyField f);  // "customer_id", "terminal_id", "category", ...
Result<KeyField> KeyFieldFromName(std::string_view name);

// Presets: handbook, basic, default (see above). `table` supplies extra column names.
std::vector<std::string> FeatureSpecPresetNames();
Result<FeatureSpec> FeatureSpecPreset(std::string_view name, const Schema& schema,
                                      const TransactionTable& table);
// The spec used when none is given: "default" for a schema with time, customer and amount; the
// amount and extra columns otherwise.
FeatureSpec DefaultFeatureSpec(const Schema& schema, const TransactionTable& table);
// A preset name or a JSON spec file.
Result<FeatureSpec> ResolveFeatureSpec(const std::string& preset_or_path, const Schema& schema,
                                       const TransactionTable& table);

// Learns the categorical vocabularies (most frequent values first, up to max_values) from `rows`
// of the table. A no-op for specs without categorical features.
Result<void> FitCategoricalVocabularies(FeatureSpec& spec, const TransactionTable& table,
                                        const std::vector<std::size_t>& rows);

std::string FeatureSpecToJson(const FeatureSpec& spec);
Result<FeatureSpec> FeatureSpecFromJson(std::string_view json_text);

}  // namespace txguard
