#include "net/http_server.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <charconv>
#include <chrono>
#include <future>

#include "net/blocking.h"
#include "net/send_file.h"

namespace cairn::net {

namespace beast = boost::beast;
namespace ssl = asio::ssl;
using asio::awaitable;
using Clock = std::chrono::steady_clock;

namespace {

// Named bound: an in-memory response body is written in pieces of this size, each a separate
// wait for the peer (so idle_timeout_ms bounds a stalled reader, not the whole body).
constexpr size_t kWritePieceBytes = 256 << 10;
// Not a bound: the capacity a response head starts with (it grows past it if need be).
constexpr size_t kResponseHeadReserve = 512;

// Appends `v` to `out` with CR and LF replaced by spaces (in place, without a temporary string:
// a response head has a dozen fields, issue 13).
void AppendClean(std::string* out, std::string_view v) {
  const size_t at = out->size();
  out->append(v);
  char* const end = out->data() + out->size();
  for (char* p = out->data() + at; p != end; ++p)
    if (*p == '\r' || *p == '\n') *p = ' ';
}

void AppendNumber(std::string* out, uint64_t v) {
  char b[20];
  auto [end, ec] = std::to_chars(b, b + sizeof(b), v);
  out->append(b, end);
}

}  // namespace

HttpResponse PlainErrorResponse(unsigned status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.headers.set(http::field::content_type, "text/plain; charset=utf-8");
  auto reason = http::obsolete_reason(static_cast<http::status>(status));
  r.body = fmt::format("{} {}: {}\n", status, std::string_view(reason.data(), reason.size()),
                       message);
  return r;
}

HttpFileBody HttpFileBody::FromPin(std::unique_ptr<PinnedObject> pin, uint64_t offset,
                                   uint64_t length) {
  HttpFileBody b;
  b.extents = pin->extents();
  b.offset = offset;
  b.length = length;
  b.keep_alive = std::shared_ptr<PinnedObject>(std::move(pin));
  return b;
}

// ---- Connections ----------------------------------------------------------------------

class ConnBase {
 public:
  virtual ~ConnBase() = default;
  // Both are posted to the connection's loop.
  virtual void Drain() = 0;  // finish the current response, then close
  virtual void Abort() = 0;  // close now
};

struct HttpServer::Shared {
  HttpServerOptions options;
  HttpServerCounters* counters = nullptr;
  asio::thread_pool* blocking = nullptr;
  HttpHandler handler;
  HttpErrorRenderer errors;
  std::unique_ptr<ssl::context> tls;

  std::mutex mu;
  std::condition_variable cv;  // signalled when a connection ends
  std::unordered_map<ConnBase*, std::weak_ptr<ConnBase>> conns;
  bool stopping = false;

  void Forget(ConnBase* c) {
    std::lock_guard<std::mutex> l(mu);
    if (conns.erase(c) == 1) counters->connections.fetch_sub(1, std::memory_order_relaxed);
    cv.notify_all();
  }
};

namespace {

template <class Stream>
constexpr bool kIsTls = !std::is_same_v<Stream, tcp::socket>;

template <class Stream>
tcp::socket& Lowest(Stream& s) {
  if constexpr (kIsTls<Stream>) {
    return s.next_layer();
  } else {
    return s;
  }
}

// What the connection is waiting for, for the deadline and for naming a timeout.
enum class Phase { kNone, kHandshake, kFirstHeader, kIdle, kHeader, kBody, kWrite };

template <class Stream>
class Conn final : public ConnBase,
                   public HttpExchange,
                   public std::enable_shared_from_this<Conn<Stream>> {
 public:
  Conn(std::shared_ptr<HttpServer::Shared> sh, Stream stream, std::string peer)
      : sh_(std::move(sh)),
        lim_(sh_->options.limits),
        stream_(std::move(stream)),
        timer_(Lowest(stream_).get_executor()),
        buf_(std::max<size_t>(lim_.max_header_bytes, kBodyReadBytes) + kFirstReadBytes),
        peer_(std::move(peer)) {}

  void Start() {
    boost::system::error_code ec;
    Lowest(stream_).set_option(tcp::no_delay(true), ec);
    asio::co_spawn(Lowest(stream_).get_executor(), Serve(this->shared_from_this()),
                   asio::detached);
  }

  void Drain() override {
    asio::post(Lowest(stream_).get_executor(), [self = this->shared_from_this()] {
      self->draining_ = true;
      if (self->phase_ == Phase::kIdle || self->phase_ == Phase::kFirstHeader) self->Cancel();
    });
  }
  void Abort() override {
    asio::post(Lowest(stream_).get_executor(), [self = this->shared_from_this()] {
      self->dead_ = true;
      self->Cancel();
    });
  }

  // ---- HttpExchange.
  http::verb method() const override { return parser_->get().method(); }
  std::string_view method_string() const override {
    auto m = parser_->get().method_string();
    return {m.data(), m.size()};
  }
  std::string_view target() const override {
    auto t = parser_->get().target();
    return {t.data(), t.size()};
  }
  unsigned version() const override { return parser_->get().version(); }
  const http::fields& headers() const override { return parser_->get(); }
  std::optional<uint64_t> content_length() const override {
    if (parser_->chunked()) return std::nullopt;
    auto n = parser_->content_length();
    return n ? *n : 0;
  }
  bool chunked() const override { return parser_->chunked(); }
  bool has_body() const override { return !parser_->is_done(); }
  bool expects_continue() const override { return expect_continue_; }
  bool is_tls() const override { return kIsTls<Stream>; }
  std::string_view peer() const override { return peer_; }
  asio::any_io_executor executor() const override {
    return const_cast<Stream&>(stream_).get_executor();
  }
  asio::thread_pool& blocking_pool() override { return *sh_->blocking; }
  bool responded() const override { return responded_; }
  void CloseAfterResponse() override { close_after_ = true; }

  void SetBodyLimit(uint64_t limit, std::string_view name) override {
    if (limit >= body_limit_) return;
    body_limit_ = limit;
    body_limit_name_ = std::string(name);
    // Beast checks a Content-Length against its limit only when the head is parsed, and counts
    // a chunked body down as it arrives: so check the one here and lower the other.
    if (!parser_->chunked()) {
      auto n = parser_->content_length();
      if (n.has_value() && *n > limit && body_error_status_ == 0) {
        body_error_status_ = 413;
        body_error_message_ = fmt::format("{}: Content-Length {} is over the limit of {} bytes",
                                          body_limit_name_, *n, limit);
        close_after_ = true;
      }
    } else {
      parser_->body_limit(limit > body_read_ ? limit - body_read_ : 0);
    }
  }

  awaitable<Result<size_t>> ReadBody(char* out, size_t cap) override {
    if (body_error_status_ != 0) co_return Status::InvalidArgument(body_error_message_);
    if (parser_->is_done() || cap == 0) co_return size_t{0};
    if (expect_continue_ && !continue_sent_) {
      Status s = co_await SendContinue();
      if (!s.ok()) co_return s;
    }
    // Beast reads as much as the buffer has room for; an idle connection's buffer was shrunk
    // to kFirstReadBytes, which would cut a large body into 512-byte reads.
    if (buf_.capacity() < kBodyReadBytes) buf_.reserve(kBodyReadBytes);
    for (;;) {
      parser_->get().body().data = out;
      parser_->get().body().size = cap;
      boost::system::error_code ec;
      Arm(lim_.idle_timeout_ms, Phase::kBody);
      co_await http::async_read_some(stream_, buf_, *parser_,
                                     asio::redirect_error(asio::use_awaitable, ec));
      Disarm();
      if (ec == http::error::need_buffer) ec = {};
      const size_t got = cap - parser_->get().body().size;
      body_read_ += got;
      if (ec) co_return BodyError(ec);
      if (got > 0 || parser_->is_done()) co_return got;
    }
  }

  awaitable<Result<std::string>> ReadWholeBody(uint64_t limit,
                                               std::string_view limit_name) override {
    SetBodyLimit(limit, limit_name);
    std::string body;
    if (auto n = content_length(); n.has_value() && *n <= limit) body.reserve(*n);
    char piece[16 << 10];
    for (;;) {
      Result<size_t> n = co_await ReadBody(piece, sizeof(piece));
      if (!n.ok()) co_return n.status();
      if (*n == 0) break;
      body.append(piece, *n);
    }
    co_return body;
  }

  awaitable<Status> SendContinue() override {
    if (!expect_continue_ || continue_sent_ || responded_) co_return Status::OK();
    continue_sent_ = true;
    co_return co_await WriteBytes("HTTP/1.1 100 Continue\r\n\r\n", {});
  }

  awaitable<Status> Send(HttpResponse r) override {
    if (responded_) co_return Status::InvalidArgument("a response was already sent");
    const bool head = method() == http::verb::head;
    std::string h = Head(r.status, r.headers, r.body.size(), /*chunked=*/false);
    co_return co_await WriteBytes(h, head ? std::string_view() : std::string_view(r.body));
  }

  awaitable<Status> SendStream(unsigned status, http::fields headers, HttpBodySource* src,
                               std::optional<uint64_t> length) override {
    if (responded_) co_return Status::InvalidArgument("a response was already sent");
    const bool chunked = !length.has_value() && version() >= 11;
    if (!length.has_value() && !chunked) close_after_ = true;  // HTTP/1.0: close-delimited
    std::string h = Head(status, headers, length, chunked);
    if (method() == http::verb::head) co_return co_await WriteBytes(h, {});
    Status s = co_await WriteBytes(h, {});
    if (!s.ok()) co_return s;
    std::string piece(kStreamPieceBytes, '\0');
    uint64_t sent = 0;
    for (;;) {
      Result<size_t> n = co_await src->Read(piece.data(), piece.size());
      if (!n.ok()) {
        // The head promised a body we cannot finish: the peer must see the connection end.
        failed_ = true;
        co_return n.status();
      }
      if (length.has_value() && sent + *n > *length) {
        failed_ = true;
        co_return Status::Corruption("the body source gave more bytes than Content-Length");
      }
      if (*n == 0) break;
      sent += *n;
      if (chunked) {
        std::string frame = fmt::format("{:x}\r\n", *n);
        s = co_await WriteBytes(frame, std::string_view(piece.data(), *n), "\r\n");
      } else {
        s = co_await WriteBytes(std::string_view(piece.data(), *n), {});
      }
      if (!s.ok()) co_return s;
    }
    if (length.has_value() && sent != *length) {
      failed_ = true;
      co_return Status::Corruption(fmt::format(
          "the body source ended after {} of {} bytes (Content-Length)", sent, *length));
    }
    if (chunked) co_return co_await WriteBytes("0\r\n\r\n", {});
    co_return Status::OK();
  }

  awaitable<Status> SendFile(unsigned status, http::fields headers, HttpFileBody body) override {
    if (responded_) co_return Status::InvalidArgument("a response was already sent");
    std::string h = Head(status, headers, body.length, /*chunked=*/false);
    if (method() == http::verb::head || body.length == 0) co_return co_await WriteBytes(h, {});
    Status s;
    if constexpr (kIsTls<Stream>) {
      s = co_await WriteBytes(h, {});
    } else {
      Arm(lim_.idle_timeout_ms, Phase::kWrite);
      s = co_await net::SendMore(stream_, h);
      Disarm();
      if (s.ok()) sh_->counters->bytes_out.fetch_add(h.size(), std::memory_order_relaxed);
    }
    if (!s.ok()) co_return Failed(s);
    uint64_t pos = 0;  // offset of the current extent in the concatenation
    uint64_t from = body.offset;
    uint64_t left = body.length;
    std::string piece;
    for (const ValueExtent& e : body.extents) {
      if (left == 0) break;
      if (from >= pos + e.length) {
        pos += e.length;
        continue;
      }
      uint64_t off = e.offset + (from - pos);
      uint64_t n = std::min(left, pos + e.length - from);
      while (n > 0) {
        const uint64_t window = std::min(n, kWarmWindowBytes);
        if constexpr (kIsTls<Stream>) {
          // Read on the pool, encrypt and send on the loop, one bounded piece at a time.
          for (uint64_t done = 0; done < window;) {
            const size_t k = static_cast<size_t>(std::min<uint64_t>(window - done, kStreamPieceBytes));
            piece.resize(k);
            const int fd = e.fd;
            const uint64_t at = off + done;
            ssize_t r = co_await RunBlocking(*sh_->blocking, [fd, at, k, &piece]() -> ssize_t {
              size_t got = 0;
              while (got < k) {
                ssize_t x = ::pread(fd, piece.data() + got, k - got, static_cast<off_t>(at + got));
                if (x < 0 && errno == EINTR) continue;
                if (x <= 0) return x < 0 ? -errno : -1;
                got += static_cast<size_t>(x);
              }
              return static_cast<ssize_t>(got);
            });
            if (r != static_cast<ssize_t>(k)) {
              failed_ = true;
              co_return Status::IOError("reading the body's file failed");
            }
            s = co_await WriteBytes(piece, {});
            if (!s.ok()) co_return s;
            done += k;
          }
        } else {
          if (!RangeCached(e.fd, off, window)) {
            const int fd = e.fd;
            co_await RunBlocking(*sh_->blocking, [fd, off, window]() {
              WarmFileRange(fd, off, window);
              return 0;
            });
          }
          for (uint64_t done = 0; done < window;) {
            const uint64_t k = std::min(window - done, kSendFileSliceBytes);
            Arm(lim_.idle_timeout_ms, Phase::kWrite);
            s = co_await net::SendFile(stream_, e.fd, off + done, k);
            Disarm();
            if (!s.ok()) co_return Failed(s);
            sh_->counters->bytes_out.fetch_add(k, std::memory_order_relaxed);
            done += k;
          }
        }
        off += window;
        n -= window;
        left -= window;
        from += window;
      }
      pos += e.length;
    }
    if (left != 0) {
      failed_ = true;
      co_return Status::InvalidArgument("the file extents hold fewer bytes than the range");
    }
    co_return Status::OK();
  }

 private:
  static awaitable<void> Serve(std::shared_ptr<Conn> self) { co_await self->Run(); }

  awaitable<void> Run() {
    boost::system::error_code ec;
    if constexpr (kIsTls<Stream>) {
      Arm(lim_.header_timeout_ms, Phase::kHandshake);
      co_await stream_.async_handshake(ssl::stream_base::server,
                                       asio::redirect_error(asio::use_awaitable, ec));
      Disarm();
      if (ec) {
        if (timed_out_ == Phase::kHandshake)
          sh_->counters->header_timeouts.fetch_add(1, std::memory_order_relaxed);
        co_await Close();
        co_return;
      }
    }
    bool first = true;
    while (!dead_ && !draining_) {
      // Wait for the first byte of the next request (or keep what a pipelining client sent).
      if (buf_.size() == 0) {
        buf_.shrink_to_fit();  // an idle connection holds no buffer
        if (first) {
          Arm(lim_.header_timeout_ms, Phase::kFirstHeader);
        } else {
          Arm(lim_.idle_timeout_ms, Phase::kIdle);
        }
        size_t n = co_await stream_.async_read_some(buf_.prepare(kFirstReadBytes),
                                                    asio::redirect_error(asio::use_awaitable, ec));
        Disarm();
        if (ec || n == 0) {
          if (timed_out_ == Phase::kFirstHeader) {
            sh_->counters->header_timeouts.fetch_add(1, std::memory_order_relaxed);
            co_await SendError(408, fmt::format("header_timeout_ms: no request arrived within "
                                                "{} ms of the connection",
                                                lim_.header_timeout_ms));
          } else if (timed_out_ == Phase::kIdle) {
            sh_->counters->idle_timeouts.fetch_add(1, std::memory_order_relaxed);
          }
          break;
        }
        buf_.commit(n);
      }
      first = false;
      if (!co_await ServeOne()) break;
    }
    co_await Close();
  }

  // One request: its head, the handler, and what is left of its body. False: close.
  awaitable<bool> ServeOne() {
    ResetExchange();
    boost::system::error_code ec;
    Arm(lim_.header_timeout_ms, Phase::kHeader);
    co_await http::async_read_header(stream_, buf_, *parser_,
                                     asio::redirect_error(asio::use_awaitable, ec));
    Disarm();
    if (ec) {
      co_await HeadError(ec);
      co_return false;
    }
    sh_->counters->requests.fetch_add(1, std::memory_order_relaxed);
    const auto& req = parser_->get();
    // Transfer codings other than chunked (RFC 9112 6.1: 501 for codings not understood).
    if (req.count(http::field::transfer_encoding) != 0 && !parser_->chunked()) {
      co_await SendError(501, "Transfer-Encoding: only chunked request bodies are supported");
      co_return false;
    }
    if (auto it = req.find(http::field::expect); it != req.end()) {
      if (!beast::iequals(it->value(), "100-continue")) {
        co_await SendError(417, "Expect: only 100-continue is supported");
        co_return false;
      }
      expect_continue_ = req.version() >= 11 && !parser_->is_done();
    }
    if (!req.keep_alive()) close_after_ = true;
    std::string failure;
    try {
      co_await sh_->handler(*this);
    } catch (const std::exception& e) {
      failure = std::string("the handler failed: ") + e.what();
    }
    if (!failure.empty()) {
      if (!responded_) co_await SendError(500, std::move(failure));
      co_return false;
    }
    if (!responded_) {
      if (body_error_status_ != 0) {
        co_await SendError(body_error_status_, body_error_message_);
        co_return false;
      }
      co_await SendError(500, "the handler sent no response");
      co_return false;
    }
    if (failed_ || close_after_ || dead_) co_return false;
    // A body the handler did not read: drop it if it is small, else close (decided when the
    // head was written: WillClose).
    while (!parser_->is_done()) {
      char scratch[8192];
      Result<size_t> n = co_await ReadBody(scratch, sizeof(scratch));
      if (!n.ok()) co_return false;
    }
    co_return true;
  }

  void ResetExchange() {
    parser_.emplace();
    parser_->header_limit(lim_.max_header_bytes);
    parser_->body_limit(lim_.max_body_bytes);
    body_limit_ = lim_.max_body_bytes;
    body_limit_name_ = "max_body_bytes";
    body_read_ = 0;
    body_error_status_ = 0;
    body_error_message_.clear();
    expect_continue_ = false;
    continue_sent_ = false;
    responded_ = false;
    close_after_ = false;
    failed_ = false;
  }

  // A request head that could not be read.
  awaitable<void> HeadError(boost::system::error_code ec) {
    using e = http::error;
    auto is = [&](e v) { return ec == v; };
    if (timed_out_ == Phase::kHeader) {
      sh_->counters->header_timeouts.fetch_add(1, std::memory_order_relaxed);
      co_return co_await SendError(
          408, fmt::format("header_timeout_ms: the request head did not arrive within {} ms",
                           lim_.header_timeout_ms));
    }
    if (is(e::end_of_stream) || ec == asio::error::eof || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::broken_pipe || dead_) {
      co_return;  // the peer went away between requests, or we are closing
    }
    if (is(e::partial_message)) {
      co_return co_await SendError(400, "the request head ended early (connection closed)");
    }
    if (is(e::header_limit) || is(e::buffer_overflow)) {
      co_return co_await SendError(
          431, fmt::format("max_header_bytes: the request head is over {} bytes",
                           lim_.max_header_bytes));
    }
    if (is(e::body_limit)) {
      co_return co_await SendError(
          413, fmt::format("max_body_bytes: Content-Length is over the limit of {} bytes",
                           lim_.max_body_bytes));
    }
    if (is(e::bad_method) || is(e::bad_target) || is(e::bad_version) ||
        is(e::bad_line_ending)) {
      co_return co_await SendError(400, "malformed request line: " + ec.message());
    }
    if (is(e::bad_content_length)) {
      co_return co_await SendError(
          400, "malformed Content-Length, or one that conflicts with another or with "
               "Transfer-Encoding");
    }
    if (is(e::bad_transfer_encoding)) {
      co_return co_await SendError(400, "malformed or conflicting Transfer-Encoding");
    }
    co_return co_await SendError(400, "malformed request head: " + ec.message());
  }

  // A body that could not be read: remembered, so the connection answers it (if the handler
  // does not) and closes.
  Status BodyError(boost::system::error_code ec) {
    using e = http::error;
    unsigned st = 400;
    std::string msg;
    if (timed_out_ == Phase::kBody) {
      st = 408;
      msg = fmt::format("idle_timeout_ms: the request body stopped arriving for {} ms after {} "
                        "bytes",
                        lim_.idle_timeout_ms, body_read_);
      sh_->counters->idle_timeouts.fetch_add(1, std::memory_order_relaxed);
    } else if (ec == e::body_limit) {
      st = 413;
      msg = fmt::format("{}: the request body is over {} bytes", body_limit_name_, body_limit_);
    } else if (ec == e::bad_chunk || ec == e::bad_chunk_extension) {
      msg = "bad chunk framing in the request body: " + ec.message();
    } else if (ec == e::partial_message || ec == asio::error::eof) {
      if (auto n = parser_->content_length(); n.has_value() && !parser_->chunked()) {
        msg = fmt::format("the request body ended early: {} of {} bytes (Content-Length)",
                          body_read_, *n);
      } else {
        msg = fmt::format("the chunked request body ended before its last chunk ({} bytes)",
                          body_read_);
      }
    } else {
      msg = "reading the request body failed: " + ec.message();
    }
    body_error_status_ = st;
    body_error_message_ = msg;
    close_after_ = true;
    // The code says which kind, for a handler that answers in its own words (the S3 gateway).
    if (st == 413) return Status::LimitExceeded(msg);
    if (st == 408) return Status::DeadlineExceeded(msg);
    return Status::InvalidArgument(msg);
  }

  // Whether the connection closes after the response now being started.
  bool WillClose() {
    if (close_after_ || draining_ || dead_ || body_error_status_ != 0) return true;
    if (parser_->is_done()) return false;
    // The body is (partly) unread.
    if (expect_continue_ && !continue_sent_) return true;  // the client may never send it
    if (parser_->chunked()) return true;
    auto rest = parser_->content_length_remaining();
    return !rest.has_value() || *rest > kMaxDrainBytes;
  }

  // The response head. `length` nullopt: no Content-Length (chunked, or close-delimited).
  std::string Head(unsigned status, const http::fields& fields, std::optional<uint64_t> length,
                   bool chunked) {
    responded_ = true;
    if (WillClose()) close_after_ = true;
    sh_->counters->responses_by_class[std::min<unsigned>(status / 100, 5)].fetch_add(
        1, std::memory_order_relaxed);
    auto reason = http::obsolete_reason(static_cast<http::status>(status));
    // Built in one string with room for a typical head (a 10 KiB GET's is about 400 bytes).
    std::string h;
    h.reserve(kResponseHeadReserve);
    h += "HTTP/1.1 ";
    AppendNumber(&h, status);
    h += ' ';
    h.append(reason.data(), reason.size());
    h += "\r\n";
    bool has_server = false;
    for (const auto& f : fields) {
      const auto name = f.name();
      if (name == http::field::content_length || name == http::field::transfer_encoding ||
          name == http::field::connection)
        continue;  // the server's to decide
      if (name == http::field::server) has_server = true;
      auto n = f.name_string();
      auto v = f.value();
      AppendClean(&h, {n.data(), n.size()});
      h += ": ";
      AppendClean(&h, {v.data(), v.size()});
      h += "\r\n";
    }
    if (!has_server && !sh_->options.server_header.empty()) {
      h += "Server: ";
      h += sh_->options.server_header;
      h += "\r\n";
    }
    if (chunked) {
      h += "Transfer-Encoding: chunked\r\n";
    } else if (length.has_value() && status >= 200 && status != 204 && status != 304) {
      h += "Content-Length: ";
      AppendNumber(&h, *length);
      h += "\r\n";
    }
    if (close_after_) {
      h += "Connection: close\r\n";
    } else if (version() == 10) {
      h += "Connection: keep-alive\r\n";
    }
    h += "\r\n";
    return h;
  }

  // An error the server answers itself (always followed by closing the connection).
  awaitable<void> SendError(unsigned status, std::string message) {
    sh_->counters->bad_requests.fetch_add(1, std::memory_order_relaxed);
    if (dead_ || (parser_.has_value() && responded_)) co_return;
    HttpResponse r = sh_->errors(status, message);
    close_after_ = true;
    if (!parser_.has_value()) parser_.emplace();  // Head() reads the request's version
    const bool head = parser_->is_header_done() && method() == http::verb::head;
    std::string h = Head(r.status, r.headers, r.body.size(), false);
    co_await WriteBytes(h, head ? std::string_view() : std::string_view(r.body));
  }

  // Writes a, b and c (any may be empty), in pieces, each wait bounded by idle_timeout_ms.
  awaitable<Status> WriteBytes(std::string_view a, std::string_view b, std::string_view c = {}) {
    if (dead_ || failed_) co_return Status::IOError("the connection is closed");
    boost::system::error_code ec;
    const size_t total = a.size() + b.size() + c.size();
    if (total <= kWritePieceBytes) {
      std::array<asio::const_buffer, 3> bufs = {asio::buffer(a), asio::buffer(b),
                                                asio::buffer(c)};
      Arm(lim_.idle_timeout_ms, Phase::kWrite);
      co_await asio::async_write(stream_, bufs, asio::redirect_error(asio::use_awaitable, ec));
      Disarm();
    } else {
      for (std::string_view part : {a, b, c}) {
        while (!part.empty() && !ec) {
          const size_t k = std::min(part.size(), kWritePieceBytes);
          Arm(lim_.idle_timeout_ms, Phase::kWrite);
          co_await asio::async_write(stream_, asio::buffer(part.data(), k),
                                     asio::redirect_error(asio::use_awaitable, ec));
          Disarm();
          part.remove_prefix(k);
        }
      }
    }
    if (ec) {
      co_return Failed(Status::IOError(timed_out_ == Phase::kWrite
                                           ? fmt::format("idle_timeout_ms: the peer took no "
                                                         "response bytes for {} ms",
                                                         lim_.idle_timeout_ms)
                                           : "sending the response: " + ec.message()));
    }
    sh_->counters->bytes_out.fetch_add(total, std::memory_order_relaxed);
    co_return Status::OK();
  }

  Status Failed(Status s) {
    failed_ = true;
    if (timed_out_ == Phase::kWrite)
      sh_->counters->idle_timeouts.fetch_add(1, std::memory_order_relaxed);
    return s;
  }

  // ---- Deadlines: one timer, re-armed lazily; only the newest wait acts (timer_gen_).
  void Arm(uint32_t ms, Phase p) {
    phase_ = p;
    timed_out_ = Phase::kNone;
    deadline_ = Clock::now() + std::chrono::milliseconds(ms);
    if (timer_waiting_ && timer_.expiry() <= deadline_) return;  // it fires first, re-checks
    timer_.expires_at(deadline_);
    timer_waiting_ = true;
    const uint64_t gen = ++timer_gen_;
    timer_.async_wait([w = this->weak_from_this(), gen](boost::system::error_code) {
      if (auto self = w.lock()) self->OnTimer(gen);
    });
  }
  void Disarm() {
    phase_ = Phase::kNone;
    deadline_ = Clock::time_point::max();
  }
  void OnTimer(uint64_t gen) {
    if (gen != timer_gen_) return;  // superseded by a newer wait
    timer_waiting_ = false;
    if (deadline_ == Clock::time_point::max() || phase_ == Phase::kNone) return;
    if (Clock::now() < deadline_) {
      timer_.expires_at(deadline_);
      timer_waiting_ = true;
      const uint64_t g = ++timer_gen_;
      timer_.async_wait([w = this->weak_from_this(), g](boost::system::error_code) {
        if (auto self = w.lock()) self->OnTimer(g);
      });
      return;
    }
    timed_out_ = phase_;
    Cancel();
  }
  void Cancel() {
    boost::system::error_code ec;
    Lowest(stream_).cancel(ec);
  }

  awaitable<void> Close() {
    if (closed_) co_return;
    closed_ = true;
    boost::system::error_code ec;
    if constexpr (kIsTls<Stream>) {
      if (!dead_ && !failed_) {
        // close_notify, bounded: a peer that does not answer costs at most a second.
        Arm(1000, Phase::kWrite);
        co_await stream_.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
        Disarm();
      }
    }
    Lowest(stream_).shutdown(tcp::socket::shutdown_both, ec);
    Lowest(stream_).close(ec);
    timer_.cancel();
    ++timer_gen_;
    sh_->Forget(this);
  }

  std::shared_ptr<HttpServer::Shared> sh_;
  const HttpLimits& lim_;
  Stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buf_;
  std::string peer_;
  std::optional<http::request_parser<http::buffer_body>> parser_;

  Phase phase_ = Phase::kNone;
  Phase timed_out_ = Phase::kNone;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timer_waiting_ = false;
  uint64_t timer_gen_ = 0;

  uint64_t body_limit_ = 0;
  std::string body_limit_name_;
  uint64_t body_read_ = 0;
  unsigned body_error_status_ = 0;
  std::string body_error_message_;
  bool expect_continue_ = false;
  bool continue_sent_ = false;
  bool responded_ = false;
  bool close_after_ = false;
  bool failed_ = false;    // a response could not be completed: close
  bool draining_ = false;  // the server is stopping
  bool dead_ = false;      // aborted
  bool closed_ = false;
};

std::string PeerOf(const tcp::socket& s) {
  boost::system::error_code ec;
  tcp::endpoint ep = s.remote_endpoint(ec);
  if (ec) return "?";
  if (ep.address().is_v6()) return fmt::format("[{}]:{}", ep.address().to_string(), ep.port());
  return fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

}  // namespace

// ---- The server -----------------------------------------------------------------------

HttpServer::HttpServer(HttpServerOptions options, LoopGroup* loops, asio::thread_pool* blocking,
                       HttpHandler handler, HttpErrorRenderer errors)
    : options_(std::move(options)), loops_(loops), shared_(std::make_shared<Shared>()) {
  shared_->options = options_;
  shared_->counters = &counters_;
  shared_->blocking = blocking;
  shared_->handler = std::move(handler);
  shared_->errors = std::move(errors);
}

HttpServer::~HttpServer() {
  if (started_) Stop(0);
}

Result<uint16_t> HttpServer::Start() {
  std::string host;
  uint16_t port = 0;
  CAIRN_RETURN_IF_ERROR(ParseListenAddress(options_.listen, &host, &port));
  if (options_.tls_cert_file.empty() != options_.tls_key_file.empty())
    return Status::InvalidArgument("TLS needs both a certificate file and a key file");
  if (!options_.tls_cert_file.empty()) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                     ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    ctx->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (ec)
      return Status::InvalidArgument("TLS certificate " + options_.tls_cert_file + ": " +
                                     ec.message());
    ctx->use_private_key_file(options_.tls_key_file, ssl::context::pem, ec);
    if (ec)
      return Status::InvalidArgument("TLS key " + options_.tls_key_file + ": " + ec.message());
    shared_->tls = std::move(ctx);
  }
  boost::system::error_code ec;
  asio::ip::address addr = asio::ip::make_address(host, ec);
  if (ec) {
    tcp::resolver res(loops_->loop(0));
    auto it = res.resolve(host, std::to_string(port), ec);
    if (ec || it.empty())
      return Status::InvalidArgument("listen: cannot resolve '" + host + "': " + ec.message());
    addr = it.begin()->endpoint().address();
  }
  tcp::endpoint ep(addr, port);
  acceptor_ = std::make_unique<tcp::acceptor>(loops_->loop(0));
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IOError("listen on " + options_.listen + ": " + ec.message());
  port_ = acceptor_->local_endpoint(ec).port();
  started_ = true;
  accept_done_ = std::promise<void>();
  asio::co_spawn(loops_->loop(0), AcceptLoop(),
                 [this](std::exception_ptr) { accept_done_.set_value(); });
  return port_;
}

awaitable<void> HttpServer::AcceptLoop() {
  std::shared_ptr<Shared> sh = shared_;
  for (;;) {
    boost::system::error_code ec;
    asio::io_context& loop = loops_->Next();
    tcp::socket sock = co_await acceptor_->async_accept(
        loop, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
      // EMFILE and friends: back off briefly, keep serving the connections we have.
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(std::chrono::milliseconds(50));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    counters_.connections_total.fetch_add(1, std::memory_order_relaxed);
    bool refuse = false;
    {
      std::lock_guard<std::mutex> l(sh->mu);
      refuse = sh->stopping || counters_.connections.load(std::memory_order_relaxed) >=
                                   options_.limits.max_connections;
      if (!refuse) counters_.connections.fetch_add(1, std::memory_order_relaxed);
    }
    if (refuse) {
      counters_.connections_refused.fetch_add(1, std::memory_order_relaxed);
      if (!sh->tls) {
        // One non-blocking send of a small 503, then close: a full socket buffer just drops it.
        HttpResponse r = sh->errors(
            503, fmt::format("max_connections: {} connections are open; try again later",
                             options_.limits.max_connections));
        std::string out = fmt::format(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\nConnection: close\r\n",
            r.body.size());
        for (const auto& f : r.headers) {
          auto n = f.name_string();
          auto v = f.value();
          AppendClean(&out, {n.data(), n.size()});
          out += ": ";
          AppendClean(&out, {v.data(), v.size()});
          out += "\r\n";
        }
        out += "\r\n" + r.body;
        (void)::send(sock.native_handle(), out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      }
      sock.shutdown(tcp::socket::shutdown_both, ec);
      sock.close(ec);
      continue;
    }
    std::string peer = PeerOf(sock);
    std::shared_ptr<ConnBase> base;
    if (sh->tls) {
      auto c = std::make_shared<Conn<ssl::stream<tcp::socket>>>(
          sh, ssl::stream<tcp::socket>(std::move(sock), *sh->tls), std::move(peer));
      base = c;
      {
        std::lock_guard<std::mutex> l(sh->mu);
        sh->conns.emplace(c.get(), c);
      }
      c->Start();
    } else {
      auto c = std::make_shared<Conn<tcp::socket>>(sh, std::move(sock), std::move(peer));
      base = c;
      {
        std::lock_guard<std::mutex> l(sh->mu);
        sh->conns.emplace(c.get(), c);
      }
      c->Start();
    }
  }
}

void HttpServer::Stop(uint32_t deadline_ms) {
  if (!started_) return;
  started_ = false;
  {
    std::lock_guard<std::mutex> l(shared_->mu);
    shared_->stopping = true;
  }
  // The acceptor is closed on its own loop (it is not thread-safe).
  std::promise<void> done;
  asio::post(loops_->loop(0), [&] {
    boost::system::error_code ec;
    acceptor_->close(ec);
    done.set_value();
  });
  done.get_future().wait();
  accept_done_.get_future().wait();  // the accept loop no longer touches this object
  auto each = [&](auto fn) {
    std::vector<std::shared_ptr<ConnBase>> live;
    {
      std::lock_guard<std::mutex> l(shared_->mu);
      for (auto& [p, w] : shared_->conns)
        if (auto s = w.lock()) live.push_back(std::move(s));
    }
    for (auto& c : live) fn(*c);
  };
  each([](ConnBase& c) { c.Drain(); });
  std::unique_lock<std::mutex> l(shared_->mu);
  if (!shared_->cv.wait_for(l, std::chrono::milliseconds(deadline_ms),
                            [&] { return shared_->conns.empty(); })) {
    l.unlock();
    each([](ConnBase& c) { c.Abort(); });
    l.lock();
    shared_->cv.wait(l, [&] { return shared_->conns.empty(); });
  }
}

}  // namespace cairn::net
