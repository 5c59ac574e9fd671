#include "io/mem_env.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace cairn {
namespace {

constexpr uint64_t kBlock = 4096;

// The directory holding `path` ("/" for a name in the root).
std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

// Whether `path` is spelled the one way MemEnv accepts.
bool WellFormed(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  if (path == "/") return true;
  if (path.back() == '/' || path.find("//") != std::string::npos) return false;
  return path.find("/../") == std::string::npos && path.find("/./") == std::string::npos &&
         !path.ends_with("/..") && !path.ends_with("/.");
}

Status BadPath(const std::string& path) {
  return Status::InvalidArgument("MemEnv: \"" + path +
                                 "\" is not an absolute path spelled one way");
}

}  // namespace

struct MemEnv::Node {
  std::mutex mu;
  std::string data;
  std::set<uint64_t> holes;  // indexes of whole 4 KiB blocks released by PunchHole
};

class MemEnv::MemFile final : public File {
 public:
  MemFile(MemEnv* env, std::shared_ptr<Node> node, std::string path)
      : env_(env), node_(std::move(node)), path_(std::move(path)) {}

  Status PRead(uint64_t offset, size_t n, char* buf, size_t* got) override {
    std::lock_guard<std::mutex> l(node_->mu);
    const uint64_t size = node_->data.size();
    const uint64_t k = offset >= size ? 0 : std::min<uint64_t>(n, size - offset);
    if (k > 0) std::memcpy(buf, node_->data.data() + offset, k);
    *got = static_cast<size_t>(k);
    return Status::OK();
  }

  Status PWrite(uint64_t offset, std::string_view data) override {
    std::lock_guard<std::mutex> l(node_->mu);
    const uint64_t end = offset + data.size();
    if (end > node_->data.size()) node_->data.resize(end, '\0');
    if (!data.empty()) std::memcpy(node_->data.data() + offset, data.data(), data.size());
    if (!data.empty()) {
      auto it = node_->holes.lower_bound(offset / kBlock);
      while (it != node_->holes.end() && *it * kBlock < end) it = node_->holes.erase(it);
    }
    return Status::OK();
  }

  Status DataSync() override {
    env_->syncs_++;
    return Status::OK();
  }

  Result<uint64_t> Size() override {
    std::lock_guard<std::mutex> l(node_->mu);
    return static_cast<uint64_t>(node_->data.size());
  }

  Result<bool> Unlinked() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    for (const auto& [path, node] : env_->files_)
      if (node == node_) return false;
    return true;
  }

  Result<uint64_t> AllocatedBytes() override {
    std::lock_guard<std::mutex> l(node_->mu);
    const uint64_t blocks = (node_->data.size() + kBlock - 1) / kBlock;
    return (blocks - std::min<uint64_t>(blocks, node_->holes.size())) * kBlock;
  }

  Status PunchHole(uint64_t offset, uint64_t len) override {
    if (len == 0) return Status::OK();
    std::lock_guard<std::mutex> l(node_->mu);
    const uint64_t size = node_->data.size();
    const uint64_t end = std::min(offset + len, size);  // KEEP_SIZE: never past the end
    if (offset >= end) return Status::OK();
    std::memset(node_->data.data() + offset, 0, end - offset);
    // Only whole blocks become holes; a partial block is zeroed and stays allocated.
    const uint64_t first = (offset + kBlock - 1) / kBlock;
    const uint64_t last = end == size ? (end + kBlock - 1) / kBlock : end / kBlock;
    for (uint64_t b = first; b < last; b++) node_->holes.insert(b);
    return Status::OK();
  }

  Status Allocate(uint64_t offset, uint64_t len) override {
    if (len == 0) return Status::OK();
    std::lock_guard<std::mutex> l(node_->mu);
    if (offset + len > node_->data.size()) node_->data.resize(offset + len, '\0');
    auto it = node_->holes.lower_bound(offset / kBlock);
    while (it != node_->holes.end() && *it * kBlock < offset + len) it = node_->holes.erase(it);
    return Status::OK();
  }

  Result<bool> InHole(uint64_t offset) override {
    std::lock_guard<std::mutex> l(node_->mu);
    if (offset >= node_->data.size()) return true;  // as SEEK_DATA: no data at or after it
    return node_->holes.count(offset / kBlock) > 0;
  }

  const std::string& path() const override { return path_; }

 private:
  MemEnv* const env_;
  const std::shared_ptr<Node> node_;
  const std::string path_;
};

class MemEnv::MemLock final : public FileLock {
 public:
  MemLock(MemEnv* env, std::string path) : env_(env), path_(std::move(path)) {}
  ~MemLock() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    env_->locked_.erase(path_);
  }

 private:
  MemEnv* const env_;
  const std::string path_;
};

MemEnv::MemEnv() { dirs_.insert("/"); }
MemEnv::~MemEnv() = default;

bool MemEnv::DirExistsLocked(const std::string& dir) const { return dirs_.count(dir) > 0; }

Result<std::unique_ptr<File>> MemEnv::OpenFile(const std::string& path, OpenMode mode) {
  if (!WellFormed(path) || path == "/") return BadPath(path);
  std::lock_guard<std::mutex> l(mu_);
  if (dirs_.count(path) > 0) return Status::IOError("open " + path + ": is a directory");
  auto it = files_.find(path);
  if (it == files_.end()) {
    if (mode == OpenMode::kExisting) return Status::NotFound("open " + path + ": no such file");
    if (!DirExistsLocked(Parent(path)))
      return Status::NotFound("open " + path + ": no such directory " + Parent(path));
    it = files_.emplace(path, std::make_shared<Node>()).first;
  } else if (mode == OpenMode::kCreateNew) {
    return Status::IOError("open " + path + ": file exists");
  } else if (mode == OpenMode::kCreate) {
    std::lock_guard<std::mutex> nl(it->second->mu);
    it->second->data.clear();
    it->second->holes.clear();
  }
  return std::unique_ptr<File>(new MemFile(this, it->second, path));
}

bool MemEnv::Exists(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  return dirs_.count(path) > 0 || files_.count(path) > 0;
}

Status MemEnv::CreateDir(const std::string& path) {
  if (!WellFormed(path)) return BadPath(path);
  std::lock_guard<std::mutex> l(mu_);
  if (dirs_.count(path) > 0) return Status::OK();
  if (files_.count(path) > 0) return Status::IOError("mkdir " + path + ": a file exists");
  if (!DirExistsLocked(Parent(path)))
    return Status::NotFound("mkdir " + path + ": no such directory " + Parent(path));
  dirs_.insert(path);
  return Status::OK();
}

Result<std::vector<std::string>> MemEnv::ListDir(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  if (!DirExistsLocked(dir)) return Status::NotFound("opendir " + dir + ": no such directory");
  std::vector<std::string> names;
  const std::string prefix = dir == "/" ? "/" : dir + "/";
  auto child = [&](const std::string& p) {
    if (p.size() > prefix.size() && p.compare(0, prefix.size(), prefix) == 0 &&
        p.find('/', prefix.size()) == std::string::npos)
      names.push_back(p.substr(prefix.size()));
  };
  for (const std::string& d : dirs_) child(d);
  for (const auto& [p, node] : files_) child(p);
  return names;
}

Status MemEnv::Rename(const std::string& from, const std::string& to) {
  if (!WellFormed(to) || to == "/") return BadPath(to);
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(from);
  if (it == files_.end()) return Status::NotFound("rename " + from + ": no such file");
  if (dirs_.count(to) > 0) return Status::IOError("rename " + from + " -> " + to + ": a directory");
  if (!DirExistsLocked(Parent(to)))
    return Status::NotFound("rename " + from + " -> " + to + ": no such directory");
  std::shared_ptr<Node> node = it->second;
  files_.erase(it);
  files_[to] = std::move(node);
  return Status::OK();
}

Status MemEnv::RemoveFile(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  if (files_.erase(path) == 0) return Status::NotFound("unlink " + path + ": no such file");
  return Status::OK();
}

Status MemEnv::SyncDir(const std::string& dir) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!DirExistsLocked(dir)) return Status::NotFound("open " + dir + ": no such directory");
  }
  syncs_++;
  return Status::OK();
}

Result<std::unique_ptr<FileLock>> MemEnv::LockFile(const std::string& path) {
  if (!WellFormed(path) || path == "/") return BadPath(path);
  const std::string pid = std::to_string(::getpid());
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!DirExistsLocked(Parent(path)))
      return Status::NotFound("open " + path + ": no such directory " + Parent(path));
    if (locked_.count(path) > 0)
      return Status::Busy("store is locked by process " + pid + " (" + path + ")");
    locked_.insert(path);
    auto& node = files_[path];
    if (node == nullptr) node = std::make_shared<Node>();
    std::lock_guard<std::mutex> nl(node->mu);
    node->data = pid + "\n";
    node->holes.clear();
  }
  return std::unique_ptr<FileLock>(new MemLock(this, path));
}

Result<uint64_t> MemEnv::AllocatedBytesUnder(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  const std::string prefix = path == "/" ? "/" : path + "/";
  uint64_t total = 0;
  for (const auto& [p, node] : files_) {
    if (p != path && p.compare(0, prefix.size(), prefix) != 0) continue;
    std::lock_guard<std::mutex> nl(node->mu);
    const uint64_t blocks = (node->data.size() + kBlock - 1) / kBlock;
    total += (blocks - std::min<uint64_t>(blocks, node->holes.size())) * kBlock;
  }
  return total;
}

uint64_t MemEnv::NowMicros() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace cairn
