#pragma once
// Private to data/: the byte-level pieces of the CSV reader (csv_reader.cpp): counting quotes and
// newlines, finding delimiters 64 bytes at a time, and the fast paths for plain decimals and
// "YYYY-MM-DD HH:MM:SS" timestamps (each gives exactly what the general parser would).
#include <fast_float/fast_float.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <system_error>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "txguard/core/time.hpp"

namespace txguard::csv_internal {

inline bool IsBlank(char c) { return c == ' ' || c == '\t'; }

inline std::string_view Trim(std::string_view s) {
    while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
    while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
    return s;
}

// Plain decimals ("-123.45", at most 15 digits): the integer of the digits divided by an exact
// power of ten is one correctly rounded operation on exact operands, so the result is the
// correctly rounded value, the same fast_float computes (Clinger's fast path), for less work.
inline bool FastDecimal(std::string_view s, double* out) {
    static constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                        1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    const char* p = s.data();
    const char* end = p + s.size();
    const bool neg = p < end && *p == '-';
    if (neg) ++p;
    std::uint64_t m = 0;
    int digits = 0, frac = -1;
    for (; p < end; ++p) {
        const unsigned d = static_cast<unsigned>(static_cast<unsigned char>(*p)) - '0';
        if (d <= 9) {
            m = m * 10 + d;
            ++digits;
            if (frac >= 0) ++frac;
        } else if (*p == '.' && frac < 0) {
            frac = 0;
        } else {
            return false;
        }
    }
    if (digits == 0 || digits > 15) return false;
    double v = static_cast<double>(m);
    if (frac > 0) v /= kPow10[frac];
    *out = neg ? -v : v;
    return true;
}

// A whole-field number: optional surrounding blanks and leading '+', then fast_float's syntax.
inline bool ParseNumber(std::string_view s, double* out) {
    if (FastDecimal(s, out)) return true;
    s = Trim(s);
    if (!s.empty() && s.front() == '+') {
        s.remove_prefix(1);
        if (!s.empty() && (s.front() == '+' || s.front() == '-')) return false;
    }
    if (s.empty()) return false;
    const char* end = s.data() + s.size();
    auto r = fast_float::from_chars(s.data(), end, *out);
    return r.ec == std::errc() && r.ptr == end;
}

inline bool EqualsNoCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != b[i]) return false;
    }
    return true;
}

inline bool Digits2(const char* p, int* v) {
    const unsigned a = static_cast<unsigned>(static_cast<unsigned char>(p[0])) - '0';
    const unsigned b = static_cast<unsigned>(static_cast<unsigned char>(p[1])) - '0';
    if (a > 9 || b > 9) return false;
    *v = static_cast<int>(a * 10 + b);
    return true;
}

inline unsigned DaysInMonth(int y, int m) {
    static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return kDays[m - 1];
}

// The last date seen, so rows of the same day skip the calendar arithmetic.
struct DateCache {
    std::uint64_t d8 = 0;  // the date's 10 bytes
    std::uint16_t d2 = 0;
    std::int64_t day_ms = 0;
    bool valid = false;
};

// Fast path for exactly "YYYY-MM-DD HH:MM:SS"; false means "let ParseTimestamp decide" (it gives
// the same value for every string this accepts).
inline bool FastIsoTimestamp(std::string_view s, DateCache* cache, std::int64_t* out) {
    if (s.size() != 19) return false;
    const char* p = s.data();
    if (p[4] != '-' || p[7] != '-' || p[10] != ' ' || p[13] != ':' || p[16] != ':') return false;
    std::int64_t day_ms;
    std::uint64_t d8;
    std::uint16_t d2;
    std::memcpy(&d8, p, 8);
    std::memcpy(&d2, p + 8, 2);
    if (cache->valid && cache->d8 == d8 && cache->d2 == d2) {
        day_ms = cache->day_ms;
    } else {
        int y1, y2, mo, d;
        if (!Digits2(p, &y1) || !Digits2(p + 2, &y2) || !Digits2(p + 5, &mo) || !Digits2(p + 8, &d))
            return false;
        const int y = y1 * 100 + y2;
        if (mo < 1 || mo > 12 || d < 1 || static_cast<unsigned>(d) > DaysInMonth(y, mo))
            return false;
        day_ms = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * kMsPerDay;
        cache->d8 = d8;
        cache->d2 = d2;
        cache->day_ms = day_ms;
        cache->valid = true;
    }
    int hh, mm, ss;
    if (!Digits2(p + 11, &hh) || !Digits2(p + 14, &mm) || !Digits2(p + 17, &ss)) return false;
    if (hh > 23 || mm > 59 || ss > 60) return false;
    *out = day_ms + (hh * 3600LL + mm * 60LL + ss) * kMsPerSecond;
    return true;
}

// Counts '"' and '\n' in [p, p + n).
inline void CountQuotesAndNewlines(const char* p, std::size_t n, std::size_t* quotes,
                                   std::size_t* newlines) {
    std::size_t q = 0, nl = 0, i = 0;
#if defined(__SSE2__)
    const __m128i vq = _mm_set1_epi8('"');
    const __m128i vn = _mm_set1_epi8('\n');
    const __m128i zero = _mm_setzero_si128();
    while (i + 16 <= n) {
        // Byte counters (0 - 0xFF per match) for up to 255 blocks, then summed with psadbw.
        __m128i aq = zero, an = zero;
        const std::size_t blocks = std::min<std::size_t>((n - i) / 16, 255);
        for (std::size_t b = 0; b < blocks; ++b, i += 16) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
            aq = _mm_sub_epi8(aq, _mm_cmpeq_epi8(v, vq));
            an = _mm_sub_epi8(an, _mm_cmpeq_epi8(v, vn));
        }
        const __m128i sq = _mm_sad_epu8(aq, zero);
        const __m128i sn = _mm_sad_epu8(an, zero);
        q += static_cast<std::size_t>(_mm_cvtsi128_si32(sq)) +
             static_cast<std::size_t>(_mm_extract_epi16(sq, 4));
        nl += static_cast<std::size_t>(_mm_cvtsi128_si32(sn)) +
              static_cast<std::size_t>(_mm_extract_epi16(sn, 4));
    }
#endif
    for (; i < n; ++i) {
        q += p[i] == '"';
        nl += p[i] == '\n';
    }
    *quotes = q;
    *newlines = nl;
}

inline std::size_t CountNewlines(const char* p, std::size_t n) {
    std::size_t q, nl;
    CountQuotesAndNewlines(p, n, &q, &nl);
    return nl;
}

// Finds the delimiters, '\n' and '"' of the data in order, 64 bytes at a time (SSE2 compares,
// one mask bit per byte): a field costs a bit scan and clearing the lowest bit instead of a loop
// over its bytes, and the only dependency from one field to the next is that bit clearing.
// Positions at or past the end count as special, so Next() never returns past the end.
class SpecialScanner {
  public:
    SpecialScanner(const char* d, std::size_t n, char delim) : d_(d), n_(n), delim_(delim) {}

    // Forgets the specials before `pos` (after the parser moved on by itself).
    void Seek(std::size_t pos) {
        if (pos - blk_ >= 64) {
            Load(pos);
        } else {
            mask_ &= ~std::uint64_t{0} << (pos - blk_);
        }
    }
    // The first special at or after the last Seek()/Next() position; *is_delim tells whether it
    // is the delimiter.
    std::size_t Next(bool* is_delim) {
        while (mask_ == 0) Load(blk_ + 64);
        const std::uint64_t bit = mask_ & (~mask_ + 1);
        mask_ ^= bit;
        *is_delim = (delim_mask_ & bit) != 0;
        return blk_ + static_cast<std::size_t>(__builtin_ctzll(bit));
    }

  private:
    void Load(std::size_t pos) {
        blk_ = pos;
        std::uint64_t m = 0, dm = 0;
#if defined(__SSE2__)
        if (pos + 64 <= n_) {
            const __m128i vd = _mm_set1_epi8(delim_);
            const __m128i vn = _mm_set1_epi8('\n');
            const __m128i vq = _mm_set1_epi8('"');
            for (int k = 0; k < 4; ++k) {
                const __m128i v =
                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(d_ + pos + 16 * k));
                const __m128i is_delim = _mm_cmpeq_epi8(v, vd);
                const __m128i e = _mm_or_si128(_mm_or_si128(is_delim, _mm_cmpeq_epi8(v, vn)),
                                               _mm_cmpeq_epi8(v, vq));
                m |= static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(e)))
                     << (16 * k);
                dm |= static_cast<std::uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(is_delim)))
                      << (16 * k);
            }
            mask_ = m;
            delim_mask_ = dm;
            return;
        }
#endif
        const std::size_t avail = pos < n_ ? std::min<std::size_t>(64, n_ - pos) : 0;
        for (std::size_t i = 0; i < avail; ++i) {
            const char c = d_[pos + i];
            if (c == delim_ || c == '\n' || c == '"') m |= std::uint64_t{1} << i;
            if (c == delim_) dm |= std::uint64_t{1} << i;
        }
        if (avail < 64) m |= ~std::uint64_t{0} << avail;
        mask_ = m;
        delim_mask_ = dm;
    }

    const char* d_;
    std::size_t n_;
    char delim_;
    std::size_t blk_ = ~std::size_t{0} - 63;  // no block loaded
    std::uint64_t mask_ = 0;
    std::uint64_t delim_mask_ = 0;
};

}  // namespace txguard::csv_internal
