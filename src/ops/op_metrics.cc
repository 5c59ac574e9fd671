#include "ops/op_metrics.h"

namespace cairn::ops {

OpMetrics::OpMetrics() : errors_(new std::atomic<uint64_t>[kMaxOps * kMaxCodes]) {
  for (auto& h : latency_) h = std::make_unique<Histogram>(HistogramSpec::LatencyNs());
  for (size_t i = 0; i < kMaxOps * kMaxCodes; i++) errors_[i].store(0, std::memory_order_relaxed);
}

void OpMetrics::Write(ExpositionWriter& w, std::string_view prefix, const Namer& op_name,
                      const Namer& code_name) const {
  auto named = [](const char* n) { return n != nullptr && n[0] != '\0'; };
  const std::string p(prefix);
  std::array<HistogramSnapshot, kMaxOps> snaps;
  for (size_t op = 0; op < kMaxOps; op++)
    if (named(op_name(op))) snaps[op] = latency_[op]->Snapshot();

  w.Family(p + "_requests_total", "Requests answered, by operation.", MetricType::kCounter);
  for (size_t op = 0; op < kMaxOps; op++)
    if (named(op_name(op))) w.Sample(p + "_requests_total", {{"op", op_name(op)}}, snaps[op].count);

  w.Family(p + "_request_errors_total",
           "Requests answered with an error, by operation and result code.",
           MetricType::kCounter);
  for (size_t op = 0; op < kMaxOps; op++) {
    if (!named(op_name(op))) continue;
    for (size_t code = 1; code < kMaxCodes; code++) {
      const uint64_t n = errors(op, code);
      if (n == 0) continue;
      const char* cn = code_name(code);
      w.Sample(p + "_request_errors_total",
               {{"op", op_name(op)}, {"code", named(cn) ? cn : std::to_string(code)}}, n);
    }
  }

  w.Family(p + "_request_duration_seconds",
           "Time from a request read to its reply queued, by operation.",
           MetricType::kHistogram);
  for (size_t op = 0; op < kMaxOps; op++)
    if (named(op_name(op)))
      w.HistogramSamples(p + "_request_duration_seconds", {{"op", op_name(op)}},
                         latency_[op]->spec(), snaps[op]);
}

}  // namespace cairn::ops
