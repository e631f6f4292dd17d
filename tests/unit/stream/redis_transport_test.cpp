// The Redis client and the Redis Streams transport against a real redis-server: URL parsing,
// pipelines, partition leases (balancing, hand-over, expiry), fenced commits, pending entries
// claimed in order after an owner dies.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "stream_test_util.hpp"
#include "txguard/stream/transport.hpp"

namespace txguard {
namespace {

using testing::Connect;
using testing::SharedRedis;
using testing::TestStream;

class StopRedisAtExit : public ::testing::Environment {
  public:
    void TearDown() override { delete &SharedRedis(); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new StopRedisAtExit);

TEST(RedisUrl, ParsesAndMasks) {
    auto u = ParseRedisUrl("redis://:s3cret@db.example:6380/2");
    ASSERT_TRUE(u) << u.error().message;
    EXPECT_EQ(u->host, "db.example");
    EXPECT_EQ(u->port, 6380);
    EXPECT_EQ(u->db, 2);
    EXPECT_EQ(u->password, "s3cret");
    EXPECT_EQ(u->ToString().find("s3cret"), std::string::npos);
    auto d = ParseRedisUrl("redis://127.0.0.1");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->port, 6379);
    for (const char* bad : {"http://x", "redis://h:0", "redis://h:99999", "redis://h:1/x"}) {
        auto r = ParseRedisUrl(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message.find("bad Redis URL"), std::string::npos);
    }
}

TEST(RedisClient, RefusedConnectionNamesTheUrl) {
    const int port = testing::FreeTcpPort();
    auto c = RedisClient::Connect("redis://127.0.0.1:" + std::to_string(port), 500);
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos);
}

TEST(RedisClient, CommandsAndPipelines) {
    ASSERT_TRUE(SharedRedis().ok());
    auto c = Connect();
    ASSERT_TRUE(c);
    const std::string key = TestStream();
    std::string binary("a\0b\r\nc", 6);
    ASSERT_TRUE(c->Command({"SET", key, binary}));
    auto got = c->Command({"GET", key});
    ASSERT_TRUE(got);
    EXPECT_EQ(got->str, binary);
    for (int i = 0; i < 100; ++i) c->Append({"INCR", key + ":n"});
    auto replies = c->Flush();
    ASSERT_TRUE(replies);
    ASSERT_EQ(replies->size(), 100u);
    EXPECT_EQ(replies->back().integer, 100);
    auto err = c->Command({"INCR", key});  // not a number: an error reply, not a failure
    ASSERT_TRUE(err);
    EXPECT_TRUE(err->IsError());
    EXPECT_FALSE(CheckRedisReplies({*err}, "incr"));
}

TEST(Partitions, StableHashAndRecordedCount) {
    // Golden values: the partition of a key must never change between releases (data already
    // in partition streams would be split from its customer's state otherwise).
    EXPECT_EQ(PartitionOf("596", 8), PartitionOf("596", 8));
    EXPECT_EQ(PartitionOf("", 8), 1469598103934665603ull % 8);
    EXPECT_EQ(PartitionOf("a", 1000), ((1469598103934665603ull ^ 'a') * 1099511628211ull) % 1000);
    auto c = Connect();
    ASSERT_TRUE(c);
    const std::string s = TestStream();
    auto none = StreamPartitions(*c, s, 0);
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().hint.find("--partitions"), std::string::npos);
    auto n = StreamPartitions(*c, s, 6);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 6u);
    EXPECT_EQ(*StreamPartitions(*c, s, 0), 6u);
    auto clash = StreamPartitions(*c, s, 4);
    ASSERT_FALSE(clash);
    EXPECT_NE(clash.error().message.find("has 6 partitions, not 4"), std::string::npos);
}

RedisStreamOptions Opts(const std::string& stream, const std::string& consumer, std::uint32_t parts,
                        int lease_ms = 2000) {
    RedisStreamOptions o;
    o.url = SharedRedis().Url();
    o.stream = stream;
    o.group = "g";
    o.consumer = consumer;
    o.out = stream + ":out";
    o.partitions = parts;
    o.lease = std::chrono::milliseconds(lease_ms);
    return o;
}

std::vector<std::uint32_t> Sorted(std::vector<std::uint32_t> v) {
    std::sort(v.begin(), v.end());
    return v;
}

// A fresh stream of one partition and its owner "a" (lease 300 ms), after its first heartbeat.
std::unique_ptr<StreamTransport> OwnerOfOnePartition(const std::string& stream) {
    auto a = OpenRedisStreamTransport(Opts(stream, "a", 1, 300));
    EXPECT_TRUE(a) << (a ? "" : a.error().ToString());
    if (!a) return nullptr;
    auto ch = (*a)->Heartbeat();
    EXPECT_TRUE(ch && ch->acquired.size() == 1u);
    return std::move(*a);
}

TEST(RedisStreamTransport, BalancesPartitionsBetweenWorkers) {
    ASSERT_TRUE(SharedRedis().ok());
    const std::string s = TestStream();
    auto a = OpenRedisStreamTransport(Opts(s, "a", 6));
    ASSERT_TRUE(a) << a.error().ToString();
    auto ch = (*a)->Heartbeat();
    ASSERT_TRUE(ch);
    EXPECT_EQ(ch->acquired.size(), 6u);                  // alone: everything
    auto b = OpenRedisStreamTransport(Opts(s, "b", 0));  // count read from the stream
    ASSERT_TRUE(b);
    EXPECT_EQ((*b)->Partitions(), 6u);
    auto chb = (*b)->Heartbeat();
    ASSERT_TRUE(chb);
    EXPECT_TRUE(chb->acquired.empty());  // all leased by a
    ch = (*a)->Heartbeat();              // a now sees two members: hands three over
    ASSERT_TRUE(ch);
    ASSERT_EQ(ch->release.size(), 3u);
    for (auto p : ch->release) ASSERT_TRUE((*a)->Release(p));
    chb = (*b)->Heartbeat();
    ASSERT_TRUE(chb);
    EXPECT_EQ(Sorted(chb->acquired), Sorted(ch->release));
    std::vector<std::uint32_t> all = (*a)->Owned();
    for (auto p : (*b)->Owned()) all.push_back(p);
    EXPECT_EQ(Sorted(all), (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5}));
    // b leaves cleanly: a takes everything back at its next heartbeat.
    ASSERT_TRUE((*b)->Leave());
    ch = (*a)->Heartbeat();
    ASSERT_TRUE(ch);
    EXPECT_EQ((*a)->Owned().size(), 6u);
}

TEST(RedisStreamTransport, DeadOwnersPendingEntriesAreClaimedInOrderAndItsCommitsFenced) {
    ASSERT_TRUE(SharedRedis().ok());
    const std::string s = TestStream();
    auto a = OwnerOfOnePartition(s);
    ASSERT_TRUE(a);
    auto c = Connect();
    for (int i = 0; i < 10; ++i)
        ASSERT_TRUE(c->Command({"XADD", PartitionStreamName(s, 0), "*", "tx", std::to_string(i)}));
    auto got = a->Read(4, std::chrono::milliseconds(100));
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), 4u);
    // a acknowledges the first two, then goes silent (dies) holding two pending entries.
    StreamTransport::Commit commit;
    commit.ids = {(*got)[0].id, (*got)[1].id};
    commit.outputs = {{"t0", "{}"}};
    auto ok = a->CommitAll(std::span(&commit, 1));
    ASSERT_TRUE(ok);
    EXPECT_TRUE(ok->at(0));
    auto b = OpenRedisStreamTransport(Opts(s, "b", 1, 300));
    ASSERT_TRUE(b);
    auto chb = (*b)->Heartbeat();
    ASSERT_TRUE(chb);
    EXPECT_TRUE(chb->acquired.empty());                           // a's lease still runs
    std::this_thread::sleep_for(std::chrono::milliseconds(700));  // lease and membership expire
    chb = (*b)->Heartbeat();
    ASSERT_TRUE(chb);
    ASSERT_EQ(chb->acquired, (std::vector<std::uint32_t>{0}));
    auto pending = (*b)->ClaimPending(0, false);
    ASSERT_TRUE(pending);
    ASSERT_EQ(pending->size(), 2u);
    EXPECT_EQ((*pending)[0].payload, "2");
    EXPECT_EQ((*pending)[1].payload, "3");
    EXPECT_TRUE((*pending)[0].redelivered);
    // a wakes up and tries to commit what it had: refused, nothing published.
    commit.ids = {(*got)[2].id, (*got)[3].id};
    commit.outputs = {{"t2", "{}"}};
    ok = a->CommitAll(std::span(&commit, 1));
    ASSERT_TRUE(ok);
    EXPECT_FALSE(ok->at(0));
    EXPECT_TRUE(a->Owned().empty());
    auto len = c->Command({"XLEN", s + ":out"});
    EXPECT_EQ(len->integer, 1);
    // b continues with the new entries after the claimed ones.
    auto fresh = (*b)->Read(100, std::chrono::milliseconds(100));
    ASSERT_TRUE(fresh);
    ASSERT_EQ(fresh->size(), 6u);
    EXPECT_EQ(fresh->front().payload, "4");
    EXPECT_FALSE(fresh->front().redelivered);
}

// Reads are fenced: once its lease has gone to another worker, a previous owner's read gets
// nothing, so no new entry can be stranded in its pending list and read out of stream order.
TEST(RedisStreamTransport, APreviousOwnersReadIsFenced) {
    ASSERT_TRUE(SharedRedis().ok());
    const std::string s = TestStream();
    auto a = OwnerOfOnePartition(s);
    ASSERT_TRUE(a);
    auto c = Connect();
    const std::string part = PartitionStreamName(s, 0);
    ASSERT_TRUE(c->Command({"XADD", part, "*", "tx", "0"}));
    auto got = a->Read(10, std::chrono::milliseconds(100));
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), 1u);  // read, not acknowledged: a pauses here
    std::this_thread::sleep_for(std::chrono::milliseconds(700));  // lease and membership expire
    auto b = OpenRedisStreamTransport(Opts(s, "b", 1, 300));
    ASSERT_TRUE(b);
    auto chb = (*b)->Heartbeat();
    ASSERT_TRUE(chb);
    ASSERT_EQ(chb->acquired, (std::vector<std::uint32_t>{0}));
    ASSERT_TRUE(c->Command({"XADD", part, "*", "tx", "1"}));
    // a wakes up and reads before its next heartbeat: nothing (before: entry 1, left pending).
    auto late = a->Read(10, std::chrono::milliseconds(50));
    ASSERT_TRUE(late);
    EXPECT_TRUE(late->empty());
    auto pend = c->Command({"XPENDING", part, "g", "-", "+", "10", "a"});
    ASSERT_TRUE(pend);
    EXPECT_EQ(pend->elements.size(), 1u);  // only entry 0, read while a held the lease
    // b takes a's pending entry first, then the new one: stream order.
    auto pending = (*b)->ClaimPending(0, false);
    ASSERT_TRUE(pending);
    ASSERT_EQ(pending->size(), 1u);
    EXPECT_EQ((*pending)[0].payload, "0");
    auto fresh = (*b)->Read(10, std::chrono::milliseconds(100));
    ASSERT_TRUE(fresh);
    ASSERT_EQ(fresh->size(), 1u);
    EXPECT_EQ(fresh->front().payload, "1");
}

// The wait for new entries (outside the fenced script) wakes up when one arrives.
TEST(RedisStreamTransport, AReadWaitsForTheNextEntry) {
    ASSERT_TRUE(SharedRedis().ok());
    const std::string s = TestStream();
    auto a = OpenRedisStreamTransport(Opts(s, "a", 2));
    ASSERT_TRUE(a);
    ASSERT_TRUE((*a)->Heartbeat());
    ASSERT_EQ((*a)->Owned().size(), 2u);
    auto c = Connect();
    ASSERT_TRUE(c->Command({"XADD", PartitionStreamName(s, 1), "*", "tx", "old"}));
    auto first = (*a)->Read(10, std::chrono::milliseconds(100));
    ASSERT_TRUE(first);
    ASSERT_EQ(first->size(), 1u);
    auto empty = (*a)->Read(10, std::chrono::milliseconds(100));  // times out
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->empty());
    std::thread producer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        auto p = Connect();
        (void)p->Command({"XADD", PartitionStreamName(s, 1), "*", "tx", "new"});
    });
    const auto t0 = std::chrono::steady_clock::now();
    auto got = (*a)->Read(10, std::chrono::milliseconds(5000));
    const auto waited = std::chrono::steady_clock::now() - t0;
    producer.join();
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ(got->front().payload, "new");
    EXPECT_EQ(got->front().partition, 1u);
    EXPECT_LT(waited, std::chrono::milliseconds(4000));
}

TEST(RedisStreamTransport, CommitPublishesDeadLettersAndAcknowledgesLargeBatches) {
    ASSERT_TRUE(SharedRedis().ok());
    const std::string s = TestStream();
    auto a = OpenRedisStreamTransport(Opts(s, "a", 1));
    ASSERT_TRUE(a);
    ASSERT_TRUE((*a)->Heartbeat());
    auto c = Connect();
    for (int i = 0; i < 1500; ++i) c->Append({"XADD", PartitionStreamName(s, 0), "*", "tx", "x"});
    ASSERT_TRUE(c->Flush());
    auto got = (*a)->Read(2000, std::chrono::milliseconds(100));
    ASSERT_TRUE(got);
    ASSERT_EQ(got->size(), 1500u);
    StreamTransport::Commit commit;
    for (const auto& e : *got) commit.ids.push_back(e.id);
    commit.dead = {{got->front().id, "amount: not a number"}};
    auto ok = (*a)->CommitAll(std::span(&commit, 1));
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_TRUE(ok->at(0));
    auto pend = c->Command({"XPENDING", PartitionStreamName(s, 0), "g"});
    ASSERT_TRUE(pend);
    EXPECT_EQ(pend->elements.at(0).integer, 0);  // everything acknowledged
    auto dead = c->Command({"XRANGE", s + ":out:dead", "-", "+"});
    ASSERT_EQ(dead->elements.size(), 1u);
    EXPECT_EQ(dead->elements[0].elements[1].elements[3].str, "amount: not a number");
}

}  // namespace
}  // namespace txguard
