// The pooled, pipelined calls of the Client and their retry policy (docs/protocol.md section 7).
#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <future>

#include <cstdlib>
#include <filesystem>

#include "client/client_impl.h"
#include "proto/stat_body.h"
#include "util/check.h"
#include "util/crc32c.h"
#include "util/key_file.h"
#include "util/metadata_codec.h"
#include "util/thread_name.h"

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

std::string DefaultKeyFile() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x != nullptr && *x == '/')
    return std::string(x) + "/cairn/key";
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0')
    return std::string(h) + "/.config/cairn/key";
  return "";
}

Result<ClientKey> ReadClientKeyFile(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(AuthKey k, ReadKeyFile(path));
  return ClientKey{std::move(k.id), std::move(k.secret)};
}

Result<std::optional<ClientKey>> FindClientKey(const std::string& key_file) {
  if (!key_file.empty()) {
    CAIRN_ASSIGN_OR_RETURN(ClientKey key, ReadClientKeyFile(key_file));
    return std::optional<ClientKey>(std::move(key));
  }
  if (const char* k = std::getenv("CAIRN_KEY"); k != nullptr && *k != '\0') {
    CAIRN_ASSIGN_OR_RETURN(AuthKey key, ParseAuthKey(k, "$CAIRN_KEY"));
    return std::optional<ClientKey>(ClientKey{std::move(key.id), std::move(key.secret)});
  }
  if (const char* f = std::getenv("CAIRN_KEY_FILE"); f != nullptr && *f != '\0') {
    CAIRN_ASSIGN_OR_RETURN(ClientKey key, ReadClientKeyFile(f));
    return std::optional<ClientKey>(std::move(key));
  }
  const std::string def = DefaultKeyFile();
  std::error_code ec;
  if (def.empty() || !std::filesystem::exists(def, ec)) return std::optional<ClientKey>();
  CAIRN_ASSIGN_OR_RETURN(ClientKey key, ReadClientKeyFile(def));
  return std::optional<ClientKey>(std::move(key));
}

Result<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  if (options.connections < 1 || options.max_inflight_per_connection < 1 ||
      options.max_attempts < 1 || options.timeout_ms == 0)
    return Status::InvalidArgument(
        "ClientOptions: connections, max_inflight_per_connection, max_attempts and timeout_ms "
        "must be at least 1");
  if (options.port == 0) return Status::InvalidArgument("ClientOptions: no server port");
  if (options.key.has_value()) {
    CAIRN_RETURN_IF_ERROR(CheckKeyId(options.key->id).WithContext("ClientOptions::key"));
    CAIRN_RETURN_IF_ERROR(CheckSecret(options.key->secret).WithContext("ClientOptions::key"));
  }
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

bool IsRetryable(const Reply& r, bool idempotent) {
  switch (r.failure) {
    case Failure::kConnection:
    case Failure::kTimeout: return idempotent;
    case Failure::kNone: break;
    default: return false;
  }
  // These say the server did nothing: always safe to send again.
  const proto::WireStatus s = r.header.status;
  return s == proto::WireStatus::kChecksumMismatch || s == proto::WireStatus::kShuttingDown ||
         s == proto::WireStatus::kBusy || s == proto::WireStatus::kStaleEpoch;
}

void AppendRouting(const ClientRouting& r, std::string* out) {
  proto::Routing p;
  p.epoch = r.epoch != nullptr ? r.epoch->load(std::memory_order_acquire) : 0;
  p.sender = r.sender;
  p.role = static_cast<proto::RoutingRole>(r.role);
  proto::AppendRouting(p, out);
}

Status ReplyStatus(const Reply& r, Version* held) {
  if (r.failure != Failure::kNone) return r.status;
  return client::ReplyStatus(r.header, r.meta, held);
}

bool IdempotentWrite(const WriteOptions& wo) {
  return wo.condition == WriteCondition::kNone || wo.condition == WriteCondition::kIfNewer;
}

Status MetaError(const proto::WireError& err) {
  return Status::IOError("protocol error from the server: " + err.message);
}

namespace {

// Runs a pooled call synchronously: starts it, waits for its callback.
template <typename T, typename StartFn>
Result<T> Wait(StartFn start) {
  std::promise<Result<T>> p;
  std::future<Result<T>> f = p.get_future();
  start([&p](Result<T> r) { p.set_value(std::move(r)); });
  return f.get();
}

// The structural checks of a write the client makes before sending anything (the server
// checks the limits: max_meta_bytes is its own).
Status CheckWrite(std::string_view key, const WriteOptions& wo, bool is_delete) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  if (!is_delete) CAIRN_RETURN_IF_ERROR(CheckMetadata(wo.metadata, SIZE_MAX));
  return Status::OK();
}

// What the wire carries of a condition: the version only where it is used.
Version WireVersion(const WriteOptions& wo) {
  return wo.condition == WriteCondition::kIfMatch || wo.condition == WriteCondition::kIfNewer
             ? wo.version
             : Version();
}

}  // namespace

ClientImpl::ClientImpl(const ClientOptions& options, asio::ip::tcp::endpoint endpoint)
    : options_(options), endpoint_(std::move(endpoint)), work_(asio::make_work_guard(io_)) {
  ConnectionOptions co;
  co.endpoint = endpoint_;
  co.key = options_.key;
  co.name = ServerName();
  co.max_inflight = options_.max_inflight_per_connection;
  co.max_reply_body_bytes = options_.max_reply_body_bytes;
  co.connect_timeout = std::chrono::milliseconds(options_.connect_timeout_ms);
  for (int i = 0; i < options_.connections; i++) {
    conns_.push_back(std::make_unique<Connection>(io_, co));
    // A slot held by a timed-out call is freed by its late reply: calls waiting for room go.
    conns_.back()->set_on_room([this] { DrainWaiting(); });
  }
  std::promise<std::thread::id> id;
  std::future<std::thread::id> got = id.get_future();
  thread_ = std::thread([this, &id] {
    SetThreadName("cairn-client");
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
  for (auto& c : conns_) c->Close(Failure::kClosed, Status::Unavailable("client closed"));
  while (!waiting_.empty()) {
    std::shared_ptr<Call> call = std::move(waiting_.front());
    waiting_.pop_front();
    Reply r;
    r.failure = Failure::kClosed;
    r.status = Status::Unavailable("client closed");
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

bool ClientImpl::TryStart(std::shared_ptr<Call> call) {
  if (pending_.fetch_add(1) >= options_.max_pending_calls) {
    pending_--;
    return false;
  }
  asio::post(io_, [this, call = std::move(call)]() mutable { Dispatch(std::move(call)); });
  return true;
}

void ClientImpl::Start(std::shared_ptr<Call> call) {
  if (TryStart(call)) return;
  asio::post(io_, [call] {
    Reply r;
    r.failure = Failure::kClosed;
    r.status = Status::Busy("max_pending_calls: the client has that many calls waiting; try again later");
    call->finish(r, call->attempt);
  });
}

void ClientImpl::Dispatch(std::shared_ptr<Call> call) {
  if (closing_) {
    Reply r;
    r.failure = Failure::kClosed;
    r.status = Status::Unavailable("client closed");
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
  uint32_t flags = 0;
  std::string_view meta = c->meta;
  std::string routed;
  if (options_.routing.has_value()) {
    // The epoch is read now, so a retry after a StaleEpoch carries the newer one.
    AppendRouting(*options_.routing, &routed);
    routed += c->meta;
    meta = routed;
    flags = proto::kFlagRouted;
  }
  conn->Submit(c->op, meta, c->body, {}, c->body_crc, deadline,
               [this, call = std::move(call)](Reply& r) {
                 OnReply(call, r);
                 DrainWaiting();
               },
               flags);
}

void ClientImpl::OnReply(const std::shared_ptr<Call>& call, Reply& r) {
  uint64_t node_epoch = 0;  // a StaleEpoch's: the retry waits for the map to reach it
  if (r.failure == Failure::kNone && r.header.status == proto::WireStatus::kStaleEpoch &&
      options_.routing.has_value()) {
    proto::ErrorReply e;
    proto::WireError err;
    if (proto::DecodeMeta(r.meta, &e, &err)) {
      if (options_.routing->epoch != nullptr) node_epoch = e.epoch;
      if (options_.routing->on_stale_epoch) options_.routing->on_stale_epoch(e.epoch);
    }
  }
  if (IsRetryable(r, call->idempotent) && call->attempt < options_.max_attempts && !closing_) {
    // Exponential backoff: a server that is restarting or draining gets time to come back.
    const uint32_t ms = options_.backoff_ms << std::min(call->attempt - 1, 16);
    RetryAfter(call, ms, node_epoch,
               Clock::now() + std::chrono::milliseconds(
                                  node_epoch > 0 ? options_.routing->stale_epoch_wait_ms : 0));
    return;
  }
  if (r.failure == Failure::kTimeout)
    r.status = Status::DeadlineExceeded(
        fmt::format("timeout: no reply from {} within {} ms ({} attempts); the outcome is unknown",
                    ServerName(), options_.timeout_ms, call->attempt));
  call->finish(r, call->attempt);
  pending_--;
}

void ClientImpl::RetryAfter(std::shared_ptr<Call> call, uint32_t ms, uint64_t epoch,
                            Clock::time_point until) {
  auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(ms));
  timers_.insert(timer);
  timer->async_wait([this, timer, call = std::move(call), ms, epoch, until](
                        boost::system::error_code) mutable {
    timers_.erase(timer);
    if (epoch > 0 && !closing_ && Clock::now() < until &&
        options_.routing->epoch->load(std::memory_order_acquire) < epoch)
      return RetryAfter(std::move(call), std::max<uint32_t>(ms, 1), epoch, until);
    Dispatch(std::move(call));
  });
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

void ClientImpl::WriteCall(proto::Op op, std::string key, std::string value,
                           const WriteOptions& wo, Version* held, Callback<WriteResult> done) {
  auto call = std::make_shared<Call>();
  call->op = op;
  call->idempotent = IdempotentWrite(wo);
  if (op == proto::Op::kPut) {
    proto::PutRequest req;
    req.durability = proto::WireDurability(wo.durability);
    req.key = std::move(key);
    req.condition = wo.condition;
    req.version = WireVersion(wo);
    req.metadata = wo.metadata;
    proto::EncodeMeta(req, &call->meta);
    call->body_crc = crc32c::Value(value);  // end to end: the server checks it before commit
    call->body = std::move(value);
  } else {
    proto::DeleteRequest req;
    req.durability = proto::WireDurability(wo.durability);
    req.key = std::move(key);
    req.condition = wo.condition;
    req.version = WireVersion(wo);
    proto::EncodeMeta(req, &call->meta);
  }
  const bool plain_delete = op == proto::Op::kDelete && wo.condition == WriteCondition::kNone;
  call->finish = [done = std::move(done), held, plain_delete](Reply& r, int attempt) {
    Version v;
    Status s = ReplyStatus(r, &v);
    if (s.IsConflict() && held != nullptr) *held = v;
    // NotFound on a retry of a plain DELETE: an earlier attempt deleted the key and its reply
    // was lost.
    if (s.IsNotFound() && plain_delete && attempt > 1) return done(WriteResult());
    if (!s.ok()) return done(s);
    WriteResult w;
    proto::WireError err;
    if (!proto::DecodeMeta(r.meta, &w, &err)) return done(MetaError(err));
    done(w);
  };
  Start(std::move(call));
}

Status ClientImpl::PutAsync(std::string_view key, std::string_view value, const WriteOptions& wo,
                            WriteDone done) {
  CAIRN_RETURN_IF_ERROR(CheckWrite(key, wo, /*is_delete=*/false));
  if (pending_.load() >= options_.max_pending_calls)
    return Status::Busy("max_pending_calls: the client has that many calls waiting");
  WriteCall(proto::Op::kPut, std::string(key), std::string(value), wo, wo.held_version_out,
            std::move(done));
  return Status::OK();
}

void ClientImpl::GetAsync(std::string key, const ByteRange& range, Callback<GetResult> done) {
  if (Status ks = ValidateKey(key); !ks.ok()) return done(ks);
  auto call = std::make_shared<Call>();
  call->op = proto::Op::kGet;
  proto::GetRequest req;
  req.key = key;
  req.offset = range.offset;
  req.length = range.length;
  proto::EncodeMeta(req, &call->meta);
  call->finish = [done = std::move(done), key = std::move(key)](Reply& r, int) {
    proto::GetReply m;
    if (Status s = DecodeReply(r, &m); !s.ok()) return done(s);
    GetResult g;
    g.info = std::move(m.info);
    g.info.key = key;
    g.range_offset = m.range_offset;
    g.data.assign(r.body);  // verified against body_crc by the Connection
    done(std::move(g));
  };
  Start(std::move(call));
}

void ClientImpl::HeadAsync(std::string key, Callback<ObjectInfo> done) {
  if (Status ks = ValidateKey(key); !ks.ok()) return done(ks);
  auto call = std::make_shared<Call>();
  call->op = proto::Op::kHead;
  proto::KeyRequest req;
  req.key = key;
  proto::EncodeMeta(req, &call->meta);
  call->finish = [done = std::move(done), key = std::move(key)](Reply& r, int) {
    ObjectInfo m;
    if (Status s = DecodeReply(r, &m); !s.ok()) return done(s);
    m.key = key;
    done(std::move(m));
  };
  Start(std::move(call));
}

void ClientImpl::HeadVersionAsync(std::string key, Callback<ObjectInfo> done) {
  if (Status ks = ValidateKey(key); !ks.ok()) return done(ks);
  auto call = std::make_shared<Call>();
  call->op = proto::Op::kHead;
  proto::KeyRequest req;
  req.key = key;
  proto::EncodeMeta(req, &call->meta);
  call->finish = [done = std::move(done), key = std::move(key)](Reply& r, int) {
    Version held;
    Status s = ReplyStatus(r, &held);
    if (s.IsNotFound() && !held.none()) {
      ObjectInfo deleted;
      deleted.key = key;
      deleted.version = held;
      deleted.deleted = true;
      return done(std::move(deleted));
    }
    ObjectInfo m;
    if (Status d = DecodeReply(r, &m); !d.ok()) return done(d);
    m.key = key;
    done(std::move(m));
  };
  Start(std::move(call));
}

Result<ObjectInfo> ClientImpl::HeadVersion(std::string_view key) {
  return Wait<ObjectInfo>([&](auto cb) { HeadVersionAsync(std::string(key), std::move(cb)); });
}

void ClientImpl::DeleteAsync(std::string key, const WriteOptions& wo, Callback<WriteResult> done) {
  if (Status ks = CheckWrite(key, wo, /*is_delete=*/true); !ks.ok()) return done(ks);
  WriteCall(proto::Op::kDelete, std::move(key), "", wo, wo.held_version_out, std::move(done));
}

void ClientImpl::ListAsync(const ListOptions& lo, Callback<ListResult> done) {
  auto call = std::make_shared<Call>();
  call->op = proto::Op::kList;
  proto::ListRequest req;
  req.prefix = lo.prefix;
  req.delimiter = lo.delimiter;
  req.start_after = lo.start_after;
  req.limit = lo.limit;
  for (const std::string* s : {&req.prefix, &req.delimiter, &req.start_after}) {
    // The wire's strings hold at most 65535 bytes; the server's limit (max_key_bytes) is lower
    // and is what it reports.
    if (s->size() > 0xFFFF)
      return done(Status::LimitExceeded(fmt::format(
          "max_key_bytes: a list option is {} bytes, limit {}", s->size(), kMaxKeyBytes)));
  }
  proto::EncodeMeta(req, &call->meta);
  call->finish = [done = std::move(done)](Reply& r, int) {
    proto::ListReply m;
    if (Status s = DecodeReply(r, &m); !s.ok()) return done(s);
    ListResult out;
    proto::WireError err;
    if (!proto::DecodeListBody(r.body, m.count, m.prefix_count, &out.objects,
                               &out.common_prefixes, &err))
      return done(MetaError(err));
    out.truncated = m.truncated;
    out.next_start_after = std::move(m.next_start_after);
    done(std::move(out));
  };
  Start(std::move(call));
}

void ClientImpl::StatAsync(Callback<StoreStats> done) {
  auto call = std::make_shared<Call>();
  call->op = proto::Op::kStat;
  call->finish = [done = std::move(done)](Reply& r, int) {
    Status s = ReplyStatus(r);
    if (!s.ok()) return done(s);
    done(proto::DecodeStatBody(r.body));
  };
  Start(std::move(call));
}

// ---- synchronous calls ----

Result<std::string> ClientImpl::Ping() {
  CheckNotIoThread();
  return Wait<std::string>([&](auto cb) { PingAsync(std::move(cb)); });
}

Result<WriteResult> ClientImpl::Put(std::string_view key, std::string_view value,
                                    const WriteOptions& wo) {
  CheckNotIoThread();
  CAIRN_RETURN_IF_ERROR(CheckWrite(key, wo, /*is_delete=*/false));
  return Wait<WriteResult>([&](auto cb) {
    WriteCall(proto::Op::kPut, std::string(key), std::string(value), wo, wo.held_version_out,
              std::move(cb));
  });
}

Result<GetResult> ClientImpl::Get(std::string_view key, const ByteRange& range) {
  CheckNotIoThread();
  return Wait<GetResult>([&](auto cb) { GetAsync(std::string(key), range, std::move(cb)); });
}

Result<ObjectInfo> ClientImpl::Head(std::string_view key) {
  CheckNotIoThread();
  return Wait<ObjectInfo>([&](auto cb) { HeadAsync(std::string(key), std::move(cb)); });
}

Result<WriteResult> ClientImpl::Delete(std::string_view key, const WriteOptions& wo) {
  CheckNotIoThread();
  CAIRN_RETURN_IF_ERROR(CheckWrite(key, wo, /*is_delete=*/true));
  return Wait<WriteResult>([&](auto cb) {
    WriteCall(proto::Op::kDelete, std::string(key), "", wo, wo.held_version_out, std::move(cb));
  });
}

Result<ListResult> ClientImpl::List(const ListOptions& lo) {
  CheckNotIoThread();
  return Wait<ListResult>([&](auto cb) { ListAsync(lo, std::move(cb)); });
}

Result<std::string> ClientImpl::Digest(std::string_view request) {
  CheckNotIoThread();
  return Wait<std::string>([&](auto cb) {
    auto call = std::make_shared<Call>();
    call->op = proto::Op::kDigest;
    call->meta.assign(request);
    call->finish = [done = std::move(cb)](Reply& r, int) {
      Status s = ReplyStatus(r);
      if (!s.ok()) return done(s);
      done(std::string(r.body));
    };
    Start(std::move(call));
  });
}

Result<StoreStats> ClientImpl::Stats() {
  CheckNotIoThread();
  return Wait<StoreStats>([&](auto cb) { StatAsync(std::move(cb)); });
}

}  // namespace client
}  // namespace cairn
