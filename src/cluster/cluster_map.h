// ClusterMap: the cluster's membership and placement at one epoch (docs/cluster.md, "The
// map"). The controller writes it to etcd; every node and every client that knows it places
// keys with it. Its binary encoding is the same in etcd (in chunks) and in the CLI's cache in
// /dev/shm, checked by a CRC-32C.
//
// Thread safety: a value; share it as std::shared_ptr<const ClusterMap>.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "cluster/placement.h"

namespace cairn::cluster {

enum class NodeState : uint8_t {
  kUp = 1,        // holds a live lease: routed to
  kDown = 2,      // its lease expired: routed around; writes for it are hinted
  kOut = 3,       // down for longer than the out delay: its partitions moved elsewhere
  kDraining = 4,  // an operator asked it to leave: holds nothing new (weight 0 in placement)
};
const char* NodeStateName(NodeState s);

struct MapNode {
  NodeId id = 0;
  NodeState state = NodeState::kUp;
  uint32_t weight = 1;
  std::string address;  // "host:port" of its cairnd data port
  std::string zone;
};

struct ClusterMap {
  uint64_t epoch = 0;  // grows by one with every change; 0 = no map yet
  std::vector<MapNode> nodes;  // by id
  Placement placement;
  // The table before a membership change, while its data moves (issue 12; docs/cluster.md
  // "Map transitions"): empty when no transition is in flight. A partition whose row differs
  // between `prev` and `placement` is moving: its writes need W in both rows, and the
  // controller clears `prev` (a new epoch) once every up node reported it synced.
  // Invariant: empty, or the same shape (replicas, partitions) as `placement`.
  Placement prev;

  const MapNode* Node(NodeId id) const;
  // The replicas of a key's partition, in row order (the first is the preferred coordinator).
  std::span<const NodeId> ReplicasOf(std::string_view key) const {
    return placement.Row(PartitionOf(key));
  }
  bool in_transition() const { return !prev.table.empty(); }
  // Whether partition `p`'s row changes in the transition in flight.
  bool Moving(uint32_t p) const;
  // Partitions whose row changes (0 when no transition is in flight).
  uint32_t MovingCount() const;
  // Nodes as placement sees them: down nodes keep their slots; out and draining nodes do not.
  std::vector<NodeSpec> PlacementNodes() const;
};

inline constexpr char kMapMagic[8] = {'C', 'A', 'I', 'R', 'N', 'M', 'A', 'P'};
// Format 2 adds the previous table (a transition in flight). A map with no transition is still
// written as format 1, so binaries from before transitions read it; one with a transition is
// refused by them (NotSupported) rather than misread.
inline constexpr uint32_t kMapFormatNoTransition = 1;
inline constexpr uint32_t kMapFormat = 2;
// Named bounds of a decoded map (bad input from etcd or a cache file is refused).
inline constexpr uint32_t kMaxMapNodes = 65535;
inline constexpr size_t kMaxMapStringBytes = 1024;

std::string EncodeClusterMap(const ClusterMap& m);
// Strict: Corruption naming what is wrong (magic, format, CRC, a bound, a table slot that names
// no node in the map).
Status DecodeClusterMap(std::string_view b, ClusterMap* m);

}  // namespace cairn::cluster
