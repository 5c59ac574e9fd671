#include "server/ops_listener.h"

#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "proto/stat_body.h"
#include "ops/exposition.h"
#include "proto/frame.h"
#include "server/server.h"

namespace cairn::server {

namespace asio = net::asio;
using Json = nlohmann::ordered_json;

namespace {

const char* OpNameOf(size_t i) {
  if (i == 0 || i > proto::kMaxOp) return nullptr;
  return proto::OpName(static_cast<proto::Op>(i));
}

const char* CodeNameOf(size_t i) {
  if (!proto::IsKnownWireStatus(static_cast<uint16_t>(i))) return nullptr;
  return proto::WireStatusName(static_cast<proto::WireStatus>(i));
}

struct Disk {
  bool ok = false;
  uint64_t total = 0;
  uint64_t free = 0;
};

Disk DiskOf(const std::string& path) {
  Disk d;
  struct statvfs v;
  if (::statvfs(path.c_str(), &v) == 0) {
    d.ok = true;
    d.total = static_cast<uint64_t>(v.f_blocks) * v.f_frsize;
    d.free = static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
  }
  return d;
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

ops::Readiness NodeReadiness(const Result<StoreStats>& stats, bool draining) {
  if (draining) return {false, "draining: the server is shutting down"};
  if (!stats.ok()) return {false, "the store's statistics cannot be read: " + stats.status().ToString()};
  if (stats->read_only) {
    return {false, "the store is read-only: " +
                       (stats->read_only_reason.empty() ? std::string("no reason recorded")
                                                        : stats->read_only_reason)};
  }
  return {true, ""};
}

// What the counters were at one moment, for rates and percentiles over a window.
struct OpsListener::Sample {
  std::chrono::steady_clock::time_point at;
  std::array<ops::HistogramSnapshot, proto::kMaxOp + 1> latency;
  std::array<uint64_t, proto::kMaxOp + 1> errors{};
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
};

OpsListener::OpsListener(const ServerConfig& config, Server* server, Store* store,
                         std::shared_ptr<ops::RecentLogSink> logs, NodeInfo info)
    : config_(config),
      server_(server),
      store_(store),
      logs_(std::move(logs)),
      info_(std::move(info)) {}

OpsListener::~OpsListener() { Stop(); }

Result<uint16_t> OpsListener::Start() {
  const net::HttpServerOptions o = OpsHttpServerOptions(config_.http_listen, "cairnd");
  ops::OpsEndpoints e;
  e.metrics = [this] { return MetricsText(); };
  e.readiness = [this] { return Readiness(); };
  e.status_json = [this] { return StatusJson(); };
  http_ = std::make_unique<net::HttpServer>(o, &loop_, &pool_, ops::MakeOpsHandler(std::move(e)));
  Result<uint16_t> port = http_->Start();
  if (!port.ok()) {
    http_.reset();
    return port.status().WithContext("http_listen");
  }
  std::string host;
  uint16_t ignored = 0;
  (void)net::ParseListenAddress(config_.http_listen, &host, &ignored);
  http_addr_ = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
               std::to_string(*port);
  TakeSample();
  sampler_ = std::make_unique<asio::steady_timer>(loop_.loop(0));
  ScheduleSample();
  loop_.Start();
  return port;
}

void OpsListener::Stop() {
  if (http_ == nullptr) return;
  http_->Stop(1000);
  asio::post(loop_.loop(0), [this] { sampler_->cancel(); });
  loop_.Stop();
  loop_.loop(0).stop();
  loop_.Join();
  pool_.join();
  http_.reset();
  sampler_.reset();
}

void OpsListener::ScheduleSample() {
  sampler_->expires_after(std::chrono::seconds(1));
  sampler_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    TakeSample();
    ScheduleSample();
  });
}

void OpsListener::TakeSample() {
  auto s = std::make_shared<Sample>();
  s->at = std::chrono::steady_clock::now();
  ServerCounters& c = server_->counters();
  for (size_t op = 1; op <= proto::kMaxOp; op++) {
    s->latency[op] = c.ops.latency(op).Snapshot();
    for (size_t code = 1; code < ops::OpMetrics::kMaxCodes; code++) s->errors[op] += c.ops.errors(op, code);
  }
  s->bytes_in = c.bytes_in.load(std::memory_order_relaxed);
  s->bytes_out = c.bytes_out.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> l(window_mu_);
  window_.push_back(std::move(s));
  while (window_.size() > kOpsWindowSamples) window_.pop_front();
}

Result<StoreStats> OpsListener::Stats(bool fresh) {
  std::lock_guard<std::mutex> l(stats_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (fresh || !stats_.has_value() || now - stats_at_ > kOpsStatsMaxAge) {
    stats_ = store_->Stats();
    stats_at_ = std::chrono::steady_clock::now();
  }
  return *stats_;
}

ops::Readiness ClusterReadiness(const ClusterStatus& c) {
  if (!c.joined) return {false, "joining the cluster: not yet registered in etcd"};
  if (c.epoch == 0) return {false, "no cluster map yet"};
  if (c.noted_epoch > c.epoch) {
    return {false, "behind the cluster map: holds epoch " + std::to_string(c.epoch) +
                       ", a peer has shown epoch " + std::to_string(c.noted_epoch)};
  }
  return {true, ""};
}

ops::Readiness OpsListener::Ready(const Result<StoreStats>& stats, const ClusterStatus* cluster) {
  ops::Readiness r = NodeReadiness(stats, server_->draining());
  if (r.ready && cluster != nullptr) r = ClusterReadiness(*cluster);
  return r;
}

std::optional<ClusterStatus> OpsListener::Cluster() const {
  if (server_->cluster() == nullptr) return std::nullopt;
  return server_->cluster()->Status();
}

// Never from the cache: a probe that follows a failed write must see it.
ops::Readiness OpsListener::Readiness() {
  std::optional<ClusterStatus> cl = Cluster();
  return Ready(Stats(/*fresh=*/true), cl ? &*cl : nullptr);
}

std::string OpsListener::MetricsText() {
  ops::ExpositionWriter w;
  ServerCounters& c = server_->counters();
  const Limits& lim = config_.limits;
  const Result<StoreStats> st = Stats();
  const std::optional<ClusterStatus> cl = Cluster();
  const ops::Readiness ready = Ready(st, cl ? &*cl : nullptr);

  w.Family("cairn_build_info", "The cairnd version (the value is always 1).",
           ops::MetricType::kGauge);
  w.Sample("cairn_build_info", {{"version", info_.version}}, uint64_t{1});
  w.Gauge("cairn_process_start_time_seconds", "When cairnd started, in seconds since the epoch.",
          std::chrono::duration<double>(info_.started.time_since_epoch()).count());
  w.Gauge("cairn_ready", "1 if the node is ready (its store open and writable), else 0.",
          ready.ready ? 1 : 0);

  // The data port.
  w.Gauge("cairn_connections", "Client connections open on the data port.",
          static_cast<double>(c.connections.load(std::memory_order_relaxed)));
  w.Gauge("cairn_connections_max", "The max_connections limit of the data port.",
          lim.max_connections);
  w.Counter("cairn_connections_accepted_total", "Connections accepted on the data port.",
            c.connections_total.load(std::memory_order_relaxed));
  w.Counter("cairn_connections_refused_total",
            "Connections closed at once because max_connections were open.",
            c.connections_refused.load(std::memory_order_relaxed));
  w.Gauge("cairn_inflight_requests", "Requests read and not yet answered, all connections.",
          static_cast<double>(c.inflight.load(std::memory_order_relaxed)));
  w.Gauge("cairn_inflight_requests_max_per_connection",
          "The max_inflight_per_connection limit.", lim.max_inflight_per_connection);
  w.Counter("cairn_received_bytes_total", "Bytes received on the data port.",
            c.bytes_in.load(std::memory_order_relaxed));
  w.Counter("cairn_sent_bytes_total", "Bytes sent on the data port.",
            c.bytes_out.load(std::memory_order_relaxed));
  w.Family("cairn_replies_total",
           "Replies sent, by wire status (with the final error of a connection closed for bad "
           "input).",
           ops::MetricType::kCounter);
  for (size_t s = 0; s < c.replies_by_status.size(); s++) {
    const uint64_t n = c.replies_by_status[s].load(std::memory_order_relaxed);
    if (n != 0 || s == 0)
      w.Sample("cairn_replies_total", {{"status", CodeNameOf(s) ? CodeNameOf(s) : std::to_string(s)}},
               n);
  }
  c.ops.Write(w, "cairn", OpNameOf, CodeNameOf);

  // The store.
  w.Gauge("cairn_store_stats_ok", "1 if the store's statistics could be read, else 0.",
          st.ok() ? 1 : 0);
  if (st.ok()) {
    const StoreStats& s = st.value();
    w.Gauge("cairn_store_objects", "Live objects.", static_cast<double>(s.objects));
    w.Gauge("cairn_store_logical_bytes", "Sum of the live objects' sizes.",
            static_cast<double>(s.logical_bytes));
    w.Gauge("cairn_store_live_bytes", "Bytes of records the index references.",
            static_cast<double>(s.live_bytes));
    w.Gauge("cairn_store_dead_bytes", "Superseded, deleted, abandoned or padding bytes.",
            static_cast<double>(s.dead_bytes));
    w.Gauge("cairn_store_tombstones", "Deletes remembered.", static_cast<double>(s.tombstones));
    w.Gauge("cairn_store_volumes", "Volume files.", static_cast<double>(s.volumes));
    w.Gauge("cairn_store_volume_capacity_bytes", "Bytes per volume file.",
            static_cast<double>(s.volume_capacity));
    w.Gauge("cairn_store_allocated_bytes", "Bytes allocated on the device (volumes and index).",
            static_cast<double>(s.allocated_bytes));
    w.Gauge("cairn_store_index_allocated_bytes", "Bytes allocated by the key index.",
            static_cast<double>(s.index_allocated_bytes));
    w.Counter("cairn_store_index_hot_hits_total",
              "Key lookups found in the hot-entry cache (the hit ratio: hits / (hits + misses)).",
              s.index_hot_hits);
    w.Counter("cairn_store_index_hot_misses_total", "Key lookups that went to the RocksDB index.",
              s.index_hot_misses);
    w.Gauge("cairn_store_index_memory_bytes", "Key index memory: memtables and block cache.",
            static_cast<double>(s.index_memory_bytes));
    w.Gauge("cairn_store_index_cache_bytes",
            "The key index's block cache capacity (index_cache, or sized to the index).",
            static_cast<double>(s.index_cache_bytes));
    w.Gauge("cairn_store_reclaimable_bytes", "Dead bytes reclamation would release now.",
            static_cast<double>(s.reclaimable_bytes));
    w.Counter("cairn_store_reclaimed_bytes_total",
              "Bytes released by hole punching and retired volumes, ever.", s.reclaimed_bytes);
    w.Counter("cairn_store_compactions_total", "Volumes compacted and retired, ever.",
              s.compactions);
    w.Gauge("cairn_store_read_only", "1 if the store turned read-only after a write error.",
            s.read_only ? 1 : 0);
    auto per_volume = [&](const char* name, const char* help, auto field) {
      w.Family(name, help, ops::MetricType::kGauge);
      for (const VolumeStats& v : s.volume_list)
        w.Sample(name, {{"volume", std::to_string(v.id)}}, static_cast<double>(field(v)));
    };
    per_volume("cairn_volume_end_bytes", "Offset past the volume's last record.",
               [](const VolumeStats& v) { return v.end; });
    per_volume("cairn_volume_live_bytes", "Live bytes in the volume.",
               [](const VolumeStats& v) { return v.live_bytes; });
    per_volume("cairn_volume_dead_bytes", "Dead bytes in the volume.",
               [](const VolumeStats& v) { return v.dead_bytes; });
    per_volume("cairn_volume_reclaimed_bytes", "Bytes of the volume released by hole punching.",
               [](const VolumeStats& v) { return v.reclaimed_bytes; });
    w.Family("cairn_volume_info", "The volume's state (the value is always 1).",
             ops::MetricType::kGauge);
    for (const VolumeStats& v : s.volume_list)
      w.Sample("cairn_volume_info", {{"volume", std::to_string(v.id)}, {"state", v.state}},
               uint64_t{1});
  }
  const Disk d = DiskOf(config_.data);
  if (d.ok) {
    w.Gauge("cairn_disk_total_bytes", "Size of the file system holding the store.",
            static_cast<double>(d.total));
    w.Gauge("cairn_disk_free_bytes", "Bytes of that file system available to cairnd.",
            static_cast<double>(d.free));
  }
  if (logs_ != nullptr) {
    w.Family("cairn_log_messages_total", "Warning and error lines logged.",
             ops::MetricType::kCounter);
    w.Sample("cairn_log_messages_total", {{"level", "warning"}}, logs_->warnings());
    w.Sample("cairn_log_messages_total", {{"level", "error"}}, logs_->errors());
  }
  if (engine_ != nullptr) {
    w.Family("cairn_store_group_commit_writes", "Writes (records) applied per group commit.",
             ops::MetricType::kHistogram);
    w.HistogramSamples("cairn_store_group_commit_writes", {}, engine_->group_writers.spec(),
                       engine_->group_writers.Snapshot());
    w.Family("cairn_store_group_commit_bytes", "Log bytes per group commit.",
             ops::MetricType::kHistogram);
    w.HistogramSamples("cairn_store_group_commit_bytes", {}, engine_->group_bytes.spec(),
                       engine_->group_bytes.Snapshot());
    w.Family("cairn_store_fdatasync_duration_seconds", "Duration of each volume fdatasync.",
             ops::MetricType::kHistogram);
    w.HistogramSamples("cairn_store_fdatasync_duration_seconds", {}, engine_->sync_ns.spec(),
                       engine_->sync_ns.Snapshot());
    w.Counter("cairn_store_fdatasync_errors_total",
              "fdatasync calls that failed (the store turns read-only at the first).",
              engine_->sync_errors.Value());
  }
  if (const BackgroundScheduler* b = server_->background(); b != nullptr) {
    // The one budget for background work (cairn/background.h; docs/design.md).
    const BackgroundSchedulerStats bs = b->stats();
    auto by_activity = [&](const char* name, const char* help, auto value) {
      w.Family(name, help, ops::MetricType::kCounter);
      for (size_t i = 0; i < kBackgroundActivities; i++)
        w.Sample(name, {{"activity", BackgroundActivityName(static_cast<BackgroundActivity>(i))}},
                 value(i));
    };
    by_activity("cairn_background_admitted_bytes_total",
                "Bytes of background I/O admitted by the one budget, by activity.",
                [&](size_t i) { return bs.admitted_bytes[i]; });
    by_activity("cairn_background_wait_seconds_total",
                "Time background work waited for the one budget, by activity.",
                [&](size_t i) { return static_cast<double>(bs.waited_us[i]) / 1e6; });
    w.Gauge("cairn_background_rate_bytes",
            "The rate background I/O is admitted at now, bytes per second (0: unlimited).",
            bs.rate_bytes_per_sec);
    w.Gauge("cairn_background_foreground_p99_seconds",
            "The foreground requests' p99 in the last window the budget judged.",
            static_cast<double>(bs.window_p99_us) / 1e6);
    w.Gauge("cairn_background_baseline_p99_seconds",
            "The foreground p99 measured in windows without background I/O.",
            static_cast<double>(bs.baseline_p99_us) / 1e6);
    w.Gauge("cairn_background_target_p99_seconds",
            "The foreground p99 background work is held to (0: none yet).",
            static_cast<double>(bs.target_p99_us) / 1e6);
    w.Counter("cairn_background_rate_decreases_total",
              "Windows whose foreground p99 was over the target, so the rate was halved.",
              bs.decreases);
  }
  if (http_ != nullptr) {
    w.Gauge("cairn_ops_http_connections", "Connections open on this ops listener.",
            static_cast<double>(http_->counters().connections.load(std::memory_order_relaxed)));
  }
  if (cl.has_value()) {
    w.Gauge("cairn_cluster_joined", "1 once the node has joined its cluster, else 0.", cl->joined ? 1 : 0);
    w.Gauge("cairn_cluster_map_epoch", "The epoch of the partition map this node holds.",
            static_cast<double>(cl->epoch));
    w.Gauge("cairn_cluster_controller", "1 if this node is the controller (writes the map).",
            cl->controller ? 1 : 0);
    w.Gauge("cairn_cluster_etcd_reachable",
            "1 if the node's last etcd call succeeded (0: serving on the map it has).",
            cl->etcd_reachable ? 1 : 0);
    uint64_t held = 0;
    for (const ClusterStatus::Node& n : cl->nodes)
      if (n.id == cl->self) held = n.partitions;
    w.Gauge("cairn_cluster_partitions_held", "Partition replicas the map places on this node.",
            static_cast<double>(held));
    w.Family("cairn_cluster_nodes", "Nodes in the map, by state.", ops::MetricType::kGauge);
    for (const char* state : {"up", "down", "out", "draining"}) {
      uint64_t k = 0;
      for (const ClusterStatus::Node& n : cl->nodes) k += n.state == state;
      w.Sample("cairn_cluster_nodes", {{"state", state}}, k);
    }
    w.Gauge("cairn_cluster_moving_partitions",
            "Partitions moving in the map's transition in flight (0: none).",
            static_cast<double>(cl->moving_partitions));
    w.Family("cairn_cluster_sync_partitions",
             "This node's share of the transition's sync: the moving partitions it leads, and "
             "those of them synced (as of its last anti-entropy round of this map).",
             ops::MetricType::kGauge);
    const bool current = cl->moving_partitions > 0 && cl->sync_epoch == cl->epoch;
    w.Sample("cairn_cluster_sync_partitions", {{"state", "led"}}, uint64_t{current ? cl->sync_led : 0u});
    w.Sample("cairn_cluster_sync_partitions", {{"state", "synced"}}, uint64_t{current ? cl->sync_synced : 0u});
    w.Gauge("cairn_cluster_hint_queue_bytes", "Hints waiting on this node for other nodes, bytes.",
            static_cast<double>(cl->hint_queue_bytes));
    w.Gauge("cairn_cluster_hint_oldest_age_seconds", "Age of the oldest hint waiting (0: none).",
            cl->hint_oldest_age_s);
    w.Counter("cairn_cluster_hints_written_total", "Hints written for replicas that missed a write.",
              cl->hints_written);
    w.Counter("cairn_cluster_hints_replayed_total", "Hints delivered to their target.",
              cl->hints_replayed);
    w.Counter("cairn_cluster_hints_skipped_total", "Hints dropped (expired, or refused for what they are).",
              cl->hints_skipped);
    w.Counter("cairn_cluster_coordinated_total", "Requests this node coordinated as a replica.",
              cl->coordinated);
    w.Counter("cairn_cluster_routed_total", "Requests this node sent on to a replica.", cl->routed);
    w.Counter("cairn_cluster_failovers_total", "Replicas found unreachable, the next one asked.",
              cl->failovers);
    w.Counter("cairn_cluster_hedged_reads_total", "Reads that asked one more replica after the p95 delay.",
              cl->hedged);
    w.Counter("cairn_cluster_read_repairs_total", "Replicas given the newest version by a read.",
              cl->read_repairs);
    w.Counter("cairn_cluster_partial_writes_total", "Writes that got fewer than W acknowledgements.",
              cl->partial_writes);
    w.Counter("cairn_cluster_ae_rounds_total", "Anti-entropy rounds run.", cl->ae_rounds);
    w.Counter("cairn_cluster_ae_partitions_compared_total",
              "Partition roots anti-entropy compared with a peer.", cl->ae_partitions_compared);
    w.Counter("cairn_cluster_ae_leaves_walked_total", "Digest leaves whose keys anti-entropy listed.",
              cl->ae_leaves_walked);
    w.Counter("cairn_cluster_ae_keys_repaired_total", "Records anti-entropy pushed to a replica that lacked them.",
              cl->ae_keys_repaired);
    w.Counter("cairn_cluster_ae_bytes_pushed_total", "Value bytes anti-entropy pushed.",
              cl->ae_bytes_pushed);
    w.Counter("cairn_cluster_ae_repairs_refused_total",
              "Anti-entropy pushes the target refused (it held newer, or the tombstone horizon).",
              cl->ae_repairs_refused);
  }
  if (extra_metrics_) extra_metrics_(w);
  return w.Take();
}

std::string OpsListener::StatusJson() {
  ServerCounters& c = server_->counters();
  const Limits& lim = config_.limits;
  const Result<StoreStats> st = Stats();
  const std::optional<ClusterStatus> cl = Cluster();
  const ops::Readiness ready = Ready(st, cl ? &*cl : nullptr);
  const auto now_sys = std::chrono::system_clock::now();

  Json j;
  Json node;
  node["version"] = info_.version;
  node["pid"] = ::getpid();
  node["listen"] = info_.data_listen;
  node["http_listen"] = http_addr_;
  node["data"] = config_.data;
  node["durability"] = DurabilityName(config_.durability);
  node["uptime_seconds"] = std::chrono::duration<double>(now_sys - info_.started).count();
  node["now_unix_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(now_sys.time_since_epoch()).count();
  j["node"] = std::move(node);
  j["ready"] = {{"ready", ready.ready}, {"reason", ready.reason}};

  const Disk d = DiskOf(config_.data);
  j["disk"] = {{"path", config_.data},
               {"total_bytes", d.total},
               {"free_bytes", d.free},
               {"used_bytes", d.total - std::min(d.total, d.free)}};
  if (st.ok()) {
    // The same document the STAT reply carries (proto/stat_body.h), parsed back into the page's
    // JSON: one encoding of StoreStats for every consumer.
    j["store"] = Json::parse(proto::EncodeStatBody(st.value()));
  } else {
    j["store"] = {{"error", st.status().ToString()}};
  }

  Json server;
  server["connections"] = c.connections.load(std::memory_order_relaxed);
  server["max_connections"] = lim.max_connections;
  server["inflight"] = c.inflight.load(std::memory_order_relaxed);
  server["max_inflight_per_connection"] = lim.max_inflight_per_connection;
  server["connections_total"] = c.connections_total.load(std::memory_order_relaxed);
  server["connections_refused"] = c.connections_refused.load(std::memory_order_relaxed);
  server["requests_total"] = c.requests.load(std::memory_order_relaxed);
  server["bytes_in_total"] = c.bytes_in.load(std::memory_order_relaxed);
  server["bytes_out_total"] = c.bytes_out.load(std::memory_order_relaxed);
  j["server"] = std::move(server);

  // Rates and percentiles over the window: now against the oldest sample kept.
  std::shared_ptr<const Sample> oldest;
  {
    std::lock_guard<std::mutex> l(window_mu_);
    if (!window_.empty()) oldest = window_.front();
  }
  Sample now;
  now.at = std::chrono::steady_clock::now();
  for (size_t op = 1; op <= proto::kMaxOp; op++) {
    now.latency[op] = c.ops.latency(op).Snapshot();
    for (size_t code = 1; code < ops::OpMetrics::kMaxCodes; code++) now.errors[op] += c.ops.errors(op, code);
  }
  now.bytes_in = c.bytes_in.load(std::memory_order_relaxed);
  now.bytes_out = c.bytes_out.load(std::memory_order_relaxed);
  const double window = oldest ? std::max(Seconds(now.at - oldest->at), 1e-3) : 0;
  j["window_seconds"] = window;
  auto per_s = [&](uint64_t n) { return window > 0 ? static_cast<double>(n) / window : 0.0; };
  uint64_t requests_in_window = 0;
  Json op_list = Json::array();
  const ops::HistogramSpec spec = ops::HistogramSpec::LatencyNs();
  for (size_t op = 1; op <= proto::kMaxOp; op++) {
    ops::HistogramSnapshot d = oldest ? now.latency[op].Minus(oldest->latency[op]) : ops::HistogramSnapshot{};
    const uint64_t errs = oldest ? now.errors[op] - std::min(now.errors[op], oldest->errors[op]) : 0;
    requests_in_window += d.count;
    Json o;
    o["op"] = OpNameOf(op);
    o["requests_total"] = now.latency[op].count;
    o["errors_total"] = now.errors[op];
    o["rate_per_s"] = per_s(d.count);
    o["errors_per_s"] = per_s(errs);
    o["p50_ms"] = d.Quantile(spec, 0.50) * 1e-6;
    o["p99_ms"] = d.Quantile(spec, 0.99) * 1e-6;
    op_list.push_back(std::move(o));
  }
  // This node's row of the cluster table, in the shape of a peer's (PeerViewJson).
  Json self_stats;
  {
    PeerView me;
    me.answering = true;
    me.last_answer_unix_ms = j["node"]["now_unix_ms"].get<int64_t>();
    me.has_disk = d.ok;
    me.disk_total_bytes = d.total;
    me.disk_free_bytes = std::min(d.free, d.total);
    if (st.ok()) {
      me.objects = st->objects;
      me.allocated_bytes = st->allocated_bytes;
      me.read_only = st->read_only;
    }
    me.window_seconds = window;
    if (cl.has_value()) {
      me.sync_epoch = cl->sync_epoch;
      me.sync_synced = cl->sync_synced;
      me.sync_led = cl->sync_led;
    }
    me.requests_per_s = per_s(requests_in_window);
    for (const Json& o : op_list) {
      if (o["op"] == "GET") {
        me.get_per_s = o["rate_per_s"].get<double>();
        me.get_p99_ms = o["p99_ms"].get<double>();
      } else if (o["op"] == "PUT") {
        me.put_per_s = o["rate_per_s"].get<double>();
        me.put_p99_ms = o["p99_ms"].get<double>();
      }
    }
    self_stats = PeerViewJson(me);
    self_stats["self"] = true;
  }
  j["ops"] = std::move(op_list);
  j["rates"] = {
      {"requests_per_s", per_s(requests_in_window)},
      {"bytes_in_per_s", oldest ? per_s(now.bytes_in - std::min(now.bytes_in, oldest->bytes_in)) : 0.0},
      {"bytes_out_per_s",
       oldest ? per_s(now.bytes_out - std::min(now.bytes_out, oldest->bytes_out)) : 0.0}};

  Json logs;
  logs["warnings_total"] = logs_ ? logs_->warnings() : 0;
  logs["errors_total"] = logs_ ? logs_->errors() : 0;
  Json recent = Json::array();
  if (logs_ != nullptr) {
    for (const ops::LogLine& l : logs_->Recent())
      recent.push_back({{"unix_ms", l.unix_ms}, {"level", l.level}, {"text", l.text}});
  }
  logs["recent"] = std::move(recent);
  logs["kept_at_most"] = ops::kRecentLogLines;
  j["logs"] = std::move(logs);
  if (cl.has_value()) {
    Json c;
    c["joined"] = cl->joined;
    c["epoch"] = cl->epoch;
    c["self"] = cl->self;
    c["controller"] = cl->controller;
    c["etcd_reachable"] = cl->etcd_reachable;
    c["write_policy"] = cl->write_policy;
    c["replicas"] = cl->replicas;
    // Each node's disk, rates and p99s: this node's from its own numbers, the others' as the
    // peer poller last saw them (never asked here: the page never waits on a peer).
    const std::map<uint32_t, PeerView> peer_views =
        peers_ != nullptr ? peers_->Views() : std::map<uint32_t, PeerView>{};
    // A transition in flight: each node's partitions before and after, and the sync of the
    // moving partitions, summed from the share each node leads (its own report at this epoch:
    // this node's from its last round, the others' as the poller last saw them).
    const bool moving = cl->moving_partitions > 0;
    uint64_t synced = 0, led = 0, reported = 0;
    Json nodes = Json::array();
    for (const ClusterStatus::Node& n : cl->nodes) {
      Json jn = {{"id", n.id}, {"address", n.address}, {"zone", n.zone}, {"state", n.state},
                 {"weight", n.weight}, {"partitions", n.partitions}};
      if (moving) jn["partitions_before"] = n.partitions_before;
      const PeerView* view = nullptr;
      if (n.id == cl->self) {
        jn["stats"] = std::move(self_stats);
      } else if (auto it = peer_views.find(n.id); it != peer_views.end()) {
        view = &it->second;
        jn["stats"] = PeerViewJson(it->second);
      }
      const bool self_reports = n.id == cl->self && cl->sync_epoch == cl->epoch;
      const bool peer_reports = view != nullptr && view->answering && view->sync_epoch == cl->epoch;
      if (moving && (self_reports || peer_reports)) {
        const uint32_t s = self_reports ? cl->sync_synced : view->sync_synced;
        const uint32_t l = self_reports ? cl->sync_led : view->sync_led;
        jn["sync"] = {{"synced", s}, {"led", l}};
        synced += s;
        led += l;
        reported++;
      }
      nodes.push_back(std::move(jn));
    }
    c["nodes"] = std::move(nodes);
    if (moving) {
      c["transition"] = {{"epoch", cl->epoch},
                         {"moving_partitions", cl->moving_partitions},
                         {"partitions_synced", std::min(synced, cl->moving_partitions)},
                         {"partitions_led_reported", led},
                         {"nodes_reported", reported}};
    } else {
      c["transition"] = nullptr;
    }
    c["hints"] = {{"queue_bytes", cl->hint_queue_bytes}, {"oldest_age_s", cl->hint_oldest_age_s},
                  {"written", cl->hints_written}, {"replayed", cl->hints_replayed},
                  {"skipped", cl->hints_skipped}};
    c["counters"] = {{"coordinated", cl->coordinated}, {"routed", cl->routed},
                     {"failovers", cl->failovers}, {"hedged", cl->hedged},
                     {"read_repairs", cl->read_repairs}, {"partial_writes", cl->partial_writes}};
    c["anti_entropy"] = {{"rounds", cl->ae_rounds},
                         {"partitions_compared", cl->ae_partitions_compared},
                         {"leaves_walked", cl->ae_leaves_walked},
                         {"keys_repaired", cl->ae_keys_repaired},
                         {"bytes_pushed", cl->ae_bytes_pushed},
                         {"repairs_refused", cl->ae_repairs_refused}};
    j["cluster"] = std::move(c);
  }
  // Invalid UTF-8 (a key in a log line) is replaced, never a reason to fail the page.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace cairn::server
