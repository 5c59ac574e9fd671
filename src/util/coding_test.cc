#include "util/coding.h"

#include <gtest/gtest.h>

namespace cairn {

TEST(Coding, LittleEndianBytes) {
  char b[8];
  EncodeFixed32(b, 0x04030201u);
  EXPECT_EQ(0x01, b[0]);
  EXPECT_EQ(0x04, b[3]);
  EXPECT_EQ(0x04030201u, DecodeFixed32(b));
  EncodeFixed64(b, 0x0807060504030201ull);
  EXPECT_EQ(0x08, b[7]);
  EXPECT_EQ(0x0807060504030201ull, DecodeFixed64(b));
  EncodeFixed16(b, 0xBEEF);
  EXPECT_EQ(0xBEEF, DecodeFixed16(b));
}

TEST(Coding, BigEndianSortsNumerically) {
  char a[4], b[4];
  EncodeBigEndian32(a, 255);
  EncodeBigEndian32(b, 256);
  EXPECT_LT(std::string(a, 4), std::string(b, 4));
  EXPECT_EQ(256u, DecodeBigEndian32(b));
}

TEST(Coding, AlignUp) {
  EXPECT_EQ(48u, AlignUp(47, 8));
  EXPECT_EQ(48u, AlignUp(48, 8));
  EXPECT_EQ(0u, AlignUp(0, 8));
}

}  // namespace cairn
