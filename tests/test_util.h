// Helpers shared by the engine's integration tests.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <random>
#include <string>

#include "cairn/object_store.h"

namespace cairn::test {

// A fresh directory under /tmp, removed when the object dies (kept if CAIRN_KEEP_TEST_DIRS is
// set, for post-mortems).
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cairn-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    if (std::getenv("CAIRN_KEEP_TEST_DIRS") == nullptr) std::system(("rm -rf " + path_).c_str());
  }
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Deterministic pseudo-random bytes: the value for (key, version) can be recomputed by a
// checker that never saw it written.
inline std::string ValueFor(const std::string& key, uint64_t version, size_t size) {
  std::mt19937_64 rng(std::hash<std::string>()(key) ^ (version * 0x9E3779B97F4A7C15ull));
  std::string v(size, '\0');
  for (size_t i = 0; i < size; i += 8) {
    uint64_t r = rng();
    for (size_t j = 0; j < 8 && i + j < size; j++) v[i + j] = static_cast<char>(r >> (8 * j));
  }
  return v;
}

// Deterministic metadata for (key, version), as ValueFor: a content type and a user pair, and
// none at all for a quarter of the versions.
inline ObjectMetadata MetaFor(const std::string& key, uint64_t version) {
  ObjectMetadata m;
  if (version % 4 == 0) return m;
  m.content_type = "test/" + std::to_string(version % 1000);
  m.user["key"] = key;
  m.user["version"] = std::to_string(version);
  return m;
}

}  // namespace cairn::test
