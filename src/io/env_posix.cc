// The POSIX Env: plain pread/pwrite/fdatasync on file descriptors.
//
// io_uring is not used here on purpose: every call on the engine's write path is synchronous by
// nature (pwrite into the page cache, then one fdatasync that the whole group waits for), and
// a ring adds a submission and a completion round trip to each. io_uring pays off where many
// independent reads are in flight at once (bulk import, the server's read path), and is used
// there.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "cairn/env.h"
#include "io/holes.h"

namespace cairn {

Result<bool> FdInHole(int fd, uint64_t offset, const std::string& path) {
  // FIEMAP first: the extent covering `offset`, if any. An unwritten (allocated) extent is
  // not a hole; SEEK_DATA would call it one once its pages left the cache.
  alignas(struct fiemap) char qbuf[sizeof(struct fiemap) + sizeof(struct fiemap_extent)] = {};
  auto* fm = reinterpret_cast<struct fiemap*>(qbuf);
  fm->fm_start = offset;
  fm->fm_length = 1;
  fm->fm_extent_count = 1;
  if (::ioctl(fd, FS_IOC_FIEMAP, fm) == 0) {
    if (fm->fm_mapped_extents == 0) return true;
    const struct fiemap_extent& e = fm->fm_extents[0];
    return !(e.fe_logical <= offset && offset < e.fe_logical + e.fe_length);
  }
  off_t next = ::lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
  if (next < 0) {
    if (errno == ENXIO) return true;  // no data at or after offset
    if (errno == EINVAL) return false;  // the file system cannot tell
    return Status::FromErrno(errno, "lseek(SEEK_DATA) " + path);
  }
  return static_cast<uint64_t>(next) > offset;
}

namespace {

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }

  Status PRead(uint64_t offset, size_t n, char* buf, size_t* got) override {
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, buf + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "pread " + path_);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    *got = done;
    return Status::OK();
  }

  Status PWrite(uint64_t offset, std::string_view data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t r = ::pwrite(fd_, data.data() + done, data.size() - done,
                           static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "pwrite " + path_);
      }
      done += static_cast<size_t>(r);
    }
    return Status::OK();
  }

  Status PWriteV(uint64_t offset, const std::vector<std::string_view>& pieces) override {
    // Named bound: iovecs per call (IOV_MAX is 1024 on Linux; callers pass a handful).
    constexpr size_t kMaxPieces = 16;
    if (pieces.size() > kMaxPieces) return File::PWriteV(offset, pieces);
    iovec iov[kMaxPieces];
    size_t n = 0;
    for (std::string_view p : pieces)
      if (!p.empty()) iov[n++] = iovec{const_cast<char*>(p.data()), p.size()};
    size_t first = 0;  // the first iovec not yet written whole
    while (first < n) {
      ssize_t r = ::pwritev(fd_, iov + first, static_cast<int>(n - first),
                            static_cast<off_t>(offset));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "pwritev " + path_);
      }
      // A short write: step over what was written and go on from there.
      size_t left = static_cast<size_t>(r);
      offset += left;
      while (first < n && left >= iov[first].iov_len) left -= iov[first++].iov_len;
      if (first < n) {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
      }
    }
    return Status::OK();
  }

  Status DataSync() override {
    // Never retried: after a failed fdatasync the kernel may have dropped the dirty pages and a
    // second call would report success for data that is gone.
    if (::fdatasync(fd_) != 0) return Status::FromErrno(errno, "fdatasync " + path_);
    return Status::OK();
  }

  Status WriteBack(uint64_t offset, uint64_t len, bool wait) override {
    const unsigned flags = wait ? SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                      SYNC_FILE_RANGE_WAIT_AFTER
                                : SYNC_FILE_RANGE_WRITE;
    if (::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(len), flags) != 0)
      return Status::FromErrno(errno, "sync_file_range " + path_);
    return Status::OK();
  }

  Result<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Status::FromErrno(errno, "fstat " + path_);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<uint64_t> AllocatedBytes() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Status::FromErrno(errno, "fstat " + path_);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }

  Result<bool> Unlinked() override {
    // Its path must still name this very file: gone (ENOENT: removed, or its directory), or
    // another file now (the directory moved aside and made again, another disk mounted over
    // it) both mean this handle has lost its name. (Not st_nlink: some FUSE file systems
    // report 0 for named files.)
    struct stat mine, named;
    if (::fstat(fd_, &mine) != 0) return Status::FromErrno(errno, "fstat " + path_);
    if (::stat(path_.c_str(), &named) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return true;
      return Status::FromErrno(errno, "stat " + path_);
    }
    return named.st_dev != mine.st_dev || named.st_ino != mine.st_ino;
  }

  Status PunchHole(uint64_t offset, uint64_t len) override {
    if (len == 0) return Status::OK();
    if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(len)) != 0)
      return Status::FromErrno(errno, "fallocate(PUNCH_HOLE) " + path_);
    return Status::OK();
  }

  Status Allocate(uint64_t offset, uint64_t len) override {
    if (len == 0) return Status::OK();
    if (::fallocate(fd_, 0, static_cast<off_t>(offset), static_cast<off_t>(len)) != 0) {
      if (errno == EOPNOTSUPP) return Status::NotSupported("fallocate " + path_);
      return Status::FromErrno(errno, "fallocate " + path_);
    }
    return Status::OK();
  }

  Result<bool> InHole(uint64_t offset) override { return FdInHole(fd_, offset, path_); }

  int fd() const override { return fd_; }
  const std::string& path() const override { return path_; }

 private:
  const int fd_;
  const std::string path_;
};

class PosixLock final : public FileLock {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}
  ~PosixLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_;
};

uint64_t AllocatedRecursive(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return 0;
  uint64_t total = static_cast<uint64_t>(st.st_blocks) * 512;
  if (!S_ISDIR(st.st_mode)) return total;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return total;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    total += AllocatedRecursive(path + "/" + e->d_name);
  }
  ::closedir(d);
  return total;
}

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<File>> OpenFile(const std::string& path, OpenMode mode) override {
    int flags = O_RDWR | O_CLOEXEC;
    if (mode == OpenMode::kCreate) flags |= O_CREAT | O_TRUNC;
    if (mode == OpenMode::kCreateNew) flags |= O_CREAT | O_EXCL;
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return Status::FromErrno(errno, "open " + path);
    return std::unique_ptr<File>(new PosixFile(fd, path));
  }

  bool Exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Status CreateDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
      return Status::FromErrno(errno, "mkdir " + path);
    return Status::OK();
  }

  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return Status::FromErrno(errno, "opendir " + dir);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      names.emplace_back(e->d_name);
    }
    ::closedir(d);
    return names;
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0)
      return Status::FromErrno(errno, "rename " + from + " -> " + to);
    return Status::OK();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return Status::FromErrno(errno, "unlink " + path);
    return Status::OK();
  }

  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "open " + dir);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return Status::FromErrno(err, "fsync " + dir);
    return Status::OK();
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::FromErrno(errno, "open " + path);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      char buf[32] = {0};
      ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
      ::close(fd);
      if (err == EWOULDBLOCK) {
        std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
        return Status::Busy("store is locked by process " + pid + " (" + path + ")");
      }
      return Status::FromErrno(err, "flock " + path);
    }
    // One fixed-width write, no truncate: a concurrent opener never reads an empty file after
    // the first holder.
    char pid[24];
    std::snprintf(pid, sizeof(pid), "%-22d\n", static_cast<int>(::getpid()));
    if (::pwrite(fd, pid, 23, 0) != 23) {
      int err = errno;
      ::close(fd);
      return Status::FromErrno(err, "write " + path);
    }
    return std::unique_ptr<FileLock>(new PosixLock(fd));
  }

  Result<uint64_t> AllocatedBytesUnder(const std::string& path) override {
    return AllocatedRecursive(path);
  }

  uint64_t NowMicros() override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

}  // namespace cairn
