#include "cluster/map_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>

#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn::cluster {
namespace {

constexpr char kShmMagic[8] = {'C', 'A', 'I', 'R', 'N', 'S', 'H', 'M'};
constexpr size_t kShmHeader = 32;
// Named bound: the largest cache file a reader maps (a map of 65,536 x 16 slots is ~2 MiB).
constexpr size_t kMaxCacheBytes = 64 << 20;

struct Mapped {
  void* p = MAP_FAILED;
  size_t n = 0;
  ~Mapped() {
    if (p != MAP_FAILED) ::munmap(p, n);
  }
};

}  // namespace

std::string MapCacheName(const std::string& cluster, const std::string& endpoints) {
  const std::string id = cluster + "\n" + endpoints;
  char b[64];
  std::snprintf(b, sizeof(b), "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(id.data(), id.size())));
  std::string safe;
  for (char c : cluster) safe.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return "cairn-map-" + safe.substr(0, 64) + "-" + b;
}

Result<ClusterMap> ReadCachedMap(const MapCacheOptions& o, const std::string& name, uint64_t now_us) {
  const std::string path = o.dir + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::NotFound("no cached map");
  struct stat st;
  Mapped m;
  if (::fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(kShmHeader) &&
      static_cast<size_t>(st.st_size) <= kMaxCacheBytes) {
    m.n = static_cast<size_t>(st.st_size);
    m.p = ::mmap(nullptr, m.n, PROT_READ, MAP_SHARED, fd, 0);
  }
  ::close(fd);
  if (m.p == MAP_FAILED) return Status::NotFound("cached map unreadable");
  const char* b = static_cast<const char*>(m.p);
  if (std::memcmp(b, kShmMagic, 8) != 0 || DecodeFixed32(b + 8) != 1 ||
      crc32c::Value(b, 28) != DecodeFixed32(b + 28))
    return Status::NotFound("cached map damaged");
  const uint64_t fetched = DecodeFixed64(b + 16);
  const uint32_t len = DecodeFixed32(b + 24);
  if (len != m.n - kShmHeader) return Status::NotFound("cached map cut short");
  if (now_us < fetched || now_us - fetched > uint64_t{o.ttl_ms} * 1000)
    return Status::NotFound("cached map is older than its TTL");
  ClusterMap map;
  if (!DecodeClusterMap(std::string_view(b + kShmHeader, len), &map).ok())
    return Status::NotFound("cached map damaged");
  return map;
}

Status WriteCachedMap(const MapCacheOptions& o, const std::string& name, const ClusterMap& m,
                      uint64_t now_us) {
  // Never replace a newer map with an older one (two CLIs racing after a map change).
  Result<ClusterMap> cur = ReadCachedMap(o, name, now_us);
  if (cur.ok() && cur->epoch > m.epoch) return Status::OK();
  const std::string map = EncodeClusterMap(m);
  std::string file(kShmHeader, '\0');
  std::memcpy(file.data(), kShmMagic, 8);
  EncodeFixed32(file.data() + 8, 1);
  EncodeFixed64(file.data() + 16, now_us);
  EncodeFixed32(file.data() + 24, static_cast<uint32_t>(map.size()));
  EncodeFixed32(file.data() + 28, crc32c::Value(file.data(), 28));
  file += map;
  const std::string path = o.dir + "/" + name;
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + tmp);
  size_t done = 0;
  while (done < file.size()) {
    ssize_t n = ::write(fd, file.data() + done, file.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = Status::FromErrno(errno, "write " + tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  // No fsync: /dev/shm is memory, and a lost cache is only a miss.
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Status::FromErrno(errno, "rename " + tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  return Status::OK();
}

void InvalidateCachedMap(const MapCacheOptions& o, const std::string& name) {
  ::unlink((o.dir + "/" + name).c_str());
}

}  // namespace cairn::cluster
