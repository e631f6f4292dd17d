#pragma once
// Private to data/: LocalPool, the chunk-local string interning of the CSV reader. Each parsing
// thread interns into its own pool; csv_reader.cpp merges the pools into the table's StringPool
// in chunk order.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/check.hpp"

namespace txguard::csv_internal {

inline std::uint64_t Mix(std::uint64_t h) {
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 29;
    h *= 0x94D049BB133111EBULL;
    h ^= h >> 32;
    return h;
}

// The first min(n, 8) bytes as a little-endian word (zero-padded). `safe8`: 8 bytes from p may
// be read.
inline std::uint64_t PrefixWord(const char* p, std::size_t n, bool safe8) {
    std::uint64_t w = 0;
    if (n >= 8 || safe8) {
        std::memcpy(&w, p, 8);
        if (n < 8) w &= (std::uint64_t{1} << (8 * n)) - 1;
    } else {
        for (std::size_t i = 0; i < n; ++i)
            w |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
    }
    return w;
}

inline std::uint64_t HashBytes(const char* p, std::size_t n, std::uint64_t prefix) {
    std::uint64_t h = prefix ^ (n * 0x9E3779B97F4A7C15ULL);
    for (std::size_t i = 8; i < n; i += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, p + i, std::min<std::size_t>(8, n - i));
        h = Mix(h) ^ w;
    }
    return Mix(h);
}

// String -> dense id table, ids in first-seen order; strings copied into an arena. Ids that are
// small decimal numbers without leading zeros ("596", common for card and terminal ids) are found
// through a direct array; other strings through open addressing.
class LocalPool {
  public:
    LocalPool() { Rehash(64); }

    // `safe8`: 8 bytes may be read from s.data() (true inside the input buffer but its last 8).
    std::uint32_t Intern(std::string_view s, bool safe8) {
        const std::size_t n = s.size();
        if (n >= 1 && n <= 7 && (s[0] != '0' || n == 1)) {
            std::uint32_t v = 0;
            std::size_t i = 0;
            for (; i < n; ++i) {
                const unsigned dgt = static_cast<unsigned>(static_cast<unsigned char>(s[i])) - '0';
                if (dgt > 9) break;
                v = v * 10 + dgt;
            }
            if (i == n && v < kDirectMax) {
                if (v >= direct_.size())
                    direct_.resize(std::max<std::size_t>(v + 1, direct_.size() * 2), kEmpty);
                std::uint32_t& slot = direct_[v];
                if (slot == kEmpty) slot = Add(s, 0, true);
                return slot;
            }
        }
        const std::uint64_t prefix = PrefixWord(s.data(), n, safe8);
        const std::uint64_t h = HashBytes(s.data(), n, prefix);
        std::size_t i = static_cast<std::size_t>(h) & mask_;
        for (;;) {
            const Slot& slot = slots_[i];
            if (slot.id == kEmpty) break;
            if (slot.prefix == prefix && slot.len == Saturated(n) &&
                (n <= 8 || (entries_[slot.id].len == n &&
                            std::memcmp(arena_.data() + entries_[slot.id].off, s.data(), n) == 0)))
                return slot.id;
            i = (i + 1) & mask_;
        }
        const std::uint32_t id = Add(s, h, false);
        slots_[i] = Slot{prefix, id, Saturated(n)};
        if (++hashed_ * 2 > slots_.size()) Rehash(slots_.size() * 2);
        return id;
    }
    std::size_t size() const { return entries_.size(); }
    std::string_view Get(std::size_t id) const {
        return std::string_view(arena_).substr(entries_[id].off, entries_[id].len);
    }

  private:
    static constexpr std::uint32_t kEmpty = std::numeric_limits<std::uint32_t>::max();
    static constexpr std::uint32_t kDirectMax = 1u << 20;  // direct_ stays <= 4 MiB
    struct Slot {
        std::uint64_t prefix;
        std::uint32_t id;
        std::uint32_t len;  // saturated at kEmpty (then the memcmp decides)
    };
    struct Entry {
        std::size_t off;
        std::size_t len;
        std::uint64_t hash;
        bool direct;  // found through direct_, not the hash table
    };
    static std::uint32_t Saturated(std::size_t n) {
        return static_cast<std::uint32_t>(std::min<std::size_t>(n, kEmpty));
    }
    std::uint32_t Add(std::string_view s, std::uint64_t h, bool direct) {
        TXG_CHECK(entries_.size() < kEmpty);
        const auto id = static_cast<std::uint32_t>(entries_.size());
        entries_.push_back(Entry{arena_.size(), s.size(), h, direct});
        arena_.append(s);
        return id;
    }
    void Rehash(std::size_t n) {
        slots_.assign(n, Slot{0, kEmpty, 0});
        mask_ = n - 1;
        for (std::uint32_t id = 0; id < entries_.size(); ++id) {
            const Entry& e = entries_[id];
            if (e.direct) continue;
            std::size_t i = static_cast<std::size_t>(e.hash) & mask_;
            while (slots_[i].id != kEmpty) i = (i + 1) & mask_;
            slots_[i] = Slot{PrefixWord(arena_.data() + e.off, e.len, false), id, Saturated(e.len)};
        }
    }
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> direct_;
    std::vector<Entry> entries_;
    std::string arena_;
    std::size_t mask_ = 0;
    std::size_t hashed_ = 0;
};

}  // namespace txguard::csv_internal
