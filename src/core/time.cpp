#include "txguard/core/time.hpp"

#include <charconv>
#include <cmath>
#include <cstring>

namespace txguard {

std::int64_t DaysFromCivil(int y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void CivilFromDays(std::int64_t z, int* year, unsigned* month, unsigned* day) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = static_cast<int>(y + (*month <= 2));
}

namespace {

bool Digits(std::string_view s, std::size_t pos, std::size_t n, int* out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = s[pos + i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return true;
}

unsigned DaysInMonth(int y, unsigned m) {
    static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return kDays[m - 1];
}

Result<std::int64_t> BadIso(std::string_view text) {
    return MakeError(
        ErrorCode::kParse,
        "expected an ISO-8601 timestamp (YYYY-MM-DD[ HH:MM[:SS[.fff]]][Z|+HH:MM]), got \"" +
            std::string(text.substr(0, 64)) + "\"");
}

Result<std::int64_t> ParseIso(std::string_view s) {
    int y, mo, d;
    if (!Digits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
        s[7] != '-' || !Digits(s, 8, 2, &d))
        return BadIso(s);
    if (mo < 1 || mo > 12 || d < 1 || static_cast<unsigned>(d) > DaysInMonth(y, mo))
        return BadIso(s);
    std::int64_t ms = DaysFromCivil(y, mo, d) * kMsPerDay;
    std::size_t p = 10;
    if (p == s.size()) return ms;
    if (s[p] != ' ' && s[p] != 'T' && s[p] != 't') return BadIso(s);
    ++p;
    int hh, mm, ss = 0;
    if (!Digits(s, p, 2, &hh) || p + 2 >= s.size() || s[p + 2] != ':' || !Digits(s, p + 3, 2, &mm))
        return BadIso(s);
    p += 5;
    if (p < s.size() && s[p] == ':') {
        if (!Digits(s, p + 1, 2, &ss)) return BadIso(s);
        p += 3;
    }
    if (hh > 23 || mm > 59 || ss > 60) return BadIso(s);
    ms += (hh * 3600LL + mm * 60LL + ss) * kMsPerSecond;
    if (p < s.size() && (s[p] == '.' || s[p] == ',')) {
        ++p;
        int frac_ms = 0, digits = 0;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
            if (digits < 3) frac_ms = frac_ms * 10 + (s[p] - '0');
            ++digits;
            ++p;
        }
        if (digits == 0) return BadIso(s);
        for (int i = digits; i < 3; ++i) frac_ms *= 10;
        ms += frac_ms;
    }
    if (p == s.size()) return ms;
    if ((s[p] == 'Z' || s[p] == 'z') && p + 1 == s.size()) return ms;
    if (s[p] == '+' || s[p] == '-') {
        const int sign = s[p] == '+' ? 1 : -1;
        int oh, om = 0;
        if (!Digits(s, p + 1, 2, &oh)) return BadIso(s);
        std::size_t q = p + 3;
        if (q < s.size() && s[q] == ':') ++q;
        if (q < s.size()) {
            if (!Digits(s, q, 2, &om)) return BadIso(s);
            q += 2;
        }
        if (q != s.size() || oh > 23 || om > 59) return BadIso(s);
        // Local time = UTC + offset, so UTC = local - offset.
        return ms - sign * (oh * 3600LL + om * 60LL) * kMsPerSecond;
    }
    return BadIso(s);
}

Result<std::int64_t> ParseEpoch(std::string_view s, bool millis) {
    double v = 0;
    const char* end = s.data() + s.size();
    auto [ptr, ec] = std::from_chars(s.data(), end, v);
    if (ec != std::errc() || ptr != end || !std::isfinite(v) || std::fabs(v) > 9.2e15) {
        return MakeError(ErrorCode::kParse, std::string("expected epoch ") +
                                                (millis ? "milliseconds" : "seconds") + ", got \"" +
                                                std::string(s.substr(0, 64)) + "\"");
    }
    return static_cast<std::int64_t>(std::llround(millis ? v : v * 1000.0));
}

}  // namespace

Result<std::int64_t> ParseTimestamp(std::string_view text, TimeFormat format) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
        text.remove_suffix(1);
    if (text.empty())
        return MakeError(ErrorCode::kParse, "expected a timestamp, got an empty field");
    switch (format) {
        case TimeFormat::kIso8601:
            return ParseIso(text);
        case TimeFormat::kEpochSeconds:
            return ParseEpoch(text, false);
        case TimeFormat::kEpochMillis:
            return ParseEpoch(text, true);
        case TimeFormat::kAuto:
            break;
    }
    if (text.size() >= 10 && text[4] == '-') return ParseIso(text);
    auto r = ParseEpoch(text, false);
    if (!r) return r;
    // Epoch values above 1e11 seconds (year 5138) are taken as milliseconds.
    if (std::fabs(static_cast<double>(*r)) > 1e14) return ParseEpoch(text, true);
    return r;
}

Result<std::int64_t> ParseDate(std::string_view text) {
    if (text.size() != 10) {
        return MakeError(ErrorCode::kInvalidArgument, "expected a date YYYY-MM-DD, got \"" +
                                                          std::string(text.substr(0, 64)) + "\"");
    }
    auto r = ParseIso(text);
    if (!r) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "expected a date YYYY-MM-DD, got \"" + std::string(text) + "\"");
    }
    return r;
}

char* FormatTimestamp(std::int64_t ts_ms, char* out) {
    const std::int64_t days = DayIndex(ts_ms);
    std::int64_t secs = (ts_ms - days * kMsPerDay) / 1000;
    int y;
    unsigned m, d;
    CivilFromDays(days, &y, &m, &d);
    auto put2 = [](char* p, unsigned v) {
        p[0] = static_cast<char>('0' + v / 10);
        p[1] = static_cast<char>('0' + v % 10);
    };
    const unsigned yy = static_cast<unsigned>(y < 0 ? 0 : y % 10000);
    out[0] = static_cast<char>('0' + yy / 1000);
    out[1] = static_cast<char>('0' + yy / 100 % 10);
    put2(out + 2, yy % 100);
    out[4] = '-';
    put2(out + 5, m);
    out[7] = '-';
    put2(out + 8, d);
    out[10] = ' ';
    put2(out + 11, static_cast<unsigned>(secs / 3600));
    out[13] = ':';
    put2(out + 14, static_cast<unsigned>(secs / 60 % 60));
    out[16] = ':';
    put2(out + 17, static_cast<unsigned>(secs % 60));
    return out + 19;
}

std::string FormatTimestamp(std::int64_t ts_ms) {
    char buf[19];
    FormatTimestamp(ts_ms, buf);
    return std::string(buf, 19);
}

std::string FormatDate(std::int64_t ts_ms) { return FormatTimestamp(ts_ms).substr(0, 10); }

}  // namespace txguard
