// Placement: which nodes hold each partition (CLUSTER.md section 2; docs/cluster.md).
//
// A key belongs to partition `PartitionOf(key)`: the top 16 bits of xxh3_64(key), so 65,536
// partitions. The placement table gives each partition a row of R node ids (R = replicas), all
// distinct, and in distinct zones whenever there are at least R zones (otherwise spread over
// as many zones as there are, at most ceil(R / zones) in one zone).
//
// How a table is made:
//   - Quotas: each node's share of the P x R slots is proportional to its weight (a weight of
//     0 means "drain": it holds nothing), capped by what the zone rule allows (a zone holds at
//     most one slot per partition per allowed replica; a node at most one per partition), and
//     rounded to integers that sum to P x R.
//   - From scratch (Build): weighted rendezvous hashing (HRW) picks each row, then a balancer
//     moves single slots from nodes over their quota to nodes under it, until every node is
//     within one slot of its quota.
//   - From the previous table (Rebalance, on any membership or weight change): slots of nodes
//     that left (or are draining) go to the eligible nodes with the most room; nodes under
//     their quota (new ones) take slots from nodes over theirs, choosing the partitions they
//     score highest by HRW; the balancer finishes. Nothing else moves, so adding or removing a
//     node moves about the optimum 1/(N+1) of the data (tools/placement_sim measures it).
// Both are deterministic: the same input gives the same table on every node.
//
// Thread safety: pure functions on values.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"

namespace cairn::cluster {

inline constexpr uint32_t kPartitionBits = 16;
inline constexpr uint32_t kPartitions = 1u << kPartitionBits;
using NodeId = uint16_t;
inline constexpr NodeId kNoNode = 0xFFFF;  // an empty slot; never a real node's id

// The partition of a key: the top kPartitionBits bits of xxh3_64(key).
uint32_t PartitionOf(std::string_view key);

struct NodeSpec {
  NodeId id = 0;        // 0..0xFFFE, unique
  std::string zone;     // failure domain (rack, room, site)
  uint32_t weight = 1;  // relative capacity; 0 drains the node
};

struct Placement {
  uint32_t replicas = 3;
  uint32_t partitions = kPartitions;
  std::vector<NodeId> table;  // partitions x replicas, row-major

  std::span<const NodeId> Row(uint32_t p) const {
    return std::span<const NodeId>(table.data() + size_t{p} * replicas, replicas);
  }
  std::span<NodeId> MutableRow(uint32_t p) {
    return std::span<NodeId>(table.data() + size_t{p} * replicas, replicas);
  }
};

// Builds a table from scratch. InvalidArgument if fewer eligible nodes than replicas, ids are
// duplicated or kNoNode, or replicas/partitions are out of range (1..16, 1..kPartitions).
Result<Placement> BuildPlacement(const std::vector<NodeSpec>& nodes, uint32_t replicas,
                                 uint32_t partitions = kPartitions);
// Builds the table for `nodes` starting from `prev`, moving only what must move. Same errors.
Result<Placement> RebalancePlacement(const Placement& prev, const std::vector<NodeSpec>& nodes);

// Checks a table against `nodes`: every slot a known node with weight > 0, rows distinct, the
// zone rule. Corruption naming the first bad row.
Status CheckPlacement(const Placement& t, const std::vector<NodeSpec>& nodes);

// Slots whose node differs between two tables of the same shape: partition-replicas moved.
uint64_t MovedSlots(const Placement& a, const Placement& b);

struct PlacementBalance {
  // Over nodes with weight > 0: slots held / weight, relative to the mean over all of them.
  double max_over_mean = 0;
  double min_over_mean = 0;
  uint64_t max_slots = 0;
  uint64_t min_slots = 0;
};
PlacementBalance MeasureBalance(const Placement& t, const std::vector<NodeSpec>& nodes);

// Integer quotas (slots per node, in `nodes` order) that Build (prev null) and Rebalance (from
// `prev`) aim for. Each is the floor or the ceiling of the node's weighted share; a rebalance
// gives the ceilings first to nodes that hold more than their floor in `prev`, so rounding alone
// moves no slot between nodes the change did not touch.
std::vector<uint64_t> PlacementQuotas(const std::vector<NodeSpec>& nodes, uint32_t replicas,
                                      uint32_t partitions, const Placement* prev = nullptr);

}  // namespace cairn::cluster
