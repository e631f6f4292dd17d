#pragma once
// `txguard replay`: feeds a stream from a transaction file. Rows go in time order (stable for
// equal times, as the batch feature path orders them) to partition PartitionOf(customer_id) of
// the stream, each as one entry {"tx": <the scoring API's JSON object>}, pipelined in chunks.
#include <cstdint>
#include <string>
#include <vector>

#include "txguard/core/progress.hpp"
#include "txguard/core/result.hpp"
#include "txguard/data/transaction_table.hpp"
#include "txguard/features/feature_spec.hpp"

namespace txguard {

struct ReplayOptions {
    std::string redis_url = "redis://127.0.0.1:6379";
    std::string stream;
    std::uint32_t partitions = 0;  // 0: as recorded for the stream; else recorded / checked
    double rate = 0.0;             // transactions per second; 0 = as fast as possible
    std::size_t chunk = 1000;      // entries per pipeline round trip
    // The model's features: send only the fields it reads. nullptr: every column of the table
    // (a worker's model then refuses extra columns it does not use).
    const FeatureSpec* spec = nullptr;
    std::size_t limit = 0;  // first N rows in time order; 0 = all
};

struct ReplayStats {
    std::uint64_t sent = 0;
    double seconds = 0.0;
    std::vector<std::uint64_t> per_partition;
    std::string ToJson() const;
};

Result<ReplayStats> ReplayTable(const TransactionTable& table, const ReplayOptions& options,
                                Progress* progress = nullptr);

}  // namespace txguard
