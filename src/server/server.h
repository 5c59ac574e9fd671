// Server: cairnd's core. Accepts connections on one loop, spreads them over the LoopGroup (one
// io_context per core), and serves the wire protocol (docs/protocol.md) for one ObjectStore
// through an ObjectService (src/service/object_service.h). docs/design.md, "Server", is the
// tour.
//
// Thread safety: Start/Drain/Stop are called from the main thread. Each Connection lives on one
// loop and is only touched by that loop's thread; service calls that may block run on the I/O
// pool.
// Ownership: the Server borrows the ObjectStore, which must outlive it.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <map>

#include "cairn/background.h"
#include "cairn/object_store.h"
#include "net/asio.h"
#include "net/loop_group.h"
#include "ops/op_metrics.h"
#include "proto/frame.h"
#include "server/authenticator.h"
#include "server/config.h"
#include "service/object_service.h"

namespace cairn::server {

class Connection;

// Counters STAT reports in its "server" object. Relaxed atomics: statistics, not control.
struct ServerCounters {
  std::atomic<uint64_t> connections{0};        // open now
  std::atomic<uint64_t> connections_total{0};  // accepted, ever
  std::atomic<uint64_t> connections_refused{0};  // over max_connections
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> inflight{0};
  // Replies by wire status (index = status code; codes are below 128).
  std::array<std::atomic<uint64_t>, 128> replies_by_status{};
  // Per operation (index = proto::Op): requests, errors by wire status, latency from the
  // request read to its reply sent (issue 14; exported by the ops listener).
  ops::OpMetrics ops;
};

class ClusterHooks;

class Server {
 public:
  Server(const ServerConfig& config, ObjectStore* store);
  ~Server();

  // Binds and starts listening and serving. Returns the bound address's port.
  Result<uint16_t> Start();
  // Graceful stop: stop accepting, let every request already read finish and its reply be
  // sent, close idle connections. Returns when all connections are gone or `deadline_ms`
  // passed (then the rest are closed). The store is untouched: the caller closes it.
  void Drain(uint32_t deadline_ms);
  // Stops the loops and joins their threads (after Drain).
  void Stop();

  const ServerConfig& config() const { return config_; }
  service::ObjectService& service() { return service_; }
  // Makes this server a cluster node (before Start). The hooks must outlive the server.
  void SetCluster(ClusterHooks* hooks) { cluster_ = hooks; }
  // The limits every ObjectService of this server uses (a cluster node has one per role).
  service::ServiceLimits service_limits() const;
  ClusterHooks* cluster() const { return cluster_; }
  // The process's one budget for background work (cairn/background.h), told the latency of
  // every data request (PUT, GET, HEAD, DELETE) this server serves. Before Start; must outlive
  // the server. nullptr: none.
  void SetBackground(BackgroundScheduler* b) { background_ = b; }
  BackgroundScheduler* background() const { return background_; }
  Authenticator& authenticator() { return auth_; }
  net::asio::thread_pool& io_pool() { return io_pool_; }
  ServerCounters& counters() { return counters_; }
  bool draining() const { return draining_.load(std::memory_order_acquire); }
  uint64_t max_object_bytes() const;
  // "cairnd VERSION", for PING.
  const std::string& name() const { return name_; }
  // The counters STAT reports (StoreStats::server): connections, requests, bytes, errors.NAME,
  // the disk and the per-operation latency histograms (server/stat_counters.h)...
  std::map<std::string, uint64_t> Counters();

  // Called by a Connection on its own loop when it ends.
  void Forget(Connection* c);

 private:
  net::asio::awaitable<void> AcceptLoop();
  ClusterHooks* cluster_ = nullptr;
  BackgroundScheduler* background_ = nullptr;

  ServerConfig config_;
  service::ObjectService service_;
  Authenticator auth_;
  std::string name_;
  net::LoopGroup loops_;
  net::asio::thread_pool io_pool_;
  std::unique_ptr<net::tcp::acceptor> acceptor_;
  ServerCounters counters_;
  std::atomic<bool> draining_{false};
  std::mutex conns_mu_;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> conns_;
};

}  // namespace cairn::server
