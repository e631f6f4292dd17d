// OpenStore: picks the implementation from the URL scheme.
#include "txguard/store/store.hpp"

#include <algorithm>
#include <charconv>
#include <string>

#include "postgres_store.hpp"
#include "sqlite_store.hpp"
#include "store_url.hpp"

namespace txguard {

namespace {
// Store::OpenSnapshot's default: the pieces in memory, one PutSnapshot at Commit.
class BufferedSnapshotSink final : public SnapshotSink {
  public:
    BufferedSnapshotSink(Store& store, StoredSnapshot head)
        : store_(store), snap_(std::move(head)) {}
    Result<void> Append(std::string_view piece) override {
        snap_.bytes.append(piece);
        return Ok();
    }
    Result<void> Commit() override { return store_.PutSnapshot(snap_); }

  private:
    Store& store_;
    StoredSnapshot snap_;
};
}  // namespace

Result<std::unique_ptr<SnapshotSink>> Store::OpenSnapshot(const StoredSnapshot& head) {
    StoredSnapshot snap = head;
    snap.bytes.clear();
    return std::make_unique<BufferedSnapshotSink>(*this, std::move(snap));
}

namespace store_detail {
namespace {

constexpr std::string_view kAcceptedSchemes =
    "sqlite:///abs/path.db, sqlite://rel/path.db, sqlite::memory:, "
    "postgresql://user:pass@host:port/dbname";

Result<void> ApplyQueryOption(std::string_view url, std::string_view option, SqliteUrl& out) {
    const auto eq = option.find('=');
    const std::string_view key = option.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : option.substr(eq + 1);
    if (key == "synchronous") {
        if (value == "full" || value == "FULL") {
            out.synchronous_full = true;
            return Ok();
        }
        if (value == "normal" || value == "NORMAL") {
            out.synchronous_full = false;
            return Ok();
        }
        return MakeError(ErrorCode::kInvalidArgument, "store URL " + std::string(url) +
                                                          ": synchronous='" + std::string(value) +
                                                          "' is not one of normal, full");
    }
    auto non_negative = [&](int& target) -> Result<void> {
        int v = -1;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (ec != std::errc() || end != value.data() + value.size() || v < 0 || value.empty()) {
            return MakeError(ErrorCode::kInvalidArgument,
                             "store URL " + std::string(url) + ": " + std::string(key) + "='" +
                                 std::string(value) + "' is not a non-negative integer");
        }
        target = v;
        return Ok();
    };
    if (key == "busy_timeout_ms") return non_negative(out.busy_timeout_ms);
    if (key == "wal_limit_mb") return non_negative(out.wal_limit_mb);
    return MakeError(
        ErrorCode::kInvalidArgument,
        "store URL " + std::string(url) + ": unknown option '" + std::string(key) + "'",
        "SQLite options: synchronous=normal|full, busy_timeout_ms=N, wal_limit_mb=N");
}

}  // namespace

Result<SqliteUrl> ParseSqliteUrl(std::string_view url) {
    SqliteUrl out;
    std::string_view rest = url;
    const auto q = rest.find('?');
    std::string_view query;
    if (q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    if (rest == "sqlite::memory:") {
        out.path = ":memory:";
    } else if (rest.starts_with("sqlite:///")) {
        out.path = std::string(rest.substr(std::string_view("sqlite://").size()));  // keeps '/'
        if (out.path == "/") out.path.clear();
    } else if (rest.starts_with("sqlite://")) {
        out.path = std::string(rest.substr(std::string_view("sqlite://").size()));
    } else {
        return MakeError(ErrorCode::kInvalidArgument,
                         "store URL " + std::string(url) + " is not a SQLite URL",
                         "accepted: " + std::string(kAcceptedSchemes));
    }
    if (out.path.empty()) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "store URL " + std::string(url) + " names no database file",
                         "accepted: " + std::string(kAcceptedSchemes));
    }
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view option = query.substr(0, amp);
        if (!option.empty()) TXG_RETURN_IF_ERROR(ApplyQueryOption(url, option, out));
        if (amp == std::string_view::npos) break;
        query = query.substr(amp + 1);
    }
    return out;
}

std::string MaskPassword(std::string_view url) {
    std::string out(url);
    const auto scheme_end = out.find("://");
    if (scheme_end != std::string::npos) {
        const std::size_t auth_begin = scheme_end + 3;
        const std::size_t auth_end = std::min(out.find('/', auth_begin), out.find('?', auth_begin));
        const std::size_t at =
            out.rfind('@', auth_end == std::string::npos ? out.size() : auth_end);
        if (at != std::string::npos && at >= auth_begin) {
            const std::size_t colon = out.find(':', auth_begin);
            if (colon != std::string::npos && colon < at) {
                out.replace(colon + 1, at - colon - 1, "***");
            }
        }
    }
    // password=... in the query string
    const auto q = out.find('?');
    if (q != std::string::npos) {
        std::size_t pos = q + 1;
        while (pos < out.size()) {
            std::size_t amp = out.find('&', pos);
            if (amp == std::string::npos) amp = out.size();
            if (std::string_view(out).substr(pos, amp - pos).starts_with("password=")) {
                const std::size_t value = pos + std::string_view("password=").size();
                out.replace(value, amp - value, "***");
                amp = value + 3;
            }
            pos = amp + 1;
        }
    }
    return out;
}

Result<PostgresUrl> ParsePostgresUrl(std::string_view url) {
    PostgresUrl out;
    out.masked = MaskPassword(url);
    if (!url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "store URL " + out.masked + " is not a PostgreSQL URL",
                         "accepted: " + std::string(kAcceptedSchemes));
    }
    const auto q = url.find('?');
    out.conninfo = std::string(url.substr(0, q));
    if (q == std::string_view::npos) return out;
    std::string_view query = url.substr(q + 1);
    std::string kept;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view option = query.substr(0, amp);
        const auto eq = option.find('=');
        const std::string_view key = option.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? "" : option.substr(eq + 1);
        if (key == "copy_min_rows") {
            std::size_t n = 0;
            const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc() || end != value.data() + value.size() || value.empty() ||
                n == 0) {
                return MakeError(ErrorCode::kInvalidArgument,
                                 "store URL " + out.masked + ": copy_min_rows='" +
                                     std::string(value) + "' is not a positive integer");
            }
            out.copy_min_rows = n;
        } else if (!option.empty()) {
            kept += kept.empty() ? "?" : "&";
            kept += option;
        }
        if (amp == std::string_view::npos) break;
        query = query.substr(amp + 1);
    }
    out.conninfo += kept;
    return out;
}

}  // namespace store_detail

Result<std::unique_ptr<Store>> OpenStore(std::string_view url) {
    if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
        auto parsed = store_detail::ParsePostgresUrl(url);
        if (!parsed) return std::unexpected(parsed.error());
        return store_detail::OpenPostgresStore(*parsed);
    }
    if (url.starts_with("sqlite:")) {
        auto parsed = store_detail::ParseSqliteUrl(url);
        if (!parsed) return std::unexpected(parsed.error());
        return store_detail::OpenSqliteStore(std::string(url), *parsed);
    }
    return MakeError(ErrorCode::kInvalidArgument,
                     "store URL '" + store_detail::MaskPassword(url) + "' has an unknown scheme",
                     "accepted: " + std::string(store_detail::kAcceptedSchemes));
}

}  // namespace txguard
