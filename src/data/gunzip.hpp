#pragma once
// Private to data/: gzip detection and whole-buffer decompression with zlib. Concatenated gzip
// members (as `cat a.gz b.gz` makes) are decompressed one after another; bytes after the last
// member that do not start another member are ignored, as gzip(1) does.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "txguard/core/progress.hpp"
#include "txguard/core/result.hpp"

namespace txguard::csv_internal {

inline bool IsGzip(std::string_view bytes) {
    return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
           static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// Decompresses `in` (gzip). `name` is used in error messages; progress (may be null) is advanced
// by compressed bytes consumed.
inline Result<std::string> Gunzip(std::string_view in, const std::string& name,
                                  Progress* progress = nullptr) {
    std::string out;
    // The trailer's ISIZE (size mod 2^32 of the last member) is a good first guess.
    std::size_t guess = in.size() * 4;
    if (in.size() >= 18) {
        std::uint32_t isize = 0;
        std::memcpy(&isize, in.data() + in.size() - 4, 4);  // little-endian on our targets
        if (isize >= in.size() / 2 && isize / 1100 <= in.size()) guess = isize;
    }
    out.resize(std::max<std::size_t>(guess, 1024));

    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
        return MakeError(ErrorCode::kInternal, name + ": zlib inflateInit2 failed");
    }
    std::size_t in_pos = 0, out_pos = 0;
    constexpr std::size_t kStep = std::numeric_limits<uInt>::max() / 2;
    int ret = Z_OK;
    for (;;) {
        if (out_pos == out.size()) out.resize(out.size() * 2);
        const std::size_t in_avail = std::min(in.size() - in_pos, kStep);
        const std::size_t out_avail = std::min(out.size() - out_pos, kStep);
        zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + in_pos));
        zs.avail_in = static_cast<uInt>(in_avail);
        zs.next_out = reinterpret_cast<Bytef*>(out.data() + out_pos);
        zs.avail_out = static_cast<uInt>(out_avail);
        ret = inflate(&zs, Z_NO_FLUSH);
        const std::size_t used_in = in_avail - zs.avail_in;
        in_pos += used_in;
        out_pos += out_avail - zs.avail_out;
        if (progress != nullptr && used_in > 0) progress->Add(used_in);
        if (ret == Z_STREAM_END) {
            // Another member follows?
            if (IsGzip(in.substr(in_pos)) && in.size() - in_pos >= 10) {
                inflateReset(&zs);
                continue;
            }
            break;
        }
        if (ret == Z_BUF_ERROR && zs.avail_out == 0) continue;  // needs more output space
        if (ret == Z_BUF_ERROR && in_pos >= in.size()) {
            inflateEnd(&zs);
            return MakeError(ErrorCode::kParse, name + ": truncated gzip data");
        }
        if (ret != Z_OK) {
            std::string msg = zs.msg != nullptr ? zs.msg : "error " + std::to_string(ret);
            inflateEnd(&zs);
            return MakeError(ErrorCode::kParse, name + ": corrupt gzip data (" + msg + ")");
        }
        if (in_pos >= in.size() && zs.avail_out != 0) {
            inflateEnd(&zs);
            return MakeError(ErrorCode::kParse, name + ": truncated gzip data");
        }
    }
    inflateEnd(&zs);
    out.resize(out_pos);
    return out;
}

}  // namespace txguard::csv_internal
