// BackgroundScheduler: one budget for all of a process's background I/O (issue 12 item 4).
//
// The engine's reclamation, a cluster node's anti-entropy (its repairs, rebuilds and the syncs of
// a map transition) and its hint replay each charge it with the I/O of every step (Admit), and
// wait until it is paid for before their next step. It admits them from one token bucket, whose
// rate it sets from the foreground latency it measures: every request the server serves reports
// its latency (RecordForeground), and every window the scheduler compares that window's p99
// with a target:
//   - over the target while background work ran (at least kJudgedShareOfFloor of the floor's
//     allowance): the rate is halved (down to min_mbps, the floor that keeps a rebuild and
//     reclamation moving however slow the foreground is);
//   - at or under it: the rate grows by a quarter (up to max_mbps; with no max_mbps, back to
//     unlimited once it passes kUnlimitedAboveBytesPerSec);
//   - no foreground request for kIdleWindows windows: back to the ceiling (nobody to protect).
// The target is p99_target_us, or (0) adaptive: 1.2x the foreground p99 measured in windows
// without background I/O (and at least kMinSlackUs above it, so that the noise of a window's p99
// on a busy machine does not hold the work at its floor), unknown (so no latency control) until
// such a window was seen.
//
// Each activity keeps its own rules too (BackgroundThrottle: yield to foreground work, and its
// own budget: reclaim_mbps, anti_entropy_mbps); the scheduler is the shared budget over them.
// docs/design.md, "One budget for background work".
//
// Thread safety: every method may be called from any thread. RecordForeground is lock-free.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>

namespace cairn {

enum class BackgroundActivity : uint8_t { kReclaim = 0, kRepair = 1, kHintReplay = 2 };
inline constexpr size_t kBackgroundActivities = 3;
// "reclaim", "repair", "hint_replay".
const char* BackgroundActivityName(BackgroundActivity a);

struct BackgroundSchedulerOptions {
  using Clock = std::chrono::steady_clock;
  // Ceiling for all background I/O together, in MB/s; 0: none.
  uint32_t max_mbps = 0;
  // Floor: the rate latency control never goes below, in MB/s (at least 1).
  uint32_t min_mbps = 1;
  // Whether the rate follows the foreground latency; false: a fixed budget of max_mbps.
  bool latency_control = true;
  // The foreground p99 to hold, in microseconds; 0: adaptive (above).
  uint32_t p99_target_us = 0;
  // A window lasts at least window_ms and until it saw min_window_requests foreground requests
  // (or four windows passed: a window of few requests is judged on what it has).
  uint32_t window_ms = 500;
  uint32_t min_window_requests = 32;
  // Tests pass a fake clock; `sleep` is asked for pauses of at most kMaxSleepSlice each.
  std::function<Clock::time_point()> now;
  std::function<void(Clock::duration)> sleep;
};

struct BackgroundSchedulerStats {
  std::array<uint64_t, kBackgroundActivities> admitted_bytes{};  // by activity
  std::array<uint64_t, kBackgroundActivities> admissions{};
  std::array<uint64_t, kBackgroundActivities> waited_us{};  // time spent waiting to be admitted
  double rate_bytes_per_sec = 0;  // the current rate; 0: unlimited
  uint64_t foreground_requests = 0;
  uint64_t window_p99_us = 0;    // the foreground p99 of the last judged window (0: none yet)
  uint64_t baseline_p99_us = 0;  // of windows without background I/O (0: none yet)
  uint64_t target_p99_us = 0;    // what the rate is held to (0: none: no latency control yet)
  uint64_t windows = 0;
  uint64_t decreases = 0;  // windows that halved the rate
  uint64_t increases = 0;  // windows that grew it
};

class BackgroundScheduler {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr double kTargetFactor = 1.2;
  static constexpr uint64_t kMinSlackUs = 500;
  static constexpr double kDecrease = 0.5;
  static constexpr double kIncrease = 1.25;
  static constexpr double kUnlimitedAboveBytesPerSec = 2e9;
  // The bucket holds this much of the rate's credit: work admitted in a burst is small enough
  // that the foreground does not see it as one stall.
  static constexpr Clock::duration kBurst = std::chrono::milliseconds(100);
  static constexpr Clock::duration kMaxSleepSlice = std::chrono::milliseconds(50);
  // Windows without a foreground request before the rate goes back to the ceiling.
  static constexpr int kIdleWindows = 4;
  // A window whose background bytes are under this share of the floor's allowance is not
  // judged: so little work is not what made it slow.
  static constexpr double kJudgedShareOfFloor = 0.1;

  explicit BackgroundScheduler(BackgroundSchedulerOptions o = {});
  BackgroundScheduler(const BackgroundScheduler&) = delete;
  BackgroundScheduler& operator=(const BackgroundScheduler&) = delete;

  // A foreground request finished after `latency_us`. Judges the window when it is over (so
  // windows are judged in time whether or not background work asks meanwhile).
  void RecordForeground(uint64_t latency_us);
  // Charges `bytes` of background I/O that `a` just did (or is about to do), then blocks until
  // the bucket has paid for it, so that `a`'s next step waits its turn. The wait is rescaled
  // when the rate changes meanwhile, and returns at once when `stop` (may be nullptr) is or
  // becomes true: a process that stops does not wait for budget.
  void Admit(BackgroundActivity a, uint64_t bytes, const std::atomic<bool>* stop = nullptr);
  // Charges without waiting: work that must not be held back (reclamation while the disk is
  // full) is still counted, in the window and in the bucket the others wait on.
  void Charge(BackgroundActivity a, uint64_t bytes);

  BackgroundSchedulerStats stats() const;

 private:
  // Log-linear latency buckets: 8 per power of two of microseconds (6-12.5 % wide).
  static constexpr int kSubBits = 3;
  static constexpr int kBuckets = (64 - kSubBits + 1) << kSubBits;
  static int BucketOf(uint64_t us);
  static uint64_t BucketUpper(int b);
  // Judges the window if it is over (mu_ held).
  void MaybeJudge(Clock::time_point now);
  void StartWindow(Clock::time_point now);  // mu_ held
  // Charges `bytes` to the window and the bucket; the seconds the caller owes (mu_ held).
  double Take(BackgroundActivity a, uint64_t bytes, Clock::time_point now);
  double Ceiling() const;  // bytes/s; 0: none

  const BackgroundSchedulerOptions o_;
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> requests_{0};
  // When the window in progress may be judged (the clock's ticks): RecordForeground looks at it
  // without the lock.
  std::atomic<int64_t> judge_at_{0};

  mutable std::mutex mu_;
  std::array<uint64_t, kBuckets> seen_{};  // buckets_ at the window's start
  uint64_t seen_requests_ = 0;
  Clock::time_point window_start_;
  uint64_t window_bytes_ = 0;  // admitted in this window
  double rate_ = 0;            // bytes/s; 0: unlimited
  int idle_windows_ = 0;       // windows in a row without a foreground request
  double debt_ = 0;            // bytes admitted and not yet paid for by the rate
  Clock::time_point debt_at_;
  BackgroundSchedulerStats stats_;
};

}  // namespace cairn
