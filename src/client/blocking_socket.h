// BlockingSocket: a TCP connection used from one thread with plain system calls, for the
// streaming calls (PutStream, OpenReader), where the calling thread moves the bytes itself and
// TCP flow control is the back-pressure. Every wait is bounded by a timeout (poll(2)).
//
// Thread safety: one thread at a time. Owns its descriptor.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "cairn/status.h"

namespace cairn::client {

class BlockingSocket {
 public:
  ~BlockingSocket();
  BlockingSocket(const BlockingSocket&) = delete;
  BlockingSocket& operator=(const BlockingSocket&) = delete;

  // `name` ("HOST:PORT") is used in error messages.
  static Result<std::unique_ptr<BlockingSocket>> Connect(const sockaddr* addr, socklen_t len,
                                                        std::string name, int timeout_ms);

  // Writes every byte of the iovecs. IOError on a lost connection or no progress in timeout_ms.
  Status WriteV(iovec* iov, int count, int timeout_ms);
  Status WriteAll(const char* p, size_t n, int timeout_ms);
  // Reads 1..n bytes; 0 means the server closed the connection.
  Result<size_t> ReadSome(char* p, size_t n, int timeout_ms);
  // Reads exactly n bytes; IOError if the connection ends first.
  Status ReadExact(char* p, size_t n, int timeout_ms);

  const std::string& name() const { return name_; }

 private:
  BlockingSocket(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  Status Wait(short events, int timeout_ms, const char* what);
  int fd_;
  std::string name_;
};

}  // namespace cairn::client
