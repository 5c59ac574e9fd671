// Record format constants. The specification is docs/format.md section 3.2 (format 2) and 3.2.1
// (format 1, still read); keep them in step.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cairn::format {

inline constexpr uint32_t kRecordMagic = 0x4E52A1C3;  // bytes c3 a1 52 4e
// The record format byte (offset 4). This build writes format 2; compaction copies a format-1
// record as format 1.
inline constexpr uint8_t kRecordFormat1 = 1;
inline constexpr uint8_t kRecordFormat2 = 2;
inline constexpr uint8_t kRecordFormat = kRecordFormat2;
inline constexpr size_t kRecordHeaderSizeV1 = 40;
inline constexpr size_t kRecordHeaderSizeV2 = 56;
// What a scanner must read to tell the format: every header is at least this long.
inline constexpr size_t kMinRecordHeaderSize = kRecordHeaderSizeV1;
inline constexpr size_t kMaxRecordHeaderSize = kRecordHeaderSizeV2;
inline constexpr size_t kRecordAlign = 8;

// Offsets within the record header, both formats.
inline constexpr size_t kOffMagic = 0;
inline constexpr size_t kOffFormat = 4;
inline constexpr size_t kOffType = 5;
inline constexpr size_t kOffKeyLen = 6;
inline constexpr size_t kOffValueLen = 8;
inline constexpr size_t kOffSequence = 16;
inline constexpr size_t kOffTimestamp = 24;
// Format 2.
inline constexpr size_t kOffVersionHlc = 32;
inline constexpr size_t kOffVersionWriter = 40;
inline constexpr size_t kOffMetaLen = 44;
inline constexpr size_t kOffValueCrc = 48;
inline constexpr size_t kOffHeaderCrc = 52;
// Format 1.
inline constexpr size_t kOffValueCrcV1 = 32;
inline constexpr size_t kOffHeaderCrcV1 = 36;

enum class RecordType : uint8_t {
  kValue = 1,      // a whole object
  kTombstone = 2,  // the key was deleted
  kChunk = 3,      // a piece of a large object; referenced by a manifest
  kManifest = 4,   // lists the chunks of a large object
};

// Bit 7 of the type byte: the record is a copy made by compaction (docs/format.md 3.2). It keeps
// the original's format, sequence number, timestamp, version, metadata and value; only its place
// (and so its header CRC) differs.
inline constexpr uint8_t kRelocatedFlag = 0x80;

inline constexpr size_t kMaxKeyBytes = 1024;
inline constexpr uint64_t kMaxChunkBytes = uint64_t{4} << 20;
// The most metadata a record can hold (format 2, meta_len). StoreOptions::max_meta_bytes, the
// limit writes are held to, is at most this.
inline constexpr uint64_t kMaxRecordMetaBytes = uint64_t{64} << 10;
// A manifest entry: volume_id u32, value_len u32, offset u64.
inline constexpr size_t kManifestHeaderSize = 16;
inline constexpr size_t kManifestEntrySize = 16;

}  // namespace cairn::format
