// Stream workers in-process against a real redis-server and a real SQLite store, with a real
// trained model: stored scores equal offline batch scores to the bit, with one worker and with
// two sharing the partitions; duplicates, unreadable entries and redeliveries are handled once;
// models that cannot be split by customer are refused.
#include "txguard/stream/worker.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "stream_test_util.hpp"
#include "txguard/model/bundle.hpp"
#include "txguard/model/pipeline.hpp"
#include "txguard/sim/simulator.hpp"
#include "txguard/stream/replay.hpp"

namespace txguard {
namespace {

namespace fs = std::filesystem;
using testing::Connect;
using testing::SharedRedis;
using testing::TestStream;

struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() /
               ("txg_worker_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string Db() const { return "sqlite://" + (path / "store.db").string(); }
};

const TransactionTable& Table() {
    static const TransactionTable table = [] {
        SimParams p;
        p.customers = 120;
        p.terminals = 200;
        p.days = 25;
        p.seed = 5;
        auto t = Simulate(p);
        EXPECT_TRUE(t) << t.error().message;
        return std::move(*t);
    }();
    return table;
}

std::string Train(const fs::path& dir, const std::string& features) {
    TrainOptions opt;
    opt.detector = "iforest";
    opt.features = features;
    opt.threads = 1;
    auto b = TrainModel(Table(), *SchemaPreset("handbook"), opt);
    EXPECT_TRUE(b) << b.error().message;
    const std::string path = (dir / ("m_" + features + ".txg")).string();
    EXPECT_TRUE(SaveModel(*b, path));
    return path;
}

RedisStreamOptions Redis(const std::string& stream, const std::string& consumer,
                         std::uint32_t parts) {
    RedisStreamOptions o;
    o.url = SharedRedis().Url();
    o.stream = stream;
    o.group = "workers";
    o.consumer = consumer;
    o.out = stream + ":alerts";
    o.partitions = parts;
    o.lease = std::chrono::milliseconds(1500);
    return o;
}

// Replay of the test table (its first `limit` rows; 0: all) into `stream`'s partitions.
ReplayOptions ReplayTo(const std::string& stream, std::uint32_t partitions, std::size_t limit = 0) {
    ReplayOptions ro;
    ro.redis_url = SharedRedis().Url();
    ro.stream = stream;
    ro.partitions = partitions;
    ro.limit = limit;
    return ro;
}

StreamWorkerOptions WorkerOpts(const std::string& model, const std::string& db) {
    StreamWorkerOptions o;
    o.model_path = model;
    o.db_url = db;
    o.batch = 200;
    o.block = std::chrono::milliseconds(20);
    o.heartbeat = std::chrono::milliseconds(100);
    o.snapshot_every = 700;  // several snapshots per partition
    o.quiet = true;
    return o;
}

// Runs a worker on its own thread until stopped.
struct RunningWorker {
    std::atomic<bool> stop{false};
    std::unique_ptr<StreamTransport> transport;
    Result<StreamWorkerStats> result = MakeError(ErrorCode::kInternal, "not run");
    std::thread thread;
    RunningWorker(const StreamWorkerOptions& o, const RedisStreamOptions& r,
                  std::unique_ptr<Store> store = nullptr) {
        auto t = OpenRedisStreamTransport(r);
        EXPECT_TRUE(t) << t.error().ToString();
        transport = std::move(*t);
        thread = std::thread([this, o, s = std::move(store)]() mutable {
            result = s ? RunStreamWorker(o, *transport, std::move(s), stop)
                       : RunStreamWorker(o, *transport, stop);
        });
    }
    StreamWorkerStats Stop() {
        stop = true;
        thread.join();
        EXPECT_TRUE(result) << result.error().ToString();
        return result ? *result : StreamWorkerStats{};
    }
};

std::uint64_t Stored(const std::string& db) {
    auto s = OpenStore(db);
    EXPECT_TRUE(s);
    auto n = (*s)->CountTransactions();
    return n ? *n : 0;
}

void WaitStored(const std::string& db, std::uint64_t n) {
    for (int i = 0; i < 3000 && Stored(db) < n; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_EQ(Stored(db), n);
}

// Every stored score equals the offline batch score of the same row, to the bit.
void ExpectBatchScores(const std::string& model, const std::string& db) {
    auto b = LoadModel(model);
    ASSERT_TRUE(b);
    auto offline = ScoreTable(*b, Table());
    ASSERT_TRUE(offline);
    auto store = OpenStore(db);
    ASSERT_TRUE(store);
    std::size_t mismatches = 0;
    for (std::size_t r = 0; r < Table().rows; ++r) {
        auto st = (*store)->GetTransaction(Table().IdOf(r));
        ASSERT_TRUE(st);
        ASSERT_TRUE(st->has_value()) << "row " << r << " not stored";
        if ((*st)->score != (*offline)[r]) ++mismatches;
    }
    EXPECT_EQ(mismatches, 0u);
}

std::size_t StreamLength(const std::string& key) {
    auto c = Connect();
    auto r = c->Command({"XLEN", key});
    return r ? static_cast<std::size_t>(r->integer) : 0;
}

std::size_t StoredAlerts(const std::string& db) {
    auto s = OpenStore(db);
    AlertQuery q;
    q.limit = 1000000;
    auto a = (*s)->Alerts(q);
    EXPECT_TRUE(a);
    return a ? a->size() : 0;
}

// A real store with two injected events, to put a worker's restore in the situations that
// otherwise need an unlucky schedule: `after_id_scan` runs once, right after the first scan of a
// partition's transaction ids (e.g. another owner's batch committing between a restore's two
// scans); `event_delay` slows every replayed event down (a starved machine).
class InjectingStore final : public Store {
  public:
    explicit InjectingStore(std::unique_ptr<Store> inner) : in_(std::move(inner)) {}
    std::function<void(Store&)> after_id_scan;
    std::chrono::microseconds event_delay{0};

    std::string Url() const override { return in_->Url(); }
    Result<std::size_t> Append(std::span<const StoredTransaction> t,
                               std::span<const StoredLabel> l) override {
        return in_->Append(t, l);
    }
    Result<std::optional<StoredTransaction>> GetTransaction(std::string_view id) override {
        return in_->GetTransaction(id);
    }
    Result<std::optional<StoredLabel>> GetLabel(std::string_view id) override {
        return in_->GetLabel(id);
    }
    Result<std::vector<StoredTransaction>> Alerts(const AlertQuery& q) override {
        return in_->Alerts(q);
    }
    Result<void> ForEachEvent(std::uint32_t p, std::uint64_t after,
                              const EventVisitor& visit) override {
        return in_->ForEachEvent(p, after, [&](const StoredEvent& e) {
            if (event_delay.count() > 0) std::this_thread::sleep_for(event_delay);
            return visit(e);
        });
    }
    Result<void> ForEachTransactionId(std::uint32_t p, const IdVisitor& visit) override {
        auto r = in_->ForEachTransactionId(p, visit);
        if (after_id_scan) std::exchange(after_id_scan, nullptr)(*in_);
        return r;
    }
    Result<std::uint64_t> MaxSeq(std::uint32_t p) override { return in_->MaxSeq(p); }
    Result<std::uint64_t> CountTransactions() override { return in_->CountTransactions(); }
    Result<void> PutSnapshot(const StoredSnapshot& s) override { return in_->PutSnapshot(s); }
    Result<std::optional<StoredSnapshot>> LatestSnapshot(std::string_view key) override {
        return in_->LatestSnapshot(key);
    }

  private:
    std::unique_ptr<Store> in_;
};

std::unique_ptr<InjectingStore> OpenInjecting(const std::string& db) {
    auto s = OpenStore(db);
    EXPECT_TRUE(s) << s.error().ToString();
    return std::make_unique<InjectingStore>(std::move(*s));
}

TEST(StreamWorker, OneWorkerScoresEveryTransactionAsTheBatchPathDoes) {
    ASSERT_TRUE(SharedRedis().ok());
    TempDir dir;
    const std::string model = Train(dir.path, "basic");
    const std::string s = TestStream();
    const ReplayOptions ro = ReplayTo(s, 4);
    auto sent = ReplayTable(Table(), ro);
    ASSERT_TRUE(sent) << sent.error().ToString();
    ASSERT_EQ(sent->sent, Table().rows);
    RunningWorker w(WorkerOpts(model, dir.Db()), Redis(s, "w1", 0));
    WaitStored(dir.Db(), Table().rows);
    auto stats = w.Stop();
    EXPECT_EQ(stats.scored, Table().rows);
    EXPECT_EQ(stats.duplicates, 0u);
    ExpectBatchScores(model, dir.Db());
    // One published alert per stored alert.
    EXPECT_GT(StoredAlerts(dir.Db()), 0u);
    EXPECT_EQ(StreamLength(s + ":alerts"), StoredAlerts(dir.Db()));
}

TEST(StreamWorker, TwoWorkersShareThePartitionsAndHandOverState) {
    ASSERT_TRUE(SharedRedis().ok());
    TempDir dir;
    const std::string model = Train(dir.path, "basic");
    const std::string s = TestStream();
    const std::string db = dir.Db() + "?busy_timeout_ms=10000";
    ReplayOptions ro = ReplayTo(s, 6, Table().rows / 2);
    ASSERT_TRUE(ReplayTable(Table(), ro));
    // The first worker takes everything, then a second one joins: partitions move (snapshot,
    // hand-over, restore) while the rest of the data arrives.
    auto a = std::make_unique<RunningWorker>(WorkerOpts(model, db), Redis(s, "a", 0));
    WaitStored(db, ro.limit);
    RunningWorker b(WorkerOpts(model, db), Redis(s, "b", 0));
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    // The rest of the rows (time order continues where the first half stopped).
    ro.limit = 0;
    {
        auto c = Connect();
        ASSERT_TRUE(c);
    }
    // Replaying the whole table again sends the first half a second time: the workers must
    // recognise those as duplicates (stored already) and drop them.
    ASSERT_TRUE(ReplayTable(Table(), ro));
    WaitStored(db, Table().rows);
    auto sa = a->Stop();
    auto sb = b.Stop();
    EXPECT_EQ(sa.scored + sb.scored, Table().rows);
    EXPECT_EQ(sa.duplicates + sb.duplicates, Table().rows / 2);
    EXPECT_GT(sb.scored, 0u);
    EXPECT_GT(sa.released, 0u);
    ExpectBatchScores(model, db);
    EXPECT_EQ(StreamLength(s + ":alerts"), StoredAlerts(db));
}

// An owner that lost its partition while its batch ran commits that batch while the new owner
// restores the partition, between the restore's scan of the stored ids and its replay of the
// stored events; the batch's entries, never acknowledged, then come to the new owner as pending.
// They are stored already and must not be scored again: scoring them twice counted each event
// twice in its customer's state (the store skips the duplicate rows) and later scores diverged.
TEST(StreamWorker, ABatchCommittedDuringARestoreIsNotScoredAgain) {
    ASSERT_TRUE(SharedRedis().ok());
    TempDir dir;
    const std::string model = Train(dir.path, "basic");
    const std::size_t k = 200;
    // What the previous owner stored for the first k entries: a worker's records for them.
    const std::string ref_db = "sqlite://" + (dir.path / "ref.db").string();
    {
        const ReplayOptions ro = ReplayTo(TestStream(":ref"), 1, k);
        ASSERT_TRUE(ReplayTable(Table(), ro));
        RunningWorker w(WorkerOpts(model, ref_db), Redis(ro.stream, "ref", 0));
        WaitStored(ref_db, k);
        w.Stop();
    }
    std::vector<StoredTransaction> batch;
    {
        auto ref = OpenStore(ref_db);
        ASSERT_TRUE(ref);
        ASSERT_TRUE((*ref)->ForEachEvent(0, [&](const StoredEvent& e) -> Result<void> {
            if (e.transaction) batch.push_back(*e.transaction);
            return Ok();
        }));
    }
    ASSERT_EQ(batch.size(), k);
    const std::string s = TestStream();
    ASSERT_TRUE(ReplayTable(Table(), ReplayTo(s, 1)));
    {
        // The previous owner: reads the first k entries, then loses the partition.
        auto old = OpenRedisStreamTransport(Redis(s, "old", 0));
        ASSERT_TRUE(old);
        auto ch = (*old)->Heartbeat();
        ASSERT_TRUE(ch);
        ASSERT_EQ(ch->acquired.size(), 1u);
        auto got = (*old)->Read(k, std::chrono::milliseconds(100));
        ASSERT_TRUE(got);
        ASSERT_EQ(got->size(), k);
        ASSERT_TRUE((*old)->Release(0));
    }
    auto store = OpenInjecting(dir.Db());
    bool injected = false;
    store->after_id_scan = [&](Store& inner) {
        auto n = inner.Append(batch, {});
        EXPECT_TRUE(n) << n.error().ToString();
        injected = n && *n == k;
    };
    RunningWorker w(WorkerOpts(model, dir.Db()), Redis(s, "new", 0), std::move(store));
    WaitStored(dir.Db(), Table().rows);
    auto stats = w.Stop();
    EXPECT_TRUE(injected);
    EXPECT_EQ(stats.duplicates, k);
    EXPECT_EQ(stats.scored, Table().rows - k);
    ExpectBatchScores(model, dir.Db());
}

// A heartbeat that acquires partitions restores them one after another; on a starved machine
// each restore can outlast a lease. The worker keeps its leases alive while it restores: no
// partition is lost, none restored twice (before: the first ones expired, were taken again and
// restored again, and the worker thrashed).
TEST(StreamWorker, RestoresLongerThanALeaseKeepTheirPartitions) {
    ASSERT_TRUE(SharedRedis().ok());
    TempDir dir;
    const std::string model = Train(dir.path, "basic");
    const std::string s = TestStream();
    ReplayOptions ro = ReplayTo(s, 2, Table().rows / 2);
    ASSERT_TRUE(ReplayTable(Table(), ro));
    {
        RunningWorker a(WorkerOpts(model, dir.Db()), Redis(s, "a", 0));
        WaitStored(dir.Db(), ro.limit);
        a.Stop();
    }
    // Unreadable snapshots (files cut short here) are skipped: taking a partition over then
    // replays all of its stored events.
    std::size_t cut = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path)) {
        const std::string name = e.path().filename().string();
        if (!name.starts_with("store.db-snapshot-") || name.find(".tmp") != std::string::npos)
            continue;
        std::filesystem::resize_file(e.path(), std::filesystem::file_size(e.path()) / 2);
        ++cut;
    }
    EXPECT_EQ(cut, 2u);  // one a partition
    const auto redis = Redis(s, "b", 0);
    auto store = OpenInjecting(dir.Db());
    // Each partition's replay (about a quarter of the table) takes ~1.2 leases.
    store->event_delay = std::chrono::duration_cast<std::chrono::microseconds>(redis.lease) * 12 /
                         10 / static_cast<long>(Table().rows / 4);
    auto opts = WorkerOpts(model, dir.Db());
    opts.snapshot_every = 0;
    RunningWorker b(opts, redis, std::move(store));
    ro.limit = 0;  // everything again: the first half are duplicates
    ASSERT_TRUE(ReplayTable(Table(), ro));
    WaitStored(dir.Db(), Table().rows);
    auto stats = b.Stop();
    EXPECT_EQ(stats.lost, 0u);
    EXPECT_EQ(stats.acquired, 2u);
    EXPECT_EQ(stats.replayed, Table().rows / 2);
    EXPECT_EQ(stats.duplicates, Table().rows / 2);
    ExpectBatchScores(model, dir.Db());
}

TEST(StreamWorker, UnreadableEntriesGoToTheDeadLetterStream) {
    ASSERT_TRUE(SharedRedis().ok());
    TempDir dir;
    const std::string model = Train(dir.path, "basic");
    const std::string s = TestStream();
    auto c = Connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(StreamPartitions(*c, s, 1));
    const std::string p0 = PartitionStreamName(s, 0);
    c->Append({"XADD", p0, "*", "tx", "{not json"});
    c->Append(
        {"XADD", p0, "*", "tx",
         R"({"transaction_id":"x1","timestamp":1522540831,"amount":"ten","customer_id":"c"})"});
    c->Append({"XADD", p0, "*", "tx",
               R"({"transaction_id":"x2","timestamp":1522540831,"amount":10,"customer_id":"c"})"});
    ASSERT_TRUE(c->Flush());
    RunningWorker w(WorkerOpts(model, dir.Db()), Redis(s, "w", 0));
    WaitStored(dir.Db(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto stats = w.Stop();
    EXPECT_EQ(stats.scored, 1u);
    EXPECT_EQ(stats.dead_letters, 2u);
    auto dead = c->Command({"XRANGE", s + ":alerts:dead", "-", "+"});
    ASSERT_TRUE(dead);
    ASSERT_EQ(dead->elements.size(), 2u);
    EXPECT_NE(dead->elements[1].elements[1].elements[3].str.find("amount"), std::string::npos);
    auto pend = c->Command({"XPENDING", p0, "workers"});
    EXPECT_EQ(pend->elements.at(0).integer, 0);  // nothing left unacknowledged
}

TEST(StreamWorker, RefusesModelsWithStateOnOtherKeysWhenPartitioned) {
    ASSERT_TRUE(SharedRedis().ok());
    TempDir dir;
    const std::string model = Train(dir.path, "handbook");  // terminal windows
    const std::string s = TestStream();
    auto t = OpenRedisStreamTransport(Redis(s, "w", 4));
    ASSERT_TRUE(t);
    std::atomic<bool> stop{true};
    auto r = RunStreamWorker(WorkerOpts(model, dir.Db()), **t, stop);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("terminal_id"), std::string::npos) << r.error().message;
    // One partition: any model works (one active worker at a time).
    auto t1 = OpenRedisStreamTransport(Redis(s + "1", "w", 1));
    ASSERT_TRUE(t1);
    auto r1 = RunStreamWorker(WorkerOpts(model, dir.Db()), **t1, stop);
    EXPECT_TRUE(r1) << r1.error().ToString();
}

}  // namespace
}  // namespace txguard
