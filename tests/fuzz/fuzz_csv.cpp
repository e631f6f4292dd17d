// Fuzz target for the CSV reader: the bytes are parsed under three schemas (handbook, adbench and
// one mapping every field with auto timestamps), on 1, 2 and 3 threads (tiny chunks, so chunk
// boundaries land everywhere), in fail and skip modes. Invariants:
//  - no crash, no sanitizer report; a table that comes back is consistent;
//  - the result (table fingerprint, or the error message) does not depend on the thread count;
//  - the report agrees with the table; skip mode reports, as its first error, the error that
//    fail mode returns; when fail mode succeeds, skip mode returns the same table and skips none;
//  - rows read + rows skipped never exceed the number of lines.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "txguard/core/check.hpp"
#include "txguard/data/csv.hpp"
#include "txguard/data/schema.hpp"

namespace {

using txguard::CsvReadOptions;
using txguard::OnError;
using txguard::ReadReport;
using txguard::Schema;

Schema FullSchema() {
    using txguard::Field;
    Schema s;
    s.name = "full";
    s.columns = {
        {Field::kTransactionId, "id"}, {Field::kTimestamp, "ts"}, {Field::kCustomerId, "cust"},
        {Field::kTerminalId, "term"},  {Field::kAmount, "amt"},   {Field::kLabel, "fraud"},
        {Field::kCategory, "cat"},     {Field::kChannel, "chan"}, {Field::kCountry, "cc"},
        {Field::kLat, "lat"},          {Field::kLon, "lon"},      {Field::kFraudScenario, "scen"}};
    s.extra_columns = {"x1", "x2"};
    return s;
}

struct Outcome {
    bool ok = false;
    std::uint64_t fingerprint = 0;
    std::size_t rows = 0;
    std::string error;
    ReadReport report;
};

Outcome Run(std::string_view bytes, const Schema& schema, unsigned threads, OnError mode) {
    CsvReadOptions o;
    o.threads = threads;
    o.on_error = mode;
    o.min_chunk_bytes = 1;
    o.max_reported_errors = 3;
    o.show_progress = false;
    Outcome out;
    auto t = txguard::ParseTransactionsCsv(bytes, "fuzz.csv", schema, o, &out.report);
    out.ok = t.has_value();
    if (t) {
        t->CheckConsistent();
        out.fingerprint = t->Fingerprint();
        out.rows = t->rows;
        TXG_CHECK(out.report.rows_read == t->rows);
        TXG_CHECK(out.report.first_errors.size() ==
                  std::min<std::size_t>(out.report.rows_skipped, o.max_reported_errors));
        if (mode == OnError::kFail) TXG_CHECK(out.report.rows_skipped == 0);
        for (const auto& e : out.report.first_errors) TXG_CHECK(e.rfind("fuzz.csv:", 0) == 0);
    } else {
        out.error = t.error().message;
        TXG_CHECK(!out.error.empty());
    }
    return out;
}

void Check(std::string_view bytes, const Schema& schema) {
    const bool gz = bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
                    static_cast<unsigned char>(bytes[1]) == 0x8b;
    const std::size_t lines =
        static_cast<std::size_t>(std::count(bytes.begin(), bytes.end(), '\n')) + 1;
    Outcome by_mode[2];
    for (int m = 0; m < 2; ++m) {
        const OnError mode = m == 0 ? OnError::kFail : OnError::kSkip;
        const Outcome one = Run(bytes, schema, 1, mode);
        for (unsigned threads : {2u, 3u}) {
            const Outcome other = Run(bytes, schema, threads, mode);
            TXG_CHECK(other.ok == one.ok);
            TXG_CHECK(other.error == one.error);
            TXG_CHECK(other.fingerprint == one.fingerprint);
            TXG_CHECK(other.report.rows_skipped == one.report.rows_skipped);
            TXG_CHECK(other.report.first_errors == one.report.first_errors);
        }
        if (one.ok && !gz) TXG_CHECK(one.rows + one.report.rows_skipped <= lines);
        by_mode[m] = one;
    }
    const Outcome& fail = by_mode[0];
    const Outcome& skip = by_mode[1];
    if (fail.ok) {
        TXG_CHECK(skip.ok);
        TXG_CHECK(skip.fingerprint == fail.fingerprint);
        TXG_CHECK(skip.report.rows_skipped == 0);
    } else if (skip.ok) {
        // A bad row, not a bad header: skip mode saw the same first error.
        TXG_CHECK(skip.report.rows_skipped > 0);
        TXG_CHECK(skip.report.first_errors.front() == fail.error);
    } else {
        TXG_CHECK(skip.error == fail.error);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Schema kHandbook = txguard::SchemaPreset("handbook").value();
    static const Schema kAdbench = txguard::SchemaPreset("adbench").value();
    static const Schema kFull = FullSchema();
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    Check(bytes, kHandbook);
    Check(bytes, kAdbench);
    Check(bytes, kFull);
    return 0;
}
