// Helpers shared by the engine benchmark: random keys and incompressible values, a clock, a
// one-line JSON writer and process memory figures.
//
// Thread safety: Rng is per thread. ValuePool is immutable after construction and may be read
// by any number of threads.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::bench {

inline uint64_t NowNanos() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// splitmix64: fast, good enough for keys and values, and reproducible from a seed.
inline uint64_t Mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  // The state starts at a hashed seed: Rngs with nearby seeds (one per thread) walk far-apart
  // stretches of the sequence, so their keys never collide.
  explicit Rng(uint64_t seed) : s_(Mix64(seed ^ 0x5DEECE66DULL)) {}
  uint64_t Next() { return Mix64(s_++ * 0x2545F4914F6CDD1DULL); }
  uint64_t Uniform(uint64_t n) { return n == 0 ? 0 : Next() % n; }

 private:
  uint64_t s_;
};

inline constexpr size_t kKeyBytes = 16;

// 16 random bytes.
inline void RandomKey(Rng* r, char out[kKeyBytes]) {
  uint64_t a = r->Next(), b = r->Next();
  std::memcpy(out, &a, 8);
  std::memcpy(out + 8, &b, 8);
}

// The i-th key of a preloaded set: 16 bytes that look random but can be regenerated.
inline std::string KeyFor(uint64_t i, uint64_t seed) {
  std::string k(kKeyBytes, '\0');
  uint64_t a = Mix64(i ^ (seed * 0x51ED27ULL)), b = Mix64(a ^ 0xC0FFEEULL);
  std::memcpy(k.data(), &a, 8);
  std::memcpy(k.data() + 8, &b, 8);
  return k;
}

// A block of random bytes that values are cut from: every value is incompressible, and the
// value stored under a preloaded key can be recomputed from the key to verify reads.
class ValuePool {
 public:
  ValuePool(size_t bytes, uint64_t seed) : data_(bytes) {
    Rng r(seed);
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
      uint64_t v = r.Next();
      std::memcpy(&data_[i], &v, 8);
    }
  }
  std::string_view Random(Rng* r, size_t size) const {
    return std::string_view(&data_[r->Uniform(data_.size() - size + 1)], size);
  }
  // The value a preloaded key holds.
  std::string_view For(std::string_view key, size_t size) const {
    uint64_t h = 0;
    std::memcpy(&h, key.data(), std::min<size_t>(8, key.size()));
    return std::string_view(&data_[Mix64(h) % (data_.size() - size + 1)], size);
  }

 private:
  std::vector<char> data_;
};

// Builds one line of JSON: {"a":1,"b":"x"}.
class JsonLine {
 public:
  JsonLine& Str(const char* k, std::string_view v) {
    Key(k);
    s_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') {
        s_ += '\\';
        s_ += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char b[8];
        std::snprintf(b, sizeof(b), "\\u%04x", c);
        s_ += b;
      } else {
        s_ += c;
      }
    }
    s_ += '"';
    return *this;
  }
  JsonLine& Int(const char* k, uint64_t v) {
    Key(k);
    s_ += std::to_string(v);
    return *this;
  }
  JsonLine& Num(const char* k, double v) {
    Key(k);
    char b[64];
    std::snprintf(b, sizeof(b), "%.3f", v);
    s_ += b;
    return *this;
  }
  JsonLine& Bool(const char* k, bool v) {
    Key(k);
    s_ += v ? "true" : "false";
    return *this;
  }
  // Appends pre-formatted `"k":v,...` pairs.
  JsonLine& Raw(const std::string& pairs) {
    if (!pairs.empty()) {
      s_ += s_.size() > 1 ? "," : "";
      s_ += pairs;
    }
    return *this;
  }
  std::string Done() const { return s_ + "}"; }

 private:
  void Key(const char* k) {
    s_ += s_.size() > 1 ? ",\"" : "\"";
    s_ += k;
    s_ += "\":";
  }
  std::string s_ = "{";
};

// A field of /proc/self/status in KiB (VmRSS, VmHWM), or 0.
inline uint64_t ProcStatusKiB(const char* field) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  uint64_t v = 0;
  size_t n = std::strlen(field);
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      v = std::strtoull(line + n + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return v;
}

}  // namespace cairn::bench
