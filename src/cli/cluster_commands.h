// `cairn cluster add | drain | remove | reweight | status` (issue 12 item 3; docs/cluster.md
// "Membership commands"). They talk to etcd only (--cluster ETCD_ENDPOINTS), never to a node:
// a change is an intent the CLI checks and writes (cluster/cluster_admin.h), which the elected
// controller turns into a new map, one transition at a time; status reads the map, the nodes'
// keys, the intents and the synced reports at one revision.
//
// The formatting is pure (a ClusterView in, JSON or text out) so it is tested without etcd.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/context.h"
#include "cli/outcome.h"
#include "cluster/cluster_admin.h"

namespace cairn::cli {

// etcd's own credentials for every command that reaches etcd (the map too): when
// $CAIRN_ETCD_USER is set, the password is read from the file $CAIRN_ETCD_PASSWORD_FILE names
// (never a flag: `ps` would show it). Never printed.
Outcome EtcdCredentials(cluster::EtcdOptions* eo);

struct ClusterChangeArgs {
  cluster::AdminCommand command = cluster::AdminCommand::kAdd;
  uint32_t node = 0;               // the node's id (as status lists it)
  std::optional<uint32_t> weight;  // --weight (add, reweight)
  // --wait: after writing the intent, follow the cluster until it is settled (the change
  // applied, its transition retired, nothing waiting), with a progress line on stderr (a bar on
  // a terminal, a plain line every kPlainLineMs otherwise). Ends with exit 1 after
  // --timeout seconds (0: no limit) or on Ctrl-C; the change itself goes on either way.
  bool wait = false;
  double timeout_s = 0;
};
Outcome RunClusterChange(const Context& ctx, const ClusterChangeArgs& args);

struct ClusterStatusArgs {
  bool watch = false;  // --watch: redraw every second until nothing moves or waits
  double interval_s = 1.0;
};
Outcome RunClusterStatus(const Context& ctx, const ClusterStatusArgs& args);

// The status document (--json): numbers only, documented in docs/cluster.md.
nlohmann::ordered_json ClusterStatusJson(const cluster::ClusterView& view, const std::string& name);
// For a person: nodes by zone, the transition in flight with a bar (bar_width > 0, a terminal)
// or plain numbers, and the changes that wait.
std::string FormatClusterStatus(const nlohmann::ordered_json& status, int bar_width);

}  // namespace cairn::cli
