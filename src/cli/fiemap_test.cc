#include "cli/fiemap.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace cairn::cli {
namespace {

TEST(PhysicalReadOrder, PhysicalOffsetsFirstThenInodes) {
  std::vector<PlacementKey> keys = {
      {std::nullopt, 7},
      {uint64_t{8192}, 1},
      {std::nullopt, 3},
      {uint64_t{4096}, 9},
  };
  EXPECT_EQ((std::vector<size_t>{3, 1, 2, 0}), PhysicalReadOrder(keys));
}

TEST(PhysicalReadOrder, SameOffsetFallsBackToInode) {
  std::vector<PlacementKey> keys = {{uint64_t{0}, 5}, {uint64_t{0}, 2}};
  EXPECT_EQ((std::vector<size_t>{1, 0}), PhysicalReadOrder(keys));
}

TEST(PhysicalReadOrder, Empty) { EXPECT_TRUE(PhysicalReadOrder({}).empty()); }

class FirstExtentOffsetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn_fiemap_XXXXXX";
    fd_ = ::mkstemp(tmpl);
    ASSERT_GE(fd_, 0);
    path_ = tmpl;
  }
  void TearDown() override {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  int fd_ = -1;
  std::string path_;
};

TEST_F(FirstExtentOffsetTest, EmptyFileHasNoPlace) {
  EXPECT_FALSE(FirstExtentOffset(fd_).has_value());
}

TEST_F(FirstExtentOffsetTest, SyncedFileHasAPlaceWhereFiemapWorks) {
  std::string data(64 << 10, 'x');
  ASSERT_EQ(static_cast<ssize_t>(data.size()), ::write(fd_, data.data(), data.size()));
  ASSERT_EQ(0, ::fsync(fd_));
  // tmpfs and some others have no FIEMAP; then the answer must be "unknown", never a guess.
  std::optional<uint64_t> off = FirstExtentOffset(fd_);
  if (off.has_value()) {
    EXPECT_EQ(0u, *off % 512);
  }
}

TEST(FirstExtentOffset, NotAFile) { EXPECT_FALSE(FirstExtentOffset(-1).has_value()); }

}  // namespace
}  // namespace cairn::cli
