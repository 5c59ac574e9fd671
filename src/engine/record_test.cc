#include "engine/record.h"

#include <gtest/gtest.h>

#include <string>

#include "util/coding.h"
#include "util/metadata_codec.h"

namespace cairn {
namespace {

constexpr uint64_t kSalt = 0x0123456789ABCDEFull;

std::string Hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

std::string TextPlain() {
  ObjectMetadata m;
  m.content_type = "text/plain";
  return EncodeMetadata(m);
}

// docs/format.md 3.3, byte for byte.
TEST(Record, WorkedExampleFromFormatDoc) {
  RecordHeader h;
  h.type = RecordType::kValue;
  h.sequence = 7;
  h.timestamp_us = 1700000000000000ull;
  h.version = Version::Make(1700000000000ull, 3, 0x0A0B0C0D);
  EXPECT_EQ(0x018BCFE568000003ull, h.version.hlc);
  const std::string meta = TextPlain();
  EXPECT_EQ("0101000a00746578742f706c61696e", Hex(meta));
  std::string rec;
  AppendRecord(h, "k1", meta, "hello", kSalt, 4096, &rec);
  EXPECT_EQ(
      "c3a1524e020102000500000000000000"
      "0700000000000000"
      "00401e18240a0600"
      "03000068e5cf8b01"
      "0d0c0b0a0f000000"
      "4cbb719ae5fb9c3a"
      "6b31"
      "0101000a00746578742f706c61696e"
      "68656c6c6f"
      "0000",
      Hex(rec));
  EXPECT_EQ(80u, rec.size());
  RecordHeader out;
  std::string_view k, m, v;
  ASSERT_TRUE(ParseRecord(rec, kSalt, 4096, &out, &k, &m, &v).ok());
  EXPECT_EQ(h.version, out.version);
  EXPECT_EQ(meta, m);
  EXPECT_EQ(58u + 15u, out.head_len());
}

// docs/format.md 3.3, the format-1 example: still encoded (compaction copies format-1 records
// as they are) and read.
TEST(Record, Format1WorkedExampleFromFormatDoc) {
  RecordHeader h;
  h.format = format::kRecordFormat1;
  h.type = RecordType::kValue;
  h.sequence = 7;
  h.timestamp_us = 1700000000000000ull;
  std::string rec;
  AppendRecord(h, "k1", "", "hello", kSalt, 4096, &rec);
  EXPECT_EQ(
      "c3a1524e010102000500000000000000"
      "0700000000000000"
      "00401e18240a0600"
      "4cbb719ae913b9f5"
      "6b3168656c6c6f00",
      Hex(rec));
  EXPECT_EQ(48u, rec.size());
  RecordHeader out;
  std::string_view k, m, v;
  ASSERT_TRUE(ParseRecord(rec, kSalt, 4096, &out, &k, &m, &v).ok());
  EXPECT_EQ(format::kRecordFormat1, out.format);
  EXPECT_EQ("hello", v);
  EXPECT_TRUE(m.empty());
  // The derived version: the timestamp's milliseconds, logical 0, writer 0.
  EXPECT_EQ(Version::Make(1700000000000ull, 0, 0), out.version);
  EXPECT_EQ(42u, out.head_len());
}

TEST(Record, RoundTripBothFormats) {
  for (uint8_t fmt : {format::kRecordFormat1, format::kRecordFormat2}) {
    for (size_t vlen : {0ul, 1ul, 7ul, 8ul, 100ul, 4096ul, 100000ul}) {
      std::string value(vlen, 'v');
      for (size_t i = 0; i < vlen; i++) value[i] = static_cast<char>(i * 131);
      RecordHeader h;
      h.format = fmt;
      h.type = RecordType::kValue;
      h.sequence = 99;
      h.version = Version{12345, 6};
      const std::string meta = fmt == format::kRecordFormat1 ? "" : TextPlain();
      std::string rec;
      AppendRecord(h, "key", meta, value, kSalt, 8192, &rec);
      EXPECT_EQ(0u, rec.size() % 8);
      EXPECT_EQ(RecordLength(fmt, 3, meta.size(), vlen), rec.size());
      RecordHeader out;
      std::string_view k, m, v;
      ASSERT_TRUE(ParseRecord(rec, kSalt, 8192, &out, &k, &m, &v).ok()) << vlen;
      EXPECT_EQ("key", k);
      EXPECT_EQ(meta, m);
      EXPECT_EQ(value, v);
      EXPECT_EQ(99u, out.sequence);
      EXPECT_EQ(fmt, out.format);
      if (fmt == format::kRecordFormat2) {
        EXPECT_EQ(h.version, out.version);
      }
    }
  }
}

TEST(Record, EveryFlippedByteIsDetected) {
  for (uint8_t fmt : {format::kRecordFormat1, format::kRecordFormat2}) {
    RecordHeader h;
    h.format = fmt;
    h.sequence = 1;
    h.version = Version{77, 1};
    const std::string meta = fmt == format::kRecordFormat1 ? "" : TextPlain();
    std::string rec;
    AppendRecord(h, "some-key", meta, "some value bytes", kSalt, 4096, &rec);
    const size_t payload = RecordHeaderSize(fmt) + 8 + meta.size() + 16;  // padding is not covered
    for (size_t i = 0; i < payload; i++) {
      for (int bit = 0; bit < 8; bit++) {
        std::string bad = rec;
        bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
        RecordHeader out;
        std::string_view k, m, v;
        EXPECT_FALSE(ParseRecord(bad, kSalt, 4096, &out, &k, &m, &v).ok())
            << int(fmt) << " " << i << ":" << bit;
      }
    }
  }
}

// The head (header, key, metadata) validates on its own: what hole punching keeps, and what the
// change feed and Head-only readers need.
TEST(Record, TheHeadAloneValidatesAndCoversTheMetadata) {
  RecordHeader h;
  h.version = Version{1, 2};
  const std::string meta = TextPlain();
  std::string rec;
  AppendRecord(h, "key", meta, std::string(10000, 'x'), kSalt, 4096, &rec);
  const size_t head = 56 + 3 + meta.size();
  RecordHeader out;
  std::string_view k, m;
  ASSERT_EQ(HeaderCheck::kValid, DecodeRecordHead(rec.data(), head, kSalt, 4096, &out, &k, &m));
  EXPECT_EQ("key", k);
  EXPECT_EQ(meta, m);
  EXPECT_EQ(head, out.head_len());
  EXPECT_EQ(HeaderCheck::kInvalid, DecodeRecordHead(rec.data(), head - 1, kSalt, 4096, &out));
  for (size_t i = 56 + 3; i < head; i++) {
    std::string bad = rec;
    bad[i] ^= 0x20;
    EXPECT_EQ(HeaderCheck::kInvalid, DecodeRecordHead(bad.data(), head, kSalt, 4096, &out)) << i;
  }
  // Hole punching keeps the head: the released range starts at the block after it.
  PunchRange r = PunchableRange(4096, head, rec.size());
  EXPECT_EQ(8192u, r.begin);
  EXPECT_GE(r.begin, 4096 + head);
}

TEST(Record, WrongSaltOrOffsetDoesNotValidate) {
  RecordHeader h;
  h.version = Version{1, 1};
  std::string rec;
  AppendRecord(h, "k", "", "v", kSalt, 4096, &rec);
  RecordHeader out;
  std::string_view k, m, v;
  EXPECT_TRUE(ParseRecord(rec, kSalt, 4096, &out, &k, &m, &v).ok());
  EXPECT_TRUE(ParseRecord(rec, kSalt + 1, 4096, &out, &k, &m, &v).IsCorruption());
  EXPECT_TRUE(ParseRecord(rec, kSalt, 4104, &out, &k, &m, &v).IsCorruption());
}

TEST(Record, ZeroHeaderIsRecognised) {
  std::string zeros(56, '\0');
  RecordHeader out;
  EXPECT_EQ(HeaderCheck::kZero, PeekRecordHeader(zeros.data(), zeros.size(), &out));
  EXPECT_EQ(HeaderCheck::kZero, DecodeRecordHead(zeros.data(), 40, kSalt, 0, &out));
}

TEST(Record, TruncatedRecordIsCorruption) {
  RecordHeader h;
  h.version = Version{1, 1};
  std::string rec;
  AppendRecord(h, "k", "", std::string(100, 'x'), kSalt, 4096, &rec);
  RecordHeader out;
  std::string_view k, m, v;
  EXPECT_TRUE(ParseRecord(rec.substr(0, 80), kSalt, 4096, &out, &k, &m, &v).IsCorruption());
  EXPECT_TRUE(ParseRecord(rec.substr(0, 50), kSalt, 4096, &out, &k, &m, &v).IsCorruption());
  EXPECT_TRUE(ParseRecord(rec.substr(0, 20), kSalt, 4096, &out, &k, &m, &v).IsCorruption());
}

TEST(Record, FieldBoundsAreEnforced) {
  auto peek = [](std::string rec) {
    RecordHeader out;
    return PeekRecordHeader(rec.data(), rec.size(), &out);
  };
  RecordHeader h;
  h.version = Version{5, 5};
  std::string rec;
  AppendRecord(h, "k", "", "v", kSalt, 4096, &rec);
  ASSERT_EQ(HeaderCheck::kValid, peek(rec));
  std::string bad = rec;
  EncodeFixed16(bad.data() + format::kOffKeyLen, 0);
  EXPECT_EQ(HeaderCheck::kInvalid, peek(bad));
  EncodeFixed16(bad.data() + format::kOffKeyLen, 1025);
  EXPECT_EQ(HeaderCheck::kInvalid, peek(bad));
  bad = rec;
  EncodeFixed32(bad.data() + format::kOffMetaLen, format::kMaxRecordMetaBytes + 1);
  EXPECT_EQ(HeaderCheck::kInvalid, peek(bad));
  bad = rec;
  bad[format::kOffFormat] = 3;  // an unknown format
  EXPECT_EQ(HeaderCheck::kInvalid, peek(bad));
  // A value, manifest or tombstone has a version; a chunk has none.
  bad = rec;
  EncodeFixed64(bad.data() + format::kOffVersionHlc, 0);
  EncodeFixed32(bad.data() + format::kOffVersionWriter, 0);
  EXPECT_EQ(HeaderCheck::kInvalid, peek(bad));
  bad[format::kOffType] = static_cast<char>(RecordType::kChunk);
  EXPECT_EQ(HeaderCheck::kValid, peek(bad));
  bad = rec;
  bad[format::kOffType] = static_cast<char>(RecordType::kChunk);
  EXPECT_EQ(HeaderCheck::kInvalid, peek(bad));
  // Chunks and tombstones carry no metadata.
  RecordHeader t;
  t.type = RecordType::kTombstone;
  t.version = Version{5, 5};
  std::string tomb;
  AppendRecord(t, "k", "", "", kSalt, 4096, &tomb);
  ASSERT_EQ(HeaderCheck::kValid, peek(tomb));
  EncodeFixed32(tomb.data() + format::kOffMetaLen, 1);
  EXPECT_EQ(HeaderCheck::kInvalid, peek(tomb));
  // A format-2 header needs its 56 bytes.
  EXPECT_EQ(HeaderCheck::kInvalid, peek(rec.substr(0, 48)));
}

TEST(Manifest, RoundTripAndValidation) {
  Manifest m;
  m.object_size = 300;
  m.object_crc = 42;
  m.chunks = {{1, 100, 4096}, {2, 200, 8192}};
  std::string enc = EncodeManifest(m);
  EXPECT_EQ(16u + 32u, enc.size());
  Manifest d;
  ASSERT_TRUE(DecodeManifest(enc, &d).ok());
  EXPECT_EQ(2u, d.chunks.size());
  EXPECT_EQ(8192u, d.chunks[1].offset);
  EXPECT_TRUE(DecodeManifest(enc.substr(0, 40), &d).IsCorruption());
  m.object_size = 301;
  EXPECT_TRUE(DecodeManifest(EncodeManifest(m), &d).IsCorruption());
}

}  // namespace
}  // namespace cairn
