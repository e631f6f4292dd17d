#include "sqlite_snapshot_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>

#include "txguard/core/bytes.hpp"

namespace txguard::store_detail {
namespace {

constexpr char kMagic[8] = {'T', 'X', 'G', 'S', 'N', 'A', 'P', '\n'};
constexpr char kEndMagic[8] = {'T', 'X', 'G', 'S', 'E', 'N', 'D', '\n'};
constexpr std::uint32_t kFileFormat = 1;
constexpr std::size_t kTrailerBytes = 8 + 4 + sizeof kEndMagic;

std::string ErrnoText() { return std::strerror(errno); }

Error IoError(const std::string& what, const std::string& path) {
    return Error{ErrorCode::kIo, what + " '" + path + "': " + ErrnoText(), {}};
}

Result<void> WriteAll(int fd, const char* p, std::size_t n, const std::string& path) {
    while (n > 0) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return std::unexpected(IoError("cannot write snapshot file", path));
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return Ok();
}

// fsync of a file or directory by path; a missing file is nothing to sync.
Result<void> SyncPath(const std::string& path, bool directory) {
    const int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return Ok();
        return std::unexpected(IoError("cannot open for sync", path));
    }
    const int rc = directory ? ::fsync(fd) : ::fdatasync(fd);
    const int saved = errno;
    ::close(fd);
    errno = saved;
    if (rc != 0) return std::unexpected(IoError("cannot sync", path));
    return Ok();
}

std::uint32_t Crc32(std::uint32_t crc, std::string_view bytes) {
    return static_cast<std::uint32_t>(
        ::crc32_z(crc, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

class SnapshotFileSink final : public SnapshotSink {
  public:
    SnapshotFileSink(std::string path, std::string tmp, std::string wal, int fd)
        : path_(std::move(path)), tmp_(std::move(tmp)), wal_(std::move(wal)), fd_(fd) {}
    Result<void> WriteHeader(std::string_view header) {
        crc_ = Crc32(crc_, header);
        return WriteAll(fd_, header.data(), header.size(), tmp_);
    }
    ~SnapshotFileSink() override {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) ::unlink(tmp_.c_str());
    }
    SnapshotFileSink(const SnapshotFileSink&) = delete;
    SnapshotFileSink& operator=(const SnapshotFileSink&) = delete;

    Result<void> Append(std::string_view piece) override {
        if (fd_ < 0) return MakeError(ErrorCode::kInvalidArgument, "snapshot sink is closed");
        crc_ = Crc32(crc_, piece);
        length_ += piece.size();
        return WriteAll(fd_, piece.data(), piece.size(), tmp_);
    }

    Result<void> Commit() override {
        if (fd_ < 0) return MakeError(ErrorCode::kInvalidArgument, "snapshot sink is closed");
        ByteWriter t;
        t.Put<std::uint64_t>(length_);
        t.Put<std::uint32_t>(crc_);
        t.PutBytes(kEndMagic, sizeof kEndMagic);
        TXG_RETURN_IF_ERROR(WriteAll(fd_, t.bytes().data(), t.bytes().size(), tmp_));
        // The events the snapshot covers are committed, but with synchronous=NORMAL perhaps not
        // yet on disk: sync the log first, so that a power loss cannot keep the snapshot and
        // lose what it covers.
        TXG_RETURN_IF_ERROR(SyncPath(wal_, false));
        if (::fdatasync(fd_) != 0) return std::unexpected(IoError("cannot sync", tmp_));
        if (::close(fd_) != 0) {
            fd_ = -1;
            return std::unexpected(IoError("cannot close", tmp_));
        }
        fd_ = -1;
        if (::rename(tmp_.c_str(), path_.c_str()) != 0)
            return std::unexpected(IoError("cannot rename snapshot file to", path_));
        committed_ = true;
        const auto dir = std::filesystem::path(path_).parent_path();
        return SyncPath(dir.empty() ? "." : dir.string(), true);
    }

  private:
    std::string path_, tmp_, wal_;
    int fd_;
    bool committed_ = false;
    std::uint64_t length_ = 0;
    std::uint32_t crc_ = 0;
};

// Temporary files of `path` left by processes that died mid-snapshot (not this process's own,
// which may be in progress on another connection).
void RemoveStaleTemporaries(const std::string& path) {
    namespace fs = std::filesystem;
    const fs::path p(path);
    const std::string prefix = p.filename().string() + ".tmp-";
    const std::string mine = prefix + std::to_string(::getpid()) + "-";
    std::error_code ec;
    const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name.starts_with(prefix) && !name.starts_with(mine)) {
            // "<pid>-<n>" of the writer: remove only when that process is gone.
            const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
            if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
                fs::remove(it->path(), ec);
        }
    }
}

}  // namespace

std::string SnapshotFilePath(std::string_view db_path, std::string_view model_key) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(MixBits64(Fnv1a64(model_key))));
    return std::string(db_path) + "-snapshot-" + hex;
}

Result<std::unique_ptr<SnapshotSink>> OpenSnapshotFile(std::string_view db_path,
                                                       std::int64_t db_nonce,
                                                       const StoredSnapshot& head) {
    static std::atomic<std::uint64_t> counter{0};
    const std::string path = SnapshotFilePath(db_path, head.model_key);
    RemoveStaleTemporaries(path);
    const std::string tmp =
        path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return std::unexpected(IoError("cannot create snapshot file", tmp));
    auto sink = std::make_unique<SnapshotFileSink>(path, tmp, std::string(db_path) + "-wal", fd);
    ByteWriter h;
    h.PutBytes(kMagic, sizeof kMagic);
    h.Put(kFileFormat);
    h.Put(db_nonce);
    h.Put(head.seq);
    h.Put(head.created_ms);
    h.PutString(head.model_key);
    TXG_RETURN_IF_ERROR(sink->WriteHeader(h.bytes()));
    return std::unique_ptr<SnapshotSink>(std::move(sink));
}

Result<std::optional<StoredSnapshot>> ReadSnapshotFile(std::string_view db_path,
                                                       std::int64_t db_nonce,
                                                       std::string_view model_key) {
    const std::string path = SnapshotFilePath(db_path, model_key);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return std::optional<StoredSnapshot>();
        return std::unexpected(IoError("cannot open snapshot file", path));
    }
    std::string bytes;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0)
        bytes.reserve(static_cast<std::size_t>(st.st_size));
    char buf[1 << 16];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            const Error e = IoError("cannot read snapshot file", path);
            ::close(fd);
            return std::unexpected(e);
        }
        if (n == 0) break;
        bytes.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto corrupt = [&](const std::string& why) {
        return std::unexpected(
            Error{ErrorCode::kCorrupt, "snapshot file '" + path + "': " + why,
                  "remove it: the server then replays every stored event instead"});
    };
    if (bytes.size() < sizeof kMagic + kTrailerBytes) return corrupt("too short");
    if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
        return corrupt("not a snapshot file");
    std::uint32_t format = 0;
    std::memcpy(&format, bytes.data() + sizeof kMagic, sizeof format);
    if (format != kFileFormat)
        return corrupt("file format " + std::to_string(format) + ", this txguard reads " +
                       std::to_string(kFileFormat));
    // The trailer first: it closes a complete file, and its CRC covers everything before it.
    const std::size_t trailer_at = bytes.size() - kTrailerBytes;
    ByteReader t(std::string_view(bytes).substr(trailer_at), "snapshot file trailer");
    auto length = t.Get<std::uint64_t>();
    auto crc = t.Get<std::uint32_t>();
    auto end = t.Get<std::array<char, sizeof kEndMagic>>();
    if (!length || !crc || !end || std::memcmp(end->data(), kEndMagic, sizeof kEndMagic) != 0)
        return corrupt("truncated (no valid trailer)");
    if (Crc32(0, std::string_view(bytes).substr(0, trailer_at)) != *crc)
        return corrupt("checksum mismatch");
    ByteReader r(std::string_view(bytes).substr(0, trailer_at), "snapshot file '" + path + "'");
    (void)r.Get<std::array<char, sizeof kMagic>>();
    (void)r.Get<std::uint32_t>();  // the format, read above
    auto nonce = r.Get<std::int64_t>();
    auto seq = r.Get<std::uint64_t>();
    auto created = r.Get<std::int64_t>();
    auto key = r.GetString(bytes.size());
    if (!nonce || !seq || !created || !key) return corrupt("truncated header");
    if (*nonce != db_nonce) return std::optional<StoredSnapshot>();  // another database's
    if (*key != model_key) return corrupt("it holds the snapshot of another model key");
    const std::size_t body_at = trailer_at - r.remaining();
    if (*length != r.remaining()) return corrupt("its length does not match its trailer");
    const std::size_t body_len = r.remaining();
    StoredSnapshot snap;
    snap.seq = *seq;
    snap.created_ms = *created;
    snap.model_key = std::move(*key);
    // The body moves to the front of the buffer read: no second buffer for a large snapshot.
    bytes.erase(0, body_at);
    bytes.resize(body_len);
    snap.bytes = std::move(bytes);
    return std::optional<StoredSnapshot>(std::move(snap));
}

}  // namespace txguard::store_detail
