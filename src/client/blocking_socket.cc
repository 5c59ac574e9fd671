#include "client/blocking_socket.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cairn::client {

BlockingSocket::~BlockingSocket() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<BlockingSocket>> BlockingSocket::Connect(const sockaddr* addr,
                                                                socklen_t len, std::string name,
                                                                int timeout_ms) {
  const int fd = ::socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  std::unique_ptr<BlockingSocket> s(new BlockingSocket(fd, std::move(name)));
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, addr, len) != 0) {
    if (errno != EINPROGRESS)
      return Status::Unavailable(fmt::format("cannot connect to {}: {}", s->name_, std::strerror(errno)));
    pollfd p{fd, POLLOUT, 0};
    int r;
    do {
      r = ::poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
      return Status::Unavailable(
          fmt::format("cannot connect to {}: no answer within {} ms", s->name_, timeout_ms));
    int err = 0;
    socklen_t elen = sizeof(err);
    if (r < 0) err = errno;
    else ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0)
      return Status::Unavailable(fmt::format("cannot connect to {}: {}", s->name_, std::strerror(err)));
  }
  return s;
}

Status BlockingSocket::Wait(short events, int timeout_ms, const char* what) {
  pollfd p{fd_, events, 0};
  int r;
  do {
    r = ::poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return Status::FromErrno(errno, "poll");
  if (r == 0)
    return Status::DeadlineExceeded(
        fmt::format("timeout: {} {} made no progress for {} ms", what, name_, timeout_ms));
  return Status::OK();
}

Status BlockingSocket::WriteV(iovec* iov, int count, int timeout_ms) {
  while (count > 0) {
    if (iov->iov_len == 0) {
      iov++;
      count--;
      continue;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        CAIRN_RETURN_IF_ERROR(Wait(POLLOUT, timeout_ms, "sending to"));
        continue;
      }
      return Status::Unavailable(fmt::format("connection to {} lost while sending: {}", name_,
                                         std::strerror(errno)));
    }
    auto left = static_cast<size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      count--;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return Status::OK();
}

Status BlockingSocket::WriteAll(const char* p, size_t n, int timeout_ms) {
  iovec v{const_cast<char*>(p), n};
  return WriteV(&v, 1, timeout_ms);
}

Result<size_t> BlockingSocket::ReadSome(char* p, size_t n, int timeout_ms) {
  for (;;) {
    const ssize_t r = ::recv(fd_, p, n, 0);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      CAIRN_RETURN_IF_ERROR(Wait(POLLIN, timeout_ms, "receiving from"));
      continue;
    }
    return Status::Unavailable(
        fmt::format("connection to {} lost while receiving: {}", name_, std::strerror(errno)));
  }
}

Status BlockingSocket::ReadExact(char* p, size_t n, int timeout_ms) {
  while (n > 0) {
    CAIRN_ASSIGN_OR_RETURN(size_t got, ReadSome(p, n, timeout_ms));
    if (got == 0)
      return Status::Unavailable(fmt::format("the server {} closed the connection", name_));
    p += got;
    n -= got;
  }
  return Status::OK();
}

}  // namespace cairn::client
