#include "cluster/anti_entropy.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <thread>

#include "cluster/transition.h"
#include "util/escape.h"

namespace cairn::cluster {

bool AntiEntropy::Budget::spent() const { return keys == 0 || bytes == 0; }

AntiEntropy::AntiEntropy(AntiEntropyOptions o, NodeId self, MapView* view, DigestPeer* local,
                         std::function<std::unique_ptr<DigestPeer>(NodeId)> peer_for,
                         ClusterCounters* counters, const std::atomic<bool>* stop,
                         const std::atomic<uint64_t>* foreground_ops)
    : o_(o),
      self_(self),
      view_(view),
      local_(local),
      peer_for_(std::move(peer_for)),
      counters_(counters),
      stop_(stop),
      throttle_(foreground_ops != nullptr ? foreground_ops : &no_foreground_, o_.now,
                o_.sleep ? o_.sleep
                         : [this](std::chrono::steady_clock::duration d) { SleepUnlessStopped(d); }) {
  throttle_.SetScheduler(o_.scheduler, BackgroundActivity::kRepair, stop_);
}

void AntiEntropy::SleepUnlessStopped(std::chrono::steady_clock::duration d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (!stopping()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until) return;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(kStopCheckMs)));
  }
}

bool AntiEntropy::pending() const { return pending_.load(); }

AntiEntropy::SyncProgress AntiEntropy::progress() const {
  std::lock_guard<std::mutex> l(progress_mu_);
  return progress_;
}

Status AntiEntropy::RunRound(bool moving_only) {
  counters_->ae_rounds++;
  std::shared_ptr<const ClusterMap> map = view_->map();
  if (map->epoch == 0 || map->placement.table.empty()) return Status::OK();
  const auto round_start = Now();
  if (map->epoch != sync_epoch_) {
    // A new map: its transition (if any) is synced afresh (its leaders may differ).
    sync_epoch_ = map->epoch;
    seen_.clear();
    first_finished_.clear();
    synced_.clear();
  }
  // This node's own store is seen at the epoch from the first round that finds no replica write
  // of an older map still in flight here (the DIGEST fence, as a peer's DIGEST answer is).
  if (seen_.count(self_) == 0 && (o_.fence == nullptr || o_.fence->OlderInFlight(map->epoch) == 0))
    seen_[self_] = round_start;
  auto up = [&](NodeId id) {
    const MapNode* n = map->Node(id);
    return n != nullptr && n->state == NodeState::kUp;
  };
  if (!up(self_)) {
    pending_ = false;
    return Status::OK();
  }
  // The partitions this node leads (first up member of the row; while a partition moves, of
  // its old row then its new one), per other up replica.
  std::map<NodeId, std::vector<uint32_t>> by_peer;
  moving_replicas_.clear();  // led moving partitions not yet synced: their other up replicas
  std::set<uint32_t> rows_short;  // of those, the ones whose rows lack members for a sync
  fanout_failed_.clear();
  failed_peers_.clear();
  bool all_synced = true;
  uint32_t led_moving = 0;  // moving partitions this node leads, synced or not
  for (uint32_t p = 0; p < map->placement.partitions; p++) {
    const bool moving = map->Moving(p);
    if (moving_only && !moving) continue;
    const KeyRows rows = RowsOf(*map, p);
    NodeId first = kNoNode;
    for (NodeId id : rows.all)
      if (up(id)) {
        first = id;
        break;
      }
    if (first != self_) continue;
    if (moving) led_moving++;
    if (moving && synced_.count(p) != 0) continue;  // synced at this epoch already
    std::vector<NodeId> others;
    for (NodeId id : rows.all)
      if (id != self_ && up(id)) {
        by_peer[id].push_back(p);
        others.push_back(id);
      }
    if (!moving) continue;
    // Synced needs every member of the new row up (each must hold the data once reads move
    // there) and a majority of the old row (so every acknowledged write has a copy compared).
    size_t new_up = 0, old_up = 0;
    for (NodeId id : rows.rows[0]) new_up += up(id) ? 1 : 0;
    for (NodeId id : rows.rows[1]) old_up += up(id) ? 1 : 0;
    if (new_up < rows.rows[0].size() || old_up < rows.rows[1].size() / 2 + 1) rows_short.insert(p);
    moving_replicas_[p] = std::move(others);  // compared and fanned out to even so
  }
  Budget b{o_.max_keys_per_round, o_.max_bytes_per_round};
  throttle_.Start();
  std::map<uint32_t, size_t> finished_with;  // moving partitions: peers whose comparison finished
  // The peers in a rotating order: a budget spent early in every round does not always leave
  // the same peer uncompared.
  std::vector<std::pair<NodeId, std::vector<uint32_t>>> order(by_peer.begin(), by_peer.end());
  if (!order.empty())
    std::rotate(order.begin(), order.begin() + static_cast<ptrdiff_t>(round_number_ % order.size()),
                order.end());
  round_number_++;
  for (auto& [node, parts] : order) {
    if (stopping() || b.spent()) break;
    if (failed_peers_.count(node) != 0) continue;  // a fan-out to it failed this round
    DigestPeer* peer = PeerFor(node);
    if (peer == nullptr) continue;
    std::vector<uint32_t> finished;
    Status s = ComparePeer(node, peer, parts, &b, &finished);
    if (!s.ok()) {
      failed_peers_.insert(node);
      counters_->ae_errors++;
      spdlog::info("event=anti_entropy_peer_failed peer={} status=\"{}\"", node, s.ToString());
    }
    for (uint32_t p : finished)
      if (moving_replicas_.count(p) != 0) finished_with[p]++;
  }
  auto settled = [&](NodeId id) {
    auto it = seen_.find(id);
    return it != seen_.end() && round_start - it->second >= std::chrono::milliseconds(kSyncSettleMs);
  };
  const auto round_end = Now();
  for (const auto& [p, others] : moving_replicas_) {
    bool ok = finished_with[p] == others.size() && fanout_failed_.count(p) == 0;
    bool settled_all = settled(self_);
    for (NodeId id : others) settled_all = settled_all && settled(id);
    ok = ok && rows_short.count(p) == 0;
    // And a second finished round, starting kSyncSettleMs after the first one ended: the first
    // copies the bulk (which can take long under load), the second lists whatever an old-map
    // write still in a commit added meanwhile.
    auto first = first_finished_.find(p);
    if (ok && first == first_finished_.end()) {
      first_finished_[p] = round_end;
      ok = false;
    } else if (ok && (!settled_all ||
                      round_start - first->second < std::chrono::milliseconds(kSyncSettleMs))) {
      ok = false;
    }
    if (ok) {
      synced_.insert(p);
    } else {
      all_synced = false;
    }
  }
  round_peers_.clear();
  moving_replicas_.clear();
  failed_peers_.clear();
  if (all_synced && !stopping()) {
    uint64_t cur = synced_epoch_.load();
    while (map->epoch > cur && !synced_epoch_.compare_exchange_weak(cur, map->epoch)) {
    }
  }
  pending_ = map->in_transition() && !all_synced;
  if (map->in_transition()) {
    std::lock_guard<std::mutex> l(progress_mu_);
    progress_ = {map->epoch, static_cast<uint32_t>(synced_.size()), led_moving};
  }
  return Status::OK();
}

DigestPeer* AntiEntropy::PeerFor(NodeId node) {
  auto it = round_peers_.find(node);
  if (it == round_peers_.end()) it = round_peers_.emplace(node, peer_for_(node)).first;
  return it->second.get();
}

Status AntiEntropy::ComparePeer(NodeId node, DigestPeer* peer, const std::vector<uint32_t>& parts,
                                Budget* b, std::vector<uint32_t>* finished) {
  for (size_t i = 0; i < parts.size() && !stopping() && !b->spent(); i += kMaxRootPartitions) {
    DigestRequest rq;
    rq.kind = DigestKind::kRoots;
    rq.partitions.assign(parts.begin() + static_cast<ptrdiff_t>(i),
                         parts.begin() + static_cast<ptrdiff_t>(std::min(parts.size(), i + kMaxRootPartitions)));
    CAIRN_ASSIGN_OR_RETURN(std::string mine_b, local_->Call(rq));
    CAIRN_ASSIGN_OR_RETURN(std::string theirs_b, peer->Call(rq));
    // It answered, so its map is at this epoch: the sync's settle counts from here.
    seen_.emplace(node, Now());
    std::vector<uint64_t> mine, theirs;
    CAIRN_RETURN_IF_ERROR(DecodeRootsReply(mine_b, rq.partitions.size(), &mine));
    CAIRN_RETURN_IF_ERROR(DecodeRootsReply(theirs_b, rq.partitions.size(), &theirs));
    counters_->ae_partitions_compared += rq.partitions.size();
    std::vector<uint32_t> differ;
    for (size_t k = 0; k < mine.size(); k++) {
      if (mine[k] != theirs[k]) {
        differ.push_back(rq.partitions[k]);
      } else {
        finished->push_back(rq.partitions[k]);
      }
    }
    // Only the partitions whose roots differ: their leaves, all of this batch's before any key
    // is listed, so that a keys request carries up to kMaxKeyLeaves leaves of many partitions
    // (each request scans the node's whole index: fewer requests, fewer scans).
    std::vector<LeafRef> leaves;
    std::map<uint32_t, size_t> left;  // differing leaves not repaired yet, per partition
    for (size_t j = 0; j < differ.size() && !stopping() && !b->spent(); j += kMaxLeafPartitions) {
      DigestRequest lq;
      lq.kind = DigestKind::kLeaves;
      lq.partitions.assign(differ.begin() + static_cast<ptrdiff_t>(j),
                           differ.begin() + static_cast<ptrdiff_t>(std::min(differ.size(), j + kMaxLeafPartitions)));
      CAIRN_ASSIGN_OR_RETURN(std::string ml_b, local_->Call(lq));
      CAIRN_ASSIGN_OR_RETURN(std::string tl_b, peer->Call(lq));
      std::vector<Leaves> ml, tl;
      CAIRN_RETURN_IF_ERROR(DecodeLeavesReply(ml_b, lq.partitions.size(), &ml));
      CAIRN_RETURN_IF_ERROR(DecodeLeavesReply(tl_b, lq.partitions.size(), &tl));
      for (size_t k = 0; k < ml.size(); k++) {
        size_t n = 0;
        for (uint32_t leaf = 0; leaf < kLeaves; leaf++)
          if (ml[k][leaf] != tl[k][leaf]) {
            leaves.push_back(LeafRef{lq.partitions[k], leaf});
            n++;
          }
        if (n == 0) {
          finished->push_back(lq.partitions[k]);  // equal by now (a write landed meanwhile)
        } else {
          left[lq.partitions[k]] = n;
        }
      }
    }
    for (size_t m = 0; m < leaves.size() && !stopping() && !b->spent(); m += kMaxKeyLeaves) {
      std::vector<LeafRef> some(leaves.begin() + static_cast<ptrdiff_t>(m),
                                leaves.begin() + static_cast<ptrdiff_t>(std::min(leaves.size(), m + kMaxKeyLeaves)));
      counters_->ae_leaves_walked += some.size();
      bool done = false;
      CAIRN_RETURN_IF_ERROR(RepairLeaves(node, peer, some, b, &done));
      // Not done: cut short (the loop ends) or a copy refused; either way these leaves'
      // partitions are not finished, and the other leaves are still walked.
      if (!done) continue;
      for (const LeafRef& l : some)
        if (--left[l.partition] == 0) finished->push_back(l.partition);
    }
  }
  return Status::OK();
}

Result<std::vector<KeyVersion>> AntiEntropy::AllKeys(DigestPeer* p,
                                                     const std::vector<LeafRef>& leaves) {
  std::vector<KeyVersion> out;
  DigestRequest rq;
  rq.kind = DigestKind::kKeys;
  rq.leaves = leaves;
  rq.max_keys = kMaxKeysPerReply;
  for (;;) {
    if (stopping()) return Status::Unavailable("anti-entropy is stopping");
    CAIRN_ASSIGN_OR_RETURN(std::string body, p->Call(rq));
    KeyPage page;
    CAIRN_RETURN_IF_ERROR(DecodeKeysReply(body, rq.max_keys, &page));
    for (KeyVersion& k : page.keys) out.push_back(std::move(k));
    if (!page.truncated) return out;
    if (page.next_start_after.empty() || page.next_start_after <= rq.start_after)
      return Status::Corruption("digest: a keys page did not move forward");
    rq.start_after = std::move(page.next_start_after);
  }
}

Status AntiEntropy::RepairLeaves(NodeId node, DigestPeer* peer, const std::vector<LeafRef>& leaves,
                                 Budget* b, bool* finished) {
  *finished = false;
  CAIRN_ASSIGN_OR_RETURN(std::vector<KeyVersion> mine, AllKeys(local_, leaves));
  CAIRN_ASSIGN_OR_RETURN(std::vector<KeyVersion> theirs, AllKeys(peer, leaves));
  Paced(0);  // the listings scanned both indexes
  // Both lists are in key order: merge.
  size_t i = 0, j = 0;
  bool all_copied = true;  // every difference now held by both sides (a refusal: not)
  while ((i < mine.size() || j < theirs.size()) && !stopping() && !b->spent()) {
    int c;
    if (i == mine.size()) {
      c = 1;
    } else if (j == theirs.size()) {
      c = -1;
    } else {
      c = mine[i].key.compare(theirs[j].key);
    }
    Status s;
    bool copied = true;
    const std::string* pulled = nullptr;  // a key taken from the peer
    if (c < 0) {  // only here
      s = Push(local_->store(), peer->store(), mine[i++].key, b, &copied);
    } else if (c > 0) {  // only there
      pulled = &theirs[j].key;
      s = Push(peer->store(), local_->store(), theirs[j++].key, b, &copied);
    } else {
      const KeyVersion& a = mine[i++];
      const KeyVersion& t = theirs[j++];
      if (a.version > t.version) {
        s = Push(local_->store(), peer->store(), a.key, b, &copied);
      } else if (t.version > a.version) {
        pulled = &t.key;
        s = Push(peer->store(), local_->store(), a.key, b, &copied);
      }
    }
    if (!s.ok()) return s;  // the peer is away or failing: the next round
    if (!copied) {
      all_copied = false;  // not pushed on either: what the leader holds is not what it listed
    } else if (pulled != nullptr) {
      FanOut(node, *pulled, b);
    }
  }
  *finished = all_copied && i == mine.size() && j == theirs.size();
  return Status::OK();
}

void AntiEntropy::FanOut(NodeId from, const std::string& key, Budget* b) {
  const uint32_t p = PartitionOf(key);
  auto it = moving_replicas_.find(p);
  if (it == moving_replicas_.end()) return;  // not moving: the next rounds bring it
  for (NodeId id : it->second) {
    if (id == from) continue;
    if (stopping() || b->spent() || failed_peers_.count(id) != 0) {
      fanout_failed_.insert(p);
      continue;
    }
    DigestPeer* to = PeerFor(id);
    bool copied = false;
    Status s = to == nullptr ? Status::Unavailable("no peer")
                             : Push(local_->store(), to->store(), key, b, &copied);
    if (!s.ok()) failed_peers_.insert(id);  // not asked again this round (each try may time out)
    if (!s.ok() || !copied) fanout_failed_.insert(p);
  }
}

Status AntiEntropy::Push(ObjectStore* from, ObjectStore* to, const std::string& key, Budget* b,
                         bool* copied) {
  *copied = false;
  // What `from` holds now (it may have moved on since the listing: push that, it is newer).
  // The reader is one version, metadata and bytes together; only a key without a live value
  // is looked up for its tombstone, and a put that lands between the two is looked at again, a
  // bounded number of times.
  for (uint32_t attempt = 0; attempt < kPushAttempts; attempt++) {
    WriteOptions wo;
    wo.condition = WriteCondition::kIfNewer;
    Status s;
    uint64_t bytes = 0;
    Result<std::unique_ptr<ObjectReader>> r = from->OpenReader(key, ByteRange());
    if (r.ok()) {
      wo.version = (*r)->info().version;
      wo.metadata = (*r)->info().metadata;
      bytes = (*r)->info().size;
      struct Src final : ValueSource {
        ObjectReader* r;
        Result<size_t> Read(char* buf, size_t n) override { return r->Read(buf, n); }
      } src;
      src.r = r->get();
      s = to->PutStream(key, &src, wo).status();
      // Closed before the budget's pause: an open reader holds back the store's hole punching
      // (it waits for older readers) for as long as the pause lasts.
      r->reset();
    } else if (r.status().IsNotFound()) {
      Result<ObjectInfo> held = from->HeadVersion(key);
      if (!held.ok()) return held.status().IsNotFound() ? Status::OK() : held.status();
      if (!held->deleted) continue;  // put again meanwhile: read it
      wo.version = held->version;
      s = to->Delete(key, wo).status();
    } else {
      return r.status();
    }
    const Version pushed = wo.version;
    if (s.IsConflict()) {
      // The target holds something newer (copied: nothing to do), or the version is at or
      // below its tombstone horizon (it may have forgotten a newer delete): never forced, and
      // not copied.
      Result<ObjectInfo> there = to->HeadVersion(key);
      *copied = there.ok() && !(there->version < pushed);
      if (!*copied) counters_->ae_repairs_refused++;
      Paced(bytes + kPushCostBytes);
      return Status::OK();
    }
    if (!s.ok()) {
      // A bad key or a value over the target's limits: skipped (not copied); anything else
      // ends the peer.
      if (s.IsInvalidArgument() || s.IsLimitExceeded()) {
        counters_->ae_repairs_refused++;
        spdlog::debug("event=anti_entropy_repair_refused key=\"{}\" version={} status=\"{}\"",
                     EscapeKey(key), pushed.ToString(), s.ToString());
        Paced(bytes + kPushCostBytes);
        return Status::OK();
      }
      return s;
    }
    spdlog::debug("event=anti_entropy_repair key=\"{}\" version={} deleted={}", EscapeKey(key),
                  pushed.ToString(), !r.ok());
    counters_->ae_keys_repaired++;
    counters_->ae_bytes_pushed += bytes;
    if (b->keys > 0) b->keys--;
    b->bytes = bytes >= b->bytes ? 0 : b->bytes - bytes;
    *copied = true;
    Paced(bytes + kPushCostBytes);
    return Status::OK();
  }
  return Status::OK();  // put and deleted again each time it was looked at: not copied
}

}  // namespace cairn::cluster
