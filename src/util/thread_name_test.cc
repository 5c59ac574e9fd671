#include "util/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <thread>

namespace cairn {
namespace {

std::string NameOfThisThread() {
  char buf[32] = {};
  EXPECT_EQ(pthread_getname_np(pthread_self(), buf, sizeof(buf)), 0);
  return buf;
}

TEST(ThreadName, NamesTheCallingThreadAndCutsLongNamesToFifteenCharacters) {
  std::string short_name, long_name;
  std::thread([&] {
    SetThreadName("cairn-prepare");
    short_name = NameOfThisThread();
    SetThreadName("a-name-longer-than-fifteen");
    long_name = NameOfThisThread();
  }).join();
  EXPECT_EQ(short_name, "cairn-prepare");
  EXPECT_EQ(long_name, "a-name-longer-t");
}

}  // namespace
}  // namespace cairn
