// The store's append cost alone: `Store::Append` of batches of records shaped like the scoring
// service's (a random transaction id like the wrk load's, the request's fields as JSON, three
// reasons), into a fresh SQLite store in WAL mode checkpointed every 100 ms as the service does —
// the CPU a stored transaction costs before any parsing, feature or scoring work. items_per_second
// is records a second; the table grows through the run, as the service's does.
//
//   build/release/bench/bench_store --benchmark_min_time=5 --benchmark_repetitions=3
//
// Arguments: the batch size (1000: one /v1/score/batch request of the benchmark load; 64: a group
// commit of single requests) and the id pattern (0: the benchmark loads', 1: random, like UUIDs).
// See docs/benchmarks.md.
//
// TXGUARD_BENCH_STORE_URL=postgresql://... runs the same appends against that store instead (an
// empty database; give each benchmark its own with --benchmark_filter, as
// scripts/bench/store_postgres.sh does).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "txguard/store/store.hpp"

namespace txguard {
namespace {

// Transaction ids: like the benchmark loads' (scripts/bench/serve_batch.lua and the shared wrk
// script: one tag per load thread, then a counter, so consecutive ids share a prefix and land
// next to each other in the id index), or random like UUIDs (every insert lands on a random
// page of the id index).
std::string Id(bool random_ids, int run_tag, std::uint64_t seq, std::mt19937_64& rng) {
    if (!random_ids) return "b" + std::to_string(run_tag) + "-" + std::to_string(seq);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id(36, '-');
    std::uint64_t bits[2] = {rng(), rng()};
    for (std::size_t i = 0, b = 0; i < id.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) continue;
        id[i] = kHex[(bits[b / 16] >> (4 * (b % 16))) & 15];
        ++b;
    }
    return id;
}

std::vector<StoredTransaction> Batch(std::size_t n, bool random_ids, std::uint64_t& seq,
                                     std::mt19937_64& rng) {
    std::vector<StoredTransaction> out(n);
    std::uniform_int_distribution<int> cust(0, 4999), term(0, 9999);
    static const int run_tag = std::uniform_int_distribution<int>(1, 1'000'000'000)(rng);
    std::uniform_real_distribution<double> amount(0.0, 200.0);
    for (auto& r : out) {
        ++seq;
        r.seq = seq;
        r.transaction_id = Id(random_ids, run_tag, seq, rng);
        r.ts_ms = 1522540800000 + static_cast<std::int64_t>(seq) * 1000;
        r.received_ms = 1733400000000 + static_cast<std::int64_t>(seq);
        r.customer_id = "C" + std::to_string(cust(rng));
        r.terminal_id = "T" + std::to_string(term(rng));
        r.amount = amount(rng);
        r.fields_json = "{\"transaction_id\":\"" + r.transaction_id +
                        "\",\"timestamp\":" + std::to_string(r.ts_ms / 1000) +
                        ",\"customer_id\":\"" + r.customer_id + "\",\"terminal_id\":\"" +
                        r.terminal_id + "\",\"amount\":" + std::to_string(r.amount) + "}";
        r.score = amount(rng) / 400.0;
        r.decision = r.score > 0.45 ? "review" : "allow";
        r.reasons_json =
            "[{\"feature\":\"customer_amount_mean_7d\",\"value\":57.16,\"contribution\":0.0123},"
            "{\"feature\":\"terminal_tx_count_30d\",\"value\":12,\"contribution\":0.0087},"
            "{\"feature\":\"customer_seconds_since_last\",\"value\":3600,\"contribution\":-0.0041}"
            "]";
        r.model_version = "iforest-0123456789abcdef";
    }
    return out;
}

void BM_SqliteAppend(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const bool random_ids = state.range(1) != 0;
    const auto dir = std::filesystem::temp_directory_path() /
                     ("txguard_store_bench_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::size_t stored = 0;
    {
        const char* url = std::getenv("TXGUARD_BENCH_STORE_URL");
        auto store =
            OpenStore(url != nullptr && *url != '\0' ? std::string(url)
                                                     : "sqlite://" + (dir / "s.db").string());
        if (!store) {
            state.SkipWithError(store.error().ToString().c_str());
            return;
        }
        // As the service runs it: no automatic checkpoint on the appending connection, a passive
        // checkpoint every 100 ms (the service's from its own thread; counted here).
        (*store)->SetAutoCheckpoint(false);
        auto last_checkpoint = std::chrono::steady_clock::now();
        // An external store keeps what earlier runs of this case appended (the benchmark
        // library runs a case more than once): carry on after it, with fresh ids.
        auto max_seq = (*store)->MaxSeq();
        if (!max_seq) {
            state.SkipWithError(max_seq.error().ToString().c_str());
            return;
        }
        std::uint64_t seq = *max_seq;
        std::mt19937_64 rng(7 + seq);
        for (auto _ : state) {
            state.PauseTiming();
            auto batch = Batch(n, random_ids, seq, rng);
            state.ResumeTiming();
            auto r = (*store)->Append(batch, {});
            if (!r) {
                state.SkipWithError(r.error().ToString().c_str());
                break;
            }
            stored += *r;
            if (std::chrono::steady_clock::now() - last_checkpoint >=
                std::chrono::milliseconds(100)) {
                if (auto c = (*store)->Checkpoint(); !c) {
                    state.SkipWithError(c.error().ToString().c_str());
                    break;
                }
                last_checkpoint = std::chrono::steady_clock::now();
            }
        }
    }
    std::filesystem::remove_all(dir);
    state.SetItemsProcessed(static_cast<std::int64_t>(stored));
    state.counters["rows_at_end"] = static_cast<double>(stored);
}
BENCHMARK(BM_SqliteAppend)
    ->ArgNames({"batch", "random_ids"})
    ->ArgsProduct({{1000, 64}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace txguard

BENCHMARK_MAIN();
