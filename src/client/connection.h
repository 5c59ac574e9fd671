// Connection: one pipelined TCP connection to cairnd, driven by an Asio io_context.
//
// With a key, a (re)connection first runs the authentication handshake (client/handshake.h):
// HELLO, the server's proof checked, then AUTH followed at once by the requests queued
// meanwhile; a refusal fails every call in flight with PermissionDenied (not retried).
//
// Requests are encoded straight into an output buffer; everything submitted during one turn of
// the loop leaves in one write. Replies are parsed from one receive buffer, matched to their
// call by request id (slot index + generation, so a late reply to a timed-out call can never
// be taken for a newer call), checked against body_crc, and handed to the call's callback as
// views into the receive buffer: no copy of the body is made here.
//
// Thread safety: none. Every method, and every callback, runs on the io_context's one thread.
// Ownership: the caller owns the Connection and must keep it alive until the io_context has
// stopped running handlers (handlers capture `this`).
//
// Bounds: at most max_inflight calls at once (slots); a reply body larger than
// max_reply_body_bytes is skipped, not buffered, and its call fails with InvalidArgument.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/client.h"
#include "cairn/status.h"
#include "client/handshake.h"
#include "proto/frame.h"

namespace cairn::client {

using Clock = std::chrono::steady_clock;

// Why a call ended without a (valid) reply.
enum class Failure : uint8_t {
  kNone = 0,        // a reply arrived; see header.status
  kConnection,      // connect failed, the connection broke or the server sent garbage
  kTimeout,         // no whole reply within the call's deadline
  kCorruptReply,    // the body failed its body_crc
  kTooLarge,        // the reply body exceeds max_reply_body_bytes
  kClosed,          // the connection was closed by its owner
  kRefused,         // the server refused the handshake, or could not prove it holds the key
};

struct Reply {
  Failure failure = Failure::kNone;
  Status status;  // when failure != kNone: what went wrong
  proto::FrameHeader header;
  std::string_view meta;  // valid only during the callback
  std::string_view body;  // valid only during the callback; verified against body_crc
};

using ReplyFn = std::function<void(Reply&)>;

struct ConnectionOptions {
  boost::asio::ip::tcp::endpoint endpoint;
  std::optional<ClientKey> key;  // none: no handshake
  std::string name;              // "HOST:PORT", in errors
  uint32_t max_inflight = 64;
  uint64_t max_reply_body_bytes = uint64_t{256} << 20;
  std::chrono::milliseconds connect_timeout{5000};
};

class Connection {
 public:
  Connection(boost::asio::io_context& io, ConnectionOptions options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Whether a call can be submitted now (a free slot). A closed connection reconnects on the
  // next Submit.
  bool HasRoom() const { return inflight_ < options_.max_inflight; }
  uint32_t inflight() const { return inflight_; }
  bool open() const { return state_ == State::kOpen && !awaiting_auth_; }

  // Sends one request. The body is body_head ‖ body_tail (either may be empty), with
  // body_crc its CRC-32C. `fn` runs exactly once: with the reply, or with a failure.
  // REQUIRES: HasRoom().
  // `flags` are frame flags (kFlagRouted when `meta` starts with the routing prefix).
  void Submit(proto::Op op, std::string_view meta, std::string_view body_head,
              std::string_view body_tail, uint32_t body_crc, Clock::time_point deadline,
              ReplyFn fn, uint32_t flags = 0);

  // Fails every call in flight with `failure` and closes the socket. Safe to call at any time,
  // also from a callback.
  void Close(Failure failure, const Status& why);

  // Runs each time a slot held by an abandoned call is freed. A call whose deadline passed is
  // answered with kTimeout at once, but its request id (its slot) stays taken until the late
  // reply arrives or the connection closes, so HasRoom() may be false right after a timeout: a
  // caller that found no room submits again from here.
  void set_on_room(std::function<void()> fn) { on_room_ = std::move(fn); }

 private:
  enum class State { kClosed, kConnecting, kHandshake, kOpen };
  struct Slot {
    uint32_t generation = 0;
    bool busy = false;       // a request with this slot's id is on the server
    bool abandoned = false;  // its caller was told (timeout); the reply is discarded
    Clock::time_point deadline;
    ReplyFn fn;
  };

  void StartConnect();
  void Connected();
  // Handles a frame of the handshake (request id 0). False if the connection failed.
  bool OnHandshakeFrame(const proto::FrameHeader& h, std::string_view meta);
  void StartRead();
  void StartWrite();
  void OnRead(size_t n);
  // Parses every whole frame in the receive buffer. Returns false if the connection failed.
  bool ParseFrames();
  void Complete(uint32_t slot, Reply& reply);
  void ArmSweep();
  void Sweep();
  uint32_t SlotOf(uint64_t request_id, bool* ok) const;

  boost::asio::io_context& io_;
  ConnectionOptions options_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer sweep_timer_;
  State state_ = State::kClosed;
  uint64_t epoch_ = 0;  // bumped on every close, so stale handlers know to do nothing
  Clock::time_point connect_deadline_;

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  std::function<void()> on_room_;  // set_on_room
  uint32_t inflight_ = 0;  // busy slots (abandoned ones included: their ids are still taken)
  bool sweep_armed_ = false;

  std::optional<Handshake> handshake_;
  bool awaiting_auth_ = false;  // AUTH sent, its reply not yet in
  std::string hs_out_;   // a HELLO not yet handed to the socket
  std::string out_;      // requests not yet handed to the socket
  std::string writing_;  // the bytes of the write in progress
  bool write_active_ = false;

  std::vector<char> in_;  // receive buffer: parsed up to in_pos_, filled up to in_end_
  size_t in_pos_ = 0;
  size_t in_end_ = 0;
  uint64_t skip_body_ = 0;  // bytes of an oversized body still to discard
  bool read_active_ = false;
};

}  // namespace cairn::client
