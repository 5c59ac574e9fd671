#include "util/base64.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

TEST(Base64, KnownVectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Decode("Zm9vYg==").value(), "foob");
  EXPECT_EQ(Base64Decode("").value(), "");
}

TEST(Base64, RoundTripsBinary) {
  std::string all;
  for (int i = 0; i < 256; i++) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n < all.size(); n += 7) EXPECT_EQ(Base64Decode(Base64Encode(all.substr(0, n))).value(), all.substr(0, n));
}

TEST(Base64, RejectsNonCanonical) {
  for (const char* bad : {"Zg", "Zg=", "Z===", "Zm 9v", "Zm9v\n", "Zh==", "!!!!"})
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
}

}  // namespace
}  // namespace cairn
