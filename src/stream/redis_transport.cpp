// Redis Streams transport: partition streams "<stream>:<i>", one consumer group per stream,
// partition leases "<stream>:<group>:lease:<i>" (SET NX PX, value = the owner's name), members
// in the sorted set "<stream>:<group>:members" (score = last heartbeat, Redis clock). Every
// partition-scoped write runs in a Lua script that first checks the lease (fencing), so a worker
// that lost a partition cannot publish or acknowledge for it any more; reads are fenced with
// WATCH on the leases and MULTI/EXEC (FencedRead).
#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "txguard/core/bytes.hpp"
#include "txguard/stream/redis.hpp"
#include "txguard/stream/transport.hpp"

namespace txguard {

std::uint32_t PartitionOf(std::string_view key, std::uint32_t partitions) {
    return partitions == 0 ? 0 : static_cast<std::uint32_t>(Fnv1a64(key) % partitions);
}

std::string PartitionStreamName(std::string_view stream, std::uint32_t partition) {
    return std::string(stream) + ":" + std::to_string(partition);
}

Result<std::uint32_t> StreamPartitions(RedisClient& redis, std::string_view stream,
                                       std::uint32_t wanted) {
    const std::string key = std::string(stream) + ":partitions";
    if (wanted > 0) {
        const std::string v = std::to_string(wanted);
        auto r = redis.Command({"SET", key, v, "NX"});
        if (!r) return std::unexpected(r.error());
        if (r->IsError()) return MakeError(ErrorCode::kIo, "Redis SET " + key + ": " + r->str);
    }
    auto got = redis.Command({"GET", key});
    if (!got) return std::unexpected(got.error());
    if (got->IsNil())
        return MakeError(ErrorCode::kNotFound,
                         "stream " + std::string(stream) + " has no partition count yet",
                         "pass --partitions N (the first producer or worker records it)");
    std::uint32_t n = 0;
    auto [p, ec] = std::from_chars(got->str.data(), got->str.data() + got->str.size(), n);
    if (ec != std::errc() || n == 0)
        return MakeError(ErrorCode::kCorrupt, key + " holds \"" + got->str + "\", not a count");
    if (wanted > 0 && n != wanted)
        return MakeError(ErrorCode::kInvalidArgument,
                         "stream " + std::string(stream) + " has " + std::to_string(n) +
                             " partitions, not " + std::to_string(wanted),
                         "the partition count of a stream is fixed when it is created; use " +
                             std::to_string(n) + " or a new stream name");
    return n;
}

namespace {

// Heartbeat: record this member, drop silent ones, count the live.
constexpr const char* kHeartbeat = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 10)
return redis.call('ZCARD', KEYS[1])
)lua";

// Renews the leases in KEYS held by ARGV[1]; returns 1/0 per key.
constexpr const char* kRenew = R"lua(
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then
    redis.call('PEXPIRE', k, ARGV[2]); out[i] = 1
  else out[i] = 0 end
end
return out
)lua";

// Takes up to ARGV[3] of the leases in KEYS (free ones, or ones already ours); returns the
// indexes (1-based) taken.
constexpr const char* kAcquire = R"lua(
local want = tonumber(ARGV[3])
local out = {}
for i, k in ipairs(KEYS) do
  if want <= 0 then break end
  local v = redis.call('GET', k)
  if not v then
    redis.call('SET', k, ARGV[1], 'PX', ARGV[2]); out[#out + 1] = i; want = want - 1
  elseif v == ARGV[1] then
    redis.call('PEXPIRE', k, ARGV[2]); out[#out + 1] = i; want = want - 1
  end
end
return out
)lua";

constexpr const char* kRelease = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

// KEYS: lease, input stream, output stream, dead-letter stream. ARGV: owner, group, lease ms,
// #ids, #outputs, #dead, ids..., (key, payload) per output, (key, error) per dead letter.
constexpr const char* kCommit = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local n_ids, n_out, n_dead = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local i = 7 + n_ids
for k = 1, n_out do
  redis.call('XADD', KEYS[3], '*', 'transaction_id', ARGV[i], 'result', ARGV[i + 1]); i = i + 2
end
for k = 1, n_dead do
  redis.call('XADD', KEYS[4], '*', 'id', ARGV[i], 'error', ARGV[i + 1]); i = i + 2
end
local a = 7
while a < 7 + n_ids do
  local b = math.min(a + 499, 6 + n_ids)
  redis.call('XACK', KEYS[2], ARGV[2], unpack(ARGV, a, b))
  a = b + 1
end
return 1
)lua";

// Entries of an XREADGROUP / XAUTOCLAIM reply: [[id, [field, value, ...]], ...].
void CollectEntries(const RedisReply& entries, std::uint32_t partition, bool redelivered,
                    std::vector<StreamEntry>& out) {
    for (const auto& e : entries.elements) {
        if (e.type != RedisReply::Type::kArray || e.elements.size() < 2) continue;  // deleted
        StreamEntry se;
        se.partition = partition;
        se.id = e.elements[0].str;
        se.redelivered = redelivered;
        const auto& fields = e.elements[1].elements;
        for (std::size_t f = 0; f + 1 < fields.size(); f += 2)
            if (fields[f].str == "tx") se.payload = fields[f + 1].str;
        out.push_back(std::move(se));
    }
}

class RedisStreamTransport final : public StreamTransport {
  public:
    RedisStreamTransport(RedisStreamOptions o, std::unique_ptr<RedisClient> redis, std::uint32_t n)
        : o_(std::move(o)), redis_(std::move(redis)), n_(n) {
        for (std::uint32_t p = 0; p < n_; ++p) {
            streams_.push_back(PartitionStreamName(o_.stream, p));
            leases_.push_back(o_.stream + ":" + o_.group + ":lease:" + std::to_string(p));
            by_stream_.emplace(streams_.back(), p);
        }
        members_ = o_.stream + ":" + o_.group + ":members";
        dead_ = o_.out + ":dead";
        lease_ms_ = std::to_string(o_.lease.count());
        // Preferred partitions first, starting from the consumer's own hash: workers that join
        // together try different partitions first.
        const std::uint32_t start = PartitionOf(o_.consumer, n_);
        for (std::uint32_t i = 0; i < n_; ++i) preference_.push_back((start + i) % n_);
    }

    std::uint32_t Partitions() const override { return n_; }
    std::string Describe() const override {
        return redis_->url().ToString() + " stream " + o_.stream + " (" + std::to_string(n_) +
               " partitions), group " + o_.group + ", consumer " + o_.consumer;
    }
    std::vector<std::uint32_t> Owned() const override { return owned_; }

    Result<Changes> Heartbeat() override {
        Changes ch;
        auto live_r = Eval(kHeartbeat, {members_}, {o_.consumer, lease_ms_});
        if (!live_r) return std::unexpected(live_r.error());
        const long long live = std::max(1LL, live_r->integer);
        auto lost = Renew();
        if (!lost) return std::unexpected(lost.error());
        ch.lost = std::move(*lost);
        const std::size_t target = static_cast<std::size_t>(
            (n_ + static_cast<std::uint32_t>(live) - 1) / static_cast<std::uint32_t>(live));
        if (owned_.size() > target) {
            // Hand over the least preferred ones.
            std::vector<std::uint32_t> by_pref;
            for (auto p : preference_)
                if (std::find(owned_.begin(), owned_.end(), p) != owned_.end())
                    by_pref.push_back(p);
            ch.release.assign(by_pref.begin() + static_cast<std::ptrdiff_t>(target), by_pref.end());
        } else if (owned_.size() < target) {
            std::vector<std::string> keys;
            std::vector<std::uint32_t> parts;
            for (auto p : preference_)
                if (std::find(owned_.begin(), owned_.end(), p) == owned_.end()) {
                    keys.push_back(leases_[p]);
                    parts.push_back(p);
                }
            auto r = Eval(kAcquire, keys,
                          {o_.consumer, lease_ms_, std::to_string(target - owned_.size())});
            if (!r) return std::unexpected(r.error());
            for (const auto& e : r->elements) {
                const auto p = parts[static_cast<std::size_t>(e.integer - 1)];
                owned_.push_back(p);
                ch.acquired.push_back(p);
            }
        }
        return ch;
    }

    Result<std::vector<std::uint32_t>> Renew() override {
        std::vector<std::uint32_t> lost;
        if (owned_.empty()) return lost;
        std::vector<std::string> keys;
        for (auto p : owned_) keys.push_back(leases_[p]);
        auto r = Eval(kRenew, keys, {o_.consumer, lease_ms_});
        if (!r) return std::unexpected(r.error());
        std::vector<std::uint32_t> kept;
        for (std::size_t i = 0; i < owned_.size(); ++i) {
            const bool ok = i < r->elements.size() && r->elements[i].integer == 1;
            (ok ? kept : lost).push_back(owned_[i]);
        }
        owned_ = std::move(kept);
        return lost;
    }

    Result<void> Release(std::uint32_t p) override {
        auto r = Eval(kRelease, {leases_[p]}, {o_.consumer});
        if (!r) return std::unexpected(r.error());
        std::erase(owned_, p);
        return Ok();
    }

    Result<void> Leave() override {
        for (auto p : std::vector<std::uint32_t>(owned_)) TXG_RETURN_IF_ERROR(Release(p));
        auto r = redis_->Command({"ZREM", members_, o_.consumer});
        if (!r) return std::unexpected(r.error());
        return Ok();
    }

    Result<std::vector<StreamEntry>> ClaimPending(std::uint32_t p, bool stranded_only) override {
        std::vector<StreamEntry> out;
        std::string start = "0-0";
        const std::string min_idle = stranded_only ? lease_ms_ : "0";
        while (true) {
            auto r = redis_->Command({"XAUTOCLAIM", streams_[p], o_.group, o_.consumer, min_idle,
                                      start, "COUNT", "1000"});
            if (!r) return std::unexpected(r.error());
            if (r->IsError())
                return MakeError(ErrorCode::kIo, "XAUTOCLAIM " + streams_[p] + ": " + r->str);
            if (r->elements.size() < 2) break;
            CollectEntries(r->elements[1], p, true, out);
            start = r->elements[0].str;
            if (start == "0-0") break;
        }
        return out;
    }

    // Reads are fenced (FencedRead), so a worker paused past its lease cannot read (and strand
    // in its pending list) entries of a partition that has moved on. The wait for new entries is
    // a plain XREAD, which claims nothing.
    Result<std::vector<StreamEntry>> Read(std::size_t max_per_partition,
                                          std::chrono::milliseconds block) override {
        std::vector<StreamEntry> out;
        if (owned_.empty()) return out;
        std::vector<std::uint32_t> parts = owned_;
        std::vector<std::string> after;
        TXG_RETURN_IF_ERROR(FencedRead(parts, max_per_partition, out, after));
        if (!out.empty() || block.count() <= 0) return out;
        const std::string block_ms = std::to_string(block.count());
        std::vector<std::string_view> args = {"XREAD", "COUNT", "1", "BLOCK", block_ms, "STREAMS"};
        std::vector<std::uint32_t> waiting;
        for (std::size_t i = 0; i < parts.size(); ++i)
            if (!after[i].empty()) waiting.push_back(parts[i]);
        if (waiting.empty()) return out;
        for (auto p : waiting) args.push_back(streams_[p]);
        for (std::size_t i = 0; i < parts.size(); ++i)
            if (!after[i].empty()) args.push_back(after[i]);
        auto r = redis_->Command(args);
        if (!r) return std::unexpected(r.error());
        if (r->IsError()) return MakeError(ErrorCode::kIo, "XREAD: " + r->str);
        if (r->IsNil()) return out;  // nothing arrived
        TXG_RETURN_IF_ERROR(FencedRead(waiting, max_per_partition, out, after));
        return out;
    }

    Result<std::vector<bool>> CommitAll(std::span<const Commit> commits) override {
        for (const auto& c : commits) {
            std::vector<std::string_view> args;
            const std::string n_ids = std::to_string(c.ids.size());
            const std::string n_out = std::to_string(c.outputs.size());
            const std::string n_dead = std::to_string(c.dead.size());
            args = {"EVAL",
                    kCommit,
                    "4",
                    leases_[c.partition],
                    streams_[c.partition],
                    o_.out,
                    dead_,
                    o_.consumer,
                    o_.group,
                    lease_ms_,
                    n_ids,
                    n_out,
                    n_dead};
            for (const auto& id : c.ids) args.push_back(id);
            for (const auto& o : c.outputs) {
                args.push_back(o.key);
                args.push_back(o.payload);
            }
            for (const auto& o : c.dead) {
                args.push_back(o.key);
                args.push_back(o.payload);
            }
            redis_->Append(args);  // hiredis copies the arguments into its output buffer
        }
        auto r = redis_->Flush();
        if (!r) return std::unexpected(r.error());
        TXG_RETURN_IF_ERROR(CheckRedisReplies(*r, "committing stream results"));
        std::vector<bool> ok;
        for (std::size_t i = 0; i < r->size(); ++i) {
            ok.push_back((*r)[i].integer == 1);
            if (!ok.back()) std::erase(owned_, commits[i].partition);
        }
        return ok;
    }

    Result<void> CreateGroups() {
        for (const auto& s : streams_)
            redis_->Append({"XGROUP", "CREATE", s, o_.group, "0", "MKSTREAM"});
        auto r = redis_->Flush();
        if (!r) return std::unexpected(r.error());
        for (const auto& rep : *r)
            if (rep.IsError() && !rep.str.starts_with("BUSYGROUP"))
                return MakeError(ErrorCode::kIo, "XGROUP CREATE: " + rep.str);
        return Ok();
    }

  private:
    // Reads the new entries of those of `parts` still leased to this worker, atomically with the
    // lease check: WATCH the leases and read them, then MULTI/XREADGROUP/EXEC, which Redis runs
    // only if no watched lease changed in between. (A Lua script could not do it as cheaply: it
    // copies every entry through Lua tables; with it the stream drain ran ~20% slower.)
    // after[i]: the id to wait after for parts[i] (its stream's newest entry, all of which are
    // delivered when the read returns fewer than the count); empty when the lease is not ours.
    Result<void> FencedRead(const std::vector<std::uint32_t>& parts, std::size_t max_per_partition,
                            std::vector<StreamEntry>& out, std::vector<std::string>& after) {
        after.assign(parts.size(), std::string());
        std::vector<std::string_view> watch = {"WATCH"}, get = {"MGET"};
        for (auto p : parts) {
            watch.push_back(leases_[p]);
            get.push_back(leases_[p]);
        }
        redis_->Append(watch);
        redis_->Append(get);
        auto held = redis_->Flush();
        if (!held) return std::unexpected(held.error());
        TXG_RETURN_IF_ERROR(CheckRedisReplies(*held, "reading the leases"));
        std::vector<std::size_t> mine;
        for (std::size_t i = 0; i < parts.size() && i < (*held)[1].elements.size(); ++i)
            if ((*held)[1].elements[i].str == o_.consumer) mine.push_back(i);
        if (mine.empty()) {
            auto r = redis_->Command({"UNWATCH"});
            if (!r) return std::unexpected(r.error());
            return Ok();
        }
        const std::string count = std::to_string(max_per_partition);
        std::vector<std::string_view> read = {"XREADGROUP", "GROUP", o_.group, o_.consumer,
                                              "COUNT",      count,   "STREAMS"};
        for (auto i : mine) read.push_back(streams_[parts[i]]);
        for (std::size_t k = 0; k < mine.size(); ++k) read.push_back(">");
        redis_->Append({"MULTI"});
        redis_->Append(read);
        for (auto i : mine)
            redis_->Append({"XREVRANGE", streams_[parts[i]], "+", "-", "COUNT", "1"});
        redis_->Append({"EXEC"});
        auto r = redis_->Flush();
        if (!r) return std::unexpected(r.error());
        for (std::size_t k = 0; k + 1 < r->size(); ++k)  // MULTI and the queued commands
            if ((*r)[k].IsError())
                return MakeError(ErrorCode::kIo, "fenced XREADGROUP: " + (*r)[k].str);
        const RedisReply& exec = r->back();
        if (exec.IsError()) return MakeError(ErrorCode::kIo, "fenced XREADGROUP: " + exec.str);
        if (exec.IsNil()) return Ok();  // a lease changed hands meanwhile: nothing was read
        if (exec.elements.size() != 1 + mine.size())
            return MakeError(ErrorCode::kIo, "fenced XREADGROUP: unexpected EXEC reply");
        const RedisReply& got = exec.elements[0];
        if (got.IsError()) return MakeError(ErrorCode::kIo, "XREADGROUP: " + got.str);
        for (const auto& st : got.elements) {
            if (st.elements.size() < 2) continue;
            auto it = by_stream_.find(st.elements[0].str);
            if (it == by_stream_.end()) continue;
            CollectEntries(st.elements[1], it->second, false, out);
        }
        for (std::size_t k = 0; k < mine.size(); ++k) {
            const RedisReply& newest = exec.elements[1 + k];
            after[mine[k]] = newest.elements.empty() || newest.elements[0].elements.empty()
                                 ? "0-0"
                                 : newest.elements[0].elements[0].str;
        }
        return Ok();
    }

    Result<RedisReply> Eval(const char* script, const std::vector<std::string>& keys,
                            const std::vector<std::string>& argv) {
        const std::string nkeys = std::to_string(keys.size());
        std::vector<std::string_view> args = {"EVAL", script, nkeys};
        for (const auto& k : keys) args.push_back(k);
        for (const auto& a : argv) args.push_back(a);
        auto r = redis_->Command(args);
        if (!r) return std::unexpected(r.error());
        if (r->IsError()) return MakeError(ErrorCode::kIo, "Redis script failed: " + r->str);
        return r;
    }

    RedisStreamOptions o_;
    std::unique_ptr<RedisClient> redis_;
    std::uint32_t n_;
    std::vector<std::string> streams_, leases_;
    std::unordered_map<std::string, std::uint32_t> by_stream_;
    std::string members_, dead_, lease_ms_;
    std::vector<std::uint32_t> preference_, owned_;
};

}  // namespace

Result<std::unique_ptr<StreamTransport>> OpenRedisStreamTransport(const RedisStreamOptions& o) {
    if (o.stream.empty() || o.group.empty() || o.consumer.empty() || o.out.empty())
        return MakeError(ErrorCode::kInvalidArgument,
                         "a stream worker needs --in, --group, --consumer and --out");
    auto redis = RedisClient::Connect(o.url);
    if (!redis) return std::unexpected(redis.error());
    auto n = StreamPartitions(**redis, o.stream, o.partitions);
    if (!n) return std::unexpected(n.error());
    auto t = std::make_unique<RedisStreamTransport>(o, std::move(*redis), *n);
    TXG_RETURN_IF_ERROR(t->CreateGroups());
    return std::unique_ptr<StreamTransport>(std::move(t));
}

}  // namespace txguard
