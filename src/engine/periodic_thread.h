// PeriodicThread: a thread that runs a task every interval, or sooner when woken, until stopped.
// The store's background reclaimer runs on one (StoreOptions::background_reclaim,
// reclaim_interval_ms; the task looks for work and runs a pass).
//
// The task runs with no lock of this part held, so the part's lock is a leaf of the store's lock
// order (docs/design.md, "Lock order"): Wake and Stop may be called holding any lock but this
// part's. A Wake while the task runs is not lost: the next wait returns at once.
//
// Thread safety: every method may be called from any thread; Start once.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "util/mutex.h"

namespace cairn {

class PeriodicThread {
 public:
  PeriodicThread() = default;
  ~PeriodicThread() { Stop(); }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

  // Starts the thread (named `name`: util/thread_name.h): it waits `interval` (or until woken),
  // runs `task`, and again.
  void Start(std::chrono::milliseconds interval, std::function<void()> task,
             std::string name = "cairn-periodic");
  // Makes the thread run the task now (or as soon as the running one returns).
  void Wake() EXCLUDES(mu_);
  // Stops and joins the thread (a running task finishes first). Idempotent; a no-op if never
  // started.
  void Stop() EXCLUDES(mu_);

 private:
  void Loop(std::chrono::milliseconds interval, const std::function<void()>& task)
      EXCLUDES(mu_);

  Mutex mu_;
  CondVar cv_;  // with mu_: woken or stopped
  bool woken_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace cairn
