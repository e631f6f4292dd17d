// StoreWriter: a bounded queue drained by one thread that commits what is queued in one Append.
//
// Callbacks run on the writer thread with no lock held, so they may Submit() again. They must
// not throw; Flush() from a callback returns at once (it cannot wait for its own batch), Close()
// from a callback only stops accepting (the thread drains and the destructor joins), and
// destroying the writer from one of its callbacks is a programmer bug (checked).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <iterator>
#include <mutex>
#include <thread>

#include "txguard/core/check.hpp"
#include "txguard/store/store.hpp"

namespace txguard {

struct StoreWriter::Impl {
    struct Entry {
        std::vector<StoredTransaction> txs;
        std::vector<StoredLabel> labels;
        Done done;
        std::size_t Records() const { return txs.size() + labels.size(); }
    };

    Impl(std::unique_ptr<Store> s, StoreWriterOptions o) : store(std::move(s)), options(o) {
        TXG_CHECK(store != nullptr);
        options.max_batch = std::max<std::size_t>(options.max_batch, 1);
        thread = std::thread([this] { Run(); });
        thread_id = thread.get_id();
    }

    bool Push(Entry entry) {
        const std::size_t records = entry.Records();
        {
            std::lock_guard lock(mu);
            if (closed || records > options.max_queue ||
                queued_records.load(std::memory_order_relaxed) + records > options.max_queue) {
                return false;
            }
            queue.push_back(std::move(entry));
            queued_records.fetch_add(records, std::memory_order_relaxed);
            ++submitted_entries;
            if (!writer_waiting) return true;  // the writer looks at the queue before it sleeps
        }
        work_cv.notify_one();
        return true;
    }

    void Run() {
        std::vector<Entry> batch;
        std::vector<StoredTransaction> txs;
        std::vector<StoredLabel> labels;
        for (;;) {
            std::size_t records = 0;
            {
                std::unique_lock lock(mu);
                writer_waiting = true;
                work_cv.wait(lock, [&] { return !queue.empty() || closed; });
                writer_waiting = false;
                if (queue.empty()) return;  // closed and drained
                if (options.commit_delay_us > 0 && !closed &&
                    queued_records.load(std::memory_order_relaxed) < options.max_batch) {
                    // Let more records join this commit (not waking on each Push: writer_waiting
                    // stays false, so producers do not signal).
                    lock.unlock();
                    std::this_thread::sleep_for(std::chrono::microseconds(options.commit_delay_us));
                    lock.lock();
                }
                while (!queue.empty()) {
                    const std::size_t r = queue.front().Records();
                    if (!batch.empty() && records + r > options.max_batch) break;
                    records += r;
                    batch.push_back(std::move(queue.front()));
                    queue.pop_front();
                }
                queued_records.fetch_sub(records, std::memory_order_relaxed);
            }
            txs.clear();
            labels.clear();
            for (auto& e : batch) {
                std::move(e.txs.begin(), e.txs.end(), std::back_inserter(txs));
                std::move(e.labels.begin(), e.labels.end(), std::back_inserter(labels));
            }
            const auto start = std::chrono::steady_clock::now();
            auto appended = store->Append(txs, labels);
            const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
            last_commit_seconds.store(took.count(), std::memory_order_relaxed);
            commits.fetch_add(1, std::memory_order_relaxed);
            Result<void> result = Ok();
            if (appended) {
                committed_records.fetch_add(records, std::memory_order_relaxed);
            } else {
                failed_commits.fetch_add(1, std::memory_order_relaxed);
                result = std::unexpected(appended.error());
            }
            for (auto& e : batch) {
                if (e.done) e.done(result);
            }
            const std::size_t finished = batch.size();
            batch.clear();
            {
                std::lock_guard lock(mu);
                completed_entries += finished;
            }
            flushed_cv.notify_all();
        }
    }

    void Flush() {
        if (std::this_thread::get_id() == thread_id) return;  // from a callback
        std::unique_lock lock(mu);
        const std::uint64_t target = submitted_entries;
        flushed_cv.wait(lock, [&] { return completed_entries >= target; });
    }

    void Close() {
        {
            std::lock_guard lock(mu);
            closed = true;
        }
        work_cv.notify_all();
        if (std::this_thread::get_id() == thread_id) return;  // from a callback
        std::lock_guard join_lock(join_mu);
        if (thread.joinable()) thread.join();
    }

    std::unique_ptr<Store> store;
    StoreWriterOptions options;

    mutable std::mutex mu;
    std::condition_variable work_cv;             // the writer waits for entries or Close
    std::condition_variable flushed_cv;          // Flush waits for completed_entries
    std::deque<Entry> queue;                     // guarded by mu
    bool closed = false;                         // guarded by mu
    bool writer_waiting = false;                 // guarded by mu: the writer sleeps on work_cv
    std::uint64_t submitted_entries = 0;         // guarded by mu
    std::uint64_t completed_entries = 0;         // guarded by mu (callbacks done)
    std::atomic<std::size_t> queued_records{0};  // written under mu

    std::atomic<std::uint64_t> committed_records{0};
    std::atomic<std::uint64_t> commits{0};
    std::atomic<std::uint64_t> failed_commits{0};
    std::atomic<double> last_commit_seconds{0.0};

    std::mutex join_mu;
    std::thread thread;
    std::thread::id thread_id;
};

StoreWriter::StoreWriter(std::unique_ptr<Store> store, StoreWriterOptions options)
    : impl_(std::make_unique<Impl>(std::move(store), options)) {}

StoreWriter::~StoreWriter() {
    TXG_CHECK_MSG(std::this_thread::get_id() != impl_->thread_id,
                  "a StoreWriter must not be destroyed from its own callback");
    impl_->Close();
}

bool StoreWriter::Submit(StoredTransaction tx, Done done) {
    Impl::Entry e;
    e.txs.push_back(std::move(tx));
    e.done = std::move(done);
    return impl_->Push(std::move(e));
}

bool StoreWriter::Submit(StoredLabel label, Done done) {
    Impl::Entry e;
    e.labels.push_back(std::move(label));
    e.done = std::move(done);
    return impl_->Push(std::move(e));
}

bool StoreWriter::SubmitBatch(std::vector<StoredTransaction> txs, std::vector<StoredLabel> labels,
                              Done done) {
    return impl_->Push(Impl::Entry{std::move(txs), std::move(labels), std::move(done)});
}

void StoreWriter::Flush() { impl_->Flush(); }
void StoreWriter::Close() { impl_->Close(); }

std::size_t StoreWriter::QueueDepth() const {
    return impl_->queued_records.load(std::memory_order_relaxed);
}
std::uint64_t StoreWriter::CommittedRecords() const {
    return impl_->committed_records.load(std::memory_order_relaxed);
}
std::uint64_t StoreWriter::Commits() const {
    return impl_->commits.load(std::memory_order_relaxed);
}
std::uint64_t StoreWriter::FailedCommits() const {
    return impl_->failed_commits.load(std::memory_order_relaxed);
}
double StoreWriter::LastCommitSeconds() const {
    return impl_->last_commit_seconds.load(std::memory_order_relaxed);
}

}  // namespace txguard
