#include "cli/fiemap.h"

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <numeric>

namespace cairn::cli {

std::optional<uint64_t> FirstExtentOffset(int fd) {
  // One extent is all we ask for: the header followed by one fiemap_extent (fm_extents is a
  // flexible array member).
  alignas(struct fiemap) char buf[sizeof(struct fiemap) + sizeof(struct fiemap_extent)] = {};
  auto* map = reinterpret_cast<struct fiemap*>(buf);
  map->fm_start = 0;
  map->fm_length = FIEMAP_MAX_OFFSET;
  map->fm_flags = 0;  // not FIEMAP_FLAG_SYNC: it would write out dirty data just to look
  map->fm_extent_count = 1;
  if (::ioctl(fd, FS_IOC_FIEMAP, map) != 0) return std::nullopt;
  if (map->fm_mapped_extents == 0) return std::nullopt;
  const struct fiemap_extent& extent = map->fm_extents[0];
  constexpr uint32_t kNoPlace = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
                                FIEMAP_EXTENT_DATA_INLINE | FIEMAP_EXTENT_NOT_ALIGNED |
                                FIEMAP_EXTENT_ENCODED;
  if ((extent.fe_flags & kNoPlace) != 0) return std::nullopt;
  return extent.fe_physical;
}

std::vector<size_t> PhysicalReadOrder(const std::vector<PlacementKey>& keys) {
  std::vector<size_t> order(keys.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&keys](size_t a, size_t b) {
    const PlacementKey& x = keys[a];
    const PlacementKey& y = keys[b];
    if (x.physical.has_value() != y.physical.has_value()) return x.physical.has_value();
    if (x.physical.has_value() && *x.physical != *y.physical) return *x.physical < *y.physical;
    return x.inode < y.inode;
  });
  return order;
}

}  // namespace cairn::cli
