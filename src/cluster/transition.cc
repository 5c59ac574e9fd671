#include "cluster/transition.h"

#include <algorithm>
#include <string>

namespace cairn::cluster {

namespace {
bool Holds(const std::vector<NodeId>& v, NodeId id) {
  return std::find(v.begin(), v.end(), id) != v.end();
}
// How many members of `row` are in `ids`.
size_t CountIn(const std::vector<NodeId>& row, const std::vector<NodeId>& ids) {
  return static_cast<size_t>(
      std::count_if(row.begin(), row.end(), [&](NodeId id) { return Holds(ids, id); }));
}
}  // namespace

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
    if (!Holds(old, id)) r.all.push_back(id);
  r.rows.push_back(std::move(now));
  r.rows.push_back(std::move(old));
  return r;
}

bool QuorumMet(const KeyRows& r, const std::vector<NodeId>& acked,
               const std::function<uint32_t(size_t)>& quorum) {
  if (r.rows.empty()) return false;
  for (const std::vector<NodeId>& row : r.rows)
    if (CountIn(row, acked) < quorum(row.size())) return false;
  return true;
}

std::string QuorumShortfall(const KeyRows& r, const std::vector<NodeId>& acked,
                            const std::function<uint32_t(size_t)>& quorum) {
  auto got = [&](const std::vector<NodeId>& row) { return std::to_string(CountIn(row, acked)); };
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

bool IsJoiner(const KeyRows& r, NodeId id) {
  return r.moving() && Holds(r.rows[0], id) && !Holds(r.rows[1], id);
}

std::vector<NodeId> ReadOrder(const KeyRows& r, NodeId self,
                              const std::function<bool(NodeId)>& up) {
  std::vector<NodeId> order;
  const bool self_first = self != 0 && Holds(r.all, self) && !IsJoiner(r, self);
  if (self_first) order.push_back(self);
  for (int pass = 0; pass < 2; pass++)
    for (NodeId id : r.all)
      if (!(self_first && id == self) && up(id) == (pass == 0)) order.push_back(id);
  return order;
}

std::vector<NodeId> ReadRepairTargets(const KeyRows& r, const std::vector<NodeId>& newest,
                                      const std::vector<NodeId>& stale) {
  if (!r.moving()) return stale;
  for (const std::vector<NodeId>& row : r.rows)
    if (CountIn(row, newest) < row.size() / 2 + 1) return stale;
  std::vector<NodeId> out;
  for (NodeId id : stale)
    if (!IsJoiner(r, id)) out.push_back(id);
  return out;
}

}  // namespace cairn::cluster
