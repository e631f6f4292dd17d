// WriteTransactionsCsv and CsvEscape (include/txguard/data/csv.hpp).
//
// Rows are formatted in blocks on all hardware threads (std::to_chars, no iostreams) and written
// in order with POSIX write(). A .gz path is compressed pigz-style: every block is deflated on its
// own thread as raw deflate ending in a sync flush (the last one finishes the stream), and the
// pieces are joined into one ordinary gzip member with a combined CRC-32, so any gzip reader
// (zlib's gzread, inflate with a gzip window, gunzip) reads it back.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/parallel.hpp"
#include "txguard/core/time.hpp"
#include "txguard/data/csv.hpp"

namespace txguard {
namespace {

constexpr std::size_t kRowsPerBlock = 1 << 16;
// Fastest level: about 3x the speed of the default (6) for output about 13% larger on this data.
constexpr int kGzipLevel = Z_BEST_SPEED;

constexpr bool IsSpecial(char c) { return c == ',' || c == '"' || c == '\n' || c == '\r'; }

bool NeedsQuoting(std::string_view s) {
    for (const char c : s) {
        if (IsSpecial(c)) return true;
    }
    return false;
}

// A growable byte buffer without zero-initialisation; callers Reserve before raw writes.
class OutBuf {
  public:
    void Reserve(std::size_t extra) {
        if (size_ + extra <= cap_) return;
        const std::size_t cap = std::max(cap_ * 2, size_ + extra + 4096);
        auto data = std::make_unique_for_overwrite<char[]>(cap);
        if (size_) std::memcpy(data.get(), data_.get(), size_);
        data_ = std::move(data);
        cap_ = cap;
    }
    char* tail() { return data_.get() + size_; }
    void SetTail(char* p) { size_ = static_cast<std::size_t>(p - data_.get()); }
    void Append(std::string_view s) {
        Reserve(s.size());
        std::memcpy(tail(), s.data(), s.size());
        size_ += s.size();
    }
    const char* data() const { return data_.get(); }
    std::size_t size() const { return size_; }
    void Clear() { size_ = 0; }

  private:
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t cap_ = 0;
};

enum class ColKind {
    kId,
    kTime,
    kCategorical,
    kNumber,  // double; NaN written as an empty field
    kLabel,
    kScenario,
    kTimeSeconds,  // derived: seconds since midnight of the table's first day
    kTimeDays,     // derived: days since that midnight
};

struct OutColumn {
    OutColumn(ColKind k, std::string n) : kind(k), name(std::move(n)) {}

    ColKind kind;
    std::string name;
    const CategoricalColumn* cat = nullptr;
    std::vector<std::string_view> cat_text;  // pool strings, escaped where needed
    std::vector<std::string> cat_escaped;    // storage for the escaped ones
    // When every (escaped) pool string fits in kSlot bytes: string i at cat_slots[i * kSlot],
    // padded, so a field is one fixed-size copy.
    std::vector<char> cat_slots;
    std::vector<std::uint8_t> cat_len;
    const std::vector<double>* num = nullptr;
};

// Largest bytes a field of fixed-width kind can take, with its delimiter.
constexpr std::size_t kMaxNumberField = 32;
// Short strings are copied as one block of this size (the buffer always has kMaxNumberField free).
constexpr std::size_t kSlot = 16;

struct Plan {
    const TransactionTable* table = nullptr;
    std::vector<OutColumn> columns;
    std::int64_t origin_ms = 0;     // midnight of the first day (derived columns)
    const char* ids_end = nullptr;  // end of the transaction ids' character buffer
};

// Shortest round-trip text of v, as std::to_chars(p, end, v) writes it; empty for NaN. Amounts are
// mostly whole cents: for |v| < 1e5 that equal n / 100 for an integer n, the text is n with a
// decimal point, trailing zeros dropped, which is what to_chars writes (checked for every such n
// when this was written), at a fraction of its cost.
char* PutDouble(char* p, double v) {
    if (std::isnan(v)) return p;
    if (std::fabs(v) < 1e5) {
        const double r = std::nearbyint(v * 100.0);
        if (r / 100.0 == v && !(v == 0.0 && std::signbit(v))) {
            auto n = static_cast<std::int64_t>(r);
            if (n < 0) {
                *p++ = '-';
                n = -n;
            }
            p = std::to_chars(p, p + kMaxNumberField, n / 100).ptr;
            const auto frac = static_cast<unsigned>(n % 100);
            if (frac != 0) {
                *p++ = '.';
                *p++ = static_cast<char>('0' + frac / 10);
                if (frac % 10 != 0) *p++ = static_cast<char>('0' + frac % 10);
            }
            return p;
        }
    }
    return std::to_chars(p, p + kMaxNumberField, v).ptr;
}

// Formats rows [begin, end) into out.
void FormatRows(const Plan& plan, std::size_t begin, std::size_t end, OutBuf& out) {
    const TransactionTable& t = *plan.table;
    char date[11];
    std::int64_t date_day = INT64_MIN;
    for (std::size_t row = begin; row < end; ++row) {
        out.Reserve(plan.columns.size() * kMaxNumberField + 2);
        for (std::size_t ci = 0; ci < plan.columns.size(); ++ci) {
            const OutColumn& col = plan.columns[ci];
            char* p = out.tail();
            if (ci > 0) *p++ = ',';
            switch (col.kind) {
                case ColKind::kId: {
                    if (t.tx_id.empty()) {
                        p = std::to_chars(p, p + kMaxNumberField, row).ptr;
                        break;
                    }
                    const std::string_view id = t.tx_id.Get(row);
                    if (id.size() <= kSlot && id.data() + kSlot <= plan.ids_end) {
                        // Copy a whole slot (inside the id buffer), keep id.size() of it.
                        std::memcpy(p, id.data(), kSlot);
                        bool plain = true;
                        for (std::size_t k = 0; k < id.size(); ++k) plain &= !IsSpecial(id[k]);
                        if (plain) {
                            p += id.size();
                            break;
                        }
                    }
                    if (NeedsQuoting(id)) {
                        out.SetTail(p);
                        out.Append(CsvEscape(id));
                    } else {
                        out.SetTail(p);
                        out.Append(id);
                    }
                    out.Reserve((plan.columns.size() - ci) * kMaxNumberField + 2);
                    p = out.tail();
                    break;
                }
                case ColKind::kTime: {
                    const std::int64_t ts = t.ts_ms[row];
                    const std::int64_t day = DayIndex(ts);
                    if (day != date_day) {
                        char full[19];
                        FormatTimestamp(day * kMsPerDay, full);
                        std::memcpy(date, full, 11);
                        date_day = day;
                    }
                    std::memcpy(p, date, 11);
                    const auto secs = static_cast<unsigned>((ts - day * kMsPerDay) / kMsPerSecond);
                    const unsigned hh = secs / 3600, mm = secs / 60 % 60, ss = secs % 60;
                    p[11] = static_cast<char>('0' + hh / 10);
                    p[12] = static_cast<char>('0' + hh % 10);
                    p[13] = ':';
                    p[14] = static_cast<char>('0' + mm / 10);
                    p[15] = static_cast<char>('0' + mm % 10);
                    p[16] = ':';
                    p[17] = static_cast<char>('0' + ss / 10);
                    p[18] = static_cast<char>('0' + ss % 10);
                    p += 19;
                    break;
                }
                case ColKind::kCategorical: {
                    const std::uint32_t id = col.cat->ids[row];
                    if (!col.cat_slots.empty()) {
                        std::memcpy(p, col.cat_slots.data() + std::size_t{id} * kSlot, kSlot);
                        p += col.cat_len[id];
                        break;
                    }
                    const std::string_view s = col.cat_text[id];
                    out.SetTail(p);
                    out.Append(s);
                    out.Reserve((plan.columns.size() - ci) * kMaxNumberField + 2);
                    p = out.tail();
                    break;
                }
                case ColKind::kNumber:
                    p = PutDouble(p, (*col.num)[row]);
                    break;
                case ColKind::kLabel:
                    p = std::to_chars(p, p + 8, int{t.label[row]}).ptr;
                    break;
                case ColKind::kScenario:
                    p = std::to_chars(p, p + 16, t.fraud_scenario[row]).ptr;
                    break;
                case ColKind::kTimeSeconds:
                    p = std::to_chars(p, p + kMaxNumberField,
                                      FloorDiv(t.ts_ms[row] - plan.origin_ms, kMsPerSecond))
                            .ptr;
                    break;
                case ColKind::kTimeDays:
                    p = std::to_chars(p, p + kMaxNumberField,
                                      FloorDiv(t.ts_ms[row] - plan.origin_ms, kMsPerDay))
                            .ptr;
                    break;
            }
            out.SetTail(p);
        }
        char* p = out.tail();
        *p++ = '\n';
        out.SetTail(p);
    }
}

bool HasColumn(const TransactionTable& t, Field f) {
    if (t.rows == 0) return true;  // an empty table: write the header of every mapped field
    switch (f) {
        case Field::kTransactionId:
            return true;  // row numbers when the table has no ids
        case Field::kTimestamp:
            return t.has_time();
        case Field::kCustomerId:
            return t.has_customer();
        case Field::kTerminalId:
            return t.has_terminal();
        case Field::kAmount:
            return t.has_amount();
        case Field::kCategory:
            return !t.category.ids.empty();
        case Field::kChannel:
            return !t.channel.ids.empty();
        case Field::kCountry:
            return !t.country.ids.empty();
        case Field::kLat:
            return !t.lat.empty();
        case Field::kLon:
            return !t.lon.empty();
        case Field::kLabel:
            return t.has_label();
        case Field::kFraudScenario:
            return !t.fraud_scenario.empty();
    }
    return false;
}

void AddCategorical(Plan& plan, std::string name, const CategoricalColumn& cat) {
    OutColumn col{ColKind::kCategorical, std::move(name)};
    col.cat = &cat;
    const auto& strings = cat.pool.strings();
    col.cat_text.reserve(strings.size());
    std::size_t escaped = 0;
    for (const auto& s : strings) escaped += NeedsQuoting(s);
    col.cat_escaped.reserve(escaped);  // no reallocation: views into it stay valid
    for (const auto& s : strings) {
        if (NeedsQuoting(s)) {
            col.cat_escaped.push_back(CsvEscape(s));
            col.cat_text.emplace_back(col.cat_escaped.back());
        } else {
            col.cat_text.emplace_back(s);
        }
    }
    if (std::all_of(col.cat_text.begin(), col.cat_text.end(),
                    [](std::string_view s) { return s.size() <= kSlot; })) {
        col.cat_slots.assign(col.cat_text.size() * kSlot, '\0');
        col.cat_len.resize(col.cat_text.size());
        for (std::size_t i = 0; i < col.cat_text.size(); ++i) {
            std::memcpy(col.cat_slots.data() + i * kSlot, col.cat_text[i].data(),
                        col.cat_text[i].size());
            col.cat_len[i] = static_cast<std::uint8_t>(col.cat_text[i].size());
        }
    }
    plan.columns.push_back(std::move(col));
}

void AddNumber(Plan& plan, std::string name, const std::vector<double>& v) {
    OutColumn col{ColKind::kNumber, std::move(name)};
    col.num = &v;
    plan.columns.push_back(std::move(col));
}

// The handbook's file carries two columns derived from the timestamp (TX_TIME_SECONDS and
// TX_TIME_DAYS, counted from midnight of the first day); the writer reproduces them for a schema
// named "handbook" so a written table has the published file's layout. Other schemas get only
// the table's own columns.
struct DerivedTimeColumns {
    const char* schema;
    const char* seconds_column;
    const char* days_column;
};
constexpr DerivedTimeColumns kDerivedTimeColumns[] = {
    {"handbook", "TX_TIME_SECONDS", "TX_TIME_DAYS"},
};

Plan MakePlan(const TransactionTable& table, const Schema& schema) {
    Plan plan;
    plan.table = &table;
    if (!table.tx_id.empty()) {
        const std::string_view last = table.tx_id.Get(table.tx_id.size() - 1);
        plan.ids_end = last.data() + last.size();
    }
    // std::map iterates fields in enum order: transaction_id, timestamp, ..., fraud_scenario.
    for (const auto& [field, name] : schema.columns) {
        if (!HasColumn(table, field)) continue;
        switch (field) {
            case Field::kTransactionId:
                plan.columns.emplace_back(ColKind::kId, name);
                break;
            case Field::kTimestamp:
                plan.columns.emplace_back(ColKind::kTime, name);
                break;
            case Field::kCustomerId:
                AddCategorical(plan, name, table.customer);
                break;
            case Field::kTerminalId:
                AddCategorical(plan, name, table.terminal);
                break;
            case Field::kCategory:
                AddCategorical(plan, name, table.category);
                break;
            case Field::kChannel:
                AddCategorical(plan, name, table.channel);
                break;
            case Field::kCountry:
                AddCategorical(plan, name, table.country);
                break;
            case Field::kAmount:
                AddNumber(plan, name, table.amount);
                break;
            case Field::kLat:
                AddNumber(plan, name, table.lat);
                break;
            case Field::kLon:
                AddNumber(plan, name, table.lon);
                break;
            case Field::kLabel:
                plan.columns.emplace_back(ColKind::kLabel, name);
                break;
            case Field::kFraudScenario:
                plan.columns.emplace_back(ColKind::kScenario, name);
                break;
        }
    }
    for (std::size_t j = 0; j < table.extra.size(); ++j)
        AddNumber(plan, table.extra_names[j], table.extra[j]);

    if (table.has_time() || table.rows == 0) {
        for (const auto& d : kDerivedTimeColumns) {
            if (schema.name != d.schema) continue;
            auto taken = [&](std::string_view n) {
                return std::any_of(plan.columns.begin(), plan.columns.end(),
                                   [&](const OutColumn& c) { return c.name == n; });
            };
            if (taken(d.seconds_column) || taken(d.days_column)) continue;
            plan.columns.emplace_back(ColKind::kTimeSeconds, d.seconds_column);
            plan.columns.emplace_back(ColKind::kTimeDays, d.days_column);
            if (table.has_time()) {
                const std::int64_t first =
                    *std::min_element(table.ts_ms.begin(), table.ts_ms.end());
                plan.origin_ms = DayIndex(first) * kMsPerDay;
            }
        }
    }
    return plan;
}

// The output file: POSIX writes, errors naming the path.
class Sink {
  public:
    explicit Sink(std::string path) : path_(std::move(path)) {}
    ~Sink() {
        if (fd_ >= 0) ::close(fd_);
    }
    Sink(const Sink&) = delete;
    Sink& operator=(const Sink&) = delete;

    Result<void> Open() {
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd_ < 0) {
            const int err = errno;
            return MakeError(ErrorCode::kIo,
                             "cannot open " + path_ + " for writing: " + std::strerror(err),
                             err == ENOENT ? "does the directory exist?" : "");
        }
        struct stat st {};
        regular_ = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
        return Ok();
    }

    Result<void> Write(const char* data, std::size_t n) {
        while (n > 0) {
            const ssize_t w = ::write(fd_, data, n);
            if (w < 0) {
                const int err = errno;
                if (err == EINTR) continue;
                return Fail(err);
            }
            data += w;
            n -= static_cast<std::size_t>(w);
        }
        return Ok();
    }

    Result<void> Close() {
        const int rc = ::close(fd_);
        const int err = errno;
        fd_ = -1;
        if (rc != 0) return Fail(err);
        return Ok();
    }

  private:
    // Removes a partly written regular file (never a device such as /dev/full).
    Result<void> Fail(int err) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        if (regular_) ::unlink(path_.c_str());
        return MakeError(
            ErrorCode::kIo, "cannot write " + path_ + ": " + std::strerror(err),
            err == ENOSPC || err == EDQUOT ? "free some space or write elsewhere" : "");
    }

    std::string path_;
    int fd_ = -1;
    bool regular_ = false;
};

// One block's raw deflate output (see the file comment).
struct Deflated {
    std::string bytes;
    uLong crc = 0;
    std::size_t raw_size = 0;
    bool ok = true;
};

void DeflateBlock(const OutBuf& in, bool last, Deflated& out) {
    out.crc = crc32(0L, Z_NULL, 0);
    out.raw_size = in.size();
    out.ok = true;
    std::size_t done = 0;
    while (done < in.size()) {  // crc32 takes a uInt length
        const auto len = static_cast<uInt>(std::min<std::size_t>(in.size() - done, 1u << 30));
        out.crc = crc32(out.crc, reinterpret_cast<const Bytef*>(in.data() + done), len);
        done += len;
    }
    z_stream zs{};
    if (deflateInit2(&zs, kGzipLevel, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        out.ok = false;
        return;
    }
    out.bytes.resize(deflateBound(&zs, static_cast<uLong>(in.size())) + 64);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.bytes.data());
    zs.avail_out = static_cast<uInt>(out.bytes.size());
    const int flush = last ? Z_FINISH : Z_SYNC_FLUSH;
    for (;;) {
        const int rc = deflate(&zs, flush);
        if (rc == Z_STREAM_END) break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            out.ok = false;
            break;
        }
        if (!last && zs.avail_in == 0 && zs.avail_out > 0) break;  // sync flush complete
        if (zs.avail_out == 0) {
            const std::size_t used = out.bytes.size();
            out.bytes.resize(used * 2);
            zs.next_out = reinterpret_cast<Bytef*>(out.bytes.data() + used);
            zs.avail_out = static_cast<uInt>(out.bytes.size() - used);
        }
    }
    out.bytes.resize(out.bytes.size() - zs.avail_out);
    deflateEnd(&zs);
}

void PutLe32(char* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

bool EndsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string CsvEscape(std::string_view field) {
    if (!NeedsQuoting(field)) return std::string(field);
    std::string out;
    out.reserve(field.size() + 2);
    out.push_back('"');
    for (const char c : field) {
        if (c == '"') out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

Result<void> WriteTransactionsCsv(const TransactionTable& table, const Schema& schema,
                                  const std::string& path) {
    table.CheckConsistent();
    const Plan plan = MakePlan(table, schema);
    if (plan.columns.empty()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "nothing to write to " + path + ": schema \"" + schema.name +
                             "\" maps no column the table has",
                         "map at least one field (transaction_id, timestamp, amount, ...)");
    }
    const bool gzip = EndsWith(path, ".gz");

    Sink sink(path);
    TXG_RETURN_IF_ERROR(sink.Open());
    if (gzip) {
        // Fixed 10-byte gzip header: deflate, no name, no mtime (reproducible output), Unix.
        const char header[10] = {'\x1f', '\x8b', 8, 0, 0, 0, 0, 0, 0, 3};
        TXG_RETURN_IF_ERROR(sink.Write(header, sizeof header));
    }

    const unsigned threads = ResolveThreads(0);
    const std::size_t blocks =
        std::max<std::size_t>(1, (table.rows + kRowsPerBlock - 1) / kRowsPerBlock);
    std::vector<OutBuf> text(threads);
    std::vector<Deflated> packed(threads);
    uLong crc = crc32(0L, Z_NULL, 0);
    std::uint64_t raw_total = 0;
    for (std::size_t first = 0; first < blocks; first += threads) {
        const std::size_t batch = std::min<std::size_t>(threads, blocks - first);
        ParallelChunks(
            batch, static_cast<unsigned>(batch), [&](std::size_t b, std::size_t e, unsigned) {
                for (std::size_t i = b; i < e; ++i) {
                    const std::size_t block = first + i;
                    OutBuf& out = text[i];
                    out.Clear();
                    if (block == 0) {
                        for (std::size_t c = 0; c < plan.columns.size(); ++c) {
                            if (c > 0) out.Append(",");
                            out.Append(CsvEscape(plan.columns[c].name));
                        }
                        out.Append("\n");
                    }
                    const std::size_t row_begin = block * kRowsPerBlock;
                    const std::size_t row_end = std::min(table.rows, row_begin + kRowsPerBlock);
                    if (row_begin < row_end) FormatRows(plan, row_begin, row_end, out);
                    if (gzip) DeflateBlock(out, block + 1 == blocks, packed[i]);
                }
            });
        for (std::size_t i = 0; i < batch; ++i) {
            if (!gzip) {
                TXG_RETURN_IF_ERROR(sink.Write(text[i].data(), text[i].size()));
                continue;
            }
            if (!packed[i].ok) {
                return MakeError(ErrorCode::kInternal, "zlib failed to compress " + path);
            }
            TXG_RETURN_IF_ERROR(sink.Write(packed[i].bytes.data(), packed[i].bytes.size()));
            crc = crc32_combine(crc, packed[i].crc, static_cast<z_off_t>(packed[i].raw_size));
            raw_total += packed[i].raw_size;
        }
    }
    if (gzip) {
        char trailer[8];
        PutLe32(trailer, static_cast<std::uint32_t>(crc));
        PutLe32(trailer + 4, static_cast<std::uint32_t>(raw_total & 0xffffffffu));
        TXG_RETURN_IF_ERROR(sink.Write(trailer, sizeof trailer));
    }
    return sink.Close();
}

}  // namespace txguard
