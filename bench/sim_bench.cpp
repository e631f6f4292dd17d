// Simulator and CSV writer throughput (transactions per second, items_per_second).
//
// Default sizes are small so the CTest smoke run (--benchmark_min_time=0.01) stays quick. For the
// handbook's sizes (5000 customers, 10000 terminals, 183 days, about 1.75M transactions) run
//   TXGUARD_BENCH_SIM=handbook build/release/bench/bench_sim --benchmark_min_time=3
// See docs/benchmarks.md for measured figures.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "txguard/core/check.hpp"
#include "txguard/data/csv.hpp"
#include "txguard/data/schema.hpp"
#include "txguard/sim/simulator.hpp"

namespace txguard {
namespace {

SimParams BenchParams(unsigned threads) {
    SimParams p;  // the handbook's defaults
    const char* size = std::getenv("TXGUARD_BENCH_SIM");
    if (size == nullptr || std::string(size) != "handbook") {
        p.customers = 500;
        p.terminals = 1000;
        p.days = 30;
    }
    p.threads = threads;
    return p;
}

Schema HandbookSchema() {
    auto s = SchemaPreset("handbook");
    TXG_CHECK(s.has_value());
    return *s;
}

std::string TempPath(const char* suffix) {
    return (std::filesystem::temp_directory_path() /
            ("txguard_sim_bench_" + std::to_string(::getpid()) + suffix))
        .string();
}

TransactionTable MustSimulate(const SimParams& p, benchmark::State& state) {
    auto t = Simulate(p);
    if (!t) {
        state.SkipWithError(t.error().ToString().c_str());
        return {};
    }
    return std::move(*t);
}

void BM_Simulate(benchmark::State& state) {
    const SimParams p = BenchParams(static_cast<unsigned>(state.range(0)));
    std::size_t rows = 0;
    for (auto _ : state) {
        TransactionTable t = MustSimulate(p, state);
        rows = t.rows;
        benchmark::DoNotOptimize(t.amount.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows));
    state.counters["rows"] = static_cast<double>(rows);
}
BENCHMARK(BM_Simulate)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_WriteCsv(benchmark::State& state, const char* suffix) {
    const TransactionTable t = MustSimulate(BenchParams(0), state);
    const Schema schema = HandbookSchema();
    const std::string path = TempPath(suffix);
    for (auto _ : state) {
        auto r = WriteTransactionsCsv(t, schema, path);
        if (!r) state.SkipWithError(r.error().ToString().c_str());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * t.rows));
    state.SetBytesProcessed(
        static_cast<std::int64_t>(state.iterations() * std::filesystem::file_size(path)));
    std::filesystem::remove(path);
}
BENCHMARK_CAPTURE(BM_WriteCsv, csv, ".csv")->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_WriteCsv, gz, ".csv.gz")->Unit(benchmark::kMillisecond)->UseRealTime();

// End to end: what `txguard simulate --out x.csv` costs.
void BM_SimulateAndWriteCsv(benchmark::State& state) {
    const SimParams p = BenchParams(0);
    const Schema schema = HandbookSchema();
    const std::string path = TempPath(".csv");
    std::size_t rows = 0;
    for (auto _ : state) {
        TransactionTable t = MustSimulate(p, state);
        auto r = WriteTransactionsCsv(t, schema, path);
        if (!r) state.SkipWithError(r.error().ToString().c_str());
        rows = t.rows;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows));
    std::filesystem::remove(path);
}
BENCHMARK(BM_SimulateAndWriteCsv)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace txguard

BENCHMARK_MAIN();
