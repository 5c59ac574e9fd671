// PeriodicThread (engine/periodic_thread.h): the task runs every interval, at once when woken
// (also when woken while it runs), never after Stop, and Stop is safe unstarted and twice. Waits
// are bounded; nothing asserts how fast anything runs.
#include "engine/periodic_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace cairn {
namespace {

using std::chrono::milliseconds;

// Waits (at most 10 s) until `pred` holds.
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 2000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

TEST(PeriodicThread, RunsTheTaskEveryInterval) {
  std::atomic<int> runs{0};
  PeriodicThread t;
  t.Start(milliseconds(1), [&] { runs++; });
  EXPECT_TRUE(Eventually([&] { return runs.load() >= 3; }));
  t.Stop();
  const int after = runs.load();
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(runs.load(), after) << "the task ran after Stop";
}

TEST(PeriodicThread, AWakeRunsTheTaskWithoutWaitingForTheInterval) {
  std::atomic<int> runs{0};
  PeriodicThread t;
  t.Start(std::chrono::hours(1), [&] { runs++; });
  t.Wake();
  EXPECT_TRUE(Eventually([&] { return runs.load() == 1; }));
  t.Wake();
  EXPECT_TRUE(Eventually([&] { return runs.load() == 2; }));
  t.Stop();  // does not wait for the hour
}

TEST(PeriodicThread, AWakeWhileTheTaskRunsIsNotLost) {
  std::atomic<int> runs{0};
  std::atomic<bool> in_task{false}, release{false};
  PeriodicThread t;
  t.Start(std::chrono::hours(1), [&] {
    if (runs++ == 0) {
      in_task = true;
      while (!release) std::this_thread::sleep_for(milliseconds(1));
    }
  });
  t.Wake();
  ASSERT_TRUE(Eventually([&] { return in_task.load(); }));
  t.Wake();  // while the first run is in progress
  release = true;
  EXPECT_TRUE(Eventually([&] { return runs.load() == 2; }));
  t.Stop();
}

TEST(PeriodicThread, StopIsSafeUnstartedAndTwice) {
  PeriodicThread never;
  never.Stop();
  PeriodicThread t;
  t.Start(milliseconds(1), [] {});
  t.Stop();
  t.Stop();
}

}  // namespace
}  // namespace cairn
