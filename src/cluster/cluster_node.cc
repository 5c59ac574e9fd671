#include "cluster/cluster_node.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "util/escape.h"
#include "util/thread_name.h"

namespace cairn::cluster {
namespace {

// Named bound: hints read from a queue per batch.
constexpr size_t kReplayBatch = 256;
// How long one tick replays one queue: under the one budget for background work a backlog can
// take long, and the loop's other duties (a store that failed, hints for a node that is out)
// are looked at between queues.
constexpr auto kReplayTick = std::chrono::seconds(2);
// Named bounds of the anti-entropy loop: how often it looks for a transition when rounds are
// off (a map change wakes it at once anyway), and the pause between rounds of a transition's
// moving partitions until they are synced.
constexpr uint32_t kIdlePollMs = 1000;
constexpr uint32_t kTransitionRoundMs = 300;
// Named bound: progress/<node> is written at most this often (one small etcd put per node per
// second during a transition; status reads it).
constexpr uint32_t kProgressReportMs = 1000;

}  // namespace

StoreOptions ClusterEngineOptions(StoreOptions so) {
  so.tombstone_ttl_ms = 0;
  return so;
}

Result<std::unique_ptr<ClusterNode>> ClusterNode::Start(ClusterNodeOptions options, ObjectStore* local) {
  std::unique_ptr<ClusterNode> n(new ClusterNode(std::move(options)));
  // Every cluster write this node applies goes through the digest (cluster/digested_store.h),
  // read back from the checkpoint the last clean stop wrote if the store is as it was then,
  // else rebuilt here by one scan of the store, before the node serves.
  n->digested_ = std::make_unique<DigestedStore>(local);
  const auto t0 = std::chrono::steady_clock::now();
  Status loaded = n->digested_->LoadCheckpoint(n->DigestCheckpointPath());
  n->digest_from_checkpoint_ = loaded.ok();
  if (!loaded.ok()) {
    if (Status s = n->digested_->Rebuild(); !s.ok())
      return s.WithContext("anti-entropy: cannot rebuild the digest from the store");
  }
  spdlog::info("event=digest_ready source={} partitions={} ms={} reason=\"{}\"",
               loaded.ok() ? "checkpoint" : "scan", n->digested_->digest().partitions_held(),
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - t0).count(),
               loaded.ok() ? "" : loaded.ToString());
  n->local_ = n->digested_.get();
  CAIRN_ASSIGN_OR_RETURN(n->hints_, HintLog::Open(n->options_.data_dir + "/hints", n->options_.hints));
  if (n->options_.membership.node_id_file.empty())
    n->options_.membership.node_id_file = n->options_.data_dir + "/NODE_ID";
  if (n->options_.membership.map_file.empty())
    n->options_.membership.map_file = n->options_.data_dir + "/CLUSTER_MAP";
  CAIRN_ASSIGN_OR_RETURN(n->membership_, Membership::Start(n->options_.membership));
  const NodeId self = n->membership_->node_id();
  n->fence_ = std::make_unique<EpochFence>(n->membership_->epoch_cell());
  // The coordinators' writes into this node's own store hold places in the fence too.
  n->fenced_local_ = std::make_unique<FencedStore>(n->local_, n->fence_.get());
  PeerOptions po;
  po.key = n->options_.member_key;
  po.self = self;
  po.timeout_ms = n->options_.replica_timeout_ms;
  n->peers_ = std::make_unique<PeerPool>(n->membership_.get(), po);
  n->shared_ = std::make_shared<ClusterShared>(self, n->options_.now_ms, n->hints_.get());
  ClusterStoreOptions so;
  so.self = self;
  so.write_policy = n->options_.write_policy;
  so.now_ms = n->options_.now_ms;
  so.forward = true;
  n->any_ = std::make_unique<ClusterObjectStore>(so, n->membership_.get(), n->peers_.get(),
                                                 n->fenced_local_.get(), n->shared_);
  so.forward = false;
  n->coordinate_ = std::make_unique<ClusterObjectStore>(so, n->membership_.get(), n->peers_.get(),
                                                        n->fenced_local_.get(), n->shared_);
  n->membership_->OnMapChange([p = n.get()](std::shared_ptr<const ClusterMap>) {
    std::lock_guard<std::mutex> l(p->mu_);
    p->cv_.notify_all();  // a node may be up again: replay its hints now
  });
  n->replayer_ = std::thread([p = n.get()] {
    SetThreadName("cairn-hints");
    p->ReplayLoop();
  });
  n->local_peer_ = std::make_unique<LocalDigestPeer>(n->digested_.get());
  if (n->options_.anti_entropy.scheduler == nullptr)
    n->options_.anti_entropy.scheduler = n->options_.background;
  n->options_.anti_entropy.fence = n->fence_.get();
  n->anti_entropy_ = std::make_unique<AntiEntropy>(
      n->options_.anti_entropy, self, n->membership_.get(), n->local_peer_.get(),
      [p = n.get()](NodeId node) -> std::unique_ptr<DigestPeer> {
        Client* c = p->peers_->Get(node, RoutingRole::kReplica);
        if (c == nullptr) return nullptr;
        return std::make_unique<RemoteDigestPeer>(c);
      },
      &n->shared_->counters(), &n->stop_, &n->shared_->foreground_ops());
  // Always: with interval_ms 0 there are no periodic rounds, but a transition still needs the
  // rounds that sync its moving partitions.
  n->anti_entropy_thread_ = std::thread([p = n.get()] {
    SetThreadName("cairn-antientr");
    p->AntiEntropyLoop();
  });
  return n;
}

ClusterNode::~ClusterNode() { Stop(); }

std::string ClusterNode::DigestCheckpointPath() const {
  return options_.data_dir + "/" + kDigestCheckpointFile;
}

Status ClusterNode::SaveDigestCheckpoint() {
  if (!stop_.load()) return Status::InvalidArgument("the digest checkpoint is written after Stop");
  return digested_->SaveCheckpoint(DigestCheckpointPath());
}

void ClusterNode::Stop() {
  if (stop_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    cv_.notify_all();
  }
  if (replayer_.joinable()) replayer_.join();
  if (anti_entropy_thread_.joinable()) anti_entropy_thread_.join();
  if (membership_) membership_->Stop();
}

ObjectStore* ClusterNode::StoreFor(RoutingRole role) {
  switch (role) {
    case RoutingRole::kReplica: return local_;
    case RoutingRole::kCoordinate: return coordinate_.get();
    case RoutingRole::kAny: break;
  }
  return any_.get();
}

Result<std::string> ClusterNode::ServeDigest(std::string_view request) {
  DigestRequest r;
  CAIRN_RETURN_IF_ERROR(DecodeDigestRequest(request, &r));
  return cluster::ServeDigest(digested_.get(), r);
}

void ClusterNode::AntiEntropyLoop() {
  using Clock = std::chrono::steady_clock;
  const uint32_t interval = options_.anti_entropy.interval_ms;
  std::unique_lock<std::mutex> l(mu_);
  uint64_t seen_epoch = membership_->map()->epoch;
  uint64_t reported = 0;  // the epoch last written to synced/<node>
  AntiEntropy::SyncProgress published;  // the last progress/<node> written
  auto published_at = Clock::now() - std::chrono::milliseconds(kProgressReportMs);
  auto last_full = Clock::now();
  while (!stop_) {
    // A periodic round every interval (and at once after a map change, as the wait wakes on
    // it); while this node leads moving partitions not yet synced, a round of those every
    // kTransitionRoundMs, so a transition does not wait for the interval.
    uint32_t wait = interval > 0 ? interval : kIdlePollMs;
    if (anti_entropy_->pending()) wait = std::min(wait, kTransitionRoundMs);
    // A map that changed while the last round ran: at once. (Its notify found no waiter, so a
    // plain wait slept the whole interval: a transition then waited 60 s for this node's sync.)
    cv_.wait_for(l, std::chrono::milliseconds(wait), [&] {
      return stop_ || membership_->epoch_cell()->load(std::memory_order_acquire) != seen_epoch;
    });
    if (stop_) break;
    l.unlock();
    std::shared_ptr<const ClusterMap> map = membership_->map();
    const bool changed = map->epoch != seen_epoch;
    seen_epoch = map->epoch;
    if (interval > 0 && (changed || Clock::now() - last_full >= std::chrono::milliseconds(interval))) {
      (void)anti_entropy_->RunRound();
      last_full = Clock::now();
    } else if (map->in_transition()) {
      (void)anti_entropy_->RunRound(/*moving_only=*/true);
    }
    // Progress for `cairn cluster status` (at most every kProgressReportMs, and at once when
    // everything this node leads is synced), before the synced report it leads to.
    if (map->in_transition() && !stop_) {
      const AntiEntropy::SyncProgress p = anti_entropy_->progress();
      const bool done = p.epoch == map->epoch && p.synced == p.total;
      if (p.epoch == map->epoch && !(p == published) &&
          (done || Clock::now() - published_at >= std::chrono::milliseconds(kProgressReportMs))) {
        if (membership_->ReportProgress(p.epoch, p.synced, p.total).ok()) published = p;
        published_at = Clock::now();
      }
    }
    // Tell the controller which epoch this node holds the data of (it retires the transition
    // once every up node has said so).
    const uint64_t synced = anti_entropy_->synced_epoch();
    // (Only the current map's epoch: one synced under an earlier map says nothing of this one.)
    if (map->in_transition() && synced >= map->epoch && synced > reported && !stop_) {
      Status s = membership_->ReportSynced(synced);
      if (s.ok()) {
        reported = synced;
        spdlog::info("event=cluster_synced node_id={} epoch={}", membership_->node_id(), synced);
      }
    }
    l.lock();
  }
}

void ClusterNode::ReplayLoop() {
  std::unique_lock<std::mutex> l(mu_);
  bool more = false;  // a queue was left for its time bound: no pause before the next tick
  while (!stop_) {
    if (!more) cv_.wait_for(l, std::chrono::milliseconds(options_.hint_replay_interval_ms));
    more = false;
    if (stop_) break;
    l.unlock();
    if (options_.store_write_error && !membership_->left()) {
      // A store that refuses writes for good (until reopened) makes this node a replica that
      // acknowledges nothing: it leaves, so that it goes down and then out, and its partitions
      // are rebuilt on the others, instead of staying up and failing every write sent to it.
      if (Status e = options_.store_write_error(); !e.ok()) membership_->Leave(e.ToString());
    }
    std::shared_ptr<const ClusterMap> map = membership_->map();
    for (NodeId t : hints_->Targets()) {
      const MapNode* n = map->Node(t);
      if (n != nullptr && n->state == NodeState::kOut && hints_->Stats(t).bytes != 0) {
        // Out: its slots are rebuilt from the other replicas (and it syncs as a new node if it
        // is added back), so its hints are dropped rather than kept until their age bound.
        Result<uint64_t> dropped = hints_->Discard(t);
        if (dropped.ok() && *dropped > 0)
          spdlog::info("event=hints_discarded target={} bytes={} epoch={} reason=\"the node is out\"",
                       t, *dropped, map->epoch);
        continue;
      }
      if (n == nullptr || n->state != NodeState::kUp) continue;
      if (hints_->Stats(t).bytes == 0) continue;
      bool timed_out = false;
      (void)ReplayTo(t, &timed_out);
      more = more || timed_out;
    }
    l.lock();
  }
}

bool ClusterNode::ReplayTo(NodeId target, bool* timed_out) {
  ObjectStore* peer = peers_->Get(target, RoutingRole::kReplica);
  if (peer == nullptr) return false;
  const auto until = std::chrono::steady_clock::now() + kReplayTick;
  while (!stop_) {
    if (std::chrono::steady_clock::now() >= until) {
      *timed_out = true;  // the tick's other duties (the store's error, out nodes) come first
      return true;
    }
    Result<HintBatch> b = hints_->Read(target, kReplayBatch);
    if (!b.ok()) return false;
    shared_->counters().hints_skipped += b->expired;
    for (const Hint& h : b->hints) {
      // What this node holds now: the hinted version, or a newer one (replayed instead: it is
      // what the target should have). Older or nothing: the write never landed here, and the
      // replicas that acknowledged it (and anti-entropy) carry it.
      Result<ObjectInfo> mine = local_->HeadVersion(h.key);
      if (!mine.ok() || mine->version < h.version) {
        shared_->counters().hints_skipped++;
        continue;
      }
      WriteOptions wo;
      wo.condition = WriteCondition::kIfNewer;
      wo.version = mine->version;
      Status s;
      uint64_t cost = kPushCostBytes;  // as anti-entropy counts a push (anti_entropy.h)
      if (mine->deleted) {
        s = peer->Delete(h.key, wo).status();
      } else {
        Result<std::unique_ptr<ObjectReader>> r = local_->OpenReader(h.key, ByteRange());
        if (!r.ok()) {
          shared_->counters().hints_skipped++;
          continue;
        }
        if ((*r)->info().version != mine->version) continue;  // replaced meanwhile: its own hint
        wo.metadata = (*r)->info().metadata;
        struct Src final : ValueSource {
          ObjectReader* r;
          Result<size_t> Read(char* buf, size_t n) override { return r->Read(buf, n); }
        } src;
        src.r = r->get();
        if ((s = peer->PutStream(h.key, &src, wo).status()).ok()) cost += (*r)->info().size;
      }
      // The one budget for background work: what this replay cost (a failed one, its request
      // only), paid before the next one.
      if (options_.background != nullptr)
        options_.background->Admit(BackgroundActivity::kHintReplay, cost, &stop_);
      // A Conflict means the target already holds something newer: the hint is done.
      if (!s.ok() && !s.IsConflict()) {
        // Later: the target is away, busy, or not yet serving (a node that is still joining
        // refuses replica operations). Only a hint the target refuses for what it is (a bad
        // key, a value over a limit) is dropped; anti-entropy is its last resort.
        if (!s.IsInvalidArgument() && !s.IsLimitExceeded()) {
          shared_->counters().hint_replay_stalls++;
          spdlog::debug("event=hint_replay_later target={} key=\"{}\" status=\"{}\"", target,
                        EscapeKey(h.key), s.ToString());
          return false;
        }
        shared_->counters().hints_skipped++;
        continue;
      }
      shared_->counters().hints_replayed++;
    }
    if (!hints_->Ack(target, b->next).ok()) return false;
    if (b->end) return true;
  }
  return false;
}

}  // namespace cairn::cluster
