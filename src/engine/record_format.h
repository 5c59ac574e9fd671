// Record format constants. The specification is docs/format.md section 3.2; keep them in step.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cairn::format {

inline constexpr uint32_t kRecordMagic = 0x4E52A1C3;  // bytes c3 a1 52 4e
inline constexpr uint8_t kRecordVersion = 1;
inline constexpr size_t kRecordHeaderSize = 40;
inline constexpr size_t kRecordAlign = 8;

// Offsets within the record header.
inline constexpr size_t kOffMagic = 0;
inline constexpr size_t kOffVersion = 4;
inline constexpr size_t kOffType = 5;
inline constexpr size_t kOffKeyLen = 6;
inline constexpr size_t kOffValueLen = 8;
inline constexpr size_t kOffSequence = 16;
inline constexpr size_t kOffTimestamp = 24;
inline constexpr size_t kOffValueCrc = 32;
inline constexpr size_t kOffHeaderCrc = 36;

enum class RecordType : uint8_t {
  kValue = 1,      // a whole object
  kTombstone = 2,  // the key was deleted
  kChunk = 3,      // a piece of a large object; referenced by a manifest
  kManifest = 4,   // lists the chunks of a large object
};

// Bit 7 of the type byte: the record is a copy made by compaction (docs/format.md 3.2). It keeps
// the original's sequence number, timestamp and value; only its place (and so its header CRC)
// differs.
inline constexpr uint8_t kRelocatedFlag = 0x80;

inline constexpr size_t kMaxKeyBytes = 1024;
inline constexpr uint64_t kMaxChunkBytes = uint64_t{4} << 20;
// A manifest entry: volume_id u32, value_len u32, offset u64.
inline constexpr size_t kManifestHeaderSize = 16;
inline constexpr size_t kManifestEntrySize = 16;

}  // namespace cairn::format
