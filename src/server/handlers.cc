#include "server/handlers.h"

#include <nlohmann/json.hpp>

#include "cli/output.h"
#include "net/blocking.h"
#include "net/send_file.h"
#include "server/server.h"
#include "util/crc32c.h"

namespace cairn::server {

using namespace cairn::proto;
using net::asio::awaitable;

namespace {

// GET bodies warmed into the page cache in the same pool job as the lookup (the writer warms
// later slices itself).
constexpr uint64_t kFirstWarmBytes = 8 << 20;

// A reply to `req` whose head (header + meta) is encoded; the caller attaches the body.
Connection::Reply ReplyTo(const FrameHeader& req, WireStatus s, std::string_view meta,
                          uint64_t body_len, uint32_t body_crc) {
  Connection::Reply r;
  r.request_id = req.request_id;
  r.status = s;
  FrameHeader h;
  h.op = req.op;
  h.reply = true;
  h.status = s;
  h.request_id = req.request_id;
  h.meta_len = static_cast<uint32_t>(meta.size());
  h.body_len = body_len;
  h.body_crc = body_crc;
  AppendFrame(h, meta, &r.head);
  return r;
}

Connection::Reply OkReply(const FrameHeader& req, std::string_view meta, std::string body) {
  Connection::Reply r = ReplyTo(req, WireStatus::kOk, meta, body.size(),
                                body.empty() ? 0 : crc32c::Value(body));
  r.body = std::move(body);
  return r;
}


Connection::Reply FromStatus(const FrameHeader& req, const Status& s) {
  return ErrorReply(req, ToWireStatus(s), s.message());
}

ObjectMeta MetaOf(const ObjectInfo& i) {
  return ObjectMeta{i.size, i.crc32c, i.sequence, i.mtime_us};
}

// Returns an error reply for a key the server refuses, or nothing.
std::optional<Connection::Reply> CheckKey(Server* server, const FrameHeader& req,
                                          const std::string& key) {
  const uint32_t max = server->config().limits.max_key_bytes;
  if (key.empty())
    return ErrorReply(req, WireStatus::kInvalidArgument,
                 "key is empty; keys are 1 to " + std::to_string(max) + " bytes");
  if (key.size() > max)
    return ErrorReply(req, WireStatus::kLimitExceeded,
                 "max_key_bytes: key is " + std::to_string(key.size()) + " bytes, limit " +
                     std::to_string(max));
  return std::nullopt;
}

// The reply to a GET whose body is sent from the pinned extents; the first slice is in the
// page cache.
Connection::Reply GetOkReply(const FrameHeader& req, std::unique_ptr<PinnedObject> pin,
                             uint64_t offset, uint64_t length, uint32_t crc) {
  GetReply g;
  g.info = MetaOf(pin->info());
  g.range_offset = offset;
  std::string meta;
  EncodeMeta(g, &meta);
  Connection::Reply r = ReplyTo(req, WireStatus::kOk, meta, length, crc);
  r.pin = std::move(pin);
  r.pin_offset = offset;
  r.pin_length = length;
  r.pin_warm_first = true;
  return r;
}

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

awaitable<Connection::Reply> HandleGet(Server* server, const FrameHeader& req,
                                       const GetRequest& m) {
  if (auto e = CheckKey(server, req, m.key)) co_return std::move(*e);
  Store* store = server->store();
  struct Out {
    Status status;
    std::unique_ptr<PinnedObject> pin;
    uint64_t offset = 0, length = 0;
    uint32_t crc = 0;
  };
  Out o = co_await net::RunBlocking(server->io_pool(), [&]() {
    Out out;
    Result<std::unique_ptr<PinnedObject>> pin = store->PinObject(m.key);
    if (!pin.ok()) {
      out.status = pin.status();
      return out;
    }
    const ObjectInfo& info = (*pin)->info();
    if (m.offset > info.size) {
      out.status = Status::InvalidArgument("range starts past the end (offset " +
                                           std::to_string(m.offset) + ", size " +
                                           std::to_string(info.size) + ")");
      return out;
    }
    out.offset = m.offset;
    out.length = std::min<uint64_t>(m.length, info.size - m.offset);
    if (out.offset == 0 && out.length == info.size) {
      // A whole object: its stored CRC travels with it, the client verifies end to end.
      out.crc = info.crc32c;
    } else if (out.length > 0) {
      // A range: read and verify the records holding it; its fresh CRC travels with it.
      Result<uint32_t> crc = (*pin)->RangeCrc(out.offset, out.length);
      if (!crc.ok()) {
        out.status = crc.status();
        return out;
      }
      out.crc = *crc;
    }
    // Bring the first slice into the page cache here, so the loop's sendfile never waits.
    if (FirstSliceCached(**pin, out.offset, out.length)) {
      out.pin = std::move(*pin);
      return out;
    }
    uint64_t pos = 0, want = out.offset, left = std::min(out.length, kFirstWarmBytes);
    for (const ValueExtent& e : (*pin)->extents()) {
      if (left == 0) break;
      if (want < pos + e.length) {
        uint64_t n = std::min(left, pos + e.length - want);
        net::WarmFileRange(e.fd, e.offset + (want - pos), n);
        want += n;
        left -= n;
      }
      pos += e.length;
    }
    out.pin = std::move(*pin);
    return out;
  });
  if (!o.status.ok()) co_return FromStatus(req, o.status);
  co_return GetOkReply(req, std::move(o.pin), o.offset, o.length, o.crc);
}

}  // namespace

Connection::Reply ErrorReply(const FrameHeader& req, WireStatus s, std::string message) {
  std::string meta;
  if (message.size() > 4000) message.resize(4000);
  EncodeMeta(proto::ErrorReply{std::move(message)}, &meta);
  return ReplyTo(req, s, meta, 0, 0);
}

std::optional<Connection::Reply> TryGetFast(Server* server, const FrameHeader& h,
                                            const std::string& meta) {
  GetRequest m;
  WireError err;
  if (!DecodeMeta(meta, &m, &err) || m.offset != 0) return std::nullopt;
  if (m.key.empty() || m.key.size() > server->config().limits.max_key_bytes) return std::nullopt;
  Result<std::unique_ptr<PinnedObject>> pin = server->store()->TryPinObject(m.key);
  if (!pin.ok()) {
    if (pin.status().IsNotFound()) return FromStatus(h, pin.status());
    return std::nullopt;  // the pool path reports other errors
  }
  if (*pin == nullptr) return std::nullopt;  // would read the disk
  const uint64_t size = (*pin)->info().size;
  // A range needs its records read for a fresh CRC: the pool path does that.
  if (m.length < size) return std::nullopt;
  if (!FirstSliceCached(**pin, 0, size)) return std::nullopt;
  const uint32_t crc = (*pin)->info().crc32c;
  return GetOkReply(h, std::move(*pin), 0, size, crc);
}

WriteOptions WriteOptionsFor(uint8_t durability) {
  WriteOptions wo;
  if (durability != kDurabilityDefault) wo.durability = static_cast<Durability>(durability - 1);
  return wo;
}

Connection::Reply PutOkReply(const FrameHeader& req, uint64_t sequence, uint64_t size,
                             uint32_t crc) {
  std::string meta;
  EncodeMeta(PutReply{sequence, size, crc}, &meta);
  return OkReply(req, meta, "");
}

awaitable<Connection::Reply> HandleRequest(Server* server, FrameHeader h, std::string meta,
                                           std::string body) {
  WireError err;
  Store* store = server->store();
  net::asio::thread_pool& pool = server->io_pool();
  switch (h.op) {
    case Op::kPing: {
      std::string m;
      EncodeMeta(PingReply{kVersion, std::string("cairnd ") + CAIRN_VERSION}, &m);
      co_return OkReply(h, m, "");
    }
    case Op::kPut: {
      PutRequest m;
      (void)DecodeMeta(meta, &m, &err);
      uint64_t seq = 0;
      WriteOptions wo = WriteOptionsFor(m.durability);
      wo.sequence_out = &seq;
      // In sync mode Put returns only after the group commit covering it succeeded, so this
      // reply is a durable acknowledgement. Writers from every connection share commits.
      Status s = co_await net::RunBlocking(pool, [&]() { return store->Put(m.key, body, wo); });
      if (!s.ok()) co_return FromStatus(h, s);
      co_return PutOkReply(h, seq, body.size(), h.body_crc);
    }
    case Op::kGet: {
      GetRequest m;
      (void)DecodeMeta(meta, &m, &err);
      co_return co_await HandleGet(server, h, m);
    }
    case Op::kHead: {
      KeyRequest m;
      (void)DecodeMeta(meta, &m, &err);
      if (auto e = CheckKey(server, h, m.key)) co_return std::move(*e);
      Result<ObjectInfo> info =
          co_await net::RunBlocking(pool, [&]() { return store->Head(m.key); });
      if (!info.ok()) co_return FromStatus(h, info.status());
      std::string out;
      EncodeMeta(MetaOf(*info), &out);
      co_return OkReply(h, out, "");
    }
    case Op::kDelete: {
      DeleteRequest m;
      (void)DecodeMeta(meta, &m, &err);
      if (auto e = CheckKey(server, h, m.key)) co_return std::move(*e);
      WriteOptions wo = WriteOptionsFor(m.durability);
      Status s = co_await net::RunBlocking(pool, [&]() { return store->Delete(m.key, wo); });
      if (!s.ok()) co_return FromStatus(h, s);
      co_return OkReply(h, "", "");
    }
    case Op::kList: {
      ListRequest m;
      (void)DecodeMeta(meta, &m, &err);
      const uint32_t max = server->config().limits.max_list_limit;
      if (m.limit > max)
        co_return ErrorReply(h, WireStatus::kLimitExceeded,
                        "max_list_limit: limit " + std::to_string(m.limit) + " is over " +
                            std::to_string(max));
      if (m.prefix.size() > kMaxKeyBytes || m.start_after.size() > kMaxKeyBytes)
        co_return ErrorReply(h, WireStatus::kLimitExceeded,
                        "max_key_bytes: prefix or start_after is longer than 1024 bytes");
      size_t limit = m.limit == 0 ? std::min(kDefaultListLimit, max) : m.limit;
      Result<ScanResult> scan = co_await net::RunBlocking(
          pool, [&]() { return store->Scan(m.prefix, m.start_after, limit); });
      if (!scan.ok()) co_return FromStatus(h, scan.status());
      std::string body_out;
      for (const ObjectInfo& o : scan->objects) EncodeListEntry(ListEntry{o.key, MetaOf(o)}, &body_out);
      std::string out;
      EncodeMeta(ListReply{scan->truncated, static_cast<uint32_t>(scan->objects.size())}, &out);
      co_return OkReply(h, out, std::move(body_out));
    }
    case Op::kStat: {
      Result<StoreStats> st = co_await net::RunBlocking(pool, [&]() { return store->Stats(); });
      if (!st.ok()) co_return FromStatus(h, st.status());
      cli::Json j = cli::StatsJson(*st);
      j["server"] = cli::Json::parse(server->ServerStatsJson());
      co_return OkReply(h, "", j.dump());
    }
  }
  co_return ErrorReply(h, WireStatus::kProtocolError, "unknown operation");
}

}  // namespace cairn::server
