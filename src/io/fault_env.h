// FaultEnv: wraps another Env and injects errors or runs hooks on chosen operations, so tests
// can produce EIO from fdatasync, ENOSPC from pwrite, or pause a commit at an exact point.
//
// Thread safety: configuration and operations may be called concurrently.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cairn/env.h"

namespace cairn {

class FaultEnv final : public Env {
 public:
  // kPunchHole: File::PunchHole (fallocate), which ext4 can fail with ENOSPC when it has to
  // split an extent.
  enum class Op { kWrite = 0, kSync = 1, kCreateFile = 2, kRename = 3, kSyncDir = 4, kPunchHole = 5 };
  static constexpr int kOps = 6;
  static constexpr int kForever = -1;

  explicit FaultEnv(Env* base) : base_(base) {}

  // After `skip` more matching calls of `op` succeed, the next `count` (or kForever) matching
  // calls fail with `error` without touching the file. A call matches if its path contains
  // `path_substr`.
  void Inject(Op op, std::string path_substr, int skip, int count, Status error);
  void ClearFaults();
  // Runs `hook(path)` before every call of `op` (replacing any earlier hook); empty to remove.
  void SetHook(Op op, std::function<void(const std::string&)> hook);
  uint64_t injected(Op op) const { return injected_[static_cast<int>(op)].load(); }

  // Applies the rules for `op` on `path`: returns the injected error, or OK to proceed.
  Status Check(Op op, const std::string& path);

  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override;
  bool Exists(const std::string& path) override { return base_->Exists(path); }
  Status CreateDir(const std::string& path) override { return base_->CreateDir(path); }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    return base_->ListDir(dir);
  }
  Status Rename(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override { return base_->RemoveFile(path); }
  Status SyncDir(const std::string& dir) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    return base_->LockFile(path);
  }
  Result<uint64_t> AllocatedBytesUnder(const std::string& path) override {
    return base_->AllocatedBytesUnder(path);
  }
  uint64_t NowMicros() override { return base_->NowMicros(); }

 private:
  struct Rule {
    Op op;
    std::string path_substr;
    int skip;
    int count;
    Status error;
  };
  Env* const base_;
  std::mutex mu_;
  std::vector<Rule> rules_;
  std::function<void(const std::string&)> hooks_[kOps];
  std::atomic<uint64_t> injected_[kOps] = {};
};

}  // namespace cairn
