#include "cluster/epoch_fence.h"

namespace cairn::cluster {

std::shared_ptr<const void> EpochFence::Enter(uint64_t sent, uint64_t* ours) {
  std::lock_guard<std::mutex> l(st_->mu);
  // Read under the lock: a DIGEST that looked at the count before us had seen the node's epoch
  // at E already, so we see at least E here and refuse an older write.
  const uint64_t now = epoch_->load(std::memory_order_seq_cst);
  if (ours != nullptr) *ours = now;
  if (sent != 0 && sent < now) return nullptr;
  return HoldLocked(sent);
}

std::shared_ptr<const void> EpochFence::EnterLocal() {
  std::lock_guard<std::mutex> l(st_->mu);
  return HoldLocked(epoch_->load(std::memory_order_seq_cst));
}

std::shared_ptr<const void> EpochFence::HoldLocked(uint64_t sent) {
  st_->in_flight[sent]++;
  // The deleter keeps the state alive: a hold released after the fence is gone is harmless.
  std::shared_ptr<State> st = st_;
  return std::shared_ptr<const void>(st.get(), [st, sent](const void*) { st->Leave(sent); });
}

void EpochFence::State::Leave(uint64_t sent) {
  {
    std::lock_guard<std::mutex> l(mu);
    auto it = in_flight.find(sent);
    if (it != in_flight.end() && --it->second == 0) in_flight.erase(it);
  }
  cv.notify_all();
}

uint64_t EpochFence::State::OlderLocked(uint64_t epoch) const {
  uint64_t n = 0;
  for (auto it = in_flight.begin(); it != in_flight.end() && it->first < epoch; ++it)
    n += it->second;
  return n;
}

uint64_t EpochFence::OlderInFlight(uint64_t epoch) const {
  std::lock_guard<std::mutex> l(st_->mu);
  return st_->OlderLocked(epoch);
}

uint64_t EpochFence::AwaitOlder(uint64_t epoch, std::chrono::milliseconds max_wait) const {
  std::unique_lock<std::mutex> l(st_->mu);
  st_->cv.wait_for(l, max_wait, [&] { return st_->OlderLocked(epoch) == 0; });
  return st_->OlderLocked(epoch);
}

uint64_t EpochFence::InFlight() const {
  std::lock_guard<std::mutex> l(st_->mu);
  uint64_t n = 0;
  for (const auto& [e, c] : st_->in_flight) n += c;
  return n;
}

}  // namespace cairn::cluster
