#include "cli/cluster_commands.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "cli/progress.h"
#include "cli/signals.h"
#include "cli/stream_io.h"
#include "util/escape.h"

namespace cairn::cli {
namespace {

using Json = nlohmann::ordered_json;
using cluster::AdminState;
using cluster::ClusterView;
using cluster::MapNode;
using cluster::NodeId;
using cluster::NodeState;

// The etcd client of a cluster command: --cluster's endpoints, with etcd's own credentials when
// $CAIRN_ETCD_USER is set (the password from the file $CAIRN_ETCD_PASSWORD_FILE names, never
// from the command line, where `ps` would show it).
Outcome OpenEtcd(const Context& ctx, std::unique_ptr<cluster::EtcdClient>* out) {
  if (ctx.cluster.empty())
    return Outcome::Usage(
        "needs the cluster's etcd: --cluster HOST:PORT[,HOST:PORT...] or $CAIRN_CLUSTER");
  cluster::EtcdOptions eo;
  if (Status s = cluster::ParseEtcdEndpoints(ctx.cluster, &eo.endpoints); !s.ok())
    return Outcome::Usage(s.message() + " (--cluster or CAIRN_CLUSTER)");
  if (Outcome o = EtcdCredentials(&eo); !o.ok()) return o;
  Result<std::unique_ptr<cluster::EtcdClient>> c = cluster::EtcdClient::Create(eo);
  if (!c.ok()) return Outcome::Error("etcd: " + c.status().message());
  *out = std::move(*c);
  return Outcome::Ok();
}

std::string Prefix(const Context& ctx) { return "/cairn/" + ctx.cluster_name + "/"; }

uint64_t SlotsOf(const cluster::Placement& p, NodeId id) {
  return static_cast<uint64_t>(std::count(p.table.begin(), p.table.end(), id));
}

// What a person calls the node's state: the map's, or draining (weight 0 by a drain intent,
// still serving), or unplaced (registered, not in the map: waits for `add`).
std::string ShownState(const ClusterView& v, NodeId id) {
  const MapNode* n = v.map.Node(id);
  if (n == nullptr) return "unplaced";
  auto in = v.intents.find(id);
  if (n->state != NodeState::kOut && in != v.intents.end() &&
      in->second.state == AdminState::kDrain)
    return v.alive.count(id) != 0 ? "draining" : "draining-down";
  if (n->state == NodeState::kUp || n->state == NodeState::kDown)
    return v.alive.count(id) != 0 ? "up" : "down";  // (liveness now, ahead of the map)
  return cluster::NodeStateName(n->state);
}

// A bar of `done` of `total` (full when there is nothing to do). Nodes' reports can briefly
// count more than the map moves: ProgressBar clamps.
std::string Bar(uint64_t done, uint64_t total, int width) {
  return ProgressBar(total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total), width);
}

// --wait: the cluster's status every kWaitPollMs until it is settled (the intent applied, no
// transition in flight, nothing waiting); the progress on stderr. etcd errors are shown and
// retried (the change goes on without us). Its status document once settled.
constexpr int64_t kWaitPollMs = 250;
Result<Json> WaitSettled(cluster::EtcdClient* etcd, const Context& ctx, const ClusterChangeArgs& args) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  ProgressReporter progress(fmt::format("{} node {}", cluster::AdminCommandName(args.command), args.node),
                            stderr, ::isatty(STDERR_FILENO) == 1, start);
  const std::string goes_on = "the change goes on: follow it with cairn cluster status";
  while (true) {
    Result<ClusterView> v = cluster::ReadClusterView(etcd, Prefix(ctx));
    std::string line;
    if (v.ok()) {
      Json s = ClusterStatusJson(*v, ctx.cluster_name);
      if (s["settled"].get<bool>()) {
        progress.Finish();
        return s;
      }
      if (!s["transition"].is_null()) {
        const Json& t = s["transition"];
        const uint64_t done = t["partitions_synced"].get<uint64_t>(),
                       total = t["moving_partitions"].get<uint64_t>();
        line = fmt::format("transition to epoch {}: {}{}/{} moving partitions synced, {}/{} nodes reported",
                           t["epoch"].get<uint64_t>(),
                           progress.tty() ? Bar(done, total, kProgressBarWidth) + " " : "", done,
                           total, t["nodes_synced"].get<uint64_t>(), t["nodes_total"].get<uint64_t>());
      } else {
        line = "waiting for the controller";
        if (!s["pending"].empty()) line += ": " + OneLine(s["pending"][0].get<std::string>());
      }
    } else {
      line = "cannot read the cluster from etcd (retrying): " + OneLine(v.status().message());
    }
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - start).count();
    progress.TickText(fmt::format("{} ({})", line, FormatDuration(elapsed)), now);
    if (args.timeout_s > 0 && elapsed >= args.timeout_s) {
      progress.Finish();
      return Status::Unavailable(fmt::format("still moving after {} s ({}); {}", args.timeout_s, line, goes_on));
    }
    const auto until = now + std::chrono::milliseconds(kWaitPollMs);
    while (Clock::now() < until && PendingSignal() == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (PendingSignal() != 0) {
      progress.Finish();
      return Status::Unavailable("stopped waiting; " + goes_on);
    }
  }
}

}  // namespace

Outcome EtcdCredentials(cluster::EtcdOptions* eo) {
  const char* user = std::getenv("CAIRN_ETCD_USER");
  if (user == nullptr || *user == '\0') return Outcome::Ok();
  eo->user = user;
  const char* file = std::getenv("CAIRN_ETCD_PASSWORD_FILE");
  if (file == nullptr || *file == '\0')
    return Outcome::Usage(
        "CAIRN_ETCD_USER is set but CAIRN_ETCD_PASSWORD_FILE (the file holding etcd's password) is "
        "not");
  std::ifstream f(file);
  std::string pw;
  if (!f || !std::getline(f, pw))
    return Outcome::Error(fmt::format(
        "cannot read etcd's password from {} (CAIRN_ETCD_PASSWORD_FILE)", OneLine(file)));
  eo->password = pw;
  return Outcome::Ok();
}

Json ClusterStatusJson(const ClusterView& v, const std::string& name) {
  Json j;
  j["cluster"] = name;
  j["epoch"] = v.map.epoch;
  j["replicas"] = v.map.placement.replicas;
  j["partitions"] = v.map.placement.partitions;
  j["controller"] =
      v.controller.empty() ? Json() : Json(std::strtoul(v.controller.c_str(), nullptr, 10));
  std::set<NodeId> ids;
  for (const MapNode& n : v.map.nodes) ids.insert(n.id);
  for (const auto& [id, r] : v.registered) ids.insert(id);
  Json nodes = Json::array();
  for (NodeId id : ids) {
    const MapNode* n = v.map.Node(id);
    auto reg = v.registered.find(id);
    auto in = v.intents.find(id);
    Json e;
    e["id"] = id;
    e["zone"] = n != nullptr ? n->zone : reg->second.zone;
    e["address"] = reg != v.registered.end() ? reg->second.address : n->address;
    e["state"] = ShownState(v, id);
    e["alive"] = v.alive.count(id) != 0;
    e["weight"] = n != nullptr ? n->weight : 0;
    e["intent"] = in != v.intents.end() ? Json(cluster::AdminStateName(in->second.state)) : Json();
    e["intent_weight"] = in != v.intents.end() ? Json(in->second.weight) : Json();
    e["slots"] = SlotsOf(v.map.placement, id);
    if (v.map.in_transition()) e["slots_before"] = SlotsOf(v.map.prev, id);
    auto s = v.synced.find(id);
    e["synced_epoch"] = s != v.synced.end() ? s->second : 0;
    auto p = v.progress.find(id);
    if (v.map.in_transition() && p != v.progress.end() && p->second.epoch == v.map.epoch)
      e["progress"] = Json{{"synced", p->second.synced}, {"total", p->second.total}};
    else if (v.map.in_transition())
      e["progress"] = Json();
    nodes.push_back(std::move(e));
  }
  j["nodes"] = std::move(nodes);
  if (v.map.in_transition()) {
    Json t;
    t["epoch"] = v.map.epoch;
    t["moving_partitions"] = v.map.MovingCount();
    t["moved_slots"] = cluster::MovedSlots(v.map.prev, v.map.placement);
    Json synced = Json::array(), waiting = Json::array();
    uint64_t parts_synced = 0;
    for (const MapNode& n : v.map.nodes) {
      if (n.state != NodeState::kUp) continue;
      auto s = v.synced.find(n.id);
      const bool done = s != v.synced.end() && s->second >= v.map.epoch;
      (done ? synced : waiting).push_back(n.id);
      // The moving partitions it leads that are synced (its progress record at this epoch).
      auto p = v.progress.find(n.id);
      if (p != v.progress.end() && p->second.epoch == v.map.epoch)
        parts_synced += done ? p->second.total : p->second.synced;
    }
    t["partitions_synced"] = std::min<uint64_t>(parts_synced, v.map.MovingCount());
    t["nodes_synced"] = synced.size();
    t["nodes_total"] = synced.size() + waiting.size();
    t["synced"] = std::move(synced);
    t["waiting"] = std::move(waiting);
    j["transition"] = std::move(t);
  } else {
    j["transition"] = Json();
  }
  std::vector<std::string> lines;
  (void)cluster::IntentsApplied(v, &lines);
  j["pending"] = lines;
  j["settled"] = !v.map.in_transition() && lines.empty();
  return j;
}

std::string FormatClusterStatus(const Json& s, int bar_width) {
  std::string out =
      fmt::format("cluster {}: map epoch {}, R = {}, {} partitions, controller {}\n",
                  s["cluster"].get<std::string>(), s["epoch"].get<uint64_t>(),
                  s["replicas"].get<uint32_t>(), s["partitions"].get<uint32_t>(),
                  s["controller"].is_null() ? std::string("none") : s["controller"].dump());
  std::map<std::string, std::vector<const Json*>> by_zone;
  for (const Json& n : s["nodes"]) by_zone[n["zone"].get<std::string>()].push_back(&n);
  const bool moving = !s["transition"].is_null();
  for (const auto& [zone, nodes] : by_zone) {
    out += fmt::format("zone {}\n", OneLine(zone));
    for (const Json* n : nodes) {
      std::string slots = fmt::format("{} slots", (*n)["slots"].get<uint64_t>());
      if (moving && (*n)["slots_before"].get<uint64_t>() != (*n)["slots"].get<uint64_t>())
        slots = fmt::format("{} -> {} slots", (*n)["slots_before"].get<uint64_t>(),
                            (*n)["slots"].get<uint64_t>());
      out += fmt::format("  node {:<5} {:<14} weight {:<4} {:<22} {}\n", (*n)["id"].get<uint32_t>(),
                         (*n)["state"].get<std::string>(), (*n)["weight"].get<uint32_t>(), slots,
                         OneLine((*n)["address"].get<std::string>()));
    }
  }
  if (moving) {
    const Json& t = s["transition"];
    const uint64_t done = t["nodes_synced"].get<uint64_t>(),
                   total = t["nodes_total"].get<uint64_t>();
    out += fmt::format("transition to epoch {}: {} partitions moving ({} slots)\n",
                       t["epoch"].get<uint64_t>(), t["moving_partitions"].get<uint64_t>(),
                       t["moved_slots"].get<uint64_t>());
    const uint64_t pdone = t["partitions_synced"].get<uint64_t>(),
                   ptotal = t["moving_partitions"].get<uint64_t>();
    out += fmt::format("  partitions synced: {}{}/{}\n",
                       bar_width > 0 ? Bar(pdone, ptotal, bar_width) + " " : "", pdone, ptotal);
    out += fmt::format("  nodes synced:      {}{}/{} reported",
                       bar_width > 0 ? Bar(done, total, bar_width) + " " : "", done, total);
    if (!t["waiting"].empty()) {
      std::string w;
      for (const Json& id : t["waiting"]) w += (w.empty() ? "" : ", ") + id.dump();
      out += " (waiting for " + w + ")";
    }
    out += "\n";
  } else {
    out += "no transition in flight\n";
  }
  for (const Json& p : s["pending"]) out += "pending: " + OneLine(p.get<std::string>()) + "\n";
  return out;
}

Outcome RunClusterChange(const Context& ctx, const ClusterChangeArgs& args) {
  if (args.node == 0 || args.node >= cluster::kNoNode)
    return Outcome::Usage(
        fmt::format("bad node id {}: a node id is 1..{}", args.node, cluster::kNoNode - 1));
  std::unique_ptr<cluster::EtcdClient> etcd;
  if (Outcome o = OpenEtcd(ctx, &etcd); !o.ok()) return o;
  Result<cluster::AdminIntent> in = cluster::WriteAdminChange(
      etcd.get(), Prefix(ctx), args.command, static_cast<NodeId>(args.node), args.weight);
  if (!in.ok()) {
    if (in.status().IsInvalidArgument()) return Outcome::Usage(in.status().message());
    return Outcome::Error(in.status().message());
  }
  const std::string intent = fmt::format(
      "{}{}", cluster::AdminStateName(in->state),
      in->state == AdminState::kIn ? fmt::format(", weight {}", in->weight) : std::string());
  Json j{{"node", args.node},
         {"command", cluster::AdminCommandName(args.command)},
         {"intent", cluster::AdminStateName(in->state)},
         {"weight", in->weight}};
  if (!args.wait) {
    PrintOut(ctx.json ? j.dump() + "\n"
                      : fmt::format("node {}: {} (intent {}); the controller moves the data, one "
                                    "transition at a time: follow it with cairn cluster status\n",
                                    args.node, cluster::AdminCommandName(args.command), intent));
    return Outcome::Ok();
  }
  Result<Json> settled = WaitSettled(etcd.get(), ctx, args);
  if (!settled.ok()) return Outcome::Error(settled.status().message());
  const Json* n = nullptr;
  for (const Json& x : (*settled)["nodes"])
    if (x["id"].get<uint64_t>() == args.node) n = &x;
  const uint64_t slots = n != nullptr ? (*n)["slots"].get<uint64_t>() : 0;
  if (ctx.json) {
    j["settled"] = true;
    j["epoch"] = (*settled)["epoch"];
    j["slots"] = slots;
    PrintOut(j.dump() + "\n");
  } else {
    PrintOut(fmt::format("node {}: {} (intent {}) done: map epoch {}, the node holds {} slots, "
                         "nothing moves or waits\n",
                         args.node, cluster::AdminCommandName(args.command), intent,
                         (*settled)["epoch"].get<uint64_t>(), slots));
  }
  return Outcome::Ok();
}

Outcome RunClusterStatus(const Context& ctx, const ClusterStatusArgs& args) {
  std::unique_ptr<cluster::EtcdClient> etcd;
  if (Outcome o = OpenEtcd(ctx, &etcd); !o.ok()) return o;
  const bool tty = ::isatty(STDOUT_FILENO) == 1 && !ctx.json;
  for (int frame = 0;; frame++) {
    Result<ClusterView> v = cluster::ReadClusterView(etcd.get(), Prefix(ctx));
    if (!v.ok())
      return Outcome::Error("cannot read the cluster from etcd: " + v.status().message());
    if (v->map.epoch == 0 && v->registered.empty())
      return Outcome::Error("cluster '" + OneLine(ctx.cluster_name) +
                            "' has no map and no node in this etcd");
    const Json s = ClusterStatusJson(*v, ctx.cluster_name);
    if (ctx.json) {
      PrintOut(s.dump() + "\n");
    } else {
      const std::string text = FormatClusterStatus(s, tty ? 24 : 0);
      PrintOut(tty && args.watch ? "\033[H\033[2J" + text : (frame > 0 ? "\n" : "") + text);
    }
    FlushStdout();
    if (!args.watch || s["settled"].get<bool>()) break;
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(args.interval_s * 1000));
    while (std::chrono::steady_clock::now() < until && PendingSignal() == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (PendingSignal() != 0) break;
  }
  return Outcome::Ok();
}

}  // namespace cairn::cli
