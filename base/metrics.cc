#include "base/metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "base/log.h"
#include "base/str_cat.h"

namespace loyalty::metrics {
namespace {

static_assert(std::atomic<double>::is_always_lock_free, "updates must stay lock-free");
static_assert(std::atomic<uint64_t>::is_always_lock_free, "updates must stay lock-free");

// An assert that names what it rejects: a misspelled metric name should be
// found from the message, not the core file. Kept in every build.
void Check(bool ok, std::string_view what, std::string_view subject) {
  if (ok) return;
  std::fprintf(stderr, "metrics: %.*s: '%.*s'\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(subject.size()), subject.data());
  std::abort();
}

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes || IsAsciiDigit(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsAsciiLetter(c) || IsAsciiDigit(c) || c == '_' || c == ':'; });
}

// [a-zA-Z_][a-zA-Z0-9_]*, and not `__...` (reserved for Prometheus itself).
bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes || IsAsciiDigit(name[0]) || name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsAsciiLetter(c) || IsAsciiDigit(c) || c == '_'; });
}

// The length of the well-formed UTF-8 sequence at s[i], or 0 (overlong forms,
// surrogates and code points past U+10FFFF are ill-formed, as Go reads them).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  assert(i < s.size());
  const auto lead = static_cast<unsigned char>(s[i]);
  if (lead < 0x80) return 1;
  size_t length;
  uint32_t code_point;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, code_point = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code_point = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, code_point = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    const auto next = static_cast<unsigned char>(s[i + k]);
    if ((next & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (next & 0x3F);
  }
  static constexpr uint32_t kMinCodePoint[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code_point < kMinCodePoint[length] || code_point > 0x10FFFF) return 0;
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return 0;
  return length;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t length = Utf8SequenceLength(s, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

// Appends `s` escaped for a label value (quotes too) or a HELP line. An
// ill-formed UTF-8 byte becomes U+FFFD: one bad byte must not make the whole
// scrape unparseable.
void AppendEscaped(std::string& out, std::string_view s, bool escape_quote) {
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      const size_t length = Utf8SequenceLength(s, i);
      if (length == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s.substr(i, length));
        i += length;
      }
      continue;
    }
    ++i;
  }
}

template <typename Int>
void AppendInteger(std::string& out, Int n) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n);
  assert(ec == std::errc());
  out.append(buf, end);
}

// Integral values below 2^63 in magnitude print as integers (no exponent,
// no ".0"); others in the shortest form that parses back to the same double.
void AppendDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else if (constexpr double kTwoTo63 = 9223372036854775808.0; v == std::trunc(v) && std::fabs(v) < kTwoTo63) {
    AppendInteger(out, static_cast<int64_t>(v));  // also turns -0 into 0
  } else {
    char buf[32];  // the shortest form of any double fits in 24
    const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    assert(ec == std::errc());
    out.append(buf, end);
  }
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  assert(false && "unknown metric type");
  return "untyped";
}

void AppendHeader(std::string& out, std::string_view name, std::string_view help, MetricType type) {
  assert(!name.empty() && !help.empty());
  out.append("# HELP ").append(name).push_back(' ');
  AppendEscaped(out, help, /*escape_quote=*/false);
  out.append("\n# TYPE ").append(name).push_back(' ');
  out.append(TypeName(type)).push_back('\n');
}

// `<name><suffix>{<labels>[,<extra>]} ` up to the value.
void AppendSeriesStart(std::string& out, std::string_view name, std::string_view suffix,
                       std::string_view rendered_labels, std::string_view extra_label = {}) {
  out.append(name).append(suffix);
  if (!rendered_labels.empty() || !extra_label.empty()) {
    out.push_back('{');
    out.append(rendered_labels);
    if (!rendered_labels.empty() && !extra_label.empty()) out.push_back(',');
    out.append(extra_label).push_back('}');
  }
  out.push_back(' ');
}

void AppendLabel(std::string& out, std::string_view name, std::string_view value) {
  if (!out.empty()) out.push_back(',');
  out.append(name).append("=\"");
  AppendEscaped(out, value, /*escape_quote=*/true);
  out.push_back('"');
}

// The naming rules promtool enforces, checked where a family is named.
void CheckIdentity(MetricType type, std::string_view name, std::string_view help) {
  Check(IsValidMetricName(name), "invalid metric name", name);
  Check(!help.empty() && help.size() <= kMaxHelpBytes, "help must have 1 to kMaxHelpBytes bytes", name);
  if (type == MetricType::kCounter) {
    Check(name.ends_with("_total"), "a counter name must end in _total", name);
  } else {
    Check(!name.ends_with("_total"), "only a counter name may end in _total", name);
  }
  if (type != MetricType::kHistogram) {
    Check(!name.ends_with("_bucket") && !name.ends_with("_count") && !name.ends_with("_sum"),
          "only a histogram's samples may end in _bucket, _count or _sum", name);
  }
}

void CheckLabelName(std::string_view family, std::string_view label) {
  Check(IsValidLabelName(label), "invalid label name", label);
  // `le` is the histogram bucket's; `quantile` a summary's (promtool rejects both elsewhere).
  Check(label != "le" && label != "quantile", "reserved label name (le, quantile) in", family);
}

void CheckLabelNames(std::string_view family, const std::vector<std::string>& label_names) {
  Check(label_names.size() <= kMaxLabelNamesPerFamily, "more than kMaxLabelNamesPerFamily labels in", family);
  for (size_t i = 0; i < label_names.size(); ++i) {
    CheckLabelName(family, label_names[i]);
    for (size_t j = 0; j < i; ++j) Check(label_names[i] != label_names[j], "repeated label name in", family);
  }
}

void CheckUpperBounds(std::string_view family, std::span<const double> upper_bounds) {
  Check(upper_bounds.size() <= kMaxBucketsPerHistogram, "more than kMaxBucketsPerHistogram buckets in", family);
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    Check(std::isfinite(upper_bounds[i]), "a bucket bound must be finite (+Inf is implicit) in", family);
    Check(i == 0 || upper_bounds[i - 1] < upper_bounds[i], "bucket bounds must increase strictly in", family);
  }
}

bool IsAcceptableLabelValue(std::string_view value) {
  return value.size() <= kMaxLabelValueBytes && IsValidUtf8(value);
}

std::string RenderLabels(const std::vector<std::string>& names, std::span<const std::string_view> values) {
  assert(names.size() == values.size());
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) AppendLabel(out, names[i], values[i]);
  return out;
}


}  // namespace

void Counter::Add(double v) {
  assert(v >= 0 && "a counter only goes up");  // also rejects NaN
  fractional_.fetch_add(v, std::memory_order_relaxed);
}

double Counter::Value() const {
  return static_cast<double>(integral_.load(std::memory_order_relaxed)) +
         fractional_.load(std::memory_order_relaxed);
}

Histogram::Histogram(std::span<const double> upper_bounds)
    : upper_bounds_(upper_bounds), bucket_counts_(new std::atomic<uint64_t>[upper_bounds.size() + 1]) {
  CheckUpperBounds("histogram", upper_bounds);
  for (size_t i = 0; i <= upper_bounds.size(); ++i) bucket_counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;
  // The first bound >= v: buckets are inclusive (`le`); past the last, +Inf.
  const size_t bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), v) - upper_bounds_.begin();
  assert(bucket <= upper_bounds_.size());
  bucket_counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

uint64_t Histogram::CumulativeCount(size_t i) const {
  assert(i <= upper_bounds_.size());
  uint64_t total = 0;
  for (size_t k = 0; k <= i; ++k) total += bucket_counts_[k].load(std::memory_order_relaxed);
  return total;
}

std::vector<double> ExponentialBuckets(double start, double factor, size_t count) {
  Check(start > 0 && factor > 1 && count >= 1 && count <= kMaxBucketsPerHistogram,
        "ExponentialBuckets needs start > 0, factor > 1, 1 <= count <= kMaxBucketsPerHistogram", "");
  std::vector<double> bounds;
  for (double bound = start; bounds.size() < count; bound *= factor) bounds.push_back(bound);
  assert(bounds.size() == count);
  return bounds;
}

std::vector<double> LinearBuckets(double start, double width, size_t count) {
  Check(width > 0 && count >= 1 && count <= kMaxBucketsPerHistogram,
        "LinearBuckets needs width > 0, 1 <= count <= kMaxBucketsPerHistogram", "");
  std::vector<double> bounds;
  // start + i * width, not a running sum: no drift (0.1 * 3, not 0.1 + 0.1 + 0.1).
  for (size_t i = 0; i < count; ++i) bounds.push_back(start + static_cast<double>(i) * width);
  assert(bounds.size() == count);
  return bounds;
}

namespace internal {

FamilyBase::FamilyBase(MetricType type, std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> upper_bounds)
    : type_(type),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {
  assert(IsValidMetricName(name_));
  assert(type_ == MetricType::kHistogram || upper_bounds_.empty());
}

}  // namespace internal

template <typename Metric>
Metric& Family<Metric>::WithLabels(std::span<const std::string_view> values) {
  Check(values.size() == label_names().size(), "wrong number of label values for", name());
  {
    std::shared_lock lock(mu_);
    if (const auto it = children_.find(values); it != children_.end()) return it->second.metric;
  }
  const bool acceptable = std::all_of(values.begin(), values.end(), IsAcceptableLabelValue);
  std::unique_lock lock(mu_);
  if (!acceptable) return OverflowChildLocked();
  if (const auto it = children_.find(values); it != children_.end()) return it->second.metric;  // raced
  if (children_.size() >= kMaxChildrenPerFamily) return OverflowChildLocked();
  std::string rendered = RenderLabels(label_names(), values);
  std::vector<std::string> key(values.begin(), values.end());
  const auto [it, inserted] = [&] {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      return children_.try_emplace(std::move(key), std::move(rendered), std::span<const double>(upper_bounds()));
    } else {
      return children_.try_emplace(std::move(key), std::move(rendered));
    }
  }();
  assert(inserted);
  assert(children_.size() <= kMaxChildrenPerFamily);
  return it->second.metric;
}

// Past the limit the family stops growing: everything else counts under one
// child whose label values are all "other" (a real label set of all "other"
// shares it, so no series is ever printed twice).
template <typename Metric>
Metric& Family<Metric>::OverflowChildLocked() {
  const std::vector<std::string_view> others(label_names().size(), kOverflowLabelValue);
  const std::span<const std::string_view> key(others);
  auto it = children_.find(key);
  if (it == children_.end()) {
    std::string rendered = RenderLabels(label_names(), key);
    if constexpr (std::is_same_v<Metric, Histogram>) {
      it = children_.try_emplace({others.begin(), others.end()}, std::move(rendered),
                                 std::span<const double>(upper_bounds())).first;
    } else {
      it = children_.try_emplace({others.begin(), others.end()}, std::move(rendered)).first;
    }
  }
  if (!overflow_logged_) {
    overflow_logged_ = true;
    LogWarning(StrCat("metrics: ", name(), ": a label set past kMaxChildrenPerFamily, too long or not UTF-8; ",
                      "counted under label values \"other\""));
  }
  assert(children_.size() <= kMaxChildrenPerFamily + 1);
  return it->second.metric;
}

template <typename Metric>
size_t Family<Metric>::ChildCount() const {
  std::shared_lock lock(mu_);
  return children_.size();
}

template <typename Metric>
void Family<Metric>::AppendTo(std::string& out) const {
  std::shared_lock lock(mu_);
  if (children_.empty()) return;
  AppendHeader(out, name(), help(), type());
  if constexpr (std::is_same_v<Metric, Histogram>) {
    // `le="0.005"` once per family, not per child and bucket.
    std::vector<std::string> le_labels;
    for (const double bound : upper_bounds()) {
      std::string label = "le=\"";
      AppendDouble(label, bound);
      le_labels.push_back(label + "\"");
    }
    for (const auto& [values, child] : children_) {
      const Histogram& h = child.metric;
      assert(h.upper_bounds_.size() == le_labels.size());
      // Each bucket read once and summed here, so the buckets are cumulative
      // and _count equals +Inf within this scrape even while observations land.
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= le_labels.size(); ++i) {
        cumulative += h.bucket_counts_[i].load(std::memory_order_relaxed);
        AppendSeriesStart(out, name(), "_bucket", child.rendered_labels,
                          i < le_labels.size() ? std::string_view(le_labels[i]) : "le=\"+Inf\"");
        AppendInteger(out, cumulative);
        out.push_back('\n');
      }
      AppendSeriesStart(out, name(), "_sum", child.rendered_labels);
      AppendDouble(out, h.Sum());
      out.push_back('\n');
      AppendSeriesStart(out, name(), "_count", child.rendered_labels);
      AppendInteger(out, cumulative);
      out.push_back('\n');
    }
  } else if constexpr (std::is_same_v<Metric, Counter>) {
    for (const auto& [values, child] : children_) {
      const uint64_t integral = child.metric.integral_.load(std::memory_order_relaxed);
      const double fractional = child.metric.fractional_.load(std::memory_order_relaxed);
      AppendSeriesStart(out, name(), "", child.rendered_labels);
      // Integer increments only: print them exactly, even past 2^53.
      if (fractional == 0) {
        AppendInteger(out, integral);
      } else {
        AppendDouble(out, static_cast<double>(integral) + fractional);
      }
      out.push_back('\n');
    }
  } else {
    static_assert(std::is_same_v<Metric, Gauge>);
    for (const auto& [values, child] : children_) {
      AppendSeriesStart(out, name(), "", child.rendered_labels);
      AppendDouble(out, child.metric.Value());
      out.push_back('\n');
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

std::string Exposition::FormatDouble(double v) {
  std::string out;
  AppendDouble(out, v);
  return out;
}

std::string Exposition::FormatInt(int64_t v) {
  std::string out;
  AppendInteger(out, v);
  return out;
}

std::string Exposition::FormatUint(uint64_t v) {
  std::string out;
  AppendInteger(out, v);
  return out;
}

void Exposition::Add(MetricType type, std::string_view name, std::string_view help,
                     std::initializer_list<Label> labels, std::string value) {
  assert(type != MetricType::kHistogram);
  CheckIdentity(type, name, help);
  Check(labels.size() <= kMaxLabelNamesPerFamily, "more than kMaxLabelNamesPerFamily labels in", name);
  // Every rendering of a negative number starts with '-' (-0 prints as 0).
  Check(type != MetricType::kCounter || !value.starts_with('-'), "a counter value must be >= 0", name);
  if (sample_count_ >= kMaxCollectedSamplesPerScrape) {
    ++dropped_count_;
    return;
  }
  std::string rendered;
  for (const Label& label : labels) {
    CheckLabelName(name, label.name);
    AppendLabel(rendered, label.name, label.value);
  }
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), CollectedFamily{type, std::string(help), {}}).first;
  } else {
    Check(it->second.type == type, "collected again with another type", name);
    Check(it->second.help == help, "collected again with another help", name);
  }
  it->second.samples.emplace_back(std::move(rendered), std::move(value));
  ++sample_count_;
}

Counter& Registry::AddCounter(std::string_view name, std::string_view help) {
  return AddCounter(name, help, {}).WithLabels({});
}

CounterFamily& Registry::AddCounter(std::string_view name, std::string_view help,
                                    const std::vector<std::string>& label_names) {
  return static_cast<CounterFamily&>(Register(MetricType::kCounter, name, help, label_names, {}));
}

Gauge& Registry::AddGauge(std::string_view name, std::string_view help) {
  return AddGauge(name, help, {}).WithLabels({});
}

GaugeFamily& Registry::AddGauge(std::string_view name, std::string_view help,
                                const std::vector<std::string>& label_names) {
  return static_cast<GaugeFamily&>(Register(MetricType::kGauge, name, help, label_names, {}));
}

Histogram& Registry::AddHistogram(std::string_view name, std::string_view help,
                                  const std::vector<double>& upper_bounds) {
  return AddHistogram(name, help, {}, upper_bounds).WithLabels({});
}

HistogramFamily& Registry::AddHistogram(std::string_view name, std::string_view help,
                                        const std::vector<std::string>& label_names,
                                        const std::vector<double>& upper_bounds) {
  return static_cast<HistogramFamily&>(Register(MetricType::kHistogram, name, help, label_names, upper_bounds));
}

internal::FamilyBase& Registry::Register(MetricType type, std::string_view name, std::string_view help,
                                         const std::vector<std::string>& label_names,
                                         const std::vector<double>& upper_bounds) {
  CheckIdentity(type, name, help);
  CheckLabelNames(name, label_names);
  CheckUpperBounds(name, upper_bounds);
  assert(type == MetricType::kHistogram || upper_bounds.empty());
  std::lock_guard lock(mu_);
  if (const auto it = families_.find(name); it != families_.end()) {
    internal::FamilyBase& family = *it->second;
    Check(family.type() == type, "registered again with another type", name);
    Check(family.help() == help, "registered again with another help", name);
    Check(family.label_names() == label_names, "registered again with other label names", name);
    Check(family.upper_bounds() == upper_bounds, "registered again with other buckets", name);
    return family;
  }
  Check(families_.size() < kMaxFamiliesPerRegistry, "more than kMaxFamiliesPerRegistry families at", name);
  std::unique_ptr<internal::FamilyBase> family;
  switch (type) {
    case MetricType::kCounter:
      family = std::make_unique<CounterFamily>(type, std::string(name), std::string(help), label_names,
                                               std::vector<double>{});
      break;
    case MetricType::kGauge:
      family = std::make_unique<GaugeFamily>(type, std::string(name), std::string(help), label_names,
                                             std::vector<double>{});
      break;
    case MetricType::kHistogram:
      family = std::make_unique<HistogramFamily>(type, std::string(name), std::string(help), label_names,
                                                 upper_bounds);
      break;
  }
  assert(family != nullptr);
  internal::FamilyBase& result = *family;
  families_.emplace(std::string(name), std::move(family));
  return result;
}

void Registry::AddCollector(Collector collector) {
  assert(collector != nullptr);
  std::lock_guard lock(mu_);
  Check(collectors_.size() < kMaxCollectorsPerRegistry, "more than kMaxCollectorsPerRegistry collectors", "");
  collectors_.push_back(std::move(collector));
}

std::string Registry::Render() const {
  std::lock_guard render_lock(render_mu_);
  // Families and collectors are never removed: pointers taken here stay
  // valid, and collectors run without mu_ (they may register families).
  std::vector<const internal::FamilyBase*> families;
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, family] : families_) families.push_back(family.get());
    collectors = collectors_;
  }
  Exposition collected;
  for (const Collector& collector : collectors) collector(collected);
  if (collected.dropped_count_ > 0) {
    LogWarning(StrCat("metrics: collectors emitted more than kMaxCollectedSamplesPerScrape samples; dropped ",
                      collected.dropped_count_));
  }

  // Both lists are sorted by name: merge them.
  std::string out;
  auto registered = families.begin();
  auto scraped = collected.families_.begin();
  while (registered != families.end() || scraped != collected.families_.end()) {
    if (scraped == collected.families_.end() ||
        (registered != families.end() && (*registered)->name() < scraped->first)) {
      (*registered++)->AppendTo(out);
      continue;
    }
    Check(registered == families.end() || (*registered)->name() != scraped->first,
          "a collector emitted the name of a registered family", scraped->first);
    auto& [name, family] = *scraped++;
    std::sort(family.samples.begin(), family.samples.end());
    for (size_t i = 1; i < family.samples.size(); ++i) {
      Check(family.samples[i - 1].first != family.samples[i].first, "a collector repeated a label set of", name);
    }
    assert(!family.samples.empty());
    AppendHeader(out, name, family.help, family.type);
    for (const auto& [labels, value] : family.samples) {
      AppendSeriesStart(out, name, "", labels);
      out.append(value).push_back('\n');
    }
  }
  assert(out.empty() || out.back() == '\n');
  return out;
}

Registry& DefaultRegistry() {
  static Registry* const registry = new Registry();
  return *registry;
}

namespace {

// /proc/self/stat is a few hundred bytes; /proc/stat grows with the CPUs.
constexpr size_t kMaxProcSelfStatBytes = 4096;
constexpr size_t kMaxProcStatBytes = 1 << 20;

// The whole of a small (proc) file in one buffer, or nullopt.
std::optional<std::string> ReadSmallFile(const char* path, size_t max_bytes) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string content(max_bytes, '\0');
  size_t size = 0;
  while (size < max_bytes) {
    const ssize_t n = ::read(fd, content.data() + size, max_bytes - size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size += static_cast<size_t>(n);
  }
  ::close(fd);
  assert(size <= max_bytes);
  if (size == 0 || size == max_bytes) return std::nullopt;  // empty, or cut short
  content.resize(size);
  return content;
}

template <typename Int>
std::optional<Int> ParseInteger(std::string_view s) {
  Int value{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

struct ProcSelfStat {
  uint64_t cpu_ticks = 0;         // utime + stime
  uint64_t start_ticks = 0;       // since boot
  uint64_t virtual_bytes = 0;
  uint64_t resident_pages = 0;
};

// /proc/self/stat: `pid (comm) state ppid ...`; comm may hold spaces and ')',
// so fields are counted after the last ')'. Field numbers as in proc(5).
std::optional<ProcSelfStat> ReadProcSelfStat() {
  const auto content = ReadSmallFile("/proc/self/stat", kMaxProcSelfStatBytes);
  if (!content) return std::nullopt;
  const size_t comm_end = content->rfind(')');
  if (comm_end == std::string::npos) return std::nullopt;
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  std::string_view rest = std::string_view(*content).substr(comm_end + 1);
  while (!rest.empty()) {
    const size_t start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const size_t end = std::min(rest.find_first_of(" \n"), rest.size());
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end);
  }
  constexpr size_t kFirstField = 3;
  auto field = [&](size_t number) -> std::optional<uint64_t> {
    assert(number >= kFirstField);
    if (number - kFirstField >= fields.size()) return std::nullopt;
    return ParseInteger<uint64_t>(fields[number - kFirstField]);
  };
  const auto utime = field(14), stime = field(15), starttime = field(22), vsize = field(23), rss = field(24);
  if (!utime || !stime || !starttime || !vsize || !rss) return std::nullopt;
  return ProcSelfStat{*utime + *stime, *starttime, *vsize, *rss};
}

// btime in /proc/stat: the boot time, in seconds since the epoch.
std::optional<uint64_t> ReadBootTimeSeconds() {
  const auto content = ReadSmallFile("/proc/stat", kMaxProcStatBytes);
  if (!content) return std::nullopt;
  const size_t at = content->find("\nbtime ");
  if (at == std::string::npos) return std::nullopt;
  const size_t start = at + 7;
  const size_t end = content->find('\n', start);
  return ParseInteger<uint64_t>(std::string_view(*content).substr(start, end - start));
}

// Entries of /proc/self/fd, less the one reading it.
std::optional<uint64_t> CountOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  const std::string own_fd = std::to_string(::dirfd(dir));
  uint64_t count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != ".." && name != own_fd) ++count;
  }
  ::closedir(dir);
  return count;
}

}  // namespace

void AddProcessCollector(Registry& registry) {
  const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
  const long page_bytes = ::sysconf(_SC_PAGESIZE);
  // The start time never changes: read it once, not per scrape.
  std::optional<double> start_time_seconds;
  const auto stat = ReadProcSelfStat();
  const auto boot_seconds = ReadBootTimeSeconds();
  if (stat && boot_seconds && ticks_per_second > 0) {
    start_time_seconds = static_cast<double>(*boot_seconds) +
                         static_cast<double>(stat->start_ticks) / static_cast<double>(ticks_per_second);
  }
  registry.AddCollector([ticks_per_second, page_bytes, start_time_seconds](Exposition& out) {
    if (const auto stat = ReadProcSelfStat()) {
      if (ticks_per_second > 0) {
        out.Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", {},
                    static_cast<double>(stat->cpu_ticks) / static_cast<double>(ticks_per_second));
      }
      if (page_bytes > 0) {
        out.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", {},
                  stat->resident_pages * static_cast<uint64_t>(page_bytes));
      }
      out.Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", {}, stat->virtual_bytes);
    }
    if (const auto open_fds = CountOpenFds()) {
      out.Gauge("process_open_fds", "Number of open file descriptors.", {}, *open_fds);
    }
    if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
      out.Gauge("process_max_fds", "Maximum number of open file descriptors.", {},
                static_cast<uint64_t>(limit.rlim_cur));
    }
    if (start_time_seconds) {
      out.Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", {},
                *start_time_seconds);
    }
  });
}

}  // namespace loyalty::metrics
