#include "txguard/serve/request.hpp"

#include <gtest/gtest.h>
#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "txguard/core/rng.hpp"
#include "txguard/data/schema.hpp"
#include "txguard/data/transaction_table.hpp"
#include "txguard/features/feature_spec.hpp"

namespace txguard {
namespace {

constexpr std::int64_t kApril1 = 1522540800000;  // 2018-04-01 00:00:00 UTC

FeatureSpec HandbookSpec() {
    auto schema = SchemaPreset("handbook");
    EXPECT_TRUE(schema);
    auto spec = FeatureSpecPreset("handbook", *schema, TransactionTable{});
    EXPECT_TRUE(spec) << spec.error().message;
    return *spec;
}

FeatureSpec ExtrasSpec() {  // amount + two extra columns, no entities
    FeatureSpec spec;
    spec.extra_columns = {"v1", "v2"};
    return spec;
}

const char kTypical[] =
    R"({"transaction_id":"tx-0001234567","timestamp":"2018-04-01T00:00:31Z","amount":57.16,)"
    R"("customer_id":"cust-596","terminal_id":"term-3156","lat":48.85,"lon":2.35})";

void ExpectError(const RequestParser& p, std::string_view body, std::string_view field,
                 std::string_view message_part) {
    auto r = p.ParseTransaction(body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().field, field) << body << " -> " << r.error().message;
    EXPECT_NE(r.error().message.find(message_part), std::string::npos)
        << body << " -> " << r.error().message;
    if (!field.empty()) {
        EXPECT_EQ(r.error().message.rfind(std::string(field) + ": ", 0), 0u);
    }
    // Messages are valid UTF-8: the HTTP layer dumps them as JSON.
    EXPECT_NO_THROW((void)nlohmann::json(r.error().message).dump()) << r.error().message;
    EXPECT_NO_THROW((void)nlohmann::json(r.error().field).dump()) << r.error().field;
}

TEST(RequestParser, ParsesATypicalTransaction) {
    RequestParser p(HandbookSpec());
    auto r = p.ParseTransaction(kTypical);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->transaction_id, "tx-0001234567");
    EXPECT_EQ(r->ts_ms, kApril1 + 31000);
    EXPECT_EQ(r->amount, 57.16);
    EXPECT_EQ(r->customer_id(), "cust-596");
    EXPECT_EQ(r->terminal_id(), "term-3156");
    EXPECT_TRUE(r->keys[static_cast<int>(KeyField::kCategory)].empty());
    EXPECT_TRUE(r->extras.empty());
}

TEST(RequestParser, RequiredFieldsFollowTheSpec) {
    EXPECT_EQ(RequestParser(HandbookSpec()).RequiredFields(),
              (std::vector<std::string>{"transaction_id", "timestamp", "amount", "customer_id",
                                        "terminal_id"}));
    EXPECT_EQ(RequestParser(ExtrasSpec()).RequiredFields(),
              (std::vector<std::string>{"transaction_id", "timestamp", "amount", "v1", "v2"}));

    FeatureSpec s;  // counts only: no amount; distinct needs the counterparty; categorical
    s.amount = false;
    EntitySpec e;
    e.key = KeyField::kCustomer;
    e.aggregates = {Aggregate::kCount, Aggregate::kDistinct};
    e.counterparty = KeyField::kCountry;
    s.entities.push_back(e);
    s.categorical.push_back({KeyField::kChannel, 8, {}});
    RequestParser p(s);
    EXPECT_EQ(p.RequiredFields(), (std::vector<std::string>{"transaction_id", "timestamp",
                                                            "customer_id", "channel", "country"}));
    auto r = p.ParseTransaction(
        R"({"transaction_id":"t","timestamp":0,"customer_id":"c","channel":"web","country":"FR"})");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->amount, 0.0);
    EXPECT_EQ(r->keys[static_cast<int>(KeyField::kChannel)], "web");
    EXPECT_EQ(r->keys[static_cast<int>(KeyField::kCountry)], "FR");
    // The mean needs the amount.
    s.entities[0].aggregates.push_back(Aggregate::kMean);
    EXPECT_EQ(RequestParser(s).RequiredFields()[2], "amount");
}

TEST(RequestParser, TimestampForms) {
    RequestParser p(HandbookSpec());
    const auto ts = [&](std::string_view value) -> std::int64_t {
        const std::string body = R"({"transaction_id":"t","amount":1,"customer_id":"c",)"
                                 R"("terminal_id":"d","timestamp":)" +
                                 std::string(value) + "}";
        auto r = p.ParseTransaction(body);
        EXPECT_TRUE(r) << value << ": " << (r ? "" : r.error().message);
        return r ? r->ts_ms : -1;
    };
    EXPECT_EQ(ts(R"("2018-04-01T00:00:31Z")"), kApril1 + 31000);
    EXPECT_EQ(ts(R"("2018-04-01 00:00:31")"), kApril1 + 31000);
    EXPECT_EQ(ts(R"("2018-04-01T02:00:31.250+02:00")"), kApril1 + 31250);
    EXPECT_EQ(ts("1522540831"), kApril1 + 31000);
    EXPECT_EQ(ts("1522540831.5"), kApril1 + 31500);
    EXPECT_EQ(ts("1522540831.123"), kApril1 + 31123);
    EXPECT_EQ(ts("1522540831.1236"), kApril1 + 31124);  // rounded to the millisecond
    EXPECT_EQ(ts("1.5225408311e9"), kApril1 + 31100);
    EXPECT_EQ(ts("0"), 0);
    EXPECT_EQ(ts("7258118400"), 7258118400000);  // 2200-01-01, the upper limit
}

TEST(RequestParser, KeysAcceptNumbersAndTheMerchantAlias) {
    RequestParser p(HandbookSpec());
    auto r = p.ParseTransaction(
        R"({"transaction_id":"t","timestamp":0,"amount":-3,"customer_id":596,)"
        R"("merchant_id":1.50,"category":"food","channel":"web","country":"FR","label":1,)"
        R"("fraud_scenario":null,"lat":null})");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->customer_id(), "596");
    EXPECT_EQ(r->terminal_id(), "1.50");  // kept as written
    EXPECT_EQ(r->amount, -3.0);
    // Key fields the model does not use are checked, then dropped.
    EXPECT_TRUE(r->keys[static_cast<int>(KeyField::kCategory)].empty());
    EXPECT_TRUE(r->keys[static_cast<int>(KeyField::kCountry)].empty());
    ExpectError(p,
                R"({"transaction_id":"t","timestamp":0,"amount":1,"customer_id":"c",)"
                R"("terminal_id":"d","merchant_id":"e"})",
                "merchant_id", "given twice (merchant_id is an alias of terminal_id)");
    ExpectError(p,
                R"({"transaction_id":"t","timestamp":0,"amount":1,"customer_id":"c",)"
                R"("terminal_id":"d","category":""})",
                "category", "expected a non-empty string");
}

TEST(RequestParser, RefusesBadBodiesNamingTheField) {
    RequestParser p(HandbookSpec());
    const std::string head = R"({"transaction_id":"t","timestamp":0,"customer_id":"c",)"
                             R"("terminal_id":"d",)";
    const auto with = [&](const std::string& rest) { return head + rest + "}"; };
    ExpectError(p, "", "", "empty body");
    ExpectError(p, "  \n", "", "empty body");
    ExpectError(p, "[]", "", "expected a JSON object (one transaction), got array");
    ExpectError(p, "17", "", "got number");
    ExpectError(p, "{", "", "malformed JSON at byte 2: syntax error");
    ExpectError(p, with(R"("amount":1} x)"), "", "malformed JSON at byte");
    ExpectError(p, with(R"("amount":1,)"), "", "malformed JSON");
    ExpectError(p, with("\"amount\":1,\"lat\":\"a\nb\""), "", "malformed JSON");  // raw newline
    ExpectError(p, with(R"("amount":1,"amount":2)"), "amount", "amount: given twice");
    ExpectError(p, with(R"("amount":1,"ammount":2)"), "ammount", "ammount: unknown field");
    ExpectError(p, with(R"("amount":true)"), "amount",
                "amount: expected a finite number, got boolean");
    ExpectError(p, with(R"("amount":"12.5")"), "amount",
                "amount: expected a finite number, got string");
    ExpectError(p, with(R"("amount":null)"), "amount", "got null");
    ExpectError(p, with(R"("amount":[1])"), "amount", "got array");
    ExpectError(p, with(R"("amount":1e999)"), "amount",
                "amount: expected a finite number, got 1e999");
    ExpectError(p, with(R"("amount":-1e999)"), "amount", "expected a finite number");
    ExpectError(p, with(R"("amount":2e12)"), "amount", "magnitude above 1e+12");
    ExpectError(p, with(R"("amount":1,"lat":{})"), "lat", "lat: expected a string, number");
    EXPECT_TRUE(p.ParseTransaction(with(R"("amount":1)")));  // the control: valid
}

TEST(RequestParser, RefusesBadIdsAndTimestamps) {
    RequestParser p(HandbookSpec());
    const auto tx = [](const std::string& id, const std::string& ts) {
        return R"({"transaction_id":)" + id + R"(,"timestamp":)" + ts +
               R"(,"amount":1,"customer_id":"c","terminal_id":"d"})";
    };
    ASSERT_TRUE(p.ParseTransaction(tx("\"a\"", "0")));
    ExpectError(p, tx("{}", "0"), "transaction_id",
                "transaction_id: expected a string, got object");
    ExpectError(p, tx("123", "0"), "transaction_id", "expected a string, got number");
    ExpectError(p, tx("\"\"", "0"), "transaction_id", "expected a non-empty string");
    ExpectError(p, tx("\"" + std::string(129, 'x') + "\"", "0"), "transaction_id",
                "longer than 128 bytes (129)");
    EXPECT_TRUE(p.ParseTransaction(tx("\"" + std::string(128, 'x') + "\"", "0")));
    ExpectError(p, tx(R"("a\u0001b")", "0"), "transaction_id", "control character at byte 1");
    ExpectError(p, tx(R"("a\u0000")", "0"), "transaction_id", "control character");
    EXPECT_TRUE(p.ParseTransaction(tx(R"("caf\u00e9 \"q\" \\ /")", "0")));
    ExpectError(p, tx("\"a\"", R"("yesterday")"), "timestamp",
                "timestamp: expected an ISO-8601 timestamp");
    ExpectError(p, tx("\"a\"", R"("1522540831")"), "timestamp", "ISO-8601");
    ExpectError(p, tx("\"a\"", "-1"), "timestamp", "timestamp: out of range");
    ExpectError(p, tx("\"a\"", "-0.0006"), "timestamp", "out of range");
    ExpectError(p, tx("\"a\"", "7258118400.001"), "timestamp", "out of range");
    ExpectError(p, tx("\"a\"", R"("2200-01-01T00:00:01Z")"), "timestamp", "out of range");
    ExpectError(p, tx("\"a\"", "1e300"), "timestamp", "out of range");
    ExpectError(p, tx("\"a\"", "1e999"), "timestamp", "expected a finite number");
    ExpectError(p, tx("\"a\"", "18446744073709551615"), "timestamp", "out of range");
    ExpectError(p, tx("\"a\"", "-9223372036854775808"), "timestamp", "out of range");
    ExpectError(p, tx("\"a\"", "true"), "timestamp",
                "expected an ISO-8601 string or epoch seconds, got boolean");
    // Quoted values in messages are cut short and kept printable.
    auto r = p.ParseTransaction(tx("\"a\"", "\"" + std::string(500, 'z') + "\\u0007\""));
    ASSERT_FALSE(r);
    EXPECT_LT(r.error().message.size(), 200u);
    r = p.ParseTransaction(tx("\"a\"", "\"\\u0007\\u00e9\""));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("\"\\u0007\xc3\xa9\""), std::string::npos)
        << r.error().message;
}

TEST(RequestParser, RequiredFieldsMustBeThere) {
    RequestParser p(HandbookSpec());
    ExpectError(p, "{}", "transaction_id", "transaction_id: required field missing");
    ExpectError(p, R"({"transaction_id":"t"})", "timestamp", "required field missing");
    ExpectError(p, R"({"transaction_id":"t","timestamp":0})", "amount", "required");
    ExpectError(p, R"({"transaction_id":"t","timestamp":0,"amount":1,"terminal_id":"d"})",
                "customer_id", "required");
    ExpectError(p, R"({"transaction_id":"t","timestamp":0,"amount":1,"customer_id":"d"})",
                "terminal_id", "required");

    RequestParser x(ExtrasSpec());
    auto r = x.ParseTransaction(
        R"({"transaction_id":"t","timestamp":0,"amount":1,"v2":-0.5,"v1":3,"customer_id":"c"})");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->extras, (std::vector<double>{3.0, -0.5}));
    EXPECT_TRUE(r->customer_id().empty());  // not used by this spec
    ExpectError(x, R"({"transaction_id":"t","timestamp":0,"amount":1,"v1":3})", "v2",
                "v2: required field missing");
    ExpectError(x, R"({"transaction_id":"t","timestamp":0,"amount":1,"v1":3,"v2":"x"})", "v2",
                "v2: expected a finite number, got string");
    ExpectError(x, R"({"transaction_id":"t","timestamp":0,"amount":1,"v1":3,"v2":1e400})", "v2",
                "expected a finite number");
    ExpectError(x, R"({"transaction_id":"t","timestamp":0,"amount":1,"v1":3,"v1":3})", "v1",
                "given twice");
}

TEST(RequestParser, Batches) {
    RequestLimits limits;
    limits.max_batch = 3;
    RequestParser p(HandbookSpec(), limits);
    const std::string a =
        R"({"transaction_id":"a","timestamp":1,"amount":1,"customer_id":"c","terminal_id":"d"})";
    const std::string b =
        R"({"transaction_id":"b","timestamp":2,"amount":2,"customer_id":"c","terminal_id":"d"})";
    const std::string bad =
        R"({"transaction_id":"x","timestamp":2,"amount":"2","customer_id":"c","terminal_id":"d"})";

    auto r = p.ParseBatch("{\"transactions\":[" + a + "," + b + "]}");
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].transaction_id, "a");
    EXPECT_EQ((*r)[1].ts_ms, 2000);
    r = p.ParseBatch("[" + a + "]");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->size(), 1u);
    // Every element equals its parse as a single transaction.
    EXPECT_EQ((*r)[0], *p.ParseTransaction(a));

    const auto expect = [&](const std::string& body, std::string_view field,
                            std::string_view part) {
        auto e = p.ParseBatch(body);
        ASSERT_FALSE(e) << body;
        EXPECT_EQ(e.error().field, field) << e.error().message;
        EXPECT_NE(e.error().message.find(part), std::string::npos) << e.error().message;
    };
    expect("{\"transactions\":[" + a + "," + bad + "]}", "transactions[1].amount",
           "transactions[1].amount: expected a finite number, got string");
    expect("[" + a + "," + bad + "]", "[1].amount", "[1].amount: expected a finite number");
    expect("[" + a + "," + a + "," + a + "," + a + "]", "", "more than 3 elements");
    expect("{\"transactions\":[" + a + "," + a + "," + a + "," + a + "]}", "transactions",
           "transactions: more than 3 elements");
    expect("[]", "", "expected 1..3 elements, got none");
    expect(R"({"transactions":[]})", "transactions", "transactions: expected 1..3 elements");
    expect("[" + a + ",7]", "[1]", "[1]: expected an object, got number");
    expect(R"({"transactions":[[]]})", "transactions[0]", "expected an object, got array");
    expect("{}", "transactions", "transactions: required");
    expect(R"({"transactions":{}})", "transactions", "expected an array, got object");
    expect("{\"transactions\":[" + a + "],\"transactions\":[" + a + "]}", "transactions",
           "given twice");
    expect("{\"transactions\":[" + a + "],\"more\":1}", "more", "unknown field");
    expect(a, "transaction_id", "unknown field (expected {\"transactions\": [...]}");
    expect("\"x\"", "", "got string");
    expect("[" + a, "", "malformed JSON");
}

TEST(RequestParser, Labels) {
    RequestLimits limits;
    limits.max_batch = 2;
    RequestParser p(HandbookSpec(), limits);
    auto one = p.ParseLabels(R"({"transaction_id":"t1","label":1})");
    ASSERT_TRUE(one) << one.error().message;
    ASSERT_EQ(one->size(), 1u);
    EXPECT_EQ((*one)[0], (LabelRequest{"t1", 1, -1}));

    auto many = p.ParseLabels(
        R"({"labels":[{"transaction_id":"a","label":"fraud","known_at":"2018-04-01"},)"
        R"({"label":false,"transaction_id":"b","known_at":1522540800.25}]})");
    ASSERT_TRUE(many) << many.error().message;
    ASSERT_EQ(many->size(), 2u);
    EXPECT_EQ((*many)[0], (LabelRequest{"a", 1, kApril1}));
    EXPECT_EQ((*many)[1], (LabelRequest{"b", 0, kApril1 + 250}));

    for (const char* v : {"0", "1", "true", "false", "\"fraud\"", "\"genuine\"", "1.0", "0e5"}) {
        auto r = p.ParseLabels(std::string(R"([{"transaction_id":"a","label":)") + v +
                               R"(,"known_at":null}])");
        ASSERT_TRUE(r) << v << ": " << r.error().message;
        EXPECT_EQ((*r)[0].label, std::string(v) == "1" || std::string(v) == "true" ||
                                     std::string(v) == "\"fraud\"" || std::string(v) == "1.0");
        EXPECT_EQ((*r)[0].known_at_ms, -1);
    }
    const auto expect = [&](const std::string& body, std::string_view field,
                            std::string_view part) {
        auto e = p.ParseLabels(body);
        ASSERT_FALSE(e) << body;
        EXPECT_EQ(e.error().field, field) << e.error().message;
        EXPECT_NE(e.error().message.find(part), std::string::npos) << e.error().message;
    };
    expect(R"({"transaction_id":"a","label":2})", "label",
           "label: expected 0, 1, true, false, \"fraud\" or \"genuine\", got number");
    expect(R"({"transaction_id":"a","label":"yes"})", "label", "got string \"yes\"");
    expect(R"({"transaction_id":"a","label":null})", "label", "got null");
    expect(R"({"transaction_id":"a"})", "label", "label: required field missing");
    expect(R"({"label":1})", "transaction_id", "required field missing");
    expect("{}", "transaction_id", "required field missing");
    expect(R"({"transaction_id":"a","label":1,"score":0.5})", "score", "unknown field");
    expect(R"({"transaction_id":"a","label":1,"label":0})", "label", "given twice");
    expect(R"({"transaction_id":"a","label":1,"known_at":"soon"})", "known_at", "ISO-8601");
    expect(R"({"transaction_id":"a","label":1,"labels":[]})", "labels", "unknown field");
    expect(R"({"labels":[{"transaction_id":"a","label":1},{"transaction_id":"b"}]})",
           "labels[1].label", "labels[1].label: required field missing");
    expect(R"([{"transaction_id":"a","label":1},{"transaction_id":5,"label":1}])",
           "[1].transaction_id", "expected a string, got number");
    expect(R"({"labels":[]})", "labels", "expected 1..2 elements, got none");
    expect(R"({"labels":[{},{},{}]})", "labels[0].transaction_id", "required");
    expect(R"([{"transaction_id":"a","label":1},{"transaction_id":"a","label":1},{}])", "",
           "more than 2 elements");
    expect(R"({"labels":[{"transaction_id":"a","label":1}],"labels":[]})", "labels", "given twice");
    expect(R"({"labels":[{"transaction_id":"a","label":1}],"x":1})", "x", "unknown field");
    expect(R"({"labels":7})", "labels", "expected an array, got number");
    expect("true", "", "expected a label object");
}

// Random requests (ids with quotes, backslashes and non-ASCII text; amounts and extras of every
// magnitude; timestamps over the whole range) survive ToJson -> ParseTransaction exactly.
TEST(RequestParser, ToJsonRoundTripsOverSeeds) {
    FeatureSpec spec = HandbookSpec();
    spec.extra_columns = {"v1", "odd \"name\"\\"};
    spec.categorical.push_back({KeyField::kCountry, 8, {}});
    RequestParser p(spec);
    const char* pieces[] = {
        "a",    "Z", "0", "-", "\"", "\\", "/", " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\x7f", "{", "}"};
    for (std::uint64_t seed = 1; seed <= 2000; ++seed) {
        Rng rng(seed);
        const auto id = [&] {
            std::string s;
            const std::size_t n = 1 + rng.Below(12);
            for (std::size_t i = 0; i < n; ++i) s += pieces[rng.Below(std::size(pieces))];
            return s.substr(0, 128);
        };
        TxRequest r;
        r.transaction_id = id();
        r.ts_ms = static_cast<std::int64_t>(rng.Below(7258118400001));
        switch (rng.Below(4)) {
            case 0:
                r.amount = std::round(rng.Uniform(0, 1e5)) / 100;
                break;
            case 1:
                r.amount = rng.Normal(0, 1) * std::pow(10.0, rng.Uniform(-300, 12));
                break;
            case 2:
                r.amount = static_cast<double>(rng.Below(1000));
                break;
            default:
                r.amount = (rng.Below(2) ? -1 : 1) * 1e12;
        }
        r.keys[static_cast<int>(KeyField::kCustomer)] = id();
        r.keys[static_cast<int>(KeyField::kTerminal)] = id();
        r.keys[static_cast<int>(KeyField::kCountry)] = id();
        r.extras = {rng.Normal(0, 1) * std::pow(10.0, rng.Uniform(-320, 308)),
                    std::numeric_limits<double>::denorm_min() * static_cast<double>(seed)};
        const std::string json = p.ToJson(r);
        auto back = p.ParseTransaction(json);
        ASSERT_TRUE(back) << json << " -> " << back.error().message;
        ASSERT_EQ(*back, r) << json;
        ASSERT_EQ(p.ToJson(*back), json);  // canonical: a fixed point
    }
}

TEST(RequestParser, ToJsonIsCanonical) {
    RequestParser p(ExtrasSpec());
    TxRequest r;
    r.transaction_id = "t\"1";
    r.ts_ms = kApril1 + 31005;
    r.amount = 0.1;
    r.extras = {1e21, -2.5};
    EXPECT_EQ(p.ToJson(r), R"({"transaction_id":"t\"1","timestamp":1522540831.005,"amount":0.1,)"
                           R"("v1":1e+21,"v2":-2.5})");
    auto back = p.ParseTransaction(
        R"({"v2":-2.50,"amount":1e-1,"timestamp":"2018-04-01T00:00:31.005Z","v1":1E21,)"
        R"("transaction_id":"t\u0022\u0031"})");
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, r);
    RequestParser h(HandbookSpec());
    TxRequest k;
    k.transaction_id = "x";
    k.keys[0] = "c";
    k.keys[1] = "d";
    EXPECT_EQ(h.ToJson(k), R"({"transaction_id":"x","timestamp":0.000,"amount":0,)"
                           R"("customer_id":"c","terminal_id":"d"})");
}

// Prints the cost per call (no assertion: timings are not tests). Thread CPU time, so that
// other processes on the machine do not inflate it; wall time alongside.
TEST(RequestParser, ParseTimePerTransaction) {
    RequestParser p(HandbookSpec());
    ASSERT_TRUE(p.ParseTransaction(kTypical));
    const auto cpu_us = [] {
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
    };
    const auto wall_us = [] {
        return std::chrono::duration<double, std::micro>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    };
#ifdef NDEBUG
    const int n = 200000;
#else
    const int n = 5000;  // debug and sanitizer builds: just run it
#endif
    std::size_t sink = 0;
    double c0 = cpu_us(), w0 = wall_us();
    for (int i = 0; i < n; ++i) sink += p.ParseTransaction(kTypical)->transaction_id.size();
    const double parse_cpu = (cpu_us() - c0) / n, parse_wall = (wall_us() - w0) / n;
    const TxRequest r = *p.ParseTransaction(kTypical);
    c0 = cpu_us();
    for (int i = 0; i < n; ++i) sink += p.ToJson(r).size();
    const double json_cpu = (cpu_us() - c0) / n;
    std::printf(
        "ParseTransaction: %.3f us CPU (%.3f us wall) per %zu-byte body; ToJson: %.3f us CPU "
        "(sink %zu)\n",
        parse_cpu, parse_wall, sizeof(kTypical) - 1, json_cpu, sink);
}

}  // namespace
}  // namespace txguard

namespace txguard {
namespace {

// The fast lexer against nlohmann's parser: the same requests or the same error (field and
// message) on typical bodies, on the bodies it hands over (escapes, non-ASCII, huge numbers,
// nesting) and on 30,000 random mutations of them.
TEST(RequestParser, FastLexerAgreesWithTheReferenceParser) {
    const RequestParser parsers[] = {RequestParser(HandbookSpec()), RequestParser(ExtrasSpec())};
    std::vector<std::string> seeds = {
        kTypical,
        R"({"transaction_id":"t1","timestamp":1522540831.5,"amount":-0,"customer_id":7,)"
        R"("terminal_id":"T\u00e9","v1":1e3,"v2":-2.5E-3})",
        R"({"transactions":[{"transaction_id":"a","timestamp":1522540831,"amount":1,)"
        R"("customer_id":"c","terminal_id":"t"},{"transaction_id":"b","timestamp":)"
        R"("2018-04-01 00:00:31","amount":2.25,"merchant_id":"m","customer_id":"c"}]})",
        R"([{"transaction_id":"a","timestamp":1,"amount":1e999,"customer_id":"c"}])",
        R"({"labels":[{"transaction_id":"a","label":true,"known_at":null},)"
        R"({"transaction_id":"b","label":"fraud","known_at":"2018-04-02T00:00:00Z"}]})",
        R"({"transaction_id":"a","label":0})",
        R"({"transaction_id":"caf\u00e9 \"x\"","timestamp":18446744073709551616,)"
        R"("amount":-9223372036854775809,"customer_id":"Ã©","terminal_id":[[[{}]]]})",
        "  {\"transaction_id\" : \"t\" ,\n\"timestamp\":\t0 , \"amount\": 1.0e+2}\r\n",
        R"({"a":{"b":[1,2,{"c":null}]},"transaction_id":"x"})",
        "{}",
        "[]",
        "[{}]",
        "null",
        "01",
        "-",
        "1.",
        ".5",
        "\xef\xbb\xbf{}",
    };
    const std::string alphabet =
        "{}[]:,\"\\ 0123456789-+.eEtrufalsn\x01\x7f\xc3\xa9"
        "abcxyz";
    Rng rng(20261205);
    const std::size_t base = seeds.size();
    for (int i = 0; i < 30000; ++i) {
        std::string s = seeds[rng.Below(base)];
        for (int edits = 1 + static_cast<int>(rng.Below(3)); edits > 0 && !s.empty(); --edits) {
            const std::size_t at = rng.Below(s.size());
            const char c = alphabet[rng.Below(alphabet.size())];
            switch (rng.Below(3)) {
                case 0:
                    s[at] = c;
                    break;
                case 1:
                    s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), c);
                    break;
                default:
                    s.erase(at, 1 + rng.Below(4));
            }
        }
        seeds.push_back(std::move(s));
    }
    std::size_t fast_ok = 0;
    for (const auto& body : seeds) {
        for (const auto& parser : parsers) {
            const auto check = [&](const auto& fast, const auto& ref) {
                ASSERT_EQ(fast.has_value(), ref.has_value()) << body;
                if (fast) {
                    EXPECT_TRUE(*fast == *ref) << body;
                    ++fast_ok;
                } else {
                    EXPECT_EQ(fast.error().field, ref.error().field) << body;
                    EXPECT_EQ(fast.error().message, ref.error().message) << body;
                }
            };
            check(parser.ParseTransaction(body),
                  parser.ParseTransaction(body, JsonLexer::kReference));
            check(parser.ParseBatch(body), parser.ParseBatch(body, JsonLexer::kReference));
            check(parser.ParseLabels(body), parser.ParseLabels(body, JsonLexer::kReference));
        }
    }
    EXPECT_GT(fast_ok, 100u);  // the mutations leave enough valid bodies to compare values too
}

}  // namespace
}  // namespace txguard
