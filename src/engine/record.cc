#include "engine/record.h"

#include <cstring>

#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn {
namespace {

uint32_t HeaderCrc(const char* hdr, std::string_view key, uint64_t salt, uint64_t offset) {
  char seed[16];
  EncodeFixed64(seed, salt);
  EncodeFixed64(seed + 8, offset);
  uint32_t c = crc32c::Value(seed, sizeof(seed));
  c = crc32c::Extend(c, hdr, format::kOffHeaderCrc);
  return crc32c::Extend(c, key.data(), key.size());
}

bool KnownType(uint8_t t) { return t >= 1 && t <= 4; }

#ifdef CAIRN_FUZZING
RecordCrcBypass g_crc_bypass;
bool SkipHeaderCrc() { return g_crc_bypass.header; }
bool SkipValueCrc() { return g_crc_bypass.value; }
#else
// Constant false: the compiler removes the test, and production code has no bypass at all.
constexpr bool SkipHeaderCrc() { return false; }
constexpr bool SkipValueCrc() { return false; }
#endif

}  // namespace

#ifdef CAIRN_FUZZING
void SetRecordCrcBypassForFuzzing(RecordCrcBypass bypass) { g_crc_bypass = bypass; }
#endif

void EncodeRecordHeader(const RecordHeader& h, std::string_view key, uint64_t salt,
                        uint64_t offset, char* out) {
  EncodeFixed32(out + format::kOffMagic, format::kRecordMagic);
  out[format::kOffVersion] = static_cast<char>(format::kRecordVersion);
  out[format::kOffType] =
      static_cast<char>(static_cast<uint8_t>(h.type) | (h.relocated ? format::kRelocatedFlag : 0));
  EncodeFixed16(out + format::kOffKeyLen, h.key_len);
  EncodeFixed64(out + format::kOffValueLen, h.value_len);
  EncodeFixed64(out + format::kOffSequence, h.sequence);
  EncodeFixed64(out + format::kOffTimestamp, h.timestamp_us);
  EncodeFixed32(out + format::kOffValueCrc, h.value_crc);
  EncodeFixed32(out + format::kOffHeaderCrc, HeaderCrc(out, key, salt, offset));
}

void AppendRecord(RecordHeader h, std::string_view key, std::string_view value, uint64_t salt,
                  uint64_t offset, std::string* dst) {
  h.key_len = static_cast<uint16_t>(key.size());
  h.value_len = value.size();
  h.value_crc = crc32c::Value(value);
  size_t start = dst->size();
  uint64_t len = RecordLength(key.size(), value.size());
  dst->resize(start + len);
  char* p = dst->data() + start;
  EncodeRecordHeader(h, key, salt, offset, p);
  std::memcpy(p + format::kRecordHeaderSize, key.data(), key.size());
  if (!value.empty()) std::memcpy(p + format::kRecordHeaderSize + key.size(), value.data(), value.size());
  size_t used = format::kRecordHeaderSize + key.size() + value.size();
  std::memset(p + used, 0, len - used);
}

HeaderCheck DecodeRecordHeader(const char* buf, std::string_view key, uint64_t salt,
                               uint64_t offset, RecordHeader* h) {
  static const char kZeros[format::kRecordHeaderSize] = {0};
  if (std::memcmp(buf, kZeros, format::kRecordHeaderSize) == 0) return HeaderCheck::kZero;
  if (DecodeFixed32(buf + format::kOffMagic) != format::kRecordMagic) return HeaderCheck::kInvalid;
  if (static_cast<uint8_t>(buf[format::kOffVersion]) != format::kRecordVersion)
    return HeaderCheck::kInvalid;
  const uint8_t type_byte = static_cast<uint8_t>(buf[format::kOffType]);
  const uint8_t type = type_byte & static_cast<uint8_t>(~format::kRelocatedFlag);
  uint16_t key_len = DecodeFixed16(buf + format::kOffKeyLen);
  uint64_t value_len = DecodeFixed64(buf + format::kOffValueLen);
  if (!KnownType(type) || key_len == 0 || key_len > format::kMaxKeyBytes) return HeaderCheck::kInvalid;
  if (value_len > format::kMaxChunkBytes) return HeaderCheck::kInvalid;
  if (type == static_cast<uint8_t>(RecordType::kTombstone) && value_len != 0)
    return HeaderCheck::kInvalid;
  if (!key.empty()) {
    if (key.size() != key_len) return HeaderCheck::kInvalid;
    if (!SkipHeaderCrc() &&
        HeaderCrc(buf, key, salt, offset) != DecodeFixed32(buf + format::kOffHeaderCrc))
      return HeaderCheck::kInvalid;
  }
  h->type = static_cast<RecordType>(type);
  h->relocated = (type_byte & format::kRelocatedFlag) != 0;
  h->key_len = key_len;
  h->value_len = value_len;
  h->sequence = DecodeFixed64(buf + format::kOffSequence);
  h->timestamp_us = DecodeFixed64(buf + format::kOffTimestamp);
  h->value_crc = DecodeFixed32(buf + format::kOffValueCrc);
  return HeaderCheck::kValid;
}

Status ParseRecord(std::string_view rec, uint64_t salt, uint64_t offset, RecordHeader* h,
                   std::string_view* key, std::string_view* value) {
  if (rec.size() < format::kRecordHeaderSize)
    return Status::Corruption("record shorter than its header");
  RecordHeader plausible;
  HeaderCheck c = DecodeRecordHeader(rec.data(), std::string_view(), salt, offset, &plausible);
  if (c == HeaderCheck::kZero) return Status::Corruption("record header is all zeros");
  if (c != HeaderCheck::kValid) return Status::Corruption("record header is invalid");
  uint64_t need = format::kRecordHeaderSize + plausible.key_len + plausible.value_len;
  if (rec.size() < need) return Status::Corruption("record extends past the bytes read");
  std::string_view k = rec.substr(format::kRecordHeaderSize, plausible.key_len);
  if (DecodeRecordHeader(rec.data(), k, salt, offset, h) != HeaderCheck::kValid)
    return Status::Corruption("record header checksum mismatch");
  std::string_view v = rec.substr(format::kRecordHeaderSize + h->key_len, h->value_len);
  if (!SkipValueCrc() && crc32c::Value(v) != h->value_crc)
    return Status::Corruption("value checksum mismatch");
  *key = k;
  *value = v;
  return Status::OK();
}

std::string EncodeManifest(const Manifest& m) {
  std::string out;
  out.reserve(format::kManifestHeaderSize + m.chunks.size() * format::kManifestEntrySize);
  PutFixed64(&out, m.object_size);
  PutFixed32(&out, m.object_crc);
  PutFixed32(&out, static_cast<uint32_t>(m.chunks.size()));
  for (const ChunkRef& c : m.chunks) {
    PutFixed32(&out, c.volume);
    PutFixed32(&out, c.value_len);
    PutFixed64(&out, c.offset);
  }
  return out;
}

Status DecodeManifest(std::string_view p, Manifest* m) {
  if (p.size() < format::kManifestHeaderSize) return Status::Corruption("manifest too short");
  m->object_size = DecodeFixed64(p.data());
  m->object_crc = DecodeFixed32(p.data() + 8);
  uint32_t n = DecodeFixed32(p.data() + 12);
  if (p.size() != format::kManifestHeaderSize + uint64_t{n} * format::kManifestEntrySize)
    return Status::Corruption("manifest length does not match its chunk count");
  m->chunks.resize(n);
  uint64_t total = 0;
  const char* e = p.data() + format::kManifestHeaderSize;
  for (uint32_t i = 0; i < n; i++, e += format::kManifestEntrySize) {
    m->chunks[i].volume = DecodeFixed32(e);
    m->chunks[i].value_len = DecodeFixed32(e + 4);
    m->chunks[i].offset = DecodeFixed64(e + 8);
    total += m->chunks[i].value_len;
  }
  if (total != m->object_size) return Status::Corruption("manifest chunk sizes do not add up");
  return Status::OK();
}

}  // namespace cairn
