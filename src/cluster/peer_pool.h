// PeerPool: the clients a node (or a cluster-aware client) uses to reach the other nodes, one
// per node and role, created when first needed from the address in the map and replaced when
// the address changes. Every request they send carries the map epoch and the sender's id
// (docs/protocol.md section 9); a node that answers StaleEpoch makes the pool's MapView fetch
// the newer map, and the client retries.
//
// Thread safety: every method from any thread. Clients handed out stay valid until the pool is
// destroyed (a replaced one is kept, so calls in flight on it finish).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include "cairn/client.h"
#include "cluster/map_view.h"

namespace cairn::cluster {

struct PeerOptions {
  std::optional<ClientKey> key;  // the cluster's member key (replica operations need it)
  NodeId self = 0;               // this node's id; 0 for a client
  uint32_t timeout_ms = 3000;    // each attempt of a replica operation
  uint32_t connect_timeout_ms = 1000;
  int connections = 2;
  // Largest reply body a call holds in memory (ClientOptions::max_reply_body_bytes); 0: the
  // client's default. The status page's STAT poller sets a small one (issue 14).
  uint64_t max_reply_body_bytes = 0;
};

class PeerPool {
 public:
  PeerPool(MapView* view, PeerOptions options);
  ~PeerPool();
  // The client for `node` with role `role`; nullptr when the map does not know the node.
  Client* Get(NodeId node, RoutingRole role);
  // A client for `node` whose requests carry no epoch (role kAny): the node routes them by its
  // own map, as for a client without one. For a caller whose map is stale and cannot be
  // fetched (etcd unreachable).
  Client* GetUnrouted(NodeId node);
  const PeerOptions& options() const { return options_; }

 private:
  struct Entry {
    std::string address;
    std::unique_ptr<Client> client;
  };
  MapView* view_;
  PeerOptions options_;
  std::mutex mu_;
  Client* GetClient(NodeId node, RoutingRole role, bool with_epoch);
  std::map<std::tuple<NodeId, RoutingRole, bool>, Entry> peers_;  // by (node, role, with epoch)
  std::vector<std::unique_ptr<Client>> replaced_;
};

}  // namespace cairn::cluster
