// Detector benchmarks.
//
//   bench_detect [google-benchmark flags]   fit+score of every detector on synthetic data (the
//                                           CTest smoke run uses this mode)
//   bench_detect adbench CSV DETECTOR [--param key=value]... [--dump PATH]
//       The ADBench protocol for scripts/bench/adbench.sh: load CSV (f0..f{d-1},label), then fit
//       on all rows and score all rows (Detector::FitScore), and print one JSON line: dataset,
//       method, n, d, seconds (fit + score only, as the scikit-learn peer measures), peak RSS of
//       the process, ROC-AUC and average precision. --dump writes the scores (float64, little
//       endian) to PATH, and for dbscan the cluster labels (int32) to PATH.labels.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "txguard/core/rng.hpp"
#include "txguard/detect/dbscan.hpp"
#include "txguard/detect/detector.hpp"
#include "txguard/eval/metrics.hpp"

namespace {

using txguard::Matrix;

Matrix Synthetic(std::size_t n, std::size_t d) {
    txguard::Rng rng(1);
    Matrix x(n, d);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j)
            x(i, j) = i % 50 == 0 ? rng.Uniform(-8, 8) : rng.Normal(i % 2 ? 2.0 : -2.0, 1.0);
    return x;
}

void BM_FitScore(benchmark::State& state, const char* name, const txguard::ParamMap& params) {
    const std::size_t n = static_cast<std::size_t>(state.range(0));
    const Matrix x = Synthetic(n, static_cast<std::size_t>(state.range(1)));
    std::vector<double> out(n);
    for (auto _ : state) {
        auto det = txguard::CreateDetector(name, params);
        if (!det || !(*det)->FitScore(x, out)) {
            state.SkipWithError("fit failed");
            return;
        }
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

BENCHMARK_CAPTURE(BM_FitScore, iforest, "iforest", {})
    ->Args({20000, 3})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FitScore, iforest_ext, "iforest", {{"extension", "2"}})
    ->Args({20000, 3})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FitScore, knn, "knn", {})
    ->Args({20000, 3})
    ->Args({3000, 32})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FitScore, lof, "lof", {})->Args({20000, 3})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FitScore, dbscan, "dbscan", {})
    ->Args({20000, 3})
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FitScore, ecod, "ecod", {})->Args({20000, 3})->Unit(benchmark::kMillisecond);

// Scores with reasons as the scoring service computes them, every row explained: state.range(0)
// rows a call (1: a live request; 1000: a batch), a 100-tree forest on 40 features.
// two_calls: Score, then Contributions for each row; one_call: ScoreExplained, where the isolation
// forest explains from the leaves its scoring walk reached.
void BM_ScoreExplained(benchmark::State& state, bool one_call) {
    const std::size_t rows = static_cast<std::size_t>(state.range(0)), n = 20000, d = 40;
    const Matrix x = Synthetic(n, d);
    auto det = txguard::CreateDetector("iforest", {{"threads", "1"}});
    if (!det || !(*det)->Fit(x)) {
        state.SkipWithError("fit failed");
        return;
    }
    std::vector<double> scores(rows), contrib(d + 1);
    Matrix explained;
    const auto all = [](std::size_t, double) { return true; };
    std::size_t at = 0;
    for (auto _ : state) {
        const txguard::MatrixView v = x.View().Slice(at, at + rows);
        at = at + 2 * rows > n ? 0 : at + rows;
        if (one_call) {
            (void)(*det)->ScoreExplained(v, scores, all, &explained);
            benchmark::DoNotOptimize(explained.data());
        } else {
            (void)(*det)->Score(v, scores);
            for (std::size_t r = 0; r < rows; ++r) (void)(*det)->Contributions(v.Row(r), contrib);
            benchmark::DoNotOptimize(contrib.data());
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * rows));
}

BENCHMARK_CAPTURE(BM_ScoreExplained, two_calls, false)->Arg(1)->Arg(1000);
BENCHMARK_CAPTURE(BM_ScoreExplained, one_call, true)->Arg(1)->Arg(1000);

// ---- ADBench driver
// -------------------------------------------------------------------------------

bool LoadCsv(const std::string& path, Matrix* x, std::vector<std::int8_t>* y) {
    std::ifstream in(path);
    if (!in) return false;
    std::string line;
    if (!std::getline(in, line)) return false;
    std::size_t cols = 1;
    for (char c : line) cols += c == ',';
    if (cols < 2) return false;
    const std::size_t d = cols - 1;
    std::vector<double> values;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        const char* p = line.c_str();
        for (std::size_t j = 0; j < cols; ++j) {
            char* end = nullptr;
            const double v = std::strtod(p, &end);
            if (end == p) return false;
            if (j < d) {
                values.push_back(v);
            } else {
                y->push_back(v != 0.0 ? 1 : 0);
            }
            p = *end == ',' ? end + 1 : end;
        }
    }
    *x = Matrix(y->size(), d);
    std::memcpy(x->data(), values.data(), values.size() * sizeof(double));
    return true;
}

int RunAdbench(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr,
                     "usage: bench_detect adbench CSV DETECTOR [--param k=v]... [--dump P]\n");
        return 2;
    }
    const std::string csv = argv[2], method = argv[3];
    txguard::ParamMap params;
    std::string dump;
    for (int i = 4; i + 1 < argc; i += 2) {
        const std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--param") {
            const auto eq = value.find('=');
            if (eq == std::string::npos) return 2;
            params[value.substr(0, eq)] = value.substr(eq + 1);
        } else if (flag == "--dump") {
            dump = value;
        } else {
            std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
            return 2;
        }
    }
    Matrix x;
    std::vector<std::int8_t> y;
    if (!LoadCsv(csv, &x, &y)) {
        std::fprintf(stderr, "cannot read %s\n", csv.c_str());
        return 1;
    }
    auto det = txguard::CreateDetector(method, params);
    if (!det) {
        std::fprintf(stderr, "%s\n", det.error().ToString().c_str());
        return 1;
    }
    std::vector<double> scores(x.rows());
    const auto t0 = std::chrono::steady_clock::now();
    auto fitted = (*det)->FitScore(x, scores);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!fitted) {
        std::fprintf(stderr, "%s\n", fitted.error().ToString().c_str());
        return 1;
    }
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double auc = txguard::RocAuc(scores, y).value_or(-1);
    const double ap = txguard::AveragePrecision(scores, y).value_or(-1);
    std::string base = csv.substr(csv.find_last_of('/') + 1);
    base = base.substr(0, base.size() - 4);
    std::string extra;
    const auto* dbscan = dynamic_cast<const txguard::DbscanDetector*>(det->get());
    if (dbscan) {
        std::vector<double> noise(scores.size());
        std::int32_t clusters = 0;
        std::size_t noise_count = 0;
        for (std::size_t i = 0; i < scores.size(); ++i) {
            noise[i] = scores[i] > 1.0 ? 1.0 : 0.0;
            noise_count += scores[i] > 1.0;
            clusters = std::max(clusters, dbscan->Labels()[i] + 1);
        }
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      ", \"eps\": %.17g, \"clusters\": %d, \"noise\": %zu, \"core\": %zu, "
                      "\"roc_auc_noise\": %.10g, \"average_precision_noise\": %.10g",
                      dbscan->eps(), clusters, noise_count, dbscan->NumCorePoints(),
                      txguard::RocAuc(noise, y).value_or(-1),
                      txguard::AveragePrecision(noise, y).value_or(-1));
        extra = buf;
    }
    std::string param_json;
    for (const auto& [k, v] : (*det)->Params())
        param_json +=
            (param_json.empty() ? "" : ", ") + std::string("\"") + k + "\": \"" + v + "\"";
    std::printf(
        "{\"dataset\": \"%s\", \"method\": \"%s\", \"impl\": \"txguard\", \"n\": %zu, \"d\": %zu, "
        "\"seconds\": %.6f, \"peak_rss_mb\": %.1f, \"roc_auc\": %.10g, \"average_precision\": "
        "%.10g%s, \"params\": {%s}}\n",
        base.c_str(), method.c_str(), x.rows(), x.cols(), seconds, ru.ru_maxrss / 1024.0, auc, ap,
        extra.c_str(), param_json.c_str());
    if (!dump.empty()) {
        std::ofstream out(dump, std::ios::binary);
        out.write(reinterpret_cast<const char*>(scores.data()),
                  static_cast<std::streamsize>(scores.size() * sizeof(double)));
        if (dbscan) {
            std::ofstream lab(dump + ".labels", std::ios::binary);
            lab.write(reinterpret_cast<const char*>(dbscan->Labels().data()),
                      static_cast<std::streamsize>(dbscan->Labels().size() * sizeof(std::int32_t)));
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 2 && std::strcmp(argv[1], "adbench") == 0) return RunAdbench(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
