#pragma once
// Little-endian binary encoding for model files. ByteWriter appends; ByteReader reads with bounds
// checks and reports truncation as a kCorrupt error instead of reading past the end.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "txguard/core/result.hpp"

namespace txguard {

// FNV-1a, 64 bit: a content hash that is stable across builds, processes and machines (std::hash
// is not), for model versions, spec keys and stream partitions.
inline std::uint64_t Fnv1a64(std::string_view bytes) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

// splitmix64's finaliser: every output bit depends on every input bit. Stable across builds
// (the SQLite store's id index keeps hashes mixed by it on disk).
inline std::uint64_t MixBits64(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

class ByteWriter {
  public:
    ByteWriter() = default;
    // Writes into `reuse`'s memory (cleared first).
    explicit ByteWriter(std::string reuse) : buf_(std::move(reuse)) { buf_.clear(); }
    template <class T>
    requires std::is_trivially_copyable_v<T>
    void Put(const T& v) { buf_.append(reinterpret_cast<const char*>(&v), sizeof(T)); }
    void PutString(std::string_view s) {
        Put<std::uint64_t>(s.size());
        buf_.append(s);
    }
    template <class T>
    requires std::is_trivially_copyable_v<T>
    void PutVector(const std::vector<T>& v) {
        Put<std::uint64_t>(v.size());
        if (!v.empty()) buf_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    }
    void PutBytes(const void* data, std::size_t n) {
        buf_.append(static_cast<const char*>(data), n);
    }
    const std::string& bytes() const { return buf_; }
    std::string Take() { return std::move(buf_); }

  private:
    std::string buf_;
};

class ByteReader {
  public:
    // `what` names the thing being read in error messages ("iforest model").
    ByteReader(std::string_view bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}

    template <class T>
    requires std::is_trivially_copyable_v<T> Result<T> Get() {
        if (bytes_.size() - pos_ < sizeof(T)) return Truncated();
        T v;
        std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    Result<std::string> GetString(std::uint64_t max_len = 1ULL << 32) {
        auto n = Get<std::uint64_t>();
        if (!n) return std::unexpected(n.error());
        if (*n > max_len || *n > bytes_.size() - pos_) return Truncated();
        std::string s(bytes_.substr(pos_, *n));
        pos_ += *n;
        return s;
    }
    template <class T>
    requires std::is_trivially_copyable_v<T> Result<std::vector<T>> GetVector(
        std::uint64_t max_count = 1ULL << 32) {
        auto n = Get<std::uint64_t>();
        if (!n) return std::unexpected(n.error());
        if (*n > max_count || *n > (bytes_.size() - pos_) / sizeof(T)) return Truncated();
        std::vector<T> v(*n);
        if (*n) std::memcpy(v.data(), bytes_.data() + pos_, *n * sizeof(T));
        pos_ += *n * sizeof(T);
        return v;
    }
    bool AtEnd() const { return pos_ == bytes_.size(); }
    std::size_t remaining() const { return bytes_.size() - pos_; }
    std::unexpected<Error> Corrupt(const std::string& why) const {
        return std::unexpected(Error{ErrorCode::kCorrupt, what_ + ": " + why, {}});
    }

  private:
    std::unexpected<Error> Truncated() const {
        return Corrupt("truncated or malformed data at byte " + std::to_string(pos_));
    }
    std::string_view bytes_;
    std::string what_;
    std::size_t pos_ = 0;
};

}  // namespace txguard
