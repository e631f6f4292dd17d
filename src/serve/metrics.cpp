#include "txguard/serve/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "txguard/core/check.hpp"

namespace txguard {
namespace {

enum Type { kCounter = 0, kGauge = 1, kHistogram = 2 };
constexpr const char* kTypeNames[] = {"counter", "gauge", "histogram"};

bool NameStart(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool NameChar(char c) { return NameStart(c) || (c >= '0' && c <= '9'); }

// A sample value: integers as integers, NaN and infinities as the format spells them.
void AppendValue(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
    } else if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
    } else {
        char buf[32];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
        out.append(buf, ec == std::errc() ? end : buf);
    }
}

void AppendValue(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, ec == std::errc() ? end : buf);
}

// HELP text: backslash and newline escaped.
void AppendHelp(std::string& out, std::string_view help) {
    for (char c : help) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

// name{labels} or name{labels,extra} or name{extra} or name.
void AppendSeries(std::string& out, std::string_view name, std::string_view suffix,
                  std::string_view labels, std::string_view extra = {}) {
    out += name;
    out += suffix;
    if (!labels.empty() || !extra.empty()) {
        out += '{';
        out += labels;
        if (!labels.empty() && !extra.empty()) out += ',';
        out += extra;
        out += '}';
    }
    out += ' ';
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
    if (name.empty() || !NameStart(name[0])) return false;
    return std::all_of(name.begin(), name.end(), NameChar);
}

bool IsValidMetricLabels(std::string_view labels) {
    std::size_t i = 0;
    const std::size_t n = labels.size();
    while (i < n) {
        // label name: [a-zA-Z_][a-zA-Z0-9_]*
        const std::size_t start = i;
        while (i < n && NameChar(labels[i]) && labels[i] != ':') ++i;
        if (i == start || (labels[start] >= '0' && labels[start] <= '9')) return false;
        if (i + 1 >= n || labels[i] != '=' || labels[i + 1] != '"') return false;
        i += 2;
        bool closed = false;
        while (i < n) {
            const char c = labels[i];
            if (c == '\\') {
                if (i + 1 >= n ||
                    (labels[i + 1] != '\\' && labels[i + 1] != '"' && labels[i + 1] != 'n'))
                    return false;
                i += 2;
            } else if (c == '"') {
                ++i;
                closed = true;
                break;
            } else if (c == '\n') {
                return false;
            } else {
                ++i;
            }
        }
        if (!closed) return false;
        if (i == n) return true;
        if (labels[i] != ',' || i + 1 == n) return false;
        ++i;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------

HistogramMetric::HistogramMetric(std::vector<double> bounds) : bounds_(std::move(bounds)) {
    if (!bounds_.empty() && std::isinf(bounds_.back()) && bounds_.back() > 0) bounds_.pop_back();
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
        TXG_CHECK_MSG(std::isfinite(bounds_[i]), "histogram bounds must be finite");
        TXG_CHECK_MSG(i == 0 || bounds_[i - 1] < bounds_[i],
                      "histogram bounds must be strictly increasing");
    }
    buckets_ = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
    for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void HistogramMetric::Observe(double seconds) {
    if (std::isnan(seconds)) return;
    // First bound >= seconds (buckets are `le`: inclusive upper bounds).
    const std::size_t i = static_cast<std::size_t>(
        std::lower_bound(bounds_.begin(), bounds_.end(), seconds) - bounds_.begin());
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(seconds, std::memory_order_relaxed);
}

std::uint64_t HistogramMetric::Count() const {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) n += BucketCount(i);
    return n;
}

std::vector<double> HistogramMetric::LatencyBounds() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// ---------------------------------------------------------------------------------------------

struct MetricsRegistry::Child {
    std::string labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::function<double()> callback;
    std::unique_ptr<HistogramMetric> histogram;
};

struct MetricsRegistry::Family {
    std::string name;
    std::string help;
    int type = kCounter;
    std::vector<std::unique_ptr<Child>> children;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Child& MetricsRegistry::Register(std::string_view name, std::string_view help,
                                                  int type, std::string_view labels,
                                                  bool* created) {
    TXG_CHECK_MSG(IsValidMetricName(name), "invalid metric name");
    TXG_CHECK_MSG(IsValidMetricLabels(labels), "invalid metric labels");
    Family* family = nullptr;
    for (auto& f : families_)
        if (f->name == name) family = f.get();
    if (!family) {
        families_.push_back(std::make_unique<Family>());
        family = families_.back().get();
        family->name = name;
        family->help = help;
        family->type = type;
    }
    TXG_CHECK_MSG(family->type == type, "a metric name registered again with another type");
    for (auto& c : family->children)
        if (c->labels == labels) {
            *created = false;
            return *c;
        }
    family->children.push_back(std::make_unique<Child>());
    family->children.back()->labels = labels;
    *created = true;
    return *family->children.back();
}

Counter& MetricsRegistry::AddCounter(std::string_view name, std::string_view help,
                                     std::string_view labels) {
    std::lock_guard lock(mu_);
    bool created = false;
    Child& c = Register(name, help, kCounter, labels, &created);
    if (created) c.counter = std::make_unique<Counter>();
    return *c.counter;
}

Gauge& MetricsRegistry::AddGauge(std::string_view name, std::string_view help,
                                 std::string_view labels) {
    std::lock_guard lock(mu_);
    bool created = false;
    Child& c = Register(name, help, kGauge, labels, &created);
    TXG_CHECK_MSG(created || c.gauge, "a callback gauge registered again as a plain gauge");
    if (created) c.gauge = std::make_unique<Gauge>();
    return *c.gauge;
}

void MetricsRegistry::AddCallbackGauge(std::string_view name, std::string_view help,
                                       std::function<double()> read, std::string_view labels) {
    TXG_CHECK_MSG(static_cast<bool>(read), "a callback gauge needs a function");
    std::lock_guard lock(mu_);
    bool created = false;
    Child& c = Register(name, help, kGauge, labels, &created);
    TXG_CHECK_MSG(created || !c.gauge, "a plain gauge registered again as a callback gauge");
    c.callback = std::move(read);  // registering again replaces the function
}

HistogramMetric& MetricsRegistry::AddHistogram(std::string_view name, std::string_view help,
                                               std::vector<double> bounds,
                                               std::string_view labels) {
    TXG_CHECK_MSG(labels.find("le=\"") != 0 && labels.find(",le=\"") == std::string_view::npos,
                  "histogram labels must not use the reserved label le");
    std::lock_guard lock(mu_);
    bool created = false;
    Child& c = Register(name, help, kHistogram, labels, &created);
    if (created) c.histogram = std::make_unique<HistogramMetric>(std::move(bounds));
    return *c.histogram;
}

std::string MetricsRegistry::Render() const {
    std::lock_guard lock(mu_);
    std::string out;
    out.reserve(families_.size() * 160);
    for (const auto& f : families_) {
        out += "# HELP ";
        out += f->name;
        out += ' ';
        AppendHelp(out, f->help);
        out += "\n# TYPE ";
        out += f->name;
        out += ' ';
        out += kTypeNames[f->type];
        out += '\n';
        for (const auto& c : f->children) {
            if (c->counter) {
                AppendSeries(out, f->name, "", c->labels);
                AppendValue(out, c->counter->Value());
            } else if (c->gauge) {
                AppendSeries(out, f->name, "", c->labels);
                AppendValue(out, c->gauge->Value());
            } else if (c->callback) {
                AppendSeries(out, f->name, "", c->labels);
                double v = std::numeric_limits<double>::quiet_NaN();
                try {
                    v = c->callback();
                } catch (...) {  // a failing reader renders NaN rather than failing the scrape
                }
                AppendValue(out, v);
            } else {
                const HistogramMetric& h = *c->histogram;
                // Read the buckets once: the cumulative counts, +Inf and _count agree.
                std::uint64_t cumulative = 0;
                std::string le;
                for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
                    cumulative += h.BucketCount(i);
                    le = "le=\"";
                    if (i < h.bounds().size()) {
                        AppendValue(le, h.bounds()[i]);
                    } else {
                        le += "+Inf";
                    }
                    le += '"';
                    AppendSeries(out, f->name, "_bucket", c->labels, le);
                    AppendValue(out, cumulative);
                    out += '\n';
                }
                AppendSeries(out, f->name, "_sum", c->labels);
                AppendValue(out, h.Sum());
                out += '\n';
                AppendSeries(out, f->name, "_count", c->labels);
                AppendValue(out, cumulative);
            }
            out += '\n';
        }
    }
    return out;
}

}  // namespace txguard
