// EDA statistics (ComputeEda). The report page and the JSON form live in eda_report.cpp.
#include "txguard/report/eda.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <numeric>
#include <optional>
#include <span>

#include "stats.hpp"
#include "txguard/core/parallel.hpp"
#include "txguard/core/progress.hpp"
#include "txguard/core/time.hpp"

namespace txguard {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::int64_t kMaxDayBuckets = 1000;
constexpr double kMaxIntegerBins = 60;

// Runs tasks on `threads` threads (dynamic assignment); the first exception is rethrown here.
void RunTasks(const std::vector<std::function<void()>>& tasks, unsigned threads) {
    std::atomic<std::size_t> next{0};
    std::exception_ptr error;
    std::mutex mu;
    ParallelChunks(threads, threads, [&](std::size_t, std::size_t, unsigned) {
        for (std::size_t i; (i = next.fetch_add(1)) < tasks.size();) {
            try {
                tasks[i]();
            } catch (...) {
                std::lock_guard<std::mutex> lock(mu);
                if (!error) error = std::current_exception();
            }
        }
    });
    if (error) std::rethrow_exception(error);
}

struct NumericColumn {
    std::string name;
    std::string field;
    std::vector<double> owned;  // derived columns
    std::span<const double> values;
    RankedColumn ranked;
    bool log_histogram = false;
};

std::string ColumnName(const Schema& schema, Field f) {
    auto it = schema.columns.find(f);
    return it != schema.columns.end() ? it->second : FieldName(f);
}

// Bins values; fraud counts when labels are given. `sorted` are the present values, ascending.
Histogram MakeHistogram(std::span<const double> values, std::span<const double> sorted,
                        std::span<const std::int8_t> labels, std::size_t bins, bool log_scale) {
    Histogram h;
    if (sorted.empty()) return h;
    const double lo = sorted.front();
    const double hi = sorted.back();
    const bool integral =
        std::all_of(sorted.begin(), sorted.end(), [](double v) { return v == std::floor(v); });
    bool per_integer = false;
    double first_positive = 0;
    if (log_scale) {
        auto it = std::upper_bound(sorted.begin(), sorted.end(), 0.0);
        if (it == sorted.end())
            log_scale = false;  // nothing positive: linear
        else
            first_positive = *it;
    }
    if (log_scale) {
        h.log_scale = true;
        const double a = std::log10(first_positive);
        const double b = std::log10(hi);
        const std::size_t nb = b > a ? bins : 1;
        for (std::size_t i = 0; i <= nb; ++i)
            h.edges.push_back(
                std::pow(10.0, a + (b - a) * static_cast<double>(i) / static_cast<double>(nb)));
        if (b <= a) h.edges.back() = first_positive * 1.0001;
    } else if (integral && hi - lo + 1 <= kMaxIntegerBins) {
        per_integer = true;
        for (double v = lo; v <= hi + 1; v += 1) h.edges.push_back(v);
    } else {
        // Linear bins over the 0.1%..99.9% range; values outside fall into the end bins.
        double a = QuantileSorted(sorted, 0.001);
        double b = QuantileSorted(sorted, 0.999);
        if (!(b > a)) {
            a = lo;
            b = hi;
        }
        if (!(b > a)) b = a + 1;
        for (std::size_t i = 0; i <= bins; ++i)
            h.edges.push_back(a + (b - a) * static_cast<double>(i) / static_cast<double>(bins));
    }
    const std::size_t nb = h.edges.size() - 1;
    h.counts.assign(nb, 0);
    if (!labels.empty()) h.fraud_counts.assign(nb, 0);
    const double a = h.log_scale ? std::log10(h.edges.front()) : h.edges.front();
    const double b = h.log_scale ? std::log10(h.edges.back()) : h.edges.back();
    const double scale = static_cast<double>(nb) / (b - a);
    for (std::size_t i = 0; i < values.size(); ++i) {
        double v = values[i];
        if (std::isnan(v)) continue;
        if (h.log_scale) {
            if (v <= 0) {
                ++h.non_positive;
                continue;
            }
            v = std::log10(v);
        }
        std::size_t bin;
        if (per_integer) {
            bin = static_cast<std::size_t>(v - lo);
        } else {
            const double pos = (v - a) * scale;
            bin = pos <= 0 ? 0 : std::min(nb - 1, static_cast<std::size_t>(pos));
        }
        ++h.counts[bin];
        if (!labels.empty() && labels[i]) ++h.fraud_counts[bin];
    }
    return h;
}

NumericSummary Summarize(const NumericColumn& c, std::span<const std::int8_t> labels,
                         std::size_t bins) {
    NumericSummary s;
    s.name = c.name;
    const auto& sorted = c.ranked.sorted;
    s.count = sorted.size();
    s.missing = c.ranked.missing;
    const MeanStd ms = MeanAndStd(sorted);
    s.mean = ms.mean;
    s.stddev = ms.stddev;
    s.min = sorted.empty() ? kNaN : sorted.front();
    s.max = sorted.empty() ? kNaN : sorted.back();
    s.q01 = QuantileSorted(sorted, 0.01);
    s.q05 = QuantileSorted(sorted, 0.05);
    s.q25 = QuantileSorted(sorted, 0.25);
    s.median = QuantileSorted(sorted, 0.5);
    s.q75 = QuantileSorted(sorted, 0.75);
    s.q95 = QuantileSorted(sorted, 0.95);
    s.q99 = QuantileSorted(sorted, 0.99);
    s.histogram = MakeHistogram(c.values, sorted, labels, bins, c.log_histogram);
    return s;
}

// Counts and frauds per interned id.
struct IdCounts {
    std::vector<std::uint64_t> count;
    std::vector<std::uint64_t> frauds;
};

IdCounts CountIds(const CategoricalColumn& col, std::span<const std::int8_t> labels) {
    IdCounts c;
    c.count.assign(col.pool.size(), 0);
    c.frauds.assign(col.pool.size(), 0);
    for (std::size_t i = 0; i < col.ids.size(); ++i) {
        ++c.count[col.ids[i]];
        if (!labels.empty() && labels[i]) ++c.frauds[col.ids[i]];
    }
    return c;
}

CategoricalSummary SummarizeCategorical(const std::string& name, const CategoricalColumn& col,
                                        const IdCounts& c, std::size_t top_n) {
    CategoricalSummary s;
    s.name = name;
    std::vector<std::uint32_t> ids;
    for (std::uint32_t id = 0; id < c.count.size(); ++id) {
        if (c.count[id] == 0) continue;
        ++s.distinct;
        if (col.pool.Get(id).empty()) s.missing += c.count[id];
        ids.push_back(id);
    }
    const std::size_t k = std::min(top_n, ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
                      [&](std::uint32_t a, std::uint32_t b) {
                          return c.count[a] != c.count[b] ? c.count[a] > c.count[b] : a < b;
                      });
    for (std::size_t i = 0; i < k; ++i)
        s.top.push_back({std::string(col.pool.Get(ids[i])), c.count[ids[i]], c.frauds[ids[i]]});
    return s;
}

std::vector<EntityStats> TopByFraud(const CategoricalColumn& col, const IdCounts& c,
                                    std::size_t top_n) {
    std::vector<std::uint32_t> ids;
    for (std::uint32_t id = 0; id < c.count.size(); ++id)
        if (c.frauds[id] > 0) ids.push_back(id);
    const std::size_t k = std::min(top_n, ids.size());
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(k), ids.end(),
                      [&](std::uint32_t a, std::uint32_t b) {
                          if (c.frauds[a] != c.frauds[b]) return c.frauds[a] > c.frauds[b];
                          if (c.count[a] != c.count[b]) return c.count[a] > c.count[b];
                          return a < b;
                      });
    std::vector<EntityStats> out;
    for (std::size_t i = 0; i < k; ++i)
        out.push_back({std::string(col.pool.Get(ids[i])), c.count[ids[i]], c.frauds[ids[i]]});
    return out;
}

// Histogram of transactions per entity; fraud_counts = entities with at least one fraud.
Histogram EntityHistogram(const IdCounts& c, bool labelled, std::size_t bins) {
    std::vector<double> counts;
    std::vector<std::int8_t> any_fraud;
    for (std::size_t id = 0; id < c.count.size(); ++id) {
        if (c.count[id] == 0) continue;
        counts.push_back(static_cast<double>(c.count[id]));
        any_fraud.push_back(c.frauds[id] > 0 ? 1 : 0);
    }
    std::vector<double> sorted = counts;
    std::sort(sorted.begin(), sorted.end());
    return MakeHistogram(
        counts, sorted,
        labelled ? std::span<const std::int8_t>(any_fraud) : std::span<const std::int8_t>(), bins,
        false);
}

std::uint64_t CountDuplicateIds(const StringColumn& ids) {
    const std::size_t n = ids.size();
    std::vector<std::pair<std::uint64_t, std::uint32_t>> h(n);
    for (std::size_t i = 0; i < n; ++i)
        h[i] = {std::hash<std::string_view>{}(ids.Get(i)), static_cast<std::uint32_t>(i)};
    std::sort(h.begin(), h.end());
    std::uint64_t dups = 0;
    for (std::size_t i = 0; i < n;) {
        std::size_t j = i + 1;
        while (j < n && h[j].first == h[i].first) ++j;
        if (j - i > 1) {
            // Same hash: compare the strings (rows in order; a row is a duplicate when an
            // earlier row of the group has the same id).
            for (std::size_t a = i + 1; a < j; ++a) {
                for (std::size_t b = i; b < a; ++b) {
                    if (ids.Get(h[a].second) == ids.Get(h[b].second)) {
                        ++dups;
                        break;
                    }
                }
            }
        }
        i = j;
    }
    return dups;
}

std::string BandLabel(double lo, double hi) {
    auto fmt = [](double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v);
        return std::string(buf);
    };
    return fmt(lo) + "-" + fmt(hi);
}

// Amount bands on a 1-2-5 ladder: [0,1), [1,2), [2,5), [5,10), ...; empty bands at either end
// are dropped. Negative amounts form one band "<0".
std::vector<Bucket> AmountBands(std::span<const double> amount,
                                std::span<const std::int8_t> labels) {
    std::vector<double> edges = {0.0};
    double max = 0;
    for (double v : amount)
        if (!std::isnan(v)) max = std::max(max, v);
    for (double decade = 1; edges.back() <= max; decade *= 10) {
        edges.push_back(decade);
        edges.push_back(2 * decade);
        edges.push_back(5 * decade);
    }
    const std::size_t nb = edges.size() - 1;
    std::vector<Bucket> bands(nb);
    for (std::size_t i = 0; i < nb; ++i) {
        bands[i].label = BandLabel(edges[i], edges[i + 1]);
        bands[i].start = edges[i];
    }
    Bucket negative{"<0", -1, 0, 0};
    for (std::size_t i = 0; i < amount.size(); ++i) {
        const double v = amount[i];
        if (std::isnan(v)) continue;
        Bucket* b = &negative;
        if (v >= 0) {
            const auto it = std::upper_bound(edges.begin(), edges.end(), v);
            b = &bands[std::min<std::size_t>(static_cast<std::size_t>(it - edges.begin()) - 1,
                                             nb - 1)];
        }
        ++b->count;
        if (!labels.empty() && labels[i]) ++b->frauds;
    }
    std::size_t first = 0, last = nb;
    while (first < last && bands[first].count == 0) ++first;
    while (last > first && bands[last - 1].count == 0) --last;
    std::vector<Bucket> out;
    if (negative.count > 0) out.push_back(negative);
    out.insert(out.end(), bands.begin() + static_cast<std::ptrdiff_t>(first),
               bands.begin() + static_cast<std::ptrdiff_t>(last));
    return out;
}

void TimePatterns(const TransactionTable& t, EdaStats& s) {
    const auto& ts = t.ts_ms;
    const bool labelled = t.has_label();
    s.by_hour.resize(24);
    s.by_weekday.resize(7);
    static const char* kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    for (int h = 0; h < 24; ++h) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%02d", h);
        s.by_hour[static_cast<std::size_t>(h)] = {buf, static_cast<double>(h), 0, 0};
    }
    for (int d = 0; d < 7; ++d)
        s.by_weekday[static_cast<std::size_t>(d)] = {kDays[d], static_cast<double>(d), 0, 0};
    std::int64_t lo = ts[0], hi = ts[0];
    for (auto v : ts) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    s.first_ts_ms = lo;
    s.last_ts_ms = hi;
    const std::int64_t first_day = DayIndex(lo);
    const std::int64_t days = DayIndex(hi) - first_day + 1;
    s.day_bucket_days = (days + kMaxDayBuckets - 1) / kMaxDayBuckets;
    const std::int64_t nbuckets = (days + s.day_bucket_days - 1) / s.day_bucket_days;
    s.by_day.resize(static_cast<std::size_t>(nbuckets));
    for (std::int64_t b = 0; b < nbuckets; ++b) {
        const std::int64_t start = (first_day + b * s.day_bucket_days) * kMsPerDay;
        s.by_day[static_cast<std::size_t>(b)] = {FormatDate(start), static_cast<double>(start), 0,
                                                 0};
    }
    for (std::size_t i = 0; i < ts.size(); ++i) {
        const std::int64_t day = DayIndex(ts[i]);
        const auto hour = static_cast<std::size_t>(HourOfDay(ts[i]));
        const auto wd = static_cast<std::size_t>(DayOfWeek(ts[i]));
        const auto b = static_cast<std::size_t>((day - first_day) / s.day_bucket_days);
        const std::uint64_t f = labelled && t.label[i] ? 1 : 0;
        ++s.by_hour[hour].count;
        s.by_hour[hour].frauds += f;
        ++s.by_weekday[wd].count;
        s.by_weekday[wd].frauds += f;
        ++s.by_day[b].count;
        s.by_day[b].frauds += f;
    }
}

Result<EdaStats> ComputeEdaImpl(const TransactionTable& t, const Schema& schema,
                                const EdaOptions& opt) {
    const auto t0 = std::chrono::steady_clock::now();
    if (t.rows == 0) return MakeError(ErrorCode::kInvalidArgument, "the table has no rows");
    t.CheckConsistent();
    const std::size_t n = t.rows;
    const unsigned threads = ResolveThreads(opt.threads);
    const std::span<const std::int8_t> labels = t.label;
    const bool labelled = t.has_label();

    EdaStats s;
    s.data_name = opt.data_name;
    s.schema_name = schema.name;
    s.rows = n;
    s.has_label = labelled;
    s.has_time = t.has_time();

    // Numeric columns: from the file, then derived.
    std::vector<NumericColumn> num;
    auto add_col = [&](std::string name, std::string field, std::span<const double> v) {
        NumericColumn c;
        c.name = std::move(name);
        c.field = std::move(field);
        c.values = v;
        num.push_back(std::move(c));
    };
    if (t.has_amount()) {
        add_col(ColumnName(schema, Field::kAmount), "amount", t.amount);
        num.back().log_histogram = true;
    }
    if (!t.lat.empty()) add_col(ColumnName(schema, Field::kLat), "lat", t.lat);
    if (!t.lon.empty()) add_col(ColumnName(schema, Field::kLon), "lon", t.lon);
    for (std::size_t j = 0; j < t.extra.size(); ++j) add_col(t.extra_names[j], "extra", t.extra[j]);

    struct CatCol {
        Field field;
        const CategoricalColumn* col;
        IdCounts counts;
    };
    std::vector<CatCol> cats;
    for (auto [f, col] :
         {std::pair{Field::kCustomerId, &t.customer}, std::pair{Field::kTerminalId, &t.terminal},
          std::pair{Field::kCategory, &t.category}, std::pair{Field::kChannel, &t.channel},
          std::pair{Field::kCountry, &t.country}}) {
        if (!col->ids.empty()) cats.push_back({f, col, {}});
    }

    // Work units for the progress bar: one per row per task.
    const std::size_t derived =
        (t.has_time() ? 2 : 0) + (t.has_customer() ? 1 : 0) + (t.has_terminal() ? 1 : 0);
    const std::size_t k_est = std::min(num.size() + derived, opt.max_corr_columns) + labelled;
    const std::uint64_t units = static_cast<std::uint64_t>(n) *
                                (cats.size() + 3 + num.size() + derived + k_est * (k_est + 1));
    std::optional<Progress> progress;
    if (opt.show_progress) progress.emplace("eda", units);
    auto done = [&](std::uint64_t rows) {
        if (progress) progress->Add(rows);
    };

    // Phase 1: categorical counts, duplicate ids, time patterns, amount bands, ranks of the file's
    // numeric columns.
    std::vector<std::function<void()>> tasks;
    for (auto& c : cats)
        tasks.push_back([&] {
            c.counts = CountIds(*c.col, labels);
            done(n);
        });
    if (!t.tx_id.empty())
        tasks.push_back([&] {
            s.duplicate_ids = CountDuplicateIds(t.tx_id);
            done(n);
        });
    if (t.has_time())
        tasks.push_back([&] {
            TimePatterns(t, s);
            done(n);
        });
    if (t.has_amount())
        tasks.push_back([&] {
            s.by_amount_band = AmountBands(t.amount, labels);
            done(n);
        });
    for (auto& c : num)
        tasks.push_back([&] {
            c.ranked = RankColumn(c.values);
            done(n);
        });
    RunTasks(tasks, threads);
    tasks.clear();

    // Phase 2: derived columns (need the per-entity counts), then their ranks.
    const std::size_t first_derived = num.size();
    if (t.has_time()) {
        add_col("hour_of_day", "derived", {});
        add_col("day_of_week", "derived", {});
    }
    const IdCounts* cust_counts = nullptr;
    const IdCounts* term_counts = nullptr;
    for (const auto& c : cats) {
        if (c.field == Field::kCustomerId) cust_counts = &c.counts;
        if (c.field == Field::kTerminalId) term_counts = &c.counts;
    }
    if (cust_counts) add_col("customer_tx_count", "derived", {});
    if (term_counts) add_col("terminal_tx_count", "derived", {});
    for (std::size_t j = first_derived; j < num.size(); ++j) {
        tasks.push_back([&, j] {
            NumericColumn& c = num[j];
            c.owned.resize(n);
            if (c.name == "hour_of_day") {
                for (std::size_t i = 0; i < n; ++i) c.owned[i] = HourOfDay(t.ts_ms[i]);
            } else if (c.name == "day_of_week") {
                for (std::size_t i = 0; i < n; ++i) c.owned[i] = DayOfWeek(t.ts_ms[i]);
            } else if (c.name == "customer_tx_count") {
                for (std::size_t i = 0; i < n; ++i)
                    c.owned[i] = static_cast<double>(cust_counts->count[t.customer.ids[i]]);
            } else {
                for (std::size_t i = 0; i < n; ++i)
                    c.owned[i] = static_cast<double>(term_counts->count[t.terminal.ids[i]]);
            }
            c.values = c.owned;
            c.ranked = RankColumn(c.values);
            done(n);
        });
    }
    std::vector<double> label_values;
    RankedColumn label_ranked;
    if (labelled) {
        tasks.push_back([&] {
            label_values.assign(t.label.begin(), t.label.end());
            label_ranked = RankColumn(label_values);
        });
    }
    RunTasks(tasks, threads);
    tasks.clear();

    // Phase 3: summaries and histograms, correlation pairs, label association.
    s.numeric.resize(num.size());
    for (std::size_t j = 0; j < num.size(); ++j)
        tasks.push_back([&, j] {
            s.numeric[j] = Summarize(num[j], labels, opt.histogram_bins);
            done(n);
        });
    std::vector<const NumericColumn*> corr;
    for (std::size_t j = 0; j < num.size() && corr.size() < opt.max_corr_columns; ++j)
        corr.push_back(&num[j]);
    NumericColumn label_col;
    if (labelled) {
        label_col.name = ColumnName(schema, Field::kLabel);
        label_col.values = label_values;
        label_col.ranked.ranks = label_ranked.ranks;
        corr.push_back(&label_col);
    }
    const std::size_t k = corr.size();
    for (auto* c : corr) s.corr_names.push_back(c->name);
    s.pearson.assign(k, std::vector<double>(k, kNaN));
    s.spearman.assign(k, std::vector<double>(k, kNaN));
    // Columns without missing values share one mean per column (one pass per pair); the mean
    // rank of a complete column is (n + 1) / 2.
    std::vector<double> value_mean(k, kNaN);
    for (std::size_t a = 0; a < k; ++a)
        if (corr[a]->ranked.missing == 0) value_mean[a] = MeanAndStd(corr[a]->values).mean;
    const double rank_mean = (static_cast<double>(n) + 1) / 2;
    for (std::size_t a = 0; a < k; ++a)
        for (std::size_t b = a; b < k; ++b) {
            const bool complete = !std::isnan(value_mean[a]) && !std::isnan(value_mean[b]);
            tasks.push_back([&, a, b, complete] {
                const double p = complete ? PearsonCentred(corr[a]->values, corr[b]->values,
                                                           value_mean[a], value_mean[b])
                                          : Pearson(corr[a]->values, corr[b]->values);
                s.pearson[a][b] = s.pearson[b][a] = p;
                done(n);
            });
            tasks.push_back([&, a, b, complete] {
                const auto& ra = corr[a]->ranked.ranks;
                const auto& rb = corr[b]->ranked.ranks;
                const double r =
                    complete ? PearsonCentred(ra, rb, rank_mean, rank_mean) : Pearson(ra, rb);
                s.spearman[a][b] = s.spearman[b][a] = r;
                done(n);
            });
        }
    if (labelled) {
        s.label_association.resize(num.size());
        for (std::size_t j = 0; j < num.size(); ++j)
            tasks.push_back([&, j] {
                LabelAssociation& a = s.label_association[j];
                a.name = num[j].name;
                a.pearson = Pearson(num[j].values, label_values);
                a.spearman = Pearson(num[j].ranked.ranks, label_ranked.ranks);
                a.roc_auc = AucFromRanks(num[j].ranked.ranks, labels);
            });
    }
    RunTasks(tasks, threads);
    tasks.clear();

    // Overview and behaviour.
    if (labelled) {
        for (auto l : t.label) s.frauds += l != 0;
        s.fraud_rate = static_cast<double>(s.frauds) / static_cast<double>(n);
    }
    if (!t.fraud_scenario.empty()) {
        for (auto sc : t.fraud_scenario) {
            const auto idx = static_cast<std::size_t>(std::clamp(sc, 0, 63));
            if (s.frauds_by_scenario.size() <= idx) s.frauds_by_scenario.resize(idx + 1, 0);
            ++s.frauds_by_scenario[idx];
        }
    }
    for (const auto& [f, col] : schema.columns) {
        ColumnInfo ci{col, FieldName(f), "", 0};
        switch (f) {
            case Field::kTransactionId:
                if (t.tx_id.empty()) continue;
                ci.type = "id";
                break;
            case Field::kTimestamp:
                if (!t.has_time()) continue;
                ci.type = "timestamp";
                break;
            case Field::kAmount:
            case Field::kLat:
            case Field::kLon: {
                const auto& v = f == Field::kAmount ? t.amount : f == Field::kLat ? t.lat : t.lon;
                if (v.empty()) continue;
                ci.type = "numeric";
                for (double x : v) ci.missing += std::isnan(x);
                break;
            }
            case Field::kLabel:
                if (!labelled) continue;
                ci.type = "label";
                break;
            case Field::kFraudScenario:
                if (t.fraud_scenario.empty()) continue;
                ci.type = "label";
                break;
            default: {
                const CatCol* cc = nullptr;
                for (const auto& c : cats)
                    if (c.field == f) cc = &c;
                if (!cc) continue;
                ci.type = "categorical";
                for (std::uint32_t id = 0; id < cc->counts.count.size(); ++id)
                    if (cc->col->pool.Get(id).empty()) ci.missing += cc->counts.count[id];
            }
        }
        s.columns.push_back(std::move(ci));
    }
    for (std::size_t j = 0; j < num.size(); ++j) {
        if (num[j].field == "extra")
            s.columns.push_back({num[j].name, "extra", "numeric", num[j].ranked.missing});
        if (num[j].field == "derived") s.columns.push_back({num[j].name, "derived", "numeric", 0});
    }
    for (const auto& c : cats) {
        const std::string name = ColumnName(schema, c.field);
        s.categorical.push_back(SummarizeCategorical(name, *c.col, c.counts, opt.top_n));
        if (c.field == Field::kCustomerId) {
            s.customers = s.categorical.back().distinct;
            s.tx_per_customer = EntityHistogram(c.counts, labelled, opt.histogram_bins);
            if (labelled) s.top_fraud_customers = TopByFraud(*c.col, c.counts, opt.top_n);
        }
        if (c.field == Field::kTerminalId) {
            s.terminals = s.categorical.back().distinct;
            s.tx_per_terminal = EntityHistogram(c.counts, labelled, opt.histogram_bins);
            if (labelled) s.top_fraud_terminals = TopByFraud(*c.col, c.counts, opt.top_n);
        }
    }
    if (progress) progress->Finish();
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s;
}

}  // namespace

Result<EdaStats> ComputeEda(const TransactionTable& table, const Schema& schema,
                            const EdaOptions& options) {
    try {
        return ComputeEdaImpl(table, schema, options);
    } catch (const std::exception& e) {
        return MakeError(ErrorCode::kInternal, std::string("EDA failed: ") + e.what());
    }
}

}  // namespace txguard
