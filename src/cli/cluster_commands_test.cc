// `cairn cluster status` formatting, without etcd (the commands against real etcd and nodes:
// tests/cluster_test.cc, MembershipCommandsTest).
#include "cli/cluster_commands.h"

#include <gtest/gtest.h>

namespace cairn::cli {
namespace {

using cluster::AdminState;
using cluster::ClusterView;
using cluster::MapNode;
using cluster::NodeSpec;

// Four nodes in two zones, R = 2, 64 partitions; node 4 draining, a transition in flight with
// node 1 synced, node 2 halfway, and a fifth node registered, not placed, with an intent that
// waits.
ClusterView Sample() {
  ClusterView v;
  std::vector<NodeSpec> specs;
  for (cluster::NodeId id = 1; id <= 4; id++) {
    MapNode n;
    n.id = id;
    n.zone = id <= 2 ? "east" : "west";
    n.address = "127.0.0.1:700" + std::to_string(id);
    n.weight = id == 4 ? 0 : 1;
    v.map.nodes.push_back(n);
    v.registered[id] = {id, n.address, n.zone, 1};
    v.alive.insert(id);
    specs.push_back({id, n.zone, 1});
  }
  v.registered[5] = {5, "127.0.0.1:7005", "west", 1};
  v.alive.insert(5);
  v.map.epoch = 9;
  v.map.prev = *cluster::BuildPlacement(specs, 2, 64);
  specs[3].weight = 0;
  v.map.placement = *cluster::RebalancePlacement(v.map.prev, specs);
  v.intents[4] = {AdminState::kDrain, 1, 0};
  v.intents[5] = {AdminState::kIn, 1, 0};
  v.synced[1] = 9;
  v.progress[1] = {9, 4, 4};
  v.progress[2] = {9, 1, 2};
  v.controller = "1";
  return v;
}

TEST(ClusterStatus, JsonHasTheNumbers) {
  const ClusterView v = Sample();
  const nlohmann::ordered_json j = ClusterStatusJson(v, "c1");
  EXPECT_EQ(j["epoch"], 9);
  EXPECT_EQ(j["controller"], 1);
  ASSERT_EQ(j["nodes"].size(), 5u);
  EXPECT_EQ(j["nodes"][3]["state"], "draining");
  EXPECT_EQ(j["nodes"][3]["slots"], 0);
  EXPECT_GT(j["nodes"][3]["slots_before"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["nodes"][4]["state"], "unplaced");
  const auto& t = j["transition"];
  ASSERT_FALSE(t.is_null());
  EXPECT_EQ(t["moving_partitions"], v.map.MovingCount());
  EXPECT_EQ(t["nodes_synced"], 1);
  EXPECT_EQ(t["nodes_total"], 4);
  EXPECT_EQ(t["partitions_synced"], 5);  // node 1 synced (4 of 4), node 2 at 1 of 2
  ASSERT_EQ(j["pending"].size(), 1u);
  EXPECT_NE(j["pending"][0].get<std::string>().find("node 5 in"), std::string::npos);
  EXPECT_EQ(j["settled"], false);
}

TEST(ClusterStatus, BarsOnATerminalPlainNumbersOtherwise) {
  const nlohmann::ordered_json j = ClusterStatusJson(Sample(), "c1");
  const std::string tty = FormatClusterStatus(j, 24);
  const std::string plain = FormatClusterStatus(j, 0);
  EXPECT_NE(tty.find("[#"), std::string::npos) << tty;
  EXPECT_EQ(plain.find('['), std::string::npos) << plain;
  for (const std::string& s : {tty, plain}) {
    EXPECT_NE(s.find("zone east"), std::string::npos) << s;
    EXPECT_NE(s.find("zone west"), std::string::npos) << s;
    EXPECT_NE(s.find("draining"), std::string::npos) << s;
    EXPECT_NE(s.find("unplaced"), std::string::npos) << s;
    EXPECT_NE(s.find("1/4 reported"), std::string::npos) << s;
    EXPECT_NE(s.find("pending: node 5 in"), std::string::npos) << s;
    EXPECT_NE(s.find("one at a time"), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace cairn::cli
