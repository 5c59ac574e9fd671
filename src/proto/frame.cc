#include "proto/frame.h"

#include <fmt/format.h>

#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn::proto {

const char* OpName(Op op) {
  switch (op) {
    case Op::kPing: return "PING";
    case Op::kPut: return "PUT";
    case Op::kGet: return "GET";
    case Op::kHead: return "HEAD";
    case Op::kDelete: return "DELETE";
    case Op::kList: return "LIST";
    case Op::kStat: return "STAT";
  }
  return "UNKNOWN";
}

const char* WireStatusName(WireStatus s) {
  switch (s) {
    case WireStatus::kOk: return "OK";
    case WireStatus::kNotFound: return "NotFound";
    case WireStatus::kInvalidArgument: return "InvalidArgument";
    case WireStatus::kCorruption: return "Corruption";
    case WireStatus::kIOError: return "IOError";
    case WireStatus::kNoSpace: return "NoSpace";
    case WireStatus::kBusy: return "Busy";
    case WireStatus::kReadOnly: return "ReadOnly";
    case WireStatus::kNotSupported: return "NotSupported";
    case WireStatus::kProtocolError: return "ProtocolError";
    case WireStatus::kUnsupportedVersion: return "UnsupportedVersion";
    case WireStatus::kLimitExceeded: return "LimitExceeded";
    case WireStatus::kChecksumMismatch: return "ChecksumMismatch";
    case WireStatus::kShuttingDown: return "ShuttingDown";
    case WireStatus::kTimeout: return "Timeout";
  }
  return "Unknown";
}

bool IsKnownWireStatus(uint16_t s) { return s <= 8 || (s >= 64 && s <= 69); }

bool ClosesConnection(WireStatus s) {
  return s == WireStatus::kProtocolError || s == WireStatus::kUnsupportedVersion ||
         s == WireStatus::kTimeout;
}

WireStatus ToWireStatus(const Status& s) { return static_cast<WireStatus>(s.code()); }

Status FromWireStatus(WireStatus s, std::string_view message) {
  std::string msg(message);
  switch (s) {
    case WireStatus::kOk: return Status::OK();
    case WireStatus::kNotFound: return Status::NotFound(msg);
    case WireStatus::kInvalidArgument: return Status::InvalidArgument(msg);
    case WireStatus::kCorruption: return Status::Corruption(msg);
    case WireStatus::kIOError: return Status::IOError(msg);
    case WireStatus::kNoSpace: return Status::NoSpace(msg);
    case WireStatus::kBusy: return Status::Busy(msg);
    case WireStatus::kReadOnly: return Status::ReadOnly(msg);
    case WireStatus::kNotSupported: return Status::NotSupported(msg);
    case WireStatus::kProtocolError: return Status::IOError("protocol error: " + msg);
    case WireStatus::kUnsupportedVersion:
      return Status::NotSupported("unsupported protocol version: " + msg);
    case WireStatus::kLimitExceeded: return Status::InvalidArgument(msg);
    case WireStatus::kChecksumMismatch: return Status::Corruption("checksum mismatch: " + msg);
    case WireStatus::kShuttingDown: return Status::Busy("server shutting down: " + msg);
    case WireStatus::kTimeout: return Status::IOError("timeout: " + msg);
  }
  return Status::IOError(fmt::format("unknown wire status {}: {}", static_cast<int>(s), msg));
}

namespace {

uint32_t HeaderCrc(const char* header, std::string_view meta) {
  uint32_t crc = crc32c::Value(header, kOffHeaderCrc);
  return crc32c::Extend(crc, meta.data(), meta.size());
}

bool Fail(WireError* err, WireStatus st, std::string msg) {
  err->status = st;
  err->message = std::move(msg);
  return false;
}

}  // namespace

void AppendFrame(const FrameHeader& h, std::string_view meta, std::string* out) {
  char b[kHeaderSize];
  EncodeFixed32(b + kOffMagic, kMagic);
  b[kOffVersion] = static_cast<char>(kVersion);
  b[kOffKind] = static_cast<char>(static_cast<uint8_t>(h.op) | (h.reply ? kReplyBit : 0));
  EncodeFixed16(b + kOffStatus, static_cast<uint16_t>(h.status));
  EncodeFixed64(b + kOffRequestId, h.request_id);
  EncodeFixed32(b + kOffMetaLen, static_cast<uint32_t>(meta.size()));
  EncodeFixed32(b + kOffFlags, h.flags);
  EncodeFixed64(b + kOffBodyLen, h.body_len);
  EncodeFixed32(b + kOffBodyCrc, h.body_crc);
  EncodeFixed32(b + kOffHeaderCrc, HeaderCrc(b, meta));
  out->append(b, kHeaderSize);
  out->append(meta);
}

std::string EncodeFrame(const FrameHeader& h, std::string_view meta) {
  std::string out;
  out.reserve(kHeaderSize + meta.size());
  AppendFrame(h, meta, &out);
  return out;
}

bool DecodeHeader(const char* p, uint32_t max_meta_bytes, FrameHeader* out, WireError* err) {
  *out = FrameHeader();
  uint32_t magic = DecodeFixed32(p + kOffMagic);
  if (magic != kMagic) {
    return Fail(err, WireStatus::kProtocolError,
                fmt::format("bad magic 0x{:08x} (expected 0x{:08x})", magic, kMagic));
  }
  out->request_id = DecodeFixed64(p + kOffRequestId);
  uint8_t version = static_cast<uint8_t>(p[kOffVersion]);
  if (version != kVersion) {
    return Fail(err, WireStatus::kUnsupportedVersion,
                fmt::format("protocol version {} is not supported (this side speaks {})",
                            version, kVersion));
  }
  uint8_t kind = static_cast<uint8_t>(p[kOffKind]);
  uint8_t code = kind & ~kReplyBit;
  if (code == 0 || code > kMaxOp) {
    return Fail(err, WireStatus::kProtocolError, fmt::format("unknown kind 0x{:02x}", kind));
  }
  out->op = static_cast<Op>(code);
  out->reply = (kind & kReplyBit) != 0;
  uint16_t status = DecodeFixed16(p + kOffStatus);
  if (!out->reply && status != 0) {
    return Fail(err, WireStatus::kProtocolError,
                fmt::format("status {} in a request (must be 0)", status));
  }
  if (!IsKnownWireStatus(status)) {
    return Fail(err, WireStatus::kProtocolError, fmt::format("unknown status {}", status));
  }
  out->status = static_cast<WireStatus>(status);
  out->flags = DecodeFixed32(p + kOffFlags);
  if ((out->flags & ~kKnownFlags) != 0) {
    return Fail(err, WireStatus::kProtocolError,
                fmt::format("unknown flags 0x{:08x}", out->flags & ~kKnownFlags));
  }
  out->meta_len = DecodeFixed32(p + kOffMetaLen);
  if (out->meta_len > max_meta_bytes) {
    return Fail(err, WireStatus::kLimitExceeded,
                fmt::format("max_meta_bytes: meta is {} bytes, limit {}", out->meta_len,
                            max_meta_bytes));
  }
  out->body_len = DecodeFixed64(p + kOffBodyLen);
  out->body_crc = DecodeFixed32(p + kOffBodyCrc);
  out->header_crc = DecodeFixed32(p + kOffHeaderCrc);
  if (out->chunked()) {
    if (out->reply || out->op != Op::kPut) {
      return Fail(err, WireStatus::kProtocolError, "CHUNKED is only allowed on a PUT request");
    }
    if (out->body_len != kChunkedBodyLen || out->body_crc != 0) {
      return Fail(err, WireStatus::kProtocolError,
                  "a CHUNKED frame must have body_len 0xffffffffffffffff and body_crc 0");
    }
  } else if (out->body_len == kChunkedBodyLen) {
    return Fail(err, WireStatus::kProtocolError, "body_len 0xffffffffffffffff without CHUNKED");
  }
  return true;
}

bool CheckHeaderCrc(const char* header, std::string_view meta, WireError* err) {
  uint32_t want = DecodeFixed32(header + kOffHeaderCrc);
  uint32_t got = HeaderCrc(header, meta);
  if (want != got) {
    return Fail(err, WireStatus::kProtocolError,
                fmt::format("header_crc mismatch: frame says 0x{:08x}, computed 0x{:08x}", want,
                            got));
  }
  return true;
}

}  // namespace cairn::proto
