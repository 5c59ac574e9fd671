#include "cluster/transition.h"

#include <algorithm>
#include <string>

namespace cairn::cluster {

KeyRows RowsOf(const ClusterMap& m, uint32_t p) {
  KeyRows r;
  if (m.epoch == 0 || m.placement.table.empty() || p >= m.placement.partitions) return r;
  auto row = [](std::span<const NodeId> s) {
    std::vector<NodeId> v;
    for (NodeId id : s)
      if (id != kNoNode) v.push_back(id);
    return v;
  };
  std::vector<NodeId> now = row(m.placement.Row(p));
  if (!m.Moving(p)) {
    r.all = now;
    r.rows.push_back(std::move(now));
    return r;
  }
  std::vector<NodeId> old = row(m.prev.Row(p));
  r.all = old;
  for (NodeId id : now)
    if (std::find(old.begin(), old.end(), id) == old.end()) r.all.push_back(id);
  r.rows.push_back(std::move(now));
  r.rows.push_back(std::move(old));
  return r;
}

bool QuorumMet(const KeyRows& r, const std::vector<NodeId>& acked,
               const std::function<uint32_t(size_t)>& quorum) {
  if (r.rows.empty()) return false;
  for (const std::vector<NodeId>& row : r.rows) {
    size_t n = 0;
    for (NodeId id : row) n += std::count(acked.begin(), acked.end(), id) > 0 ? 1 : 0;
    if (n < quorum(row.size())) return false;
  }
  return true;
}

std::string QuorumShortfall(const KeyRows& r, const std::vector<NodeId>& acked,
                            const std::function<uint32_t(size_t)>& quorum) {
  auto got = [&](const std::vector<NodeId>& row) {
    size_t n = 0;
    for (NodeId id : row) n += std::count(acked.begin(), acked.end(), id) > 0 ? 1 : 0;
    return std::to_string(n);
  };
  if (r.rows.empty()) return "has no replicas";
  const std::vector<NodeId>& now = r.rows[0];
  if (!r.moving())
    return "needs " + std::to_string(quorum(now.size())) + " acknowledgements; " + got(now) +
           " of the row's " + std::to_string(now.size()) + " acknowledged the write";
  const std::vector<NodeId>& old = r.rows[1];
  return "needs " + std::to_string(quorum(now.size())) +
         " acknowledgements in the partition's new row and " + std::to_string(quorum(old.size())) +
         " in its old one (it is moving); " + got(now) + " of the new row's " +
         std::to_string(now.size()) + " and " + got(old) + " of the old row's " +
         std::to_string(old.size()) + " acknowledged the write";
}

}  // namespace cairn::cluster
