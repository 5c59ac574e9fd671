#include "proto/frame.h"

#include <fmt/format.h>

#include <iterator>

#include "util/check.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/status_table.h"

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
    case Op::kHello: return "HELLO";
    case Op::kAuth: return "AUTH";
    case Op::kDigest: return "DIGEST";
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
    case WireStatus::kUnavailable: return "Unavailable";
    case WireStatus::kDeadlineExceeded: return "DeadlineExceeded";
    case WireStatus::kConflict: return "Conflict";
    case WireStatus::kPermissionDenied: return "PermissionDenied";
    case WireStatus::kLimitExceeded: return "LimitExceeded";
    case WireStatus::kProtocolError: return "ProtocolError";
    case WireStatus::kUnsupportedVersion: return "UnsupportedVersion";
    case WireStatus::kChecksumMismatch: return "ChecksumMismatch";
    case WireStatus::kShuttingDown: return "ShuttingDown";
    case WireStatus::kTimeout: return "Timeout";
    case WireStatus::kStaleEpoch: return "StaleEpoch";
  }
  return "Unknown";
}

bool IsKnownWireStatus(uint16_t s) {
  return FindStatusRowByWire(s) != nullptr || (s >= 64 && s <= 70 && s != 66);
}

bool ClosesConnection(WireStatus s) {
  return s == WireStatus::kProtocolError || s == WireStatus::kUnsupportedVersion ||
         s == WireStatus::kTimeout || s == WireStatus::kPermissionDenied;
}

// The enum names the table's wire statuses; they must agree.
constexpr bool WireEnumMatchesTable() {
  constexpr WireStatus named[] = {
      WireStatus::kOk,          WireStatus::kNotFound,         WireStatus::kInvalidArgument,
      WireStatus::kCorruption,  WireStatus::kIOError,          WireStatus::kNoSpace,
      WireStatus::kBusy,        WireStatus::kReadOnly,         WireStatus::kNotSupported,
      WireStatus::kUnavailable, WireStatus::kDeadlineExceeded, WireStatus::kConflict,
      WireStatus::kPermissionDenied, WireStatus::kLimitExceeded};
  if (std::size(named) != kStatusTable.size()) return false;
  for (size_t i = 0; i < kStatusTable.size(); i++)
    if (static_cast<uint16_t>(named[i]) != kStatusTable[i].wire) return false;
  return true;
}
static_assert(WireEnumMatchesTable(), "proto::WireStatus and util/status_table.h disagree");

WireStatus ToWireStatus(const Status& s) {
  const StatusRow* row = FindStatusRow(s.code());
  CAIRN_CHECK(row != nullptr);  // every code has a row (status_table_test)
  return static_cast<WireStatus>(row->wire);
}

Status FromWireStatus(WireStatus s, std::string_view message) {
  std::string msg(message);
  if (const StatusRow* row = FindStatusRowByWire(static_cast<uint16_t>(s)))
    return Status::FromCode(row->code, msg);
  switch (s) {
    case WireStatus::kProtocolError: return Status::IOError("protocol error: " + msg);
    case WireStatus::kUnsupportedVersion:
      return Status::NotSupported("unsupported protocol version: " + msg);
    case WireStatus::kChecksumMismatch: return Status::Corruption("checksum mismatch: " + msg);
    case WireStatus::kShuttingDown: return Status::Unavailable("server shutting down: " + msg);
    case WireStatus::kTimeout: return Status::Unavailable("the server timed out the connection: " + msg);
    case WireStatus::kStaleEpoch: return Status::Unavailable("stale cluster map: " + msg);
    default: break;
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

namespace {

// The 36 bytes before header_crc.
void EncodeHeaderFields(const FrameHeader& h, uint32_t meta_len, char* b) {
  EncodeFixed32(b + kOffMagic, kMagic);
  b[kOffVersion] = static_cast<char>(h.version);
  b[kOffKind] = static_cast<char>(static_cast<uint8_t>(h.op) | (h.reply ? kReplyBit : 0));
  EncodeFixed16(b + kOffStatus, static_cast<uint16_t>(h.status));
  EncodeFixed64(b + kOffRequestId, h.request_id);
  EncodeFixed32(b + kOffMetaLen, meta_len);
  EncodeFixed32(b + kOffFlags, h.flags);
  EncodeFixed64(b + kOffBodyLen, h.body_len);
  EncodeFixed32(b + kOffBodyCrc, h.body_crc);
}

}  // namespace

void AppendFrame(const FrameHeader& h, std::string_view meta, std::string* out) {
  char b[kHeaderSize];
  EncodeHeaderFields(h, static_cast<uint32_t>(meta.size()), b);
  EncodeFixed32(b + kOffHeaderCrc, HeaderCrc(b, meta));
  out->append(b, kHeaderSize);
  out->append(meta);
}

size_t BeginFrame(std::string* out) {
  const size_t start = out->size();
  out->resize(start + kHeaderSize);
  return start;
}

void FinishFrame(const FrameHeader& h, size_t frame_start, std::string* out) {
  CAIRN_CHECK(out->size() >= frame_start + kHeaderSize);
  char* b = out->data() + frame_start;
  const std::string_view meta(b + kHeaderSize, out->size() - frame_start - kHeaderSize);
  EncodeHeaderFields(h, static_cast<uint32_t>(meta.size()), b);
  EncodeFixed32(b + kOffHeaderCrc, HeaderCrc(b, meta));
}

std::string EncodeFrame(const FrameHeader& h, std::string_view meta) {
  std::string out;
  out.reserve(kHeaderSize + meta.size());
  AppendFrame(h, meta, &out);
  return out;
}

bool DecodeHeader(const char* p, uint32_t max_frame_meta_bytes, FrameHeader* out,
                  WireError* err) {
  *out = FrameHeader();
  uint32_t magic = DecodeFixed32(p + kOffMagic);
  if (magic != kMagic) {
    return Fail(err, WireStatus::kProtocolError,
                fmt::format("bad magic 0x{:08x} (expected 0x{:08x})", magic, kMagic));
  }
  out->request_id = DecodeFixed64(p + kOffRequestId);
  out->version = static_cast<uint8_t>(p[kOffVersion]);
  if (out->version != kVersion) {
    // The kind byte sits where it always did: the refusal can answer the same operation.
    const uint8_t code = static_cast<uint8_t>(p[kOffKind]) & ~kReplyBit;
    if (code >= 1 && code <= kMaxOp) out->op = static_cast<Op>(code);
    return Fail(err, WireStatus::kUnsupportedVersion,
                fmt::format("protocol version {} is not supported; this side speaks version {}",
                            out->version, kVersion));
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
  if (out->meta_len > max_frame_meta_bytes) {
    return Fail(err, WireStatus::kLimitExceeded,
                fmt::format("max_frame_meta_bytes: the frame's meta is {} bytes, limit {}",
                            out->meta_len, max_frame_meta_bytes));
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
