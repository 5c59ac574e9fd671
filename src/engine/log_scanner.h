// LogScanner: walks the records of one volume region, in order, telling valid records from
// unwritten (zero) space and from torn or corrupt bytes (docs/format.md 3.5).
//
// It never trusts a length it has not validated: a candidate record is accepted only when its
// header CRC (seeded with the volume salt and its own offset, covering the head: header, key
// and metadata) and its value CRC both check. After invalid bytes it resynchronises 8 bytes at a
// time; over zeros it skips to the next non-zero byte. Both record formats are read. Used by
// recovery, verification, compaction and the change feed, and fuzzed.
//
// Thread safety: one scanner per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/env.h"
#include "engine/record.h"

namespace cairn {

struct ScanEvent {
  // kPunched: a record whose header and key are valid but whose body blocks were released by
  // hole punching (it was dead). Its value is gone; header, key, offset and length are set.
  enum class Kind { kRecord, kBadRegion, kPunched };
  Kind kind = Kind::kRecord;
  uint64_t offset = 0;
  uint64_t length = 0;        // record_len, or the region's length
  bool zero = false;          // kBadRegion: every byte is zero
  RecordHeader header;        // kRecord, kPunched
  std::string_view key;       // kRecord, kPunched; valid until the next call to Next()
  std::string_view meta;      // kRecord, kPunched; valid until the next call to Next()
  std::string_view value;     // kRecord; valid until the next call to Next()
};

class LogScanner {
 public:
  static constexpr uint64_t kNoGapLimit = UINT64_MAX;

  // Scans [start, limit) of `file`. Stops early once `gap_limit` bytes past the end of the last
  // valid record have shown no further valid record.
  LogScanner(File* file, uint64_t salt, uint64_t start, uint64_t limit, uint64_t gap_limit);

  // Chunk records are returned from their head alone (header CRC checked): their value is not
  // read or checked, and ev.value is empty. For the change feed, which lists objects, not
  // chunks, and needs only a chunk's length to step over it. Set before the first Next().
  void SkipChunks() { skip_chunks_ = true; }
  // Every record is returned from its head alone, as chunks are above: for compaction, which
  // reads a value only if its record is still live (most of a volume it compacts is dead).
  void SkipValues() { skip_values_ = true; }

  // Sets *ev to the next record, or to a bad region lying between two valid records. Returns
  // false when the scan is over; the bytes after the last valid record are then described by
  // tail_*(). I/O errors are returned as a Status.
  Result<bool> Next(ScanEvent* ev);

  // Offset just past the last valid record (== start if there was none).
  uint64_t last_valid_end() const { return last_valid_end_; }
  // Bytes from last_valid_end() to the end of the last non-zero byte scanned after it: the torn
  // tail. 0 means the tail is clean zeros.
  uint64_t tail_garbage_bytes() const {
    return last_nonzero_end_ > last_valid_end_ ? last_nonzero_end_ - last_valid_end_ : 0;
  }
  // How far the scan looked.
  uint64_t scanned_end() const { return pos_; }
  // Bytes read from the file so far.
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  // Makes buf_ hold [off, off+n) (or as much as exists), reading at least `want` bytes when it
  // must read; returns the bytes available.
  Result<size_t> Fill(uint64_t off, size_t n, size_t want);
  Result<size_t> Fill(uint64_t off, size_t n);
  const char* At(uint64_t off) const { return buf_.data() + (off - buf_off_); }
  void NoteInvalid(uint64_t off, uint64_t n, bool zero);
  Result<bool> IsPunched(const RecordHeader& plausible, ScanEvent* ev);

  File* const file_;
  const uint64_t salt_, limit_, gap_limit_;
  uint64_t pos_;
  uint64_t last_valid_end_;
  uint64_t last_nonzero_end_;
  bool in_region_ = false;
  uint64_t region_start_ = 0;
  bool region_zero_ = true;
  std::string buf_;
  uint64_t buf_off_ = 0;
  size_t buf_len_ = 0;
  bool skip_chunks_ = false;
  bool skip_values_ = false;
  bool after_skip_ = false;  // the last record skipped a large value: read the next head small
  uint64_t bytes_read_ = 0;
};

// Whether anything was ever written at `offset` of `file`: the kMinRecordHeaderSize bytes there
// (fewer at the end of the file) are not all zero. A record starts with its magic, so a record
// written there never reads as unwritten space. Recovery and verify use it to test an index
// checkpoint's claim of a clean shutdown (docs/design.md, "Recovery").
Result<bool> WrittenAt(File* file, uint64_t offset);

}  // namespace cairn
