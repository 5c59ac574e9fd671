#include "cli/context.h"

#include <gtest/gtest.h>

namespace cairn::cli {
namespace {

TEST(ParseByteSize, SuffixesAreBinary) {
  EXPECT_EQ(1048576u, ParseByteSize("1048576"));
  EXPECT_EQ(8192u, ParseByteSize("8K"));
  EXPECT_EQ(uint64_t{8} << 20, ParseByteSize("8M"));
  EXPECT_EQ(uint64_t{8} << 20, ParseByteSize("8m"));
  EXPECT_EQ(uint64_t{8} << 20, ParseByteSize("8MiB"));
  EXPECT_EQ(uint64_t{2} << 30, ParseByteSize("2G"));
}

TEST(ParseByteSize, RejectsMalformedAndOverflow) {
  for (const char* bad : {"", "M", "-1M", "8X", "8MB", "1.5G", " 8M", "8M ", "0x10",
                          "18446744073709551616", "17179869184G"})
    EXPECT_FALSE(ParseByteSize(bad).has_value()) << bad;
}

TEST(MakeContext, ValidatesFlags) {
  GlobalFlags f;
  Context ctx;
  ASSERT_TRUE(MakeContext(f, "ls", &ctx).ok());
  EXPECT_EQ("./cairn-data", ctx.store_dir);
  EXPECT_EQ(Durability::kSync, ctx.options.durability);
  EXPECT_TRUE(static_cast<bool>(ctx.options.info_log));

  f.durability = "interval=250";
  f.volume_size = "8M";
  ASSERT_TRUE(MakeContext(f, "put", &ctx).ok());
  EXPECT_EQ(Durability::kInterval, ctx.options.durability);
  EXPECT_EQ(250u, ctx.options.sync_interval_ms);
  EXPECT_EQ(uint64_t{8} << 20, ctx.options.volume_capacity);

  f.durability = "fast";
  Outcome o = MakeContext(f, "put", &ctx);
  EXPECT_EQ(ExitCode::kUsage, o.code());
  EXPECT_NE(std::string::npos, o.message().find("--durability"));

  f.durability = "";
  f.volume_size = "512K";  // below kMinVolumeCapacity
  EXPECT_EQ(ExitCode::kUsage, MakeContext(f, "put", &ctx).code());
  f.volume_size = "65G";
  EXPECT_EQ(ExitCode::kUsage, MakeContext(f, "put", &ctx).code());
}

}  // namespace
}  // namespace cairn::cli
