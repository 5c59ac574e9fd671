// CrashModel and CrashEnv: simulated power loss (issue 5), in the spirit of LevelDB's
// fault_injection_test.
//
// CrashModel records, for every file and directory it is told about, what has been made durable
// (fdatasync/fsync of a file; fsync of a directory) and every change made since. At a simulated
// crash (Crash(seed)) it rewrites the real files on disk into a state a machine could be left in
// after losing power:
//   - synced data and synced directory entries stay as they are;
//   - each unsynced write inside the file's durable size is applied, dropped, or torn (each
//     512-byte sector of it, chosen independently, persists or not); a sector that persists
//     holds the page-cache content of the moment it was written back, i.e. every earlier write
//     to it as well;
//   - a file that grew or shrank since its last sync ends with the size it had after a seeded
//     prefix of its changes, and the bytes it grew by up to that size hold that moment's data:
//     file systems that order data before metadata (ext4 data=ordered, XFS) expose a new size
//     only once the data under it is on disk, so appends are cut, not torn in the middle;
//   - each unsynced hole punch is applied, dropped or torn at 4 KiB block granularity (an
//     applied punch is a real hole, so SEEK_DATA sees it); an unsynced truncation is applied or
//     dropped;
//   - the directory operations (create, rename, remove, mkdir) of each directory since its last
//     fsync are kept up to a seeded point and dropped after it (a rename is never half done);
//     a file whose entry is dropped disappears, a removed file whose removal is dropped comes back
//     with its durable content.
// Every choice comes from one seed, so a crash is reproducible for a given history.
//
// The model is shared by CrashEnv (cairn::Env, the volumes and the marker) and by the RocksDB
// file system wrapper of the index (engine/crash_index_fs.h): a power loss hits both at once.
//
// Freeze() (or an op count armed by FreezeAfter) makes every later operation fail with IOError, as
// if the machine had stopped: tests freeze, drop the Store, then call Crash() and reopen with a
// fresh model. File data is never really fsynced while the model tracks it (it need not be: the
// crash is simulated), which keeps thousands of crashes fast.
//
// Paths must be given in one spelling per file (no "..", no doubled slashes). Fallocate without
// a visible size change (RocksDB's preallocation, KEEP_SIZE) changes no byte a reader can see and
// is not modelled.
//
// Thread safety: every method may be called from any thread; one mutex serialises them (and the
// real I/O of tracked files), which is fine for tests.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/env.h"

namespace cairn {

// Counters over every crash a model simulated (for the CRASH-SUMMARY line).
struct CrashStats {
  uint64_t crashes = 0;
  uint64_t writes_applied = 0;
  uint64_t writes_dropped = 0;
  uint64_t writes_torn = 0;
  uint64_t punches_applied = 0;
  uint64_t punches_dropped = 0;
  uint64_t punches_torn = 0;
  uint64_t truncates_applied = 0;
  uint64_t truncates_dropped = 0;
  uint64_t dir_ops_applied = 0;
  uint64_t dir_ops_dropped = 0;
  void Add(const CrashStats& o);
};

class CrashModel {
 public:
  // `trash_dir` (created, must be on the same file system as the tracked files and outside
  // them) keeps removed files until the crash decides whether their removal survives.
  explicit CrashModel(std::string trash_dir);
  ~CrashModel();
  CrashModel(const CrashModel&) = delete;
  CrashModel& operator=(const CrashModel&) = delete;

  // After Freeze, every operation fails. FreezeAfter(n): the next n mutating operations succeed,
  // the one after freezes the model and fails.
  void Freeze();
  void FreezeAfter(uint64_t ops);
  bool frozen() const { return frozen_.load(); }
  // Mutating operations seen so far (writes, punches, truncations, syncs, directory changes).
  uint64_t mutating_ops() const { return ops_.load(); }

  // How a crash treats unsynced changes. kSeeded mostly decides each one by the seed, and
  // sometimes (also by the seed) keeps all of them, like a process crash, or drops all of them.
  enum class Style { kSeeded, kKeepAll, kDropAll };
  // Applies a simulated power loss to the files on disk (see the file comment), then forgets
  // everything: what is on disk now is the durable state the next model starts from.
  // REQUIRES: no file of the model is open any more.
  Status Crash(uint64_t seed, Style style = Style::kSeeded);
  const CrashStats& stats() const { return stats_; }

  // ---- Used by the Env wrappers. Each returns IOError when frozen.
  using FileId = uint64_t;
  // A file is opened (created if `create`, truncated to 0 if `truncate`). `real` performs the
  // real open; it runs under the model's lock, after the checks.
  Result<FileId> Open(const std::string& path, bool create, bool truncate,
                      const std::function<Status()>& real);
  // A change of file `id`: `real` performs it. Before it runs, the durable content of the bytes
  // it touches is saved.
  Status Write(FileId id, uint64_t offset, std::string_view data,
               const std::function<Status()>& real);
  Status Punch(FileId id, uint64_t offset, uint64_t len, const std::function<Status()>& real);
  // fallocate(mode 0): the range is allocated (what was written stays; the rest reads as zeros
  // and is not a hole) and the file grows to cover it. All or nothing in a crash, like a
  // truncation; counted with the writes.
  Status Allocate(FileId id, uint64_t offset, uint64_t len, const std::function<Status()>& real);
  Status Truncate(FileId id, uint64_t size, const std::function<Status()>& real);
  // fdatasync/fsync of a file: everything written to it so far is durable.
  Status Sync(FileId id);
  // Directory operations, performed by the model itself on the real file system.
  Status CreateDir(const std::string& path);
  Status Rename(const std::string& from, const std::string& to);
  Status Remove(const std::string& path);
  Status SyncDir(const std::string& dir);
  // A read or a query: fails when frozen, counts nothing.
  Status CheckRead();
  // Current size of a tracked file, as the model knows it.
  uint64_t Size(FileId id);

 private:
  struct Op {
    enum Kind { kWrite, kPunch, kTruncate, kAllocate } kind;
    uint64_t offset;  // kTruncate: the new size
    uint64_t len;
    std::string data;  // kWrite
  };
  struct Block {
    std::string bytes;  // 4096 bytes: the durable content
    bool hole = false;  // no extent behind it (an allocated, unwritten block is not a hole)
  };
  struct FileState {
    std::string path;  // where the file is now (its name, or in the trash)
    uint64_t synced_size = 0;
    uint64_t size = 0;
    std::map<uint64_t, Block> originals;  // by block index; only blocks changed since the sync
    std::vector<Op> ops;
    int rfd = -1;  // for reading originals
  };
  struct Entry {
    bool is_dir = false;
    FileId id = 0;
    bool operator==(const Entry& o) const { return is_dir == o.is_dir && id == o.id; }
  };
  struct DirOp {
    enum Kind { kLink, kUnlink, kRename } kind;
    std::string name, to;
    Entry entry;
  };
  struct DirState {
    std::map<std::string, Entry> durable, current;
    std::vector<DirOp> ops;
  };

  Status Mutating();  // REQUIRES: mu_; counts, and fails when frozen
  DirState& Dir(const std::string& dir);  // REQUIRES: mu_; loads it from disk on first use
  FileState& File(FileId id);
  FileId NewFile(const std::string& path, uint64_t size);
  Status SaveOriginals(FileState& f, uint64_t begin, uint64_t end);
  std::string TrashPath(FileId id) const;
  // Rewrites one file's unsynced changes as the crash decides. `style`: 0 every change
  // persisted, 1 none, 2 each decided by the seed.
  Status CrashContent(FileState& f, std::mt19937_64& rng, int style);
  // A file that exists on disk but was made behind the model's back (RocksDB's info LOG):
  // taken as durable. REQUIRES: mu_.
  bool Adopt(DirState& d, const std::string& path, const std::string& name);

  const std::string trash_;
  std::mutex mu_;
  std::atomic<bool> frozen_{false};
  std::atomic<uint64_t> ops_{0};
  int64_t freeze_after_ = -1;  // mutating ops left before freezing; -1 = not armed
  FileId next_id_ = 1;
  std::map<FileId, FileState> files_;
  std::map<std::string, DirState> dirs_;
  CrashStats stats_;
};

// A cairn::Env over Env::Default() whose files and directories are tracked by a CrashModel.
class CrashEnv final : public Env {
 public:
  explicit CrashEnv(CrashModel* model) : model_(model), base_(Env::Default()) {}

  Result<std::unique_ptr<cairn::File>> OpenFile(const std::string& path, OpenMode mode) override;
  bool Exists(const std::string& path) override { return base_->Exists(path); }
  Status CreateDir(const std::string& path) override { return model_->CreateDir(path); }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  Status Rename(const std::string& from, const std::string& to) override {
    return model_->Rename(from, to);
  }
  Status RemoveFile(const std::string& path) override { return model_->Remove(path); }
  Status SyncDir(const std::string& dir) override { return model_->SyncDir(dir); }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;
  Result<uint64_t> AllocatedBytesUnder(const std::string& path) override;
  uint64_t NowMicros() override { return base_->NowMicros(); }

 private:
  CrashModel* const model_;
  Env* const base_;
};

}  // namespace cairn
