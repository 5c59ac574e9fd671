// ParseDurability and DurabilityName (cairn/options.h): the durability modes' names. Kept out of
// the engine because everything that parses a --durability flag uses them, including `cairn`,
// which links no engine (issue 11).
#include <cstdint>
#include <string_view>

#include "cairn/options.h"

namespace cairn {

const char* DurabilityName(Durability d) {
  switch (d) {
    case Durability::kSync: return "sync";
    case Durability::kInterval: return "interval";
    case Durability::kNone: return "none";
  }
  return "?";
}

bool ParseDurability(std::string_view t, Durability* mode, uint32_t* interval_ms) {
  if (t == "sync") {
    *mode = Durability::kSync;
    return true;
  }
  if (t == "none") {
    *mode = Durability::kNone;
    return true;
  }
  if (t == "interval") {
    *mode = Durability::kInterval;
    return true;
  }
  if (t.substr(0, 9) == "interval=" && t.size() > 9 && t.size() < 16) {
    uint64_t v = 0;
    for (char c : t.substr(9)) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v == 0 || v > 3600000) return false;
    *mode = Durability::kInterval;
    *interval_ms = static_cast<uint32_t>(v);
    return true;
  }
  return false;
}

}  // namespace cairn
