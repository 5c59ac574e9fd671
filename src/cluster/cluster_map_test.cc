#include "cluster/cluster_map.h"

#include <gtest/gtest.h>

namespace cairn::cluster {
namespace {

ClusterMap Sample() {
  ClusterMap m;
  m.epoch = 7;
  std::vector<NodeSpec> specs;
  for (NodeId id = 1; id <= 6; id++) {
    m.nodes.push_back(MapNode{id, id == 4 ? NodeState::kDown : NodeState::kUp, 1,
                              "127.0.0.1:" + std::to_string(7000 + id), "z" + std::to_string(id % 3)});
    specs.push_back(NodeSpec{id, m.nodes.back().zone, 1});
  }
  m.placement = *BuildPlacement(specs, 3, 256);
  return m;
}

TEST(ClusterMap, RoundTrips) {
  ClusterMap m = Sample();
  ClusterMap back;
  ASSERT_TRUE(DecodeClusterMap(EncodeClusterMap(m), &back).ok());
  EXPECT_EQ(back.epoch, 7u);
  ASSERT_EQ(back.nodes.size(), 6u);
  EXPECT_EQ(back.nodes[3].state, NodeState::kDown);
  EXPECT_EQ(back.nodes[5].address, "127.0.0.1:7006");
  EXPECT_EQ(back.placement.table, m.placement.table);
  EXPECT_EQ(back.Node(3)->zone, "z0");
  EXPECT_EQ(back.Node(9), nullptr);
  EXPECT_EQ(back.ReplicasOf("k").size(), 3u);
}

TEST(ClusterMap, EveryFlippedByteOrCutIsRefused) {
  const std::string enc = EncodeClusterMap(Sample());
  ClusterMap out;
  for (size_t i = 0; i < enc.size(); i += 7) {
    std::string bad = enc;
    bad[i] ^= 0x20;
    EXPECT_FALSE(DecodeClusterMap(bad, &out).ok()) << i;
  }
  for (size_t n = 0; n < enc.size(); n += 13) EXPECT_FALSE(DecodeClusterMap(enc.substr(0, n), &out).ok()) << n;
}

// Well-formed bytes (the checksum matches) that name what the map does not hold.
TEST(ClusterMap, SlotsNamingUnknownNodesAreRefusedEmptySlotsAreNot) {
  ClusterMap m = Sample();
  m.placement.table[5] = kNoNode;
  ClusterMap out;
  ASSERT_TRUE(DecodeClusterMap(EncodeClusterMap(m), &out).ok());
  EXPECT_EQ(out.placement.table[5], kNoNode);
  const size_t last = m.placement.table.size() - 1;
  m.placement.table[last] = 9;
  m.placement.table[700] = 8;
  Status s = DecodeClusterMap(EncodeClusterMap(m), &out);
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.message(), "cluster map: slot 700 names unknown node 8");
  m = Sample();
  m.nodes[2].id = m.nodes[1].id;
  EXPECT_TRUE(DecodeClusterMap(EncodeClusterMap(m), &out).IsCorruption());
}

TEST(ClusterMap, PlacementNodesDropOutAndDraining) {
  ClusterMap m = Sample();
  m.nodes[0].state = NodeState::kOut;
  m.nodes[1].state = NodeState::kDraining;
  std::vector<NodeSpec> v = m.PlacementNodes();
  EXPECT_EQ(v[0].weight, 0u);
  EXPECT_EQ(v[1].weight, 0u);
  EXPECT_EQ(v[3].weight, 1u);  // down nodes keep their slots
}

}  // namespace
}  // namespace cairn::cluster
