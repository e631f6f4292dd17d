#pragma once
// A small Prometheus metrics registry rendered in the text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), served as GET /metrics with
// Content-Type "text/plain; version=0.0.4; charset=utf-8".
//
// Hot path: Counter::Inc, Gauge::Set/Add and HistogramMetric::Observe are lock-free atomics
// (relaxed ordering; a render may see one metric a few events ahead of another). Registration
// (Add*) and Render take a mutex; register at start-up and keep the returned reference, which stays
// valid for the registry's lifetime.
//
// Names follow [a-zA-Z_:][a-zA-Z0-9_:]*; labels are given pre-rendered, without braces:
// `code="200",path="/v1/score"` (values escaped as the format says: \\, \" and \n). Metrics added
// under one name with different labels form one family: its # HELP and # TYPE lines are printed
// once, from the first registration. Registering a name and labels already present returns the
// existing metric; a malformed name or labels, reusing a name with another type, or histogram
// bounds that are not finite and strictly increasing are programmer errors (TXG_CHECK aborts).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace txguard {

// A monotonically increasing count (requests, errors, scored transactions).
class Counter {
  public:
    void Inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down (in-flight requests, model age in seconds).
class Gauge {
  public:
    void Set(double v) { value_.store(v, std::memory_order_relaxed); }
    void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
    double Value() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<double> value_{0.0};
};

// Observations (latencies in seconds) counted into buckets with fixed upper bounds (`le`,
// inclusive), plus their sum and count. Observe is O(log buckets); NaN observations are dropped.
class HistogramMetric {
  public:
    // bounds: finite, strictly increasing upper bounds in seconds; a trailing +Inf is implied
    // (and dropped when given).
    explicit HistogramMetric(std::vector<double> bounds);

    void Observe(double seconds);

    const std::vector<double>& bounds() const { return bounds_; }
    // Non-cumulative count of bucket i (i == bounds().size(): above the last bound).
    std::uint64_t BucketCount(std::size_t i) const {
        return buckets_[i].load(std::memory_order_relaxed);
    }
    std::uint64_t Count() const;  // sum of the buckets
    double Sum() const { return sum_.load(std::memory_order_relaxed); }

    // Latency buckets from 0.5 ms to 10 s, for request durations.
    static std::vector<double> LatencyBounds();

  private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1
    std::atomic<double> sum_{0.0};
};

class MetricsRegistry {
  public:
    MetricsRegistry();
    ~MetricsRegistry();
    MetricsRegistry(const MetricsRegistry&) = delete;
    MetricsRegistry& operator=(const MetricsRegistry&) = delete;

    Counter& AddCounter(std::string_view name, std::string_view help, std::string_view labels = "");
    Gauge& AddGauge(std::string_view name, std::string_view help, std::string_view labels = "");
    // A gauge whose value is read when rendering (queue depth, open connections). `read` runs
    // under the registry's mutex: it must not call back into the registry.
    void AddCallbackGauge(std::string_view name, std::string_view help,
                          std::function<double()> read, std::string_view labels = "");
    HistogramMetric& AddHistogram(std::string_view name, std::string_view help,
                                  std::vector<double> bounds, std::string_view labels = "");

    // The exposition text: families in registration order, each as
    //   # HELP name help
    //   # TYPE name counter|gauge|histogram
    //   name{labels} value                              (counter, gauge)
    //   name_bucket{labels,le="0.005"} cumulative-count  (histogram, then le="+Inf")
    //   name_sum{labels} sum
    //   name_count{labels} count
    std::string Render() const;

  private:
    struct Family;
    struct Child;
    Child& Register(std::string_view name, std::string_view help, int type, std::string_view labels,
                    bool* created);

    mutable std::mutex mu_;
    std::vector<std::unique_ptr<Family>> families_;
};

// Whether `name` is a valid metric name and `labels` a valid label list (`a="x",b="y"` or "").
bool IsValidMetricName(std::string_view name);
bool IsValidMetricLabels(std::string_view labels);

}  // namespace txguard
