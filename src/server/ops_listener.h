// OpsListener: cairnd's HTTP listener for operators (--http-listen, config key http_listen;
// off by default): /metrics, /healthz, /readyz, /status.json and the status page
// (ops/ops_handler.h), fed by the server's counters (ServerCounters, its per-operation
// OpMetrics), the store's statistics (Store::Stats), the disk's (statvfs) and the recent
// warning and error lines (ops::RecentLogSink).
//
// It runs on a loop of its own (and a two-thread pool for Store::Stats), not on the data
// loops: a scrape is answered even when every data loop is busy, and never delays a request.
// It serves no writes, so it does not authenticate; it binds to loopback unless told
// otherwise, and cairnd warns when it is not (docs/design.md, "The ops listener").
//
// Thread safety: Start and Stop from the main thread; the providers run on the pool.
// Ownership: borrows the Server and the Store, which must outlive it.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "cairn/store.h"
#include "net/http_server.h"
#include "net/loop_group.h"
#include "ops/exposition.h"
#include "ops/log_ring.h"
#include "ops/ops_handler.h"
#include "server/cluster_hooks.h"
#include "server/config.h"
#include "server/engine_metrics.h"
#include "server/peer_stats.h"

namespace cairn::server {

class Server;

// Named bounds of the ops listener (its HttpLimits).
inline constexpr uint32_t kOpsMaxConnections = 4096;
inline constexpr uint32_t kOpsMaxHeaderBytes = 16 << 10;
inline constexpr uint64_t kOpsMaxBodyBytes = 64 << 10;  // it reads no bodies; small ones drain
inline constexpr uint32_t kOpsHeaderTimeoutMs = 10000;
inline constexpr uint32_t kOpsIdleTimeoutMs = 60000;
// An ops listener's HTTP server options: `listen` with the bounds above (cairnd's, and
// cairn-s3's --http-listen).
inline net::HttpServerOptions OpsHttpServerOptions(std::string listen, std::string server_header) {
  net::HttpServerOptions o;
  o.listen = std::move(listen);
  o.limits.max_connections = kOpsMaxConnections;
  o.limits.max_header_bytes = kOpsMaxHeaderBytes;
  o.limits.max_body_bytes = kOpsMaxBodyBytes;
  o.limits.header_timeout_ms = kOpsHeaderTimeoutMs;
  o.limits.idle_timeout_ms = kOpsIdleTimeoutMs;
  o.server_header = std::move(server_header);
  return o;
}
// The status page's rates and percentiles cover the last kOpsWindowSamples - 1 seconds.
inline constexpr size_t kOpsWindowSamples = 11;
// Store::Stats results younger than this are reused by /metrics and /status.json (several
// viewers and a scraper at once); /readyz always asks afresh.
inline constexpr std::chrono::milliseconds kOpsStatsMaxAge{500};

// Ready when the store is open and writable and the server is not draining; otherwise the
// reason ("the store is read-only: <why>", "draining: the server is shutting down").
ops::Readiness NodeReadiness(const Result<StoreStats>& stats, bool draining);
// A cluster node is ready also only when it has joined, holds a map, and no peer has shown it
// a newer one it has not installed ("behind the cluster map: ...").
ops::Readiness ClusterReadiness(const ClusterStatus& cluster);

class OpsListener {
 public:
  struct NodeInfo {
    std::string version;
    std::string data_listen;  // the data port's address, as bound
    std::chrono::system_clock::time_point started;
  };
  OpsListener(const ServerConfig& config, Server* server, Store* store,
              std::shared_ptr<ops::RecentLogSink> logs, NodeInfo info);
  ~OpsListener();

  // The engine's histograms (group commits, fdatasync), exported when set. Before Start.
  void SetEngineMetrics(const EngineMetrics* m) { engine_ = m; }
  // On a cluster node: the other nodes' disk, rates and p99s, shown in /status.json's nodes
  // (each node's "stats"). Before Start; the poller must outlive the listener's Stop.
  void SetPeerStats(const PeerStatsPoller* p) { peers_ = p; }
  // More metrics /metrics appends (the S3 endpoint's, when cairnd serves S3). Before Start;
  // called on the listener's pool, so what it reads must outlive the listener's Stop.
  void SetExtraMetrics(std::function<void(ops::ExpositionWriter&)> f) { extra_metrics_ = std::move(f); }

  // Binds config.http_listen and starts serving. Returns the bound port.
  Result<uint16_t> Start();
  void Stop();

  // The providers (public for tests).
  std::string MetricsText();
  std::string StatusJson();
  ops::Readiness Readiness();

 private:
  struct Sample;
  ops::Readiness Ready(const Result<StoreStats>& stats, const ClusterStatus* cluster);
  std::optional<ClusterStatus> Cluster() const;
  // Store::Stats, reused for kOpsStatsMaxAge unless `fresh`.
  Result<StoreStats> Stats(bool fresh = false);
  void TakeSample();
  void ScheduleSample();

  ServerConfig config_;
  Server* server_;
  Store* store_;
  const EngineMetrics* engine_ = nullptr;
  const PeerStatsPoller* peers_ = nullptr;
  std::function<void(ops::ExpositionWriter&)> extra_metrics_;
  std::shared_ptr<ops::RecentLogSink> logs_;
  NodeInfo info_;
  std::string http_addr_;
  net::LoopGroup loop_{1};
  net::asio::thread_pool pool_{2};
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<net::asio::steady_timer> sampler_;

  std::mutex stats_mu_;  // one Stats call at a time; the cached result
  std::chrono::steady_clock::time_point stats_at_{};
  std::optional<Result<StoreStats>> stats_;

  std::mutex window_mu_;
  std::deque<std::shared_ptr<const Sample>> window_;  // oldest first, at most kOpsWindowSamples
};

}  // namespace cairn::server
