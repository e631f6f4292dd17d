#pragma once
// Stream workers (`txguard stream`): consume transactions from partitioned streams with a
// consumer group, compute features and scores with the same scoring core as the HTTP service
// (txguard/serve/scoring.hpp), store every score, publish alerts, then acknowledge.
//
// Per batch: read up to `batch` new entries of every owned partition; per partition, in stream
// order, parse, skip what is already stored, update the partition's feature engine; score the
// batch; append every record to the store in one database transaction; then, per partition and
// atomically (transport's CommitAll), publish the alerts and acknowledge the entries — only
// while the partition is still owned.
//
// Delivery: at least once from the stream, made exactly once in the store and the output stream:
// an entry acknowledged was stored and its alert published in the same atomic step; an entry not
// acknowledged was not published, so when it comes again (to this worker after a restart, or to
// the worker that takes the partition over) it is published then — once — and, if the store
// already holds it, not scored again. Entries whose transaction id was already stored and
// acknowledged (a producer sending twice) are acknowledged and dropped.
//
// State: one feature engine per owned partition. Taking a partition over restores its engine
// from the store (its latest snapshot, then a replay of its stored transactions after it, through
// the scoring core's replay path); handing one over (rebalancing, clean shutdown) snapshots it
// first. Models whose features keep state on anything but the customer (e.g. terminal windows)
// cannot be split by customer: the worker refuses them unless the stream has one partition.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "txguard/core/result.hpp"
#include "txguard/features/feature_spec.hpp"
#include "txguard/serve/scoring.hpp"
#include "txguard/store/store.hpp"
#include "txguard/stream/transport.hpp"

namespace txguard {

struct StreamWorkerOptions {
    std::string model_path;
    std::string db_url = "sqlite://txguard.db";
    ScoringOptions scoring;
    std::size_t batch = 1000;                  // entries per partition per read
    std::chrono::milliseconds block{100};      // read wait when nothing is queued
    std::chrono::milliseconds heartbeat{500};  // between ownership heartbeats (< lease / 3)
    std::uint64_t snapshot_every = 200000;     // events of a partition between snapshots
    bool publish_all = false;                  // false: publish review/block decisions only
    bool quiet = false;                        // no log lines on stderr
};

struct StreamWorkerStats {
    std::uint64_t scored = 0;        // transactions scored and stored by this worker
    std::uint64_t published = 0;     // outputs published
    std::uint64_t duplicates = 0;    // entries whose transaction was already stored
    std::uint64_t dead_letters = 0;  // unreadable entries (to "<out>:dead")
    std::uint64_t replayed = 0;      // stored events replayed when taking partitions over
    std::uint64_t acquired = 0, released = 0, lost = 0;  // partition moves
    std::uint64_t stranded = 0;  // entries claimed from a paused ex-owner's pending list
    double seconds = 0.0;
    std::string ToJson() const;
};

// Why a spec cannot be split by customer ("" when it can): the first entity keyed on another
// column.
std::string PartitionBlocker(const FeatureSpec& spec);

// Runs until `stop` becomes true, then snapshots and releases every owned partition and leaves
// the group. Errors (store or transport failures) end the run; the partitions' leases then
// expire and other workers take them over.
Result<StreamWorkerStats> RunStreamWorker(const StreamWorkerOptions& options,
                                          StreamTransport& transport,
                                          const std::atomic<bool>& stop);
// The same on a store the caller opened (options.db_url is then not used).
Result<StreamWorkerStats> RunStreamWorker(const StreamWorkerOptions& options,
                                          StreamTransport& transport, std::unique_ptr<Store> store,
                                          const std::atomic<bool>& stop);

}  // namespace txguard
