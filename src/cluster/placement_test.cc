#include "cluster/placement.h"

#include <gtest/gtest.h>

#include <set>

namespace cairn::cluster {
namespace {

std::vector<NodeSpec> Nodes(int n, int zones, uint32_t weight = 1, int first_id = 1) {
  std::vector<NodeSpec> v;
  for (int i = 0; i < n; i++)
    v.push_back(NodeSpec{static_cast<NodeId>(first_id + i), "z" + std::to_string(i % zones), weight});
  return v;
}

// `prev`: the table `t` was rebalanced from (its quotas are rounded from that table's counts).
void ExpectWithinOneOfQuota(const Placement& t, const std::vector<NodeSpec>& nodes,
                            const Placement* prev = nullptr) {
  std::vector<uint64_t> q = PlacementQuotas(nodes, t.replicas, t.partitions, prev);
  std::map<NodeId, int64_t> load;
  for (NodeId id : t.table) load[id]++;
  for (size_t i = 0; i < nodes.size(); i++)
    EXPECT_LE(std::abs(load[nodes[i].id] - static_cast<int64_t>(q[i])), 1)
        << "node " << nodes[i].id << " holds " << load[nodes[i].id] << ", quota " << q[i];
}

TEST(Placement, PartitionIsTheTopBitsOfTheKeyHash) {
  std::set<uint32_t> seen;
  for (int i = 0; i < 1000; i++) {
    uint32_t p = PartitionOf("key-" + std::to_string(i));
    EXPECT_LT(p, kPartitions);
    seen.insert(p);
  }
  EXPECT_GT(seen.size(), 980u);  // spread (birthday collisions only)
  EXPECT_EQ(PartitionOf("abc"), PartitionOf("abc"));
}

TEST(Placement, BuildIsZoneDistinctBalancedAndDeterministic) {
  auto nodes = Nodes(12, 3);
  Result<Placement> a = BuildPlacement(nodes, 3, 4096);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(CheckPlacement(*a, nodes).ok());
  ExpectWithinOneOfQuota(*a, nodes);
  Result<Placement> b = BuildPlacement(nodes, 3, 4096);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->table, b->table);
  PlacementBalance bal = MeasureBalance(*a, nodes);
  EXPECT_LE(bal.max_over_mean, 1.01);
}

TEST(Placement, WeightsSetTheShare) {
  auto nodes = Nodes(6, 3);
  nodes[0].weight = 3;  // zone z0 holds twice the weight of the others: capped at one per row
  nodes[1].weight = 2;
  Result<Placement> t = BuildPlacement(nodes, 2, 4096);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ExpectWithinOneOfQuota(*t, nodes);
  std::vector<uint64_t> q = PlacementQuotas(nodes, 2, 4096);
  EXPECT_GT(q[0], q[2]);
  EXPECT_GT(q[1], q[2]);
}

TEST(Placement, FewerZonesThanReplicasSpreadsAsFarAsPossible) {
  auto nodes = Nodes(6, 2);
  Result<Placement> t = BuildPlacement(nodes, 3, 2048);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  for (uint32_t p = 0; p < t->partitions; p++) {
    std::map<std::string, int> per_zone;
    for (NodeId id : t->Row(p)) per_zone[nodes[id - 1].zone]++;
    EXPECT_EQ(per_zone.size(), 2u);
  }
  ExpectWithinOneOfQuota(*t, nodes);
}

TEST(Placement, AddingANodeMovesAboutItsShareOnly) {
  auto nodes = Nodes(30, 5);
  Result<Placement> before = BuildPlacement(nodes, 3, 16384);
  ASSERT_TRUE(before.ok());
  nodes.push_back(NodeSpec{31, "z2", 1});
  Result<Placement> after = RebalancePlacement(*before, nodes);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  ExpectWithinOneOfQuota(*after, nodes, &*before);
  const double optimum = 16384.0 * 3 / 31;
  const double moved = static_cast<double>(MovedSlots(*before, *after));
  EXPECT_LE(moved / optimum, 1.05) << moved << " slots moved, optimum " << optimum;
  // Every move went to the new node.
  for (size_t i = 0; i < after->table.size(); i++) {
    if (after->table[i] != before->table[i]) {
      EXPECT_EQ(after->table[i], 31);
    }
  }
}

TEST(Placement, RemovingOrDrainingANodeMovesOnlyItsSlots) {
  auto nodes = Nodes(30, 5);
  Result<Placement> before = BuildPlacement(nodes, 3, 16384);
  ASSERT_TRUE(before.ok());
  for (bool drain : {false, true}) {
    auto next = nodes;
    if (drain) {
      next[7].weight = 0;
    } else {
      next.erase(next.begin() + 7);
    }
    Result<Placement> after = RebalancePlacement(*before, next);
    ASSERT_TRUE(after.ok()) << after.status().ToString();
    ExpectWithinOneOfQuota(*after, next, &*before);
    uint64_t held = 0;
    for (NodeId id : before->table) held += id == 8;
    const double moved = static_cast<double>(MovedSlots(*before, *after));
    EXPECT_LE(moved / static_cast<double>(held), 1.05) << (drain ? "drain" : "remove");
    for (NodeId id : after->table) EXPECT_NE(id, 8);
  }
}

TEST(Placement, ReweightMovesTowardTheNewShare) {
  auto nodes = Nodes(10, 5);
  Result<Placement> before = BuildPlacement(nodes, 3, 8192);
  ASSERT_TRUE(before.ok());
  nodes[3].weight = 2;
  Result<Placement> after = RebalancePlacement(*before, nodes);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  ExpectWithinOneOfQuota(*after, nodes, &*before);
}

// Issue 12: moved data at most 1.05 x the optimum. Integer quotas used to be rounded afresh on
// every change (largest remainder), so a node the change did not touch could lose its rounded-up
// slot to another node whose remainder now ranked higher: in the simulator, 1,000 nodes in 3
// zones with weights 1-4, removing one node moved 66 slots where it held 39. Quotas are now
// rounded from what each node holds: a change moves slots only from or to the node it names.
TEST(Placement, Issue12RoundingMovesNoSlotBetweenNodesTheChangeDidNotTouch) {
  std::vector<NodeSpec> nodes = Nodes(400, 3);
  for (size_t i = 0; i < nodes.size(); i++) nodes[i].weight = 1 + static_cast<uint32_t>(i % 4);
  Result<Placement> before = BuildPlacement(nodes, 3, 8192);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  for (size_t v = 0; v < 12; v++) {
    const NodeId vid = nodes[v].id;
    for (const char* change : {"remove", "drain", "reweight x2"}) {
      std::vector<NodeSpec> next = nodes;
      if (change[0] == 'r' && change[2] == 'm') next.erase(next.begin() + static_cast<long>(v));
      else if (change[0] == 'd') next[v].weight = 0;
      else next[v].weight *= 2;
      Result<Placement> after = RebalancePlacement(*before, next);
      ASSERT_TRUE(after.ok()) << after.status().ToString();
      ExpectWithinOneOfQuota(*after, next, &*before);
      uint64_t between_others = 0;
      for (size_t i = 0; i < after->table.size(); i++)
        if (after->table[i] != before->table[i] && before->table[i] != vid &&
            after->table[i] != vid)
          between_others++;
      EXPECT_EQ(between_others, 0u) << change << " of node " << vid << ": slots moved between "
                                    << "other nodes (" << MovedSlots(*before, *after)
                                    << " moved in all)";
    }
  }
}

TEST(Placement, ANodeThatChangedZoneLosesOnlyWhatBreaksTheRule) {
  auto nodes = Nodes(9, 3);
  Result<Placement> before = BuildPlacement(nodes, 3, 4096);
  ASSERT_TRUE(before.ok());
  nodes[0].zone = "z1";
  Result<Placement> after = RebalancePlacement(*before, nodes);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_TRUE(CheckPlacement(*after, nodes).ok());
}

TEST(Placement, BadInputIsRefused) {
  EXPECT_TRUE(BuildPlacement(Nodes(2, 2), 3, 64).status().IsInvalidArgument());
  auto dup = Nodes(4, 2);
  dup[1].id = dup[0].id;
  EXPECT_TRUE(BuildPlacement(dup, 3, 64).status().IsInvalidArgument());
  auto reserved = Nodes(4, 2);
  reserved[0].id = kNoNode;
  EXPECT_TRUE(BuildPlacement(reserved, 3, 64).status().IsInvalidArgument());
  EXPECT_TRUE(BuildPlacement(Nodes(4, 2), 0, 64).status().IsInvalidArgument());
  auto all_drained = Nodes(4, 2, 0);
  EXPECT_TRUE(BuildPlacement(all_drained, 3, 64).status().IsInvalidArgument());
  Placement bad;
  bad.partitions = 4;
  bad.replicas = 3;
  bad.table.assign(12, 1);  // node 1 three times
  EXPECT_TRUE(CheckPlacement(bad, Nodes(4, 2)).IsCorruption());
}

}  // namespace
}  // namespace cairn::cluster
