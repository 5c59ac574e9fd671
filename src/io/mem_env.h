// MemEnv: an Env whose files and directories live in memory, so engine unit tests (records,
// volumes, the scanner, the index with rocksdb::NewMemEnv, a whole store) run beside their
// modules without touching the disk. Test machinery (src/layers.txt): cairnd and cairn never
// link it. In the spirit of LevelDB's helpers/memenv.
//
// Semantics, close to a POSIX file system's where the engine can tell:
//   - paths are absolute and spelled one way ("/a/b", no "..", no doubled or trailing slash);
//     "/" exists; creating a file or a directory needs its parent directory;
//   - an open File keeps its contents alive: RemoveFile and Rename change names, not open files
//     (like an inode); Rename replaces an existing target file;
//   - PWrite past the end extends the file with zeros; every byte up to the size is allocated,
//     except the whole 4 KiB blocks PunchHole released: they read as zeros, InHole says so, and
//     AllocatedBytes does not count them. Allocate extends the file with zeros that are not holes
//     (unwritten extents);
//   - DataSync and SyncDir succeed and do nothing: nothing is ever lost (simulated power loss is
//     CrashEnv's job, io/crash_env.h); syncs are counted;
//   - LockFile fails with Busy while another lock of the same path is held, in this process;
//   - File::fd() is -1 (no zero-copy sends from memory).
//
// Thread safety: every method of the Env and of its Files may be called from any thread.
// Ownership: the Env must outlive its Files and locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cairn/env.h"

namespace cairn {

class MemEnv final : public Env {
 public:
  MemEnv();
  ~MemEnv() override;
  MemEnv(const MemEnv&) = delete;
  MemEnv& operator=(const MemEnv&) = delete;

  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override;
  bool Exists(const std::string& path) override;
  Status CreateDir(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Status SyncDir(const std::string& dir) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;
  Result<uint64_t> AllocatedBytesUnder(const std::string& path) override;
  uint64_t NowMicros() override;

  // File and directory syncs so far (DataSync and SyncDir calls that succeeded).
  uint64_t syncs() const { return syncs_.load(); }

  struct Node;  // one file's contents (mem_env.cc)

 private:
  class MemFile;
  class MemLock;
  // REQUIRES: mu_ held.
  bool DirExistsLocked(const std::string& dir) const;

  std::mutex mu_;
  std::set<std::string> dirs_;                         // "/" and every created directory
  std::map<std::string, std::shared_ptr<Node>> files_;  // by path
  std::set<std::string> locked_;                       // paths with a live MemLock
  std::atomic<uint64_t> syncs_{0};
};

}  // namespace cairn
