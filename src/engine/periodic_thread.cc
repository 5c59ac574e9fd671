#include "engine/periodic_thread.h"

#include "util/thread_name.h"

namespace cairn {

void PeriodicThread::Start(std::chrono::milliseconds interval, std::function<void()> task,
                           std::string name) {
  thread_ = std::thread([this, interval, name = std::move(name), task = std::move(task)] {
    SetThreadName(name);
    Loop(interval, task);
  });
}

void PeriodicThread::Wake() {
  MutexLock l(&mu_);
  woken_ = true;
  cv_.SignalAll();
}

void PeriodicThread::Stop() {
  {
    MutexLock l(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void PeriodicThread::Loop(std::chrono::milliseconds interval, const std::function<void()>& task) {
  MutexLock l(&mu_);
  while (!stop_) {
    if (!woken_) cv_.WaitFor(&mu_, interval);
    woken_ = false;
    if (stop_) break;
    l.Unlock();
    task();
    l.Lock();
  }
}

}  // namespace cairn
