#pragma once
// Private to data/: a read-only view of a whole file. Regular files are memory-mapped (mmap); other
// files (pipes, /dev/stdin) are read into memory. Move-only; unmaps on destruction.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "txguard/core/result.hpp"

namespace txguard::csv_internal {

class MappedFile {
  public:
    MappedFile() = default;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    MappedFile(MappedFile&& o) noexcept
        : map_(std::exchange(o.map_, nullptr)),
          size_(std::exchange(o.size_, 0)),
          owned_(std::move(o.owned_)) {}
    MappedFile& operator=(MappedFile&& o) noexcept {
        if (this != &o) {
            Unmap();
            map_ = std::exchange(o.map_, nullptr);
            size_ = std::exchange(o.size_, 0);
            owned_ = std::move(o.owned_);
        }
        return *this;
    }
    ~MappedFile() { Unmap(); }

    static Result<MappedFile> Open(const std::string& path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            const int err = errno;
            return MakeError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                             "cannot open " + path + ": " + std::strerror(err));
        }
        MappedFile f;
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            const int err = errno;
            ::close(fd);
            return MakeError(ErrorCode::kIo, "cannot stat " + path + ": " + std::strerror(err));
        }
        if (S_ISDIR(st.st_mode)) {
            ::close(fd);
            return MakeError(ErrorCode::kIo, "cannot read " + path + ": is a directory");
        }
        if (S_ISREG(st.st_mode) && st.st_size > 0) {
            void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE,
                             fd, 0);
            if (p != MAP_FAILED) {
                ::close(fd);
                f.map_ = p;
                f.size_ = static_cast<std::size_t>(st.st_size);
                ::madvise(p, f.size_, MADV_WILLNEED);
                return f;
            }
        }
        // Not mappable (pipe, special file, empty file): read it.
        char buf[1 << 16];
        for (;;) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n == 0) break;
            if (n < 0) {
                if (errno == EINTR) continue;
                const int err = errno;
                ::close(fd);
                return MakeError(ErrorCode::kIo, "cannot read " + path + ": " + std::strerror(err));
            }
            f.owned_.append(buf, static_cast<std::size_t>(n));
        }
        ::close(fd);
        return f;
    }

    std::string_view bytes() const {
        if (map_ != nullptr) return {static_cast<const char*>(map_), size_};
        return owned_;
    }

  private:
    void Unmap() {
        if (map_ != nullptr) ::munmap(map_, size_);
        map_ = nullptr;
        size_ = 0;
    }

    void* map_ = nullptr;
    std::size_t size_ = 0;
    std::string owned_;
};

}  // namespace txguard::csv_internal
