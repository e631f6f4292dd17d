#pragma once
// A scope guard for cached SQLite statements (private to the store module).
#include <sqlite3.h>

namespace txguard::store_detail {

// Resets a cached statement (and drops its bindings) when a call is done with it.
class StmtLease {
  public:
    explicit StmtLease(sqlite3_stmt* s) : s_(s) {}
    ~StmtLease() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
    }
    StmtLease(const StmtLease&) = delete;
    StmtLease& operator=(const StmtLease&) = delete;
    sqlite3_stmt* get() const { return s_; }

  private:
    sqlite3_stmt* s_;
};

}  // namespace txguard::store_detail
