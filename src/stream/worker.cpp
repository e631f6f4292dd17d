#include "txguard/stream/worker.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "txguard/core/allocator.hpp"
#include "txguard/features/feature_engine.hpp"

namespace txguard {

namespace {

using Clock = std::chrono::steady_clock;

struct PartitionState {
    std::unique_ptr<FeatureEngine> engine;
    std::uint64_t last_seq = 0;
    std::uint64_t since_snapshot = 0;
    std::unordered_set<std::string> ids;  // stored transaction ids of the partition
};

class Worker {
  public:
    Worker(const StreamWorkerOptions& o, StreamTransport& t, std::shared_ptr<const ScoringModel> m,
           std::unique_ptr<Store> store)
        : o_(o), t_(t), m_(std::move(m)), store_(std::move(store)) {}

    Result<StreamWorkerStats> Run(const std::atomic<bool>& stop) {
        const auto start = Clock::now();
        auto last_hb = Clock::time_point{};
        while (!stop.load()) {
            if (Clock::now() - last_hb >= o_.heartbeat) {
                TXG_RETURN_IF_ERROR(Heartbeat());
                last_hb = Clock::now();
            }
            auto entries = t_.Read(o_.batch, o_.block);
            if (!entries) return std::unexpected(entries.error());
            if (entries->empty()) {
                if (t_.Owned().empty()) std::this_thread::sleep_for(o_.block);
                continue;
            }
            TXG_RETURN_IF_ERROR(Process(*entries));
        }
        // Clean shutdown: everything read is committed (Process returned); save and hand over.
        for (auto& [p, st] : parts_) TXG_RETURN_IF_ERROR(Snapshot(p, st));
        TXG_RETURN_IF_ERROR(t_.Leave());
        stats_.released += parts_.size();
        parts_.clear();
        stats_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        return stats_;
    }

  private:
    void Log(const std::string& s) {
        if (!o_.quiet) std::fprintf(stderr, "txguard stream: %s\n", s.c_str());
    }

    std::string SnapshotKey(std::uint32_t p) const {
        return m_->spec_key + ":partition:" + std::to_string(p) + "/" +
               std::to_string(t_.Partitions());
    }

    void DropLost(const std::vector<std::uint32_t>& lost) {
        for (auto p : lost) {
            parts_.erase(p);
            ++stats_.lost;
            Log("lost partition " + std::to_string(p) + " (lease expired)");
        }
    }

    bool Owns(std::uint32_t p) const {
        const auto owned = t_.Owned();
        return std::find(owned.begin(), owned.end(), p) != owned.end();
    }

    // Renews the leases when a heartbeat interval has passed since they were last renewed. The
    // work a heartbeat starts — restoring every partition it acquired, one after another, and
    // scoring their pending entries — can outlast a lease on a starved machine; without this the
    // first partitions expired before the heartbeat ended, were taken again and restored again,
    // and the worker thrashed (seen under ASan with four heavy processes on 2 cores).
    Result<void> KeepLeases() {
        if (Clock::now() - last_renew_ < o_.heartbeat) return Ok();
        auto lost = t_.Renew();
        if (!lost) return std::unexpected(lost.error());
        last_renew_ = Clock::now();
        DropLost(*lost);
        return Ok();
    }

    Result<void> Heartbeat() {
        auto ch = t_.Heartbeat();
        if (!ch) return std::unexpected(ch.error());
        last_renew_ = Clock::now();
        DropLost(ch->lost);
        for (auto p : ch->release) {
            if (auto it = parts_.find(p); it != parts_.end()) {
                TXG_RETURN_IF_ERROR(Snapshot(p, it->second));
                parts_.erase(it);
            }
            TXG_RETURN_IF_ERROR(t_.Release(p));
            ++stats_.released;
            Log("handed over partition " + std::to_string(p));
        }
        for (auto p : ch->acquired) {
            TXG_RETURN_IF_ERROR(KeepLeases());
            if (!Owns(p)) continue;  // expired before its turn (reported as lost)
            const auto t0 = Clock::now();
            const std::uint64_t before = stats_.replayed;
            auto restored = Restore(p);
            if (!restored) return std::unexpected(restored.error());
            if (!*restored) {
                Log("gave up restoring partition " + std::to_string(p) + ": its lease expired");
                continue;
            }
            auto pending = t_.ClaimPending(p, false);
            if (!pending) return std::unexpected(pending.error());
            ++stats_.acquired;
            Log("took partition " + std::to_string(p) + ": " +
                std::to_string(stats_.replayed - before) + " stored events replayed, " +
                std::to_string(pending->size()) + " pending entries claimed (" +
                std::to_string(std::chrono::duration<double>(Clock::now() - t0).count()) + " s)");
            if (!pending->empty()) TXG_RETURN_IF_ERROR(Process(*pending));
        }
        // A safety net: entries of this worker's partitions idle for longer than a lease in some
        // other consumer's pending list are claimed and scored (late). Fenced reads leave none
        // in normal operation (docs/architecture.md).
        std::vector<std::uint32_t> owned;
        for (const auto& [p, st] : parts_)
            if (std::find(ch->acquired.begin(), ch->acquired.end(), p) == ch->acquired.end())
                owned.push_back(p);
        TXG_RETURN_IF_ERROR(KeepLeases());
        for (const auto p : owned) {
            if (!parts_.count(p)) continue;  // given up by a Process below, or expired
            auto stranded = t_.ClaimPending(p, true);
            if (!stranded) return std::unexpected(stranded.error());
            if (stranded->empty()) continue;
            stats_.stranded += stranded->size();
            Log("claimed " + std::to_string(stranded->size()) + " stranded entries of partition " +
                std::to_string(p));
            TXG_RETURN_IF_ERROR(Process(*stranded));
        }
        return Ok();
    }

    // False when the partition's lease expired during the restore (it is then not restored).
    Result<bool> Restore(std::uint32_t p) {
        PartitionState st;
        st.engine = std::make_unique<FeatureEngine>(m_->bundle.features);
        std::string skipped;
        auto restored = RestoreLatestSnapshot(*st.engine, *store_, p, SnapshotKey(p), &skipped);
        if (!restored) return std::unexpected(restored.error());
        const std::uint64_t from = *restored;
        if (!skipped.empty()) Log("partition " + std::to_string(p) + ": " + skipped);
        // A previous owner that lost the partition while its batch ran may commit that batch at
        // any moment during this restore. The ids are read before the events, so an id seen here
        // has its event replayed below (and every replayed event's id is added to them); and the
        // next seq comes from the events replayed, not from a later MaxSeq query, so a batch
        // committed after the scan is not skipped over:
        // this worker's next append clashes on (partition, seq) with it and the partition is
        // restored again (Process). With MaxSeq read after the scan, a batch committed in between
        // was counted but not replayed, and later scores of its customers silently diverged
        // (seen once: StreamIntegration.ThreeWorkersOnPostgres... under ASan in CI).
        TXG_RETURN_IF_ERROR(store_->ForEachTransactionId(
            p, [&](std::string_view id, std::uint64_t) { st.ids.emplace(id); }));
        std::vector<double> row(m_->num_features);
        std::uint64_t last_seq = from;
        bool lost = false;
        std::uint64_t visited = 0;
        auto scanned = store_->ForEachEvent(p, from, [&](const StoredEvent& ev) -> Result<void> {
            // A long replay keeps the leases (this one's and the others') alive.
            if (++visited % 256 == 0) {
                TXG_RETURN_IF_ERROR(KeepLeases());
                if (!Owns(p)) {
                    lost = true;
                    return MakeError(ErrorCode::kInternal, "partition lost");
                }
            }
            last_seq = std::max(last_seq, ev.seq());
            if (!ev.transaction) return Ok();  // workers store no labels
            // A batch committed between the id scan and this one is replayed but was not in
            // the ids: without this its entries, claimed as pending next, were processed a
            // second time — every event of the batch twice in its customers' state, and their
            // later scores diverged (StreamIntegration.ThreeWorkersOnPostgres..., ASan, ~1 run
            // in 3 under the full suite; StreamWorker.ABatchCommittedDuringARestoreIsNotScored-
            // Again makes it happen every time).
            st.ids.emplace(ev.transaction->transaction_id);
            auto in = ReplayStoredTransaction(*st.engine, *m_, *ev.transaction, row);
            if (!in) return std::unexpected(in.error());
            ++stats_.replayed;
            return Ok();
        });
        if (lost) return false;
        if (!scanned) return std::unexpected(scanned.error());
        st.last_seq = last_seq;
        parts_[p] = std::move(st);
        return true;
    }

    Result<void> Snapshot(std::uint32_t p, PartitionState& st) {
        StoredSnapshot snap;
        snap.seq = st.last_seq;  // every event up to it is committed (Process appends first)
        snap.model_key = SnapshotKey(p);
        snap.bytes = st.engine->Snapshot();
        snap.created_ms = WallClockMs();
        st.since_snapshot = 0;
        return store_->PutSnapshot(snap);
    }

    std::string Output(const StoredTransaction& r) const { return ScoreBody(r) + "}"; }
    bool Publishes(std::string_view decision) const {
        return o_.publish_all || decision != "allow";
    }

    // Entries in stream order per partition (the transport returns them so).
    Result<void> Process(const std::vector<StreamEntry>& entries) {
        std::map<std::uint32_t, std::vector<const StreamEntry*>> by_part;
        for (const auto& e : entries) by_part[e.partition].push_back(&e);
        std::vector<StoredTransaction> records;
        std::vector<StreamTransport::Commit> commits;
        std::vector<std::pair<std::uint32_t, std::size_t>> counts;
        const std::int64_t now = WallClockMs();
        for (auto& [p, list] : by_part) {
            auto it = parts_.find(p);
            if (it == parts_.end()) continue;  // lost meanwhile: the new owner gets them
            PartitionState& st = it->second;
            StreamTransport::Commit c;
            c.partition = p;
            Matrix rows(list.size(), m_->num_features);
            std::vector<TxRequest> reqs;
            std::vector<TxInput> inputs;
            reqs.reserve(list.size());
            inputs.reserve(list.size());
            for (const StreamEntry* e : list) {
                c.ids.push_back(e->id);
                auto req = m_->parser.ParseTransaction(e->payload);
                if (!req) {
                    c.dead.push_back(
                        {e->id,
                         (req.error().field.empty() ? std::string() : req.error().field + ": ") +
                             req.error().message});
                    continue;
                }
                if (t_.Partitions() > 1 && PartitionOf(req->customer_id(), t_.Partitions()) != p) {
                    c.dead.push_back(
                        {e->id,
                         "customer_id " + req->customer_id() + " belongs to partition " +
                             std::to_string(PartitionOf(req->customer_id(), t_.Partitions()))});
                    continue;
                }
                if (st.ids.count(req->transaction_id)) {
                    ++stats_.duplicates;
                    if (e->redelivered) {
                        // Stored by an owner that died before acknowledging (and therefore
                        // before publishing): publish it now, from the store.
                        auto stored = store_->GetTransaction(req->transaction_id);
                        if (!stored) return std::unexpected(stored.error());
                        if (*stored && Publishes((*stored)->decision))
                            c.outputs.push_back({(*stored)->transaction_id, Output(**stored)});
                    }
                    continue;
                }
                TxInput in = EngineInput(*st.engine, *req, st.last_seq + 1);
                if (auto r = st.engine->Process(in, rows.Row(reqs.size())); !r) {
                    c.dead.push_back({e->id, "timestamp: " + r.error().message});
                    continue;
                }
                st.last_seq = in.seq;
                st.ids.insert(req->transaction_id);
                inputs.push_back(in);
                reqs.push_back(std::move(*req));
            }
            const std::size_t n = reqs.size();
            if (n > 0) {
                std::vector<double> scores(n);
                std::vector<std::string> reasons(n);
                TXG_RETURN_IF_ERROR(ScoreFeatureRows(*m_, MatrixView{rows.data(), n, rows.cols()},
                                                     scores, reasons));
                for (std::size_t j = 0; j < n; ++j) {
                    const char* decision = Decide(*m_, scores[j]);
                    inputs[j].extras = reqs[j].extras;
                    StoredTransaction rec = MakeRecord(*m_, reqs[j], inputs[j], scores[j], decision,
                                                       std::move(reasons[j]), now);
                    rec.partition = p;
                    if (Publishes(decision)) c.outputs.push_back({rec.transaction_id, Output(rec)});
                    records.push_back(std::move(rec));
                }
            }
            counts.emplace_back(p, n);
            stats_.dead_letters += c.dead.size();
            commits.push_back(std::move(c));
        }
        if (!records.empty()) {
            auto appended = store_->Append(records, {});
            if (!appended) {
                // Typically a (partition, seq) clash: an owner that lost a partition while its
                // batch ran committed that batch after this worker had restored the partition.
                // Nothing of this batch is stored or acknowledged: drop these partitions' state
                // and leases; taking them again restores from the store (which now holds the
                // other batch) and their entries come back as pending. Persistent failures end
                // the worker.
                if (++failed_appends_ > 5) return std::unexpected(appended.error());
                Log("store append failed, giving the batch's partitions up to restore them: " +
                    appended.error().message);
                for (const auto& c : commits) {
                    parts_.erase(c.partition);
                    TXG_RETURN_IF_ERROR(t_.Release(c.partition));
                    ++stats_.lost;
                }
                return Ok();
            }
            failed_appends_ = 0;
        }
        auto ok = t_.CommitAll(commits);
        if (!ok) return std::unexpected(ok.error());
        for (std::size_t i = 0; i < commits.size(); ++i) {
            const std::uint32_t p = commits[i].partition;
            if (!(*ok)[i]) {
                // Taken over while this batch ran: the new owner publishes and acknowledges.
                parts_.erase(p);
                ++stats_.lost;
                Log("lost partition " + std::to_string(p) + " while committing");
                continue;
            }
            stats_.published += commits[i].outputs.size();
        }
        for (auto [p, n] : counts) {
            stats_.scored += n;
            auto it = parts_.find(p);
            if (it == parts_.end()) continue;
            it->second.since_snapshot += n;
            if (o_.snapshot_every > 0 && it->second.since_snapshot >= o_.snapshot_every)
                TXG_RETURN_IF_ERROR(Snapshot(p, it->second));
        }
        return Ok();
    }

    const StreamWorkerOptions& o_;
    StreamTransport& t_;
    std::shared_ptr<const ScoringModel> m_;
    std::unique_ptr<Store> store_;
    std::map<std::uint32_t, PartitionState> parts_;
    StreamWorkerStats stats_;
    int failed_appends_ = 0;        // consecutive
    Clock::time_point last_renew_;  // of the leases (by a heartbeat or KeepLeases)
};

}  // namespace

std::string StreamWorkerStats::ToJson() const {
    auto u = [](std::uint64_t v) { return std::to_string(v); };
    return "{\"scored\":" + u(scored) + ",\"published\":" + u(published) +
           ",\"duplicates\":" + u(duplicates) + ",\"dead_letters\":" + u(dead_letters) +
           ",\"replayed\":" + u(replayed) + ",\"partitions_acquired\":" + u(acquired) +
           ",\"partitions_released\":" + u(released) + ",\"partitions_lost\":" + u(lost) +
           ",\"stranded_claimed\":" + u(stranded) + ",\"seconds\":" + std::to_string(seconds) + "}";
}

std::string PartitionBlocker(const FeatureSpec& spec) {
    for (const auto& e : spec.entities)
        if (e.key != KeyField::kCustomer)
            return "its features \"" + e.name + "_*\" keep state per " + KeyFieldName(e.key) +
                   ", which a customer-partitioned worker sees only in part";
    return "";
}

Result<StreamWorkerStats> RunStreamWorker(const StreamWorkerOptions& options,
                                          StreamTransport& transport,
                                          const std::atomic<bool>& stop) {
    auto store = OpenStore(options.db_url);
    if (!store) return std::unexpected(store.error());
    // A SQLite file: its log and id index are maintained from a second connection on a thread of
    // its own every 100 ms, as the server does, not by the committing thread after its commits
    // (the id index's runs written and merged there cost the workers 10-20% end to end;
    // docs/benchmarks.md, session 10). A private in-memory database cannot be shared.
    if (!options.db_url.starts_with("sqlite://")) {
        return RunStreamWorker(options, transport, std::move(*store), stop);
    }
    auto maintainer = OpenStore(options.db_url);
    if (!maintainer) return std::unexpected(maintainer.error());
    (*store)->SetAutoCheckpoint(false);
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::thread maintain([&] {
        std::unique_lock lock(mu);
        while (!cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return done; })) {
            lock.unlock();
            if (auto r = (*maintainer)->Checkpoint(); !r && !options.quiet)
                std::fprintf(stderr, "txguard stream: store maintenance: %s\n",
                             r.error().ToString().c_str());
            lock.lock();
        }
    });
    auto stats = RunStreamWorker(options, transport, std::move(*store), stop);
    {
        std::lock_guard lock(mu);
        done = true;
    }
    cv.notify_one();
    maintain.join();
    return stats;
}

Result<StreamWorkerStats> RunStreamWorker(const StreamWorkerOptions& options,
                                          StreamTransport& transport, std::unique_ptr<Store> store,
                                          const std::atomic<bool>& stop) {
    TuneAllocatorForServing();
    auto m = LoadScoringModel(options.model_path, options.scoring);
    if (!m) return std::unexpected(m.error());
    if (transport.Partitions() > 1) {
        if (auto why = PartitionBlocker((*m)->bundle.features); !why.empty())
            return MakeError(
                ErrorCode::kIncompatible,
                "model " + options.model_path + " cannot be scored by customer partitions: " + why,
                "train it with features keyed on the customer only (e.g. --features basic), "
                "or use a stream with --partitions 1 (one active worker, the others standing by)");
    }
    Worker w(options, transport, *m, std::move(store));
    return w.Run(stop);
}

}  // namespace txguard
