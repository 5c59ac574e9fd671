// The members of STAT's "server" object (docs/protocol.md section 4) that a cluster node's
// status page reads from its peers (issue 14): the disk under the data directory and each
// operation's latency histogram, as flat counters beside the server's others. One place names
// them, so the server that writes them (Server::Counters) and the peer poller that reads them
// (server/peer_stats.h) agree.
//
//   disk_total_bytes, disk_free_bytes      statvfs of the data directory (absent if it fails)
//   latency_ns.OP.count                    requests of operation OP (PUT, GET...), ever
//   latency_ns.OP.sum                      the sum of their latencies, ns
//   latency_ns.OP.bucket.BOUND             requests whose latency fell in the bucket with
//                                          inclusive upper bound BOUND ns (an integer, or "inf"),
//                                          above the bucket below; non-cumulative, and only the
//                                          buckets that are not zero
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "ops/metrics.h"

namespace cairn::server {

inline constexpr std::string_view kStatDiskTotal = "disk_total_bytes";
inline constexpr std::string_view kStatDiskFree = "disk_free_bytes";
inline constexpr std::string_view kStatLatencyPrefix = "latency_ns.";
// Named bound: an operation name in a latency member is at most this long (longer ones are
// skipped by the reader: no wire operation has such a name).
inline constexpr size_t kStatMaxOpName = 16;

// Adds the disk members for `data_dir` (nothing if statvfs fails).
void AddDiskCounters(const std::string& data_dir, std::map<std::string, uint64_t>* out);
// Adds the latency members of `op` (nothing when it had no request).
void AddLatencyCounters(std::string_view op, const ops::HistogramSpec& spec,
                        const ops::HistogramSnapshot& h, std::map<std::string, uint64_t>* out);
// The histogram of `op` back from the counters, in `spec`'s layout (a bound that is not one of
// spec's goes to the bucket that holds it). An empty snapshot (count 0) when there are none.
ops::HistogramSnapshot LatencyFromCounters(const std::map<std::string, uint64_t>& counters,
                                           std::string_view op, const ops::HistogramSpec& spec);

}  // namespace cairn::server
