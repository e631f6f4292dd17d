#pragma once
// The PostgreSQL store (private to the store module; libpqxx 6.4). One connection per Store,
// statements prepared on it (and again after a reconnect). Every pqxx exception is caught here
// and becomes a Result error naming the URL (password masked) and the reason.
//
// Append: one database transaction per batch. Transactions are first de-duplicated within the
// batch (the first of an id wins) and sorted by transaction_id, so that two writers inserting
// overlapping ids always take the unique-index locks in the same order (no deadlock; the second
// waits for the first and skips the id). Batches are written with multi-row prepared
// INSERT ... VALUES ... ON CONFLICT (transaction_id) DO NOTHING statements (chunks of 1, 2, 4,
// ..., 256 rows, each size prepared once per connection); batches of at least copy_min_rows rows
// (URL option; default 16384) use COPY into a per-connection staging table (TEMP, ON COMMIT
// DELETE ROWS) and INSERT ... SELECT ... ON CONFLICT instead. Measured on 127.0.0.1, the
// INSERTs matched or beat COPY at every batch size from 1 to 4096 (COPY costs extra round trips
// and writes every row twice; docs/store-postgres.md). A deadlock or serialization failure
// reported by the server is retried (a few times) with the whole batch.
//
// Reads run outside a transaction (one round trip each), except ForEachEvent and
// ForEachTransactionId: they page through (partition, seq) in one REPEATABLE READ, READ ONLY
// transaction (one snapshot), and reads made from inside their visitor run in it too.
//
// Schema (version kSchemaVersion, same numbering as SQLite: a new database gets the latest shape
// directly; later migrations step from there; all under an advisory lock, so workers starting
// together migrate once):
//   schema_version(version)
//   transactions(partition BIGINT, seq BIGINT, transaction_id TEXT COLLATE "C" UNIQUE, ts_ms,
//                received_ms, customer_id, terminal_id, amount DOUBLE PRECISION, fields_json,
//                score DOUBLE PRECISION, decision, reasons_json, model_version,
//                PRIMARY KEY (partition, seq)) + partial index (ts_ms, seq, partition)
//                WHERE decision <> 'allow'
//   labels(partition, seq, transaction_id, label SMALLINT, known_at_ms, received_ms,
//          PRIMARY KEY (partition, seq)) + index (transaction_id, seq)
//   snapshots(model_key TEXT PRIMARY KEY, seq, created_ms, bytes BYTEA)
// PostgreSQL text cannot hold NUL bytes and must be valid UTF-8: Append refuses such a record
// (kInvalidArgument naming it) before writing anything.
#include <memory>

#include "store_url.hpp"
#include "txguard/store/store.hpp"

namespace txguard::store_detail {

int PostgresSchemaVersion();

// Connects, creates or migrates the schema.
Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresUrl& url);

}  // namespace txguard::store_detail
