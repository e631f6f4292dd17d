// CSV reader: RFC 4180 records, parsed on several threads into a TransactionTable.
//
// How the work is split. A record ends at a '\n' that has an even number of '"' before it (counted
// from the start of the body): that is exactly where a quote-aware parser ends a record, both for
// well-formed rows and, by construction below, for rows with quoting errors. So the body is cut
// into nominal chunks, the quotes of each chunk are counted in parallel, and the prefix parity
// tells, for each nominal boundary, where the first record-ending newline after it is. Each thread
// then parses whole records from its chunk into chunk-local columns and chunk-local string pools;
// the pools are merged into the table's pools in chunk order (= first-seen-in-file order, so ids
// do not depend on the thread count) and the columns are concatenated.
//
// Per-chunk newline counts give each chunk's first physical line, so error messages carry the
// physical line and byte column. With OnError::kFail each chunk stops at its first bad row and the
// earliest chunk's error wins: the earliest bad row of the file whatever the thread count.
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "csv_scan.hpp"
#include "gunzip.hpp"
#include "local_pool.hpp"
#include "mapped_file.hpp"
#include "txguard/core/check.hpp"
#include "txguard/core/parallel.hpp"
#include "txguard/core/progress.hpp"
#include "txguard/core/time.hpp"
#include "txguard/data/csv.hpp"

namespace txguard {
namespace {

using csv_internal::CountNewlines;
using csv_internal::CountQuotesAndNewlines;
using csv_internal::DateCache;
using csv_internal::EqualsNoCase;
using csv_internal::FastDecimal;
using csv_internal::FastIsoTimestamp;
using csv_internal::LocalPool;
using csv_internal::ParseNumber;
using csv_internal::SpecialScanner;
using csv_internal::Trim;

constexpr std::size_t kProgressMinBytes = 50u << 20;  // show a progress bar above this size
constexpr std::size_t kProgressStep = 4u << 20;       // bytes parsed between progress updates
constexpr std::size_t kShownChars = 64;               // longest field text quoted in a message
// One chunk per thread: more chunks (taken dynamically) were measured slower on 2 cores, as the
// merge (string pools, transaction ids) grows with the rows outside chunk 0.
constexpr unsigned kMaxChunks = 256;

// ---- small helpers ----

std::string Shown(std::string_view s) {
    if (s.size() <= kShownChars) return std::string(s);
    return std::string(s.substr(0, kShownChars)) + "...";
}

// Reserves room for n elements; large reservations are advised to use transparent huge pages
// (one page fault per 2 MiB instead of per 4 KiB while the columns fill; a hint, ignored where
// THP is off).
template <class T>
void ReserveHuge(std::vector<T>* v, std::size_t n) {
    v->reserve(n);
    constexpr std::size_t kHuge = std::size_t{2} << 20;
    const std::size_t bytes = v->capacity() * sizeof(T);
    if (bytes < 2 * kHuge) return;
    const auto begin = reinterpret_cast<std::uintptr_t>(v->data());
    const std::uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
    const std::uintptr_t last = (begin + bytes) & ~(kHuge - 1);
    if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

// ---- the plan: what to do with each column of the file ----

enum class Action : std::uint8_t {
    kSkip,
    kTxId,
    kTimestamp,
    kCategorical,  // index = which categorical column
    kAmount,
    kLat,
    kLon,
    kLabel,
    kScenario,
    kExtra,  // index = extra column
};

enum Cat : unsigned { kCustomer, kTerminal, kCategory, kChannel, kCountry, kNumCats };

struct ColumnPlan {
    Action action = Action::kSkip;
    unsigned index = 0;
    bool required = false;
};

// Column index of each mapped field (-1: not mapped), for the per-row fast path.
struct FastPlan {
    int tx = -1, ts = -1, amount = -1, lat = -1, lon = -1, label = -1, scenario = -1;
    struct Cat {
        unsigned cat;
        std::size_t col;
        bool required;
    };
    std::vector<Cat> cats;
    std::vector<std::pair<std::size_t, std::size_t>> extras;  // (column, extra index)
};

struct Plan {
    FastPlan fast;
    std::vector<std::string> header;
    std::vector<ColumnPlan> cols;  // one per header column
    bool has_tx = false, has_ts = false, has_amount = false, has_lat = false, has_lon = false,
         has_label = false, has_scenario = false;
    std::array<bool, kNumCats> has_cat{};
    std::vector<std::string> extra_names;
    SchemaTimeFormat time_format = SchemaTimeFormat::kAuto;
    std::int64_t time_origin_ms = 0;
    double time_unit_s = 1.0;
};

Cat CatOf(Field f) {
    switch (f) {
        case Field::kCustomerId:
            return kCustomer;
        case Field::kTerminalId:
            return kTerminal;
        case Field::kCategory:
            return kCategory;
        case Field::kChannel:
            return kChannel;
        default:
            return kCountry;
    }
}

std::string HeaderList(const std::vector<std::string>& header) {
    std::string s;
    const std::size_t shown = std::min<std::size_t>(header.size(), 40);
    for (std::size_t i = 0; i < shown; ++i) {
        if (i) s += ", ";
        s += Shown(header[i]);
    }
    if (shown < header.size()) s += ", ... (" + std::to_string(header.size()) + " columns)";
    return s;
}

Result<Plan> MakePlan(const std::vector<std::string>& header, const Schema& schema,
                      const std::string& name) {
    Plan plan;
    plan.header = header;
    plan.cols.resize(header.size());
    plan.time_format = schema.time_format;
    plan.time_origin_ms = schema.time_origin_ms;
    plan.time_unit_s = schema.time_unit_s;
    std::unordered_map<std::string_view, std::size_t> index;
    for (std::size_t i = 0; i < header.size(); ++i) {
        auto [it, inserted] = index.emplace(header[i], i);
        if (!inserted) {
            return MakeError(ErrorCode::kParse, name + ":1: duplicate column name \"" +
                                                    Shown(header[i]) + "\" (columns " +
                                                    std::to_string(it->second + 1) + " and " +
                                                    std::to_string(i + 1) + ")");
        }
    }
    auto find = [&](const std::string& col, const std::string& what) -> Result<std::size_t> {
        auto it = index.find(col);
        if (it == index.end()) {
            return MakeError(ErrorCode::kParse,
                             name + ": column \"" + col + "\" (" + what +
                                 ") not found; the header has: " + HeaderList(header),
                             "check the schema and the delimiter");
        }
        return it->second;
    };
    for (const auto& [field, column] : schema.columns) {
        auto i = find(column, std::string("field ") + FieldName(field));
        if (!i) return std::unexpected(i.error());
        ColumnPlan& c = plan.cols[*i];
        switch (field) {
            case Field::kTransactionId:
                c = {Action::kTxId, 0, true};
                plan.has_tx = true;
                break;
            case Field::kTimestamp:
                c = {Action::kTimestamp, 0, true};
                plan.has_ts = true;
                break;
            case Field::kCustomerId:
            case Field::kTerminalId:
            case Field::kCategory:
            case Field::kChannel:
            case Field::kCountry: {
                const Cat cat = CatOf(field);
                c = {Action::kCategorical, cat, cat == kCustomer || cat == kTerminal};
                plan.has_cat[cat] = true;
                break;
            }
            case Field::kAmount:
                c = {Action::kAmount, 0, true};
                plan.has_amount = true;
                break;
            case Field::kLat:
                c = {Action::kLat, 0, false};
                plan.has_lat = true;
                break;
            case Field::kLon:
                c = {Action::kLon, 0, false};
                plan.has_lon = true;
                break;
            case Field::kLabel:
                c = {Action::kLabel, 0, true};
                plan.has_label = true;
                break;
            case Field::kFraudScenario:
                c = {Action::kScenario, 0, false};
                plan.has_scenario = true;
                break;
        }
    }
    if (schema.extras_rest) {
        std::set<std::string_view> ignored(schema.ignore_columns.begin(),
                                           schema.ignore_columns.end());
        for (std::size_t i = 0; i < header.size(); ++i) {
            if (plan.cols[i].action != Action::kSkip || ignored.count(header[i]) != 0) continue;
            plan.cols[i] = {Action::kExtra, static_cast<unsigned>(plan.extra_names.size()), false};
            plan.extra_names.push_back(header[i]);
        }
    } else {
        for (const auto& col : schema.extra_columns) {
            auto i = find(col, "extra column");
            if (!i) return std::unexpected(i.error());
            if (plan.cols[*i].action != Action::kSkip) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 name + ": column \"" + col + "\" is both mapped and extra");
            }
            plan.cols[*i] = {Action::kExtra, static_cast<unsigned>(plan.extra_names.size()), false};
            plan.extra_names.push_back(col);
        }
    }
    for (std::size_t i = 0; i < plan.cols.size(); ++i) {
        const ColumnPlan& c = plan.cols[i];
        const int col = static_cast<int>(i);
        switch (c.action) {
            case Action::kSkip:
                break;
            case Action::kTxId:
                plan.fast.tx = col;
                break;
            case Action::kTimestamp:
                plan.fast.ts = col;
                break;
            case Action::kCategorical:
                plan.fast.cats.push_back({c.index, i, c.required});
                break;
            case Action::kAmount:
                plan.fast.amount = col;
                break;
            case Action::kLat:
                plan.fast.lat = col;
                break;
            case Action::kLon:
                plan.fast.lon = col;
                break;
            case Action::kLabel:
                plan.fast.label = col;
                break;
            case Action::kScenario:
                plan.fast.scenario = col;
                break;
            case Action::kExtra:
                plan.fast.extras.emplace_back(i, c.index);
                break;
        }
    }
    return plan;
}

// ---- record parsing ----

struct FieldRef {
    const char* ptr;  // null while the text lives in the scratch buffer (escaped quotes)
    std::size_t len;
    std::size_t start;    // quoted fields: offset of the opening quote
    std::size_t scratch;  // offset in scratch when ptr is null
    bool quoted;
    std::string_view view() const { return {ptr, len}; }
    // Offset of the field's first byte in `data` (the opening quote when quoted).
    std::size_t Start(const char* data) const {
        return quoted ? start : static_cast<std::size_t>(ptr - data);
    }
};

enum class RecordStatus { kOk, kStrayQuote, kAfterQuote, kUnterminated };

struct RecordResult {
    RecordStatus status = RecordStatus::kOk;
    std::size_t next = 0;         // offset just after the record (after its '\n', or the end)
    std::size_t error_pos = 0;    // start of the field with the problem
    std::size_t detail_pos = 0;   // the offending byte (stray quote, byte after closing quote)
    std::size_t error_field = 0;  // index of the field with the problem
    std::size_t quoted_newlines = 0;
    std::size_t n_fields = 0;
};

struct ChunkError {
    std::size_t line = 0;  // physical line, relative to the chunk's first line (0-based)
    std::size_t col = 0;   // 1-based byte column; 0: the message names no column
    std::string body;
    std::size_t last_line = 0;  // > line: the bad record runs on to this line (same base)
};

struct Chunk {
    std::size_t begin = 0, end = 0;  // byte range of whole records
    std::size_t first_line = 0;      // physical line (1-based) of `begin`
    std::size_t rows_estimate = 0;
    std::size_t tx_chars_estimate = 0;

    std::size_t rows = 0, skipped = 0;
    std::vector<ChunkError> errors;
    bool failed = false;

    StringColumn tx;
    std::vector<std::int64_t> ts;
    std::vector<double> amount, lat, lon;
    std::vector<std::int8_t> label;
    std::vector<std::int32_t> scenario;
    std::array<std::vector<std::uint32_t>, kNumCats> cat_ids;
    std::array<LocalPool, kNumCats> pools;
    std::vector<std::vector<double>> extra;
};

class Parser {
  public:
    Parser(std::string_view data, const std::string& name, const CsvReadOptions& options)
        : data_(data.data()), size_(data.size()), name_(name), options_(options) {}

    // Parses one record starting at `pos` into fields[0, r->n_fields) (`fields` grows as
    // needed; texts of fields with escaped quotes live in `scratch`).
    void ParseRecord(std::size_t pos, SpecialScanner* scanner_state, std::vector<FieldRef>* fields,
                     std::string* scratch, RecordResult* r) const {
        // Work on a local copy of the scanner (kept in registers), written back on return.
        SpecialScanner local = *scanner_state;
        SpecialScanner* scanner = &local;
        struct WriteBack {
            SpecialScanner* to;
            const SpecialScanner* from;
            ~WriteBack() { *to = *from; }
        } write_back{scanner_state, scanner};
        r->status = RecordStatus::kOk;
        r->quoted_newlines = 0;
        const char* d = data_;
        const std::size_t n = size_;
        const char delim = options_.delimiter;
        bool any_scratch = false;
        std::size_t nf = 0;
        scratch->clear();
        scanner->Seek(pos);
        if (fields->size() < 8) fields->resize(8);
        FieldRef* fp = fields->data();
        std::size_t cap = fields->size();
        for (;;) {
            if (nf == cap) [[unlikely]] {
                fields->resize(cap * 2);
                fp = fields->data();
                cap = fields->size();
            }
            FieldRef& f = fp[nf];
            if (pos < n && d[pos] == '"') [[unlikely]] {
                f.start = pos;
                f.quoted = true;
                std::size_t q = pos + 1;
                bool escaped = false;
                for (;;) {
                    const void* hit = q < n ? std::memchr(d + q, '"', n - q) : nullptr;
                    if (hit == nullptr) {
                        r->status = RecordStatus::kUnterminated;
                        r->error_pos = pos;
                        r->error_field = nf;
                        r->next = n;
                        r->n_fields = nf;
                        return;
                    }
                    const auto h = static_cast<std::size_t>(static_cast<const char*>(hit) - d);
                    r->quoted_newlines += CountNewlines(d + q, h - q);
                    if (h + 1 < n && d[h + 1] == '"') {  // "" -> "
                        if (!escaped) {
                            escaped = true;
                            f.scratch = scratch->size();
                        }
                        scratch->append(d + q, h + 1 - q);
                        q = h + 2;
                        continue;
                    }
                    if (escaped) {
                        scratch->append(d + q, h - q);
                        f.ptr = nullptr;
                        f.len = scratch->size() - f.scratch;
                        any_scratch = true;
                    } else {
                        f.ptr = d + pos + 1;
                        f.len = h - pos - 1;
                    }
                    pos = h + 1;
                    break;
                }
                ++nf;
                if (pos >= n) {
                    r->next = n;
                    break;
                }
                const char c = d[pos];
                if (c == delim) {
                    ++pos;
                    scanner->Seek(pos);
                    continue;
                }
                if (c == '\n') {
                    r->next = pos + 1;
                    break;
                }
                if (c == '\r' && (pos + 1 == n || d[pos + 1] == '\n')) {
                    r->next = std::min(pos + 2, n);
                    break;
                }
                r->status = RecordStatus::kAfterQuote;
                r->error_pos = f.start;
                r->detail_pos = pos;
                r->error_field = nf - 1;
                r->n_fields = nf;
                return;
            }
            f.quoted = false;
            f.ptr = d + pos;
            bool is_delim;
            const std::size_t q = scanner->Next(&is_delim);
            if (q < n) {
                if (is_delim) [[likely]] {
                    f.len = q - pos;
                    ++nf;
                    pos = q + 1;
                    continue;
                }
                if (d[q] == '"') {
                    r->status = RecordStatus::kStrayQuote;
                    r->error_pos = pos;
                    r->detail_pos = q;
                    r->error_field = nf;
                    r->n_fields = nf;
                    return;
                }
            }
            // End of line or of the data.
            f.len = q - pos;
            if (f.len > 0 && d[q - 1] == '\r') --f.len;
            ++nf;
            r->next = q < n ? q + 1 : n;
            break;
        }
        r->n_fields = nf;
        if (any_scratch) {
            for (std::size_t i = 0; i < nf; ++i) {
                FieldRef& f = (*fields)[i];
                if (f.ptr == nullptr) f.ptr = scratch->data() + f.scratch;
            }
        }
    }

    // The end of a record whose parse stopped at `pos` (outside quotes): the next newline with
    // an even number of quotes between `pos` and it.
    std::size_t SkipRecord(std::size_t pos) const {
        bool in_quotes = false;
        for (std::size_t p = pos; p < size_; ++p) {
            const char c = data_[p];
            if (c == '"') {
                in_quotes = !in_quotes;
            } else if (c == '\n' && !in_quotes) {
                return p + 1;
            }
        }
        return size_;
    }

    // Lines and 1-based byte column of `pos` within a record that starts at `record_start` (the
    // start of a physical line).
    void LineCol(std::size_t record_start, std::size_t pos, std::size_t* extra_lines,
                 std::size_t* col) const {
        std::size_t lines = 0, line_start = record_start;
        for (std::size_t p = record_start; p < pos; ++p) {
            if (data_[p] == '\n') {
                ++lines;
                line_start = p + 1;
            }
        }
        *extra_lines = lines;
        *col = pos - line_start + 1;
    }

    std::string RecordErrorBody(const RecordResult& r, const Plan* plan) const {
        std::string col;
        if (plan != nullptr && r.error_field < plan->header.size())
            col = "column " + Shown(plan->header[r.error_field]) + ": ";
        switch (r.status) {
            case RecordStatus::kStrayQuote:
                return col + "unexpected '\"' inside an unquoted field (quote the whole field " +
                       "and double the quote)";
            case RecordStatus::kAfterQuote:
                return col + "expected a delimiter or end of line after the closing quote, got '" +
                       Shown(std::string_view(data_ + r.detail_pos, 1)) + "'";
            case RecordStatus::kUnterminated:
                return col + "unterminated quoted field: the quote opened here is never closed " +
                       "before the end of the file";
            case RecordStatus::kOk:
                break;
        }
        return col + "bad record";
    }

    const char* data() const { return data_; }
    std::size_t size() const { return size_; }
    const std::string& name() const { return name_; }

  private:
    const char* data_;
    std::size_t size_;
    const std::string& name_;
    const CsvReadOptions& options_;
};

// ---- converting the fields of one row ----

// One row's converted values before it is committed (no initialisers: filled per mapped field).
struct RowValues {
    std::int64_t ts;
    double amount, lat, lon;
    std::int8_t label;
    std::int32_t scenario;
    std::string_view tx;
    std::array<std::string_view, kNumCats> cat;
};

class ChunkParser {
  public:
    ChunkParser(const Parser& parser, const Plan& plan, const CsvReadOptions& options, Chunk* chunk,
                std::atomic<std::size_t>* first_failed, std::size_t index, Progress* progress)
        : p_(parser),
          plan_(plan),
          options_(options),
          c_(*chunk),
          first_failed_(*first_failed),
          index_(index),
          progress_(progress) {}

    void Run() {
        Reserve();
        const std::size_t n_fields = plan_.header.size();
        std::vector<FieldRef> fields(n_fields + 1);
        std::string scratch;
        SpecialScanner scanner(p_.data(), p_.size(), options_.delimiter);
        extras_.assign(plan_.extra_names.size(), 0.0);
        RecordResult r;
        std::size_t pos = c_.begin, line = 0, last_progress = pos, records = 0;
        while (pos < c_.end) {
            if (options_.on_error == OnError::kFail && (++records & 1023) == 0 &&
                first_failed_.load(std::memory_order_relaxed) < index_)
                break;  // an earlier chunk failed: nothing here can be the first error
            if (progress_ != nullptr && pos - last_progress >= kProgressStep) {
                progress_->Add(pos - last_progress);
                last_progress = pos;
            }
            const std::size_t record_start = pos;
            p_.ParseRecord(pos, &scanner, &fields, &scratch, &r);
            if (r.status != RecordStatus::kOk) {
                const std::size_t next = r.status == RecordStatus::kUnterminated
                                             ? p_.size()
                                             : p_.SkipRecord(r.error_pos);
                TXG_CHECK(next > record_start);
                std::size_t extra_lines, col;
                p_.LineCol(record_start, r.error_pos, &extra_lines, &col);
                const std::size_t newlines =
                    CountNewlines(p_.data() + record_start, next - record_start);
                // Last physical line of the record (an unbalanced quote can join many lines).
                const std::size_t last = line + newlines - (p_.data()[next - 1] == '\n' ? 1 : 0);
                if (!Fail(line + extra_lines, col, p_.RecordErrorBody(r, &plan_), last)) break;
                line += newlines;
                pos = next;
                continue;
            }
            TXG_CHECK(r.next > record_start && r.next <= c_.end);
            pos = r.next;
            const std::size_t record_line = line;
            line += 1 + r.quoted_newlines;
            if (r.n_fields == 1 && !fields[0].quoted && fields[0].len == 0) continue;  // blank
            if (r.n_fields != n_fields) {
                if (!Fail(record_line, 0,
                          "expected " + std::to_string(n_fields) + " fields, got " +
                              std::to_string(r.n_fields)))
                    break;
                continue;
            }
            if (!ConvertRow(fields, record_start, record_line)) {
                if (c_.failed && options_.on_error == OnError::kFail) break;
                continue;
            }
        }
        if (progress_ != nullptr && pos > last_progress) progress_->Add(pos - last_progress);
    }

  private:
    void Reserve() {
        const std::size_t n = c_.rows_estimate;
        if (plan_.has_tx) c_.tx.Reserve(n, c_.tx_chars_estimate);
        if (plan_.has_ts) ReserveHuge(&c_.ts, n);
        if (plan_.has_amount) ReserveHuge(&c_.amount, n);
        if (plan_.has_lat) ReserveHuge(&c_.lat, n);
        if (plan_.has_lon) ReserveHuge(&c_.lon, n);
        if (plan_.has_label) ReserveHuge(&c_.label, n);
        if (plan_.has_scenario) ReserveHuge(&c_.scenario, n);
        for (unsigned k = 0; k < kNumCats; ++k)
            if (plan_.has_cat[k]) ReserveHuge(&c_.cat_ids[k], n);
        c_.extra.resize(plan_.extra_names.size());
        for (auto& e : c_.extra) ReserveHuge(&e, n);
    }

    // Records an error; returns false when parsing of this chunk should stop.
    bool Fail(std::size_t line, std::size_t col, std::string body, std::size_t last_line = 0) {
        ++c_.skipped;
        if (options_.on_error == OnError::kFail) {
            c_.errors.push_back(ChunkError{line, col, std::move(body), last_line});
            c_.failed = true;
            std::size_t cur = first_failed_.load();
            while (index_ < cur && !first_failed_.compare_exchange_weak(cur, index_)) {
            }
            return false;
        }
        if (c_.errors.size() < options_.max_reported_errors)
            c_.errors.push_back(ChunkError{line, col, std::move(body), last_line});
        return true;
    }

    bool FieldFail(const FieldRef& f, std::size_t i, std::size_t record_start,
                   std::size_t record_line, const std::string& what) {
        std::size_t extra_lines, col;
        p_.LineCol(record_start, f.Start(p_.data()), &extra_lines, &col);
        Fail(record_line + extra_lines, col, "column " + Shown(plan_.header[i]) + ": " + what);
        return false;
    }
    bool Expected(const FieldRef& f, std::size_t i, std::size_t record_start,
                  std::size_t record_line, const std::string& what) {
        return FieldFail(f, i, record_start, record_line,
                         "expected " + what + ", got \"" + Shown(f.view()) + "\"");
    }
    bool Missing(const FieldRef& f, std::size_t i, std::size_t record_start,
                 std::size_t record_line) {
        return FieldFail(
            f, i, record_start, record_line,
            std::string("missing required field (") + FieldNameOf(plan_.cols[i]) + ")");
    }
    const char* FieldNameOf(const ColumnPlan& c) const {
        switch (c.action) {
            case Action::kTxId:
                return "transaction_id";
            case Action::kTimestamp:
                return "timestamp";
            case Action::kCategorical: {
                static constexpr const char* kNames[] = {"customer_id", "terminal_id", "category",
                                                         "channel", "country"};
                return kNames[c.index];
            }
            case Action::kAmount:
                return "amount";
            case Action::kLabel:
                return "label";
            default:
                return "field";
        }
    }

    enum class Check { kOk, kMissing, kBad };

    // ---- per-field conversions, shared by the fast path and the error path ----

    TimeFormat CoreTimeFormat() const {
        switch (plan_.time_format) {
            case SchemaTimeFormat::kIso8601:
                return TimeFormat::kIso8601;
            case SchemaTimeFormat::kEpochSeconds:
                return TimeFormat::kEpochSeconds;
            case SchemaTimeFormat::kEpochMillis:
                return TimeFormat::kEpochMillis;
            default:
                return TimeFormat::kAuto;
        }
    }

    Check ConvertTime(std::string_view s, std::int64_t* out) {
        if ((plan_.time_format == SchemaTimeFormat::kIso8601 ||
             plan_.time_format == SchemaTimeFormat::kAuto) &&
            FastIsoTimestamp(s, &date_cache_, out))
            return Check::kOk;
        if (Trim(s).empty()) return Check::kMissing;
        if (plan_.time_format == SchemaTimeFormat::kOffset) {
            double v;
            if (!ParseNumber(s, &v)) return Check::kBad;
            const double ms = v * plan_.time_unit_s * 1000.0;
            if (!std::isfinite(ms) || std::fabs(ms) > 9.2e15) return Check::kBad;
            *out = plan_.time_origin_ms + static_cast<std::int64_t>(std::llround(ms));
            return Check::kOk;
        }
        auto r = ParseTimestamp(s, CoreTimeFormat());
        if (!r) return Check::kBad;
        *out = *r;
        return Check::kOk;
    }
    std::string TimeError(std::string_view s) const {
        if (plan_.time_format == SchemaTimeFormat::kOffset) {
            char unit[64];
            std::snprintf(unit, sizeof unit, "%g", plan_.time_unit_s);
            return std::string("expected a time offset (a number of ") + unit +
                   " s units), got \"" + Shown(s) + "\"";
        }
        auto r = ParseTimestamp(s, CoreTimeFormat());
        return r ? std::string("bad timestamp") : r.error().message;
    }
    static Check ConvertAmount(std::string_view s, double* out) {
        if (ParseNumber(s, out) && std::isfinite(*out)) return Check::kOk;
        return Trim(s).empty() ? Check::kMissing : Check::kBad;
    }
    // Optional numbers (lat, lon, extras): empty is NaN.
    static Check ConvertOptional(std::string_view s, double* out) {
        if (ParseNumber(s, out)) return Check::kOk;
        if (!Trim(s).empty()) return Check::kBad;
        *out = std::numeric_limits<double>::quiet_NaN();
        return Check::kOk;
    }
    static Check ConvertLabel(std::string_view s, std::int8_t* out) {
        if (s.size() == 1 && (s[0] == '0' || s[0] == '1')) {
            *out = static_cast<std::int8_t>(s[0] - '0');
            return Check::kOk;
        }
        const std::string_view t = Trim(s);
        if (t.empty()) return Check::kMissing;
        double x;
        if (t.size() == 1 && (t[0] == '0' || t[0] == '1')) {
            *out = static_cast<std::int8_t>(t[0] - '0');
        } else if (EqualsNoCase(t, "true")) {
            *out = 1;
        } else if (EqualsNoCase(t, "false")) {
            *out = 0;
        } else if (ParseNumber(t, &x) && (x == 0.0 || x == 1.0)) {
            *out = static_cast<std::int8_t>(x);
        } else {
            return Check::kBad;
        }
        return Check::kOk;
    }
    // Optional integer; empty is 0 (genuine).
    static Check ConvertScenario(std::string_view s, std::int32_t* out) {
        if (s.size() == 1 && s[0] >= '0' && s[0] <= '9') {
            *out = s[0] - '0';
            return Check::kOk;
        }
        const std::string_view t = Trim(s);
        *out = 0;
        if (t.empty()) return Check::kOk;
        const char* end = t.data() + t.size();
        auto [ptr, ec] = std::from_chars(t.data(), end, *out);
        if (ec == std::errc() && ptr == end) return Check::kOk;
        double x;
        if (ParseNumber(t, &x) && x == std::floor(x) && x >= -2147483648.0 && x <= 2147483647.0) {
            *out = static_cast<std::int32_t>(x);
            return Check::kOk;
        }
        return Check::kBad;
    }

    // Converts every mapped field of a row (no error reporting): the hot path. Fields are taken
    // by kind, not in column order, so a bad row goes to ReportRowError for the leftmost error.
    bool ConvertFields(const FieldRef* f, RowValues* v) {
        const FastPlan& fp = plan_.fast;
        bool ok = true;
        if (fp.tx >= 0) {
            v->tx = f[fp.tx].view();
            ok &= !v->tx.empty();
        }
        if (fp.ts >= 0) {
            const std::string_view s = f[fp.ts].view();
            ok &= (fast_iso_ && FastIsoTimestamp(s, &date_cache_, &v->ts)) ||
                  ConvertTime(s, &v->ts) == Check::kOk;
        }
        for (const auto& [cat, col, required] : fp.cats) {
            v->cat[cat] = f[col].view();
            ok &= !(required && v->cat[cat].empty());
        }
        if (fp.amount >= 0) {
            const std::string_view s = f[fp.amount].view();
            ok &= FastDecimal(s, &v->amount) || ConvertAmount(s, &v->amount) == Check::kOk;
        }
        if (fp.label >= 0) ok &= ConvertLabel(f[fp.label].view(), &v->label) == Check::kOk;
        if (fp.scenario >= 0)
            ok &= ConvertScenario(f[fp.scenario].view(), &v->scenario) == Check::kOk;
        if (fp.lat >= 0) ok &= ConvertOptional(f[fp.lat].view(), &v->lat) == Check::kOk;
        if (fp.lon >= 0) ok &= ConvertOptional(f[fp.lon].view(), &v->lon) == Check::kOk;
        for (const auto& [col, j] : fp.extras) {
            const std::string_view s = f[col].view();
            ok &= FastDecimal(s, &extras_[j]) || ConvertOptional(s, &extras_[j]) == Check::kOk;
        }
        return ok;
    }

    // The row has a bad field: report the leftmost one.
    void ReportRowError(const FieldRef* f, std::size_t record_start, std::size_t line) {
        RowValues v;
        double x;
        for (std::size_t i = 0; i < plan_.cols.size(); ++i) {
            const ColumnPlan& c = plan_.cols[i];
            const std::string_view s = f[i].view();
            Check r = Check::kOk;
            std::string expected;
            switch (c.action) {
                case Action::kSkip:
                    break;
                case Action::kTxId:
                    r = s.empty() ? Check::kMissing : Check::kOk;
                    break;
                case Action::kTimestamp:
                    r = ConvertTime(s, &v.ts);
                    if (r == Check::kBad) {
                        FieldFail(f[i], i, record_start, line, TimeError(s));
                        return;
                    }
                    break;
                case Action::kCategorical:
                    r = c.required && s.empty() ? Check::kMissing : Check::kOk;
                    break;
                case Action::kAmount:
                    r = ConvertAmount(s, &x);
                    expected = "a number";
                    break;
                case Action::kLat:
                case Action::kLon:
                case Action::kExtra:
                    r = ConvertOptional(s, &x);
                    expected = "a number or an empty field";
                    break;
                case Action::kLabel:
                    r = ConvertLabel(s, &v.label);
                    expected = "a label 0 or 1 (or true/false)";
                    break;
                case Action::kScenario:
                    r = ConvertScenario(s, &v.scenario);
                    expected = "an integer fraud scenario";
                    break;
            }
            if (r == Check::kMissing) {
                Missing(f[i], i, record_start, line);
                return;
            }
            if (r == Check::kBad) {
                Expected(f[i], i, record_start, line, expected);
                return;
            }
        }
        TXG_CHECK_MSG(false, "a row failed conversion but no field is bad");
    }

    bool ConvertRow(const std::vector<FieldRef>& fields, std::size_t record_start,
                    std::size_t line) {
        RowValues v;
        if (!ConvertFields(fields.data(), &v)) [[unlikely]] {
            ReportRowError(fields.data(), record_start, line);
            return false;
        }
        // The row is good: commit it.
        if (plan_.has_tx) c_.tx.Append(v.tx);
        if (plan_.has_ts) c_.ts.push_back(v.ts);
        if (plan_.has_amount) c_.amount.push_back(v.amount);
        if (plan_.has_lat) c_.lat.push_back(v.lat);
        if (plan_.has_lon) c_.lon.push_back(v.lon);
        if (plan_.has_label) c_.label.push_back(v.label);
        if (plan_.has_scenario) c_.scenario.push_back(v.scenario);
        const char* safe_begin = p_.data();
        const char* safe_end = p_.data() + p_.size() - std::min<std::size_t>(p_.size(), 8);
        for (const auto& [cat, col, required] : plan_.fast.cats) {
            const char* sp = v.cat[cat].data();
            const bool safe8 = sp >= safe_begin && sp <= safe_end;
            c_.cat_ids[cat].push_back(c_.pools[cat].Intern(v.cat[cat], safe8));
        }
        for (std::size_t j = 0; j < extras_.size(); ++j) c_.extra[j].push_back(extras_[j]);
        ++c_.rows;
        return true;
    }

    const Parser& p_;
    const Plan& plan_;
    const CsvReadOptions& options_;
    Chunk& c_;
    std::atomic<std::size_t>& first_failed_;
    std::size_t index_;
    Progress* progress_;
    DateCache date_cache_;
    std::vector<double> extras_;
    // Timestamps may take the "YYYY-MM-DD HH:MM:SS" fast path.
    bool fast_iso_ = plan_.time_format == SchemaTimeFormat::kIso8601 ||
                     plan_.time_format == SchemaTimeFormat::kAuto;
};

std::string FormatError(const std::string& name, const Chunk& c, const ChunkError& e) {
    std::string s = name + ":" + std::to_string(c.first_line + e.line);
    if (e.col > 0) s += ":" + std::to_string(e.col);
    s += ": ";
    s += e.body;
    if (e.last_line > e.line) {
        s += " (the bad record runs to line " + std::to_string(c.first_line + e.last_line) + ")";
    }
    return s;
}

// Runs fn(k) for k in [0, n) on `threads` threads that take the next k as they finish, or all on
// this thread when threads <= 1 (results are the same either way).
void ForEach(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& fn) {
    if (threads <= 1 || n <= 1) {
        for (std::size_t k = 0; k < n; ++k) fn(k);
        return;
    }
    std::atomic<std::size_t> next{0};
    ParallelChunks(std::min<std::size_t>(threads, n), threads,
                   [&](std::size_t, std::size_t, unsigned) {
                       for (std::size_t k; (k = next.fetch_add(1)) < n;) fn(k);
                   });
}

Result<TransactionTable> ParseBuffer(std::string_view data, const std::string& name,
                                     const Schema& schema, const CsvReadOptions& options,
                                     ReadReport* report) {
    if (report != nullptr) *report = ReadReport{};
    if (options.delimiter == '"' || options.delimiter == '\n' || options.delimiter == '\r') {
        return MakeError(ErrorCode::kInvalidArgument, "CSV delimiter cannot be a quote, CR or LF");
    }
    auto valid = schema.Validate();
    if (!valid) return std::unexpected(valid.error());
    if (data.size() >= 3 && data.substr(0, 3) == "\xEF\xBB\xBF") data.remove_prefix(3);
    if (data.empty()) return MakeError(ErrorCode::kParse, name + ": no header row (empty file)");

    Parser parser(data, name, options);

    // Header.
    std::vector<FieldRef> fields;
    std::string scratch;
    RecordResult hr;
    SpecialScanner scanner(data.data(), data.size(), options.delimiter);
    parser.ParseRecord(0, &scanner, &fields, &scratch, &hr);
    if (hr.status != RecordStatus::kOk) {
        std::size_t extra_lines, col;
        parser.LineCol(0, hr.error_pos, &extra_lines, &col);
        return MakeError(ErrorCode::kParse, name + ":" + std::to_string(1 + extra_lines) + ":" +
                                                std::to_string(col) +
                                                ": header: " + parser.RecordErrorBody(hr, nullptr));
    }
    if (hr.n_fields == 1 && fields[0].len == 0 && !fields[0].quoted)
        return MakeError(ErrorCode::kParse, name + ": no header row (the first line is empty)");
    std::vector<std::string> header;
    header.reserve(hr.n_fields);
    for (std::size_t i = 0; i < hr.n_fields; ++i) header.emplace_back(fields[i].view());
    auto plan_r = MakePlan(header, schema, name);
    if (!plan_r) return std::unexpected(plan_r.error());
    const Plan& plan = *plan_r;

    const std::size_t body_begin = hr.next;
    const std::size_t body_size = data.size() - body_begin;
    const std::size_t header_lines = CountNewlines(data.data(), body_begin);

    // Chunks.
    const std::size_t min_chunk = std::max<std::size_t>(options.min_chunk_bytes, 1);
    const unsigned threads = std::min(ResolveThreads(options.threads), kMaxChunks);
    const auto n_chunks =
        static_cast<unsigned>(std::clamp<std::size_t>(body_size / min_chunk, 1, threads));
    std::vector<std::size_t> nominal(n_chunks + 1);
    for (unsigned k = 0; k <= n_chunks; ++k)
        nominal[k] = body_begin + body_size / n_chunks * k + body_size % n_chunks * k / n_chunks;
    std::vector<std::size_t> quotes(n_chunks), newlines(n_chunks);
    // Real threads only pay off above a few hundred KB; below, the chunks run on this thread.
    const unsigned workers = body_size >= (256u << 10) ? std::min(threads, n_chunks) : 1;
    ForEach(n_chunks, workers, [&](std::size_t k) {
        CountQuotesAndNewlines(data.data() + nominal[k], nominal[k + 1] - nominal[k], &quotes[k],
                               &newlines[k]);
    });

    std::vector<Chunk> chunks(n_chunks);
    {
        std::size_t quotes_before = 0, lines_before = 0;  // in [body_begin, nominal[k])
        std::size_t prev_begin = body_begin, prev_lines = 0;
        for (unsigned k = 0; k < n_chunks; ++k) {
            std::size_t begin = body_begin;
            std::size_t lines_at_begin = 0;  // newlines in [body_begin, begin)
            if (k > 0 && prev_begin > nominal[k]) {
                // The previous boundary is already past this one (a long quoted field): no
                // record starts in between, so this chunk starts there too (and the previous
                // one is empty). Scanning again would make long quoted fields quadratic.
                begin = prev_begin;
                lines_at_begin = prev_lines;
            } else if (k > 0) {
                // First newline at or after nominal[k] with an even number of quotes before it.
                bool odd = (quotes_before & 1) != 0;
                std::size_t p = nominal[k];
                for (; p < data.size(); ++p) {
                    const char ch = data[p];
                    if (ch == '"') {
                        odd = !odd;
                    } else if (ch == '\n' && !odd) {
                        break;
                    }
                }
                begin = p < data.size() ? p + 1 : data.size();
                lines_at_begin =
                    lines_before + CountNewlines(data.data() + nominal[k], begin - nominal[k]);
            }
            chunks[k].begin = begin;
            chunks[k].first_line = 1 + header_lines + lines_at_begin;
            prev_begin = begin;
            prev_lines = lines_at_begin;
            quotes_before += quotes[k];
            lines_before += newlines[k];
        }
        for (unsigned k = 0; k < n_chunks; ++k) {
            chunks[k].end = k + 1 < n_chunks ? chunks[k + 1].begin : data.size();
            const std::size_t lines_in =
                k + 1 < n_chunks ? chunks[k + 1].first_line - chunks[k].first_line
                                 : 1 + header_lines + lines_before - chunks[k].first_line + 1;
            const std::size_t bytes = chunks[k].end - chunks[k].begin;
            chunks[k].rows_estimate =
                std::min(lines_in, bytes / std::max<std::size_t>(header.size(), 1) + 2);
        }
        // Chunk 0's columns become the table's: room for every row (reserved, not touched).
        for (unsigned k = 1; k < n_chunks; ++k) chunks[0].rows_estimate += chunks[k].rows_estimate;
        // Transaction id characters: a guess (a field's share of the body, plus a margin).
        for (unsigned k = 0; k < n_chunks; ++k) {
            const std::size_t bytes = k == 0 ? body_size : chunks[k].end - chunks[k].begin;
            chunks[k].tx_chars_estimate =
                bytes / std::max<std::size_t>(header.size(), 1) * 5 / 4 + 64;
        }
    }

    std::unique_ptr<Progress> progress;
    if (options.show_progress && body_size > kProgressMinBytes)
        progress = std::make_unique<Progress>("reading " + name, body_size);

    std::atomic<std::size_t> first_failed{n_chunks};
    ForEach(n_chunks, workers, [&](std::size_t k) {
        if (first_failed.load() < k) return;  // an earlier chunk already has the first error
        ChunkParser cp(parser, plan, options, &chunks[k], &first_failed, k, progress.get());
        cp.Run();
    });
    if (progress) progress->Finish();

    // Errors.
    if (options.on_error == OnError::kFail) {
        for (const auto& c : chunks) {
            if (c.failed) {
                std::string msg = FormatError(name, c, c.errors.front());
                if (report != nullptr) report->first_errors.push_back(msg);
                return MakeError(ErrorCode::kParse, std::move(msg));
            }
        }
    }
    std::size_t rows = 0, skipped = 0;
    std::vector<std::string> first_errors;
    for (const auto& c : chunks) {
        rows += c.rows;
        skipped += c.skipped;
        for (const auto& e : c.errors)
            if (first_errors.size() < options.max_reported_errors)
                first_errors.push_back(FormatError(name, c, e));
    }

    // Assemble the table. Chunk 0's vectors were reserved for every row: the other chunks are
    // appended to them (categorical ids remapped on the way) and they are moved into the table.
    // One job per column, run on the reader's threads.
    TransactionTable t;
    t.rows = rows;
    CategoricalColumn* cats[kNumCats] = {&t.customer, &t.terminal, &t.category, &t.channel,
                                         &t.country};
    // Chunk-local ids -> the table's pool, interned in chunk order: first seen in the file first.
    std::array<std::vector<std::vector<std::uint32_t>>, kNumCats> remap;
    for (unsigned cat = 0; cat < kNumCats; ++cat) {
        if (!plan.has_cat[cat]) continue;
        remap[cat].resize(n_chunks);
        for (unsigned k = 0; k < n_chunks; ++k) {
            const LocalPool& lp = chunks[k].pools[cat];
            remap[cat][k].resize(lp.size());
            for (std::size_t i = 0; i < lp.size(); ++i)
                remap[cat][k][i] = cats[cat]->pool.Intern(lp.Get(i));
            chunks[k].pools[cat] = LocalPool();
        }
    }
    std::vector<std::function<void()>> jobs;
    if (plan.has_tx) {
        jobs.emplace_back([&] {
            t.tx_id = std::move(chunks[0].tx);
            for (std::size_t k = 1; k < chunks.size(); ++k) {
                const StringColumn& src = chunks[k].tx;
                for (std::size_t i = 0; i < src.size(); ++i) t.tx_id.Append(src.Get(i));
                chunks[k].tx = StringColumn();
            }
        });
    }
    for (unsigned cat = 0; cat < kNumCats; ++cat) {
        if (!plan.has_cat[cat]) continue;
        jobs.emplace_back([&, cat] {
            // Chunk 0's local ids are already the table's ids.
            auto& dst = chunks[0].cat_ids[cat];
            for (std::size_t k = 1; k < chunks.size(); ++k) {
                auto& src = chunks[k].cat_ids[cat];
                const auto& map = remap[cat][k];
                const std::size_t old = dst.size();
                dst.resize(old + src.size());
                for (std::size_t i = 0; i < src.size(); ++i) dst[old + i] = map[src[i]];
                std::vector<std::uint32_t>().swap(src);
            }
            cats[cat]->ids = std::move(dst);
        });
    }
    auto concat = [&](auto* out, auto get) {
        jobs.emplace_back([&chunks, out, get] {
            auto& dst = *get(chunks[0]);
            for (std::size_t k = 1; k < chunks.size(); ++k) {
                auto& src = *get(chunks[k]);
                dst.insert(dst.end(), src.begin(), src.end());
                std::remove_reference_t<decltype(src)>().swap(src);
            }
            *out = std::move(dst);
        });
    };
    if (plan.has_ts) concat(&t.ts_ms, [](Chunk& c) { return &c.ts; });
    if (plan.has_amount) concat(&t.amount, [](Chunk& c) { return &c.amount; });
    if (plan.has_lat) concat(&t.lat, [](Chunk& c) { return &c.lat; });
    if (plan.has_lon) concat(&t.lon, [](Chunk& c) { return &c.lon; });
    if (plan.has_label) concat(&t.label, [](Chunk& c) { return &c.label; });
    if (plan.has_scenario) concat(&t.fraud_scenario, [](Chunk& c) { return &c.scenario; });
    t.extra_names = plan.extra_names;
    t.extra.resize(plan.extra_names.size());
    for (std::size_t j = 0; j < plan.extra_names.size(); ++j)
        concat(&t.extra[j], [j](Chunk& c) { return &c.extra[j]; });
    ForEach(jobs.size(), workers, [&](std::size_t j) { jobs[j](); });
    t.CheckConsistent();

    if (report != nullptr) {
        report->rows_read = rows;
        report->rows_skipped = skipped;
        report->first_errors = std::move(first_errors);
    }
    return t;
}

}  // namespace

Result<TransactionTable> ParseTransactionsCsv(std::string_view bytes, const std::string& name,
                                              const Schema& schema, const CsvReadOptions& options,
                                              ReadReport* report) {
    if (csv_internal::IsGzip(bytes)) {
        auto text = csv_internal::Gunzip(bytes, name);
        if (!text) return std::unexpected(text.error());
        return ParseBuffer(*text, name, schema, options, report);
    }
    return ParseBuffer(bytes, name, schema, options, report);
}

Result<TransactionTable> ReadTransactionsCsv(const std::string& path, const Schema& schema,
                                             const CsvReadOptions& options, ReadReport* report) {
    auto file = csv_internal::MappedFile::Open(path);
    if (!file) return std::unexpected(file.error());
    const std::string_view bytes = file->bytes();
    if (csv_internal::IsGzip(bytes)) {
        std::unique_ptr<Progress> progress;
        if (options.show_progress && bytes.size() > kProgressMinBytes / 4)
            progress = std::make_unique<Progress>("decompressing " + path, bytes.size());
        auto text = csv_internal::Gunzip(bytes, path, progress.get());
        if (progress) progress->Finish();
        if (!text) return std::unexpected(text.error());
        *file = csv_internal::MappedFile();  // release the compressed bytes before parsing
        return ParseBuffer(*text, path, schema, options, report);
    }
    return ParseBuffer(bytes, path, schema, options, report);
}

}  // namespace txguard
