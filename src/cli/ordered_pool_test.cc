#include "cli/ordered_pool.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace cairn::cli {
namespace {

TEST(RunOrdered, RunsEveryItemOnce) {
  std::vector<std::atomic<int>> runs(1000);
  std::atomic<bool> stop{false};
  int ticks = 0;
  size_t started = RunOrdered(
      runs.size(), 8, [&](size_t i) { runs[i]++; }, [&] { ticks++; }, &stop);
  EXPECT_EQ(runs.size(), started);
  for (auto& r : runs) EXPECT_EQ(1, r.load());
  EXPECT_GE(ticks, 1);  // at least the final tick
}

TEST(RunOrdered, ItemsStartInOrder) {
  std::mutex mu;
  std::vector<size_t> order;
  std::atomic<bool> stop{false};
  RunOrdered(
      200, 1,
      [&](size_t i) {
        std::lock_guard<std::mutex> l(mu);
        order.push_back(i);
      },
      [] {}, &stop);
  ASSERT_EQ(200u, order.size());
  for (size_t i = 0; i < order.size(); i++) EXPECT_EQ(i, order[i]);
}

TEST(RunOrdered, StopStartsNoMoreItems) {
  std::atomic<bool> stop{false};
  std::atomic<int> ran{0};
  size_t started = RunOrdered(
      1000, 4,
      [&](size_t i) {
        ran++;
        if (i == 10) stop = true;
      },
      [] {}, &stop);
  EXPECT_EQ(static_cast<size_t>(ran.load()), started);
  EXPECT_LT(started, 1000u);
  EXPECT_GE(started, 11u);
}

TEST(RunOrdered, NothingToDo) {
  std::atomic<bool> stop{false};
  int ticks = 0;
  EXPECT_EQ(0u, RunOrdered(
                    0, 4, [](size_t) {}, [&] { ticks++; }, &stop));
  EXPECT_EQ(1, ticks);
}

TEST(ByteBudget, AdmitsAnOversizedRequestAlone) {
  ByteBudget b(100);
  b.Acquire(500);  // nothing held: admitted
  std::atomic<bool> second{false};
  std::thread t([&] {
    b.Acquire(10);
    second = true;
    b.Release(10);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(second.load());  // waits while the budget is spent
  b.Release(500);
  t.join();
  EXPECT_TRUE(second.load());
}

}  // namespace
}  // namespace cairn::cli
