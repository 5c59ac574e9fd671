// Record encoding and validation (docs/format.md 3.2). Pure functions: no I/O, no state.
//
// A record is valid only at the (volume salt, offset) where it was written: both seed the
// header CRC, so misplaced or foreign bytes never validate.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "engine/record_format.h"

namespace cairn {

using format::RecordType;

struct RecordHeader {
  RecordType type = RecordType::kValue;
  uint16_t key_len = 0;
  uint64_t value_len = 0;
  uint64_t sequence = 0;
  uint64_t timestamp_us = 0;
  uint32_t value_crc = 0;
  bool relocated = false;  // a copy written by compaction (format::kRelocatedFlag)
};

// Bytes a record with this key and value length occupies, padding included.
inline uint64_t RecordLength(uint64_t key_len, uint64_t value_len) {
  return (format::kRecordHeaderSize + key_len + value_len + format::kRecordAlign - 1) /
         format::kRecordAlign * format::kRecordAlign;
}

// The blocks hole punching may release in a dead record at `offset` of `record_len` bytes: the
// whole 4 KiB blocks after its header and key, so that what a scanner needs to step over the
// record stays readable. Empty (begin >= end) when the record spans no such block.
struct PunchRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t bytes() const { return end > begin ? end - begin : 0; }
};
inline constexpr uint64_t kPunchBlock = 4096;
inline PunchRange PunchableRange(uint64_t offset, uint64_t key_len, uint64_t record_len) {
  uint64_t b = (offset + format::kRecordHeaderSize + key_len + kPunchBlock - 1) / kPunchBlock *
               kPunchBlock;
  uint64_t e = (offset + record_len) / kPunchBlock * kPunchBlock;
  return PunchRange{b, e > b ? e : b};
}

// Writes the 40-byte header for `h` and `key` into out[0..39], computing the header CRC with
// `salt` and `offset`. REQUIRES: key.size() == h.key_len.
void EncodeRecordHeader(const RecordHeader& h, std::string_view key, uint64_t salt,
                        uint64_t offset, char* out);

// Appends a whole record (header, key, value, zero padding) to *dst. Fills in h.key_len,
// h.value_len and h.value_crc from the arguments.
void AppendRecord(RecordHeader h, std::string_view key, std::string_view value, uint64_t salt,
                  uint64_t offset, std::string* dst);

enum class HeaderCheck {
  kValid,     // magic, version, type, key_len bound and header CRC all check
  kZero,      // all 40 bytes are zero: unwritten space
  kInvalid,   // anything else
};

// Checks the fixed header in buf[0..39] and the key that follows it. `key` must hold the
// h.key_len bytes after the header; pass an empty view to check only the fixed fields (then the
// CRC is not checked and kValid means "plausible"). On kValid fills *h.
HeaderCheck DecodeRecordHeader(const char* buf, std::string_view key, uint64_t salt,
                               uint64_t offset, RecordHeader* h);

// Validates a complete record in `rec` (at least RecordLength bytes) written at `offset` of a
// volume with `salt`: header, key and value CRC. On success fills *h, *key and *value (views
// into rec). Corruption names what failed.
Status ParseRecord(std::string_view rec, uint64_t salt, uint64_t offset, RecordHeader* h,
                   std::string_view* key, std::string_view* value);

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
// Fuzz builds only (CAIRN_FUZZ=ON defines CAIRN_FUZZING): makes DecodeRecordHeader and
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
