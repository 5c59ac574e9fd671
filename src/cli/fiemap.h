// Physical placement of files, for reading many of them in the order they lie on disk.
//
// Reading many small files is seek-bound: in directory order the disk jumps back and forth.
// Sorted by the physical offset of their first extent (FS_IOC_FIEMAP), reads move one way
// across the disk and the block layer can merge neighbours (issue 3, docs/design.md "Bulk
// import and export").
//
// Thread safety: pure functions, or functions of one file descriptor.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace cairn::cli {

// The physical byte offset on the device of the first extent of the open file `fd`; nullopt
// when the file system cannot say: no FIEMAP (tmpfs, NFS...), no extent (an empty or sparse
// file), or an extent whose place is not decided yet (delayed allocation) or not a plain
// block (inline data, encoded).
std::optional<uint64_t> FirstExtentOffset(int fd);

// What the read order is decided by, for one file.
struct PlacementKey {
  std::optional<uint64_t> physical;  // FirstExtentOffset
  uint64_t inode = 0;
};

// Indexes into `keys` in read order: files with a physical offset by that offset, then the
// others by inode number (on most file systems inodes are allocated close to their data, so
// inode order is the best guess left). Ties keep their relative order.
std::vector<size_t> PhysicalReadOrder(const std::vector<PlacementKey>& keys);

}  // namespace cairn::cli
