#include "server/body_source.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "util/crc32c.h"

namespace cairn::server {

SocketBodySource::SocketBodySource(int fd, std::string* in, size_t* begin, size_t* end,
                                   uint64_t body_len, uint32_t body_crc, uint32_t max_chunk_bytes,
                                   uint64_t max_object_bytes, uint32_t stall_timeout_ms,
                                   std::atomic<int64_t>* last_activity_ns,
                                   std::atomic<uint64_t>* bytes_in)
    : fd_(fd),
      in_(in),
      begin_(begin),
      end_(end),
      chunked_(body_len == proto::kChunkedBodyLen),
      remaining_(chunked_ ? 0 : body_len),
      expected_crc_(body_crc),
      max_object_bytes_(max_object_bytes),
      stall_timeout_ms_(stall_timeout_ms),
      last_activity_ns_(last_activity_ns),
      bytes_in_(bytes_in),
      decoder_(max_chunk_bytes) {}

Status SocketBodySource::Fail(Failure f, std::string msg) {
  failure_ = f;
  failure_message_ = msg;
  // The engine only needs to know the put cannot complete; the connection reports the cause.
  return Status::IOError("request body: " + msg);
}

size_t SocketBodySource::Recv(char* dst, size_t n) {
  for (;;) {
    ssize_t k = ::recv(fd_, dst, n, MSG_DONTWAIT);
    if (k > 0) {
      last_activity_ns_->store(std::chrono::steady_clock::now().time_since_epoch().count(),
                               std::memory_order_relaxed);
      bytes_in_->fetch_add(static_cast<uint64_t>(k), std::memory_order_relaxed);
      return static_cast<size_t>(k);
    }
    if (k == 0) {
      (void)Fail(Failure::kPeerGone, "the client closed the connection in the middle of a body");
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      (void)Fail(Failure::kPeerGone, std::string("recv: ") + std::strerror(errno));
      return 0;
    }
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<uint32_t>(stall_timeout_ms_, 1u << 30)));
    if (r == 0) {
      (void)Fail(Failure::kTimeout, "no body bytes for idle_timeout_ms");
      return 0;
    }
  }
}

bool SocketBodySource::FillInput() {
  if (*end_ > *begin_) return true;
  *begin_ = *end_ = 0;
  size_t k = Recv(in_->data(), in_->size());
  *end_ = k;
  return k > 0;
}

Result<size_t> SocketBodySource::Read(char* buf, size_t n) {
  if (failure_ != Failure::kNone) return Status::IOError("request body: " + failure_message_);
  if (n == 0) return size_t{0};
  if (!chunked_) {
    if (remaining_ == 0) {
      if (!ended_) {
        ended_ = true;
        // The end-to-end check, before PutStream commits the body's last record.
        if (crc_ != expected_crc_)
          return Fail(Failure::kChecksum, "body CRC-32C mismatch: the frame says " +
                                              std::to_string(expected_crc_) + ", the bytes give " +
                                              std::to_string(crc_));
      }
      return size_t{0};
    }
    size_t want = static_cast<size_t>(std::min<uint64_t>(n, remaining_));
    size_t got;
    if (*end_ > *begin_) {
      got = std::min(want, *end_ - *begin_);
      std::memcpy(buf, in_->data() + *begin_, got);
      *begin_ += got;
    } else {
      // Straight from the socket into the engine's buffer: one copy, never past the body.
      got = Recv(buf, want);
      if (got == 0) return Status::IOError("request body: " + failure_message_);
    }
    crc_ = crc32c::Extend(crc_, buf, got);
    remaining_ -= got;
    total_ += got;
    return got;
  }
  // Chunked: decode the framing out of the input buffer.
  for (;;) {
    if (decoder_.done()) return size_t{0};
    if (!FillInput()) return Status::IOError("request body: " + failure_message_);
    std::string_view piece;
    proto::WireError err;
    size_t feed = std::min(n, *end_ - *begin_);
    size_t used = decoder_.Consume(in_->data() + *begin_, feed, &piece, &err);
    if (used == 0) {
      return Fail(err.status == proto::WireStatus::kChecksumMismatch ? Failure::kChecksum
                                                                     : Failure::kFraming,
                  err.message);
    }
    *begin_ += used;
    if (!piece.empty()) {
      std::memcpy(buf, piece.data(), piece.size());
      total_ += piece.size();
      crc_ = crc32c::Extend(crc_, piece.data(), piece.size());
      if (max_object_bytes_ != 0 && total_ > max_object_bytes_)
        return Fail(Failure::kTooLarge, "max_object_bytes: the chunked body exceeds " +
                                            std::to_string(max_object_bytes_) + " bytes");
      return piece.size();
    }
  }
}

bool SocketBodySource::DrainRest() {
  if (failure_ != Failure::kNone && failure_ != Failure::kChecksum) return false;
  if (failure_ == Failure::kChecksum) return true;  // the whole body was read
  std::string scratch(64 << 10, '\0');
  for (;;) {
    Result<size_t> r = Read(scratch.data(), scratch.size());
    if (!r.ok()) return failure_ == Failure::kChecksum;  // consumed, just wrong
    if (*r == 0) return true;
  }
}

}  // namespace cairn::server
