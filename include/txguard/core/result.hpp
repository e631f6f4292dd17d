#pragma once
// Expected failures travel as Result<T> (std::expected); exceptions never cross a module boundary.
// An Error carries a code (mapped to exit codes / HTTP statuses by the apps), a message that names
// the input (file:line:column, field, id) and an optional hint on what to do about it.
#include <expected>
#include <string>
#include <utility>

namespace txguard {

enum class ErrorCode {
    kInvalidArgument,  // bad parameter or option
    kParse,            // malformed input data (CSV row, JSON, timestamp)
    kNotFound,         // missing file or key
    kIo,               // read/write failure
    kCorrupt,          // checksum or structure mismatch in a file we wrote
    kIncompatible,     // a file from another format version / schema
    kInternal,
};

const char* ErrorCodeName(ErrorCode code);

struct Error {
    ErrorCode code = ErrorCode::kInternal;
    std::string message;
    std::string hint;

    // "message (hint: ...)" in one line.
    std::string ToString() const;
};

template <class T>
using Result = std::expected<T, Error>;

// A Result<void> success value: `return Ok();`.
inline std::expected<void, Error> Ok() { return {}; }

inline std::unexpected<Error> MakeError(ErrorCode code, std::string message,
                                        std::string hint = {}) {
    return std::unexpected<Error>(Error{code, std::move(message), std::move(hint)});
}

}  // namespace txguard

// Propagate an error: `TXG_TRY(auto x, Foo());` is not portable, so use
//   auto r = Foo(); if (!r) return std::unexpected(r.error());
#define TXG_RETURN_IF_ERROR(expr)                                      \
    do {                                                               \
        auto txg_status_ = (expr);                                     \
        if (!txg_status_) return std::unexpected(txg_status_.error()); \
    } while (0)
