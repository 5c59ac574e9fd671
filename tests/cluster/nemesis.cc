// cluster_nemesis: the cluster under faults (issue 11, item 9; docs/cluster.md, "Testing under
// faults"). One run:
//   1. builds a network of its own: a hub namespace with a bridge, and one namespace (a veth on
//      the bridge, 10.77.0.0/24) per etcd member, per cairnd node and for the clients;
//   2. starts etcd members and cairnd nodes in them (R = 3, quorum writes, zones z1..z3) and
//      waits for the first map;
//   3. runs the workloads from the client namespace through the client library (a
//      ClusterObjectStore holding the map) while a nemesis injects faults, one at a time;
//   4. heals everything, waits for every node to be up, reads back, and checks:
//      - register: put/get/delete on a few keys from several clients, with the clients'
//        invocation and completion times, checked by the linearizability search
//        (tests/cluster/history.h);
//      - unique: every key written once; every acknowledged put must be read back at the end;
//      - cycles: put, then delete, key after key; no acknowledged delete may come back (these
//        operations and the final reads are also checked for linearizability);
//   5. prints a CLUSTER-SUMMARY line (scripts/torture --cluster sums them), stops every process
//      by pid and removes the namespaces and the data, whatever happened.
// Exit status: 0 all checks passed; 1 a check failed (a violation, a lost write, a resurrected
// key, final reads that failed after healing); 2 the cluster could not be set up; 77 skipped
// (not root, or no `ip netns`). Needs root: namespaces and nftables.
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cairn/client.h"
#include "cluster/cached_map_view.h"
#include "cluster/cluster_admin.h"
#include "cluster/cluster_store.h"
#include "cluster/etcd_client.h"
#include "cluster/history.h"
#include "cluster/peer_pool.h"

namespace {

using cairn::testing::Op;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr char kMemberKeyId[] = "member";
constexpr char kMemberSecret[] = "6e656d657369732d6d656d6265722d6b";
constexpr char kClientKeyId[] = "client";
constexpr char kClientSecret[] = "6e656d657369732d636c69656e742d6b";
constexpr char kSubnet[] = "10.77.0.";
constexpr int kClientHost = 2;
constexpr int kEtcdHost = 10;  // + member index
constexpr int kNodeHost = 20;  // + node index
// The clock-skew nemesis preloads libfaketime (Debian's libfaketime, from scripts/deps).
constexpr char kFaketimeLib[] = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
// A client's pause after an error.
constexpr int kErrorBackoffMs = 100;
// cairnd's lease TTL is 5 s: a pause must outlast it to make the node "down".
constexpr int kLeaseTtlMs = 5000;

std::atomic<bool> g_interrupted{false};
void OnSignal(int) { g_interrupted = true; }

const Clock::time_point g_t0 = Clock::now();
uint64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - g_t0).count();
}
double Secs() { return NowNs() / 1e9; }

void Log(const std::string& s) {
  static std::mutex mu;
  std::lock_guard<std::mutex> l(mu);
  std::fprintf(stdout, "[%7.2f] %s\n", Secs(), s.c_str());
  std::fflush(stdout);
}

// Sleeps `ms`, in small steps, returning early (false) when interrupted.
bool Nap(int ms) {
  auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < end) {
    if (g_interrupted) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(
        50, std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count() + 1)));
  }
  return !g_interrupted;
}

int Sh(const std::string& cmd, bool quiet = false) {
  int rc = std::system((cmd + (quiet ? " >/dev/null 2>&1" : "")).c_str());
  int code = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
  if (code != 0 && !quiet) Log("command failed (" + std::to_string(code) + "): " + cmd);
  return code;
}

int Capture(const std::string& cmd, std::string* out) {
  FILE* p = ::popen((cmd + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return -1;
  std::array<char, 4096> buf;
  size_t n;
  out->clear();
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out->append(buf.data(), n);
  int rc = ::pclose(p);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string Ip(int host) { return kSubnet + std::to_string(host); }

// ---- Options.

struct Options {
  int nodes = 5;
  int etcd = 3;
  int seconds = 30;
  std::vector<std::string> nemeses = {"kill", "stop", "partition", "etcd-down", "etcd-leader", "skew"};
  std::vector<std::string> workloads = {"register", "unique", "cycles"};
  uint64_t seed = 0;
  std::string cairnd;
  std::string out;    // a directory for logs, data and the history (default: a new one in /tmp)
  bool keep = false;  // keep the directory even when every check passed
  std::string write_policy = "quorum";  // "one" shows the checks failing (a write on one replica)
  int quiet_ms = 2000;  // between faults
  int fault_ms = 6000;  // how long a fault lasts (a pause: at least the lease TTL + 2 s)
  // cairnd --out-delay-ms (0: its default, 60 s). The `out` nemesis needs it short.
  int out_delay_ms = 0;
  // Nodes set up (namespace, zone, id) but not started: the `add` nemesis starts one and adds
  // it with `cluster add` (issue 12).
  int spare_nodes = 0;
  int register_clients = 3;
  int register_keys = 4;
  int register_generation_ms = 2000;  // fresh register keys this often (bounds each key's history)
  int unique_clients = 2;
  int cycle_clients = 1;
  uint64_t max_ops_per_client = 200000;
};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) v.push_back(item);
  return v;
}

// ---- Processes in namespaces.

struct Proc {
  std::string name;  // for messages
  std::string ns;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // extra NAME=VALUE
  std::string log;
  pid_t pid = -1;
  bool stopped = false;  // SIGSTOPped by the nemesis
};

// Starts `p` in its namespace. Only called from the main thread (PR_SET_PDEATHSIG fires when
// the forking *thread* exits).
bool Spawn(Proc* p) {
  int nsfd = ::open(("/var/run/netns/" + p->ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) {
    Log("cannot open namespace " + p->ns);
    return false;
  }
  std::vector<char*> argv;
  for (auto& a : p->argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; e++) envs.emplace_back(*e);
  for (auto& e : p->env) envs.push_back(e);
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(nsfd);
    return false;
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    if (::setns(nsfd, CLONE_NEWNET) != 0) ::_exit(125);
    int fd = ::open(p->log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(nsfd);
  p->pid = pid;
  p->stopped = false;
  return true;
}

void KillProc(Proc* p) {
  if (p->pid <= 0) return;
  ::kill(p->pid, SIGKILL);
  ::waitpid(p->pid, nullptr, 0);
  p->pid = -1;
  p->stopped = false;
}

// ---- The cluster.

class Cluster {
 public:
  Cluster(const Options& o, std::string dir) : o_(o), dir_(std::move(dir)) {
    prefix_ = "cnm" + std::to_string(::getpid());
  }
  ~Cluster() { TearDown(); }

  const std::string& dir() const { return dir_; }

  // Removes namespaces left by earlier runs whose process is gone (a run killed by a timeout).
  static void RemoveStale() {
    DIR* d = ::opendir("/var/run/netns");
    if (d == nullptr) return;
    std::vector<std::string> stale;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind("cnm", 0) != 0) continue;
      pid_t pid = std::atoi(n.c_str() + 3);
      if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(n);
    }
    ::closedir(d);
    for (auto& n : stale) {
      Log("removing a namespace left by an earlier run: " + n);
      Sh("ip netns del " + n, true);
    }
  }

  bool SetUpNetwork() {
    hub_ = prefix_ + "-hub";
    if (!AddNs(hub_)) return false;
    if (Sh("ip -n " + hub_ + " link add br0 type bridge") != 0 ||
        Sh("ip -n " + hub_ + " link set br0 up") != 0)
      return false;
    client_ns_ = prefix_ + "-cl";
    if (!Attach(client_ns_, "vc", kClientHost)) return false;
    for (int i = 0; i < o_.etcd; i++)
      if (!Attach(EtcdNs(i), "ve" + std::to_string(i), kEtcdHost + i)) return false;
    for (int i = 0; i < Slots(); i++)
      if (!Attach(NodeNs(i), "vn" + std::to_string(i), kNodeHost + i)) return false;
    return true;
  }

  // Moves the calling thread (the main thread, before any other starts) into the client
  // namespace: every socket the workloads open, and every command run from here, is there.
  bool EnterClientNamespace() {
    int fd = ::open(("/var/run/netns/" + client_ns_).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::setns(fd, CLONE_NEWNET) == 0;
    ::close(fd);
    return ok;
  }

  std::string EtcdEndpoints() const {
    std::string s;
    for (int i = 0; i < o_.etcd; i++) s += (i ? "," : "") + Ip(kEtcdHost + i) + ":2379";
    return s;
  }

  bool StartEtcd() {
    std::string initial;
    for (int i = 0; i < o_.etcd; i++)
      initial += (i ? "," : "") + ("m" + std::to_string(i)) + "=http://" + Ip(kEtcdHost + i) + ":2380";
    std::string etcd_bin;
    if (Capture("command -v etcd", &etcd_bin) != 0) {
      Log("etcd is not installed (scripts/deps installs etcd-server)");
      return false;
    }
    etcd_bin.erase(etcd_bin.find_last_not_of("\n") + 1);
    etcd_.resize(o_.etcd);
    for (int i = 0; i < o_.etcd; i++) {
      Proc& p = etcd_[i];
      p.name = "etcd m" + std::to_string(i);
      p.ns = EtcdNs(i);
      p.log = dir_ + "/etcd-m" + std::to_string(i) + ".log";
      const std::string client = "http://" + Ip(kEtcdHost + i) + ":2379";
      const std::string peer = "http://" + Ip(kEtcdHost + i) + ":2380";
      p.argv = {etcd_bin, "--name", "m" + std::to_string(i), "--data-dir",
                dir_ + "/etcd-m" + std::to_string(i), "--listen-client-urls", client,
                "--advertise-client-urls", client, "--listen-peer-urls", peer,
                "--initial-advertise-peer-urls", peer, "--initial-cluster", initial,
                "--initial-cluster-state", "new", "--initial-cluster-token", prefix_,
                "--heartbeat-interval", "100", "--election-timeout", "1000",
                "--logger", "zap", "--log-outputs", "stderr"};
      if (!Spawn(&p)) return false;
    }
    return WaitEtcdHealthy(30000);
  }

  bool WaitEtcdHealthy(int ms) {
    auto end = Clock::now() + std::chrono::milliseconds(ms);
    std::string out;
    while (Clock::now() < end && !g_interrupted) {
      if (EtcdCtl("endpoint health", &out) == 0) return true;
      Nap(200);
    }
    Log("etcd is not healthy: " + out);
    return false;
  }

  int EtcdCtl(const std::string& args, std::string* out) {
    return Capture("ETCDCTL_API=3 etcdctl --dial-timeout=1s --command-timeout=2s --endpoints=" +
                       EtcdEndpoints() + " " + args,
                   out);
  }

  // The index of the etcd member that is the leader, -1 if none answers.
  int EtcdLeader() {
    std::string out;
    EtcdCtl("endpoint status -w json", &out);
    try {
      auto j = nlohmann::json::parse(out);
      for (auto& e : j) {
        auto& st = e.at("Status");
        if (st.at("header").at("member_id") == st.at("leader")) {
          std::string ep = e.at("Endpoint").get<std::string>();
          for (int i = 0; i < o_.etcd; i++)
            if (ep.find(Ip(kEtcdHost + i) + ":") != std::string::npos) return i;
        }
      }
    } catch (const std::exception&) {
    }
    return -1;
  }

  bool StartNodes() {
    const std::string key_file = dir_ + "/keys";
    const std::string config = dir_ + "/node.toml";
    {
      std::ofstream f(key_file, std::ios::trunc);
      f << kMemberKeyId << ":" << kMemberSecret << "\n";
    }
    {
      std::ofstream f(config, std::ios::trunc);
      f << "[keys]\n" << kClientKeyId << " = \"" << kClientSecret << "\"\n";
    }
    ::chmod(key_file.c_str(), 0600);
    ::chmod(config.c_str(), 0600);
    nodes_.resize(Slots());
    started_.assign(Slots(), false);
    for (int i = 0; i < Slots(); i++) {
      Proc& p = nodes_[i];
      p.name = "node " + std::to_string(i + 1);
      p.ns = NodeNs(i);
      p.log = dir_ + "/node" + std::to_string(i + 1) + ".log";
      const std::string addr = Ip(kNodeHost + i) + ":7700";
      p.argv = {o_.cairnd, "--data", dir_ + "/node" + std::to_string(i + 1), "--listen", addr,
                "--advertise", addr, "--port-file", PortFile(i), "--log-level", "info",
                "--volume-size", "16M", "--key-file", key_file, "--config", config,
                "--cluster-etcd", EtcdEndpoints(), "--cluster-key-id", kMemberKeyId,
                "--zone", "z" + std::to_string(i % 3 + 1), "--node-id", std::to_string(i + 1),
                "--bootstrap-nodes", std::to_string(o_.nodes), "--write-policy", o_.write_policy};
      if (o_.out_delay_ms > 0) {
        p.argv.push_back("--out-delay-ms");
        p.argv.push_back(std::to_string(o_.out_delay_ms));
      }
      if (i < o_.nodes && !StartNode(i)) return false;
    }
    return true;
  }

  bool StartNode(int i) {
    started_[i] = true;
    fs::remove(PortFile(i));
    if (!Spawn(&nodes_[i])) return false;
    auto end = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < end && !g_interrupted) {
      std::ifstream f(PortFile(i));
      int port = 0;
      if (f >> port && port > 0) return true;
      int st;
      if (::waitpid(nodes_[i].pid, &st, WNOHANG) == nodes_[i].pid) {
        nodes_[i].pid = -1;
        Log(nodes_[i].name + " exited at start; see " + nodes_[i].log);
        return false;
      }
      Nap(20);
    }
    Log(nodes_[i].name + " did not start in 30 s; see " + nodes_[i].log);
    return false;
  }

  // ---- Faults. Each returns a description; Heal undoes whatever is in effect.

  void KillNode(int i) { KillProc(&nodes_[i]); }
  // Restarts node i with its wall clock moved by `skew_ms` (libfaketime; monotonic clocks stay
  // true, so timeouts and leases are not disturbed), or without a skew when 0.
  bool RestartNodeSkewed(int i, int64_t skew_ms) {
    KillProc(&nodes_[i]);
    nodes_[i].env.clear();
    if (skew_ms != 0) {
      char off[32];
      std::snprintf(off, sizeof(off), "%+.3f", skew_ms / 1000.0);
      nodes_[i].env = {std::string("LD_PRELOAD=") + kFaketimeLib, std::string("FAKETIME=") + off,
                       "DONT_FAKE_MONOTONIC=1"};
    }
    return StartNode(i);
  }
  bool RestartNode(int i) { return nodes_[i].pid > 0 || StartNode(i); }
  void PauseNode(int i) {
    if (nodes_[i].pid > 0) ::kill(nodes_[i].pid, SIGSTOP);
    nodes_[i].stopped = true;
  }
  void ResumeNode(int i) {
    if (nodes_[i].pid > 0) ::kill(nodes_[i].pid, SIGCONT);
    nodes_[i].stopped = false;
  }
  // Cuts `ns` off from every address but `allow` (none when empty) with nftables in that
  // namespace (its own loopback stays).
  bool Isolate(const std::string& ns, const std::string& allow) {
    std::string in = "iifname \"eth0\" " + (allow.empty() ? "" : "ip saddr != " + allow + " ") + "drop";
    std::string out = "oifname \"eth0\" " + (allow.empty() ? "" : "ip daddr != " + allow + " ") + "drop";
    std::string file = dir_ + "/nft-" + ns;
    {
      std::ofstream f(file, std::ios::trunc);
      f << "table inet nemesis {\n"
        << "  chain input { type filter hook input priority 0; policy accept; " << in << "; }\n"
        << "  chain output { type filter hook output priority 0; policy accept; " << out << "; }\n"
        << "}\n";
    }
    if (Sh("ip netns exec " + ns + " nft -f " + file) != 0) return false;
    isolated_.insert(ns);
    return true;
  }
  void Unisolate(const std::string& ns) {
    if (isolated_.erase(ns) > 0) Sh("ip netns exec " + ns + " nft delete table inet nemesis");
  }
  void KillEtcd(int i) { KillProc(&etcd_[i]); }
  bool RestartEtcd(int i) { return etcd_[i].pid > 0 || Spawn(&etcd_[i]); }

  // Undoes every fault: resumes, reconnects, restarts (every node started so far but those
  // removed from the cluster). Membership changes stay as they are.
  bool HealAll() {
    bool ok = true;
    for (auto ns : std::set<std::string>(isolated_)) Unisolate(ns);
    for (int i = 0; i < o_.etcd; i++) ok &= RestartEtcd(i);
    for (int i = 0; i < Slots(); i++) {
      if (!started_[i] || removed_.count(i) != 0) continue;
      if (nodes_[i].stopped) ResumeNode(i);
      ok &= RestartNode(i);
    }
    return ok;
  }

  // ---- Membership (issue 12): the nodes' slots, and what the nemeses did to them.
  int Slots() const { return o_.nodes + o_.spare_nodes; }
  bool started(int i) const { return started_[i]; }
  // The first spare not started yet, -1 if none.
  int NextSpare() const {
    for (int i = o_.nodes; i < Slots(); i++)
      if (!started_[i]) return i;
    return -1;
  }
  // Removed with `cluster remove` (after a drain and a kill): never restarted.
  void MarkRemoved(int i) { removed_.insert(i); }
  bool removed(int i) const { return removed_.count(i) != 0; }

  std::string NodeNs(int i) const { return prefix_ + "-n" + std::to_string(i + 1); }
  std::string EtcdNs(int i) const { return prefix_ + "-e" + std::to_string(i); }
  std::string NodeAddress(int i) const { return Ip(kNodeHost + i) + ":7700"; }
  std::string ClientIp() const { return Ip(kClientHost); }

  void TearDown() {
    for (auto& p : nodes_) {
      if (p.stopped && p.pid > 0) ::kill(p.pid, SIGCONT);
      KillProc(&p);
    }
    for (auto& p : etcd_) KillProc(&p);
    for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) Sh("ip netns del " + *it, true);
    namespaces_.clear();
  }

 private:
  bool AddNs(const std::string& ns) {
    if (Sh("ip netns add " + ns) != 0) return false;
    namespaces_.push_back(ns);
    return Sh("ip -n " + ns + " link set lo up") == 0;
  }
  // A namespace with eth0 = `host` on the hub's bridge (the hub's end named `hub_end`).
  bool Attach(const std::string& ns, const std::string& hub_end, int host) {
    if (!AddNs(ns)) return false;
    return Sh("ip link add " + hub_end + " netns " + hub_ + " type veth peer name eth0 netns " + ns) == 0 &&
           Sh("ip -n " + hub_ + " link set " + hub_end + " master br0 up") == 0 &&
           Sh("ip -n " + ns + " addr add " + Ip(host) + "/24 dev eth0") == 0 &&
           Sh("ip -n " + ns + " link set eth0 up") == 0;
  }
  std::string PortFile(int i) const { return dir_ + "/node" + std::to_string(i + 1) + ".port"; }

  const Options& o_;
  std::string dir_, prefix_, hub_, client_ns_;
  std::vector<std::string> namespaces_;
  std::vector<Proc> etcd_, nodes_;
  std::vector<bool> started_;
  std::set<int> removed_;
  std::set<std::string> isolated_;
};

// ---- The client and the workloads.

struct ClientSide {
  std::unique_ptr<cairn::cluster::CachedMapView> view;
  std::unique_ptr<cairn::cluster::PeerPool> peers;
  std::unique_ptr<cairn::cluster::ClusterObjectStore> store;
};

bool MakeClient(const std::string& etcd, int nodes, ClientSide* c, std::string* why) {
  cairn::cluster::CachedMapOptions mo;
  if (!cairn::cluster::ParseEtcdEndpoints(etcd, &mo.etcd.endpoints).ok()) {
    *why = "bad etcd endpoints";
    return false;
  }
  mo.use_cache = false;
  auto end = Clock::now() + std::chrono::seconds(60);
  while (!g_interrupted) {
    auto v = cairn::cluster::CachedMapView::Load(mo);
    if (v.ok() && (*v)->map()->epoch >= 1 && (*v)->map()->nodes.size() == size_t(nodes)) {
      c->view = std::move(*v);
      break;
    }
    if (Clock::now() > end) {
      *why = "no map with every node in 60 s" + (v.ok() ? std::string() : ": " + v.status().message());
      return false;
    }
    Nap(200);
  }
  if (c->view == nullptr) return false;
  cairn::cluster::PeerOptions po;
  po.key = cairn::ClientKey{kClientKeyId, kClientSecret};
  c->peers = std::make_unique<cairn::cluster::PeerPool>(c->view.get(), po);
  c->store = std::make_unique<cairn::cluster::ClusterObjectStore>(
      cairn::cluster::ClusterStoreOptions(), c->view.get(), c->peers.get(), nullptr,
      std::make_shared<cairn::cluster::ClusterShared>(0, nullptr, nullptr));
  return true;
}

// Every node up in the map etcd has now (or out: the `out` nemesis's node stays out, and so does
// a node removed by the `remove` nemesis; issue 12), the map holding `nodes` nodes, and no
// transition in flight. `out` (when not null): how many are out.
bool AllUp(ClientSide* c, int nodes, int* out = nullptr) {
  if (!c->view->Refresh().ok()) return false;
  auto m = c->view->map();
  if (m->nodes.size() != size_t(nodes) || m->in_transition()) return false;
  int outs = 0;
  for (auto& n : m->nodes) {
    if (n.state == cairn::cluster::NodeState::kOut) {
      outs++;
      continue;
    }
    if (n.state != cairn::cluster::NodeState::kUp) return false;
  }
  if (out != nullptr) *out = outs;
  return true;
}

// failed: reads that returned an error; unknown: writes that did (they may have taken effect).
// Replicas converge after healing: every replica of each key in `keys` holds the same version
// (or the same delete), asked directly with the member key. Returns the keys still diverging
// after `ms` (retried until then: hints are replayed in the background).
uint64_t Diverging(ClientSide* c, const std::vector<std::string>& keys, int ms, double* took_s) {
  cairn::cluster::PeerOptions po;
  po.key = cairn::ClientKey{kMemberKeyId, kMemberSecret};
  po.timeout_ms = 2000;
  cairn::cluster::PeerPool replicas(c->view.get(), po);
  std::vector<std::string> left = keys;
  const double t0 = Secs();
  auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (true) {
    std::vector<std::string> still;
    auto map = c->view->map();
    for (const std::string& k : left) {
      auto row = map->ReplicasOf(k);
      bool same = true, first = true;
      cairn::Version v0;
      bool del0 = false;
      for (auto node : row) {
        cairn::Client* cl = replicas.Get(node, cairn::RoutingRole::kReplica);
        auto r = cl != nullptr ? cl->HeadVersion(k) : cairn::Result<cairn::ObjectInfo>(cairn::Status::Unavailable("no client"));
        cairn::Version v;
        bool del = true;  // absent: as a delete of version none
        if (r.ok()) {
          v = r->version;
          del = r->deleted;
        } else if (!r.status().IsNotFound()) {
          same = false;
          break;
        }
        if (first) {
          v0 = v;
          del0 = del;
          first = false;
        } else if (!(v == v0) || del != del0) {
          same = false;
          break;
        }
      }
      if (!same) still.push_back(k);
    }
    left.swap(still);
    if (left.empty() || Clock::now() > end || g_interrupted) break;
    Nap(500);
  }
  *took_s = Secs() - t0;
  for (size_t i = 0; i < left.size() && i < 5; i++) Log("DIVERGED: " + left[i]);
  return left.size();
}

struct Counts {
  std::atomic<uint64_t> ops{0}, ok{0}, failed{0}, unknown{0};
};

// One operation, recorded with its outcome. Every error of a write is "unknown" (it may have
// taken effect; sound for the checker), and an error of a read constrains nothing.
class Recorder {
 public:
  Recorder(cairn::ObjectStore* s, int process, Counts* counts) : s_(s), p_(process), counts_(counts) {}
  Op Put(const std::string& key, const std::string& value) {
    Op op = Begin(Op::Kind::kPut, key);
    op.value = value;
    auto r = s_->Put(key, value, cairn::WriteOptions());
    return End(std::move(op), r.ok() ? cairn::Status::OK() : r.status());
  }
  Op Get(const std::string& key) {
    Op op = Begin(Op::Kind::kGet, key);
    auto r = s_->Get(key, cairn::ByteRange());
    if (r.ok()) {
      op.found = true;
      op.value = r->data;
      return End(std::move(op), cairn::Status::OK());
    }
    if (r.status().IsNotFound()) return End(std::move(op), cairn::Status::OK());
    return End(std::move(op), r.status());
  }
  Op Delete(const std::string& key) {
    Op op = Begin(Op::Kind::kDelete, key);
    auto r = s_->Delete(key, cairn::WriteOptions());
    // Deleting an absent key (NotFound) still leaves it absent: a delete that took effect.
    return End(std::move(op), r.ok() || r.status().IsNotFound() ? cairn::Status::OK() : r.status());
  }
  std::vector<Op>& history() { return history_; }
  const std::map<std::string, uint64_t>& reasons() const { return reasons_; }

  // An error message with its words holding digits (numbers, versions, addresses) blanked,
  // for counting errors by kind.
  static std::string Reason(const std::string& m) {
    std::string r;
    for (const std::string& word : Split(m, ' ')) {
      bool digits = std::any_of(word.begin(), word.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
      r += (r.empty() ? "" : " ") + (digits ? std::string("#") : word);
    }
    return r.size() > 150 ? r.substr(0, 150) : r;
  }

 private:
  Op Begin(Op::Kind k, const std::string& key) {
    Op op;
    op.kind = k;
    op.key = key;
    op.process = p_;
    op.invoke_ns = NowNs();
    return op;
  }
  Op End(Op op, const cairn::Status& s) {
    op.complete_ns = NowNs();
    counts_->ops++;
    if (s.ok()) {
      op.outcome = Op::Outcome::kOk;
      counts_->ok++;
    } else {
      op.outcome = Op::Outcome::kUnknown;
      (op.kind == Op::Kind::kGet ? counts_->failed : counts_->unknown)++;
      if (errors_logged_++ < 5) Log("client " + std::to_string(p_) + ": " + op.key + ": " + s.message());
      reasons_[Reason(s.message())]++;
    }
    history_.push_back(op);
    // After an error, a short pause: a fault that fails requests at once would otherwise pile
    // up hundreds of "unknown" writes on one register key, which no search can decide.
    if (!s.ok()) Nap(kErrorBackoffMs);
    return op;
  }
  cairn::ObjectStore* s_;
  int p_;
  Counts* counts_;
  std::vector<Op> history_;
  std::map<std::string, uint64_t> reasons_;
  int errors_logged_ = 0;
};

struct Workloads {
  Counts counts;
  std::vector<std::unique_ptr<Recorder>> reg, uniq, cyc;
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
};

void RunRegister(const Options& o, Recorder* r, int p, Clock::time_point deadline, std::atomic<bool>* stop) {
  std::mt19937_64 rng(o.seed * 1000 + p);
  for (uint64_t n = 0; n < o.max_ops_per_client && !*stop && !g_interrupted && Clock::now() < deadline; n++) {
    uint64_t gen = NowNs() / (uint64_t(o.register_generation_ms) * 1000000);
    std::string key = "r/" + std::to_string(gen) + "/" + std::to_string(rng() % o.register_keys);
    int dice = rng() % 100;
    if (dice < 45) r->Put(key, "v" + std::to_string(p) + "." + std::to_string(n));
    else if (dice < 90) r->Get(key);
    else r->Delete(key);
  }
}

void RunUnique(const Options& o, Recorder* r, int p, Clock::time_point deadline, std::atomic<bool>* stop) {
  for (uint64_t n = 0; n < o.max_ops_per_client && !*stop && !g_interrupted && Clock::now() < deadline; n++)
    r->Put("u/" + std::to_string(p) + "/" + std::to_string(n), "unique-" + std::to_string(p) + "-" + std::to_string(n));
}

void RunCycles(const Options& o, Recorder* r, int p, Clock::time_point deadline, std::atomic<bool>* stop) {
  for (uint64_t n = 0; n < o.max_ops_per_client && !*stop && !g_interrupted && Clock::now() < deadline; n++) {
    std::string key = "c/" + std::to_string(p) + "/" + std::to_string(n);
    if (r->Put(key, "cycle-" + std::to_string(n)).outcome != Op::Outcome::kOk) continue;
    r->Get(key);
    r->Delete(key);
  }
}

// ---- The nemesis (main thread: it forks the restarted processes).

struct FaultCounts {
  std::map<std::string, uint64_t> n;
  int added = 0;  // spare nodes the `add` nemesis put in the map
};

// Membership changes, written to etcd exactly as `cairn cluster add | drain | remove | reweight`
// writes them (cluster/cluster_admin.h: read, check, write the intent); the controller makes the
// new map. A fresh etcd client per call: the etcd nemeses kill and isolate members.
class Admin {
 public:
  using AdminCommand = cairn::cluster::AdminCommand;
  explicit Admin(const std::string& endpoints) {
    (void)cairn::cluster::ParseEtcdEndpoints(endpoints, &eo_.endpoints);
  }

  // One change, retried while etcd is unreachable or another writer raced it, for up to `ms`.
  // InvalidArgument (the check refused it, naming why) is returned at once.
  cairn::Status Change(AdminCommand cmd, int node, std::optional<uint32_t> weight, int ms = 10000) {
    auto end = Clock::now() + std::chrono::milliseconds(ms);
    cairn::Status s;
    for (int attempt = 0; !g_interrupted; attempt++) {
      auto etcd = cairn::cluster::EtcdClient::Create(eo_);
      if (etcd.ok()) {
        auto r = cairn::cluster::WriteAdminChange(etcd->get(), kPrefix, cmd, Id(node), weight);
        if (r.ok()) return cairn::Status::OK();
        s = r.status();
        // A retry refused because the intent is already there ("already in", "draining
        // already"): the earlier attempt's write went through although its answer was lost.
        if (attempt > 0 && s.IsInvalidArgument() && IntentIs(etcd->get(), cmd, node, weight))
          return cairn::Status::OK();
      } else {
        s = etcd.status();
      }
      if (s.IsInvalidArgument() || Clock::now() > end) return s;
      Nap(200);
    }
    return cairn::Status::Unavailable("interrupted");
  }
  // Whether node index `node` is registered and its alive key held (a spare just started).
  bool WaitAlive(int node, int ms) {
    return WaitFor(ms, [&](const cairn::cluster::ClusterView& v) {
      return v.registered.count(Id(node)) != 0 && v.alive.count(Id(node)) != 0;
    });
  }
  // Every intent applied and no transition in flight.
  bool WaitSettled(int ms) {
    return WaitFor(ms, [](const cairn::cluster::ClusterView& v) {
      std::vector<std::string> waiting;
      return v.map.epoch > 0 && !v.map.in_transition() && cairn::cluster::IntentsApplied(v, &waiting);
    });
  }

 private:
  static constexpr char kPrefix[] = "/cairn/default/";
  static cairn::cluster::NodeId Id(int node) { return cairn::cluster::NodeId(node + 1); }
  // Whether node's intent in etcd is what `cmd` (with `weight`) writes.
  static bool IntentIs(cairn::cluster::EtcdClient* etcd, AdminCommand cmd, int node,
                       std::optional<uint32_t> weight) {
    using cairn::cluster::AdminState;
    auto v = cairn::cluster::ReadClusterView(etcd, kPrefix);
    if (!v.ok()) return false;
    auto it = v->intents.find(Id(node));
    if (it == v->intents.end()) return false;
    const AdminState want = cmd == AdminCommand::kDrain    ? AdminState::kDrain
                            : cmd == AdminCommand::kRemove ? AdminState::kRemoved
                                                           : AdminState::kIn;
    return it->second.state == want && (!weight.has_value() || it->second.weight == *weight);
  }
  bool WaitFor(int ms, const std::function<bool(const cairn::cluster::ClusterView&)>& done) {
    auto end = Clock::now() + std::chrono::milliseconds(ms);
    while (!g_interrupted && Clock::now() < end) {
      auto etcd = cairn::cluster::EtcdClient::Create(eo_);
      if (etcd.ok()) {
        auto v = cairn::cluster::ReadClusterView(etcd->get(), kPrefix);
        if (v.ok() && done(*v)) return true;
      }
      Nap(250);
    }
    return false;
  }
  cairn::cluster::EtcdOptions eo_;
};

bool RunNemesis(const Options& o, Cluster* c, Clock::time_point deadline, FaultCounts* fc) {
  using AdminCommand = cairn::cluster::AdminCommand;
  std::mt19937_64 rng(o.seed);
  size_t next = 0;
  std::set<int> gone;  // killed for good by the `out` nemesis (restarted only when healing)
  Admin admin(c->EtcdEndpoints());
  std::set<int> drained;  // drained by the `drain` nemesis (the next `drain` adds it back)
  std::map<int, uint32_t> weights;  // given by the `reweight` nemesis (absent: 1)
  bool removed_one = false;
  // The nodes a fault may hit: started, not removed, not out for good.
  auto active = [&] {
    std::vector<int> v;
    for (int i = 0; i < c->Slots(); i++)
      if (c->started(i) && !c->removed(i) && gone.count(i) == 0) v.push_back(i);
    return v;
  };
  auto name = [](int i) { return "node " + std::to_string(i + 1); };
  // Drains one of the active nodes not drained yet, in a random order, skipping those the check
  // refuses (too few nodes or zones would be left). -1 if none could be drained.
  auto drain_one = [&]() -> int {
    std::vector<int> cand;
    for (int i : active())
      if (drained.count(i) == 0) cand.push_back(i);
    std::shuffle(cand.begin(), cand.end(), rng);
    for (int i : cand) {
      cairn::Status s = admin.Change(AdminCommand::kDrain, i, std::nullopt);
      if (s.ok()) {
        Log("nemesis: cluster drain " + std::to_string(i + 1) + " (its slots move off it; not waited for)");
        drained.insert(i);
        return i;
      }
      Log("nemesis: cluster drain " + std::to_string(i + 1) + " refused: " + s.message());
      if (!s.IsInvalidArgument()) return -1;
    }
    return -1;
  };
  while (!g_interrupted) {
    if (!Nap(o.quiet_ms)) break;
    if (o.nemeses.empty()) {
      if (Clock::now() >= deadline) break;
      continue;
    }
    // A fault must end (and be healed) before the deadline.
    if (Clock::now() + std::chrono::milliseconds(o.fault_ms + 1000) >= deadline) break;
    const std::string kind = o.nemeses[next++ % o.nemeses.size()];
    const std::vector<int> targets = active();
    const int node = targets[rng() % targets.size()];
    const std::string nname = name(node);
    if (kind == "add") {
      // Issue 12: a new node joins under load. Started, registered, then `cluster add`: its
      // slots move to it (writes to the old and the new rows) while the nemeses go on.
      const int spare = c->NextSpare();
      if (spare < 0) {
        Log("nemesis: add: no spare node left (--spare-nodes); skipped");
        continue;
      }
      Log("nemesis: start " + name(spare) + " (a spare, zone z" + std::to_string(spare % 3 + 1) +
          ") and cluster add it (not waited for)");
      if (!c->StartNode(spare)) return false;
      if (!admin.WaitAlive(spare, 15000)) {
        Log("nemesis: add: " + name(spare) + " did not register in 15 s");
        return false;
      }
      cairn::Status s = admin.Change(AdminCommand::kAdd, spare, std::nullopt);
      if (!s.ok()) {
        Log("nemesis: add: cluster add " + std::to_string(spare + 1) + " failed: " + s.message());
        return false;
      }
      fc->added++;
      Nap(o.fault_ms);
    } else if (kind == "drain") {
      // Drains a node; the next `drain` adds it back. Neither waits for its transition: the
      // faults after it hit the cluster while its partitions move.
      if (!drained.empty()) {
        const int back = *drained.begin();
        cairn::Status s = admin.Change(AdminCommand::kAdd, back, std::nullopt);
        if (!s.ok()) {
          // Refused while it is not up in the map (a fault just restarted it): tried again later.
          Log("nemesis: cluster add " + std::to_string(back + 1) + " (back from its drain) refused: " + s.message());
          continue;
        }
        Log("nemesis: cluster add " + std::to_string(back + 1) + " (back from its drain; not waited for)");
        drained.erase(back);
      } else if (drain_one() < 0) {
        Log("nemesis: drain: no node could be drained; skipped");
        continue;
      }
      Nap(o.fault_ms);
    } else if (kind == "reweight") {
      std::vector<int> cand;
      for (int i : targets)
        if (drained.count(i) == 0) cand.push_back(i);
      std::shuffle(cand.begin(), cand.end(), rng);
      bool done = false;
      for (int i : cand) {
        const uint32_t w = weights.count(i) == 0 ? 2 + uint32_t(rng() % 2) : 1;
        cairn::Status s = admin.Change(AdminCommand::kReweight, i, w);
        if (s.ok()) {
          Log("nemesis: cluster reweight " + std::to_string(i + 1) + " --weight " + std::to_string(w) +
              " (not waited for)");
          if (w == 1) weights.erase(i);
          else weights[i] = w;
          done = true;
          break;
        }
        Log("nemesis: cluster reweight " + std::to_string(i + 1) + " refused: " + s.message());
        if (!s.IsInvalidArgument()) break;
      }
      if (!done) continue;
      Nap(o.fault_ms);
    } else if (kind == "remove") {
      // Issue 12: a node leaves for good, the way an operator does it: drain, wait until its
      // slots have moved (the transition retired), stop it (kill -9), `cluster remove`. Once
      // per run; the node is not restarted when the run heals.
      if (removed_one) {
        Log("nemesis: remove happens once per run; skipped");
        continue;
      }
      const int victim = !drained.empty() ? *drained.begin() : drain_one();
      if (victim < 0) {
        Log("nemesis: remove: no node could be drained; skipped");
        continue;
      }
      const int wait_ms = int(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  deadline - Clock::now()).count()) - o.fault_ms - 1000;
      Log("nemesis: remove " + name(victim) + ": wait for its drain to settle");
      if (wait_ms <= 0 || !admin.WaitSettled(wait_ms)) {
        Log("nemesis: remove: the drain of " + name(victim) + " did not settle before the run's end; left drained");
        continue;
      }
      Log("nemesis: kill -9 " + name(victim) + " (drained) and cluster remove it");
      c->KillNode(victim);
      c->MarkRemoved(victim);
      drained.erase(victim);
      cairn::Status s = admin.Change(AdminCommand::kRemove, victim, std::nullopt);
      if (!s.ok()) {
        Log("nemesis: cluster remove " + std::to_string(victim + 1) + " failed: " + s.message());
        return false;
      }
      removed_one = true;
      Nap(o.fault_ms);
    } else if (kind == "out") {
      // Issue 12: a node killed for good is down after its lease, out `--out-delay-ms` later;
      // its partitions move (writes to old and new rows) and the survivors rebuild them. Once
      // per run (5 nodes, R = 3: a second out would leave too few zones to spread a row).
      if (!gone.empty() || o.out_delay_ms <= 0) {
        Log("nemesis: out needs --out-delay-ms and happens once per run; skipped");
        continue;
      }
      Log("nemesis: kill -9 " + nname + " for good (out " + std::to_string(o.out_delay_ms) +
          " ms after its lease expires)");
      c->KillNode(node);
      gone.insert(node);
      Nap(std::max(o.fault_ms, kLeaseTtlMs + o.out_delay_ms + 8000));
    } else if (kind == "kill") {
      Log("nemesis: kill -9 " + nname);
      c->KillNode(node);
      Nap(o.fault_ms);
      Log("nemesis: restart " + nname);
      if (!c->RestartNode(node)) return false;
    } else if (kind == "stop") {
      int ms = std::max(o.fault_ms, kLeaseTtlMs + 2000);
      Log("nemesis: SIGSTOP " + nname + " for " + std::to_string(ms) + " ms (lease TTL 5 s)");
      c->PauseNode(node);
      Nap(ms);
      Log("nemesis: SIGCONT " + nname);
      c->ResumeNode(node);
    } else if (kind == "partition") {
      Log("nemesis: isolate " + nname + " from the other nodes and etcd (the clients still reach it)");
      if (!c->Isolate(c->NodeNs(node), c->ClientIp())) return false;
      Nap(o.fault_ms);
      Log("nemesis: heal the partition of " + nname);
      c->Unisolate(c->NodeNs(node));
    } else if (kind == "skew") {
      if (::access(kFaketimeLib, R_OK) != 0) {
        Log("nemesis: skew needs libfaketime (scripts/deps installs it); skipped");
        continue;
      }
      // Ahead or behind by 0.5 to 10 s: well inside max_clock_skew_ms (60 s).
      int64_t skew = 500 + int64_t(rng() % 9500);
      if (rng() % 2) skew = -skew;
      Log("nemesis: restart " + nname + " with its clock " + std::to_string(skew) + " ms off");
      if (!c->RestartNodeSkewed(node, skew)) return false;
      Nap(o.fault_ms);
      Log("nemesis: restart " + nname + " with a true clock");
      if (!c->RestartNodeSkewed(node, 0)) return false;
    } else if (kind == "etcd-down") {
      Log("nemesis: kill -9 every etcd member");
      for (int i = 0; i < o.etcd; i++) c->KillEtcd(i);
      Nap(o.fault_ms);
      Log("nemesis: restart etcd");
      for (int i = 0; i < o.etcd; i++)
        if (!c->RestartEtcd(i)) return false;
    } else if (kind == "etcd-leader") {
      int leader = c->EtcdLeader();
      if (leader < 0) {
        Log("nemesis: no etcd leader found; skipped");
        continue;
      }
      Log("nemesis: isolate the etcd leader m" + std::to_string(leader));
      if (!c->Isolate(c->EtcdNs(leader), "")) return false;
      Nap(o.fault_ms);
      Log("nemesis: heal the etcd leader m" + std::to_string(leader));
      c->Unisolate(c->EtcdNs(leader));
    } else {
      Log("nemesis: unknown kind " + kind);
      return false;
    }
    fc->n[kind]++;
  }
  return true;
}

std::string Key(const std::string& k) {
  std::string s;
  for (char ch : k) s += ch == '-' ? '_' : ch;
  return s;
}

int Usage(const char* why) {
  std::fprintf(stderr,
               "cluster_nemesis: %s\n"
               "usage: cluster_nemesis --cairnd PATH [--seconds S] [--nodes N] [--etcd M]\n"
               "  [--nemeses kill,stop,partition,etcd-down,etcd-leader,skew,out,add,drain,reweight,remove|none]\n"
               "  [--workloads register,unique,cycles]\n"
               "  [--out-delay-ms MS (cairnd's; `out` kills a node for good and needs it)]\n"
               "  [--spare-nodes N (set up, not started: `add` starts one and adds it)]\n"
               "  [--seed N] [--fault-ms MS] [--quiet-ms MS] [--write-policy quorum|all|one] [--out DIR] [--keep]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.seed = std::random_device()();
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--cairnd") o.cairnd = next();
    else if (a == "--seconds") o.seconds = std::atoi(next().c_str());
    else if (a == "--nodes") o.nodes = std::atoi(next().c_str());
    else if (a == "--etcd") o.etcd = std::atoi(next().c_str());
    else if (a == "--nemeses") { std::string v = next(); o.nemeses = v == "none" ? std::vector<std::string>() : Split(v, ','); }
    else if (a == "--workloads") o.workloads = Split(next(), ',');
    else if (a == "--seed") o.seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--fault-ms") o.fault_ms = std::atoi(next().c_str());
    else if (a == "--quiet-ms") o.quiet_ms = std::atoi(next().c_str());
    else if (a == "--out-delay-ms") o.out_delay_ms = std::atoi(next().c_str());
    else if (a == "--spare-nodes") o.spare_nodes = std::atoi(next().c_str());
    else if (a == "--out") o.out = next();
    else if (a == "--keep") o.keep = true;
    else if (a == "--write-policy") o.write_policy = next();
    else return Usage(("unknown argument " + a).c_str());
  }
#ifdef CAIRND_PATH
  if (o.cairnd.empty()) o.cairnd = CAIRND_PATH;
#endif
  if (o.cairnd.empty()) return Usage("--cairnd is required");
  if (o.nodes < 3 || o.nodes > 20 || o.etcd < 1 || o.etcd > 7 || o.seconds < 5 || o.seconds > 24 * 3600 ||
      o.spare_nodes < 0 || o.spare_nodes > 5)
    return Usage("--nodes 3..20, --etcd 1..7, --seconds 5..86400, --spare-nodes 0..5");
  auto has = [](const std::vector<std::string>& v, const char* s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };

  // Skips (77) where namespaces cannot be made: not root, no `ip netns`, no nftables.
  if (::geteuid() != 0) {
    std::printf("SKIP: cluster_nemesis needs root (network namespaces, nftables); run it as root\n");
    return 77;
  }
  if (Sh("command -v ip", true) != 0 || Sh("command -v nft", true) != 0) {
    std::printf("SKIP: `ip` (iproute2) or `nft` (nftables) missing: scripts/deps installs them\n");
    return 77;
  }
  {
    std::string probe = "cnm" + std::to_string(::getpid()) + "-probe";
    if (Sh("ip netns add " + probe, true) != 0) {
      std::printf("SKIP: `ip netns add` does not work here (no CAP_SYS_ADMIN?)\n");
      return 77;
    }
    Sh("ip netns del " + probe, true);
  }

  ::signal(SIGINT, OnSignal);
  ::signal(SIGTERM, OnSignal);
  ::signal(SIGHUP, OnSignal);
  ::signal(SIGPIPE, SIG_IGN);
  Cluster::RemoveStale();

  if (o.out.empty()) {
    char tmpl[] = "/tmp/cairn-nemesis.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return Usage("mkdtemp failed");
    o.out = tmpl;
  } else {
    fs::create_directories(o.out);
  }
  Log("cluster_nemesis: seed " + std::to_string(o.seed) + ", " + std::to_string(o.nodes) + " nodes in 3 zones, " +
      std::to_string(o.etcd) + " etcd members, " + std::to_string(o.seconds) + " s; logs in " + o.out);

  int rc = 0;
  std::string summary;
  {
    Cluster c(o, o.out);
    ClientSide client;
    std::string why;
    Log("setting up namespaces, etcd and nodes");
    if (!c.SetUpNetwork() || !c.EnterClientNamespace() || !c.StartEtcd() || !c.StartNodes() ||
        !MakeClient(c.EtcdEndpoints(), o.nodes, &client, &why)) {
      Log("SETUP FAILED " + why);
      rc = 2;
    }
    if (rc == 0) {
      auto up_end = Clock::now() + std::chrono::seconds(30);
      while (!AllUp(&client, o.nodes) && Clock::now() < up_end && Nap(100)) {
      }
      Log("cluster up: map epoch " + std::to_string(client.view->map()->epoch));
    }
    Workloads w;
    FaultCounts fc;
    bool nemesis_ok = true;
    Clock::time_point deadline = Clock::now() + std::chrono::seconds(o.seconds);
    if (rc == 0) {
      int p = 0;
      auto add = [&](std::vector<std::unique_ptr<Recorder>>* v, int n,
                     void (*fn)(const Options&, Recorder*, int, Clock::time_point, std::atomic<bool>*)) {
        for (int i = 0; i < n; i++, p++) {
          v->push_back(std::make_unique<Recorder>(client.store.get(), p, &w.counts));
          w.threads.emplace_back(fn, std::cref(o), v->back().get(), p, deadline, &w.stop);
        }
      };
      if (has(o.workloads, "register")) add(&w.reg, o.register_clients, RunRegister);
      if (has(o.workloads, "unique")) add(&w.uniq, o.unique_clients, RunUnique);
      if (has(o.workloads, "cycles")) add(&w.cyc, o.cycle_clients, RunCycles);
      nemesis_ok = RunNemesis(o, &c, deadline, &fc);
      while (Clock::now() < deadline && Nap(100)) {
      }
      w.stop = true;
      for (auto& t : w.threads) t.join();
      Log("workloads done: " + std::to_string(w.counts.ops.load()) + " operations");
      std::map<std::string, uint64_t> reasons;
      for (auto* v : {&w.reg, &w.uniq, &w.cyc})
        for (auto& r : *v)
          for (auto& [k, n] : r->reasons()) reasons[k] += n;
      std::vector<std::pair<uint64_t, std::string>> by;
      for (auto& [k, n] : reasons) by.emplace_back(n, k);
      std::sort(by.rbegin(), by.rend());
      for (size_t i = 0; i < by.size() && i < 8; i++)
        Log("errors: " + std::to_string(by[i].first) + " x " + by[i].second);
    }

    // Heal, wait until every node is up again, then read back.
    uint64_t violations = 0, lost = 0, resurrected = 0, final_errors = 0, states = 0, checked_keys = 0;
    uint64_t acked_unique = 0, acked_deletes = 0, register_ops = 0, cycle_ops = 0;
    uint64_t diverged = 0, converge_keys = 0, undecided = 0;
    double converge_s = 0;
    double heal_s = 0;
    if (rc == 0) {
      double t = Secs();
      if (!c.HealAll()) {
        Log("HEAL FAILED: a process could not be restarted");
        rc = 1;
      }
      auto end = Clock::now() + std::chrono::seconds(60);
      bool up = false;
      int out_nodes = 0;
      while (!(up = AllUp(&client, o.nodes + fc.added, &out_nodes)) && Clock::now() < end && Nap(200)) {
      }
      if (up && out_nodes > 0) Log("map: " + std::to_string(out_nodes) + " node(s) out, no transition in flight");
      heal_s = Secs() - t;
      Log(up ? "healed: every node up after " + std::to_string(heal_s) + " s"
             : "NOT HEALED: some node is not up 60 s after healing");
      if (!up) rc = 1;

      Counts final_counts;
      Recorder fr(client.store.get(), 1000, &final_counts);
      // A final read is retried (the cluster has just healed); an error in the end is a failure.
      auto read = [&](const std::string& key) {
        Op op;
        for (int attempt = 0; attempt < 5; attempt++) {
          op = fr.Get(key);
          if (op.outcome == Op::Outcome::kOk) break;
          Nap(500);
        }
        if (op.outcome != Op::Outcome::kOk) final_errors++;
        return op;
      };
      // register (and its final reads) must be linearizable.
      std::vector<Op> reg;
      std::set<std::string> reg_keys;
      for (auto& r : w.reg)
        for (auto& op : r->history()) {
          reg.push_back(op);
          reg_keys.insert(op.key);
        }
      register_ops = reg.size();
      for (auto& k : reg_keys) reg.push_back(read(k));
      // cycles: acknowledged deletes must stay deleted.
      std::vector<Op> cyc;
      std::set<std::string> deleted;
      for (auto& r : w.cyc)
        for (auto& op : r->history()) {
          cyc.push_back(op);
          if (op.kind == Op::Kind::kDelete && op.outcome == Op::Outcome::kOk) deleted.insert(op.key);
        }
      cycle_ops = cyc.size();
      acked_deletes = deleted.size();
      for (auto& k : deleted) {
        Op op = read(k);
        if (op.outcome == Op::Outcome::kOk && op.found) {
          resurrected++;
          Log("RESURRECTED " + k + " (value " + op.value + ")");
        }
        cyc.push_back(op);
      }
      for (auto* h : {&reg, &cyc}) {
        auto res = cairn::testing::CheckLinearizable(*h);
        violations += res.violations.size();
        states += res.states_explored;
        checked_keys += res.keys;
        for (auto& v : res.violations) {
          // The search's bound reached: the key is undecided, not shown to be wrong.
          if (v.find("search bound") != std::string::npos) {
            undecided++;
            violations--;
            Log("UNDECIDED: " + v);
          } else {
            Log("NOT LINEARIZABLE: " + v);
          }
        }
      }
      // unique: every acknowledged put is read back.
      std::vector<Op> uniq;
      std::vector<std::pair<std::string, std::string>> finals;
      for (auto& r : w.uniq)
        for (auto& op : r->history()) {
          uniq.push_back(op);
          if (op.outcome != Op::Outcome::kOk) continue;
          acked_unique++;
          Op got = read(op.key);
          if (got.outcome == Op::Outcome::kOk && got.found) finals.emplace_back(op.key, got.value);
        }
      auto missing = cairn::testing::CheckNoLostWrites(uniq, finals);
      lost = missing.size();
      for (size_t i = 0; i < missing.size() && i < 20; i++) Log("LOST: " + missing[i]);
      if (final_errors > 0) Log("FINAL READS FAILED: " + std::to_string(final_errors));

      // Replicas converge: a sample of the keys (every register key, up to 300 unique and 100
      // deleted cycle keys), each replica asked for its version.
      std::vector<std::string> sample(reg_keys.begin(), reg_keys.end());
      std::mt19937_64 rng(o.seed);
      for (size_t i = 0; i < uniq.size() && i < 300; i++) sample.push_back(uniq[rng() % uniq.size()].key);
      std::vector<std::string> dels(deleted.begin(), deleted.end());
      for (size_t i = 0; i < dels.size() && i < 100; i++) sample.push_back(dels[rng() % dels.size()]);
      std::sort(sample.begin(), sample.end());
      sample.erase(std::unique(sample.begin(), sample.end()), sample.end());
      diverged = Diverging(&client, sample, 60000, &converge_s);
      converge_keys = sample.size();
      Log("replicas of " + std::to_string(sample.size()) + " keys compared: " + std::to_string(diverged) +
          " diverging after " + std::to_string(converge_s) + " s");

      // The whole history, for a look afterwards.
      std::ofstream hf(o.out + "/history.jsonl", std::ios::trunc);
      for (auto* h : {&reg, &cyc, &uniq})
        for (auto& op : *h) hf << cairn::testing::FormatHistoryLine(op) << "\n";
      if (violations + lost + resurrected + final_errors + diverged > 0 || !nemesis_ok) rc = 1;
    }

    std::string faults;
    uint64_t total_faults = 0;
    for (auto& [k, v] : fc.n) {
      faults += " faults_" + Key(k) + "=" + std::to_string(v);
      total_faults += v;
    }
    const uint64_t ops = w.counts.ops, ok = w.counts.ok;
    char avail[32];
    std::snprintf(avail, sizeof(avail), "%.2f", ops ? 100.0 * ok / ops : 0.0);
    summary = "CLUSTER-SUMMARY runs=1 seed=" + std::to_string(o.seed) + " nodes=" + std::to_string(o.nodes) +
              " etcd=" + std::to_string(o.etcd) + " policy=" + o.write_policy + " seconds=" + std::to_string(o.seconds) +
              " ops=" + std::to_string(ops) + " ok=" + std::to_string(ok) +
              " failed=" + std::to_string(w.counts.failed.load()) +
              " unknown=" + std::to_string(w.counts.unknown.load()) + " availability_pct=" + avail +
              " register_ops=" + std::to_string(register_ops) + " cycle_ops=" + std::to_string(cycle_ops) +
              " unique_acked=" + std::to_string(acked_unique) + " deletes_acked=" + std::to_string(acked_deletes) +
              " keys_checked=" + std::to_string(checked_keys) + " states=" + std::to_string(states) +
              " violations=" + std::to_string(violations) + " undecided_keys=" + std::to_string(undecided) + " lost_writes=" + std::to_string(lost) +
              " resurrected=" + std::to_string(resurrected) + " converge_keys=" + std::to_string(converge_keys) +
              " diverged=" + std::to_string(diverged) + " converge_ms=" + std::to_string(uint64_t(converge_s * 1000)) + " final_read_errors=" + std::to_string(final_errors) +
              " setup_failures=" + std::to_string(rc == 2 ? 1 : 0) +
              " run_failures=" + std::to_string(rc != 0 ? 1 : 0) + " faults=" + std::to_string(total_faults) + faults;
    client = ClientSide();  // before the nodes go
    Log("tearing down");
  }  // ~Cluster: every process stopped by pid, every namespace removed

  // The data always goes; logs and the history stay when something failed (or --keep).
  std::error_code ec;
  for (auto& e : fs::directory_iterator(o.out, ec)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory()) fs::remove_all(e.path(), ec);  // node and etcd data
    else if (rc == 0 && !o.keep) fs::remove(e.path(), ec);
  }
  if ((rc == 0 && !o.keep) || fs::is_empty(o.out, ec)) fs::remove(o.out, ec);  // only if empty
  std::printf("%s\n", summary.c_str());
  if (rc != 0) std::printf("cluster_nemesis: FAILED (logs and history in %s)\n", o.out.c_str());
  else std::printf("cluster_nemesis: ok\n");
  return g_interrupted ? 130 : rc;
}
