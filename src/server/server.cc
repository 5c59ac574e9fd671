#include "server/server.h"

#include <sched.h>
#include <spdlog/spdlog.h>

#include <future>
#include <thread>

#include "cairn/store.h"  // kMaxObjectBytes
#include "server/connection.h"
#include "server/stat_counters.h"

namespace cairn::server {

namespace asio = net::asio;

namespace {

// One loop per core this process may run on: its CPU affinity, not the machine's core count
// (under `taskset -c 0`, two loops would only take turns on one core, switching between them).
size_t LoopCount(uint32_t threads) {
  if (threads != 0) return threads;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
    return static_cast<size_t>(CPU_COUNT(&set));
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

service::ServiceLimits LimitsOf(const ServerConfig& c) {
  service::ServiceLimits l;
  l.max_key_bytes = c.limits.max_key_bytes;
  l.max_meta_bytes = c.limits.max_meta_bytes;
  l.max_list_limit = c.limits.max_list_limit;
  l.max_object_bytes = c.limits.max_object_bytes;
  l.max_buffered_body_bytes = c.limits.max_buffered_body_bytes;
  return l;
}

}  // namespace

Server::Server(const ServerConfig& config, ObjectStore* store)
    : config_(config),
      service_(store, LimitsOf(config)),
      auth_(config.auth.keys, config.limits.max_auth_failures_per_second),
      name_(std::string("cairnd ") + CAIRN_VERSION),
      loops_(LoopCount(config.threads)),
      io_pool_(config.io_threads) {}

service::ServiceLimits Server::service_limits() const { return LimitsOf(config_); }

Server::~Server() {
  Stop();
}

uint64_t Server::max_object_bytes() const {
  return config_.limits.max_object_bytes == 0 ? kMaxObjectBytes : config_.limits.max_object_bytes;
}

Result<uint16_t> Server::Start() {
  std::string host;
  uint16_t port = 0;
  CAIRN_RETURN_IF_ERROR(SplitHostPort(config_.listen, &host, &port));
  boost::system::error_code ec;
  asio::ip::address addr = asio::ip::make_address(host, ec);
  if (ec) {
    // A name ("localhost"): resolve it once.
    asio::ip::tcp::resolver res(loops_.loop(0));
    auto it = res.resolve(host, std::to_string(port), ec);
    if (ec || it.empty())
      return Status::InvalidArgument("listen: cannot resolve '" + host + "': " + ec.message());
    addr = it.begin()->endpoint().address();
  }
  net::tcp::endpoint ep(addr, port);
  acceptor_ = std::make_unique<net::tcp::acceptor>(loops_.loop(0));
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("listen on " + config_.listen + ": " + ec.message());
  uint16_t bound = acceptor_->local_endpoint(ec).port();
  asio::co_spawn(loops_.loop(0), AcceptLoop(), asio::detached);
  loops_.Start();
  return bound;
}

asio::awaitable<void> Server::AcceptLoop() {
  for (;;) {
    boost::system::error_code ec;
    net::tcp::socket sock = co_await acceptor_->async_accept(
        loops_.Next(), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
      // EMFILE and friends: log, back off briefly, keep serving the connections we have.
      spdlog::warn("event=accept_failed listen={} connections={} error=\"{}\"", config_.listen,
                   counters_.connections.load(), ec.message());
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(std::chrono::milliseconds(50));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (counters_.connections.load() >= config_.limits.max_connections || draining()) {
      // max_connections: accepted and closed at once.
      counters_.connections_refused.fetch_add(1, std::memory_order_relaxed);
      sock.close(ec);
      continue;
    }
    counters_.connections.fetch_add(1, std::memory_order_relaxed);
    counters_.connections_total.fetch_add(1, std::memory_order_relaxed);
    auto c = std::make_shared<Connection>(this, std::move(sock));
    {
      std::lock_guard<std::mutex> l(conns_mu_);
      conns_.emplace(c.get(), c);
    }
    c->Start();
  }
}

void Server::Forget(Connection* c) {
  std::lock_guard<std::mutex> l(conns_mu_);
  if (conns_.erase(c) == 1) counters_.connections.fetch_sub(1, std::memory_order_relaxed);
}

void Server::Drain(uint32_t deadline_ms) {
  draining_.store(true, std::memory_order_release);
  if (acceptor_ != nullptr) {
    // Closed on its own loop: the acceptor is not thread-safe.
    std::promise<void> done;
    asio::post(loops_.loop(0), [&] {
      boost::system::error_code ec;
      acceptor_->close(ec);
      done.set_value();
    });
    done.get_future().wait();
  }
  auto each = [&](auto fn) {
    std::vector<std::shared_ptr<Connection>> live;
    {
      std::lock_guard<std::mutex> l(conns_mu_);
      for (auto& [p, w] : conns_)
        if (auto s = w.lock()) live.push_back(std::move(s));
    }
    for (auto& c : live) fn(*c);
    return live.size();
  };
  each([](Connection& c) { c.Drain(); });
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  while (std::chrono::steady_clock::now() < until) {
    {
      std::lock_guard<std::mutex> l(conns_mu_);
      if (conns_.empty()) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  size_t n = each([](Connection& c) { c.Abort(); });
  spdlog::warn("event=drain_deadline deadline_ms={} connections_aborted={}", deadline_ms, n);
}

void Server::Stop() {
  loops_.Stop();
  for (size_t i = 0; i < loops_.size(); i++) loops_.loop(i).stop();
  loops_.Join();
  io_pool_.join();
}

std::map<std::string, uint64_t> Server::Counters() {
  std::map<std::string, uint64_t> m;
  m["connections"] = counters_.connections.load();
  m["connections_total"] = counters_.connections_total.load();
  m["connections_refused"] = counters_.connections_refused.load();
  m["requests"] = counters_.requests.load();
  m["inflight"] = counters_.inflight.load();
  m["bytes_in"] = counters_.bytes_in.load();
  m["bytes_out"] = counters_.bytes_out.load();
  m["loops"] = loops_.size();
  m["io_threads"] = config_.io_threads;
  for (size_t s = 1; s < counters_.replies_by_status.size(); s++) {
    uint64_t n = counters_.replies_by_status[s].load();
    if (n != 0)
      m[std::string("errors.") + proto::WireStatusName(static_cast<proto::WireStatus>(s))] = n;
  }
  if (background_ != nullptr) {
    // The one budget for background work (cairn/background.h).
    const BackgroundSchedulerStats b = background_->stats();
    for (size_t i = 0; i < kBackgroundActivities; i++) {
      const std::string a = BackgroundActivityName(static_cast<BackgroundActivity>(i));
      m["background." + a + ".admitted_bytes"] = b.admitted_bytes[i];
      m["background." + a + ".waited_us"] = b.waited_us[i];
    }
    m["background.rate_bytes_per_sec"] = static_cast<uint64_t>(b.rate_bytes_per_sec);
    m["background.window_p99_us"] = b.window_p99_us;
    m["background.baseline_p99_us"] = b.baseline_p99_us;
    m["background.target_p99_us"] = b.target_p99_us;
    m["background.foreground_requests"] = b.foreground_requests;
    m["background.windows"] = b.windows;
    m["background.decreases"] = b.decreases;
    m["background.increases"] = b.increases;
  }
  // What a cluster node's status page shows of its peers (issue 14; server/stat_counters.h).
  AddDiskCounters(config_.data, &m);
  for (size_t op = 1; op <= proto::kMaxOp; op++) {
    const ops::Histogram& h = counters_.ops.latency(op);
    AddLatencyCounters(proto::OpName(static_cast<proto::Op>(op)), h.spec(), h.Snapshot(), &m);
  }
  return m;
}

}  // namespace cairn::server
