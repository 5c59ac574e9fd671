// Membership: a node's life in the cluster, through etcd (CLUSTER.md section 3;
// docs/cluster.md). Keys under /cairn/<cluster>/:
//   nodes/<id>     {"address","zone","weight"}: registered by the node itself
//   alive/<id>     attached to the node's lease (TTL lease_ttl_s, renewed every keepalive_ms)
//   controller     the elected controller's id, attached to its lease (created only if absent)
//   map/epoch      the map's epoch (decimal); map/chunk/NNNN the encoded map in pieces
//   next_id        the allocator of node ids
//   synced/<id>    the highest epoch whose moving partitions the node's anti-entropy synced
//   admin/<id>     an operator's intent for the node (in, drain, removed; weight), and
//   admin/serial   bumped with every intent, so that two admins' writes cannot cross
//   progress/<id>  the node's sync progress in the transition in flight (status only)
//
// Every node watches map/ and keeps the newest map it has seen; with etcd down it keeps
// serving on that map. One node at a time is the controller: it watches nodes/ and alive/,
// and writes a new map only by a transaction that compares map/epoch with the epoch it
// started from AND its own controller key (value and lease), so a deposed controller's write
// fails inside etcd. It places the first map once `bootstrap_nodes` nodes have registered (or
// bootstrap_wait_ms passed with at least `replicas`); after that it changes a node's state
// (up <-> down, as its alive key comes and goes); a node down for longer than out_delay_ms
// becomes out, and the controller writes a map whose table moves its partitions to other
// nodes, the old table kept beside it as ClusterMap::prev (a transition); once every up node
// has reported synced/<id> at the map's epoch, it writes the next epoch without prev (the
// transition retired; docs/cluster.md "Map transitions"). Operators add, drain, remove and
// reweight nodes with `cairn cluster ...`, which writes intents under admin/<id>
// (cluster/cluster_admin.h); the controller watches them and applies them with
// RebalancePlacement, one transition at a time: an intent that arrives while a transition is in
// flight waits until it retires. A node that registers after the first map is not placed until
// an operator adds it (docs/cluster.md "Membership commands" says why).
//
// Thread safety: all methods may be called from any thread. Callbacks run on membership's
// own threads and must be short.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster_map.h"
#include "cluster/etcd_client.h"
#include "cluster/map_view.h"

namespace cairn::cluster {

struct MembershipOptions {
  EtcdOptions etcd;
  std::string cluster = "default";  // the etcd prefix is /cairn/<cluster>/
  NodeId node_id = 0;               // 0: allocate one (and keep it in node_id_file)
  std::string node_id_file;         // where an allocated id is kept (the data directory's)
  // Where the newest map is kept (the data directory's), so that a node that has joined before
  // can restart while etcd is unreachable: it serves on that map and registers once etcd is
  // back. Empty: not kept.
  std::string map_file;
  std::string address;              // this node's data port, "host:port"
  std::string zone = "default";
  uint32_t weight = 1;
  uint32_t replicas = 3;            // R of the first map
  uint32_t bootstrap_nodes = 0;     // the first map waits for this many registered nodes...
  uint32_t bootstrap_wait_ms = 10000;  // ...at most this long (then any >= replicas will do)
  uint32_t lease_ttl_s = 5;
  uint32_t keepalive_ms = 1500;
  bool controller = true;           // may this node be elected controller
  uint32_t partitions = kPartitions;  // tests use fewer
  // A node down (lease expired) for longer than this becomes out: the controller moves its
  // partitions to other nodes (issue 12 item 2). Named bound; default 60 s, tests use ~2 s.
  uint32_t out_delay_ms = 60000;
};

class Membership final : public MapView {
 public:
  static Result<std::unique_ptr<Membership>> Start(const MembershipOptions& options);
  ~Membership() override;
  // Revokes the lease (the node is down at once rather than after the TTL) and stops.
  void Stop();

  NodeId node_id() const { return node_id_; }
  // The installed map's epoch, for requests to carry (ClientRouting::epoch).
  const std::atomic<uint64_t>* epoch_cell() const override { return &epoch_; }
  // The newest map seen (never null; epoch 0 until there is one).
  std::shared_ptr<const ClusterMap> map() const override;
  // Waits until the map's epoch is at least `epoch`; false on timeout.
  bool WaitForEpoch(uint64_t epoch, uint32_t timeout_ms);
  // A peer or client showed us epoch `epoch`: if it is newer than ours, fetch it now.
  void NoteEpoch(uint64_t epoch) override;
  uint64_t noted_epoch() const override { return wanted_epoch_.load(); }
  bool fetches_on_note() const override { return true; }
  Status Refresh() override;
  // Writes synced/<node> = `epoch`: this node leads no moving partition of that epoch's map
  // that is not synced (cluster/anti_entropy.h). The controller retires a transition once
  // every up node has reported its epoch.
  Status ReportSynced(uint64_t epoch);
  // Writes progress/<node> = {"epoch","synced","total"}: of the moving partitions this node
  // leads at `epoch`, how many are synced (for `cairn cluster status`; nothing depends on it).
  Status ReportProgress(uint64_t epoch, uint32_t synced, uint32_t total);
  // Called after every new map (on membership's thread).
  void OnMapChange(std::function<void(std::shared_ptr<const ClusterMap>)> f);
  bool is_controller() const { return is_controller_.load(); }
  // Whether the last etcd call succeeded (the /readyz and status page report it).
  bool etcd_reachable() const { return etcd_ok_.load(); }
  // Whether the node is registered (its alive key held): false after a start on the kept map
  // while etcd was unreachable, until etcd answers again.
  bool registered() const { return lease_.load() != 0; }
  // Takes the node out of the cluster for as long as this process runs: its store can no
  // longer take writes (read-only after a write error, its disk wiped). The lease is revoked
  // (from the keepalive thread, at its next tick) and never renewed or taken again, so the
  // controller sees the node down at once and out after out_delay_ms, as if it had died; the
  // node stops campaigning for controller. It goes on serving what it can (reads, its map).
  // A restart registers it again. Idempotent; logged once, with `reason`.
  void Leave(const std::string& reason);
  bool left() const { return left_.load(); }
  std::string prefix() const { return prefix_; }

  // Reads the map from etcd at one revision (also used by the CLI). NotFound when there is
  // none yet.
  static Result<ClusterMap> FetchMap(EtcdClient* etcd, const std::string& prefix,
                                     int64_t* revision = nullptr);

 private:
  explicit Membership(MembershipOptions options);
  // Takes the node's id (configured, kept, or allocated), then Announce. Before the threads.
  Status Register();
  // Registers the node's address, zone and weight, and its alive key on a new lease.
  Status Announce();
  void KeepAliveLoop();
  // Fetches and installs the map if a request named a newer epoch (NoteEpoch). Keepalive's thread.
  void FetchWantedMap();
  void WatchMapLoop();
  void ControllerLoop();
  // One pass of the controller: reads nodes/ and alive/, writes a new map if anything changed.
  Status ControlOnce();
  void Install(ClusterMap m);
  // Keeps `m` in options_.map_file (written whole, synced, renamed over the old one), if it is
  // newer than what is kept. A failure is only reported (the map in etcd is the truth).
  void SaveMap(const ClusterMap& m);
  bool Sleep(uint32_t ms);  // false when stopping

  MembershipOptions options_;
  std::string prefix_;
  NodeId node_id_ = 0;
  // One client (one connection) per thread, so that a slow call of one never delays another:
  // the lease's keepalive above all.
  std::unique_ptr<EtcdClient> etcd_;        // registration, keepalive
  std::unique_ptr<EtcdClient> ctl_etcd_;    // the controller's reads and writes
  std::unique_ptr<EtcdClient> watch_etcd_;  // the map watch
  std::unique_ptr<EtcdClient> ctl_watch_etcd_;  // the controller's watch
  std::mutex sync_mu_;                      // one ReportSynced at a time
  std::unique_ptr<EtcdClient> sync_etcd_;   // ReportSynced's (anti-entropy's thread)
  std::unique_ptr<EtcdClient> refresh_etcd_;  // Refresh's fetches (one at a time: refresh_gate_)
  // The controller's (its thread only): when it first saw each node down; a node down for
  // longer than out_delay_ms becomes out. A new controller starts the delay afresh.
  std::map<NodeId, std::chrono::steady_clock::time_point> down_since_;
  std::atomic<int64_t> lease_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> left_{false};  // Leave
  std::atomic<bool> is_controller_{false};
  std::atomic<bool> etcd_ok_{true};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const ClusterMap> map_;
  std::atomic<uint64_t> epoch_{0};
  std::vector<std::function<void(std::shared_ptr<const ClusterMap>)>> listeners_;
  std::atomic<uint64_t> wanted_epoch_{0};
  std::atomic<bool> control_dirty_{true};
  RefreshGate refresh_gate_;    // one Refresh fetch at a time (the others wait for its map)
  std::mutex save_mu_;          // one SaveMap at a time
  uint64_t saved_epoch_ = 0;    // under save_mu_
  std::chrono::steady_clock::time_point started_;
  std::thread keepalive_, watcher_, controller_;
};

}  // namespace cairn::cluster
