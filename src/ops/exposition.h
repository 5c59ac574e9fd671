// ExpositionWriter: the Prometheus text exposition format, version 0.0.4 (what /metrics
// serves; `promtool check metrics` accepts it, tests/ops_test.sh checks).
//
//   # HELP cairn_requests_total Requests answered, by operation.
//   # TYPE cairn_requests_total counter
//   cairn_requests_total{op="get"} 1027
//   # TYPE cairn_request_duration_seconds histogram
//   cairn_request_duration_seconds_bucket{op="get",le="1.024e-06"} 0
//   ...
//   cairn_request_duration_seconds_bucket{op="get",le="+Inf"} 1027
//   cairn_request_duration_seconds_sum{op="get"} 0.0412
//   cairn_request_duration_seconds_count{op="get"} 1027
//
// Label values escape backslash, double quote and line feed (\\, \", \n); help texts escape
// backslash and line feed. A family (HELP, TYPE, then every sample of the name) must be written
// in one piece: Family() refuses a name already written (a bug: CAIRN_CHECK).
//
// Thread safety: one thread at a time.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "ops/metrics.h"

namespace cairn::ops {

class ExpositionWriter {
 public:
  // Starts the family `name`: its HELP and TYPE lines.
  void Family(std::string_view name, std::string_view help, MetricType type);
  // One sample line: `name{labels} value` (name may carry a suffix such as _bucket).
  void Sample(std::string_view name, const Labels& labels, double value);
  void Sample(std::string_view name, const Labels& labels, uint64_t value);
  // A histogram's _bucket (cumulative), _sum and _count lines, values divided by spec.divisor.
  void HistogramSamples(std::string_view name, const Labels& labels, const HistogramSpec& spec,
                        const HistogramSnapshot& snap);
  // Shorthands: a family with one unlabelled sample.
  void Gauge(std::string_view name, std::string_view help, double value);
  void Counter(std::string_view name, std::string_view help, uint64_t value);

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

  static bool ValidMetricName(std::string_view name);
  static bool ValidLabelName(std::string_view name);
  static std::string EscapeLabelValue(std::string_view v);
  static std::string EscapeHelp(std::string_view v);
  // A sample value: integers exactly, others in the shortest form that reads back; +Inf, -Inf,
  // NaN as Prometheus spells them.
  static std::string FormatValue(double v);

 private:
  void Labelled(std::string_view name, const Labels& labels, std::string_view extra_name,
                std::string_view extra_value);
  std::string out_;
  std::set<std::string, std::less<>> written_;
};

}  // namespace cairn::ops
