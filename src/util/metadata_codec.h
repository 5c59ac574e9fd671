// The encoded form of ObjectMetadata, shared by the record format (docs/format.md, "Metadata")
// and the wire protocol (docs/protocol.md): one canonical byte string per metadata value, so
// equal metadata encodes to equal bytes. Pure functions.
//
//   empty metadata            -> 0 bytes
//   otherwise                 u8 format (1), then entries to the end:
//     u8 kind  (1 content-type, 2 md5, 3 user pair, 4 system pair)
//     u8 name_len, u16 value_len (little-endian), name, value
//   content-type and md5 have an empty name and appear at most once, first and in that order;
//   md5 is 16 bytes; pair names are 1..255 bytes, strictly increasing within their kind.
#pragma once

#include <string>
#include <string_view>

#include "cairn/object_store.h"

namespace cairn {

inline constexpr uint8_t kMetadataFormat = 1;
inline constexpr size_t kMaxMetaNameBytes = 255;
inline constexpr size_t kMaxMetaValueBytes = 65535;

// Checks the bounds (names, values, md5 length) and the encoded size against max_meta_bytes:
// InvalidArgument naming the bad field, or LimitExceeded naming max_meta_bytes.
Status CheckMetadata(const ObjectMetadata& m, size_t max_meta_bytes = kDefaultMaxMetaBytes);
// Appends the encoding. REQUIRES: CheckMetadata(m, any limit) passed for the bounds.
void AppendMetadata(const ObjectMetadata& m, std::string* out);
std::string EncodeMetadata(const ObjectMetadata& m);
// Strict: Corruption naming what is wrong for anything AppendMetadata would not produce.
Status DecodeMetadata(std::string_view in, ObjectMetadata* m);

}  // namespace cairn
