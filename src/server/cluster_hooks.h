// ClusterHooks: what a cairnd that is a cluster node tells its connections (docs/protocol.md
// section 9). Without hooks, cairnd is a single node: routed requests of role kAny or
// kCoordinate are served by its one ObjectService, and kReplica is NotSupported.
//
// Thread safety: every method from any connection's loop; none blocks.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proto/messages.h"
#include "service/object_service.h"

namespace cairn::server {

// What the ops listener shows of a cluster node (/metrics, /status.json, /readyz, the page).
struct ClusterStatus {
  bool joined = false;        // registered and serving (false: still joining)
  uint64_t epoch = 0;         // the map this node holds (0: none yet)
  uint64_t noted_epoch = 0;   // the newest epoch a peer or client has shown it
  uint32_t self = 0;          // this node's id
  bool controller = false;    // this node writes the map
  bool etcd_reachable = false;  // the last etcd call succeeded (false: serving on the map it has)
  std::string write_policy;
  uint32_t replicas = 0;      // R
  struct Node {
    uint32_t id = 0;
    std::string address, zone;
    std::string state;        // up, down, out, draining
    uint32_t weight = 0;
    uint64_t partitions = 0;  // partition-replicas placed on it
    // In a transition: those it held in the previous table (else equal to `partitions`).
    uint64_t partitions_before = 0;
  };
  std::vector<Node> nodes;
  // A transition in flight (docs/cluster.md "Map transitions"): the partitions whose rows
  // differ between the previous table and this one (0: none moving).
  uint64_t moving_partitions = 0;
  // This node's share of the transition's sync, as of its last anti-entropy round: of the
  // moving partitions it leads at `sync_epoch`, how many are synced (0/0 when it leads none,
  // sync_epoch 0 before its first round of a transition).
  uint64_t sync_epoch = 0;
  uint32_t sync_synced = 0, sync_led = 0;
  uint64_t hint_queue_bytes = 0;     // hints waiting on this node, every target
  double hint_oldest_age_s = 0;      // age of the oldest of them
  uint64_t hints_written = 0, hints_replayed = 0, hints_skipped = 0;
  uint64_t coordinated = 0, routed = 0, failovers = 0, hedged = 0, read_repairs = 0,
           partial_writes = 0;
  // Anti-entropy (docs/cluster.md "Anti-entropy").
  uint64_t ae_rounds = 0, ae_partitions_compared = 0, ae_leaves_walked = 0,
           ae_keys_repaired = 0, ae_bytes_pushed = 0, ae_repairs_refused = 0;
};

class ClusterHooks {
 public:
  virtual ~ClusterHooks() = default;
  // The node's map epoch now (0: it has no map yet).
  virtual uint64_t epoch() const = 0;
  // A request carried a newer epoch than ours: fetch the map (asynchronously).
  virtual void NoteEpoch(uint64_t epoch) = 0;
  // Whether `key_id` is the cluster's member key: replica operations need it, so a process
  // that is not a member cannot write replicas.
  virtual bool IsMemberKey(std::string_view key_id) const = 0;
  // The service that serves a request of this role (kAny also for requests not routed).
  virtual service::ObjectService* ServiceFor(proto::RoutingRole role) = 0;
  // Answers a DIGEST request (anti-entropy, docs/protocol.md section 10) from this node's digest
  // and store: the reply body, or InvalidArgument/LimitExceeded for a bad request. Called on
  // the I/O pool (it may scan the local index).
  virtual Result<std::string> Digest(std::string_view request) = 0;
  // The DIGEST fence (docs/cluster.md "Map transitions"; cluster/epoch_fence.h). Admits a
  // replica write (PUT or DELETE) sent under map epoch `sent`: null, nothing admitted, when
  // `sent` is older than this node's epoch now (*ours says which); otherwise a hold the write
  // keeps until it is durable or has failed. The check and the count are one step, so no write
  // of an older map is admitted after a DIGEST found none in flight.
  virtual std::shared_ptr<const void> AdmitReplicaWrite(uint64_t sent, uint64_t* ours) = 0;
  // Called on the I/O pool before a DIGEST at `epoch` is answered: waits (at most
  // kFenceWaitMs) until no replica write sent under an older epoch is in flight here, and
  // returns how many are left (0: answer it).
  virtual uint64_t AwaitOlderWrites(uint64_t epoch) = 0;
  // The node's cluster state for the ops listener (called on its pool: may take a millisecond
  // to count partitions, never blocks on the network).
  virtual ClusterStatus Status() const = 0;
  // Counters a STAT reply carries beside the store's (the status page of another node reads
  // them through its peer poller): this node's share of a transition's sync,
  // cluster.sync_epoch, cluster.sync_synced and cluster.sync_led. Never blocks.
  virtual void AddStatCounters(std::map<std::string, uint64_t>* server) const = 0;
};

}  // namespace cairn::server
