// libFuzzer target: the record decoder (docs/format.md 3.2 and 3.4, src/engine/record.h).
//
// Input: one mode byte, then the bytes of a record written at offset fuzz::kRecordOffset of a
// volume with salt fuzz::kSalt. Mode bit 0 bypasses the header CRC and bit 1 the value CRC
// (CAIRN_FUZZING builds only), so the fuzzer can mutate what lies behind them.
//
// Beyond "no crash, no out-of-bounds read", it checks that decoding agrees with encoding:
//   - a record ParseRecord accepts re-encodes (AppendRecord) to the same bytes (with checksums
//     that were bypassed left out of the comparison);
//   - ParseRecord accepts only what DecodeRecordHeader found plausible, with the same fields;
//   - a manifest DecodeManifest accepts re-encodes to the same bytes and its chunks add up.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "engine/record.h"
#include "fuzz_util.h"

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
  if (rec.size() >= format::kRecordHeaderSize) {
    c = DecodeRecordHeader(rec.data(), std::string_view(), fuzz::kSalt, fuzz::kRecordOffset,
                           &plausible);
    if (c == HeaderCheck::kValid) {
      FUZZ_CHECK(plausible.key_len >= 1 && plausible.key_len <= format::kMaxKeyBytes);
      FUZZ_CHECK(plausible.value_len <= format::kMaxChunkBytes);
    }
  }

  RecordHeader h;
  std::string_view key, value;
  Status s = ParseRecord(rec, fuzz::kSalt, fuzz::kRecordOffset, &h, &key, &value);
  if (!s.ok()) {
    FUZZ_CHECK(s.IsCorruption());
    // The manifest decoder on its own: the value bytes of a record are arbitrary once the
    // checksums are bypassed, so feed it the tail of the input too.
    if (rec.size() > format::kRecordHeaderSize) CheckManifest(rec.substr(format::kRecordHeaderSize));
    return 0;
  }
  FUZZ_CHECK(c == HeaderCheck::kValid);
  FUZZ_CHECK(h.type == plausible.type && h.key_len == plausible.key_len &&
             h.value_len == plausible.value_len && h.sequence == plausible.sequence);
  FUZZ_CHECK(key.size() == h.key_len && value.size() == h.value_len);
  FUZZ_CHECK(key.data() == rec.data() + format::kRecordHeaderSize);
  FUZZ_CHECK(value.data() + value.size() <= rec.data() + rec.size());

  // Re-encode and compare with what was decoded.
  std::string again;
  AppendRecord(h, key, value, fuzz::kSalt, fuzz::kRecordOffset, &again);
  FUZZ_CHECK(again.size() == RecordLength(h.key_len, h.value_len));
  const size_t used = format::kRecordHeaderSize + key.size() + value.size();
  std::string want(rec.substr(0, used));
  // AppendRecord computes both checksums; a bypassed one may differ in the input.
  if (bypass.value) std::memcpy(want.data() + format::kOffValueCrc, again.data() + format::kOffValueCrc, 4);
  if (bypass.header || bypass.value)
    std::memcpy(want.data() + format::kOffHeaderCrc, again.data() + format::kOffHeaderCrc, 4);
  FUZZ_CHECK(again.compare(0, used, want) == 0);
  for (size_t i = used; i < again.size(); i++) FUZZ_CHECK(again[i] == 0);

  if (h.type == RecordType::kManifest) CheckManifest(value);
  return 0;
}
