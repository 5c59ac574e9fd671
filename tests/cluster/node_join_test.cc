// A cluster node before it has joined (registered in etcd): found by the nemesis harness
// (tests/cluster/nemesis.cc), which restarts nodes under load.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>

#include "cairn/client.h"
#include "cluster/etcd_fixture.h"
#include "server_test_util.h"
#include "test_util.h"

namespace cairn::test {
namespace {

// A replica write with the member key, sent to a node that is still joining, is answered
// Unavailable (the node is not ready: the coordinator hints it and goes on), not
// PermissionDenied ("replica operations need the cluster's member key": the key is right).
TEST(NodeJoin, Issue11AReplicaWriteToAJoiningNodeIsUnavailableNotPermissionDenied) {
  cairn::testing::EtcdFixture etcd;
  ASSERT_TRUE(etcd.ok()) << etcd.why();
  // etcd paused: the node's registration waits for its timeout (2 s), so the node listens
  // while it is still joining.
  etcd.Stop(0);
  TempDir dir;
  ServerProcess node;
  ASSERT_TRUE(node.Start(dir.sub("n1"), {"--volume-size", "16M", "--cluster-etcd", etcd.EndpointList(),
                                         "--cluster-key-id", kTestKeyId, "--node-id", "1",
                                         "--zone", "z1", "--bootstrap-nodes", "1"}));
  std::atomic<uint64_t> epoch{1};
  ClientOptions o;
  o.port = node.port();
  o.key = ClientKey{kTestKeyId, kTestSecret};
  o.max_attempts = 1;
  o.timeout_ms = 1000;
  ClientRouting r;
  r.epoch = &epoch;
  r.role = RoutingRole::kReplica;
  o.routing = r;
  auto client = Client::Create(o);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  WriteOptions wo;
  wo.condition = WriteCondition::kIfNewer;
  wo.version = Version::Make(uint64_t{1} << 40, 0, 7);
  auto put = (*client)->Put("k", "v", wo);
  etcd.Cont(0);
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), Status::Code::kUnavailable) << put.status().ToString();
  EXPECT_NE(put.status().message().find("joining"), std::string::npos) << put.status().ToString();
}

}  // namespace
}  // namespace cairn::test
