// libFuzzer target: the record decoder (docs/format.md 3.2, 3.4 and 3.7, src/engine/record.h).
//
// Input: one mode byte, then the bytes of a record written at offset fuzz::kRecordOffset of a
// volume with salt fuzz::kSalt. Mode bit 0 bypasses the header CRC and bit 1 the value CRC
// (CAIRN_FUZZING builds only), so the fuzzer can mutate what lies behind them. Both record
// formats are decoded (format 2, and format 1 as stores written before issue 15 hold).
//
// Beyond "no crash, no out-of-bounds read", it checks that decoding agrees with encoding:
//   - a record ParseRecord accepts re-encodes (AppendRecord) to the same bytes (with checksums
//     that were bypassed left out of the comparison);
//   - ParseRecord accepts only what PeekRecordHeader found plausible, with the same fields, and
//     DecodeRecordHead accepts its head alone, with the same key and metadata;
//   - metadata DecodeMetadata accepts re-encodes to the same bytes (one encoding per value);
//   - a manifest DecodeManifest accepts re-encodes to the same bytes and its chunks add up.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "engine/record.h"
#include "fuzz_util.h"
#include "util/metadata_codec.h"

using namespace cairn;

namespace {

void CheckManifest(std::string_view payload) {
  Manifest m;
  if (!DecodeManifest(payload, &m).ok()) return;
  uint64_t total = 0;
  for (const ChunkRef& c : m.chunks) total += c.value_len;
  FUZZ_CHECK(total == m.object_size);
  FUZZ_CHECK(EncodeManifest(m) == payload);
}

void CheckMetadata(std::string_view meta) {
  ObjectMetadata m;
  if (!DecodeMetadata(meta, &m).ok()) return;
  FUZZ_CHECK(EncodeMetadata(m) == meta);
  FUZZ_CHECK(m.EncodedSize() == meta.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  RecordCrcBypass bypass;
  bypass.header = (mode & fuzz::kBypassHeaderCrc) != 0;
  bypass.value = (mode & fuzz::kBypassValueCrc) != 0;
  SetRecordCrcBypassForFuzzing(bypass);
  std::string_view rec(reinterpret_cast<const char*>(data + 1), size - 1);

  // The fixed fields alone (what the scanner looks at first).
  RecordHeader plausible;
  HeaderCheck c = HeaderCheck::kInvalid;
  if (rec.size() >= format::kMinRecordHeaderSize) {
    c = PeekRecordHeader(rec.data(), rec.size(), &plausible);
    if (c == HeaderCheck::kValid) {
      FUZZ_CHECK(plausible.key_len >= 1 && plausible.key_len <= format::kMaxKeyBytes);
      FUZZ_CHECK(plausible.value_len <= format::kMaxChunkBytes);
      FUZZ_CHECK(plausible.meta_len <= format::kMaxRecordMetaBytes);
      FUZZ_CHECK(plausible.header_size() <= rec.size());
      FUZZ_CHECK(plausible.format == format::kRecordFormat1 ||
                 plausible.format == format::kRecordFormat2);
    }
  }

  RecordHeader h;
  std::string_view key, meta, value;
  Status s = ParseRecord(rec, fuzz::kSalt, fuzz::kRecordOffset, &h, &key, &meta, &value);
  if (!s.ok()) {
    FUZZ_CHECK(s.IsCorruption());
    // The manifest and metadata decoders on their own: the bytes behind a header are arbitrary
    // once the checksums are bypassed, so feed them the tail of the input too.
    if (rec.size() > format::kMinRecordHeaderSize) {
      CheckManifest(rec.substr(format::kMinRecordHeaderSize));
      CheckMetadata(rec.substr(format::kMinRecordHeaderSize));
    }
    return 0;
  }
  FUZZ_CHECK(c == HeaderCheck::kValid);
  FUZZ_CHECK(h.type == plausible.type && h.key_len == plausible.key_len &&
             h.meta_len == plausible.meta_len && h.value_len == plausible.value_len &&
             h.sequence == plausible.sequence && h.version == plausible.version &&
             h.format == plausible.format);
  FUZZ_CHECK(key.size() == h.key_len && meta.size() == h.meta_len && value.size() == h.value_len);
  FUZZ_CHECK(key.data() == rec.data() + h.header_size());
  FUZZ_CHECK(meta.data() == key.data() + key.size());
  FUZZ_CHECK(value.data() == meta.data() + meta.size());
  FUZZ_CHECK(value.data() + value.size() <= rec.data() + rec.size());
  if (h.format == format::kRecordFormat1) {
    FUZZ_CHECK(meta.empty() && h.version == DerivedVersion(h.timestamp_us));
  } else {
    FUZZ_CHECK((h.type == RecordType::kChunk) == h.version.none());
  }

  // The head alone validates, with the same fields.
  RecordHeader head;
  std::string_view hkey, hmeta;
  FUZZ_CHECK(DecodeRecordHead(rec.data(), h.head_len(), fuzz::kSalt, fuzz::kRecordOffset, &head,
                              &hkey, &hmeta) == HeaderCheck::kValid);
  FUZZ_CHECK(hkey == key && hmeta == meta && head.value_crc == h.value_crc);

  // Re-encode and compare with what was decoded.
  std::string again;
  AppendRecord(h, key, meta, value, fuzz::kSalt, fuzz::kRecordOffset, &again);
  FUZZ_CHECK(again.size() == h.record_len());
  const size_t used = h.head_len() + value.size();
  std::string want(rec.substr(0, used));
  // AppendRecord computes both checksums; a bypassed one may differ in the input.
  const bool v1 = h.format == format::kRecordFormat1;
  const size_t value_crc_at = v1 ? format::kOffValueCrcV1 : format::kOffValueCrc;
  const size_t header_crc_at = v1 ? format::kOffHeaderCrcV1 : format::kOffHeaderCrc;
  if (bypass.value) std::memcpy(want.data() + value_crc_at, again.data() + value_crc_at, 4);
  if (bypass.header || bypass.value)
    std::memcpy(want.data() + header_crc_at, again.data() + header_crc_at, 4);
  FUZZ_CHECK(again.compare(0, used, want) == 0);
  for (size_t i = used; i < again.size(); i++) FUZZ_CHECK(again[i] == 0);

  CheckMetadata(meta);
  if (h.type == RecordType::kManifest) CheckManifest(value);
  return 0;
}
