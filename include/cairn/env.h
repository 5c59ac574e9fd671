// Env: every file and directory operation the engine performs goes through this interface, so
// tests can substitute a fault-injecting or crash-simulating implementation (STYLE.md habit 4).
//
// Thread safety: an Env and a File may be used from many threads at once. PRead and PWrite on
// one File are positioned and independent; DataSync covers every PWrite that returned before it
// was called.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"

namespace cairn {

// A file opened for positioned reads and writes. It is never appended to implicitly.
class File {
 public:
  virtual ~File() = default;
  // Reads up to n bytes at `offset` into buf; *got < n only at end of file.
  virtual Status PRead(uint64_t offset, size_t n, char* buf, size_t* got) = 0;
  // Writes all of `data` at `offset` (retrying short writes), or fails.
  virtual Status PWrite(uint64_t offset, std::string_view data) = 0;
  // Writes the pieces back to back at `offset`, as one PWrite of their concatenation would. The
  // default concatenates them and calls PWrite (so a test Env that overrides only PWrite sees
  // every write); the POSIX file uses pwritev(2), so a large value goes from the caller's
  // buffer to the page cache without first being copied next to its header.
  virtual Status PWriteV(uint64_t offset, const std::vector<std::string_view>& pieces) {
    std::string all;
    for (std::string_view p : pieces) all.append(p);
    return PWrite(offset, all);
  }
  // fdatasync(2). After an error, nothing written since the last successful sync may be
  // trusted: the caller must not retry and then report success (docs/reliability.md).
  virtual Status DataSync() = 0;
  // Starts writing [offset, offset+len) back to the device and, with `wait`, waits until that
  // range is written (sync_file_range(2)); it makes nothing durable (only DataSync does). Keeps
  // a long run of writes from piling up in the page cache for one large DataSync. A no-op where
  // there is no page cache to drain.
  virtual Status WriteBack(uint64_t offset, uint64_t len, bool wait) {
    (void)offset;
    (void)len;
    (void)wait;
    return Status::OK();
  }
  virtual Result<uint64_t> Size() = 0;
  // Bytes actually allocated on the device (st_blocks * 512).
  virtual Result<uint64_t> AllocatedBytes() = 0;
  // Releases the blocks of [offset, offset+len) to the file system, keeping the file size:
  // fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE). The range then reads as zeros.
  virtual Status PunchHole(uint64_t offset, uint64_t len) = 0;
  // Allocates [offset, offset+len) without writing it (fallocate(2) mode 0): unwritten extents
  // that read as zeros, extending the file if needed. NotSupported where the file system
  // cannot; then write zeros instead.
  virtual Status Allocate(uint64_t offset, uint64_t len) {
    (void)offset;
    (void)len;
    return Status::NotSupported("allocating without writing");
  }
  // Whether `offset` lies in a hole: a range released by PunchHole, with no block behind it.
  // Pre-written zeros and allocated-but-unwritten space (Allocate) are not holes: the POSIX
  // file asks FIEMAP, which tells an unwritten extent from a hole, because lseek(SEEK_DATA)
  // reports an unwritten extent with nothing in the page cache as a hole on ext4 and XFS.
  // False where holes cannot be told.
  virtual Result<bool> InHole(uint64_t offset) { (void)offset; return false; }
  // Whether the file has lost its name: its path() no longer names this file (it was removed
  // with its directory, deleted, renamed over, or its directory was moved aside or had another
  // disk mounted over it) while this handle keeps it alive. Writes to such a file still succeed,
  // and even sync, but are never found again by its path: nothing written to it may be promised
  // durable. False where it cannot be told.
  virtual Result<bool> Unlinked() { return false; }
  // The OS descriptor, for zero-copy transfers; -1 when the file is not backed by one.
  virtual int fd() const { return -1; }
  virtual const std::string& path() const = 0;
};

// Held while a store is open; released when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;
  // The process-wide POSIX Env. Never destroyed.
  static Env* Default();

  enum class OpenMode { kExisting, kCreate /* create or truncate */, kCreateNew /* must not exist */ };
  virtual Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) = 0;

  virtual bool Exists(const std::string& path) = 0;
  virtual Status CreateDir(const std::string& path) = 0;  // OK if it already exists
  // Names in `dir`, without "." and "..", in no particular order.
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // fsync(2) on a directory, making entries created or renamed in it durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  // Takes an exclusive, non-blocking lock on `path` and writes our pid into it. If another
  // process holds it, returns Busy naming that process's pid.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;
  // Bytes allocated on the device by every file below `path` (recursively).
  virtual Result<uint64_t> AllocatedBytesUnder(const std::string& path) = 0;
  virtual uint64_t NowMicros() = 0;
};

}  // namespace cairn
