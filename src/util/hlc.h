// HybridClock: the hybrid logical clock that stamps a store's versions (docs/format.md section 5).
//
// A stamp is max(now_ms << 16, last + 1) with the clock's writer id, where `last` is the highest
// hlc the clock has stamped or observed. So a stamp is above every version the clock has seen
// (stamped here, or observed: a replica's version accepted with kIfNewer, a record replayed at
// open), even when the machine's clock steps back, and it follows the machine's clock otherwise.
// A few instructions: no system call (the caller passes the time it already read).
//
// Thread safety: none. The store calls it under its reservation lock, so stamps follow log order.
#pragma once

#include <algorithm>
#include <cstdint>

#include "cairn/object_store.h"

namespace cairn {

class HybridClock {
 public:
  explicit HybridClock(uint32_t writer = 0) : writer_(writer) {}

  void set_writer(uint32_t writer) { writer_ = writer; }
  uint32_t writer() const { return writer_; }

  // A new version, above every version stamped or observed so far.
  Version Stamp(uint64_t now_ms) {
    const uint64_t physical = std::min(now_ms, Version::kMaxMillis) << Version::kLogicalBits;
    last_ = std::max(physical, last_ + 1);
    const Version v{last_, writer_};
    if (max_ < v) max_ = v;
    return v;
  }

  // Takes note of a version accepted from elsewhere: later stamps are above it.
  void Observe(const Version& v) {
    last_ = std::max(last_, v.hlc);
    if (max_ < v) max_ = v;
  }

  // The highest version stamped or observed (none() before the first).
  Version max() const { return max_; }

 private:
  uint32_t writer_;
  uint64_t last_ = 0;
  Version max_;
};

}  // namespace cairn
