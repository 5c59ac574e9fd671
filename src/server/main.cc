// cairnd: the Cairn server. `cairnd --help` lists every option; each is also a key of the TOML
// file given with --config (flags win). docs/design.md, "Server", explains the design.
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

#include "cairn/env.h"
#include "cairn/local_object_store.h"
#include "net/asio.h"
#include "ops/exposition.h"
#include "ops/log_ring.h"
#include "cluster/cluster_node.h"
#include "cluster/peer_pool.h"
#include "server/cluster_hooks.h"
#include "server/config.h"
#include "server/ops_listener.h"
#include "server/peer_stats.h"
#include "server/s3_options.h"
#include "server/server.h"

namespace {

// Makes the server a cluster node: routed requests go to the node's stores by role. Until the
// node has joined (registered in etcd), every request is answered Unavailable, replica
// operations with the member key included (not PermissionDenied: the key is right, the node is
// not ready; found by the nemesis harness restarting nodes under load).
class NodeHooks final : public cairn::server::ClusterHooks {
 public:
  NodeHooks(cairn::service::ServiceLimits limits, std::string member_key_id)
      : limits_(limits), member_key_id_(std::move(member_key_id)), joining_(&not_ready_, limits) {}
  void Set(cairn::cluster::ClusterNode* node) {
    for (auto role : {cairn::proto::RoutingRole::kAny, cairn::proto::RoutingRole::kCoordinate,
                      cairn::proto::RoutingRole::kReplica})
      services_[static_cast<int>(role)] = std::make_unique<cairn::service::ObjectService>(
          node->StoreFor(static_cast<cairn::RoutingRole>(role)), limits_);
    node_.store(node, std::memory_order_release);
  }
  uint64_t epoch() const override {
    auto* n = node_.load(std::memory_order_acquire);
    return n != nullptr ? n->epoch() : 0;
  }
  void NoteEpoch(uint64_t e) override {
    if (auto* n = node_.load(std::memory_order_acquire)) n->NoteEpoch(e);
  }
  bool IsMemberKey(std::string_view id) const override { return id == member_key_id_; }
  cairn::service::ObjectService* ServiceFor(cairn::proto::RoutingRole role) override {
    if (node_.load(std::memory_order_acquire) == nullptr) return &joining_;
    return services_[static_cast<int>(role)].get();
  }
  cairn::Result<std::string> Digest(std::string_view request) override {
    cairn::cluster::ClusterNode* n = node_.load(std::memory_order_acquire);
    if (n == nullptr) return cairn::Status::Unavailable("this node is still joining the cluster");
    return n->ServeDigest(request);
  }
  std::shared_ptr<const void> AdmitReplicaWrite(uint64_t sent, uint64_t* ours) override {
    cairn::cluster::ClusterNode* n = node_.load(std::memory_order_acquire);
    // Still joining: the joining service refuses the write, so there is nothing to count.
    if (n == nullptr) return std::make_shared<int>(0);
    return n->fence()->Enter(sent, ours);
  }
  uint64_t AwaitOlderWrites(uint64_t epoch) override {
    cairn::cluster::ClusterNode* n = node_.load(std::memory_order_acquire);
    if (n == nullptr) return 0;  // Digest answers "still joining"
    return n->fence()->AwaitOlder(epoch, std::chrono::milliseconds(cairn::cluster::kFenceWaitMs));
  }
  cairn::server::ClusterStatus Status() const override {
    namespace cl = cairn::cluster;
    cairn::server::ClusterStatus st;
    cl::ClusterNode* n = node_.load(std::memory_order_acquire);
    if (n == nullptr) return st;
    cl::Membership* m = n->membership();
    std::shared_ptr<const cl::ClusterMap> map = m->map();
    st.joined = true;
    st.epoch = map->epoch;
    st.noted_epoch = m->noted_epoch();
    st.self = m->node_id();
    st.controller = m->is_controller();
    st.etcd_reachable = m->etcd_reachable();
    st.write_policy = cl::WritePolicyName(n->write_policy());
    st.replicas = map->placement.replicas;
    std::unordered_map<cl::NodeId, uint64_t> slots, before;
    for (cl::NodeId id : map->placement.table) slots[id]++;
    for (cl::NodeId id : map->in_transition() ? map->prev.table : map->placement.table) before[id]++;
    for (const cl::MapNode& mn : map->nodes)
      st.nodes.push_back({mn.id, mn.address, mn.zone, cl::NodeStateName(mn.state), mn.weight,
                          slots[mn.id], before[mn.id]});
    st.moving_partitions = map->MovingCount();
    const cl::AntiEntropy::SyncProgress sync = n->sync_progress();
    st.sync_epoch = sync.epoch;
    st.sync_synced = sync.synced;
    st.sync_led = sync.total;
    const uint64_t now_us = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch()).count());
    uint64_t oldest = 0;
    for (cl::NodeId t : n->hints()->Targets()) {
      cl::HintQueueStats q = n->hints()->Stats(t);
      st.hint_queue_bytes += q.bytes;
      if (q.oldest_us != 0 && (oldest == 0 || q.oldest_us < oldest)) oldest = q.oldest_us;
    }
    if (oldest != 0 && oldest < now_us) st.hint_oldest_age_s = static_cast<double>(now_us - oldest) / 1e6;
    const cl::ClusterCounters& c = n->shared().counters();
    st.hints_written = c.hints_written.load();
    st.hints_replayed = c.hints_replayed.load();
    st.hints_skipped = c.hints_skipped.load();
    st.coordinated = c.coordinated.load();
    st.routed = c.routed.load();
    st.failovers = c.failovers.load();
    st.hedged = c.hedged.load();
    st.read_repairs = c.read_repairs.load();
    st.partial_writes = c.partial_writes.load();
    st.ae_rounds = c.ae_rounds.load();
    st.ae_partitions_compared = c.ae_partitions_compared.load();
    st.ae_leaves_walked = c.ae_leaves_walked.load();
    st.ae_keys_repaired = c.ae_keys_repaired.load();
    st.ae_bytes_pushed = c.ae_bytes_pushed.load();
    st.ae_repairs_refused = c.ae_repairs_refused.load();
    return st;
  }

  void AddStatCounters(std::map<std::string, uint64_t>* server) const override {
    cairn::cluster::ClusterNode* n = node_.load(std::memory_order_acquire);
    if (n == nullptr) return;
    const cairn::cluster::AntiEntropy::SyncProgress sync = n->sync_progress();
    (*server)["cluster.sync_epoch"] = sync.epoch;
    (*server)["cluster.sync_synced"] = sync.synced;
    (*server)["cluster.sync_led"] = sync.total;
    (*server)["cluster.digest_from_checkpoint"] = n->digest_from_checkpoint() ? 1 : 0;
  }

 private:
  // Every call: Unavailable, the node is still joining.
  class NotReady final : public cairn::ObjectStore {
    static cairn::Status No() { return cairn::Status::Unavailable("this node is still joining the cluster"); }
   public:
    cairn::Result<cairn::WriteResult> Put(std::string_view, std::string_view, const cairn::WriteOptions&) override { return No(); }
    cairn::Result<cairn::WriteResult> PutStream(std::string_view, cairn::ValueSource*, const cairn::WriteOptions&) override { return No(); }
    cairn::Result<cairn::GetResult> Get(std::string_view, const cairn::ByteRange&) override { return No(); }
    cairn::Result<std::unique_ptr<cairn::ObjectReader>> OpenReader(std::string_view, const cairn::ByteRange&) override { return No(); }
    cairn::Result<cairn::ObjectInfo> Head(std::string_view) override { return No(); }
    cairn::Result<cairn::WriteResult> Delete(std::string_view, const cairn::WriteOptions&) override { return No(); }
    cairn::Result<cairn::ListResult> List(const cairn::ListOptions&) override { return No(); }
    cairn::Result<cairn::StoreStats> Stats() override { return No(); }
  };
  cairn::service::ServiceLimits limits_;
  std::string member_key_id_;  // the node's ClusterNodeOptions::member_key.id
  NotReady not_ready_;
  cairn::service::ObjectService joining_;
  std::unique_ptr<cairn::service::ObjectService> services_[3];
  std::atomic<cairn::cluster::ClusterNode*> node_{nullptr};
};


using cairn::server::ServerConfig;
using cairn::server::WritePortFile;

// `recent` (the status page's warnings and errors) is kept across log reopens.
std::shared_ptr<spdlog::logger> MakeLogger(const ServerConfig& c,
                                           std::shared_ptr<cairn::ops::RecentLogSink> recent) {
  spdlog::sink_ptr out;
  if (c.log_file.empty()) {
    out = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    out = std::make_shared<spdlog::sinks::basic_file_sink_mt>(c.log_file, /*truncate=*/false);
  }
  auto log = std::make_shared<spdlog::logger>("cairnd", spdlog::sinks_init_list{out, recent});
  // Structured: a timestamp, a level, then key=value pairs.
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ level=%l %v", spdlog::pattern_time_type::utc);
  log->set_level(spdlog::level::from_str(c.log_level));
  log->flush_on(spdlog::level::info);
  return log;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cairnd: the Cairn object store server (protocol: docs/protocol.md)"};
  app.set_version_flag("--version", std::string("cairnd ") + CAIRN_VERSION);
  std::string config_file;
  app.add_option("--config", config_file, "TOML file with any of the keys below (flags win)");
  std::vector<std::string> keys = cairn::server::ConfigKeys();
  std::map<std::string, std::string> values;
  std::map<std::string, CLI::Option*> opts;
  for (const std::string& k : keys) {
    std::string dashed = k;
    for (char& ch : dashed)
      if (ch == '_') ch = '-';
    std::string names = "--" + dashed;
    if (dashed != k) names += ",--" + k;
    opts[k] = app.add_option(names, values[k], "config key " + k);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  std::vector<std::pair<std::string, std::string>> overrides;
  for (const std::string& k : keys)
    if (opts[k]->count() > 0) overrides.emplace_back(k, values[k]);
  // Reads the config file and the key file (refused if group or others may read them).
  cairn::Result<ServerConfig> cfg = cairn::server::LoadConfig(config_file, overrides);
  if (!cfg.ok()) {
    std::fprintf(stderr, "cairnd: %s\n", cfg.status().message().c_str());
    return 2;
  }
  const ServerConfig& c = *cfg;

  // SIGTERM, SIGINT and SIGHUP are handled by a signal_set on the main thread (below).
  signal(SIGPIPE, SIG_IGN);  // a vanished client is an error code, not a dead server

  const auto started = std::chrono::system_clock::now();
  auto recent_log = std::make_shared<cairn::ops::RecentLogSink>();
  spdlog::set_default_logger(MakeLogger(c, recent_log));

  cairn::server::EngineMetrics engine_metrics;  // outlives the store (declared first)
  // The one budget of the process's background work (reclamation, anti-entropy, hint replay),
  // set from the latency of the requests the server serves. Outlives the store and the node.
  cairn::BackgroundSchedulerOptions bo;
  bo.max_mbps = c.background.mbps;
  bo.min_mbps = c.background.min_mbps;
  bo.latency_control = c.background.latency_control;
  bo.p99_target_us = c.background.p99_target_us;
  cairn::BackgroundScheduler background(bo);
  cairn::StoreOptions so;
  so.observer = &engine_metrics;
  so.background_scheduler = &background;
  so.durability = c.durability;
  so.sync_interval_ms = c.sync_interval_ms;
  so.volume_capacity = c.volume_size;
  so.index_cache_bytes = c.index_cache;
  // The engine refuses the same metadata as the ObjectService: one max_meta_bytes.
  so.max_meta_bytes = c.limits.max_meta_bytes;
  so.max_clock_skew_ms = c.max_clock_skew_ms;
  so.info_log = [&c](const std::string& m) {
    // The engine marks its errors and warnings in the text; the rest is information (what
    // recovery found). Each carries the data directory, so a line is found in a log of many.
    if (m.starts_with("ERROR")) {
      spdlog::error("event=engine data={} message=\"{}\"", c.data, m);
    } else if (m.starts_with("WARNING")) {
      spdlog::warn("event=engine data={} message=\"{}\"", c.data, m);
    } else {
      spdlog::info("event=engine data={} message=\"{}\"", c.data, m);
    }
  };
  // A cluster node keeps its tombstones until the cluster collects them (cluster_node.h).
  if (!c.cluster.etcd.empty()) so = cairn::cluster::ClusterEngineOptions(std::move(so));
  auto store = cairn::LocalObjectStore::Open(c.data, so);
  if (!store.ok()) {
    std::fprintf(stderr, "cairnd: cannot open the store in %s: %s\n", c.data.c_str(),
                 store.status().ToString().c_str());
    return 1;
  }
  spdlog::info("event=store_open data={} recovery=\"{}\"", c.data,
               (*store)->store()->recovery_report().ToString());
  spdlog::info("event=auth keys={} allow_unauthenticated_loopback={}", c.auth.keys.size(),
               c.auth.allow_unauthenticated_loopback);

  cairn::server::Server server(c, store->get());
  server.SetBackground(&background);
  std::unique_ptr<NodeHooks> hooks;
  if (!c.cluster.etcd.empty()) {
    hooks = std::make_unique<NodeHooks>(server.service_limits(), c.cluster.key_id);
    server.SetCluster(hooks.get());
  }
  cairn::Result<uint16_t> port = server.Start();
  if (!port.ok()) {
    std::fprintf(stderr, "cairnd: %s\n", port.status().ToString().c_str());
    return 1;
  }
  std::string host;
  uint16_t ignored;
  (void)cairn::server::SplitHostPort(c.listen, &host, &ignored);
  std::string addr = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                     std::to_string(*port);
  if (!c.port_file.empty() && !WritePortFile(c.port_file, *port)) {
    std::fprintf(stderr, "cairnd: cannot write --port-file %s\n", c.port_file.c_str());
    return 1;
  }
  spdlog::info("event=listening addr={} data={} durability={} pid={}", addr, c.data,
               cairn::DurabilityName(c.durability), getpid());
  std::unique_ptr<cairn::cluster::ClusterNode> node;
  if (hooks != nullptr) {
    cairn::cluster::ClusterNodeOptions no;
    cairn::cluster::MembershipOptions& m = no.membership;
    if (cairn::Status es = cairn::cluster::ParseEtcdEndpoints(c.cluster.etcd, &m.etcd.endpoints); !es.ok()) {
      std::fprintf(stderr, "cairnd: cluster_etcd: %s\n", es.message().c_str());
      return 2;
    }
    m.etcd.user = c.cluster.etcd_user;
    m.etcd.password = c.cluster.etcd_password;
    m.cluster = c.cluster.name;
    m.node_id = static_cast<cairn::cluster::NodeId>(c.cluster.node_id);
    m.address = c.cluster.advertise.empty() ? addr : c.cluster.advertise;
    m.zone = c.cluster.zone;
    m.weight = c.cluster.weight;
    m.replicas = c.cluster.replicas;
    m.bootstrap_nodes = c.cluster.bootstrap_nodes;
    m.out_delay_ms = c.cluster.out_delay_ms;
    no.data_dir = c.data;
    const std::string advertised = m.address;
    no.member_key = cairn::ClientKey{c.cluster.key_id, c.auth.keys.at(c.cluster.key_id)};
    (void)cairn::cluster::ParseWritePolicy(c.cluster.write_policy, &no.write_policy);
    no.anti_entropy.interval_ms = c.cluster.anti_entropy_interval_ms;
    no.anti_entropy.max_keys_per_round = c.cluster.anti_entropy_max_keys;
    no.anti_entropy.max_bytes_per_round = c.cluster.anti_entropy_max_bytes;
    no.anti_entropy.max_mbps = c.cluster.anti_entropy_mbps;
    no.background = &background;
    no.store_write_error = [engine = (*store)->store()] { return engine->WriteError(); };
    auto started_node = cairn::cluster::ClusterNode::Start(std::move(no), store->get());
    if (!started_node.ok()) {
      std::fprintf(stderr, "cairnd: cannot join the cluster: %s\n",
                   started_node.status().ToString().c_str());
      return 1;
    }
    node = std::move(*started_node);
    hooks->Set(node.get());
    spdlog::info("event=cluster_joined cluster={} node_id={} address={} zone={} epoch={}",
                 c.cluster.name, node->membership()->node_id(), advertised, c.cluster.zone,
                 node->epoch());
  }
  // On a cluster node with a status page: the other nodes' disk, rates and p99s, asked with
  // STAT over the node-to-node protocol (the member key) by a background poller. Its own small
  // peer pool: one connection per peer, short timeouts and a bounded reply, so a slow peer or
  // a large reply never holds the coordinator's connections (docs/design.md, "The ops listener").
  std::unique_ptr<cairn::cluster::PeerPool> stats_peers;
  std::unique_ptr<cairn::server::PeerStatsPoller> peer_stats;
  if (!c.http_listen.empty() && node != nullptr) {
    cairn::cluster::PeerOptions po;
    po.key = cairn::ClientKey{c.cluster.key_id, c.auth.keys.at(c.cluster.key_id)};
    po.self = node->membership()->node_id();
    po.timeout_ms = 1000;
    po.connect_timeout_ms = 1000;
    po.connections = 1;
    po.max_reply_body_bytes = cairn::server::kPeerStatsMaxReplyBytes;
    stats_peers = std::make_unique<cairn::cluster::PeerPool>(node->membership(), po);
    cairn::server::PeerStatsPoller::Source src;
    src.targets = [m = node->membership()] {
      std::vector<cairn::server::PeerTarget> t;
      std::shared_ptr<const cairn::cluster::ClusterMap> map = m->map();
      for (const cairn::cluster::MapNode& n : map->nodes)
        if (n.id != m->node_id() && n.state != cairn::cluster::NodeState::kOut) t.push_back({n.id});
      return t;
    };
    src.stat = [p = stats_peers.get()](uint32_t id) -> cairn::Result<cairn::StoreStats> {
      cairn::Client* peer = p->Get(id, cairn::RoutingRole::kReplica);
      if (peer == nullptr) return cairn::Status::NotFound("the map has no address for this node");
      return peer->Stats();
    };
    peer_stats = std::make_unique<cairn::server::PeerStatsPoller>(std::move(src));
    peer_stats->Start();
  }
  // The S3 gateway (--s3-listen, config key s3_listen; docs/s3.md), on its own loops, serving
  // the same store through the same service layer. Made before the ops listener, whose /metrics
  // reads it (so it also outlives the listener), and started after it.
  std::unique_ptr<cairn::gateway::S3Endpoint> s3;
  if (!c.s3.listen.empty()) {
    // On a cluster node, the cluster (the store a client's request is routed through); the
    // gateway's buckets and uploads are ordinary keys, so they replicate like any object.
    cairn::ObjectStore* s3_store =
        node != nullptr ? node->StoreFor(cairn::RoutingRole::kAny) : store->get();
    cairn::gateway::GatewayOptions go = cairn::server::S3GatewayOptions(c);
    go.background = &background;  // S3 clients' latency steers the background budget too
    s3 = std::make_unique<cairn::gateway::S3Endpoint>(s3_store, std::move(go),
                                                      cairn::server::S3EndpointOptionsFrom(c, 0));
  }
  std::unique_ptr<cairn::server::OpsListener> ops;  // after the poller: stopped first
  if (!c.http_listen.empty()) {
    ops = std::make_unique<cairn::server::OpsListener>(
        c, &server, (*store)->store(), recent_log,
        cairn::server::OpsListener::NodeInfo{CAIRN_VERSION, addr, started});
    ops->SetEngineMetrics(&engine_metrics);
    ops->SetPeerStats(peer_stats.get());
    if (s3 != nullptr)
      ops->SetExtraMetrics([p = s3.get()](cairn::ops::ExpositionWriter& w) { p->WriteMetrics(w); });
    cairn::Result<uint16_t> http_port = ops->Start();
    if (!http_port.ok()) {
      std::fprintf(stderr, "cairnd: %s\n", http_port.status().ToString().c_str());
      return 1;
    }
    if (!c.http_port_file.empty() && !WritePortFile(c.http_port_file, *http_port)) {
      std::fprintf(stderr, "cairnd: cannot write --http-port-file %s\n", c.http_port_file.c_str());
      return 1;
    }
    std::string http_host;
    uint16_t unused = 0;
    (void)cairn::net::ParseListenAddress(c.http_listen, &http_host, &unused);
    const bool loopback = http_host == "127.0.0.1" || http_host == "::1" || http_host == "localhost";
    spdlog::info("event=ops_listening addr={}:{} status_page=http://{}:{}/", http_host,
                 *http_port, http_host, *http_port);
    if (!loopback)
      spdlog::warn("event=ops_listener_not_loopback addr={}:{} note=\"the ops listener does not "
                   "authenticate; it serves no writes, but metrics and the status page are open "
                   "to anyone who can reach this address\"",
                   http_host, *http_port);
  }
  if (s3 != nullptr) {
    cairn::Result<uint16_t> s3_port = s3->Start();
    if (!s3_port.ok()) {
      std::fprintf(stderr, "cairnd: s3_listen: %s\n", s3_port.status().ToString().c_str());
      return 1;
    }
    if (!c.s3.port_file.empty() && !WritePortFile(c.s3.port_file, *s3_port)) {
      std::fprintf(stderr, "cairnd: cannot write --s3-port-file %s\n", c.s3.port_file.c_str());
      return 1;
    }
    std::string s3_host;
    uint16_t unused = 0;
    (void)cairn::net::ParseListenAddress(c.s3.listen, &s3_host, &unused);
    // Access key ids are logged, never secrets (rule 6).
    std::string ids;
    for (const auto& [id, k] : c.s3.keys) ids += (ids.empty() ? "" : ",") + id;
    spdlog::info("event=s3_listening addr={}:{} region={} access_keys={} tls={}", s3_host,
                 *s3_port, c.s3.region, ids, !c.s3.tls_cert_file.empty());
    std::printf("cairnd S3 endpoint on %s://%s:%u\n", c.s3.tls_cert_file.empty() ? "http" : "https",
                s3_host.c_str(), static_cast<unsigned>(*s3_port));
  }
  std::printf("cairnd listening on %s, data %s (durability %s); try: cairn --server %s put k FILE"
              "; stop with Ctrl-C or SIGTERM\n",
              addr.c_str(), c.data.c_str(), cairn::DurabilityName(c.durability), addr.c_str());
  std::fflush(stdout);

  namespace asio = cairn::net::asio;
  asio::io_context main_loop(1);
  asio::signal_set signals(main_loop, SIGTERM, SIGINT, SIGHUP);
  int stop_signal = 0;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          // Log rotation: reopen the log file (a new file under the configured name).
          spdlog::set_default_logger(MakeLogger(c, recent_log));
          spdlog::info("event=log_reopened");
          signals.async_wait(on_signal);
          return;
        }
        stop_signal = sig;
      };
  signals.async_wait(on_signal);
  while (stop_signal == 0) main_loop.run_one();

  spdlog::info("event=draining signal={}", stop_signal);
  // Stop accepting, finish every request already read and send its reply (bounded).
  server.Drain(/*deadline_ms=*/30000);
  if (s3 != nullptr) s3->Stop();    // finishes the S3 requests in flight (bounded)
  if (ops != nullptr) ops->Stop();  // /readyz said "draining" meanwhile
  if (peer_stats != nullptr) peer_stats->Stop();  // before the node and its map go
  server.Stop();
  // Leaving the cluster: the lease is revoked, so the others see this node down at once.
  if (node != nullptr) {
    node->Stop();
    // The anti-entropy digest, so the next start need not scan the store to rebuild it.
    if (cairn::Status d = node->SaveDigestCheckpoint(); !d.ok())
      spdlog::warn("event=digest_checkpoint_not_written error=\"{}\"", d.ToString());
  }
  // Commit, checkpoint the index, release the store: no acknowledged write is lost, and the
  // next start has nothing to replay.
  cairn::Status s = (*store)->Close();
  if (!s.ok()) {
    // What the digest checkpoint describes may not all be durable: the next start scans.
    if (node != nullptr) (void)cairn::Env::Default()->RemoveFile(node->DigestCheckpointPath());
    spdlog::error("event=close_failed data={} error=\"{}\"", c.data, s.ToString());
    return 1;
  }
  spdlog::info("event=stopped");
  return 0;
}
