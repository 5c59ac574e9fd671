// ClusterNode: what makes a cairnd a cluster node (docs/cluster.md): its membership in etcd,
// its hint queues and their replayer, its anti-entropy digest and rounds (cluster/anti_entropy.h),
// its peers, and the stores that serve each routing role:
//   kAny        the cluster (coordinates when this node is a replica of the key, else routes)
//   kCoordinate the cluster, never routed on (the sender chose this node)
//   kReplica    this node's own store (only for peers holding the cluster's member key),
//               through the digest (cluster/digested_store.h), as every cluster write here
//
// Thread safety: every method from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <thread>

#include "cairn/client.h"
#include "cairn/options.h"
#include "cluster/anti_entropy.h"
#include "cluster/cluster_store.h"
#include "cluster/digested_store.h"
#include "cluster/epoch_fence.h"
#include "cluster/hint_log.h"
#include "cluster/membership.h"
#include "cluster/peer_pool.h"

namespace cairn::cluster {

struct ClusterNodeOptions {
  MembershipOptions membership;
  std::string data_dir;             // hints/ and NODE_ID live here
  ClientKey member_key;             // nodes authenticate each other with it
  WritePolicy write_policy = WritePolicy::kQuorum;
  HintLogOptions hints;
  uint32_t replica_timeout_ms = 3000;
  uint32_t hint_replay_interval_ms = 500;
  AntiEntropyOptions anti_entropy;  // interval_ms 0: no rounds (the digest is still kept)
  // The process's one budget for background work (cairn/background.h): hint replay is admitted
  // by it, and anti-entropy too unless anti_entropy.scheduler names another. nullptr: none.
  BackgroundScheduler* background = nullptr;
  std::function<uint64_t()> now_ms;  // tests skew a node's clock
  // The local store's write error (Store::WriteError), looked at every hint replay tick: once
  // it is not OK the node leaves the cluster (Membership::Leave). Unset: never looked at.
  std::function<Status()> store_write_error;
};

// The engine options a cluster node's store runs with: `so` with what the cluster needs of it.
// tombstone_ttl_ms is 0: a tombstone is kept until the cluster says every replica holds it
// (Store::SetTombstoneHorizon; docs/cluster.md "Tombstones and their collection"). A horizon
// that moved with the clock would let a replica forget a delete that a replica away longer
// missed, and would refuse, as "below the horizon", every copy of an object older than the
// TTL that a new or rebuilt replica needs (a kIfNewer write of a key with no entry).
StoreOptions ClusterEngineOptions(StoreOptions so);

// The anti-entropy digest a clean stop leaves in the data directory (docs/format.md section 8).
inline constexpr char kDigestCheckpointFile[] = "DIGEST_CHECKPOINT";

struct HintReplayStats {
  uint64_t replayed = 0;
  uint64_t skipped = 0;  // this node no longer held the version (anti-entropy's work)
};

class ClusterNode {
 public:
  static Result<std::unique_ptr<ClusterNode>> Start(ClusterNodeOptions options, ObjectStore* local);
  ~ClusterNode();
  void Stop();
  // After Stop, before the store closes (no write through the node's stores any more): writes
  // the digest with the store's fingerprint to DIGEST_CHECKPOINT in the data directory, so the
  // next start reads it instead of scanning the store (docs/format.md section 8). A caller
  // whose store then fails to close removes the file (DigestCheckpointPath).
  Status SaveDigestCheckpoint();
  std::string DigestCheckpointPath() const;
  // Whether this start read the digest from the checkpoint (else it scanned the store).
  bool digest_from_checkpoint() const { return digest_from_checkpoint_; }

  ObjectStore* StoreFor(RoutingRole role);
  // Answers a DIGEST request from a peer (docs/protocol.md section 10): the reply body.
  Result<std::string> ServeDigest(std::string_view request);
  DigestedStore* digested() { return digested_.get(); }
  // The replica writes in flight by the epoch they were sent under (the DIGEST fence): the
  // server admits each replica PUT and DELETE through it, and answers a DIGEST only when none
  // older than the DIGEST's epoch is left.
  EpochFence* fence() { return fence_.get(); }
  uint64_t epoch() const { return membership_->epoch_cell()->load(std::memory_order_acquire); }
  void NoteEpoch(uint64_t epoch) { membership_->NoteEpoch(epoch); }
  bool IsMemberKey(std::string_view key_id) const { return key_id == options_.member_key.id; }
  Membership* membership() { return membership_.get(); }
  HintLog* hints() { return hints_.get(); }
  ClusterShared& shared() { return *shared_; }
  WritePolicy write_policy() const { return options_.write_policy; }
  // This node's share of a transition's sync (cluster/anti_entropy.h), as of its last round.
  AntiEntropy::SyncProgress sync_progress() const { return anti_entropy_->progress(); }
  HintReplayStats replay_stats() const {
    return HintReplayStats{shared_->counters().hints_replayed.load(),
                           shared_->counters().hints_skipped.load()};
  }

 private:
  explicit ClusterNode(ClusterNodeOptions options) : options_(std::move(options)) {}
  void ReplayLoop();
  void AntiEntropyLoop();
  // Replays `target`'s queue until it is empty, the target fails (false), or kReplayTick has
  // passed (true, and *timed_out set).
  bool ReplayTo(NodeId target, bool* timed_out);

  ClusterNodeOptions options_;
  // This node's store as the cluster writes it: the engine's, through the digest.
  std::unique_ptr<DigestedStore> digested_;
  ObjectStore* local_ = nullptr;
  std::unique_ptr<LocalDigestPeer> local_peer_;
  std::unique_ptr<AntiEntropy> anti_entropy_;
  std::unique_ptr<HintLog> hints_;
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<EpochFence> fence_;
  std::unique_ptr<FencedStore> fenced_local_;  // local_ as the coordinators write it
  std::unique_ptr<PeerPool> peers_;
  std::shared_ptr<ClusterShared> shared_;
  std::unique_ptr<ClusterObjectStore> any_;
  std::unique_ptr<ClusterObjectStore> coordinate_;
  std::atomic<bool> stop_{false};
  bool digest_from_checkpoint_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread replayer_;
  std::thread anti_entropy_thread_;
};

}  // namespace cairn::cluster
