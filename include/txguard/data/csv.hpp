#pragma once
// CSV ingestion and output for transaction tables.
//
// Reading: RFC 4180 (quoted fields, "" escapes, quoted newlines, CRLF or LF), a header row, `.csv`
// or `.csv.gz` (gzip, detected by magic bytes), memory-mapped, parsed on several threads, numbers
// with fast_float. Columns are found by header name through a Schema.
//
// Records end at a newline outside quotes; a quote inside an unquoted field, or anything but a
// delimiter or line end after a closing quote, makes the row bad. Blank lines are not rows. A
// UTF-8 byte order mark at the start is skipped. Required fields (transaction_id, timestamp,
// customer_id, terminal_id, amount, label, when the schema maps them) must not be empty; empty
// lat/lon/extra fields read as NaN, an empty fraud_scenario as 0. Labels are 0/1, true/false or
// a number equal to 0 or 1. String ids are interned in first-seen-in-file order, so the table
// (and its Fingerprint()) does not depend on the thread count.
//
// Errors name file:line:column (1-based line of the physical file, 1-based byte column of the
// field's first character) and what was expected, e.g.
//   tx.csv:17:24: column TX_AMOUNT: expected a number, got "12,5x"
// OnError::kFail stops at the first bad row (the earliest in the file); kSkip drops bad rows,
// counts them and keeps the first few messages in the report.
#include <cstddef>
#include <string>
#include <vector>

#include "txguard/core/result.hpp"
#include "txguard/data/schema.hpp"
#include "txguard/data/transaction_table.hpp"

namespace txguard {

enum class OnError { kFail, kSkip };

struct CsvReadOptions {
    unsigned threads = 0;  // 0 = all hardware threads
    OnError on_error = OnError::kFail;
    std::size_t max_reported_errors = 10;  // kept in ReadReport::first_errors
    char delimiter = ',';
    bool show_progress = true;  // progress bar on stderr (when enabled globally)
    // Smallest slice of the file given to one thread (bytes, >= 1). Small files are parsed on
    // fewer threads; tests and fuzzing set 1 to force many chunks on tiny inputs.
    std::size_t min_chunk_bytes = std::size_t{1} << 20;
};

struct ReadReport {
    std::size_t rows_read = 0;     // rows in the table
    std::size_t rows_skipped = 0;  // bad rows dropped (kSkip)
    std::vector<std::string> first_errors;
};

// Reads a transaction file. `display_name` (default: path) is what error messages call the file.
Result<TransactionTable> ReadTransactionsCsv(const std::string& path, const Schema& schema,
                                             const CsvReadOptions& options = {},
                                             ReadReport* report = nullptr);
// Same, from bytes already in memory (used by tests and fuzzing); `name` appears in errors.
Result<TransactionTable> ParseTransactionsCsv(std::string_view bytes, const std::string& name,
                                              const Schema& schema,
                                              const CsvReadOptions& options = {},
                                              ReadReport* report = nullptr);

// Writes a table with the schema's column names (every mapped field the table has, then extras).
// Timestamps are written as "YYYY-MM-DD HH:MM:SS". A path ending in .gz is gzip-compressed.
Result<void> WriteTransactionsCsv(const TransactionTable& table, const Schema& schema,
                                  const std::string& path);

// Quotes a field for CSV output when it needs it (delimiter, quote, CR or LF inside).
std::string CsvEscape(std::string_view field);

}  // namespace txguard
