// Metrics: bucket arithmetic, sharded counting under threads, quantiles, the text exposition
// format (escaping, histograms), OpMetrics and the recent-log ring.
#include "ops/metrics.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <thread>
#include <vector>

#include "ops/exposition.h"
#include "ops/log_ring.h"
#include "ops/op_metrics.h"

namespace cairn::ops {
namespace {

// Every value lands in the bucket whose bound is the first at or above it.
TEST(HistogramSpec, EachValueLandsInTheFirstBucketAtOrAboveIt) {
  for (HistogramSpec spec : {HistogramSpec::LatencyNs(), HistogramSpec::Count(),
                             HistogramSpec::Bytes(), HistogramSpec{3, 4, 1.0}}) {
    std::vector<uint64_t> values;
    for (uint64_t v = 0; v < 5000; v++) values.push_back(v);
    for (int e = 0; e < 63; e++) {
      const uint64_t p = uint64_t{1} << e;
      for (uint64_t d : {p - 1, p, p + 1, p + p / 2, p + p / 2 + 1}) values.push_back(d);
    }
    values.push_back(UINT64_MAX);
    for (uint64_t v : values) {
      const size_t i = spec.BucketOf(v);
      ASSERT_LT(i, spec.buckets());
      EXPECT_LE(static_cast<double>(v), spec.UpperBound(i)) << v;
      if (i > 0) {
        EXPECT_GT(static_cast<double>(v), spec.UpperBound(i - 1)) << v;
      }
    }
  }
}

TEST(HistogramSpec, BoundsAreLogSpaced) {
  HistogramSpec s = HistogramSpec::LatencyNs();
  EXPECT_EQ(s.buckets(), 54u);
  EXPECT_EQ(s.UpperBound(0), 1024.0);
  EXPECT_EQ(s.UpperBound(1), 1536.0);
  EXPECT_EQ(s.UpperBound(2), 2048.0);
  EXPECT_EQ(s.UpperBound(52), std::ldexp(1.0, 36));
  EXPECT_TRUE(std::isinf(s.UpperBound(53)));
  HistogramSpec c = HistogramSpec::Count();
  EXPECT_EQ(c.BucketOf(1), 0u);
  EXPECT_EQ(c.UpperBound(c.BucketOf(2)), 2.0);
  EXPECT_EQ(c.UpperBound(c.BucketOf(3)), 3.0);
  EXPECT_EQ(c.UpperBound(c.BucketOf(5)), 6.0);
}

TEST(Counter, SumsEveryThreadsAdds) {
  Counter c;
  std::vector<std::thread> ts;
  for (int t = 0; t < 12; t++)
    ts.emplace_back([&] {
      for (int i = 0; i < 100000; i++) c.Add();
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.Value(), 1200000u);
}

TEST(Histogram, CountsAndSumsUnderThreads) {
  Histogram h;
  std::vector<std::thread> ts;
  for (int t = 0; t < 12; t++)
    ts.emplace_back([&, t] {
      for (uint64_t i = 0; i < 50000; i++) h.Observe(1000 + i * (t + 1));
    });
  // A concurrent reader sees consistent-enough snapshots (never more than was observed).
  for (int i = 0; i < 20; i++) EXPECT_LE(h.Snapshot().count, 600000u);
  for (auto& t : ts) t.join();
  HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.count, 600000u);
  uint64_t want = 0;
  for (int t = 0; t < 12; t++)
    for (uint64_t i = 0; i < 50000; i++) want += 1000 + i * (t + 1);
  EXPECT_EQ(s.sum, want);
}

TEST(Histogram, QuantilesWithinABucket) {
  Histogram h;
  for (uint64_t us = 1; us <= 1000; us++) h.Observe(us * 1000);
  HistogramSnapshot s = h.Snapshot();
  // Buckets are 1.33-1.5x wide: interpolation lands within that of the exact value.
  EXPECT_NEAR(s.Quantile(h.spec(), 0.5), 500e3, 500e3 * 0.34);
  EXPECT_NEAR(s.Quantile(h.spec(), 0.99), 990e3, 990e3 * 0.34);
  EXPECT_EQ(HistogramSnapshot{}.Quantile(h.spec(), 0.99), 0);
  // Deltas: the window between two snapshots.
  for (int i = 0; i < 100; i++) h.Observe(50'000'000);  // 50 ms
  HistogramSnapshot d = h.Snapshot().Minus(s);
  EXPECT_EQ(d.count, 100u);
  EXPECT_NEAR(d.Quantile(h.spec(), 0.5), 50e6, 50e6 * 0.34);
}

TEST(Exposition, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(ExpositionWriter::EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(ExpositionWriter::EscapeHelp("x\\y\nz \"q\""), "x\\\\y\\nz \"q\"");
  EXPECT_TRUE(ExpositionWriter::ValidMetricName("cairn_requests_total"));
  EXPECT_TRUE(ExpositionWriter::ValidMetricName("a:b_c1"));
  EXPECT_FALSE(ExpositionWriter::ValidMetricName("1abc"));
  EXPECT_FALSE(ExpositionWriter::ValidMetricName("a-b"));
  EXPECT_FALSE(ExpositionWriter::ValidLabelName("__name__"));
  EXPECT_FALSE(ExpositionWriter::ValidLabelName("a:b"));
  EXPECT_EQ(ExpositionWriter::FormatValue(3), "3");
  EXPECT_EQ(ExpositionWriter::FormatValue(0.25), "0.25");
  EXPECT_EQ(ExpositionWriter::FormatValue(1536 / 1e9), "1.536e-06");
  EXPECT_EQ(ExpositionWriter::FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(ExpositionWriter::FormatValue(NAN), "NaN");
}

TEST(Exposition, RegistryWritesFamiliesAndHistograms) {
  Registry r;
  Counter* a = r.AddCounter("test_events_total", "Events.\nSecond line", {{"kind", "a\"b"}});
  Counter* b = r.AddCounter("test_events_total", "Events.", {{"kind", "c"}});
  EXPECT_EQ(a, r.AddCounter("test_events_total", "Events.", {{"kind", "a\"b"}}));
  a->Add(3);
  b->Add();
  r.AddGauge("test_level", "A level.")->Set(-4);
  Histogram* h = r.AddHistogram("test_seconds", "Durations.", HistogramSpec{10, 2, 1e9});
  h->Observe(1000);
  h->Observe(2000);
  h->Observe(1u << 20);
  r.AddCollector([](ExpositionWriter& w) { w.Gauge("test_collected", "From a collector.", 7); });
  EXPECT_EQ(r.Expose(),
            "# HELP test_events_total Events.\\nSecond line\n"
            "# TYPE test_events_total counter\n"
            "test_events_total{kind=\"a\\\"b\"} 3\n"
            "test_events_total{kind=\"c\"} 1\n"
            "# HELP test_level A level.\n"
            "# TYPE test_level gauge\n"
            "test_level -4\n"
            "# HELP test_seconds Durations.\n"
            "# TYPE test_seconds histogram\n"
            "test_seconds_bucket{le=\"1.024e-06\"} 1\n"
            "test_seconds_bucket{le=\"1.536e-06\"} 1\n"
            "test_seconds_bucket{le=\"2.048e-06\"} 2\n"
            "test_seconds_bucket{le=\"3.072e-06\"} 2\n"
            "test_seconds_bucket{le=\"4.096e-06\"} 2\n"
            "test_seconds_bucket{le=\"+Inf\"} 3\n"
            "test_seconds_sum 0.001051576\n"
            "test_seconds_count 3\n"
            "# HELP test_collected From a collector.\n"
            "# TYPE test_collected gauge\n"
            "test_collected 7\n");
}

TEST(Exposition, AFamilyWrittenTwiceIsABug) {
  ExpositionWriter w;
  w.Gauge("x", "x", 1);
  EXPECT_DEATH(w.Gauge("x", "x", 2), "CAIRN_CHECK");
}

TEST(OpMetrics, WritesNamedOperationsAndErrorCodes) {
  OpMetrics m;
  m.Observe(1, 0, 2000);
  m.Observe(1, 0, 3000);
  m.Observe(1, 2, 5000);
  m.Observe(3, 0, 1000);
  EXPECT_EQ(m.latency(1).Snapshot().count, 3u);
  EXPECT_EQ(m.errors(1, 2), 1u);
  ExpositionWriter w;
  auto ops = [](size_t i) -> const char* { return i == 1 ? "get" : i == 3 ? "put" : nullptr; };
  auto codes = [](size_t i) -> const char* { return i == 2 ? "NotFound" : nullptr; };
  m.Write(w, "svc", ops, codes);
  const std::string t = w.text();
  EXPECT_NE(t.find("svc_requests_total{op=\"get\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("svc_requests_total{op=\"put\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("svc_request_errors_total{op=\"get\",code=\"NotFound\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("svc_request_duration_seconds_count{op=\"get\"} 3\n"), std::string::npos);
  EXPECT_NE(t.find("svc_request_duration_seconds_bucket{op=\"put\",le=\"+Inf\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(t.find("op=\"\""), std::string::npos);
}

TEST(RecentLogSink, KeepsTheNewestWarningsAndErrors) {
  auto sink = std::make_shared<RecentLogSink>();
  spdlog::logger log("test", sink);
  log.set_level(spdlog::level::trace);
  log.info("not kept");
  log.warn("event=first volume=3 offset=4096");
  log.error("event=second");
  std::vector<LogLine> r = sink->Recent();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].level, "warning");
  EXPECT_EQ(r[0].text, "event=first volume=3 offset=4096");
  EXPECT_EQ(r[1].level, "error");
  EXPECT_GT(r[1].unix_ms, 1600000000000);
  for (size_t i = 0; i < kRecentLogLines + 10; i++) log.warn("line {}", i);
  log.error(std::string(kRecentLogLineBytes * 2, 'x'));
  r = sink->Recent();
  ASSERT_EQ(r.size(), kRecentLogLines);
  EXPECT_EQ(r.back().text, std::string(kRecentLogLineBytes, 'x') + "...");
  EXPECT_EQ(r.front().text, "line 11");
  EXPECT_EQ(sink->warnings(), kRecentLogLines + 11);
  EXPECT_EQ(sink->errors(), 2u);
}

}  // namespace
}  // namespace cairn::ops
