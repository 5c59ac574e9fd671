#include "cairn/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace cairn {

TEST(Status, OkHasNoMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ("OK", s.ToString());
}

TEST(Status, ErrnoMapsToWhatTheCallerShouldDo) {
  EXPECT_TRUE(Status::FromErrno(ENOSPC, "pwrite x").IsNoSpace());
  EXPECT_TRUE(Status::FromErrno(EIO, "fdatasync x").IsIOError());
  EXPECT_TRUE(Status::FromErrno(ENOENT, "open x").IsNotFound());
  EXPECT_EQ("IOError: fdatasync x: Input/output error",
            Status::FromErrno(EIO, "fdatasync x").ToString());
}

TEST(Status, ContextIsPrefixed) {
  EXPECT_EQ("Corruption: vol 3: bad crc",
            Status::Corruption("bad crc").WithContext("vol 3").ToString());
  EXPECT_TRUE(Status::OK().WithContext("x").ok());
}

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd");
  return x / 2;
}

Status UseHalf(int x, int* out) {
  CAIRN_ASSIGN_OR_RETURN(int h, Half(x));
  *out = h;
  return Status::OK();
}

TEST(Result, ValueOrStatus) {
  int out = 0;
  EXPECT_TRUE(UseHalf(4, &out).ok());
  EXPECT_EQ(2, out);
  EXPECT_TRUE(UseHalf(3, &out).IsInvalidArgument());
}

}  // namespace cairn
