// Lists the regular files under a directory for bulk import, without following symbolic links.
//
// Everything that is not a regular file or a directory (symbolic links, FIFOs, sockets,
// devices), and every directory that cannot be listed, is returned as a problem with the
// reason, for the caller to report: an import must say what it left out.
//
// Memory: one WalkedFile (its relative path plus 32 bytes) per file; the caller needs them all
// to sort the reads by disk position. Directories are visited depth-first with one descriptor
// open at a time, so depth costs no descriptors.
// Thread safety: WalkTree is a function of its arguments; call it from one thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cairn/status.h"

namespace cairn::cli {

struct WalkedFile {
  std::string path;  // relative to the root, components joined by '/'
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // since the Unix epoch
  uint64_t inode = 0;
};

struct WalkProblem {
  std::string path;  // relative to the root ("" is the root itself)
  std::string reason;
};

struct WalkResult {
  std::vector<WalkedFile> files;
  std::vector<WalkProblem> problems;
  uint64_t excluded_dirs = 0;  // directories left out on purpose (the store itself)
};

struct WalkOptions {
  // A directory not to descend into, by device and inode: the store being imported into, when
  // it lies under the root (importing it into itself would never end).
  std::optional<std::pair<dev_t, ino_t>> exclude_dir;
  // Polled between directories and entries; true ends the walk early with an IOError.
  std::function<bool()> stop;
};

// Walks `root`. An error only if `root` itself cannot be listed, or if `stop` said so.
Result<WalkResult> WalkTree(const std::string& root, const WalkOptions& options);

}  // namespace cairn::cli
