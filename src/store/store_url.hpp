#pragma once
// Store URL parsing (private to the store module; tests include it directly).
//
//   sqlite:///abs/path.db      absolute path (three slashes)
//   sqlite://rel/path.db       path relative to the working directory
//   sqlite::memory:            a private in-memory database (gone when the Store closes)
//   ...?synchronous=full       fsync the WAL on every commit (default: normal)
//   ...?busy_timeout_ms=N      wait up to N ms for another connection's lock (default 5000)
//   ...?wal_limit_mb=N         restart the WAL once it holds N MiB (default below; 0 = never)
//
//   postgresql://user:pass@host:port/dbname?opts   (also postgres://) a libpq connection URI;
//   every libpq option passes through, plus txguard's own (removed before libpq sees the URI):
//   ...?copy_min_rows=N        batches of at least N transactions use COPY (default below)
#include <cstddef>
#include <string>
#include <string_view>

#include "txguard/core/result.hpp"

namespace txguard::store_detail {

struct SqliteUrl {
    std::string path;  // file path, or ":memory:"
    bool synchronous_full = false;
    int busy_timeout_ms = 5000;
    // Checkpoint() restarts the write-ahead log once it holds this many MiB (0 = never): the
    // bound on the log file's size under continuous writes (sqlite_store.cpp,
    // SqliteStore::Checkpoint; the default's cost: docs/benchmarks.md, session 9).
    int wal_limit_mb = 1024;
};

// Parses a `sqlite:` URL; errors (kInvalidArgument) name the URL and what is wrong.
Result<SqliteUrl> ParseSqliteUrl(std::string_view url);

struct PostgresUrl {
    std::string conninfo;  // what libpq gets: the URL without txguard's options
    std::string masked;    // the URL for messages: password replaced by "***"
    // Batches with at least this many transactions (or labels) are written with COPY into a
    // staging table; smaller ones with multi-row prepared INSERTs (chunks of up to 256 rows).
    // Measured on 127.0.0.1 (docs/store-postgres.md), the INSERTs were as fast or faster for
    // every batch size from 1 to 4096 (StoreWriter's max_batch), so by default COPY is only
    // used for larger bulk writes.
    std::size_t copy_min_rows = 16384;
};

// The URL with the password (user:PASSWORD@ and a `password=` option) replaced by "***".
std::string MaskPassword(std::string_view url);

// Parses a `postgresql://` or `postgres://` URL; errors (kInvalidArgument) name the masked URL.
Result<PostgresUrl> ParsePostgresUrl(std::string_view url);

}  // namespace txguard::store_detail
