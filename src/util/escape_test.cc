#include "util/escape.h"

#include <gtest/gtest.h>

#include <string>

namespace cairn {
namespace {

using namespace std::string_literals;

TEST(EscapeKey, PrintableAsciiAndValidUtf8PassThrough) {
  EXPECT_EQ("a/b c~", EscapeKey("a/b c~"));
  EXPECT_EQ("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
            EscapeKey("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
}

TEST(EscapeKey, ControlBytesDelAndBackslash) {
  EXPECT_EQ("a\\x0ab", EscapeKey("a\nb"));
  EXPECT_EQ("\\x00\\x1f\\x7f", EscapeKey("\0\x1f\x7f"s));
  EXPECT_EQ("\\x09", EscapeKey("\t"));
  EXPECT_EQ("a\\\\xff", EscapeKey("a\\xff"));  // a literal backslash-x-f-f...
  EXPECT_EQ("a\\xff", EscapeKey("a\xff"));     // ...differs from the byte 0xff
}

TEST(EscapeKey, InvalidUtf8BytesOneByOne) {
  EXPECT_EQ("\\x80", EscapeKey("\x80"));                      // lone continuation byte
  EXPECT_EQ("\\xc3", EscapeKey("\xc3"));                      // truncated sequence at the end
  EXPECT_EQ("\\xc3a", EscapeKey(std::string("\xc3") + "a"));  // bad continuation
  EXPECT_EQ("\\xc0\\x80", EscapeKey("\xc0\x80"));             // overlong NUL
  EXPECT_EQ("\\xe0\\x80\\xaf", EscapeKey("\xe0\x80\xaf"));    // overlong '/'
  EXPECT_EQ("\\xed\\xa0\\x80", EscapeKey("\xed\xa0\x80"));    // surrogate U+D800
  EXPECT_EQ("\\xf4\\x90\\x80\\x80", EscapeKey("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_EQ("\\xf5", EscapeKey("\xf5"));
  EXPECT_EQ("\xf4\x8f\xbf\xbf", EscapeKey("\xf4\x8f\xbf\xbf"));  // U+10FFFF is valid
  EXPECT_EQ("\\xe2\\x82", EscapeKey("\xe2\x82"));
}

TEST(EscapeKeyForJson, LeavesControlsToTheEncoder) {
  EXPECT_EQ("a\nb", EscapeKeyForJson("a\nb"));
  EXPECT_EQ("a\\\\b\\xff", EscapeKeyForJson("a\\b\xff"));
  EXPECT_EQ("caf\xc3\xa9", EscapeKeyForJson("caf\xc3\xa9"));
}

TEST(OneLine, EscapesLineBreaksButKeepsBackslashes) {
  EXPECT_EQ("a\\x0ab\\x0dc\\d", OneLine("a\nb\rc\\d"));
  EXPECT_EQ("\\xff", OneLine("\xff"));
}

}  // namespace
}  // namespace cairn
