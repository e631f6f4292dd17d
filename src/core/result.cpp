#include "txguard/core/result.hpp"

#include <cstdio>
#include <cstdlib>

#include "txguard/core/check.hpp"

namespace txguard {

const char* ErrorCodeName(ErrorCode code) {
    switch (code) {
        case ErrorCode::kInvalidArgument:
            return "invalid argument";
        case ErrorCode::kParse:
            return "parse error";
        case ErrorCode::kNotFound:
            return "not found";
        case ErrorCode::kIo:
            return "i/o error";
        case ErrorCode::kCorrupt:
            return "corrupt";
        case ErrorCode::kIncompatible:
            return "incompatible";
        case ErrorCode::kInternal:
            return "internal error";
    }
    return "error";
}

std::string Error::ToString() const {
    if (hint.empty()) return message;
    return message + " (hint: " + hint + ")";
}

namespace detail {
void CheckFailed(const char* file, int line, const char* cond, const char* msg) {
    std::fprintf(stderr, "txguard: internal check failed at %s:%d: %s%s%s\n", file, line, cond,
                 msg ? ": " : "", msg ? msg : "");
    std::fflush(stderr);
    std::abort();
}
}  // namespace detail

}  // namespace txguard
