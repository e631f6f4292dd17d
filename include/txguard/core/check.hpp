#pragma once
// Always-on invariant checks for programmer bugs (tier one of the error rules): they abort with
// file:line and the failed condition, in release builds too. Never use them for bad input.
#include <cstdio>
#include <cstdlib>

namespace txguard::detail {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond, const char* msg);
}  // namespace txguard::detail

#define TXG_CHECK(cond)                                                         \
    do {                                                                        \
        if (!(cond)) [[unlikely]]                                               \
            ::txguard::detail::CheckFailed(__FILE__, __LINE__, #cond, nullptr); \
    } while (0)

#define TXG_CHECK_MSG(cond, msg)                                              \
    do {                                                                      \
        if (!(cond)) [[unlikely]]                                             \
            ::txguard::detail::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
    } while (0)
