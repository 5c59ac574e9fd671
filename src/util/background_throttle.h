// BackgroundThrottle: how much of the machine background work may take. The engine's
// reclamation (issue 3, "Throttling"; docs/design.md, "Reclamation") and a cluster node's
// anti-entropy, repair and rebuild (issue 12; docs/cluster.md "Anti-entropy") each pace their
// steps with one. Two rules, applied after each step of a pass:
//   1. Yield to foreground work. While foreground operations keep arriving, the work owes a
//      pause as long as the work it did since its last step (kYieldShare), paid in sleeps of at
//      least kYieldQuantum and at most kMaxYield each. Under constant load it gets at most half
//      of the wall time, however short or long its steps are. With no foreground operation since
//      the last step, nothing is owed. (The old rule, sleep 1 ms while operations arrive, up to
//      20 ms, after every step, let constant load cut a pass to ~50 punches a second: 28 MiB in
//      10 s at a 32 MB/s budget; bench/reclaim, docs/design.md.)
//   2. Keep to the I/O budget (reclaim_mbps, anti_entropy_mbps): a token bucket holding at most
//      one second of credit; a step that overdraws it sleeps until the bucket is back to one
//      second.
//   3. Then, with a process-wide BackgroundScheduler (cairn/background.h: the one budget of all
//      background work, set from the foreground latency it measures), wait to be admitted by it.
//
// Thread safety: the foreground counter (the caller's atomic) may be bumped from any thread.
// Everything else is used by one pass at a time (the store keeps its throttle GUARDED_BY its
// reclaim_mu_; anti-entropy uses its own from its round's thread): no lock of its own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

#include "cairn/background.h"

namespace cairn {

class BackgroundThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr double kYieldShare = 1.0;
  static constexpr Clock::duration kYieldQuantum = std::chrono::milliseconds(1);
  static constexpr Clock::duration kMaxYield = std::chrono::milliseconds(10);

  // `foreground_ops`: counts the store's foreground operations (bumped by their callers).
  // `now` and `sleep` default to the steady clock and sleep_for (tests pass a fake clock).
  explicit BackgroundThrottle(const std::atomic<uint64_t>* foreground_ops,
                           std::function<Clock::time_point()> now = nullptr,
                           std::function<void(Clock::duration)> sleep = nullptr);

  // Starts a throttled stretch of work (a pass): what came before it is not reclamation's work.
  void Start();
  // After a step of `bytes` read plus written: yields (unless `stopping`: the store is closing),
  // then waits for the budget of `mbps` (0: unlimited).
  // `urgent`: charged to the scheduler (rule 3) but not held by it (reclamation while the disk
  // is full must not wait for the foreground to be fast).
  void Step(uint64_t bytes, uint32_t mbps, bool stopping, bool urgent = false);
  // Rule 3: every step is also admitted by `scheduler` (nullptr: none) as `activity`; a wait
  // for it ends when `stop` (may be nullptr) becomes true.
  void SetScheduler(BackgroundScheduler* scheduler, BackgroundActivity activity,
                    const std::atomic<bool>* stop) {
    scheduler_ = scheduler;
    activity_ = activity;
    stop_ = stop;
  }

 private:
  const std::atomic<uint64_t>* const foreground_ops_;
  const std::function<Clock::time_point()> now_;
  const std::function<void(Clock::duration)> sleep_;
  // The I/O budget's token bucket.
  Clock::time_point budget_start_;
  double budget_bytes_ = 0;
  // Yielding state of the pass in progress.
  Clock::time_point yield_last_;
  Clock::duration yield_owed_{};
  uint64_t yield_ops_seen_ = 0;
  BackgroundScheduler* scheduler_ = nullptr;
  BackgroundActivity activity_ = BackgroundActivity::kReclaim;
  const std::atomic<bool>* stop_ = nullptr;
};

}  // namespace cairn
