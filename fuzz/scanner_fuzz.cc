// libFuzzer target: the recovery scanner (src/engine/log_scanner.h, docs/format.md 3.5) over an
// in-memory volume image.
//
// Input: one mode byte, then the data region of a volume (what follows the 4 KiB header). The
// target puts a valid volume header (salt fuzz::kSalt) in front, checks that DecodeVolumeHeader
// accepts it, and scans from data_offset to the volume's capacity, as recovery and verify do.
// Mode bits:
//   0, 1  bypass the header CRC, the value CRC (CAIRN_FUZZING builds only);
//   2     stop after a gap of (mode >> 4) * 512 + 64 bytes past the last valid record, as
//         recovery does with max_unfinished_bytes; otherwise scan everything;
//   3     the file is truncated (shorter than the header's capacity), as a damaged volume is;
//   4     (without bit 2) chunks are stepped over from their heads (LogScanner::SkipChunks, the
//         change feed's scan).
// Every all-zero 4 KiB block of the data region reads as a hole, so punched records (3.6) are
// reachable.
//
// Invariants checked on top of "no crash, no out-of-bounds read, no hang": events come in
// offset order without overlap, inside [data_offset, capacity); a record lies on an 8-byte
// boundary and parses on its own at its offset; last_valid_end() is the end of the last record
// (or punched record); the scan ends.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "cairn/env.h"
#include "engine/log_scanner.h"
#include "engine/record.h"
#include "engine/store_format.h"
#include "fuzz_util.h"

using namespace cairn;

namespace {

// A read-only volume image in memory.
class MemFile final : public File {
 public:
  explicit MemFile(std::string image) : image_(std::move(image)) {}
  Status PRead(uint64_t offset, size_t n, char* buf, size_t* got) override {
    *got = 0;
    if (offset >= image_.size()) return Status::OK();
    *got = static_cast<size_t>(std::min<uint64_t>(n, image_.size() - offset));
    std::memcpy(buf, image_.data() + offset, *got);
    return Status::OK();
  }
  Status PWrite(uint64_t, std::string_view) override {
    return Status::NotSupported("the fuzzed volume is read-only");
  }
  Status DataSync() override { return Status::OK(); }
  Result<uint64_t> Size() override { return uint64_t{image_.size()}; }
  Result<uint64_t> AllocatedBytes() override { return uint64_t{image_.size()}; }
  Status PunchHole(uint64_t, uint64_t) override {
    return Status::NotSupported("the fuzzed volume is read-only");
  }
  Result<bool> InHole(uint64_t offset) override {
    const uint64_t b = offset / 4096 * 4096;
    if (b < format::kVolumeHeaderSize || b + 4096 > image_.size()) return false;
    for (uint64_t i = b; i < b + 4096; i++)
      if (image_[i] != 0) return false;
    return true;
  }
  const std::string& path() const override { return path_; }

 private:
  std::string image_;
  const std::string path_ = "fuzz.vol";
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  RecordCrcBypass bypass;
  bypass.header = (mode & fuzz::kBypassHeaderCrc) != 0;
  bypass.value = (mode & fuzz::kBypassValueCrc) != 0;
  SetRecordCrcBypassForFuzzing(bypass);
  const bool gap = (mode & 4) != 0;
  const bool truncated = (mode & 8) != 0;
  const bool skip_chunks = !gap && (mode & 16) != 0;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);

  format::VolumeHeader vh;
  vh.volume_id = fuzz::kVolumeId;
  vh.salt = fuzz::kSalt;
  vh.store_id = fuzz::kStoreId;
  // At least one data block: a volume with no room for records is refused by its decoder.
  vh.capacity = (format::kVolumeHeaderSize + std::max<size_t>(body.size(), 1) + 4095) / 4096 * 4096;
  std::string image = format::EncodeVolumeHeader(vh);
  FUZZ_CHECK(image.size() == format::kVolumeHeaderSize);
  image.append(body);
  if (!truncated) image.resize(vh.capacity, '\0');

  format::VolumeHeader got;
  FUZZ_CHECK(format::DecodeVolumeHeader(std::string_view(image).substr(0, format::kVolumeHeaderSize),
                                        &got)
                 .ok());
  FUZZ_CHECK(got.salt == vh.salt && got.capacity == vh.capacity &&
             got.data_offset == format::kVolumeHeaderSize);

  MemFile file(image);
  const uint64_t start = got.data_offset, limit = got.capacity;
  const uint64_t gap_limit = gap ? (mode >> 4) * 512 + 64 : LogScanner::kNoGapLimit;
  LogScanner scanner(&file, got.salt, start, limit, gap_limit);
  if (skip_chunks) scanner.SkipChunks();

  uint64_t prev_end = start;       // end of the previous event
  uint64_t last_record_end = start;
  const uint64_t max_events = (limit - start) / 8 + 2;
  uint64_t events = 0;
  ScanEvent ev;
  for (;;) {
    Result<bool> more = scanner.Next(&ev);
    FUZZ_CHECK(more.ok());  // a memory file never fails a read
    if (!*more) break;
    FUZZ_CHECK(++events <= max_events);
    FUZZ_CHECK(ev.offset >= prev_end);
    FUZZ_CHECK(ev.length > 0 && ev.offset + ev.length <= limit);
    if (ev.kind == ScanEvent::Kind::kBadRegion) {
      FUZZ_CHECK(ev.offset >= last_record_end);
    } else {
      FUZZ_CHECK(ev.offset % format::kRecordAlign == 0);
      FUZZ_CHECK(ev.length == ev.header.record_len());
      FUZZ_CHECK(ev.key.size() == ev.header.key_len && ev.meta.size() == ev.header.meta_len);
      FUZZ_CHECK(std::string_view(image).substr(ev.offset + ev.header.header_size(),
                                                ev.key.size()) == ev.key);
      // The head checks on its own (what hole punching keeps and the change feed reads).
      RecordHeader head;
      FUZZ_CHECK(DecodeRecordHead(image.data() + ev.offset, ev.header.head_len(), got.salt,
                                  ev.offset, &head) == HeaderCheck::kValid);
      FUZZ_CHECK(head.version == ev.header.version && head.type == ev.header.type);
      const bool skipped = skip_chunks && ev.header.type == RecordType::kChunk;
      if (skipped) FUZZ_CHECK(ev.value.empty());
      if (ev.kind == ScanEvent::Kind::kRecord && !skipped) {
        RecordHeader h;
        std::string_view k, m, v;
        const uint64_t n = ev.header.head_len() + ev.header.value_len;
        FUZZ_CHECK(ParseRecord(std::string_view(image).substr(ev.offset, n), got.salt, ev.offset,
                               &h, &k, &m, &v)
                       .ok());
        FUZZ_CHECK(k == ev.key && m == ev.meta && v == ev.value &&
                   h.sequence == ev.header.sequence && h.version == ev.header.version);
        if (h.type == RecordType::kManifest) {
          Manifest m;
          (void)DecodeManifest(v, &m);
        }
      }
      last_record_end = ev.offset + ev.length;
    }
    prev_end = ev.offset + ev.length;
  }
  FUZZ_CHECK(scanner.last_valid_end() == last_record_end);
  FUZZ_CHECK(scanner.last_valid_end() + scanner.tail_garbage_bytes() <= limit);
  FUZZ_CHECK(scanner.scanned_end() >= scanner.last_valid_end());
  return 0;
}
