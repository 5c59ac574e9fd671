// Connection, part 2: each request handed to the ObjectService, on the loop when the service
// says it will not block (TryGetOnLoop, PutOnLoop), else on the I/O pool (RunBlocking).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "net/blocking.h"
#include "net/send_file.h"
#include "server/body_source.h"
#include "server/connection.h"
#include "server/cluster_hooks.h"
#include "server/server.h"
#include "util/crc32c.h"

namespace cairn::server {

using namespace cairn::proto;
using net::asio::awaitable;
namespace asio = net::asio;

namespace {

// GET bodies warmed into the page cache in the same pool job as the lookup (the writer warms
// later slices itself).
constexpr uint64_t kFirstWarmBytes = 8 << 20;

// True if the first min(length, kFirstWarmBytes) bytes of the value from `offset` are in the
// page cache.
bool FirstSliceCached(const PinnedObject& pin, uint64_t offset, uint64_t length) {
  uint64_t pos = 0, want = offset, left = std::min(length, kFirstWarmBytes);
  for (const ValueExtent& e : pin.extents()) {
    if (left == 0) break;
    if (want < pos + e.length) {
      uint64_t n = std::min(left, pos + e.length - want);
      if (!net::RangeCached(e.fd, e.offset + (want - pos), n)) return false;
      want += n;
      left -= n;
    }
    pos += e.length;
  }
  return true;
}

// Blocking: brings the first slice into the page cache, so the loop's sendfile never waits.
void WarmFirstSlice(const PinnedObject& pin, uint64_t offset, uint64_t length) {
  if (FirstSliceCached(pin, offset, length)) return;
  uint64_t pos = 0, want = offset, left = std::min(length, kFirstWarmBytes);
  for (const ValueExtent& e : pin.extents()) {
    if (left == 0) break;
    if (want < pos + e.length) {
      uint64_t n = std::min(left, pos + e.length - want);
      net::WarmFileRange(e.fd, e.offset + (want - pos), n);
      want += n;
      left -= n;
    }
    pos += e.length;
  }
}

WriteOptions WriteOptionsOf(uint8_t durability, WriteCondition condition, const Version& v) {
  WriteOptions wo;
  wo.durability = DurabilityFromWire(durability);
  wo.condition = condition;
  wo.version = v;
  return wo;
}

}  // namespace

bool Connection::CheckAuth(const Request& r, bool* served) {
  const FrameHeader& h = r.h;
  *served = false;
  if (auth_ != AuthState::kOpen) {
    if (h.op == Op::kHello || h.op == Op::kAuth) {
      *served = true;
      return h.op == Op::kHello ? OnHello(r) : OnAuth(r);
    }
    return AdmitUnauthenticated(r);
  }
  if (h.op == Op::kHello || h.op == Op::kAuth) {
    FinalError(h.request_id, h.op, WireStatus::kProtocolError,
               std::string(OpName(h.op)) + " after the handshake");
    return false;
  }
  return true;
}

bool Connection::Route(Request* r) {
  const FrameHeader& h = r->h;
  ClusterHooks* cluster = server_->cluster();
  r->svc = cluster != nullptr ? cluster->ServiceFor(RoutingRole::kAny) : &server_->service();
  if (!h.routed()) return true;
  Routing routing;
  std::string_view rest;
  WireError err;
  if (!DecodeRouting(r->meta, &routing, &rest, &err)) {
    FinalError(h.request_id, h.op, err.status, err.message);
    return false;
  }
  r->meta.erase(0, r->meta.size() - rest.size());
  r->role = routing.role;
  if (cluster == nullptr) {
    // A single node: routing means nothing to it, except that it holds no replicas.
    if (routing.role == RoutingRole::kReplica)
      r->refusal = ErrorReply(h, WireStatus::kNotSupported,
                              "replica operations: this cairnd is not a cluster node");
    return true;
  }
  const uint64_t ours = cluster->epoch();
  if (routing.epoch != 0 && routing.epoch < ours) {
    // Never obey a map older than ours (ARCHITECTURE.md invariant 9): say which epoch we are at.
    r->refusal = ErrorReply(h, WireStatus::kStaleEpoch,
                            "request epoch " + std::to_string(routing.epoch) +
                                " is older than this node's " + std::to_string(ours),
                            Version(), ours);
    return true;
  }
  if (routing.epoch > ours) cluster->NoteEpoch(routing.epoch);
  r->epoch = routing.epoch;
  if (routing.role == RoutingRole::kReplica && !cluster->IsMemberKey(key_id_)) {
    spdlog::warn("event=replica_op_refused peer={} key_id=\"{}\" op={} reason=\"not the member key\"",
                 peer_, key_id_, OpName(h.op));
    r->refusal = ErrorReply(h, WireStatus::kPermissionDenied,
                            "replica operations need the cluster's member key");
    return true;
  }
  // A DIGEST comparison is what declares a moving partition synced for the sender's epoch
  // (docs/cluster.md "Map transitions"): it must see this node's data only once this node
  // refuses writes sent under an older map, so a node behind the sender answers "later".
  if (h.op == Op::kDigest && routing.epoch > ours) {
    r->refusal = ErrorReply(h, WireStatus::kUnavailable,
                            "this node's cluster map (epoch " + std::to_string(ours) +
                                ") is older than the request's " + std::to_string(routing.epoch));
    return true;
  }
  // A replica write takes its place in the DIGEST fence before it is applied, checked against
  // our epoch again in the same step (the map may have moved since the check above): a DELETE
  // here, a PUT once its body is read (DispatchPut), so that a sender stalled mid-body does not
  // hold every DIGEST back.
  if (routing.role == RoutingRole::kReplica && h.op == Op::kDelete &&
      !AdmitReplicaWrite(r, &r->refusal))
    return true;
  r->svc = cluster->ServiceFor(routing.role);
  return true;
}

bool Connection::AdmitReplicaWrite(Request* r, std::optional<Reply>* refusal) {
  ClusterHooks* cluster = server_->cluster();
  if (cluster == nullptr || r->role != RoutingRole::kReplica) return true;
  uint64_t now = 0;
  r->write_hold = cluster->AdmitReplicaWrite(r->epoch, &now);
  if (r->write_hold != nullptr) return true;
  *refusal = ErrorReply(r->h, WireStatus::kStaleEpoch,
                        "request epoch " + std::to_string(r->epoch) +
                            " is older than this node's " + std::to_string(now),
                        Version(), now);
  return false;
}

bool Connection::Dispatch(Request r) {
  const FrameHeader& h = r.h;
  if (r.refusal.has_value()) {
    WireError bad;
    if (!ValidateRequestMeta(h.op, r.meta, &bad)) {
      FinalError(h.request_id, h.op, bad.status, bad.message);
      return false;
    }
    Admit(h.request_id, h.op);
    Enqueue(std::move(*r.refusal));
    return true;
  }
  service::ObjectService& svc = *r.svc;
  WireError err;
  switch (h.op) {
    case Op::kGet: {
      GetRequest m;
      if (!DecodeMeta(r.meta, &m, &err)) break;
      Admit(h.request_id, h.op);
      // The hot path: a cached object is pinned and queued right here, on the loop, with no
      // pool hand-off (two context switches) and no coroutine of its own.
      std::optional<service::GetOutcome> fast = svc.TryGetOnLoop(m.key, {m.offset, m.length});
      // A replica's NotFound must say whether it holds a delete: the pool path looks.
      if (fast.has_value() && !(r.role == RoutingRole::kReplica && fast->status.IsNotFound())) {
        if (!fast->status.ok()) {
          Enqueue(StatusReply(h, fast->status));
          return true;
        }
        if (FirstSliceCached(*fast->pin, 0, fast->length)) {
          Reply rep = GetReply(h, std::move(*fast));
          rep.pin_warm_first = true;
          Enqueue(std::move(rep));
          return true;
        }
      }
      asio::co_spawn(sock_.get_executor(),
                     PoolGet(shared_from_this(), h, std::move(m), r.svc, r.role), asio::detached);
      return true;
    }
    case Op::kPing:
      if (!ValidateRequestMeta(h.op, r.meta, &err)) break;
      Admit(h.request_id, h.op);
      Enqueue(PingReply(h, server_->name()));
      return true;
    default:
      if (!ValidateRequestMeta(h.op, r.meta, &err)) break;
      Admit(h.request_id, h.op);
      asio::co_spawn(sock_.get_executor(), PoolRequest(shared_from_this(), std::move(r)),
                     asio::detached);
      return true;
  }
  FinalError(h.request_id, h.op, err.status, err.message);
  return false;
}

awaitable<bool> Connection::DispatchPut(Request r) {
  const FrameHeader h = r.h;
  PutRequest m;
  WireError err;
  if (!DecodeMeta(r.meta, &m, &err)) {
    FinalError(h.request_id, h.op, err.status, err.message);
    co_return false;
  }
  WriteOptions wo = WriteOptionsOf(m.durability, m.condition, m.version);
  wo.metadata = std::move(m.metadata);
  const std::optional<uint64_t> len =
      h.chunked() ? std::nullopt : std::optional<uint64_t>(h.body_len);
  const uint64_t max_obj = server_->max_object_bytes();
  if (len.has_value() && *len > max_obj) {
    // The body is not read: the connection cannot carry on.
    FinalError(h.request_id, h.op, WireStatus::kLimitExceeded,
               "max_object_bytes: body is " + std::to_string(*len) + " bytes, limit " +
                   std::to_string(max_obj));
    co_return false;
  }
  service::ObjectService& svc = *r.svc;
  if (r.refusal.has_value()) {
    // Routing refused it (nothing is done): skip the body, or close for a chunked one.
    if (!len.has_value()) {
      FinalReply(std::move(*r.refusal));
      co_return false;
    }
    if (!co_await SkipBody(*len)) co_return false;
    Admit(h.request_id, h.op);
    Enqueue(std::move(*r.refusal));
    co_return true;
  }
  // A refused request whose frame is fine: skip its body and carry on (section 6).
  if (Status s = svc.CheckPut(m.key, wo, len); !s.ok()) {
    if (!len.has_value()) {
      FinalError(h.request_id, h.op, ToWireStatus(s), s.message() + " (chunked body not skipped)");
      co_return false;
    }
    if (!co_await SkipBody(*len)) co_return false;
    ReplyError(h, ToWireStatus(s), s.message());
    co_return true;
  }
  const bool stream = svc.ChoosePutPath(len) == service::PutPath::kStream;
  // A streamed replica write is applied while its body arrives: its place in the fence first,
  // refused as routing refuses (before the request is admitted: skip the body, or close).
  if (std::optional<Reply> stale; stream && !AdmitReplicaWrite(&r, &stale)) {
    if (!len.has_value()) {
      FinalReply(std::move(*stale));
      co_return false;
    }
    if (!co_await SkipBody(*len)) co_return false;
    Admit(h.request_id, h.op);
    Enqueue(std::move(*stale));
    co_return true;
  }
  Admit(h.request_id, h.op);
  if (stream) {
    bool fatal = false;
    co_await StreamPut(h, std::move(m), std::move(wo), &fatal, &svc);
    co_return !fatal;
  }
  std::string body;
  if (!co_await ReadBody(*len, &body)) co_return false;
  if (crc32c::Value(body) != h.body_crc) {
    ReplyError(h, WireStatus::kChecksumMismatch, "body CRC-32C mismatch; nothing was stored");
    co_return true;
  }
  if (std::optional<Reply> stale; !AdmitReplicaWrite(&r, &stale)) {
    Enqueue(std::move(*stale));
    co_return true;
  }
  if (StartPutOnLoop(h, m, wo, body, &svc, r.write_hold)) co_return true;
  asio::co_spawn(sock_.get_executor(),
                 PoolPut(shared_from_this(), h, std::move(m), std::move(wo), std::move(body), &svc,
                         std::move(r.write_hold)),
                 asio::detached);
  co_return true;
}

bool Connection::StartPutOnLoop(const FrameHeader& h, const PutRequest& m, WriteOptions& wo,
                                const std::string& body, service::ObjectService* svc,
                                std::shared_ptr<const void> hold) {
  const uint64_t id = h.request_id;
  const uint64_t size = body.size();
  const uint32_t crc = h.body_crc;
  auto done = [self = shared_from_this(), id, size, crc,
               hold = std::move(hold)](Result<WriteResult> r) {
    (void)hold;  // released with the callback, once the write is done
    // On the commit leader's thread: the reply is built and queued on the connection's loop.
    asio::post(self->sock_.get_executor(), [self, id, size, crc, r = std::move(r)]() mutable {
      FrameHeader req;
      req.op = Op::kPut;
      req.request_id = id;
      if (!r.ok()) return self->Enqueue(StatusReply(req, r.status()));
      WriteResult w = *r;
      w.size = size;  // checked against body_crc when it arrived
      w.crc32c = crc;
      self->Enqueue(WriteReply(req, w));
    });
  };
  Version held;
  wo.held_version_out = &held;  // set in place: the options (and metadata) are not copied
  // Writes the record on this (loop) thread and returns; no thread waits for the commit.
  Status s = svc->PutOnLoop(m.key, body, wo, std::move(done));
  wo.held_version_out = nullptr;
  if (s.IsBusy()) return false;  // it would have to wait: the pool path (Put)
  if (!s.ok()) {
    Enqueue(StatusReply(h, s, held));
    return true;
  }
  // One commit per loop turn: the kick is posted behind the handlers already queued (the other
  // connections' reads that are ready now), so their PUTs join the same group commit.
  thread_local bool kick_posted = false;  // one loop per thread
  if (!kick_posted) {
    kick_posted = true;
    asio::post(sock_.get_executor(), [svc] {
      kick_posted = false;
      svc->EndOfTurn();
    });
  }
  return true;
}

awaitable<void> Connection::PoolPut(std::shared_ptr<Connection> self, FrameHeader h,
                                    PutRequest m, WriteOptions wo, std::string body,
                                    service::ObjectService* service,
                                    std::shared_ptr<const void> hold) {
  (void)hold;  // a replica write's place in the DIGEST fence: released when this put is done
  Version held;
  wo.held_version_out = &held;
  service::ObjectService& svc = *service;
  // In sync mode Put returns only after the group commit covering it succeeded, so this
  // reply is a durable acknowledgement. Writers from every connection share commits.
  Result<WriteResult> r = co_await net::RunBlocking(
      self->server_->io_pool(), [&]() { return svc.Put(m.key, body, wo); });
  if (!r.ok()) {
    self->Enqueue(StatusReply(h, r.status(), held));
    co_return;
  }
  r->size = body.size();
  r->crc32c = h.body_crc;
  self->Enqueue(WriteReply(h, *r));
}

awaitable<void> Connection::StreamPut(const FrameHeader& h, PutRequest m, WriteOptions wo,
                                      bool* fatal, service::ObjectService* service) {
  const Limits& lim = server_->config().limits;
  // The pool thread owns the input buffer and the socket's read side until it returns.
  if (in_.size() < (64 << 10)) in_.resize(64 << 10);
  SocketBodySource src(sock_.native_handle(), &in_, &in_begin_, &in_end_, h.body_len,
                       h.body_crc, lim.max_chunk_bytes, server_->max_object_bytes(),
                       lim.idle_timeout_ms, &last_activity_ns_, &server_->counters().bytes_in);
  service::ObjectService& svc = *service;
  Version held;
  wo.held_version_out = &held;
  bool drained = true;
  Result<WriteResult> r = co_await net::RunBlocking(server_->io_pool(), [&]() {
    Result<WriteResult> st = svc.PutStream(m.key, &src, wo);
    if (!st.ok() && src.failure() == SocketBodySource::Failure::kNone) drained = src.DrainRest();
    return st;
  });
  using F = SocketBodySource::Failure;
  switch (src.failure()) {
    case F::kNone:
      if (!drained) {
        *fatal = true;
        dead_ = true;
        break;
      }
      if (r.ok()) {
        r->size = src.bytes();
        r->crc32c = src.crc();
        Enqueue(WriteReply(h, *r));
      } else {
        Enqueue(StatusReply(h, r.status(), held));
      }
      co_return;
    case F::kChecksum:
      ReplyError(h, WireStatus::kChecksumMismatch, src.failure_message() + "; nothing was stored");
      co_return;
    case F::kTimeout:
      timed_out_ = true;
      FinalError(h.request_id, h.op, WireStatus::kTimeout,
                 "idle_timeout_ms: the body stopped arriving; nothing was stored");
      break;
    case F::kFraming:
      FinalError(h.request_id, h.op, WireStatus::kProtocolError, src.failure_message());
      break;
    case F::kTooLarge:
      FinalError(h.request_id, h.op, WireStatus::kLimitExceeded, src.failure_message());
      break;
    case F::kPeerGone:
      spdlog::info("event=client_vanished_mid_body peer={} bytes={} key_len={}", peer_,
                   src.bytes(), m.key.size());
      dead_ = true;
      break;
  }
  // The request ends without a normal reply: release its slot.
  Abandon(h.request_id);
  *fatal = true;
}

awaitable<void> Connection::PoolGet(std::shared_ptr<Connection> self, FrameHeader h,
                                    GetRequest m, service::ObjectService* service,
                                    RoutingRole role) {
  service::ObjectService& svc = *service;
  Version deleted_at;
  service::GetOutcome o = co_await net::RunBlocking(self->server_->io_pool(), [&]() {
    service::GetOutcome out = svc.Get(m.key, {m.offset, m.length});
    // Bring the first slice into the page cache here, so the loop's sendfile never waits.
    if (out.status.ok() && out.pin != nullptr) WarmFirstSlice(*out.pin, out.offset, out.length);
    // A replica read of a deleted key says when it was deleted (section 9).
    if (out.status.IsNotFound() && role == RoutingRole::kReplica) {
      Result<ObjectInfo> v = svc.store()->HeadVersion(m.key);
      if (v.ok() && v->deleted) deleted_at = v->version;
    }
    return out;
  });
  if (!o.status.ok()) {
    self->Enqueue(StatusReply(h, o.status, deleted_at));
    co_return;
  }
  Reply r = GetReply(h, std::move(o));
  r.pin_warm_first = r.pin != nullptr;
  self->Enqueue(std::move(r));
}

awaitable<void> Connection::PoolRequest(std::shared_ptr<Connection> self, Request req) {
  const FrameHeader& h = req.h;
  service::ObjectService& svc = *req.svc;
  asio::thread_pool& pool = self->server_->io_pool();
  WireError err;
  switch (h.op) {
    case Op::kHead: {
      KeyRequest m;
      (void)DecodeMeta(req.meta, &m, &err);  // validated by Dispatch
      if (req.role == RoutingRole::kReplica) {
        // A replica reports a delete it holds: NotFound with the delete's version (section 9).
        Result<ObjectInfo> v = co_await net::RunBlocking(pool, [&]() {
          Status ks = svc.CheckKey(m.key);
          return ks.ok() ? svc.store()->HeadVersion(m.key) : Result<ObjectInfo>(ks);
        });
        if (v.ok() && v->deleted) {
          self->Enqueue(StatusReply(h, Status::NotFound("deleted"), v->version));
        } else {
          self->Enqueue(v.ok() ? HeadReply(h, *v) : StatusReply(h, v.status()));
        }
        co_return;
      }
      Result<ObjectInfo> info = co_await net::RunBlocking(pool, [&]() { return svc.Head(m.key); });
      self->Enqueue(info.ok() ? HeadReply(h, *info) : StatusReply(h, info.status()));
      co_return;
    }
    case Op::kDelete: {
      DeleteRequest m;
      (void)DecodeMeta(req.meta, &m, &err);
      WriteOptions wo = WriteOptionsOf(m.durability, m.condition, m.version);
      Version held;
      wo.held_version_out = &held;
      Result<WriteResult> r =
          co_await net::RunBlocking(pool, [&]() { return svc.Delete(m.key, wo); });
      self->Enqueue(r.ok() ? WriteReply(h, *r) : StatusReply(h, r.status(), held));
      co_return;
    }
    case Op::kList: {
      ListRequest m;
      (void)DecodeMeta(req.meta, &m, &err);
      ListOptions lo;
      lo.prefix = std::move(m.prefix);
      lo.delimiter = std::move(m.delimiter);
      lo.start_after = std::move(m.start_after);
      lo.limit = m.limit;
      Result<ListResult> l = co_await net::RunBlocking(pool, [&]() { return svc.List(lo); });
      self->Enqueue(l.ok() ? ListReply(h, *l) : StatusReply(h, l.status()));
      co_return;
    }
    case Op::kDigest: {
      ClusterHooks* cluster = self->server_->cluster();
      if (cluster == nullptr) {
        self->Enqueue(ErrorReply(h, WireStatus::kNotSupported,
                                 "DIGEST: this cairnd is not a cluster node"));
        co_return;
      }
      if (req.role != RoutingRole::kReplica) {
        self->Enqueue(ErrorReply(h, WireStatus::kPermissionDenied,
                                 "DIGEST is a replica operation: role replica and the cluster's "
                                 "member key"));
        co_return;
      }
      // The DIGEST fence: not while a replica write sent under an older map than the request's
      // can still land here (docs/cluster.md "Map transitions").
      Result<std::string> body = co_await net::RunBlocking(pool, [&]() -> Result<std::string> {
        if (uint64_t n = cluster->AwaitOlderWrites(req.epoch); n != 0)
          return Status::Unavailable("DIGEST fence: " + std::to_string(n) +
                                     " writes made under a map older than epoch " +
                                     std::to_string(req.epoch) +
                                     " are still being applied here; ask again");
        return cluster->Digest(req.meta);
      });
      self->Enqueue(body.ok() ? BodyReply(h, std::move(*body)) : StatusReply(h, body.status()));
      co_return;
    }
    case Op::kStat: {
      Result<StoreStats> st = co_await net::RunBlocking(pool, [&]() { return svc.Stats(); });
      if (!st.ok()) {
        self->Enqueue(StatusReply(h, st.status()));
        co_return;
      }
      // The serving process's counters join whatever the store reported (a cluster's own).
      for (auto& [name, v] : self->server_->Counters()) st->server[name] = v;
      if (ClusterHooks* cluster = self->server_->cluster()) cluster->AddStatCounters(&st->server);
      self->Enqueue(StatReply(h, *st));
      co_return;
    }
    default:
      break;
  }
  self->Enqueue(ErrorReply(h, WireStatus::kProtocolError, "unknown operation"));
}

}  // namespace cairn::server
