#include "cluster/peer_pool.h"

namespace cairn::cluster {

PeerPool::PeerPool(MapView* view, PeerOptions options) : view_(view), options_(std::move(options)) {}
PeerPool::~PeerPool() = default;

Client* PeerPool::Get(NodeId node, RoutingRole role) { return GetClient(node, role, true); }

Client* PeerPool::GetUnrouted(NodeId node) { return GetClient(node, RoutingRole::kAny, false); }

Client* PeerPool::GetClient(NodeId node, RoutingRole role, bool with_epoch) {
  std::shared_ptr<const ClusterMap> map = view_->map();
  const MapNode* n = map->Node(node);
  if (n == nullptr || n->address.empty()) return nullptr;
  std::lock_guard<std::mutex> l(mu_);
  Entry& e = peers_[{node, role, with_epoch}];
  if (e.client != nullptr && e.address == n->address) return e.client.get();
  ClientOptions o;
  if (Status s = ParseServerAddress(n->address, &o.host, &o.port); !s.ok()) return nullptr;
  o.key = options_.key;
  o.connections = options_.connections;
  o.timeout_ms = options_.timeout_ms;
  o.connect_timeout_ms = options_.connect_timeout_ms;
  if (options_.max_reply_body_bytes != 0) o.max_reply_body_bytes = options_.max_reply_body_bytes;
  // One retry: enough for a StaleEpoch (the map is fetched meanwhile) or a lost connection;
  // the coordinator decides everything else (another replica, a hint).
  o.max_attempts = 2;
  o.backoff_ms = 5;
  ClientRouting r;
  r.epoch = with_epoch ? view_->epoch_cell() : nullptr;
  r.sender = options_.self;
  r.role = role;
  r.on_stale_epoch = [view = view_](uint64_t epoch) { view->NoteEpoch(epoch); };
  // Waiting for the map before the retry helps only where noting the epoch fetches it.
  if (!view_->fetches_on_note()) r.stale_epoch_wait_ms = 0;
  o.routing = r;
  Result<std::unique_ptr<Client>> c = Client::Create(o);
  if (!c.ok()) return nullptr;
  if (e.client != nullptr) replaced_.push_back(std::move(e.client));
  e.address = n->address;
  e.client = std::move(*c);
  return e.client.get();
}

}  // namespace cairn::cluster
