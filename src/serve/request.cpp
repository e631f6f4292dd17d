// Request parsing on nlohmann's SAX interface: no DOM is built, the handler fills TxRequest /
// LabelRequest as the events arrive and stops the parse at the first error (an unknown or
// repeated key, a value of the wrong type, an element past max_batch), so a bad body costs no
// more than the bytes read up to its first mistake.
#include "txguard/serve/request.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "json_text.hpp"
#include "txguard/core/time.hpp"

namespace txguard {
namespace {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Text helpers for messages: everything a message quotes from the body is cut to a few dozen
// bytes on a UTF-8 boundary, with control characters and bytes of broken UTF-8 written as
// escapes, so a message is always valid, printable UTF-8 (the HTTP layer puts it in JSON).

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one.
std::size_t Utf8Len(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c < 0x80) return 1;
    std::size_t n = 0;
    unsigned min = 0;
    unsigned cp = 0;
    if ((c & 0xE0) == 0xC0) {
        n = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        if ((b(i + k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(i + k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

// Printable, valid UTF-8 rendering of untrusted text, at most about `max_bytes` long.
std::string Printable(std::string_view s, std::size_t max_bytes = 48) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(std::min(s.size(), max_bytes) + 8);
    for (std::size_t i = 0; i < s.size();) {
        if (out.size() >= max_bytes) {
            out += "...";
            break;
        }
        const unsigned char c = static_cast<unsigned char>(s[i]);
        const std::size_t n = Utf8Len(s, i);
        if (n == 0 || c < 0x20 || c == 0x7F) {
            out += n == 0 ? "\\x" : "\\u00";
            out += kHex[c >> 4];
            out += kHex[c & 15];
            ++i;
            continue;
        }
        out.append(s.data() + i, n);
        i += n;
    }
    return out;
}

std::string Quoted(std::string_view s) { return "\"" + Printable(s) + "\""; }

std::string NumberText(double v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

// ---------------------------------------------------------------------------------------------
// Field names.

enum class Fid : std::uint8_t {
    kTransactionId,
    kTimestamp,
    kAmount,
    kKey,  // + key index
    kIgnored,
    kExtra,  // + extra index
    kLabel,
    kKnownAt,
};

struct NameSlot {
    std::string_view name;
    Fid fid;
    std::uint8_t slot;  // duplicate detection: aliases share a slot
    std::uint8_t key;   // KeyField for kKey
};

constexpr NameSlot kTxNames[] = {
    {"transaction_id", Fid::kTransactionId, 0, 0},
    {"timestamp", Fid::kTimestamp, 1, 0},
    {"amount", Fid::kAmount, 2, 0},
    {"customer_id", Fid::kKey, 3, static_cast<std::uint8_t>(KeyField::kCustomer)},
    {"terminal_id", Fid::kKey, 4, static_cast<std::uint8_t>(KeyField::kTerminal)},
    {"merchant_id", Fid::kKey, 4, static_cast<std::uint8_t>(KeyField::kTerminal)},
    {"category", Fid::kKey, 5, static_cast<std::uint8_t>(KeyField::kCategory)},
    {"channel", Fid::kKey, 6, static_cast<std::uint8_t>(KeyField::kChannel)},
    {"country", Fid::kKey, 7, static_cast<std::uint8_t>(KeyField::kCountry)},
    {"lat", Fid::kIgnored, 8, 0},
    {"lon", Fid::kIgnored, 9, 0},
    {"label", Fid::kIgnored, 10, 0},
    {"fraud_scenario", Fid::kIgnored, 11, 0},
};
constexpr std::size_t kTxSlots = 12;  // extras use slots kTxSlots + i

constexpr NameSlot kLabelNames[] = {
    {"transaction_id", Fid::kTransactionId, 0, 0},
    {"label", Fid::kLabel, 1, 0},
    {"known_at", Fid::kKnownAt, 2, 0},
};

// ---------------------------------------------------------------------------------------------
// The SAX handler.

enum class Kind : std::uint8_t { kNull, kBool, kInt, kUint, kFloat, kString, kObject, kArray };

const char* KindName(Kind k) {
    switch (k) {
        case Kind::kNull:
            return "null";
        case Kind::kBool:
            return "boolean";
        case Kind::kInt:
        case Kind::kUint:
        case Kind::kFloat:
            return "number";
        case Kind::kString:
            return "string";
        case Kind::kObject:
            return "object";
        case Kind::kArray:
            return "array";
    }
    return "value";
}

struct Value {
    Kind kind = Kind::kNull;
    bool b = false;
    std::int64_t i = 0;
    std::uint64_t u = 0;
    double d = 0;
    std::string* s = nullptr;          // kString (may be moved from)
    const std::string* raw = nullptr;  // kFloat: the number as written
    bool IsNumber() const {
        return kind == Kind::kInt || kind == Kind::kUint || kind == Kind::kFloat;
    }
    double AsDouble() const {
        return kind == Kind::kInt    ? static_cast<double>(i)
               : kind == Kind::kUint ? static_cast<double>(u)
                                     : d;
    }
};

enum class Mode : std::uint8_t { kTransaction, kBatch, kLabels };

struct Config {
    const std::vector<std::string>* extras;
    const std::array<bool, kNumKeyFields>* key_required;
    bool amount_required;
    const RequestLimits* limits;
};

class Handler {
  public:
    Handler(Mode mode, const Config& cfg) : mode_(mode), cfg_(cfg) {
        list_name_ = mode == Mode::kLabels ? "labels" : "transactions";
        if (mode != Mode::kLabels)
            seen_.resize(kTxSlots + cfg.extras->size());
        else
            seen_.resize(3);
    }

    // nlohmann SAX interface.
    bool null() { return OnValue(Value{}); }
    bool boolean(bool v) {
        Value x;
        x.kind = Kind::kBool;
        x.b = v;
        return OnValue(x);
    }
    bool number_integer(std::int64_t v) {
        Value x;
        x.kind = Kind::kInt;
        x.i = v;
        return OnValue(x);
    }
    bool number_unsigned(std::uint64_t v) {
        Value x;
        x.kind = Kind::kUint;
        x.u = v;
        return OnValue(x);
    }
    bool number_float(double v, const std::string& raw) {
        Value x;
        x.kind = Kind::kFloat;
        x.d = v;
        x.raw = &raw;
        return OnValue(x);
    }
    bool string(std::string& v) {
        Value x;
        x.kind = Kind::kString;
        x.s = &v;
        return OnValue(x);
    }
    bool binary(Json::binary_t&) { return Fail("", "unexpected binary value"); }  // not in JSON
    bool start_object(std::size_t) {
        Value x;
        x.kind = Kind::kObject;
        return OnValue(x);
    }
    bool start_array(std::size_t) {
        Value x;
        x.kind = Kind::kArray;
        return OnValue(x);
    }
    bool key(std::string& k);
    bool end_object();
    bool end_array();
    bool parse_error(std::size_t position, const std::string& last_token,
                     const Json::exception& ex);

    bool failed() const { return failed_; }
    RequestError TakeError() { return std::move(error_); }
    TxRequest TakeTx() { return std::move(tx_); }
    std::vector<TxRequest> TakeTxs() { return std::move(txs_); }
    std::vector<LabelRequest> TakeLabels() { return std::move(labels_); }

  private:
    enum class State : std::uint8_t {
        kTop,
        kWrapperKey,      // in {"transactions": ...}, expecting a key or the end
        kLabelsFirstKey,  // labels mode, top object: "labels" or the first field of one label
        kWrapperValue,    // after "transactions": expecting the array
        kArray,           // in the list: expecting an element or the end
        kRecordKey,
        kRecordValue,
        kDone,
    };

    std::string Prefix() const {
        if (!in_list_) return "";
        return (wrapper_ ? list_name_ : std::string()) + "[" + std::to_string(index_) + "].";
    }
    std::string ListPath() const { return wrapper_ ? list_name_ : std::string(); }

    bool Fail(std::string field, std::string_view detail) {
        failed_ = true;
        error_.message = field.empty() ? std::string(detail) : field + ": " + std::string(detail);
        error_.field = std::move(field);
        return false;
    }
    bool FailField(std::string_view name, std::string_view detail) {
        return Fail(Prefix() + std::string(name), detail);
    }
    bool FailType(std::string_view expected, const Value& v) {
        return FailField(field_name_,
                         "expected " + std::string(expected) + ", got " + KindName(v.kind));
    }

    bool OnValue(const Value& v);
    void BeginRecord();
    bool FinishRecord();
    bool RecordKey(std::string& k);
    bool TxValue(const Value& v);
    bool LabelValue(const Value& v);
    bool TimestampValue(const Value& v, std::int64_t* out);
    bool IdValue(const Value& v, bool numbers_ok, std::string* out);
    bool FiniteNumber(const Value& v, double* out);

    Mode mode_;
    Config cfg_;
    State state_ = State::kTop;
    bool failed_ = false;
    RequestError error_;

    std::string list_name_;
    bool wrapper_ = false;
    bool list_seen_ = false;
    bool in_list_ = false;
    std::size_t index_ = 0;

    // The record being read.
    std::vector<std::uint8_t> seen_;
    const NameSlot* field_ = nullptr;
    std::size_t extra_index_ = 0;
    std::string_view field_name_;  // as written (valid while in kRecordValue)
    std::string field_name_buf_;
    TxRequest tx_;
    LabelRequest label_;

    std::vector<TxRequest> txs_;
    std::vector<LabelRequest> labels_;
};

bool Handler::OnValue(const Value& v) {
    switch (state_) {
        case State::kRecordValue:
            state_ = State::kRecordKey;
            return mode_ == Mode::kLabels ? LabelValue(v) : TxValue(v);
        case State::kTop:
            if (v.kind == Kind::kObject) {
                if (mode_ == Mode::kTransaction) {
                    BeginRecord();
                    state_ = State::kRecordKey;
                } else {
                    state_ = mode_ == Mode::kBatch ? State::kWrapperKey : State::kLabelsFirstKey;
                }
                return true;
            }
            if (v.kind == Kind::kArray && mode_ != Mode::kTransaction) {
                state_ = State::kArray;
                in_list_ = true;
                return true;
            }
            switch (mode_) {
                case Mode::kTransaction:
                    return Fail("", std::string("expected a JSON object (one transaction), got ") +
                                        KindName(v.kind));
                case Mode::kBatch:
                    return Fail("", std::string("expected {\"transactions\": [...]} or an array of "
                                                "transaction objects, got ") +
                                        KindName(v.kind));
                case Mode::kLabels:
                    return Fail("", std::string("expected a label object, {\"labels\": [...]} or "
                                                "an array of label objects, got ") +
                                        KindName(v.kind));
            }
            return Fail("", "unexpected value");
        case State::kWrapperValue:
            if (v.kind != Kind::kArray)
                return Fail(list_name_, std::string("expected an array, got ") + KindName(v.kind));
            state_ = State::kArray;
            in_list_ = true;
            return true;
        case State::kArray:
            if (index_ >= cfg_.limits->max_batch)
                return Fail(ListPath(), "more than " + std::to_string(cfg_.limits->max_batch) +
                                            " elements (the limit per request)");
            if (v.kind != Kind::kObject)
                return Fail(Prefix().substr(0, Prefix().size() - 1),
                            std::string("expected an object, got ") + KindName(v.kind));
            BeginRecord();
            state_ = State::kRecordKey;
            return true;
        default:
            return Fail("", "unexpected value");  // the JSON grammar rules this out
    }
}

bool Handler::key(std::string& k) {
    switch (state_) {
        case State::kRecordKey:
            return RecordKey(k);
        case State::kLabelsFirstKey:
            if (k == "labels") {
                wrapper_ = true;
                list_seen_ = true;
                state_ = State::kWrapperValue;
                return true;
            }
            BeginRecord();  // a single label object
            return RecordKey(k);
        case State::kWrapperKey:
            if (k == list_name_ && !list_seen_) {
                wrapper_ = true;
                list_seen_ = true;
                state_ = State::kWrapperValue;
                return true;
            }
            if (k == list_name_) return Fail(list_name_, "given twice");
            return Fail(Printable(k),
                        "unknown field (expected {\"" + list_name_ + "\": [...]} or an array)");
        default:
            return Fail("", "unexpected key");
    }
}

bool Handler::end_object() {
    switch (state_) {
        case State::kRecordKey:
            if (!FinishRecord()) return false;
            if (in_list_) {
                ++index_;
                state_ = State::kArray;
            } else {
                state_ = State::kDone;
            }
            return true;
        case State::kLabelsFirstKey:  // {}: a label object without fields
            BeginRecord();
            if (!FinishRecord()) return false;
            state_ = State::kDone;
            return true;
        case State::kWrapperKey:
            if (!list_seen_)
                return Fail(list_name_, "required (expected {\"" + list_name_ + "\": [...]})");
            state_ = State::kDone;
            return true;
        default:
            return Fail("", "unexpected end of object");
    }
}

bool Handler::end_array() {
    if (state_ != State::kArray) return Fail("", "unexpected end of array");
    if (index_ == 0)
        return Fail(ListPath(), "expected 1.." + std::to_string(cfg_.limits->max_batch) +
                                    " elements, got none");
    in_list_ = false;
    state_ = wrapper_ ? State::kWrapperKey : State::kDone;
    return true;
}

bool Handler::parse_error(std::size_t position, const std::string& last_token,
                          const Json::exception& ex) {
    if (failed_) return false;
    if (ex.id == 406 && state_ == State::kRecordValue) {  // a number beyond the double range
        const bool number_expected =
            field_ != nullptr && (field_->fid == Fid::kAmount || field_->fid == Fid::kExtra ||
                                  field_->fid == Fid::kTimestamp || field_->fid == Fid::kKnownAt);
        return FailField(field_name_, std::string(number_expected ? "expected a finite number"
                                                                  : "number out of range") +
                                          ", got " + Printable(last_token));
    }
    // "[json.exception.parse_error.101] parse error at line 1, column 6: syntax error ..."
    std::string_view what = ex.what();
    if (const auto col = what.find("column "); col != std::string_view::npos) {
        if (const auto colon = what.find(": ", col); colon != std::string_view::npos)
            what.remove_prefix(colon + 2);
    } else if (const auto bracket = what.find("] "); bracket != std::string_view::npos) {
        what.remove_prefix(bracket + 2);
    }
    return Fail("",
                "malformed JSON at byte " + std::to_string(position) + ": " + Printable(what, 160));
}

void Handler::BeginRecord() {
    std::fill(seen_.begin(), seen_.end(), 0);
    if (mode_ == Mode::kLabels) {
        label_ = LabelRequest{};
    } else {
        tx_ = TxRequest{};
        tx_.extras.assign(cfg_.extras->size(), 0.0);
    }
}

bool Handler::RecordKey(std::string& k) {
    const NameSlot* found = nullptr;
    std::size_t slot = 0;
    if (mode_ == Mode::kLabels) {
        for (const auto& n : kLabelNames)
            if (n.name == k) found = &n;
        if (found) slot = found->slot;
    } else {
        for (const auto& n : kTxNames)
            if (n.name.size() == k.size() && n.name == k) {
                found = &n;
                break;
            }
        if (found) {
            slot = found->slot;
        } else {
            const auto& extras = *cfg_.extras;
            for (std::size_t i = 0; i < extras.size(); ++i)
                if (extras[i] == k) {
                    static constexpr NameSlot kExtraSlot{"", Fid::kExtra, 0, 0};
                    found = &kExtraSlot;
                    extra_index_ = i;
                    slot = kTxSlots + i;
                    break;
                }
        }
    }
    if (!found) return FailField(Printable(k), "unknown field");
    if (seen_[slot]) {
        if (found->fid == Fid::kKey && found->key == static_cast<int>(KeyField::kTerminal))
            return FailField(k, "given twice (merchant_id is an alias of terminal_id)");
        return FailField(k, "given twice");
    }
    seen_[slot] = 1;
    field_ = found;
    field_name_buf_.swap(k);  // k is valid UTF-8 from the parser and a known name: no escaping
    field_name_ = field_name_buf_;
    state_ = State::kRecordValue;
    return true;
}

bool Handler::IdValue(const Value& v, bool numbers_ok, std::string* out) {
    if (v.kind == Kind::kString) {
        const std::string& s = *v.s;
        if (s.empty()) return FailField(field_name_, "expected a non-empty string");
        if (s.size() > cfg_.limits->max_id_bytes)
            return FailField(field_name_, "longer than " +
                                              std::to_string(cfg_.limits->max_id_bytes) +
                                              " bytes (" + std::to_string(s.size()) + ")");
        for (std::size_t i = 0; i < s.size(); ++i)
            if (static_cast<unsigned char>(s[i]) < 0x20)
                return FailField(field_name_, "control character at byte " + std::to_string(i));
        *out = std::move(*v.s);
        return true;
    }
    if (numbers_ok && v.IsNumber()) {
        std::string text = v.kind == Kind::kInt    ? std::to_string(v.i)
                           : v.kind == Kind::kUint ? std::to_string(v.u)
                                                   : *v.raw;
        if (text.size() > cfg_.limits->max_id_bytes)
            return FailField(field_name_, "longer than " +
                                              std::to_string(cfg_.limits->max_id_bytes) +
                                              " bytes (" + std::to_string(text.size()) + ")");
        *out = std::move(text);
        return true;
    }
    return FailType(numbers_ok ? "a string or number" : "a string", v);
}

bool Handler::FiniteNumber(const Value& v, double* out) {
    if (!v.IsNumber()) return FailType("a finite number", v);
    const double d = v.AsDouble();
    if (!std::isfinite(d)) return FailField(field_name_, "expected a finite number");
    *out = d;
    return true;
}

bool Handler::TimestampValue(const Value& v, std::int64_t* out) {
    const RequestLimits& lim = *cfg_.limits;
    double ms_d = 0;
    std::int64_t ms = 0;
    bool exact = false;
    if (v.kind == Kind::kString) {
        auto r = ParseTimestamp(*v.s, TimeFormat::kIso8601);
        if (!r)
            return FailField(field_name_,
                             "expected an ISO-8601 timestamp (YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM]) "
                             "or epoch seconds, got " +
                                 Quoted(*v.s));
        ms = *r;
        exact = true;
    } else if (v.kind == Kind::kInt || v.kind == Kind::kUint) {
        constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / 1000;
        if (v.kind == Kind::kUint ? v.u > static_cast<std::uint64_t>(kMax)
                                  : (v.i > kMax || v.i < -kMax)) {
            ms_d = std::numeric_limits<double>::infinity();
        } else {
            ms = (v.kind == Kind::kUint ? static_cast<std::int64_t>(v.u) : v.i) * 1000;
            exact = true;
        }
    } else if (v.kind == Kind::kFloat) {
        ms_d = std::round(v.d * 1000.0);  // epoch seconds to the millisecond
    } else {
        return FailType("an ISO-8601 string or epoch seconds", v);
    }
    const bool in_range = exact ? ms >= lim.min_ts_ms && ms <= lim.max_ts_ms
                                : ms_d >= static_cast<double>(lim.min_ts_ms) &&
                                      ms_d <= static_cast<double>(lim.max_ts_ms);
    if (!in_range)
        return FailField(field_name_, "out of range (expected " + FormatTimestamp(lim.min_ts_ms) +
                                          " .. " + FormatTimestamp(lim.max_ts_ms) + " UTC)");
    *out = exact ? ms : static_cast<std::int64_t>(ms_d);
    return true;
}

bool Handler::TxValue(const Value& v) {
    switch (field_->fid) {
        case Fid::kTransactionId:
            return IdValue(v, false, &tx_.transaction_id);
        case Fid::kTimestamp:
            return TimestampValue(v, &tx_.ts_ms);
        case Fid::kAmount: {
            double a = 0;
            if (!FiniteNumber(v, &a)) return false;
            if (std::fabs(a) > cfg_.limits->max_abs_amount)
                return FailField(field_name_, "magnitude above " +
                                                  NumberText(cfg_.limits->max_abs_amount) +
                                                  ", got " + NumberText(a));
            tx_.amount = a;
            return true;
        }
        case Fid::kKey: {
            if ((*cfg_.key_required)[field_->key]) return IdValue(v, true, &tx_.keys[field_->key]);
            std::string ignored;  // validated, then dropped: the model does not use it
            return IdValue(v, true, &ignored);
        }
        case Fid::kExtra:
            return FiniteNumber(v, &tx_.extras[extra_index_]);
        case Fid::kIgnored:
            if (v.kind == Kind::kObject || v.kind == Kind::kArray)
                return FailType("a string, number, boolean or null", v);
            return true;
        default:
            return Fail("", "internal error: unexpected field");
    }
}

bool Handler::LabelValue(const Value& v) {
    switch (field_->fid) {
        case Fid::kTransactionId:
            return IdValue(v, false, &label_.transaction_id);
        case Fid::kLabel: {
            int label = -1;
            if (v.kind == Kind::kBool) label = v.b ? 1 : 0;
            if (v.IsNumber()) {
                const double d = v.AsDouble();
                if (d == 0.0 || d == 1.0) label = static_cast<int>(d);
            }
            if (v.kind == Kind::kString) {
                if (*v.s == "fraud") label = 1;
                if (*v.s == "genuine") label = 0;
            }
            if (label < 0) {
                std::string got = KindName(v.kind);
                if (v.kind == Kind::kString) got += " " + Quoted(*v.s);
                return FailField(
                    field_name_,
                    "expected 0, 1, true, false, \"fraud\" or \"genuine\", got " + got);
            }
            label_.label = static_cast<std::int8_t>(label);
            return true;
        }
        case Fid::kKnownAt:
            if (v.kind == Kind::kNull) return true;  // as if not given
            return TimestampValue(v, &label_.known_at_ms);
        default:
            return Fail("", "internal error: unexpected field");
    }
}

bool Handler::FinishRecord() {
    const auto missing = [&](std::string_view name) {
        return FailField(name, "required field missing");
    };
    if (mode_ == Mode::kLabels) {
        if (!seen_[0]) return missing("transaction_id");
        if (!seen_[1]) return missing("label");
        labels_.push_back(std::move(label_));
        return true;
    }
    if (!seen_[0]) return missing("transaction_id");
    if (!seen_[1]) return missing("timestamp");
    if (cfg_.amount_required && !seen_[2]) return missing("amount");
    for (int k = 0; k < kNumKeyFields; ++k)
        if ((*cfg_.key_required)[k] && !seen_[3 + k])
            return missing(KeyFieldName(static_cast<KeyField>(k)));
    const auto& extras = *cfg_.extras;
    for (std::size_t i = 0; i < extras.size(); ++i)
        if (!seen_[kTxSlots + i]) return missing(Printable(extras[i]));
    if (mode_ == Mode::kBatch) txs_.push_back(std::move(tx_));
    return true;
}

bool AllSpace(std::string_view s) {
    for (char c : s)
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return false;
    return true;
}

// The fast path for the bodies clients send: strings of printable ASCII without escapes,
// numbers that fit their types. It drives the Handler with exactly the events nlohmann's SAX
// parser gives (start_object, key, number_unsigned for non-negative integers, number_integer for
// negative ones, number_float with the token as written, ...) and gives up at the first thing it
// does not handle — an escape, a byte below 0x20 or above 0x7E in a string, a number out of its
// type's range, any syntax error, nesting deeper than 64 — so the caller reruns the whole body
// through nlohmann, whose events and messages are then the answer. Profiled 2026-12-05: nlohmann's
// lexer (a push_back per character) was ~15k instructions of a ~140k-instruction scoring request.
enum class FastResult : std::uint8_t { kOk, kStopped, kFallback };

FastResult FastSax(std::string_view body, Handler& h) {
    const char* p = body.data();
    const char* const end = p + body.size();
    std::string text;  // the current string or key (the handler may move from it)
    std::string raw;   // the current float as written
    char stack[64];    // open containers: '{' or '['
    int depth = 0;
    const auto skip_space = [&] {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
    };
    const auto read_string = [&]() -> bool {  // at '"'
        const char* start = ++p;
        while (p < end && *p != '"') {
            const auto c = static_cast<unsigned char>(*p);
            if (c < 0x20 || c > 0x7E || c == '\\') return false;
            ++p;
        }
        if (p == end) return false;
        text.assign(start, static_cast<std::size_t>(p - start));
        ++p;
        return true;
    };
    const auto digits = [&] {
        const char* start = p;
        while (p < end && *p >= '0' && *p <= '9') ++p;
        return p > start;
    };
    const auto literal = [&](std::string_view word) {
        if (static_cast<std::size_t>(end - p) < word.size() ||
            std::string_view(p, word.size()) != word)
            return false;
        p += word.size();
        return true;
    };
    enum class Next : std::uint8_t { kValue, kKey, kAfterValue } next = Next::kValue;
    for (;;) {
        skip_space();
        if (next == Next::kKey) {
            if (p == end || *p != '"' || !read_string()) return FastResult::kFallback;
            skip_space();
            if (p == end || *p != ':') return FastResult::kFallback;
            ++p;
            if (!h.key(text)) return FastResult::kStopped;
            next = Next::kValue;
            continue;
        }
        if (next == Next::kAfterValue) {
            if (depth == 0) return p == end ? FastResult::kOk : FastResult::kFallback;
            if (p == end) return FastResult::kFallback;
            const char open = stack[depth - 1];
            if (*p == ',') {
                ++p;
                next = open == '{' ? Next::kKey : Next::kValue;
                continue;
            }
            if ((*p == '}' && open == '{') || (*p == ']' && open == '[')) {
                ++p;
                --depth;
                if (!(open == '{' ? h.end_object() : h.end_array())) return FastResult::kStopped;
                continue;
            }
            return FastResult::kFallback;
        }
        // A value.
        if (p == end) return FastResult::kFallback;
        bool ok = true;
        switch (*p) {
            case '{':
            case '[': {
                if (depth == static_cast<int>(sizeof stack)) return FastResult::kFallback;
                const char open = *p++;
                stack[depth++] = open;
                if (!(open == '{' ? h.start_object(static_cast<std::size_t>(-1))
                                  : h.start_array(static_cast<std::size_t>(-1))))
                    return FastResult::kStopped;
                skip_space();
                if (p < end && *p == (open == '{' ? '}' : ']')) {
                    ++p;
                    --depth;
                    if (!(open == '{' ? h.end_object() : h.end_array()))
                        return FastResult::kStopped;
                    next = Next::kAfterValue;
                } else {
                    next = open == '{' ? Next::kKey : Next::kValue;
                }
                continue;
            }
            case '"':
                if (!read_string()) return FastResult::kFallback;
                ok = h.string(text);
                break;
            case 't':
                if (!literal("true")) return FastResult::kFallback;
                ok = h.boolean(true);
                break;
            case 'f':
                if (!literal("false")) return FastResult::kFallback;
                ok = h.boolean(false);
                break;
            case 'n':
                if (!literal("null")) return FastResult::kFallback;
                ok = h.null();
                break;
            default: {
                // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
                const char* start = p;
                const bool negative = *p == '-';
                if (negative) ++p;
                if (p == end || *p < '0' || *p > '9') return FastResult::kFallback;
                if (*p == '0') {
                    ++p;
                } else {
                    digits();
                }
                bool is_float = false;
                if (p < end && *p == '.') {
                    ++p;
                    if (!digits()) return FastResult::kFallback;
                    is_float = true;
                }
                if (p < end && (*p == 'e' || *p == 'E')) {
                    ++p;
                    if (p < end && (*p == '+' || *p == '-')) ++p;
                    if (!digits()) return FastResult::kFallback;
                    is_float = true;
                }
                if (is_float) {
                    double v = 0;
                    const auto [q, ec] = std::from_chars(start, p, v);
                    if (ec != std::errc() || q != p || !std::isfinite(v))
                        return FastResult::kFallback;
                    raw.assign(start, static_cast<std::size_t>(p - start));
                    ok = h.number_float(v, raw);
                } else if (negative) {
                    std::int64_t v = 0;
                    const auto [q, ec] = std::from_chars(start, p, v);
                    if (ec != std::errc() || q != p) return FastResult::kFallback;
                    ok = h.number_integer(v);
                } else {
                    std::uint64_t v = 0;
                    const auto [q, ec] = std::from_chars(start, p, v);
                    if (ec != std::errc() || q != p) return FastResult::kFallback;
                    ok = h.number_unsigned(v);
                }
            }
        }
        if (!ok) return FastResult::kStopped;
        next = Next::kAfterValue;
    }
}

// Runs a fresh handler over the body (the fast path first, nlohmann's parser when it gives up, or
// nlohmann's alone with `fast` false); false with `err` set on any failure.
bool Run(std::string_view body, Mode mode, const Config& cfg, bool fast, Handler& h,
         RequestError* err) {
    if (AllSpace(body)) {
        *err = {"", "empty body: expected a JSON object"};
        return false;
    }
    if (fast) {
        switch (FastSax(body, h)) {
            case FastResult::kOk:
                return true;
            case FastResult::kStopped:
                *err = h.TakeError();
                return false;
            case FastResult::kFallback:
                h = Handler(mode, cfg);
                break;
        }
    }
    try {
        const bool ok = Json::sax_parse(body.data(), body.data() + body.size(), &h,
                                        Json::input_format_t::json, /*strict=*/true,
                                        /*ignore_comments=*/false);
        if (ok && !h.failed()) return true;
        if (h.failed()) {
            *err = h.TakeError();
        } else {
            *err = {"", "malformed JSON"};
        }
    } catch (const std::exception& e) {
        *err = {"", std::string("could not parse the body: ") + Printable(e.what(), 160)};
    } catch (...) {
        *err = {"", "could not parse the body"};
    }
    return false;
}

// One parse of a body in `mode`: the handler's result (`take`) or the first error.
template <class Take>
auto Parse(std::string_view body, Mode mode, const Config& cfg, JsonLexer lexer, Take take)
    -> RequestResult<decltype(take(std::declval<Handler&>()))> {
    Handler h(mode, cfg);
    RequestError err;
    if (!Run(body, mode, cfg, lexer == JsonLexer::kFast, h, &err))
        return std::unexpected(std::move(err));
    return take(h);
}

bool UsesAmount(const FeatureSpec& spec) {
    if (spec.amount) return true;
    for (const auto& e : spec.entities) {
        if (e.amount_ratio_to_mean || e.amount_zscore) return true;
        for (Aggregate a : e.aggregates)
            if (a == Aggregate::kSum || a == Aggregate::kMean || a == Aggregate::kStd ||
                a == Aggregate::kMax)
                return true;
    }
    return false;
}

}  // namespace

RequestParser::RequestParser(const FeatureSpec& spec, RequestLimits limits)
    : extra_columns_(spec.extra_columns), amount_required_(UsesAmount(spec)), limits_(limits) {
    for (const auto& e : spec.entities) {
        key_required_[static_cast<int>(e.key)] = true;
        if (e.NeedsCounterparty()) key_required_[static_cast<int>(e.counterparty)] = true;
    }
    for (const auto& c : spec.categorical) key_required_[static_cast<int>(c.column)] = true;
}

RequestResult<TxRequest> RequestParser::ParseTransaction(std::string_view body,
                                                         JsonLexer lexer) const {
    return Parse(body, Mode::kTransaction,
                 {&extra_columns_, &key_required_, amount_required_, &limits_}, lexer,
                 [](Handler& h) { return h.TakeTx(); });
}

RequestResult<std::vector<TxRequest>> RequestParser::ParseBatch(std::string_view body,
                                                                JsonLexer lexer) const {
    return Parse(body, Mode::kBatch, {&extra_columns_, &key_required_, amount_required_, &limits_},
                 lexer, [](Handler& h) { return h.TakeTxs(); });
}

RequestResult<std::vector<LabelRequest>> RequestParser::ParseLabels(std::string_view body,
                                                                    JsonLexer lexer) const {
    return Parse(body, Mode::kLabels, {&extra_columns_, &key_required_, amount_required_, &limits_},
                 lexer, [](Handler& h) { return h.TakeLabels(); });
}

std::string RequestParser::ToJson(const TxRequest& r) const {
    std::string out;
    out.reserve(96 + r.transaction_id.size() + r.extras.size() * 24);
    out += "{\"transaction_id\":";
    AppendJsonString(out, r.transaction_id);
    // Epoch seconds with the milliseconds as a 3-digit fraction: exact through a double.
    out += ",\"timestamp\":";
    std::uint64_t abs_ms =
        r.ts_ms < 0 ? 0 - static_cast<std::uint64_t>(r.ts_ms) : static_cast<std::uint64_t>(r.ts_ms);
    if (r.ts_ms < 0) out += '-';
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, abs_ms / 1000);
    out.append(buf, end);
    const unsigned frac = static_cast<unsigned>(abs_ms % 1000);
    out += '.';
    out += static_cast<char>('0' + frac / 100);
    out += static_cast<char>('0' + frac / 10 % 10);
    out += static_cast<char>('0' + frac % 10);
    out += ",\"amount\":";
    AppendJsonNumber(out, r.amount);
    for (int k = 0; k < kNumKeyFields; ++k) {
        if (r.keys[k].empty()) continue;
        out += ",\"";
        out += KeyFieldName(static_cast<KeyField>(k));
        out += "\":";
        AppendJsonString(out, r.keys[k]);
    }
    const std::size_t n = std::min(r.extras.size(), extra_columns_.size());
    for (std::size_t i = 0; i < n; ++i) {
        out += ',';
        AppendJsonString(out, extra_columns_[i]);
        out += ':';
        AppendJsonNumber(out, r.extras[i]);
    }
    out += '}';
    return out;
}

std::vector<std::string> RequestParser::RequiredFields() const {
    std::vector<std::string> f = {"transaction_id", "timestamp"};
    if (amount_required_) f.push_back("amount");
    for (int k = 0; k < kNumKeyFields; ++k)
        if (key_required_[k]) f.push_back(KeyFieldName(static_cast<KeyField>(k)));
    for (const auto& e : extra_columns_) f.push_back(e);
    return f;
}

}  // namespace txguard
