// EngineMetrics: the engine's events (cairn::StoreObserver) as Prometheus histograms, for the
// ops listener's /metrics: writes per group commit, log bytes per group commit, and the
// duration of every fdatasync (with a count of the failed ones).
//
// Thread safety: the engine calls it from its commit leader and sync threads; a scrape reads
// it from the ops pool. Every member is a sharded atomic (ops/metrics.h): no lock.
#pragma once

#include "cairn/options.h"
#include "ops/metrics.h"

namespace cairn::server {

class EngineMetrics final : public StoreObserver {
 public:
  void OnGroupCommit(size_t writers, uint64_t bytes) override {
    group_writers.Observe(writers);
    group_bytes.Observe(bytes);
  }
  void OnDataSync(uint64_t micros, bool ok) override {
    sync_ns.Observe(micros * 1000);
    if (!ok) sync_errors.Add(1);
  }

  ops::Histogram group_writers{ops::HistogramSpec::Count()};
  ops::Histogram group_bytes{ops::HistogramSpec::Bytes()};
  ops::Histogram sync_ns{ops::HistogramSpec::LatencyNs()};
  ops::Counter sync_errors;
};

}  // namespace cairn::server
