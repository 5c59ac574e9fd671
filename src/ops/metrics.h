// Metrics cheap enough for the hot path: counters, gauges and histograms with fixed,
// log-spaced buckets, exported in the Prometheus text format (ops/exposition.h).
//
// Cost of one event (bench/ops/metrics_bench.cc measures it): a Counter::Add is one relaxed
// atomic add; a Histogram::Observe is a count-leading-zeros, a shift, and two relaxed atomic
// adds. Both go to the calling thread's shard (one of kShards cache-line-aligned copies), so
// threads on different cores do not bounce a shared line. No lock and no allocation per event;
// reading sums the shards (a scrape, never the hot path).
//
// Instrumenting code holds plain pointers (Counter*, Histogram*) obtained once at start-up, so
// an event is one line: `m->commit_records.Observe(n);`.
//
// Thread safety: every method may be called from any thread. A Registry hands out objects that
// live as long as it does.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::ops {

// Named bound: copies of each counter and histogram, one per thread modulo this. Eight covers
// the loops and the busiest pool threads of a node without sharing; more would only cost
// memory and scrape time.
inline constexpr size_t kShards = 8;

// The calling thread's shard (assigned round robin the first time a thread asks).
size_t ThisShard();

// Monotonic nanoseconds, for latency observations (CLOCK_MONOTONIC through the vDSO).
uint64_t NowNs();

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Add(uint64_t n = 1) {
    shards_[ThisShard()].v.fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t Value() const;

 private:
  struct alignas(64) Shard {
    std::atomic<uint64_t> v{0};
  };
  std::array<Shard, kShards> shards_;
};

class Gauge {
 public:
  void Set(int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void Add(int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  int64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Bucket layout of a histogram. Values are unsigned integers in the recorded unit (ns, bytes,
// records). The buckets' upper bounds (Prometheus `le`, inclusive) are 2^min_exp, then two per
// power of two: 1.5 * 2^e and 2^(e+1) for e = min_exp .. min_exp + octaves - 1, then +Inf.
// Exported values are divided by `divisor` (1e9: ns to seconds; a division, not a
// multiplication by 1e-9, so `le` labels print as 1.536e-06 rather than 1.5360000000000002e-06).
struct HistogramSpec {
  int min_exp = 10;    // 2^10 ns = 1.024 us
  int octaves = 26;    // up to 2^36 ns = 68.7 s
  double divisor = 1e9;
  size_t buckets() const { return 2 + 2 * static_cast<size_t>(octaves); }  // with +Inf
  // Upper bound of bucket i in the recorded unit (+Inf for the last).
  double UpperBound(size_t i) const;
  // The bucket of value v. Inline: it is on the hot path.
  size_t BucketOf(uint64_t v) const {
    if (v <= (uint64_t{1} << min_exp)) return 0;
    const uint64_t w = v - 1;
    const int e = 63 - __builtin_clzll(w);
    const size_t half = e == 0 ? 1 : ((w >> (e - 1)) & 1);
    const size_t i = 1 + 2 * static_cast<size_t>(e - min_exp) + half;
    return i < buckets() - 1 ? i : buckets() - 1;
  }
  static HistogramSpec LatencyNs() { return {}; }
  // Counts (records per commit, items per batch): 1, 2, 3, 4, 6, 8 ... 2^20.
  static HistogramSpec Count() { return {0, 20, 1.0}; }
  // Sizes in bytes: 1 KiB .. 64 GiB.
  static HistogramSpec Bytes() { return {10, 26, 1.0}; }
};

// What a histogram held at one moment: per-bucket counts (not cumulative), their sum, and the
// sum of the observed values (in the recorded unit).
struct HistogramSnapshot {
  std::vector<uint64_t> counts;
  uint64_t count = 0;
  uint64_t sum = 0;
  // this - older, bucket by bucket (the observations between two snapshots).
  HistogramSnapshot Minus(const HistogramSnapshot& older) const;
  // The value below which a fraction q of the observations fall, interpolated linearly inside
  // its bucket, in the recorded unit; 0 when empty. The +Inf bucket reports its lower bound.
  double Quantile(const HistogramSpec& spec, double q) const;
};

class Histogram {
 public:
  explicit Histogram(HistogramSpec spec = HistogramSpec::LatencyNs());
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(uint64_t v) {
    std::atomic<uint64_t>* s = cells_.get() + ThisShard() * stride_;
    s[spec_.BucketOf(v)].fetch_add(1, std::memory_order_relaxed);
    s[nbuckets_].fetch_add(v, std::memory_order_relaxed);
  }
  // Observes the time since `start_ns` (from NowNs()).
  void ObserveSince(uint64_t start_ns) { Observe(NowNs() - start_ns); }

  HistogramSnapshot Snapshot() const;
  const HistogramSpec& spec() const { return spec_; }

 private:
  HistogramSpec spec_;
  size_t nbuckets_;
  size_t stride_;  // cells per shard: the buckets and the sum, rounded up to a cache line
  std::unique_ptr<std::atomic<uint64_t>[]> cells_;
};

enum class MetricType { kCounter, kGauge, kHistogram };

class ExpositionWriter;

// Owns metrics by name and labels, and the collectors that report values read at scrape
// time (a store's statistics, a server's counters). Registration takes a lock; events do not.
class Registry {
 public:
  Registry();
  ~Registry();
  // Names must match [a-zA-Z_:][a-zA-Z0-9_:]* and label names [a-zA-Z_][a-zA-Z0-9_]* (a bug
  // otherwise: CAIRN_CHECK). Metrics of one name share a help text, type and label names;
  // registering the same name and labels twice returns the first one.
  Counter* AddCounter(std::string_view name, std::string_view help, Labels labels = {});
  Gauge* AddGauge(std::string_view name, std::string_view help, Labels labels = {});
  Histogram* AddHistogram(std::string_view name, std::string_view help, HistogramSpec spec,
                          Labels labels = {});
  // A collector writes whole families (all samples of a name together) at scrape time.
  void AddCollector(std::function<void(ExpositionWriter&)> collect);
  // The registry's metrics, then each collector's, in the text exposition format.
  std::string Expose() const;

 private:
  struct Family;
  Family* FamilyFor(std::string_view name, std::string_view help, MetricType type);
  mutable std::mutex mu_;
  std::deque<std::unique_ptr<Family>> families_;
  std::vector<std::function<void(ExpositionWriter&)>> collectors_;
};

}  // namespace cairn::ops
