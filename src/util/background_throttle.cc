#include "util/background_throttle.h"

#include <algorithm>
#include <thread>

namespace cairn {

BackgroundThrottle::BackgroundThrottle(const std::atomic<uint64_t>* foreground_ops,
                                 std::function<Clock::time_point()> now,
                                 std::function<void(Clock::duration)> sleep)
    : foreground_ops_(foreground_ops),
      now_(now ? std::move(now) : [] { return Clock::now(); }),
      sleep_(sleep ? std::move(sleep) : [](Clock::duration d) { std::this_thread::sleep_for(d); }),
      budget_start_(now_()) {}

void BackgroundThrottle::Start() {
  yield_last_ = now_();
  yield_owed_ = Clock::duration::zero();
  yield_ops_seen_ = foreground_ops_->load(std::memory_order_relaxed);
}

void BackgroundThrottle::Step(uint64_t bytes, uint32_t mbps, bool stopping, bool urgent) {
  // Yield to foreground work first: the time since the last step was reclamation's work (the
  // previous step's own sleeps are not counted: yield_last_ is taken after them).
  Clock::time_point now = now_();
  const uint64_t ops = foreground_ops_->load(std::memory_order_relaxed);
  if (ops != yield_ops_seen_) {
    yield_owed_ += std::chrono::duration_cast<Clock::duration>((now - yield_last_) * kYieldShare);
    yield_ops_seen_ = ops;
  } else {
    yield_owed_ = Clock::duration::zero();  // foreground is idle: nothing to make up for
  }
  if (yield_owed_ >= kYieldQuantum && !stopping) {
    const Clock::duration pause = std::min<Clock::duration>(yield_owed_, kMaxYield);
    sleep_(pause);
    yield_owed_ -= std::min(yield_owed_, pause);
    now = now_();
  }
  yield_last_ = now;
  if (mbps != 0) {
    // Then the I/O budget: a token bucket holding at most one second of credit.
    const double rate = mbps * 1e6;  // bytes per second
    double elapsed = std::chrono::duration<double>(now - budget_start_).count();
    budget_bytes_ = std::max(0.0, budget_bytes_ - elapsed * rate) + static_cast<double>(bytes);
    budget_start_ = now;
    if (budget_bytes_ > rate) {
      double wait = (budget_bytes_ - rate) / rate;
      sleep_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait)));
      yield_last_ = now_();
    }
  }
  // Last, the process's one budget for background work.
  if (scheduler_ != nullptr && urgent) {
    scheduler_->Charge(activity_, bytes);
  } else if (scheduler_ != nullptr && !stopping) {
    scheduler_->Admit(activity_, bytes, stop_);
    yield_last_ = now_();
  }
}

}  // namespace cairn
