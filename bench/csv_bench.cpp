// CSV reader benchmarks.
//
//   bench_csv [google-benchmark flags]
//       Parses a generated handbook-style CSV held in memory (no files needed; CTest runs it as
//       the smoke test bench.csv.smoke with --benchmark_min_time=0.01).
//   bench_csv --time-file PATH [--threads N] [--schema PRESET_OR_FILE]
//       Reads one real file once with ReadTransactionsCsv and prints one line
//         read_s=<seconds> peak_rss_mb=<MiB> rows=<n> threads=<n>
//       (scripts/bench/csv.sh runs this side by side with pandas.read_csv).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "txguard/core/rng.hpp"
#include "txguard/core/time.hpp"
#include "txguard/data/csv.hpp"
#include "txguard/data/schema.hpp"

namespace {

// A handbook-layout CSV with `rows` rows (same columns, formats and id ranges as the real data).
std::string MakeHandbookCsv(std::size_t rows, std::uint64_t seed) {
    txguard::Rng rng(seed);
    std::string s =
        "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD,"
        "TX_FRAUD_SCENARIO,TX_TIME_SECONDS,TX_TIME_DAYS\n";
    const std::int64_t origin = txguard::DaysFromCivil(2018, 4, 1) * txguard::kMsPerDay;
    std::int64_t secs = 0;
    char ts[20];
    char line[256];
    for (std::size_t i = 0; i < rows; ++i) {
        secs += static_cast<std::int64_t>(rng.Below(18));
        txguard::FormatTimestamp(origin + secs * 1000, ts);
        ts[19] = 0;
        const bool fraud = rng.Below(120) == 0;
        const int n = std::snprintf(
            line, sizeof line, "%zu,%s,%llu,%llu,%.2f,%d,%d,%lld,%lld\n", i, ts,
            static_cast<unsigned long long>(rng.Below(5000)),
            static_cast<unsigned long long>(rng.Below(10000)), rng.Uniform(1.0, 200.0),
            fraud ? 1 : 0, fraud ? 1 + static_cast<int>(rng.Below(3)) : 0,
            static_cast<long long>(secs), static_cast<long long>(secs / 86400));
        s.append(line, static_cast<std::size_t>(n));
    }
    return s;
}

void BM_ParseHandbookCsv(benchmark::State& state) {
    static const std::string csv = MakeHandbookCsv(20000, 7);
    const auto schema = txguard::SchemaPreset("handbook").value();
    txguard::CsvReadOptions opt;
    opt.threads = static_cast<unsigned>(state.range(0));
    opt.min_chunk_bytes = 1 << 14;
    opt.show_progress = false;
    for (auto _ : state) {
        auto t = txguard::ParseTransactionsCsv(csv, "bench.csv", schema, opt);
        if (!t) {
            state.SkipWithError(t.error().message.c_str());
            break;
        }
        benchmark::DoNotOptimize(t->rows);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * csv.size()));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 20000));
}
BENCHMARK(BM_ParseHandbookCsv)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

int TimeFile(int argc, char** argv) {
    std::string path, schema_name = "handbook";
    unsigned threads = 2;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--time-file" && i + 1 < argc) {
            path = argv[++i];
        } else if (a == "--threads" && i + 1 < argc) {
            threads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
        } else if (a == "--schema" && i + 1 < argc) {
            schema_name = argv[++i];
        } else {
            std::fprintf(stderr, "unknown argument %s\n", a.c_str());
            return 2;
        }
    }
    auto schema = txguard::ResolveSchema(schema_name);
    if (!schema) {
        std::fprintf(stderr, "%s\n", schema.error().ToString().c_str());
        return 1;
    }
    txguard::CsvReadOptions opt;
    opt.threads = threads;
    opt.show_progress = false;
    const auto t0 = std::chrono::steady_clock::now();
    auto table = txguard::ReadTransactionsCsv(path, *schema, opt);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!table) {
        std::fprintf(stderr, "%s\n", table.error().ToString().c_str());
        return 1;
    }
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::printf("read_s=%.4f peak_rss_mb=%.1f rows=%zu threads=%u\n", secs,
                static_cast<double>(ru.ru_maxrss) / 1024.0, table->rows, threads);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--time-file") == 0) return TimeFile(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
