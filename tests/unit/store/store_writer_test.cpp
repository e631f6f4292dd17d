#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "store_test_util.hpp"
#include "txguard/store/store.hpp"

namespace txguard {
namespace {

using namespace std::chrono_literals;
using store_test::MakeLabel;
using store_test::MakeTx;
using store_test::RawDb;
using store_test::TempDir;

std::unique_ptr<Store> MustOpen(const std::string& url) {
    auto s = OpenStore(url);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().ToString());
    return s ? std::move(*s) : nullptr;
}

TEST(StoreWriter, ManyProducersCommitEverythingOnce) {
    TempDir dir;
    const std::string url = dir.Url("w.db");
    auto store = MustOpen(url);
    ASSERT_TRUE(store);
    constexpr int kThreads = 8;
    constexpr int kPerThread = 1500;  // transactions; every 10th also gets a label
    std::vector<std::atomic<int>> tx_calls(kThreads * kPerThread);
    std::atomic<int> label_calls{0};
    std::atomic<int> batch_calls{0};
    std::atomic<int> failures{0};
    std::atomic<std::uint64_t> next_seq{1};
    StoreWriter writer(std::move(store), {.max_queue = 1 << 20, .max_batch = 512});
    std::vector<std::thread> producers;
    for (int t = 0; t < kThreads; ++t) {
        producers.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                const int k = t * kPerThread + i;
                const std::string id = "t" + std::to_string(k);
                if (i % 50 == 0) {  // some as a batch of one transaction and one label
                    std::vector<StoredTransaction> txs{MakeTx(next_seq++, id)};
                    std::vector<StoredLabel> labels{MakeLabel(next_seq++, id, 1)};
                    while (!writer.SubmitBatch(txs, labels, [&, k](const Result<void>& r) {
                        if (!r) ++failures;
                        ++tx_calls[k];
                        ++batch_calls;
                    })) {
                        std::this_thread::yield();
                    }
                    continue;
                }
                ASSERT_TRUE(writer.Submit(MakeTx(next_seq++, id), [&, k](const Result<void>& r) {
                    if (!r) ++failures;
                    ++tx_calls[k];
                }));
                if (i % 10 == 1) {
                    ASSERT_TRUE(
                        writer.Submit(MakeLabel(next_seq++, id, 0), [&](const Result<void>& r) {
                            if (!r) ++failures;
                            ++label_calls;
                        }));
                }
            }
        });
    }
    for (auto& p : producers) p.join();
    writer.Flush();
    for (int k = 0; k < kThreads * kPerThread; ++k) ASSERT_EQ(tx_calls[k].load(), 1) << k;
    EXPECT_EQ(failures.load(), 0);
    const int labels = label_calls.load() + batch_calls.load();
    EXPECT_EQ(batch_calls.load(), kThreads * kPerThread / 50);
    EXPECT_EQ(writer.QueueDepth(), 0u);
    EXPECT_EQ(writer.CommittedRecords(),
              static_cast<std::uint64_t>(kThreads * kPerThread + labels));
    EXPECT_EQ(writer.FailedCommits(), 0u);
    EXPECT_GE(writer.Commits(), 1u);
    EXPECT_LT(writer.Commits(), static_cast<std::uint64_t>(kThreads * kPerThread));  // grouped
    EXPECT_GE(writer.LastCommitSeconds(), 0.0);
    writer.Close();

    auto check = MustOpen(url);
    EXPECT_EQ(*check->CountTransactions(), static_cast<std::uint64_t>(kThreads * kPerThread));
    std::set<std::string> ids;
    int events = 0;
    ASSERT_TRUE(check->ForEachEvent(0, [&](const StoredEvent& e) -> Result<void> {
        ++events;
        if (e.transaction) {
            EXPECT_TRUE(ids.insert(e.transaction->transaction_id).second);
        }
        return Ok();
    }));
    EXPECT_EQ(events, kThreads * kPerThread + labels);
    EXPECT_EQ(*check->MaxSeq(), next_seq.load() - 1);
}

TEST(StoreWriter, FullQueueRefusesAndRecovers) {
    TempDir dir;
    auto store = MustOpen(dir.Url("w.db"));
    ASSERT_TRUE(store);
    RawDb lock(dir.File("w.db"));
    lock.Exec("BEGIN EXCLUSIVE");  // the writer's commits now wait (busy_timeout 5 s)
    std::atomic<int> ok{0};
    StoreWriter writer(std::move(store), {.max_queue = 4, .max_batch = 2});
    int accepted = 0;
    bool refused = false;
    for (int i = 0; i < 100 && !refused; ++i) {
        if (writer.Submit(MakeTx(static_cast<std::uint64_t>(i + 1), "q" + std::to_string(i)),
                          [&](const Result<void>& r) { ok += r.has_value(); })) {
            ++accepted;
        } else {
            refused = true;
        }
    }
    EXPECT_TRUE(refused);
    EXPECT_LE(accepted, 4 + 2);  // the queue plus the batch stuck in the commit
    EXPECT_LE(writer.QueueDepth(), 4u);
    std::vector<StoredTransaction> too_many(5, MakeTx(1000, "big"));
    EXPECT_FALSE(writer.SubmitBatch(too_many, {}, nullptr));  // can never fit: refused whole
    lock.Exec("COMMIT");
    writer.Flush();
    EXPECT_EQ(ok.load(), accepted);
    EXPECT_EQ(writer.QueueDepth(), 0u);
    EXPECT_TRUE(writer.Submit(MakeTx(500, "after"), nullptr));  // room again
    writer.Flush();
    EXPECT_EQ(writer.CommittedRecords(), static_cast<std::uint64_t>(accepted + 1));
}

TEST(StoreWriter, CloseDrainsQueueAndIsIdempotent) {
    TempDir dir;
    const std::string url = dir.Url("w.db");
    auto store = MustOpen(url);
    ASSERT_TRUE(store);
    std::atomic<int> calls{0};
    {
        RawDb lock(dir.File("w.db"));
        lock.Exec("BEGIN IMMEDIATE");
        StoreWriter writer(std::move(store), {.max_queue = 65536, .max_batch = 10});
        for (int i = 0; i < 300; ++i) {
            ASSERT_TRUE(writer.Submit(MakeTx(static_cast<std::uint64_t>(i + 1), std::to_string(i)),
                                      [&](const Result<void>& r) {
                                          EXPECT_TRUE(r.has_value());
                                          ++calls;
                                      }));
        }
        EXPECT_GT(writer.QueueDepth(), 0u);  // the first commit waits on the lock
        std::thread release([&] {
            std::this_thread::sleep_for(100ms);
            lock.Exec("COMMIT");
        });
        writer.Close();  // blocks until everything queued is committed
        EXPECT_EQ(calls.load(), 300);
        EXPECT_EQ(writer.CommittedRecords(), 300u);
        EXPECT_FALSE(writer.Submit(MakeTx(999, "late"), nullptr));
        writer.Close();
        writer.Flush();  // nothing pending: returns
        release.join();
    }  // the destructor closes again
    EXPECT_EQ(*MustOpen(url)->CountTransactions(), 300u);
}

TEST(StoreWriter, CommitFailureReachesCallbacks) {
    TempDir dir;
    const std::string url = dir.Url("w.db", "?busy_timeout_ms=50");
    auto store = MustOpen(url);
    ASSERT_TRUE(store);
    RawDb lock(dir.File("w.db"));
    lock.Exec("BEGIN EXCLUSIVE");  // held far longer than the writer's 50 ms busy timeout
    StoreWriter writer(std::move(store));
    std::mutex mu;
    std::vector<Error> errors;
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(writer.Submit(MakeTx(static_cast<std::uint64_t>(i + 1), std::to_string(i)),
                                  [&](const Result<void>& r) {
                                      std::lock_guard g(mu);
                                      if (!r) errors.push_back(r.error());
                                  }));
    }
    writer.Flush();
    ASSERT_EQ(errors.size(), 3u);
    EXPECT_EQ(errors[0].code, ErrorCode::kIo);
    EXPECT_NE(errors[0].message.find(url), std::string::npos) << errors[0].message;
    EXPECT_NE(errors[0].message.find("locked"), std::string::npos) << errors[0].message;
    EXPECT_GE(writer.FailedCommits(), 1u);
    EXPECT_EQ(writer.CommittedRecords(), 0u);

    lock.Exec("COMMIT");  // the writer goes on with later batches
    bool ok = false;
    ASSERT_TRUE(writer.Submit(MakeTx(1, "0"), [&](const Result<void>& r) { ok = r.has_value(); }));
    writer.Flush();
    EXPECT_TRUE(ok);
    EXPECT_EQ(writer.CommittedRecords(), 1u);
}

TEST(StoreWriter, CallbacksMaySubmitAgain) {
    auto store = MustOpen("sqlite::memory:");
    ASSERT_TRUE(store);
    StoreWriter writer(std::move(store), {.max_queue = 8, .max_batch = 4});
    std::atomic<int> done{0};
    std::function<void(int)> chain = [&](int i) {
        if (i == 50) return;
        ASSERT_TRUE(writer.Submit(MakeTx(static_cast<std::uint64_t>(i + 1), std::to_string(i)),
                                  [&, i](const Result<void>& r) {
                                      EXPECT_TRUE(r.has_value());
                                      ++done;
                                      writer.Flush();  // from a callback: returns at once
                                      chain(i + 1);
                                  }));
    };
    chain(0);
    while (done.load() < 50) std::this_thread::sleep_for(1ms);
    writer.Flush();
    EXPECT_EQ(writer.CommittedRecords(), 50u);
    EXPECT_EQ(writer.Commits(), 50u);
}

// A child process writes through a StoreWriter and reports every id whose callback said
// "committed" on a pipe; the parent SIGKILLs it mid-stream. Every reported id must be in the
// database, which must open cleanly and pass integrity_check.
TEST(StoreWriter, CommittedBatchesSurviveSigkill) {
    TempDir dir;
    const std::string url = dir.Url("crash.db");
    ASSERT_TRUE(MustOpen(url));  // create + migrate before forking
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // child: never returns into the test runner
        close(fds[0]);
        auto opened = OpenStore(url);
        if (!opened) _exit(2);
        StoreWriter writer(std::move(*opened), {.max_queue = 20000, .max_batch = 2000});
        const int out = fds[1];
        for (std::uint64_t b = 0;; ++b) {
            std::vector<StoredTransaction> txs;
            std::string lines;
            for (std::uint64_t j = 0; j < 100; ++j) {
                const std::uint64_t seq = b * 100 + j + 1;
                txs.push_back(MakeTx(seq, "k" + std::to_string(seq)));
                lines += txs.back().transaction_id + "\n";
            }
            while (!writer.SubmitBatch(txs, {}, [out, lines](const Result<void>& r) {
                if (!r) _exit(3);
                std::size_t off = 0;
                while (off < lines.size()) {
                    const ssize_t n = write(out, lines.data() + off, lines.size() - off);
                    if (n <= 0) _exit(4);
                    off += static_cast<std::size_t>(n);
                }
            })) {
                std::this_thread::sleep_for(1ms);  // refused (queue full): retry the copy
            }
        }
    }
    close(fds[1]);
    std::string received;
    char buf[65536];
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    std::size_t newlines = 0;
    while (newlines < 30000 && std::chrono::steady_clock::now() < deadline) {
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        received.append(buf, static_cast<std::size_t>(n));
        for (ssize_t i = 0; i < n; ++i) newlines += buf[i] == '\n';
    }
    kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child ended by itself, status " << status;
    for (;;) {  // what the child reported before it died
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n <= 0) break;
        received.append(buf, static_cast<std::size_t>(n));
    }
    close(fds[0]);
    received.erase(received.rfind('\n') + 1);  // a torn last line is not a report

    {
        RawDb raw(dir.File("crash.db"));
        EXPECT_EQ(raw.Exec("PRAGMA integrity_check"), "ok");
    }
    auto store = MustOpen(url);
    ASSERT_TRUE(store);
    std::set<std::string> stored;
    ASSERT_TRUE(store->ForEachTransactionId(
        [&](std::string_view id, std::uint64_t) { stored.emplace(id); }));
    std::istringstream lines(received);
    std::size_t reported = 0;
    for (std::string id; std::getline(lines, id);) {
        ++reported;
        ASSERT_TRUE(stored.count(id)) << "committed " << id << " is missing after SIGKILL";
    }
    EXPECT_GT(reported, 0u);
    EXPECT_GE(stored.size(), reported);
    std::printf("[ crash ] %zu ids reported committed before SIGKILL, %zu stored\n", reported,
                stored.size());
}

}  // namespace
}  // namespace txguard
