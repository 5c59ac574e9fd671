#include "io/fault_env.h"

namespace cairn {
namespace {

class FaultFile final : public File {
 public:
  FaultFile(FaultEnv* env, std::unique_ptr<File> base) : env_(env), base_(std::move(base)) {}
  Status PRead(uint64_t offset, size_t n, char* buf, size_t* got) override {
    return base_->PRead(offset, n, buf, got);
  }
  Status PWrite(uint64_t offset, std::string_view data) override {
    CAIRN_RETURN_IF_ERROR(env_->Check(FaultEnv::Op::kWrite, base_->path()));
    return base_->PWrite(offset, data);
  }
  Status DataSync() override {
    CAIRN_RETURN_IF_ERROR(env_->Check(FaultEnv::Op::kSync, base_->path()));
    return base_->DataSync();
  }
  Result<uint64_t> Size() override { return base_->Size(); }
  Result<uint64_t> AllocatedBytes() override { return base_->AllocatedBytes(); }
  Result<bool> Unlinked() override { return base_->Unlinked(); }
  Status PunchHole(uint64_t offset, uint64_t len) override {
    CAIRN_RETURN_IF_ERROR(env_->Check(FaultEnv::Op::kPunchHole, base_->path()));
    return base_->PunchHole(offset, len);
  }
  Status Allocate(uint64_t offset, uint64_t len) override {
    CAIRN_RETURN_IF_ERROR(env_->Check(FaultEnv::Op::kWrite, base_->path()));
    return base_->Allocate(offset, len);
  }
  Result<bool> InHole(uint64_t offset) override { return base_->InHole(offset); }
  int fd() const override { return base_->fd(); }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultEnv* env_;
  std::unique_ptr<File> base_;
};

}  // namespace

void FaultEnv::Inject(Op op, std::string path_substr, int skip, int count, Status error) {
  std::lock_guard<std::mutex> l(mu_);
  rules_.push_back(Rule{op, std::move(path_substr), skip, count, std::move(error)});
}

void FaultEnv::ClearFaults() {
  std::lock_guard<std::mutex> l(mu_);
  rules_.clear();
}

void FaultEnv::SetHook(Op op, std::function<void(const std::string&)> hook) {
  std::lock_guard<std::mutex> l(mu_);
  hooks_[static_cast<int>(op)] = std::move(hook);
}

Status FaultEnv::Check(Op op, const std::string& path) {
  std::function<void(const std::string&)> hook;
  Status result;
  {
    std::lock_guard<std::mutex> l(mu_);
    hook = hooks_[static_cast<int>(op)];
    for (Rule& r : rules_) {
      if (r.op != op || path.find(r.path_substr) == std::string::npos) continue;
      if (r.skip > 0) {
        r.skip--;
        continue;
      }
      if (r.count == 0) continue;
      if (r.count > 0) r.count--;
      result = r.error.WithContext("injected by FaultEnv: " + path);
      injected_[static_cast<int>(op)]++;
      break;
    }
  }
  if (hook) hook(path);
  return result;
}

Result<std::unique_ptr<File>> FaultEnv::OpenFile(const std::string& path, OpenMode mode) {
  if (mode != OpenMode::kExisting) CAIRN_RETURN_IF_ERROR(Check(Op::kCreateFile, path));
  CAIRN_ASSIGN_OR_RETURN(auto f, base_->OpenFile(path, mode));
  return std::unique_ptr<File>(new FaultFile(this, std::move(f)));
}

Status FaultEnv::Rename(const std::string& from, const std::string& to) {
  CAIRN_RETURN_IF_ERROR(Check(Op::kRename, to));
  return base_->Rename(from, to);
}

Status FaultEnv::SyncDir(const std::string& dir) {
  CAIRN_RETURN_IF_ERROR(Check(Op::kSyncDir, dir));
  return base_->SyncDir(dir);
}

}  // namespace cairn
