#include "cli/stream_io.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "util/escape.h"
#include "cli/signals.h"

namespace cairn::cli {

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Status UniqueFd::Close(std::string_view name) {
  int fd = fd_;
  fd_ = -1;
  // No retry on EINTR: on Linux the descriptor is gone either way.
  if (fd >= 0 && ::close(fd) != 0) return Status::FromErrno(errno, "close " + std::string(name));
  return Status::OK();
}

Result<int> OpenInputFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "cannot open input file " + path);
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument("input file " + path + " is a directory");
  }
  return fd;
}

Result<size_t> FdSource::Read(char* buf, size_t n) {
  for (;;) {
    // A pipe or terminal can block forever: wait where a signal can end the wait.
    CAIRN_RETURN_IF_ERROR(WaitReady(fd_, POLLIN, name_));
    ssize_t got = ::read(fd_, buf, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) return Status::FromErrno(errno, "read " + name_);
  }
}

Status WriteAll(int fd, std::string_view data, std::string_view name) {
  while (!data.empty()) {
    CAIRN_RETURN_IF_ERROR(WaitReady(fd, POLLOUT, name));
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) NoteBrokenPipe();
      return Status::FromErrno(errno, "write " + std::string(name));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Status CopyObject(ObjectReader* reader, int fd, std::string_view name) {
  auto buf = std::make_unique<char[]>(kStreamBufferBytes);
  uint64_t total = 0;
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(size_t n, reader->Read(buf.get(), kStreamBufferBytes));
    if (n == 0) break;
    CAIRN_RETURN_IF_ERROR(WriteAll(fd, std::string_view(buf.get(), n), name));
    total += n;
  }
  if (total != reader->info().size)
    return Status::Corruption("object \"" + EscapeKey(reader->info().key) + "\" yielded " +
                              std::to_string(total) + " bytes but its size is " +
                              std::to_string(reader->info().size));
  return Status::OK();
}

namespace {
int g_stdout_errno = 0;  // the first error writing stdout through stdio
}  // namespace

void PrintOut(std::string_view text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) == text.size()) return;
  if (g_stdout_errno == 0) g_stdout_errno = errno != 0 ? errno : EIO;
  if (g_stdout_errno == EPIPE) NoteBrokenPipe();
}

int FlushStdout() {
  if (std::fflush(stdout) != 0 && g_stdout_errno == 0) g_stdout_errno = errno != 0 ? errno : EIO;
  if (std::ferror(stdout) && g_stdout_errno == 0) g_stdout_errno = EIO;
  if (g_stdout_errno == EPIPE) NoteBrokenPipe();
  return g_stdout_errno;
}

}  // namespace cairn::cli
