// Unit tests of the Prometheus metrics library (base/metrics.h): updates,
// labels and their limit, collectors, and the exact exposition text, which
// promtool checks when it is installed.
#include "base/metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace loyalty::metrics {
namespace {

// The lines of `text` that start with `prefix`, joined by newlines.
std::string LinesStartingWith(const std::string& text, std::string_view prefix) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.starts_with(prefix)) out += line + "\n";
  }
  return out;
}

// A registry holding every kind, labels and a collector, as the server has.
void FillRegistry(Registry& registry) {
  CounterFamily& requests =
      registry.AddCounter("loyaltyd_http_requests_total", "HTTP requests by route and code.", {"route", "code"});
  requests.WithLabels({"GET /v1/members/{member_id}", "200"}).Inc(3);
  requests.WithLabels({"POST /v1/sales", "409"}).Inc();
  registry.AddCounter("loyaltyd_wal_sync_seconds_total", "Time spent in WAL fsyncs.").Add(0.25);
  registry.AddGauge("loyaltyd_lanes_busy", "Lanes with work queued.").Set(7);
  registry.AddGauge("loyaltyd_clock_skew_seconds", "Clock skew against the POS.", {"terminal"})
      .WithLabels({"t-1"})
      .Set(-0.5);
  HistogramFamily& latency = registry.AddHistogram("loyaltyd_http_request_duration_seconds",
                                                   "HTTP request latency.", {"route"}, {0.005, 0.05, 0.5});
  Histogram& get = latency.WithLabels({"GET /v1/members/{member_id}"});
  get.Observe(0.001);
  get.Observe(0.005);  // on a bound: counts in that bucket (le is inclusive)
  get.Observe(0.02);
  get.Observe(3);      // past every bound: only +Inf
  registry.AddCollector([](Exposition& out) {
    out.Gauge("loyaltyd_rocksdb_live_sst_bytes", "Live SST bytes by column family.", {{"cf", "members"}}, 1234);
    out.Counter("loyaltyd_rocksdb_compactions_total", "Compactions since open.", {}, uint64_t{9});
    out.Gauge("loyaltyd_rocksdb_live_sst_bytes", "Live SST bytes by column family.", {{"cf", "ledger"}}, 56);
  });
}

// Every kind renders as exact text: sorted families and children, collected samples under one header.
TEST(MetricsTest, RendersEveryKindAsExpected) {
  Registry registry;
  FillRegistry(registry);
  EXPECT_EQ(registry.Render(),
            "# HELP loyaltyd_clock_skew_seconds Clock skew against the POS.\n"
            "# TYPE loyaltyd_clock_skew_seconds gauge\n"
            "loyaltyd_clock_skew_seconds{terminal=\"t-1\"} -0.5\n"
            "# HELP loyaltyd_http_request_duration_seconds HTTP request latency.\n"
            "# TYPE loyaltyd_http_request_duration_seconds histogram\n"
            "loyaltyd_http_request_duration_seconds_bucket{route=\"GET /v1/members/{member_id}\",le=\"0.005\"} 2\n"
            "loyaltyd_http_request_duration_seconds_bucket{route=\"GET /v1/members/{member_id}\",le=\"0.05\"} 3\n"
            "loyaltyd_http_request_duration_seconds_bucket{route=\"GET /v1/members/{member_id}\",le=\"0.5\"} 3\n"
            "loyaltyd_http_request_duration_seconds_bucket{route=\"GET /v1/members/{member_id}\",le=\"+Inf\"} 4\n"
            "loyaltyd_http_request_duration_seconds_sum{route=\"GET /v1/members/{member_id}\"} 3.026\n"
            "loyaltyd_http_request_duration_seconds_count{route=\"GET /v1/members/{member_id}\"} 4\n"
            "# HELP loyaltyd_http_requests_total HTTP requests by route and code.\n"
            "# TYPE loyaltyd_http_requests_total counter\n"
            "loyaltyd_http_requests_total{route=\"GET /v1/members/{member_id}\",code=\"200\"} 3\n"
            "loyaltyd_http_requests_total{route=\"POST /v1/sales\",code=\"409\"} 1\n"
            "# HELP loyaltyd_lanes_busy Lanes with work queued.\n"
            "# TYPE loyaltyd_lanes_busy gauge\n"
            "loyaltyd_lanes_busy 7\n"
            "# HELP loyaltyd_rocksdb_compactions_total Compactions since open.\n"
            "# TYPE loyaltyd_rocksdb_compactions_total counter\n"
            "loyaltyd_rocksdb_compactions_total 9\n"
            "# HELP loyaltyd_rocksdb_live_sst_bytes Live SST bytes by column family.\n"
            "# TYPE loyaltyd_rocksdb_live_sst_bytes gauge\n"
            "loyaltyd_rocksdb_live_sst_bytes{cf=\"ledger\"} 56\n"
            "loyaltyd_rocksdb_live_sst_bytes{cf=\"members\"} 1234\n"
            "# HELP loyaltyd_wal_sync_seconds_total Time spent in WAL fsyncs.\n"
            "# TYPE loyaltyd_wal_sync_seconds_total counter\n"
            "loyaltyd_wal_sync_seconds_total 0.25\n");
}

// Label values escape \ " and newline, HELP escapes \ and newline, and bad UTF-8 prints as U+FFFD.
TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  registry.AddGauge("escapes", "Path C:\\dir, \"quoted\",\nsecond line \xff.", {"value"})
      .WithLabels({"a\\b \"q\"\nz"})
      .Set(1);
  registry.AddCollector([](Exposition& out) {
    out.Gauge("collected", "Help.", {{"v", "x\"\\\n\xc3"}}, 2);  // \xc3: a cut-off sequence
  });
  EXPECT_EQ(registry.Render(),
            "# HELP collected Help.\n"
            "# TYPE collected gauge\n"
            "collected{v=\"x\\\"\\\\\\n\xEF\xBF\xBD\"} 2\n"
            "# HELP escapes Path C:\\\\dir, \"quoted\",\\nsecond line \xEF\xBF\xBD.\n"
            "# TYPE escapes gauge\n"
            "escapes{value=\"a\\\\b \\\"q\\\"\\nz\"} 1\n");
}

// Integers print without exponent, counters exactly past 2^53, specials as +Inf, -Inf and NaN.
TEST(MetricsTest, FormatsNumbersAsPrometheusSpellsThem) {
  Registry registry;
  GaugeFamily& gauges = registry.AddGauge("numbers", "Numbers.", {"case"});
  const std::vector<std::pair<std::string, double>> cases = {
      {"a_zero", 0.0},          {"b_negative_zero", -0.0},     {"c_integer", 1e15},
      {"d_big_integer", 4e18},  {"e_beyond_int64", 1e20},      {"f_fraction", 0.1},
      {"g_tiny", 1e-7},         {"h_negative", -42.75},        {"i_plus_inf", INFINITY},
      {"j_minus_inf", -INFINITY}, {"k_nan", std::nan("")},
  };
  for (const auto& [name, value] : cases) gauges.WithLabels({name}).Set(value);
  registry.AddCounter("exact_total", "Past 2^53.").Inc(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(registry.Render(),
            "# HELP exact_total Past 2^53.\n"
            "# TYPE exact_total counter\n"
            "exact_total 18446744073709551615\n"
            "# HELP numbers Numbers.\n"
            "# TYPE numbers gauge\n"
            "numbers{case=\"a_zero\"} 0\n"
            "numbers{case=\"b_negative_zero\"} 0\n"
            "numbers{case=\"c_integer\"} 1000000000000000\n"
            "numbers{case=\"d_big_integer\"} 4000000000000000000\n"
            "numbers{case=\"e_beyond_int64\"} 1e+20\n"
            "numbers{case=\"f_fraction\"} 0.1\n"
            "numbers{case=\"g_tiny\"} 1e-07\n"
            "numbers{case=\"h_negative\"} -42.75\n"
            "numbers{case=\"i_plus_inf\"} +Inf\n"
            "numbers{case=\"j_minus_inf\"} -Inf\n"
            "numbers{case=\"k_nan\"} NaN\n");
}

// Buckets are inclusive and cumulative, _count is +Inf, NaN is dropped, an unused family is left out.
TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Registry registry;
  Histogram& h = registry.AddHistogram("wal_sync_seconds", "WAL sync latency.", {0.001, 0.01, 0.1, 1});
  registry.AddHistogram("unused_seconds", "Never observed.", {"route"}, {1});  // no child: left out
  for (const double v : {0.0005, 0.001, 0.002, 0.01, 0.05, 0.05, 0.5, 2.0, -1.0}) h.Observe(v);
  h.Observe(std::nan(""));
  EXPECT_EQ(h.CumulativeCount(0), 3u);  // -1, 0.0005, 0.001
  EXPECT_EQ(h.CumulativeCount(4), 9u);
  EXPECT_EQ(registry.Render(),
            "# HELP wal_sync_seconds WAL sync latency.\n"
            "# TYPE wal_sync_seconds histogram\n"
            "wal_sync_seconds_bucket{le=\"0.001\"} 3\n"
            "wal_sync_seconds_bucket{le=\"0.01\"} 5\n"
            "wal_sync_seconds_bucket{le=\"0.1\"} 7\n"
            "wal_sync_seconds_bucket{le=\"1\"} 8\n"
            "wal_sync_seconds_bucket{le=\"+Inf\"} 9\n"
            "wal_sync_seconds_sum 1.6135000000000002\n"  // the double sum, printed to read back exactly
            "wal_sync_seconds_count 9\n");
}

// Past kMaxChildrenPerFamily label sets, new ones share the one "other" child: no growth, no crash.
TEST(MetricsTest, OverflowChildPastTheLimit) {
  Registry registry;
  CounterFamily& family = registry.AddCounter("routes_total", "Requests by route.", {"route", "code"});
  for (size_t i = 0; i < kMaxChildrenPerFamily; ++i) family.WithLabels({"r" + std::to_string(i), "200"}).Inc();
  EXPECT_EQ(family.ChildCount(), kMaxChildrenPerFamily);
  Counter& overflow = family.WithLabels({"one too many", "200"});
  EXPECT_EQ(&family.WithLabels({"another", "500"}), &overflow);
  EXPECT_EQ(&family.WithLabels({"other", "other"}), &overflow);
  EXPECT_EQ(&family.WithLabels({"r7", "200"}), &family.WithLabels({"r7", "200"}));  // known sets still resolve
  overflow.Inc(5);
  family.WithLabels({"yet another", "201"}).Inc();
  EXPECT_EQ(family.ChildCount(), kMaxChildrenPerFamily + 1);
  EXPECT_EQ(LinesStartingWith(registry.Render(), "routes_total{route=\"other\""),
            "routes_total{route=\"other\",code=\"other\"} 6\n");
}

// A label value past kMaxLabelValueBytes or not UTF-8 goes to the overflow child.
TEST(MetricsTest, OverflowChildForUnacceptableValues) {
  Registry registry;
  GaugeFamily& family = registry.AddGauge("paths", "By path.", {"path"});
  Gauge& other = family.WithLabels({"other"});
  EXPECT_EQ(&family.WithLabels({std::string(kMaxLabelValueBytes + 1, 'x')}), &other);
  EXPECT_EQ(&family.WithLabels({"\xc0\xaf"}), &other);    // overlong '/'
  EXPECT_EQ(&family.WithLabels({"\xed\xa0\x80"}), &other);  // a surrogate
  EXPECT_NE(&family.WithLabels({std::string(kMaxLabelValueBytes, 'x')}), &other);
  EXPECT_NE(&family.WithLabels({"caf\xc3\xa9 \xf0\x9f\x8d\xb0"}), &other);  // "café 🍰" is fine
  EXPECT_EQ(family.ChildCount(), 3u);
}

// Increments from several threads at once add up exactly, for every kind.
TEST(MetricsTest, ConcurrentUpdatesAreExact) {
  Registry registry;
  CounterFamily& counters = registry.AddCounter("hits_total", "Hits.", {"thread_group"});
  Gauge& in_flight = registry.AddGauge("in_flight", "In flight.");
  Histogram& latency = registry.AddHistogram("latency_seconds", "Latency.", {0.5});
  constexpr int kThreads = 8;
  constexpr int kIncrementsPerThread = 100'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Two threads per child, the child looked up concurrently too.
      Counter& mine = counters.WithLabels({std::to_string(t % 4)});
      for (int i = 0; i < kIncrementsPerThread; ++i) {
        mine.Inc();
        in_flight.Inc();
        latency.Observe(i % 2 == 0 ? 0.25 : 1.0);
        in_flight.Dec();
      }
      in_flight.Add(1);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(counters.ChildCount(), 4u);
  for (int group = 0; group < 4; ++group) {
    EXPECT_EQ(counters.WithLabels({std::to_string(group)}).Value(), 2.0 * kIncrementsPerThread);
  }
  EXPECT_EQ(in_flight.Value(), kThreads);
  EXPECT_EQ(latency.CumulativeCount(0), uint64_t{kThreads} * kIncrementsPerThread / 2);
  EXPECT_EQ(latency.CumulativeCount(1), uint64_t{kThreads} * kIncrementsPerThread);
  EXPECT_EQ(latency.Sum(), kThreads * kIncrementsPerThread / 2 * 1.25);  // sums of 0.25 and 1: exact
  EXPECT_EQ(LinesStartingWith(registry.Render(), "hits_total{"),
            "hits_total{thread_group=\"0\"} 200000\n"
            "hits_total{thread_group=\"1\"} 200000\n"
            "hits_total{thread_group=\"2\"} 200000\n"
            "hits_total{thread_group=\"3\"} 200000\n");
}

// Scrapes taken while threads observe and add children stay cumulative, with _count equal to +Inf.
TEST(MetricsTest, RenderDuringUpdatesStaysConsistent) {
  Registry registry;
  HistogramFamily& latency = registry.AddHistogram("op_seconds", "Ops.", {"op"}, {0.1, 1});
  constexpr int kChildren = 50;
  constexpr uint64_t kObservationsAtLeast = 200'000;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> observed{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        latency.WithLabels({std::to_string((t * 7 + i) % kChildren)}).Observe(i % 3 * 0.5);
        observed.fetch_add(1);
      }
    });
  }
  // At least 50 scrapes, and until the writers have done real work.
  for (int scrape = 0; scrape < 50 || observed.load() < kObservationsAtLeast; ++scrape) {
    std::istringstream in(registry.Render());
    std::string line;
    uint64_t previous = 0;
    while (std::getline(in, line)) {
      const bool bucket = line.starts_with("op_seconds_bucket");
      if (!bucket && !line.starts_with("op_seconds_count")) continue;
      const uint64_t value = std::stoull(line.substr(line.rfind(' ') + 1));
      if (bucket && line.find("le=\"0.1\"") != std::string::npos) {
        previous = value;  // a child's first bucket
      } else if (bucket) {
        ASSERT_GE(value, previous) << line;
        previous = value;
      } else {
        ASSERT_EQ(value, previous) << line;  // _count is the +Inf bucket
      }
    }
  }
  stop = true;
  for (std::thread& writer : writers) writer.join();
  EXPECT_EQ(latency.ChildCount(), size_t{kChildren});
}

// Registering a name again with the same type, help and labels returns the existing family.
TEST(MetricsTest, RegisteringTwiceReturnsTheExistingFamily) {
  Registry registry;
  EXPECT_EQ(registry.Render(), "");
  Counter& a = registry.AddCounter("syncs_total", "Syncs.");
  Counter& b = registry.AddCounter("syncs_total", "Syncs.");
  EXPECT_EQ(&a, &b);
  GaugeFamily& f = registry.AddGauge("depth", "Depth.", {"queue"});
  EXPECT_EQ(&f, &registry.AddGauge("depth", "Depth.", {"queue"}));
  HistogramFamily& h = registry.AddHistogram("h_seconds", "H.", {"x"}, {1, 2});
  EXPECT_EQ(&h, &registry.AddHistogram("h_seconds", "H.", {"x"}, {1, 2}));
  EXPECT_EQ(&DefaultRegistry(), &DefaultRegistry());
}

// Programming errors (mismatches, bad names, wrong label counts, clashes) abort naming the culprit.
TEST(MetricsDeathTest, ProgrammingErrorsAreFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Registry registry;
  registry.AddCounter("syncs_total", "Syncs.");
  registry.AddGauge("depth", "Depth.", {"queue"});
  registry.AddHistogram("h_seconds", "H.", {1, 2});
  EXPECT_DEATH(registry.AddHistogram("depth", "Depth.", {"queue"}, {1}), "another type: 'depth'");
  EXPECT_DEATH(registry.AddGauge("depth", "Depth.", {"lane"}), "other label names: 'depth'");
  EXPECT_DEATH(registry.AddGauge("depth", "Deep.", {"queue"}), "another help: 'depth'");
  EXPECT_DEATH(registry.AddHistogram("h_seconds", "H.", {1, 3}), "other buckets: 'h_seconds'");
  EXPECT_DEATH(registry.AddHistogram("b_seconds", "B.", {2, 1}), "increase strictly");
  EXPECT_DEATH(registry.AddCounter("syncs", "Syncs."), "must end in _total: 'syncs'");
  EXPECT_DEATH(registry.AddGauge("queued_total", "Q."), "only a counter");
  EXPECT_DEATH(registry.AddGauge("queue_count", "Q."), "only a histogram");
  EXPECT_DEATH(registry.AddGauge("1bad", "Bad."), "invalid metric name: '1bad'");
  EXPECT_DEATH(registry.AddGauge("g", "G.", {"le"}), "reserved label name");
  EXPECT_DEATH(registry.AddGauge("g", "", {}), "help");
  EXPECT_DEATH(registry.AddGauge("depth", "Depth.", {"queue"}).WithLabels({"a", "b"}), "wrong number of label");
  registry.AddCollector([](Exposition& out) { out.Gauge("depth", "Depth.", {{"queue", "x"}}, 1); });
  EXPECT_DEATH(registry.Render(), "name of a registered family: 'depth'");
}

// The process collector emits the standard process metrics with plausible values.
TEST(MetricsTest, ProcessCollectorEmitsStandardMetrics) {
  Registry registry;
  AddProcessCollector(registry);
  const std::string text = registry.Render();
  auto value = [&](std::string_view name) -> double {
    const std::string line = LinesStartingWith(text, std::string(name) + " ");
    if (line.empty()) return -1;
    return std::stod(line.substr(name.size() + 1));
  };
  EXPECT_GE(value("process_cpu_seconds_total"), 0) << text;
  EXPECT_GT(value("process_resident_memory_bytes"), 1 << 20) << text;
  EXPECT_GT(value("process_virtual_memory_bytes"), value("process_resident_memory_bytes")) << text;
  EXPECT_GE(value("process_open_fds"), 3) << text;  // stdin, stdout, stderr
  EXPECT_GE(value("process_max_fds"), value("process_open_fds")) << text;
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(value("process_start_time_seconds"), now + 1) << text;
  EXPECT_GT(value("process_start_time_seconds"), now - 3600) << text;
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
}

// `promtool check metrics` accepts the whole exposition, exit 0 and no output at all.
TEST(MetricsTest, PromtoolAcceptsTheExposition) {
  constexpr const char* kPromtool = "/usr/bin/promtool";
  if (access(kPromtool, X_OK) != 0) GTEST_SKIP() << kPromtool << " not found (Debian package prometheus)";
  Registry registry;
  FillRegistry(registry);
  AddProcessCollector(registry);
  registry.AddGauge("escapes", "Back\\slash and\nnewline.", {"value"}).WithLabels({"a\\b \"q\"\nz"}).Set(1);
  CounterFamily& overflowing = registry.AddCounter("overflowing_total", "Overflow.", {"k"});
  for (size_t i = 0; i <= kMaxChildrenPerFamily; ++i) overflowing.WithLabels({std::to_string(i)}).Inc();
  registry.AddGauge("specials", "Specials.", {"v"}).WithLabels({"nan"}).Set(std::nan(""));
  registry.AddGauge("specials", "Specials.", {"v"}).WithLabels({"inf"}).Set(-INFINITY);
  const std::string text = registry.Render();
  ASSERT_NE(text.find("overflowing_total{k=\"other\"} 1\n"), std::string::npos);

  const std::string path = ::testing::TempDir() + "metrics_test_exposition_" + std::to_string(getpid()) + ".txt";
  std::ofstream(path, std::ios::binary) << text;
  const std::string command = std::string(kPromtool) + " check metrics < " + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  while (const size_t n = std::fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  const int status = pclose(pipe);
  std::remove(path.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n" << output;
  EXPECT_EQ(output, "");
}

// The bucket helpers give the bounds they promise.
TEST(MetricsTest, BucketHelpers) {
  EXPECT_EQ(ExponentialBuckets(0.001, 10, 4), (std::vector<double>{0.001, 0.01, 0.1, 1.0}));
  EXPECT_EQ(ExponentialBuckets(1, 2, 3), (std::vector<double>{1, 2, 4}));
  EXPECT_EQ(LinearBuckets(0, 0.1, 4), (std::vector<double>{0, 0.1, 0.2, 0.30000000000000004}));
}

}  // namespace
}  // namespace loyalty::metrics
