#include "postgres_store.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace txguard::store_detail {
namespace {

constexpr int kLatestVersion = 2;  // the SQLite store's numbering (v2: partitions)

// A new database gets this shape directly (version kLatestVersion).
constexpr const char* kCreateSchema = R"sql(
CREATE TABLE transactions(
    partition BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    transaction_id TEXT COLLATE "C" NOT NULL UNIQUE,
    ts_ms BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    customer_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    amount DOUBLE PRECISION,
    fields_json TEXT NOT NULL,
    score DOUBLE PRECISION,
    decision TEXT NOT NULL,
    reasons_json TEXT NOT NULL,
    model_version TEXT NOT NULL,
    PRIMARY KEY (partition, seq));
CREATE INDEX transactions_alerts ON transactions(ts_ms, seq, partition)
    WHERE decision <> 'allow';
CREATE TABLE labels(
    partition BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    transaction_id TEXT COLLATE "C" NOT NULL,
    label SMALLINT NOT NULL,
    known_at_ms BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (partition, seq));
CREATE INDEX labels_transaction ON labels(transaction_id, seq);
CREATE TABLE snapshots(
    model_key TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    bytes BYTEA NOT NULL);
)sql";

// kUpgrades[v - kFirstUpgradable] takes an existing database from version v to v + 1.
constexpr int kFirstUpgradable = 2;
constexpr std::array<const char*, 0> kUpgrades = {};
static_assert(kFirstUpgradable + static_cast<int>(kUpgrades.size()) == kLatestVersion);

// Serialises migrations of workers that start together (pg_advisory_xact_lock key).
constexpr std::int64_t kMigrationLockKey = 0x7478677561726401;  // "txguard\1"

constexpr std::array<const char*, 13> kTxColumns = {
    "partition",   "seq",          "transaction_id", "ts_ms",       "received_ms",
    "customer_id", "terminal_id",  "amount",         "fields_json", "score",
    "decision",    "reasons_json", "model_version"};
constexpr std::array<const char*, 6> kLabelColumns = {"partition", "seq",         "transaction_id",
                                                      "label",     "known_at_ms", "received_ms"};

#define TXG_PG_TX_COLUMNS                                                                    \
    "partition, seq, transaction_id, ts_ms, received_ms, customer_id, terminal_id, amount, " \
    "fields_json, score, decision, reasons_json, model_version"
#define TXG_PG_LABEL_COLUMNS "partition, seq, transaction_id, label, known_at_ms, received_ms"

constexpr const char* kStagingTable = "txguard_staging_tx";
constexpr std::size_t kMaxValuesRows = 256;  // largest multi-row INSERT chunk
constexpr std::size_t kPageRows = 2000;      // rows per page of a replay scan
constexpr int kMaxAttempts = 5;              // a batch meeting a deadlock is retried

// Fixed statements, prepared on every (re)connection.
constexpr std::array<std::pair<const char*, const char*>, 11> kStatements = {{
    {"get_tx", "SELECT " TXG_PG_TX_COLUMNS " FROM transactions WHERE transaction_id = $1"},
    {"get_label", "SELECT " TXG_PG_LABEL_COLUMNS
                  " FROM labels WHERE transaction_id = $1 ORDER BY seq DESC LIMIT 1"},
    {"alerts",
     "SELECT " TXG_PG_TX_COLUMNS " FROM transactions WHERE decision <> 'allow' AND ts_ms >= $1"
     " ORDER BY ts_ms, seq, partition LIMIT $2"},
    {"events_tx", "SELECT " TXG_PG_TX_COLUMNS
                  " FROM transactions WHERE partition = $1 AND seq > $2 ORDER BY seq LIMIT $3"},
    {"events_label", "SELECT " TXG_PG_LABEL_COLUMNS
                     " FROM labels WHERE partition = $1 AND seq > $2 ORDER BY seq LIMIT $3"},
    {"tx_ids",
     "SELECT transaction_id, seq FROM transactions WHERE partition = $1 AND seq > $2"
     " ORDER BY seq LIMIT $3"},
    {"max_seq",
     "SELECT GREATEST("
     "COALESCE((SELECT max(seq) FROM transactions WHERE partition = $1), 0),"
     "COALESCE((SELECT max(seq) FROM labels WHERE partition = $1), 0))"},
    {"count_tx", "SELECT count(*) FROM transactions"},
    {"put_snapshot",
     "INSERT INTO snapshots(model_key, seq, created_ms, bytes) VALUES ($1, $2, $3, $4)"
     " ON CONFLICT (model_key) DO UPDATE SET seq = excluded.seq,"
     " created_ms = excluded.created_ms, bytes = excluded.bytes"},
    {"get_snapshot",
     "SELECT model_key, seq, created_ms, bytes FROM snapshots WHERE model_key = $1"},
    {"move_staged",
     "INSERT INTO transactions SELECT * FROM txguard_staging_tx"
     " ON CONFLICT (transaction_id) DO NOTHING"},
}};

// One line: libpq messages carry newlines and tabs ("ERROR:  ...\nDETAIL:  ...").
std::string OneLine(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    bool space = false;
    for (char c : text) {
        if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
            space = true;
            continue;
        }
        if (space && !out.empty()) out += ' ';
        space = false;
        out += c;
    }
    return out;
}

// Valid UTF-8 without NUL bytes: what PostgreSQL's text type accepts.
bool IsPgText(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c == 0) return false;
        if (c < 0x80) {
            ++p;
            continue;
        }
        int n = 0;
        std::uint32_t cp = 0;
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (end - p <= n) return false;
        for (int i = 1; i <= n; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
        if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        p += n + 1;
    }
    return true;
}

std::string Num(double v) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest exact; nan, inf: accepted
    return std::string(buf, r.ptr);
}

template <class I>
I ParseInt(const pqxx::field& f) {
    I v = 0;
    const char* p = f.c_str();
    std::from_chars(p, p + f.size(), v);
    return v;
}

double ParseDouble(const pqxx::field& f) {
    if (f.is_null()) return std::numeric_limits<double>::quiet_NaN();
    double v = 0;
    const char* p = f.c_str();
    const char* end = p + f.size();
    if (f.size() > 0 && *p == '-' && std::string_view(p + 1, f.size() - 1) == "Infinity") {
        return -std::numeric_limits<double>::infinity();
    }
    std::from_chars(p, end, v);  // also reads NaN and Infinity
    return v;
}

void ParseText(const pqxx::field& f, std::string& out) { out.assign(f.c_str(), f.size()); }

void ReadTransaction(const pqxx::row& r, StoredTransaction& tx) {
    tx.partition = ParseInt<std::uint32_t>(r[0]);
    tx.seq = ParseInt<std::uint64_t>(r[1]);
    ParseText(r[2], tx.transaction_id);
    tx.ts_ms = ParseInt<std::int64_t>(r[3]);
    tx.received_ms = ParseInt<std::int64_t>(r[4]);
    ParseText(r[5], tx.customer_id);
    ParseText(r[6], tx.terminal_id);
    tx.amount = ParseDouble(r[7]);
    ParseText(r[8], tx.fields_json);
    tx.score = ParseDouble(r[9]);
    ParseText(r[10], tx.decision);
    ParseText(r[11], tx.reasons_json);
    ParseText(r[12], tx.model_version);
}

void ReadLabel(const pqxx::row& r, StoredLabel& label) {
    label.partition = ParseInt<std::uint32_t>(r[0]);
    label.seq = ParseInt<std::uint64_t>(r[1]);
    ParseText(r[2], label.transaction_id);
    label.label = static_cast<std::int8_t>(ParseInt<int>(r[3]));
    label.known_at_ms = ParseInt<std::int64_t>(r[4]);
    label.received_ms = ParseInt<std::int64_t>(r[5]);
}

void AddParams(std::vector<std::string>& p, const StoredTransaction& tx) {
    p.push_back(std::to_string(tx.partition));
    p.push_back(std::to_string(tx.seq));
    p.push_back(tx.transaction_id);
    p.push_back(std::to_string(tx.ts_ms));
    p.push_back(std::to_string(tx.received_ms));
    p.push_back(tx.customer_id);
    p.push_back(tx.terminal_id);
    p.push_back(Num(tx.amount));
    p.push_back(tx.fields_json);
    p.push_back(Num(tx.score));
    p.push_back(tx.decision);
    p.push_back(tx.reasons_json);
    p.push_back(tx.model_version);
}

void AddParams(std::vector<std::string>& p, const StoredLabel& label) {
    p.push_back(std::to_string(label.partition));
    p.push_back(std::to_string(label.seq));
    p.push_back(label.transaction_id);
    p.push_back(std::to_string(label.label));
    p.push_back(std::to_string(label.known_at_ms));
    p.push_back(std::to_string(label.received_ms));
}

void CopyRow(pqxx::stream_to& s, const StoredTransaction& tx) {
    s << std::make_tuple(std::to_string(tx.partition), std::to_string(tx.seq), tx.transaction_id,
                         std::to_string(tx.ts_ms), std::to_string(tx.received_ms), tx.customer_id,
                         tx.terminal_id, Num(tx.amount), tx.fields_json, Num(tx.score), tx.decision,
                         tx.reasons_json, tx.model_version);
}

void CopyRow(pqxx::stream_to& s, const StoredLabel& label) {
    s << std::make_tuple(std::to_string(label.partition), std::to_string(label.seq),
                         label.transaction_id, std::to_string(label.label),
                         std::to_string(label.known_at_ms), std::to_string(label.received_ms));
}

// "INSERT INTO table(cols) VALUES ($1..$k), ..., ($..) [suffix]" for `rows` rows.
std::string ValuesSql(const char* table, const char* columns, std::size_t per_row, std::size_t rows,
                      const char* suffix) {
    std::string sql = std::string("INSERT INTO ") + table + "(" + columns + ") VALUES ";
    std::size_t n = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        sql += r == 0 ? "(" : ",(";
        for (std::size_t c = 0; c < per_row; ++c) {
            if (c > 0) sql += ',';
            sql += '$';
            sql += std::to_string(++n);
        }
        sql += ')';
    }
    sql += suffix;
    return sql;
}

// The largest power of two <= min(n, kMaxValuesRows).
std::size_t ChunkRows(std::size_t n) {
    std::size_t c = 1;
    while (c * 2 <= n && c * 2 <= kMaxValuesRows) c *= 2;
    return c;
}

int ChunkIndex(std::size_t rows) {
    int i = 0;
    while ((std::size_t{1} << i) < rows) ++i;
    return i;
}

class PostgresStore final : public Store {
  public:
    explicit PostgresStore(const PostgresUrl& url)
        : url_(url.masked), conninfo_(url.conninfo), copy_min_rows_(url.copy_min_rows) {}

    std::string Url() const override { return url_; }

    using Store::ForEachEvent;
    using Store::ForEachTransactionId;
    using Store::MaxSeq;

    // Connects and migrates (the first open), then prepares the session.
    Result<void> Open() {
        TXG_RETURN_IF_ERROR(ConnectOnly());
        try {
            TXG_RETURN_IF_ERROR(Migrate());
            PrepareSession();
        } catch (const std::exception& e) {
            return Failure("cannot prepare the schema", e);
        }
        return Ok();
    }

    Result<std::size_t> Append(std::span<const StoredTransaction> transactions,
                               std::span<const StoredLabel> labels) override {
        if (transactions.empty() && labels.empty()) return std::size_t{0};
        if (scan_ != nullptr) return NestedWrite("append");
        TXG_RETURN_IF_ERROR(CheckText(transactions, labels));
        // The first of each id wins; sorted by id so concurrent writers lock in one order.
        std::vector<const StoredTransaction*> rows;
        rows.reserve(transactions.size());
        for (const auto& tx : transactions) rows.push_back(&tx);
        std::stable_sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
            return a->transaction_id < b->transaction_id;
        });
        rows.erase(std::unique(rows.begin(), rows.end(),
                               [](const auto* a, const auto* b) {
                                   return a->transaction_id == b->transaction_id;
                               }),
                   rows.end());
        for (int attempt = 1;; ++attempt) {
            TXG_RETURN_IF_ERROR(EnsureConnected());
            try {
                pqxx::work w(*conn_);
                std::size_t inserted = 0;
                if (!rows.empty()) {
                    inserted = rows.size() >= copy_min_rows_ ? CopyTransactions(w, rows)
                                                             : InsertTransactions(w, rows);
                }
                if (!labels.empty()) {
                    if (labels.size() >= copy_min_rows_) {
                        CopyLabels(w, labels);
                    } else {
                        InsertLabels(w, labels);
                    }
                }
                w.commit();
                return inserted;
            } catch (const pqxx::transaction_rollback& e) {
                // deadlock_detected / serialization_failure: the server rolled the batch back
                if (attempt >= kMaxAttempts) return Failure("append", e);
                std::this_thread::sleep_for(std::chrono::milliseconds(attempt * 5));
            } catch (const pqxx::unique_violation& e) {
                return Failure(DescribeClash(e.what(), transactions, labels), e);
            } catch (const std::exception& e) {
                return Failure("append of " + std::to_string(transactions.size()) +
                                   " transactions and " + std::to_string(labels.size()) + " labels",
                               e);
            }
        }
    }

    Result<std::optional<StoredTransaction>> GetTransaction(std::string_view id) override {
        return Read("cannot read transaction '" + std::string(id) + "'",
                    [&](pqxx::transaction_base& t) -> Result<std::optional<StoredTransaction>> {
                        const auto r = t.exec_prepared("get_tx", std::string(id));
                        if (r.empty()) return std::optional<StoredTransaction>();
                        std::optional<StoredTransaction> tx(std::in_place);
                        ReadTransaction(r[0], *tx);
                        return tx;
                    });
    }

    Result<std::optional<StoredLabel>> GetLabel(std::string_view transaction_id) override {
        return Read("cannot read the label of '" + std::string(transaction_id) + "'",
                    [&](pqxx::transaction_base& t) -> Result<std::optional<StoredLabel>> {
                        const auto r = t.exec_prepared("get_label", std::string(transaction_id));
                        if (r.empty()) return std::optional<StoredLabel>();
                        std::optional<StoredLabel> label(std::in_place);
                        ReadLabel(r[0], *label);
                        return label;
                    });
    }

    Result<std::vector<StoredTransaction>> Alerts(const AlertQuery& query) override {
        const auto max_limit = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
        const std::string limit = std::to_string(std::min(query.limit, max_limit));
        return Read("cannot read alerts",
                    [&](pqxx::transaction_base& t) -> Result<std::vector<StoredTransaction>> {
                        const auto r =
                            t.exec_prepared("alerts", std::to_string(query.since_ms), limit);
                        std::vector<StoredTransaction> out(r.size());
                        for (std::size_t i = 0; i < r.size(); ++i) ReadTransaction(r[i], out[i]);
                        return out;
                    });
    }

    Result<void> ForEachEvent(std::uint32_t partition, std::uint64_t after_seq,
                              const EventVisitor& visit) override {
        if (after_seq >= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return Ok();  // seqs are stored as signed 64-bit integers: nothing can follow
        }
        return Scan(
            "cannot read the events of partition " + std::to_string(partition),
            [&](pqxx::transaction_base& t) -> Result<void> {
                const std::string part = std::to_string(partition);
                const std::string page = std::to_string(kPageRows);
                std::uint64_t tx_after = after_seq;
                std::uint64_t label_after = after_seq;
                pqxx::result txs =
                    t.exec_prepared("events_tx", part, std::to_string(tx_after), page);
                pqxx::result labels =
                    t.exec_prepared("events_label", part, std::to_string(label_after), page);
                std::size_t ti = 0;
                std::size_t li = 0;
                StoredEvent tx_event;
                StoredEvent label_event;
                tx_event.transaction.emplace();
                label_event.label.emplace();
                for (;;) {
                    if (ti == txs.size() && txs.size() == kPageRows) {
                        txs = t.exec_prepared("events_tx", part, std::to_string(tx_after), page);
                        ti = 0;
                    }
                    if (li == labels.size() && labels.size() == kPageRows) {
                        labels = t.exec_prepared("events_label", part, std::to_string(label_after),
                                                 page);
                        li = 0;
                    }
                    const bool have_tx = ti < txs.size();
                    const bool have_label = li < labels.size();
                    if (!have_tx && !have_label) break;
                    bool take_tx = !have_label;
                    if (have_tx && have_label) {
                        take_tx = ParseInt<std::uint64_t>(txs[ti][1]) <
                                  ParseInt<std::uint64_t>(labels[li][1]);
                    }
                    if (take_tx) {
                        ReadTransaction(txs[ti++], *tx_event.transaction);
                        tx_after = tx_event.transaction->seq;
                        TXG_RETURN_IF_ERROR(visit(tx_event));
                    } else {
                        ReadLabel(labels[li++], *label_event.label);
                        label_after = label_event.label->seq;
                        TXG_RETURN_IF_ERROR(visit(label_event));
                    }
                }
                return Ok();
            });
    }

    Result<void> ForEachTransactionId(std::uint32_t partition, const IdVisitor& visit) override {
        return Scan("cannot read the transaction ids of partition " + std::to_string(partition),
                    [&](pqxx::transaction_base& t) -> Result<void> {
                        const std::string part = std::to_string(partition);
                        const std::string page = std::to_string(kPageRows * 5);
                        std::uint64_t after = 0;
                        for (;;) {
                            const auto r =
                                t.exec_prepared("tx_ids", part, std::to_string(after), page);
                            for (const auto& row : r) {
                                after = ParseInt<std::uint64_t>(row[1]);
                                visit(std::string_view(row[0].c_str(), row[0].size()), after);
                            }
                            if (r.size() < kPageRows * 5) break;
                        }
                        return Ok();
                    });
    }

    Result<std::uint64_t> MaxSeq(std::uint32_t partition) override {
        return Read("cannot read the max seq of partition " + std::to_string(partition),
                    [&](pqxx::transaction_base& t) -> Result<std::uint64_t> {
                        const auto r = t.exec_prepared("max_seq", std::to_string(partition));
                        return ParseInt<std::uint64_t>(r[0][0]);
                    });
    }

    Result<std::uint64_t> CountTransactions() override {
        return Read("cannot count transactions",
                    [&](pqxx::transaction_base& t) -> Result<std::uint64_t> {
                        const auto r = t.exec_prepared("count_tx");
                        return ParseInt<std::uint64_t>(r[0][0]);
                    });
    }

    Result<void> PutSnapshot(const StoredSnapshot& snapshot) override {
        const std::string what = "cannot write the snapshot of '" + snapshot.model_key + "'";
        if (scan_ != nullptr) return NestedWrite("put snapshot");
        if (!IsPgText(snapshot.model_key)) {
            return MakeError(ErrorCode::kInvalidArgument,
                             "store " + url_ + ": snapshot model_key '" + snapshot.model_key +
                                 "' has a NUL byte or is not UTF-8");
        }
        TXG_RETURN_IF_ERROR(EnsureConnected());
        try {
            pqxx::work w(*conn_);
            w.exec_prepared("put_snapshot", snapshot.model_key, std::to_string(snapshot.seq),
                            std::to_string(snapshot.created_ms),
                            pqxx::binarystring(snapshot.bytes.data(), snapshot.bytes.size()));
            w.commit();
            return Ok();
        } catch (const std::exception& e) {
            return Failure(what, e);
        }
    }

    Result<std::optional<StoredSnapshot>> LatestSnapshot(std::string_view model_key) override {
        return Read("cannot read the snapshot of '" + std::string(model_key) + "'",
                    [&](pqxx::transaction_base& t) -> Result<std::optional<StoredSnapshot>> {
                        const auto r = t.exec_prepared("get_snapshot", std::string(model_key));
                        if (r.empty()) return std::optional<StoredSnapshot>();
                        std::optional<StoredSnapshot> snap(std::in_place);
                        ParseText(r[0][0], snap->model_key);
                        snap->seq = ParseInt<std::uint64_t>(r[0][1]);
                        snap->created_ms = ParseInt<std::int64_t>(r[0][2]);
                        const pqxx::binarystring bytes(r[0][3]);
                        snap->bytes.assign(reinterpret_cast<const char*>(bytes.data()),
                                           bytes.size());
                        return snap;
                    });
    }

  private:
    // The error of a failed call; forgets a broken connection (the next call reconnects).
    std::unexpected<Error> Failure(const std::string& what, const std::exception& e) {
        if (conn_ != nullptr && !conn_->is_open()) Disconnect();
        return std::unexpected(
            Error{ErrorCode::kIo, "store " + url_ + ": " + what + ": " + OneLine(e.what()), {}});
    }

    std::unexpected<Error> NestedWrite(const char* what) const {
        return std::unexpected(Error{ErrorCode::kInternal,
                                     "store " + url_ + ": " + what +
                                         " called from inside a ForEachEvent/ForEachTransactionId "
                                         "visitor (the scan's transaction is read-only)",
                                     {}});
    }

    void Disconnect() {
        conn_.reset();
        values_prepared_.fill(false);
        label_values_prepared_.fill(false);
    }

    Result<void> ConnectOnly() {
        try {
            conn_ = std::make_unique<pqxx::connection>(conninfo_);
            pqxx::nontransaction t(*conn_);
            t.exec("SET client_min_messages TO warning");
            t.exec("SET client_encoding TO 'UTF8'");
        } catch (const std::exception& e) {
            Disconnect();
            const std::string reason = OneLine(e.what());
            const bool auth = reason.find("authentication failed") != std::string::npos ||
                              reason.find("password") != std::string::npos;
            return MakeError(ErrorCode::kIo,
                             "cannot connect to store " + url_ + ": " +
                                 (auth ? "authentication failed: " : "") + reason,
                             auth ? "check the user name and password in the URL"
                                  : "is PostgreSQL running and reachable at that host and port, "
                                    "and does the database exist?");
        }
        return Ok();
    }

    // The per-connection state: the staging table and the prepared statements.
    void PrepareSession() {
        pqxx::nontransaction t(*conn_);
        t.exec(std::string("CREATE TEMP TABLE IF NOT EXISTS ") + kStagingTable +
               " (LIKE transactions) ON COMMIT DELETE ROWS");
        // Prepared now rather than on first use: libpqxx 6.4 leaks the PGresult when the lazy
        // PREPARE of a first use is what meets a dropped connection.
        for (const auto& [name, sql] : kStatements) {
            conn_->prepare(name, sql);
            conn_->prepare_now(name);
        }
    }

    Result<void> EnsureConnected() {
        if (conn_ != nullptr) return Ok();
        TXG_RETURN_IF_ERROR(ConnectOnly());
        try {
            PrepareSession();
        } catch (const std::exception& e) {
            return Failure("cannot prepare the session", e);
        }
        return Ok();
    }

    Result<void> Migrate() {
        pqxx::work w(*conn_);
        w.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")");
        w.exec("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)");
        const auto r = w.exec("SELECT max(version) FROM schema_version");
        const int version = r[0][0].is_null() ? 0 : r[0][0].as<int>();
        if (version == kLatestVersion) return Ok();  // the work is rolled back: nothing changed
        if (version > kLatestVersion) {
            return MakeError(ErrorCode::kIncompatible,
                             "store " + url_ + " has schema version " + std::to_string(version) +
                                 ", this txguard knows up to " + std::to_string(kLatestVersion),
                             "upgrade txguard, or point it at another store");
        }
        if (version == 0) {
            w.exec(kCreateSchema);
        } else if (version < kFirstUpgradable) {
            return MakeError(ErrorCode::kCorrupt,
                             "store " + url_ + " has schema version " + std::to_string(version) +
                                 ", which no txguard PostgreSQL store ever wrote");
        } else {
            for (int v = version; v < kLatestVersion; ++v) {
                w.exec(kUpgrades[static_cast<std::size_t>(v - kFirstUpgradable)]);
            }
        }
        w.exec("DELETE FROM schema_version");
        w.exec("INSERT INTO schema_version VALUES (" + std::to_string(kLatestVersion) + ")");
        w.commit();
        return Ok();
    }

    template <class F>
    std::invoke_result_t<F, pqxx::transaction_base&> Read(const std::string& what, F&& f) {
        if (scan_ != nullptr) {  // called from a scan's visitor: same transaction and snapshot
            try {
                return f(*scan_);
            } catch (const std::exception& e) {
                return Failure(what, e);
            }
        }
        TXG_RETURN_IF_ERROR(EnsureConnected());
        try {
            pqxx::nontransaction t(*conn_);
            return f(t);
        } catch (const std::exception& e) {
            return Failure(what, e);
        }
    }

    // Runs `f` in a REPEATABLE READ, READ ONLY transaction that reads made by its visitor join.
    template <class F>
    Result<void> Scan(const std::string& what, F&& f) {
        if (scan_ != nullptr) {
            return MakeError(ErrorCode::kInternal,
                             "store " + url_ + ": " + what + ": a scan is already running");
        }
        TXG_RETURN_IF_ERROR(EnsureConnected());
        try {
            pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> t(*conn_);
            struct Guard {
                pqxx::transaction_base*& slot;
                ~Guard() { slot = nullptr; }
            } guard{scan_};
            scan_ = &t;
            auto r = f(t);
            if (!r) return r;
            t.commit();
            return Ok();
        } catch (const std::exception& e) {
            return Failure(what, e);
        }
    }

    Result<void> CheckText(std::span<const StoredTransaction> transactions,
                           std::span<const StoredLabel> labels) const {
        auto bad = [&](std::string_view kind, const std::string& id, const char* field) {
            return MakeError(ErrorCode::kInvalidArgument,
                             "store " + url_ + ": " + std::string(kind) + " '" + id + "': " +
                                 field + " has a NUL byte or is not UTF-8 (PostgreSQL text)",
                             "nothing of the batch was written");
        };
        for (const auto& tx : transactions) {
            const std::pair<const std::string*, const char*> fields[] = {
                {&tx.transaction_id, "transaction_id"},
                {&tx.customer_id, "customer_id"},
                {&tx.terminal_id, "terminal_id"},
                {&tx.fields_json, "fields_json"},
                {&tx.decision, "decision"},
                {&tx.reasons_json, "reasons_json"},
                {&tx.model_version, "model_version"}};
            for (const auto& [value, name] : fields) {
                if (!IsPgText(*value)) return bad("transaction", tx.transaction_id, name);
            }
        }
        for (const auto& label : labels) {
            if (!IsPgText(label.transaction_id)) {
                return bad("label of", label.transaction_id, "transaction_id");
            }
        }
        return Ok();
    }

    // Names the record behind a unique violation on (partition, seq): a scorer bug.
    static std::string DescribeClash(std::string_view message,
                                     std::span<const StoredTransaction> transactions,
                                     std::span<const StoredLabel> labels) {
        const auto key = message.find("(partition, seq)=(");
        if (key == std::string_view::npos) return "append";
        const char* p = message.data() + key + std::string_view("(partition, seq)=(").size();
        const char* end = message.data() + message.size();
        std::uint64_t partition = 0;
        std::uint64_t seq = 0;
        auto r = std::from_chars(p, end, partition);
        if (r.ec != std::errc() || r.ptr + 2 > end) return "append";
        std::from_chars(r.ptr + 2, end, seq);  // ", "
        const bool is_label = message.find("labels_pkey") != std::string_view::npos;
        std::string who;
        if (is_label) {
            for (const auto& l : labels) {
                if (l.partition == partition && l.seq == seq) who = l.transaction_id;
            }
        } else {
            for (const auto& tx : transactions) {
                if (tx.partition == partition && tx.seq == seq) who = tx.transaction_id;
            }
        }
        return "append: cannot insert " + std::string(is_label ? "label of '" : "transaction '") +
               who + "' (partition " + std::to_string(partition) + ", seq " + std::to_string(seq) +
               "): that seq is already taken";
    }

    std::size_t CopyTransactions(pqxx::work& w, const std::vector<const StoredTransaction*>& rows) {
        {
            pqxx::stream_to s(w, kStagingTable, kTxColumns);
            for (const auto* tx : rows) CopyRow(s, *tx);
            s.complete();
        }
        return static_cast<std::size_t>(w.exec_prepared("move_staged").affected_rows());
    }

    std::size_t InsertTransactions(pqxx::work& w,
                                   const std::vector<const StoredTransaction*>& rows) {
        std::size_t inserted = 0;
        std::vector<std::string> params;
        for (std::size_t at = 0; at < rows.size();) {
            const std::size_t n = ChunkRows(rows.size() - at);
            const int k = ChunkIndex(n);
            const std::string name = "ins_tx_" + std::to_string(n);
            if (!values_prepared_[static_cast<std::size_t>(k)]) {
                conn_->prepare(name, ValuesSql("transactions", TXG_PG_TX_COLUMNS, kTxColumns.size(),
                                               n, " ON CONFLICT (transaction_id) DO NOTHING"));
                conn_->prepare_now(name);
                values_prepared_[static_cast<std::size_t>(k)] = true;
            }
            params.clear();
            for (std::size_t i = 0; i < n; ++i) AddParams(params, *rows[at + i]);
            inserted += static_cast<std::size_t>(
                w.exec_prepared(name, pqxx::prepare::make_dynamic_params(params)).affected_rows());
            at += n;
        }
        return inserted;
    }

    void CopyLabels(pqxx::work& w, std::span<const StoredLabel> labels) {
        pqxx::stream_to s(w, "labels", kLabelColumns);
        for (const auto& l : labels) CopyRow(s, l);
        s.complete();
    }

    void InsertLabels(pqxx::work& w, std::span<const StoredLabel> labels) {
        std::vector<std::string> params;
        for (std::size_t at = 0; at < labels.size();) {
            const std::size_t n = ChunkRows(labels.size() - at);
            const int k = ChunkIndex(n);
            const std::string name = "ins_label_" + std::to_string(n);
            if (!label_values_prepared_[static_cast<std::size_t>(k)]) {
                conn_->prepare(
                    name, ValuesSql("labels", TXG_PG_LABEL_COLUMNS, kLabelColumns.size(), n, ""));
                conn_->prepare_now(name);
                label_values_prepared_[static_cast<std::size_t>(k)] = true;
            }
            params.clear();
            for (std::size_t i = 0; i < n; ++i) AddParams(params, labels[at + i]);
            w.exec_prepared(name, pqxx::prepare::make_dynamic_params(params));
            at += n;
        }
    }

    std::string url_;  // masked
    std::string conninfo_;
    std::size_t copy_min_rows_;
    std::unique_ptr<pqxx::connection> conn_;
    pqxx::transaction_base* scan_ = nullptr;  // the running scan's transaction, if any
    // Which multi-row INSERT sizes (1 << index rows) are prepared on this connection.
    std::array<bool, 9> values_prepared_{};
    std::array<bool, 9> label_values_prepared_{};
};

}  // namespace

int PostgresSchemaVersion() { return kLatestVersion; }

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresUrl& url) {
    auto store = std::make_unique<PostgresStore>(url);
    TXG_RETURN_IF_ERROR(store->Open());
    return std::unique_ptr<Store>(std::move(store));
}

}  // namespace txguard::store_detail
