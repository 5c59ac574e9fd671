#include "ops/exposition.h"

#include <fmt/format.h>

#include <cmath>

#include "util/check.h"

namespace cairn::ops {

bool ExpositionWriter::ValidMetricName(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); i++) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool ExpositionWriter::ValidLabelName(std::string_view n) {
  if (n.empty() || n.starts_with("__")) return false;
  for (size_t i = 0; i < n.size(); i++) {
    const char c = n[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string ExpositionWriter::EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string ExpositionWriter::EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string ExpositionWriter::FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15)
    return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

void ExpositionWriter::Family(std::string_view name, std::string_view help, MetricType type) {
  CAIRN_CHECK(ValidMetricName(name));
  // Invariant: a family is written in one piece (Prometheus rejects a name seen twice).
  CAIRN_CHECK(written_.insert(std::string(name)).second);
  const char* t = type == MetricType::kCounter ? "counter"
                  : type == MetricType::kGauge ? "gauge"
                                               : "histogram";
  out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, EscapeHelp(help), name, t);
}

void ExpositionWriter::Labelled(std::string_view name, const Labels& labels,
                                std::string_view extra_name, std::string_view extra_value) {
  out_ += name;
  if (labels.empty() && extra_name.empty()) return;
  out_ += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    out_ += EscapeLabelValue(v);
    out_ += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out_ += ',';
    out_ += extra_name;
    out_ += "=\"";
    out_ += extra_value;
    out_ += '"';
  }
  out_ += '}';
}

void ExpositionWriter::Sample(std::string_view name, const Labels& labels, double value) {
  Labelled(name, labels, {}, {});
  out_ += ' ';
  out_ += FormatValue(value);
  out_ += '\n';
}

void ExpositionWriter::Sample(std::string_view name, const Labels& labels, uint64_t value) {
  Labelled(name, labels, {}, {});
  out_ += fmt::format(" {}\n", value);
}

void ExpositionWriter::HistogramSamples(std::string_view name, const Labels& labels,
                                        const HistogramSpec& spec,
                                        const HistogramSnapshot& snap) {
  const std::string bucket = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < snap.counts.size(); i++) {
    cumulative += snap.counts[i];
    const double ub = spec.UpperBound(i);
    const std::string le = std::isinf(ub) ? "+Inf" : FormatValue(ub / spec.divisor);
    Labelled(bucket, labels, "le", le);
    out_ += fmt::format(" {}\n", cumulative);
  }
  Sample(std::string(name) + "_sum", labels, static_cast<double>(snap.sum) / spec.divisor);
  Sample(std::string(name) + "_count", labels, cumulative);
}

void ExpositionWriter::Gauge(std::string_view name, std::string_view help, double value) {
  Family(name, help, MetricType::kGauge);
  Sample(name, {}, value);
}

void ExpositionWriter::Counter(std::string_view name, std::string_view help, uint64_t value) {
  Family(name, help, MetricType::kCounter);
  Sample(name, {}, value);
}

}  // namespace cairn::ops
