// AntiEntropy: a node's background repair of what hints did not carry (docs/cluster.md
// "Anti-entropy"; CLUSTER.md section 5; issue 12).
//
// A round, every anti_entropy_interval_ms: for each partition whose first *up* replica (in row
// order) is this node, so that one node per partition does the work, this node compares its
// digest root with each other up replica's (DIGEST roots), walks only the partitions whose
// roots differ (DIGEST leaves), lists the keys of only the leaves that differ on both sides
// (DIGEST keys), and for each key whose versions differ pushes the newer record (a value or a
// delete's tombstone) from whichever side holds it to the other as an apply-if-newer write, as
// hint replay does: a repair never overwrites a newer version, never brings back a key whose
// delete the target holds, and a target refuses a version at or below its tombstone horizon.
//
// While a transition is in flight (ClusterMap::prev), a moving partition's replicas are the
// up members of its old row and its new one (cluster/transition.h); its leader compares all
// of them. A key the leader pulls from one of them it pushes on at once to every other (so a
// round leaves each replica holding everything any of them held when it was listed, whatever
// order the peers are compared in). The partition is **synced** for the map's epoch by the
// second of two rounds (the second starting at least kSyncSettleMs after the first ended) that
// each compared it with every replica and finished: roots equal, or every differing leaf
// walked to its keys and every push copied (the target holds that version or a newer one: a
// refusal, at a horizon or a limit, is not a copy), not cut short by a bound, a stop or an
// error; the second also started at least kSyncSettleMs after each replica first answered a
// DIGEST at the epoch; both with every member of the new row up and a majority of the old
// row's. A peer answers a
// DIGEST only once its map is at the sender's epoch (it refuses writes sent under an older map
// from then on), so a write that raced the map change is in the data compared, or was sent
// under the new map, which writes the new row too. Writes in flight during the round do not
// delay it (they were sent under the new map). synced_epoch() is the highest epoch for which
// every moving partition this node leads is synced: the node reports it in etcd
// (synced/<node>), and the controller retires the transition once every up node has
// (docs/cluster.md "Map transitions").
//
// Bounded per round (named bounds: max_keys_per_round repairs, max_bytes_per_round pushed); a
// round that stops at a bound leaves the rest to the next. Checks `stop` between steps.
//
// Thread safety: RunRound from one thread at a time; counters from anywhere.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <functional>
#include <memory>

#include "cairn/client.h"
#include "cluster/anti_entropy_wire.h"
#include "cluster/cluster_store.h"
#include "cluster/digested_store.h"
#include "cluster/epoch_fence.h"
#include "cluster/map_view.h"
#include "util/background_throttle.h"

namespace cairn::cluster {

struct AntiEntropyOptions {
  // 0 disables. Default 60 s: a write one replica missed, with no hint, is found within a
  // round (issue 12's target: 10 minutes); a round where nothing differs costs one DIGEST roots
  // request per 4,096 partitions per peer and no disk read.
  uint32_t interval_ms = 60000;
  uint32_t max_keys_per_round = 10000;                   // named bound: repairs per round
  uint64_t max_bytes_per_round = uint64_t{256} << 20;    // named bound: value bytes pushed
  // The rounds' I/O budget in MB/s (anti_entropy_mbps): value bytes pushed plus
  // kPushCostBytes per record pushed; 0: none. Whatever the budget, a round yields to the
  // node's client requests (util/background_throttle.h): while they keep arriving it sleeps as
  // long as it worked, so under a steady load it works at most half of the wall time. A pause
  // ends early when the node stops (a large object's push can owe minutes of budget).
  uint32_t max_mbps = 0;
  // The process's one budget for background work (cairn/background.h): every push and listing
  // is admitted by it too, as BackgroundActivity::kRepair. nullptr: none.
  BackgroundScheduler* scheduler = nullptr;
  // This node's replica writes in flight by the epoch they were sent under (the DIGEST fence):
  // the leader's own store counts as seen at an epoch only once none sent under an older one is
  // left. nullptr: the store is seen at the epoch from the first round (tests of one process).
  EpochFence* fence = nullptr;
  // Tests: the clock (of the throttle and of the sync's settle) and the throttle's sleep
  // (default: the steady clock, and a sleep that the stop flag cuts short).
  std::function<std::chrono::steady_clock::time_point()> now;
  std::function<void(std::chrono::steady_clock::duration)> sleep;
};

// What a pushed record costs the budget beyond its value: its head, its index entry, its share
// of a sync, the round trip (named bound).
inline constexpr uint64_t kPushCostBytes = 4096;
// Named bound: how often a round's pause looks at the stop flag.
inline constexpr uint32_t kStopCheckMs = 50;
// Named bound: how often a push looks again at a key put again between its read and the look
// for its tombstone.
inline constexpr uint32_t kPushAttempts = 3;

// One replica as a round talks to it.
class DigestPeer {
 public:
  virtual ~DigestPeer() = default;
  // The reply body of a DIGEST request.
  virtual Result<std::string> Call(const DigestRequest& r) = 0;
  // Its own store: what a repair reads from and pushes to.
  virtual ObjectStore* store() = 0;
};

// This node: answered from the digest and store in this process.
class LocalDigestPeer final : public DigestPeer {
 public:
  explicit LocalDigestPeer(DigestedStore* s) : s_(s) {}
  Result<std::string> Call(const DigestRequest& r) override { return ServeDigest(s_, r); }
  ObjectStore* store() override { return s_; }

 private:
  DigestedStore* s_;
};

// Another node, through a client of role kReplica.
class RemoteDigestPeer final : public DigestPeer {
 public:
  explicit RemoteDigestPeer(Client* c) : c_(c) {}
  Result<std::string> Call(const DigestRequest& r) override {
    return c_->Digest(EncodeDigestRequest(r));
  }
  ObjectStore* store() override { return c_; }

 private:
  Client* c_;
};

class AntiEntropy {
 public:
  // `peer_for` gives a peer for another node (nullptr: unknown now).
  // `foreground_ops`: bumped by every client request the node serves (nullptr: none, so a
  // round never yields; the budget still holds).
  AntiEntropy(AntiEntropyOptions o, NodeId self, MapView* view, DigestPeer* local,
              std::function<std::unique_ptr<DigestPeer>(NodeId)> peer_for,
              ClusterCounters* counters, const std::atomic<bool>* stop,
              const std::atomic<uint64_t>* foreground_ops = nullptr);
  // One round. OK even when some peer failed (counted in errors; the next round retries).
  // `moving_only`: only the partitions of a transition in flight that are not synced yet (the
  // prompt rounds a transition needs, beside the periodic ones).
  Status RunRound(bool moving_only = false);
  // The highest epoch for which every moving partition this node leads was found synced (0:
  // none yet). A map with no transition counts as synced once a round ran on it.
  uint64_t synced_epoch() const { return synced_epoch_.load(); }
  // Whether the current map's transition has partitions this node leads that are not synced.
  bool pending() const;
  // The moving partitions this node leads at `epoch` and how many of them are synced, as of
  // the last round (published for `cairn cluster status`'s progress).
  struct SyncProgress {
    uint64_t epoch = 0;
    uint32_t synced = 0;
    uint32_t total = 0;
    bool operator==(const SyncProgress&) const = default;
  };
  SyncProgress progress() const;
  const AntiEntropyOptions& options() const { return o_; }

 private:
  struct Budget {
    uint64_t keys = 0;
    uint64_t bytes = 0;
    bool spent() const;
  };
  // Compares `parts` (led by this node, `peer` up in each row) with one peer. Adds to
  // `finished` the partitions whose comparison finished: roots equal, or every differing leaf
  // repaired (even when it returns an error for a later one).
  Status ComparePeer(NodeId node, DigestPeer* peer, const std::vector<uint32_t>& parts,
                     Budget* b, std::vector<uint32_t>* finished);
  // Repairs every key that differs in `leaves`; `*finished`: no bound or stop cut it short.
  Status RepairLeaves(NodeId node, DigestPeer* peer, const std::vector<LeafRef>& leaves,
                      Budget* b, bool* finished);
  // After a key of a moving partition was pulled from `from`: pushes it on to the partition's
  // other replicas. One that fails leaves the partition unfinished this round.
  void FanOut(NodeId from, const std::string& key, Budget* b);
  // The round's peer for `node` (made once per round; nullptr: unknown now).
  DigestPeer* PeerFor(NodeId node);
  std::chrono::steady_clock::time_point Now() const {
    return o_.now ? o_.now() : std::chrono::steady_clock::now();
  }
  Result<std::vector<KeyVersion>> AllKeys(DigestPeer* p, const std::vector<LeafRef>& leaves);
  // Pushes `from`'s current record of `key` to `to` (apply-if-newer). `*copied`: `to` now holds
  // that version or a newer one (false when it refused it: its limits, its tombstone horizon;
  // or when `from` no longer holds the key, or kept putting and deleting it while looked at).
  Status Push(ObjectStore* from, ObjectStore* to, const std::string& key, Budget* b,
              bool* copied);
  bool stopping() const { return stop_ != nullptr && stop_->load(std::memory_order_relaxed); }
  // After a step of a round (a push, a listing): the throttle's pause, if any.
  void Paced(uint64_t cost) { throttle_.Step(cost, o_.max_mbps, stopping()); }
  // The throttle's default sleep: `d` in slices of kStopCheckMs, until `stop`.
  void SleepUnlessStopped(std::chrono::steady_clock::duration d);

  AntiEntropyOptions o_;
  NodeId self_;
  MapView* view_;
  DigestPeer* local_;
  std::function<std::unique_ptr<DigestPeer>(NodeId)> peer_for_;
  ClusterCounters* counters_;  // the ae_* ones
  const std::atomic<bool>* stop_;
  const std::atomic<uint64_t> no_foreground_{0};
  BackgroundThrottle throttle_;  // RunRound's thread only
  // Sync of the transition at sync_epoch_ (RunRound's thread only): when each replica (this
  // node included) was first seen at the epoch, and the moving partitions synced.
  uint64_t sync_epoch_ = 0;
  std::map<NodeId, std::chrono::steady_clock::time_point> seen_;
  // When the first finished round of each moving partition led here ended.
  std::map<uint32_t, std::chrono::steady_clock::time_point> first_finished_;
  std::set<uint32_t> synced_;
  // This round's (RunRound's thread only): its peers, the other replicas of each moving
  // partition it compares (for FanOut), and the moving partitions a fan-out failed for.
  std::map<NodeId, std::unique_ptr<DigestPeer>> round_peers_;
  std::map<uint32_t, std::vector<NodeId>> moving_replicas_;
  std::set<uint32_t> fanout_failed_;
  std::set<NodeId> failed_peers_;  // a request to them failed: not asked again this round
  uint64_t round_number_ = 0;      // rotates the order the peers are compared in
  std::atomic<uint64_t> synced_epoch_{0};
  std::atomic<bool> pending_{false};
  mutable std::mutex progress_mu_;
  SyncProgress progress_;  // GUARDED_BY(progress_mu_)
};

// Named bound: a moving partition is declared synced only by a finished round that starts at
// least this long after its first finished round ended and after each of its replicas first
// answered at the epoch (a write accepted under the old map just before a replica installed
// the new one, still in its commit, is then in the data compared).
inline constexpr uint32_t kSyncSettleMs = 500;

}  // namespace cairn::cluster
