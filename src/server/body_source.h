// SocketBodySource: a PUT body read straight from the connection's socket into the engine's
// chunk buffer (Store::PutStream), on a pool thread, with its CRC-32C computed as the bytes
// pass. The CRC is checked when the body ends, before PutStream can commit the last record,
// so a mismatch stores nothing (docs/protocol.md section 3).
//
// Why recv into the chunk buffer rather than splice into the volume: docs/design.md, "Server",
// has the measurement.
//
// Thread safety: used by one pool thread while the connection's reader is suspended; it owns
// the input buffer and the socket's read side meanwhile.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "cairn/object_store.h"
#include "proto/messages.h"

namespace cairn::server {

class SocketBodySource final : public ValueSource {
 public:
  enum class Failure { kNone, kChecksum, kPeerGone, kTimeout, kFraming, kTooLarge };

  // `in`, `begin`, `end`: the connection's input buffer, whose [begin, end) bytes were received
  // after the frame's meta (the start of the body). `body_len` is proto::kChunkedBodyLen for a
  // chunked body.
  SocketBodySource(int fd, std::string* in, size_t* begin, size_t* end, uint64_t body_len,
                   uint32_t body_crc, uint32_t max_chunk_bytes, uint64_t max_object_bytes,
                   uint32_t stall_timeout_ms, std::atomic<int64_t>* last_activity_ns,
                   std::atomic<uint64_t>* bytes_in);

  Result<size_t> Read(char* buf, size_t n) override;
  // After the engine gave up early (e.g. NoSpace): reads and drops the rest of the body so the
  // connection can carry on. False if the body could not be consumed (connection must close).
  bool DrainRest();

  Failure failure() const { return failure_; }
  const std::string& failure_message() const { return failure_message_; }
  uint64_t bytes() const { return total_; }
  uint32_t crc() const { return crc_; }

 private:
  // Receives up to n bytes into dst, waiting up to the stall timeout. 0 on failure (set).
  size_t Recv(char* dst, size_t n);
  // Ensures the input buffer holds at least one byte.
  bool FillInput();
  Status Fail(Failure f, std::string msg);

  int fd_;
  std::string* in_;
  size_t* begin_;
  size_t* end_;
  const bool chunked_;
  uint64_t remaining_;  // fixed-length bodies
  const uint32_t expected_crc_;
  const uint64_t max_object_bytes_;
  const uint32_t stall_timeout_ms_;
  std::atomic<int64_t>* last_activity_ns_;
  std::atomic<uint64_t>* bytes_in_;
  proto::ChunkedBodyDecoder decoder_;
  uint32_t crc_ = 0;
  uint64_t total_ = 0;
  bool ended_ = false;
  Failure failure_ = Failure::kNone;
  std::string failure_message_;
};

}  // namespace cairn::server
