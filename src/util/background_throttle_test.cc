// BackgroundThrottle (util/background_throttle.h) on a fake clock: the pauses it asks for, not the
// time they take (nothing here sleeps or measures speed).
#include "util/background_throttle.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <vector>

namespace cairn {
namespace {

using Clock = BackgroundThrottle::Clock;
using std::chrono::milliseconds;

class BackgroundThrottleTest : public ::testing::Test {
 protected:
  void Work(milliseconds d) { now_ += d; }

  std::atomic<uint64_t> ops_{0};
  Clock::time_point now_{};
  std::vector<Clock::duration> sleeps_;
  // A sleep advances the fake clock by its length and is recorded. (Declared last: it reads the
  // clock when constructed.)
  BackgroundThrottle throttle_{&ops_, [this] { return now_; },
                            [this](Clock::duration d) {
                              sleeps_.push_back(d);
                              now_ += d;
                            }};
};

TEST_F(BackgroundThrottleTest, IdleForegroundOwesNoPause) {
  throttle_.Start();
  for (int i = 0; i < 10; ++i) {
    Work(milliseconds(5));
    throttle_.Step(4096, /*mbps=*/0, /*stopping=*/false);
  }
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(BackgroundThrottleTest, BusyForegroundGetsAsMuchTimeAsTheWorkTookCappedPerStep) {
  throttle_.Start();
  ops_ += 1;
  Work(milliseconds(4));
  throttle_.Step(4096, 0, false);
  ASSERT_EQ(sleeps_.size(), 1u);
  EXPECT_EQ(sleeps_[0], milliseconds(4));  // kYieldShare 1: as long as the work
  // A long step owes more than kMaxYield: paid kMaxYield at a time, the rest carried over.
  ops_ += 1;
  Work(milliseconds(25));
  throttle_.Step(4096, 0, false);
  ASSERT_EQ(sleeps_.size(), 2u);
  EXPECT_EQ(sleeps_[1], BackgroundThrottle::kMaxYield);
  // The step's own sleep is not counted as work: only the 1 ms of work after it adds.
  ops_ += 1;
  Work(milliseconds(1));
  throttle_.Step(4096, 0, false);
  ASSERT_EQ(sleeps_.size(), 3u);
  EXPECT_EQ(sleeps_[2], BackgroundThrottle::kMaxYield);  // 15 ms carried + 1 ms, capped
}

// Issue 3: under constant foreground load, many short steps (one punch each) may not be held back
// by more than the work they did. The old rule slept 1 ms after every step while operations
// arrived: 1,000 steps of 20 us of work slept 1 s for 20 ms of work. This is what the wall-clock
// test Reclaim.Issue3ThrottledPassProgressesUnderConstantForegroundLoad checks end to end.
TEST_F(BackgroundThrottleTest, Issue3ShortStepsUnderConstantLoadYieldNoMoreThanTheirWork) {
  throttle_.Start();
  Clock::duration work{};
  for (int i = 0; i < 1000; ++i) {
    ops_ += 1;
    now_ += std::chrono::microseconds(20);
    work += std::chrono::microseconds(20);
    throttle_.Step(4096, 0, false);
  }
  Clock::duration slept{};
  for (auto d : sleeps_) slept += d;
  EXPECT_LE(slept, work);
  EXPECT_GE(slept, work - BackgroundThrottle::kYieldQuantum);  // owed, less what is still carried
  for (auto d : sleeps_) EXPECT_GE(d, BackgroundThrottle::kYieldQuantum);  // one syscall per ms owed
}

TEST_F(BackgroundThrottleTest, LessThanAQuantumIsCarriedAndAClosingStoreDoesNotYield) {
  throttle_.Start();
  ops_ += 1;
  now_ += std::chrono::microseconds(400);
  throttle_.Step(0, 0, false);
  EXPECT_TRUE(sleeps_.empty());  // 0.4 ms < kYieldQuantum
  ops_ += 1;
  Work(milliseconds(5));
  throttle_.Step(0, 0, /*stopping=*/true);
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(BackgroundThrottleTest, TheBudgetHoldsOneSecondOfCreditAndWaitsForTheRest) {
  throttle_.Start();
  // 1 MB/s: 1.5 MB at once overdraws the one second of credit by 0.5 s.
  throttle_.Step(1'500'000, /*mbps=*/1, false);
  ASSERT_EQ(sleeps_.size(), 1u);
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(sleeps_[0]), milliseconds(500));
  // The bucket is full again (1 MB): 0.5 MB more waits 0.5 s too, so the rate holds.
  throttle_.Step(500'000, 1, false);
  ASSERT_EQ(sleeps_.size(), 2u);
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(sleeps_[1]), milliseconds(500));
  // After two idle seconds the bucket is empty: a full second's worth passes without waiting.
  Work(milliseconds(2000));
  throttle_.Step(1'000'000, 1, false);
  EXPECT_EQ(sleeps_.size(), 2u);
  // Unlimited: never waits.
  throttle_.Step(100'000'000, 0, false);
  EXPECT_EQ(sleeps_.size(), 2u);
}

}  // namespace
}  // namespace cairn
