#pragma once
// Parsing and validating request bodies of the scoring API (docs/http-api.md). Everything a
// client sends passes through here before it reaches the feature engine, so every malformed,
// mistyped, missing, unknown, non-finite or oversized field is refused with an error naming it
// (the HTTP layer answers 400 with that field). The parser never throws and never crashes on any
// input (fuzzed: tests/fuzz/fuzz_request.cpp).
#include <array>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/features/feature_spec.hpp"

namespace txguard {

// What was wrong and where: `field` is a JSON path such as "amount", "transactions[3].timestamp"
// or "" for the body as a whole (malformed JSON: the message gives the byte offset).
struct RequestError {
    std::string field;
    std::string message;
};

template <class T>
using RequestResult = std::expected<T, RequestError>;

struct RequestLimits {
    std::size_t max_id_bytes = 128;  // transaction_id, customer_id, terminal_id, ... (UTF-8 bytes)
    std::size_t max_batch = 10000;   // transactions or labels per request
    std::int64_t min_ts_ms = 0;      // 1970-01-01
    std::int64_t max_ts_ms = 7258118400000;  // 2200-01-01
    double max_abs_amount = 1e12;
};

// One transaction. keys[f] is the value of key field f (customer_id, terminal_id, category,
// channel, country; "" when the model does not use it). extras follow spec.extra_columns.
struct TxRequest {
    std::string transaction_id;
    std::int64_t ts_ms = 0;
    double amount = 0.0;
    std::array<std::string, kNumKeyFields> keys;
    std::vector<double> extras;

    const std::string& customer_id() const { return keys[static_cast<int>(KeyField::kCustomer)]; }
    const std::string& terminal_id() const { return keys[static_cast<int>(KeyField::kTerminal)]; }
    bool operator==(const TxRequest&) const = default;
};

struct LabelRequest {
    std::string transaction_id;
    std::int8_t label = 0;          // 0 genuine, 1 fraud
    std::int64_t known_at_ms = -1;  // -1: not given (the server uses the transaction's time)
    bool operator==(const LabelRequest&) const = default;
};

// Which JSON lexer reads a body. kFast: txguard's own for printable-ASCII strings without escapes
// and in-range numbers, handing anything else to nlohmann's parser (same results, faster);
// kReference: nlohmann's parser alone (the differential tests compare the two).
enum class JsonLexer : std::uint8_t { kFast, kReference };

// Field rules (one transaction object):
//   transaction_id  string, 1..max_id_bytes bytes, no control characters (< 0x20), required
//   timestamp       ISO-8601 string ("2018-04-01T00:00:31Z", "2018-04-01 00:00:31", offsets,
//                   fractions truncated to the millisecond; a numeric string is refused) or epoch
//                   seconds (number, rounded to the millisecond), required, within
//                   [min_ts_ms, max_ts_ms]
//   amount          finite number, |amount| <= max_abs_amount; required when the spec uses it
//                   (spec.amount, or an entity's sum/mean/std/max/ratio/zscore), else optional
//                   (0 when absent)
//   customer_id, terminal_id (alias merchant_id), category, channel, country
//                   string (a number is accepted and kept as its text as written), 1..max_id_bytes
//                   bytes, no control characters; required when the spec keys an entity,
//                   counterparty or encoding on it, checked and then dropped ("" in keys)
//                   otherwise
//   each of spec.extra_columns: finite number, required
//   lat, lon, label, fraud_scenario: any scalar (not an object or array), ignored (fields of the
//                   schema the model does not use)
// Any other field is an error ("unknown field"), and so is a field given twice (terminal_id and
// merchant_id count as one). A number that overflows a double (1e999) is an error naming its
// field. Errors on the body as a whole have field "": not the expected JSON type, or malformed
// JSON ("malformed JSON at byte 17: syntax error ..."). The first error found is reported; the
// parse stops there. Quoted input in messages is cut short and escaped: messages are valid UTF-8.
class RequestParser {
  public:
    explicit RequestParser(const FeatureSpec& spec, RequestLimits limits = {});

    // A single transaction object.
    RequestResult<TxRequest> ParseTransaction(std::string_view body,
                                              JsonLexer lexer = JsonLexer::kFast) const;
    // {"transactions": [obj, ...]} or a bare array [obj, ...]; 1..max_batch elements. Errors
    // name the element: "transactions[3].amount" (or "[3].amount" for a bare array).
    RequestResult<std::vector<TxRequest>> ParseBatch(std::string_view body,
                                                     JsonLexer lexer = JsonLexer::kFast) const;
    // One label object {"transaction_id", "label": 0|1|true|false|"fraud"|"genuine",
    // "known_at": optional timestamp (as above; null = not given)}, {"labels": [...]} or a bare
    // array of them (1..max_batch). Other fields are errors.
    RequestResult<std::vector<LabelRequest>> ParseLabels(std::string_view body,
                                                         JsonLexer lexer = JsonLexer::kFast) const;

    // The canonical JSON object of a request, as stored (fields_json) and replayed:
    // ParseTransaction(ToJson(r)) == r for every r this parser produced. Fields in a fixed order
    // (transaction_id, timestamp, amount, the non-empty keys in KeyField order, the extras),
    // timestamp as epoch seconds with a 3-digit millisecond fraction, numbers in the shortest form
    // that reads back exactly, no spaces:
    //   {"transaction_id":"t1","timestamp":1522540831.005,"amount":57.16,"customer_id":"c1",...}
    std::string ToJson(const TxRequest& request) const;

    // Names of required fields, for the OpenAPI document.
    std::vector<std::string> RequiredFields() const;

  private:
    std::vector<std::string> extra_columns_;
    std::array<bool, kNumKeyFields> key_required_{};
    bool amount_required_ = true;
    RequestLimits limits_;
};

}  // namespace txguard
