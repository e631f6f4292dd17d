#include "txguard/serve/service.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "json_text.hpp"
#include "openapi.hpp"
#include "txguard/core/bytes.hpp"
#include "txguard/core/parallel.hpp"
#include "txguard/core/time.hpp"
#include "txguard/features/feature_engine.hpp"
#include "txguard/model/bundle.hpp"
#include "txguard/model/pipeline.hpp"
#include "txguard/serve/auth.hpp"
#include "txguard/serve/metrics.hpp"
#include "txguard/serve/scoring.hpp"
#include "txguard/version.hpp"

namespace txguard {

namespace {

using Clock = std::chrono::steady_clock;

ScoringOptions ScoringOptionsOf(const ServeOptions& o) {
    ScoringOptions s;
    s.review_threshold = o.review_threshold;
    s.block_threshold = o.block_threshold;
    s.reasons = o.reasons;
    s.reasons_for_all = o.reasons_for_all;
    s.limits = o.limits;
    return s;
}

ApiResponse Json(int status, std::string body) {
    ApiResponse r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

ApiResponse ErrorReply(int status, std::string_view message, std::string_view field = {}) {
    std::string body = "{\"error\":";
    AppendJsonString(body, message);
    body += ",\"field\":";
    AppendJsonString(body, field);
    body += '}';
    return Json(status, std::move(body));
}

ApiResponse Unavailable(std::string_view message, std::string_view field = {}) {
    auto r = ErrorReply(503, message, field);
    r.headers.emplace_back("Retry-After", "1");
    return r;
}

// The answer body (without its closing brace) completed with latency_us; appends in place, so
// callers that are done with the body move it in.
std::string WithLatency(std::string s, Clock::time_point start) {
    s += ",\"latency_us\":";
    s += std::to_string(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
    s += '}';
    return s;
}

std::string Percent(std::string_view s, bool plus_is_space) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            int v = 0;
            auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
            if (ec == std::errc() && p == s.data() + i + 3) {
                out += static_cast<char>(v);
                i += 2;
                continue;
            }
        }
        out += plus_is_space && s[i] == '+' ? ' ' : s[i];
    }
    return out;
}

std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        auto amp = query.find('&');
        auto part = query.substr(0, amp);
        auto eq = part.find('=');
        if (part.substr(0, eq) == name)
            return Percent(eq == std::string_view::npos ? "" : part.substr(eq + 1), true);
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

}  // namespace

// ---- the service ------------------------------------------------------------------------------

struct ScoringService::Impl {
    ServeOptions options;
    TokenSet tokens;
    std::vector<std::string> warnings;

    // Scoring state, under mu.
    std::mutex mu;
    std::shared_ptr<const ScoringModel> model;  // written under mu and model_mu
    std::mutex model_mu;                        // reading `model` without waiting for mu
    std::shared_ptr<const ScoringModel> CurrentModel() {
        std::lock_guard lock(model_mu);
        return model;
    }
    // The writer must receive events in seq order (a restart replays the store by seq; a
    // snapshot covers every seq up to its own), but a request's scores, reasons and answers are
    // computed after the scoring lock is released, so that requests overlap. Each request that
    // takes seqs also takes a ticket (under mu) and submits when its ticket's turn comes.
    class SubmitOrder {
      public:
        std::uint64_t Take() { return issued_++; }        // under mu
        std::uint64_t Issued() const { return issued_; }  // under mu
        void WaitTurn(std::uint64_t t) { WaitServing(t, false); }
        void WaitAllBefore(std::uint64_t t) { WaitServing(t, true); }
        void Done(std::uint64_t t) {
            {
                std::lock_guard lock(mu_);
                serving_ = t + 1;
            }
            cv_.notify_all();
        }

      private:
        void WaitServing(std::uint64_t t, bool at_least) {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return at_least ? serving_ >= t : serving_ == t; });
        }
        std::uint64_t issued_ = 0;
        std::mutex mu_;
        std::condition_variable cv_;
        std::uint64_t serving_ = 0;
    };
    SubmitOrder order;
    // A ticket's turn: Wait() before submitting; the destructor passes the turn on (waiting for
    // it first if Wait was not called, e.g. on an error), so no ticket is ever skipped.
    class Turn {
      public:
        Turn(SubmitOrder& o, std::uint64_t t) : o_(o), t_(t) {}
        Turn(const Turn&) = delete;
        Turn& operator=(const Turn&) = delete;
        ~Turn() {
            Wait();
            o_.Done(t_);
        }
        void Wait() {
            if (!waited_) o_.WaitTurn(t_);
            waited_ = true;
        }

      private:
        SubmitOrder& o_;
        std::uint64_t t_;
        bool waited_ = false;
    };
    std::unique_ptr<FeatureEngine> engine;
    std::uint64_t last_seq = 0;
    std::int64_t watermark_ms = std::numeric_limits<std::int64_t>::min();
    struct TxMeta {
        std::uint64_t seq = 0;
        std::int64_t ts_ms = 0;  // effective (processing) time
        std::uint32_t keys[kNumKeyFields] = {0, 0, 0, 0, 0};
        bool full = false;  // keys/ts known (false: restored id only; look the rest up)
    };
    std::unordered_map<std::string, TxMeta> ids;
    std::deque<const std::string*> id_order;  // oldest first, for the memory bound
    bool ids_evicted = false;
    std::uint64_t events_since_snapshot = 0;
    bool closing = false;
    // Threads a batch's per-row work (scores, reasons, answers) is split over: the cores, at most.
    unsigned batch_threads = 1;
    static constexpr std::size_t kParallelBatchRows = 256;  // below this, one thread

    // Answers not yet sent because their commit is pending, under pending_mu (the writer
    // thread's callbacks take only this lock).
    std::mutex pending_mu;
    struct Pending {
        std::string body;
        std::vector<std::pair<Reply, Clock::time_point>> waiters;  // retries of it
    };
    std::unordered_map<std::string, Pending> pending;
    std::atomic<std::size_t> inflight{0};
    std::atomic<bool> store_failed{false};

    std::unique_ptr<StoreWriter> writer;
    std::mutex reader_mu;
    std::unique_ptr<Store> reader;

    // Snapshots: a thread wakes every snapshot_every events.
    std::mutex snap_mu;
    std::condition_variable snap_cv;
    bool snap_wanted = false;
    bool snap_quit = false;
    std::thread snap_thread;
    std::unique_ptr<Store> snap_store;
    std::string snapshot_piece;  // a snapshot step's bytes, reused (snapshot thread / Close)
    std::uint64_t restored_events = 0;
    std::string snapshot_skipped;  // why the stored snapshot was not used at start ("" if it was)

    // Metrics.
    MetricsRegistry metrics;
    HistogramMetric* score_latency = nullptr;
    Counter* decisions[3] = {nullptr, nullptr, nullptr};
    Counter* scored = nullptr;
    Counter* duplicates = nullptr;
    Counter* late_events = nullptr;
    Counter* labels_total = nullptr;
    Counter* overloaded = nullptr;
    Counter* store_errors = nullptr;
    Counter* reloads = nullptr;
    // The latest engine snapshot: how long it held the engine lock (scoring waits meanwhile),
    // how long it took end to end, and its size.
    Gauge* snapshot_lock_seconds = nullptr;
    Gauge* snapshot_seconds = nullptr;
    Gauge* snapshot_bytes = nullptr;
    std::mutex counters_mu;
    std::unordered_map<std::string, Counter*> request_counters;  // "path code"
    // The 200 counter of each route (by the route's index in Handle), found without the lock.
    std::array<std::atomic<Counter*>, 16> ok_counters{};

    // ---- setup ----
    Result<void> Restore();
    void SetupMetrics();
    Counter& RequestCounter(std::string_view path, int status);
    Counter& RequestCounter(std::size_t route_index, std::string_view path, int status);

    // ---- scoring ----
    Result<TxInput> PrepareInput(FeatureEngine& eng, const TxRequest& req, std::uint64_t seq,
                                 TxMeta* meta);
    void ScoreOne(std::string_view body, const Reply& reply, Clock::time_point start);
    void ScoreBatch(std::string_view body, const Reply& reply, Clock::time_point start);
    void Labels(std::string_view body, const Reply& reply);
    void Duplicate(const std::string& id, const Reply& reply, Clock::time_point start);
    void RememberId(const std::string& id, const TxMeta& meta);
    // Forgets pending answers that will never be submitted; their waiting retries get `why`.
    void Abandon(const std::vector<std::string>& ids_gone, const std::string& why);
    void CountDecision(const char* decision) {
        decisions[decision[0] == 'a' ? 0 : decision[0] == 'r' ? 1 : 2]->Inc();
    }
    // The engine input of an already processed transaction, for AddLabel: from the in-memory
    // index, or else from the store (re-parsed with the model's rules). nullopt: not stored.
    Result<std::optional<TxInput>> InputOfProcessed(const ScoringModel& m, const std::string& id);
    void Committed(const std::vector<std::string>& ids_done, const Result<void>& r);
    bool SnapshotDue();  // under mu
    void WakeSnapshotThread();
    void SnapshotLoop();
    Result<void> WriteSnapshot();

    // ---- reads / admin ----
    ApiResponse GetTransaction(const std::string& id);
    ApiResponse Alerts(std::string_view query);
    ApiResponse Reload(std::string_view body);
    ApiResponse Ready();
};

Result<TxInput> ScoringService::Impl::PrepareInput(FeatureEngine& eng, const TxRequest& req,
                                                   std::uint64_t seq, TxMeta* meta) {
    bool late = false;
    TxInput in = EngineInput(eng, req, seq, &late);
    if (late && late_events) late_events->Inc();
    if (meta) {
        meta->seq = seq;
        meta->ts_ms = in.ts_ms;
        std::copy(std::begin(in.keys), std::end(in.keys), meta->keys);
        meta->full = true;
    }
    return in;
}

Result<std::optional<TxInput>> ScoringService::Impl::InputOfProcessed(const ScoringModel& m,
                                                                      const std::string& id) {
    TxInput in;
    if (auto it = ids.find(id); it != ids.end() && it->second.full) {
        in.seq = it->second.seq;
        in.ts_ms = it->second.ts_ms;
        std::copy(std::begin(it->second.keys), std::end(it->second.keys), in.keys);
        return in;
    }
    std::optional<StoredTransaction> st;
    {
        std::lock_guard rl(reader_mu);
        auto got = reader->GetTransaction(id);
        if (!got) return std::unexpected(got.error());
        st = std::move(*got);
    }
    if (!st) return std::optional<TxInput>();
    auto req = m.parser.ParseTransaction(st->fields_json);
    if (!req)
        return MakeError(
            ErrorCode::kIncompatible,
            "stored transaction " + id + " does not fit the current model: " + req.error().message);
    in.seq = st->seq;
    in.ts_ms = st->ts_ms;  // the processing time it was stored with
    for (int f = 0; f < kNumKeyFields; ++f)
        if (!req->keys[f].empty())
            in.keys[f] = engine->KeyId(static_cast<KeyField>(f), req->keys[f]);
    return in;
}

void ScoringService::Impl::RememberId(const std::string& id, const TxMeta& meta) {
    auto [it, inserted] = ids.try_emplace(id, meta);
    if (!inserted) return;
    id_order.push_back(&it->first);
    while (id_order.size() > options.max_ids_in_memory) {
        ids.erase(*id_order.front());
        id_order.pop_front();
        ids_evicted = true;
    }
}

void ScoringService::Impl::Committed(const std::vector<std::string>& ids_done,
                                     const Result<void>& r) {
    std::vector<std::pair<Reply, Clock::time_point>> waiters;
    std::vector<std::string> bodies;
    {
        std::lock_guard lock(pending_mu);
        for (const auto& id : ids_done) {
            auto it = pending.find(id);
            if (it == pending.end()) continue;
            for (auto& w : it->second.waiters) {
                waiters.push_back(std::move(w));
                bodies.push_back(it->second.body);
            }
            pending.erase(it);
        }
    }
    if (!r) {
        store_failed.store(true);
        store_errors->Inc();
    }
    for (std::size_t i = 0; i < waiters.size(); ++i) {
        if (r) {
            duplicates->Inc();
            ApiResponse resp = Json(200, WithLatency(bodies[i], waiters[i].second));
            resp.headers.emplace_back("Idempotent-Replay", "true");
            waiters[i].first(std::move(resp));
        } else {
            waiters[i].first(Unavailable("storage failure: " + r.error().message));
        }
    }
}

void ScoringService::Impl::Duplicate(const std::string& id, const Reply& reply,
                                     Clock::time_point start) {
    {
        std::lock_guard lock(pending_mu);
        if (auto it = pending.find(id); it != pending.end()) {
            it->second.waiters.emplace_back(reply, start);
            return;
        }
    }
    std::optional<StoredTransaction> stored;
    {
        std::lock_guard lock(reader_mu);
        auto got = reader->GetTransaction(id);
        if (!got) return reply(Unavailable("store read failed: " + got.error().message));
        stored = std::move(*got);
    }
    if (!stored)  // remembered but not stored: its commit failed
        return reply(Unavailable("transaction " + id + " was not stored (storage failure)"));
    duplicates->Inc();
    ApiResponse resp = Json(200, WithLatency(ScoreBody(*stored), start));
    resp.headers.emplace_back("Idempotent-Replay", "true");
    reply(std::move(resp));
}

void ScoringService::Impl::ScoreOne(std::string_view body, const Reply& reply,
                                    Clock::time_point start) {
    std::shared_ptr<const ScoringModel> m = CurrentModel();
    auto req = m->parser.ParseTransaction(body);
    if (!req) return reply(ErrorReply(400, req.error().message, req.error().field));

    // Under the scoring lock: the idempotency check, the state update and the registration.
    std::unique_lock lock(mu);
    if (closing) return reply(Unavailable("server is shutting down"));
    if (model != m) {  // reloaded meanwhile: parse with the new model's rules
        m = model;
        req = m->parser.ParseTransaction(body);
        if (!req) return reply(ErrorReply(400, req.error().message, req.error().field));
    }
    bool known = ids.count(req->transaction_id) != 0;
    if (!known && ids_evicted) {
        std::lock_guard rl(reader_mu);
        auto got = reader->GetTransaction(req->transaction_id);
        if (!got) return reply(Unavailable("store read failed: " + got.error().message));
        known = got->has_value();
    }
    if (known) {
        lock.unlock();
        return Duplicate(req->transaction_id, reply, start);
    }
    if (inflight.load() >= options.max_inflight) {
        overloaded->Inc();
        return reply(Unavailable("overloaded: too many transactions waiting for the store"));
    }
    const std::uint64_t seq = last_seq + 1;
    TxMeta meta;
    auto in = PrepareInput(*engine, *req, seq, &meta);
    if (!in) return reply(ErrorReply(400, in.error().message));
    thread_local std::vector<double> row;  // read after the lock is released: one per thread
    row.resize(m->num_features);
    if (auto p = engine->Process(*in, row); !p)
        return reply(ErrorReply(422, p.error().message, "timestamp"));
    last_seq = seq;
    watermark_ms = std::max(watermark_ms, in->ts_ms);
    RememberId(req->transaction_id, meta);
    {
        std::lock_guard pl(pending_mu);
        pending[req->transaction_id];  // its answer is filled in before it is submitted
    }
    inflight.fetch_add(1);
    scored->Inc();
    Turn turn(order, order.Take());
    ++events_since_snapshot;
    const bool snapshot = SnapshotDue();
    lock.unlock();
    if (snapshot) WakeSnapshotThread();

    // Outside it: the score, the reasons and the answer, from the feature row and the model.
    double score = 0.0;
    std::string reasons;
    if (auto r =
            ScoreFeatureRows(*m, MatrixView{row.data(), 1, row.size()},
                             std::span<double>(&score, 1), std::span<std::string>(&reasons, 1));
        !r) {
        inflight.fetch_sub(1);
        Abandon({req->transaction_id}, "scoring failed: " + r.error().message);
        return reply(ErrorReply(500, "scoring failed: " + r.error().message));
    }
    const char* decision = Decide(*m, score);
    CountDecision(decision);
    StoredTransaction rec = MakeRecord(*m, *req, *in, score, decision, reasons, WallClockMs());
    std::string out = ScoreBody(rec.transaction_id, score, decision, reasons, m->version);
    std::string id = rec.transaction_id;

    turn.Wait();
    {
        std::lock_guard pl(pending_mu);
        pending[id].body = out;
    }
    const bool queued = writer->Submit(std::move(rec), [this, id, out = std::move(out), reply,
                                                        start](const Result<void>& r) mutable {
        inflight.fetch_sub(1);
        if (r) {
            const auto elapsed = Clock::now() - start;
            score_latency->Observe(std::chrono::duration<double>(elapsed).count());
            reply(Json(200, WithLatency(std::move(out), start)));
        } else {
            reply(Unavailable("storage failure: " + r.error().message));
        }
        Committed({id}, r);
    });
    if (!queued) {
        // Only when the writer is closed; the state already holds the transaction.
        inflight.fetch_sub(1);
        store_failed.store(true);
        Abandon({id}, "store writer closed");
        reply(Unavailable("store writer closed"));
    }
}

void ScoringService::Impl::ScoreBatch(std::string_view body, const Reply& reply,
                                      Clock::time_point start) {
    std::shared_ptr<const ScoringModel> m = CurrentModel();
    auto reqs = m->parser.ParseBatch(body);
    if (!reqs) return reply(ErrorReply(400, reqs.error().message, reqs.error().field));

    std::unique_lock lock(mu);
    if (closing) return reply(Unavailable("server is shutting down"));
    if (model != m) {
        m = model;
        reqs = m->parser.ParseBatch(body);
        if (!reqs) return reply(ErrorReply(400, reqs.error().message, reqs.error().field));
    }
    const std::size_t n = reqs->size();
    if (inflight.load() + n > options.max_inflight) {
        overloaded->Inc();
        return reply(Unavailable("overloaded: too many transactions waiting for the store"));
    }
    std::vector<std::size_t> fresh;
    std::vector<std::ptrdiff_t> same_as(n, -1);  // index of the earlier entry with the same id
    // Entries seen before whose answer another request is still computing: looked up again when
    // this batch's turn to submit comes (every earlier request has filled its answers by then).
    std::vector<std::size_t> later;
    // Which entries are new: not seen before and not repeated earlier in this batch. Entries
    // seen before get their stored (or pending) answers now, before anything changes the state,
    // so a failure here leaves nothing half done.
    std::vector<std::string> bodies(n);
    {
        std::unordered_map<std::string_view, std::size_t> in_batch;
        for (std::size_t i = 0; i < n; ++i) {
            const auto& id = (*reqs)[i].transaction_id;
            if (auto it = in_batch.find(id); it != in_batch.end()) {
                same_as[i] = static_cast<std::ptrdiff_t>(it->second);
                continue;
            }
            in_batch.emplace(id, i);
            std::optional<StoredTransaction> stored;
            bool known = ids.count(id) != 0;
            if (!known && ids_evicted) {
                std::lock_guard rl(reader_mu);
                auto got = reader->GetTransaction(id);
                if (!got) return reply(Unavailable("store read failed: " + got.error().message));
                stored = std::move(*got);
                known = stored.has_value();
            }
            if (!known) {
                fresh.push_back(i);
                continue;
            }
            {
                // Pending: committed no later than this batch (commits keep submission order).
                std::lock_guard pl(pending_mu);
                if (auto it = pending.find(id); it != pending.end()) {
                    if (it->second.body.empty())
                        later.push_back(i);
                    else
                        bodies[i] = it->second.body;
                    continue;
                }
            }
            if (!stored) {
                std::lock_guard rl(reader_mu);
                auto got = reader->GetTransaction(id);
                if (!got) return reply(Unavailable("store read failed: " + got.error().message));
                stored = std::move(*got);
            }
            if (!stored)
                return reply(Unavailable("transaction " + id + " was not stored (storage failure)",
                                         "transactions[" + std::to_string(i) + "]"));
            bodies[i] = ScoreBody(*stored);
        }
    }
    // Features for the new ones, in order.
    Matrix features(fresh.size(), m->num_features);
    std::vector<TxInput> inputs(fresh.size());
    std::optional<ApiResponse> failure;  // an entry the state refused: answered after the rest
    for (std::size_t j = 0; j < fresh.size(); ++j) {
        TxMeta meta;
        auto in = PrepareInput(*engine, (*reqs)[fresh[j]], last_seq + 1, &meta);
        if (in) {
            auto p = engine->Process(*in, features.Row(j));
            if (!p) in = std::unexpected(p.error());
        }
        if (!in) {
            // The first j entries are already in the state: keep them (and store them); answer
            // the request with the error.
            failure = ErrorReply(422, in.error().message,
                                 "transactions[" + std::to_string(fresh[j]) + "]");
            fresh.resize(j);
            break;
        }
        last_seq = in->seq;
        watermark_ms = std::max(watermark_ms, in->ts_ms);
        inputs[j] = *in;
        RememberId((*reqs)[fresh[j]].transaction_id, meta);
    }
    const std::size_t nf = fresh.size();
    // Each new entry's pending slot, filled at this batch's turn: only this request erases it
    // before it is submitted (Abandon), and a map node does not move when the map rehashes.
    std::vector<Pending*> slots(nf);
    {
        std::lock_guard pl(pending_mu);
        for (std::size_t j = 0; j < nf; ++j) slots[j] = &pending[(*reqs)[fresh[j]].transaction_id];
    }
    inflight.fetch_add(nf);
    scored->Inc(nf);
    if (!failure) duplicates->Inc(n - nf);
    Turn turn(order, order.Take());
    events_since_snapshot += nf;
    const bool snapshot = SnapshotDue();
    lock.unlock();
    if (snapshot) WakeSnapshotThread();

    // Scores, reasons, records and answers depend on the feature rows and the model only: they
    // are computed outside the scoring lock, in chunks of rows on up to batch_threads threads.
    std::vector<double> scores(nf);
    std::vector<std::string> reasons(nf);
    std::vector<StoredTransaction> recs(nf);
    const std::int64_t now = WallClockMs();
    const unsigned chunks = nf >= kParallelBatchRows ? batch_threads : 1u;
    std::vector<std::optional<Error>> failed(chunks);
    if (nf > 0)
        ParallelChunks(nf, chunks, [&](std::size_t b, std::size_t e, unsigned c) {
            if (auto r = ScoreFeatureRows(*m, features.View().Slice(b, e),
                                          std::span<double>(scores).subspan(b, e - b),
                                          std::span<std::string>(reasons).subspan(b, e - b));
                !r) {
                failed[c] = r.error();
                return;
            }
            for (std::size_t j = b; j < e; ++j) {
                const char* decision = Decide(*m, scores[j]);
                recs[j] = MakeRecord(*m, (*reqs)[fresh[j]], inputs[j], scores[j], decision,
                                     std::move(reasons[j]), now);
                bodies[fresh[j]] = ScoreBody(recs[j].transaction_id, scores[j], decision,
                                             recs[j].reasons_json, m->version);
            }
        });
    auto fresh_id_list = [&] {
        std::vector<std::string> v(nf);
        for (std::size_t j = 0; j < nf; ++j) v[j] = (*reqs)[fresh[j]].transaction_id;
        return v;
    };
    std::vector<std::string> fresh_ids = fresh_id_list();
    for (const auto& f : failed) {
        if (!f) continue;
        inflight.fetch_sub(nf);
        Abandon(fresh_ids, "scoring failed: " + f->message);
        return reply(ErrorReply(500, "scoring failed: " + f->message));
    }
    for (const auto& rec : recs) CountDecision(rec.decision.c_str());

    turn.Wait();
    // The answers other requests were computing: filled in by now, or committed (stored), or
    // abandoned (then this request fails too, after its own new entries are submitted).
    for (const std::size_t i : later) {
        const auto& id = (*reqs)[i].transaction_id;
        {
            std::lock_guard pl(pending_mu);
            if (auto it = pending.find(id); it != pending.end() && !it->second.body.empty()) {
                bodies[i] = it->second.body;
                continue;
            }
        }
        std::lock_guard rl(reader_mu);
        auto got = reader->GetTransaction(id);
        if (got && *got) {
            bodies[i] = ScoreBody(**got);
        } else if (!failure) {
            failure = Unavailable(got ? "transaction " + id + " was not stored (storage failure)"
                                      : "store read failed: " + got.error().message,
                                  "transactions[" + std::to_string(i) + "]");
        }
    }
    std::string out;
    if (!failure) {
        for (std::size_t i = 0; i < n; ++i)
            if (same_as[i] >= 0) bodies[i] = bodies[static_cast<std::size_t>(same_as[i])];
        std::size_t size = 64 + m->version.size();  // the frame, the version, latency_us
        for (const auto& b : bodies) size += b.size() + 2;
        out.reserve(size);
        out = "{\"results\":[";
        for (std::size_t i = 0; i < n; ++i) {
            if (i) out += ',';
            out += bodies[i];
            out += '}';
        }
        out += "],\"model_version\":";
        AppendJsonString(out, m->version);
    }
    {
        std::lock_guard pl(pending_mu);  // the answers, for retries waiting on them
        for (std::size_t j = 0; j < nf; ++j) slots[j]->body = std::move(bodies[fresh[j]]);
    }
    const bool queued = writer->SubmitBatch(
        std::move(recs), {},
        [this, fresh_ids = std::move(fresh_ids), out = std::move(out), failure = std::move(failure),
         reply, start, nf](const Result<void>& r) mutable {
            inflight.fetch_sub(nf);
            if (!r)
                reply(Unavailable("storage failure: " + r.error().message));
            else if (failure)
                reply(*failure);
            else
                reply(Json(200, WithLatency(std::move(out), start)));
            Committed(fresh_ids, r);
        });
    if (!queued) {
        inflight.fetch_sub(nf);
        store_failed.store(true);
        Abandon(fresh_id_list(), "store writer closed");
        return reply(Unavailable("store writer closed"));
    }
}

void ScoringService::Impl::Abandon(const std::vector<std::string>& ids_gone,
                                   const std::string& why) {
    std::vector<Reply> waiters;
    {
        std::lock_guard lock(pending_mu);
        for (const auto& id : ids_gone) {
            auto it = pending.find(id);
            if (it == pending.end()) continue;
            for (auto& w : it->second.waiters) waiters.push_back(std::move(w.first));
            pending.erase(it);
        }
    }
    for (auto& w : waiters) w(Unavailable(why));
}

void ScoringService::Impl::Labels(std::string_view body, const Reply& reply) {
    std::shared_ptr<const ScoringModel> m = CurrentModel();
    auto labels = m->parser.ParseLabels(body);
    if (!labels) return reply(ErrorReply(400, labels.error().message, labels.error().field));
    std::unique_lock lock(mu);
    if (closing) return reply(Unavailable("server is shutting down"));
    if (inflight.load() + labels->size() > options.max_inflight) {
        overloaded->Inc();
        return reply(Unavailable("overloaded: too many records waiting for the store"));
    }
    // Resolve every transaction first: nothing is applied unless all are known.
    std::vector<TxInput> txs(labels->size());
    for (std::size_t i = 0; i < labels->size(); ++i) {
        const auto& l = (*labels)[i];
        const std::string field = labels->size() == 1 && i == 0
                                      ? std::string("transaction_id")
                                      : "labels[" + std::to_string(i) + "].transaction_id";
        auto in = InputOfProcessed(*m, l.transaction_id);
        if (!in) {
            if (in.error().code == ErrorCode::kIncompatible)
                return reply(ErrorReply(409, in.error().message, field));
            return reply(Unavailable("store read failed: " + in.error().message));
        }
        if (!*in) {
            bool pending_now;
            {
                std::lock_guard pl(pending_mu);
                pending_now = pending.count(l.transaction_id) != 0;
            }
            return reply(ErrorReply(pending_now ? 409 : 404,
                                    pending_now ? "transaction is still being stored; retry"
                                                : "unknown transaction_id " + l.transaction_id,
                                    field));
        }
        txs[i] = **in;
        if (l.known_at_ms >= 0 && l.known_at_ms < txs[i].ts_ms)
            return reply(ErrorReply(400, "known_at precedes the transaction's time",
                                    labels->size() == 1
                                        ? std::string("known_at")
                                        : "labels[" + std::to_string(i) + "].known_at"));
    }
    std::vector<StoredLabel> recs(labels->size());
    const std::int64_t now = WallClockMs();
    for (std::size_t i = 0; i < labels->size(); ++i) {
        const auto& l = (*labels)[i];
        const std::int64_t known_at =
            l.known_at_ms >= 0 ? l.known_at_ms : std::max(watermark_ms, txs[i].ts_ms);
        auto added = engine->AddLabel(txs[i], l.label, known_at);
        if (!added) return reply(ErrorReply(400, added.error().message));
        recs[i] = StoredLabel{++last_seq, l.transaction_id, l.label, known_at, now};
    }
    labels_total->Inc(recs.size());
    const std::size_t count = recs.size();
    inflight.fetch_add(count);
    Turn turn(order, order.Take());
    events_since_snapshot += count;
    const bool snapshot = SnapshotDue();
    lock.unlock();
    if (snapshot) WakeSnapshotThread();
    turn.Wait();
    const bool queued =
        writer->SubmitBatch({}, std::move(recs), [this, reply, count](const Result<void>& r) {
            inflight.fetch_sub(count);
            if (r)
                reply(Json(200, "{\"accepted\":" + std::to_string(count) + "}"));
            else
                reply(Unavailable("storage failure: " + r.error().message));
        });
    if (!queued) {
        inflight.fetch_sub(count);
        store_failed.store(true);
        return reply(Unavailable("store writer closed"));
    }
}

// ---- snapshots and restore ---------------------------------------------------------------------

bool ScoringService::Impl::SnapshotDue() {
    if (options.snapshot_every == 0 || events_since_snapshot < options.snapshot_every) return false;
    events_since_snapshot = 0;
    return true;
}

void ScoringService::Impl::WakeSnapshotThread() {
    std::lock_guard lock(snap_mu);
    snap_wanted = true;
    snap_cv.notify_one();
}

Result<void> ScoringService::Impl::WriteSnapshot() {
    // The state is written in steps of kStepBytes with the scoring lock released between them
    // (FeatureEngine::BeginSnapshot: an entity about to change is written first), and each step's
    // bytes go to the store's sink outside the lock: on SQLite, a file beside the database.
    // Whole, a snapshot of 260 MB held the lock for 149 ms, needed a buffer as big, faulted in
    // before each snapshot, and went through the database's log, whose writes and checkpoint
    // copies stalled the store writer (docs/benchmarks.md, session 11).
    constexpr std::size_t kStepBytes = 512 << 10;
    const auto t0 = Clock::now();
    Clock::duration longest{};
    const auto locked = [&](auto&& f) {
        std::lock_guard lock(mu);
        const auto start = Clock::now();
        f();
        longest = std::max(longest, Clock::now() - start);
    };
    StoredSnapshot head;
    std::uint64_t horizon = 0;
    locked([&] {
        head.seq = last_seq;
        head.model_key = model->spec_key;
        engine->BeginSnapshot();
        horizon = order.Issued();
    });
    head.created_ms = WallClockMs();
    // Until the last step, every entity change may copy the entity: end the snapshot on failure.
    const auto abandon = [&](Error e) -> Result<void> {
        locked([&] { engine->AbandonSnapshot(); });
        return std::unexpected(std::move(e));
    };
    auto sink = snap_store->OpenSnapshot(head);
    if (!sink) return abandon(sink.error());
    std::uint64_t bytes = 0;
    for (bool done = false; !done;) {
        locked([&] { done = engine->SnapshotStep(snapshot_piece, kStepBytes); });
        bytes += snapshot_piece.size();
        if (auto a = (*sink)->Append(snapshot_piece); !a) {
            if (done) return a;
            return abandon(a.error());
        }
        std::this_thread::yield();  // let the requests that waited take the lock
    }
    snapshot_lock_seconds->Set(std::chrono::duration<double>(longest).count());
    snapshot_bytes->Set(static_cast<double>(bytes));
    // Every event up to head.seq has a ticket below the horizon: once those are submitted (in
    // seq order) and the writer, which commits in submission order, has flushed, they are all
    // stored, so the snapshot never covers an event the store lacks.
    order.WaitAllBefore(horizon);
    writer->Flush();
    if (store_failed.load())
        return MakeError(ErrorCode::kIo, "not writing a snapshot after a storage failure");
    auto put = (*sink)->Commit();
    snapshot_seconds->Set(std::chrono::duration<double>(Clock::now() - t0).count());
    return put;
}

void ScoringService::Impl::SnapshotLoop() {
    // Also checkpoints the store's log every kCheckpointInterval: the writer's connection has
    // automatic checkpoints off, so no commit runs one itself. A checkpoint's fsyncs still stall
    // the writer's log writes while they run, and the stall grows with the pages copied since the
    // last one: with checkpoints twice a second, single requests at ~19k/s had p99 6.6-8.0 ms and
    // p99.9 17-20 ms; every 100 ms, p99 4.9-5.1 and p99.9 7.2-7.3 (no checkpoint at all: p99 3.0;
    // every 25 ms or 200 ms: worse tails than 100). Interleaved 20 s runs, docs/benchmarks.md.
    constexpr auto kCheckpointInterval = std::chrono::milliseconds(100);
    std::unique_lock lock(snap_mu);
    while (true) {
        snap_cv.wait_for(lock, kCheckpointInterval, [&] { return snap_wanted || snap_quit; });
        if (snap_quit) return;
        const bool snapshot = snap_wanted;
        snap_wanted = false;
        lock.unlock();
        if (snapshot) {
            if (!WriteSnapshot()) store_errors->Inc();
        }
        if (!snap_store->Checkpoint()) store_errors->Inc();
        lock.lock();
    }
}

Result<void> ScoringService::Impl::Restore() {
    const ScoringModel& m = *model;
    engine = std::make_unique<FeatureEngine>(m.bundle.features);
    auto restored = RestoreLatestSnapshot(*engine, *reader, 0, m.spec_key, &snapshot_skipped);
    if (!restored) return std::unexpected(restored.error());
    const std::uint64_t from = *restored;
    // Idempotency index: every stored id (keys and times only for replayed events).
    std::size_t n_ids = 0;
    TXG_RETURN_IF_ERROR(reader->ForEachTransactionId([&](std::string_view id, std::uint64_t seq) {
        TxMeta meta;
        meta.seq = seq;
        RememberId(std::string(id), meta);
        ++n_ids;
    }));
    last_seq = from;
    std::vector<double> buf(m.num_features);
    TXG_RETURN_IF_ERROR(reader->ForEachEvent(from, [&](const StoredEvent& ev) -> Result<void> {
        ++restored_events;
        if (ev.transaction) {
            const auto& st = *ev.transaction;
            auto in = ReplayStoredTransaction(*engine, m, st, buf);
            if (!in) return std::unexpected(in.error());
            TxMeta meta;
            meta.seq = st.seq;
            meta.ts_ms = in->ts_ms;
            std::copy(std::begin(in->keys), std::end(in->keys), meta.keys);
            meta.full = true;
            if (auto it = ids.find(st.transaction_id); it != ids.end()) it->second = meta;
            watermark_ms = std::max(watermark_ms, in->ts_ms);
            last_seq = std::max(last_seq, st.seq);
        } else {
            const auto& l = *ev.label;
            auto found = InputOfProcessed(m, l.transaction_id);
            if (!found) return std::unexpected(found.error());
            if (!*found) return Ok();  // a label of a transaction never stored: nothing to replay
            const TxInput& in = **found;
            TXG_RETURN_IF_ERROR(engine->AddLabel(in, l.label, std::max(l.known_at_ms, in.ts_ms)));
            last_seq = std::max(last_seq, l.seq);
        }
        return Ok();
    }));
    auto max_seq = reader->MaxSeq();
    if (!max_seq) return std::unexpected(max_seq.error());
    last_seq = std::max(last_seq, *max_seq);
    (void)n_ids;
    return Ok();
}

// ---- metrics -----------------------------------------------------------------------------------

void ScoringService::Impl::SetupMetrics() {
    std::vector<double> bounds = {50e-6, 100e-6, 250e-6, 500e-6, 1e-3,   2.5e-3, 5e-3,
                                  10e-3, 25e-3,  50e-3,  100e-3, 250e-3, 1.0};
    score_latency = &metrics.AddHistogram(
        "txguard_score_latency_seconds",
        "Time from reading a scoring request to its answer, store commit included", bounds);
    const char* names[3] = {"allow", "review", "block"};
    for (int i = 0; i < 3; ++i)
        decisions[i] = &metrics.AddCounter("txguard_decisions_total", "Decisions made",
                                           std::string("decision=\"") + names[i] + "\"");
    scored = &metrics.AddCounter("txguard_transactions_scored_total",
                                 "Transactions scored (retries not counted)");
    duplicates = &metrics.AddCounter("txguard_idempotent_replays_total",
                                     "Retried transaction ids answered with the stored result");
    late_events = &metrics.AddCounter(
        "txguard_late_events_total",
        "Transactions older than their customer's or terminal's latest, processed at that time");
    labels_total = &metrics.AddCounter("txguard_labels_total", "Labels accepted");
    overloaded = &metrics.AddCounter("txguard_overload_rejections_total",
                                     "Requests refused with 503 because the store queue is full");
    store_errors = &metrics.AddCounter("txguard_store_errors_total", "Failed store commits");
    reloads = &metrics.AddCounter("txguard_model_reloads_total", "Successful model reloads");
    snapshot_lock_seconds =
        &metrics.AddGauge("txguard_snapshot_lock_seconds",
                          "The longest the latest feature-state snapshot held the scoring lock "
                          "at once (it is written in steps)");
    snapshot_seconds = &metrics.AddGauge(
        "txguard_snapshot_seconds",
        "Duration of the latest feature-state snapshot, its store write included");
    snapshot_bytes =
        &metrics.AddGauge("txguard_snapshot_bytes", "Size of the latest feature-state snapshot");
    metrics.AddCallbackGauge("txguard_store_queue_depth",
                             "Records waiting for the store's group commit (storage lag)",
                             [this] { return static_cast<double>(writer->QueueDepth()); });
    metrics.AddCallbackGauge("txguard_store_last_commit_seconds",
                             "Duration of the latest group commit",
                             [this] { return writer->LastCommitSeconds(); });
    metrics.AddCallbackGauge("txguard_store_committed_records", "Records committed since start",
                             [this] { return static_cast<double>(writer->CommittedRecords()); });
    metrics.AddCallbackGauge("txguard_store_commits", "Group commits since start",
                             [this] { return static_cast<double>(writer->Commits()); });
    metrics.AddCallbackGauge(
        "txguard_store_log_bytes",
        "Size of the store's write-ahead log at the latest checkpoint (SQLite; restarted at "
        "wal_limit_mb)",
        [this] { return static_cast<double>(snap_store->LogBytes()); });
    metrics.AddCallbackGauge("txguard_store_log_restarts",
                             "Times the checkpoints restarted the store's write-ahead log",
                             [this] { return static_cast<double>(snap_store->LogRestarts()); });
    metrics.AddCallbackGauge("txguard_inflight_transactions",
                             "Transactions scored and waiting for their commit",
                             [this] { return static_cast<double>(inflight.load()); });
}

Counter& ScoringService::Impl::RequestCounter(std::string_view path, int status) {
    std::string key = std::string(path) + " " + std::to_string(status);
    std::lock_guard lock(counters_mu);
    auto it = request_counters.find(key);
    if (it != request_counters.end()) return *it->second;
    auto& c = metrics.AddCounter(
        "txguard_http_requests_total", "HTTP requests by route and status",
        "path=\"" + std::string(path) + "\",code=\"" + std::to_string(status) + "\"");
    request_counters.emplace(std::move(key), &c);
    return c;
}

Counter& ScoringService::Impl::RequestCounter(std::size_t route_index, std::string_view path,
                                              int status) {
    if (status != 200 || route_index >= ok_counters.size()) return RequestCounter(path, status);
    if (Counter* c = ok_counters[route_index].load(std::memory_order_acquire)) return *c;
    Counter& c = RequestCounter(path, status);
    ok_counters[route_index].store(&c, std::memory_order_release);
    return c;
}

// ---- reads and admin ---------------------------------------------------------------------------

ApiResponse ScoringService::Impl::GetTransaction(const std::string& id) {
    std::optional<StoredTransaction> st;
    std::optional<StoredLabel> label;
    {
        std::lock_guard rl(reader_mu);
        auto got = reader->GetTransaction(id);
        if (!got) return Unavailable("store read failed: " + got.error().message);
        st = std::move(*got);
        if (st) {
            auto l = reader->GetLabel(id);
            if (!l) return Unavailable("store read failed: " + l.error().message);
            label = std::move(*l);
        }
    }
    if (!st) return ErrorReply(404, "no stored transaction " + id, "transaction_id");
    std::string s = ScoreBody(*st);
    s += ",\"seq\":" + std::to_string(st->seq);
    s += ",\"timestamp\":";
    AppendJsonString(s, FormatTimestamp(st->ts_ms));
    s += ",\"received_at\":";
    AppendJsonString(s, FormatTimestamp(st->received_ms));
    s += ",\"request\":" + st->fields_json;
    if (label) {
        s += ",\"label\":" + std::to_string(label->label) + ",\"label_known_at\":";
        AppendJsonString(s, FormatTimestamp(label->known_at_ms));
    } else {
        s += ",\"label\":null";
    }
    s += '}';
    return Json(200, std::move(s));
}

ApiResponse ScoringService::Impl::Alerts(std::string_view query) {
    AlertQuery q;
    if (auto since = QueryParam(query, "since")) {
        if (!since->empty()) {
            auto ts = ParseTimestamp(*since);
            if (!ts) return ErrorReply(400, "since: " + ts.error().message, "since");
            q.since_ms = *ts;
        }
    }
    if (auto limit = QueryParam(query, "limit")) {
        std::size_t v = 0;
        auto [p, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), v);
        if (ec != std::errc() || p != limit->data() + limit->size() || v == 0 || v > 10000)
            return ErrorReply(400, "limit: expected an integer in [1, 10000]", "limit");
        q.limit = v;
    }
    std::vector<StoredTransaction> rows;
    {
        std::lock_guard rl(reader_mu);
        auto got = reader->Alerts(q);
        if (!got) return Unavailable("store read failed: " + got.error().message);
        rows = std::move(*got);
    }
    std::string s = "{\"alerts\":[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& st = rows[i];
        if (i) s += ',';
        s += ScoreBody(st);
        s += ",\"timestamp\":";
        AppendJsonString(s, FormatTimestamp(st.ts_ms));
        s += ",\"customer_id\":";
        AppendJsonString(s, st.customer_id);
        s += ",\"terminal_id\":";
        AppendJsonString(s, st.terminal_id);
        s += ",\"amount\":";
        AppendJsonNumber(s, st.amount);
        s += '}';
    }
    s += "],\"count\":" + std::to_string(rows.size());
    if (!rows.empty()) {
        // Epoch seconds with milliseconds, just after the last row's time: the next page.
        const std::int64_t next = rows.back().ts_ms + 1;
        char buf[48];
        std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(next / 1000),
                      static_cast<long long>(next % 1000));
        s += ",\"next_since\":";
        AppendJsonString(s, buf);
    }
    s += '}';
    return Json(200, std::move(s));
}

ApiResponse ScoringService::Impl::Reload(std::string_view body) {
    std::string path;
    {
        std::lock_guard lock(mu);
        path = model->path;
    }
    if (!body.empty()) {
        auto j = nlohmann::json::parse(body, nullptr, false);
        if (j.is_discarded() || !j.is_object())
            return ErrorReply(400, "expected a JSON object {\"model\": \"path\"}", "");
        for (auto& [k, v] : j.items()) {
            if (k != "model") return ErrorReply(400, "unknown field " + k, k);
            if (!v.is_string() || v.get<std::string>().empty())
                return ErrorReply(400, "model: expected a file path", "model");
            path = v.get<std::string>();
        }
    }
    auto loaded = LoadScoringModel(path, ScoringOptionsOf(options));
    if (!loaded)
        return ErrorReply(
            422, "model refused, the current one keeps serving: " + loaded.error().ToString(),
            "model");
    std::string old_version;
    {
        std::lock_guard lock(mu);
        old_version = model->version;
        if ((*loaded)->spec_key != model->spec_key)
            return ErrorReply(422,
                              "model refused, the current one keeps serving: its feature spec "
                              "differs from the served model's, so the live state does not "
                              "fit it; restart the server with it (the state is rebuilt from "
                              "the store)",
                              "model");
        std::lock_guard ml(model_mu);
        model = *loaded;  // requests after this line use the new model; earlier ones the old
    }
    reloads->Inc();
    std::string s = "{\"model_version\":";
    AppendJsonString(s, (*loaded)->version);
    s += ",\"previous_model_version\":";
    AppendJsonString(s, old_version);
    s += '}';
    return Json(200, std::move(s));
}

ApiResponse ScoringService::Impl::Ready() {
    std::string version;
    bool closing_now;
    {
        std::lock_guard lock(mu);
        version = model->version;
        closing_now = closing;
    }
    if (closing_now) return Unavailable("shutting down");
    if (store_failed.load()) return Unavailable("the store failed a commit; see the log");
    if (inflight.load() >= options.max_inflight) return Unavailable("overloaded");
    std::string s = "{\"status\":\"ready\",\"model_version\":";
    AppendJsonString(s, version);
    s += '}';
    return Json(200, std::move(s));
}

// ---- public ------------------------------------------------------------------------------------

ScoringService::ScoringService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ScoringService::~ScoringService() { Close(); }

Result<std::unique_ptr<ScoringService>> ScoringService::Open(const ServeOptions& options) {
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->batch_threads = std::min(ResolveThreads(options.threads), ResolveThreads(0));
    if (!options.tokens_file.empty()) {
        auto t = TokenSet::FromFile(options.tokens_file);
        if (!t) return std::unexpected(t.error());
        impl->tokens = std::move(*t);
    } else if (!options.tokens_env.empty()) {
        auto t = TokenSet::FromEnv(options.tokens_env);
        if (!t) return std::unexpected(t.error());
        impl->tokens = std::move(*t);
    }
    impl->warnings = impl->tokens.warnings();
    auto m = LoadScoringModel(options.model_path, ScoringOptionsOf(options));
    if (!m) return std::unexpected(m.error());
    impl->model = *m;
    auto reader = OpenStore(options.db_url);
    if (!reader) return std::unexpected(reader.error());
    impl->reader = std::move(*reader);
    auto snap_store = OpenStore(options.db_url);
    if (!snap_store) return std::unexpected(snap_store.error());
    impl->snap_store = std::move(*snap_store);
    auto write_store = OpenStore(options.db_url);
    if (!write_store) return std::unexpected(write_store.error());
    impl->SetupMetrics();
    // Buckets for every id the index may hold, allocated once: growing the table rehashes every
    // id under the scoring lock, pausing every request (measured on the 2-core VM: 155 ms at 0.7M
    // ids, 356 ms at 1.4M, 788 ms at 2.9M; docs/benchmarks.md).
    impl->ids.reserve(std::min<std::size_t>(options.max_ids_in_memory, std::size_t{1} << 23));
    TXG_RETURN_IF_ERROR(impl->Restore());
    (*write_store)->SetAutoCheckpoint(false);  // the snapshot thread checkpoints
    // Admission (max_inflight) is checked before a request changes the state; the writer's queue
    // must hold everything admitted, or an admitted record could be refused after the fact.
    StoreWriterOptions wopt = options.writer;
    wopt.max_queue = std::max(wopt.max_queue, options.max_inflight + RequestLimits{}.max_batch);
    impl->writer = std::make_unique<StoreWriter>(std::move(*write_store), wopt);
    Impl* raw = impl.get();
    impl->snap_thread = std::thread([raw] { raw->SnapshotLoop(); });
    return std::unique_ptr<ScoringService>(new ScoringService(std::move(impl)));
}

void ScoringService::Close() {
    if (!impl_) return;
    auto& s = *impl_;
    std::uint64_t horizon = 0;
    {
        std::lock_guard lock(s.mu);
        if (s.closing) return;
        s.closing = true;
        horizon = s.order.Issued();
    }
    {
        std::lock_guard lock(s.snap_mu);
        s.snap_quit = true;
        s.snap_cv.notify_one();
    }
    if (s.snap_thread.joinable()) s.snap_thread.join();
    // Commit everything accepted (answering its requests), then the final snapshot.
    s.order.WaitAllBefore(horizon);
    s.writer->Flush();
    if (!s.store_failed.load()) (void)s.WriteSnapshot();
    s.writer->Close();
    (void)s.snap_store->Checkpoint();
}

bool ScoringService::AuthConfigured() const { return !impl_->tokens.empty(); }
std::vector<std::string> ScoringService::Warnings() const { return impl_->warnings; }
std::string ScoringService::ModelVersion() const {
    std::lock_guard lock(impl_->mu);
    return impl_->model->version;
}
std::uint64_t ScoringService::RestoredEvents() const { return impl_->restored_events; }
const std::string& ScoringService::SnapshotSkipped() const { return impl_->snapshot_skipped; }

void ScoringService::Handle(std::string_view method, std::string_view target,
                            std::string_view authorization, std::string body, const Reply& reply) {
    auto& s = *impl_;
    const auto start = Clock::now();
    const auto q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query =
        q == std::string_view::npos ? std::string_view() : target.substr(q + 1);

    // The route's name for metrics (bounded label values).
    std::string_view route = "other";
    Role need = Role::kScoring;
    bool needs_auth = true;
    enum class Op {
        kScore,
        kBatch,
        kLabels,
        kAlerts,
        kTx,
        kHealth,
        kReady,
        kMetrics,
        kOpenApi,
        kReload,
        kNone
    } op = Op::kNone;
    std::string_view expect = "POST";
    if (path == "/v1/score") {
        op = Op::kScore;
        route = "/v1/score";
    } else if (path == "/v1/score/batch") {
        op = Op::kBatch;
        route = "/v1/score/batch";
    } else if (path == "/v1/labels") {
        op = Op::kLabels;
        route = "/v1/labels";
    } else if (path == "/v1/alerts") {
        op = Op::kAlerts;
        route = "/v1/alerts";
        expect = "GET";
    } else if (path.starts_with("/v1/transactions/")) {
        op = Op::kTx;
        route = "/v1/transactions/{id}";
        expect = "GET";
    } else if (path == "/healthz") {
        op = Op::kHealth;
        route = path;
        expect = "GET";
        needs_auth = false;
    } else if (path == "/readyz") {
        op = Op::kReady;
        route = path;
        expect = "GET";
        needs_auth = false;
    } else if (path == "/metrics") {
        op = Op::kMetrics;
        route = path;
        expect = "GET";
        needs_auth = false;
    } else if (path == "/openapi.json") {
        op = Op::kOpenApi;
        route = path;
        expect = "GET";
        needs_auth = false;
    } else if (path == "/v1/admin/reload") {
        op = Op::kReload;
        route = path;
        need = Role::kAdmin;
    }

    Impl* impl = &s;
    const auto route_index = static_cast<std::size_t>(op);
    auto counted = [impl, route, route_index, reply](ApiResponse r) {
        impl->RequestCounter(route_index, route, r.status).Inc();
        reply(std::move(r));
    };
    if (op == Op::kNone) return counted(ErrorReply(404, "no route " + std::string(path), ""));
    if (method != expect) {
        auto r = ErrorReply(405, "method " + std::string(method) + " not allowed on " +
                                     std::string(path) + "; use " + std::string(expect));
        r.headers.emplace_back("Allow", std::string(expect));
        return counted(std::move(r));
    }
    if (needs_auth && !s.tokens.empty()) {
        auto role = s.tokens.Check(authorization);
        if (!role) {
            auto r = ErrorReply(
                401, authorization.empty() ? "missing bearer token" : "invalid bearer token",
                "Authorization");
            r.headers.emplace_back("WWW-Authenticate", "Bearer");
            return counted(std::move(r));
        }
        if (!TokenSet::Allows(*role, need))
            return counted(
                ErrorReply(403, "this token may not use " + std::string(path), "Authorization"));
    }
    switch (op) {
        case Op::kScore:
            return s.ScoreOne(body, counted, start);
        case Op::kBatch:
            return s.ScoreBatch(body, counted, start);
        case Op::kLabels:
            return s.Labels(body, counted);
        case Op::kAlerts:
            return counted(s.Alerts(query));
        case Op::kTx: {
            const std::string id =
                Percent(path.substr(std::string_view("/v1/transactions/").size()), false);
            if (id.empty())
                return counted(ErrorReply(400, "empty transaction id", "transaction_id"));
            return counted(s.GetTransaction(id));
        }
        case Op::kHealth:
            return counted(Json(200, R"({"status":"ok"})"));
        case Op::kReady:
            return counted(s.Ready());
        case Op::kMetrics: {
            ApiResponse r;
            r.body = s.metrics.Render();
            r.content_type = "text/plain; version=0.0.4";
            return counted(std::move(r));
        }
        case Op::kOpenApi: {
            std::shared_ptr<const ScoringModel> m = s.CurrentModel();
            return counted(Json(200, OpenApiDocument(m->parser.RequiredFields(),
                                                     m->bundle.features.extra_columns, kVersion)));
        }
        case Op::kReload:
            return counted(s.Reload(body));
        case Op::kNone:
            break;
    }
}

}  // namespace txguard
