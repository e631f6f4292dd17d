#pragma once
// The SQLite store (private to the store module). One connection per Store, prepared statements
// cached on it; WAL mode, synchronous=NORMAL (or FULL with `?synchronous=full`), busy_timeout
// 5000 ms (or `?busy_timeout_ms=N`), foreign keys off, 4 KiB pages for new databases.
// Append writes a batch in one BEGIN IMMEDIATE ... COMMIT; ForEachEvent merges two seq-ordered
// cursors (transactions, labels) and streams, reusing one event object per kind.
//
// Durability: a committed batch survives a crash or SIGKILL of the process (the WAL is written
// before COMMIT returns). With synchronous=NORMAL a power loss or OS crash can lose the batches
// committed since the last WAL sync (done at checkpoints); the database stays consistent. With
// `?synchronous=full` every commit is fsynced and survives power loss.
//
// Schema (version kSchemaVersion, migrations applied in order on open, in one transaction):
//   schema_version(version)
//   transactions(seq INTEGER PRIMARY KEY, transaction_id TEXT UNIQUE, ts_ms, received_ms,
//                customer_id, terminal_id, amount, fields_json, score, decision, reasons_json,
//                model_version)  + partial index (ts_ms, seq) WHERE decision != 'allow'
//   labels(seq INTEGER PRIMARY KEY, transaction_id, label, known_at_ms, received_ms)
//                + index (transaction_id, seq)
//   snapshots(model_key TEXT PRIMARY KEY, seq, created_ms, bytes BLOB)
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
