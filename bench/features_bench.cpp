// Feature engine: the live path's cost a transaction (FeatureEngine::Process) for an entity whose
// windows hold many distinct counterparties, e.g. a merchant's distinct customers in 30 days.
// The engine keeps, per window, a count per counterparty: the cost a transaction must not grow
// with their number. BM_DistinctCounterparties/N runs in the steady state where every window of
// one terminal holds ~N distinct customers (each transaction enters one and leaves one).
//   build/release/bench/bench_features --benchmark_min_time=1
// See docs/benchmarks.md for measured figures.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "txguard/core/check.hpp"
#include "txguard/core/time.hpp"
#include "txguard/features/feature_engine.hpp"

namespace txguard {
namespace {

FeatureSpec MerchantSpec() {
    FeatureSpec spec;
    EntitySpec term;
    term.name = "term";
    term.key = KeyField::kTerminal;
    term.counterparty = KeyField::kCustomer;
    term.windows_days = {1, 7, 30};
    term.aggregates = {Aggregate::kCount, Aggregate::kMean, Aggregate::kDistinct};
    term.new_counterparty = true;
    spec.entities.push_back(term);
    return spec;
}

void BM_DistinctCounterparties(benchmark::State& state) {
    const auto distinct = static_cast<std::uint32_t>(state.range(0));
    FeatureEngine engine(MerchantSpec());
    std::vector<std::uint32_t> customers(distinct);
    for (std::uint32_t c = 0; c < distinct; ++c)
        customers[c] = engine.KeyId(KeyField::kCustomer, "C" + std::to_string(c));
    const std::uint32_t terminal = engine.KeyId(KeyField::kTerminal, "T0");
    // Every window holds 2 * distinct transactions (each customer twice), spread evenly.
    const std::int64_t step_ms = 30 * kMsPerDay / (2 * static_cast<std::int64_t>(distinct));
    std::vector<double> row(engine.NumFeatures());
    TxInput in;
    in.keys[static_cast<int>(KeyField::kTerminal)] = terminal;
    // Customers visited in a scrambled order, so that insertions land all over the key range.
    std::uint64_t i = 0;
    auto next = [&] {
        ++i;
        in.seq = i;
        in.ts_ms = static_cast<std::int64_t>(i) * step_ms;
        in.amount = static_cast<double>(i % 97);
        in.keys[static_cast<int>(KeyField::kCustomer)] = customers[(i * 2654435761u) % distinct];
        TXG_CHECK(engine.Process(in, row).has_value());
    };
    for (std::uint32_t w = 0; w < 2 * distinct; ++w) next();  // fill the 30-day window
    for (auto _ : state) next();
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["distinct_30d"] = row[row.size() - 2];
}
BENCHMARK(BM_DistinctCounterparties)->Arg(100)->Arg(1000)->Arg(10000)->Arg(50000);

}  // namespace
}  // namespace txguard

BENCHMARK_MAIN();
