// The real `txguard serve` binary over real HTTP with its SQLite store: killed with SIGKILL under
// concurrent load it loses no acknowledged transaction, and after a restart (snapshot + replay)
// every score, before and after the kill, equals the score of one uninterrupted server fed the
// same events in the same order. SIGTERM under load drains, commits and exits 0.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "integration/http_client.hpp"
#include "serve_request_json.hpp"
#include "support/child_process.hpp"
#include "txguard/core/time.hpp"
#include "txguard/model/bundle.hpp"
#include "txguard/model/pipeline.hpp"
#include "txguard/sim/simulator.hpp"
#include "txguard/store/store.hpp"

namespace txguard {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::HttpClient;

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("txg_serve_it_" + std::to_string(::getpid()));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
};

// A `txguard serve` child process; its output goes to a log file.
class Server {
  public:
    Server(const std::string& model, const std::string& db, const fs::path& log,
           std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {TXGUARD_BINARY, "serve", "--model",   model, "--db", db,
                                         "--port",       "0",     "--threads", "2"};
        args.insert(args.end(), extra.begin(), extra.end());
        fs::remove(log);
        child_ = std::make_unique<testing::ChildProcess>(args, log);
        // Wait for "listening on http://127.0.0.1:PORT".
        const std::string banner = "listening on http://127.0.0.1:";
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (std::chrono::steady_clock::now() < deadline) {
            const std::string text = child_->Log();
            if (const auto at = text.find(banner); at != std::string::npos) {
                port_ = static_cast<std::uint16_t>(std::stoi(text.substr(at + banner.size())));
                return;
            }
            if (!child_->Running()) {
                ADD_FAILURE() << "txguard serve exited early:\n" << text;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ADD_FAILURE() << "txguard serve did not start";
    }
    std::uint16_t port() const { return port_; }
    bool ok() const { return port_ != 0; }
    void Kill() { child_->Kill(); }
    // SIGTERM; returns the exit status (or -1).
    int Terminate() { return child_->Terminate(std::chrono::seconds(120)); }
    std::string Log() const { return child_->Log(); }

  private:
    std::unique_ptr<testing::ChildProcess> child_;
    std::uint16_t port_ = 0;
};

const TransactionTable& Table() {
    static const TransactionTable table = [] {
        SimParams p;
        p.customers = 400;
        p.terminals = 800;
        p.days = 30;
        p.seed = 5;
        auto t = Simulate(p);
        EXPECT_TRUE(t);
        return std::move(*t);
    }();
    return table;
}

using testing::TxJson;

std::string TrainModelFile(const fs::path& dir) {
    TrainOptions opt;
    opt.detector = "iforest";
    opt.params = {{"trees", "50"}};
    opt.threads = 1;
    auto b = TrainModel(Table(), *SchemaPreset("handbook"), opt);
    EXPECT_TRUE(b) << b.error().message;
    const std::string path = (dir / "model.txg").string();
    EXPECT_TRUE(SaveModel(*b, path));
    return path;
}

// Concurrent clients send rows [begin, end) (each client takes every k-th row) and a label after
// every fifth acknowledged transaction, until the rows run out or `stop` is set. Returns the ids
// acknowledged with 200.
std::set<std::string> Load(std::uint16_t port, std::size_t begin, std::size_t end, int clients,
                           std::atomic<bool>& stop, std::atomic<std::size_t>& acked_count) {
    const auto& t = Table();
    std::mutex mu;
    std::set<std::string> acked;
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            HttpClient client(port);
            std::size_t n = 0;
            for (std::size_t r = begin + static_cast<std::size_t>(c); r < end && !stop.load();
                 r += static_cast<std::size_t>(clients)) {
                auto res = client.Request("POST", "/v1/score", TxJson(t, r));
                if (res.status != 200) continue;  // killed or draining
                {
                    std::lock_guard lock(mu);
                    acked.insert(std::string(t.tx_id.Get(r)));
                }
                acked_count.fetch_add(1);
                if (++n % 5 == 0)
                    client.Request(
                        "POST", "/v1/labels",
                        json{{"transaction_id", t.tx_id.Get(r)}, {"label", int(t.label[r])}}
                            .dump());
            }
        });
    }
    for (auto& th : threads) th.join();
    return acked;
}

TEST(ServeIntegration, SigkillUnderLoadLosesNothingAndRestartContinuesExactly) {
    TempDir dir;
    const auto& t = Table();
    ASSERT_GT(t.rows, 8000u);
    const std::string model = TrainModelFile(dir.path);
    const std::string db = "sqlite://" + (dir.path / "b.db").string();

    std::set<std::string> acked;
    {
        Server b(model, db, dir.path / "b1.log", {"--snapshot-every", "1500"});
        ASSERT_TRUE(b.ok());
        std::atomic<bool> stop{false};
        std::atomic<std::size_t> count{0};
        std::thread killer([&] {
            // Kill once a few snapshots have been written and while requests are in flight.
            while (count.load() < 4000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            b.Kill();
        });
        acked = Load(b.port(), 0, 6000, 4, stop, count);
        killer.join();
        ASSERT_GE(acked.size(), 4000u);
    }
    {
        Server b(model, db, dir.path / "b2.log", {"--snapshot-every", "1500"});
        ASSERT_TRUE(b.ok()) << b.Log();
        EXPECT_NE(b.Log().find("events replayed"), std::string::npos);
        HttpClient client(b.port());
        // Every acknowledged transaction was stored.
        for (const auto& id : acked)
            ASSERT_EQ(client.Request("GET", "/v1/transactions/" + id).status, 200) << id;
        // More traffic after the restart, from one client (ordered), then SIGTERM under load.
        for (std::size_t r = 6000; r < 7000; ++r)
            ASSERT_EQ(client.Request("POST", "/v1/score", TxJson(t, r)).status, 200);
        std::atomic<bool> stop{false};
        std::atomic<std::size_t> count{0};
        std::set<std::string> acked2;
        std::thread load([&] { acked2 = Load(b.port(), 7000, 9000, 4, stop, count); });
        while (count.load() < 300) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        EXPECT_EQ(b.Terminate(), 0) << b.Log();
        stop.store(true);
        load.join();
        EXPECT_NE(b.Log().find("stopped, everything committed"), std::string::npos) << b.Log();
        auto store = OpenStore(db);
        ASSERT_TRUE(store);
        for (const auto& id : acked2) {
            auto got = (*store)->GetTransaction(id);
            ASSERT_TRUE(got && got->has_value())
                << "acknowledged before SIGTERM, not stored: " << id;
        }
    }

    // The reference: one server that never stops, fed the stored events in their order.
    auto store = OpenStore(db);
    ASSERT_TRUE(store);
    std::vector<StoredEvent> events;
    ASSERT_TRUE((*store)->ForEachEvent(0, [&](const StoredEvent& e) -> Result<void> {
        events.push_back(e);
        return Ok();
    }));
    ASSERT_GT(events.size(), 5300u);
    Server c(model, "sqlite://" + (dir.path / "c.db").string(), dir.path / "c.log",
             {"--snapshot-every", "0"});
    ASSERT_TRUE(c.ok());
    HttpClient client(c.port());
    std::size_t compared = 0;
    for (const auto& e : events) {
        if (e.transaction) {
            auto res = client.Request("POST", "/v1/score", e.transaction->fields_json);
            ASSERT_EQ(res.status, 200) << res.body;
            const double score = json::parse(res.body).at("score").get<double>();
            ASSERT_EQ(score, e.transaction->score)
                << "transaction " << e.transaction->transaction_id << " (seq " << e.transaction->seq
                << ") scored differently";
            ++compared;
        } else {
            auto res = client.Request(
                "POST", "/v1/labels",
                json{{"transaction_id", e.label->transaction_id},
                     {"label", int(e.label->label)},
                     {"known_at", static_cast<double>(e.label->known_at_ms) / 1000.0}}
                    .dump());
            ASSERT_EQ(res.status, 200) << res.body;
        }
    }
    EXPECT_EQ(compared, (*store)->CountTransactions().value());
}

// The HTTP layer's own limits, over real sockets: 413 for a body over --max-body-bytes, 400 for a
// malformed request, 503 + Retry-After beyond --max-connections; the server keeps serving.
TEST(ServeIntegration, HttpLimitsAnswer413400And503AndKeepServing) {
    TempDir dir;
    const std::string model = TrainModelFile(dir.path);
    Server s(model, "sqlite://" + (dir.path / "l.db").string(), dir.path / "l.log",
             {"--max-body-bytes", "1000", "--max-connections", "2"});
    ASSERT_TRUE(s.ok()) << s.Log();
    {
        HttpClient big(s.port());
        auto r = big.Request("POST", "/v1/score", std::string(2000, 'x'));
        EXPECT_EQ(r.status, 413) << r.body;
    }
    {
        // A request line that is not HTTP: a raw socket, then read the answer.
        HttpClient raw(s.port());
        auto r = raw.Request("BAD\x01METHOD", "/v1/score", "{}");
        EXPECT_EQ(r.status, 400) << r.body;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // closed sessions go away
    HttpClient a(s.port()), b(s.port()), c(s.port());
    EXPECT_EQ(a.Request("GET", "/healthz").status, 200);
    EXPECT_EQ(b.Request("GET", "/healthz").status, 200);
    auto third = c.Request("GET", "/healthz");
    EXPECT_EQ(third.status, 503) << third.body;
    a.Close();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    HttpClient d(s.port());
    EXPECT_EQ(d.Request("POST", "/v1/score", TxJson(Table(), 0)).status, 200);
}

}  // namespace
}  // namespace txguard
