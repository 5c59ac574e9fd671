#include "ops/metrics.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/exposition.h"
#include "util/check.h"

namespace cairn::ops {

namespace {
std::atomic<size_t> next_shard{0};
}  // namespace

size_t ThisShard() {
  // Initialised on a thread's first event; the constant initialiser keeps the thread_local free
  // of a guard variable.
  static thread_local size_t shard = SIZE_MAX;
  if (__builtin_expect(shard == SIZE_MAX, 0))
    shard = next_shard.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shard;
}

uint64_t NowNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t Counter::Value() const {
  uint64_t v = 0;
  for (const Shard& s : shards_) v += s.v.load(std::memory_order_relaxed);
  return v;
}

double HistogramSpec::UpperBound(size_t i) const {
  if (i + 1 >= buckets()) return std::numeric_limits<double>::infinity();
  if (i == 0) return std::ldexp(1.0, min_exp);
  const int e = min_exp + static_cast<int>((i - 1) / 2);
  return (i - 1) % 2 == 0 ? 1.5 * std::ldexp(1.0, e) : std::ldexp(1.0, e + 1);
}

HistogramSnapshot HistogramSnapshot::Minus(const HistogramSnapshot& older) const {
  HistogramSnapshot d;
  d.counts.resize(counts.size());
  for (size_t i = 0; i < counts.size(); i++) {
    const uint64_t o = i < older.counts.size() ? older.counts[i] : 0;
    d.counts[i] = counts[i] >= o ? counts[i] - o : 0;
    d.count += d.counts[i];
  }
  d.sum = sum >= older.sum ? sum - older.sum : 0;
  return d;
}

double HistogramSnapshot::Quantile(const HistogramSpec& spec, double q) const {
  if (count == 0) return 0;
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(count);
  uint64_t below = 0;
  for (size_t i = 0; i < counts.size(); i++) {
    if (counts[i] == 0) continue;
    if (static_cast<double>(below + counts[i]) >= rank) {
      const double lo = i == 0 ? 0.0 : spec.UpperBound(i - 1);
      const double hi = spec.UpperBound(i);
      if (std::isinf(hi)) return lo;
      const double frac = (rank - static_cast<double>(below)) / static_cast<double>(counts[i]);
      return lo + (hi - lo) * std::clamp(frac, 0.0, 1.0);
    }
    below += counts[i];
  }
  return spec.UpperBound(counts.size() >= 2 ? counts.size() - 2 : 0);
}

Histogram::Histogram(HistogramSpec spec)
    : spec_(spec),
      nbuckets_(spec.buckets()),
      stride_((nbuckets_ + 1 + 7) / 8 * 8),
      cells_(new std::atomic<uint64_t>[kShards * stride_]) {
  CAIRN_CHECK(spec.min_exp >= 0 && spec.octaves >= 1 && spec.min_exp + spec.octaves <= 63);
  for (size_t i = 0; i < kShards * stride_; i++) cells_[i].store(0, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot s;
  s.counts.assign(nbuckets_, 0);
  for (size_t sh = 0; sh < kShards; sh++) {
    const std::atomic<uint64_t>* c = cells_.get() + sh * stride_;
    for (size_t i = 0; i < nbuckets_; i++) s.counts[i] += c[i].load(std::memory_order_relaxed);
    s.sum += c[nbuckets_].load(std::memory_order_relaxed);
  }
  for (uint64_t c : s.counts) s.count += c;
  return s;
}

// ---- Registry.

struct Registry::Family {
  std::string name;
  std::string help;
  MetricType type;
  struct Child {
    Labels labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  std::deque<Child> children;
  Child* Find(const Labels& l) {
    for (Child& c : children)
      if (c.labels == l) return &c;
    return nullptr;
  }
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry::Family* Registry::FamilyFor(std::string_view name, std::string_view help,
                                      MetricType type) {
  CAIRN_CHECK(ExpositionWriter::ValidMetricName(name));
  for (auto& f : families_) {
    if (f->name == name) {
      CAIRN_CHECK(f->type == type);
      return f.get();
    }
  }
  families_.push_back(std::make_unique<Family>());
  Family* f = families_.back().get();
  f->name = std::string(name);
  f->help = std::string(help);
  f->type = type;
  return f;
}

namespace {
void CheckLabels(const Labels& labels) {
  for (const auto& [k, v] : labels) CAIRN_CHECK(ExpositionWriter::ValidLabelName(k));
}
}  // namespace

Counter* Registry::AddCounter(std::string_view name, std::string_view help, Labels labels) {
  CheckLabels(labels);
  std::lock_guard<std::mutex> l(mu_);
  Family* f = FamilyFor(name, help, MetricType::kCounter);
  if (Family::Child* c = f->Find(labels)) return c->counter.get();
  f->children.push_back({std::move(labels), std::make_unique<Counter>(), nullptr, nullptr});
  return f->children.back().counter.get();
}

Gauge* Registry::AddGauge(std::string_view name, std::string_view help, Labels labels) {
  CheckLabels(labels);
  std::lock_guard<std::mutex> l(mu_);
  Family* f = FamilyFor(name, help, MetricType::kGauge);
  if (Family::Child* c = f->Find(labels)) return c->gauge.get();
  f->children.push_back({std::move(labels), nullptr, std::make_unique<Gauge>(), nullptr});
  return f->children.back().gauge.get();
}

Histogram* Registry::AddHistogram(std::string_view name, std::string_view help,
                                  HistogramSpec spec, Labels labels) {
  CheckLabels(labels);
  std::lock_guard<std::mutex> l(mu_);
  Family* f = FamilyFor(name, help, MetricType::kHistogram);
  if (Family::Child* c = f->Find(labels)) return c->histogram.get();
  f->children.push_back({std::move(labels), nullptr, nullptr, std::make_unique<Histogram>(spec)});
  return f->children.back().histogram.get();
}

void Registry::AddCollector(std::function<void(ExpositionWriter&)> collect) {
  std::lock_guard<std::mutex> l(mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::Expose() const {
  ExpositionWriter w;
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& f : families_) {
    w.Family(f->name, f->help, f->type);
    for (const Family::Child& c : f->children) {
      switch (f->type) {
        case MetricType::kCounter:
          w.Sample(f->name, c.labels, c.counter->Value());
          break;
        case MetricType::kGauge:
          w.Sample(f->name, c.labels, static_cast<double>(c.gauge->Value()));
          break;
        case MetricType::kHistogram:
          w.HistogramSamples(f->name, c.labels, c.histogram->spec(), c.histogram->Snapshot());
          break;
      }
    }
  }
  for (const auto& collect : collectors_) collect(w);
  return w.Take();
}

}  // namespace cairn::ops
