// Zero-copy sends: file bytes to a socket with sendfile(2), never through user space.
//
// Thread safety: one coroutine per socket at a time (the connection's writer).
#pragma once

#include <cstdint>
#include <string_view>

#include "cairn/status.h"
#include "net/asio.h"

namespace cairn::net {

// Sends `len` bytes of `fd` from `offset` to `sock` (put in non-blocking mode), waiting for the
// socket to drain when it is full. The pages should already be in the page cache
// (WarmFileRange on a pool thread): sendfile reads cold pages synchronously, on the loop.
asio::awaitable<Status> SendFile(tcp::socket& sock, int fd, uint64_t offset, uint64_t len);

// Sends `bytes` (a reply header) with MSG_MORE, so the kernel holds them back until the body
// that follows with SendFile: header and body leave in the same segments instead of a small
// header segment of their own (the socket has TCP_NODELAY).
asio::awaitable<Status> SendMore(tcp::socket& sock, std::string_view bytes);

// Never blocks: true if every page of [offset, offset+len) of `fd` is in the page cache now
// (the cachestat(2) system call, Linux >= 6.5; false where it is missing, so the caller takes
// its slow path). A page can still be evicted before it is sent; sendfile then reads it
// synchronously, which is rare and short.
bool RangeCached(int fd, uint64_t offset, uint64_t len);

// Blocking: brings [offset, offset+len) of `fd` into the page cache (readahead, then waits for
// the window's last page). Run it on a pool thread before SendFile.
void WarmFileRange(int fd, uint64_t offset, uint64_t len);

}  // namespace cairn::net
