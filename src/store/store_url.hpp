#pragma once
// Store URL parsing (private to the store module; tests include it directly).
//
//   sqlite:///abs/path.db      absolute path (three slashes)
//   sqlite://rel/path.db       path relative to the working directory
//   sqlite::memory:            a private in-memory database (gone when the Store closes)
//   ...?synchronous=full       fsync the WAL on every commit (default: normal)
//   ...?busy_timeout_ms=N      wait up to N ms for another connection's lock (default 5000)
#include <string>
#include <string_view>

#include "txguard/core/result.hpp"

namespace txguard::store_detail {

struct SqliteUrl {
    std::string path;  // file path, or ":memory:"
    bool synchronous_full = false;
    int busy_timeout_ms = 5000;
};

// Parses a `sqlite:` URL; errors (kInvalidArgument) name the URL and what is wrong.
Result<SqliteUrl> ParseSqliteUrl(std::string_view url);

}  // namespace txguard::store_detail
