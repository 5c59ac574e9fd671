// The membership commands' intents against a real etcd: the read at one revision and the
// compare-and-swap that keeps two admins from losing each other's change (issue 12 item 3).
#include <gtest/gtest.h>

#include "cluster/cluster_admin.h"
#include "cluster/etcd_fixture.h"

namespace cairn::cluster {
namespace {

using cairn::testing::EtcdFixture;

constexpr char kPrefix[] = "/cairn/admintest/";

// A map of 4 up nodes in 4 zones (R = 3, 64 partitions), registered and alive, written the way
// the controller writes it (one chunk and the epoch).
void WriteCluster(EtcdClient* etcd) {
  ClusterMap m;
  m.epoch = 3;
  std::vector<NodeSpec> specs;
  for (NodeId id = 1; id <= 4; id++) {
    MapNode n;
    n.id = id;
    n.zone = "z" + std::to_string(id);
    n.address = "127.0.0.1:" + std::to_string(7000 + id);
    m.nodes.push_back(n);
    specs.push_back({id, n.zone, 1});
    ASSERT_TRUE(
        etcd->Put(std::string(kPrefix) + "nodes/" + std::to_string(id),
                  "{\"address\":\"" + n.address + "\",\"zone\":\"" + n.zone + "\",\"weight\":1}")
            .ok());
    ASSERT_TRUE(etcd->Put(std::string(kPrefix) + "alive/" + std::to_string(id), n.address).ok());
  }
  m.placement = *BuildPlacement(specs, 3, 64);
  ASSERT_TRUE(etcd->Put(std::string(kPrefix) + "map/chunk/0000", EncodeClusterMap(m)).ok());
  ASSERT_TRUE(etcd->Put(std::string(kPrefix) + "map/epoch", "3").ok());
}

TEST(ClusterAdminEtcd, Issue12TwoAdminsCannotLoseEachOthersChange) {
  EtcdFixture etcd;
  if (!etcd.ok()) {
    if (etcd.why().find("not installed") != std::string::npos) GTEST_SKIP() << etcd.why();
    FAIL() << etcd.why();
  }
  auto c = EtcdClient::Create(EtcdOptions{etcd.endpoints()});
  ASSERT_TRUE(c.ok());
  EtcdClient* e = c->get();
  WriteCluster(e);
  Result<ClusterView> v = ReadClusterView(e, kPrefix);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->map.epoch, 3u);
  EXPECT_EQ(v->registered.size(), 4u);
  EXPECT_EQ(v->alive.size(), 4u);
  // Admin A reads, admin B reads, both check a drain against what they read: each alone is fine
  // (4 zones, R = 3), together they would leave 2 zones.
  Result<ClusterView> a = ReadClusterView(e, kPrefix), b = ReadClusterView(e, kPrefix);
  ASSERT_TRUE(a.ok() && b.ok());
  Result<AdminIntent> ia = CheckAdminChange(*a, AdminCommand::kDrain, 1, std::nullopt);
  Result<AdminIntent> ib = CheckAdminChange(*b, AdminCommand::kDrain, 2, std::nullopt);
  ASSERT_TRUE(ia.ok() && ib.ok());
  ASSERT_TRUE(WriteAdminIntent(e, kPrefix, *a, AdminCommand::kDrain, 1, &*ia).ok());
  // B's write, checked against a view A has changed since, fails inside etcd.
  Status sb = WriteAdminIntent(e, kPrefix, *b, AdminCommand::kDrain, 2, &*ib);
  EXPECT_TRUE(sb.IsConflict()) << sb.ToString();
  // B retried: checked again, it sees A's drain and is refused.
  Result<AdminIntent> retry = WriteAdminChange(e, kPrefix, AdminCommand::kDrain, 2, std::nullopt);
  EXPECT_TRUE(retry.status().IsInvalidArgument()) << retry.status().ToString();
  Result<ClusterView> after = ReadClusterView(e, kPrefix);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->intents.size(), 1u);
  EXPECT_EQ(after->intents.begin()->first, 1);
  EXPECT_EQ(after->intents.begin()->second.state, AdminState::kDrain);
  // A change to another node goes through (the serial moves on with each).
  EXPECT_TRUE(WriteAdminChange(e, kPrefix, AdminCommand::kReweight, 3, 2).ok());
  EXPECT_TRUE(WriteAdminChange(e, kPrefix, AdminCommand::kReweight, 4, 2).ok());
  after = ReadClusterView(e, kPrefix);
  EXPECT_EQ(after->intents.size(), 3u);
}

}  // namespace
}  // namespace cairn::cluster
