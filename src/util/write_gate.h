// WriteGate: holds writes inside a test's store, as a stalled commit would, until the test
// releases them. A test store calls Hold(key) at the start of each write; a write of a key the
// gate holds waits there until Release(). Tests wait for writes to arrive with AwaitEntered.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string_view>
#include <utility>

namespace cairn::testing {

class WriteGate {
 public:
  // `held(key)`: whether a write of `key` is held.
  explicit WriteGate(std::function<bool(std::string_view)> held) : held_(std::move(held)) {}
  void Hold(std::string_view key) {
    if (!held_(key)) return;
    std::unique_lock<std::mutex> l(mu_);
    entered_++;
    cv_.notify_all();
    cv_.wait(l, [&] { return released_; });
  }
  // Whether `n` held writes have arrived in all, within 20 s.
  bool AwaitEntered(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(20), [&] { return entered_ >= n; });
  }
  // Lets every held write go, and every later one through.
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
    cv_.notify_all();
  }
  // Holds the writes that arrive from now on again.
  void Rearm() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = false;
  }

 private:
  const std::function<bool(std::string_view)> held_;
  std::mutex mu_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool released_ = false;
};

}  // namespace cairn::testing
