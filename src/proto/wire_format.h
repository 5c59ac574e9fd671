// Wire-protocol constants. The specification is docs/protocol.md; keep them in step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cairn/object_store.h"

namespace cairn::proto {

inline constexpr uint32_t kMagic = 0x4E524143;  // bytes 43 41 52 4E, "CARN"
inline constexpr uint8_t kVersion = 2;
// The version before issue 15: refused, with a reply a version 1 client can read (section 2).
inline constexpr uint8_t kVersion1 = 1;
inline constexpr size_t kHeaderSize = 40;

// Offsets within the frame header (docs/protocol.md section 2).
inline constexpr size_t kOffMagic = 0;
inline constexpr size_t kOffVersion = 4;
inline constexpr size_t kOffKind = 5;
inline constexpr size_t kOffStatus = 6;
inline constexpr size_t kOffRequestId = 8;
inline constexpr size_t kOffMetaLen = 16;
inline constexpr size_t kOffFlags = 20;
inline constexpr size_t kOffBodyLen = 24;
inline constexpr size_t kOffBodyCrc = 32;
inline constexpr size_t kOffHeaderCrc = 36;

inline constexpr uint8_t kReplyBit = 0x80;
inline constexpr uint32_t kFlagChunked = 1u << 0;
// A request whose meta starts with the routing prefix (docs/protocol.md section 9: the cluster's
// map epoch, the sending node, the role). Requests only.
inline constexpr uint32_t kFlagRouted = 1u << 1;
inline constexpr uint32_t kKnownFlags = kFlagChunked | kFlagRouted;
inline constexpr size_t kRoutingPrefixSize = 8 + 2 + 1;  // u64 epoch, u16 sender, u8 role
inline constexpr uint64_t kChunkedBodyLen = ~uint64_t{0};
inline constexpr uint64_t kToEnd = ~uint64_t{0};  // GET length: to the end of the object

// Default limits (docs/protocol.md section 6). The server's config may change them.
// max_frame_meta_bytes: a frame's meta section (max_meta_bytes in version 1).
inline constexpr uint32_t kDefaultMaxFrameMetaBytes = 64 << 10;
// The largest max_frame_meta_bytes a server may be configured with; clients accept reply
// metas up to this.
inline constexpr uint32_t kMaxFrameMetaBytesLimit = 1 << 20;
// The smallest max_frame_meta_bytes a server may be configured with.
inline constexpr uint32_t kMinFrameMetaBytes = 4096;
// max_meta_bytes (an object's metadata) must leave this much of max_frame_meta_bytes for the
// rest of a PUT's meta (key, condition...), so an object within its limits fits in a frame.
inline constexpr uint32_t kFrameMetaReserveBytes = 4096;
inline constexpr uint32_t kMaxChunkBytes = 4 << 20;
// List limits: cairn::kDefaultListLimit and cairn::kMaxListLimit (cairn/object_store.h).

// Sizes of fixed meta layouts.
inline constexpr size_t kVersionSize = 8 + 4;  // u64 hlc, u32 writer
// Object info without its metadata bytes: size, crc32c, sequence, mtime_us, version, the
// metadata blob's length.
inline constexpr size_t kObjectInfoSize = 8 + 4 + 8 + 8 + kVersionSize + 4;
inline constexpr size_t kWriteResultSize = kVersionSize + 8 + 8 + 4;
inline constexpr uint8_t kMaxCondition = 3;  // WriteCondition::kIfNewer

// Authentication (section 8): raw bytes of a nonce and of a proof (HMAC-SHA256), and the first
// bytes of every transcript (with their terminating zero byte).
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kProofBytes = 32;
inline constexpr std::string_view kAuthLabel{"cairn-auth-v2\0", 14};

}  // namespace cairn::proto
