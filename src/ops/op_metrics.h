// OpMetrics: the request metrics of a service with a small fixed set of operations and result
// codes (cairnd's wire operations and statuses today; the S3 gateway's and the ObjectService's
// later). Per operation: a latency histogram, whose count is the operation's request count, and
// a count per non-zero result code. One call per request, from wherever the request ends:
//
//   uint64_t t0 = ops::NowNs();                       // when the request was read
//   ...
//   metrics->Observe(op, code, ops::NowNs() - t0);    // when its reply is queued
//
// Observe is one histogram observation (ops/metrics.h: two relaxed adds on the thread's shard)
// plus, for a non-zero code, one relaxed add; no lock, no allocation.
//
// Thread safety: every method from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ops/exposition.h"
#include "ops/metrics.h"

namespace cairn::ops {

class OpMetrics {
 public:
  // Named bounds: operation indexes and result codes (larger ones are folded into the last).
  static constexpr size_t kMaxOps = 16;
  static constexpr size_t kMaxCodes = 128;

  OpMetrics();

  // `op` < kMaxOps, `code` 0 for success; latency in ns.
  void Observe(size_t op, size_t code, uint64_t latency_ns) {
    op = op < kMaxOps ? op : kMaxOps - 1;
    latency_[op]->Observe(latency_ns);
    if (code != 0) {
      code = code < kMaxCodes ? code : kMaxCodes - 1;
      errors_[op * kMaxCodes + code].fetch_add(1, std::memory_order_relaxed);
    }
  }

  const Histogram& latency(size_t op) const { return *latency_[op]; }
  uint64_t errors(size_t op, size_t code) const {
    return errors_[op * kMaxCodes + code].load(std::memory_order_relaxed);
  }

  // Names for the exposition: nullptr (or "") for an index that is not an operation or code.
  using Namer = std::function<const char*(size_t)>;
  // Writes <prefix>_requests_total{op}, <prefix>_request_errors_total{op,code} and
  // <prefix>_request_duration_seconds{op} (only operations with a name; every named operation
  // appears, with zeros before its first request, so rate() works from the first scrape).
  void Write(ExpositionWriter& w, std::string_view prefix, const Namer& op_name,
             const Namer& code_name) const;

 private:
  std::array<std::unique_ptr<Histogram>, kMaxOps> latency_;
  std::unique_ptr<std::atomic<uint64_t>[]> errors_;
};

}  // namespace cairn::ops
