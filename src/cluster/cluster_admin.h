// ClusterAdmin: the operator's membership commands (issue 12 item 3: `cairn cluster add | drain
// | remove | reweight | status`; docs/cluster.md "Membership commands").
//
// An operator does not write the map. The CLI writes an **intent** per node under
// /cairn/<cluster>/admin/<id> (JSON {"state":"in"|"drain"|"removed","weight":N}), checked first
// against the map, the registered nodes and every other intent, and written by a transaction
// that compares admin/serial's mod revision with the one the check read: two admins writing at
// once cannot lose each other's change, and no check passes against a view another admin has
// changed meanwhile. The controller (cluster/membership.h) watches admin/ and turns intents into
// a new map, one transition at a time (ApplyIntents below; RebalancePlacement moves only what
// must move).
//
// What each state means in the map:
//   in       the node holds slots at its weight: placed if it is registered and up but not in
//            the map (a new node), or back from out (it came back after being out or removed).
//   drain    its map weight is 0: placement moves every slot off it, while its state stays up,
//            so it keeps serving the old rows until the transition retires (the data path
//            routes only to up nodes, which is why kDraining is not used in the map).
//   removed  it is out at once (no out_delay_ms): its slots are rebuilt from the survivors.
//
// Thread safety: free functions on values, and one EtcdClient per call.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "cluster/cluster_map.h"
#include "cluster/etcd_client.h"

namespace cairn::cluster {

// Named limit: the highest weight an operator may give a node (weights are relative; 1000
// allows a 1000:1 spread, beyond which the lightest node's quota rounds to almost nothing).
inline constexpr uint32_t kMaxNodeWeight = 1000;

enum class AdminState : uint8_t { kIn, kDrain, kRemoved };
const char* AdminStateName(AdminState s);

struct AdminIntent {
  AdminState state = AdminState::kIn;
  uint32_t weight = 1;       // for kIn (kept for the others, shown by status)
  int64_t mod_revision = 0;  // as read from etcd (0: not read / absent)
};

std::string EncodeAdminIntent(const AdminIntent& i);
// InvalidArgument for anything but {"state": "in"|"drain"|"removed", "weight": 1..kMaxNodeWeight}.
Result<AdminIntent> DecodeAdminIntent(std::string_view json);

// A registered node (nodes/<id>), as the node itself announced it.
struct RegisteredNode {
  NodeId id = 0;
  std::string address;
  std::string zone;
  uint32_t weight = 1;
};

// Applies `intents` to `nodes` (the next map's nodes, their up/down states already set from
// the alive keys; kept sorted by id). Returns whether anything changed. A node an intent puts
// in is placed only once it is registered and up (it must take part in its transition's sync).
bool ApplyIntents(const std::map<NodeId, AdminIntent>& intents,
                  const std::map<NodeId, RegisteredNode>& registered, const std::set<NodeId>& up,
                  std::vector<MapNode>* nodes);

// The change one command asks for.
enum class AdminCommand { kAdd, kDrain, kRemove, kReweight };
const char* AdminCommandName(AdminCommand c);

// Everything a check and `status` need, read from etcd at one revision.
struct ClusterView {
  int64_t revision = 0;
  ClusterMap map;                               // epoch 0: no map yet
  std::map<NodeId, RegisteredNode> registered;  // nodes/
  std::set<NodeId> alive;                       // alive/
  std::map<NodeId, AdminIntent> intents;        // admin/<id>
  int64_t serial_mod_revision = 0;              // admin/serial (0: absent)
  std::map<NodeId, uint64_t> synced;            // synced/<id>
  struct Progress {
    uint64_t epoch = 0;
    uint32_t synced = 0;
    uint32_t total = 0;
  };
  std::map<NodeId, Progress> progress;  // progress/<id>
  std::string controller;               // controller (a node id), empty if none
};
Result<ClusterView> ReadClusterView(EtcdClient* etcd, const std::string& prefix);

// Checks `cmd` for `node` (weight: for add and reweight; nullopt = keep / the registered one)
// against `view` and returns the intent to write. InvalidArgument (fix the input) naming the
// limit: unknown node, a weight of 0 or over kMaxNodeWeight, a node in the wrong state for the
// command, a change that would leave fewer than R nodes to hold the replicas or fewer zones than
// min(R, the zones it has now).
Result<AdminIntent> CheckAdminChange(const ClusterView& view, AdminCommand cmd, NodeId node,
                                     std::optional<uint32_t> weight);

// Writes `in` for `node` if no intent changed since `view` was read (admin/serial's mod
// revision), bumping admin/serial. Conflict otherwise (nothing written).
Status WriteAdminIntent(EtcdClient* etcd, const std::string& prefix, const ClusterView& view,
                        AdminCommand cmd, NodeId node, AdminIntent* in);

// Reads, checks and writes one change (the CLI's add/drain/remove/reweight). Conflict when
// another admin changed an intent between the read and the write (nothing written: look at
// status, retry). Returns the intent written.
Result<AdminIntent> WriteAdminChange(EtcdClient* etcd, const std::string& prefix, AdminCommand cmd,
                                     NodeId node, std::optional<uint32_t> weight);

// Whether the map already does what the intents ask (nothing waits for the controller).
// `waiting` gets one line per node whose intent is not applied yet.
bool IntentsApplied(const ClusterView& view, std::vector<std::string>* waiting);

}  // namespace cairn::cluster
