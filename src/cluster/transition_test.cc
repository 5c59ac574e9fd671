#include "cluster/transition.h"

#include <gtest/gtest.h>

namespace cairn::cluster {
namespace {

uint32_t Majority(size_t n) { return static_cast<uint32_t>(n / 2 + 1); }

// One partition, R = 3: rows {1,2,3}, then node 3 is out and node 4 takes its slot.
ClusterMap Moving() {
  ClusterMap m;
  m.epoch = 5;
  for (NodeId id = 1; id <= 4; id++) m.nodes.push_back(MapNode{id, NodeState::kUp, 1, "a", "z"});
  m.nodes[2].state = NodeState::kOut;
  m.placement.replicas = 3;
  m.placement.partitions = 2;
  m.placement.table = {1, 2, 4, 1, 2, 4};
  m.prev = m.placement;
  m.prev.table = {1, 2, 3, 1, 2, 4};  // partition 1 does not move
  return m;
}

TEST(Transition, Issue12AMovingPartitionWritesTheUnionOldRowFirst) {
  ClusterMap m = Moving();
  KeyRows r = RowsOf(m, 0);
  ASSERT_TRUE(r.moving());
  EXPECT_EQ(r.all, (std::vector<NodeId>{1, 2, 3, 4}));
  EXPECT_EQ(r.rows[0], (std::vector<NodeId>{1, 2, 4}));  // new
  EXPECT_EQ(r.rows[1], (std::vector<NodeId>{1, 2, 3}));  // old
  KeyRows still = RowsOf(m, 1);
  EXPECT_FALSE(still.moving());
  EXPECT_EQ(still.all, (std::vector<NodeId>{1, 2, 4}));
  m.prev.table.clear();  // retired
  EXPECT_FALSE(RowsOf(m, 0).moving());
  EXPECT_EQ(RowsOf(m, 0).all, (std::vector<NodeId>{1, 2, 4}));
  EXPECT_TRUE(RowsOf(ClusterMap(), 0).all.empty());
}

TEST(Transition, Issue12AWriteNeedsWInTheOldRowAndWInTheNewRow) {
  const KeyRows r = RowsOf(Moving(), 0);  // old {1,2,3}, new {1,2,4}
  // Two acks, both in the old and the new row: W = 2 in each.
  EXPECT_TRUE(QuorumMet(r, {1, 2}, Majority));
  // W in the old row only (3 is out, 4 not reached): not acknowledged.
  EXPECT_FALSE(QuorumMet(r, {1, 3}, Majority));
  // W in the new row only.
  EXPECT_FALSE(QuorumMet(r, {1, 4}, Majority));
  EXPECT_FALSE(QuorumMet(r, {2, 4}, Majority));
  // Three acks that give W in each.
  EXPECT_TRUE(QuorumMet(r, {1, 3, 4}, Majority));
  EXPECT_TRUE(QuorumMet(r, {2, 3, 4}, Majority));
  EXPECT_FALSE(QuorumMet(r, {3, 4}, Majority));
  EXPECT_FALSE(QuorumMet(r, {}, Majority));
  // Policy "all": every member of both rows.
  auto all = [](size_t n) { return static_cast<uint32_t>(n); };
  EXPECT_FALSE(QuorumMet(r, {1, 2, 4}, all));
  EXPECT_TRUE(QuorumMet(r, {1, 2, 3, 4}, all));
  // Not moving: W of the row, as before transitions.
  const KeyRows still = RowsOf(Moving(), 1);
  EXPECT_TRUE(QuorumMet(still, {2, 4}, Majority));
  // A write's error says what each row needed and got: two acknowledgements can fall short.
  EXPECT_EQ(QuorumShortfall(r, {1, 4}, Majority),
            "needs 2 acknowledgements in the partition's new row and 2 in its old one (it is "
            "moving); 2 of the new row's 3 and 1 of the old row's 3 acknowledged the write");
  EXPECT_EQ(QuorumShortfall(still, {4}, Majority),
            "needs 2 acknowledgements; 1 of the row's 3 acknowledged the write");
  EXPECT_FALSE(QuorumMet(still, {4}, Majority));
  EXPECT_FALSE(QuorumMet(still, {3, 4}, Majority));  // 3 is not a replica of it
}

// Seen in bench/cluster/rebuild.sh: while a lost node's partitions were rebuilt, a read that the
// joiner (the node taking the lost one's slot) coordinated asked its own index first, found
// nothing there (the sync had not reached the key), needed both old members too, and wrote
// the value back to itself, durably, before answering. A joiner is now asked after the old
// row's members, and only when they cannot make the majorities.
TEST(Transition, Issue12AReadAsksTheOldRowBeforeAJoiner) {
  const KeyRows r = RowsOf(Moving(), 0);  // old {1,2,3} (3 is out), new {1,2,4}
  auto up = [](NodeId id) { return id != 3; };
  EXPECT_EQ(ReadOrder(r, 4, up), (std::vector<NodeId>{1, 2, 4, 3}));  // the joiner is not first
  EXPECT_EQ(ReadOrder(r, 1, up), (std::vector<NodeId>{1, 2, 4, 3}));
  EXPECT_EQ(ReadOrder(r, 2, up), (std::vector<NodeId>{2, 1, 4, 3}));
  EXPECT_EQ(ReadOrder(r, 0, up), (std::vector<NodeId>{1, 2, 4, 3}));  // a client
  // Node 2 down too: the joiner comes before the ones not up.
  auto up1 = [](NodeId id) { return id == 1 || id == 4; };
  EXPECT_EQ(ReadOrder(r, 4, up1), (std::vector<NodeId>{1, 4, 2, 3}));
  // Not moving: node 4 is a member like the others, and its own index comes first.
  const KeyRows still = RowsOf(Moving(), 1);
  EXPECT_EQ(ReadOrder(still, 4, up), (std::vector<NodeId>{4, 1, 2}));
  EXPECT_EQ(ReadOrder(still, 7, up), (std::vector<NodeId>{1, 2, 4}));  // not a replica
  EXPECT_TRUE(IsJoiner(r, 4));
  EXPECT_FALSE(IsJoiner(r, 1));
  EXPECT_FALSE(IsJoiner(r, 3));  // leaving, not joining
  EXPECT_FALSE(IsJoiner(still, 4));
}

TEST(Transition, Issue12AReadWritesBackToAJoinerOnlyWhenAMajorityNeedsIt) {
  const KeyRows r = RowsOf(Moving(), 0);  // old {1,2,3}, new {1,2,4}
  using V = std::vector<NodeId>;
  // The old members hold the newest: a majority of both rows without the joiner.
  EXPECT_EQ(ReadRepairTargets(r, {1, 2}, {4}), V{});
  EXPECT_EQ(ReadRepairTargets(r, {1, 2}, {3, 4}), V{3});  // a stale old member still gets it
  // Only node 1 holds it: without writing it back to 2 and 4 a later read of {2, 4} (a
  // majority of the new row) could miss it.
  EXPECT_EQ(ReadRepairTargets(r, {1}, {2, 4}), (V{2, 4}));
  EXPECT_EQ(ReadRepairTargets(r, {1, 4}, {2}), V{2});          // the old row lacks a majority
  EXPECT_EQ(ReadRepairTargets(r, {1, 3}, {2, 4}), (V{2, 4}));  // the new row lacks one
  // Not moving: every stale replica, as before transitions.
  EXPECT_EQ(ReadRepairTargets(RowsOf(Moving(), 1), {1, 2}, {4}), V{4});
}

}  // namespace
}  // namespace cairn::cluster
