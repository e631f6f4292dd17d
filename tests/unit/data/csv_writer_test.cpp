#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "txguard/core/rng.hpp"
#include "txguard/core/time.hpp"
#include "txguard/data/csv.hpp"
#include "txguard/sim/simulator.hpp"

namespace txguard {
namespace {

namespace fs = std::filesystem;

// The handbook preset, built by hand so these tests do not depend on schema presets.
Schema HandbookSchema(std::string name = "handbook-like") {
    Schema s;
    s.name = std::move(name);
    s.columns = {{Field::kTransactionId, "TRANSACTION_ID"},
                 {Field::kTimestamp, "TX_DATETIME"},
                 {Field::kCustomerId, "CUSTOMER_ID"},
                 {Field::kTerminalId, "TERMINAL_ID"},
                 {Field::kAmount, "TX_AMOUNT"},
                 {Field::kLabel, "TX_FRAUD"},
                 {Field::kFraudScenario, "TX_FRAUD_SCENARIO"}};
    return s;
}

class CsvWriterTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("txguard_csv_writer_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::string Path(const std::string& name) const { return (dir_ / name).string(); }

    fs::path dir_;
};

std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string ReadGzip(const std::string& path) {
    gzFile f = gzopen(path.c_str(), "rb");
    EXPECT_NE(f, nullptr);
    if (f == nullptr) return {};
    std::string out;
    char buf[1 << 16];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    EXPECT_EQ(n, 0) << "gzread failed";
    gzclose(f);
    return out;
}

// RFC 4180 parse of the whole text (quoted fields, "" escapes, quoted newlines).
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false, in_quotes = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_quotes) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field.push_back('"');
                ++i;
            } else if (c == '"') {
                in_quotes = false;
            } else {
                field.push_back(c);
            }
        } else if (c == '"') {
            EXPECT_TRUE(field.empty()) << "quote inside an unquoted field";
            in_quotes = quoted = true;
        } else if (c == ',') {
            row.push_back(std::move(field));
            field.clear();
            quoted = false;
        } else if (c == '\n') {
            row.push_back(std::move(field));
            field.clear();
            quoted = false;
            rows.push_back(std::move(row));
            row.clear();
        } else {
            field.push_back(c);
        }
    }
    EXPECT_FALSE(in_quotes);
    EXPECT_TRUE(field.empty() && row.empty() && !quoted) << "last line must end with \\n";
    return rows;
}

TransactionTable ThreeRows() {
    TransactionTable t;
    t.rows = 3;
    for (const char* id : {"10", "11", "12"}) t.tx_id.Append(id);
    const std::int64_t day = DaysFromCivil(2018, 4, 1) * kMsPerDay;
    t.ts_ms = {day + 31'000, day + 130'999, day + kMsPerDay + 3'600'000};
    for (const char* c : {"596", "4961", "596"})
        t.customer.ids.push_back(t.customer.pool.Intern(c));
    for (const char* k : {"3156", "3412", "1365"})
        t.terminal.ids.push_back(t.terminal.pool.Intern(k));
    t.amount = {57.16, 81.5, 146.0};
    t.label = {0, 1, 0};
    t.fraud_scenario = {0, 2, 0};
    return t;
}

TEST(CsvEscapeTest, QuotesOnlyWhenNeeded) {
    EXPECT_EQ(CsvEscape("plain"), "plain");
    EXPECT_EQ(CsvEscape(""), "");
    EXPECT_EQ(CsvEscape("a,b"), "\"a,b\"");
    EXPECT_EQ(CsvEscape("say \"hi\""), "\"say \"\"hi\"\"\"");
    EXPECT_EQ(CsvEscape("two\nlines"), "\"two\nlines\"");
    EXPECT_EQ(CsvEscape("cr\r"), "\"cr\r\"");
    EXPECT_EQ(CsvEscape("\""), "\"\"\"\"");
    EXPECT_EQ(CsvEscape(" spaced "), " spaced ");
}

TEST_F(CsvWriterTest, WritesTheHandbookLayout) {
    const std::string path = Path("t.csv");
    ASSERT_TRUE(WriteTransactionsCsv(ThreeRows(), HandbookSchema(), path));
    EXPECT_EQ(ReadFile(path),
              "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD,"
              "TX_FRAUD_SCENARIO\n"
              "10,2018-04-01 00:00:31,596,3156,57.16,0,0\n"
              "11,2018-04-01 00:02:10,4961,3412,81.5,1,2\n"
              "12,2018-04-02 01:00:00,596,1365,146,0,0\n");
}

TEST_F(CsvWriterTest, HandbookSchemaAddsTheTimeColumns) {
    const std::string path = Path("t.csv");
    ASSERT_TRUE(WriteTransactionsCsv(ThreeRows(), HandbookSchema("handbook"), path));
    EXPECT_EQ(ReadFile(path),
              "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD,"
              "TX_FRAUD_SCENARIO,TX_TIME_SECONDS,TX_TIME_DAYS\n"
              "10,2018-04-01 00:00:31,596,3156,57.16,0,0,31,0\n"
              "11,2018-04-01 00:02:10,4961,3412,81.5,1,2,130,0\n"
              "12,2018-04-02 01:00:00,596,1365,146,0,0,90000,1\n");
}

TEST_F(CsvWriterTest, ColumnsFollowTheCanonicalOrderWhateverTheSchemaNames) {
    TransactionTable t = ThreeRows();
    t.channel.ids = {t.channel.pool.Intern("pos"), t.channel.pool.Intern("ecom"), 0};
    t.lat = {50.5, std::nan(""), -0.25};
    t.lon = {4.25, std::nan(""), 1e-7};
    t.extra_names = {"v1", "v,2"};
    t.extra = {{1.0, 2.0, 3.0}, {std::nan(""), 0.5, -1.5}};
    Schema s;
    s.name = "custom";
    s.columns = {{Field::kLabel, "is_fraud"}, {Field::kAmount, "amt"}, {Field::kLon, "lon"},
                 {Field::kChannel, "chan"},   {Field::kLat, "lat"},    {Field::kTimestamp, "when"},
                 {Field::kCategory, "mcc"}};  // the table has no category: left out
    const std::string path = Path("t.csv");
    ASSERT_TRUE(WriteTransactionsCsv(t, s, path));
    EXPECT_EQ(ReadFile(path),
              "when,amt,chan,lat,lon,is_fraud,v1,\"v,2\"\n"
              "2018-04-01 00:00:31,57.16,pos,50.5,4.25,0,1,\n"
              "2018-04-01 00:02:10,81.5,ecom,,,1,2,0.5\n"
              "2018-04-02 01:00:00,146,pos,-0.25,1e-07,0,3,-1.5\n");
}

TEST_F(CsvWriterTest, TableWithoutIdsWritesRowNumbers) {
    TransactionTable t = ThreeRows();
    t.tx_id.Clear();
    const std::string path = Path("t.csv");
    ASSERT_TRUE(WriteTransactionsCsv(t, HandbookSchema(), path));
    const auto rows = ParseCsv(ReadFile(path));
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_EQ(rows[1][0], "0");
    EXPECT_EQ(rows[3][0], "2");
}

TEST_F(CsvWriterTest, EscapesFieldsThatNeedIt) {
    TransactionTable t;
    t.rows = 4;
    const std::vector<std::string> ids = {"a,1", "b\"2", "c\n3", "plain-but-longer-than-16-chars"};
    const std::vector<std::string> customers = {"Doe, Jane", "say \"hi\"", "line\r\nbreak", "x"};
    for (std::size_t i = 0; i < 4; ++i) {
        t.tx_id.Append(ids[i]);
        t.customer.ids.push_back(t.customer.pool.Intern(customers[i]));
        t.terminal.ids.push_back(t.terminal.pool.Intern(
            i == 3 ? std::string(40, 'T') : "t" + std::to_string(i)));  // long: no fixed slots
    }
    t.amount = {1, 2, 3, 4};
    const std::string path = Path("t.csv");
    ASSERT_TRUE(WriteTransactionsCsv(t, HandbookSchema(), path));
    const std::string text = ReadFile(path);
    EXPECT_NE(text.find("\"a,1\",\"Doe, Jane\""), std::string::npos) << text;
    EXPECT_NE(text.find("\"say \"\"hi\"\"\""), std::string::npos) << text;
    const auto rows = ParseCsv(text);
    ASSERT_EQ(rows.size(), 5u);
    EXPECT_EQ(rows[0], (std::vector<std::string>{"TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID",
                                                 "TX_AMOUNT"}));
    for (std::size_t i = 0; i < 4; ++i) {
        ASSERT_EQ(rows[i + 1].size(), 4u);
        EXPECT_EQ(rows[i + 1][0], ids[i]);
        EXPECT_EQ(rows[i + 1][1], customers[i]);
        EXPECT_EQ(rows[i + 1][2], t.terminal.pool.Get(t.terminal.ids[i]));
    }
}

// Amounts written and parsed back are the same doubles, bit for bit, and the text is exactly
// what std::to_chars writes (shortest round trip), including where the writer takes shortcuts.
TEST_F(CsvWriterTest, AmountsRoundTripBitForBit) {
    std::vector<double> v = {0.0,
                             -0.0,
                             0.1 + 0.2,
                             85.64999999999999,
                             17.13 * 5,
                             1e-300,
                             5e-324,
                             1e5,
                             99999.99,
                             -99999.99,
                             100000.01,
                             1e21,
                             123456789.12,
                             -3.5,
                             std::numeric_limits<double>::max(),
                             std::numeric_limits<double>::lowest(),
                             std::numeric_limits<double>::infinity()};
    Rng rng(3);
    for (int i = 0; i < 50'000; ++i) {
        const double cents = std::nearbyint(rng.Uniform(-1.2e7, 1.2e7));
        v.push_back(cents / 100.0);
        v.push_back(std::nextafter(cents / 100.0, 1e300));
        v.push_back(rng.Uniform(-1e6, 1e6));
        v.push_back(cents / 100.0 * 5);
    }
    TransactionTable t;
    t.rows = v.size();
    t.amount = v;
    Schema s;
    s.columns = {{Field::kAmount, "amount"}};
    const std::string path = Path("amounts.csv");
    ASSERT_TRUE(WriteTransactionsCsv(t, s, path));
    const auto rows = ParseCsv(ReadFile(path));
    ASSERT_EQ(rows.size(), v.size() + 1);
    char buf[64];
    for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string& f = rows[i + 1][0];
        const auto r = std::to_chars(buf, buf + sizeof buf, v[i]);
        ASSERT_EQ(f, std::string(buf, r.ptr)) << "row " << i;
        double back = 0;
        ASSERT_EQ(std::from_chars(f.data(), f.data() + f.size(), back).ec, std::errc());
        ASSERT_EQ(std::memcmp(&back, &v[i], sizeof back), 0) << f;
    }
}

TEST_F(CsvWriterTest, GzipOutputReadsBackWithZlib) {
    // More than 2 x 65536 rows: several blocks (deflate pieces joined into one gzip member)
    // and more than one batch of blocks on 2 threads.
    SimParams p;
    p.customers = 600;
    p.terminals = 1200;
    p.days = 120;
    p.threads = 2;
    auto t = Simulate(p);
    ASSERT_TRUE(t) << t.error().ToString();
    ASSERT_GT(t->rows, 2u * 65536 + 1);
    const std::string plain = Path("t.csv"), gz = Path("t.csv.gz");
    ASSERT_TRUE(WriteTransactionsCsv(*t, HandbookSchema("handbook"), plain));
    ASSERT_TRUE(WriteTransactionsCsv(*t, HandbookSchema("handbook"), gz));
    const std::string expected = ReadFile(plain);
    EXPECT_EQ(ReadGzip(gz), expected);
    const std::string compressed = ReadFile(gz);
    EXPECT_LT(compressed.size(), expected.size() / 2);

    // A single gzip member: one inflate call with a gzip header reaches the end of the file.
    z_stream zs{};
    ASSERT_EQ(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
    std::string out(expected.size() + 16, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    zs.avail_in = static_cast<uInt>(compressed.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
    EXPECT_EQ(zs.avail_in, 0u);
    EXPECT_EQ(zs.total_out, expected.size());
    inflateEnd(&zs);
}

TEST_F(CsvWriterTest, SimulatedTableParsesBack) {
    SimParams p;
    p.customers = 300;
    p.terminals = 600;
    p.days = 30;
    auto t = Simulate(p);
    ASSERT_TRUE(t);
    const std::string path = Path("sim.csv");
    ASSERT_TRUE(WriteTransactionsCsv(*t, HandbookSchema("handbook"), path));
    const auto rows = ParseCsv(ReadFile(path));
    ASSERT_EQ(rows.size(), t->rows + 1);
    const std::int64_t origin = DayIndex(t->ts_ms[0]) * kMsPerDay;
    for (std::size_t i = 0; i < t->rows; ++i) {
        const auto& r = rows[i + 1];
        ASSERT_EQ(r.size(), 9u);
        ASSERT_EQ(r[0], t->tx_id.Get(i));
        auto ts = ParseTimestamp(r[1]);
        ASSERT_TRUE(ts);
        ASSERT_EQ(*ts, t->ts_ms[i]);
        ASSERT_EQ(r[2], t->customer.pool.Get(t->customer.ids[i]));
        ASSERT_EQ(r[3], t->terminal.pool.Get(t->terminal.ids[i]));
        double amount = 0;
        std::from_chars(r[4].data(), r[4].data() + r[4].size(), amount);
        ASSERT_EQ(amount, t->amount[i]);
        ASSERT_EQ(r[5], std::to_string(t->label[i]));
        ASSERT_EQ(r[6], std::to_string(t->fraud_scenario[i]));
        ASSERT_EQ(r[7], std::to_string((t->ts_ms[i] - origin) / 1000));
        ASSERT_EQ(r[8], std::to_string((t->ts_ms[i] - origin) / kMsPerDay));
    }
}

// Simulate, write (plain and gzip), read back with the CSV reader: the same table.
TEST_F(CsvWriterTest, RoundTripThroughTheReader) {
    SimParams p;
    p.customers = 300;
    p.terminals = 600;
    p.days = 30;
    auto t = Simulate(p);
    ASSERT_TRUE(t);
    for (const char* name : {"rt.csv", "rt.csv.gz"}) {
        SCOPED_TRACE(name);
        const std::string path = Path(name);
        ASSERT_TRUE(WriteTransactionsCsv(*t, HandbookSchema("handbook"), path));
        CsvReadOptions options;
        options.show_progress = false;
        auto back = ReadTransactionsCsv(path, HandbookSchema("handbook"), options);
        ASSERT_TRUE(back) << back.error().ToString();
        ASSERT_EQ(back->rows, t->rows);
        EXPECT_EQ(back->ts_ms, t->ts_ms);
        EXPECT_EQ(back->label, t->label);
        EXPECT_EQ(back->fraud_scenario, t->fraud_scenario);
        ASSERT_EQ(back->amount.size(), t->rows);
        EXPECT_EQ(std::memcmp(back->amount.data(), t->amount.data(), t->rows * sizeof(double)), 0);
        for (std::size_t i = 0; i < t->rows; ++i) {
            ASSERT_EQ(back->tx_id.Get(i), t->tx_id.Get(i));
            ASSERT_EQ(back->customer.pool.Get(back->customer.ids[i]),
                      t->customer.pool.Get(t->customer.ids[i]));
            ASSERT_EQ(back->terminal.pool.Get(back->terminal.ids[i]),
                      t->terminal.pool.Get(t->terminal.ids[i]));
        }
    }
}

TEST_F(CsvWriterTest, EmptyTableWritesTheHeader) {
    TransactionTable t;
    const std::string path = Path("empty.csv");
    ASSERT_TRUE(WriteTransactionsCsv(t, HandbookSchema(), path));
    EXPECT_EQ(ReadFile(path),
              "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD,"
              "TX_FRAUD_SCENARIO\n");
    const std::string gz = Path("empty.csv.gz");
    ASSERT_TRUE(WriteTransactionsCsv(t, HandbookSchema(), gz));
    EXPECT_EQ(ReadGzip(gz), ReadFile(path));
}

TEST_F(CsvWriterTest, NothingToWriteIsAnError) {
    TransactionTable t = ThreeRows();
    Schema s;
    s.name = "only-lat";
    s.columns = {{Field::kLat, "lat"}};
    auto r = WriteTransactionsCsv(t, s, Path("t.csv"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("only-lat"), std::string::npos);
}

TEST_F(CsvWriterTest, UnwritablePathIsAnErrorNamingIt) {
    const std::string path = Path("no/such/dir/t.csv");
    auto r = WriteTransactionsCsv(ThreeRows(), HandbookSchema(), path);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kIo);
    EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
    auto gz = WriteTransactionsCsv(ThreeRows(), HandbookSchema(), path + ".gz");
    ASSERT_FALSE(gz);
    EXPECT_NE(gz.error().message.find(path + ".gz"), std::string::npos);
    // A directory is not a file.
    auto dir = WriteTransactionsCsv(ThreeRows(), HandbookSchema(), dir_.string());
    ASSERT_FALSE(dir);
    EXPECT_NE(dir.error().message.find(dir_.string()), std::string::npos);
}

TEST_F(CsvWriterTest, DiskFullIsAnErrorNamingThePath) {
    if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full on this system";
    const std::string path = "/dev/full";
    auto r = WriteTransactionsCsv(ThreeRows(), HandbookSchema(), path);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kIo);
    EXPECT_NE(r.error().message.find(path), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("No space left"), std::string::npos) << r.error().message;
    EXPECT_TRUE(fs::exists("/dev/full")) << "the device must not be removed";
}

}  // namespace
}  // namespace txguard
