#pragma once
// Feature-state snapshots of a SQLite store on a file: in files beside the database, not in it
// (private to the store module).
//
// Why: a snapshot is large (90-260 MB for 1-3 million events of the shared wrk load) and was
// written into the database in 256 KiB transactions. Every byte then went through the write-ahead
// log, beside the live commits, and the checkpoint copied it again into the database, so the
// scoring service's p99 was 13-44 ms in the slices of a long run that held a snapshot against
// 3-4 ms in the others (docs/benchmarks.md, session 11). A file is written once, sequentially,
// by the snapshot's own thread, and takes no database lock.
//
// Layout: `<database>-snapshot-<16 hex digits of the model key's hash>`:
//   "TXGSNAP\n", u32 file format, i64 database nonce, u64 seq, i64 created_ms,
//   u64 model key length, model key, the snapshot's bytes,
//   u64 bytes length, u32 CRC-32 of everything before it, "TXGSEND\n"
// (integers in the machine's byte order, as in txguard's other binary files).
// The database nonce (id_index_state.nonce, random per database) ties a file to its database: a
// file left beside a database that was deleted and created again is not read.
//
// Writing: to `<file>.tmp-<pid>-<n>`, then (Commit) the database's log is synced, so that every
// event the snapshot covers is as durable as the snapshot, the file is synced and renamed over
// the previous one, and the directory is synced. A crash before the rename leaves the previous
// snapshot; the temporary file is removed by the sink, or by the next snapshot of the same key
// if the process died.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "txguard/store/store.hpp"

namespace txguard::store_detail {

std::string SnapshotFilePath(std::string_view db_path, std::string_view model_key);

// A sink for `head` (seq, model_key, created_ms; its bytes are the pieces).
Result<std::unique_ptr<SnapshotSink>> OpenSnapshotFile(std::string_view db_path,
                                                       std::int64_t db_nonce,
                                                       const StoredSnapshot& head);

// The snapshot of `model_key` beside the database, if any. A file of another database (another
// nonce) is ignored; a damaged one (bad header, short, CRC mismatch) is kCorrupt with its path.
Result<std::optional<StoredSnapshot>> ReadSnapshotFile(std::string_view db_path,
                                                       std::int64_t db_nonce,
                                                       std::string_view model_key);

}  // namespace txguard::store_detail
