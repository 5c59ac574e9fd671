// Membership against a real etcd: bootstrap, one map seen by all, down detection, controller
// failover, fencing of a deposed controller, the map surviving etcd's absence.
#include "cluster/membership.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "cluster/etcd_fixture.h"

namespace cairn::cluster {
namespace {

using cairn::testing::EtcdFixture;
using Clock = std::chrono::steady_clock;

MembershipOptions Options(const EtcdFixture& etcd, NodeId id, const std::string& zone) {
  MembershipOptions o;
  o.etcd.endpoints = etcd.endpoints();
  o.etcd.timeout_ms = 1000;
  o.cluster = "t";
  o.node_id = id;
  o.address = "127.0.0.1:" + std::to_string(7000 + id);
  o.zone = zone;
  o.replicas = 3;
  o.bootstrap_nodes = 4;
  o.bootstrap_wait_ms = 20000;
  o.lease_ttl_s = 2;
  o.keepalive_ms = 500;
  o.partitions = 1024;
  return o;
}

bool WaitFor(const std::function<bool()>& f, int ms) {
  auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

TEST(Membership, BootstrapsOneMapThatEveryNodeSees) {
  EtcdFixture etcd;
  if (!etcd.ok()) GTEST_SKIP() << etcd.why();
  std::vector<std::unique_ptr<Membership>> nodes;
  for (NodeId id = 1; id <= 4; id++) {
    auto m = Membership::Start(Options(etcd, id, "z" + std::to_string(id % 3)));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    nodes.push_back(std::move(*m));
    if (id < 4) {
      EXPECT_EQ(nodes.back()->map()->epoch, 0u);  // waits for bootstrap_nodes
    }
  }
  for (auto& n : nodes) ASSERT_TRUE(n->WaitForEpoch(1, 10000)) << "node " << n->node_id();
  int controllers = 0;
  for (auto& n : nodes) {
    controllers += n->is_controller();
    EXPECT_EQ(n->map()->placement.table, nodes[0]->map()->placement.table);
    EXPECT_EQ(n->map()->nodes.size(), 4u);
  }
  EXPECT_EQ(controllers, 1);
  EXPECT_TRUE(CheckPlacement(nodes[0]->map()->placement, nodes[0]->map()->PlacementNodes()).ok());
}

TEST(Membership, ANodeThatStopsIsMarkedDownAndEveryNodeSeesIt) {
  EtcdFixture etcd;
  if (!etcd.ok()) GTEST_SKIP() << etcd.why();
  std::vector<std::unique_ptr<Membership>> nodes;
  for (NodeId id = 1; id <= 4; id++) nodes.push_back(std::move(*Membership::Start(Options(etcd, id, "z" + std::to_string(id)))));
  for (auto& n : nodes) ASSERT_TRUE(n->WaitForEpoch(1, 10000));
  // Stop a node that is not the controller: its lease is revoked, so it is down at once.
  size_t victim = nodes[3]->is_controller() ? 2 : 3;
  const NodeId vid = nodes[victim]->node_id();
  nodes[victim]->Stop();
  for (size_t i = 0; i < nodes.size(); i++) {
    if (i == victim) continue;
    ASSERT_TRUE(WaitFor([&] { return nodes[i]->map()->Node(vid)->state == NodeState::kDown; }, 10000))
        << "node " << nodes[i]->node_id() << " never saw " << vid << " down";
  }
  // The placement did not change: a down node keeps its slots (hinted, not moved).
  EXPECT_EQ(nodes[(victim + 1) % 4]->map()->placement.table, nodes[(victim + 2) % 4]->map()->placement.table);
}

TEST(Membership, AnotherNodeTakesOverWhenTheControllerDies) {
  EtcdFixture etcd;
  if (!etcd.ok()) GTEST_SKIP() << etcd.why();
  std::vector<std::unique_ptr<Membership>> nodes;
  for (NodeId id = 1; id <= 4; id++) nodes.push_back(std::move(*Membership::Start(Options(etcd, id, "z" + std::to_string(id)))));
  for (auto& n : nodes) ASSERT_TRUE(n->WaitForEpoch(1, 10000));
  size_t ctl = 0;
  ASSERT_TRUE(WaitFor([&] {
    for (size_t i = 0; i < nodes.size(); i++)
      if (nodes[i]->is_controller()) ctl = i;
    return nodes[ctl]->is_controller();
  }, 5000));
  const NodeId dead = nodes[ctl]->node_id();
  nodes[ctl]->Stop();
  // A new controller is elected and marks the old one down.
  for (size_t i = 0; i < nodes.size(); i++) {
    if (i == ctl) continue;
    ASSERT_TRUE(WaitFor([&] { return nodes[i]->map()->Node(dead)->state == NodeState::kDown; }, 15000));
  }
  int controllers = 0;
  for (size_t i = 0; i < nodes.size(); i++)
    if (i != ctl) controllers += nodes[i]->is_controller();
  EXPECT_EQ(controllers, 1);
}

TEST(Membership, NodesKeepTheirMapWhileEtcdIsDown) {
  EtcdFixture etcd;
  if (!etcd.ok()) GTEST_SKIP() << etcd.why();
  std::vector<std::unique_ptr<Membership>> nodes;
  for (NodeId id = 1; id <= 4; id++) nodes.push_back(std::move(*Membership::Start(Options(etcd, id, "z" + std::to_string(id)))));
  for (auto& n : nodes) ASSERT_TRUE(n->WaitForEpoch(1, 10000));
  const uint64_t epoch = nodes[0]->map()->epoch;
  etcd.Stop(0);  // SIGSTOP: etcd answers nothing
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  for (auto& n : nodes) {
    EXPECT_EQ(n->map()->epoch, epoch);
    EXPECT_FALSE(n->map()->placement.table.empty());
  }
  EXPECT_FALSE(nodes[0]->etcd_reachable());
  etcd.Cont(0);
  EXPECT_TRUE(WaitFor([&] { return nodes[0]->etcd_reachable(); }, 10000));
}

// Keys under nodes/, alive/ and admin/ that name no node (an operator's typo, another tool)
// are left out: the controller used to parse their ids with std::stoul, which threw in its
// thread and ended the process.
TEST(Membership, KeysThatNameNoNodeDoNotStopTheController) {
  EtcdFixture etcd;
  if (!etcd.ok()) GTEST_SKIP() << etcd.why();
  auto etcd_client = EtcdClient::Create(Options(etcd, 9, "z").etcd);
  ASSERT_TRUE(etcd_client.ok());
  for (const char* key : {"/cairn/t/nodes/abc", "/cairn/t/alive/", "/cairn/t/admin/x1"})
    ASSERT_TRUE((*etcd_client)->Put(key, "{}").ok()) << key;
  std::vector<std::unique_ptr<Membership>> nodes;
  for (NodeId id = 1; id <= 4; id++) nodes.push_back(std::move(*Membership::Start(Options(etcd, id, "z" + std::to_string(id)))));
  for (auto& n : nodes) ASSERT_TRUE(n->WaitForEpoch(1, 10000));
  EXPECT_EQ(nodes[0]->map()->nodes.size(), 4u);
}

TEST(Membership, ADeposedControllerCannotWriteTheMap) {
  EtcdFixture etcd;
  if (!etcd.ok()) GTEST_SKIP() << etcd.why();
  std::vector<std::unique_ptr<Membership>> nodes;
  for (NodeId id = 1; id <= 4; id++) nodes.push_back(std::move(*Membership::Start(Options(etcd, id, "z" + std::to_string(id)))));
  for (auto& n : nodes) ASSERT_TRUE(n->WaitForEpoch(1, 10000));
  // Someone else's controller key: a write that compares our id and lease must fail in etcd.
  auto etcd_client = EtcdClient::Create(Options(etcd, 9, "z").etcd);
  ASSERT_TRUE(etcd_client.ok());
  EtcdCompare is_us{"/cairn/t/controller", EtcdCompare::Target::kValue, EtcdCompare::Result::kEqual, 0, "9"};
  EtcdOp write{EtcdOp::Kind::kPut, "/cairn/t/map/epoch", "999", "", 0};
  Result<EtcdTxnResult> t = (*etcd_client)->Txn({is_us}, {write});
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->succeeded);
  Result<ClusterMap> m = Membership::FetchMap(etcd_client->get(), "/cairn/t/");
  ASSERT_TRUE(m.ok());
  EXPECT_LT(m->epoch, 999u);
}

TEST(Membership, AllocatesAndKeepsANodeId) {
  EtcdFixture etcd;
  if (!etcd.ok()) GTEST_SKIP() << etcd.why();
  char tmpl[] = "/tmp/cairn-memb.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  auto o = Options(etcd, 0, "z");
  o.node_id_file = std::string(tmpl) + "/NODE_ID";
  o.controller = false;
  NodeId first;
  {
    auto m = Membership::Start(o);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    first = (*m)->node_id();
    EXPECT_GT(first, 0);
  }
  auto o2 = Options(etcd, 0, "z");
  o2.controller = false;
  auto other = Membership::Start(o2);
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->node_id(), first);
  auto again = Membership::Start(o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->node_id(), first);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace cairn::cluster
