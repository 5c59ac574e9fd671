#include "cli/bulk_paths.h"

#include <gtest/gtest.h>

#include "cairn/store.h"

namespace cairn::cli {
namespace {

TEST(ImportKey, PrefixPlusRelativePath) {
  EXPECT_EQ("a/b.txt", *ImportKey("", "a/b.txt"));
  EXPECT_EQ("backup/a/b.txt", *ImportKey("backup/", "a/b.txt"));
}

TEST(ImportKey, KeyLimitIsNamed) {
  EXPECT_TRUE(ImportKey("p/", std::string(kMaxKeyBytes - 2, 'x')).ok());
  Result<std::string> r = ImportKey("p/", std::string(kMaxKeyBytes - 1, 'x'));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(std::string::npos, r.status().message().find("max_key_bytes"));
}

TEST(ExportPath, StripsThePrefix) {
  EXPECT_EQ("a/b.txt", *ExportPath("backup/", "backup/a/b.txt"));
  EXPECT_EQ("x", *ExportPath("", "x"));
  EXPECT_EQ("..a/b..", *ExportPath("", "..a/b.."));  // dots inside a name are harmless
  EXPECT_EQ(".hidden", *ExportPath("", ".hidden"));
}

TEST(ExportPath, RefusesKeysThatEscapeOrCannotBeFiles) {
  for (std::string_view key : {"../etc/passwd", "a/../../b", "a/..", "..", "/etc/passwd", "a//b",
                               "a/", "./a", "a/./b", "p/", "."}) {
    Result<std::string> r = ExportPath("", key);
    EXPECT_FALSE(r.ok()) << key;
    if (!r.ok()) {
      EXPECT_TRUE(r.status().IsInvalidArgument()) << key;
    }
  }
  EXPECT_FALSE(ExportPath("", std::string("a\0b", 3)).ok());
  EXPECT_FALSE(ExportPath("p/", "p/").ok());  // the prefix alone names no file
  EXPECT_FALSE(ExportPath("p", "p/x").ok());  // "/x" is absolute
}

TEST(ExportPath, NameMaxIsNamed) {
  EXPECT_TRUE(ExportPath("", std::string(kMaxNameBytes, 'n')).ok());
  Result<std::string> r = ExportPath("", "d/" + std::string(kMaxNameBytes + 1, 'n'));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string::npos, r.status().message().find("NAME_MAX"));
}

}  // namespace
}  // namespace cairn::cli
