#include "cairn/background.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "util/histogram.h"

namespace cairn {

const char* BackgroundActivityName(BackgroundActivity a) {
  switch (a) {
    case BackgroundActivity::kReclaim:
      return "reclaim";
    case BackgroundActivity::kRepair:
      return "repair";
    case BackgroundActivity::kHintReplay:
      return "hint_replay";
  }
  return "unknown";
}

namespace {

BackgroundSchedulerOptions Fill(BackgroundSchedulerOptions o) {
  if (!o.now) o.now = [] { return BackgroundScheduler::Clock::now(); };
  if (!o.sleep) o.sleep = [](BackgroundScheduler::Clock::duration d) { std::this_thread::sleep_for(d); };
  o.min_mbps = std::max<uint32_t>(o.min_mbps, 1);
  if (o.max_mbps != 0) o.min_mbps = std::min(o.min_mbps, o.max_mbps);
  o.window_ms = std::max<uint32_t>(o.window_ms, 1);
  return o;
}

}  // namespace

BackgroundScheduler::BackgroundScheduler(BackgroundSchedulerOptions o) : o_(Fill(std::move(o))) {
  debt_at_ = o_.now();
  StartWindow(debt_at_);
  rate_ = Ceiling();
  stats_.target_p99_us = o_.latency_control ? o_.p99_target_us : 0;
}

int BackgroundScheduler::BucketOf(uint64_t us) { return LogLinearBucket(us, kSubBits); }

uint64_t BackgroundScheduler::BucketUpper(int b) { return LogLinearBucketUpper(b, kSubBits); }

double BackgroundScheduler::Ceiling() const { return o_.max_mbps * 1e6; }

void BackgroundScheduler::StartWindow(Clock::time_point now) {
  window_start_ = now;
  judge_at_.store((now + std::chrono::milliseconds(o_.window_ms)).time_since_epoch().count(),
                  std::memory_order_relaxed);
}

void BackgroundScheduler::RecordForeground(uint64_t latency_us) {
  buckets_[BucketOf(latency_us)].fetch_add(1, std::memory_order_relaxed);
  requests_.fetch_add(1, std::memory_order_relaxed);
  const Clock::time_point now = o_.now();
  if (now.time_since_epoch().count() < judge_at_.load(std::memory_order_relaxed)) return;
  // The window is over: judge it, unless another thread is (the request's thread never waits).
  std::unique_lock<std::mutex> l(mu_, std::try_to_lock);
  if (l.owns_lock()) MaybeJudge(now);
}

void BackgroundScheduler::MaybeJudge(Clock::time_point now) {
  const Clock::duration window = std::chrono::milliseconds(o_.window_ms);
  if (now - window_start_ < window) return;
  const uint64_t requests = requests_.load(std::memory_order_relaxed);
  const uint64_t n = requests - seen_requests_;
  if (n > 0 && n < o_.min_window_requests && now - window_start_ < 4 * window) return;
  // The window's p99, from the buckets' growth since it began.
  std::array<uint64_t, kBuckets> delta{};
  uint64_t total = 0;
  for (int i = 0; i < kBuckets; i++) {
    const uint64_t c = buckets_[i].load(std::memory_order_relaxed);
    delta[i] = c - seen_[i];
    seen_[i] = c;
    total += delta[i];
  }
  seen_requests_ = requests;
  const double seconds = std::chrono::duration<double>(now - window_start_).count();
  const uint64_t bytes = window_bytes_;
  StartWindow(now);
  window_bytes_ = 0;
  stats_.windows++;
  const double ceiling = Ceiling();
  if (!o_.latency_control) {
    rate_ = ceiling;
    return;
  }
  if (total == 0) {
    // No foreground request: nobody to protect, once that has lasted kIdleWindows windows (one
    // quiet moment between bursts does not undo what the bursts measured).
    if (++idle_windows_ >= kIdleWindows) rate_ = ceiling;
    return;
  }
  idle_windows_ = 0;
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(0.99 * total)));
  uint64_t p99 = 0, seen = 0;
  for (int i = 0; i < kBuckets; i++) {
    seen += delta[i];
    if (seen >= rank) {
      p99 = BucketUpper(i);
      break;
    }
  }
  stats_.window_p99_us = p99;
  if (bytes == 0) {
    // No background I/O in this window: what the foreground costs on its own. A slow moving
    // average, so that one quiet window does not reset what many measured.
    stats_.baseline_p99_us = stats_.baseline_p99_us == 0
                                 ? p99
                                 : static_cast<uint64_t>(0.75 * stats_.baseline_p99_us + 0.25 * p99);
  }
  uint64_t target = o_.p99_target_us;
  if (target == 0 && stats_.baseline_p99_us != 0) {
    const uint64_t b = stats_.baseline_p99_us;
    target = std::max(static_cast<uint64_t>(kTargetFactor * b), b + kMinSlackUs);
  }
  stats_.target_p99_us = target;
  if (target == 0 || bytes == 0) return;  // nothing known to hold to, or nothing to judge
  const double floor = o_.min_mbps * 1e6;
  // Work far below even the floor's allowance (a few punches, one small replay) is not what
  // made the window slow: it is not judged either way.
  if (static_cast<double>(bytes) < kJudgedShareOfFloor * floor * seconds) return;
  if (p99 > target) {
    // Halve what the work got in this window (or the rate, when the rate held it back).
    const double took = static_cast<double>(bytes) / std::max(seconds, 1e-3);
    const double from = rate_ == 0 ? took : std::min(rate_, std::max(took, floor));
    rate_ = std::max(floor, from * kDecrease);
    stats_.decreases++;
  } else if (rate_ != 0 && rate_ != ceiling) {
    rate_ *= kIncrease;
    if (ceiling != 0) {
      rate_ = std::min(rate_, ceiling);
    } else if (rate_ > kUnlimitedAboveBytesPerSec) {
      rate_ = 0;
    }
    stats_.increases++;
  }
}

void BackgroundScheduler::Charge(BackgroundActivity a, uint64_t bytes) {
  std::lock_guard<std::mutex> l(mu_);
  (void)Take(a, bytes, o_.now());
}

double BackgroundScheduler::Take(BackgroundActivity a, uint64_t bytes, Clock::time_point now) {
  const size_t i = static_cast<size_t>(a);
  MaybeJudge(now);
  stats_.admitted_bytes[i] += bytes;
  stats_.admissions[i]++;
  window_bytes_ += bytes;
  if (rate_ == 0) {
    debt_ = 0;
    debt_at_ = now;
    return 0;
  }
  // The token bucket: the debt drains at the rate; what exceeds kBurst's worth waits.
  const double elapsed = std::chrono::duration<double>(now - debt_at_).count();
  debt_ = std::max(0.0, debt_ - elapsed * rate_) + static_cast<double>(bytes);
  debt_at_ = now;
  const double burst = rate_ * std::chrono::duration<double>(kBurst).count();
  return debt_ <= burst ? 0 : (debt_ - burst) / rate_;
}

void BackgroundScheduler::Admit(BackgroundActivity a, uint64_t bytes, const std::atomic<bool>* stop) {
  Clock::time_point now;
  double wait;
  double rate;
  {
    std::lock_guard<std::mutex> l(mu_);
    now = o_.now();
    wait = Take(a, bytes, now);
    rate = rate_;
  }
  if (wait <= 0) return;
  const Clock::time_point start = now;
  Clock::time_point ready =
      now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait));
  while (now < ready && (stop == nullptr || !stop->load(std::memory_order_relaxed))) {
    o_.sleep(std::min<Clock::duration>(ready - now, kMaxSleepSlice));
    now = o_.now();
    // The rate may have changed meanwhile (an idle foreground, a window judged good): what is
    // left of the wait is rescaled to it, and ends at once if the rate is now unlimited.
    std::lock_guard<std::mutex> l(mu_);
    MaybeJudge(now);
    if (rate_ == rate || now >= ready) continue;
    if (rate_ == 0) break;
    const double left = std::chrono::duration<double>(ready - now).count() * rate / rate_;
    ready = now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(left));
    rate = rate_;
  }
  std::lock_guard<std::mutex> l(mu_);
  stats_.waited_us[static_cast<size_t>(a)] +=
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - start).count());
}

BackgroundSchedulerStats BackgroundScheduler::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  BackgroundSchedulerStats s = stats_;
  s.rate_bytes_per_sec = rate_;
  s.foreground_requests = requests_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace cairn
