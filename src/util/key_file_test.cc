// Keys as text and files (docs/protocol.md section 8): what is accepted, and that a file that
// holds secrets is refused when its group or others may read it.
#include "util/key_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace cairn {
namespace {

TEST(KeyFile, ParsesIdAndSecret) {
  Result<AuthKey> k = ParseAuthKey("local:0123456789abcdef\n", "test");
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->id, "local");
  EXPECT_EQ(k->secret, "0123456789abcdef");
  // A secret may hold ':' (only the first one separates).
  k = ParseAuthKey("a:0123456789:abcdef", "test");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->secret, "0123456789:abcdef");
}

TEST(KeyFile, BadKeysAreRefusedWithoutShowingTheSecret) {
  auto bad = [](std::string_view text, std::string_view words) {
    Result<AuthKey> k = ParseAuthKey(text, "from");
    ASSERT_FALSE(k.ok()) << text;
    EXPECT_TRUE(k.status().IsInvalidArgument());
    EXPECT_NE(k.status().message().find(words), std::string::npos) << k.status().message();
    EXPECT_EQ(k.status().message().find("sekret"), std::string::npos);
  };
  bad("no-colon", "ID:SECRET");
  bad(":0123456789abcdefsekret", "key id");
  bad("bad id:0123456789abcdefsekret", "key id");
  bad("id:short-sekret", "16 to 1024");
  bad("id:0123456789abcdefsekret\nmore", "one line");
  EXPECT_TRUE(CheckKeyId(std::string(64, 'a')).ok());
  EXPECT_FALSE(CheckKeyId(std::string(65, 'a')).ok());
}

TEST(KeyFile, Issue15AFileOthersMayReadIsRefused) {
  char tmpl[] = "/tmp/cairn_key_XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  const std::string path = tmpl;
  { std::ofstream(path) << "local:0123456789abcdef\n"; }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  Result<AuthKey> k = ReadKeyFile(path);
  ASSERT_FALSE(k.ok());
  EXPECT_TRUE(k.status().IsPermissionDenied());
  EXPECT_NE(k.status().message().find("group or others"), std::string::npos)
      << k.status().message();
  EXPECT_NE(k.status().message().find("chmod 600"), std::string::npos);
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  EXPECT_TRUE(ReadKeyFile(path).status().IsPermissionDenied());
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  k = ReadKeyFile(path);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->id, "local");
  ::unlink(path.c_str());
  EXPECT_TRUE(ReadKeyFile(path).status().IsNotFound());
}

}  // namespace
}  // namespace cairn
