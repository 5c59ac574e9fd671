#include "engine/record.h"

#include <gtest/gtest.h>

#include <string>

#include "util/coding.h"

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

// docs/format.md 3.3, byte for byte.
TEST(Record, WorkedExampleFromFormatDoc) {
  RecordHeader h;
  h.type = RecordType::kValue;
  h.sequence = 7;
  h.timestamp_us = 1700000000000000ull;
  std::string rec;
  AppendRecord(h, "k1", "hello", kSalt, 4096, &rec);
  EXPECT_EQ(
      "c3a1524e010102000500000000000000"
      "0700000000000000"
      "00401e18240a0600"
      "4cbb719ae913b9f5"
      "6b3168656c6c6f00",
      Hex(rec));
  EXPECT_EQ(48u, rec.size());
}

TEST(Record, RoundTrip) {
  for (size_t vlen : {0ul, 1ul, 7ul, 8ul, 100ul, 4096ul, 100000ul}) {
    std::string value(vlen, 'v');
    for (size_t i = 0; i < vlen; i++) value[i] = static_cast<char>(i * 131);
    RecordHeader h;
    h.type = RecordType::kValue;
    h.sequence = 99;
    std::string rec;
    AppendRecord(h, "key", value, kSalt, 8192, &rec);
    EXPECT_EQ(0u, rec.size() % 8);
    EXPECT_EQ(RecordLength(3, vlen), rec.size());
    RecordHeader out;
    std::string_view k, v;
    ASSERT_TRUE(ParseRecord(rec, kSalt, 8192, &out, &k, &v).ok()) << vlen;
    EXPECT_EQ("key", k);
    EXPECT_EQ(value, v);
    EXPECT_EQ(99u, out.sequence);
  }
}

TEST(Record, EveryFlippedByteIsDetected) {
  RecordHeader h;
  h.sequence = 1;
  std::string rec;
  AppendRecord(h, "some-key", "some value bytes", kSalt, 4096, &rec);
  size_t payload = format::kRecordHeaderSize + 8 + 16;  // padding bytes are not covered
  for (size_t i = 0; i < payload; i++) {
    for (int bit = 0; bit < 8; bit++) {
      std::string bad = rec;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      RecordHeader out;
      std::string_view k, v;
      EXPECT_FALSE(ParseRecord(bad, kSalt, 4096, &out, &k, &v).ok()) << i << ":" << bit;
    }
  }
}

TEST(Record, WrongSaltOrOffsetDoesNotValidate) {
  RecordHeader h;
  std::string rec;
  AppendRecord(h, "k", "v", kSalt, 4096, &rec);
  RecordHeader out;
  std::string_view k, v;
  EXPECT_TRUE(ParseRecord(rec, kSalt, 4096, &out, &k, &v).ok());
  EXPECT_TRUE(ParseRecord(rec, kSalt + 1, 4096, &out, &k, &v).IsCorruption());
  EXPECT_TRUE(ParseRecord(rec, kSalt, 4104, &out, &k, &v).IsCorruption());
}

TEST(Record, ZeroHeaderIsRecognised) {
  std::string zeros(40, '\0');
  RecordHeader out;
  EXPECT_EQ(HeaderCheck::kZero, DecodeRecordHeader(zeros.data(), {}, kSalt, 0, &out));
}

TEST(Record, TruncatedRecordIsCorruption) {
  RecordHeader h;
  std::string rec;
  AppendRecord(h, "k", std::string(100, 'x'), kSalt, 4096, &rec);
  RecordHeader out;
  std::string_view k, v;
  EXPECT_TRUE(ParseRecord(rec.substr(0, 60), kSalt, 4096, &out, &k, &v).IsCorruption());
  EXPECT_TRUE(ParseRecord(rec.substr(0, 20), kSalt, 4096, &out, &k, &v).IsCorruption());
}

TEST(Record, KeyLengthBoundsAreEnforced) {
  RecordHeader h;
  std::string rec;
  AppendRecord(h, "k", "v", kSalt, 4096, &rec);
  EncodeFixed16(rec.data() + format::kOffKeyLen, 0);
  RecordHeader out;
  EXPECT_EQ(HeaderCheck::kInvalid, DecodeRecordHeader(rec.data(), {}, kSalt, 4096, &out));
  EncodeFixed16(rec.data() + format::kOffKeyLen, 1025);
  EXPECT_EQ(HeaderCheck::kInvalid, DecodeRecordHeader(rec.data(), {}, kSalt, 4096, &out));
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
