// Record encoding and validation (docs/format.md 3.2). Pure functions: no I/O, no state.
//
// A record is valid only at the (volume salt, offset) where it was written: both seed the
// header CRC, so misplaced or foreign bytes never validate. Two formats are read: format 2
// (written by this build: a version and metadata in the head) and format 1 (stores written
// before issue 15). The **head** of a record is its header, key and metadata; the header CRC
// covers all of it, so a read of the head alone validates it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/object_store.h"
#include "cairn/status.h"
#include "engine/record_format.h"

namespace cairn {

using format::RecordType;

// The fixed header's size in `record_format` (1 or 2).
inline size_t RecordHeaderSize(uint8_t record_format) {
  return record_format == format::kRecordFormat1 ? format::kRecordHeaderSizeV1
                                                 : format::kRecordHeaderSizeV2;
}

// Bytes a record occupies, padding included.
inline uint64_t RecordLength(uint8_t record_format, uint64_t key_len, uint64_t meta_len,
                             uint64_t value_len) {
  return (RecordHeaderSize(record_format) + key_len + meta_len + value_len +
          format::kRecordAlign - 1) /
         format::kRecordAlign * format::kRecordAlign;
}

// A format-1 record's version, derived from its timestamp (docs/format.md 3.2.1).
inline Version DerivedVersion(uint64_t timestamp_us) {
  return Version{(timestamp_us / 1000) << Version::kLogicalBits, 0};
}

// Which of two writes of one key is newer (docs/format.md section 5): both format 2, by version;
// both format 1, by sequence; otherwise the format-2 one. 0: the same write (a relocated copy).
inline int CompareWrites(uint8_t format_a, const Version& version_a, uint64_t sequence_a,
                         uint8_t format_b, const Version& version_b, uint64_t sequence_b) {
  if (format_a != format_b) return format_a < format_b ? -1 : 1;
  if (format_a == format::kRecordFormat1)
    return sequence_a < sequence_b ? -1 : sequence_a > sequence_b ? 1 : 0;
  return version_a < version_b ? -1 : version_a > version_b ? 1 : 0;
}

struct RecordHeader {
  uint8_t format = format::kRecordFormat;
  RecordType type = RecordType::kValue;
  bool relocated = false;  // a copy written by compaction (format::kRelocatedFlag)
  uint16_t key_len = 0;
  uint32_t meta_len = 0;   // always 0 in format 1
  uint64_t value_len = 0;
  uint64_t sequence = 0;
  uint64_t timestamp_us = 0;
  // Format 2: as written (none for a chunk). Format 1: DerivedVersion(timestamp_us).
  Version version;
  uint32_t value_crc = 0;

  size_t header_size() const { return RecordHeaderSize(format); }
  // Header, key and metadata.
  uint64_t head_len() const { return header_size() + key_len + meta_len; }
  uint64_t record_len() const { return RecordLength(format, key_len, meta_len, value_len); }
};

// The blocks hole punching may release in a dead record at `offset` of `record_len` bytes whose
// head is `head_len` bytes: the whole 4 KiB blocks after its head, so that what a scanner (and
// the change feed) needs stays readable. Empty (begin >= end) when there is no such block.
struct PunchRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t bytes() const { return end > begin ? end - begin : 0; }
};
inline constexpr uint64_t kPunchBlock = 4096;
inline PunchRange PunchableRange(uint64_t offset, uint64_t head_len, uint64_t record_len) {
  uint64_t b = (offset + head_len + kPunchBlock - 1) / kPunchBlock * kPunchBlock;
  uint64_t e = (offset + record_len) / kPunchBlock * kPunchBlock;
  return PunchRange{b, e > b ? e : b};
}

// Writes the h.header_size() bytes of the header for `h`, `key` and `meta` into out, computing
// the header CRC with `salt` and `offset` (over the header, the key and the metadata).
// REQUIRES: key.size() == h.key_len, meta.size() == h.meta_len; format 1: meta is empty.
void EncodeRecordHeader(const RecordHeader& h, std::string_view key, std::string_view meta,
                        uint64_t salt, uint64_t offset, char* out);

// Appends a whole record (header, key, metadata, value, zero padding) to *dst. Fills in
// h.key_len, h.meta_len, h.value_len and h.value_crc from the arguments.
void AppendRecord(RecordHeader h, std::string_view key, std::string_view meta,
                  std::string_view value, uint64_t salt, uint64_t offset, std::string* dst);

enum class HeaderCheck {
  kValid,    // the fields check (and, where asked, the header CRC)
  kZero,     // the first kMinRecordHeaderSize bytes are zero: unwritten space
  kInvalid,  // anything else
};

// Checks the fixed fields of the header in buf[0..avail): magic, format, type, the key, metadata
// and value length bounds, and the rules by type. REQUIRES avail >= kMinRecordHeaderSize. A
// format-2 header needs 56 bytes: with fewer, kInvalid. The CRC is not checked: kValid means
// "plausible". On kValid fills *h.
HeaderCheck PeekRecordHeader(const char* buf, size_t avail, RecordHeader* h);

// Checks the header CRC of a record whose head (h.head_len() bytes: header, key, metadata) is at
// `head`. REQUIRES: PeekRecordHeader filled h from the same bytes.
bool CheckRecordHeadCrc(const char* head, const RecordHeader& h, uint64_t salt, uint64_t offset);

// PeekRecordHeader, then the header CRC if buf[0..avail) holds the whole head (kInvalid if it
// does not). On kValid fills *h, and *key and *meta (views into buf) when not null.
HeaderCheck DecodeRecordHead(const char* buf, size_t avail, uint64_t salt, uint64_t offset,
                             RecordHeader* h, std::string_view* key = nullptr,
                             std::string_view* meta = nullptr);

// Validates a complete record in `rec` (at least its record_len bytes) written at `offset` of a
// volume with `salt`: head and value CRC. On success fills *h, *key, *meta and *value (views into
// rec). Corruption names what failed.
Status ParseRecord(std::string_view rec, uint64_t salt, uint64_t offset, RecordHeader* h,
                   std::string_view* key, std::string_view* meta, std::string_view* value);

// Manifest payload (docs/format.md 3.4).
struct ChunkRef {
  uint32_t volume = 0;
  uint32_t value_len = 0;
  uint64_t offset = 0;
};
struct Manifest {
  uint64_t object_size = 0;
  uint32_t object_crc = 0;
  std::vector<ChunkRef> chunks;
};
std::string EncodeManifest(const Manifest& m);
Status DecodeManifest(std::string_view payload, Manifest* m);

#ifdef CAIRN_FUZZING
// Fuzz builds only (CAIRN_FUZZ=ON defines CAIRN_FUZZING): makes CheckRecordHeadCrc and
// ParseRecord (and so LogScanner) accept a wrong header CRC and/or value CRC, so that a fuzzer
// can reach what lies behind the checksums. Other builds have no such switch: there the checks
// cost nothing extra and cannot be turned off. Not thread-safe; set it before decoding.
struct RecordCrcBypass {
  bool header = false;
  bool value = false;
};
void SetRecordCrcBypassForFuzzing(RecordCrcBypass bypass);
#endif

}  // namespace cairn
