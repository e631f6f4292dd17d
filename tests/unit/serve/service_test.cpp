// The scoring service in-process, with a real SQLite store and real trained models: live scores
// equal offline batch scores to the bit, a restart continues exactly, retries are idempotent, and
// every route answers bad input with the status and field the API documents.
#include "txguard/serve/service.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "serve_request_json.hpp"
#include "txguard/core/time.hpp"
#include "txguard/model/bundle.hpp"
#include "txguard/model/pipeline.hpp"
#include "txguard/serve/scoring.hpp"
#include "txguard/sim/simulator.hpp"

namespace txguard {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() /
               ("txg_service_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string Db() const { return "sqlite://" + (path / "store.db").string(); }
};

Schema HandbookSchema() { return *SchemaPreset("handbook"); }

// A small simulated history (time ordered), shared by the tests.
const TransactionTable& Table() {
    static const TransactionTable table = [] {
        SimParams p;
        p.customers = 150;
        p.terminals = 300;
        p.days = 40;
        p.seed = 11;
        p.compromised_terminals_per_day = 1;
        p.compromised_cards_per_day = 1;
        auto t = Simulate(p);
        EXPECT_TRUE(t) << t.error().message;
        return std::move(*t);
    }();
    return table;
}

std::string TrainTo(const fs::path& dir, const std::string& detector, const ParamMap& params,
                    const std::string& name, const std::string& features = "") {
    TrainOptions opt;
    opt.detector = detector;
    opt.params = params;
    opt.features = features;
    opt.threads = 1;
    auto b = TrainModel(Table(), HandbookSchema(), opt);
    EXPECT_TRUE(b) << b.error().message;
    const std::string path = (dir / name).string();
    EXPECT_TRUE(SaveModel(*b, path));
    return path;
}

// Synchronous call: waits for the (possibly deferred) reply.
ApiResponse Call(ScoringService& s, std::string_view method, std::string_view target,
                 std::string body = {}, std::string_view auth = {}) {
    std::promise<ApiResponse> p;
    auto f = p.get_future();
    s.Handle(method, target, auth, std::move(body),
             [&p](ApiResponse r) { p.set_value(std::move(r)); });
    return f.get();
}

using testing::TxJson;

std::string LabelJson(const TransactionTable& t, std::size_t r) {
    return json{{"transaction_id", t.tx_id.Get(r)}, {"label", int(t.label[r])}}.dump();
}

std::unique_ptr<ScoringService> OpenService(const std::string& model, const std::string& db,
                                            ServeOptions opt = {}) {
    opt.model_path = model;
    opt.db_url = db;
    auto s = ScoringService::Open(opt);
    EXPECT_TRUE(s) << s.error().ToString();
    return s ? std::move(*s) : nullptr;
}

// Feeds rows [begin, end) one at a time, each followed by its label, and returns the scores.
std::vector<double> FeedSingles(ScoringService& s, std::size_t begin, std::size_t end) {
    const auto& t = Table();
    std::vector<double> scores;
    for (std::size_t r = begin; r < end; ++r) {
        auto res = Call(s, "POST", "/v1/score", TxJson(t, r));
        EXPECT_EQ(res.status, 200) << res.body;
        scores.push_back(json::parse(res.body).at("score").get<double>());
        auto lab = Call(s, "POST", "/v1/labels", LabelJson(t, r));
        EXPECT_EQ(lab.status, 200) << lab.body;
    }
    return scores;
}

std::vector<double> Offline(const std::string& model_path) {
    auto b = LoadModel(model_path);
    EXPECT_TRUE(b);
    auto scores = ScoreTable(*b, Table());
    EXPECT_TRUE(scores);
    return *scores;
}

constexpr std::size_t kRows = 2500;  // rows fed live (the first of the table, time ordered)

TEST(Service, LiveScoresEqualOfflineBatchScoresBitForBit) {
    TempDir dir;
    const auto& t = Table();
    ASSERT_TRUE(t.IsTimeOrdered());
    ASSERT_GT(t.rows, kRows);
    const std::string model = TrainTo(dir.path, "iforest", {{"trees", "50"}}, "if.txg");
    auto s = OpenService(model, dir.Db());
    ASSERT_TRUE(s);
    const auto live = FeedSingles(*s, 0, kRows);
    const auto offline = Offline(model);
    for (std::size_t r = 0; r < kRows; ++r) ASSERT_EQ(live[r], offline[r]) << "row " << r;
}

TEST(Service, BatchEndpointEqualsOfflineAndSupervisedReasonsAreShap) {
    TempDir dir;
    const auto& t = Table();
    const std::string model = TrainTo(
        dir.path, "xgboost", {{"trees", "20"}, {"depth", "3"}, {"threads", "1"}}, "xgb.txg");
    ServeOptions opt;
    opt.reasons_for_all = true;  // (by default only review/block decisions carry reasons)
    auto s = OpenService(model, dir.Db(), opt);
    ASSERT_TRUE(s);
    const auto offline = Offline(model);
    // Batches of 250 (spanning far less than the 7-day label delay), labels after each batch.
    for (std::size_t b = 0; b < kRows; b += 250) {
        std::string body = "{\"transactions\":[";
        json labels = json::array();
        for (std::size_t r = b; r < b + 250; ++r) {
            if (r > b) body += ',';
            body += TxJson(t, r);
            labels.push_back(json::parse(LabelJson(t, r)));
        }
        body += "]}";
        auto res = Call(*s, "POST", "/v1/score/batch", body);
        ASSERT_EQ(res.status, 200) << res.body.substr(0, 300);
        const auto results = json::parse(res.body).at("results");
        ASSERT_EQ(results.size(), 250u);
        for (std::size_t r = b; r < b + 250; ++r) {
            const auto& one = results[r - b];
            ASSERT_EQ(one.at("transaction_id"), t.tx_id.Get(r));
            ASSERT_EQ(one.at("score").get<double>(), offline[r]) << "row " << r;
            ASSERT_FALSE(one.at("reasons").empty());  // xgboost: SHAP contributions
        }
        auto lab = Call(*s, "POST", "/v1/labels", json{{"labels", labels}}.dump());
        ASSERT_EQ(lab.status, 200) << lab.body;
    }
}

// (The replay of events after a periodic snapshot, after SIGKILL, is tested against the real
// binary in tests/integration/serve_test.cpp.)
TEST(Service, RestartContinuesExactly) {
    TempDir dir;
    const std::string model = TrainTo(dir.path, "iforest", {{"trees", "50"}}, "if.txg");
    const auto offline = Offline(model);
    ServeOptions opt;
    opt.snapshot_every = 700;  // snapshots along the way, then a replay of the events after one
    std::vector<double> live;
    std::size_t cut[] = {0, 900, 1650, kRows};
    for (int part = 0; part < 3; ++part) {
        auto s = OpenService(model, dir.Db(), opt);
        ASSERT_TRUE(s);
        auto scores = FeedSingles(*s, cut[part], cut[part + 1]);
        live.insert(live.end(), scores.begin(), scores.end());
    }
    for (std::size_t r = 0; r < kRows; ++r) ASSERT_EQ(live[r], offline[r]) << "row " << r;
}

// A stored snapshot this build cannot read (its file damaged, or bytes the engine refuses, such
// as another snapshot format after an upgrade) does not stop the server: it is skipped, said so,
// and every stored event is replayed, so scores continue exactly as without a restart.
TEST(Service, AnUnreadableSnapshotIsSkippedAndEveryEventReplayed) {
    TempDir dir;
    const std::string model = TrainTo(dir.path, "iforest", {{"trees", "50"}}, "if.txg");
    const auto offline = Offline(model);
    std::vector<double> live;
    {
        auto s = OpenService(model, dir.Db());
        ASSERT_TRUE(s);
        live = FeedSingles(*s, 0, 900);
        s->Close();  // writes the snapshot
    }
    auto m = LoadScoringModel(model, ScoringOptions{});
    ASSERT_TRUE(m);
    const std::string key = (*m)->spec_key;
    std::string good;  // the snapshot's bytes
    {
        auto store = OpenStore(dir.Db());
        ASSERT_TRUE(store);
        auto snap = (*store)->LatestSnapshot(key);
        ASSERT_TRUE(snap && *snap);
        EXPECT_EQ((**snap).seq, 2u * 900u);
        good = (**snap).bytes;
    }
    const auto put = [&](std::uint64_t seq, const std::string& bytes) {
        auto store = OpenStore(dir.Db());
        ASSERT_TRUE(store);
        ASSERT_TRUE((*store)->PutSnapshot({seq, key, bytes, 1}));
    };
    // The snapshot is a file beside the store: a byte of its body flipped; then a sound file
    // with bytes the engine refuses; then a sound snapshot ahead of the store (a database
    // restored from an older backup). One restart each.
    const std::function<void()> damage[] = {
        [&] {
            std::vector<std::filesystem::path> files;
            for (const auto& e : std::filesystem::directory_iterator(dir.path))
                if (e.path().filename().string().starts_with("store.db-snapshot-"))
                    files.push_back(e.path());
            ASSERT_EQ(files.size(), 1u);
            std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
            f.seekg(200);
            const char c = static_cast<char>(f.get());
            f.seekp(200);
            f.put(static_cast<char>(c ^ 0x5a));
        },
        [&] { put(2 * 900, "\x01\x02"); },
        [&] { put(2 * 900 + 1, good); },
    };
    const char* says[] = {"checksum mismatch", "snapshot at seq 1800 skipped",
                          "ahead of the store, whose newest event is seq 1800"};
    for (int round = 0; round < 3; ++round) {
        damage[round]();  // after the previous round's close wrote a sound snapshot
        auto s = OpenService(model, dir.Db());
        ASSERT_TRUE(s);
        EXPECT_NE(s->SnapshotSkipped().find(says[round]), std::string::npos)
            << s->SnapshotSkipped();
        EXPECT_EQ(s->RestoredEvents(), 2u * 900u);  // each transaction and its label
        if (round == 2) {
            auto rest = FeedSingles(*s, 900, kRows);
            live.insert(live.end(), rest.begin(), rest.end());
        }
    }
    for (std::size_t r = 0; r < kRows; ++r) ASSERT_EQ(live[r], offline[r]) << "row " << r;
}

TEST(Service, RetriesAreIdempotentAcrossRestarts) {
    TempDir dir;
    const auto& t = Table();
    const std::string model = TrainTo(dir.path, "iforest", {{"trees", "20"}}, "if.txg");
    std::string first;
    {
        auto s = OpenService(model, dir.Db());
        auto a = Call(*s, "POST", "/v1/score", TxJson(t, 0));
        ASSERT_EQ(a.status, 200);
        auto b = Call(*s, "POST", "/v1/score", TxJson(t, 0));
        ASSERT_EQ(b.status, 200);
        auto ja = json::parse(a.body), jb = json::parse(b.body);
        ja.erase("latency_us");
        jb.erase("latency_us");
        EXPECT_EQ(ja, jb);
        bool replay_header = false;
        for (auto& [k, v] : b.headers) replay_header |= k == "Idempotent-Replay" && v == "true";
        EXPECT_TRUE(replay_header);
        first = ja.dump();
        Call(*s, "POST", "/v1/score", TxJson(t, 1));
    }
    auto s = OpenService(model, dir.Db());
    auto again = Call(*s, "POST", "/v1/score", TxJson(t, 0));
    ASSERT_EQ(again.status, 200);
    auto j = json::parse(again.body);
    j.erase("latency_us");
    EXPECT_EQ(j.dump(), first);
    // The retry did not count twice: the next new transaction scores as offline.
    auto next = Call(*s, "POST", "/v1/score", TxJson(t, 2));
    EXPECT_EQ(json::parse(next.body).at("score").get<double>(), Offline(model)[2]);
    // Retries inside a batch, and of an earlier batch entry.
    std::string body = "[" + TxJson(t, 3) + "," + TxJson(t, 3) + "," + TxJson(t, 0) + "]";
    auto batch = Call(*s, "POST", "/v1/score/batch", body);
    ASSERT_EQ(batch.status, 200) << batch.body;
    auto results = json::parse(batch.body).at("results");
    EXPECT_EQ(results[0], results[1]);
    EXPECT_EQ(results[2].dump(), first);
}

// Requests overlap (scores, reasons and answers are computed outside the scoring lock), but
// their events are submitted in seq order: concurrent batches (big enough to be split over
// threads) and single requests, with retries of entries other requests are still working on,
// and snapshots along the way. Every id is stored once with one answer; the store's insertion
// order is seq order; each stored score equals a one-at-a-time replay in seq order; a restart
// continues exactly as that replay does.
TEST(Service, ConcurrentRequestsAreSubmittedInSeqOrderAndReplayExactly) {
    TempDir dir;
    const auto& t = Table();
    const std::string model = TrainTo(dir.path, "iforest", {{"trees", "20"}}, "if.txg");
    ServeOptions opt;
    opt.snapshot_every = 250;
    // The store's log is restarted whenever it holds 1 MiB (checked below through /metrics).
    auto s = OpenService(model, dir.Db() + "?wal_limit_mb=1", opt);
    ASSERT_TRUE(s);
    constexpr std::size_t kThreads = 4, kSlice = 600;
    std::mutex mu;
    std::map<std::string, std::vector<json>> answers;  // id -> every answer it got
    std::vector<int> bad_status;
    auto record = [&](const json& one) {
        json a = one;
        a.erase("latency_us");
        std::lock_guard lock(mu);
        answers[a.at("transaction_id").get<std::string>()].push_back(a);
    };
    auto batch = [&](const std::vector<std::size_t>& rows) {
        std::string body = "{\"transactions\":[";
        for (std::size_t i = 0; i < rows.size(); ++i) body += (i ? "," : "") + TxJson(t, rows[i]);
        auto res = Call(*s, "POST", "/v1/score/batch", body + "]}");
        if (res.status != 200) {
            std::lock_guard lock(mu);
            bad_status.push_back(res.status);
            return;
        }
        const json parsed = json::parse(res.body);
        for (const auto& one : parsed.at("results")) record(one);
    };
    auto single = [&](std::size_t r) {
        auto res = Call(*s, "POST", "/v1/score", TxJson(t, r));
        if (res.status != 200) {
            std::lock_guard lock(mu);
            bad_status.push_back(res.status);
            return;
        }
        record(json::parse(res.body));
    };
    // A reader holds the log's start during the load, so the log cannot start over on its own
    // between commits (it did in slow runs, and then never reached 1 MiB): the restart checked
    // below comes once the reader is gone. (Before snapshots went to a file, their writes
    // through the log always filled it.)
    sqlite3* reader = nullptr;
    ASSERT_EQ(
        sqlite3_open_v2((dir.path / "store.db").c_str(), &reader, SQLITE_OPEN_READONLY, nullptr),
        SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM transactions;", nullptr, nullptr,
                           nullptr),
              SQLITE_OK);
    std::vector<std::thread> threads;
    for (std::size_t k = 0; k < kThreads; ++k) {
        threads.emplace_back([&, k] {
            const std::size_t b = k * kSlice, next = ((k + 1) % kThreads) * kSlice;
            std::vector<std::size_t> rows;
            for (std::size_t r = b; r < b + 300; ++r) rows.push_back(r);
            for (std::size_t r = next; r < next + 20; ++r) rows.push_back(r);  // another's rows
            batch(rows);
            for (std::size_t r = b + 300; r < b + 400; ++r) single(r);
            for (std::size_t r = next + 300; r < next + 305; ++r) single(r);  // retries, racing
            rows.clear();
            for (std::size_t r = b + 400; r < b + kSlice; ++r) rows.push_back(r);
            for (std::size_t r = b; r < b + 10; ++r) rows.push_back(r);  // own retries
            for (std::size_t r = next + 400; r < next + 420; ++r) rows.push_back(r);
            batch(rows);
        });
    }
    for (auto& th : threads) th.join();
    sqlite3_exec(reader, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(reader);
    // The snapshots along the way are reported: size, and how long each held the scoring lock.
    auto gauge = [&](const std::string& name) {
        const std::string m = Call(*s, "GET", "/metrics").body;
        const auto at = m.find("\n" + name + " ");
        return at == std::string::npos ? -1.0 : std::stod(m.substr(at + name.size() + 2));
    };
    for (int i = 0; i < 500 && gauge("txguard_snapshot_seconds") <= 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_GT(gauge("txguard_snapshot_seconds"), 0.0);
    EXPECT_GT(gauge("txguard_snapshot_lock_seconds"), 0.0);
    EXPECT_GT(gauge("txguard_snapshot_bytes"), 1000.0);
    // And the log's restarts (the last one may come at the first checkpoint after the load).
    for (int i = 0; i < 500 && gauge("txguard_store_log_restarts") < 1; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_GE(gauge("txguard_store_log_restarts"), 1.0);
    EXPECT_GE(gauge("txguard_store_log_bytes"), 0.0);
    s->Close();
    EXPECT_TRUE(bad_status.empty()) << bad_status.size() << " answers were not 200";
    ASSERT_EQ(answers.size(), kThreads * kSlice);
    for (const auto& [id, list] : answers)
        for (const auto& a : list) ASSERT_EQ(a, list.front()) << "two answers for " << id;

    // Stored once each, inserted in seq order.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2((dir.path / "store.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
              SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT seq, transaction_id FROM transactions ORDER BY rowid",
                                 -1, &st, nullptr),
              SQLITE_OK);
    std::vector<std::string> in_seq_order;
    std::int64_t last = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const std::int64_t seq = sqlite3_column_int64(st, 0);
        EXPECT_GT(seq, last) << "inserted out of seq order";
        last = seq;
        in_seq_order.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    ASSERT_EQ(in_seq_order.size(), kThreads * kSlice);

    // A fresh service fed the same transactions one at a time, in seq order, gives every score.
    std::map<std::string, std::size_t> row_of;
    for (std::size_t r = 0; r < kThreads * kSlice; ++r) row_of[std::string(t.tx_id.Get(r))] = r;
    auto replay = OpenService(model, "sqlite://" + (dir.path / "replay.db").string());
    ASSERT_TRUE(replay);
    for (const auto& id : in_seq_order) {
        auto res = Call(*replay, "POST", "/v1/score", TxJson(t, row_of.at(id)));
        ASSERT_EQ(res.status, 200);
        ASSERT_EQ(json::parse(res.body).at("score"), answers.at(id).front().at("score")) << id;
    }
    // The restarted service (snapshot + replay of the store) continues as that replay does.
    auto again = OpenService(model, dir.Db(), opt);
    ASSERT_TRUE(again);
    for (std::size_t r = kThreads * kSlice; r < kThreads * kSlice + 50; ++r) {
        auto a = Call(*again, "POST", "/v1/score", TxJson(t, r));
        auto b = Call(*replay, "POST", "/v1/score", TxJson(t, r));
        ASSERT_EQ(a.status, 200);
        ASSERT_EQ(json::parse(a.body).at("score"), json::parse(b.body).at("score")) << "row " << r;
    }
}

TEST(Service, BadRequestsNameTheField) {
    TempDir dir;
    const std::string model = TrainTo(dir.path, "iforest", {{"trees", "10"}}, "if.txg");
    auto s = OpenService(model, dir.Db());
    auto r = Call(*s, "POST", "/v1/score", "{not json");
    EXPECT_EQ(r.status, 400);
    r = Call(*s, "POST", "/v1/score",
             R"({"transaction_id":"x","timestamp":1522540800,"customer_id":"C1",)"
             R"("terminal_id":"T1","amount":12.5,"colour":"red"})");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(json::parse(r.body).at("field"), "colour");
    r = Call(*s, "POST", "/v1/score",
             R"({"transaction_id":"x","timestamp":1522540800,"terminal_id":"T1","amount":1})");
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(json::parse(r.body).at("field"), "customer_id");
    r = Call(*s, "POST", "/v1/score/batch", R"({"transactions":[{"transaction_id":"y"}]})");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(json::parse(r.body).at("field").get<std::string>().find("transactions[0]"),
              std::string::npos);
    r = Call(*s, "POST", "/v1/labels", R"({"transaction_id":"nope","label":1})");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(json::parse(r.body).at("field"), "transaction_id");
    EXPECT_EQ(Call(*s, "GET", "/v1/score").status, 405);
    EXPECT_EQ(Call(*s, "GET", "/nowhere").status, 404);
    EXPECT_EQ(Call(*s, "GET", "/v1/transactions/nope").status, 404);
    EXPECT_EQ(Call(*s, "GET", "/v1/alerts?limit=0").status, 400);
    EXPECT_EQ(Call(*s, "GET", "/v1/alerts?since=yesterday").status, 400);
    // Nothing bad was stored or counted.
    auto m = Call(*s, "GET", "/metrics");
    EXPECT_NE(m.body.find("txguard_transactions_scored_total 0"), std::string::npos) << m.body;
}

TEST(Service, TokensGuardRoutesByRole) {
    TempDir dir;
    const std::string model = TrainTo(dir.path, "iforest", {{"trees", "10"}}, "if.txg");
    ServeOptions opt;
    opt.tokens_env = "scoring:score-token-0123456789,admin:admin-token-0123456789";
    auto s = OpenService(model, dir.Db(), opt);
    ASSERT_TRUE(s->AuthConfigured());
    const std::string tx = TxJson(Table(), 0);
    auto r = Call(*s, "POST", "/v1/score", tx);
    EXPECT_EQ(r.status, 401);
    r = Call(*s, "POST", "/v1/score", tx, "Bearer wrong-token-0123456789");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(Call(*s, "POST", "/v1/score", tx, "Bearer score-token-0123456789").status, 200);
    EXPECT_EQ(Call(*s, "POST", "/v1/admin/reload", "", "Bearer score-token-0123456789").status,
              403);
    EXPECT_EQ(Call(*s, "POST", "/v1/admin/reload", "", "Bearer admin-token-0123456789").status,
              200);
    EXPECT_EQ(Call(*s, "GET", "/healthz").status, 200);  // probes need no token
    EXPECT_EQ(Call(*s, "GET", "/metrics").status, 200);
}

TEST(Service, ReloadSwapsGoodBundlesAndRefusesBadOnes) {
    TempDir dir;
    const std::string a = TrainTo(dir.path, "iforest", {{"trees", "10"}, {"seed", "1"}}, "a.txg");
    const std::string b = TrainTo(dir.path, "iforest", {{"trees", "10"}, {"seed", "2"}}, "b.txg");
    const std::string other = TrainTo(dir.path, "iforest", {{"trees", "10"}}, "other.txg", "basic");
    const std::string corrupt = (dir.path / "corrupt.txg").string();
    {
        std::string bytes = SerializeModel(*LoadModel(a));
        bytes[bytes.size() / 2] ^= 0x5a;
        std::FILE* f = std::fopen(corrupt.c_str(), "wb");
        std::fwrite(bytes.data(), 1, bytes.size(), f);
        std::fclose(f);
    }
    auto s = OpenService(a, dir.Db());
    const std::string v0 = s->ModelVersion();
    auto r = Call(*s, "POST", "/v1/admin/reload", json{{"model", corrupt}}.dump());
    EXPECT_EQ(r.status, 422) << r.body;
    EXPECT_EQ(s->ModelVersion(), v0);
    r = Call(*s, "POST", "/v1/admin/reload", json{{"model", other}}.dump());
    EXPECT_EQ(r.status, 422) << r.body;  // another feature spec: the live state does not fit
    EXPECT_EQ(s->ModelVersion(), v0);
    EXPECT_EQ(Call(*s, "POST", "/v1/admin/reload", R"({"modle":"x"})").status, 400);
    r = Call(*s, "POST", "/v1/admin/reload", json{{"model", b}}.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(s->ModelVersion(), v0);
    auto scored = Call(*s, "POST", "/v1/score", TxJson(Table(), 0));
    EXPECT_EQ(json::parse(scored.body).at("model_version"), s->ModelVersion());
}

TEST(Service, AlertsTransactionsAndDocuments) {
    TempDir dir;
    const auto& t = Table();
    const std::string model = TrainTo(dir.path, "iforest", {{"trees", "20"}}, "if.txg");
    ServeOptions opt;
    opt.review_threshold = 0.0;  // everything is at least "review"
    opt.block_threshold = 1e9;
    auto s = OpenService(model, dir.Db(), opt);
    for (std::size_t r = 0; r < 20; ++r) Call(*s, "POST", "/v1/score", TxJson(t, r));
    auto lab = Call(*s, "POST", "/v1/labels",
                    json{{"transaction_id", t.tx_id.Get(3)}, {"label", "fraud"}}.dump());
    ASSERT_EQ(lab.status, 200) << lab.body;
    auto alerts = json::parse(Call(*s, "GET", "/v1/alerts?limit=5").body);
    EXPECT_FALSE(alerts.at("alerts")[0].at("reasons").empty());  // iforest: path-based reasons
    EXPECT_EQ(alerts.at("count"), 5);
    EXPECT_EQ(alerts.at("alerts")[0].at("decision"), "review");
    const std::string since = alerts.at("next_since");
    auto later = json::parse(Call(*s, "GET", "/v1/alerts?limit=100&since=" + since).body);
    EXPECT_EQ(later.at("count").get<int>(), 20 - 5);  // the next page: no row twice
    auto tx = Call(*s, "GET", "/v1/transactions/" + std::string(t.tx_id.Get(3)));
    ASSERT_EQ(tx.status, 200);
    auto j = json::parse(tx.body);
    EXPECT_EQ(j.at("label"), 1);
    EXPECT_EQ(j.at("request").at("customer_id"), t.customer.pool.Get(t.customer.ids[3]));
    auto doc = json::parse(Call(*s, "GET", "/openapi.json").body);
    EXPECT_EQ(doc.at("openapi"), "3.0.3");
    EXPECT_TRUE(doc.at("paths").contains("/v1/score/batch"));
    auto metrics = Call(*s, "GET", "/metrics").body;
    EXPECT_NE(metrics.find("txguard_decisions_total{decision=\"review\"} 20"), std::string::npos)
        << metrics;
    EXPECT_NE(metrics.find("txguard_labels_total 1"), std::string::npos);
}

TEST(Service, OverloadAnswers503WithRetryAfterAndChangesNothing) {
    TempDir dir;
    const std::string model = TrainTo(dir.path, "iforest", {{"trees", "10"}}, "if.txg");
    ServeOptions opt;
    opt.max_inflight = 0;
    auto s = OpenService(model, dir.Db(), opt);
    auto r = Call(*s, "POST", "/v1/score", TxJson(Table(), 0));
    EXPECT_EQ(r.status, 503);
    bool retry_after = false;
    for (auto& [k, v] : r.headers) retry_after |= k == "Retry-After";
    EXPECT_TRUE(retry_after);
    EXPECT_EQ(Call(*s, "GET", "/v1/transactions/" + std::string(Table().tx_id.Get(0))).status, 404);
}

TEST(Service, ClosedServiceRefusesAndStoreKeepsEverythingAnswered) {
    TempDir dir;
    const std::string model = TrainTo(dir.path, "iforest", {{"trees", "10"}}, "if.txg");
    auto s = OpenService(model, dir.Db());
    for (std::size_t r = 0; r < 50; ++r) Call(*s, "POST", "/v1/score", TxJson(Table(), r));
    s->Close();
    EXPECT_EQ(Call(*s, "POST", "/v1/score", TxJson(Table(), 60)).status, 503);
    auto store = OpenStore(dir.Db());
    ASSERT_TRUE(store);
    EXPECT_EQ(*(*store)->CountTransactions(), 50u);
}

}  // namespace
}  // namespace txguard
