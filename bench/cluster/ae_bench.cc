// ae_bench: the pieces of bench/cluster/anti_entropy.sh that need the library (issue 12's
// anti-entropy targets, docs/cluster.md "Anti-entropy", "Measured").
//
//   ae_bench miss --etcd HOST:PORT --member-key-file F --lagging NODE_ID --keys M
//                 [--prefix P] [--size BYTES] [--timeout-s S] [--poll-ms MS] [--threads T]
//     Writes M keys whose rows hold NODE_ID straight into the two OTHER replicas' own stores
//     (member key, role replica, apply-if-newer: what tests/cluster_test.cc's
//     AntiEntropyClusterTest does), so no coordinator runs and no hint is queued. Then polls
//     NODE_ID (HeadVersion, role replica) until it holds every key at that version, and prints
//     (T threads write, 16 by default, so that a large M is written well inside one round)
//     one JSON line: the seconds from the last write until the first key, the median key and
//     the last key arrived.
//   ae_bench fill --data DIR --count N [--size BYTES]
//     Puts N objects into a local store directory (apply-if-newer with a cluster-like version,
//     durability none, closed at the end): a store to time restarts on.
//   ae_bench rebuild --data DIR
//     Opens the store and rebuilds the anti-entropy digest as a cluster node does at start
//     (ClusterNode::Create: DigestedStore::Rebuild, one ListVersions scan), then writes the
//     digest checkpoint and reads it back as a clean stop and the next start do; prints the
//     wall and CPU seconds of each step, and whether the read-back digest equals the scan's, as
//     one JSON line.
//
// Every loop is bounded by its count and a timeout. Not a test: nothing here asserts a speed.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cairn/client.h"
#include "cairn/local_object_store.h"
#include "cluster/cached_map_view.h"
#include "cluster/cluster_node.h"
#include "cluster/digested_store.h"

using namespace cairn;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: ae_bench miss --etcd E --member-key-file F --lagging ID --keys M [--prefix P] "
               "[--size B] [--timeout-s S] [--poll-ms MS]\n"
               "       ae_bench fill --data DIR --count N [--size B]\n"
               "       ae_bench rebuild --data DIR\n");
  std::exit(2);
}

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "ae_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double CpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::map<std::string, std::string> Flags(int argc, char** argv) {
  std::map<std::string, std::string> f;
  for (int i = 2; i < argc; i++) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) Usage();
    f[k.substr(2)] = argv[++i];
  }
  return f;
}

std::string Need(const std::map<std::string, std::string>& f, const std::string& k) {
  auto it = f.find(k);
  if (it == f.end()) Usage();
  return it->second;
}

uint64_t Num(const std::map<std::string, std::string>& f, const std::string& k, uint64_t def) {
  auto it = f.find(k);
  return it == f.end() ? def : std::strtoull(it->second.c_str(), nullptr, 10);
}

// A writer id no node has (nodes stamp with their node id, at most 65,535).
constexpr uint32_t kBenchWriter = 0xAE000001;

int Miss(const std::map<std::string, std::string>& f) {
  cluster::CachedMapOptions mo;
  if (Status s = cluster::ParseEtcdEndpoints(Need(f, "etcd"), &mo.etcd.endpoints); !s.ok())
    Die("--etcd", s);
  mo.use_cache = false;
  Result<std::unique_ptr<cluster::CachedMapView>> view = cluster::CachedMapView::Load(mo);
  if (!view.ok()) Die("the map", view.status());
  std::shared_ptr<const cluster::ClusterMap> map = (*view)->map();
  Result<ClientKey> key = ReadClientKeyFile(Need(f, "member-key-file"));
  if (!key.ok()) Die("--member-key-file", key.status());
  const auto lagging = static_cast<cluster::NodeId>(Num(f, "lagging", 0));
  const uint64_t m = Num(f, "keys", 100);
  const std::string prefix = f.count("prefix") ? f.at("prefix") : "ae-miss/";
  const std::string value(Num(f, "size", 1024), 'v');
  const double timeout_s = static_cast<double>(Num(f, "timeout-s", 900));
  const auto poll = std::chrono::milliseconds(Num(f, "poll-ms", 250));

  std::map<cluster::NodeId, std::unique_ptr<Client>> clients;
  for (const cluster::MapNode& n : map->nodes) {
    ClientOptions o;
    if (Status s = ParseServerAddress(n.address, &o.host, &o.port); !s.ok()) Die(n.address, s);
    o.key = *key;
    o.max_attempts = 3;
    o.connections = 8;
    ClientRouting r;
    r.epoch = (*view)->epoch_cell();
    r.role = RoutingRole::kReplica;
    o.routing = r;
    Result<std::unique_ptr<Client>> c = Client::Create(o);
    if (!c.ok()) Die("client of " + n.address, c.status());
    clients[n.id] = std::move(*c);
  }
  if (clients.count(lagging) == 0) Die("--lagging", Status::InvalidArgument("no such node"));

  // Keys whose row holds the lagging node, each written to its two other replicas.
  struct Missed {
    std::string key;
    double found_s = -1;
  };
  std::vector<Missed> keys;
  const Version v = Version::Make(NowMs(), 0, kBenchWriter);
  WriteOptions wo;
  wo.condition = WriteCondition::kIfNewer;
  wo.version = v;
  for (uint64_t i = 0; keys.size() < m && i < m * 100; i++) {
    std::string k = prefix + std::to_string(i);
    auto row = map->ReplicasOf(k);
    if (std::find(row.begin(), row.end(), lagging) != row.end()) keys.push_back(Missed{k});
  }
  const auto t_write = Clock::now();
  {
    std::atomic<size_t> next{0};
    std::vector<std::thread> writers;
    const uint64_t threads = std::max<uint64_t>(1, Num(f, "threads", 16));
    for (uint64_t t = 0; t < threads; t++) {
      writers.emplace_back([&] {
        for (size_t i = next++; i < keys.size(); i = next++) {
          const std::string& k = keys[i].key;
          for (cluster::NodeId id : map->ReplicasOf(k)) {
            if (id == lagging) continue;
            Result<WriteResult> w = clients.at(id)->Put(k, value, wo);
            if (!w.ok()) Die("replica write of " + k + " to node " + std::to_string(id), w.status());
          }
        }
      });
    }
    for (std::thread& w : writers) w.join();
  }
  const double write_s = Since(t_write);
  const auto t0 = Clock::now();
  const uint64_t t0_ms = NowMs();
  // Keys a round repaired while the writes were still going on count as found at 0.
  size_t found = 0;
  uint64_t polls = 0;
  while (found < keys.size() && Since(t0) < timeout_s) {
    for (Missed& k : keys) {
      if (k.found_s >= 0) continue;
      Result<ObjectInfo> h = clients[lagging]->HeadVersion(k.key);
      if (h.ok() && h->version == v) {
        k.found_s = Since(t0);
        found++;
      }
    }
    polls++;
    if (found < keys.size()) std::this_thread::sleep_for(poll);
  }
  std::vector<double> t;
  for (const Missed& k : keys)
    if (k.found_s >= 0) t.push_back(k.found_s);
  std::sort(t.begin(), t.end());
  auto at = [&](double q) { return t.empty() ? -1.0 : t[std::min(t.size() - 1, size_t(q * t.size()))]; };
  std::printf("{\"keys\":%zu,\"found\":%zu,\"write_s\":%.3f,\"written_at_ms\":%llu,\"first_s\":%.2f,"
              "\"p50_s\":%.2f,\"all_s\":%.2f,\"polls\":%llu}\n",
              keys.size(), found, write_s, static_cast<unsigned long long>(t0_ms), at(0), at(0.5),
              found == keys.size() ? t.back() : -1.0, static_cast<unsigned long long>(polls));
  return found == keys.size() ? 0 : 3;
}

int Fill(const std::map<std::string, std::string>& f) {
  StoreOptions so;
  so.volume_capacity = uint64_t{64} << 20;
  so.durability = Durability::kNone;
  Result<std::unique_ptr<LocalObjectStore>> st = LocalObjectStore::Open(Need(f, "data"), so);
  if (!st.ok()) Die("open", st.status());
  const uint64_t n = Num(f, "count", 1000000);
  const std::string value(Num(f, "size", 100), 'f');
  const auto t0 = Clock::now();
  WriteOptions wo;
  wo.condition = WriteCondition::kIfNewer;
  wo.durability = Durability::kNone;
  const uint64_t base = NowMs();
  for (uint64_t i = 0; i < n; i++) {
    wo.version = Version::Make(base, static_cast<uint16_t>(i & 0xFFFF), 1 + static_cast<uint32_t>(i % 4));
    char k[32];
    std::snprintf(k, sizeof k, "fill/%012llu", static_cast<unsigned long long>(i));
    Result<WriteResult> w = (*st)->Put(k, value, wo);
    if (!w.ok()) Die(k, w.status());
  }
  if (Status s = (*st)->Close(); !s.ok()) Die("close", s);
  std::printf("{\"objects\":%llu,\"seconds\":%.1f}\n", static_cast<unsigned long long>(n), Since(t0));
  return 0;
}

int Rebuild(const std::map<std::string, std::string>& f) {
  StoreOptions so;
  so.create_if_missing = false;
  so.background_reclaim = false;
  double c0 = CpuSeconds();
  auto t0 = Clock::now();
  Result<std::unique_ptr<LocalObjectStore>> st = LocalObjectStore::Open(Need(f, "data"), so);
  if (!st.ok()) Die("open", st.status());
  const double open_s = Since(t0), open_cpu = CpuSeconds() - c0;
  cluster::DigestedStore d(st->get());
  c0 = CpuSeconds();
  t0 = Clock::now();
  if (Status s = d.Rebuild(); !s.ok()) Die("rebuild", s);
  const double rebuild_s = Since(t0), rebuild_cpu = CpuSeconds() - c0;
  // What a clean stop and the next start do instead (docs/format.md section 8): write the
  // checkpoint, read it back into a new digest, and check it matches the scan's.
  const std::string path = Need(f, "data") + "/" + cluster::kDigestCheckpointFile;
  t0 = Clock::now();
  if (Status s = d.SaveCheckpoint(path); !s.ok()) Die("save checkpoint", s);
  const double save_s = Since(t0);
  cluster::DigestedStore back(st->get());
  c0 = CpuSeconds();
  t0 = Clock::now();
  if (Status s = back.LoadCheckpoint(path); !s.ok()) Die("load checkpoint", s);
  const double load_s = Since(t0), load_cpu = CpuSeconds() - c0;
  bool equal = true;
  for (uint32_t p = 0; p < cluster::kPartitions; p++)
    equal = equal && back.digest().Root(p) == d.digest().Root(p);
  Result<StoreStats> stats = (*st)->Stats();
  std::printf("{\"objects\":%llu,\"partitions_held\":%zu,\"open_s\":%.3f,\"open_cpu_s\":%.3f,"
              "\"rebuild_s\":%.3f,\"rebuild_cpu_s\":%.3f,\"checkpoint_save_s\":%.3f,"
              "\"checkpoint_load_s\":%.3f,\"checkpoint_load_cpu_s\":%.3f,\"equal\":%s}\n",
              static_cast<unsigned long long>(stats.ok() ? stats->objects : 0),
              d.digest().partitions_held(), open_s, open_cpu, rebuild_s, rebuild_cpu, save_s, load_s,
              load_cpu, equal ? "true" : "false");
  (void)(*st)->Close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Usage();
  const std::string cmd = argv[1];
  auto f = Flags(argc, argv);
  if (cmd == "miss") return Miss(f);
  if (cmd == "fill") return Fill(f);
  if (cmd == "rebuild") return Rebuild(f);
  Usage();
}
