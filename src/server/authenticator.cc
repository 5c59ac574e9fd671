#include "server/authenticator.h"

namespace cairn::server {
namespace {

int64_t NowSecond() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Authenticator::Authenticator(std::map<std::string, std::string> keys,
                             uint32_t max_failures_per_second)
    : keys_(keys.begin(), keys.end()), max_failures_(max_failures_per_second) {}

const std::string* Authenticator::Secret(std::string_view key_id) const {
  auto it = keys_.find(key_id);
  return it == keys_.end() ? nullptr : &it->second;
}

Authenticator::Window* Authenticator::WindowOf(const std::string& peer, int64_t now) {
  auto it = windows_.find(peer);
  if (it == windows_.end()) {
    if (windows_.size() >= kMaxTrackedPeers) {
      std::erase_if(windows_, [now](const auto& kv) { return kv.second.second != now; });
      if (windows_.size() >= kMaxTrackedPeers) {
        if (overflow_.second != now) overflow_ = Window{now, 0};
        return &overflow_;
      }
    }
    it = windows_.emplace(peer, Window{now, 0}).first;
  }
  if (it->second.second != now) it->second = Window{now, 0};
  return &it->second;
}

bool Authenticator::Allowed(const std::string& peer, uint32_t* failures) {
  std::lock_guard<std::mutex> l(mu_);
  const int64_t now = NowSecond();
  auto it = windows_.find(peer);
  const Window* w = nullptr;
  if (it != windows_.end()) {
    w = &it->second;
  } else if (windows_.size() >= kMaxTrackedPeers) {
    w = &overflow_;  // an untracked peer while the table is full shares this window
  }
  *failures = w != nullptr && w->second == now ? w->failures : 0;
  return *failures < max_failures_;
}

uint32_t Authenticator::RecordFailure(const std::string& peer) {
  std::lock_guard<std::mutex> l(mu_);
  Window* w = WindowOf(peer, NowSecond());
  return ++w->failures;
}

}  // namespace cairn::server
