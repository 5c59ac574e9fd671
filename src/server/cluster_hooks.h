// ClusterHooks: what a cairnd that is a cluster node tells its connections (docs/protocol.md
// section 9). Without hooks, cairnd is a single node: routed requests of role kAny or
// kCoordinate are served by its one ObjectService, and kReplica is NotSupported.
//
// Thread safety: every method from any connection's loop; none blocks.
#pragma once

#include <cstdint>
#include <string_view>

#include "proto/messages.h"
#include "service/object_service.h"

namespace cairn::server {

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
};

}  // namespace cairn::server
