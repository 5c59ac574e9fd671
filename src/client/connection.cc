#include "client/connection.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "util/check.h"
#include "util/crc32c.h"

namespace cairn::client {
namespace asio = boost::asio;
namespace {

// Receive buffer size: holds many 10 KiB replies, so one read(2) serves many calls. It grows
// to fit one larger frame (up to max_reply_body_bytes) and shrinks back once that is parsed.
constexpr size_t kInitialReceiveBytes = 256 << 10;
// Below this much free space at the end, parsed bytes are moved out of the way before reading.
constexpr size_t kMinReadRoom = 64 << 10;
// How often deadlines are checked while calls with a deadline are in flight.
constexpr auto kSweepInterval = std::chrono::milliseconds(5);

}  // namespace

Connection::Connection(asio::io_context& io, ConnectionOptions options)
    : io_(io), options_(std::move(options)), socket_(io), sweep_timer_(io) {
  CAIRN_CHECK(options_.max_inflight > 0);
  slots_.resize(options_.max_inflight);
  free_slots_.reserve(options_.max_inflight);
  for (uint32_t i = options_.max_inflight; i > 0; i--) free_slots_.push_back(i - 1);
  in_.resize(kInitialReceiveBytes);
}

Connection::~Connection() {
  boost::system::error_code ec;
  socket_.close(ec);
}

uint32_t Connection::SlotOf(uint64_t request_id, bool* ok) const {
  const auto slot = static_cast<uint32_t>(request_id & 0xFFFFFFFFu);
  const auto gen = static_cast<uint32_t>(request_id >> 32);
  *ok = slot < slots_.size() && slots_[slot].busy && slots_[slot].generation == gen;
  return slot;
}

void Connection::Submit(proto::Op op, std::string_view meta, std::string_view body_head,
                        std::string_view body_tail, uint32_t body_crc, Clock::time_point deadline,
                        ReplyFn fn, uint32_t flags) {
  CAIRN_CHECK(HasRoom() && !free_slots_.empty());
  if (state_ == State::kClosed) StartConnect();
  const uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  Slot& s = slots_[slot];
  s.generation++;
  s.busy = true;
  s.abandoned = false;
  s.deadline = deadline;
  s.fn = std::move(fn);
  inflight_++;

  proto::FrameHeader h;
  h.op = op;
  h.request_id = (uint64_t{s.generation} << 32) | slot;
  h.flags = flags;
  h.meta_len = static_cast<uint32_t>(meta.size());
  h.body_len = body_head.size() + body_tail.size();
  h.body_crc = h.body_len == 0 ? 0 : body_crc;
  proto::AppendFrame(h, meta, &out_);
  out_.append(body_head);
  out_.append(body_tail);

  if (deadline != Clock::time_point::max()) ArmSweep();
  // The write is posted, not started: every request submitted in this turn of the loop (say,
  // by callbacks of replies parsed from one read) leaves in the same write(2).
  if (state_ == State::kOpen && !write_active_) {
    write_active_ = true;
    asio::post(io_, [this, epoch = epoch_] {
      if (epoch != epoch_) return;
      write_active_ = false;
      StartWrite();
    });
  }
}

void Connection::StartConnect() {
  state_ = State::kConnecting;
  connect_deadline_ = Clock::now() + options_.connect_timeout;
  ArmSweep();
  socket_.async_connect(options_.endpoint, [this, epoch = epoch_](boost::system::error_code ec) {
    if (epoch != epoch_) return;
    if (ec) {
      Close(Failure::kConnection,
            Status::Unavailable(fmt::format("cannot connect to {}:{}: {}",
                                        options_.endpoint.address().to_string(),
                                        options_.endpoint.port(), ec.message())));
      return;
    }
    boost::system::error_code ignored;
    socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
    Connected();
  });
}

void Connection::Connected() {
  if (!options_.key.has_value()) {
    state_ = State::kOpen;
    StartRead();
    StartWrite();
    return;
  }
  // The requests queued meanwhile wait in out_ until the server has proved it holds the key.
  state_ = State::kHandshake;
  handshake_.emplace(*options_.key, options_.name);
  hs_out_ = handshake_->HelloFrame();
  StartRead();
  StartWrite();
}

bool Connection::OnHandshakeFrame(const proto::FrameHeader& h, std::string_view meta) {
  if (state_ == State::kHandshake) {
    std::string auth;
    Status s = handshake_->OnHelloReply(h, meta, &auth);
    if (!s.ok()) {
      Close(s.IsIOError() ? Failure::kConnection : Failure::kRefused, s);
      return false;
    }
    // AUTH first, then every request queued meanwhile, in one write.
    out_.insert(0, auth);
    state_ = State::kOpen;
    awaiting_auth_ = true;
    StartWrite();
    return true;
  }
  if (!awaiting_auth_ || !handshake_.has_value()) {
    // The server closes with an error that names no request (a frame it could not read).
    Status s = ReplyStatus(h, meta);
    Close(Failure::kConnection,
          s.ok() ? Status::IOError("protocol error from the server: a reply with request id 0")
                 : s);
    return false;
  }
  Status s = handshake_->OnAuthReply(h, meta);
  awaiting_auth_ = false;
  if (!s.ok()) {
    Close(s.IsIOError() ? Failure::kConnection : Failure::kRefused, s);
    return false;
  }
  return true;
}

void Connection::StartWrite() {
  if (write_active_) return;
  std::string* src = state_ == State::kOpen        ? &out_
                     : state_ == State::kHandshake ? &hs_out_
                                                   : nullptr;
  if (src == nullptr || src->empty()) return;
  write_active_ = true;
  writing_.swap(*src);
  src->clear();
  asio::async_write(socket_, asio::buffer(writing_),
                    [this, epoch = epoch_](boost::system::error_code ec, size_t) {
                      if (epoch != epoch_) return;
                      write_active_ = false;
                      writing_.clear();
                      if (ec) {
                        Close(Failure::kConnection,
                              Status::Unavailable("connection lost while sending: " + ec.message()));
                        return;
                      }
                      StartWrite();
                    });
}

void Connection::StartRead() {
  if (read_active_ || (state_ != State::kOpen && state_ != State::kHandshake)) return;
  read_active_ = true;
  socket_.async_read_some(
      asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
      [this, epoch = epoch_](boost::system::error_code ec, size_t n) {
        if (epoch != epoch_) return;
        read_active_ = false;
        if (ec) {
          Close(Failure::kConnection,
                Status::Unavailable(ec == asio::error::eof
                                    ? std::string("the server closed the connection")
                                    : "connection lost: " + ec.message()));
          return;
        }
        OnRead(n);
      });
}

void Connection::OnRead(size_t n) {
  in_end_ += n;
  if (!ParseFrames()) return;
  StartRead();
}

bool Connection::ParseFrames() {
  const uint64_t epoch = epoch_;
  size_t want = proto::kHeaderSize;  // bytes of the frame being assembled
  for (;;) {
    size_t avail = in_end_ - in_pos_;
    if (skip_body_ > 0) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(skip_body_, avail));
      in_pos_ += take;
      skip_body_ -= take;
      if (skip_body_ > 0) break;
      avail = in_end_ - in_pos_;
    }
    want = proto::kHeaderSize;
    if (avail < want) break;
    const char* p = in_.data() + in_pos_;
    proto::FrameHeader h;
    proto::WireError err;
    if (!proto::DecodeHeader(p, proto::kMaxFrameMetaBytesLimit, &h, &err) || !h.reply ||
        h.chunked()) {
      if (err.status == proto::WireStatus::kUnsupportedVersion) {
        Close(Failure::kRefused,
              Status::NotSupported(fmt::format(
                  "the server {} speaks protocol version {}; this client speaks version {}",
                  options_.name, h.version, proto::kVersion)));
        return false;
      }
      Close(Failure::kConnection,
            Status::IOError("protocol error from the server: " +
                            (err.message.empty() ? std::string("not a reply frame")
                                                 : err.message)));
      return false;
    }
    const size_t head = proto::kHeaderSize + h.meta_len;
    want = head;
    if (avail < head) break;
    const std::string_view meta(p + proto::kHeaderSize, h.meta_len);
    if (!proto::CheckHeaderCrc(p, meta, &err)) {
      Close(Failure::kConnection, Status::IOError("protocol error from the server: " + err.message));
      return false;
    }
    if (h.request_id == 0) {
      // The handshake's replies (request ids of calls are never 0: generation >= 1).
      if (h.body_len != 0) {
        Close(Failure::kConnection,
              Status::IOError("protocol error from the server: a handshake reply with a body"));
        return false;
      }
      in_pos_ += head;
      if (!OnHandshakeFrame(h, meta)) return false;
      if (epoch != epoch_) return false;
      continue;
    }
    if (state_ != State::kOpen) {
      Close(Failure::kConnection,
            Status::IOError("protocol error from the server: a reply before the handshake"));
      return false;
    }
    bool known = false;
    const uint32_t slot = SlotOf(h.request_id, &known);
    if (!known) {
      Close(Failure::kConnection,
            Status::IOError(fmt::format("protocol error from the server: a reply to request id "
                                        "{} that is not in flight",
                                        h.request_id)));
      return false;
    }
    if (h.body_len > options_.max_reply_body_bytes) {
      Reply r;
      r.failure = Failure::kTooLarge;
      r.status = Status::LimitExceeded(fmt::format(
          "max_reply_body_bytes: the reply body is {} bytes, limit {}; read it with OpenReader",
          h.body_len, options_.max_reply_body_bytes));
      r.header = h;
      in_pos_ += head;
      skip_body_ = h.body_len;
      Complete(slot, r);
      if (epoch != epoch_) return false;
      continue;
    }
    const size_t total = head + static_cast<size_t>(h.body_len);
    want = total;
    if (avail < total) break;
    Reply r;
    r.header = h;
    r.meta = meta;
    r.body = std::string_view(p + head, static_cast<size_t>(h.body_len));
    if (!r.body.empty()) {
      const uint32_t crc = crc32c::Value(r.body);
      if (crc != h.body_crc) {
        r.failure = Failure::kCorruptReply;
        r.status = Status::Corruption(fmt::format(
            "reply body checksum mismatch: the {} bytes received have CRC-32C {:08x}, the server "
            "sent {:08x}",
            r.body.size(), crc, h.body_crc));
        r.meta = {};
        r.body = {};
      }
    }
    in_pos_ += total;
    Complete(slot, r);
    if (epoch != epoch_) return false;  // a callback closed this connection
  }
  // Make room for the rest of the frame being assembled, and for the next read.
  if (in_pos_ == in_end_) {
    in_pos_ = in_end_ = 0;
    if (in_.size() > kInitialReceiveBytes && want <= kInitialReceiveBytes) {
      in_.resize(kInitialReceiveBytes);
      in_.shrink_to_fit();
    }
  }
  if (in_.size() - in_pos_ < want || in_.size() - in_end_ < kMinReadRoom) {
    if (in_pos_ > 0) {
      std::memmove(in_.data(), in_.data() + in_pos_, in_end_ - in_pos_);
      in_end_ -= in_pos_;
      in_pos_ = 0;
    }
    if (in_.size() < want) in_.resize(want);
  }
  return true;
}

void Connection::Complete(uint32_t slot, Reply& reply) {
  Slot& s = slots_[slot];
  const bool abandoned = s.abandoned;
  ReplyFn fn = std::move(s.fn);
  s.fn = nullptr;
  s.busy = false;
  s.abandoned = false;
  free_slots_.push_back(slot);
  inflight_--;
  if (!abandoned && fn) fn(reply);
  if (abandoned && on_room_) on_room_();
}

void Connection::Close(Failure failure, const Status& why) {
  if (state_ == State::kClosed && inflight_ == 0) return;
  epoch_++;
  state_ = State::kClosed;
  handshake_.reset();
  awaiting_auth_ = false;
  hs_out_.clear();
  boost::system::error_code ec;
  socket_.close(ec);
  out_.clear();
  writing_.clear();
  write_active_ = false;
  read_active_ = false;
  in_pos_ = in_end_ = 0;
  skip_body_ = 0;
  std::vector<ReplyFn> fns;
  bool freed_abandoned = false;
  for (uint32_t i = 0; i < slots_.size(); i++) {
    Slot& s = slots_[i];
    if (!s.busy) continue;
    freed_abandoned |= s.abandoned;
    if (!s.abandoned && s.fn) fns.push_back(std::move(s.fn));
    s.fn = nullptr;
    s.busy = false;
    s.abandoned = false;
    free_slots_.push_back(i);
  }
  inflight_ = 0;
  // Callbacks run after the state is consistent: they may submit again (which reconnects).
  for (ReplyFn& fn : fns) {
    Reply r;
    r.failure = failure;
    r.status = why;
    fn(r);
  }
  if (freed_abandoned && on_room_) on_room_();
}

void Connection::ArmSweep() {
  if (sweep_armed_) return;
  sweep_armed_ = true;
  sweep_timer_.expires_after(kSweepInterval);
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    sweep_armed_ = false;
    if (ec) return;
    Sweep();
  });
}

void Connection::Sweep() {
  const Clock::time_point now = Clock::now();
  if ((state_ == State::kConnecting || state_ == State::kHandshake) && now >= connect_deadline_) {
    Close(Failure::kConnection,
          Status::Unavailable(fmt::format(
              "cannot connect to {}:{}: no answer {} within {} ms",
              options_.endpoint.address().to_string(), options_.endpoint.port(),
              state_ == State::kConnecting ? "to the connect" : "to the handshake",
              options_.connect_timeout.count())));
  }
  bool rearm = state_ == State::kConnecting || state_ == State::kHandshake;
  std::vector<ReplyFn> expired;
  for (Slot& s : slots_) {
    if (!s.busy || s.abandoned || s.deadline == Clock::time_point::max()) continue;
    if (now >= s.deadline) {
      // The request id stays taken until the late reply arrives (or the connection closes), so
      // it is never reused while the server may still answer it.
      s.abandoned = true;
      expired.push_back(std::move(s.fn));
      s.fn = nullptr;
    } else {
      rearm = true;
    }
  }
  for (ReplyFn& fn : expired) {
    Reply r;
    r.failure = Failure::kTimeout;
    r.status = Status::DeadlineExceeded("timeout: no reply within the call's deadline");
    fn(r);
  }
  if (rearm) ArmSweep();
}

}  // namespace cairn::client
