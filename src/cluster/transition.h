// Transition: where a key's writes and reads go while its partition moves (issue 12 item 3;
// docs/cluster.md "Map transitions"; CLUSTER.md section 4).
//
// A map in transition holds the previous table beside the new one (ClusterMap::prev). For a
// partition whose row changed, a write goes to the union of the old and the new row and is
// acknowledged only with W durable acknowledgements among the old row's members AND W among
// the new row's; a read asks a majority of each row. So every write acknowledged before,
// during or after the transition is on W of the rows a later reader asks, whichever map that
// reader holds, and the new members need only anti-entropy to catch up on the rest.
//
// Thread safety: pure functions on values.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cluster/cluster_map.h"

namespace cairn::cluster {

// A partition's replica sets under one map.
struct KeyRows {
  // Every replica to write: the old row in order, then the new row's members that are not in
  // it (so the first up member is one that holds the data). Not moving: the row.
  std::vector<NodeId> all;
  // The rows a quorum is needed in: one (the row), or two (the new row, then the old one).
  std::vector<std::vector<NodeId>> rows;
  bool moving() const { return rows.size() > 1; }
};

// The replica sets of partition `p` (empty slots left out). Empty when the map has no table.
KeyRows RowsOf(const ClusterMap& m, uint32_t p);

// Whether the nodes in `acked` make a write durable: at least quorum(row size) of them in every
// row of `r` (W in the old row and W in the new one while the partition moves).
bool QuorumMet(const KeyRows& r, const std::vector<NodeId>& acked,
               const std::function<uint32_t(size_t)>& quorum);

// For the error of a write that did not meet QuorumMet: what each row needed and got, e.g.
// "needs 2 acknowledgements in the partition's new row and 2 in its old one (it is moving);
// 2 of the new row's 3 and 1 of the old row's 3 acknowledged the write". Not moving: "needs
// 2 acknowledgements; 1 of the row's 3 acknowledged the write".
std::string QuorumShortfall(const KeyRows& r, const std::vector<NodeId>& acked,
                            const std::function<uint32_t(size_t)>& quorum);

// Whether `id` is a member of only the new row of a moving partition (a joiner): it holds
// only what the transition's sync and the writes since the map changed have given it.
bool IsJoiner(const KeyRows& r, NodeId id);

// The order in which a read asks the replicas for their versions: `self` first when it is one
// (its index is at hand; 0: the reader is not a replica) unless it is a joiner, then the up
// members in `r.all`'s order (the old row, then the joiners), then the ones not up. A joiner
// is asked only when the old row's members cannot make the majorities, so that a read does
// not find it lacking keys the sync has yet to bring and write them back to it.
std::vector<NodeId> ReadOrder(const KeyRows& r, NodeId self, const std::function<bool(NodeId)>& up);

// Which of the `stale` replicas (they answered a read with no version, or an older one than
// the newest it found, held by `newest`) the read writes the newest back to before it answers,
// so that a later read cannot see an older one (ABD): all of them, except the joiners of a
// moving partition when the replicas holding the newest already make a majority of every row
// without them (the transition's sync gives a joiner everything before the map retires the
// old row, and the read did not need it).
std::vector<NodeId> ReadRepairTargets(const KeyRows& r, const std::vector<NodeId>& newest,
                                      const std::vector<NodeId>& stale);

}  // namespace cairn::cluster
