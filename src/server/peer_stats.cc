#include "server/peer_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "server/stat_counters.h"
#include "util/thread_name.h"

namespace cairn::server {

namespace {

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t CounterOf(const std::map<std::string, uint64_t>& m, const char* name) {
  auto it = m.find(name);
  return it == m.end() ? 0 : it->second;
}

}  // namespace

struct PeerStatsPoller::Raw {
  std::chrono::steady_clock::time_point at;
  uint64_t requests = 0;
  ops::HistogramSnapshot get, put;
};

PeerStatsPoller::PeerStatsPoller(Source source, PeerStatsOptions options)
    : source_(std::move(source)), options_(options) {}

PeerStatsPoller::~PeerStatsPoller() { Stop(); }

void PeerStatsPoller::Start() {
  for (size_t i = 0; i < kPeerStatsWorkers; i++)
    workers_.emplace_back([this] {
      SetThreadName("cairn-peerstat");
      Worker();
    });
  loop_ = std::thread([this] {
    SetThreadName("cairn-peerstat");
    Loop();
  });
}

void PeerStatsPoller::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  for (std::thread& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
}

void PeerStatsPoller::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    l.unlock();
    Round();
    l.lock();
    cv_.wait_for(l, options_.interval, [this] { return stop_; });
  }
}

void PeerStatsPoller::Worker() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    cv_.wait(l, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    const uint32_t id = queue_.front();
    queue_.pop_front();
    l.unlock();
    Result<StoreStats> r = source_.stat(id);
    Answered(id, std::move(r));
    l.lock();
  }
}

void PeerStatsPoller::NoAnswer(Peer& p, std::string why) {
  if (p.view.answering || p.view.no_answer_since_unix_ms == 0)
    p.view.no_answer_since_unix_ms =
        p.view.last_answer_unix_ms != 0 ? p.view.last_answer_unix_ms : p.first_try_unix_ms;
  p.view.answering = false;
  p.view.error = std::move(why);
}

void PeerStatsPoller::Round() {
  std::vector<PeerTarget> targets = source_.targets();
  if (targets.size() > kPeerStatsMaxNodes) targets.resize(kPeerStatsMaxNodes);
  const auto now = std::chrono::steady_clock::now();
  std::set<uint32_t> ids;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    for (const PeerTarget& t : targets) {
      ids.insert(t.id);
      Peer& p = peers_[t.id];
      p.view.id = t.id;
      if (p.in_flight) {
        if (now - p.started > options_.deadline)
          NoAnswer(p, fmt::format("no answer within {} ms", options_.deadline.count()));
        continue;  // never two calls to one peer
      }
      p.in_flight = true;
      p.started = now;
      if (p.first_try_unix_ms == 0) p.first_try_unix_ms = UnixMs();
      queue_.push_back(t.id);
    }
    // A node that left the map (or the first kPeerStatsMaxNodes) is no longer shown; a call
    // still in flight to it finds no entry and is dropped.
    for (auto it = peers_.begin(); it != peers_.end();)
      it = ids.count(it->first) != 0 ? std::next(it) : peers_.erase(it);
  }
  cv_.notify_all();
}

void PeerStatsPoller::Answered(uint32_t id, Result<StoreStats> r) {
  // Checked and decoded before the lock: the bounds keep it small.
  std::string refusal;
  auto raw = std::make_shared<Raw>();
  raw->at = std::chrono::steady_clock::now();
  if (!r.ok()) {
    refusal = r.status().ToString();
  } else if (r->server.size() > kPeerStatsMaxCounters) {
    refusal = fmt::format("the reply has {} server counters, over kPeerStatsMaxCounters ({})",
                          r->server.size(), kPeerStatsMaxCounters);
  } else if (r->volume_list.size() > kPeerStatsMaxVolumes) {
    refusal = fmt::format("the reply has {} volumes, over kPeerStatsMaxVolumes ({})",
                          r->volume_list.size(), kPeerStatsMaxVolumes);
  } else {
    const ops::HistogramSpec spec = ops::HistogramSpec::LatencyNs();
    raw->requests = CounterOf(r->server, "requests");
    raw->get = LatencyFromCounters(r->server, "GET", spec);
    raw->put = LatencyFromCounters(r->server, "PUT", spec);
  }
  std::lock_guard<std::mutex> l(mu_);
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  Peer& p = it->second;
  p.in_flight = false;
  if (!refusal.empty()) {
    NoAnswer(p, std::move(refusal));
    return;
  }
  PeerView& v = p.view;
  const StoreStats& s = *r;
  v.answering = true;
  v.error.clear();
  v.no_answer_since_unix_ms = 0;
  v.last_answer_unix_ms = UnixMs();
  v.has_disk = s.server.count(std::string(kStatDiskTotal)) != 0;
  v.disk_total_bytes = CounterOf(s.server, kStatDiskTotal.data());
  v.disk_free_bytes = std::min(CounterOf(s.server, kStatDiskFree.data()), v.disk_total_bytes);
  v.objects = s.objects;
  v.allocated_bytes = s.allocated_bytes;
  v.read_only = s.read_only;
  // Clamped: a count over its total would draw a bar over its width.
  v.sync_epoch = CounterOf(s.server, "cluster.sync_epoch");
  v.sync_led = static_cast<uint32_t>(std::min<uint64_t>(CounterOf(s.server, "cluster.sync_led"), UINT32_MAX));
  v.sync_synced = static_cast<uint32_t>(std::min<uint64_t>(CounterOf(s.server, "cluster.sync_synced"), v.sync_led));
  // A peer whose counters went back restarted: its window starts again.
  if (!p.window.empty() && (raw->requests < p.window.back()->requests ||
                            raw->get.count < p.window.back()->get.count ||
                            raw->put.count < p.window.back()->put.count))
    p.window.clear();
  p.window.push_back(raw);
  while (p.window.size() > kPeerStatsWindow) p.window.pop_front();
  const Raw& old = *p.window.front();
  const double span = std::chrono::duration<double>(raw->at - old.at).count();
  v.window_seconds = p.window.size() > 1 ? span : 0;
  if (v.window_seconds <= 0) {
    v.requests_per_s = v.get_per_s = v.put_per_s = v.get_p99_ms = v.put_p99_ms = 0;
    return;
  }
  const ops::HistogramSpec spec = ops::HistogramSpec::LatencyNs();
  const ops::HistogramSnapshot get = raw->get.Minus(old.get), put = raw->put.Minus(old.put);
  v.requests_per_s = static_cast<double>(raw->requests - old.requests) / span;
  v.get_per_s = static_cast<double>(get.count) / span;
  v.put_per_s = static_cast<double>(put.count) / span;
  v.get_p99_ms = get.Quantile(spec, 0.99) * 1e-6;
  v.put_p99_ms = put.Quantile(spec, 0.99) * 1e-6;
}

nlohmann::ordered_json PeerViewJson(const PeerView& v) {
  nlohmann::ordered_json j;
  j["answering"] = v.answering;
  j["last_answer_unix_ms"] = v.last_answer_unix_ms;
  if (!v.answering) {
    j["no_answer_since_unix_ms"] = v.no_answer_since_unix_ms;
    j["error"] = v.error;
  }
  if (v.last_answer_unix_ms == 0) return j;
  if (v.has_disk) {
    j["disk_total_bytes"] = v.disk_total_bytes;
    j["disk_free_bytes"] = v.disk_free_bytes;
    j["disk_used_bytes"] = v.disk_total_bytes - v.disk_free_bytes;
  }
  j["objects"] = v.objects;
  j["allocated_bytes"] = v.allocated_bytes;
  j["read_only"] = v.read_only;
  j["window_seconds"] = v.window_seconds;
  j["requests_per_s"] = v.requests_per_s;
  j["get_per_s"] = v.get_per_s;
  j["put_per_s"] = v.put_per_s;
  j["get_p99_ms"] = v.get_p99_ms;
  j["put_p99_ms"] = v.put_p99_ms;
  if (v.sync_epoch != 0)
    j["sync"] = {{"epoch", v.sync_epoch}, {"synced", v.sync_synced}, {"led", v.sync_led}};
  return j;
}

std::map<uint32_t, PeerView> PeerStatsPoller::Views() const {
  std::map<uint32_t, PeerView> out;
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& [id, p] : peers_) {
    PeerView v = p.view;
    // A call past its deadline shows as such at once, not only at the next round.
    if (p.in_flight && now - p.started > options_.deadline && (v.answering || v.error.empty())) {
      v.answering = false;
      v.no_answer_since_unix_ms = v.last_answer_unix_ms != 0 ? v.last_answer_unix_ms : p.first_try_unix_ms;
      v.error = fmt::format("no answer within {} ms", options_.deadline.count());
    }
    out[id] = std::move(v);
  }
  return out;
}

}  // namespace cairn::server
