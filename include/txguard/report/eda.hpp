#pragma once
// Exploratory data analysis of a transaction table: the statistics (computed here, in C++, in a
// few passes over the columns on several threads) and the HTML report that charts them.
//
// Numeric columns: amount, lat, lon, every extra column, and derived ones: hour of day and day of
// week (from the timestamp) and the number of transactions of the row's customer and terminal in
// the table. The label joins the correlation matrices when present.
//
// Definitions (numbers match numpy / pandas / scipy):
//   mean, sample standard deviation (ddof = 1), quantiles with linear interpolation (numpy's
//   default); missing values (NaN) are left out and counted.
//   Pearson correlation over the rows where both values are present; Spearman = Pearson of the
//   average ranks (ties share the mean of their positions, as scipy.stats.spearmanr). Ranks are
//   taken over each column's present values, so with missing values Spearman is approximate.
//   Label association: point-biserial (Pearson with the 0/1 label), Spearman, and the ROC AUC of
//   the column used as a score (ties count half, as sklearn.metrics.roc_auc_score).
//
// Cost: O(n log n) per continuous numeric column (one sort for ranks and quantiles; integer
// columns with a small range use a counting pass), O(n k^2) for the correlation matrices over k
// numeric columns (at most max_corr_columns), O(n) for everything else.
#include <cstdint>
#include <string>
#include <vector>

#include "txguard/core/result.hpp"
#include "txguard/data/schema.hpp"
#include "txguard/data/transaction_table.hpp"
#include "txguard/report/report_options.hpp"

namespace txguard {

struct EdaOptions {
    unsigned threads = 0;    // 0 = all hardware threads
    std::size_t top_n = 20;  // top values / top customers and terminals kept
    std::size_t histogram_bins = 40;
    std::size_t max_corr_columns = 40;  // numeric columns in the correlation matrices
    bool show_progress = true;          // progress bar on stderr (when enabled globally)
    std::string data_name;              // the file, for the report's header
};

struct ColumnInfo {
    std::string name;   // the column's name in the file (or the derived column's name)
    std::string field;  // canonical field ("amount", "customer_id", "extra", "derived")
    std::string type;   // "id", "timestamp", "categorical", "numeric", "label"
    std::uint64_t missing = 0;
};

// Bins [edges[i], edges[i+1]); counts by class (fraud_counts empty when unlabelled).
struct Histogram {
    std::vector<double> edges;
    std::vector<std::uint64_t> counts;
    std::vector<std::uint64_t> fraud_counts;
    bool log_scale = false;          // edges are spaced evenly in log10
    std::uint64_t non_positive = 0;  // log scale only: values <= 0, not in any bin
};

struct NumericSummary {
    std::string name;
    std::uint64_t count = 0;  // present values
    std::uint64_t missing = 0;
    double mean = 0, stddev = 0, min = 0, max = 0;
    double q01 = 0, q05 = 0, q25 = 0, median = 0, q75 = 0, q95 = 0, q99 = 0;
    Histogram histogram;
};

struct ValueCount {
    std::string value;
    std::uint64_t count = 0;
    std::uint64_t frauds = 0;
};

struct CategoricalSummary {
    std::string name;
    std::uint64_t distinct = 0;
    std::uint64_t missing = 0;    // empty strings
    std::vector<ValueCount> top;  // by count, descending
};

// A group of transactions (an hour of the day, a day, an amount band...).
struct Bucket {
    std::string label;
    double start = 0;  // hour 0..23, weekday 0 (Monday)..6, day ts_ms, band lower bound
    std::uint64_t count = 0;
    std::uint64_t frauds = 0;
};

struct LabelAssociation {
    std::string name;
    double pearson = 0;  // NaN when undefined (constant column)
    double spearman = 0;
    double roc_auc = 0.5;  // the column as a score; < 0.5 means lower values are more fraudulent
};

struct EntityStats {
    std::string id;
    std::uint64_t count = 0;
    std::uint64_t frauds = 0;
};

struct EdaStats {
    std::string data_name;
    std::string schema_name;
    // Overview
    std::uint64_t rows = 0;
    std::vector<ColumnInfo> columns;
    std::uint64_t duplicate_ids = 0;  // rows whose transaction id appeared on an earlier row
    bool has_time = false;
    std::int64_t first_ts_ms = 0, last_ts_ms = 0;
    std::uint64_t customers = 0, terminals = 0;  // distinct; 0 when the column is absent
    bool has_label = false;
    std::uint64_t frauds = 0;
    double fraud_rate = 0;
    std::vector<std::uint64_t> frauds_by_scenario;  // index = scenario; empty when absent
    // Per column
    std::vector<NumericSummary> numeric;
    std::vector<CategoricalSummary> categorical;
    // Time patterns (empty without timestamps)
    std::vector<Bucket> by_hour;     // 24
    std::vector<Bucket> by_weekday;  // 7
    std::vector<Bucket> by_day;      // every day from the first to the last (or wider buckets)
    std::int64_t day_bucket_days = 1;
    std::vector<Bucket> by_amount_band;  // 1-2-5 bands; empty without amounts
    // Correlations over corr_names (numeric columns, then "label")
    std::vector<std::string> corr_names;
    std::vector<std::vector<double>> pearson;
    std::vector<std::vector<double>> spearman;
    std::vector<LabelAssociation> label_association;
    // Behaviour
    Histogram tx_per_customer;
    Histogram tx_per_terminal;
    std::vector<EntityStats> top_fraud_customers;
    std::vector<EntityStats> top_fraud_terminals;
    double seconds = 0;  // time spent in ComputeEda
};

// Computes every statistic above. Errors (kInvalidArgument) on an empty table.
Result<EdaStats> ComputeEda(const TransactionTable& table, const Schema& schema,
                            const EdaOptions& options = {});

// The statistics as one JSON document (indent < 0: one line). NaN becomes null.
std::string EdaToJson(const EdaStats& stats, int indent = -1);

// The EDA report as a self-contained HTML page (and PNGs when options.png_dir is set).
Result<void> WriteEdaReport(const EdaStats& stats, const std::string& path,
                            const ReportOptions& options = {});
// The page itself (used by WriteEdaReport and the tests).
Result<std::string> RenderEdaHtml(const EdaStats& stats, const ReportOptions& options = {});

}  // namespace txguard
