#pragma once
// Helpers shared by the store tests: a unique temporary directory per test, record builders and a
// raw SQLite connection (to hold locks or tamper with a database the way another process would).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "support/postgres_server.hpp"
#include "txguard/store/store.hpp"

namespace txguard::store_test {

class TempDir {
  public:
    TempDir() {
        std::string tmpl = "/tmp/txguard_store_XXXXXX";
        char* made = mkdtemp(tmpl.data());
        EXPECT_NE(made, nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string File(const std::string& name) const { return path_ + "/" + name; }
    std::string Url(const std::string& name, const std::string& query = "") const {
        return "sqlite://" + File(name) + query;  // File() is absolute: three slashes
    }

  private:
    std::string path_;
};

// One PostgreSQL server per test binary, started by the first test that asks for it and
// stopped when the binary ends (a gtest global environment), so SQLite-only runs never pay for
// it.
class PostgresEnvironment : public ::testing::Environment {
  public:
    static test::PostgresServer& Server() {
        std::lock_guard lock(mu_);
        if (!server_) server_ = std::make_unique<test::PostgresServer>();
        return *server_;
    }
    void TearDown() override {
        std::lock_guard lock(mu_);
        server_.reset();
    }

  private:
    static inline std::mutex mu_;
    static inline std::unique_ptr<test::PostgresServer> server_;
};

inline const bool kPostgresEnvironmentRegistered = [] {
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);
    return true;
}();

enum class Backend { kSqlite, kPostgres };

inline std::string BackendName(Backend b) { return b == Backend::kSqlite ? "Sqlite" : "Postgres"; }

// A new, empty store of the given kind: its URL (a file in `dir` for SQLite, a new database on
// the test server for PostgreSQL). Fails the test (returns "") when PostgreSQL is missing.
inline std::string FreshStoreUrl(Backend backend, const TempDir& dir,
                                 const std::string& query = "") {
    static std::atomic<int> counter{0};
    const int n = counter++;
    if (backend == Backend::kSqlite) return dir.Url("store" + std::to_string(n) + ".db", query);
    auto& pg = PostgresEnvironment::Server();
    EXPECT_TRUE(pg.ok()) << pg.error();
    if (!pg.ok()) return "";
    const std::string db = "t" + std::to_string(getpid()) + "_" + std::to_string(n);
    const std::string url = pg.CreateDatabase(db);
    EXPECT_FALSE(url.empty()) << pg.error();
    if (url.empty()) return "";
    return url + query;
}

inline StoredTransaction MakeTx(std::uint64_t seq, std::string id, std::int64_t ts_ms = 0,
                                std::string decision = "allow") {
    StoredTransaction tx;
    tx.seq = seq;
    tx.transaction_id = std::move(id);
    tx.ts_ms = ts_ms;
    tx.received_ms = ts_ms + 5;
    tx.customer_id = "c" + std::to_string(seq % 97);
    tx.terminal_id = "t" + std::to_string(seq % 31);
    tx.amount = 10.0 + static_cast<double>(seq % 1000) / 100.0;
    tx.fields_json = R"({"amount":)" + std::to_string(tx.amount) + "}";
    tx.score = 0.5;
    tx.decision = std::move(decision);
    tx.reasons_json = "[]";
    tx.model_version = "m1";
    return tx;
}

inline StoredLabel MakeLabel(std::uint64_t seq, std::string id, std::int8_t label) {
    StoredLabel l;
    l.seq = seq;
    l.transaction_id = std::move(id);
    l.label = label;
    l.known_at_ms = static_cast<std::int64_t>(seq) * 10;
    l.received_ms = static_cast<std::int64_t>(seq) * 10 + 1;
    return l;
}

// A second, raw connection to a database file.
class RawDb {
  public:
    explicit RawDb(const std::string& path) {
        EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    }
    ~RawDb() { sqlite3_close(db_); }
    RawDb(const RawDb&) = delete;
    RawDb& operator=(const RawDb&) = delete;
    // Runs SQL; returns the first column of the last row (empty if none).
    std::string Exec(const std::string& sql) {
        std::string out;
        char* err = nullptr;
        const int rc = sqlite3_exec(
            db_, sql.c_str(),
            [](void* o, int n, char** values, char**) {
                if (n > 0) *static_cast<std::string*>(o) = values[0] ? values[0] : "";
                return 0;
            },
            &out, &err);
        EXPECT_EQ(rc, SQLITE_OK) << sql << ": " << (err ? err : "");
        sqlite3_free(err);
        return out;
    }
    sqlite3* get() const { return db_; }

  private:
    sqlite3* db_ = nullptr;
};

}  // namespace txguard::store_test
