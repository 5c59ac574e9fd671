#include "server/connection.h"

#include <spdlog/spdlog.h>

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/escape.h"
#include "net/blocking.h"
#include "net/send_file.h"
#include "ops/metrics.h"
#include "server/server.h"

namespace cairn::server {

using namespace cairn::proto;
using net::asio::awaitable;
namespace asio = net::asio;

namespace {

// Named bound: the input buffer a connection starts with (and shrinks back to when idle). It
// grows, for one frame at a time, to a header plus max_frame_meta_bytes.
constexpr size_t kInitialInputBytes = 16 << 10;
// Named bound: small replies coalesced into one write.
constexpr size_t kMaxWriteBatchBytes = 256 << 10;
// Named bound: bytes of a GET body brought into the page cache (on a pool thread) ahead of
// each sendfile burst, so a cold read never blocks the loop.
constexpr uint64_t kWarmSliceBytes = 8 << 20;
// Named bound: the largest pinned body a reply sends inline (Enqueue), without the writer.
constexpr uint64_t kInlineBodyBytes = 256 << 10;
// Named bound: bytes read from an ObjectReader (a store that cannot pin) per write.
constexpr size_t kReaderSliceBytes = 1 << 20;

int64_t NowNs() { return std::chrono::steady_clock::now().time_since_epoch().count(); }


// A key for a log line: escaped to one line, and cut (keys are up to max_key_bytes).
std::string LogKey(std::string_view key) {
  std::string k = EscapeKey(key.substr(0, 200));
  if (key.size() > 200) k += "...";
  return k;
}

}  // namespace

Connection::Connection(Server* server, net::tcp::socket sock)
    : server_(server),
      sock_(std::move(sock)),
      writer_wake_(sock_.get_executor()),
      reader_wake_(sock_.get_executor()),
      watchdog_(sock_.get_executor()),
      accepted_(std::chrono::steady_clock::now()) {
  in_.resize(kInitialInputBytes);
  boost::system::error_code ec;
  const net::tcp::endpoint remote = sock_.remote_endpoint(ec);
  if (!ec) {
    const auto addr = remote.address();
    peer_ = addr.to_string();
    loopback_peer_ = addr.is_loopback() ||
                     (addr.is_v6() && addr.to_v6().is_v4_mapped() &&
                      asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).is_loopback());
  } else {
    peer_ = "(unknown)";
  }
  Touch();
}

Connection::~Connection() = default;

void Connection::Start() {
  auto self = shared_from_this();
  boost::system::error_code ec;
  sock_.set_option(net::tcp::no_delay(true), ec);  // replies are whole frames; never delay them
  asio::co_spawn(sock_.get_executor(), ReadLoop(self), asio::detached);
  asio::co_spawn(sock_.get_executor(), WriteLoop(self), asio::detached);
  asio::co_spawn(sock_.get_executor(), Watchdog(self), asio::detached);
}

void Connection::Drain() {
  asio::post(sock_.get_executor(), [self = shared_from_this()] {
    self->draining_ = true;
    // Between requests: nothing has been started, so stop reading now. In the middle of a
    // request, the reader finishes it and then stops.
    if (self->state_ == ReadState::kIdle || self->state_ == ReadState::kHeader)
      self->ShutdownRead();
    self->WakeReader();
    self->WakeWriter();
  });
}

void Connection::Abort() {
  asio::post(sock_.get_executor(), [self = shared_from_this()] {
    self->dead_ = true;
    boost::system::error_code ec;
    self->sock_.shutdown(net::tcp::socket::shutdown_both, ec);
    self->WakeReader();
    self->WakeWriter();
  });
}

void Connection::Touch() { last_activity_ns_.store(NowNs(), std::memory_order_relaxed); }

void Connection::ShutdownRead() {
  // A pending read then completes with end of file.
  boost::system::error_code ec;
  sock_.shutdown(net::tcp::socket::shutdown_receive, ec);
}

// Each side waits on its timer only in one state; waking it otherwise would cost a timer
// cancellation for nothing.
void Connection::WakeWriter() {
  if (writer_waiting_) writer_wake_.cancel();
}
void Connection::WakeReader() {
  if (state_ == ReadState::kBlocked) reader_wake_.cancel();
}

void Connection::Admit(uint64_t request_id, Op op) {
#ifndef CAIRN_BENCH_NO_OP_HISTOGRAMS
  ids_.emplace(request_id, InFlight{op, ops::NowNs()});
#else
  ids_.emplace(request_id, InFlight{op, 0});
#endif
  inflight_++;
  server_->counters().inflight.fetch_add(1, std::memory_order_relaxed);
}

void Connection::Abandon(uint64_t request_id) {
  if (ids_.erase(request_id) == 1) {
    inflight_--;
    server_->counters().inflight.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Connection::Completed(const Reply& r) {
  if (auto it = ids_.find(r.request_id); it != ids_.end()) {
#ifndef CAIRN_BENCH_NO_OP_HISTOGRAMS  // only bench/server/ab.sh's B build: the histograms' cost
    const uint64_t latency_ns = ops::NowNs() - it->second.start_ns;
    server_->counters().ops.Observe(static_cast<size_t>(it->second.op),
                                    static_cast<size_t>(r.status), latency_ns);
    if (BackgroundScheduler* b = server_->background(); b != nullptr) {
      const proto::Op op = it->second.op;
      if (op == proto::Op::kPut || op == proto::Op::kGet || op == proto::Op::kHead ||
          op == proto::Op::kDelete)
        b->RecordForeground(latency_ns / 1000);
    }
#endif
    ids_.erase(it);
    inflight_--;
    server_->counters().inflight.fetch_sub(1, std::memory_order_relaxed);
  }
  server_->counters()
      .replies_by_status[static_cast<size_t>(r.status) & 127]
      .fetch_add(1, std::memory_order_relaxed);
  WakeReader();
  // The last reply of a connection whose reader has ended: the writer closes it. (A reply sent
  // inline did not pass through the writer, which may be waiting.)
  if (reader_done_ && inflight_ == 0) WakeWriter();
}

void Connection::Enqueue(Reply r) {
  // The writer idle and nothing queued: this reply is next in line, so it may go out now, from
  // whichever coroutine produced it, without waking the writer (a timer cancellation and a
  // coroutine switch per reply). Only non-blocking calls are made; the rest goes to the writer.
  // A body from a reader (a store that cannot pin) is the writer's job: TrySendNow sends
  // only the head, in-memory bytes and pinned extents.
  if (writer_waiting_ && replies_.empty() && !dead_ && !final_.has_value() &&
      r.pin_length <= kInlineBodyBytes && r.reader == nullptr) {
    if (TrySendNow(&r)) {
      r.pin.reset();  // unpin before waking anyone
      Completed(r);
      return;
    }
  }
  replies_.push_back(std::move(r));
  WakeWriter();
}

bool Connection::TrySendNow(Reply* r) {
  const int fd = sock_.native_handle();
  // Head and in-memory body in one call; MSG_MORE when body bytes from the file follow, so
  // header and body share segments.
  const bool more = r->pin_length > 0;
  while (!r->head.empty() || !r->body.empty()) {
    iovec iov[2] = {{r->head.data(), r->head.size()}, {r->body.data(), r->body.size()}};
    msghdr msg{};
    msg.msg_iov = r->head.empty() ? iov + 1 : iov;
    msg.msg_iovlen = r->head.empty() ? 1 : 2;
    ssize_t n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // EAGAIN, or an error the writer meets again and reports
    server_->counters().bytes_out.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    size_t k = static_cast<size_t>(n);
    const size_t from_head = std::min(k, r->head.size());
    r->head.erase(0, from_head);
    r->body.erase(0, k - from_head);
  }
  if (r->pin_length == 0) return true;
  // Pinned bytes: only the first extent's, and only if they are known to be in the page cache
  // (TryGetFast checked), so sendfile cannot wait on the disk.
  if (!r->pin_warm_first || r->pin->extents().size() != 1) return false;
  if (!sock_.native_non_blocking()) {
    boost::system::error_code ec;
    sock_.native_non_blocking(true, ec);
    if (ec) return false;
  }
  const ValueExtent& e = r->pin->extents()[0];
  while (r->pin_length > 0) {
    off_t off = static_cast<off_t>(e.offset + r->pin_offset);
    ssize_t n = ::sendfile(fd, e.fd, &off, r->pin_length);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    server_->counters().bytes_out.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    r->pin_offset += static_cast<uint64_t>(n);
    r->pin_length -= static_cast<uint64_t>(n);
  }
  return true;
}

void Connection::ReplyError(const FrameHeader& h, WireStatus s, std::string_view message) {
  Enqueue(ErrorReply(h, s, message));
}

void Connection::FinalError(uint64_t request_id, Op op, WireStatus s, std::string message) {
  if (final_.has_value()) return;
  spdlog::info("event=close_with_error peer={} request_id={} op={} status={} message=\"{}\"",
               peer_, request_id, OpName(op), WireStatusName(s), message);
  FrameHeader req;
  req.op = op;
  req.request_id = request_id;
  FinalReply(ErrorReply(req, s, message));
}

void Connection::FinalReply(Reply r) {
  if (final_.has_value()) return;
  final_ = std::move(r);
  WakeWriter();
}

awaitable<bool> Connection::Fill(size_t n) {
  while (avail() < n) {
    if (in_.size() - in_begin_ < n) {
      // Make room: move the unparsed bytes to the front, and grow for this frame if needed.
      std::memmove(in_.data(), in_.data() + in_begin_, avail());
      in_end_ -= in_begin_;
      in_begin_ = 0;
      if (in_.size() < n) in_.resize(n);
    }
    boost::system::error_code ec;
    size_t k = co_await sock_.async_read_some(
        asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
        asio::redirect_error(asio::use_awaitable, ec));
    if (ec || k == 0) co_return false;
    if (state_ == ReadState::kIdle) {
      state_ = ReadState::kHeader;
      header_start_ = std::chrono::steady_clock::now();
    }
    in_end_ += k;
    Touch();
    server_->counters().bytes_in.fetch_add(k, std::memory_order_relaxed);
  }
  co_return true;
}

awaitable<bool> Connection::ReadBody(uint64_t n, std::string* out) {
  out->resize(n);
  size_t have = std::min<uint64_t>(n, avail());
  std::memcpy(out->data(), in_data(), have);
  Consume(have);
  while (have < n) {
    boost::system::error_code ec;
    size_t k = co_await sock_.async_read_some(asio::buffer(out->data() + have, n - have),
                                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec || k == 0) co_return false;
    have += k;
    Touch();
    server_->counters().bytes_in.fetch_add(k, std::memory_order_relaxed);
  }
  co_return true;
}

awaitable<bool> Connection::SkipBody(uint64_t n) {
  while (n > 0) {
    if (avail() == 0 && !co_await Fill(1)) co_return false;
    size_t k = std::min<uint64_t>(n, avail());
    Consume(k);
    n -= k;
  }
  co_return true;
}

awaitable<void> Connection::ReadLoop(std::shared_ptr<Connection> self) {
  const Limits& lim = self->server_->config().limits;
  for (;;) {
    while (self->inflight_ >= lim.max_inflight_per_connection && !self->dead_ &&
           !self->draining_) {
      // Back-pressure: stop reading until a reply has been sent.
      self->state_ = ReadState::kBlocked;
      self->reader_wake_.expires_at(std::chrono::steady_clock::time_point::max());
      boost::system::error_code ec;
      co_await self->reader_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (self->dead_ || self->draining_ || self->final_.has_value()) break;
    if (self->avail() == 0) {
      self->in_begin_ = self->in_end_ = 0;
      if (self->in_.size() > kInitialInputBytes) {
        self->in_.resize(kInitialInputBytes);
        self->in_.shrink_to_fit();
      }
      self->state_ = ReadState::kIdle;
    } else {
      self->state_ = ReadState::kHeader;
      self->header_start_ = std::chrono::steady_clock::now();
    }
    self->partial_id_ = 0;
    bool go = co_await self->ReadOneRequest();
    if (!go) break;
    if (self->avail() == 0) {
      // Nothing buffered: yield to the loop's other ready work before reading again. A client
      // that was waiting for this reply has usually sent its next request by then, so the read
      // finds it; reading at once would find the socket empty (a recv that returns EAGAIN,
      // then an epoll round trip). Costs one handler dispatch when the loop is idle.
      co_await asio::post(self->sock_.get_executor(), asio::use_awaitable);
    }
  }
  if (self->auth_timed_out_ && !self->final_.has_value()) {
    self->FinalError(0, Op::kHello, WireStatus::kTimeout,
                     "auth_timeout_ms: the connection did not authenticate in time");
  } else if (self->timed_out_ && !self->final_.has_value()) {
    self->FinalError(self->partial_id_, Op::kPing, WireStatus::kTimeout,
                     "header_timeout_ms: a frame header did not arrive in time");
  }
  self->reader_done_ = true;
  self->WakeWriter();
}

awaitable<bool> Connection::ReadOneRequest() {
  const Limits& lim = server_->config().limits;
  if (!co_await Fill(kHeaderSize)) co_return false;
  FrameHeader h;
  WireError err;
  if (!DecodeHeader(in_data(), lim.max_frame_meta_bytes, &h, &err)) {
    if (err.status == WireStatus::kUnsupportedVersion) {
      spdlog::info("event=close_with_error peer={} peer_status=UnsupportedVersion version={}",
                   peer_, h.version);
      FinalReply(UnsupportedVersionReply(h));
    } else {
      FinalError(h.request_id, h.op, err.status, err.message);
    }
    co_return false;
  }
  partial_id_ = h.request_id;
  if (h.reply) {
    FinalError(h.request_id, h.op, WireStatus::kProtocolError,
               "a reply frame (kind bit 7 set) was sent to the server");
    co_return false;
  }
  if (!co_await Fill(kHeaderSize + h.meta_len)) co_return false;
  std::string_view meta(in_data() + kHeaderSize, h.meta_len);
  if (!CheckHeaderCrc(in_data(), meta, &err)) {
    FinalError(h.request_id, h.op, err.status, err.message);
    co_return false;
  }
  Request r;
  r.h = h;
  r.meta.assign(meta);
  Consume(kHeaderSize + h.meta_len);
  state_ = ReadState::kBody;
  server_->counters().requests.fetch_add(1, std::memory_order_relaxed);
  if (ids_.count(h.request_id) != 0) {
    FinalError(h.request_id, h.op, WireStatus::kProtocolError,
               "request id " + std::to_string(h.request_id) + " is already in flight");
    co_return false;
  }
  if (h.op != Op::kPut && (h.body_len != 0 || h.chunked())) {
    FinalError(h.request_id, h.op, WireStatus::kProtocolError,
               std::string(OpName(h.op)) + " requests carry no body");
    co_return false;
  }
  bool handshake = false;
  if (!CheckAuth(r, &handshake)) co_return false;
  if (handshake) co_return true;
  if (!Route(&r)) co_return false;
  // Only a PUT waits here (for its body); every other request is started without a coroutine
  // of its own on the hot path (a GET served from the loop is queued before this returns).
  if (h.op == Op::kPut) co_return co_await DispatchPut(std::move(r));
  co_return Dispatch(std::move(r));
}

awaitable<Status> Connection::SendReaderBody(Reply& r) {
  std::string buf(static_cast<size_t>(std::min<uint64_t>(r.reader_length, kReaderSliceBytes)),
                  '\0');
  uint64_t left = r.reader_length;
  ObjectReader* reader = r.reader.get();
  while (left > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    Result<size_t> got = co_await net::RunBlocking(server_->io_pool(), [&]() -> Result<size_t> {
      size_t have = 0;
      while (have < want) {
        CAIRN_ASSIGN_OR_RETURN(size_t n, reader->Read(buf.data() + have, want - have));
        if (n == 0) return Status::Corruption("the object ended before its reply body");
        have += n;
      }
      return have;
    });
    if (!got.ok()) co_return got.status();
    boost::system::error_code ec;
    co_await asio::async_write(sock_, asio::buffer(buf.data(), *got),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return Status::Unavailable("send: " + ec.message());
    server_->counters().bytes_out.fetch_add(*got, std::memory_order_relaxed);
    left -= *got;
  }
  co_return Status::OK();
}

awaitable<void> Connection::WriteLoop(std::shared_ptr<Connection> self) {
  std::string batch;
  auto complete = [&](const Reply& r) { self->Completed(r); };
  for (;;) {
    while (self->replies_.empty() && !self->dead_ &&
           !(self->reader_done_ && self->inflight_ == 0)) {
      self->writer_wake_.expires_at(std::chrono::steady_clock::time_point::max());
      boost::system::error_code ec;
      self->writer_waiting_ = true;
      co_await self->writer_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      self->writer_waiting_ = false;
    }
    if (self->dead_) break;
    if (self->replies_.empty()) break;  // reader done, nothing in flight
    boost::system::error_code ec;
    // Coalesce the ready small replies into one write, with the header of a GET whose body
    // follows (sent with MSG_MORE, so header and body share segments).
    batch.clear();
    std::vector<Reply> sent;
    while (!self->replies_.empty() && self->replies_.front().pin == nullptr &&
           self->replies_.front().reader == nullptr &&
           (batch.empty() || batch.size() < kMaxWriteBatchBytes)) {
      Reply& f = self->replies_.front();
      batch += f.head;
      batch += f.body;
      sent.push_back(std::move(f));
      self->replies_.pop_front();
    }
    std::optional<Reply> with_body;
    if (!self->replies_.empty() && batch.size() < kMaxWriteBatchBytes) {
      with_body = std::move(self->replies_.front());
      self->replies_.pop_front();
      batch += with_body->head;
    }
    if (with_body.has_value() && (with_body->pin_length > 0 || with_body->reader_length > 0)) {
      Status st = co_await net::SendMore(self->sock_, batch);
      if (!st.ok()) ec = asio::error::broken_pipe;
    } else {
      co_await asio::async_write(self->sock_, asio::buffer(batch),
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      self->dead_ = true;
      break;
    }
    self->server_->counters().bytes_out.fetch_add(batch.size(), std::memory_order_relaxed);
    for (const Reply& r : sent) complete(r);
    if (batch.capacity() > (1 << 20)) std::string().swap(batch);
    if (!with_body.has_value()) continue;
    Reply r = std::move(*with_body);
    if (r.reader != nullptr) {
      // A GET body from a store that cannot pin: read on the pool, a slice at a time.
      Status st = co_await self->SendReaderBody(r);
      if (!st.ok()) {
        spdlog::warn("event=reader_body_failed peer={} error=\"{}\"", self->peer_, st.ToString());
        self->dead_ = true;
        break;
      }
      r.reader.reset();
      complete(r);
      continue;
    }
    // A GET body from the volume files: sendfile per extent.
    uint64_t pos = 0;  // value offset at the start of the current extent
    uint64_t want_from = r.pin_offset;
    uint64_t left = r.pin_length;
    bool first = true;
    Status st;
    for (const ValueExtent& e : r.pin->extents()) {
      if (left == 0) break;
      if (want_from < pos + e.length) {
        uint64_t off = e.offset + (want_from - pos);
        uint64_t n = std::min(left, pos + e.length - want_from);
        while (n > 0 && st.ok()) {
          uint64_t slice = std::min(n, kWarmSliceBytes);
          if (!(first && r.pin_warm_first) && !net::RangeCached(e.fd, off, slice)) {
            const int fd = e.fd;
            co_await net::RunBlocking(self->server_->io_pool(), [fd, off, slice]() {
              net::WarmFileRange(fd, off, slice);
              return 0;
            });
          }
          first = false;
          st = co_await net::SendFile(self->sock_, e.fd, off, slice);
          off += slice;
          n -= slice;
          left -= slice;
          want_from += slice;
          self->server_->counters().bytes_out.fetch_add(slice, std::memory_order_relaxed);
        }
        if (!st.ok()) break;
      }
      pos += e.length;
    }
    if (!st.ok()) {
      // The header promised bytes we could not send: the client sees a short body (and a CRC
      // mismatch); the only honest thing left is to close.
      spdlog::warn(
          "event=sendfile_failed peer={} request_id={} key=\"{}\" value_offset={} "
          "bytes_left={} error=\"{}\"",
          self->peer_, r.request_id, LogKey(r.pin->info().key), want_from, left, st.ToString());
      self->dead_ = true;
      break;
    }
    r.pin.reset();  // unpin before waking anyone
    complete(r);
  }
  if (!self->dead_ && self->final_.has_value()) {
    boost::system::error_code ec;
    co_await asio::async_write(self->sock_, asio::buffer(self->final_->head),
                               asio::redirect_error(asio::use_awaitable, ec));
    self->server_->counters()
        .replies_by_status[static_cast<size_t>(self->final_->status) & 127]
        .fetch_add(1, std::memory_order_relaxed);
  }
  self->writer_done_ = true;
  // Close only once the reader is done too (a streaming pool thread may still use the fd).
  while (!self->reader_done_) {
    self->dead_ = true;
    self->ShutdownRead();
    self->writer_wake_.expires_at(std::chrono::steady_clock::time_point::max());
    boost::system::error_code ec;
    self->WakeReader();
    self->writer_waiting_ = true;
    co_await self->writer_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    self->writer_waiting_ = false;
  }
  // Replies still queued (or requests still running) are dropped with the connection; their
  // handlers enqueue into a dead connection harmlessly.
  boost::system::error_code ec;
  self->sock_.shutdown(net::tcp::socket::shutdown_send, ec);
  self->sock_.close(ec);
  self->watchdog_.cancel();
  self->server_->Forget(self.get());
}

awaitable<void> Connection::Watchdog(std::shared_ptr<Connection> self) {
  const Limits& lim = self->server_->config().limits;
  // Named bound: how often timeouts are checked; a quarter of the shorter timeout, at most 1 s.
  auto tick = std::chrono::milliseconds(std::clamp<uint32_t>(
      std::min({lim.header_timeout_ms, lim.idle_timeout_ms, lim.auth_timeout_ms}) / 4, 5, 1000));
  while (!self->writer_done_) {
    self->watchdog_.expires_after(tick);
    boost::system::error_code ec;
    co_await self->watchdog_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (self->writer_done_ || self->reader_done_) continue;
    auto now = std::chrono::steady_clock::now();
    if (self->auth_ != AuthState::kOpen &&
        now - self->accepted_ > std::chrono::milliseconds(lim.auth_timeout_ms)) {
      self->auth_timed_out_ = true;
      self->ShutdownRead();
      continue;
    }
    if (self->state_ == ReadState::kHeader &&
        now - self->header_start_ > std::chrono::milliseconds(lim.header_timeout_ms)) {
      self->timed_out_ = true;
      self->ShutdownRead();
      continue;
    }
    int64_t idle_ns = NowNs() - self->last_activity_ns_.load(std::memory_order_relaxed);
    bool idle = idle_ns > int64_t{lim.idle_timeout_ms} * 1000000;
    if (idle && self->state_ == ReadState::kIdle && self->inflight_ == 0) {
      spdlog::debug("event=idle_close peer={}", self->peer_);
      self->ShutdownRead();
    } else if (idle && self->state_ == ReadState::kBody) {
      // A small body that stopped arriving (streamed bodies time out on their pool thread).
      self->timed_out_ = true;
      self->ShutdownRead();
    }
  }
}

}  // namespace cairn::server
