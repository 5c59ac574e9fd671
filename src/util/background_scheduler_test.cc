// BackgroundScheduler (cairn/background.h) on a fake clock: the rate it sets from the foreground
// latency it is told, and the waits it asks for. Nothing here sleeps or measures speed.
#include "cairn/background.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "util/background_throttle.h"

namespace cairn {
namespace {

using Clock = BackgroundScheduler::Clock;
using std::chrono::milliseconds;

class BackgroundSchedulerTest : public ::testing::Test {
 protected:
  std::unique_ptr<BackgroundScheduler> Make(BackgroundSchedulerOptions o) {
    o.now = [this] { return now_; };
    o.sleep = [this](Clock::duration d) {
      slept_ += d;
      now_ += d;
    };
    return std::make_unique<BackgroundScheduler>(std::move(o));
  }
  // One window of window_ms (500) of fake time: foreground requests of `latency_us` at a steady
  // `requests` per 500 ms (for as long as the window lasts), and background work that asks for
  // `bytes` in steps of 64 KiB (kSaturate: as much as it is given), each step taking 1 ms of
  // work unless its wait took longer. Then the window is judged (by an admission of nothing, as
  // a listing step makes).
  static constexpr uint64_t kSaturate = ~uint64_t{0};
  void Window(BackgroundScheduler* s, int requests, uint64_t latency_us, uint64_t bytes) {
    const uint64_t step = std::min<uint64_t>(64 << 10, bytes);
    const Clock::time_point start = now_;
    const Clock::time_point end = now_ + milliseconds(500);
    uint64_t recorded = 0;
    auto foreground = [&] {
      const double ms = std::chrono::duration<double, std::milli>(now_ - start).count();
      const uint64_t due = static_cast<uint64_t>(ms * requests / 500.0 + 0.999);
      for (; recorded < due; recorded++) s->RecordForeground(latency_us);
    };
    for (uint64_t done = 0; bytes == kSaturate ? now_ < end : done < bytes; done += step) {
      const Clock::time_point before = now_;
      s->Admit(BackgroundActivity::kRepair, step);
      if (now_ == before) now_ += milliseconds(1);
      foreground();
    }
    if (now_ < end) {
      now_ = end - std::chrono::microseconds(1);  // the window's last requests, inside it
      foreground();
      now_ = end;
    }
    s->Admit(BackgroundActivity::kRepair, 0);
  }
  // A fixed budget of `mbps` (no latency control).
  static BackgroundSchedulerOptions Fixed(uint32_t mbps) {
    BackgroundSchedulerOptions o;
    o.max_mbps = mbps;
    o.latency_control = false;
    return o;
  }
  // A ceiling of 64 MB/s held to a foreground p99 of 2 ms.
  static BackgroundSchedulerOptions Held() {
    BackgroundSchedulerOptions o;
    o.max_mbps = 64;
    o.p99_target_us = 2000;
    return o;
  }
  double Rate(const BackgroundScheduler& s) { return s.stats().rate_bytes_per_sec; }

  Clock::time_point now_{};
  Clock::duration slept_{};
};

TEST_F(BackgroundSchedulerTest, Issue12AWithNoForegroundWorkIsAdmittedAtTheCeiling) {
  BackgroundSchedulerOptions o;
  o.max_mbps = 10;
  auto s = Make(o);
  // 10 MB at 10 MB/s: about a second of waits (less the 100 ms burst), nothing more.
  for (int i = 0; i < 100; i++) s->Admit(BackgroundActivity::kReclaim, 100000);
  EXPECT_NEAR(std::chrono::duration<double>(slept_).count(), 0.9, 0.01);
  EXPECT_EQ(Rate(*s), 10e6);
  // Unlimited: no wait at all.
  auto u = Make(BackgroundSchedulerOptions());
  slept_ = {};
  for (int i = 0; i < 100; i++) u->Admit(BackgroundActivity::kReclaim, uint64_t{1} << 20);
  EXPECT_EQ(slept_, Clock::duration::zero());
}

TEST_F(BackgroundSchedulerTest, Issue12AForegroundOverTheTargetHalvesTheRateDownToTheFloor) {
  BackgroundSchedulerOptions o = Held();
  o.min_mbps = 4;
  auto s = Make(o);
  // Latency over the target while work takes all it is given: the rate halves every window...
  std::vector<double> rates;
  for (int w = 0; w < 6; w++) {
    Window(s.get(), 100, 5000, kSaturate);
    rates.push_back(Rate(*s));
  }
  EXPECT_LE(rates[0], 33e6);
  for (int w = 1; w < 6; w++)
    EXPECT_TRUE(rates[w] == 4e6 || rates[w] <= 0.55 * rates[w - 1]) << w << ": " << rates[w];
  // ...and stops at the floor, so the work still finishes.
  EXPECT_EQ(rates[5], 4e6);
  EXPECT_GE(s->stats().decreases, 5u);
  // Back under the target: it grows again, by a quarter per window, up to the ceiling.
  // (The first fast window may still hold the last slow requests of the one before it.)
  Window(s.get(), 100, 1000, kSaturate);
  Window(s.get(), 100, 1000, kSaturate);
  EXPECT_GT(Rate(*s), 4e6);
  EXPECT_LE(Rate(*s), 4e6 * 1.25 * 1.25);
  for (int w = 0; w < 30; w++) Window(s.get(), 100, 1000, kSaturate);
  EXPECT_EQ(Rate(*s), 64e6);
}

TEST_F(BackgroundSchedulerTest, Issue12ASlowForegroundWithoutBackgroundWorkLeavesTheRateAlone) {
  auto s = Make(Held());
  // Slow, but no background byte ran in those windows: not the work's fault.
  for (int w = 0; w < 5; w++) Window(s.get(), 100, 50000, 0);
  EXPECT_EQ(Rate(*s), 64e6);
  EXPECT_EQ(s->stats().decreases, 0u);
}

TEST_F(BackgroundSchedulerTest, Issue12AAdaptiveTargetIsMeasuredWithoutBackgroundWork) {
  BackgroundSchedulerOptions o;  // no ceiling, adaptive target
  o.min_mbps = 2;
  auto s = Make(o);
  // No baseline yet: no latency control, whatever the latency.
  Window(s.get(), 100, 50000, 8 << 20);
  Window(s.get(), 100, 50000, 8 << 20);
  EXPECT_EQ(s->stats().target_p99_us, 0u);
  EXPECT_EQ(Rate(*s), 0);  // unlimited
  // Windows without background work measure the foreground alone: 10 ms.
  for (int w = 0; w < 3; w++) Window(s.get(), 100, 10000, 0);
  const BackgroundSchedulerStats st = s->stats();
  EXPECT_NEAR(static_cast<double>(st.baseline_p99_us), 10000, 1000);
  EXPECT_EQ(st.target_p99_us, static_cast<uint64_t>(1.2 * st.baseline_p99_us));
  // Work that takes the p99 to 30 ms: held back, from what it took (8 MB in 0.5 s) halved.
  Window(s.get(), 100, 30000, 8 << 20);
  Window(s.get(), 100, 30000, 8 << 20);
  EXPECT_GT(Rate(*s), 0);
  EXPECT_LE(Rate(*s), 8.4e6);
  // Work that keeps it within 1.2x: not held back further.
  const double held = Rate(*s);
  Window(s.get(), 100, 11000, 1 << 20);
  Window(s.get(), 100, 11000, 1 << 20);
  EXPECT_GT(Rate(*s), held);
}

// Windows are judged as requests arrive, not only when background work asks: a long stretch of
// foreground alone is many windows (a baseline of the recent ones), not one judged when the
// next background step comes (which mixed a heavy fill's p99 into the healthy baseline).
TEST_F(BackgroundSchedulerTest, Issue12AWindowsAreJudgedWithoutBackgroundWorkAsking) {
  auto s = Make(BackgroundSchedulerOptions());
  for (int ms = 0; ms < 2000; ms++) {  // a heavy stretch: 40 ms requests, 100 per window
    now_ += milliseconds(1);
    if (ms % 5 == 0) s->RecordForeground(40000);
  }
  EXPECT_GE(s->stats().windows, 3u);
  for (int ms = 0; ms < 10000; ms++) {  // then a light one: 1 ms requests
    now_ += milliseconds(1);
    if (ms % 5 == 0) s->RecordForeground(1000);
  }
  const BackgroundSchedulerStats st = s->stats();
  EXPECT_GE(st.windows, 20u);
  EXPECT_LT(st.baseline_p99_us, 2000u) << "the heavy stretch still weighs on the baseline";
}

TEST_F(BackgroundSchedulerTest, Issue12AAdaptiveTargetKeepsAnAbsoluteSlackOverAFastBaseline) {
  auto s = Make(BackgroundSchedulerOptions());
  for (int w = 0; w < 3; w++) Window(s.get(), 100, 200, 0);
  const BackgroundSchedulerStats st = s->stats();
  EXPECT_EQ(st.target_p99_us, st.baseline_p99_us + BackgroundScheduler::kMinSlackUs);
}

TEST_F(BackgroundSchedulerTest, Issue12AAWindowOfFewRequestsWaitsForMore) {
  BackgroundSchedulerOptions o = Held();
  o.min_window_requests = 32;
  auto s = Make(o);
  // 10 slow requests, then the window ends: too few to judge, so it goes on...
  Window(s.get(), 10, 9000, 1 << 20);
  Window(s.get(), 0, 0, 1 << 20);
  Window(s.get(), 0, 0, 1 << 20);
  EXPECT_EQ(Rate(*s), 64e6);
  EXPECT_EQ(s->stats().windows, 0u);
  // ...until four windows passed: then judged on what it has.
  Window(s.get(), 0, 0, 1 << 20);
  EXPECT_EQ(s->stats().windows, 1u);
  EXPECT_LT(Rate(*s), 64e6);
}

TEST_F(BackgroundSchedulerTest, Issue12AActivitiesShareOneBudget) {
  auto s = Make(Fixed(10));
  // Three activities, 10 MB between them: about as long as one activity's 10 MB.
  for (int i = 0; i < 100; i++)
    s->Admit(static_cast<BackgroundActivity>(i % 3), 100000);
  EXPECT_NEAR(std::chrono::duration<double>(slept_).count(), 0.9, 0.01);
  const BackgroundSchedulerStats st = s->stats();
  EXPECT_EQ(st.admitted_bytes[0] + st.admitted_bytes[1] + st.admitted_bytes[2], 10000000u);
  EXPECT_EQ(st.admissions[1], 33u);
  EXPECT_GT(st.waited_us[2], 0u);
}

TEST_F(BackgroundSchedulerTest, Issue12AStopEndsAWaitAtOnce) {
  BackgroundSchedulerOptions o = Fixed(1);
  std::atomic<bool> stop{false};
  int sleeps = 0;
  o.now = [this] { return now_; };
  o.sleep = [&](Clock::duration d) {
    EXPECT_LE(d, BackgroundScheduler::kMaxSleepSlice);
    now_ += d;
    if (++sleeps == 3) stop = true;
  };
  BackgroundScheduler s(o);
  // 100 MB at 1 MB/s owes 100 s; the stop ends it after the slice it was set in.
  s.Admit(BackgroundActivity::kRepair, 100000000, &stop);
  EXPECT_EQ(sleeps, 3);
}

TEST_F(BackgroundSchedulerTest, Issue12AIdleForegroundRestoresTheCeiling) {
  auto s = Make(Held());
  for (int w = 0; w < 4; w++) Window(s.get(), 100, 9000, 1 << 20);
  EXPECT_EQ(Rate(*s), 1e6);  // the default floor
  // No foreground request: nobody to protect, once it lasts kIdleWindows windows (one quiet
  // moment between bursts keeps what the bursts measured).
  Window(s.get(), 0, 0, 1 << 20);
  EXPECT_EQ(Rate(*s), 1e6);
  for (int w = 1; w < BackgroundScheduler::kIdleWindows; w++) Window(s.get(), 0, 0, 1 << 20);
  EXPECT_EQ(Rate(*s), 64e6);
}

TEST_F(BackgroundSchedulerTest, Issue12AWaitIsRescaledWhenTheRateChanges) {
  auto s = Make(Held());
  for (int w = 0; w < 8; w++) Window(s.get(), 100, 9000, 1 << 20);
  ASSERT_EQ(Rate(*s), 1e6);
  // 10 MB at the 1 MB/s floor owes about 10 s; the foreground stops meanwhile, the rate goes
  // back to 64 MB/s after kIdleWindows windows, and what is left of the wait shrinks with it.
  slept_ = {};
  const size_t repair = static_cast<size_t>(BackgroundActivity::kRepair);
  const uint64_t waited_before = s->stats().waited_us[repair];
  s->Admit(BackgroundActivity::kRepair, 10000000);
  const double slept = std::chrono::duration<double>(slept_).count();
  EXPECT_GT(slept, 0.5 * BackgroundScheduler::kIdleWindows);
  EXPECT_LT(slept, 0.5 * BackgroundScheduler::kIdleWindows + 1.0);
  EXPECT_EQ(Rate(*s), 64e6);
  EXPECT_NEAR(static_cast<double>(s->stats().waited_us[repair] - waited_before), slept * 1e6, 1e5);
}

TEST_F(BackgroundSchedulerTest, Issue12ALittleBackgroundWorkIsNotJudged) {
  auto s = Make(Held());
  // Slow windows, but the work in them is a few KiB (a punch, a small replay), far under a
  // tenth of the floor's allowance: not what made them slow, and not held back for it.
  for (int w = 0; w < 5; w++) Window(s.get(), 100, 9000, 16 << 10);
  EXPECT_EQ(Rate(*s), 64e6);
  EXPECT_EQ(s->stats().decreases, 0u);
}

TEST_F(BackgroundSchedulerTest, Issue12AChargedWorkIsCountedButNeverWaits) {
  auto s = Make(Fixed(1));
  for (int i = 0; i < 10; i++) s->Charge(BackgroundActivity::kReclaim, 1000000);
  EXPECT_EQ(slept_, Clock::duration::zero());
  EXPECT_EQ(s->stats().admitted_bytes[0], 10000000u);
  // The others pay for it: the bucket is 10 MB in debt at 1 MB/s.
  s->Admit(BackgroundActivity::kRepair, 1);
  EXPECT_GT(slept_, std::chrono::seconds(9));
}

TEST_F(BackgroundSchedulerTest, Issue12AThrottleStepsAreAdmittedByTheScheduler) {
  auto s = Make(Fixed(10));
  std::atomic<uint64_t> ops{0};
  BackgroundThrottle t(&ops, [this] { return now_; }, [this](Clock::duration d) { now_ += d; });
  std::atomic<bool> stop{false};
  t.SetScheduler(s.get(), BackgroundActivity::kReclaim, &stop);
  t.Start();
  for (int i = 0; i < 10; i++) t.Step(1000000, /*mbps=*/0, /*stopping=*/false);
  EXPECT_EQ(s->stats().admitted_bytes[0], 10000000u);
  EXPECT_GT(slept_, Clock::duration::zero());
  // A stopping step is not held back, nor an urgent one (reclamation with the disk full),
  // which is still counted.
  slept_ = {};
  t.Step(100000000, 0, /*stopping=*/true);
  EXPECT_EQ(slept_, Clock::duration::zero());
  t.Step(100000000, 0, /*stopping=*/false, /*urgent=*/true);
  EXPECT_EQ(slept_, Clock::duration::zero());
  EXPECT_EQ(s->stats().admitted_bytes[0], 110000000u);
}

TEST(BackgroundSchedulerThreads, Issue12AForegroundIsRecordedFromManyThreads) {
  BackgroundScheduler s;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; t++)
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; i++) s.RecordForeground(static_cast<uint64_t>(i));
    });
  for (int i = 0; i < 100; i++) s.Admit(BackgroundActivity::kHintReplay, 1);
  for (std::thread& t : ts) t.join();
  EXPECT_EQ(s.stats().foreground_requests, 40000u);
}

}  // namespace
}  // namespace cairn
