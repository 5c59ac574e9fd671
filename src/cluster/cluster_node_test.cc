// ClusterNode's wiring against a real etcd: a coordinator's writes into the node's own store go
// through the DIGEST fence (FencedStore) and the digest (DigestedStore), on the blocking path
// and on the loop's.
#include "cluster/cluster_node.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "cairn/local_object_store.h"
#include "cluster/etcd_fixture.h"
#include "util/write_gate.h"

namespace cairn::cluster {
namespace {

using cairn::testing::EtcdFixture;
namespace fs = std::filesystem;

// The node's store: a write of the key "held" waits inside the store until Release(), as a
// stalled commit would; every other call goes to the local store.
class HoldingStore final : public ForwardingObjectStore {
 public:
  using ForwardingObjectStore::ForwardingObjectStore;
  Result<WriteResult> Put(std::string_view k, std::string_view v, const WriteOptions& wo) override {
    Hold(k);
    return inner_->Put(k, v, wo);
  }
  Result<WriteResult> PutStream(std::string_view k, ValueSource* src, const WriteOptions& wo) override {
    Hold(k);
    return inner_->PutStream(k, src, wo);
  }
  // The loop's path: a held key's commit answers later, from a thread of the store's.
  Status PutAsync(std::string_view k, std::string_view v, const WriteOptions& wo,
                  WriteDone done) override {
    if (k != "held") return inner_->PutAsync(k, v, wo, std::move(done));
    std::lock_guard<std::mutex> l(mu_);
    async_.emplace_back([this, key = std::string(k), value = std::string(v), wo,
                         done = std::move(done)] {
      Hold(key);
      WriteOptions o = wo;
      o.held_version_out = nullptr;
      done(inner_->Put(key, value, o));
    });
    return Status::OK();
  }
  Result<WriteResult> Delete(std::string_view k, const WriteOptions& wo) override {
    Hold(k);
    return inner_->Delete(k, wo);
  }
  bool AwaitEntered(int n) { return gate_.AwaitEntered(n); }
  void Release() { gate_.Release(); }
  void Rearm() { gate_.Rearm(); }
  ~HoldingStore() override {
    Release();
    for (auto& t : async_) t.join();
  }

 private:
  void Hold(std::string_view k) { gate_.Hold(k); }
  cairn::testing::WriteGate gate_{[](std::string_view k) { return k == "held"; }};
  std::mutex mu_;
  std::vector<std::thread> async_;
};

class ClusterNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!etcd_.ok()) GTEST_SKIP() << etcd_.why();
    dir_ = fs::temp_directory_path() / ("cairn_cluster_node_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    StoreOptions so;
    so.volume_capacity = 16 << 20;
    auto s = LocalObjectStore::Open((dir_ / "store").string(), ClusterEngineOptions(so));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    local_ = std::move(*s);
    holding_ = std::make_unique<HoldingStore>(local_.get());
    ClusterNodeOptions o;
    o.data_dir = (dir_ / "node").string();
    fs::create_directories(o.data_dir);
    o.membership.etcd.endpoints = etcd_.endpoints();
    o.membership.etcd.timeout_ms = 1000;
    o.membership.cluster = "wiring";
    o.membership.node_id = 1;
    o.membership.address = "127.0.0.1:1";  // no peer ever dials it: R = 1
    o.membership.zone = "z1";
    o.membership.replicas = 1;
    o.membership.bootstrap_nodes = 1;
    o.write_policy = WritePolicy::kQuorum;
    o.member_key = ClientKey{"member", std::string(32, 'k')};
    auto n = ClusterNode::Start(std::move(o), holding_.get());
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    node_ = std::move(*n);
    // The first map that places every partition on this node.
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (node_->membership()->map()->placement.table.empty() &&
           std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_FALSE(node_->membership()->map()->placement.table.empty());
  }
  void TearDown() override {
    if (holding_) holding_->Release();
    if (node_) node_->Stop();
    node_.reset();
    holding_.reset();
    local_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  EtcdFixture etcd_;
  fs::path dir_;
  std::unique_ptr<LocalObjectStore> local_;
  std::unique_ptr<HoldingStore> holding_;
  std::unique_ptr<ClusterNode> node_;
};

// A coordinator's write into its own store, still in the store when the map moves on, holds a
// place under the epoch it started in: a DIGEST at the next epoch waits for it. Without
// FencedStore in ClusterNode's wiring, nothing would be counted and the DIGEST would be
// answered while the write could still land on the old row alone.
TEST_F(ClusterNodeTest, Issue12ACoordinatorsOwnWritesHoldPlacesInTheNodesFence) {
  const uint64_t epoch = node_->epoch();
  ASSERT_GE(epoch, 1u);
  ObjectStore* any = node_->StoreFor(RoutingRole::kAny);
  ASSERT_NE(any, nullptr);
  EXPECT_EQ(node_->fence()->InFlight(), 0u);
  // The blocking path (a put the loop does not take: it carries a condition).
  std::thread writer([&] {
    WriteOptions wo;
    wo.condition = WriteCondition::kIfNoneMatch;
    Result<WriteResult> w = any->Put("held", "v1", wo);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
  });
  ASSERT_TRUE(holding_->AwaitEntered(1));
  EXPECT_EQ(node_->fence()->InFlight(), 1u);
  EXPECT_EQ(node_->fence()->OlderInFlight(epoch + 1), 1u);
  EXPECT_EQ(node_->fence()->OlderInFlight(epoch), 0u);
  holding_->Release();
  writer.join();
  EXPECT_EQ(node_->fence()->InFlight(), 0u);
  // The write went through the digest too: the key's partition is held.
  EXPECT_GT(node_->digested()->digest().partitions_held(), 0u);
  Result<GetResult> g = any->Get("held");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->data, "v1");

  // The loop's path (ClusterObjectStore::PutAsync): the place is held until the local
  // commit's callback has run.
  holding_->Rearm();
  std::promise<Status> answered;
  Status started = any->PutAsync("held", "v2", WriteOptions(), [&](Result<WriteResult> r) {
    answered.set_value(r.status());
  });
  ASSERT_TRUE(started.ok()) << started.ToString();
  any->StartCommit();
  ASSERT_TRUE(holding_->AwaitEntered(2));
  EXPECT_EQ(node_->fence()->OlderInFlight(node_->epoch() + 1), 1u);
  holding_->Release();
  Status done = answered.get_future().get();
  EXPECT_TRUE(done.ok()) << done.ToString();
  EXPECT_EQ(node_->fence()->InFlight(), 0u);
  EXPECT_EQ(any->Get("held")->data, "v2");
}

}  // namespace
}  // namespace cairn::cluster
