#include "engine/record.h"

#include <cstring>

#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn {
namespace {

size_t HeaderCrcOffset(uint8_t record_format) {
  return record_format == format::kRecordFormat1 ? format::kOffHeaderCrcV1
                                                 : format::kOffHeaderCrc;
}

// crc32c(salt ‖ offset ‖ header bytes before the CRC ‖ key ‖ metadata).
uint32_t HeaderCrc(const char* hdr, uint8_t record_format, std::string_view key,
                   std::string_view meta, uint64_t salt, uint64_t offset) {
  char seed[16];
  EncodeFixed64(seed, salt);
  EncodeFixed64(seed + 8, offset);
  uint32_t c = crc32c::Value(seed, sizeof(seed));
  c = crc32c::Extend(c, hdr, HeaderCrcOffset(record_format));
  c = crc32c::Extend(c, key.data(), key.size());
  return crc32c::Extend(c, meta.data(), meta.size());
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

void EncodeRecordHeader(const RecordHeader& h, std::string_view key, std::string_view meta,
                        uint64_t salt, uint64_t offset, char* out) {
  EncodeFixed32(out + format::kOffMagic, format::kRecordMagic);
  out[format::kOffFormat] = static_cast<char>(h.format);
  out[format::kOffType] =
      static_cast<char>(static_cast<uint8_t>(h.type) | (h.relocated ? format::kRelocatedFlag : 0));
  EncodeFixed16(out + format::kOffKeyLen, h.key_len);
  EncodeFixed64(out + format::kOffValueLen, h.value_len);
  EncodeFixed64(out + format::kOffSequence, h.sequence);
  EncodeFixed64(out + format::kOffTimestamp, h.timestamp_us);
  if (h.format == format::kRecordFormat1) {
    EncodeFixed32(out + format::kOffValueCrcV1, h.value_crc);
    EncodeFixed32(out + format::kOffHeaderCrcV1,
                  HeaderCrc(out, h.format, key, std::string_view(), salt, offset));
    return;
  }
  EncodeFixed64(out + format::kOffVersionHlc, h.version.hlc);
  EncodeFixed32(out + format::kOffVersionWriter, h.version.writer);
  EncodeFixed32(out + format::kOffMetaLen, h.meta_len);
  EncodeFixed32(out + format::kOffValueCrc, h.value_crc);
  EncodeFixed32(out + format::kOffHeaderCrc, HeaderCrc(out, h.format, key, meta, salt, offset));
}

void AppendRecord(RecordHeader h, std::string_view key, std::string_view meta,
                  std::string_view value, uint64_t salt, uint64_t offset, std::string* dst) {
  h.key_len = static_cast<uint16_t>(key.size());
  h.meta_len = static_cast<uint32_t>(meta.size());
  h.value_len = value.size();
  h.value_crc = crc32c::Value(value);
  if (h.format == format::kRecordFormat1) h.version = DerivedVersion(h.timestamp_us);
  const size_t start = dst->size();
  const uint64_t len = h.record_len();
  dst->resize(start + len);
  char* p = dst->data() + start;
  const size_t hs = h.header_size();
  EncodeRecordHeader(h, key, meta, salt, offset, p);
  std::memcpy(p + hs, key.data(), key.size());
  if (!meta.empty()) std::memcpy(p + hs + key.size(), meta.data(), meta.size());
  if (!value.empty()) std::memcpy(p + hs + key.size() + meta.size(), value.data(), value.size());
  const size_t used = hs + key.size() + meta.size() + value.size();
  std::memset(p + used, 0, len - used);
}

HeaderCheck PeekRecordHeader(const char* buf, size_t avail, RecordHeader* h) {
  static const char kZeros[format::kMinRecordHeaderSize] = {0};
  if (std::memcmp(buf, kZeros, format::kMinRecordHeaderSize) == 0) return HeaderCheck::kZero;
  if (DecodeFixed32(buf + format::kOffMagic) != format::kRecordMagic) return HeaderCheck::kInvalid;
  const uint8_t fmt = static_cast<uint8_t>(buf[format::kOffFormat]);
  if (fmt != format::kRecordFormat1 && fmt != format::kRecordFormat2) return HeaderCheck::kInvalid;
  if (avail < RecordHeaderSize(fmt)) return HeaderCheck::kInvalid;
  const uint8_t type_byte = static_cast<uint8_t>(buf[format::kOffType]);
  const uint8_t type = type_byte & static_cast<uint8_t>(~format::kRelocatedFlag);
  const uint16_t key_len = DecodeFixed16(buf + format::kOffKeyLen);
  const uint64_t value_len = DecodeFixed64(buf + format::kOffValueLen);
  if (!KnownType(type) || key_len == 0 || key_len > format::kMaxKeyBytes) return HeaderCheck::kInvalid;
  if (value_len > format::kMaxChunkBytes) return HeaderCheck::kInvalid;
  const auto rtype = static_cast<RecordType>(type);
  if (rtype == RecordType::kTombstone && value_len != 0) return HeaderCheck::kInvalid;
  RecordHeader r;
  r.format = fmt;
  r.type = rtype;
  r.relocated = (type_byte & format::kRelocatedFlag) != 0;
  r.key_len = key_len;
  r.value_len = value_len;
  r.sequence = DecodeFixed64(buf + format::kOffSequence);
  r.timestamp_us = DecodeFixed64(buf + format::kOffTimestamp);
  if (fmt == format::kRecordFormat1) {
    r.meta_len = 0;
    r.version = DerivedVersion(r.timestamp_us);
    r.value_crc = DecodeFixed32(buf + format::kOffValueCrcV1);
  } else {
    r.version.hlc = DecodeFixed64(buf + format::kOffVersionHlc);
    r.version.writer = DecodeFixed32(buf + format::kOffVersionWriter);
    const uint32_t meta_len = DecodeFixed32(buf + format::kOffMetaLen);
    if (meta_len > format::kMaxRecordMetaBytes) return HeaderCheck::kInvalid;
    // Chunks and tombstones carry no metadata; only chunks carry no version.
    const bool chunk = rtype == RecordType::kChunk;
    if ((chunk || rtype == RecordType::kTombstone) && meta_len != 0) return HeaderCheck::kInvalid;
    if (chunk != r.version.none()) return HeaderCheck::kInvalid;
    r.meta_len = meta_len;
    r.value_crc = DecodeFixed32(buf + format::kOffValueCrc);
  }
  *h = r;
  return HeaderCheck::kValid;
}

bool CheckRecordHeadCrc(const char* head, const RecordHeader& h, uint64_t salt, uint64_t offset) {
  if (SkipHeaderCrc()) return true;
  const size_t hs = h.header_size();
  std::string_view key(head + hs, h.key_len);
  std::string_view meta(head + hs + h.key_len, h.meta_len);
  return HeaderCrc(head, h.format, key, meta, salt, offset) ==
         DecodeFixed32(head + HeaderCrcOffset(h.format));
}

HeaderCheck DecodeRecordHead(const char* buf, size_t avail, uint64_t salt, uint64_t offset,
                             RecordHeader* h, std::string_view* key, std::string_view* meta) {
  RecordHeader r;
  HeaderCheck c = PeekRecordHeader(buf, avail, &r);
  if (c != HeaderCheck::kValid) return c;
  if (avail < r.head_len() || !CheckRecordHeadCrc(buf, r, salt, offset))
    return HeaderCheck::kInvalid;
  *h = r;
  const size_t hs = r.header_size();
  if (key != nullptr) *key = std::string_view(buf + hs, r.key_len);
  if (meta != nullptr) *meta = std::string_view(buf + hs + r.key_len, r.meta_len);
  return HeaderCheck::kValid;
}

Status ParseRecord(std::string_view rec, uint64_t salt, uint64_t offset, RecordHeader* h,
                   std::string_view* key, std::string_view* meta, std::string_view* value) {
  if (rec.size() < format::kMinRecordHeaderSize)
    return Status::Corruption("record shorter than its header");
  RecordHeader r;
  HeaderCheck c = PeekRecordHeader(rec.data(), rec.size(), &r);
  if (c == HeaderCheck::kZero) return Status::Corruption("record header is all zeros");
  if (c != HeaderCheck::kValid) return Status::Corruption("record header is invalid");
  if (rec.size() < r.head_len() + r.value_len)
    return Status::Corruption("record extends past the bytes read");
  if (!CheckRecordHeadCrc(rec.data(), r, salt, offset))
    return Status::Corruption("record header checksum mismatch");
  const size_t hs = r.header_size();
  std::string_view v = rec.substr(r.head_len(), r.value_len);
  if (!SkipValueCrc() && crc32c::Value(v) != r.value_crc)
    return Status::Corruption("value checksum mismatch");
  *h = r;
  *key = rec.substr(hs, r.key_len);
  *meta = rec.substr(hs + r.key_len, r.meta_len);
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
