#include "util/crc32c.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace cairn {

TEST(Crc32c, StandardCheckValue) { EXPECT_EQ(0xE3069283u, crc32c::Value("123456789")); }

TEST(Crc32c, EmptyIsZero) { EXPECT_EQ(0u, crc32c::Value("")); }

TEST(Crc32c, KnownVectors) {
  // RFC 3720 B.4: 32 bytes of zeros and of 0xff.
  EXPECT_EQ(0x8A9136AAu, crc32c::Value(std::string(32, '\0')));
  EXPECT_EQ(0x62A8AB43u, crc32c::Value(std::string(32, '\xff')));
  EXPECT_EQ(0x9A71BB4Cu, crc32c::Value("hello"));  // docs/format.md worked example
}

TEST(Crc32c, ExtendEqualsWhole) {
  std::string s(10000, 'x');
  for (size_t i = 0; i < s.size(); i++) s[i] = static_cast<char>(i * 7);
  for (size_t cut : {0ul, 1ul, 7ul, 4096ul, 9999ul, 10000ul}) {
    uint32_t a = crc32c::Value(s.data(), cut);
    EXPECT_EQ(crc32c::Value(s), crc32c::Extend(a, s.data() + cut, s.size() - cut)) << cut;
  }
}

TEST(Crc32c, CombineEqualsWhole) {
  std::string s(70000, 'x');
  for (size_t i = 0; i < s.size(); i++) s[i] = static_cast<char>(i * 131 + (i >> 9));
  for (size_t cut : {0ul, 1ul, 3ul, 8ul, 4095ul, 4096ul, 65537ul, 69999ul, 70000ul}) {
    uint32_t a = crc32c::Value(s.data(), cut);
    uint32_t b = crc32c::Value(s.data() + cut, s.size() - cut);
    EXPECT_EQ(crc32c::Value(s), crc32c::Combine(a, b, s.size() - cut)) << cut;
  }
  // Three pieces, folded left to right, as verify folds a large object's chunks.
  uint32_t crc = 0;
  for (size_t at : {0ul, 30000ul, 60000ul}) {
    size_t n = std::min<size_t>(30000, s.size() - at);
    crc = crc32c::Combine(crc, crc32c::Value(s.data() + at, n), n);
  }
  EXPECT_EQ(crc32c::Value(s), crc);
}

}  // namespace cairn
