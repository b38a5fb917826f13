// base/metrics.h: Prometheus metrics (counters, gauges, histograms) and their
// text exposition (format 0.0.4), with no dependency beyond the standard
// library.
//
// Usage:
//   Registry& registry = DefaultRegistry();
//   // At startup: register once, keep the references.
//   HistogramFamily& latency = registry.AddHistogram(
//       "loyaltyd_http_request_duration_seconds", "HTTP request latency.",
//       {"route", "code"}, ExponentialBuckets(0.0005, 2, 16));
//   Counter& syncs = registry.AddCounter("loyaltyd_wal_syncs_total", "WAL fsyncs.");
//   // On the hot path: no lock, no allocation.
//   syncs.Inc();
//   latency.WithLabels({"GET /v1/members/{member_id}", "200"}).Observe(0.0031);
//   // Values computed at scrape time:
//   registry.AddCollector([db](Exposition& out) {
//     out.Gauge("loyaltyd_rocksdb_live_sst_bytes", "Live SST bytes.", {{"cf", "members"}}, 1234);
//   });
//   std::string body = registry.Render();  // GET /metrics
//
// Thread-safety: everything here is safe to call concurrently. Counter, Gauge
// and Histogram updates are lock-free (relaxed atomics: a scrape sees each
// value whole, not a snapshot across values). Registration, WithLabels on a
// label set not seen before, and Render take mutexes; WithLabels on a known
// label set takes a shared lock, so the hot path should look a child up once
// and keep the reference. Families and children are never removed: every
// reference returned here stays valid for the registry's lifetime.
// DefaultRegistry() lives until the process exits.
//
// Programming errors (a malformed name, a counter name without `_total`, the
// same name registered with another type, help, label names or buckets, the
// wrong number of label values) are asserted. Label values are data (routes,
// status codes) and are never fatal: a family holds at most
// kMaxChildrenPerFamily label sets; past that, and for a value longer than
// kMaxLabelValueBytes or not valid UTF-8, WithLabels returns the family's
// overflow child, whose label values are all "other".
//
// Exposition: families sorted by name, each as
//   # HELP <name> <help, with \ and newline escaped>
//   # TYPE <name> counter|gauge|histogram
//   <name>{<label>="<value, with \ " and newline escaped>",...} <value>
// children sorted by label values; a histogram child gives cumulative
// <name>_bucket{...,le="<bound>"} lines ending with le="+Inf", then <name>_sum
// and <name>_count (= the +Inf bucket). Numbers: integral values below 2^63
// in magnitude as plain integers, others in the shortest form that reads back
// exactly, and +Inf, -Inf, NaN. A family with no child yet is left out.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace loyalty::metrics {

// Label sets one family keeps; past it new sets share the overflow child
// (so a family holds at most this many plus one).
inline constexpr size_t kMaxChildrenPerFamily = 10'000;
// A longer label value (a raw path, a client string) goes to the overflow child.
inline constexpr size_t kMaxLabelValueBytes = 256;
inline constexpr size_t kMaxLabelNamesPerFamily = 8;
inline constexpr size_t kMaxBucketsPerHistogram = 64;  // upper bounds, +Inf not counted
inline constexpr size_t kMaxFamiliesPerRegistry = 1'000;
inline constexpr size_t kMaxCollectorsPerRegistry = 64;
// Samples all collectors may emit in one scrape; past it they are dropped
// (and logged), so a collector looping over runaway data cannot blow up a scrape.
inline constexpr size_t kMaxCollectedSamplesPerScrape = 20'000;
inline constexpr size_t kMaxNameBytes = 200;
inline constexpr size_t kMaxHelpBytes = 1'000;
// The label value of every label of the overflow child.
inline constexpr std::string_view kOverflowLabelValue = "other";

enum class MetricType { kCounter, kGauge, kHistogram };

// A monotonic total: integer increments are exact to 2^64; fractional ones
// (seconds, amounts) add to a separate double.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Inc(uint64_t n = 1) { integral_.fetch_add(n, std::memory_order_relaxed); }
  // `v` must be >= 0 (asserted).
  void Add(double v);
  double Value() const;

 private:
  template <typename>
  friend class Family;  // renders the integral part exactly
  std::atomic<uint64_t> integral_{0};
  std::atomic<double> fractional_{0.0};
};

// A value that goes up and down. Held as a double: integers are exact up to
// 2^53 in magnitude (9 PB of bytes, far beyond any queue depth).
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void Inc() { Add(1.0); }
  void Dec() { Add(-1.0); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Counts observations into buckets with fixed upper bounds (inclusive, as
// Prometheus's `le`), plus an implicit +Inf bucket, and sums them. A NaN
// observation is dropped: it would turn _sum into NaN for good.
class Histogram {
 public:
  // `upper_bounds` must be finite, strictly increasing, and outlive the
  // histogram (its family owns them).
  explicit Histogram(std::span<const double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double v);
  std::span<const double> upper_bounds() const { return upper_bounds_; }
  // Observations <= upper_bounds()[i], or all of them for i == size(): cumulative.
  uint64_t CumulativeCount(size_t i) const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  template <typename>
  friend class Family;  // reads each bucket once per scrape
  std::span<const double> upper_bounds_;
  // Per bucket, not cumulative: one increment per observation. Last: +Inf.
  std::unique_ptr<std::atomic<uint64_t>[]> bucket_counts_;
  std::atomic<double> sum_{0.0};
};

// Bucket bounds: start, start*factor, ... (`count` of them).
std::vector<double> ExponentialBuckets(double start, double factor, size_t count);
// The buckets of every request-latency histogram (both edges), seconds:
// 0.5 ms (a cached read) to 10 s (a scan of every member).
inline const std::vector<double>& RequestLatencyBuckets() {
  static const std::vector<double> buckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return buckets;
}
// Bucket bounds: start, start+width, ... (`count` of them).
std::vector<double> LinearBuckets(double start, double width, size_t count);

namespace internal {

// Orders label-value lists (stored as strings, looked up as string_views)
// without building a key per lookup.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

// What the registry knows of any family: its identity and how to render it.
class FamilyBase {
 public:
  FamilyBase(MetricType type, std::string name, std::string help, std::vector<std::string> label_names,
             std::vector<double> upper_bounds);
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  MetricType type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  virtual size_t ChildCount() const = 0;
  // Appends HELP, TYPE and every child's samples; nothing if no child yet.
  virtual void AppendTo(std::string& out) const = 0;

 private:
  const MetricType type_;
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> upper_bounds_;  // histograms only
};

}  // namespace internal

// A named metric with fixed label names; one child Metric per label-value set.
template <typename Metric>
class Family final : public internal::FamilyBase {
 public:
  using FamilyBase::FamilyBase;

  // The child for these label values (one per label name, in order; asserted),
  // created on first use. Keep the reference: updating it takes no lock.
  Metric& WithLabels(std::initializer_list<std::string_view> values) {
    return WithLabels(std::span<const std::string_view>(values.begin(), values.size()));
  }
  Metric& WithLabels(std::span<const std::string_view> values);
  size_t ChildCount() const override;
  void AppendTo(std::string& out) const override;

 private:
  struct Child {
    template <typename... Args>
    explicit Child(std::string labels, Args&&... args)
        : rendered_labels(std::move(labels)), metric(std::forward<Args>(args)...) {}
    const std::string rendered_labels;  // `a="x",b="y"`, escaped, ready to print
    Metric metric;
  };
  Metric& OverflowChildLocked();

  mutable std::shared_mutex mu_;
  // A std::map: nodes never move (references stay valid) and render sorted.
  std::map<std::vector<std::string>, Child, internal::LabelValuesLess> children_;
  bool overflow_logged_ = false;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;
extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

struct Label {
  std::string_view name;
  std::string_view value;
};

// What a collector writes into at scrape time. Samples of one name group
// under one HELP/TYPE header however they were interleaved, sorted by
// labels. Repeating a name with another type or help, repeating a label set,
// or a name that a registered family has, is a programming error (asserted).
class Exposition {
 public:
  template <typename T>
    requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
  void Gauge(std::string_view name, std::string_view help, std::initializer_list<Label> labels, T value) {
    Add(MetricType::kGauge, name, help, labels, FormatNumber(value));
  }
  // `name` ends in `_total`; `value` >= 0 (both asserted).
  template <typename T>
    requires(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
  void Counter(std::string_view name, std::string_view help, std::initializer_list<Label> labels, T value) {
    Add(MetricType::kCounter, name, help, labels, FormatNumber(value));
  }

 private:
  friend class Registry;
  struct CollectedFamily {
    MetricType type;
    std::string help;
    std::vector<std::pair<std::string, std::string>> samples;  // rendered labels, value
  };
  template <typename T>
  static std::string FormatNumber(T value) {
    if constexpr (std::is_floating_point_v<T>) return FormatDouble(static_cast<double>(value));
    else if constexpr (std::is_signed_v<T>) return FormatInt(static_cast<int64_t>(value));
    else return FormatUint(static_cast<uint64_t>(value));
  }
  static std::string FormatDouble(double v);
  static std::string FormatInt(int64_t v);
  static std::string FormatUint(uint64_t v);
  void Add(MetricType type, std::string_view name, std::string_view help, std::initializer_list<Label> labels,
           std::string value);
  std::map<std::string, CollectedFamily, std::less<>> families_;
  size_t sample_count_ = 0;
  size_t dropped_count_ = 0;
};

using Collector = std::function<void(Exposition&)>;

// Owns families and collectors and renders them. Add* with a name already
// registered returns the existing family if type, help, label names (and
// buckets) match, and asserts otherwise.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Without label names: the one child itself.
  Counter& AddCounter(std::string_view name, std::string_view help);
  CounterFamily& AddCounter(std::string_view name, std::string_view help,
                            const std::vector<std::string>& label_names);
  Gauge& AddGauge(std::string_view name, std::string_view help);
  GaugeFamily& AddGauge(std::string_view name, std::string_view help, const std::vector<std::string>& label_names);
  Histogram& AddHistogram(std::string_view name, std::string_view help, const std::vector<double>& upper_bounds);
  HistogramFamily& AddHistogram(std::string_view name, std::string_view help,
                                const std::vector<std::string>& label_names, const std::vector<double>& upper_bounds);

  // Called on the scraping thread by every Render (one Render at a time), so
  // it must not block for long; may read anything thread-safe.
  void AddCollector(Collector collector);

  // The whole exposition (text format 0.0.4); "" if nothing to show.
  std::string Render() const;

 private:
  internal::FamilyBase& Register(MetricType type, std::string_view name, std::string_view help,
                                 const std::vector<std::string>& label_names, const std::vector<double>& upper_bounds);

  mutable std::mutex mu_;  // guards families_ and collectors_
  std::map<std::string, std::unique_ptr<internal::FamilyBase>, std::less<>> families_;
  std::vector<Collector> collectors_;
  mutable std::mutex render_mu_;  // one Render at a time: collectors need not be reentrant
};

// The process-wide registry the server renders on /metrics. Never destroyed,
// so threads still updating at exit touch live memory.
Registry& DefaultRegistry();

// Adds a collector of the standard process metrics, read from /proc at each
// scrape: process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds (the soft
// RLIMIT_NOFILE; left out if unlimited) and process_start_time_seconds (read
// once, here). A value that cannot be read is left out. Call once per registry.
void AddProcessCollector(Registry& registry);

}  // namespace loyalty::metrics
