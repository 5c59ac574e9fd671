#include "cluster/cluster_map.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "util/coding.h"
#include "util/crc32c.h"

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

// Every 7th byte flipped and every 13th length cut from an encoded map: each refused.
void ExpectFlipsAndCutsRefused(const std::string& enc) {
  ClusterMap out;
  for (size_t i = 0; i < enc.size(); i += 7) {
    std::string bad = enc;
    bad[i] ^= 0x20;
    EXPECT_FALSE(DecodeClusterMap(bad, &out).ok()) << i;
  }
  for (size_t n = 0; n < enc.size(); n += 13) EXPECT_FALSE(DecodeClusterMap(enc.substr(0, n), &out).ok()) << n;
}

TEST(ClusterMap, EveryFlippedByteOrCutIsRefused) {
  ExpectFlipsAndCutsRefused(EncodeClusterMap(Sample()));
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

// Issue 12: a map in transition carries the previous table (format 2); one without a
// transition is still written as format 1, so binaries from before transitions read it.
ClusterMap InTransition() {
  ClusterMap m = Sample();
  m.prev = m.placement;
  m.nodes[0].state = NodeState::kOut;
  m.placement = *RebalancePlacement(m.prev, m.PlacementNodes());
  return m;
}

TEST(ClusterMap, Issue12ATransitionRoundTripsWithItsPreviousTable) {
  ClusterMap m = InTransition();
  ASSERT_TRUE(m.in_transition());
  ASSERT_GT(m.MovingCount(), 0u);
  const std::string enc = EncodeClusterMap(m);
  EXPECT_EQ(DecodeFixed32(enc.data() + 8), kMapFormat);
  ClusterMap back;
  ASSERT_TRUE(DecodeClusterMap(enc, &back).ok());
  EXPECT_EQ(back.prev.table, m.prev.table);
  EXPECT_EQ(back.prev.replicas, 3u);
  EXPECT_EQ(back.prev.partitions, 256u);
  EXPECT_EQ(back.placement.table, m.placement.table);
  EXPECT_EQ(back.MovingCount(), m.MovingCount());
  for (uint32_t p = 0; p < 256; p++) {
    // Every row that held the node that is out moves.
    const auto row = m.prev.Row(p);
    if (std::find(row.begin(), row.end(), NodeId{1}) != row.end()) {
      EXPECT_TRUE(back.Moving(p)) << p;
    }
    EXPECT_EQ(back.Moving(p), m.Moving(p)) << p;
  }
  // No transition: format 1, decoded with no previous table.
  const std::string plain = EncodeClusterMap(Sample());
  EXPECT_EQ(DecodeFixed32(plain.data() + 8), kMapFormatNoTransition);
  ASSERT_TRUE(DecodeClusterMap(plain, &back).ok());
  EXPECT_FALSE(back.in_transition());
  EXPECT_FALSE(back.Moving(0));
  EXPECT_EQ(back.MovingCount(), 0u);
}

TEST(ClusterMap, Issue12ATransitionsFlippedBytesCutsAndBadPreviousTablesAreRefused) {
  ExpectFlipsAndCutsRefused(EncodeClusterMap(InTransition()));
  ClusterMap out;
  // Well-formed bytes whose previous table names a node the map does not list.
  ClusterMap m = InTransition();
  m.prev.table[9] = 42;
  Status s = DecodeClusterMap(EncodeClusterMap(m), &out);
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.message(), "cluster map: previous table's slot 9 names unknown node 42");
  // A previous table of another size (re-sealed with a valid CRC).
  std::string cut = EncodeClusterMap(InTransition());
  cut.resize(cut.size() - 4 - 2);  // drop the CRC and the last previous slot
  const size_t count_at = cut.size() - 256 * 3 * 2 + 2 - 4;
  EncodeFixed32(cut.data() + count_at, 256 * 3 - 1);
  PutFixed32(&cut, crc32c::Value(cut.data(), cut.size()));
  s = DecodeClusterMap(cut, &out);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_EQ(s.message(), "cluster map: the previous table has the wrong size");
  // A format this binary does not know: NotSupported, named.
  std::string future = EncodeClusterMap(Sample());
  future.resize(future.size() - 4);
  EncodeFixed32(future.data() + 8, 3);
  PutFixed32(&future, crc32c::Value(future.data(), future.size()));
  EXPECT_TRUE(DecodeClusterMap(future, &out).IsNotSupported());
}

// The reserved byte after a node's state is 0; anything else is refused, as the flags are, so
// every map that decodes encodes back to the same bytes (fuzz/map_fuzz.cc checks that).
TEST(ClusterMap, AReservedByteThatIsNotZeroIsRefused) {
  std::string enc = EncodeClusterMap(Sample());
  enc.resize(enc.size() - 4);
  enc[36 + 2 + 1] = 1;  // the first node: u16 id, u8 state, then the reserved byte
  PutFixed32(&enc, crc32c::Value(enc.data(), enc.size()));
  ClusterMap out;
  Status s = DecodeClusterMap(enc, &out);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_EQ(s.message(), "cluster map: node 1 is malformed");
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
