// Stream workers as a user runs them: the real `txguard replay` and `txguard stream` binaries, a
// real redis-server and a real PostgreSQL (and SQLite) store. 200,000 handbook transactions go
// through 3 workers; one is SIGKILLed mid-run and restarted. Afterwards every input has exactly
// one stored score, no alert is published twice, every stored alert was published, and every
// score equals the single-process batch score (`txguard score`) to the bit.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "support/child_process.hpp"
#include "support/postgres_server.hpp"
#include "support/redis_server.hpp"
#include "txguard/store/store.hpp"
#include "txguard/stream/redis.hpp"

namespace txguard {
namespace {

namespace fs = std::filesystem;
using testing::ChildProcess;

const fs::path kHandbook = fs::path(TXGUARD_SHARED_DIR) / "data/handbook/transactions.csv.gz";
constexpr std::uint32_t kPartitions = 6;

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("txg_stream_it_" + std::to_string(::getpid()));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    // TXG_KEEP_TMP=1 keeps the directory (the workers' logs) for a post-mortem.
    ~TempDir() {
        if (!std::getenv("TXG_KEEP_TMP")) fs::remove_all(path);
    }
};

int Run(const std::vector<std::string>& args, const fs::path& log) {
    ChildProcess p(args, log);
    return p.Wait();
}

std::string ReadAll(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The first `rows` handbook transactions, a model trained on them with customer-keyed features,
// and the batch scores `txguard score` gives them.
struct Fixture {
    TempDir dir;
    fs::path data, model;
    std::map<std::string, double> batch;  // transaction_id -> score
    std::vector<std::string> ids;

    explicit Fixture(std::size_t rows) {
        data = dir.path / "tx.csv";
        model = dir.path / "model.txg";
        const std::string cmd = "zcat '" + kHandbook.string() + "' | head -n " +
                                std::to_string(rows + 1) + " > '" + data.string() + "'";
        EXPECT_EQ(std::system(cmd.c_str()), 0);
        const fs::path log = dir.path / "setup.log";
        EXPECT_EQ(Run({TXGUARD_BINARY, "--quiet", "train", "--data", data.string(), "--schema",
                       "handbook", "--detector", "iforest", "--param", "trees=60", "--features",
                       std::string(TXGUARD_SOURCE_DIR) + "/scripts/bench/customer_features.json",
                       "-o", model.string()},
                      log),
                  0)
            << ReadAll(log);
        const fs::path scores = dir.path / "batch.csv";
        EXPECT_EQ(Run({TXGUARD_BINARY, "--quiet", "score", "--model", model.string(), "--data",
                       data.string(), "-o", scores.string()},
                      log),
                  0)
            << ReadAll(log);
        std::ifstream in(scores);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            const auto comma = line.find(',');
            ids.push_back(line.substr(0, comma));
            batch[ids.back()] = std::stod(line.substr(comma + 1));
        }
        EXPECT_EQ(batch.size(), rows);
    }
};

std::vector<std::string> WorkerArgs(const Fixture& f, const std::string& redis,
                                    const std::string& db, const std::string& name) {
    return {TXGUARD_BINARY, "stream", "--model", f.model.string(), "--redis", redis, "--in", "tx",
            "--group", "scorers", "--consumer", name, "--out", "alerts", "--db", db, "--lease-ms",
            "4000", "--batch", "200",
            // Both sides name the partition count: workers may start before the producer.
            "--partitions", std::to_string(kPartitions)};
}

std::uint64_t StoredCount(const std::string& db) {
    auto s = OpenStore(db);
    if (!s) return 0;
    auto n = (*s)->CountTransactions();
    return n ? *n : 0;
}

void RunThreeWorkersWithAKill(Fixture& f, const std::string& db) {
    testing::RedisServer redis;
    ASSERT_TRUE(redis.ok());
    const fs::path logs = f.dir.path;
    // The stream is filled while the workers start and run.
    ChildProcess replay({TXGUARD_BINARY, "--quiet", "replay", "--data", f.data.string(), "--schema",
                         "handbook", "--redis", redis.Url(), "--stream", "tx", "--partitions",
                         std::to_string(kPartitions), "--model", f.model.string()},
                        logs / "replay.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::vector<std::unique_ptr<ChildProcess>> workers;
    for (int i = 0; i < 3; ++i)
        workers.push_back(
            std::make_unique<ChildProcess>(WorkerArgs(f, redis.Url(), db, "w" + std::to_string(i)),
                                           logs / ("w" + std::to_string(i) + ".log")));
    const std::size_t total = f.ids.size();
    // SIGKILL worker 1 mid-run, then restart it under the same name.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
    while (StoredCount(db) < total / 3 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_LT(StoredCount(db), total) << "too late to kill mid-run";
    workers[1]->Kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    workers[1] =
        std::make_unique<ChildProcess>(WorkerArgs(f, redis.Url(), db, "w1"), logs / "w1.log");
    EXPECT_EQ(replay.Wait(), 0) << ReadAll(logs / "replay.log");
    while (StoredCount(db) < total && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(StoredCount(db), total) << ReadAll(logs / "w0.log") << ReadAll(logs / "w1.log");
    // Every entry acknowledged: nothing pending in any partition.
    auto r = RedisClient::Connect(redis.Url());
    ASSERT_TRUE(r);
    for (std::uint32_t p = 0; p < kPartitions; ++p) {
        for (int i = 0; i < 200; ++i) {
            auto pend = (*r)->Command({"XPENDING", "tx:" + std::to_string(p), "scorers"});
            ASSERT_TRUE(pend);
            if (pend->elements.at(0).integer == 0) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
    }
    for (auto& w : workers) {
        const std::string log = w->Log();
        EXPECT_EQ(w->Terminate(), 0) << log;
    }

    // Exactly one stored score per input, equal to the batch score.
    auto store = OpenStore(db);
    ASSERT_TRUE(store) << store.error().ToString();
    std::set<std::string> stored_ids, stored_alerts;
    std::size_t mismatches = 0;
    for (std::uint32_t p = 0; p < kPartitions; ++p) {
        ASSERT_TRUE((*store)->ForEachEvent(p, 0, [&](const StoredEvent& ev) -> Result<void> {
            const auto& t = *ev.transaction;
            EXPECT_TRUE(stored_ids.insert(t.transaction_id).second) << t.transaction_id;
            auto it = f.batch.find(t.transaction_id);
            if (it == f.batch.end() || it->second != t.score) ++mismatches;
            if (t.decision != "allow") stored_alerts.insert(t.transaction_id);
            return Ok();
        }));
    }
    EXPECT_EQ(stored_ids.size(), total);
    EXPECT_EQ(mismatches, 0u);
    // Alerts: each published once, and exactly the stored ones.
    auto out = (*r)->Command({"XRANGE", "alerts", "-", "+"});
    ASSERT_TRUE(out);
    std::multiset<std::string> published;
    for (const auto& e : out->elements) published.insert(e.elements.at(1).elements.at(1).str);
    std::set<std::string> unique(published.begin(), published.end());
    EXPECT_EQ(unique.size(), published.size()) << "an alert was published twice";
    EXPECT_EQ(unique, stored_alerts);
    EXPECT_GT(stored_alerts.size(), 0u);
    // The killed worker's restart found the partitions and pending entries it left.
    EXPECT_NE(ReadAll(logs / "w1.log").find("took partition"), std::string::npos);
}

TEST(StreamIntegration, ThreeWorkersOnPostgresLoseAndDuplicateNothingAfterASigkill) {
    if (!fs::exists(kHandbook)) GTEST_SKIP() << "needs " << kHandbook << " (../shared absent)";
    txguard::test::PostgresServer pg;
    ASSERT_TRUE(pg.ok()) << pg.error();
    const std::string db = pg.CreateDatabase("stream_it");
    ASSERT_FALSE(db.empty()) << pg.error();
    Fixture f(200000);
    RunThreeWorkersWithAKill(f, db);
}

TEST(StreamIntegration, ThreeWorkersShareOneSqliteFile) {
    if (!fs::exists(kHandbook)) GTEST_SKIP() << "needs " << kHandbook << " (../shared absent)";
    Fixture f(60000);
    RunThreeWorkersWithAKill(
        f, "sqlite://" + (f.dir.path / "store.db").string() + "?busy_timeout_ms=20000");
}

// A worker paused (SIGSTOP) past its read wait while another consumer of the group reads a new
// entry of the partition the worker owns — what a worker paused past its lease does after losing
// the partition, since reads are not fenced. The entry sits in that consumer's pending list,
// which used to be claimed only when the partition changed owner: never, here. The owner now
// claims entries idle for a lease at its heartbeats, so the entry is scored and stored.
TEST(StreamIntegration, EntriesStrandedInAnotherConsumersPendingListAreScored) {
    if (!fs::exists(kHandbook)) GTEST_SKIP() << "needs " << kHandbook << " (../shared absent)";
    Fixture f(2000);
    testing::RedisServer redis;
    ASSERT_TRUE(redis.ok());
    const std::string db = "sqlite://" + (f.dir.path / "store.db").string();
    const fs::path log = f.dir.path / "w0.log";
    ChildProcess w({TXGUARD_BINARY, "stream",    "--model",      f.model.string(),
                    "--redis",      redis.Url(), "--in",         "tx",
                    "--group",      "scorers",   "--consumer",   "w0",
                    "--out",        "alerts",    "--db",         db,
                    "--lease-ms",   "4000",      "--partitions", "1"},
                   log);
    auto wait_for = [](const std::function<bool()>& done, std::chrono::seconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!done() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return done();
    };
    ASSERT_TRUE(wait_for([&] { return ReadAll(log).find("took partition 0") != std::string::npos; },
                         std::chrono::seconds(60)))
        << ReadAll(log);
    auto r = RedisClient::Connect(redis.Url());
    ASSERT_TRUE(r);
    w.Signal(SIGSTOP);
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // its 100 ms read wait is over
    const std::string body =
        R"({"transaction_id":"stranded-1","timestamp":1522540800,"customer_id":"C1",)"
        R"("terminal_id":"T1","amount":12.5})";
    auto added = (*r)->Command({"XADD", "tx:0", "*", "tx", body});
    ASSERT_TRUE(added && !added->IsError());
    auto got = (*r)->Command(
        {"XREADGROUP", "GROUP", "scorers", "ghost", "COUNT", "10", "STREAMS", "tx:0", ">"});
    ASSERT_TRUE(got && !got->IsError());
    ASSERT_EQ(got->elements.size(), 1u);                          // one stream
    ASSERT_EQ(got->elements[0].elements[1].elements.size(), 1u);  // with the one entry
    w.Signal(SIGCONT);
    EXPECT_TRUE(wait_for([&] { return StoredCount(db) == 1; }, std::chrono::seconds(20)))
        << ReadAll(log);
    EXPECT_TRUE(wait_for(
        [&] {
            auto pend = (*r)->Command({"XPENDING", "tx:0", "scorers"});
            return pend && !pend->elements.empty() && pend->elements[0].integer == 0;
        },
        std::chrono::seconds(10)));
    EXPECT_EQ(w.Terminate(), 0) << ReadAll(log);
    // Claimed as stranded; or, if a loaded machine delayed a heartbeat past the lease, when the
    // worker took its partition again (then this run did not exercise the stranded claim).
    const std::string text = ReadAll(log);
    const auto first = text.find("took partition 0");
    EXPECT_TRUE(text.find("claimed 1 stranded entries of partition 0") != std::string::npos ||
                text.find("took partition 0", first + 1) != std::string::npos)
        << text;
}

}  // namespace
}  // namespace txguard
