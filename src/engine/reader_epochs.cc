#include "engine/reader_epochs.h"

namespace cairn {

uint64_t ReaderEpochs::Register() {
  MutexLock l(&mu_);
  epochs_[epoch_]++;
  return epoch_;
}

void ReaderEpochs::Unregister(uint64_t epoch) {
  MutexLock l(&mu_);
  auto it = epochs_.find(epoch);
  // The current epoch's entry stays at zero, so the next reader reuses it.
  if (--it->second == 0 && epoch != epoch_) epochs_.erase(it);
  cv_.SignalAll();
}

bool ReaderEpochs::NoneOlderLocked(uint64_t epoch) {
  while (!epochs_.empty() && epochs_.begin()->second == 0) epochs_.erase(epochs_.begin());
  return epochs_.empty() || epochs_.begin()->first >= epoch;
}

bool ReaderEpochs::WaitForOlder(std::chrono::milliseconds timeout) {
  MutexLock l(&mu_);
  const uint64_t now = ++epoch_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!NoneOlderLocked(now)) {
    // The deadline passed: one last look, as a wait_for with a predicate makes.
    if (!cv_.WaitUntil(&mu_, deadline)) return NoneOlderLocked(now);
  }
  return true;
}

}  // namespace cairn
