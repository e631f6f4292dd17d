#pragma once
// Timestamps are int64 milliseconds since the Unix epoch, UTC (`ts_ms`). Inputs without a zone are
// taken as UTC. Days are civil days of the proleptic Gregorian calendar.
#include <cstdint>
#include <string>
#include <string_view>

#include "txguard/core/result.hpp"

namespace txguard {

inline constexpr std::int64_t kMsPerSecond = 1000;
inline constexpr std::int64_t kMsPerDay = 86'400'000;

enum class TimeFormat {
    kAuto,          // ISO-8601 if it contains '-' or ':', else epoch seconds (ms if > 1e11)
    kIso8601,       // YYYY-MM-DD[( |T)HH:MM[:SS[.fff]]][Z|±HH[:MM]]
    kEpochSeconds,  // integer or decimal seconds
    kEpochMillis,
};

// Days since 1970-01-01 for a civil date (Howard Hinnant's algorithm); month 1..12, day 1..31.
std::int64_t DaysFromCivil(int year, unsigned month, unsigned day);
void CivilFromDays(std::int64_t days, int* year, unsigned* month, unsigned* day);

// Parses one timestamp. On failure the error message says what was expected; callers add where.
Result<std::int64_t> ParseTimestamp(std::string_view text, TimeFormat format = TimeFormat::kAuto);
// Parses a date "YYYY-MM-DD" to the ts_ms of its midnight.
Result<std::int64_t> ParseDate(std::string_view text);

// "YYYY-MM-DD HH:MM:SS" (UTC); writes exactly 19 chars to out, returns out + 19.
char* FormatTimestamp(std::int64_t ts_ms, char* out);
std::string FormatTimestamp(std::int64_t ts_ms);
std::string FormatDate(std::int64_t ts_ms);

// Floor division helpers for negative timestamps.
inline std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
inline std::int64_t DayIndex(std::int64_t ts_ms) { return FloorDiv(ts_ms, kMsPerDay); }
inline int HourOfDay(std::int64_t ts_ms) {
    return static_cast<int>((ts_ms - DayIndex(ts_ms) * kMsPerDay) / 3'600'000);
}
// 0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday).
inline int DayOfWeek(std::int64_t ts_ms) {
    std::int64_t d = DayIndex(ts_ms);
    return static_cast<int>(((d % 7) + 7 + 3) % 7);
}

}  // namespace txguard
