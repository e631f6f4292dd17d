#include "sqlite_vfs.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <mutex>
#include <new>
#include <vector>

namespace txguard::store_detail {
namespace {

constexpr const char* kVfsName = "txguard-walbuf";
constexpr sqlite3_int64 kWalHeaderBytes = 32;
constexpr sqlite3_int64 kFrameHeaderBytes = 24;
constexpr std::size_t kMaxHeld = std::size_t{8} << 20;  // beyond this, written at once
// The unix VFS writes at most 128 KiB - 1 a call (it masks the size with 0x1ffff), so held bytes
// go down in pieces of this size.
constexpr std::size_t kMaxWrite = 0x1f000;

std::atomic<std::uint64_t> g_requested{0};
std::atomic<std::uint64_t> g_issued{0};

sqlite3_vfs* g_root = nullptr;  // the platform's default VFS, which does the I/O
sqlite3_vfs g_vfs{};

std::uint32_t Get4(const unsigned char* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}

// Page size from a WAL header, 0 when the bytes are not one (wrong magic or size).
std::uint32_t WalPageSize(const unsigned char* hdr) {
    const std::uint32_t magic = Get4(hdr);
    if (magic != 0x377f0682u && magic != 0x377f0683u) return 0;
    const std::uint32_t size = Get4(hdr + 8);
    if (size < 512 || size > 65536 || (size & (size - 1)) != 0) return 0;
    return size;
}

struct ShimFile {
    sqlite3_file base;  // first: SQLite sees this
    sqlite3_file* real = nullptr;
    bool wal = false;
    bool passthrough = false;  // a write this VFS does not understand was seen: hold nothing
    std::uint32_t page_size = 0;
    sqlite3_int64 held_off = 0;
    sqlite3_int64 commit_end = 0;  // end of the latest commit frame seen; 0 when none pending
    std::vector<unsigned char> held;

    int Flush() {
        int rc = SQLITE_OK;
        for (std::size_t at = 0; at < held.size() && rc == SQLITE_OK; at += kMaxWrite) {
            const std::size_t n = std::min(kMaxWrite, held.size() - at);
            g_issued.fetch_add(1, std::memory_order_relaxed);
            rc = real->pMethods->xWrite(real, held.data() + at, static_cast<int>(n),
                                        held_off + static_cast<sqlite3_int64>(at));
        }
        held.clear();
        return rc;
    }
    sqlite3_int64 HeldEnd() const { return held_off + static_cast<sqlite3_int64>(held.size()); }
};

ShimFile* Shim(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f); }
sqlite3_file* Real(sqlite3_file* f) { return Shim(f)->real; }

constexpr std::size_t ShimBytes() { return (sizeof(ShimFile) + 15) & ~std::size_t{15}; }

// Learns the WAL page size: from the header when this write is the header (a new WAL, or one
// restarted after a checkpoint), else once from the file.
void LearnPageSize(ShimFile* f, const unsigned char* p, int n, sqlite3_int64 off) {
    if (off == 0 && n >= kWalHeaderBytes) {
        f->page_size = WalPageSize(p);
        if (f->page_size == 0) f->passthrough = true;
        return;
    }
    if (f->page_size != 0) return;
    unsigned char hdr[kWalHeaderBytes];
    if (f->real->pMethods->xRead(f->real, hdr, sizeof hdr, 0) == SQLITE_OK)
        f->page_size = WalPageSize(hdr);
}

// Whether a write of n bytes at off is one the frame layout explains: the WAL header, one frame
// header, one page, or whole frames. Records the end of any commit frame it starts.
bool UnderstoodWrite(ShimFile* f, const unsigned char* p, int n, sqlite3_int64 off) {
    if (off == 0) return n == kWalHeaderBytes;
    const sqlite3_int64 frame = kFrameHeaderBytes + f->page_size;
    if (off < kWalHeaderBytes) return false;
    const sqlite3_int64 at = (off - kWalHeaderBytes) % frame;
    if (at == kFrameHeaderBytes) return n == static_cast<sqlite3_int64>(f->page_size);
    if (at != 0) return false;
    if (n != kFrameHeaderBytes && n % frame != 0) return false;
    for (sqlite3_int64 s = 0; s + kFrameHeaderBytes <= n; s += frame) {
        if (Get4(p + s + 4) != 0) f->commit_end = off + s + frame;  // database size: a commit
    }
    return true;
}

int Close(sqlite3_file* file) {
    ShimFile* f = Shim(file);
    int rc = f->Flush();
    const int rc2 = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    f->~ShimFile();
    return rc != SQLITE_OK ? rc : rc2;
}

int Read(sqlite3_file* file, void* buf, int n, sqlite3_int64 off) {
    if (const int rc = Shim(file)->Flush(); rc != SQLITE_OK) return rc;
    return Real(file)->pMethods->xRead(Real(file), buf, n, off);
}

int Write(sqlite3_file* file, const void* buf, int n, sqlite3_int64 off) {
    ShimFile* f = Shim(file);
    sqlite3_file* real = f->real;
    if (!f->wal) return real->pMethods->xWrite(real, buf, n, off);
    g_requested.fetch_add(1, std::memory_order_relaxed);
    const auto* p = static_cast<const unsigned char*>(buf);
    if (!f->passthrough) LearnPageSize(f, p, n, off);
    if (!f->passthrough && f->page_size != 0 && !UnderstoodWrite(f, p, n, off))
        f->passthrough = true;  // not a layout this VFS knows: from now on, write as asked
    if (f->passthrough || f->page_size == 0) {  // (page_size 0: no readable WAL header yet)
        if (const int rc = f->Flush(); rc != SQLITE_OK) return rc;
        g_issued.fetch_add(1, std::memory_order_relaxed);
        return real->pMethods->xWrite(real, buf, n, off);
    }
    if (!f->held.empty() && off != f->HeldEnd()) {
        if (const int rc = f->Flush(); rc != SQLITE_OK) return rc;
    }
    if (f->held.empty()) f->held_off = off;
    f->held.insert(f->held.end(), p, p + n);
    if (f->commit_end != 0 && f->HeldEnd() >= f->commit_end) {
        f->commit_end = 0;
        return f->Flush();  // the commit frame is complete: in the file before SQLite goes on
    }
    if (f->held.size() >= kMaxHeld) return f->Flush();
    return SQLITE_OK;
}

int Truncate(sqlite3_file* file, sqlite3_int64 size) {
    if (const int rc = Shim(file)->Flush(); rc != SQLITE_OK) return rc;
    return Real(file)->pMethods->xTruncate(Real(file), size);
}

int Sync(sqlite3_file* file, int flags) {
    if (const int rc = Shim(file)->Flush(); rc != SQLITE_OK) return rc;
    return Real(file)->pMethods->xSync(Real(file), flags);
}

int FileSize(sqlite3_file* file, sqlite3_int64* size) {
    if (const int rc = Shim(file)->Flush(); rc != SQLITE_OK) return rc;
    return Real(file)->pMethods->xFileSize(Real(file), size);
}

int Lock(sqlite3_file* file, int level) { return Real(file)->pMethods->xLock(Real(file), level); }
int Unlock(sqlite3_file* file, int level) {
    return Real(file)->pMethods->xUnlock(Real(file), level);
}
int CheckReservedLock(sqlite3_file* file, int* out) {
    return Real(file)->pMethods->xCheckReservedLock(Real(file), out);
}

int FileControl(sqlite3_file* file, int op, void* arg) {
    if (const int rc = Shim(file)->Flush(); rc != SQLITE_OK) return rc;
    return Real(file)->pMethods->xFileControl(Real(file), op, arg);
}

int SectorSize(sqlite3_file* file) { return Real(file)->pMethods->xSectorSize(Real(file)); }
int DeviceCharacteristics(sqlite3_file* file) {
    return Real(file)->pMethods->xDeviceCharacteristics(Real(file));
}

int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
    sqlite3_file* r = Real(file);
    return r->pMethods->iVersion >= 2 ? r->pMethods->xShmMap(r, region, size, extend, out)
                                      : SQLITE_IOERR_SHMMAP;
}
int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
    sqlite3_file* r = Real(file);
    return r->pMethods->iVersion >= 2 ? r->pMethods->xShmLock(r, offset, n, flags)
                                      : SQLITE_IOERR_SHMLOCK;
}
void ShmBarrier(sqlite3_file* file) {
    sqlite3_file* r = Real(file);
    if (r->pMethods->iVersion >= 2) r->pMethods->xShmBarrier(r);
}
int ShmUnmap(sqlite3_file* file, int del) {
    sqlite3_file* r = Real(file);
    return r->pMethods->iVersion >= 2 ? r->pMethods->xShmUnmap(r, del) : SQLITE_OK;
}
int Fetch(sqlite3_file* file, sqlite3_int64 off, int n, void** out) {
    sqlite3_file* r = Real(file);
    if (const int rc = Shim(file)->Flush(); rc != SQLITE_OK) return rc;
    if (r->pMethods->iVersion >= 3) return r->pMethods->xFetch(r, off, n, out);
    *out = nullptr;
    return SQLITE_OK;
}
int Unfetch(sqlite3_file* file, sqlite3_int64 off, void* p) {
    sqlite3_file* r = Real(file);
    return r->pMethods->iVersion >= 3 ? r->pMethods->xUnfetch(r, off, p) : SQLITE_OK;
}

const sqlite3_io_methods kMethods = {
    3,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    Fetch,
    Unfetch,
};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
    auto* f = new (file) ShimFile{};
    f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + ShimBytes());
    f->real->pMethods = nullptr;
    const int rc = g_root->xOpen(g_root, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK || f->real->pMethods == nullptr) {
        // SQLite calls no method of a file whose pMethods is null, so close the real one here.
        if (f->real->pMethods) f->real->pMethods->xClose(f->real);
        f->~ShimFile();
        file->pMethods = nullptr;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    f->wal = (flags & SQLITE_OPEN_WAL) != 0;
    file->pMethods = &kMethods;
    return SQLITE_OK;
}

int Delete(sqlite3_vfs*, const char* name, int sync) { return g_root->xDelete(g_root, name, sync); }
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
    return g_root->xAccess(g_root, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
    return g_root->xFullPathname(g_root, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return g_root->xDlOpen(g_root, name); }
void DlError(sqlite3_vfs*, int n, char* msg) { g_root->xDlError(g_root, n, msg); }
void (*DlSym(sqlite3_vfs*, void* h, const char* sym))(void) {
    return g_root->xDlSym(g_root, h, sym);
}
void DlClose(sqlite3_vfs*, void* h) { g_root->xDlClose(g_root, h); }
int Randomness(sqlite3_vfs*, int n, char* out) { return g_root->xRandomness(g_root, n, out); }
int Sleep(sqlite3_vfs*, int us) { return g_root->xSleep(g_root, us); }
int CurrentTime(sqlite3_vfs*, double* out) { return g_root->xCurrentTime(g_root, out); }
int GetLastError(sqlite3_vfs*, int n, char* out) {
    return g_root->xGetLastError ? g_root->xGetLastError(g_root, n, out) : 0;
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
    if (g_root->iVersion >= 2 && g_root->xCurrentTimeInt64)
        return g_root->xCurrentTimeInt64(g_root, out);
    double days = 0;
    const int rc = g_root->xCurrentTime(g_root, &days);
    *out = static_cast<sqlite3_int64>(days * 86400000.0);
    return rc;
}

}  // namespace

const char* WalBufferingVfs() {
    static std::once_flag once;
    static const char* name = nullptr;
    std::call_once(once, [] {
        g_root = sqlite3_vfs_find(nullptr);
        if (g_root == nullptr) return;
        g_vfs.iVersion = 2;
        g_vfs.szOsFile = static_cast<int>(ShimBytes()) + g_root->szOsFile;
        g_vfs.mxPathname = g_root->mxPathname;
        g_vfs.zName = kVfsName;
        g_vfs.xOpen = Open;
        g_vfs.xDelete = Delete;
        g_vfs.xAccess = Access;
        g_vfs.xFullPathname = FullPathname;
        g_vfs.xDlOpen = DlOpen;
        g_vfs.xDlError = DlError;
        g_vfs.xDlSym = DlSym;
        g_vfs.xDlClose = DlClose;
        g_vfs.xRandomness = Randomness;
        g_vfs.xSleep = Sleep;
        g_vfs.xCurrentTime = CurrentTime;
        g_vfs.xGetLastError = GetLastError;
        g_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
        if (sqlite3_vfs_register(&g_vfs, 0) == SQLITE_OK) name = kVfsName;
    });
    return name;  // null (SQLite's default VFS) if registration failed
}

WalWriteCounts WalWriteStats() {
    return {g_requested.load(std::memory_order_relaxed), g_issued.load(std::memory_order_relaxed)};
}

}  // namespace txguard::store_detail
