#pragma once
// The SQLite store (private to the store module). One connection per Store, prepared statements
// cached on it; WAL mode, synchronous=NORMAL (or FULL with `?synchronous=full`), busy_timeout
// 5000 ms (or `?busy_timeout_ms=N`), foreign keys off, 4 KiB pages for new databases.
// Append writes a batch in one BEGIN IMMEDIATE ... COMMIT (the write lock is taken up front, so
// writers in several processes queue on busy_timeout instead of deadlocking on a lock upgrade;
// an SQLITE_BUSY that SQLite returns without waiting is retried until busy_timeout_ms has
// passed); ForEachEvent merges two seq-ordered cursors (transactions, labels) of one partition
// and streams, reusing one event object per kind.
//
// Files are opened through WalBufferingVfs (sqlite_vfs.hpp): a commit's WAL frames go down in
// one write, before SQLite publishes the commit.
//
// Durability: a committed batch survives a crash or SIGKILL of the process (the WAL is written
// before COMMIT returns). With synchronous=NORMAL a power loss or OS crash can lose the batches
// committed since the last WAL sync (done at checkpoints); the database stays consistent. With
// `?synchronous=full` every commit is fsynced and survives power loss.
//
// Schema (version kSchemaVersion, migrations applied in order on open, in one transaction; v1
// had seq as the rowid, v2 added partitions and rebuilt the tables, old events in partition 0):
//   schema_version(version)
//   transactions(rowid, partition, seq, transaction_id TEXT UNIQUE, ts_ms, received_ms,
//                customer_id, terminal_id, amount, fields_json, score, decision, reasons_json,
//                model_version)  + unique index (partition, seq)
//                + partial index (ts_ms, seq, partition) WHERE decision != 'allow'
//   labels(rowid, partition, seq, transaction_id, label, known_at_ms, received_ms)
//                + unique index (partition, seq) + index (transaction_id, seq)
//   snapshots(model_key TEXT PRIMARY KEY, seq, created_ms, bytes BLOB, chunks)
//                + snapshot_chunks (earlier versions' pieces, still read)
// Snapshots of a database on a file are files beside it (sqlite_snapshot_file.hpp); the table
// holds an in-memory store's and those that earlier versions wrote.
#include <memory>
#include <string>

#include "store_url.hpp"
#include "txguard/store/store.hpp"

namespace txguard::store_detail {

// The newest schema version this build knows.
int SqliteSchemaVersion();

// Opens (creating and migrating) the database; `url` is kept for messages.
Result<std::unique_ptr<Store>> OpenSqliteStore(std::string url, const SqliteUrl& parsed);

}  // namespace txguard::store_detail
