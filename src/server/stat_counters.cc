#include "server/stat_counters.h"

#include <sys/statvfs.h>

#include <charconv>
#include <cmath>

namespace cairn::server {

void AddDiskCounters(const std::string& data_dir, std::map<std::string, uint64_t>* out) {
  struct statvfs v;
  if (::statvfs(data_dir.c_str(), &v) != 0) return;
  (*out)[std::string(kStatDiskTotal)] = static_cast<uint64_t>(v.f_blocks) * v.f_frsize;
  (*out)[std::string(kStatDiskFree)] = static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
}

void AddLatencyCounters(std::string_view op, const ops::HistogramSpec& spec,
                        const ops::HistogramSnapshot& h, std::map<std::string, uint64_t>* out) {
  if (h.count == 0) return;
  const std::string p = std::string(kStatLatencyPrefix) + std::string(op) + ".";
  (*out)[p + "count"] = h.count;
  (*out)[p + "sum"] = h.sum;
  for (size_t i = 0; i < h.counts.size(); i++) {
    if (h.counts[i] == 0) continue;
    const double ub = spec.UpperBound(i);
    (*out)[p + "bucket." + (std::isinf(ub) ? std::string("inf")
                                           : std::to_string(static_cast<uint64_t>(ub)))] =
        h.counts[i];
  }
}

ops::HistogramSnapshot LatencyFromCounters(const std::map<std::string, uint64_t>& counters,
                                           std::string_view op, const ops::HistogramSpec& spec) {
  ops::HistogramSnapshot h;
  h.counts.assign(spec.buckets(), 0);
  if (op.empty() || op.size() > kStatMaxOpName) return h;
  const std::string p = std::string(kStatLatencyPrefix) + std::string(op) + ".";
  const std::string bucket = p + "bucket.";
  for (auto it = counters.lower_bound(bucket); it != counters.end(); ++it) {
    std::string_view name = it->first;
    if (!name.starts_with(bucket)) break;
    name.remove_prefix(bucket.size());
    size_t i = spec.buckets() - 1;
    if (name != "inf") {
      uint64_t bound = 0;
      auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), bound);
      if (ec != std::errc() || end != name.data() + name.size()) continue;  // not a bucket
      i = spec.BucketOf(bound);
    }
    // Saturating: a peer's nonsense never wraps the sums.
    h.counts[i] = h.counts[i] + it->second < h.counts[i] ? UINT64_MAX : h.counts[i] + it->second;
    h.count = h.count + it->second < h.count ? UINT64_MAX : h.count + it->second;
  }
  if (auto it = counters.find(p + "sum"); it != counters.end()) h.sum = it->second;
  return h;
}

}  // namespace cairn::server
