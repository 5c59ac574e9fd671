#include "cli/output.h"

#include <gtest/gtest.h>

namespace cairn::cli {
namespace {

TEST(HumanBytes, BinaryUnits) {
  EXPECT_EQ("0 B", HumanBytes(0));
  EXPECT_EQ("1023 B", HumanBytes(1023));
  EXPECT_EQ("1.0 KiB", HumanBytes(1024));
  EXPECT_EQ("1.5 KiB", HumanBytes(1536));
  EXPECT_EQ("1.0 MiB", HumanBytes(1048576));
  EXPECT_EQ("64.0 GiB", HumanBytes(uint64_t{64} << 30));
  EXPECT_EQ("16.0 EiB", HumanBytes(UINT64_MAX));
  EXPECT_EQ("1048576 (1.0 MiB)", ExactAndHuman(1048576));
}

TEST(Crc32cHex, EightLowercaseDigits) {
  EXPECT_EQ("9a71bb4c", Crc32cHex(0x9A71BB4Cu));
  EXPECT_EQ("00000001", Crc32cHex(1));
}

TEST(FormatUtcMicros, IsoWithMicroseconds) {
  EXPECT_EQ("1970-01-01T00:00:00.000000Z", FormatUtcMicros(0));
  // 2026-11-21T22:54:39Z is 1795301679 s after the epoch.
  EXPECT_EQ("2026-11-21T22:54:39.123456Z",
            FormatUtcMicros(uint64_t{1795301679} * 1000000 + 123456));
}

TEST(ObjectJson, FieldsAndEscapedKey) {
  ObjectInfo i;
  i.key = "a\n\xff";
  i.size = 5;
  i.crc32c = 0x9A71BB4Cu;
  i.sequence = 7;
  i.mtime_us = 1000001;
  EXPECT_EQ(R"({"key":"a\n\\xff","size":5,"crc32c":"9a71bb4c","sequence":7,"mtime_us":1000001,)"
            R"("version":"000000000000000000000000"})",
            ObjectJson(i, false).dump());
  EXPECT_EQ("1970-01-01T00:00:01.000001Z", ObjectJson(i, true)["mtime"]);
  // Issue 15: the version, and the metadata that is set, escaped like keys.
  i.version = Version{0x1234, 7};
  i.metadata.content_type = "text/plain";
  i.metadata.md5 = std::string("\x00\x01\xfe\xff", 4);
  i.metadata.user["owner"] = "a\xff";
  const Json j = ObjectJson(i, false);
  EXPECT_EQ(j["version"], "000000000000123400000007");
  EXPECT_EQ(j["content_type"], "text/plain");
  EXPECT_EQ(j["md5"], "0001feff");
  EXPECT_EQ(j["meta"]["owner"], "a\\xff");
  EXPECT_FALSE(j.contains("system_meta"));
}

TEST(StatsJson, EveryField) {
  StoreStats s;
  s.read_only = true;
  s.read_only_reason = "fsync failed\n";
  s.volume_list.push_back(VolumeStats{3, "sealed", 1 << 20, 4096, 100, 200, 1});
  Json j = StatsJson(s);
  for (const char* f :
       {"objects", "logical_bytes", "live_bytes", "dead_bytes", "volumes", "volume_capacity",
        "allocated_bytes", "index_allocated_bytes", "index_memory_bytes", "next_sequence",
        "read_only", "read_only_reason", "volume_list"})
    EXPECT_TRUE(j.contains(f)) << f;
  EXPECT_EQ("fsync failed\\x0a", j["read_only_reason"]);
  EXPECT_EQ(3, j["volume_list"][0]["id"]);
  EXPECT_EQ("sealed", j["volume_list"][0]["state"]);
  EXPECT_EQ(200, j["volume_list"][0]["dead_bytes"]);
}

}  // namespace
}  // namespace cairn::cli
