#include "net/send_file.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace cairn::net {

// Named bound: bytes per sendfile call, so one large reply yields the loop to other
// connections between calls.
constexpr uint64_t kMaxSendfileCall = 4 << 20;

asio::awaitable<Status> SendFile(tcp::socket& sock, int fd, uint64_t offset, uint64_t len) {
  boost::system::error_code ec;
  sock.native_non_blocking(true, ec);
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

void WarmFileRange(int fd, uint64_t offset, uint64_t len) {
  if (len == 0) return;
  (void)::readahead(fd, static_cast<off64_t>(offset), len);
  // readahead() only starts the reads; a one-byte read of the window's last page waits for it
  // (the kernel reads the window in order), so sendfile on the loop finds the pages cached.
  char b;
  (void)::pread(fd, &b, 1, static_cast<off_t>(offset + len - 1));
}

}  // namespace cairn::net
