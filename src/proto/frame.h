// Frames of the wire protocol (docs/protocol.md): the 40-byte header, the status codes, and
// how they map to cairn::Status. Pure encode/decode: no I/O, no allocation beyond the output
// strings. Every decoder accepts arbitrary bytes and fails with a WireError, never a crash
// (fuzzed by fuzz/wire_fuzz.cc).
//
// Thread safety: free functions with no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/status.h"
#include "proto/wire_format.h"

namespace cairn::proto {

enum class Op : uint8_t {
  kPing = 1,
  kPut = 2,
  kGet = 3,
  kHead = 4,
  kDelete = 5,
  kList = 6,
  kStat = 7,
  kHello = 8,  // authentication, section 8
  kAuth = 9,
  // Anti-entropy between cluster nodes (issue 12, section 10): role replica only. Its meta and
  // reply body are specified in section 10 and owned by the cluster (src/cluster/
  // anti_entropy_format.h, anti_entropy_wire.h).
  kDigest = 10,
};
inline constexpr uint8_t kMaxOp = 10;
const char* OpName(Op op);

// docs/protocol.md section 5. Codes below 64 are cairn::Status codes one for one (the table in
// util/status_table.h); 64 and up exist only on the wire. 66 was LimitExceeded in version 1
// and is not used since: LimitExceeded is 13, a Status code like the others.
enum class WireStatus : uint16_t {
  kOk = 0,
  kNotFound = 1,
  kInvalidArgument = 2,
  kCorruption = 3,
  kIOError = 4,
  kNoSpace = 5,
  kBusy = 6,
  kReadOnly = 7,
  kNotSupported = 8,
  kUnavailable = 9,
  kDeadlineExceeded = 10,
  kConflict = 11,
  kPermissionDenied = 12,
  kLimitExceeded = 13,
  kProtocolError = 64,
  kUnsupportedVersion = 65,
  kChecksumMismatch = 67,
  kShuttingDown = 68,
  kTimeout = 69,
  // A routed request carried a map epoch older than the node's; the error meta carries the
  // node's epoch (docs/protocol.md section 9). Nothing was done.
  kStaleEpoch = 70,
};
const char* WireStatusName(WireStatus s);
// Whether a status known on the wire (a receiver treats an unknown one as ProtocolError).
bool IsKnownWireStatus(uint16_t s);
// Whether the server closes the connection after replying with this status (PermissionDenied:
// the handshake failed, docs/protocol.md section 8).
bool ClosesConnection(WireStatus s);

// Through the status table (util/status_table.h).
WireStatus ToWireStatus(const Status& s);
// The cairn::Status a client returns for a reply. Codes below 64 come back as the code the
// server sent. The wire-only ones map to what the caller should do, with the wire name kept in
// the message (docs/protocol.md section 5): ProtocolError -> IOError, UnsupportedVersion ->
// NotSupported, ChecksumMismatch -> Corruption, ShuttingDown -> Unavailable, Timeout ->
// Unavailable.
Status FromWireStatus(WireStatus s, std::string_view message);

// Why a frame or a meta section was refused, and what to reply.
struct WireError {
  WireStatus status = WireStatus::kOk;
  std::string message;
};

struct FrameHeader {
  // kVersion in every frame this side sends, except the UnsupportedVersion reply to a
  // version 1 frame (kVersion1). DecodeHeader fills it in even when it refuses the version.
  uint8_t version = kVersion;
  Op op = Op::kPing;
  bool reply = false;
  WireStatus status = WireStatus::kOk;
  uint64_t request_id = 0;
  uint32_t meta_len = 0;
  uint32_t flags = 0;
  uint64_t body_len = 0;
  uint32_t body_crc = 0;
  uint32_t header_crc = 0;  // filled in by EncodeHeader / DecodeHeader

  bool chunked() const { return (flags & kFlagChunked) != 0; }
  bool routed() const { return (flags & kFlagRouted) != 0; }
};

// Writes the 40 header bytes for `h` followed by `meta` to *out (appending), computing
// header_crc. h.meta_len is ignored: meta.size() is used.
void AppendFrame(const FrameHeader& h, std::string_view meta, std::string* out);
std::string EncodeFrame(const FrameHeader& h, std::string_view meta);

// Building a frame in place, with no separate meta buffer: BeginFrame reserves the header in
// *out and returns where the frame starts; the caller appends the meta to *out; FinishFrame
// writes the header (meta_len = the bytes appended since, header_crc over header and meta).
size_t BeginFrame(std::string* out);
void FinishFrame(const FrameHeader& h, size_t frame_start, std::string* out);

// Decodes the fixed header at p[0..kHeaderSize). Checks magic, version, kind, status (in a
// reply), flags, meta_len <= max_frame_meta_bytes and chunked/body_len consistency, in that
// order. Does not check header_crc: that needs the meta (CheckHeaderCrc). On failure returns
// false and fills *err; err->status is ProtocolError, UnsupportedVersion or LimitExceeded. Even
// then out->request_id and out->version hold the frame's when the magic was right, so the
// error reply can name the id (and answer a version 1 frame in version 1).
bool DecodeHeader(const char* p, uint32_t max_frame_meta_bytes, FrameHeader* out,
                  WireError* err);

// Checks header_crc over the 36 header bytes and the meta.
bool CheckHeaderCrc(const char* header, std::string_view meta, WireError* err);

}  // namespace cairn::proto
