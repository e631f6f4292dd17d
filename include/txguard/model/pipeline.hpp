#pragma once
// Training and scoring a table with a model bundle: the steps every front end (CLI, later the
// server and stream workers) shares. Features are always computed over the whole table in time
// order, so history before a date range feeds the windows of the rows inside it, and labels enter
// the delayed label features `delay` days after their transaction (the handbook's assumption).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "txguard/core/matrix.hpp"
#include "txguard/core/result.hpp"
#include "txguard/data/transaction_table.hpp"
#include "txguard/model/bundle.hpp"

namespace txguard {

// Inclusive days [from, to] as ts_ms bounds; either side may be open.
struct DateRange {
    std::optional<std::int64_t> from_ms;  // midnight of the first day
    std::optional<std::int64_t> to_ms;    // midnight of the last day (the whole day is included)

    bool Active() const { return from_ms || to_ms; }
    bool Contains(std::int64_t ts_ms) const;
    // Parses "YYYY-MM-DD" strings; empty means open.
    static Result<DateRange> Parse(const std::string& from, const std::string& to);
};

// Rows of `table` inside `range` (all rows when the range is open). A range on a table without
// timestamps is an error, and so is an empty result.
Result<std::vector<std::size_t>> RowsInRange(const TransactionTable& table, const DateRange& range);

struct TrainOptions {
    std::string detector = "iforest";
    ParamMap params;
    std::string features;      // preset name or spec file; empty = DefaultFeatureSpec
    double alert_rate = 0.01;  // threshold = the (1 - alert_rate) quantile of training scores
    DateRange range;           // training rows; features still use all earlier history
    DateRange valid_range;     // supervised early stopping window (later than training)
    std::vector<std::string> hybrid;  // unsupervised detectors whose scores become inputs
    bool genuine_only = false;        // fit an unsupervised main detector on label-0 rows only
    unsigned threads = 0;
    std::string data_path;  // for metadata
};

Result<ModelBundle> TrainModel(const TransactionTable& table, const Schema& schema,
                               const TrainOptions& options);

// The main detector's input rows for the listed table rows: the spec's features (computed over
// the whole table) followed by the hybrid parts' scores.
Result<Matrix> ModelInputs(const ModelBundle& bundle, const TransactionTable& table,
                           std::span<const std::size_t> rows, unsigned threads = 0);

// The same from feature rows already computed (rows x spec features): appends the hybrid parts'
// scores. The server uses it for live rows.
Result<Matrix> ModelInputsFromFeatures(const ModelBundle& bundle, MatrixView features);

// Scores every row of `table`, in table order.
Result<std::vector<double>> ScoreTable(const ModelBundle& bundle, const TransactionTable& table);
// Scores the listed rows only: out[i] is rows[i]'s score.
Result<std::vector<double>> ScoreTable(const ModelBundle& bundle, const TransactionTable& table,
                                       std::span<const std::size_t> rows);

}  // namespace txguard
