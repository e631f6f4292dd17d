#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>

#include "txguard/core/rng.hpp"
#include "txguard/core/time.hpp"
#include "txguard/data/csv.hpp"
#include "txguard/data/schema.hpp"

namespace txguard {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// ---- helpers ----

Schema Mini(SchemaTimeFormat tf = SchemaTimeFormat::kIso8601) {
    Schema s;
    s.name = "mini";
    s.columns = {{Field::kTransactionId, "id"}, {Field::kTimestamp, "ts"},
                 {Field::kCustomerId, "cust"},  {Field::kTerminalId, "term"},
                 {Field::kAmount, "amt"},       {Field::kLabel, "fraud"}};
    s.time_format = tf;
    return s;
}

// Every field, plus two extras.
Schema Full() {
    Schema s = Mini();
    s.name = "full";
    s.columns[Field::kCategory] = "cat";
    s.columns[Field::kChannel] = "chan";
    s.columns[Field::kCountry] = "cc";
    s.columns[Field::kLat] = "lat";
    s.columns[Field::kLon] = "lon";
    s.columns[Field::kFraudScenario] = "scen";
    s.extra_columns = {"x1", "x2"};
    return s;
}

CsvReadOptions Opt(unsigned threads = 1, OnError mode = OnError::kFail) {
    CsvReadOptions o;
    o.threads = threads;
    o.on_error = mode;
    o.min_chunk_bytes = 1;  // small inputs still get `threads` chunks
    o.show_progress = false;
    return o;
}

Result<TransactionTable> Parse(const std::string& csv, const Schema& schema = Mini(),
                               const CsvReadOptions& o = Opt(), ReadReport* report = nullptr) {
    return ParseTransactionsCsv(csv, "t.csv", schema, o, report);
}

std::string ErrorOf(const std::string& csv, const Schema& schema = Mini(),
                    const CsvReadOptions& o = Opt()) {
    auto r = Parse(csv, schema, o);
    if (r) return "(no error)";
    return r.error().message;
}

std::int64_t Ts(const char* text) { return ParseTimestamp(text).value(); }

std::vector<std::string> PoolStrings(const CategoricalColumn& c) { return c.pool.strings(); }

class TempFile {
  public:
    TempFile(const std::string& name, const std::string& contents) {
        path_ = (std::filesystem::temp_directory_path() /
                 ("txguard_csv_test_" + std::to_string(::getpid()) + "_" + name))
                    .string();
        std::ofstream(path_, std::ios::binary) << contents;
    }
    ~TempFile() { std::filesystem::remove(path_); }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

std::string Gzip(const std::string& data) {
    z_stream zs{};
    EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs.avail_in = static_cast<uInt>(data.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

constexpr const char* kHeader = "id,ts,cust,term,amt,fraud\n";
constexpr const char* kRow1 = "1,2018-04-01 00:00:31,C1,T1,10.5,0\n";

// ---- basic reading ----

TEST(CsvReader, ReadsMappedColumns) {
    const std::string csv = std::string(kHeader) + kRow1 +
                            "2,2018-04-01 00:01:00,C2,T1,12,1\n"
                            "3,2018-04-02 10:00:00,C1,T2,0.25,0\n";
    ReadReport report;
    auto t = Parse(csv, Mini(), Opt(), &report);
    ASSERT_TRUE(t) << t.error().message;
    t->CheckConsistent();
    EXPECT_EQ(t->rows, 3u);
    EXPECT_EQ(report.rows_read, 3u);
    EXPECT_EQ(report.rows_skipped, 0u);
    EXPECT_TRUE(report.first_errors.empty());
    ASSERT_EQ(t->tx_id.size(), 3u);
    EXPECT_EQ(t->tx_id.Get(1), "2");
    EXPECT_EQ(t->ts_ms,
              (std::vector<std::int64_t>{Ts("2018-04-01 00:00:31"), Ts("2018-04-01 00:01:00"),
                                         Ts("2018-04-02 10:00:00")}));
    EXPECT_EQ(t->customer.ids, (std::vector<std::uint32_t>{0, 1, 0}));
    EXPECT_EQ(PoolStrings(t->customer), (std::vector<std::string>{"C1", "C2"}));
    EXPECT_EQ(t->terminal.ids, (std::vector<std::uint32_t>{0, 0, 1}));
    EXPECT_EQ(t->amount, (std::vector<double>{10.5, 12, 0.25}));
    EXPECT_EQ(t->label, (std::vector<std::int8_t>{0, 1, 0}));
    EXPECT_TRUE(t->fraud_scenario.empty());
    EXPECT_TRUE(t->lat.empty());
    EXPECT_TRUE(t->extra.empty());
    EXPECT_FALSE(t->category.present());
}

TEST(CsvReader, ColumnsAreFoundByNameInAnyOrder) {
    const std::string csv =
        "fraud,unused,amt,term,cust,ts,id\n"
        "1,zzz,5,T9,C9,2018-04-01 00:00:00,a\n";
    auto t = Parse(csv);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->tx_id.Get(0), "a");
    EXPECT_EQ(t->amount[0], 5);
    EXPECT_EQ(t->label[0], 1);
    EXPECT_EQ(t->customer.pool.Get(0), "C9");
}

TEST(CsvReader, Rfc4180Quoting) {
    const std::string csv = std::string(kHeader) +
                            "\"1\",\"2018-04-01 00:00:31\",\"C,1\",\"T\"\"1\"\"\",10.5,0\n"
                            "2,2018-04-01 00:01:00,\"multi\nline\",T1,\"12\",1\n"
                            "\"3\"\"x\",2018-04-02 10:00:00,C3,\"\",0.25,\"0\"\n";
    // The empty quoted terminal is a missing required field.
    EXPECT_EQ(ErrorOf(csv), "t.csv:5:31: column term: missing required field (terminal_id)");
    const std::string ok = std::string(kHeader) +
                           "\"1\",\"2018-04-01 00:00:31\",\"C,1\",\"T\"\"1\"\"\",10.5,0\n"
                           "2,2018-04-01 00:01:00,\"multi\nline\",T1,\"12\",1\n"
                           "\"3\"\"x\",2018-04-02 10:00:00,C3,\"a\"\"\",0.25,\"0\"\n";
    auto t = Parse(ok);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->rows, 3u);
    EXPECT_EQ(t->tx_id.Get(2), "3\"x");
    EXPECT_EQ(PoolStrings(t->customer), (std::vector<std::string>{"C,1", "multi\nline", "C3"}));
    EXPECT_EQ(PoolStrings(t->terminal), (std::vector<std::string>{"T\"1\"", "T1", "a\""}));
    EXPECT_EQ(t->amount[1], 12);
}

TEST(CsvReader, InternsIdsInFirstSeenOrder) {
    // Small decimal ids take a direct-array path, others a hash table: one id space either way.
    const std::vector<std::string> values = {
        "5", "05", "5", "1048576", "1048575", "abc", "5",       "abcdefghij", "abcdefghij",
        "0", "00", "0", "1048576", "\"q\"",   "-1",  "9999999", "12345678"};
    std::string csv = "cust,id,ts,term,amt,fraud\n";
    for (std::size_t i = 0; i < values.size(); ++i)
        csv += values[i] + "," + std::to_string(i) + ",2018-04-01 00:00:00,t,1,0\n";
    // The last id ends right at the end of the data.
    csv += "abcdefgh,99,2018-04-01 00:00:00,Z,1,0\nz,100,2018-04-01 00:00:00,t,1,1";
    for (unsigned threads : {1u, 3u}) {
        auto t = Parse(csv, Mini(), Opt(threads));
        ASSERT_TRUE(t) << t.error().message;
        const std::vector<std::string> expected_pool = {
            "5",  "05", "1048576", "1048575", "abc",      "abcdefghij", "0",
            "00", "q",  "-1",      "9999999", "12345678", "abcdefgh",   "z"};
        EXPECT_EQ(PoolStrings(t->customer), expected_pool);
        ASSERT_EQ(t->customer.ids.size(), values.size() + 2);
        for (std::size_t i = 0; i < values.size(); ++i) {
            std::string v = values[i];
            if (v == "\"q\"") v = "q";
            EXPECT_EQ(t->customer.pool.Get(t->customer.ids[i]), v) << i;
        }
        EXPECT_EQ(PoolStrings(t->terminal), (std::vector<std::string>{"t", "Z"}));
    }
}

TEST(CsvReader, OptionalStringsAndNumbersMayBeEmpty) {
    const std::string csv =
        "id,ts,cust,term,amt,fraud,cat,chan,cc,lat,lon,scen,x1,x2\n"
        "1,2018-04-01 00:00:31,C1,T1,1,0,,\"\",,,,,,\n"
        "2,2018-04-01 00:00:32,C1,T1,2,1,food,pos,BE, 50.5 ,4.25,3,-1e3,nan\n";
    auto t = Parse(csv, Full());
    ASSERT_TRUE(t) << t.error().message;
    t->CheckConsistent();
    EXPECT_EQ(PoolStrings(t->category), (std::vector<std::string>{"", "food"}));
    EXPECT_EQ(PoolStrings(t->channel), (std::vector<std::string>{"", "pos"}));
    EXPECT_EQ(PoolStrings(t->country), (std::vector<std::string>{"", "BE"}));
    EXPECT_TRUE(std::isnan(t->lat[0]));
    EXPECT_TRUE(std::isnan(t->lon[0]));
    EXPECT_EQ(t->lat[1], 50.5);
    EXPECT_EQ(t->lon[1], 4.25);
    EXPECT_EQ(t->fraud_scenario, (std::vector<std::int32_t>{0, 3}));
    EXPECT_EQ(t->extra_names, (std::vector<std::string>{"x1", "x2"}));
    ASSERT_EQ(t->extra.size(), 2u);
    EXPECT_TRUE(std::isnan(t->extra[0][0]));
    EXPECT_EQ(t->extra[0][1], -1000);
    EXPECT_TRUE(std::isnan(t->extra[1][1]));

    EXPECT_EQ(ErrorOf("id,ts,cust,term,amt,fraud,cat,chan,cc,lat,lon,scen,x1,x2\n"
                      "1,2018-04-01 00:00:31,C1,T1,1,0,,,,,,,1x,\n",
                      Full()),
              "t.csv:2:39: column x1: expected a number or an empty field, got \"1x\"");
    EXPECT_EQ(ErrorOf("id,ts,cust,term,amt,fraud,cat,chan,cc,lat,lon,scen,x1,x2\n"
                      "1,2018-04-01 00:00:31,C1,T1,1,0,,,,,,2.5,,\n",
                      Full()),
              "t.csv:2:38: column scen: expected an integer fraud scenario, got \"2.5\"");
}

TEST(CsvReader, CrlfTrailingNewlineBlankLinesAndBom) {
    const std::string lf = std::string(kHeader) + kRow1 +
                           "2,2018-04-01 00:01:00,\"C2\",T1,12,1\n"
                           "3,2018-04-02 10:00:00,C1,\"T2\",0.25,0\n";
    auto base = Parse(lf);
    ASSERT_TRUE(base) << base.error().message;
    const std::uint64_t fp = base->Fingerprint();

    std::string crlf;
    for (char c : lf) {
        if (c == '\n') crlf += '\r';
        crlf += c;
    }
    std::string no_final = lf.substr(0, lf.size() - 1);
    std::string no_final_crlf = crlf.substr(0, crlf.size() - 2);
    std::string blank = std::string(kHeader) + "\n" + kRow1 + "\r\n\n" +
                        "2,2018-04-01 00:01:00,\"C2\",T1,12,1\n"
                        "3,2018-04-02 10:00:00,C1,\"T2\",0.25,0\n\n\n";
    std::string bom = "\xEF\xBB\xBF" + lf;
    for (const auto& v : {crlf, no_final, no_final_crlf, blank, bom}) {
        for (unsigned threads : {1u, 2u, 3u}) {
            auto t = Parse(v, Mini(), Opt(threads));
            ASSERT_TRUE(t) << t.error().message;
            EXPECT_EQ(t->rows, 3u);
            EXPECT_EQ(t->Fingerprint(), fp);
        }
    }
    // A CR inside quotes is data.
    auto t = Parse(std::string(kHeader) + "1,2018-04-01 00:00:31,\"a\r\nb\",T1,1,0\r\n");
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->customer.pool.Get(0), "a\r\nb");
}

TEST(CsvReader, HeaderOnlyAndEmptyFiles) {
    auto t = Parse(kHeader);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->rows, 0u);
    t->CheckConsistent();
    auto t2 = Parse("id,ts,cust,term,amt,fraud");  // no newline at all
    ASSERT_TRUE(t2);
    EXPECT_EQ(t2->rows, 0u);
    EXPECT_EQ(ErrorOf(""), "t.csv: no header row (empty file)");
    EXPECT_EQ(ErrorOf("\xEF\xBB\xBF"), "t.csv: no header row (empty file)");
    EXPECT_EQ(ErrorOf("\n1,2\n"), "t.csv: no header row (the first line is empty)");
}

TEST(CsvReader, OtherDelimiters) {
    auto o = Opt();
    o.delimiter = ';';
    auto t =
        Parse("id;ts;cust;term;amt;fraud\n1;2018-04-01 00:00:31;\"C;1\";T1;10,5x;0\n", Mini(), o);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().message, "t.csv:2:32: column amt: expected a number, got \"10,5x\"");
    t = Parse("id;ts;cust;term;amt;fraud\n1;2018-04-01 00:00:31;\"C;1\";T1;10.5;0\n", Mini(), o);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->customer.pool.Get(0), "C;1");
    o.delimiter = '"';
    t = Parse(kHeader, Mini(), o);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
}

// ---- error messages ----

TEST(CsvReader, ErrorMessagesNameFileLineColumn) {
    auto with = [](const std::string& row3) {
        return ErrorOf(std::string(kHeader) + kRow1 + row3 + kRow1);
    };
    EXPECT_EQ(with("2,2018-04-01 00:01:00,C2,T2,12.5\n"), "t.csv:3: expected 6 fields, got 5");
    EXPECT_EQ(with("2,2018-04-01 00:01:00,C2,T2,12.5,0,\n"), "t.csv:3: expected 6 fields, got 7");
    EXPECT_EQ(with("2,2018-04-01 00:01:00,C2,T2,12.5x,0\n"),
              "t.csv:3:29: column amt: expected a number, got \"12.5x\"");
    EXPECT_EQ(with("2,2018-04-01 00:01:00,C2,T2,inf,0\n"),
              "t.csv:3:29: column amt: expected a number, got \"inf\"");
    const std::string bad_time = with("2,2018-04-31 00:01:00,C2,T2,12.5,0\n");
    EXPECT_THAT(bad_time, StartsWith("t.csv:3:3: column ts: expected an ISO-8601 timestamp"));
    EXPECT_THAT(bad_time, HasSubstr("got \"2018-04-31 00:01:00\""));
    EXPECT_EQ(with("2,2018-04-01 00:01:00,,T2,12.5,0\n"),
              "t.csv:3:23: column cust: missing required field (customer_id)");
    EXPECT_EQ(with(",2018-04-01 00:01:00,C2,T2,12.5,0\n"),
              "t.csv:3:1: column id: missing required field (transaction_id)");
    EXPECT_EQ(with("2,,C2,T2,12.5,0\n"),
              "t.csv:3:3: column ts: missing required field (timestamp)");
    EXPECT_EQ(with("2,2018-04-01 00:01:00,C2,T2,,0\n"),
              "t.csv:3:29: column amt: missing required field (amount)");
    EXPECT_EQ(with("2,2018-04-01 00:01:00,C2,T2,12.5,\n"),
              "t.csv:3:34: column fraud: missing required field (label)");
    EXPECT_EQ(with("2,2018-04-01 00:01:00,C2,T2,12.5,yes\n"),
              "t.csv:3:34: column fraud: expected a label 0 or 1 (or true/false), got \"yes\"");
    EXPECT_EQ(with("2,2018-04-01 00:01:00,C\"2,T2,12.5,0\n"),
              "t.csv:3:23: column cust: unexpected '\"' inside an unquoted field (quote the "
              "whole field and double the quote) (the bad record runs to line 4)");
    EXPECT_EQ(with("2,2018-04-01 00:01:00,C\"2\",T2,12.5,0\n"),
              "t.csv:3:23: column cust: unexpected '\"' inside an unquoted field (quote the "
              "whole field and double the quote)");
    EXPECT_EQ(with("2,2018-04-01 00:01:00,\"C2\"x,T2,12.5,0\n"),
              "t.csv:3:23: column cust: expected a delimiter or end of line after the closing "
              "quote, got 'x'");
    EXPECT_EQ(with("2,2018-04-01 00:01:00,\"C2,T2,12.5,0\n"),
              "t.csv:3:23: column cust: unterminated quoted field: the quote opened here is "
              "never closed before the end of the file (the bad record runs to line 4)");
}

TEST(CsvReader, LinesCountPhysicalLinesInsideQuotes) {
    // Row 1 spans lines 2-3; the bad amount of row 2 is on line 4.
    EXPECT_EQ(ErrorOf(std::string(kHeader) + "1,2018-04-01 00:00:31,\"C\n1\",T1,1,0\n"
                                             "2,2018-04-01 00:00:31,C2,T1,bad,0\n"),
              "t.csv:4:29: column amt: expected a number, got \"bad\"");
    // A bad field on the second physical line of a record: column from that line's start.
    EXPECT_EQ(ErrorOf(std::string(kHeader) + "1,2018-04-01 00:00:31,\"C\n1\",T1,bad,0\n"),
              "t.csv:3:7: column amt: expected a number, got \"bad\"");
    // Header spanning two lines.
    EXPECT_EQ(ErrorOf("id,ts,\"cu\nst\",term,amt,fraud\n1,2\n",
                      [] {
                          Schema s = Mini();
                          s.columns[Field::kCustomerId] = "cu\nst";
                          return s;
                      }()),
              "t.csv:3: expected 6 fields, got 2");
}

TEST(CsvReader, HeaderErrors) {
    EXPECT_EQ(ErrorOf("id,ts,cust,term,fraud\n"),
              "t.csv: column \"amt\" (field amount) not found; the header has: id, ts, cust, "
              "term, fraud");
    EXPECT_EQ(ErrorOf("id,ts,ts,cust,term,amt,fraud\n"),
              "t.csv:1: duplicate column name \"ts\" (columns 2 and 3)");
    EXPECT_EQ(ErrorOf("id,\"ts,cust\n"),
              "t.csv:1:4: header: unterminated quoted field: the quote opened here is never "
              "closed before the end of the file");
    Schema s = Mini();
    s.extra_columns = {"v9"};
    EXPECT_THAT(ErrorOf(kHeader, s), HasSubstr("column \"v9\" (extra column) not found"));
}

TEST(CsvReader, LabelsAcceptZeroOneTrueFalseAndNumbers) {
    const char* good[] = {"0", "1", "true", "FALSE", "True", "1.0", "0.0", " 1 ", "1e0", "-0"};
    const int expected[] = {0, 1, 1, 0, 1, 1, 0, 1, 1, 0};
    for (std::size_t i = 0; i < std::size(good); ++i) {
        auto t = Parse(std::string(kHeader) + "1,2018-04-01 00:00:31,C1,T1,1," + good[i] + "\n");
        ASSERT_TRUE(t) << good[i] << ": " << t.error().message;
        EXPECT_EQ(t->label[0], expected[i]) << good[i];
    }
    for (const char* bad : {"2", "0.5", "yes", "-1", "nan", "1x"}) {
        auto t = Parse(std::string(kHeader) + "1,2018-04-01 00:00:31,C1,T1,1," + bad + "\n");
        ASSERT_FALSE(t) << bad;
        EXPECT_THAT(t.error().message, HasSubstr("expected a label 0 or 1")) << bad;
    }
}

// ---- timestamps ----

TEST(CsvReader, TimestampFormats) {
    auto one = [](const std::string& ts, SchemaTimeFormat f) -> Result<std::int64_t> {
        auto t = Parse(std::string(kHeader) + "1," + ts + ",C1,T1,1,0\n", Mini(f));
        if (!t) return std::unexpected(t.error());
        return t->ts_ms[0];
    };
    const std::int64_t base = Ts("2018-04-01 00:00:31");
    using F = SchemaTimeFormat;
    EXPECT_EQ(one("2018-04-01T00:00:31Z", F::kIso8601).value(), base);
    EXPECT_EQ(one("2018-04-01 00:00:31.250", F::kIso8601).value(), base + 250);
    EXPECT_EQ(one("2018-04-01 02:00:31+02:00", F::kIso8601).value(), base);
    EXPECT_EQ(one("2018-04-01", F::kIso8601).value(), base - 31000);
    EXPECT_EQ(one("1522540831", F::kEpochSeconds).value(), base);
    EXPECT_EQ(one("1522540831.5", F::kEpochSeconds).value(), base + 500);
    EXPECT_EQ(one("1522540831000", F::kEpochMillis).value(), base);
    EXPECT_EQ(one("1522540831", F::kAuto).value(), base);
    EXPECT_EQ(one("2018-04-01 00:00:31", F::kAuto).value(), base);
    EXPECT_EQ(one("2020-02-29 23:59:60", F::kIso8601).value(), Ts("2020-03-01 00:00:00"));
    for (const char* bad : {"2019-02-29 00:00:00", "2018-04-01 24:00:00", "2018-13-01 00:00:00",
                            "2018-04-01 00:60:00", "2018-04-01x00:00:00", "1522540831"}) {
        auto r = one(bad, F::kIso8601);
        ASSERT_FALSE(r) << bad;
        EXPECT_THAT(r.error().message, HasSubstr("t.csv:2:3: column ts: expected an ISO-8601"));
    }
    EXPECT_FALSE(one("2018-04-01", F::kEpochSeconds));

    Schema off = Mini(F::kOffset);
    off.time_origin_ms = Ts("2018-04-01 00:00:00");
    off.time_unit_s = 60;
    auto t = Parse(std::string(kHeader) + "1,1.5,C1,T1,1,0\n2,-2,C1,T1,1,0\n", off);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->ts_ms[0], off.time_origin_ms + 90'000);
    EXPECT_EQ(t->ts_ms[1], off.time_origin_ms - 120'000);
    auto bad = Parse(std::string(kHeader) + "1,soon,C1,T1,1,0\n", off);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message,
              "t.csv:2:3: column ts: expected a time offset (a number of 60 s units), got "
              "\"soon\"");
}

TEST(CsvReader, FastTimestampPathMatchesParseTimestamp) {
    Rng rng(42);
    std::string csv = kHeader;
    std::vector<std::int64_t> expected;
    for (int i = 0; i < 2000; ++i) {
        // 1900 .. 2200, whole seconds; consecutive rows often share a date (the date cache).
        const std::int64_t ms =
            (static_cast<std::int64_t>(rng.Below(300ULL * 365 * 86400)) - 70LL * 365 * 86400) *
            1000;
        const std::string text = FormatTimestamp(ms);
        for (int rep = 0; rep < 2; ++rep) {
            csv += std::to_string(i) + "," + text + ",C,T,1,0\n";
            expected.push_back(ParseTimestamp(text).value());
        }
    }
    auto t = Parse(csv);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->ts_ms, expected);
}

TEST(CsvReader, NumbersAreCorrectlyRounded) {
    // Plain decimals take a fast path; compare everything with std::from_chars (correctly
    // rounded) over digit counts on both sides of the fast path's 15-digit limit.
    Rng rng(7);
    std::string csv = kHeader;
    std::vector<std::string> texts;
    for (int i = 0; i < 4000; ++i) {
        std::string t = rng.Below(4) == 0 ? "-" : "";
        const int int_digits = 1 + static_cast<int>(rng.Below(10));
        const int frac_digits = static_cast<int>(rng.Below(10));
        for (int d = 0; d < int_digits; ++d) t += static_cast<char>('0' + rng.Below(10));
        if (frac_digits > 0 || rng.Below(8) == 0) t += '.';
        for (int d = 0; d < frac_digits; ++d) t += static_cast<char>('0' + rng.Below(10));
        if (rng.Below(10) == 0) t += "e" + std::to_string(static_cast<int>(rng.Below(40)) - 20);
        texts.push_back(t);
        csv += std::to_string(i) + ",2018-04-01 00:00:00,C,T," + t + ",0\n";
    }
    auto t = Parse(csv);
    ASSERT_TRUE(t) << t.error().message;
    for (std::size_t i = 0; i < texts.size(); ++i) {
        double expected = 0;
        const std::string& s = texts[i];
        ASSERT_EQ(std::from_chars(s.data(), s.data() + s.size(), expected).ec, std::errc()) << s;
        EXPECT_EQ(std::signbit(t->amount[i]), std::signbit(expected)) << s;
        EXPECT_EQ(t->amount[i], expected) << s;
    }
    for (const char* ok : {"+5", " 5 ", "5.", ".5", "1e2", "-0"}) {
        EXPECT_TRUE(Parse(std::string(kHeader) + "1,2018-04-01 00:00:00,C,T," + ok + ",0\n")) << ok;
    }
    for (const char* bad : {"5..", "--5", "+-5", "5-", "1e", "0x10", "5 5", "nan", "."}) {
        EXPECT_FALSE(Parse(std::string(kHeader) + "1,2018-04-01 00:00:00,C,T," + bad + ",0\n"))
            << bad;
    }
}

// ---- presets ----

TEST(CsvReader, HandbookPreset) {
    const std::string csv =
        "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD,TX_FRAUD_SCENARIO,"
        "TX_TIME_SECONDS,TX_TIME_DAYS\n"
        "0,2018-04-01 00:00:31,596,3156,57.16,0,0,31,0\n"
        "1,2018-04-01 00:02:10,4961,3412,81.51,1,2,130,0\n";
    auto t = Parse(csv, SchemaPreset("handbook").value());
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->rows, 2u);
    EXPECT_EQ(t->tx_id.Get(1), "1");
    EXPECT_EQ(t->ts_ms[1], Ts("2018-04-01 00:02:10"));
    EXPECT_EQ(PoolStrings(t->customer), (std::vector<std::string>{"596", "4961"}));
    EXPECT_EQ(PoolStrings(t->terminal), (std::vector<std::string>{"3156", "3412"}));
    EXPECT_EQ(t->amount, (std::vector<double>{57.16, 81.51}));
    EXPECT_EQ(t->label, (std::vector<std::int8_t>{0, 1}));
    EXPECT_EQ(t->fraud_scenario, (std::vector<std::int32_t>{0, 2}));
    EXPECT_TRUE(t->extra.empty());
}

TEST(CsvReader, UlbPreset) {
    std::string header = "\"Time\"";
    std::string row1 = "0", row2 = "406.5";
    for (int i = 1; i <= 28; ++i) {
        header += ",\"V" + std::to_string(i) + "\"";
        row1 += "," + std::to_string(i) + ".5";
        row2 += ",-" + std::to_string(i);
    }
    header += ",\"Amount\",\"Class\"\n";
    row1 += ",149.62,\"0\"\n";
    row2 += ",2.69,\"1\"\n";
    auto t = Parse(header + row1 + row2, SchemaPreset("ulb").value());
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->rows, 2u);
    EXPECT_EQ(t->ts_ms[0], Ts("2013-09-01 00:00:00"));
    EXPECT_EQ(t->ts_ms[1], Ts("2013-09-01 00:00:00") + 406'500);
    ASSERT_EQ(t->extra.size(), 28u);
    EXPECT_EQ(t->extra_names[27], "V28");
    EXPECT_EQ(t->extra[0][0], 1.5);
    EXPECT_EQ(t->extra[27][1], -28);
    EXPECT_EQ(t->amount, (std::vector<double>{149.62, 2.69}));
    EXPECT_EQ(t->label, (std::vector<std::int8_t>{0, 1}));
    EXPECT_TRUE(t->tx_id.empty());
    EXPECT_FALSE(t->has_customer());
}

TEST(CsvReader, PaysimPreset) {
    const std::string csv =
        "step,type,amount,nameOrig,oldbalanceOrg,newbalanceOrig,nameDest,oldbalanceDest,"
        "newbalanceDest,isFraud,isFlaggedFraud\n"
        "1,PAYMENT,9839.64,C1231006815,170136.0,160296.36,M1979787155,0.0,0.0,0,0\n"
        "743,TRANSFER,181.0,C1305486145,181.0,0.0,C553264065,0.0,0.0,1,0\n";
    auto t = Parse(csv, SchemaPreset("paysim").value());
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->rows, 2u);
    EXPECT_EQ(t->ts_ms[0], Ts("2016-09-01 01:00:00"));
    EXPECT_EQ(t->ts_ms[1], Ts("2016-09-01 00:00:00") + 743LL * 3'600'000);
    EXPECT_EQ(PoolStrings(t->category), (std::vector<std::string>{"PAYMENT", "TRANSFER"}));
    EXPECT_EQ(PoolStrings(t->customer), (std::vector<std::string>{"C1231006815", "C1305486145"}));
    EXPECT_EQ(PoolStrings(t->terminal), (std::vector<std::string>{"M1979787155", "C553264065"}));
    EXPECT_EQ(t->extra_names, (std::vector<std::string>{"oldbalanceOrg", "newbalanceOrig",
                                                        "oldbalanceDest", "newbalanceDest"}));
    EXPECT_EQ(t->extra[1][0], 160296.36);
    EXPECT_EQ(t->label, (std::vector<std::int8_t>{0, 1}));
}

TEST(CsvReader, AdbenchPreset) {
    const std::string csv = "f0,f1,f2,label\n6,148,,1\n1,85.5,0.351,0\n";
    auto t = Parse(csv, SchemaPreset("adbench").value());
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->rows, 2u);
    EXPECT_EQ(t->extra_names, (std::vector<std::string>{"f0", "f1", "f2"}));
    EXPECT_EQ(t->extra[1][1], 85.5);
    EXPECT_TRUE(std::isnan(t->extra[2][0]));
    EXPECT_EQ(t->label, (std::vector<std::int8_t>{1, 0}));
    EXPECT_FALSE(t->has_time());
    EXPECT_TRUE(t->tx_id.empty());
    Schema ignoring = SchemaPreset("adbench").value();
    ignoring.ignore_columns = {"f1"};
    auto t2 = Parse(csv, ignoring);
    ASSERT_TRUE(t2);
    EXPECT_EQ(t2->extra_names, (std::vector<std::string>{"f0", "f2"}));
}

// ---- threads, skipping, determinism ----

// A generated file with awkward content: quoted ids with delimiters, quotes and newlines, CRLF and
// LF lines, blank lines, and (when bad_every > 0) a bad row every `bad_every` rows.
std::string MakeCsv(std::size_t rows, std::uint64_t seed, std::size_t bad_every = 0) {
    Rng rng(seed);
    const char* odd_ids[] = {"\"a,b\"", "\"q\"\"uote\"", "\"multi\nline\"", "\"\"", "plain"};
    std::string s = "id,ts,cust,term,amt,fraud\r\n";
    for (std::size_t i = 0; i < rows; ++i) {
        const std::string ts =
            FormatTimestamp(1522540800000LL + static_cast<std::int64_t>(i) * 7919);
        std::string cust =
            rng.Below(10) == 0 ? odd_ids[rng.Below(5)] : "C" + std::to_string(rng.Below(3000));
        if (cust == "\"\"") cust = "\"x\"";
        const std::string term = std::to_string(rng.Below(20000));
        char amt[32];
        std::snprintf(amt, sizeof amt, "%.2f", rng.Uniform(0, 500));
        std::string row = std::to_string(i) + "," + ts + "," + cust + "," + term + "," + amt + "," +
                          (rng.Below(50) == 0 ? "1" : "0");
        if (bad_every > 0 && i % bad_every == bad_every / 2) {
            switch (rng.Below(4)) {
                case 0:
                    row += ",extra";
                    break;
                case 1:
                    row = std::to_string(i) + ",notatime," + cust + ",1,2,0";
                    break;
                case 2:
                    row = std::to_string(i) + "," + ts + ",C\"1\"x,1,2,0";
                    break;
                case 3:
                    row = std::to_string(i) + "," + ts + ",,1,2,0";
                    break;
            }
        }
        s += row;
        s += rng.Below(2) == 0 ? "\n" : "\r\n";
        if (rng.Below(500) == 0) s += "\n";
    }
    return s;
}

TEST(CsvReader, FingerprintDoesNotDependOnThreadCount) {
    const std::string csv = MakeCsv(50'000, 1);
    std::uint64_t fp = 0;
    std::vector<std::string> customers;
    for (unsigned threads : {1u, 2u, 4u, 7u}) {
        ReadReport report;
        auto t = Parse(csv, Mini(), Opt(threads), &report);
        ASSERT_TRUE(t) << t.error().message;
        t->CheckConsistent();
        EXPECT_EQ(t->rows, 50'000u);
        if (threads == 1) {
            fp = t->Fingerprint();
            customers = PoolStrings(t->customer);
        } else {
            EXPECT_EQ(t->Fingerprint(), fp) << threads << " threads";
            EXPECT_EQ(PoolStrings(t->customer), customers);
        }
    }
    // The default chunking (1 MiB minimum) and 0 = hardware threads agree too.
    CsvReadOptions o;
    o.show_progress = false;
    auto t = Parse(csv, Mini(), o);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->Fingerprint(), fp);
}

TEST(CsvReader, QuotedFieldSpanningManyChunks) {
    // One field of 200 KB with thousands of newlines and commas: chunk boundaries of up to 16
    // threads fall inside it, and the rows after it still land where they belong.
    std::string big;
    for (int i = 0; i < 20000; ++i) big += i % 3 == 0 ? "a,\n" : (i % 3 == 1 ? "\"\"x" : "yz\r\n");
    std::string csv = std::string(kHeader) + kRow1 + "2,2018-04-01 00:00:31,\"" + big +
                      "\",T1,1,0\n" + kRow1 + "3,2018-04-01 00:00:31,C1,T1,bad,0\n";
    for (unsigned threads : {1u, 2u, 5u, 16u}) {
        auto t = Parse(csv, Mini(), Opt(threads));
        ASSERT_FALSE(t);
        // Line of the bad row: 1 header + 1 + (1 + newlines in big) + 1, then the bad row.
        const std::size_t nl = static_cast<std::size_t>(std::count(big.begin(), big.end(), '\n'));
        EXPECT_EQ(t.error().message, "t.csv:" + std::to_string(5 + nl) +
                                         ":29: column amt: expected a number, got \"bad\"")
            << threads;
        ReadReport r;
        auto s = Parse(csv, Mini(), Opt(threads, OnError::kSkip), &r);
        ASSERT_TRUE(s);
        EXPECT_EQ(s->rows, 3u);
        EXPECT_EQ(r.rows_skipped, 1u);
        std::string unescaped = big;
        for (std::size_t p = 0; (p = unescaped.find("\"\"", p)) != std::string::npos; ++p)
            unescaped.erase(p, 1);
        EXPECT_EQ(s->customer.pool.Get(1), unescaped);
    }
}

TEST(CsvReader, FailModeReportsTheEarliestBadRowWhateverTheThreads) {
    const std::string csv = MakeCsv(3000, 2, 1000);  // bad rows 500, 1500, 2500
    std::string first;
    for (unsigned threads : {1u, 2u, 3u, 4u, 8u}) {
        auto t = Parse(csv, Mini(), Opt(threads));
        ASSERT_FALSE(t);
        if (first.empty()) {
            first = t.error().message;
        } else {
            EXPECT_EQ(t.error().message, first) << threads << " threads";
        }
    }
    // Row 500 is past line 501 (blank lines and quoted newlines push it further).
    EXPECT_THAT(first, StartsWith("t.csv:5"));
}

TEST(CsvReader, SkipModeCountsAndKeepsTheFirstErrorsInFileOrder) {
    const std::string csv = MakeCsv(10'000, 3, 1000);  // 10 bad rows
    ReadReport ref;
    auto t1 = Parse(csv, Mini(), Opt(1, OnError::kSkip), &ref);
    ASSERT_TRUE(t1) << t1.error().message;
    EXPECT_EQ(ref.rows_skipped, 10u);
    EXPECT_EQ(ref.rows_read, 9990u);
    EXPECT_EQ(t1->rows, 9990u);
    ASSERT_EQ(ref.first_errors.size(), 10u);
    // The errors are in file order.
    std::vector<long> lines;
    for (const auto& e : ref.first_errors) lines.push_back(std::stol(e.substr(6)));
    EXPECT_TRUE(std::is_sorted(lines.begin(), lines.end()));
    for (unsigned threads : {2u, 4u, 5u}) {
        ReadReport r;
        auto o = Opt(threads, OnError::kSkip);
        auto t = Parse(csv, Mini(), o, &r);
        ASSERT_TRUE(t);
        EXPECT_EQ(t->Fingerprint(), t1->Fingerprint());
        EXPECT_EQ(r.rows_skipped, ref.rows_skipped);
        EXPECT_EQ(r.first_errors, ref.first_errors);
        o.max_reported_errors = 3;
        t = Parse(csv, Mini(), o, &r);
        ASSERT_TRUE(t);
        EXPECT_EQ(r.rows_skipped, 10u);
        EXPECT_EQ(r.first_errors,
                  std::vector<std::string>(ref.first_errors.begin(), ref.first_errors.begin() + 3));
    }
    // A lone quote inside an unquoted field joins lines up to the next quote into one bad record
    // (records end at newlines with an even number of quotes before them); the message says so.
    ReadReport joined;
    auto tj = Parse(std::string(kHeader) + kRow1 + "2,2018-04-01 00:00:31,C\"1,T1,1,0\n" + kRow1 +
                        "3,2018-04-01 00:00:31,C9\",T1,1,0\n" + kRow1,
                    Mini(), Opt(2, OnError::kSkip), &joined);
    ASSERT_TRUE(tj);
    EXPECT_EQ(tj->rows, 2u);
    EXPECT_EQ(joined.rows_skipped, 1u);
    ASSERT_EQ(joined.first_errors.size(), 1u);
    EXPECT_EQ(joined.first_errors[0],
              "t.csv:3:23: column cust: unexpected '\"' inside an unquoted field (quote the whole "
              "field and double the quote) (the bad record runs to line 5)");
    // An unterminated quote skips one (long) record.
    ReadReport r;
    auto t = Parse(std::string(kHeader) + kRow1 + "2,2018-04-01 00:00:31,\"C1,T1,1,0\n" + kRow1,
                   Mini(), Opt(2, OnError::kSkip), &r);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->rows, 1u);
    EXPECT_EQ(r.rows_skipped, 1u);
    ASSERT_EQ(r.first_errors.size(), 1u);
    EXPECT_THAT(r.first_errors[0], StartsWith("t.csv:3:23: column cust: unterminated"));
}

// ---- files: mmap and gzip ----

TEST(CsvReader, ReadsPlainAndGzipFiles) {
    const std::string csv = MakeCsv(5000, 4);
    auto ref = Parse(csv);
    ASSERT_TRUE(ref);
    TempFile plain("plain.csv", csv);
    TempFile gz("data.csv.gz", Gzip(csv));
    // Two gzip members back to back decompress to the concatenation.
    const std::size_t half = csv.size() / 2;
    TempFile multi("multi.csv.gz", Gzip(csv.substr(0, half)) + Gzip(csv.substr(half)));
    for (const auto* f : {&plain, &gz, &multi}) {
        for (unsigned threads : {1u, 2u}) {
            ReadReport report;
            auto t = ReadTransactionsCsv(f->path(), Mini(), Opt(threads), &report);
            ASSERT_TRUE(t) << f->path() << ": " << t.error().message;
            EXPECT_EQ(t->Fingerprint(), ref->Fingerprint()) << f->path();
            EXPECT_EQ(report.rows_read, 5000u);
        }
    }
    // gzip bytes in memory work too.
    auto mem = ParseTransactionsCsv(Gzip(csv), "mem.csv.gz", Mini(), Opt());
    ASSERT_TRUE(mem);
    EXPECT_EQ(mem->Fingerprint(), ref->Fingerprint());

    // Errors name the path.
    TempFile bad("bad.csv", std::string(kHeader) + "1,2018-04-01 00:00:31,C1,T1,x,0\n");
    auto e = ReadTransactionsCsv(bad.path(), Mini(), Opt());
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().message, bad.path() + ":2:29: column amt: expected a number, got \"x\"");
    const std::string z = Gzip(csv);
    TempFile truncated("trunc.csv.gz", z.substr(0, z.size() / 2));
    e = ReadTransactionsCsv(truncated.path(), Mini(), Opt());
    ASSERT_FALSE(e);
    EXPECT_THAT(e.error().message, HasSubstr("truncated gzip data"));
    std::string corrupt = z;
    for (std::size_t i = 20; i < 60; ++i) corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5a);
    TempFile bad_gz("corrupt.csv.gz", corrupt);
    e = ReadTransactionsCsv(bad_gz.path(), Mini(), Opt());
    ASSERT_FALSE(e);
    EXPECT_THAT(e.error().message, HasSubstr(bad_gz.path()));
    e = ReadTransactionsCsv("/nonexistent/tx.csv", Mini(), Opt());
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().code, ErrorCode::kNotFound);
    EXPECT_THAT(e.error().message, HasSubstr("/nonexistent/tx.csv"));
    TempFile empty("empty.csv", "");
    e = ReadTransactionsCsv(empty.path(), Mini(), Opt());
    ASSERT_FALSE(e);
    EXPECT_THAT(e.error().message, HasSubstr("no header row"));
}

// ---- real data (../shared; skipped when absent) ----

TEST(CsvReader, RealHandbookFile) {
    const std::string path = std::string(TXGUARD_SHARED_DIR) + "/data/handbook/transactions.csv.gz";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "shared data not found: " << path;
    CsvReadOptions o;
    o.show_progress = false;
    ReadReport report;
    auto t = ReadTransactionsCsv(path, SchemaPreset("handbook").value(), o, &report);
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->rows, 1'754'155u);
    EXPECT_EQ(std::accumulate(t->label.begin(), t->label.end(), 0LL), 14'681);
    EXPECT_EQ(t->customer.pool.size(), 4'990u);
    EXPECT_EQ(t->terminal.pool.size(), 10'000u);
    EXPECT_TRUE(t->IsTimeOrdered());
    EXPECT_EQ(t->ts_ms.front(), Ts("2018-04-01 00:00:31"));
    EXPECT_EQ(report.rows_skipped, 0u);
}

TEST(CsvReader, RealAdbenchFile) {
    const std::string path = std::string(TXGUARD_SHARED_DIR) + "/data/adbench/Pima.csv";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "shared data not found: " << path;
    auto t = ReadTransactionsCsv(path, SchemaPreset("adbench").value(), Opt(2));
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t->rows, 768u);
    EXPECT_EQ(t->extra.size(), 8u);
    EXPECT_EQ(std::accumulate(t->label.begin(), t->label.end(), 0LL), 268);
}

}  // namespace
}  // namespace txguard
