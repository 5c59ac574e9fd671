// The pooled, pipelined calls of the Client and their retry policy (docs/protocol.md section 7).
#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <future>

#include "client/client_impl.h"
#include "util/check.h"
#include "util/crc32c.h"

namespace cairn {
namespace asio = boost::asio;
using client::Call;
using client::ClientImpl;
using client::Reply;

Status ParseServerAddress(std::string_view text, std::string* host, uint16_t* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size())
    return Status::InvalidArgument(
        fmt::format("bad server address '{}'; use HOST:PORT, e.g. 127.0.0.1:7000", text));
  std::string_view h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string_view p = text.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || ptr != p.data() + p.size() || value == 0 || value > 65535)
    return Status::InvalidArgument(
        fmt::format("bad port in server address '{}'; use HOST:PORT with PORT 1..65535", text));
  host->assign(h);
  *port = static_cast<uint16_t>(value);
  return Status::OK();
}

Result<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  if (options.connections < 1 || options.max_inflight_per_connection < 1 ||
      options.max_attempts < 1 || options.timeout_ms == 0)
    return Status::InvalidArgument(
        "ClientOptions: connections, max_inflight_per_connection, max_attempts and timeout_ms "
        "must be at least 1");
  if (options.port == 0) return Status::InvalidArgument("ClientOptions: no server port");
  // Resolved once: a numeric address needs no lookup; a name is looked up synchronously here
  // so that later calls never wait on DNS.
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
  if (ec || results.empty())
    return Status::InvalidArgument(
        fmt::format("cannot resolve server host '{}': {}", options.host, ec.message()));
  return std::unique_ptr<Client>(new ClientImpl(options, results.begin()->endpoint()));
}

namespace client {

bool IsRetryable(const Reply& r) {
  switch (r.failure) {
    case Failure::kConnection:
    case Failure::kTimeout: return true;
    case Failure::kNone: break;
    default: return false;
  }
  const proto::WireStatus s = r.header.status;
  return s == proto::WireStatus::kChecksumMismatch || s == proto::WireStatus::kShuttingDown ||
         s == proto::WireStatus::kBusy;
}

Status ReplyStatus(const proto::FrameHeader& h, std::string_view meta) {
  if (h.status == proto::WireStatus::kOk) return Status::OK();
  proto::ErrorReply e;
  proto::WireError err;
  if (!proto::DecodeMeta(meta, &e, &err)) e.message = "(unreadable error message)";
  return proto::FromWireStatus(h.status, e.message);
}

Status ReplyStatus(const Reply& r) {
  if (r.failure != Failure::kNone) return r.status;
  return ReplyStatus(r.header, r.meta);
}

uint8_t WireDurability(const WriteOptions& wo) {
  if (!wo.durability.has_value()) return proto::kDurabilityDefault;
  return static_cast<uint8_t>(static_cast<uint8_t>(*wo.durability) + 1);
}

Status MetaError(const proto::WireError& err) {
  return Status::IOError("protocol error from the server: " + err.message);
}

Status CheckKey(std::string_view key) {
  if (!key.empty() && key.size() <= kMaxKeyBytes) return Status::OK();
  return Status::InvalidArgument(
      fmt::format("key is {} bytes; keys are 1 to {} bytes", key.size(), kMaxKeyBytes));
}

namespace {

ObjectInfo ToInfo(std::string_view key, const proto::ObjectMeta& m) {
  ObjectInfo info;
  info.key.assign(key);
  info.size = m.size;
  info.crc32c = m.crc32c;
  info.sequence = m.sequence;
  info.mtime_us = m.mtime_us;
  return info;
}

// Runs a pooled call synchronously: starts it, waits for its callback.
template <typename T, typename StartFn>
Result<T> Wait(StartFn start) {
  std::promise<Result<T>> p;
  std::future<Result<T>> f = p.get_future();
  start([&p](Result<T> r) { p.set_value(std::move(r)); });
  return f.get();
}

}  // namespace

ClientImpl::ClientImpl(const ClientOptions& options, asio::ip::tcp::endpoint endpoint)
    : options_(options), endpoint_(std::move(endpoint)), work_(asio::make_work_guard(io_)) {
  ConnectionOptions co;
  co.endpoint = endpoint_;
  co.max_inflight = options_.max_inflight_per_connection;
  co.max_reply_body_bytes = options_.max_reply_body_bytes;
  co.connect_timeout = std::chrono::milliseconds(options_.connect_timeout_ms);
  for (int i = 0; i < options_.connections; i++)
    conns_.push_back(std::make_unique<Connection>(io_, co));
  std::promise<std::thread::id> id;
  std::future<std::thread::id> got = id.get_future();
  thread_ = std::thread([this, &id] {
    id.set_value(std::this_thread::get_id());
    io_.run();
  });
  io_thread_id_ = got.get();
}

ClientImpl::~ClientImpl() {
  asio::post(io_, [this] { Shutdown(); });
  work_.reset();
  thread_.join();
  conns_.clear();
}

void ClientImpl::Shutdown() {
  closing_ = true;
  for (const auto& t : timers_) t->cancel();
  for (auto& c : conns_) c->Close(Failure::kClosed, Status::IOError("client closed"));
  while (!waiting_.empty()) {
    std::shared_ptr<Call> call = std::move(waiting_.front());
    waiting_.pop_front();
    Reply r;
    r.failure = Failure::kClosed;
    r.status = Status::IOError("client closed");
    call->finish(r, call->attempt);
    pending_--;
  }
}

void ClientImpl::CheckNotIoThread() const {
  // A synchronous call from a callback would wait for the thread that is waiting.
  CAIRN_CHECK(std::this_thread::get_id() != io_thread_id_);
}

std::string ClientImpl::ServerName() const {
  return fmt::format("{}:{}", options_.host, options_.port);
}

void ClientImpl::Start(std::shared_ptr<Call> call) {
  if (pending_.fetch_add(1) >= options_.max_pending_calls) {
    pending_--;
    asio::post(io_, [call] {
      Reply r;
      r.failure = Failure::kClosed;
      r.status = Status::Busy("the client has max_pending_calls calls waiting; try again later");
      call->finish(r, call->attempt);
    });
    return;
  }
  asio::post(io_, [this, call = std::move(call)]() mutable { Dispatch(std::move(call)); });
}

void ClientImpl::Dispatch(std::shared_ptr<Call> call) {
  if (closing_) {
    Reply r;
    r.failure = Failure::kClosed;
    r.status = Status::IOError("client closed");
    call->finish(r, call->attempt);
    pending_--;
    return;
  }
  // The least-loaded connection with room; open ones first, so one that is (re)connecting
  // only gets calls when the others are full.
  Connection* best = nullptr;
  for (auto& c : conns_) {
    if (!c->HasRoom()) continue;
    if (best == nullptr || (c->open() && !best->open()) ||
        (c->open() == best->open() && c->inflight() < best->inflight()))
      best = c.get();
  }
  if (best == nullptr) {
    waiting_.push_back(std::move(call));
    return;
  }
  Send(best, std::move(call));
}

void ClientImpl::Send(Connection* conn, std::shared_ptr<Call> call) {
  call->attempt++;
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.timeout_ms);
  Call* c = call.get();
  conn->Submit(c->op, c->meta, c->body, {}, c->body_crc, deadline,
               [this, call = std::move(call)](Reply& r) {
                 OnReply(call, r);
                 DrainWaiting();
               });
}

void ClientImpl::OnReply(const std::shared_ptr<Call>& call, Reply& r) {
  if (IsRetryable(r) && call->attempt < options_.max_attempts && !closing_) {
    // Exponential backoff: a server that is restarting or draining gets time to come back.
    const uint32_t ms = options_.backoff_ms << std::min(call->attempt - 1, 16);
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(ms));
    timers_.insert(timer);
    timer->async_wait([this, timer, call](boost::system::error_code) {
      timers_.erase(timer);
      Dispatch(call);
    });
    return;
  }
  if (r.failure == Failure::kTimeout)
    r.status = Status::IOError(fmt::format("timeout: no reply from {} within {} ms ({} attempts)",
                                           ServerName(), options_.timeout_ms, call->attempt));
  call->finish(r, call->attempt);
  pending_--;
}

void ClientImpl::DrainWaiting() {
  while (!waiting_.empty()) {
    Connection* best = nullptr;
    for (auto& c : conns_)
      if (c->HasRoom() && (best == nullptr || c->inflight() < best->inflight())) best = c.get();
    if (best == nullptr) return;
    std::shared_ptr<Call> call = std::move(waiting_.front());
    waiting_.pop_front();
    Send(best, std::move(call));
  }
}

// ---- asynchronous calls ----

void ClientImpl::PingAsync(Callback<std::string> done) {
  auto call = std::make_shared<Call>();
  call->op = proto::Op::kPing;
  call->finish = [done = std::move(done)](Reply& r, int) {
    proto::PingReply m;
    if (Status s = DecodeReply(r, &m); !s.ok()) return done(s);
    done(std::move(m.server));
  };
  Start(std::move(call));
}

void ClientImpl::PutAsync(std::string key, std::string value, const WriteOptions& wo,
                          Callback<PutResult> done) {
  auto call = std::make_shared<Call>();
  call->op = proto::Op::kPut;
  proto::PutRequest req;
  req.durability = WireDurability(wo);
  req.key = std::move(key);
  if (Status ks = CheckKey(req.key); !ks.ok()) return done(ks);
  proto::EncodeMeta(req, &call->meta);
  call->body_crc = crc32c::Value(value);  // end to end: the server checks it before commit
  call->body = std::move(value);
  call->finish = [done = std::move(done)](Reply& r, int) {
    proto::PutReply m;
    if (Status s = DecodeReply(r, &m); !s.ok()) return done(s);
    done(PutResult{m.sequence, m.size, m.crc32c});
  };
  Start(std::move(call));
}

void ClientImpl::GetAsync(std::string key, const ReadRange& range, Callback<GetResult> done) {
  auto call = std::make_shared<Call>();
  call->op = proto::Op::kGet;
  proto::GetRequest req;
  req.key = key;
  req.offset = range.offset;
  req.length = range.length;
  if (Status ks = CheckKey(req.key); !ks.ok()) return done(ks);
  proto::EncodeMeta(req, &call->meta);
  call->finish = [done = std::move(done), key = std::move(key)](Reply& r, int) {
    proto::GetReply m;
    if (Status s = DecodeReply(r, &m); !s.ok()) return done(s);
    GetResult g;
    g.info = ToInfo(key, m.info);
    g.range_offset = m.range_offset;
    g.data.assign(r.body);  // verified against body_crc by the Connection
    done(std::move(g));
  };
  Start(std::move(call));
}

void ClientImpl::HeadAsync(std::string key, Callback<ObjectInfo> done) {
  auto call = std::make_shared<Call>();
  call->op = proto::Op::kHead;
  proto::KeyRequest req;
  req.key = key;
  if (Status ks = CheckKey(req.key); !ks.ok()) return done(ks);
  proto::EncodeMeta(req, &call->meta);
  call->finish = [done = std::move(done), key = std::move(key)](Reply& r, int) {
    proto::ObjectMeta m;
    if (Status s = DecodeReply(r, &m); !s.ok()) return done(s);
    done(ToInfo(key, m));
  };
  Start(std::move(call));
}

void ClientImpl::DeleteAsync(std::string key, const WriteOptions& wo, StatusCallback done) {
  auto call = std::make_shared<Call>();
  call->op = proto::Op::kDelete;
  proto::DeleteRequest req;
  req.durability = WireDurability(wo);
  req.key = std::move(key);
  if (Status ks = CheckKey(req.key); !ks.ok()) return done(ks);
  proto::EncodeMeta(req, &call->meta);
  call->finish = [done = std::move(done)](Reply& r, int attempt) {
    Status s = ReplyStatus(r);
    // NotFound on a retry: an earlier attempt deleted the key and its reply was lost.
    if (s.IsNotFound() && attempt > 1) s = Status::OK();
    done(s);
  };
  Start(std::move(call));
}

void ClientImpl::ListAsync(const ListOptions& lo, Callback<ScanResult> done) {
  auto call = std::make_shared<Call>();
  call->op = proto::Op::kList;
  proto::ListRequest req;
  req.prefix = lo.prefix;
  req.start_after = lo.start_after;
  req.limit = lo.limit;
  if (req.prefix.size() > kMaxKeyBytes || req.start_after.size() > kMaxKeyBytes) {
    done(Status::InvalidArgument(
        fmt::format("prefix and start_after are at most {} bytes", kMaxKeyBytes)));
    return;
  }
  proto::EncodeMeta(req, &call->meta);
  call->finish = [done = std::move(done)](Reply& r, int) {
    proto::ListReply m;
    if (Status s = DecodeReply(r, &m); !s.ok()) return done(s);
    std::vector<proto::ListEntry> entries;
    proto::WireError err;
    if (!proto::DecodeListBody(r.body, m.count, &entries, &err)) return done(MetaError(err));
    ScanResult out;
    out.truncated = m.truncated;
    out.objects.reserve(entries.size());
    for (proto::ListEntry& e : entries) out.objects.push_back(ToInfo(e.key, e.info));
    done(std::move(out));
  };
  Start(std::move(call));
}

void ClientImpl::StatAsync(Callback<std::string> done) {
  auto call = std::make_shared<Call>();
  call->op = proto::Op::kStat;
  call->finish = [done = std::move(done)](Reply& r, int) {
    Status s = ReplyStatus(r);
    if (!s.ok()) return done(s);
    done(std::string(r.body));
  };
  Start(std::move(call));
}

// ---- synchronous calls ----

Result<std::string> ClientImpl::Ping() {
  CheckNotIoThread();
  return Wait<std::string>([&](auto cb) { PingAsync(std::move(cb)); });
}

Result<PutResult> ClientImpl::Put(std::string_view key, std::string_view value,
                                  const WriteOptions& wo) {
  CheckNotIoThread();
  return Wait<PutResult>(
      [&](auto cb) { PutAsync(std::string(key), std::string(value), wo, std::move(cb)); });
}

Result<GetResult> ClientImpl::Get(std::string_view key, const ReadRange& range) {
  CheckNotIoThread();
  return Wait<GetResult>([&](auto cb) { GetAsync(std::string(key), range, std::move(cb)); });
}

Result<ObjectInfo> ClientImpl::Head(std::string_view key) {
  CheckNotIoThread();
  return Wait<ObjectInfo>([&](auto cb) { HeadAsync(std::string(key), std::move(cb)); });
}

Status ClientImpl::Delete(std::string_view key, const WriteOptions& wo) {
  CheckNotIoThread();
  std::promise<Status> p;
  std::future<Status> f = p.get_future();
  DeleteAsync(std::string(key), wo, [&p](Status s) { p.set_value(std::move(s)); });
  return f.get();
}

Result<ScanResult> ClientImpl::List(const ListOptions& lo) {
  CheckNotIoThread();
  return Wait<ScanResult>([&](auto cb) { ListAsync(lo, std::move(cb)); });
}

Result<std::string> ClientImpl::Stat() {
  CheckNotIoThread();
  return Wait<std::string>([&](auto cb) { StatAsync(std::move(cb)); });
}

}  // namespace client
}  // namespace cairn
