// A cluster node before it has joined (registered in etcd): found by the nemesis harness
// (tests/cluster/nemesis.cc), which restarts nodes under load.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <thread>

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

// A node that has joined before restarts while etcd is down: it serves on the map it kept in
// its data directory (CLUSTER_MAP) and registers once etcd is back. Before, cairnd exited
// "cannot join the cluster" (docs/cluster.md, open availability item 3).
TEST(NodeJoin, Issue11ANodeRestartsWhileEtcdIsDownOnTheMapItKept) {
  cairn::testing::EtcdFixture etcd;
  ASSERT_TRUE(etcd.ok()) << etcd.why();
  TempDir dir;
  const std::vector<std::string> args = {
      "--volume-size", "16M", "--cluster-etcd", etcd.EndpointList(), "--cluster-key-id",
      kTestKeyId, "--node-id", "1", "--zone", "z1", "--bootstrap-nodes", "1", "--replicas", "1",
      "--write-policy", "one"};
  ServerProcess node;
  ASSERT_TRUE(node.Start(dir.sub("n1"), args));
  ClientOptions o;
  o.key = ClientKey{kTestKeyId, kTestSecret};
  o.timeout_ms = 3000;
  auto put_until_ok = [&](const std::string& key) {
    o.port = node.port();
    auto client = Client::Create(o);
    if (!client.ok()) return client.status();
    Status last;
    for (int i = 0; i < 150; i++) {  // bounded: 15 s (the first map is being placed)
      last = (*client)->Put(key, "v-" + key).status();
      if (last.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return last;
  };
  ASSERT_TRUE(put_until_ok("before").ok());
  ASSERT_TRUE(std::filesystem::exists(dir.sub("n1") + "/CLUSTER_MAP"));
  // etcd down, then the node killed and started again.
  etcd.Kill(0);
  ASSERT_NE(node.Stop(SIGKILL), -1);
  ASSERT_TRUE(node.Start(dir.sub("n1"), args));
  Status s = put_until_ok("during");
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(node.Alive()) << "cairnd exited while etcd was down";
  {
    o.port = node.port();
    auto client = std::move(*Client::Create(o));
    auto got = client->Get("before");
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->data, "v-before");
  }
  // etcd back: the node registers (its alive key is there again) and keeps serving.
  ASSERT_TRUE(etcd.Restart(0));
  bool alive_key = false;
  for (int i = 0; i < 200 && !alive_key; i++) {  // bounded: 20 s
    std::string out;
    alive_key = etcd.Ctl("get --prefix /cairn/default/alive/1", &out) == 0 &&
                out.find("/cairn/default/alive/1") != std::string::npos;
    if (!alive_key) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(alive_key) << "the node never registered once etcd was back";
  EXPECT_TRUE(put_until_ok("after").ok());
}

}  // namespace
}  // namespace cairn::test
