#include "cluster/cluster_admin.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cluster/membership.h"

namespace cairn::cluster {
namespace {

using Json = nlohmann::json;

// The id after `dir` in `key` ("<prefix>nodes/12" -> 12); 0 when it is not a node id (e.g.
// admin/serial).
NodeId IdAfter(const std::string& key, const std::string& dir) {
  if (key.size() <= dir.size() || key.compare(0, dir.size(), dir) != 0) return 0;
  const char* s = key.c_str() + dir.size();
  char* end = nullptr;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (end == s || *end != '\0' || v == 0 || v >= kNoNode) return 0;
  return static_cast<NodeId>(v);
}

std::vector<MapNode>::iterator FindNode(std::vector<MapNode>* nodes, NodeId id) {
  return std::lower_bound(nodes->begin(), nodes->end(), id,
                          [](const MapNode& n, NodeId v) { return n.id < v; });
}

// Nodes that hold slots (up or down, weight > 0) and the zones they are in.
void CountEligible(const std::vector<MapNode>& nodes, size_t* count, size_t* zones) {
  std::set<std::string> z;
  *count = 0;
  for (const MapNode& n : nodes) {
    if ((n.state != NodeState::kUp && n.state != NodeState::kDown) || n.weight == 0) continue;
    (*count)++;
    z.insert(n.zone);
  }
  *zones = z.size();
}

uint64_t SlotsOf(const Placement& p, NodeId id) {
  return static_cast<uint64_t>(std::count(p.table.begin(), p.table.end(), id));
}

}  // namespace

const char* AdminStateName(AdminState s) {
  switch (s) {
    case AdminState::kIn:
      return "in";
    case AdminState::kDrain:
      return "drain";
    case AdminState::kRemoved:
      return "removed";
  }
  return "?";
}

const char* AdminCommandName(AdminCommand c) {
  switch (c) {
    case AdminCommand::kAdd:
      return "add";
    case AdminCommand::kDrain:
      return "drain";
    case AdminCommand::kRemove:
      return "remove";
    case AdminCommand::kReweight:
      return "reweight";
  }
  return "?";
}

std::string EncodeAdminIntent(const AdminIntent& i) {
  return Json{{"state", AdminStateName(i.state)}, {"weight", i.weight}}.dump();
}

Result<AdminIntent> DecodeAdminIntent(std::string_view json) {
  Json j = Json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::InvalidArgument("an admin intent is not a JSON object");
  AdminIntent i;
  const Json& st = j.contains("state") ? j["state"] : Json();
  if (st == "in") {
    i.state = AdminState::kIn;
  } else if (st == "drain") {
    i.state = AdminState::kDrain;
  } else if (st == "removed") {
    i.state = AdminState::kRemoved;
  } else {
    return Status::InvalidArgument("an admin intent's state is not in, drain or removed");
  }
  const Json& w = j.contains("weight") ? j["weight"] : Json();
  if (!w.is_number_unsigned() || w.get<uint64_t>() == 0 || w.get<uint64_t>() > kMaxNodeWeight)
    return Status::InvalidArgument("an admin intent's weight is not 1.." +
                                   std::to_string(kMaxNodeWeight));
  i.weight = w.get<uint32_t>();
  return i;
}

bool ApplyIntents(const std::map<NodeId, AdminIntent>& intents,
                  const std::map<NodeId, RegisteredNode>& registered, const std::set<NodeId>& up,
                  std::vector<MapNode>* nodes) {
  bool changed = false;
  for (const auto& [id, in] : intents) {
    auto it = FindNode(nodes, id);
    MapNode* n = it != nodes->end() && it->id == id ? &*it : nullptr;
    switch (in.state) {
      case AdminState::kIn: {
        auto r = registered.find(id);
        if (n == nullptr) {
          // A new node (or one never placed): it joins only while up, since the transition that
          // gives it slots needs it to sync them.
          if (r == registered.end() || up.count(id) == 0) break;
          MapNode m;
          m.id = id;
          m.state = NodeState::kUp;
          m.weight = in.weight;
          m.address = r->second.address;
          m.zone = r->second.zone;
          nodes->insert(it, std::move(m));
          changed = true;
        } else if (n->state == NodeState::kOut) {
          if (up.count(id) == 0) break;  // back once it is up
          n->state = NodeState::kUp;
          n->weight = in.weight;
          if (r != registered.end()) {
            n->address = r->second.address;
            n->zone = r->second.zone;
          }
          changed = true;
        } else if (n->weight != in.weight) {
          n->weight = in.weight;
          changed = true;
        }
        break;
      }
      case AdminState::kDrain:
        if (n != nullptr && n->state != NodeState::kOut && n->weight != 0) {
          n->weight = 0;
          changed = true;
        }
        break;
      case AdminState::kRemoved:
        if (n != nullptr && n->state != NodeState::kOut) {
          n->state = NodeState::kOut;
          changed = true;
        }
        break;
    }
  }
  return changed;
}

Result<ClusterView> ReadClusterView(EtcdClient* etcd, const std::string& prefix) {
  ClusterView v;
  Result<ClusterMap> m = Membership::FetchMap(etcd, prefix, &v.revision);
  if (m.ok()) {
    v.map = std::move(*m);
  } else if (!m.status().IsNotFound()) {
    return m.status();
  }
  // Everything else at the map's revision (or, with no map, at the revision the first read saw).
  CAIRN_ASSIGN_OR_RETURN(EtcdRange reg, etcd->GetPrefix(prefix + "nodes/", v.revision));
  v.revision = reg.revision;
  for (const EtcdKv& kv : reg.kvs) {
    const NodeId id = IdAfter(kv.key, prefix + "nodes/");
    Json j = Json::parse(kv.value, nullptr, false);
    if (id == 0 || j.is_discarded() || !j.is_object()) continue;
    RegisteredNode n;
    n.id = id;
    n.address = j.value("address", std::string());
    n.zone = j.value("zone", std::string("default"));
    n.weight = j.value("weight", 1u);
    v.registered[id] = n;
  }
  CAIRN_ASSIGN_OR_RETURN(EtcdRange alive, etcd->GetPrefix(prefix + "alive/", v.revision));
  for (const EtcdKv& kv : alive.kvs)
    if (NodeId id = IdAfter(kv.key, prefix + "alive/"); id != 0) v.alive.insert(id);
  CAIRN_ASSIGN_OR_RETURN(EtcdRange admin, etcd->GetPrefix(prefix + "admin/", v.revision));
  for (const EtcdKv& kv : admin.kvs) {
    if (kv.key == prefix + "admin/serial") {
      v.serial_mod_revision = kv.mod_revision;
      continue;
    }
    const NodeId id = IdAfter(kv.key, prefix + "admin/");
    Result<AdminIntent> in = DecodeAdminIntent(kv.value);
    if (id == 0 || !in.ok()) continue;
    in->mod_revision = kv.mod_revision;
    v.intents[id] = *in;
  }
  CAIRN_ASSIGN_OR_RETURN(EtcdRange synced, etcd->GetPrefix(prefix + "synced/", v.revision));
  for (const EtcdKv& kv : synced.kvs)
    if (NodeId id = IdAfter(kv.key, prefix + "synced/"); id != 0)
      v.synced[id] = std::strtoull(kv.value.c_str(), nullptr, 10);
  CAIRN_ASSIGN_OR_RETURN(EtcdRange progress, etcd->GetPrefix(prefix + "progress/", v.revision));
  for (const EtcdKv& kv : progress.kvs) {
    const NodeId id = IdAfter(kv.key, prefix + "progress/");
    Json j = Json::parse(kv.value, nullptr, false);
    if (id == 0 || j.is_discarded() || !j.is_object()) continue;
    v.progress[id] = {j.value("epoch", uint64_t{0}), j.value("synced", 0u), j.value("total", 0u)};
  }
  CAIRN_ASSIGN_OR_RETURN(EtcdRange ctl, etcd->Get(prefix + "controller", {}, v.revision));
  if (!ctl.kvs.empty()) v.controller = ctl.kvs[0].value;
  return v;
}

Result<AdminIntent> CheckAdminChange(const ClusterView& view, AdminCommand cmd, NodeId node,
                                     std::optional<uint32_t> weight) {
  const std::string what = std::string(AdminCommandName(cmd)) + " node " + std::to_string(node);
  if (view.map.epoch == 0)
    return Status::InvalidArgument(
        "the cluster has no map yet (it is made once enough nodes registered)");
  const MapNode* mn = view.map.Node(node);
  auto reg = view.registered.find(node);
  if (mn == nullptr && reg == view.registered.end()) {
    std::string known;
    for (const auto& [id, r] : view.registered)
      known += (known.empty() ? "" : ", ") + std::to_string(id);
    return Status::InvalidArgument(
        "no node " + std::to_string(node) +
        " in this cluster (registered: " + (known.empty() ? "none" : known) + ")");
  }
  if (weight.has_value() && (*weight == 0 || *weight > kMaxNodeWeight))
    return Status::InvalidArgument(
        "bad weight " + std::to_string(*weight) + ": a weight is 1.." +
        std::to_string(kMaxNodeWeight) + " (kMaxNodeWeight)" +
        (*weight == 0 ? "; to move every slot off a node, drain it" : ""));
  const AdminIntent* cur = nullptr;
  if (auto it = view.intents.find(node); it != view.intents.end()) cur = &it->second;
  const bool holds = mn != nullptr && mn->state != NodeState::kOut;
  // The weight the node had before a drain or a removal (the map's weight is 0 while drained).
  uint32_t known_weight = mn != nullptr && mn->weight > 0 ? mn->weight
                          : cur != nullptr                ? cur->weight
                          : reg != view.registered.end()  ? reg->second.weight
                                                          : 1;
  known_weight = std::clamp<uint32_t>(known_weight, 1, kMaxNodeWeight);
  const uint64_t slots =
      mn == nullptr ? 0 : SlotsOf(view.map.placement, node) + SlotsOf(view.map.prev, node);

  AdminIntent out;
  switch (cmd) {
    case AdminCommand::kAdd:
      if (view.alive.count(node) == 0)
        return Status::InvalidArgument(what +
                                       ": it is not up (no alive key): start it first; a node "
                                       "joins only while up, to sync the slots it takes");
      if (holds && mn->weight > 0 && (cur == nullptr || cur->state == AdminState::kIn))
        return Status::InvalidArgument(what + ": it is already in the cluster (weight " +
                                       std::to_string(mn->weight) +
                                       "); to change its weight, reweight it");
      out = {AdminState::kIn, weight.value_or(known_weight), 0};
      break;
    case AdminCommand::kDrain:
      if (!holds)
        return Status::InvalidArgument(
            what + ": it holds no slots (" +
            (mn == nullptr ? std::string("not in the map") : std::string("out")) +
            "): nothing to drain");
      if (cur != nullptr && cur->state == AdminState::kDrain)
        return Status::InvalidArgument(what + ": it is draining already");
      out = {AdminState::kDrain, known_weight, 0};
      break;
    case AdminCommand::kRemove:
      if (mn == nullptr)
        return Status::InvalidArgument(
            what + ": it is not in the map (registered, never added): nothing to remove");
      if (cur != nullptr && cur->state == AdminState::kRemoved)
        return Status::InvalidArgument(what + ": it is removed already");
      if (view.alive.count(node) != 0 && slots > 0)
        return Status::InvalidArgument(what + ": it is up and holds " + std::to_string(slots) +
                                       " slots: drain it first (cairn cluster drain " +
                                       std::to_string(node) +
                                       "), or stop it; remove is for a node that is gone");
      out = {AdminState::kRemoved, known_weight, 0};
      break;
    case AdminCommand::kReweight:
      if (!weight.has_value())
        return Status::InvalidArgument(what + ": give the new weight (--weight N)");
      if (!holds || (cur != nullptr && cur->state != AdminState::kIn))
        return Status::InvalidArgument(what + ": it is not in the cluster (" +
                                       (cur != nullptr  ? AdminStateName(cur->state)
                                        : mn == nullptr ? "not in the map"
                                                        : "out") +
                                       "): add it with --weight instead");
      if (mn->weight == *weight)
        return Status::InvalidArgument(what + ": its weight is " + std::to_string(*weight) +
                                       " already");
      out = {AdminState::kIn, *weight, 0};
      break;
  }

  // Capacity: the map's nodes with today's liveness, every intent applied, before and after.
  std::vector<MapNode> before = view.map.nodes;
  for (MapNode& n : before)
    if (n.state == NodeState::kUp || n.state == NodeState::kDown)
      n.state = view.alive.count(n.id) ? NodeState::kUp : NodeState::kDown;
  std::vector<MapNode> after = before;
  (void)ApplyIntents(view.intents, view.registered, view.alive, &before);
  std::map<NodeId, AdminIntent> next = view.intents;
  next[node] = out;
  (void)ApplyIntents(next, view.registered, view.alive, &after);
  size_t n_before = 0, z_before = 0, n_after = 0, z_after = 0;
  CountEligible(before, &n_before, &z_before);
  CountEligible(after, &n_after, &z_after);
  const size_t r = view.map.placement.replicas;
  if (n_after < r)
    return Status::InvalidArgument(what + ": it would leave " + std::to_string(n_after) +
                                   " nodes holding slots, fewer than R = " + std::to_string(r) +
                                   " replicas");
  if (z_after < std::min(r, z_before))
    return Status::InvalidArgument(
        what + ": it would leave " + std::to_string(z_after) +
        " zones holding slots, fewer than R = " + std::to_string(r) + " (the cluster has " +
        std::to_string(z_before) +
        "): a partition's replicas could no longer be in distinct zones");
  return out;
}

Status WriteAdminIntent(EtcdClient* etcd, const std::string& prefix, const ClusterView& view,
                        AdminCommand cmd, NodeId node, AdminIntent* in) {
  // Only if no intent changed since the read: every change bumps admin/serial.
  const std::string serial = prefix + "admin/serial";
  EtcdCompare cmp =
      view.serial_mod_revision == 0
          ? EtcdCompare{serial, EtcdCompare::Target::kVersion, EtcdCompare::Result::kEqual, 0, ""}
          : EtcdCompare{serial, EtcdCompare::Target::kModRevision, EtcdCompare::Result::kEqual,
                        view.serial_mod_revision, ""};
  const std::string note =
      Json{{"node", node}, {"command", AdminCommandName(cmd)}, {"map_epoch", view.map.epoch}}
          .dump();
  std::vector<EtcdOp> ops = {
      {EtcdOp::Kind::kPut, prefix + "admin/" + std::to_string(node), EncodeAdminIntent(*in), "", 0},
      {EtcdOp::Kind::kPut, serial, note, "", 0}};
  CAIRN_ASSIGN_OR_RETURN(EtcdTxnResult t, etcd->Txn({cmp}, ops));
  if (!t.succeeded)
    return Status::Conflict(
        "another admin changed the cluster's intents meanwhile; nothing was "
        "written: look at cairn cluster status and try again");
  in->mod_revision = t.revision;
  return Status::OK();
}

Result<AdminIntent> WriteAdminChange(EtcdClient* etcd, const std::string& prefix, AdminCommand cmd,
                                     NodeId node, std::optional<uint32_t> weight) {
  CAIRN_ASSIGN_OR_RETURN(ClusterView view, ReadClusterView(etcd, prefix));
  CAIRN_ASSIGN_OR_RETURN(AdminIntent in, CheckAdminChange(view, cmd, node, weight));
  CAIRN_RETURN_IF_ERROR(WriteAdminIntent(etcd, prefix, view, cmd, node, &in));
  return in;
}

bool IntentsApplied(const ClusterView& view, std::vector<std::string>* waiting) {
  bool all = true;
  for (const auto& [id, in] : view.intents) {
    const MapNode* n = view.map.Node(id);
    bool done = false;
    switch (in.state) {
      case AdminState::kIn:
        done = n != nullptr && n->state != NodeState::kOut && n->weight == in.weight;
        break;
      case AdminState::kDrain:
        done = n == nullptr || n->state == NodeState::kOut || n->weight == 0;
        break;
      case AdminState::kRemoved:
        done = n == nullptr || n->state == NodeState::kOut;
        break;
    }
    if (done) continue;
    all = false;
    if (waiting == nullptr) continue;
    std::string why =
        view.map.in_transition() ? "waits for the transition in flight to retire (one at a time)"
        : in.state == AdminState::kIn && view.alive.count(id) == 0 ? "waits for the node to be up"
                                                                   : "waits for the controller";
    waiting->push_back("node " + std::to_string(id) + " " + AdminStateName(in.state) +
                       (in.state == AdminState::kIn ? " weight " + std::to_string(in.weight) : "") +
                       ": " + why);
  }
  return all;
}

}  // namespace cairn::cluster
