#pragma once
// A SQLite VFS that writes each commit's WAL frames with one write() (private to the store module).
//
// SQLite writes a WAL frame as two pwrite calls (the 24-byte frame header, then the page), so a
// commit of F frames costs 2F system calls; under the scoring service's load (a group commit every
// few hundred microseconds) pwrite with its kernel part was 15.7% of the server's samples, most of
// it WAL frames (docs/benchmarks.md, "2026-12-05, session 5"). This VFS wraps the platform's
// default one; on WAL files it
// keeps the contiguous writes of one transaction in memory and issues them as one write as soon
// as the commit frame (the frame whose header carries the database size, as the WAL file format
// defines it: https://www.sqlite.org/fileformat2.html#walformat) is complete, inside the
// xWrite call that completes it. So:
//   - a commit's frames are in the file before SQLite publishes the commit in the wal-index
//     (which it does only after writing the commit frame), so readers in this or another process
//     never see a commit whose frames are not written, and what a crash or SIGKILL can lose is
//     exactly what it could lose before: nothing committed;
//   - a failed write fails the commit (xWrite returns the error), as before;
//   - anything else on the file (read, sync, truncate, size, file control, close) writes what is
//     held first, and so does a non-contiguous write; at most kMaxHeld bytes are held.
// Until it has read the WAL header (page size, magic) the file is passed through unbuffered.
// Every other file (database, journals) is passed through untouched.
#include <cstdint>

namespace txguard::store_detail {

// Registers the VFS once (thread-safe) and returns its name for sqlite3_open_v2.
const char* WalBufferingVfs();

// Counters over the process, for tests and diagnostics: write calls SQLite made on WAL files
// through this VFS, and writes this VFS issued for them.
struct WalWriteCounts {
    std::uint64_t requested = 0;
    std::uint64_t issued = 0;
};
WalWriteCounts WalWriteStats();

}  // namespace txguard::store_detail
