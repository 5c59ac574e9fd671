// Anti-entropy (issue 12): the digest, its wire format, and rounds between in-process stores.
// The cluster-level tests (real nodes, the DIGEST op between them) are in tests/cluster_test.cc.
#include "cluster/anti_entropy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "cairn/local_object_store.h"
#include "cluster/anti_entropy_wire.h"
#include "cluster/cluster_node.h"
#include "cluster/digest.h"
#include "cluster/digested_store.h"

namespace cairn::cluster {
namespace {

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}
// A version a few seconds in the past (inside max_clock_skew_ms), ordered by `i`.
Version V(uint64_t i, uint32_t writer = 7) { return Version::Make(NowMs() - 30000 + i, 0, writer); }

// ---- The digest.

TEST(Digest, TheSameSetInAnyOrderGivesTheSameRoot) {
  std::vector<std::pair<std::string, Version>> set;
  for (int i = 0; i < 500; i++) set.emplace_back("key-" + std::to_string(i), Version::Make(1000 + i, 0, 3));
  DigestSet a, b;
  for (const auto& [k, v] : set) a.Apply(k, Version(), v);
  std::mt19937 rng(42);
  std::shuffle(set.begin(), set.end(), rng);
  // b also goes through older versions first: only the current one counts.
  for (const auto& [k, v] : set) {
    b.Apply(k, Version(), Version::Make(1, 0, 1));
    b.Apply(k, Version::Make(1, 0, 1), v);
  }
  for (uint32_t p = 0; p < kPartitions; p++) ASSERT_EQ(a.Root(p), b.Root(p)) << p;
  EXPECT_GT(a.partitions_held(), 0u);
}

TEST(Digest, ADifferentVersionChangesExactlyOneLeaf) {
  DigestSet a, b;
  for (int i = 0; i < 200; i++) {
    const std::string k = "k" + std::to_string(i);
    a.Apply(k, Version(), Version::Make(5000, 0, 1));
    b.Apply(k, Version(), Version::Make(5000, 0, 1));
  }
  b.Apply("k17", Version::Make(5000, 0, 1), Version::Make(5001, 0, 1));
  const KeySlot s = SlotOf("k17");
  EXPECT_NE(a.Root(s.partition), b.Root(s.partition));
  const Leaves la = a.LeavesOf(s.partition), lb = b.LeavesOf(s.partition);
  for (uint32_t l = 0; l < kLeaves; l++) EXPECT_EQ(la[l] != lb[l], l == s.leaf) << l;
  // A delete is a version too; removing a key entirely empties its partition's root.
  DigestSet c;
  c.Apply("only", Version(), Version::Make(9, 0, 1));
  EXPECT_NE(c.Root(SlotOf("only").partition), 0u);
  c.Apply("only", Version::Make(9, 0, 1), Version());
  EXPECT_EQ(c.Root(SlotOf("only").partition), 0u);
}

TEST(Digest, ALeafIsReplacedOnlyIfNoWriteCameBetween) {
  DigestSet d;
  const KeySlot s = SlotOf("x");
  const uint64_t gen = d.Generation(s.partition);
  d.Apply("x", Version(), Version::Make(1, 0, 1));
  EXPECT_FALSE(d.SetLeafIf(s.partition, s.leaf, 0, gen));
  EXPECT_TRUE(d.SetLeafIf(s.partition, s.leaf, 0, d.Generation(s.partition)));
  EXPECT_EQ(d.Root(s.partition), 0u);
}

// ---- The digest checkpoint (docs/format.md section 8).

TEST(DigestCheckpoint, Issue12ARoundTripsAndEveryDamageIsCorruption) {
  DigestSet d;
  for (int k = 0; k < 500; k++) d.Apply("k" + std::to_string(k), Version(), Version::Make(k + 1, 0, 1));
  const DigestParts parts = d.Snapshot();
  ASSERT_GT(parts.size(), 100u);
  const StoreFingerprint f{501, 500, 3};
  const std::string bytes = EncodeDigestCheckpoint(f, parts);
  StoreFingerprint g;
  DigestParts back;
  ASSERT_TRUE(DecodeDigestCheckpoint(bytes, &g, &back).ok());
  EXPECT_EQ(g, f);
  EXPECT_EQ(back, parts);
  DigestSet r;
  r.Restore(back);
  for (uint32_t p = 0; p < kPartitions; p++) ASSERT_EQ(r.Root(p), d.Root(p)) << p;
  // Every kind of damage: named, and nothing decoded is used.
  auto corrupt = [&](const std::string& b, const std::string& what) {
    Status s = DecodeDigestCheckpoint(b, &g, &back);
    EXPECT_TRUE(s.IsCorruption()) << what << ": " << s.ToString();
    EXPECT_NE(s.message().find(what), std::string::npos) << s.ToString();
  };
  corrupt(bytes.substr(0, 20), "shorter than its header");
  corrupt(bytes.substr(0, bytes.size() - 1), "does not match");
  std::string b = bytes;
  b[0] = 'X';
  corrupt(b, "wrong magic");
  b = bytes;
  b[100] ^= 1;
  corrupt(b, "CRC-32C mismatch");
  b = bytes;
  b[8] = 2;
  corrupt(b, "format 2");
  b = bytes;
  b[12] = 1;  // 65,537 partitions: another build's placement
  corrupt(b, "65537 partitions, this build has 65536");
  b = bytes;
  b[16] = 65;
  corrupt(b, "65 leaves per partition");
  DigestParts swapped = parts;
  std::swap(swapped[0], swapped[1]);
  corrupt(EncodeDigestCheckpoint(f, swapped), "out of order");
  DigestParts past = {{kPartitions, Leaves{}}};
  corrupt(EncodeDigestCheckpoint(f, past), "out of range");
}

class DigestCheckpointStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cairn_dgc_test." + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    StoreOptions so;
    so.volume_capacity = 16 << 20;
    auto s = LocalObjectStore::Open((dir_ / "store").string(), ClusterEngineOptions(so));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    path_ = (dir_ / kDigestCheckpointFile).string();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Writes through a digest, as the cluster does (apply-if-newer).
  void Write(DigestedStore* d, int from, int to) {
    WriteOptions wo;
    wo.condition = WriteCondition::kIfNewer;
    for (int k = from; k < to; k++) {
      wo.version = Version::Make(1000 + k, 0, 1);
      ASSERT_TRUE(d->Put("key-" + std::to_string(k), "v", wo).ok());
    }
    wo.version = Version::Make(5000 + from, 0, 1);
    ASSERT_TRUE(d->Delete("key-" + std::to_string(from), wo).ok());
  }
  static void ExpectSameRoots(DigestedStore& a, DigestedStore& b) {
    for (uint32_t p = 0; p < kPartitions; p++)
      ASSERT_EQ(a.digest().Root(p), b.digest().Root(p)) << "partition " << p;
  }
  std::filesystem::path dir_;
  std::string path_;
  std::unique_ptr<LocalObjectStore> store_;
};

TEST_F(DigestCheckpointStoreTest, Issue12AStartAfterACleanStopReadsTheDigestOnce) {
  DigestedStore before(store_.get());
  Write(&before, 0, 300);
  ASSERT_TRUE(before.SaveCheckpoint(path_).ok());
  DigestedStore after(store_.get());
  Status s = after.LoadCheckpoint(path_);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectSameRoots(before, after);
  DigestedStore scanned(store_.get());
  ASSERT_TRUE(scanned.Rebuild().ok());
  ExpectSameRoots(scanned, after);  // what a scan would have built
  // Consumed: the start after this one (a crash, say) scans.
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_TRUE(DigestedStore(store_.get()).LoadCheckpoint(path_).IsNotFound());
}

TEST_F(DigestCheckpointStoreTest, Issue12AStoreThatChangedSinceTheCheckpointIsScannedInstead) {
  DigestedStore before(store_.get());
  Write(&before, 0, 100);
  ASSERT_TRUE(before.SaveCheckpoint(path_).ok());
  // A write that did not go through this digest (another process's, or after the stop).
  ASSERT_TRUE(store_->Put("outside", "x", WriteOptions()).ok());
  DigestedStore after(store_.get());
  Status s = after.LoadCheckpoint(path_);
  EXPECT_TRUE(s.IsConflict()) << s.ToString();
  EXPECT_NE(s.message().find("changed since"), std::string::npos) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_EQ(after.digest().partitions_held(), 0u);  // nothing of it used
  // A damaged file: Corruption, removed, nothing used.
  ASSERT_TRUE(before.SaveCheckpoint(path_).ok());
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(60);
    f.put('\x7f');
  }
  s = after.LoadCheckpoint(path_);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(path_));
  EXPECT_EQ(after.digest().partitions_held(), 0u);
}

// ---- The wire format (docs/protocol.md section 10).

TEST(DigestWire, RequestsRoundTrip) {
  DigestRequest r;
  r.kind = DigestKind::kRoots;
  r.partitions = {1, 5, 65535};
  DigestRequest back;
  ASSERT_TRUE(DecodeDigestRequest(EncodeDigestRequest(r), &back).ok());
  EXPECT_EQ(back.partitions, r.partitions);
  r = DigestRequest();
  r.kind = DigestKind::kKeys;
  r.leaves = {{1, 0}, {1, 63}, {9, 2}};
  r.start_after = "abc";
  r.max_keys = 100;
  ASSERT_TRUE(DecodeDigestRequest(EncodeDigestRequest(r), &back).ok());
  EXPECT_EQ(back.leaves, r.leaves);
  EXPECT_EQ(back.start_after, "abc");
  EXPECT_EQ(back.max_keys, 100u);
  KeyPage page;
  page.truncated = true;
  page.next_start_after = "zz";
  page.keys = {{"a", Version::Make(1, 2, 3), false}, {"b", Version::Make(4, 5, 6), true}};
  KeyPage pb;
  ASSERT_TRUE(DecodeKeysReply(EncodeKeysReply(page), 10, &pb).ok());
  EXPECT_EQ(pb.keys, page.keys);
  EXPECT_TRUE(pb.truncated);
  EXPECT_EQ(pb.next_start_after, "zz");
}

TEST(DigestWire, AKeysRequestCarriesUpToMaxKeyLeavesLeaves) {
  // 1,000 leaves round-trip, with the longest start_after (kMaxKeysRequestBytes, which
  // server/config.cc checks against the smallest frame meta); one more is the named limit.
  DigestRequest r;
  r.kind = DigestKind::kKeys;
  r.max_keys = kMaxKeysPerReply;
  r.start_after = std::string(kMaxKeyBytes, 'k');
  for (uint32_t i = 0; i < kMaxKeyLeaves; i++) r.leaves.push_back(LeafRef{i / kLeaves, i % kLeaves});
  ASSERT_EQ(r.leaves.size(), 1000u);
  EXPECT_EQ(EncodeDigestRequest(r).size(), kMaxKeysRequestBytes);
  DigestRequest back;
  ASSERT_TRUE(DecodeDigestRequest(EncodeDigestRequest(r), &back).ok());
  EXPECT_EQ(back.leaves, r.leaves);
  r.leaves.push_back(LeafRef{1000, 0});
  Status s = DecodeDigestRequest(EncodeDigestRequest(r), &back);
  EXPECT_TRUE(s.IsLimitExceeded()) << s.ToString();
  EXPECT_NE(s.message().find("max_key_leaves"), std::string::npos) << s.ToString();
}

TEST(DigestWire, MalformedInputGetsAClearError) {
  DigestRequest r;
  auto dec = [&](std::string bytes) { return DecodeDigestRequest(bytes, &r); };
  EXPECT_TRUE(dec("").IsInvalidArgument());
  EXPECT_NE(dec(std::string("\x09", 1)).message().find("unknown kind"), std::string::npos);
  EXPECT_NE(dec(std::string("\x01\x00\x00", 3)).message().find("no partitions"), std::string::npos);
  // 4097 partitions: the named limit.
  Status s = dec(std::string("\x01\x01\x10", 3));
  EXPECT_TRUE(s.IsLimitExceeded()) << s.ToString();
  EXPECT_NE(s.message().find("max_digest_partitions"), std::string::npos);
  // Leaves: at most kMaxLeafPartitions.
  s = dec(std::string("\x02\x41\x00", 3));
  EXPECT_NE(s.message().find("max_leaf_partitions"), std::string::npos) << s.ToString();
  // Out of order, truncated, trailing bytes.
  EXPECT_NE(dec(std::string("\x01\x02\x00\x05\x00\x05\x00", 7)).message().find("increasing"),
            std::string::npos);
  EXPECT_NE(dec(std::string("\x01\x02\x00\x05\x00", 5)).message().find("truncated"), std::string::npos);
  EXPECT_NE(dec(std::string("\x01\x01\x00\x05\x00\x00", 6)).message().find("trailing"), std::string::npos);
  // Keys: a leaf out of range, max_keys 0 or over the limit.
  auto keys = [](uint8_t leaf, uint32_t max) {
    std::string b("\x03\x01\x00\x07\x00", 5);
    b.push_back(static_cast<char>(leaf));
    b.append(std::string("\x00\x00", 2));
    char m[4] = {static_cast<char>(max), static_cast<char>(max >> 8), static_cast<char>(max >> 16),
                 static_cast<char>(max >> 24)};
    b.append(m, 4);
    return b;
  };
  EXPECT_TRUE(dec(keys(3, 10)).ok());
  EXPECT_NE(dec(keys(64, 10)).message().find("leaf 64"), std::string::npos);
  EXPECT_NE(dec(keys(3, 0)).message().find("no keys"), std::string::npos);
  s = dec(keys(3, kMaxKeysPerReply + 1));
  EXPECT_NE(s.message().find("max_digest_keys"), std::string::npos) << s.ToString();
  // Replies: a count that does not match, a key page over what was asked for, bad flags.
  std::vector<uint64_t> roots;
  EXPECT_FALSE(DecodeRootsReply(EncodeRootsReply({1, 2}), 3, &roots).ok());
  EXPECT_FALSE(DecodeRootsReply(EncodeRootsReply({1, 2}) + "x", 2, &roots).ok());
  std::vector<Leaves> leaves;
  EXPECT_FALSE(DecodeLeavesReply(EncodeLeavesReply({Leaves{}}).substr(0, 100), 1, &leaves).ok());
  KeyPage page;
  page.keys = {{"a", Version::Make(1, 0, 1), false}, {"b", Version::Make(1, 0, 1), false}};
  KeyPage pb;
  EXPECT_TRUE(DecodeKeysReply(EncodeKeysReply(page), 1, &pb).IsLimitExceeded());
  std::string bad = EncodeKeysReply(page);
  bad[0] = 2;
  EXPECT_FALSE(DecodeKeysReply(bad, 10, &pb).ok());
  std::swap(page.keys[0], page.keys[1]);
  EXPECT_NE(DecodeKeysReply(EncodeKeysReply(page), 10, &pb).message().find("increasing"),
            std::string::npos);
  // Every truncation of a valid reply fails cleanly.
  std::swap(page.keys[0], page.keys[1]);
  const std::string good = EncodeKeysReply(page);
  for (size_t n = 0; n < good.size(); n++) EXPECT_FALSE(DecodeKeysReply(good.substr(0, n), 10, &pb).ok()) << n;
}

// The decoders live in cairn_cluster, which the fuzz build leaves out (networking): random and
// mutated inputs here instead. Nothing may crash; what decodes re-encodes to the same bytes.
TEST(DigestWire, RandomAndMutatedInputNeverCrashesAndRoundTrips) {
  std::mt19937 rng(12);
  DigestRequest seed;
  seed.kind = DigestKind::kKeys;
  seed.leaves = {{3, 1}, {3, 9}};
  seed.start_after = "k";
  seed.max_keys = 9;
  const std::vector<std::string> seeds = {EncodeDigestRequest(seed), std::string("\x01\x01\x00\x05\x00", 5),
                                          std::string("\x02\x02\x00\x05\x00\x06\x00", 7)};
  for (int i = 0; i < 20000; i++) {
    std::string b = seeds[i % seeds.size()];
    if (i % 2 == 0) {
      b.resize(rng() % 40);
      for (char& c : b) c = static_cast<char>(rng());
    } else {
      for (int m = 0; m < 3; m++) b[rng() % b.size()] = static_cast<char>(rng());
    }
    DigestRequest r;
    if (DecodeDigestRequest(b, &r).ok()) {
      ASSERT_EQ(EncodeDigestRequest(r), b);
    }
    KeyPage p;
    if (DecodeKeysReply(b, kMaxKeysPerReply, &p).ok()) {
      ASSERT_EQ(EncodeKeysReply(p), b);
    }
    std::vector<uint64_t> roots;
    (void)DecodeRootsReply(b, 2, &roots);
  }
}

// ---- Rounds between in-process replicas: three local stores, node 1 leads every partition.

class AntiEntropyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-ae.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (int i = 0; i < 4; i++) {  // the 4th (node 4) only in the transition's tests
      StoreOptions so = ClusterEngineOptions(StoreOptions());  // as cairnd's in a cluster
      so.volume_capacity = 16 << 20;
      so.writer_id = static_cast<uint32_t>(100 + i);
      auto s = LocalObjectStore::Open(dir_ + "/s" + std::to_string(i), so);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      engines_.push_back(std::move(*s));
      stores_.push_back(std::make_unique<DigestedStore>(engines_.back().get()));
      ASSERT_TRUE(stores_.back()->Rebuild().ok());
      peers_.push_back(std::make_unique<LocalDigestPeer>(stores_.back().get()));
    }
    ClusterMap m;
    m.epoch = 1;
    for (NodeId id = 1; id <= 3; id++) m.nodes.push_back(MapNode{id, NodeState::kUp, 1, "", "z"});
    m.placement.replicas = 3;
    m.placement.table.reserve(size_t{kPartitions} * 3);
    for (uint32_t p = 0; p < kPartitions; p++)
      for (NodeId id = 1; id <= 3; id++) m.placement.table.push_back(id);
    view_ = std::make_unique<FixedMapView>(std::move(m));
  }
  void TearDown() override {
    ae_.reset();
    peers_.clear();
    stores_.clear();
    for (auto& e : engines_) (void)e->Close();
    engines_.clear();
    std::filesystem::remove_all(dir_);
  }
  AntiEntropy& Ae(AntiEntropyOptions o = AntiEntropyOptions()) {
    ae_ = std::make_unique<AntiEntropy>(
        o, 1, view_.get(), peers_[0].get(),
        [this](NodeId id) -> std::unique_ptr<DigestPeer> {
          if (unreachable_.count(id) != 0) return nullptr;
          return std::make_unique<LocalDigestPeer>(stores_[id - 1].get());
        },
        &counters_, &stop_, &foreground_);
    return *ae_;
  }
  Status PutTo(int i, const std::string& k, const std::string& v, Version ver) {
    WriteOptions wo;
    wo.condition = WriteCondition::kIfNewer;
    wo.version = ver;
    return stores_[i]->Put(k, v, wo).status();
  }
  Status DeleteAt(int i, const std::string& k, Version ver) {
    WriteOptions wo;
    wo.condition = WriteCondition::kIfNewer;
    wo.version = ver;
    return stores_[i]->Delete(k, wo).status();
  }
  bool Converged() {
    for (uint32_t p = 0; p < kPartitions; p++) {
      const uint64_t r = stores_[0]->digest().Root(p);
      if (stores_[1]->digest().Root(p) != r || stores_[2]->digest().Root(p) != r) return false;
    }
    return true;
  }
  // The digest equals one rebuilt from the store (nothing drifted).
  void ExpectExact(int i) {
    DigestedStore fresh(engines_[i].get());
    ASSERT_TRUE(fresh.Rebuild().ok());
    for (uint32_t p = 0; p < kPartitions; p++)
      ASSERT_EQ(fresh.digest().Root(p), stores_[i]->digest().Root(p)) << "store " << i << " partition " << p;
  }

  std::string dir_;
  std::vector<std::unique_ptr<LocalObjectStore>> engines_;
  std::vector<std::unique_ptr<DigestedStore>> stores_;
  std::vector<std::unique_ptr<LocalDigestPeer>> peers_;
  std::unique_ptr<FixedMapView> view_;
  ClusterCounters counters_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> foreground_{0};  // the node's client requests
  std::set<NodeId> unreachable_;          // peers the round cannot reach
  std::unique_ptr<AntiEntropy> ae_;
};

// A fake clock for the round's throttle: each look at it is 1 ms of work (and, when `busy`, a
// client request arrived meanwhile); a sleep only moves it on and is recorded.
struct FakeThrottleClock {
  std::chrono::steady_clock::time_point t{};
  std::vector<std::chrono::steady_clock::duration> sleeps;
  std::atomic<uint64_t>* foreground = nullptr;
  bool busy = false;
  void Into(AntiEntropyOptions* o) {
    o->now = [this] {
      t += std::chrono::milliseconds(1);
      if (busy) foreground->fetch_add(1);
      return t;
    };
    o->sleep = [this](std::chrono::steady_clock::duration d) {
      sleeps.push_back(d);
      t += d;
    };
  }
  double Slept() const {
    std::chrono::duration<double> s{};
    for (auto d : sleeps) s += d;
    return s.count();
  }
};

TEST_F(AntiEntropyTest, Issue12RacingWritersLeaveTheDigestExact) {
  // Threads write the same few keys with apply-if-newer versions in any order, puts and
  // deletes: each write's "replaced" version comes from the engine, so the XORs add up.
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++)
    ts.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 300; i++) {
        const std::string k = "race-" + std::to_string(rng() % 5);
        const Version v = V(rng() % 20000, static_cast<uint32_t>(t + 1));
        if (rng() % 4 == 0) {
          (void)DeleteAt(0, k, v);
        } else {
          (void)PutTo(0, k, "v" + std::to_string(i), v);
        }
      }
    });
  for (auto& t : ts) t.join();
  ExpectExact(0);
}

TEST_F(AntiEntropyTest, Issue12AWriteTwoReplicasHoldReachesTheThird) {
  const Version va = V(1), vb = V(2);
  ASSERT_TRUE(PutTo(0, "a", "value-a", va).ok());
  ASSERT_TRUE(PutTo(1, "a", "value-a", va).ok());
  // Not on the leader: pulled to it from a peer, and pushed by it to the other.
  ASSERT_TRUE(PutTo(1, "b", "value-b", vb).ok());
  ASSERT_TRUE(PutTo(2, "b", "value-b", vb).ok());
  EXPECT_FALSE(Converged());
  ASSERT_TRUE(Ae().RunRound().ok());
  EXPECT_TRUE(Converged());
  for (int i = 0; i < 3; i++) {
    Result<GetResult> g = stores_[i]->Get("a", ByteRange());
    ASSERT_TRUE(g.ok()) << i << ": " << g.status().ToString();
    EXPECT_EQ(g->data, "value-a");
    EXPECT_EQ(g->info.version, va);
    Result<ObjectInfo> hb = stores_[i]->HeadVersion("b");
    ASSERT_TRUE(hb.ok()) << i;
    EXPECT_EQ(hb->version, vb);
  }
  EXPECT_GE(counters_.ae_keys_repaired.load(), 2u);
  EXPECT_GT(counters_.ae_bytes_pushed.load(), 0u);
  // A round where nothing differs walks no leaf.
  const uint64_t walked = counters_.ae_leaves_walked.load();
  ASSERT_TRUE(ae_->RunRound().ok());
  EXPECT_EQ(counters_.ae_leaves_walked.load(), walked);
  for (int i = 0; i < 3; i++) ExpectExact(i);
}

TEST_F(AntiEntropyTest, Issue12ADeleteReachesTheReplicaThatMissedItAndNewerWritesWin) {
  const Version v1 = V(1), v2 = V(2), v3 = V(3);
  for (int i = 0; i < 3; i++) ASSERT_TRUE(PutTo(i, "gone", "old", v1).ok());
  ASSERT_TRUE(DeleteAt(0, "gone", v2).ok());
  ASSERT_TRUE(DeleteAt(1, "gone", v2).ok());
  // The lagging side holds a newer write of another key: it must win, never be overwritten.
  for (int i = 0; i < 2; i++) ASSERT_TRUE(PutTo(i, "newer", "older-value", v2).ok());
  ASSERT_TRUE(PutTo(2, "newer", "newest-value", v3).ok());
  ASSERT_TRUE(Ae().RunRound().ok());
  ASSERT_TRUE(ae_->RunRound().ok());  // the leader got v3 in the first; the other peer in either
  EXPECT_TRUE(Converged());
  for (int i = 0; i < 3; i++) {
    Result<ObjectInfo> h = stores_[i]->HeadVersion("gone");
    ASSERT_TRUE(h.ok()) << i;
    EXPECT_TRUE(h->deleted) << i;
    EXPECT_EQ(h->version, v2) << i;
    EXPECT_TRUE(stores_[i]->Get("gone", ByteRange()).status().IsNotFound()) << i;
    Result<GetResult> g = stores_[i]->Get("newer", ByteRange());
    ASSERT_TRUE(g.ok()) << i;
    EXPECT_EQ(g->data, "newest-value") << i;
  }
}

TEST_F(AntiEntropyTest, Issue12ARoundIsBoundedAndRoundsConverge) {
  for (int k = 0; k < 40; k++) ASSERT_TRUE(PutTo(1, "many-" + std::to_string(k), "x", V(k)).ok());
  AntiEntropyOptions o;
  o.max_keys_per_round = 7;
  AntiEntropy& ae = Ae(o);
  int rounds = 0;
  uint64_t before = 0;
  while (!Converged() && rounds < 100) {
    ASSERT_TRUE(ae.RunRound().ok());
    const uint64_t now = counters_.ae_keys_repaired.load();
    EXPECT_LE(now - before, 7u) << "round " << rounds;
    before = now;
    rounds++;
  }
  EXPECT_TRUE(Converged()) << "after " << rounds << " rounds";
  EXPECT_GE(rounds, 80 / 7);  // 40 keys to two stores: 80 repairs, 7 per round
}

TEST_F(AntiEntropyTest, Issue12AValueBelowTheTombstoneHorizonIsNeverPushedBack) {
  // Store 0 forgot the delete (a tombstone dropped at its horizon: no entry, horizon above);
  // store 1 missed the delete and still holds the old value. The push is refused by store 0,
  // so the key does not come back there.
  const Version old = V(1);
  ASSERT_TRUE(PutTo(1, "forgotten", "old", old).ok());
  ASSERT_TRUE(engines_[0]->store()->SetTombstoneHorizon(V(5)).ok());
  ASSERT_TRUE(Ae().RunRound().ok());
  EXPECT_TRUE(stores_[0]->HeadVersion("forgotten").status().IsNotFound());
  EXPECT_GE(counters_.ae_repairs_refused.load(), 1u);
}

constexpr uint64_t kDayMs = uint64_t{24} * 3600 * 1000;

TEST_F(AntiEntropyTest, Issue12AnObjectOlderThanTheEnginesTombstoneTtlReachesAnEmptyReplica) {
  // A cluster's objects outlive the engine's default tombstone TTL (10 days). A new or rebuilt
  // replica holds no entry of them; with a horizon that moved with the clock it refused every
  // copy as "a delete of it may have been forgotten", so it could never be filled, and a
  // transition onto it never synced.
  const Version month_old = Version::Make(NowMs() - 30 * kDayMs, 0, 7);
  ASSERT_TRUE(PutTo(1, "month-old", "kept for a month", month_old).ok());
  ASSERT_TRUE(Ae().RunRound().ok());
  for (int i = 0; i < 3; i++) {
    Result<ObjectInfo> v = stores_[i]->HeadVersion("month-old");
    ASSERT_TRUE(v.ok()) << "store " << i << ": " << v.status().ToString();
    EXPECT_EQ(v->version, month_old) << "store " << i;
  }
  EXPECT_EQ(counters_.ae_repairs_refused.load(), 0u);
  EXPECT_TRUE(Converged());
}

TEST_F(AntiEntropyTest, Issue12ATombstoneOutlivesTheTtlWhileAReplicaThatMissedTheDeleteIsAway) {
  // Stores 0 and 1 took a delete 20 days ago; store 2 was away since before it and still
  // holds the value. Reclamation on 0 and 1 keeps the tombstone (a 10-day TTL dropped it, and
  // the value then came back from store 2 on every read that asked it): when store 2 returns,
  // the first round hands it the delete, and the key is back nowhere.
  const Version put = Version::Make(NowMs() - 21 * kDayMs, 0, 7);
  const Version del = Version::Make(NowMs() - 20 * kDayMs, 0, 7);
  for (int i = 0; i < 3; i++) ASSERT_TRUE(PutTo(i, "deleted-long-ago", "old", put).ok());
  for (int i = 0; i < 2; i++) {
    ASSERT_TRUE(DeleteAt(i, "deleted-long-ago", del).ok());
    ReclaimOptions ro;
    ro.throttle = false;
    Result<ReclaimReport> r = engines_[i]->store()->Reclaim(ro);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->tombstones_dropped, 0u) << "store " << i;
  }
  ASSERT_TRUE(Ae().RunRound().ok());
  for (int i = 0; i < 3; i++) {
    EXPECT_TRUE(stores_[i]->Head("deleted-long-ago").status().IsNotFound()) << "store " << i;
    Result<ObjectInfo> t = stores_[i]->HeadVersion("deleted-long-ago");
    ASSERT_TRUE(t.ok()) << "store " << i << ": " << t.status().ToString();
    EXPECT_TRUE(t->deleted) << "store " << i;
    EXPECT_EQ(t->version, del) << "store " << i;
  }
  EXPECT_EQ(counters_.ae_repairs_refused.load(), 0u);
  EXPECT_TRUE(Converged());
}

TEST_F(AntiEntropyTest, Issue12ARoundKeepsToItsIoBudget) {
  // 30 values of 100 KiB on store 1 only: 60 pushes of 100 KiB + kPushCostBytes at 1 MB/s, of
  // which the bucket's first second is credit.
  const std::string value(100 << 10, 'v');
  for (int k = 0; k < 30; k++) ASSERT_TRUE(PutTo(1, "b-" + std::to_string(k), value, V(k)).ok());
  FakeThrottleClock clock;
  clock.foreground = &foreground_;
  AntiEntropyOptions o;
  o.max_mbps = 1;
  clock.Into(&o);
  const auto start = clock.t;
  ASSERT_TRUE(Ae(o).RunRound().ok());
  EXPECT_TRUE(Converged());
  const double cost = 60.0 * (value.size() + kPushCostBytes) / 1e6;  // MB = seconds at 1 MB/s
  // The round lasted at least its cost less the credit (its fake work counts: 1 ms per look at
  // the clock), and it slept no longer than the whole cost.
  EXPECT_GE(std::chrono::duration<double>(clock.t - start).count(), cost - 1.0);
  EXPECT_GE(clock.Slept(), cost - 1.0 - 0.5);
  EXPECT_LE(clock.Slept(), cost);
}

// Issue 12 item 4: a round's pushes are admitted by the process's one budget for background work
// (cairn/background.h), shared with reclamation and hint replay.
TEST_F(AntiEntropyTest, Issue12ARoundIsAdmittedByTheOneBackgroundBudget) {
  const std::string value(100 << 10, 'v');
  for (int k = 0; k < 30; k++) ASSERT_TRUE(PutTo(1, "s-" + std::to_string(k), value, V(k)).ok());
  FakeThrottleClock clock;
  clock.foreground = &foreground_;
  AntiEntropyOptions o;
  clock.Into(&o);
  BackgroundSchedulerOptions bo;
  bo.max_mbps = 1;
  bo.latency_control = false;
  bo.now = o.now;
  bo.sleep = o.sleep;
  BackgroundScheduler background(bo);
  o.scheduler = &background;
  ASSERT_TRUE(Ae(o).RunRound().ok());
  EXPECT_TRUE(Converged());
  // 60 pushes of 100 KiB + kPushCostBytes, all admitted as repair, and at 1 MB/s (the bucket
  // holds a tenth of a second) the round waited for nearly all of them.
  const BackgroundSchedulerStats st = background.stats();
  const size_t repair = static_cast<size_t>(BackgroundActivity::kRepair);
  EXPECT_EQ(st.admitted_bytes[repair], 60 * (value.size() + kPushCostBytes));
  const double cost = 60.0 * (value.size() + kPushCostBytes) / 1e6;
  EXPECT_GE(clock.Slept(), cost - 0.1 - 0.5);
  EXPECT_LE(clock.Slept(), cost);
}

TEST_F(AntiEntropyTest, Issue12ARoundYieldsWhileClientsAreServedAndNotOtherwise) {
  for (int k = 0; k < 40; k++) ASSERT_TRUE(PutTo(1, "y-" + std::to_string(k), "x", V(k)).ok());
  {  // no client request: no pause, however much is pushed
    FakeThrottleClock clock;
    clock.foreground = &foreground_;
    AntiEntropyOptions o;
    clock.Into(&o);
    ASSERT_TRUE(Ae(o).RunRound().ok());
    EXPECT_TRUE(Converged());
    EXPECT_TRUE(clock.sleeps.empty()) << clock.sleeps.size() << " pauses";
  }
  for (int k = 0; k < 40; k++) ASSERT_TRUE(PutTo(0, "y-" + std::to_string(k), "newer", V(100 + k)).ok());
  {  // requests keep arriving: the round sleeps about as long as it worked
    FakeThrottleClock clock;
    clock.foreground = &foreground_;
    clock.busy = true;
    AntiEntropyOptions o;
    clock.Into(&o);
    const auto start = clock.t;
    ASSERT_TRUE(Ae(o).RunRound().ok());
    EXPECT_TRUE(Converged());
    const double total = std::chrono::duration<double>(clock.t - start).count();
    EXPECT_FALSE(clock.sleeps.empty());
    EXPECT_GE(clock.Slept(), 0.3 * total) << "slept " << clock.Slept() << " s of " << total;
    EXPECT_LE(clock.Slept(), 0.5 * total + 0.011);  // at most its work, less what is carried
  }
}

TEST_F(AntiEntropyTest, Issue12AStopEndsABudgetPauseAtOnce) {
  // One 16 MiB push at 1 MB/s owes a pause of about 16 s after it; a node that stops then
  // must not wait it out (the real sleep, looking at the stop flag every kStopCheckMs).
  ASSERT_TRUE(PutTo(1, "big", std::string(16 << 20, 'b'), V(1)).ok());
  AntiEntropyOptions o;
  o.max_mbps = 1;
  AntiEntropy& ae = Ae(o);
  const auto start = std::chrono::steady_clock::now();
  std::thread round([&ae] { (void)ae.RunRound(); });
  // Stop once the first push is made (its pause has begun), then the round ends.
  for (int i = 0; i < 2000 && counters_.ae_keys_repaired.load() == 0; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(counters_.ae_keys_repaired.load(), 1u);
  stop_ = true;
  round.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(12))
      << "the round waited out its pause after the stop";
}

TEST_F(AntiEntropyTest, Issue12AStopRequestEndsARoundEarly) {
  for (int k = 0; k < 20; k++) ASSERT_TRUE(PutTo(1, "s-" + std::to_string(k), "x", V(k)).ok());
  stop_ = true;
  ASSERT_TRUE(Ae().RunRound().ok());
  EXPECT_EQ(counters_.ae_keys_repaired.load(), 0u);
}


// ---- The sync of a transition: every partition moves from row {1,2,3} to row {1,2,4}.

class AntiEntropySyncTest : public AntiEntropyTest {
 protected:
  static constexpr uint64_t kEpoch = 2;
  void SetUp() override {
    AntiEntropyTest::SetUp();
    ClusterMap m;
    m.epoch = kEpoch;
    for (NodeId id = 1; id <= 4; id++) m.nodes.push_back(MapNode{id, NodeState::kUp, 1, "", "z"});
    m.placement.replicas = 3;
    m.prev.replicas = 3;
    for (uint32_t p = 0; p < kPartitions; p++) {
      for (NodeId id : {1, 2, 4}) m.placement.table.push_back(id);
      for (NodeId id : {1, 2, 3}) m.prev.table.push_back(id);
    }
    view_->Set(std::move(m));
  }
  AntiEntropy& SyncAe(AntiEntropyOptions o = AntiEntropyOptions()) {
    clock_.foreground = &foreground_;
    clock_.Into(&o);
    return Ae(o);
  }
  // One round, then the settle's time passes.
  void Round() {
    ASSERT_TRUE(ae_->RunRound(/*moving_only=*/true).ok());
    clock_.t += std::chrono::milliseconds(kSyncSettleMs + 100);
  }
  bool Synced() const { return ae_->synced_epoch() >= kEpoch; }
  // Every store holds `k` at `v` or newer.
  void ExpectEverywhere(const std::string& k, Version v) {
    for (int i = 0; i < 4; i++) {
      Result<ObjectInfo> h = stores_[i]->HeadVersion(k);
      ASSERT_TRUE(h.ok()) << k << " on store " << i << ": " << h.status().ToString();
      EXPECT_GE(h->version, v) << k << " on store " << i;
    }
  }
  FakeThrottleClock clock_;
};

TEST_F(AntiEntropySyncTest, Issue12AMovingPartitionSyncsWhileWritesKeepArriving) {
  // Acknowledged under the old map: on nodes 1 and 2 only.
  std::vector<Version> old;
  for (int k = 0; k < 50; k++) {
    old.push_back(V(k));
    for (int i = 0; i < 2; i++) ASSERT_TRUE(PutTo(i, "old-" + std::to_string(k), "x", old[k]).ok());
  }
  SyncAe();
  // Before each round, writes in flight under the new map: a hot key one peer has a newer
  // version of, and a fresh key only the new member has yet. The roots never agree, which
  // once kept the partition from syncing until the load stopped.
  int rounds = 0;
  std::map<std::string, Version> held;  // what some replica held when the syncing round began
  for (; rounds < 10 && !Synced(); rounds++) {
    const Version hot = V(1000 + rounds), fresh = V(2000 + rounds);
    ASSERT_TRUE(PutTo(1, "hot", "h" + std::to_string(rounds), hot).ok());
    ASSERT_TRUE(PutTo(3, "new-" + std::to_string(rounds), "n", fresh).ok());
    held["hot"] = hot;
    held["new-" + std::to_string(rounds)] = fresh;
    Round();
  }
  ASSERT_TRUE(Synced()) << "not synced after " << rounds << " rounds";
  EXPECT_LE(rounds, 2);  // the first round sees each replica at the epoch; the next syncs
  for (int k = 0; k < 50; k++) ExpectEverywhere("old-" + std::to_string(k), old[k]);
  for (const auto& [k, v] : held) ExpectEverywhere(k, v);
  EXPECT_EQ(ae_->progress().synced, ae_->progress().total);
}

TEST_F(AntiEntropySyncTest, Issue12AKeyPulledFromALaterPeerReachesTheEarlierOnesInTheSameRound) {
  SyncAe();
  Round();  // nothing differs; each replica is seen at the epoch
  EXPECT_FALSE(Synced());  // not before the settle
  // Only node 3 holds it: node 2 is compared first and lacks it, as the leader does then.
  const Version v = V(1);
  ASSERT_TRUE(PutTo(2, "late", "value", v).ok());
  Round();
  ASSERT_TRUE(Synced());
  ExpectEverywhere("late", v);  // node 2 and node 4 included, in that one round
}

TEST_F(AntiEntropySyncTest, Issue12ARoundCutShortByItsBoundDoesNotSync) {
  std::vector<Version> v;
  for (int k = 0; k < 40; k++) {
    v.push_back(V(k));
    ASSERT_TRUE(PutTo(1, "many-" + std::to_string(k), "x", v[k]).ok());
  }
  AntiEntropyOptions o;
  o.max_keys_per_round = 7;
  SyncAe(o);
  int rounds = 0;
  for (; rounds < 100 && !Synced(); rounds++) Round();
  ASSERT_TRUE(Synced());
  EXPECT_GE(rounds, 120 / 7);  // 40 keys to three stores, 7 per round
  for (int k = 0; k < 40; k++) ExpectEverywhere("many-" + std::to_string(k), v[k]);
}

TEST_F(AntiEntropySyncTest, Issue12AnUnreachableNewMemberKeepsThePartitionUnsynced) {
  unreachable_.insert(4);
  SyncAe();
  for (int r = 0; r < 5; r++) Round();
  EXPECT_FALSE(Synced());
  EXPECT_TRUE(ae_->pending());
  unreachable_.clear();
  Round();
  Round();
  EXPECT_TRUE(Synced());
  EXPECT_FALSE(ae_->pending());
}

TEST_F(AntiEntropySyncTest, Issue12ACopyANewMemberRefusesKeepsThePartitionUnsynced) {
  // Node 4 (the new member) forgot deletes up to its horizon: it refuses the old value, so the
  // round's walk did not copy it, and the partition must not sync without it.
  const Version old = V(1);
  for (int i = 0; i < 2; i++) ASSERT_TRUE(PutTo(i, "refused", "x", old).ok());
  ASSERT_TRUE(engines_[3]->store()->SetTombstoneHorizon(V(5)).ok());
  SyncAe();
  for (int r = 0; r < 5; r++) Round();
  EXPECT_FALSE(Synced());
  EXPECT_TRUE(stores_[3]->HeadVersion("refused").status().IsNotFound());
  EXPECT_GE(counters_.ae_repairs_refused.load(), 1u);
}

TEST_F(AntiEntropySyncTest, Issue12AKeyTheLeaderRefusesToPullKeepsThePartitionUnsynced) {
  // Only node 3 holds it and the leader refuses it (its horizon): nothing to fan out, and the
  // other members lack it, so the partition must not sync.
  const Version old = V(1);
  ASSERT_TRUE(PutTo(2, "unpulled", "x", old).ok());
  ASSERT_TRUE(engines_[0]->store()->SetTombstoneHorizon(V(5)).ok());
  SyncAe();
  for (int r = 0; r < 5; r++) Round();
  EXPECT_FALSE(Synced());
}

TEST_F(AntiEntropySyncTest, Issue12ANewMemberDownInTheMapKeepsThePartitionUnsynced) {
  // Every member of the new row must be up: node 4 down, so no round syncs, however finished.
  ClusterMap m = *view_->map();
  m.nodes[3].state = NodeState::kDown;
  view_->Set(std::move(m));
  SyncAe();
  for (int r = 0; r < 5; r++) Round();
  EXPECT_FALSE(Synced());
  EXPECT_TRUE(ae_->pending());
}

TEST_F(AntiEntropySyncTest, Issue12ALeaderWithAReplicaWriteOfTheOldMapInFlightDoesNotSync) {
  // A replica write sent to the leader under the old map (epoch 1), admitted before its map
  // moved, is still in its store's commit (the DIGEST fence holds its place). The leader's own
  // store is not seen at the epoch until it is done, so no round may sync meanwhile: the write
  // lands afterwards, on the leader alone.
  std::atomic<uint64_t> cell{kEpoch - 1};
  EpochFence fence(&cell);
  uint64_t ours = 0;
  std::shared_ptr<const void> in_commit = fence.Enter(kEpoch - 1, &ours);
  ASSERT_NE(in_commit, nullptr);
  cell = kEpoch;
  AntiEntropyOptions o;
  o.fence = &fence;
  SyncAe(o);
  for (int r = 0; r < 5; r++) Round();
  EXPECT_FALSE(Synced()) << "synced while a write of the old map could still land on the leader";
  const Version late = V(7);
  ASSERT_TRUE(PutTo(0, "late-old", "x", late).ok());
  in_commit.reset();
  int rounds = 0;
  for (; rounds < 5 && !Synced(); rounds++) Round();
  ASSERT_TRUE(Synced());
  ExpectEverywhere("late-old", late);
}

}  // namespace
}  // namespace cairn::cluster
