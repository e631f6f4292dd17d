#include "txguard/features/feature_engine.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <numeric>
#include <unordered_map>

#include "txguard/core/bytes.hpp"
#include "txguard/core/parallel.hpp"
#include "txguard/core/prefetch.hpp"
#include "txguard/core/progress.hpp"
#include "txguard/core/time.hpp"

namespace txguard {
namespace {

constexpr double kPi = 3.14159265358979323846;

// A double-ended queue in one contiguous power-of-two buffer whose indices wrap: nothing is
// allocated while it is empty, and an entity's events or a window's max candidates sit in one
// block instead of std::deque's 512-byte nodes behind a node map (which libstdc++ allocates even
// for an empty deque). Profiled on the live server (2026-12-05): the engine's per-event work was
// ~3.5k instructions but 13% of the server's time, mostly cache misses in entity state.
template <class T>
class Ring {
  public:
    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }
    T& operator[](std::size_t i) { return buf_[(head_ + i) & mask_]; }
    const T& operator[](std::size_t i) const { return buf_[(head_ + i) & mask_]; }
    T& front() { return (*this)[0]; }
    const T& front() const { return (*this)[0]; }
    T& back() { return (*this)[size_ - 1]; }
    const T& back() const { return (*this)[size_ - 1]; }
    void push_back(const T& v) {
        if (size_ == buf_.size()) Grow();
        buf_[(head_ + size_) & mask_] = v;
        ++size_;
    }
    void pop_front() {
        head_ = (head_ + 1) & mask_;
        --size_;
    }
    void pop_back() { --size_; }
    template <class It>
    void assign(It first, It last) {
        head_ = size_ = 0;
        for (; first != last; ++first) push_back(*first);
    }

  private:
    void Grow() {
        std::vector<T> next(buf_.empty() ? 4 : buf_.size() * 2);
        for (std::size_t i = 0; i < size_; ++i) next[i] = (*this)[i];
        buf_.swap(next);
        head_ = 0;
        mask_ = buf_.size() - 1;
    }
    std::vector<T> buf_;
    std::size_t head_ = 0, size_ = 0, mask_ = 0;
};

// One stored event (or, with bucket_s > 0, the merge of the events of one time bucket). One cache
// line: a window's edge record is a cache miss on every event of a large state, and a 72-byte
// record straddled two lines in most positions. Counts are floats: integers far below 2^24.
struct alignas(64) Record {
    std::int64_t ts = 0;          // event time (bucket start in bucket mode)
    std::uint64_t seq_first = 0;  // transactions merged into this record: [seq_first, seq_last]
    std::uint64_t seq_last = 0;
    double sum = 0, sumsq = 0, maxv = -INFINITY;
    float n = 0;
    float frauds = 0;  // known fraud labels among the record's transactions
    std::uint32_t counterparty = 0;
    std::int8_t label = -1;  // exact mode: the transaction's label (-1 unknown)
};
static_assert(sizeof(Record) == 64);

// A window over records with lag <= age < lag + w, i.e. ts in (t - lag - w, t - lag].
struct WindowDef {
    std::int64_t lag_ms = 0;
    std::int64_t w_ms = 0;
    bool want_max = false;
    bool want_distinct = false;
};

// Transactions per counterparty in one window: distinct counts and "new counterparty" read it,
// and the snapshot writes it in key order. An entity with few counterparties (a customer's
// terminals) keeps one sorted vector: compact, a binary search a lookup. A single vector would
// make every insertion and removal move half of it, so past kChunk pairs (a merchant's distinct
// customers) the pairs are split into sorted chunks of at most kChunk (split in halves when they
// overflow, merged with a neighbour below kChunk / 4), found by a binary search over each
// chunk's last key: a transaction's cost then grows slowly with the counterparties (bench_features:
// 0.6 us at 50,000 against 7.9 with one vector), and the pairs stay in key order for the snapshot.
// Below kChunk / 4 pairs in all they go back to one vector.
class CounterpartyCounts {
  public:
    static constexpr std::size_t kChunk = 256;

    CounterpartyCounts() = default;
    // Copyable because std::vector<Block> copies its blocks when it grows (a std::deque member
    // does not move noexcept); that happens only while the engine is built, with no state yet.
    CounterpartyCounts(CounterpartyCounts&&) noexcept = default;
    CounterpartyCounts& operator=(CounterpartyCounts&&) noexcept = default;
    CounterpartyCounts(const CounterpartyCounts& o)
        : small_(o.small_), big_(o.big_ ? std::make_unique<Chunks>(*o.big_) : nullptr) {}
    CounterpartyCounts& operator=(const CounterpartyCounts& o) {
        if (this != &o) *this = CounterpartyCounts(o);
        return *this;
    }

    std::size_t size() const { return big_ ? big_->size : small_.size(); }

    void Add(std::uint32_t key) {
        if (!big_) {
            if (Insert(small_, key) && small_.size() > kChunk) ToChunks();
            return;
        }
        Chunks& b = *big_;
        const std::size_t c = b.ChunkFor(key);
        if (!Insert(b.parts[c], key)) return;
        ++b.size;
        b.last[c] = b.parts[c].back().first;
        if (b.parts[c].size() > kChunk) b.Split(c);
    }
    void Remove(std::uint32_t key) {
        if (!big_) {
            Erase(small_, key);
            return;
        }
        Chunks& b = *big_;
        const std::size_t c = b.ChunkFor(key);
        if (!Erase(b.parts[c], key)) return;
        --b.size;
        if (b.size < kChunk / 4) return ToSingle();
        b.Shrunk(c);
    }
    std::uint32_t Count(std::uint32_t key) const {
        const Sorted& v = big_ ? big_->parts[big_->ChunkFor(key)] : small_;
        const std::size_t i = LowerBound(v, key);
        return i < v.size() && v[i].first == key ? v[i].second : 0;
    }
    // The (key, count) pairs in increasing key order.
    template <class F>
    void ForEachSorted(F&& visit) const {
        if (!big_) {
            for (const auto& [k, v] : small_) visit(k, v);
            return;
        }
        for (const Sorted& part : big_->parts)
            for (const auto& [k, v] : part) visit(k, v);
    }
    // Restore: pairs in strictly increasing key order (the caller checks), then FinishLoad.
    void Append(std::uint32_t key, std::uint32_t count) { small_.emplace_back(key, count); }
    void FinishLoad() {
        if (small_.size() > kChunk) ToChunks();
    }
    // Where a lookup of a small entity starts (nullptr in chunks: that depends on the key).
    const void* ProbeHint() const {
        return big_ || small_.empty() ? nullptr : &small_[small_.size() / 2];
    }

  private:
    using Sorted = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

    // std::lower_bound; past 64 pairs without branches on the data (conditional moves): the keys
    // are random, so a branching search mispredicts about every other step, which costs more
    // than it saves once the search is longer than a few steps (bench_features).
    // The index of the first pair whose key is >= key (v.size() when none).
    static std::size_t LowerBound(const Sorted& v, std::uint32_t key) {
        if (v.size() < 64)
            return static_cast<std::size_t>(
                std::lower_bound(v.begin(), v.end(), key,
                                 [](const auto& p, std::uint32_t k) { return p.first < k; }) -
                v.begin());
        std::size_t lo = 0, n = v.size();
        while (n > 1) {
            const std::size_t half = n / 2;
            lo = v[lo + half - 1].first < key ? lo + half : lo;
            n -= half;
        }
        if (n == 1 && v[lo].first < key) ++lo;
        return lo;
    }
    // Adds one transaction of `key`; true when the key is new.
    static bool Insert(Sorted& v, std::uint32_t key) {
        const std::size_t i = LowerBound(v, key);
        if (i < v.size() && v[i].first == key) {
            ++v[i].second;
            return false;
        }
        v.insert(v.begin() + static_cast<std::ptrdiff_t>(i), {key, 1});
        return true;
    }
    // Removes one transaction of `key`; true when that was its last.
    static bool Erase(Sorted& v, std::uint32_t key) {
        const std::size_t i = LowerBound(v, key);
        if (i == v.size() || v[i].first != key || --v[i].second != 0) return false;
        v.erase(v.begin() + static_cast<std::ptrdiff_t>(i));
        return true;
    }

    struct Chunks {
        std::vector<Sorted> parts;        // each non-empty, keys increasing across parts
        std::vector<std::uint32_t> last;  // last[i] = parts[i].back().first
        std::size_t size = 0;             // pairs in all parts

        // The part that holds `key` or would: the first whose last key is >= key, else the last.
        std::size_t ChunkFor(std::uint32_t key) const {
            std::size_t lo = 0, n = last.size() - 1;  // the answer is in [lo, lo + n]
            while (n > 0) {
                const std::size_t half = (n + 1) / 2;
                lo = last[lo + half - 1] < key ? lo + half : lo;
                n -= half;
            }
            return lo;
        }
        void Split(std::size_t c) {
            Sorted upper(parts[c].begin() + static_cast<std::ptrdiff_t>(parts[c].size() / 2),
                         parts[c].end());
            parts[c].resize(parts[c].size() / 2);
            parts.insert(parts.begin() + static_cast<std::ptrdiff_t>(c) + 1, std::move(upper));
            last.insert(last.begin() + static_cast<std::ptrdiff_t>(c) + 1,
                        parts[c + 1].back().first);
            last[c] = parts[c].back().first;
        }
        // After a removal from part c: an empty part goes; one under a quarter full is merged
        // into a neighbour when the two fit in one part.
        void Shrunk(std::size_t c) {
            if (parts[c].empty()) {
                parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(c));
                last.erase(last.begin() + static_cast<std::ptrdiff_t>(c));
                return;
            }
            last[c] = parts[c].back().first;
            // (A single part under kChunk / 4 cannot occur: Remove goes back to one vector first.)
            if (parts[c].size() >= kChunk / 4 || parts.size() < 2) return;
            const std::size_t left = c + 1 < parts.size() ? c : c - 1;  // merge left+1 into left
            if (parts[left].size() + parts[left + 1].size() > kChunk) return;
            parts[left].insert(parts[left].end(), parts[left + 1].begin(), parts[left + 1].end());
            parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(left) + 1);
            last.erase(last.begin() + static_cast<std::ptrdiff_t>(left) + 1);
            last[left] = parts[left].back().first;
        }
    };

    void ToChunks() {
        auto b = std::make_unique<Chunks>();
        b->size = small_.size();
        for (std::size_t i = 0; i < small_.size(); i += kChunk / 2) {
            const std::size_t end = std::min(small_.size(), i + kChunk / 2);
            b->parts.emplace_back(small_.begin() + static_cast<std::ptrdiff_t>(i),
                                  small_.begin() + static_cast<std::ptrdiff_t>(end));
            b->last.push_back(b->parts.back().back().first);
        }
        Sorted().swap(small_);
        big_ = std::move(b);
    }
    void ToSingle() {
        small_.clear();
        for (const Sorted& part : big_->parts)
            small_.insert(small_.end(), part.begin(), part.end());
        big_.reset();
    }

    Sorted small_;                 // every pair, while there are at most kChunk
    std::unique_ptr<Chunks> big_;  // past kChunk (small_ is then empty)
};

struct WindowState {
    std::uint64_t lo = 0, hi = 0;  // absolute record indices [lo, hi) inside the window
    double count = 0, sum = 0, sumsq = 0, frauds = 0;
    Ring<std::uint64_t> maxq;  // monotonic, absolute indices
    CounterpartyCounts cp;
};

struct EntityState {
    Ring<Record> ring;
    std::uint64_t base = 0;  // absolute index of ring.front()
    std::vector<WindowState> win;
    std::int64_t last_ts = std::numeric_limits<std::int64_t>::min();
    bool seen = false;
};

// Everything one EntitySpec needs: its window layout and per-entity states (indexed by key id).
struct Block {
    EntitySpec spec;
    std::vector<WindowDef> windows;  // aggregate windows first (spec order), then risk windows
    std::size_t num_agg_windows = 0;
    std::size_t longest_agg = 0;   // index of the longest aggregate window
    std::size_t longest_risk = 0;  // index of the longest label-risk window (when any)
    std::size_t offset = 0;        // first output column
    std::size_t width = 0;         // output columns
    // A deque: growing it never moves (copies) the states already there, which with thousands of
    // entities stalled live scoring for tens of milliseconds at every doubling (2026-12-05).
    std::deque<EntityState> states;

    explicit Block(const EntitySpec& s) : spec(s) {
        const bool wants_max = std::find(s.aggregates.begin(), s.aggregates.end(),
                                         Aggregate::kMax) != s.aggregates.end();
        for (std::size_t i = 0; i < s.windows_days.size(); ++i) {
            WindowDef d;
            d.w_ms = static_cast<std::int64_t>(s.windows_days[i]) * kMsPerDay;
            d.want_max = wants_max;
            windows.push_back(d);
            if (d.w_ms > windows[longest_agg].w_ms) longest_agg = i;
        }
        num_agg_windows = windows.size();
        if (s.NeedsCounterparty() && num_agg_windows > 0) {
            // Distinct counts need the map in every aggregate window; new_counterparty only in
            // the longest.
            const bool distinct = std::find(s.aggregates.begin(), s.aggregates.end(),
                                            Aggregate::kDistinct) != s.aggregates.end();
            for (std::size_t i = 0; i < num_agg_windows; ++i)
                windows[i].want_distinct = distinct || i == longest_agg;
        }
        if (s.has_label_risk) {
            for (int w : s.label_risk.windows_days) {
                WindowDef d;
                d.lag_ms = static_cast<std::int64_t>(s.label_risk.delay_days) * kMsPerDay;
                d.w_ms = static_cast<std::int64_t>(w) * kMsPerDay;
                if (windows.size() == num_agg_windows || d.w_ms > windows[longest_risk].w_ms)
                    longest_risk = windows.size();
                windows.push_back(d);
            }
        }
    }

    EntityState NewState() const {
        EntityState st;
        st.win.resize(windows.size());
        return st;
    }
    void Grow(std::size_t n) {
        while (states.size() < n) states.push_back(NewState());
    }

    Record& At(EntityState& e, std::uint64_t idx) const { return e.ring[idx - e.base]; }

    // Starts loading the entity's window states (a separate allocation) and its newest record.
    void PrefetchWindows(const EntityState& e) const {
        if (!e.win.empty()) {
            const char* p = reinterpret_cast<const char*>(e.win.data());
            const char* end = reinterpret_cast<const char*>(e.win.data() + e.win.size());
            for (; p < end; p += 64) Prefetch(p);
        }
        if (!e.ring.empty()) Prefetch(&e.ring.back());
    }

    // Starts loading what Process(e, ...) will touch first: every window's edge records (each in
    // a different part of the ring, so a cache miss apiece in a large state), so that the misses
    // overlap instead of coming one after another. Callers run PrefetchWindows (which loads the
    // newest record) first: its loads of e.win are what this one reads.
    void PrefetchEdges(const EntityState& e) const {
        const std::uint64_t end = e.base + e.ring.size();
        if (end == e.base) return;
        for (const WindowState& w : e.win) {
            if (w.lo < end) Prefetch(&e.ring[w.lo - e.base]);
            if (w.hi < end) Prefetch(&e.ring[w.hi - e.base]);
            if (const void* p = w.cp.ProbeHint()) Prefetch(p);
        }
    }

    void Enter(EntityState& e, std::size_t wi, std::uint64_t idx) const {
        WindowState& w = e.win[wi];
        const Record& r = At(e, idx);
        w.count += r.n;
        w.sum += r.sum;
        w.sumsq += r.sumsq;
        w.frauds += r.frauds;
        if (windows[wi].want_max) {
            while (!w.maxq.empty() && At(e, w.maxq.back()).maxv <= r.maxv) w.maxq.pop_back();
            w.maxq.push_back(idx);
        }
        if (windows[wi].want_distinct) w.cp.Add(r.counterparty);
    }

    void Leave(EntityState& e, std::size_t wi, std::uint64_t idx) const {
        WindowState& w = e.win[wi];
        const Record& r = At(e, idx);
        w.count -= r.n;
        w.sum -= r.sum;
        w.sumsq -= r.sumsq;
        w.frauds -= r.frauds;
        if (w.count <= 0) {  // empty window: reset the running sums exactly
            w.count = w.sum = w.sumsq = w.frauds = 0;
        }
        while (!w.maxq.empty() && w.maxq.front() <= idx) w.maxq.pop_front();
        if (windows[wi].want_distinct) w.cp.Remove(r.counterparty);
    }

    // Moves every window to end at t.
    void Advance(EntityState& e, std::int64_t t) const {
        const std::uint64_t end = e.base + e.ring.size();
        for (std::size_t wi = 0; wi < windows.size(); ++wi) {
            WindowState& w = e.win[wi];
            const std::int64_t newest = t - windows[wi].lag_ms;
            const std::int64_t oldest_excluded = newest - windows[wi].w_ms;
            while (w.hi < end && At(e, w.hi).ts <= newest) Enter(e, wi, w.hi++);
            while (w.lo < w.hi && At(e, w.lo).ts <= oldest_excluded) Leave(e, wi, w.lo++);
        }
    }

    // Drops records no window needs any more, and the oldest beyond max_events.
    void Trim(EntityState& e) const {
        std::uint64_t keep_from = e.base + e.ring.size();
        for (const auto& w : e.win) keep_from = std::min(keep_from, w.lo);
        // Keep the newest record (time since last, bucket merging).
        if (!e.ring.empty()) keep_from = std::min(keep_from, e.base + e.ring.size() - 1);
        while (e.base < keep_from) {
            e.ring.pop_front();
            ++e.base;
        }
        while (e.ring.size() > spec.max_events) {
            const std::uint64_t idx = e.base;
            for (std::size_t wi = 0; wi < windows.size(); ++wi) {
                WindowState& w = e.win[wi];
                if (w.lo <= idx && idx < w.hi) {
                    Leave(e, wi, idx);
                    w.lo = idx + 1;
                } else if (w.hi <= idx) {
                    w.lo = w.hi = idx + 1;
                }
            }
            e.ring.pop_front();
            ++e.base;
        }
    }

    // Applies a change of a held record to the windows that contain it. Only a merge into the
    // newest record (bucket mode) can raise its max.
    void Delta(EntityState& e, std::uint64_t idx, double dn, double dsum, double dsumsq,
               double dfrauds) const {
        const bool max_changed = dn != 0;
        for (std::size_t wi = 0; wi < windows.size(); ++wi) {
            WindowState& w = e.win[wi];
            if (idx < w.lo || idx >= w.hi) continue;
            w.count += dn;
            w.sum += dsum;
            w.sumsq += dsumsq;
            w.frauds += dfrauds;
            if (windows[wi].want_max && max_changed) {
                TXG_CHECK(idx + 1 == e.base + e.ring.size());
                if (!w.maxq.empty() && w.maxq.back() == idx) w.maxq.pop_back();
                const double v = At(e, idx).maxv;
                while (!w.maxq.empty() && At(e, w.maxq.back()).maxv <= v) w.maxq.pop_back();
                w.maxq.push_back(idx);
            }
        }
    }

    Result<void> Process(EntityState& e, const TxInput& tx, std::span<double> out) const {
        if (e.seen && tx.ts_ms < e.last_ts)
            return MakeError(ErrorCode::kInvalidArgument,
                             "transaction at " + FormatTimestamp(tx.ts_ms) + " is earlier than " +
                                 spec.name + "'s previous one at " + FormatTimestamp(e.last_ts));
        const double prev_gap_s =
            e.seen ? static_cast<double>(tx.ts_ms - e.last_ts) / 1000.0 : -1.0;
        const std::uint32_t cp = tx.keys[static_cast<int>(spec.counterparty)];
        const double a = tx.amount;
        const std::int64_t bucket_ms = static_cast<std::int64_t>(spec.bucket_s) * 1000;
        const std::int64_t rec_ts =
            bucket_ms > 0 ? FloorDiv(tx.ts_ms, bucket_ms) * bucket_ms : tx.ts_ms;
        // A bucket holds at most 2^24 events (its counts are floats); more start another record.
        if (bucket_ms > 0 && !e.ring.empty() && e.ring.back().ts == rec_ts &&
            e.ring.back().n < 16777216.0f) {
            Record& r = e.ring.back();
            r.n += 1;
            r.sum += a;
            r.sumsq += a * a;
            r.maxv = std::max(r.maxv, a);
            r.seq_last = tx.seq;
            Delta(e, e.base + e.ring.size() - 1, 1, a, a * a, 0);
        } else {
            Record r;
            r.ts = rec_ts;
            r.seq_first = r.seq_last = tx.seq;
            r.n = 1;
            r.sum = a;
            r.sumsq = a * a;
            r.maxv = a;
            r.counterparty = cp;
            e.ring.push_back(r);
        }
        e.last_ts = tx.ts_ms;
        e.seen = true;
        Advance(e, tx.ts_ms);
        Trim(e);

        std::size_t k = 0;
        for (std::size_t wi = 0; wi < num_agg_windows; ++wi) {
            const WindowState& w = e.win[wi];
            for (Aggregate ag : spec.aggregates) {
                double v = 0;
                switch (ag) {
                    case Aggregate::kCount:
                        v = w.count;
                        break;
                    case Aggregate::kSum:
                        v = w.sum;
                        break;
                    case Aggregate::kMean:
                        v = w.count > 0 ? w.sum / w.count : 0.0;
                        break;
                    case Aggregate::kStd:
                        v = w.count > 1
                                ? std::sqrt(std::max(
                                      0.0, (w.sumsq - w.sum * w.sum / w.count) / (w.count - 1)))
                                : 0.0;
                        break;
                    case Aggregate::kMax:
                        v = w.maxq.empty() ? 0.0 : At(e, w.maxq.front()).maxv;
                        break;
                    case Aggregate::kDistinct:
                        v = static_cast<double>(w.cp.size());
                        break;
                }
                out[k++] = v;
            }
        }
        if (spec.time_since_last) out[k++] = prev_gap_s;
        if (spec.amount_ratio_to_mean || spec.amount_zscore) {
            // The longest window without the current transaction.
            const WindowState& w = e.win[longest_agg];
            const double n = w.count - 1, sum = w.sum - a, sumsq = w.sumsq - a * a;
            const double mean = n > 0 ? sum / n : 0.0;
            if (spec.amount_ratio_to_mean) out[k++] = n > 0 && mean > 0 ? a / mean : 1.0;
            if (spec.amount_zscore) {
                const double var = n > 1 ? std::max(0.0, (sumsq - sum * sum / n) / (n - 1)) : 0.0;
                out[k++] = var > 0 ? (a - mean) / std::sqrt(var) : 0.0;
            }
        }
        if (spec.new_counterparty) {
            out[k++] = e.win[longest_agg].cp.Count(cp) <= 1 ? 1.0 : 0.0;
        }
        for (std::size_t wi = num_agg_windows; wi < windows.size(); ++wi) {
            const WindowState& w = e.win[wi];
            out[k++] = w.count;
            out[k++] = w.count > 0 ? w.frauds / w.count : 0.0;
        }
        if (spec.has_label_risk && spec.label_risk.streak) {
            // Newest first through the longest risk window: O(streak length) per transaction.
            const WindowState& w = e.win[longest_risk];
            double streak = 0;
            std::int64_t oldest_ts = 0;
            for (std::uint64_t i = w.hi; i > w.lo; --i) {
                const Record& r = At(e, i - 1);
                if (r.label != 1) break;
                streak += 1;
                oldest_ts = r.ts;
            }
            out[k++] = streak;
            out[k++] = streak > 0 ? static_cast<double>(tx.ts_ms - oldest_ts) / 1000.0 : -1.0;
        }
        TXG_CHECK(k == width);
        return Ok();
    }

    void AddLabel(EntityState& e, std::uint64_t seq, std::int8_t label) const {
        // Records are in seq order: find the one whose range holds seq.
        std::size_t lo = 0, hi = e.ring.size();  // -> the first record with seq_first > seq
        while (lo < hi) {
            const std::size_t mid = lo + (hi - lo) / 2;
            if (seq < e.ring[mid].seq_first)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (lo == 0) return;  // older than every held record
        Record* it = &e.ring[lo - 1];
        if (seq > it->seq_last) return;
        double dfrauds;
        if (spec.bucket_s == 0) {
            dfrauds = (label == 1 ? 1.0 : 0.0) - (it->label == 1 ? 1.0 : 0.0);
            it->label = label;
        } else {
            dfrauds = label == 1 ? 1.0 : 0.0;  // bucket mode: labels are added, not revised
        }
        if (dfrauds == 0) return;
        it->frauds = static_cast<float>(it->frauds + dfrauds);
        Delta(e, e.base + (lo - 1), 0, 0, 0, dfrauds);
    }
};

std::size_t BlockWidth(const EntitySpec& s) {
    std::size_t w = s.windows_days.size() * s.aggregates.size();
    w += s.time_since_last + s.amount_ratio_to_mean + s.amount_zscore + s.new_counterparty;
    if (s.has_label_risk) w += 2 * s.label_risk.windows_days.size() + 2 * s.label_risk.streak;
    return w;
}

// Where a snapshot has got to (FeatureEngine::BeginSnapshot): the key dictionaries' values are
// written first (they only ever grow, so the values below each one's size at the start never
// change), then each block's entities in id order.
struct SnapshotCursor {
    std::string head;                   // format and spec, until the first step writes them
    std::size_t field = 0, value = 0;   // next dictionary value
    std::size_t block = 0, entity = 0;  // next entity
    std::size_t dict_size[kNumKeyFields] = {};
    std::vector<std::size_t> entities;  // per block: its entities at the start
    // Per block: entities written before the cursor reached them because they were about to
    // change (copy on write), by id.
    std::vector<std::unordered_map<std::uint32_t, std::string>> early;
};

}  // namespace

struct FeatureEngine::Impl {
    const FeatureSpec* spec = nullptr;
    std::vector<Block> blocks;
    std::unique_ptr<SnapshotCursor> stepped;  // the snapshot in progress (BeginSnapshot), if any
    // Key dictionaries, one per key field.
    // Looked up by string_view: no temporary string (an allocation for keys over 15 bytes, such
    // as card tokens) per lookup.
    struct KeyHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::vector<std::unordered_map<std::string, std::uint32_t, KeyHash, std::equal_to<>>> key_index;
    std::vector<std::vector<std::string>> key_values;
    // Categorical codes by key id, one vector per categorical spec.
    std::vector<std::vector<std::uint32_t>> codes;
    std::size_t categorical_offset = 0;  // first column after the entity blocks

    void WriteSimple(const TxInput& tx, std::span<double> out) const {
        std::size_t k = 0;
        if (spec->amount) out[k++] = tx.amount;
        if (!spec->time.empty()) {
            const int hour = HourOfDay(tx.ts_ms);
            const double hour_frac =
                static_cast<double>(tx.ts_ms - DayIndex(tx.ts_ms) * kMsPerDay) / 3'600'000.0;
            for (TimeFeature t : spec->time) {
                switch (t) {
                    case TimeFeature::kHour:
                        out[k++] = hour;
                        break;
                    case TimeFeature::kDayOfWeek:
                        out[k++] = DayOfWeek(tx.ts_ms);
                        break;
                    case TimeFeature::kIsWeekend:
                        out[k++] = DayOfWeek(tx.ts_ms) >= 5;
                        break;
                    case TimeFeature::kIsNight:
                        out[k++] = hour <= 6;
                        break;
                    case TimeFeature::kHourSin:
                        out[k++] = std::sin(2 * kPi * hour_frac / 24);
                        break;
                    case TimeFeature::kHourCos:
                        out[k++] = std::cos(2 * kPi * hour_frac / 24);
                        break;
                }
            }
        }
        k = categorical_offset;  // entity blocks sit between time and categorical features
        for (std::size_t c = 0; c < spec->categorical.size(); ++c) {
            const auto id = tx.keys[static_cast<int>(spec->categorical[c].column)];
            out[k++] = id < codes[c].size()
                           ? codes[c][id]
                           : static_cast<double>(spec->categorical[c].values.size());
        }
        for (double x : tx.extras) out[k++] = x;
    }

    // Every change of an entity's state goes through here first: a snapshot in progress that
    // has not reached the entity writes it as it is now.
    void BeforeChange(std::size_t block, std::uint32_t id) {
        if (stepped) PreserveEntity(block, id);
    }
    void PreserveEntity(std::size_t block, std::uint32_t id);  // with the snapshot code below

    std::uint32_t KeyId(KeyField field, std::string_view value) {
        auto& index = key_index[static_cast<int>(field)];
        auto it = index.find(value);
        if (it != index.end()) return it->second;
        auto& values = key_values[static_cast<int>(field)];
        const auto id = static_cast<std::uint32_t>(values.size());
        index.emplace(std::string(value), id);
        values.emplace_back(value);
        for (auto& b : blocks)
            if (b.spec.key == field) b.Grow(values.size());
        for (std::size_t c = 0; c < spec->categorical.size(); ++c) {
            const auto& cs = spec->categorical[c];
            if (cs.column != field) continue;
            auto pos = std::find(cs.values.begin(), cs.values.end(), value);
            codes[c].push_back(static_cast<std::uint32_t>(pos - cs.values.begin()));
        }
        return id;
    }
};

FeatureEngine::FeatureEngine(FeatureSpec spec)
    : spec_(std::move(spec)), num_features_(spec_.Names().size()), impl_(std::make_unique<Impl>()) {
    impl_->spec = &spec_;
    impl_->key_index.resize(kNumKeyFields);
    impl_->key_values.resize(kNumKeyFields);
    impl_->codes.resize(spec_.categorical.size());
    std::size_t offset = (spec_.amount ? 1 : 0) + spec_.time.size();
    for (const auto& e : spec_.entities) {
        Block b(e);
        b.offset = offset;
        b.width = BlockWidth(e);
        offset += b.width;
        impl_->blocks.push_back(std::move(b));
    }
    impl_->categorical_offset = offset;
    TXG_CHECK(offset + spec_.categorical.size() + spec_.extra_columns.size() == num_features_);
}

FeatureEngine::~FeatureEngine() = default;
FeatureEngine::FeatureEngine(FeatureEngine&& o) noexcept
    : spec_(std::move(o.spec_)), num_features_(o.num_features_), impl_(std::move(o.impl_)) {
    impl_->spec = &spec_;
}
FeatureEngine& FeatureEngine::operator=(FeatureEngine&& o) noexcept {
    spec_ = std::move(o.spec_);
    num_features_ = o.num_features_;
    impl_ = std::move(o.impl_);
    impl_->spec = &spec_;
    return *this;
}

std::uint32_t FeatureEngine::KeyId(KeyField field, std::string_view value) {
    return impl_->KeyId(field, value);
}

std::int64_t FeatureEngine::LatestTime(const TxInput& tx) const {
    std::int64_t latest = std::numeric_limits<std::int64_t>::min();
    for (const auto& b : impl_->blocks) {
        const auto id = tx.keys[static_cast<int>(b.spec.key)];
        if (id < b.states.size() && b.states[id].seen)
            latest = std::max(latest, b.states[id].last_ts);
    }
    return latest;
}

Result<void> FeatureEngine::Process(const TxInput& tx, std::span<double> out) {
    TXG_CHECK(out.size() == num_features_);
    TXG_CHECK(tx.extras.size() == spec_.extra_columns.size());
    // The entities' states, then their windows, then the windows' edge records: each stage's
    // cache misses overlap across the blocks (each stage reads what the previous one loaded).
    for (const auto& b : impl_->blocks)
        if (const auto id = tx.keys[static_cast<int>(b.spec.key)]; id < b.states.size())
            Prefetch(&b.states[id]);
    for (const auto& b : impl_->blocks)
        if (const auto id = tx.keys[static_cast<int>(b.spec.key)]; id < b.states.size())
            b.PrefetchWindows(b.states[id]);
    // Check every block first so that an out-of-order transaction changes no state.
    for (auto& b : impl_->blocks) {
        const auto id = tx.keys[static_cast<int>(b.spec.key)];
        if (id >= b.states.size())
            return MakeError(ErrorCode::kInvalidArgument, "unknown " + b.spec.name + " key id");
        const EntityState& e = b.states[id];
        b.PrefetchEdges(e);
        if (e.seen && tx.ts_ms < e.last_ts)
            return MakeError(ErrorCode::kInvalidArgument,
                             "transaction at " + FormatTimestamp(tx.ts_ms) +
                                 " is earlier than the " + KeyFieldName(b.spec.key) +
                                 "'s previous one at " + FormatTimestamp(e.last_ts));
    }
    impl_->WriteSimple(tx, out);
    for (std::size_t bi = 0; bi < impl_->blocks.size(); ++bi) {
        Block& b = impl_->blocks[bi];
        const auto id = tx.keys[static_cast<int>(b.spec.key)];
        impl_->BeforeChange(bi, id);
        TXG_RETURN_IF_ERROR(b.Process(b.states[id], tx, out.subspan(b.offset, b.width)));
    }
    return Ok();
}

Result<void> FeatureEngine::AddLabel(const TxInput& tx, std::int8_t label,
                                     std::int64_t known_at_ms) {
    if (label != 0 && label != 1)
        return MakeError(ErrorCode::kInvalidArgument, "label must be 0 or 1");
    if (known_at_ms < tx.ts_ms)
        return MakeError(ErrorCode::kInvalidArgument,
                         "a label cannot be known (" + FormatTimestamp(known_at_ms) +
                             ") before its transaction (" + FormatTimestamp(tx.ts_ms) + ")");
    for (std::size_t bi = 0; bi < impl_->blocks.size(); ++bi) {
        Block& b = impl_->blocks[bi];
        const auto id = tx.keys[static_cast<int>(b.spec.key)];
        if (id >= b.states.size()) continue;
        impl_->BeforeChange(bi, id);
        b.AddLabel(b.states[id], tx.seq, label);
    }
    return Ok();
}

// ---- snapshot ----------------------------------------------------------------------------------
namespace {
// Format 2 writes each event record as a tag byte and then either all its fields (kFullRecord) or,
// for the usual record of one transaction (count 1, its amount as sum and maximum, its square as
// sum of squares, 0 or 1 known fraud), only what is not implied (kSingleEvent): 31 bytes instead
// of 72, so snapshots are about half the size (packing them takes about as long: it reads every
// record either way; docs/benchmarks.md, session 8). Format 1 (every record in full, no tag) is
// still read.
constexpr std::uint32_t kSnapshotFormat = 2;
constexpr std::uint32_t kFormatFullRecords = 1;
constexpr std::uint8_t kFullRecord = 0, kSingleEvent = 1;
// Bytes of one Record written in full (its fields one by one, no padding).
constexpr std::size_t kRecordBytes = 3 * 8 + 5 * sizeof(double) + 1 + 4;
static_assert(kRecordBytes == sizeof(Record::ts) + sizeof(Record::seq_first) +
                                  sizeof(Record::seq_last) + 5 * sizeof(double) +
                                  sizeof(Record::label) + sizeof(Record::counterparty),
              "a snapshot event is its fields packed (n and frauds as doubles)");
// A single event: tag, ts, seq, amount, frauds (one byte), label, counterparty.
constexpr std::size_t kSingleEventBytes = 1 + 8 + 8 + 8 + 1 + 1 + 4;

bool IsSingleEvent(const Record& r) {
    return r.n == 1.0f && r.seq_first == r.seq_last &&
           std::bit_cast<std::uint64_t>(r.sum) == std::bit_cast<std::uint64_t>(r.maxv) &&
           std::bit_cast<std::uint64_t>(r.sumsq) == std::bit_cast<std::uint64_t>(r.sum * r.sum) &&
           (r.frauds == 0.0f || r.frauds == 1.0f);
}
}  // namespace

// Snapshots are written for speed (the live server writes them in steps under its scoring
// lock): the size is reserved up front, an event is packed into one append, window lists go out
// without temporary copies. (Before, 38-54 MB of state took ~0.5 s on a loaded 2-core machine;
// 2026-12-05.)
std::size_t FeatureEngine::SnapshotSize() const {
    std::size_t size = sizeof(kSnapshotFormat) + 8 + FeatureSpecToJson(spec_).size();
    for (const auto& values : impl_->key_values) {
        size += 8;
        for (const auto& v : values) size += 8 + v.size();
    }
    for (const auto& b : impl_->blocks) {
        size += 8;
        // Without buckets every record is one transaction with its own label (revised, not
        // added: 0 or 1 fraud), so all are single events and this stays a pass over the entities,
        // not over every record, under the server's lock.
        const bool exact = b.spec.bucket_s == 0;
        for (const auto& e : b.states) {
            size += 1 + 8 + 8 + 8;
            if (exact) {
                size += e.ring.size() * kSingleEventBytes;
            } else {
                for (std::size_t i = 0; i < e.ring.size(); ++i)
                    size += IsSingleEvent(e.ring[i]) ? kSingleEventBytes : 1 + kRecordBytes;
            }
            // lo, hi, count, sum, sumsq, frauds; then two length-prefixed lists
            for (const auto& ws : e.win)
                size += 6 * 8 + 8 + 8 * ws.maxq.size() + 8 + 8 * ws.cp.size();
        }
    }
    return size;
}

namespace {
void WriteEntity(ByteWriter& w, const EntityState& e) {
    char rec[1 + kRecordBytes];
    const auto pack = [&rec](std::size_t at, const auto& v) {
        std::memcpy(rec + at, &v, sizeof v);
        return at + sizeof v;
    };
    w.Put<std::uint8_t>(e.seen);
    w.Put(e.last_ts);
    w.Put(e.base);
    w.Put<std::uint64_t>(e.ring.size());
    for (std::size_t i = 0; i < e.ring.size(); ++i) {
        const Record& r = e.ring[i];
        if (IsSingleEvent(r)) {
            std::size_t at = pack(0, kSingleEvent);
            at = pack(at, r.ts);
            at = pack(at, r.seq_first);
            at = pack(at, r.sum);
            at = pack(at, static_cast<std::uint8_t>(r.frauds));
            at = pack(at, r.label);
            at = pack(at, r.counterparty);
            w.PutBytes(rec, at);
            continue;
        }
        std::size_t at = pack(0, kFullRecord);
        at = pack(at, r.ts);
        at = pack(at, r.seq_first);
        at = pack(at, r.seq_last);
        at = pack(at, static_cast<double>(r.n));
        at = pack(at, r.sum);
        at = pack(at, r.sumsq);
        at = pack(at, r.maxv);
        at = pack(at, static_cast<double>(r.frauds));
        at = pack(at, r.label);
        at = pack(at, r.counterparty);
        w.PutBytes(rec, at);
    }
    for (const auto& ws : e.win) {
        w.Put(ws.lo);
        w.Put(ws.hi);
        w.Put(ws.count);
        w.Put(ws.sum);
        w.Put(ws.sumsq);
        w.Put(ws.frauds);
        w.Put<std::uint64_t>(ws.maxq.size());
        for (std::size_t i = 0; i < ws.maxq.size(); ++i) w.Put(ws.maxq[i]);
        w.Put<std::uint64_t>(2 * ws.cp.size());
        ws.cp.ForEachSorted([&w](std::uint32_t k, std::uint32_t v) {
            w.Put<std::uint32_t>(k);
            w.Put<std::uint32_t>(v);
        });
    }
}

SnapshotCursor StartSnapshot(const FeatureEngine::Impl& im, const FeatureSpec& spec) {
    SnapshotCursor c;
    ByteWriter head;
    head.Put(kSnapshotFormat);
    head.PutString(FeatureSpecToJson(spec));
    c.head = head.Take();
    for (int f = 0; f < kNumKeyFields; ++f) c.dict_size[f] = im.key_values[f].size();
    for (const auto& b : im.blocks) c.entities.push_back(b.states.size());
    c.early.resize(im.blocks.size());
    return c;
}

// Writes the snapshot's next bytes into w, until about `step_bytes` are written or everything
// is; true when everything is.
bool StepSnapshot(const FeatureEngine::Impl& im, SnapshotCursor& c, ByteWriter& w,
                  std::size_t step_bytes) {
    const std::size_t stop = w.bytes().size() + std::min(step_bytes, SIZE_MAX / 2);
    if (!c.head.empty()) {
        w.PutBytes(c.head.data(), c.head.size());
        c.head.clear();
    }
    for (; c.field < kNumKeyFields; ++c.field, c.value = 0) {
        if (c.value == 0) w.Put<std::uint64_t>(c.dict_size[c.field]);
        const auto& values = im.key_values[c.field];
        while (c.value < c.dict_size[c.field]) {
            w.PutString(values[c.value++]);
            if (w.bytes().size() >= stop) return false;
        }
    }
    for (; c.block < im.blocks.size(); ++c.block, c.entity = 0) {
        if (c.entity == 0) w.Put<std::uint64_t>(c.entities[c.block]);
        auto& early = c.early[c.block];
        while (c.entity < c.entities[c.block]) {
            const auto id = static_cast<std::uint32_t>(c.entity++);
            if (auto it = early.find(id); it != early.end()) {
                w.PutBytes(it->second.data(), it->second.size());
                early.erase(it);
            } else {
                WriteEntity(w, im.blocks[c.block].states[id]);
            }
            if (w.bytes().size() >= stop) return false;
        }
    }
    return true;
}
}  // namespace

void FeatureEngine::Impl::PreserveEntity(std::size_t block, std::uint32_t id) {
    SnapshotCursor& c = *stepped;
    const bool reached = block < c.block || (block == c.block && id < c.entity);
    if (reached || id >= c.entities[block] || c.early[block].contains(id)) return;
    ByteWriter w;
    WriteEntity(w, blocks[block].states[id]);
    c.early[block].emplace(id, w.Take());
}

std::string FeatureEngine::Snapshot(std::string reuse) const {
    reuse.clear();
    const std::size_t size = SnapshotSize();
    if (reuse.capacity() < size) reuse.reserve(size);
    SnapshotCursor c = StartSnapshot(*impl_, spec_);
    ByteWriter w(std::move(reuse));
    StepSnapshot(*impl_, c, w, SIZE_MAX);
    return w.Take();
}

void FeatureEngine::BeginSnapshot() {
    impl_->stepped = std::make_unique<SnapshotCursor>(StartSnapshot(*impl_, spec_));
}

bool FeatureEngine::SnapshotStep(std::string& out, std::size_t step_bytes) {
    TXG_CHECK(impl_->stepped != nullptr);
    ByteWriter w(std::move(out));
    const bool done = StepSnapshot(*impl_, *impl_->stepped, w, step_bytes);
    out = w.Take();
    if (done) impl_->stepped.reset();
    return done;
}

void FeatureEngine::AbandonSnapshot() { impl_->stepped.reset(); }

bool FeatureEngine::SnapshotInProgress() const { return impl_->stepped != nullptr; }

Result<void> FeatureEngine::Restore(std::string_view bytes) {
    ByteReader r(bytes, "feature engine snapshot");
    auto format = r.Get<std::uint32_t>();
    if (!format) return std::unexpected(format.error());
    if (*format != kSnapshotFormat && *format != kFormatFullRecords)
        return MakeError(ErrorCode::kIncompatible,
                         "feature engine snapshot format " + std::to_string(*format) +
                             ", this txguard reads " + std::to_string(kFormatFullRecords) +
                             " and " + std::to_string(kSnapshotFormat));
    auto spec_json = r.GetString();
    if (!spec_json) return std::unexpected(spec_json.error());
    if (*spec_json != FeatureSpecToJson(spec_))
        return MakeError(ErrorCode::kIncompatible,
                         "the snapshot was taken with another feature spec");
    FeatureEngine fresh(spec_);
    Impl& im = *fresh.impl_;
    for (int f = 0; f < kNumKeyFields; ++f) {
        auto n = r.Get<std::uint64_t>();
        if (!n || *n > bytes.size()) return r.Corrupt("bad key dictionary");
        for (std::uint64_t i = 0; i < *n; ++i) {
            auto v = r.GetString();
            if (!v) return std::unexpected(v.error());
            if (im.KeyId(static_cast<KeyField>(f), *v) != i) return r.Corrupt("duplicate key");
        }
    }
    for (auto& b : im.blocks) {
        auto n = r.Get<std::uint64_t>();
        if (!n || *n != b.states.size()) return r.Corrupt("entity count does not match keys");
        for (auto& e : b.states) {
            auto seen = r.Get<std::uint8_t>();
            auto last = r.Get<std::int64_t>();
            auto base = r.Get<std::uint64_t>();
            auto size = r.Get<std::uint64_t>();
            const bool tagged = *format != kFormatFullRecords;
            if (!seen || !last || !base || !size ||
                *size > r.remaining() / (tagged ? kSingleEventBytes : kRecordBytes))
                return r.Corrupt("bad entity header");
            e.seen = *seen != 0;
            e.last_ts = *last;
            e.base = *base;
            for (std::uint64_t i = 0; i < *size; ++i) {
                Record rec;
                auto tag = tagged ? r.Get<std::uint8_t>() : Result<std::uint8_t>(kFullRecord);
                if (!tag) return r.Corrupt("truncated event");
                if (*tag == kSingleEvent) {
                    auto ts = r.Get<std::int64_t>();
                    auto seq = r.Get<std::uint64_t>();
                    auto amount = r.Get<double>();
                    auto frauds = r.Get<std::uint8_t>();
                    auto label = r.Get<std::int8_t>();
                    auto cp = r.Get<std::uint32_t>();
                    if (!ts || !seq || !amount || !frauds || !label || !cp)
                        return r.Corrupt("truncated event");
                    if (*frauds > 1) return r.Corrupt("bad event counts");
                    rec.ts = *ts;
                    rec.seq_first = rec.seq_last = *seq;
                    rec.n = 1;
                    rec.sum = rec.maxv = *amount;
                    rec.sumsq = *amount * *amount;
                    rec.frauds = *frauds;
                    rec.label = *label;
                    rec.counterparty = *cp;
                    e.ring.push_back(rec);
                    continue;
                }
                if (*tag != kFullRecord) return r.Corrupt("bad event tag");
                auto ts = r.Get<std::int64_t>();
                auto s1 = r.Get<std::uint64_t>();
                auto s2 = r.Get<std::uint64_t>();
                auto n = r.Get<double>();
                auto sum = r.Get<double>();
                auto sumsq = r.Get<double>();
                auto maxv = r.Get<double>();
                auto frauds = r.Get<double>();
                auto label = r.Get<std::int8_t>();
                auto cp = r.Get<std::uint32_t>();
                if (!ts || !s1 || !s2 || !n || !sum || !sumsq || !maxv || !frauds || !label || !cp)
                    return r.Corrupt("truncated event");
                // Counts are held as floats: integers up to 2^24 are exact.
                const auto count_ok = [](double v) {
                    return v >= 0 && v <= 16777216.0 && v == std::floor(v);
                };
                if (!count_ok(*n) || !count_ok(*frauds)) return r.Corrupt("bad event counts");
                rec.ts = *ts;
                rec.seq_first = *s1;
                rec.seq_last = *s2;
                rec.n = static_cast<float>(*n);
                rec.sum = *sum;
                rec.sumsq = *sumsq;
                rec.maxv = *maxv;
                rec.frauds = static_cast<float>(*frauds);
                rec.label = *label;
                rec.counterparty = *cp;
                e.ring.push_back(rec);
            }
            const std::uint64_t end = e.base + e.ring.size();
            for (auto& ws : e.win) {
                auto lo = r.Get<std::uint64_t>();
                auto hi = r.Get<std::uint64_t>();
                auto c = r.Get<double>();
                auto s = r.Get<double>();
                auto s2 = r.Get<double>();
                auto fr = r.Get<double>();
                auto maxq = r.GetVector<std::uint64_t>();
                auto cp = r.GetVector<std::uint32_t>();
                if (!lo || !hi || !c || !s || !s2 || !fr || !maxq || !cp)
                    return r.Corrupt("bad window state");
                if (*lo > *hi || *hi > end || (*lo < e.base && *lo != *hi) || cp->size() % 2)
                    return r.Corrupt("window indices out of range");
                for (auto q : *maxq)
                    if (q < *lo || q >= *hi) return r.Corrupt("max index out of range");
                ws.lo = *lo;
                ws.hi = *hi;
                ws.count = *c;
                ws.sum = *s;
                ws.sumsq = *s2;
                ws.frauds = *fr;
                ws.maxq.assign(maxq->begin(), maxq->end());
                for (std::size_t i = 0; i < cp->size(); i += 2) {
                    if (i > 0 && (*cp)[i] <= (*cp)[i - 2])
                        return r.Corrupt("unsorted counterparties");
                    ws.cp.Append((*cp)[i], (*cp)[i + 1]);
                }
                ws.cp.FinishLoad();
            }
        }
    }
    if (!r.AtEnd()) return r.Corrupt("trailing bytes");
    *this = std::move(fresh);
    return Ok();
}

// ---- batch -------------------------------------------------------------------------------------
namespace {

const CategoricalColumn& KeyColumn(const TransactionTable& t, KeyField f) {
    switch (f) {
        case KeyField::kCustomer:
            return t.customer;
        case KeyField::kTerminal:
            return t.terminal;
        case KeyField::kCategory:
            return t.category;
        case KeyField::kChannel:
            return t.channel;
        case KeyField::kCountry:
            return t.country;
    }
    return t.customer;
}

}  // namespace

Result<Matrix> ComputeFeatures(FeatureEngine& engine, const TransactionTable& table,
                               const BatchOptions& options) {
    const FeatureSpec& spec = engine.spec();
    auto& im = engine.impl();
    const std::size_t n = table.rows;
    if (spec.NeedsTime() && !table.has_time())
        return MakeError(ErrorCode::kInvalidArgument,
                         "the model's features need a timestamp column");
    if ((spec.amount || !spec.entities.empty()) && !table.has_amount())
        return MakeError(ErrorCode::kInvalidArgument, "the model's features need an amount column");
    // Key fields in use, mapped from the table's pools to engine ids.
    bool used[kNumKeyFields] = {false, false, false, false, false};
    for (const auto& e : spec.entities) {
        used[static_cast<int>(e.key)] = true;
        if (e.NeedsCounterparty()) used[static_cast<int>(e.counterparty)] = true;
    }
    for (const auto& c : spec.categorical) used[static_cast<int>(c.column)] = true;
    std::vector<std::uint32_t> key_map[kNumKeyFields];
    for (int f = 0; f < kNumKeyFields; ++f) {
        if (!used[f]) continue;
        const CategoricalColumn& col = KeyColumn(table, static_cast<KeyField>(f));
        if (col.ids.empty() && n > 0)
            return MakeError(ErrorCode::kInvalidArgument,
                             std::string("the model's features need a ") +
                                 KeyFieldName(static_cast<KeyField>(f)) + " column");
        key_map[f].resize(col.pool.size());
        for (std::uint32_t i = 0; i < col.pool.size(); ++i)
            key_map[f][i] = engine.KeyId(static_cast<KeyField>(f), col.pool.Get(i));
    }
    std::vector<const std::vector<double>*> extras;
    for (const auto& name : spec.extra_columns) {
        auto it = std::find(table.extra_names.begin(), table.extra_names.end(), name);
        if (it == table.extra_names.end())
            return MakeError(ErrorCode::kInvalidArgument, "the data has no column \"" + name +
                                                              "\" that the model's features need");
        extras.push_back(&table.extra[it - table.extra_names.begin()]);
    }
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    if (table.has_time() && !table.IsTimeOrdered())
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return table.ts_ms[a] < table.ts_ms[b];
        });
    auto make_tx = [&](std::size_t pos, std::span<double> extra_buf) {
        const std::size_t r = order[pos];
        TxInput tx;
        tx.seq = pos;
        if (table.has_time()) tx.ts_ms = table.ts_ms[r];
        if (table.has_amount()) tx.amount = table.amount[r];
        for (int f = 0; f < kNumKeyFields; ++f)
            if (used[f]) tx.keys[f] = key_map[f][KeyColumn(table, static_cast<KeyField>(f)).ids[r]];
        for (std::size_t j = 0; j < extras.size(); ++j) extra_buf[j] = (*extras[j])[r];
        tx.extras = extra_buf;
        return tx;
    };

    Matrix out(n, engine.NumFeatures());
    const unsigned threads = ResolveThreads(options.threads);
    Progress progress("features", n * (1 + im.blocks.size()));
    // Columns that depend on the transaction alone.
    ParallelChunks(n, threads, [&](std::size_t b, std::size_t e, unsigned) {
        std::vector<double> buf(extras.size());
        for (std::size_t pos = b; pos < e; ++pos) {
            const TxInput tx = make_tx(pos, buf);
            im.WriteSimple(tx, out.Row(order[pos]));
        }
        progress.Add(e - b);
    });
    // Entity blocks: tasks (block, shard) each replay the rows of their entities in time order.
    const std::size_t shards = std::max<std::size_t>(1, threads);
    const std::size_t tasks = im.blocks.size() * shards;
    std::vector<Error> errors(tasks);
    std::vector<std::size_t> error_pos(tasks, n);
    const bool labels = options.use_table_labels && table.has_label();
    ParallelChunks(tasks, threads, [&](std::size_t tb, std::size_t te, unsigned) {
        std::vector<double> buf(extras.size());
        for (std::size_t task = tb; task < te; ++task) {
            Block& block = im.blocks[task / shards];
            const std::size_t shard = task % shards;
            const int key = static_cast<int>(block.spec.key);
            const bool risk = labels && block.spec.has_label_risk;
            const std::int64_t delay_ms =
                static_cast<std::int64_t>(block.spec.label_risk.delay_days) * kMsPerDay;
            std::deque<std::size_t> pending;  // positions whose label is not known yet, FIFO
            std::size_t done = 0;
            const auto& key_ids = KeyColumn(table, block.spec.key).ids;
            const auto entity_at = [&](std::size_t pos) {
                return key_map[key][key_ids[order[pos]]];
            };
            // Prefetching ahead of the replay (the state of a large file is far bigger than the
            // caches): cursors 16, 8 and 4 of this shard's rows ahead load an entity's state, its
            // windows, then its windows' edge records, each stage reading what the previous one
            // loaded. Cursor k sits at this shard's next row after its previous stop.
            struct Cursor {
                std::size_t pos = 0;
                unsigned lead;
            };
            Cursor ahead[3] = {{0, 16}, {0, 8}, {0, 4}};
            const auto advance = [&](Cursor& c) {
                while (c.pos < n && entity_at(c.pos) % shards != shard) ++c.pos;
                if (c.pos >= n) return std::uint32_t{UINT32_MAX};
                return entity_at(c.pos++);
            };
            const auto stage = [&](int k, std::uint32_t id) {
                if (id >= block.states.size()) return;
                const EntityState& e = block.states[id];
                if (k == 0) {
                    Prefetch(&e);
                } else if (k == 1) {
                    block.PrefetchWindows(e);
                } else {
                    block.PrefetchEdges(e);
                }
            };
            for (int k = 0; k < 3; ++k)
                for (unsigned i = 0; i < ahead[k].lead; ++i) stage(k, advance(ahead[k]));
            for (std::size_t pos = 0; pos < n; ++pos) {
                const std::size_t r = order[pos];
                const std::uint32_t id = key_map[key][key_ids[r]];
                if (id % shards != shard) continue;
                for (int k = 0; k < 3; ++k) stage(k, advance(ahead[k]));
                const TxInput tx = make_tx(pos, buf);
                while (risk && !pending.empty() &&
                       table.ts_ms[order[pending.front()]] + delay_ms <= tx.ts_ms) {
                    const std::size_t lp = pending.front();
                    pending.pop_front();
                    const std::size_t lr = order[lp];
                    const std::uint32_t lid =
                        key_map[key][KeyColumn(table, block.spec.key).ids[lr]];
                    block.AddLabel(block.states[lid], lp, table.label[lr]);
                }
                auto st = block.Process(block.states[id], tx,
                                        out.Row(r).subspan(block.offset, block.width));
                if (!st) {
                    errors[task] = st.error();
                    error_pos[task] = pos;
                    break;
                }
                if (risk) pending.push_back(pos);
                if (++done % 65536 == 0) progress.Add(65536);
            }
            progress.Add(done % 65536);
        }
    });
    progress.Finish();
    std::size_t first = n, which = 0;
    for (std::size_t t = 0; t < tasks; ++t)
        if (error_pos[t] < first) first = error_pos[t], which = t;
    if (first < n) {
        const std::size_t r = order[first];
        return MakeError(errors[which].code, "row " + std::to_string(r) + " (transaction " +
                                                 table.IdOf(r) + "): " + errors[which].message);
    }
    return out;
}

}  // namespace txguard
