#include "txguard/stream/replay.hpp"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <thread>

#include "txguard/serve/request.hpp"
#include "txguard/stream/redis.hpp"
#include "txguard/stream/transport.hpp"

namespace txguard {

namespace {

// A spec that reads every column the table has (keys and extras): the parser's JSON then
// carries them all.
FeatureSpec AllColumnsSpec(const TransactionTable& t) {
    FeatureSpec spec;
    spec.extra_columns = t.extra_names;
    return spec;
}

const CategoricalColumn* KeyColumn(const TransactionTable& t, int f) {
    switch (static_cast<KeyField>(f)) {
        case KeyField::kCustomer:
            return &t.customer;
        case KeyField::kTerminal:
            return &t.terminal;
        case KeyField::kCategory:
            return &t.category;
        case KeyField::kChannel:
            return &t.channel;
        case KeyField::kCountry:
            return &t.country;
    }
    return nullptr;
}

}  // namespace

std::string ReplayStats::ToJson() const {
    std::string s = "{\"sent\":" + std::to_string(sent) +
                    ",\"seconds\":" + std::to_string(seconds) + ",\"per_partition\":[";
    for (std::size_t i = 0; i < per_partition.size(); ++i)
        s += (i ? "," : "") + std::to_string(per_partition[i]);
    return s + "]}";
}

Result<ReplayStats> ReplayTable(const TransactionTable& t, const ReplayOptions& o,
                                Progress* progress) {
    if (!t.has_time() || !t.has_customer())
        return MakeError(ErrorCode::kInvalidArgument,
                         "replay needs a timestamp and a customer_id column",
                         "choose a --schema that maps them");
    if (o.stream.empty()) return MakeError(ErrorCode::kInvalidArgument, "replay needs --stream");
    auto redis = RedisClient::Connect(o.redis_url);
    if (!redis) return std::unexpected(redis.error());
    auto n = StreamPartitions(**redis, o.stream, o.partitions);
    if (!n) return std::unexpected(n.error());
    std::vector<std::string> streams;
    for (std::uint32_t p = 0; p < *n; ++p) streams.push_back(PartitionStreamName(o.stream, p));

    const FeatureSpec spec = o.spec ? *o.spec : AllColumnsSpec(t);
    for (const auto& name : spec.extra_columns)
        if (std::find(t.extra_names.begin(), t.extra_names.end(), name) == t.extra_names.end())
            return MakeError(ErrorCode::kInvalidArgument,
                             "the model reads column " + name + ", which the data lacks");
    std::vector<std::size_t> extra_col;
    for (const auto& name : spec.extra_columns)
        extra_col.push_back(static_cast<std::size_t>(
            std::find(t.extra_names.begin(), t.extra_names.end(), name) - t.extra_names.begin()));
    const RequestParser parser(spec);

    std::vector<std::size_t> order(t.rows);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return t.ts_ms[a] < t.ts_ms[b]; });
    if (o.limit > 0 && order.size() > o.limit) order.resize(o.limit);

    ReplayStats stats;
    stats.per_partition.assign(*n, 0);
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::string> bodies;
    std::vector<std::uint32_t> parts;
    const std::size_t chunk = std::max<std::size_t>(1, o.chunk);
    for (std::size_t at = 0; at < order.size(); at += chunk) {
        const std::size_t end = std::min(order.size(), at + chunk);
        bodies.clear();
        parts.clear();
        for (std::size_t i = at; i < end; ++i) {
            const std::size_t row = order[i];
            TxRequest req;
            req.transaction_id = t.IdOf(row);
            req.ts_ms = t.ts_ms[row];
            req.amount = t.has_amount() ? t.amount[row] : 0.0;
            for (int f = 0; f < kNumKeyFields; ++f) {
                const CategoricalColumn* c = KeyColumn(t, f);
                if (c && !c->ids.empty()) req.keys[f] = std::string(c->pool.Get(c->ids[row]));
            }
            for (std::size_t j : extra_col) req.extras.push_back(t.extra[j][row]);
            parts.push_back(PartitionOf(req.customer_id(), *n));
            bodies.push_back(parser.ToJson(req));
        }
        for (std::size_t i = 0; i < bodies.size(); ++i)
            (*redis)->Append({"XADD", streams[parts[i]], "*", "tx", bodies[i]});
        auto replies = (*redis)->Flush();
        if (!replies) return std::unexpected(replies.error());
        TXG_RETURN_IF_ERROR(CheckRedisReplies(*replies, "XADD to " + o.stream));
        for (auto p : parts) ++stats.per_partition[p];
        stats.sent += bodies.size();
        if (progress) progress->Add(bodies.size());
        if (o.rate > 0) {
            const auto due =
                start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(stats.sent / o.rate));
            std::this_thread::sleep_until(due);
        }
    }
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return stats;
}

}  // namespace txguard
