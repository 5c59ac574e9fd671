// The DIGEST fence through a real server (docs/cluster.md "Map transitions";
// cluster/epoch_fence.h): a replica write admitted under the old map and still in its store's
// commit holds back every DIGEST at the new epoch, so anti-entropy never declares a partition
// synced while a write it has not listed can still land.
//
// The server runs in this process over a store whose puts and deletes of "held-*" keys wait for
// the test, as a stalled commit would; cluster hooks of the test's own stand in for a cluster
// node (an epoch the test moves, the real EpochFence, a DIGEST that answers "digest").
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cairn/local_object_store.h"
#include "cluster/anti_entropy_wire.h"
#include "cluster/cluster_node.h"
#include "cluster/cluster_store.h"
#include "cluster/epoch_fence.h"
#include "cluster/map_view.h"
#include "cluster/peer_pool.h"
#include "util/write_gate.h"
#include "proto/frame.h"
#include "proto/messages.h"
#include "server/cluster_hooks.h"
#include "server/server.h"
#include "server_test_util.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using proto::Op;
using proto::RoutingRole;
using proto::WireStatus;
using test::RawConn;

// Puts and deletes of keys starting "held-" wait until Release(); the rest go straight through.
class GatedStore final : public ForwardingObjectStore {
 public:
  explicit GatedStore(ObjectStore* base) : ForwardingObjectStore(base) {}
  Result<WriteResult> Put(std::string_view k, std::string_view v, const WriteOptions& wo) override {
    Hold(k);
    return inner_->Put(k, v, wo);
  }
  Result<WriteResult> PutStream(std::string_view k, ValueSource* src, const WriteOptions& wo) override {
    Hold(k);
    return inner_->PutStream(k, src, wo);
  }
  // The loop's path (a cluster node's replica writes take it): a held key's commit finishes
  // on a thread of the store's once released, as a group commit's callback does.
  Status PutAsync(std::string_view k, std::string_view v, const WriteOptions& wo,
                  WriteDone done) override {
    if (k.substr(0, 5) != "held-") return inner_->PutAsync(k, v, wo, std::move(done));
    if (!async_) return Status::Busy("held: the pool's path");
    async_puts_++;
    std::lock_guard<std::mutex> l(threads_mu_);
    threads_.emplace_back([this, key = std::string(k), value = std::string(v), wo,
                           done = std::move(done)] {
      Hold(key);
      WriteOptions o = wo;
      o.held_version_out = nullptr;
      done(inner_->Put(key, value, o));
    });
    return Status::OK();
  }
  ~GatedStore() override { JoinThreads(); }
  // Releases the held writes and waits for the loop path's commits: before the server stops,
  // so that no callback reaches a server that is gone.
  void JoinThreads() {
    Release();
    std::lock_guard<std::mutex> l(threads_mu_);
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  std::atomic<bool> async_{false};  // held keys: the loop's path (else Busy: the pool's)
  std::atomic<int> async_puts_{0};
  Result<WriteResult> Delete(std::string_view k, const WriteOptions& wo) override {
    Hold(k);
    return inner_->Delete(k, wo);
  }

  bool AwaitEntered(int n) { return gate_.AwaitEntered(n); }
  void Release() { gate_.Release(); }

 private:
  void Hold(std::string_view k) { gate_.Hold(k); }
  std::mutex threads_mu_;
  std::vector<std::thread> threads_;
  cairn::testing::WriteGate gate_{[](std::string_view k) { return k.substr(0, 5) == "held-"; }};
};

class FenceHooks final : public server::ClusterHooks {
 public:
  FenceHooks(ObjectStore* store, service::ServiceLimits limits) : svc_(store, limits) {}
  uint64_t epoch() const override { return epoch_.load(); }
  void NoteEpoch(uint64_t) override {}
  bool IsMemberKey(std::string_view id) const override { return id == test::kTestKeyId; }
  service::ObjectService* ServiceFor(RoutingRole) override { return &svc_; }
  Result<std::string> Digest(std::string_view) override { return std::string("digest"); }
  server::ClusterStatus Status() const override { return {}; }
  void AddStatCounters(std::map<std::string, uint64_t>*) const override {}
  std::shared_ptr<const void> AdmitReplicaWrite(uint64_t sent, uint64_t* ours) override {
    return fence_.Enter(sent, ours);
  }
  uint64_t AwaitOlderWrites(uint64_t epoch) override {
    return fence_.AwaitOlder(epoch, std::chrono::milliseconds(wait_ms_.load()));
  }

  std::atomic<uint32_t> wait_ms_{cluster::kFenceWaitMs};  // cairnd's; a test may lengthen it
  std::atomic<uint64_t> epoch_{5};
  cluster::EpochFence fence_{&epoch_};

 private:
  service::ObjectService svc_;
};

class ReplicaFenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cairn_fence_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    StoreOptions so;
    so.volume_capacity = 16 << 20;
    auto s = LocalObjectStore::Open(dir_.string(), so);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    local_ = std::move(*s);
    gated_ = std::make_unique<GatedStore>(local_.get());
    server::ServerConfig c;
    c.listen = "127.0.0.1:0";
    c.threads = 1;
    c.io_threads = 4;  // the held put takes one; the DIGEST waits on another
    c.auth.keys[test::kTestKeyId] = test::kTestSecret;
    server_ = std::make_unique<server::Server>(c, gated_.get());
    hooks_ = std::make_unique<FenceHooks>(gated_.get(), server_->service_limits());
    server_->SetCluster(hooks_.get());
    Result<uint16_t> port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
  }
  void TearDown() override {
    if (gated_) gated_->JoinThreads();
    if (server_) {
      server_->Drain(5000);
      server_->Stop();
    }
    server_.reset();
    hooks_.reset();
    gated_.reset();
    local_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A replica operation sent under map `epoch`.
  static std::string Routed(Op op, uint64_t id, uint64_t epoch, std::string_view op_meta,
                            std::string_view body = {}) {
    std::string meta;
    proto::AppendRouting(proto::Routing{epoch, 1, RoutingRole::kReplica}, &meta);
    meta.append(op_meta);
    proto::FrameHeader h;
    h.op = op;
    h.flags |= proto::kFlagRouted;
    h.request_id = id;
    h.meta_len = static_cast<uint32_t>(meta.size());
    h.body_len = body.size();
    h.body_crc = body.empty() ? 0 : crc32c::Value(body);
    std::string out = proto::EncodeFrame(h, meta);
    out.append(body);
    return out;
  }
  static std::string DigestMeta() {
    cluster::DigestRequest r;
    r.kind = cluster::DigestKind::kRoots;
    r.partitions = {0};
    return cluster::EncodeDigestRequest(r);
  }
  RawConn::Reply Call(const std::string& frame) {
    RawConn c;
    RawConn::Reply r;
    EXPECT_TRUE(c.Connect(port_));
    EXPECT_TRUE(c.Call(frame, &r));
    return r;
  }

  fs::path dir_;
  std::unique_ptr<LocalObjectStore> local_;
  std::unique_ptr<GatedStore> gated_;
  std::unique_ptr<FenceHooks> hooks_;
  std::unique_ptr<server::Server> server_;
  uint16_t port_ = 0;
};

TEST_F(ReplicaFenceTest, Issue12AWriteOfTheOldMapInItsCommitHoldsBackDigestsOfTheNewOne) {
  // A replica write sent under epoch 5, admitted, now in the store's commit (held).
  RawConn writer;
  ASSERT_TRUE(writer.Connect(port_));
  ASSERT_TRUE(writer.SendAll(Routed(Op::kPut, 1, 5, RawConn::PutMeta("held-1"), "old map")));
  ASSERT_TRUE(gated_->AwaitEntered(1));
  EXPECT_EQ(hooks_->fence_.OlderInFlight(6), 1u);

  // The node's map moves to 6. A DIGEST at 6 must not be answered while that write can land.
  hooks_->epoch_ = 6;
  RawConn::Reply d = Call(Routed(Op::kDigest, 2, 6, DigestMeta()));
  EXPECT_EQ(d.h.status, WireStatus::kUnavailable) << d.error();
  EXPECT_NE(d.error().find("DIGEST fence"), std::string::npos) << d.error();
  // A replica write of the old map arriving now is refused with our epoch, not admitted.
  RawConn::Reply late = Call(Routed(Op::kPut, 3, 5, RawConn::PutMeta("late"), "x"));
  EXPECT_EQ(late.h.status, WireStatus::kStaleEpoch) << late.error();
  // Writes of the new map do not hold the fence.
  RawConn::Reply fresh = Call(Routed(Op::kPut, 4, 6, RawConn::PutMeta("fresh"), "y"));
  EXPECT_EQ(fresh.h.status, WireStatus::kOk) << fresh.error();
  EXPECT_EQ(hooks_->fence_.OlderInFlight(6), 1u);

  // The held write finishes (acknowledged): now the DIGEST is answered, and it sees the write.
  gated_->Release();
  RawConn::Reply ack;
  ASSERT_TRUE(writer.ReadReply(&ack));
  EXPECT_EQ(ack.h.status, WireStatus::kOk) << ack.error();
  EXPECT_TRUE(local_->Head("held-1").ok());
  RawConn::Reply d2 = Call(Routed(Op::kDigest, 5, 6, DigestMeta()));
  EXPECT_EQ(d2.h.status, WireStatus::kOk) << d2.error();
  EXPECT_EQ(d2.body, "digest");
  EXPECT_EQ(hooks_->fence_.InFlight(), 0u);
}

TEST_F(ReplicaFenceTest, Issue12ADigestWaitsBrieflyForAnOldWriteThatFinishes) {
  RawConn writer;
  ASSERT_TRUE(writer.Connect(port_));
  ASSERT_TRUE(writer.SendAll(Routed(Op::kPut, 1, 5, RawConn::PutMeta("held-2"), "old map")));
  ASSERT_TRUE(gated_->AwaitEntered(1));
  hooks_->epoch_ = 6;
  // The write finishes while the DIGEST waits: it is answered, not refused. (The wait is made
  // long here, so that a slow commit on a loaded machine still finishes within it.)
  hooks_->wait_ms_ = 30000;
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    gated_->Release();
  });
  RawConn::Reply d = Call(Routed(Op::kDigest, 2, 6, DigestMeta()));
  release.join();
  EXPECT_EQ(d.h.status, WireStatus::kOk) << d.error();
  RawConn::Reply ack;
  ASSERT_TRUE(writer.ReadReply(&ack));
  EXPECT_EQ(ack.h.status, WireStatus::kOk) << ack.error();
}

TEST_F(ReplicaFenceTest, Issue12AReplicaDeleteOfTheOldMapIsFencedToo) {
  ASSERT_TRUE(local_->Put("held-3", "v", WriteOptions()).ok());
  RawConn deleter;
  ASSERT_TRUE(deleter.Connect(port_));
  ASSERT_TRUE(deleter.SendAll(Routed(Op::kDelete, 1, 5, RawConn::DeleteMeta("held-3"))));
  ASSERT_TRUE(gated_->AwaitEntered(1));
  hooks_->epoch_ = 6;
  RawConn::Reply d = Call(Routed(Op::kDigest, 2, 6, DigestMeta()));
  EXPECT_EQ(d.h.status, WireStatus::kUnavailable) << d.error();
  gated_->Release();
  RawConn::Reply ack;
  ASSERT_TRUE(deleter.ReadReply(&ack));
  EXPECT_EQ(ack.h.status, WireStatus::kOk) << ack.error();
  RawConn::Reply d2 = Call(Routed(Op::kDigest, 3, 6, DigestMeta()));
  EXPECT_EQ(d2.h.status, WireStatus::kOk) << d2.error();
  EXPECT_EQ(hooks_->fence_.InFlight(), 0u);
}

TEST_F(ReplicaFenceTest, Issue12AWriteCommittedOnTheLoopHoldsItsPlaceUntilItsCallback) {
  // A cluster node's replica PUTs are judged (apply-if-newer) and take the loop's path: written
  // with PutAsync, acknowledged from the commit's callback. The place is held until then.
  gated_->async_ = true;
  RawConn writer;
  ASSERT_TRUE(writer.Connect(port_));
  ASSERT_TRUE(writer.SendAll(Routed(Op::kPut, 1, 5, RawConn::PutMeta("held-4"), "old map")));
  ASSERT_TRUE(gated_->AwaitEntered(1));
  EXPECT_EQ(gated_->async_puts_.load(), 1);
  hooks_->epoch_ = 6;
  RawConn::Reply d = Call(Routed(Op::kDigest, 2, 6, DigestMeta()));
  EXPECT_EQ(d.h.status, WireStatus::kUnavailable) << d.error();
  gated_->Release();
  RawConn::Reply ack;
  ASSERT_TRUE(writer.ReadReply(&ack));
  EXPECT_EQ(ack.h.status, WireStatus::kOk) << ack.error();
  RawConn::Reply d2 = Call(Routed(Op::kDigest, 3, 6, DigestMeta()));
  EXPECT_EQ(d2.h.status, WireStatus::kOk) << d2.error();
}

TEST_F(ReplicaFenceTest, Issue12AStreamedWriteHoldsItsPlaceWhileItsBodyIsApplied) {
  // A body over max_buffered_body_bytes (1 MiB) is streamed into the store as it arrives.
  const std::string big(2 << 20, 'b');
  RawConn writer;
  ASSERT_TRUE(writer.Connect(port_));
  ASSERT_TRUE(writer.SendAll(Routed(Op::kPut, 1, 5, RawConn::PutMeta("held-5"), big)));
  ASSERT_TRUE(gated_->AwaitEntered(1));
  hooks_->epoch_ = 6;
  RawConn::Reply d = Call(Routed(Op::kDigest, 2, 6, DigestMeta()));
  EXPECT_EQ(d.h.status, WireStatus::kUnavailable) << d.error();
  gated_->Release();
  RawConn::Reply ack;
  ASSERT_TRUE(writer.ReadReply(&ack));
  EXPECT_EQ(ack.h.status, WireStatus::kOk) << ack.error();
  RawConn::Reply d2 = Call(Routed(Op::kDigest, 3, 6, DigestMeta()));
  EXPECT_EQ(d2.h.status, WireStatus::kOk) << d2.error();
  // And one of the old map that arrives now is refused, its body skipped: the connection goes on.
  RawConn late;
  ASSERT_TRUE(late.Connect(port_));
  RawConn::Reply r;
  ASSERT_TRUE(late.Call(Routed(Op::kPut, 4, 5, RawConn::PutMeta("big-late"), big), &r));
  EXPECT_EQ(r.h.status, WireStatus::kStaleEpoch) << r.error();
  ASSERT_TRUE(late.Call(Routed(Op::kPut, 5, 6, RawConn::PutMeta("big-ok"), big), &r));
  EXPECT_EQ(r.h.status, WireStatus::kOk) << r.error();
  EXPECT_TRUE(local_->Head("big-late").status().IsNotFound());
}

TEST_F(ReplicaFenceTest, Issue12ASenderStalledMidBodyHoldsNoPlace) {
  // The place is taken once a buffered body has arrived: a coordinator that stops sending
  // half-way must not hold every DIGEST back until its idle timeout.
  const std::string frame = Routed(Op::kPut, 1, 5, RawConn::PutMeta("stalled"), std::string(1000, 's'));
  RawConn writer;
  ASSERT_TRUE(writer.Connect(port_));
  const uint64_t before = server_->counters().requests.load();
  ASSERT_TRUE(writer.SendAll(std::string_view(frame).substr(0, frame.size() - 500)));
  // The header has been read (and the request routed, and its body begun) before the map moves.
  for (int i = 0; i < 2000 && server_->counters().requests.load() == before; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_GT(server_->counters().requests.load(), before);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(hooks_->fence_.InFlight(), 0u);
  hooks_->epoch_ = 6;
  RawConn::Reply d = Call(Routed(Op::kDigest, 2, 6, DigestMeta()));
  EXPECT_EQ(d.h.status, WireStatus::kOk) << d.error();
  // The rest arrives after the map moved: refused, nothing stored.
  ASSERT_TRUE(writer.SendAll(std::string_view(frame).substr(frame.size() - 500)));
  RawConn::Reply r;
  ASSERT_TRUE(writer.ReadReply(&r));
  EXPECT_EQ(r.h.status, WireStatus::kStaleEpoch) << r.error();
  EXPECT_TRUE(local_->Head("stalled").status().IsNotFound());
}

// ---- A read whose map changed while it ran (docs/cluster.md "Map transitions").
//
// Node 1 coordinates (a ClusterObjectStore in this process over its own store); nodes 2, 4 and 5
// are servers in this process serving their stores to replica operations; node 3 is unreachable.
// Under epoch 10 every partition's row is {1, 2, 3}; epoch 11 moves it to {1, 4, 5}.

// Node 1's store: its first put (a read's repair), or with `on_head` its first HeadVersion (the
// read's own look), installs `next` in the view first, as a map change arriving while the read
// runs.
class MapChangingStore final : public ForwardingObjectStore {
 public:
  MapChangingStore(ObjectStore* base, cluster::FixedMapView* view, cluster::ClusterMap next)
      : ForwardingObjectStore(base), view_(view), next_(std::move(next)) {}
  Result<WriteResult> Put(std::string_view k, std::string_view v, const WriteOptions& wo) override {
    if (!changed_.exchange(true)) view_->Set(next_);
    return inner_->Put(k, v, wo);
  }
  Result<WriteResult> PutStream(std::string_view k, ValueSource* src, const WriteOptions& wo) override {
    return inner_->PutStream(k, src, wo);
  }
  Result<ObjectInfo> HeadVersion(std::string_view k) override {
    if (on_head && !changed_.exchange(true)) view_->Set(next_);
    return inner_->HeadVersion(k);
  }
  Result<WriteResult> Delete(std::string_view k, const WriteOptions& wo) override {
    return inner_->Delete(k, wo);
  }
  bool changed() const { return changed_.load(); }
  std::atomic<bool> on_head{false};

 private:
  cluster::FixedMapView* view_;
  cluster::ClusterMap next_;
  std::atomic<bool> changed_{false};
};

// The wall clock in ms, as the coordinators' versions count it.
uint64_t WallMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

class ReadMapChangeTest : public ::testing::Test {
 protected:
  struct Node {
    std::unique_ptr<LocalObjectStore> store;
    std::unique_ptr<FenceHooks> hooks;
    std::unique_ptr<server::Server> server;
    uint16_t port = 0;
  };
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("cairn_readmap_test." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (int id : {1, 2, 4, 5}) {
      Node& n = nodes_[id];
      StoreOptions so;
      so.volume_capacity = 16 << 20;
      auto s = LocalObjectStore::Open((dir_ / std::to_string(id)).string(),
                                      cluster::ClusterEngineOptions(so));
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      n.store = std::move(*s);
      if (id == 1) continue;  // the coordinator's own store: no server
      server::ServerConfig c;
      c.listen = "127.0.0.1:0";
      c.threads = 1;
      c.io_threads = 4;
      c.auth.keys[test::kTestKeyId] = test::kTestSecret;
      n.server = std::make_unique<server::Server>(c, n.store.get());
      n.hooks = std::make_unique<FenceHooks>(n.store.get(), n.server->service_limits());
      n.server->SetCluster(n.hooks.get());
      Result<uint16_t> port = n.server->Start();
      ASSERT_TRUE(port.ok()) << port.status().ToString();
      n.port = *port;
    }
  }
  void TearDown() override {
    cluster_.reset();
    peers_.reset();
    for (auto& [id, n] : nodes_) {
      if (n.server) {
        n.server->Drain(5000);
        n.server->Stop();
      }
    }
    changing_.reset();
    nodes_.clear();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  cluster::ClusterMap Map(uint64_t epoch, std::vector<cluster::NodeId> row,
                          std::vector<cluster::NodeId> prev) {
    cluster::ClusterMap m;
    m.epoch = epoch;
    for (cluster::NodeId id = 1; id <= 5; id++) {
      const uint16_t port = nodes_.count(id) != 0 ? nodes_[id].port : 1;  // node 3: nothing there
      m.nodes.push_back(cluster::MapNode{id, cluster::NodeState::kUp, 1,
                                         "127.0.0.1:" + std::to_string(port), "z"});
    }
    m.placement.replicas = 3;
    for (uint32_t p = 0; p < cluster::kPartitions; p++)
      for (cluster::NodeId id : row) m.placement.table.push_back(id);
    if (!prev.empty()) {
      m.prev.replicas = 3;
      for (uint32_t p = 0; p < cluster::kPartitions; p++)
        for (cluster::NodeId id : prev) m.prev.table.push_back(id);
    }
    return m;
  }
  void StartCoordinator() {
    view_ = std::make_unique<cluster::FixedMapView>(Map(10, {1, 2, 3}, {}));
    changing_ = std::make_unique<MapChangingStore>(nodes_[1].store.get(), view_.get(),
                                                   Map(11, {1, 4, 5}, {1, 2, 3}));
    cluster::PeerOptions po;
    po.key = ClientKey{test::kTestKeyId, test::kTestSecret};
    po.self = 1;
    po.timeout_ms = 2000;
    po.connect_timeout_ms = 500;
    peers_ = std::make_unique<cluster::PeerPool>(view_.get(), po);
    cluster::ClusterStoreOptions o;
    o.self = 1;
    cluster_ = std::make_unique<cluster::ClusterObjectStore>(
        o, view_.get(), peers_.get(), changing_.get(),
        std::make_shared<cluster::ClusterShared>(1, nullptr, nullptr));
  }
  bool Holds(int id, const std::string& key, const Version& v) {
    Result<ObjectInfo> h = nodes_[id].store->HeadVersion(key);
    return h.ok() && h->version == v;
  }

  fs::path dir_;
  std::map<int, Node> nodes_;
  std::unique_ptr<cluster::FixedMapView> view_;
  std::unique_ptr<MapChangingStore> changing_;
  std::unique_ptr<cluster::PeerPool> peers_;
  std::unique_ptr<cluster::ClusterObjectStore> cluster_;
};

TEST_F(ReadMapChangeTest, Issue12AReadWhoseMapChangedLeavesWhatItReturnsOnAMajorityOfTheNewRow) {
  // The newest version is on node 2 alone (a write that reached one replica); node 1 holds an
  // older one. The read finds it on the majority {1, 2} (node 3 is unreachable) and repairs node
  // 1, and meanwhile the map moves the row to {1, 4, 5}.
  const std::string key = "moving-key";
  WriteOptions wo;
  wo.condition = WriteCondition::kIfNewer;
  const uint64_t now_ms = WallMs();
  wo.version = Version::Make(now_ms - 2000, 0, 1);
  ASSERT_TRUE(nodes_[1].store->Put(key, "old", wo).ok());
  const Version newest = Version::Make(now_ms - 1000, 0, 1);
  wo.version = newest;
  ASSERT_TRUE(nodes_[2].store->Put(key, "newest", wo).ok());
  StartCoordinator();
  Result<GetResult> g = cluster_->Get(key, ByteRange());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->data, "newest");
  EXPECT_TRUE(changing_->changed());
  // What the read returned must be on a majority of the new row before it answered: a read
  // after the transition retires asks only that row, and must not return anything older.
  int in_new_row = 0;
  for (int id : {1, 4, 5}) in_new_row += Holds(id, key, newest) ? 1 : 0;
  EXPECT_GE(in_new_row, 2) << "the read repaired only the rows of the map it started with";
}

TEST_F(ReadMapChangeTest, Issue12AReadThatFoundNothingUnderTheOldRowsReadsTheNewOnes) {
  // The key is on nodes 4 and 5 only (written under the new map); the read starts on the old
  // map, whose majority {1, 2} has never heard of it, and the map moves as it looks. NotFound
  // from the old rows is not an answer for the new ones.
  const std::string key = "new-row-key";
  WriteOptions wo;
  wo.condition = WriteCondition::kIfNewer;
  const uint64_t now_ms = WallMs();
  const Version v = Version::Make(now_ms - 1000, 0, 1);
  wo.version = v;
  for (int id : {4, 5}) ASSERT_TRUE(nodes_[id].store->Put(key, "in the new row", wo).ok());
  StartCoordinator();
  changing_->on_head = true;
  Result<GetResult> g = cluster_->Get(key, ByteRange());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->data, "in the new row");
  EXPECT_TRUE(changing_->changed());
}

}  // namespace
}  // namespace cairn
