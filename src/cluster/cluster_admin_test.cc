// The membership commands' checks and the controller's use of intents, without etcd (issue 12
// item 3). The same code against a real etcd and real nodes: tests/cluster_test.cc
// (MembershipCommandsTest).
#include "cluster/cluster_admin.h"

#include <gtest/gtest.h>

namespace cairn::cluster {
namespace {

// A map of `zones.size()` up nodes (ids 1..n, zone zones[i]) placed from scratch, R = 3, with
// few partitions; every node registered and alive.
ClusterView View(const std::vector<std::string>& zones) {
  ClusterView v;
  std::vector<NodeSpec> specs;
  for (size_t i = 0; i < zones.size(); i++) {
    const NodeId id = static_cast<NodeId>(i + 1);
    MapNode n;
    n.id = id;
    n.zone = zones[i];
    n.address = "127.0.0.1:" + std::to_string(9000 + i);
    v.map.nodes.push_back(n);
    v.registered[id] = RegisteredNode{id, n.address, n.zone, 1};
    v.alive.insert(id);
    specs.push_back(NodeSpec{id, n.zone, 1});
  }
  v.map.epoch = 5;
  v.map.placement = *BuildPlacement(specs, 3, 256);
  return v;
}

TEST(ClusterAdmin, IntentsRoundTripAndBadOnesAreRefused) {
  Result<AdminIntent> i = DecodeAdminIntent(EncodeAdminIntent({AdminState::kDrain, 7, 0}));
  ASSERT_TRUE(i.ok()) << i.status().ToString();
  EXPECT_EQ(i->state, AdminState::kDrain);
  EXPECT_EQ(i->weight, 7u);
  for (const char* bad : {"", "[]", "{\"state\":\"gone\",\"weight\":1}",
                          "{\"state\":\"in\",\"weight\":0}", "{\"state\":\"in\",\"weight\":1001}",
                          "{\"state\":\"in\"}", "{\"state\":\"in\",\"weight\":-1}"})
    EXPECT_TRUE(DecodeAdminIntent(bad).status().IsInvalidArgument()) << bad;
}

TEST(ClusterAdmin, ApplyIntentsPlacesUpNodesDrainsAndRemoves) {
  ClusterView v = View({"a", "b", "c", "d"});
  v.registered[9] = RegisteredNode{9, "127.0.0.1:9", "e", 1};
  std::vector<MapNode> nodes = v.map.nodes;
  // Not up yet: an "in" intent waits.
  std::map<NodeId, AdminIntent> in = {{9, {AdminState::kIn, 2, 0}}};
  EXPECT_FALSE(ApplyIntents(in, v.registered, v.alive, &nodes));
  v.alive.insert(9);
  ASSERT_TRUE(ApplyIntents(in, v.registered, v.alive, &nodes));
  ASSERT_EQ(nodes.size(), 5u);
  EXPECT_EQ(nodes.back().id, 9);
  EXPECT_EQ(nodes.back().weight, 2u);
  EXPECT_EQ(nodes.back().zone, "e");
  EXPECT_FALSE(ApplyIntents(in, v.registered, v.alive, &nodes)) << "applying twice changes nothing";
  in = {{2, {AdminState::kDrain, 1, 0}}, {3, {AdminState::kRemoved, 1, 0}}};
  ASSERT_TRUE(ApplyIntents(in, v.registered, v.alive, &nodes));
  EXPECT_EQ(nodes[1].weight, 0u);
  EXPECT_EQ(nodes[1].state, NodeState::kUp) << "a draining node keeps serving";
  EXPECT_EQ(nodes[2].state, NodeState::kOut);
  // Back from out: only with an "in" intent, and only while up.
  in = {{3, {AdminState::kIn, 1, 0}}};
  v.alive.erase(3);
  EXPECT_FALSE(ApplyIntents(in, v.registered, v.alive, &nodes));
  v.alive.insert(3);
  ASSERT_TRUE(ApplyIntents(in, v.registered, v.alive, &nodes));
  EXPECT_EQ(nodes[2].state, NodeState::kUp);
}

TEST(ClusterAdmin, Issue12BadChangesGetAClearErrorNamingTheLimit) {
  ClusterView v = View({"a", "b", "c", "c"});
  auto err = [&](AdminCommand c, NodeId n, std::optional<uint32_t> w) {
    Result<AdminIntent> r = CheckAdminChange(v, c, n, w);
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    return r.status().message();
  };
  EXPECT_NE(err(AdminCommand::kDrain, 42, std::nullopt).find("no node 42"), std::string::npos);
  EXPECT_NE(err(AdminCommand::kReweight, 1, 0).find("1..1000"), std::string::npos);
  EXPECT_NE(err(AdminCommand::kReweight, 1, 1001).find("kMaxNodeWeight"), std::string::npos);
  EXPECT_NE(err(AdminCommand::kReweight, 1, std::nullopt).find("--weight"), std::string::npos);
  // Node 1 is zone a's only node: draining it leaves 2 zones for R = 3.
  EXPECT_NE(err(AdminCommand::kDrain, 1, std::nullopt).find("fewer than R = 3"), std::string::npos);
  // One of zone c's two nodes can go.
  EXPECT_TRUE(CheckAdminChange(v, AdminCommand::kDrain, 4, std::nullopt).ok());
  // ...but not both: with node 4 draining (an intent), draining 3 leaves 2 nodes.
  v.intents[4] = {AdminState::kDrain, 1, 0};
  EXPECT_NE(err(AdminCommand::kDrain, 3, std::nullopt).find("fewer than R = 3 replicas"),
            std::string::npos);
  EXPECT_NE(err(AdminCommand::kDrain, 4, std::nullopt).find("draining already"), std::string::npos);
  // Remove is for a node that is gone.
  v.intents.clear();
  EXPECT_NE(err(AdminCommand::kRemove, 4, std::nullopt).find("drain it first"), std::string::npos);
  v.alive.erase(4);
  EXPECT_TRUE(CheckAdminChange(v, AdminCommand::kRemove, 4, std::nullopt).ok());
  // Add: a node must be registered and up, and not in already.
  EXPECT_NE(err(AdminCommand::kAdd, 1, std::nullopt).find("already in"), std::string::npos);
  v.registered[7] = RegisteredNode{7, "127.0.0.1:7", "d", 3};
  EXPECT_NE(err(AdminCommand::kAdd, 7, std::nullopt).find("not up"), std::string::npos);
  v.alive.insert(7);
  Result<AdminIntent> add = CheckAdminChange(v, AdminCommand::kAdd, 7, std::nullopt);
  ASSERT_TRUE(add.ok()) << add.status().ToString();
  EXPECT_EQ(add->weight, 3u) << "its own weight when none is given";
}

TEST(ClusterAdmin, PendingIntentsSayWhatTheyWaitFor) {
  ClusterView v = View({"a", "b", "c", "d"});
  v.intents[2] = {AdminState::kDrain, 1, 0};
  std::vector<std::string> waiting;
  EXPECT_FALSE(IntentsApplied(v, &waiting));
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_NE(waiting[0].find("waits for the controller"), std::string::npos);
  v.map.prev = v.map.placement;
  v.map.prev.table[0] = 4;  // a transition in flight
  waiting.clear();
  EXPECT_FALSE(IntentsApplied(v, &waiting));
  EXPECT_NE(waiting[0].find("one at a time"), std::string::npos);
  v.map.nodes[1].weight = 0;
  EXPECT_TRUE(IntentsApplied(v, nullptr));
}

}  // namespace
}  // namespace cairn::cluster
