#include "cli/tree_walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cairn::cli {
namespace {

const char* KindName(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link (links are not followed)";
  if (S_ISFIFO(mode)) return "a FIFO, not a regular file";
  if (S_ISSOCK(mode)) return "a socket, not a regular file";
  if (S_ISCHR(mode)) return "a character device, not a regular file";
  if (S_ISBLK(mode)) return "a block device, not a regular file";
  return "not a regular file";
}

std::string Join(const std::string& dir, const char* name) {
  return dir.empty() ? std::string(name) : dir + "/" + name;
}

// Lists one directory: files into `out`, subdirectories onto `pending`.
void ListDirectory(int root_fd, const std::string& rel, const WalkOptions& options,
                   std::vector<std::string>* pending, WalkResult* out) {
  const int fd = ::openat(root_fd, rel.empty() ? "." : rel.c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    out->problems.push_back({rel, std::string("cannot open directory: ") + std::strerror(errno)});
    return;
  }
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    out->problems.push_back({rel, std::string("cannot list directory: ") + std::strerror(errno)});
    ::close(fd);
    return;
  }
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(d);
    if (e == nullptr) {
      if (errno != 0)
        out->problems.push_back(
            {rel, std::string("listing the directory failed: ") + std::strerror(errno)});
      break;
    }
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    std::string path = Join(rel, e->d_name);
    struct stat st;
    if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      out->problems.push_back(
          {std::move(path), errno == ENOENT ? std::string("vanished while listing")
                                            : std::string("cannot stat: ") + std::strerror(errno)});
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (options.exclude_dir.has_value() && options.exclude_dir->first == st.st_dev &&
          options.exclude_dir->second == st.st_ino) {
        out->excluded_dirs++;
        continue;
      }
      pending->push_back(std::move(path));
    } else if (S_ISREG(st.st_mode)) {
      WalkedFile f;
      f.path = std::move(path);
      f.size = static_cast<uint64_t>(st.st_size);
      f.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
      f.inode = st.st_ino;
      out->files.push_back(std::move(f));
    } else {
      out->problems.push_back({std::move(path), KindName(st.st_mode)});
    }
  }
  ::closedir(d);
}

}  // namespace

Result<WalkResult> WalkTree(const std::string& root, const WalkOptions& options) {
  const int root_fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return Status::FromErrno(errno, "cannot open directory " + root);
  WalkResult out;
  std::vector<std::string> pending = {""};
  while (!pending.empty()) {
    if (options.stop && options.stop()) {
      ::close(root_fd);
      return Status::IOError("listing " + root + " was interrupted");
    }
    std::string rel = std::move(pending.back());
    pending.pop_back();
    ListDirectory(root_fd, rel, options, &pending, &out);
  }
  ::close(root_fd);
  return out;
}

}  // namespace cairn::cli
