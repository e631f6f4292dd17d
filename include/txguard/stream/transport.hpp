#pragma once
// The transport under the stream workers: partitioned input streams, partition ownership, and an
// atomic "publish the outputs and acknowledge the inputs" step. Redis Streams implement it
// (RedisStreamTransport below); the interface is what another log (Kafka: partitions, consumer
// group assignment, transactional offset commits) would implement.
//
// Partitions: a transaction goes to partition PartitionOf(customer_id, n) of its stream, so one
// customer's events stay in one ordered partition. A worker owns some partitions at a time; the
// owner alone reads a partition, so the per-customer state it keeps sees every event of its
// customers in order.
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/result.hpp"

namespace txguard {

// The partition of a key (FNV-1a of the key's bytes, modulo n): stable across processes, builds
// and machines.
std::uint32_t PartitionOf(std::string_view key, std::uint32_t partitions);

struct StreamEntry {
    std::uint32_t partition = 0;
    std::string id;            // the transport's position of the entry (a Redis stream id)
    std::string payload;       // the transaction as JSON (the scoring API's request object)
    bool redelivered = false;  // delivered before to an owner that did not acknowledge it
};

// What a worker's commit publishes: `key` is the transaction id.
struct StreamOutput {
    std::string key;
    std::string payload;
};

class StreamTransport {
  public:
    virtual ~StreamTransport() = default;
    virtual std::uint32_t Partitions() const = 0;
    virtual std::string Describe() const = 0;

    // Ownership changes found by a heartbeat (call it often: every loop). `acquired`: partitions
    // now owned (restore their state, then ClaimPending); `release`: partitions this worker
    // should hand over (save their state, then Release); `lost`: partitions taken away (the
    // lease expired: drop their state without saving it).
    struct Changes {
        std::vector<std::uint32_t> acquired, release, lost;
    };
    virtual Result<Changes> Heartbeat() = 0;
    // Renews the leases of the owned partitions only (Heartbeat does this first) and returns the
    // ones taken away meanwhile, which are no longer owned. For long work between heartbeats:
    // restoring the partitions a heartbeat acquired can outlast a lease.
    virtual Result<std::vector<std::uint32_t>> Renew() = 0;
    virtual Result<void> Release(std::uint32_t partition) = 0;
    // Leaves the group: releases every partition and the membership (clean shutdown).
    virtual Result<void> Leave() = 0;
    virtual std::vector<std::uint32_t> Owned() const = 0;

    // Entries of `partition` delivered to earlier owners (or to this worker before a restart)
    // and never acknowledged, in stream order, now delivered to this worker. stranded_only: only
    // those idle for longer than a lease — at a heartbeat of the owner, a safety net for entries
    // stranded in another consumer's pending list (an owner has none of its own pending then: it
    // reads, stores and acknowledges before its next heartbeat).
    virtual Result<std::vector<StreamEntry>> ClaimPending(std::uint32_t partition,
                                                          bool stranded_only) = 0;
    // New entries of the owned partitions (at most `max_per_partition` each, in order per
    // partition), waiting up to `block` when there are none. Fenced: only partitions whose lease
    // is still this worker's at the moment of the read are read.
    virtual Result<std::vector<StreamEntry>> Read(std::size_t max_per_partition,
                                                  std::chrono::milliseconds block) = 0;
    // Atomically, and only while this worker still owns `partition`: appends `outputs` to the
    // output stream and `dead` (unreadable entries, payload = the error) to the dead-letter
    // stream, and acknowledges `ids`. Returns false (changing nothing) when the partition is no
    // longer owned: another worker has taken it over.
    struct Commit {
        std::uint32_t partition = 0;
        std::vector<std::string> ids;
        std::vector<StreamOutput> outputs;
        std::vector<StreamOutput> dead;
    };
    virtual Result<std::vector<bool>> CommitAll(std::span<const Commit> commits) = 0;
};

struct RedisStreamOptions {
    std::string url = "redis://127.0.0.1:6379";
    std::string stream;    // input stream name; partition i is "<stream>:<i>"
    std::string group;     // consumer group
    std::string consumer;  // this worker's name (unique among live workers; a restarted worker
                           // may reuse its name and then takes back its own leases at once)
    std::string out;       // output stream; dead letters go to "<out>:dead"
    std::uint32_t partitions = 0;  // 0: as recorded for the stream (by replay or a first worker)
    std::chrono::milliseconds lease{5000};  // a silent owner loses its partitions after this
};

// Creates the consumer group on every partition stream (from the start of each stream) and
// records / checks the stream's partition count under "<stream>:partitions".
Result<std::unique_ptr<StreamTransport>> OpenRedisStreamTransport(const RedisStreamOptions& o);

// The partition count recorded for `stream` (set by the first producer or worker); sets it to
// `wanted` when none is recorded; an error when a different count is recorded.
class RedisClient;
Result<std::uint32_t> StreamPartitions(RedisClient& redis, std::string_view stream,
                                       std::uint32_t wanted);
std::string PartitionStreamName(std::string_view stream, std::uint32_t partition);

}  // namespace txguard
