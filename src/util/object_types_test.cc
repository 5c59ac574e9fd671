#include <gtest/gtest.h>

#include "cairn/object_store.h"
#include "util/metadata_codec.h"

namespace cairn {
namespace {

TEST(Version, OrderIsHlcThenWriter) {
  Version a = Version::Make(1000, 0, 7), b = Version::Make(1000, 1, 1), c = Version::Make(1001, 0, 0);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(Version::Make(5, 5, 1), Version::Make(5, 5, 2));
  EXPECT_TRUE(Version().none());
  EXPECT_FALSE(a.none());
  EXPECT_EQ(a.millis(), 1000u);
  EXPECT_EQ(b.logical(), 1u);
}

TEST(Version, StringRoundTripsAndSortsLikeTheVersions) {
  Version a = Version::Make(0x18f3a2b4c5dULL, 42, 0xdeadbeef);
  EXPECT_EQ(a.ToString(), "018f3a2b4c5d002adeadbeef");
  Version back;
  ASSERT_TRUE(Version::Parse(a.ToString(), &back));
  EXPECT_EQ(back, a);
  Version b = Version::Make(0x18f3a2b4c5dULL, 43, 0);
  EXPECT_LT(a.ToString(), b.ToString());
  for (const char* bad : {"", "018f3a2b4c5d002adeadbee", "018f3a2b4c5d002adeadbeefx",
                          "018F3A2B4C5D002ADEADBEEF", "018f3a2b4c5d002adeadbeeg"})
    EXPECT_FALSE(Version::Parse(bad, &back)) << bad;
}

TEST(LogPosition, OrdersByVolumeThenOffsetAndParses) {
  EXPECT_LT(LogPosition(1, 9999), LogPosition(2, 0));
  EXPECT_LT(LogPosition(2, 4096), LogPosition(2, 4104));
  LogPosition p;
  ASSERT_TRUE(LogPosition::Parse("3:4096", &p));
  EXPECT_EQ(p, LogPosition(3, 4096));
  EXPECT_EQ(p.ToString(), "3:4096");
  for (const char* bad : {"", "3", ":1", "1:", "x:1", "4294967296:0", "1:18446744073709551616"})
    EXPECT_FALSE(LogPosition::Parse(bad, &p)) << bad;
}

TEST(ValidateKey, EmptyIsInvalidLongIsLimitExceeded) {
  EXPECT_TRUE(ValidateKey("k").ok());
  EXPECT_TRUE(ValidateKey(std::string(1024, 'k')).ok());
  EXPECT_TRUE(ValidateKey("").IsInvalidArgument());
  Status s = ValidateKey(std::string(1025, 'k'));
  EXPECT_TRUE(s.IsLimitExceeded());
  EXPECT_NE(s.message().find("max_key_bytes"), std::string::npos);
}

ObjectMetadata Sample() {
  ObjectMetadata m;
  m.content_type = "image/jpeg";
  m.md5 = std::string(16, '\x5a');
  m.user = {{"camera", "x100"}, {"a", ""}};
  m.system = {{"content-encoding", "gzip"}};
  return m;
}

TEST(Metadata, EmptyEncodesToNothing) {
  EXPECT_EQ(EncodeMetadata(ObjectMetadata()), "");
  ObjectMetadata m = Sample();
  ASSERT_TRUE(DecodeMetadata("", &m).ok());
  EXPECT_TRUE(m.empty());
}

TEST(Metadata, RoundTripsCanonicallyAndSizeIsExact) {
  ObjectMetadata m = Sample();
  std::string enc = EncodeMetadata(m);
  EXPECT_EQ(enc.size(), m.EncodedSize());
  ObjectMetadata back;
  ASSERT_TRUE(DecodeMetadata(enc, &back).ok());
  EXPECT_EQ(back, m);
  EXPECT_EQ(EncodeMetadata(back), enc);
}

TEST(Metadata, LimitsAreNamed) {
  ObjectMetadata m;
  m.user["big"] = std::string(9000, 'v');
  Status s = CheckMetadata(m, kDefaultMaxMetaBytes);
  EXPECT_TRUE(s.IsLimitExceeded());
  EXPECT_NE(s.message().find("max_meta_bytes"), std::string::npos);
  EXPECT_TRUE(CheckMetadata(m, 10000).ok());
  ObjectMetadata bad;
  bad.md5 = "short";
  EXPECT_TRUE(CheckMetadata(bad).IsInvalidArgument());
  bad = ObjectMetadata();
  bad.user[std::string(256, 'n')] = "v";
  EXPECT_TRUE(CheckMetadata(bad).IsInvalidArgument());
  bad = ObjectMetadata();
  bad.user[""] = "v";
  EXPECT_TRUE(CheckMetadata(bad).IsInvalidArgument());
}

TEST(Metadata, DecoderRejectsWhatTheEncoderNeverWrites) {
  std::string enc = EncodeMetadata(Sample());
  ObjectMetadata m;
  // Every truncation: cut inside an entry it fails; cut between entries it is a shorter but
  // canonical encoding (the length is framed by the record or frame around it).
  for (size_t n = 1; n < enc.size(); n++) {
    std::string cut = enc.substr(0, n);
    if (DecodeMetadata(cut, &m).ok()) {
      EXPECT_EQ(EncodeMetadata(m), cut) << n;
    }
  }
  EXPECT_TRUE(DecodeMetadata(enc.substr(0, 3), &m).IsCorruption());
  // Unknown format, unknown kind, duplicate and unordered names.
  EXPECT_TRUE(DecodeMetadata(std::string("\x02", 1), &m).IsCorruption());
  EXPECT_TRUE(DecodeMetadata(std::string("\x01\x09\x00\x00\x00", 5), &m).IsCorruption());
  std::string dup = std::string("\x01", 1) + std::string("\x03\x01\x01\x00", 4) + "ab" +
                    std::string("\x03\x01\x01\x00", 4) + "ab";
  EXPECT_TRUE(DecodeMetadata(dup, &m).IsCorruption());
  std::string unordered = std::string("\x01", 1) + std::string("\x03\x01\x01\x00", 4) + "bx" +
                          std::string("\x03\x01\x01\x00", 4) + "ax";
  EXPECT_TRUE(DecodeMetadata(unordered, &m).IsCorruption());
}

}  // namespace
}  // namespace cairn
