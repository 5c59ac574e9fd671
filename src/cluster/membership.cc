#include "cluster/membership.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "cairn/env.h"
#include "cluster/cluster_admin.h"
#include "util/thread_name.h"

namespace cairn::cluster {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Named bound: bytes of the encoded map per etcd value (etcd refuses requests over ~1.5 MiB;
// the whole map goes in one transaction).
constexpr size_t kMapChunkBytes = 256 << 10;
// Named bound: the pause after a failed etcd call before the next attempt.
constexpr uint32_t kRetryMs = 200;

std::string ChunkKey(const std::string& prefix, size_t i) {
  char b[16];
  std::snprintf(b, sizeof(b), "%04zu", i);
  return prefix + "map/chunk/" + b;
}

// The map kept in the data directory (MembershipOptions::map_file): EncodeClusterMap's bytes.
Result<ClusterMap> LoadKeptMap(const std::string& path) {
  Env* env = Env::Default();
  CAIRN_ASSIGN_OR_RETURN(auto f, env->OpenFile(path, Env::OpenMode::kExisting));
  CAIRN_ASSIGN_OR_RETURN(uint64_t size, f->Size());
  std::string bytes(size, '\0');
  size_t got = 0;
  CAIRN_RETURN_IF_ERROR(f->PRead(0, bytes.size(), bytes.data(), &got));
  bytes.resize(got);
  ClusterMap m;
  CAIRN_RETURN_IF_ERROR(DecodeClusterMap(bytes, &m).WithContext(path));
  return m;
}

Status WriteIdFile(const std::string& path, NodeId id) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << id << "\n";
    f.flush();
    if (!f) return Status::IOError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::IOError("cannot rename " + tmp);
  return Status::OK();
}

}  // namespace

Membership::Membership(MembershipOptions options)
    : options_(std::move(options)),
      prefix_("/cairn/" + options_.cluster + "/"),
      map_(std::make_shared<const ClusterMap>()),
      started_(Clock::now()) {}

Membership::~Membership() { Stop(); }

Result<std::unique_ptr<Membership>> Membership::Start(const MembershipOptions& options) {
  if (options.address.empty()) return Status::InvalidArgument("membership needs the node's address");
  if (options.cluster.empty() || options.cluster.find('/') != std::string::npos)
    return Status::InvalidArgument("cluster name must be non-empty and contain no '/'");
  std::unique_ptr<Membership> m(new Membership(options));
  CAIRN_ASSIGN_OR_RETURN(m->etcd_, EtcdClient::Create(options.etcd));
  CAIRN_ASSIGN_OR_RETURN(m->ctl_etcd_, EtcdClient::Create(options.etcd));
  CAIRN_ASSIGN_OR_RETURN(m->watch_etcd_, EtcdClient::Create(options.etcd));
  CAIRN_ASSIGN_OR_RETURN(m->ctl_watch_etcd_, EtcdClient::Create(options.etcd));
  CAIRN_ASSIGN_OR_RETURN(m->sync_etcd_, EtcdClient::Create(options.etcd));
  CAIRN_ASSIGN_OR_RETURN(m->refresh_etcd_, EtcdClient::Create(options.etcd));
  if (Status reg = m->Register(); !reg.ok()) {
    // etcd unreachable: a node that has joined before (it knows its id) restarts on the map it
    // kept, and registers from its keepalive thread once etcd answers (docs/cluster.md).
    const bool unreachable = reg.IsUnavailable() || reg.IsDeadlineExceeded() || reg.IsIOError();
    if (!unreachable || m->node_id_ == 0 || options.map_file.empty()) return reg;
    Result<ClusterMap> kept = LoadKeptMap(options.map_file);
    if (!kept.ok())
      return reg.WithContext("and no map kept to start on (" + kept.status().ToString() + ")");
    spdlog::warn("event=cluster_start_offline node_id={} epoch={} cause=\"{}\" note=\"etcd is "
                 "unreachable: serving on the map kept in {}; registering when etcd answers\"",
                 m->node_id_, kept->epoch, reg.ToString(), options.map_file);
    m->etcd_ok_ = false;
    m->Install(std::move(*kept));
  }
  // The map as etcd has it now, so a node starts on the current map when there is one.
  Result<ClusterMap> cur = FetchMap(m->etcd_.get(), m->prefix_);
  if (cur.ok()) m->Install(std::move(*cur));
  m->keepalive_ = std::thread([p = m.get()] {
    SetThreadName("cairn-keepalive");
    p->KeepAliveLoop();
  });
  m->watcher_ = std::thread([p = m.get()] {
    SetThreadName("cairn-mapwatch");
    p->WatchMapLoop();
  });
  m->controller_ = std::thread([p = m.get()] {
    SetThreadName("cairn-control");
    p->ControllerLoop();
  });
  return m;
}

void Membership::Stop() {
  if (stop_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    cv_.notify_all();
  }
  if (watch_etcd_) watch_etcd_->CancelWatch();
  if (ctl_watch_etcd_) ctl_watch_etcd_->CancelWatch();
  if (keepalive_.joinable()) keepalive_.join();
  if (watcher_.joinable()) watcher_.join();
  if (controller_.joinable()) controller_.join();
  if (lease_ != 0) (void)etcd_->LeaseRevoke(lease_);
}

bool Membership::Sleep(uint32_t ms) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_for(l, std::chrono::milliseconds(ms), [&] { return stop_.load(); });
  return !stop_;
}

Status Membership::Register() {
  node_id_ = options_.node_id;
  if (node_id_ == 0 && !options_.node_id_file.empty()) {
    std::ifstream f(options_.node_id_file);
    unsigned v = 0;
    if (f >> v && v > 0 && v < kNoNode) node_id_ = static_cast<NodeId>(v);
  }
  while (node_id_ == 0) {
    // Allocate: next_id is compared and bumped in one transaction.
    CAIRN_ASSIGN_OR_RETURN(EtcdRange r, etcd_->Get(prefix_ + "next_id"));
    uint64_t next = 1;
    EtcdCompare cmp{prefix_ + "next_id", EtcdCompare::Target::kVersion, EtcdCompare::Result::kEqual, 0, ""};
    if (!r.kvs.empty()) {
      next = std::stoull(r.kvs[0].value);
      cmp = {prefix_ + "next_id", EtcdCompare::Target::kModRevision, EtcdCompare::Result::kEqual,
             r.kvs[0].mod_revision, ""};
    }
    if (next >= kNoNode) return Status::LimitExceeded("no node ids left (65534 allocated)");
    EtcdOp bump{EtcdOp::Kind::kPut, prefix_ + "next_id", std::to_string(next + 1), "", 0};
    CAIRN_ASSIGN_OR_RETURN(EtcdTxnResult t, etcd_->Txn({cmp}, {bump}));
    if (t.succeeded) node_id_ = static_cast<NodeId>(next);
  }
  if (!options_.node_id_file.empty()) CAIRN_RETURN_IF_ERROR(WriteIdFile(options_.node_id_file, node_id_));
  return Announce();
}

Status Membership::Announce() {
  Json info = {{"address", options_.address}, {"zone", options_.zone}, {"weight", options_.weight}};
  CAIRN_RETURN_IF_ERROR(etcd_->Put(prefix_ + "nodes/" + std::to_string(node_id_), info.dump()).status());
  CAIRN_ASSIGN_OR_RETURN(int64_t lease, etcd_->LeaseGrant(options_.lease_ttl_s));
  CAIRN_RETURN_IF_ERROR(etcd_->Put(prefix_ + "alive/" + std::to_string(node_id_), options_.address, lease).status());
  lease_ = lease;
  return Status::OK();
}

void Membership::Leave(const std::string& reason) {
  if (left_.exchange(true)) return;
  spdlog::error("event=cluster_leaving node_id={} reason=\"{}\" note=\"the store takes no more "
                "writes: the node gives up its lease and goes down, then out; restart it once "
                "its disk is fixed\"",
                node_id_, reason);
}

void Membership::KeepAliveLoop() {
  while (Sleep(options_.keepalive_ms)) {
    if (left_) {
      const int64_t lease = lease_.exchange(0);
      if (lease != 0) {
        Status s = etcd_->LeaseRevoke(lease);
        spdlog::warn("event=cluster_left node_id={} lease_revoked={}{}", node_id_, s.ok(),
                     s.ok() ? "" : " error=\"" + s.ToString() + "\" note=\"it expires after its TTL\"");
      }
      FetchWantedMap();
      continue;
    }
    if (lease_ == 0) {
      // Started on the kept map while etcd was unreachable: register now if it answers.
      Status reg = Announce();
      etcd_ok_ = reg.ok();
      if (!reg.ok()) continue;
      spdlog::info("event=cluster_registered node_id={} note=\"etcd answers again\"", node_id_);
      control_dirty_ = true;  // (the watch thread re-reads the map by itself)
    }
    Result<int64_t> ttl = etcd_->LeaseKeepAlive(lease_);
    if (ttl.status().IsNotFound()) {
      // The lease expired (we were paused or cut off longer than its TTL): come back alive
      // with a new one. The controller saw us down meanwhile.
      Result<int64_t> lease = etcd_->LeaseGrant(options_.lease_ttl_s);
      if (lease.ok() &&
          etcd_->Put(prefix_ + "alive/" + std::to_string(node_id_), options_.address, *lease).ok()) {
        lease_ = *lease;
        control_dirty_ = true;
      }
    }
    etcd_ok_ = ttl.ok() || ttl.status().IsNotFound();
    FetchWantedMap();
  }
}

void Membership::FetchWantedMap() {
  // Through the refresh gate: the watch and the requests that found the map stale may be
  // fetching the same map now.
  if (wanted_epoch_.load() > epoch_.load()) (void)Refresh();
}

Result<ClusterMap> Membership::FetchMap(EtcdClient* etcd, const std::string& prefix, int64_t* revision) {
  CAIRN_ASSIGN_OR_RETURN(EtcdRange r, etcd->GetPrefix(prefix + "map/"));
  if (revision != nullptr) *revision = r.revision;
  std::string bytes, epoch;
  for (const EtcdKv& kv : r.kvs) {  // in key order: chunk/0000, chunk/0001, ..., epoch
    if (kv.key == prefix + "map/epoch") {
      epoch = kv.value;
    } else if (kv.key.rfind(prefix + "map/chunk/", 0) == 0) {
      bytes += kv.value;
    }
  }
  if (epoch.empty()) return Status::NotFound("the cluster has no map yet");
  ClusterMap m;
  CAIRN_RETURN_IF_ERROR(DecodeClusterMap(bytes, &m).WithContext("the map in etcd"));
  if (std::to_string(m.epoch) != epoch)
    return Status::Corruption("the map in etcd says epoch " + std::to_string(m.epoch) +
                              " but map/epoch is " + epoch);
  return m;
}

void Membership::WatchMapLoop() {
  while (!stop_) {
    int64_t rev = 0;
    Result<ClusterMap> m = FetchMap(watch_etcd_.get(), prefix_, &rev);
    if (m.ok()) {
      Install(std::move(*m));
    } else if (!m.status().IsNotFound()) {
      etcd_ok_ = false;
      Sleep(kRetryMs);
      continue;
    }
    // Watch from the revision after the one read; a compacted start re-reads everything. Only
    // map/epoch: the map's chunks and its epoch are written by one transaction, so a change of
    // the epoch is a new map, which the fetch below reads whole. Watching the chunks too made
    // etcd send every map twice to every node, once in the events (which were not used).
    int64_t compacted = 0;
    const std::string epoch_key = prefix_ + "map/epoch";
    Status s = watch_etcd_->Watch(
        epoch_key, "", rev + 1,
        [&](const std::vector<EtcdEvent>& events, int64_t) {
          if (events.empty()) return true;
          // The epoch the events bring, noted, then fetched through the refresh gate: one fetch
          // per node and map serves this watch, the keepalive thread (FetchWantedMap, each
          // round) and the requests that found the map stale (ClusterObjectStore::Routed).
          uint64_t newest = 0;
          for (const EtcdEvent& e : events) {
            uint64_t v = 0;
            const std::string& t = e.kv.value;
            if (!e.deleted && std::from_chars(t.data(), t.data() + t.size(), v).ec == std::errc())
              newest = std::max(newest, v);
          }
          // (Not a number: a refresh all the same, which fetches whatever the map is now.)
          if (newest != 0) NoteEpoch(newest);
          if (newest == 0 || newest > epoch_.load()) (void)Refresh();
          return !stop_.load();
        },
        &compacted);
    if (!s.ok() && !stop_) Sleep(kRetryMs);
  }
}

void Membership::Install(ClusterMap m) {
  std::vector<std::function<void(std::shared_ptr<const ClusterMap>)>> listeners;
  std::shared_ptr<const ClusterMap> fresh;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (m.epoch <= map_->epoch) return;  // never go back to an older map (invariant 9)
    fresh = std::make_shared<const ClusterMap>(std::move(m));
    map_ = fresh;
    epoch_.store(fresh->epoch, std::memory_order_release);
    listeners = listeners_;
    cv_.notify_all();
  }
  SaveMap(*fresh);
  for (auto& f : listeners) f(fresh);
}

void Membership::SaveMap(const ClusterMap& m) {
  if (options_.map_file.empty()) return;
  std::lock_guard<std::mutex> l(save_mu_);
  if (m.epoch <= saved_epoch_) return;
  // Whole or not at all: written to a temporary file, synced, renamed over the old one. The
  // directory is not synced: after a machine crash the older kept map (or none) is as good.
  Env* env = Env::Default();
  const std::string tmp = options_.map_file + ".tmp";
  Status s;
  {
    Result<std::unique_ptr<File>> f = env->OpenFile(tmp, Env::OpenMode::kCreate);
    s = f.status();
    if (s.ok()) s = (*f)->PWrite(0, EncodeClusterMap(m));
    if (s.ok()) s = (*f)->DataSync();
  }
  if (s.ok()) s = env->Rename(tmp, options_.map_file);
  if (!s.ok()) {
    spdlog::warn("event=cluster_map_not_kept epoch={} error=\"{}\"", m.epoch, s.ToString());
    return;
  }
  saved_epoch_ = m.epoch;
}

std::shared_ptr<const ClusterMap> Membership::map() const {
  std::lock_guard<std::mutex> l(mu_);
  return map_;
}

bool Membership::WaitForEpoch(uint64_t epoch, uint32_t timeout_ms) {
  std::unique_lock<std::mutex> l(mu_);
  return cv_.wait_for(l, std::chrono::milliseconds(timeout_ms),
                      [&] { return map_->epoch >= epoch || stop_.load(); }) &&
         map_->epoch >= epoch;
}

void Membership::NoteEpoch(uint64_t epoch) {
  uint64_t cur = wanted_epoch_.load();
  while (epoch > cur && !wanted_epoch_.compare_exchange_weak(cur, epoch)) {
  }
  if (epoch > map()->epoch) {
    std::lock_guard<std::mutex> l(mu_);
    cv_.notify_all();  // the fetch itself is the watch's, or the keepalive round's (FetchWantedMap)
  }
}

Status Membership::Refresh() {
  // The gate runs one fetch at a time, so one long-lived client serves them all (it keeps the
  // endpoint that answered, and its authentication, from one map change to the next).
  return refresh_gate_.Run(epoch_, wanted_epoch_, [this]() -> Status {
    CAIRN_ASSIGN_OR_RETURN(ClusterMap m, FetchMap(refresh_etcd_.get(), prefix_));
    Install(std::move(m));
    return Status::OK();
  });
}

Status Membership::ReportSynced(uint64_t epoch) {
  std::lock_guard<std::mutex> l(sync_mu_);
  return sync_etcd_->Put(prefix_ + "synced/" + std::to_string(node_id_), std::to_string(epoch)).status();
}

Status Membership::ReportProgress(uint64_t epoch, uint32_t synced, uint32_t total) {
  std::lock_guard<std::mutex> l(sync_mu_);
  const Json j = {{"epoch", epoch}, {"synced", synced}, {"total", total}};
  return sync_etcd_->Put(prefix_ + "progress/" + std::to_string(node_id_), j.dump()).status();
}

void Membership::OnMapChange(std::function<void(std::shared_ptr<const ClusterMap>)> f) {
  std::lock_guard<std::mutex> l(mu_);
  listeners_.push_back(std::move(f));
}

void Membership::ControllerLoop() {
  std::thread watch;
  auto stop_watch = [&] {
    if (watch.joinable()) {
      ctl_watch_etcd_->CancelWatch();
      watch.join();
    }
  };
  while (!stop_) {
    if (!options_.controller) {
      Sleep(1000);
      continue;
    }
    // Campaign: the controller key is created only if absent, on our lease (never without
    // one: a key on no lease would outlive this node).
    const int64_t lease = lease_.load();
    if (left_ || lease == 0) {
      is_controller_ = false;
      Sleep(500);
      continue;
    }
    EtcdCompare absent{prefix_ + "controller", EtcdCompare::Target::kCreateRevision,
                       EtcdCompare::Result::kEqual, 0, ""};
    EtcdOp claim{EtcdOp::Kind::kPut, prefix_ + "controller", std::to_string(node_id_), "", lease};
    Result<EtcdTxnResult> won = ctl_etcd_->Txn({absent}, {claim});
    if (won.ok() && !won->succeeded) {
      // The key may still be ours: a pass that ended in Conflict (the map's compare failed)
      // leaves it on our live lease, and nobody, this node included, could win it again.
      Result<EtcdRange> held = ctl_etcd_->Get(prefix_ + "controller");
      if (held.ok() && held->kvs.size() == 1 && held->kvs[0].lease == lease &&
          held->kvs[0].value == std::to_string(node_id_))
        won->succeeded = true;
    }
    if (!won.ok() || !won->succeeded) {
      is_controller_ = false;
      Sleep(won.ok() ? 500 : kRetryMs);  // the holder's lease expires within its TTL
      continue;
    }
    is_controller_ = true;
    control_dirty_ = true;
    if (!watch.joinable()) {
      watch = std::thread([this] {
        // Any change under admin/, alive/ or nodes/ (keys between them too) marks the view dirty.
        const std::string from = prefix_ + "admin/", to = EtcdPrefixEnd(prefix_ + "nodes/");
        while (!stop_) {
          int64_t compacted = 0;
          Status s = ctl_watch_etcd_->Watch(from, to, 0,
                                            [&](const std::vector<EtcdEvent>& evs, int64_t) {
                                              if (!evs.empty()) {
                                                control_dirty_ = true;
                                                std::lock_guard<std::mutex> l(mu_);
                                                cv_.notify_all();
                                              }
                                              return !stop_.load();
                                            },
                                            &compacted);
          if (stop_) break;
          control_dirty_ = true;
          if (!s.ok()) Sleep(kRetryMs);
        }
      });
    }
    while (!stop_ && !left_ && lease_.load() == lease) {
      if (control_dirty_.exchange(false)) {
        Status s = ControlOnce();
        if (!s.ok()) {
          control_dirty_ = true;
          if (s.IsConflict()) {  // no longer the controller, or the map moved under this pass:
            Sleep(100);          // campaign again (it finds the key if it is still ours)
            break;
          }
        }
      }
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(500), [&] { return stop_.load() || control_dirty_.load(); });
      // Bootstrap waits, down nodes (out after out_delay_ms) and a transition in flight (its
      // nodes' synced/ keys) need a look now and then even without events.
      bool look = map_->epoch == 0 || map_->in_transition();
      for (const MapNode& n : map_->nodes) look = look || n.state == NodeState::kDown;
      if (look) control_dirty_ = true;
    }
    is_controller_ = false;
  }
  stop_watch();
}

Status Membership::ControlOnce() {
  // The map, nodes/, alive/, admin/ and the controller key, at one revision; keys that do not
  // name a node and values that do not parse are left out (cluster_admin.h).
  CAIRN_ASSIGN_OR_RETURN(ClusterView view, ReadClusterView(ctl_etcd_.get(), prefix_));
  if (view.controller != std::to_string(node_id_))
    return Status::Conflict("this node is no longer the controller");
  ClusterMap prev = std::move(view.map);  // epoch 0: no map yet
  const std::map<NodeId, RegisteredNode>& registered = view.registered;
  const std::set<NodeId>& up = view.alive;
  std::map<NodeId, AdminIntent>& intents = view.intents;

  ClusterMap next;
  next.epoch = prev.epoch + 1;
  // Nodes an "in" intent had placed that this map marks out (down for too long): their intent
  // is deleted once the map is written, so a node that comes back after being out waits for an
  // operator's `add` like any other, instead of pulling its slots back by itself.
  std::vector<NodeId> forget;
  if (prev.epoch == 0) {
    std::vector<NodeSpec> specs;
    for (const auto& [id, n] : registered) {
      if (up.count(id) == 0) continue;
      MapNode mn;
      mn.id = id;
      mn.address = n.address;
      mn.zone = n.zone;
      mn.weight = n.weight;
      next.nodes.push_back(mn);
      specs.push_back(NodeSpec{id, n.zone, n.weight});
    }
    const bool waited = Clock::now() - started_ > std::chrono::milliseconds(options_.bootstrap_wait_ms);
    if (specs.size() < options_.replicas) return Status::OK();
    if (options_.bootstrap_nodes > 0 && specs.size() < options_.bootstrap_nodes && !waited)
      return Status::OK();
    CAIRN_ASSIGN_OR_RETURN(next.placement, BuildPlacement(specs, options_.replicas, options_.partitions));
  } else {
    // States: up while the alive key exists, down otherwise; down for longer than
    // out_delay_ms, out. Nodes that registered after the map was made, and an out node that
    // comes back, wait for an operator (`cairn cluster add`, not built yet): an out node holds
    // nothing in the table, so it is not asked for anything.
    next.nodes = prev.nodes;
    next.placement = prev.placement;
    next.prev = prev.prev;
    const auto now = Clock::now();
    bool outs = false;
    for (MapNode& n : next.nodes) {
      if (n.state != NodeState::kUp && n.state != NodeState::kDown) continue;
      n.state = up.count(n.id) ? NodeState::kUp : NodeState::kDown;
      if (auto it = registered.find(n.id); it != registered.end()) n.address = it->second.address;
      if (n.state == NodeState::kUp) {
        down_since_.erase(n.id);
        continue;
      }
      auto [since, fresh] = down_since_.emplace(n.id, now);
      (void)fresh;
      if (now - since->second >= std::chrono::milliseconds(options_.out_delay_ms)) {
        n.state = NodeState::kOut;
        outs = true;
      }
    }
    // The operators' intents (add, drain, remove, reweight), one transition at a time: while
    // one is in flight they wait until it retires, so that `prev` is always a table every
    // acknowledged write is in (a second out still goes through: below).
    bool admin = false;
    if (!prev.in_transition()) {
      std::vector<MapNode> applied = next.nodes;
      if (ApplyIntents(intents, registered, up, &applied)) {
        ClusterMap trial;
        trial.nodes = applied;
        Result<Placement> moved = RebalancePlacement(prev.placement, trial.PlacementNodes());
        if (moved.ok()) {
          next.nodes = std::move(applied);
          admin = true;
          for (const MapNode& n : next.nodes) {
            const MapNode* was = prev.Node(n.id);
            if (was == nullptr || was->weight != n.weight || was->state != n.state)
              spdlog::info("event=cluster_admin_change node_id={} epoch={} state={} weight={}", n.id,
                           next.epoch, NodeStateName(n.state), n.weight);
          }
        } else {
          // The CLI checks every change first; this is a change that became impossible since
          // (nodes went down meanwhile). It waits.
          spdlog::warn("event=cluster_admin_refused epoch={} error=\"{}\"", prev.epoch,
                       moved.status().ToString());
        }
      }
    }
    if (outs || admin) {
      // Its partitions go to other nodes, moving only what must move; writes go to the old and
      // the new rows until the new members are synced. A transition already in flight keeps
      // its older previous table: that one holds W copies of everything acknowledged, while
      // the newer table's rows may not be synced yet.
      Result<Placement> moved = RebalancePlacement(prev.placement, next.PlacementNodes());
      if (!moved.ok()) {
        // Too few nodes left to place R replicas: the node stays down (routed around, hinted).
        spdlog::warn("event=cluster_out_refused epoch={} error=\"{}\"", prev.epoch,
                     moved.status().ToString());
        for (MapNode& n : next.nodes)
          if (n.state == NodeState::kOut) {
            const MapNode* was = prev.Node(n.id);
            n.state = was != nullptr && was->state == NodeState::kOut ? NodeState::kOut : NodeState::kDown;
          }
      } else {
        if (!prev.in_transition()) next.prev = prev.placement;
        next.placement = std::move(*moved);
        if (next.prev.table == next.placement.table) next.prev.table.clear();  // nothing moves
        for (const MapNode& n : next.nodes)
          if (n.state == NodeState::kOut && prev.Node(n.id) != nullptr && prev.Node(n.id)->state != NodeState::kOut) {
            if (auto it = intents.find(n.id); it != intents.end() && it->second.state == AdminState::kIn)
              forget.push_back(n.id);
            const bool removed = intents.count(n.id) != 0 && intents[n.id].state == AdminState::kRemoved;
            spdlog::warn("event=cluster_node_out node_id={} epoch={} moving_partitions={} note=\"{}: its "
                         "partitions move\"", n.id, next.epoch, next.MovingCount(),
                         removed ? "removed by an operator" : "down for longer than out_delay_ms");
          }
      }
    }
    bool same = next.placement.table == prev.placement.table && next.prev.table == prev.prev.table &&
                next.nodes.size() == prev.nodes.size();
    for (size_t i = 0; same && i < next.nodes.size(); i++)
      same = next.nodes[i].id == prev.nodes[i].id && next.nodes[i].state == prev.nodes[i].state &&
             next.nodes[i].address == prev.nodes[i].address && next.nodes[i].weight == prev.nodes[i].weight;
    if (same && prev.in_transition()) {
      // Retire the transition once every up node has reported it holds the data of this epoch
      // (synced/<node> >= epoch: every moving partition it leads was copied among all its
      // replicas): reads and writes then use the new rows only.
      CAIRN_ASSIGN_OR_RETURN(EtcdRange synced, ctl_etcd_->GetPrefix(prefix_ + "synced/"));
      std::map<NodeId, uint64_t> at;
      for (const EtcdKv& kv : synced.kvs) {
        // (Parsed without exceptions: a malformed key or value only fails to count.)
        const unsigned long id = std::strtoul(kv.key.c_str() + prefix_.size() + 7, nullptr, 10);
        if (id == 0 || id >= kNoNode) continue;
        at[static_cast<NodeId>(id)] = std::strtoull(kv.value.c_str(), nullptr, 10);
      }
      bool all = true;
      for (const MapNode& n : next.nodes)
        if (n.state == NodeState::kUp) all = all && at.count(n.id) != 0 && at[n.id] >= prev.epoch;
      if (!all) return Status::OK();
      spdlog::info("event=cluster_transition_retired epoch={} moved_partitions={}", next.epoch,
                   prev.MovingCount());
      next.prev.table.clear();
    } else if (same) {
      return Status::OK();
    }
  }
  // Write it: only if the map is still the one we started from and we still hold the
  // controller key on our lease (a deposed controller's write fails inside etcd).
  const std::string bytes = EncodeClusterMap(next);
  std::vector<EtcdCompare> cmp;
  if (prev.epoch == 0) {
    cmp.push_back({prefix_ + "map/epoch", EtcdCompare::Target::kVersion, EtcdCompare::Result::kEqual, 0, ""});
  } else {
    cmp.push_back({prefix_ + "map/epoch", EtcdCompare::Target::kValue, EtcdCompare::Result::kEqual, 0,
                   std::to_string(prev.epoch)});
  }
  cmp.push_back({prefix_ + "controller", EtcdCompare::Target::kValue, EtcdCompare::Result::kEqual, 0,
                 std::to_string(node_id_)});
  cmp.push_back({prefix_ + "controller", EtcdCompare::Target::kLease, EtcdCompare::Result::kEqual,
                 lease_.load(), ""});
  std::vector<EtcdOp> ops;
  size_t chunks = 0;
  for (size_t off = 0; off < bytes.size(); chunks++, off += kMapChunkBytes)
    ops.push_back({EtcdOp::Kind::kPut, ChunkKey(prefix_, chunks), bytes.substr(off, kMapChunkBytes), "", 0});
  // Chunks past the new count (a smaller map): deleted in the same transaction. (etcd refuses
  // a transaction that puts a key inside a range it also deletes.)
  ops.push_back({EtcdOp::Kind::kDelete, ChunkKey(prefix_, chunks), "", EtcdPrefixEnd(prefix_ + "map/chunk/"), 0});
  ops.push_back({EtcdOp::Kind::kPut, prefix_ + "map/epoch", std::to_string(next.epoch), "", 0});
  CAIRN_ASSIGN_OR_RETURN(EtcdTxnResult t, ctl_etcd_->Txn(cmp, ops));
  if (!t.succeeded) return Status::Conflict("the map changed or this node lost the controller key");
  for (NodeId id : forget) {
    // Only the intent this pass read (an operator's newer one stays), in its own transaction:
    // the map's must not fail for it. It bumps admin/serial, so an admin's check that read the
    // old intent fails its compare. If this is lost (the controller dies first), the node may
    // come back by itself when it returns: the old behaviour of an explicit add.
    const std::string key = prefix_ + "admin/" + std::to_string(id);
    Result<EtcdTxnResult> f = ctl_etcd_->Txn(
        {{key, EtcdCompare::Target::kModRevision, EtcdCompare::Result::kEqual, intents[id].mod_revision, ""}},
        {{EtcdOp::Kind::kDelete, key, "", "", 0},
         {EtcdOp::Kind::kPut, prefix_ + "admin/serial", "{\"controller\":\"forgot " + std::to_string(id) + "\"}", "", 0}});
    if (!f.ok() || !f->succeeded)
      spdlog::info("event=cluster_intent_kept node_id={} note=\"an operator changed it meanwhile, or etcd "
                   "did not answer\"", id);
  }
  Install(std::move(next));
  return Status::OK();
}

}  // namespace cairn::cluster
