// txguard CLI: each subcommand wires the libraries together; no logic of its own lives here.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "txguard/core/progress.hpp"
#include "txguard/core/time.hpp"
#include "txguard/data/csv.hpp"
#include "txguard/data/schema.hpp"
#include "txguard/detect/detector.hpp"
#include "txguard/eval/metrics.hpp"
#include "txguard/model/bundle.hpp"
#include "txguard/model/evaluation.hpp"
#include "txguard/model/pipeline.hpp"
#include "txguard/report/eda.hpp"
#include "txguard/report/evaluation_report.hpp"
#include "txguard/serve/service.hpp"
#include "txguard/sim/simulator.hpp"
#include "txguard/stream/replay.hpp"
#include "txguard/stream/worker.hpp"
#include "txguard/version.hpp"

#ifdef TXGUARD_JEMALLOC
#include <jemalloc/jemalloc.h>
// jemalloc returns freed pages to the kernel from a background thread instead of the thread that
// freed them: with the default (purging inline) training an XGBoost model on a handbook week took
// 5.6-6.2 s against 5.0-5.5 s on glibc; with this 4.9-5.2 s, and the batch endpoint did 101 against
// 95 batches/s (docs/benchmarks.md, 2026-12-05). MALLOC_CONF in the environment still applies.
extern "C" {
const char* malloc_conf = "background_thread:true";
}
#endif

namespace txguard {
namespace {

// The malloc this process runs on, asked of the allocator itself (jemalloc answers mallctl only
// when it is the one linked in).
std::string AllocatorName() {
#ifdef TXGUARD_JEMALLOC
    const char* v = nullptr;
    std::size_t len = sizeof v;
    if (mallctl("version", &v, &len, nullptr, 0) == 0 && v != nullptr)
        return std::string("jemalloc ") + v;
#endif
    return "glibc malloc";
}

constexpr int kExitError = 1;

int Fail(const Error& e) {
    std::fprintf(stderr, "txguard: error: %s\n", e.message.c_str());
    if (!e.hint.empty()) std::fprintf(stderr, "  hint: %s\n", e.hint.c_str());
    return kExitError;
}

double SecondsSince(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Options shared by the commands that read a data file.
struct DataOptions {
    std::string data;
    std::string schema;
    std::string on_error = "fail";
    unsigned threads = 0;

    void Add(CLI::App* cmd, bool schema_from_model) {
        cmd->add_option("--data", data, "Transaction file (.csv or .csv.gz)")->required();
        if (schema_from_model) {
            cmd->add_option("--schema", schema,
                            "Schema preset or schema file (default: the model's schema)");
        } else {
            cmd->add_option("--schema", schema,
                            "Schema preset (handbook, ulb, paysim, adbench) or a JSON/YAML "
                            "schema file")
                ->default_val("handbook");
        }
        cmd->add_option("--on-error", on_error,
                        "Malformed rows: fail (stop at the first, exit non-zero) or skip (drop "
                        "them and report how many)")
            ->check(CLI::IsMember({"fail", "skip"}))
            ->default_val("fail");
        cmd->add_option("--threads", threads, "Threads (0 = all cores)")->default_val(0);
    }

    Result<TransactionTable> Read(const Schema& s) const {
        CsvReadOptions opt;
        opt.threads = threads;
        opt.on_error = on_error == "skip" ? OnError::kSkip : OnError::kFail;
        ReadReport report;
        auto table = ReadTransactionsCsv(data, s, opt, &report);
        if (!table) return table;
        if (report.rows_skipped > 0) {
            std::fprintf(stderr, "txguard: skipped %zu malformed row(s) of %s; first:\n",
                         report.rows_skipped, data.c_str());
            for (const auto& e : report.first_errors) std::fprintf(stderr, "  %s\n", e.c_str());
        }
        return table;
    }
};

ParamMap ParseParams(const std::vector<std::string>& kv, Error* error) {
    ParamMap params;
    for (const auto& p : kv) {
        const auto eq = p.find('=');
        if (eq == std::string::npos || eq == 0) {
            *error = {ErrorCode::kInvalidArgument, "--param expects key=value, got \"" + p + "\"",
                      "e.g. --param trees=200"};
            return {};
        }
        params[p.substr(0, eq)] = p.substr(eq + 1);
    }
    return params;
}

std::string DetectorHelp() {
    std::string s = "Detectors and their parameters (--param key=value):\n";
    for (const auto& d : ListDetectors()) {
        s += "  " + d.name + ": " + d.summary + "\n";
        for (const auto& p : d.params)
            s += "      " + p.name + " (default " + p.default_value + "): " + p.help + "\n";
    }
    return s;
}

// ---------------------------------------------------------------------------------------------
std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop.store(true); }

int RunStream(StreamWorkerOptions opt, RedisStreamOptions redis, bool json) {
    struct sigaction sa {};
    sa.sa_handler = OnStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    auto transport = OpenRedisStreamTransport(redis);
    if (!transport) return Fail(transport.error());
    if (!opt.quiet)
        std::fprintf(stderr, "txguard stream: %s, store %s, model %s\n",
                     (*transport)->Describe().c_str(), opt.db_url.c_str(), opt.model_path.c_str());
    auto stats = RunStreamWorker(opt, **transport, g_stop);
    if (!stats) return Fail(stats.error());
    if (json) std::cout << stats->ToJson() << "\n";
    if (!opt.quiet)
        std::fprintf(stderr,
                     "txguard stream: stopped: %llu scored, %llu published, %llu duplicates, "
                     "%llu dead letters in %.1f s\n",
                     static_cast<unsigned long long>(stats->scored),
                     static_cast<unsigned long long>(stats->published),
                     static_cast<unsigned long long>(stats->duplicates),
                     static_cast<unsigned long long>(stats->dead_letters), stats->seconds);
    return 0;
}

int RunReplay(const DataOptions& data, ReplayOptions opt, const std::string& model_path,
              bool json) {
    std::optional<ModelBundle> bundle;
    if (!model_path.empty()) {
        auto b = LoadModel(model_path);
        if (!b) return Fail(b.error());
        bundle = std::move(*b);
        opt.spec = &bundle->features;
    }
    auto schema = data.schema.empty() && bundle
                      ? Result<Schema>(bundle->schema)
                      : ResolveSchema(data.schema.empty() ? "handbook" : data.schema);
    if (!schema) return Fail(schema.error());
    auto table = data.Read(*schema);
    if (!table) return Fail(table.error());
    const std::size_t total = opt.limit > 0 ? std::min(opt.limit, table->rows) : table->rows;
    Progress progress("replay", total);
    auto stats = ReplayTable(*table, opt, &progress);
    progress.Finish();
    if (!stats) return Fail(stats.error());
    if (json) std::cout << stats->ToJson() << "\n";
    std::fprintf(stderr, "replay: %llu transactions to %s (%zu partitions) in %.2f s (%.0f/s)\n",
                 static_cast<unsigned long long>(stats->sent), opt.stream.c_str(),
                 stats->per_partition.size(), stats->seconds,
                 stats->seconds > 0 ? static_cast<double>(stats->sent) / stats->seconds : 0.0);
    return 0;
}

// ---------------------------------------------------------------------------------------------
int RunEda(const DataOptions& data, const std::string& out, const std::string& png_dir, bool json,
           std::size_t top_n) {
    if (out.empty() && !json)
        return Fail({ErrorCode::kInvalidArgument, "eda needs -o FILE.html, --json or both", {}});
    const auto t0 = std::chrono::steady_clock::now();
    auto schema = ResolveSchema(data.schema);
    if (!schema) return Fail(schema.error());
    auto table = data.Read(*schema);
    if (!table) return Fail(table.error());
    EdaOptions opt;
    opt.threads = data.threads;
    opt.top_n = top_n;
    opt.data_name = data.data;
    auto stats = ComputeEda(*table, *schema, opt);
    if (!stats) return Fail(stats.error());
    if (!out.empty()) {
        ReportOptions ropt;
        ropt.png_dir = png_dir;
        auto written = WriteEdaReport(*stats, out, ropt);
        if (!written) return Fail(written.error());
    }
    if (json) std::cout << EdaToJson(*stats) << "\n";
    std::fprintf(stderr, "eda: %llu rows in %.2f s (statistics %.2f s)%s%s%s%s\n",
                 static_cast<unsigned long long>(stats->rows), SecondsSince(t0), stats->seconds,
                 out.empty() ? "" : "; wrote ", out.c_str(), png_dir.empty() ? "" : ", PNGs in ",
                 png_dir.c_str());
    return 0;
}

int RunSimulate(const SimParams& params, const std::string& start, const std::string& out,
                bool json) {
    SimParams p = params;
    auto start_ms = ParseDate(start);
    if (!start_ms) return Fail(start_ms.error());
    p.start_ms = *start_ms;
    const auto t0 = std::chrono::steady_clock::now();
    SimStats stats;
    auto table = Simulate(p, &stats);
    if (!table) return Fail(table.error());
    auto schema = SchemaPreset("handbook");
    if (!schema) return Fail(schema.error());
    auto written = WriteTransactionsCsv(*table, *schema, out);
    if (!written) return Fail(written.error());
    const double secs = SecondsSince(t0);
    if (json) {
        nlohmann::json j = {
            {"output", out},
            {"transactions", stats.transactions},
            {"frauds", stats.frauds},
            {"fraud_by_scenario",
             std::vector<std::uint64_t>(stats.by_scenario + 1, stats.by_scenario + 6)},
            {"seconds", secs}};
        std::cout << j.dump() << "\n";
    } else {
        std::printf("wrote %llu transactions (%llu frauds, %.3f%%) to %s in %.2f s\n",
                    static_cast<unsigned long long>(stats.transactions),
                    static_cast<unsigned long long>(stats.frauds),
                    stats.transactions ? 100.0 * stats.frauds / stats.transactions : 0.0,
                    out.c_str(), secs);
        std::printf(
            "frauds by scenario: 1 amount>220: %llu, 2 terminal: %llu, 3 card: %llu, "
            "4 card testing: %llu, 5 account takeover: %llu\n",
            static_cast<unsigned long long>(stats.by_scenario[1]),
            static_cast<unsigned long long>(stats.by_scenario[2]),
            static_cast<unsigned long long>(stats.by_scenario[3]),
            static_cast<unsigned long long>(stats.by_scenario[4]),
            static_cast<unsigned long long>(stats.by_scenario[5]));
    }
    return 0;
}

// Command-line values of `train` that need parsing before they become TrainOptions.
struct TrainCli {
    std::vector<std::string> params;
    std::string seed, from, to, valid_from, valid_to, out;
    bool json = false;
};

int RunTrain(const DataOptions& data, TrainOptions options, const TrainCli& cli) {
    const std::string& out = cli.out;
    const bool json = cli.json;
    Error perr;
    options.params = ParseParams(cli.params, &perr);
    if (!perr.message.empty()) return Fail(perr);
    if (!cli.seed.empty()) options.params["seed"] = cli.seed;
    if (data.threads && !options.params.count("threads"))
        options.params["threads"] = std::to_string(data.threads);
    options.threads = data.threads;
    auto range = DateRange::Parse(cli.from, cli.to);
    if (!range) return Fail(range.error());
    options.range = *range;
    auto valid = DateRange::Parse(cli.valid_from, cli.valid_to);
    if (!valid) return Fail(valid.error());
    options.valid_range = *valid;
    options.data_path = data.data;
    auto schema = ResolveSchema(data.schema);
    if (!schema) return Fail(schema.error());
    const auto t0 = std::chrono::steady_clock::now();
    auto table = data.Read(*schema);
    if (!table) return Fail(table.error());
    auto bundle = TrainModel(*table, *schema, options);
    if (!bundle) return Fail(bundle.error());
    auto saved = SaveModel(*bundle, out);
    if (!saved) return Fail(saved.error());
    const double secs = SecondsSince(t0);
    if (json) {
        nlohmann::json j = {{"model", out},
                            {"detector", bundle->detector_name},
                            {"params", bundle->detector->Params()},
                            {"features", bundle->features.Names()},
                            {"inputs", ModelInputNames(*bundle)},
                            {"train_rows", bundle->meta.train_rows},
                            {"threshold", bundle->threshold},
                            {"alert_rate", bundle->meta.alert_rate},
                            {"data_fingerprint", bundle->meta.data_fingerprint},
                            {"seconds", secs}};
        std::cout << j.dump() << "\n";
    } else {
        std::printf(
            "trained %s on %llu rows (%zu features) in %.2f s; threshold %.6g (top %.2f%% "
            "of training scores)\nwrote %s\n",
            bundle->detector_name.c_str(), static_cast<unsigned long long>(bundle->meta.train_rows),
            bundle->features.Size(), secs, bundle->threshold, 100.0 * bundle->meta.alert_rate,
            out.c_str());
    }
    return 0;
}

// Loads the model and the data, with the model's schema unless --schema overrides it.
Result<std::pair<ModelBundle, TransactionTable>> LoadModelAndData(const std::string& model,
                                                                  const DataOptions& data) {
    auto bundle = LoadModel(model);
    if (!bundle) return std::unexpected(bundle.error());
    Schema schema = bundle->schema;
    if (!data.schema.empty()) {
        auto override_schema = ResolveSchema(data.schema);
        if (!override_schema) return std::unexpected(override_schema.error());
        schema = *override_schema;
    }
    auto table = data.Read(schema);
    if (!table) return std::unexpected(table.error());
    return std::pair{std::move(*bundle), std::move(*table)};
}

int RunScore(const std::string& model, const DataOptions& data, const std::string& from,
             const std::string& to, const std::string& out) {
    const auto t0 = std::chrono::steady_clock::now();
    auto loaded = LoadModelAndData(model, data);
    if (!loaded) return Fail(loaded.error());
    const auto& [bundle, table] = *loaded;
    auto range = DateRange::Parse(from, to);
    if (!range) return Fail(range.error());
    auto rows = RowsInRange(table, *range);
    if (!rows) return Fail(rows.error());
    auto scores = ScoreTable(bundle, table, *rows);
    if (!scores) return Fail(scores.error());
    std::FILE* f = std::fopen(out.c_str(), "wb");
    if (!f) return Fail({ErrorCode::kIo, "cannot write " + out, {}});
    std::fputs("transaction_id,score\n", f);
    std::size_t alerts = 0;
    for (std::size_t i = 0; i < rows->size(); ++i) {
        std::fprintf(f, "%s,%.17g\n", CsvEscape(table.IdOf((*rows)[i])).c_str(), (*scores)[i]);
        alerts += (*scores)[i] >= bundle.threshold;
    }
    if (std::fclose(f) != 0) return Fail({ErrorCode::kIo, "write failed for " + out, {}});
    std::fprintf(stderr, "scored %zu transactions in %.2f s (%zu at or above the threshold %.6g)\n",
                 rows->size(), SecondsSince(t0), alerts, bundle.threshold);
    std::printf("wrote %s\n", out.c_str());
    return 0;
}

struct EvalCli {
    std::vector<std::string> models;
    std::string from, to, report, report_png;
    std::optional<double> threshold;
    std::optional<int> delay_days;
    std::size_t top_k = 100;
    bool json = false;
};

// The report's view of one evaluated model: curves, daily CP@k, importance, top alerts with
// their reasons (the detector's own feature contributions where it has them).
ModelEvaluation ToReport(const std::string& path, const ModelBundle& bundle,
                         const TransactionTable& table, const Evaluation& ev,
                         const DataOptions& data, const EvalCli& cli) {
    ModelEvaluation m;
    m.name = bundle.detector_name + " (" + path + ")";
    m.scores = ev.scores;
    m.labels = ev.labels;
    for (std::size_t r : ev.rows) {
        if (table.has_time()) m.ts_ms.push_back(table.ts_ms[r]);
        if (table.has_customer()) m.customer.push_back(table.customer.ids[r]);
    }
    m.threshold = ev.at_threshold.threshold;
    const auto names = ModelInputNames(bundle);
    const auto importance = bundle.detector->FeatureImportance();
    if (importance.size() == names.size())
        for (std::size_t j = 0; j < names.size(); ++j)
            m.feature_importance.push_back({names[j], importance[j]});
    std::vector<std::size_t> top(ev.rows.size());
    for (std::size_t i = 0; i < top.size(); ++i) top[i] = i;
    const std::size_t n_top = std::min<std::size_t>(20, top.size());
    std::partial_sort(top.begin(), top.begin() + n_top, top.end(),
                      [&](std::size_t a, std::size_t b) { return ev.scores[a] > ev.scores[b]; });
    std::vector<double> contrib(names.size() + 1);
    for (std::size_t k = 0; k < n_top; ++k) {
        const std::size_t i = top[k], r = ev.rows[i];
        ModelEvaluation::Alert alert;
        alert.transaction_id = table.IdOf(r);
        alert.score = ev.scores[i];
        if (table.has_customer())
            alert.customer = std::string(table.customer.pool.Get(table.customer.ids[r]));
        alert.label = ev.labels[i];
        if (bundle.detector->Contributions(ev.inputs.View().Row(i), contrib)) {
            std::vector<std::size_t> order(names.size());
            for (std::size_t j = 0; j < order.size(); ++j) order[j] = j;
            std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
                return std::fabs(contrib[a]) > std::fabs(contrib[b]);
            });
            for (std::size_t j = 0; j < std::min<std::size_t>(5, order.size()); ++j)
                alert.reasons.push_back({names[order[j]], contrib[order[j]]});
        }
        m.top_alerts.push_back(std::move(alert));
    }
    m.metadata = {{"model", path},
                  {"detector", bundle.detector_name},
                  {"data", data.data},
                  {"test days", cli.from + " .. " + cli.to},
                  {"trained on", bundle.meta.data_path},
                  {"training days", bundle.meta.train_from + " .. " + bundle.meta.train_to},
                  {"train rows", std::to_string(bundle.meta.train_rows)},
                  {"training data fingerprint", bundle.meta.data_fingerprint},
                  {"txguard", bundle.meta.txguard_version}};
    if (ev.removed_known_compromised)
        m.metadata.push_back(
            {"removed (known compromised)", std::to_string(ev.removed_known_compromised)});
    m.card_precision = ev.card_precision;
    m.card_precision_k = ev.top_k;
    return m;
}

int EvaluateOne(const EvalCli& cli, const DataOptions& data, const std::string& model_path,
                std::vector<ModelEvaluation>* report_models);

int RunEvaluate(const EvalCli& cli, const DataOptions& data) {
    std::vector<ModelEvaluation> report_models;
    for (std::size_t mi = 0; mi < cli.models.size(); ++mi) {
        const int rc =
            EvaluateOne(cli, data, cli.models[mi], cli.report.empty() ? nullptr : &report_models);
        if (rc != 0) return rc;
    }
    if (!cli.report.empty()) {
        ReportOptions ro;
        ro.png_dir = cli.report_png;
        auto w = WriteEvaluationReport(report_models, cli.report, ro);
        if (!w) return Fail(w.error());
        std::fprintf(stderr, "wrote %s\n", cli.report.c_str());
    }
    return 0;
}

int EvaluateOne(const EvalCli& cli, const DataOptions& data, const std::string& model_path,
                std::vector<ModelEvaluation>* report_models) {
    auto loaded = LoadModelAndData(model_path, data);
    if (!loaded) return Fail(loaded.error());
    auto& [bundle, table] = *loaded;
    EvalOptions opt;
    auto range = DateRange::Parse(cli.from, cli.to);
    if (!range) return Fail(range.error());
    opt.range = *range;
    opt.threshold = cli.threshold;
    opt.delay_days = cli.delay_days;
    opt.top_k = cli.top_k;
    opt.threads = data.threads;
    auto ev = EvaluateModel(bundle, table, opt);
    if (!ev) return Fail(ev.error());
    if (report_models)
        report_models->push_back(ToReport(model_path, bundle, table, *ev, data, cli));
    const auto& at = ev->at_threshold;
    const std::string cp_key = "card_precision_at_" + std::to_string(ev->top_k);
    if (cli.json) {
        nlohmann::json j = {{"model", model_path},
                            {"detector", bundle.detector_name},
                            {"data", data.data},
                            {"from", cli.from},
                            {"to", cli.to},
                            {"n", ev->rows.size()},
                            {"n_positive", ev->n_positive},
                            {"removed_known_compromised", ev->removed_known_compromised},
                            {"roc_auc", ev->roc_auc},
                            {"average_precision", ev->average_precision},
                            {"threshold", at.threshold},
                            {"precision", at.precision},
                            {"recall", at.recall},
                            {"f1", at.f1},
                            {"confusion",
                             {{"tp", at.confusion.tp},
                              {"fp", at.confusion.fp},
                              {"tn", at.confusion.tn},
                              {"fn", at.confusion.fn}}}};
        if (cli.delay_days) j["delay_days"] = *cli.delay_days;
        if (ev->card_precision) {
            j[cp_key] = ev->card_precision->mean;
            nlohmann::json days = nlohmann::json::array();
            for (const auto& d : ev->card_precision->days)
                days.push_back({{"day", FormatDate(d.day_ms)},
                                {"card_precision", d.card_precision},
                                {"cards", d.cards},
                                {"fraud_cards", d.fraud_cards}});
            j[cp_key + "_daily"] = days;
        }
        std::cout << j.dump() << "\n";
        return 0;
    }
    const std::size_t n = ev->rows.size();
    std::printf(
        "evaluated %s (%s) on %zu transactions, %llu fraud (%.3f%%)%s%s%s%s\n", model_path.c_str(),
        bundle.detector_name.c_str(), n, static_cast<unsigned long long>(ev->n_positive),
        100.0 * ev->n_positive / n, cli.from.empty() && cli.to.empty() ? "" : ", days ",
        cli.from.empty() ? "" : cli.from.c_str(), cli.from.empty() && cli.to.empty() ? "" : " .. ",
        cli.to.empty() ? "" : cli.to.c_str());
    if (cli.delay_days)
        std::printf("  removed %zu transactions of cards known to be compromised (delay %d days)\n",
                    ev->removed_known_compromised, *cli.delay_days);
    std::printf("  ROC-AUC            %.4f\n", ev->roc_auc);
    std::printf("  average precision  %.4f\n", ev->average_precision);
    if (ev->card_precision)
        std::printf("  card precision@%zu  %.4f (mean over %zu days)\n", ev->top_k,
                    ev->card_precision->mean, ev->card_precision->days.size());
    std::printf("  at threshold %.6g (score >= threshold raises an alert):\n", at.threshold);
    std::printf("    precision %.4f  recall %.4f  F1 %.4f\n", at.precision, at.recall, at.f1);
    std::printf("    confusion: TP %llu  FP %llu  TN %llu  FN %llu\n",
                static_cast<unsigned long long>(at.confusion.tp),
                static_cast<unsigned long long>(at.confusion.fp),
                static_cast<unsigned long long>(at.confusion.tn),
                static_cast<unsigned long long>(at.confusion.fn));
    return 0;
}

}  // namespace
}  // namespace txguard

int main(int argc, char** argv) {
    using namespace txguard;
    CLI::App app{
        "txguard: fraud and anomaly detection for financial transactions.\n"
        "Simulate or ingest a transaction history, train a detector, score and evaluate it."};
    app.set_version_flag(
        "--version", std::string("txguard ") + kVersion + " (allocator: " + AllocatorName() + ")");
    app.require_subcommand(1);
    bool quiet = false, progress = false;
    app.add_flag("--quiet", quiet, "No progress bars on stderr");
    app.add_flag("--progress", progress, "Progress bars on stderr even when it is not a terminal");

    // simulate
    SimParams sim;
    std::string sim_start = "2018-04-01", sim_out;
    bool sim_json = false;
    auto* simulate = app.add_subcommand(
        "simulate",
        "Generate a labelled transaction history (the fraud handbook's simulator, scenarios 1-3, "
        "plus 4 card testing and 5 account takeover) in the handbook schema");
    simulate->add_option("--customers", sim.customers, "Number of customers")->default_val(5000);
    simulate->add_option("--terminals", sim.terminals, "Number of terminals")->default_val(10000);
    simulate->add_option("--days", sim.days, "Number of days")->default_val(183);
    simulate->add_option("--start", sim_start, "First day, YYYY-MM-DD")->default_val("2018-04-01");
    simulate
        ->add_option("--radius", sim.radius,
                     "Radius of the terminals a customer uses (grid 100x100)")
        ->default_val(5.0);
    simulate->add_option("--seed", sim.seed, "Random seed (same seed, same file)")->default_val(0);
    simulate
        ->add_option("--threads", sim.threads,
                     "Threads (0 = all; the output does not depend on it)")
        ->default_val(0);
    simulate->add_option("-o,--output", sim_out, "Output file (.csv or .csv.gz)")->required();
    simulate->add_flag("--json", sim_json, "Print a JSON summary");

    // train
    DataOptions train_data;
    TrainOptions train_opt;
    TrainCli train_cli;
    auto* train = app.add_subcommand("train", "Train a detector and write a model bundle");
    train_data.Add(train, false);
    train->add_option("--detector", train_opt.detector, "Detector name (see below)")
        ->default_val("iforest");
    train->add_option("--param", train_cli.params, "Detector parameter key=value (repeatable)");
    train->add_option("--seed", train_cli.seed, "Random seed (same as --param seed=S)");
    train->add_option("--features", train_opt.features,
                      "Feature spec: a preset (default, handbook, basic) or a JSON spec file "
                      "(default: txguard's default spec for the schema)");
    train->add_option("--hybrid", train_opt.hybrid,
                      "Unsupervised detectors (e.g. iforest) fitted on the known-genuine training "
                      "rows whose scores become extra inputs of the main detector (repeatable)");
    train->add_flag("--genuine-only", train_opt.genuine_only,
                    "Fit an unsupervised detector on the known-genuine (label 0) training rows "
                    "only (semi-supervised)");
    train->add_option("--valid-from", train_cli.valid_from,
                      "First day of the early-stopping window (supervised detectors)");
    train->add_option("--valid-to", train_cli.valid_to, "Last day of the early-stopping window");
    train
        ->add_option("--alert-rate", train_opt.alert_rate,
                     "Share of training transactions above the alert threshold")
        ->default_val(0.01);
    train->add_option("--train-from", train_cli.from, "First training day, YYYY-MM-DD (inclusive)");
    train->add_option("--train-to", train_cli.to, "Last training day, YYYY-MM-DD (inclusive)");
    train->add_option("-o,--output", train_cli.out, "Model bundle to write")->required();
    train->add_flag("--json", train_cli.json, "Print a JSON summary");
    train->footer(DetectorHelp());

    // score
    DataOptions score_data;
    std::string score_model, score_from, score_to, score_out;
    auto* score = app.add_subcommand("score", "Score a transaction file with a model bundle");
    score->add_option("--model", score_model, "Model bundle")->required();
    score_data.Add(score, true);
    score->add_option("--from", score_from,
                      "First day to write, YYYY-MM-DD (earlier rows still "
                      "feed the features)");
    score->add_option("--to", score_to, "Last day to write, YYYY-MM-DD (inclusive)");
    score->add_option("-o,--output", score_out, "Scores CSV: transaction_id,score")->required();

    // evaluate
    DataOptions eval_data;
    EvalCli eval_cli;
    auto* evaluate = app.add_subcommand(
        "evaluate",
        "Score a labelled file and report ROC-AUC, average precision, card precision@k, "
        "precision, recall, F1 and the confusion matrix");
    evaluate
        ->add_option("--model", eval_cli.models,
                     "Model bundle (repeatable: several models are evaluated on the same data "
                     "and overlaid in --report)")
        ->required();
    eval_data.Add(evaluate, true);
    evaluate->add_option("--from", eval_cli.from,
                         "First test day, YYYY-MM-DD (earlier rows still feed the features)");
    evaluate->add_option("--to", eval_cli.to, "Last test day, YYYY-MM-DD (inclusive)");
    evaluate->add_option("--delay-days", eval_cli.delay_days,
                         "Label delay: drop the test transactions of cards with a fraud from the "
                         "model's training start up to test day - delay - 1 (known compromised)");
    evaluate->add_option("--top-k", eval_cli.top_k, "k of card precision@k (cards checked a day)")
        ->default_val(100);
    evaluate->add_option("--threshold", eval_cli.threshold,
                         "Alert threshold (default: the model's)");
    evaluate->add_option("--report", eval_cli.report,
                         "Write an HTML evaluation report (curves, score distributions, threshold, "
                         "confusion matrix, daily card precision, importance, top alerts)");
    evaluate->add_option("--png", eval_cli.report_png,
                         "With --report: also render each chart to PNG in this folder (Chromium)");
    evaluate->add_flag("--json", eval_cli.json,
                       "Print one JSON object (roc_auc, average_precision, card_precision_at_K, "
                       "precision, recall, f1, threshold, n, n_positive, confusion)");

    // eda
    DataOptions eda_data;
    std::string eda_out, eda_png;
    bool eda_json = false;
    std::size_t eda_top = 20;
    auto* eda = app.add_subcommand(
        "eda",
        "Exploratory analysis of a transaction file: an HTML report with charts (overview, "
        "columns, time patterns, correlations, customers and terminals) and/or JSON");
    eda_data.Add(eda, false);
    eda->add_option("-o,--output", eda_out, "HTML report to write (one self-contained file)");
    eda->add_option("--png", eda_png,
                    "Also render every chart to DIR/<chart>.png (headless Chromium)");
    eda->add_option("--top", eda_top, "Top values, customers and terminals listed")
        ->default_val(20);
    eda->add_flag("--json", eda_json, "Print the statistics as one JSON object on stdout");

    // serve
    ServeOptions serve_opt;
    double serve_review = std::nan(""), serve_block = std::nan("");
    auto* serve = app.add_subcommand(
        "serve",
        "Real-time scoring over HTTP/JSON with live per-customer state and a durable store "
        "(API: docs/http-api.md, GET /openapi.json)");
    serve->add_option("--model", serve_opt.model_path, "Model bundle (from txguard train)")
        ->required();
    serve
        ->add_option("--db", serve_opt.db_url,
                     "Store URL: sqlite:///abs/path.db, sqlite://rel/path.db (WAL; append "
                     "?synchronous=full to fsync every commit)")
        ->capture_default_str();
    serve->add_option("--port", serve_opt.port, "TCP port (0 = any free port)")
        ->capture_default_str();
    serve->add_option("--address", serve_opt.address,
                      "Listen address (default 0.0.0.0 with tokens, 127.0.0.1 without)");
    serve->add_option("--threads", serve_opt.threads, "HTTP I/O threads (0 = cores)")
        ->capture_default_str();
    serve->add_option("--tokens", serve_opt.tokens_file,
                      "Bearer tokens file: 'scoring:TOKEN' / 'admin:TOKEN' lines (or set "
                      "TXGUARD_TOKENS='scoring:TOKEN,admin:TOKEN')");
    serve->add_option("--review-threshold", serve_review,
                      "Score at which a transaction is sent for review (default: the model's "
                      "alert threshold)");
    serve->add_option("--block-threshold", serve_block,
                      "Score at which a transaction is blocked (default: the model's block "
                      "threshold, the top tenth of its alert budget)");
    serve->add_option("--reasons", serve_opt.reasons, "Top features listed per decision")
        ->capture_default_str();
    std::string serve_reasons_for = "alerts";
    serve
        ->add_option("--reasons-for", serve_reasons_for,
                     "Which decisions carry reasons: alerts (review and block) or all")
        ->check(CLI::IsMember({"alerts", "all"}))
        ->default_val("alerts");
    serve
        ->add_option("--max-connections", serve_opt.max_connections,
                     "Open connections beyond which new ones get 503")
        ->capture_default_str();
    serve
        ->add_option("--max-body-bytes", serve_opt.max_body_bytes,
                     "Largest request body (413 beyond)")
        ->capture_default_str();
    serve
        ->add_option("--max-inflight", serve_opt.max_inflight,
                     "Transactions scored but not yet committed beyond which requests get 503")
        ->capture_default_str();
    serve
        ->add_option("--snapshot-every", serve_opt.snapshot_every,
                     "Events between snapshots of the live state (0 = only at shutdown)")
        ->capture_default_str();
    serve
        ->add_option("--max-ids-in-memory", serve_opt.max_ids_in_memory,
                     "Transaction ids kept in memory for idempotency (older retries are looked "
                     "up in the store)")
        ->capture_default_str();

    // stream
    StreamWorkerOptions stream_opt;
    RedisStreamOptions stream_redis;
    double stream_review = std::nan(""), stream_block = std::nan("");
    bool stream_json = false;
    std::string stream_publish = "alerts";
    long long stream_lease_ms = stream_redis.lease.count();
    auto* stream = app.add_subcommand(
        "stream",
        "A stream worker: scores transactions from a Redis Stream with a consumer group "
        "(partitioned by customer; workers share the partitions), stores every score and "
        "publishes alerts (docs/streams.md)");
    stream->add_option("--model", stream_opt.model_path, "Model bundle (from txguard train)")
        ->required();
    stream->add_option("--redis", stream_redis.url, "Redis URL redis://[:password@]host:port[/db]")
        ->capture_default_str();
    stream
        ->add_option("--in", stream_redis.stream,
                     "Input stream name (partition i is the stream NAME:i)")
        ->required();
    stream->add_option("--group", stream_redis.group, "Consumer group")->required();
    stream
        ->add_option("--consumer", stream_redis.consumer,
                     "This worker's name, unique among live workers (a restarted worker "
                     "reuses its name)")
        ->required();
    stream
        ->add_option("--out", stream_redis.out,
                     "Output stream for decisions (unreadable entries go to OUT:dead)")
        ->required();
    stream
        ->add_option("--db", stream_opt.db_url,
                     "Store URL: sqlite:///abs/path.db, sqlite://rel/path.db or "
                     "postgresql://user:password@host:port/db")
        ->capture_default_str();
    stream->add_option("--partitions", stream_redis.partitions,
                       "Partitions of the stream (default: as recorded by the first producer "
                       "or worker)");
    stream
        ->add_option("--lease-ms", stream_lease_ms,
                     "A worker silent this long loses its partitions to the others, which "
                     "claim its pending entries")
        ->capture_default_str();
    stream->add_option("--batch", stream_opt.batch, "Entries read per partition at a time")
        ->capture_default_str();
    stream
        ->add_option("--publish", stream_publish,
                     "Decisions published to --out: alerts (review and block) or all")
        ->check(CLI::IsMember({"alerts", "all"}))
        ->default_val("alerts");
    stream->add_option("--review-threshold", stream_review,
                       "Score at which a transaction is sent for review (default: the model's)");
    stream->add_option("--block-threshold", stream_block,
                       "Score at which a transaction is blocked (default: the model's)");
    stream
        ->add_option("--snapshot-every", stream_opt.snapshot_every,
                     "Events of a partition between snapshots of its state")
        ->capture_default_str();
    stream->add_flag("--json", stream_json, "Print the worker's counters as JSON at exit");

    // replay
    DataOptions replay_data;
    ReplayOptions replay_opt;
    std::string replay_model;
    bool replay_json = false;
    auto* replay = app.add_subcommand(
        "replay",
        "Feeds a Redis Stream from a transaction file, in time order, partitioned by "
        "customer (for txguard stream)");
    replay_data.Add(replay, /*schema_from_model=*/true);
    replay->add_option("--redis", replay_opt.redis_url, "Redis URL")->capture_default_str();
    replay->add_option("--stream", replay_opt.stream, "Stream name (partition i is NAME:i)")
        ->required();
    replay->add_option("--partitions", replay_opt.partitions,
                       "Partitions (default: as recorded for the stream, else required)");
    replay
        ->add_option("--rate", replay_opt.rate, "Transactions per second (0 = as fast as possible)")
        ->capture_default_str();
    replay->add_option("--limit", replay_opt.limit, "Only the first N transactions in time order")
        ->capture_default_str();
    replay->add_option("--model", replay_model,
                       "Send only the fields this model reads (default: every column)");
    replay->add_flag("--json", replay_json, "Print the counts as JSON");

    // detectors
    auto* detectors = app.add_subcommand("detectors", "List the detectors and their parameters");

    CLI11_PARSE(app, argc, argv);
    if (quiet) Progress::SetEnabled(false);
    if (progress) Progress::SetEnabled(true);

    if (simulate->parsed()) return RunSimulate(sim, sim_start, sim_out, sim_json);
    if (train->parsed()) return RunTrain(train_data, train_opt, train_cli);
    if (score->parsed()) return RunScore(score_model, score_data, score_from, score_to, score_out);
    if (evaluate->parsed()) return RunEvaluate(eval_cli, eval_data);
    if (eda->parsed()) return RunEda(eda_data, eda_out, eda_png, eda_json, eda_top);
    if (serve->parsed()) {
        serve_opt.reasons_for_all = serve_reasons_for == "all";
        if (!std::isnan(serve_review)) serve_opt.review_threshold = serve_review;
        if (!std::isnan(serve_block)) serve_opt.block_threshold = serve_block;
        if (const char* env = std::getenv("TXGUARD_TOKENS"); env && serve_opt.tokens_file.empty())
            serve_opt.tokens_env = env;
        auto r = RunServer(serve_opt);
        if (!r) return Fail(r.error());
        return 0;
    }
    if (stream->parsed()) {
        stream_opt.scoring.reasons_for_all = false;
        if (!std::isnan(stream_review)) stream_opt.scoring.review_threshold = stream_review;
        if (!std::isnan(stream_block)) stream_opt.scoring.block_threshold = stream_block;
        stream_opt.publish_all = stream_publish == "all";
        stream_opt.quiet = quiet;
        stream_redis.lease = std::chrono::milliseconds(stream_lease_ms);
        stream_opt.heartbeat = std::min(stream_opt.heartbeat, stream_redis.lease / 4);
        return RunStream(stream_opt, stream_redis, stream_json);
    }
    if (replay->parsed()) return RunReplay(replay_data, replay_opt, replay_model, replay_json);
    if (detectors->parsed()) {
        std::fputs(DetectorHelp().c_str(), stdout);
        return 0;
    }
    return 0;
}
