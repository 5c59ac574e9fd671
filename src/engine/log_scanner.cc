#include "engine/log_scanner.h"

#include <algorithm>
#include <cstring>

namespace cairn {
namespace {
constexpr size_t kReadSize = 1 << 20;
// After a skipped chunk the next record is most likely another chunk: read its head with a small
// read instead of a whole kReadSize window of a value that is skipped anyway.
constexpr size_t kSmallReadSize = 4 << 10;

// How many bytes at the start of q[0, n) are zero. Eight at a time: recovery reads up to
// max_unfinished_bytes of zeros past the end of the log, per volume after the checkpoint, and
// a byte loop over them cost more than reading them.
size_t ZeroPrefix(const char* q, size_t n) {
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    uint64_t w[8];
    std::memcpy(w, q + i, 64);
    if ((w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) != 0) break;
  }
  while (i < n && q[i] == 0) i++;
  return i;
}
}  // namespace

LogScanner::LogScanner(File* file, uint64_t salt, uint64_t start, uint64_t limit,
                       uint64_t gap_limit)
    : file_(file),
      salt_(salt),
      limit_(limit),
      gap_limit_(gap_limit),
      pos_(start),
      last_valid_end_(start),
      last_nonzero_end_(start) {}

Result<size_t> LogScanner::Fill(uint64_t off, size_t n) { return Fill(off, n, kReadSize); }

Result<size_t> LogScanner::Fill(uint64_t off, size_t n, size_t want_at_least) {
  if (off >= buf_off_ && off + n <= buf_off_ + buf_len_) return n;
  if (off >= limit_) return size_t{0};
  size_t want = std::max(n, want_at_least);
  if (off + want > limit_) want = static_cast<size_t>(limit_ - off);
  if (buf_.size() < want) buf_.resize(want);
  size_t got = 0;
  CAIRN_RETURN_IF_ERROR(file_->PRead(off, want, buf_.data(), &got));
  bytes_read_ += got;
  buf_off_ = off;
  buf_len_ = got;
  return std::min(n, got);
}

void LogScanner::NoteInvalid(uint64_t off, uint64_t n, bool zero) {
  if (!in_region_) {
    in_region_ = true;
    region_start_ = off;
    region_zero_ = true;
  }
  if (!zero) {
    region_zero_ = false;
    last_nonzero_end_ = std::max(last_nonzero_end_, off + n);
  }
}

// A record whose head checks but whose value does not is a punched dead record if the first
// block hole punching would release is a hole (pre-written zeros, torn writes and bit flips
// never make holes). REQUIRES: the whole record is in buf_ at pos_.
Result<bool> LogScanner::IsPunched(const RecordHeader& plausible, ScanEvent* ev) {
  RecordHeader h;
  std::string_view key, meta;
  if (DecodeRecordHead(At(pos_), plausible.head_len(), salt_, pos_, &h, &key, &meta) !=
      HeaderCheck::kValid)
    return false;
  PunchRange r = PunchableRange(pos_, h.head_len(), h.record_len());
  if (r.bytes() == 0) return false;
  CAIRN_ASSIGN_OR_RETURN(bool hole, file_->InHole(r.begin));
  if (hole) {
    ev->header = h;
    ev->key = key;
    ev->meta = meta;
  }
  return hole;
}

Result<bool> LogScanner::Next(ScanEvent* ev) {
  constexpr uint64_t kHdr = format::kMinRecordHeaderSize;
  while (pos_ + kHdr <= limit_) {
    if (gap_limit_ != kNoGapLimit && pos_ - last_valid_end_ >= gap_limit_) break;
    const size_t want = after_skip_ ? kSmallReadSize : kReadSize;
    after_skip_ = false;
    // A format-2 header is longer than the shortest one: read it whole where the region allows.
    const size_t hdr_want = static_cast<size_t>(
        std::min<uint64_t>(format::kMaxRecordHeaderSize, limit_ - pos_));
    CAIRN_ASSIGN_OR_RETURN(size_t have, Fill(pos_, hdr_want, want));
    if (have < kHdr) break;  // the file is shorter than the limit
    RecordHeader h;
    HeaderCheck c = PeekRecordHeader(At(pos_), have, &h);
    if (c == HeaderCheck::kZero) {
      // Skip to the 8-byte boundary at or before the next non-zero byte: a record starts with
      // its magic, so none can start inside a run of zeros.
      uint64_t p = pos_ + kHdr;
      bool found = false;
      while (p < limit_ && !found) {
        CAIRN_ASSIGN_OR_RETURN(size_t got, Fill(p, 8));
        if (got == 0) break;
        size_t avail = static_cast<size_t>(buf_off_ + buf_len_ - p);
        const char* q = At(p);
        size_t i = ZeroPrefix(q, avail);
        p += i;
        found = i < avail;
        if (gap_limit_ != kNoGapLimit && p - last_valid_end_ >= gap_limit_) break;
      }
      uint64_t next = std::min<uint64_t>(p / 8 * 8, limit_);
      if (next < pos_ + 8) next = pos_ + 8;
      NoteInvalid(pos_, next - pos_, true);
      pos_ = next;
      continue;
    }
    if (c == HeaderCheck::kValid && pos_ + h.head_len() + h.value_len <= limit_) {
      ScanEvent::Kind kind = ScanEvent::Kind::kBadRegion;
      bool skipped = false;
      if (skip_values_ || (skip_chunks_ && h.type == RecordType::kChunk)) {
        // Only the head: the value (a chunk's, or any with SkipValues) is stepped over, unread.
        CAIRN_ASSIGN_OR_RETURN(size_t got, Fill(pos_, h.head_len(), kSmallReadSize));
        if (got == h.head_len() && DecodeRecordHead(At(pos_), got, salt_, pos_, &ev->header,
                                                    &ev->key, &ev->meta) == HeaderCheck::kValid) {
          kind = ScanEvent::Kind::kRecord;
          skipped = true;
        }
      } else {
        const uint64_t need = h.head_len() + h.value_len;
        CAIRN_ASSIGN_OR_RETURN(size_t got, Fill(pos_, need));
        if (got == need) {
          if (ParseRecord(std::string_view(At(pos_), need), salt_, pos_, &ev->header, &ev->key,
                          &ev->meta, &ev->value)
                  .ok()) {
            kind = ScanEvent::Kind::kRecord;
          } else {
            CAIRN_ASSIGN_OR_RETURN(bool punched, IsPunched(h, ev));
            if (punched) kind = ScanEvent::Kind::kPunched;
          }
        }
      }
      if (kind != ScanEvent::Kind::kBadRegion) {
        if (in_region_) {
          // Report the bad bytes first; the record is returned by the next call.
          ev->kind = ScanEvent::Kind::kBadRegion;
          ev->offset = region_start_;
          ev->length = pos_ - region_start_;
          ev->zero = region_zero_;
          in_region_ = false;
          return true;
        }
        const uint64_t len = h.record_len();
        pos_ += len;
        last_valid_end_ = pos_;
        last_nonzero_end_ = std::max(last_nonzero_end_, pos_);
        // A small value skipped lies inside the window already read; a large one does not.
        after_skip_ = skipped && h.value_len >= kSmallReadSize;
        ev->kind = kind;
        ev->offset = pos_ - len;
        ev->length = len;
        if (kind == ScanEvent::Kind::kPunched || skipped) ev->value = std::string_view();
        return true;
      }
    }
    NoteInvalid(pos_, 8, false);
    pos_ += 8;
  }
  return false;
}

Result<bool> WrittenAt(File* file, uint64_t offset) {
  char buf[format::kMinRecordHeaderSize];
  size_t got = 0;
  CAIRN_RETURN_IF_ERROR(file->PRead(offset, sizeof(buf), buf, &got));
  return std::any_of(buf, buf + got, [](char c) { return c != 0; });
}

}  // namespace cairn
