// Authenticator: the server's side of the handshake (docs/protocol.md section 8) that is shared
// by all connections: the configured keys, and the bound on failures per peer address
// (max_auth_failures_per_second). Each Connection runs the handshake itself and asks this.
//
// Thread safety: Secret is const over immutable keys; Allowed and RecordFailure take a mutex
// (they run once per handshake, never per request).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cairn::server {

class Authenticator {
 public:
  Authenticator(std::map<std::string, std::string> keys, uint32_t max_failures_per_second);

  // The secret of `key_id`, or nullptr if it is not configured. The pointer stays valid for
  // the Authenticator's life.
  const std::string* Secret(std::string_view key_id) const;
  bool has_keys() const { return !keys_.empty(); }
  uint32_t max_failures_per_second() const { return max_failures_; }

  // False when `peer` has had max_failures_per_second failures in the current second: the
  // server refuses its HELLO without looking at it. *failures receives the count.
  bool Allowed(const std::string& peer, uint32_t* failures);
  // Counts a failed handshake of `peer`; returns its failures in the current second.
  uint32_t RecordFailure(const std::string& peer);

 private:
  struct Window {
    int64_t second = 0;
    uint32_t failures = 0;
  };
  // Named bound: peer addresses tracked at once. When full, windows of past seconds are
  // dropped; if none is, the new peer shares one window with every other untracked peer.
  static constexpr size_t kMaxTrackedPeers = 4096;
  Window* WindowOf(const std::string& peer, int64_t now);

  const std::map<std::string, std::string, std::less<>> keys_;
  const uint32_t max_failures_;
  std::mutex mu_;
  std::unordered_map<std::string, Window> windows_;  // GUARDED_BY(mu_)
  Window overflow_;                                  // GUARDED_BY(mu_)
};

}  // namespace cairn::server
