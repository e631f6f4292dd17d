// Fuzz target for the scoring API's request parser: the bytes go to ParseTransaction, ParseBatch
// and ParseLabels under two parsers (the handbook feature spec with default limits; a spec with
// a counterparty, a categorical column and extra columns, an optional amount and small limits).
// Invariants:
//  - no crash, no sanitizer report, no exception;
//  - an error has a message, valid UTF-8, that starts with its field ("amount: ...");
//  - a parsed transaction obeys the limits and the spec (required keys present, ids 1..max bytes
//    without control characters, finite numbers, timestamps in range) and round-trips:
//    ParseTransaction(ToJson(r)) == r, and ToJson of that is the same text (canonical);
//  - a body that parses as one transaction parses as a batch of one, bare and wrapped, to the
//    same request; every element of a parsed batch round-trips too;
//  - parsed batches and label lists hold 1..max_batch elements; labels are 0 or 1;
//  - the fast lexer and nlohmann's parser (JsonLexer::kReference) give the same result: the same
//    requests, or the same error field and message.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/check.hpp"
#include "txguard/data/schema.hpp"
#include "txguard/data/transaction_table.hpp"
#include "txguard/features/feature_spec.hpp"
#include "txguard/serve/request.hpp"

namespace {

using txguard::FeatureSpec;
using txguard::KeyField;
using txguard::RequestError;
using txguard::RequestLimits;
using txguard::RequestParser;
using txguard::TxRequest;

struct Target {
    RequestParser parser;
    RequestLimits limits;
    std::vector<std::string> required;
};

FeatureSpec HandbookSpec() {
    auto schema = txguard::SchemaPreset("handbook");
    TXG_CHECK(schema.has_value());
    auto spec = txguard::FeatureSpecPreset("handbook", *schema, txguard::TransactionTable{});
    TXG_CHECK(spec.has_value());
    return *spec;
}

FeatureSpec OtherSpec() {
    FeatureSpec spec;
    spec.amount = false;
    txguard::EntitySpec e;
    e.key = KeyField::kCustomer;
    e.aggregates = {txguard::Aggregate::kCount, txguard::Aggregate::kDistinct};
    e.counterparty = KeyField::kTerminal;
    spec.entities.push_back(e);
    spec.categorical.push_back({KeyField::kCategory, 8, {}});
    spec.extra_columns = {"v1", "x"};
    return spec;
}

RequestLimits SmallLimits() {
    RequestLimits l;
    l.max_id_bytes = 16;
    l.max_batch = 3;
    l.min_ts_ms = 1000;
    l.max_ts_ms = 4102444800000;  // 2100-01-01
    l.max_abs_amount = 1e6;
    return l;
}

bool ValidUtf8(const std::string& s) {
    try {
        (void)nlohmann::json(s).dump();  // throws type_error 316 on invalid UTF-8
        return true;
    } catch (...) {
        return false;
    }
}

void CheckError(const RequestError& e) {
    TXG_CHECK(!e.message.empty());
    TXG_CHECK(ValidUtf8(e.message));
    TXG_CHECK(ValidUtf8(e.field));
    if (!e.field.empty()) TXG_CHECK(e.message.rfind(e.field + ": ", 0) == 0);
}

void CheckId(const std::string& id, const RequestLimits& l) {
    TXG_CHECK(!id.empty() && id.size() <= l.max_id_bytes);
    for (char c : id) TXG_CHECK(static_cast<unsigned char>(c) >= 0x20);
    TXG_CHECK(ValidUtf8(id));
}

void CheckTx(const Target& t, const TxRequest& r) {
    const RequestLimits& l = t.limits;
    CheckId(r.transaction_id, l);
    TXG_CHECK(r.ts_ms >= l.min_ts_ms && r.ts_ms <= l.max_ts_ms);
    TXG_CHECK(std::isfinite(r.amount) && std::fabs(r.amount) <= l.max_abs_amount);
    for (int k = 0; k < txguard::kNumKeyFields; ++k) {
        const bool required =
            std::find(t.required.begin(), t.required.end(),
                      txguard::KeyFieldName(static_cast<KeyField>(k))) != t.required.end();
        if (required) {
            CheckId(r.keys[k], l);
        } else {
            TXG_CHECK(r.keys[k].empty());
        }
    }
    for (double x : r.extras) TXG_CHECK(std::isfinite(x));
    const std::string json = t.parser.ToJson(r);
    auto back = t.parser.ParseTransaction(json);
    TXG_CHECK(back.has_value());
    TXG_CHECK(*back == r);
    TXG_CHECK(t.parser.ToJson(*back) == json);
}

template <class T>
void CheckSameAsReference(const txguard::RequestResult<T>& fast,
                          const txguard::RequestResult<T>& reference) {
    TXG_CHECK(fast.has_value() == reference.has_value());
    if (fast) {
        TXG_CHECK(*fast == *reference);
    } else {
        TXG_CHECK(fast.error().field == reference.error().field);
        TXG_CHECK(fast.error().message == reference.error().message);
    }
}

void Check(const Target& t, std::string_view bytes) {
    using txguard::JsonLexer;
    CheckSameAsReference(t.parser.ParseTransaction(bytes),
                         t.parser.ParseTransaction(bytes, JsonLexer::kReference));
    CheckSameAsReference(t.parser.ParseBatch(bytes),
                         t.parser.ParseBatch(bytes, JsonLexer::kReference));
    CheckSameAsReference(t.parser.ParseLabels(bytes),
                         t.parser.ParseLabels(bytes, JsonLexer::kReference));
    auto tx = t.parser.ParseTransaction(bytes);
    if (tx) {
        CheckTx(t, *tx);
        const std::string body(bytes);
        for (const std::string& batch : {"[" + body + "]", "{\"transactions\":[" + body + "]}"}) {
            auto b = t.parser.ParseBatch(batch);
            TXG_CHECK(b.has_value() && b->size() == 1 && (*b)[0] == *tx);
        }
    } else {
        CheckError(tx.error());
    }
    auto batch = t.parser.ParseBatch(bytes);
    if (batch) {
        TXG_CHECK(!batch->empty() && batch->size() <= t.limits.max_batch);
        for (const auto& r : *batch) CheckTx(t, r);
    } else {
        CheckError(batch.error());
    }
    auto labels = t.parser.ParseLabels(bytes);
    if (labels) {
        TXG_CHECK(!labels->empty() && labels->size() <= t.limits.max_batch);
        for (const auto& l : *labels) {
            CheckId(l.transaction_id, t.limits);
            TXG_CHECK(l.label == 0 || l.label == 1);
            TXG_CHECK(l.known_at_ms == -1 ||
                      (l.known_at_ms >= t.limits.min_ts_ms && l.known_at_ms <= t.limits.max_ts_ms));
        }
    } else {
        CheckError(labels.error());
    }
}

Target MakeTarget(const FeatureSpec& spec, const RequestLimits& limits) {
    RequestParser p(spec, limits);
    std::vector<std::string> required = p.RequiredFields();
    return Target{std::move(p), limits, std::move(required)};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Target kHandbook = MakeTarget(HandbookSpec(), RequestLimits{});
    static const Target kOther = MakeTarget(OtherSpec(), SmallLimits());
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    Check(kHandbook, bytes);
    Check(kOther, bytes);
    return 0;
}
