#include "server/replies.h"

#include <fmt/format.h>

#include "proto/stat_body.h"
#include "util/crc32c.h"

namespace cairn::server {

using namespace cairn::proto;

namespace {

// A reply to `req` whose meta the caller appends between Begin and Finish; one allocation.
struct Builder {
  Reply r;
  size_t start;
  explicit Builder(const FrameHeader& req, WireStatus s = WireStatus::kOk) {
    r.request_id = req.request_id;
    r.status = s;
    r.head.reserve(kHeaderSize + 64);
    start = BeginFrame(&r.head);
  }
  std::string* meta() { return &r.head; }
  Reply Finish(const FrameHeader& req, uint64_t body_len, uint32_t body_crc, uint8_t version = kVersion) {
    FrameHeader h;
    h.version = version;
    h.op = req.op;
    h.reply = true;
    h.status = r.status;
    h.request_id = req.request_id;
    h.body_len = body_len;
    h.body_crc = body_crc;
    FinishFrame(h, start, &r.head);
    return std::move(r);
  }
};

Reply WithBody(Builder& b, const FrameHeader& req, std::string body) {
  const uint32_t crc = body.empty() ? 0 : crc32c::Value(body);
  const uint64_t n = body.size();
  Reply r = b.Finish(req, n, crc);
  r.body = std::move(body);
  return r;
}

}  // namespace

Reply ErrorReply(const FrameHeader& req, WireStatus s, std::string_view message,
                 const Version& held, uint64_t epoch) {
  Builder b(req, s);
  proto::ErrorReply m;
  m.message.assign(message.substr(0, 4000));
  m.held = held;
  m.epoch = epoch;
  EncodeMeta(m, b.meta());
  return b.Finish(req, 0, 0);
}

Reply StatusReply(const FrameHeader& req, const Status& s, const Version& held) {
  return ErrorReply(req, ToWireStatus(s), s.message(),
                    s.IsConflict() || s.IsNotFound() ? held : Version());
}

Reply UnsupportedVersionReply(const FrameHeader& req) {
  const std::string message =
      fmt::format("protocol version {} is not supported; this server speaks version {}",
                  req.version, kVersion);
  if (req.version != kVersion1) return ErrorReply(req, WireStatus::kUnsupportedVersion, message);
  // The one frame of version 1 this server sends: the header is the same, the error meta a
  // string only, so a version 1 client reads it and shows the message.
  Builder b(req, WireStatus::kUnsupportedVersion);
  EncodeErrorMetaV1(message, b.meta());
  return b.Finish(req, 0, 0, kVersion1);
}

Reply PingReply(const FrameHeader& req, std::string_view server_name) {
  Builder b(req);
  EncodeMeta(proto::PingReply{kVersion, std::string(server_name)}, b.meta());
  return b.Finish(req, 0, 0);
}

Reply WriteReply(const FrameHeader& req, const WriteResult& w) {
  Builder b(req);
  EncodeMeta(w, b.meta());
  return b.Finish(req, 0, 0);
}

Reply GetReply(const FrameHeader& req, service::GetOutcome o) {
  Builder b(req);
  EncodeGetReply(o.info(), o.offset, b.meta());
  Reply r = b.Finish(req, o.length, o.crc);
  if (o.pin != nullptr) {
    r.pin = std::move(o.pin);
    r.pin_offset = o.offset;
    r.pin_length = o.length;
  } else if (o.reader != nullptr) {
    r.reader = std::move(o.reader);
    r.reader_length = o.length;
  } else {
    r.body = std::move(o.bytes->data);
  }
  return r;
}

Reply HeadReply(const FrameHeader& req, const ObjectInfo& info) {
  Builder b(req);
  EncodeMeta(info, b.meta());
  return b.Finish(req, 0, 0);
}

Reply ListReply(const FrameHeader& req, const ListResult& l) {
  std::string body;
  for (const ObjectInfo& o : l.objects) EncodeListEntry(o, &body);
  for (const std::string& p : l.common_prefixes) EncodeListPrefix(p, &body);
  Builder b(req);
  proto::ListReply m;
  m.truncated = l.truncated;
  m.count = static_cast<uint32_t>(l.objects.size());
  m.prefix_count = static_cast<uint32_t>(l.common_prefixes.size());
  m.next_start_after = l.next_start_after;
  EncodeMeta(m, b.meta());
  return WithBody(b, req, std::move(body));
}

Reply StatReply(const FrameHeader& req, const StoreStats& s) {
  Builder b(req);
  return WithBody(b, req, EncodeStatBody(s));
}

Reply BodyReply(const FrameHeader& req, std::string body) {
  Builder b(req);
  return WithBody(b, req, std::move(body));
}

Reply HelloReply(const FrameHeader& req, const proto::HelloReply& m) {
  Builder b(req);
  EncodeMeta(m, b.meta());
  return b.Finish(req, 0, 0);
}

Reply AuthOkReply(const FrameHeader& req) {
  Builder b(req);
  return b.Finish(req, 0, 0);
}

}  // namespace cairn::server
