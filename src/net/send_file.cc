#include "net/send_file.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace cairn::net {

// Named bound: bytes per sendfile call, so one large reply yields the loop to other
// connections between calls.
constexpr uint64_t kMaxSendfileCall = 4 << 20;

asio::awaitable<Status> SendFile(tcp::socket& sock, int fd, uint64_t offset, uint64_t len) {
  boost::system::error_code ec;
  // The getter reads asio's own flag; only the first call on a socket costs an ioctl.
  if (!sock.native_non_blocking()) sock.native_non_blocking(true, ec);
  if (ec) co_return Status::IOError("socket: " + ec.message());
  while (len > 0) {
    off_t off = static_cast<off_t>(offset);
    ssize_t n = ::sendfile(sock.native_handle(), fd, &off, std::min(len, kMaxSendfileCall));
    if (n > 0) {
      offset += static_cast<uint64_t>(n);
      len -= static_cast<uint64_t>(n);
      continue;
    }
    if (n == 0) co_return Status::Corruption("sendfile: the volume file ended early");
    if (errno == EINTR) continue;
    if (errno != EAGAIN) co_return Status::FromErrno(errno, "sendfile");
    co_await sock.async_wait(tcp::socket::wait_write,
                             asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Status::IOError("socket: " + ec.message());
  }
  co_return Status::OK();
}

asio::awaitable<Status> SendMore(tcp::socket& sock, std::string_view bytes) {
  boost::system::error_code ec;
  // The getter reads asio's own flag; only the first call on a socket costs an ioctl.
  if (!sock.native_non_blocking()) sock.native_non_blocking(true, ec);
  if (ec) co_return Status::IOError("socket: " + ec.message());
  while (!bytes.empty()) {
    ssize_t n = ::send(sock.native_handle(), bytes.data(), bytes.size(), MSG_MORE | MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) co_return Status::FromErrno(errno, "send");
    co_await sock.async_wait(tcp::socket::wait_write,
                             asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Status::IOError("socket: " + ec.message());
  }
  co_return Status::OK();
}

namespace {

// cachestat(2) (Linux 6.5): Debian 12's kernel headers predate it, so its number and
// structures are spelled out here, as in include/uapi/linux/mman.h.
#ifndef SYS_cachestat
#define SYS_cachestat 451  // the same on every architecture (the unified syscall table)
#endif
struct CachestatRange {
  uint64_t off;
  uint64_t len;
};
struct Cachestat {
  uint64_t nr_cache;
  uint64_t nr_dirty;
  uint64_t nr_writeback;
  uint64_t nr_evicted;
  uint64_t nr_recently_evicted;
};
std::atomic<bool> cachestat_missing{false};

}  // namespace

bool RangeCached(int fd, uint64_t offset, uint64_t len) {
  if (len == 0) return true;
  if (cachestat_missing.load(std::memory_order_relaxed)) return false;
  CachestatRange r{offset, len};
  Cachestat cs{};
  if (::syscall(SYS_cachestat, fd, &r, &cs, 0) != 0) {
    if (errno == ENOSYS) cachestat_missing.store(true, std::memory_order_relaxed);
    return false;
  }
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t pages = (offset + len - 1) / page - offset / page + 1;
  return cs.nr_cache >= pages;
}

void WarmFileRange(int fd, uint64_t offset, uint64_t len) {
  if (len == 0) return;
  (void)::readahead(fd, static_cast<off64_t>(offset), len);
  // readahead() only starts the reads; a one-byte read of the window's last page waits for it
  // (the kernel reads the window in order), so sendfile on the loop finds the pages cached.
  char b;
  (void)::pread(fd, &b, 1, static_cast<off_t>(offset + len - 1));
}

}  // namespace cairn::net
