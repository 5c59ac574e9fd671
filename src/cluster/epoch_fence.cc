#include "cluster/epoch_fence.h"

namespace cairn::cluster {

std::shared_ptr<const void> EpochFence::Enter(uint64_t sent, uint64_t* ours) {
  std::lock_guard<std::mutex> l(mu_);
  // Read under the lock: a DIGEST that looked at the count before us had seen the node's epoch
  // at E already, so we see at least E here and refuse an older write.
  const uint64_t now = epoch_->load(std::memory_order_seq_cst);
  if (ours != nullptr) *ours = now;
  if (sent != 0 && sent < now) return nullptr;
  in_flight_[sent]++;
  return std::shared_ptr<const void>(this, [this, sent](const void*) { Leave(sent); });
}

void EpochFence::Leave(uint64_t sent) {
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = in_flight_.find(sent);
    if (it != in_flight_.end() && --it->second == 0) in_flight_.erase(it);
  }
  cv_.notify_all();
}

uint64_t EpochFence::OlderLocked(uint64_t epoch) const {
  uint64_t n = 0;
  for (auto it = in_flight_.begin(); it != in_flight_.end() && it->first < epoch; ++it)
    n += it->second;
  return n;
}

uint64_t EpochFence::OlderInFlight(uint64_t epoch) const {
  std::lock_guard<std::mutex> l(mu_);
  return OlderLocked(epoch);
}

uint64_t EpochFence::AwaitOlder(uint64_t epoch, std::chrono::milliseconds max_wait) const {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_for(l, max_wait, [&] { return OlderLocked(epoch) == 0; });
  return OlderLocked(epoch);
}

uint64_t EpochFence::InFlight() const {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t n = 0;
  for (const auto& [e, c] : in_flight_) n += c;
  return n;
}

}  // namespace cairn::cluster
