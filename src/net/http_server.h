// HttpServer: HTTP/1.1 on the project's event loops (Boost.Beast over a net::LoopGroup), for
// the ops listener (/metrics, the status page) and the S3 gateway. docs/design.md, "HTTP
// server", is the tour.
//
// A connection lives on one loop and runs one coroutine: read a request head, hand it to the
// handler, which reads the body (if it wants it) and sends one response, then the next
// request. Pipelined requests are therefore answered in order, each after the previous one's
// response has been sent. The handler runs on the connection's loop: anything that may block
// (the disk, a commit) goes to the blocking pool (net::RunBlocking), so the loop never does.
//
// What a handler gets (HttpExchange):
//   - the request head; the body as a stream it pulls in pieces (ReadBody; bounded memory
//     whatever the body's size) or whole (ReadWholeBody, with a limit); chunked request bodies
//     are decoded; `Expect: 100-continue` is answered with `100 Continue` when the handler first
//     reads the body, so a handler that answers first (say, 403) never receives it;
//   - one response: from memory (Send), from a streaming source with bounded memory
//     (SendStream), or from file extents with sendfile(2) (SendFile; the ObjectStore's pinned
//     extents: the bytes never pass through user space; warmed into the page cache on the
//     blocking pool first, so sendfile does not wait on the disk).
//
// Every limit is named in the error that reports it (HttpLimits). Bad input gets a 4xx with a
// one-line reason, and the connection closes when its framing can no longer be trusted.
//
// TLS (OpenSSL through asio::ssl) when a certificate and key are configured; off by default.
// With TLS, file bodies are read on the blocking pool in bounded pieces and encrypted (no
// sendfile).
//
// Thread safety: Start and Stop from one thread that is not a loop thread; counters() from
// any. A handler runs on its connection's loop thread; the HttpExchange is valid until the
// handler's coroutine returns, on that thread only.
// Ownership: the HttpServer borrows the LoopGroup and the blocking pool; both must outlive it.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/verb.hpp>

#include "cairn/object_store.h"
#include "cairn/status.h"
#include "net/asio.h"
#include "net/listen_address.h"
#include "net/loop_group.h"

namespace cairn::net {

namespace http = boost::beast::http;

struct HttpLimits {
  // More connections are answered `503` ("max_connections: ...") and closed at once.
  uint32_t max_connections = 4096;
  // Request line plus header fields; over it: `431`, closed.
  uint32_t max_header_bytes = 32 << 10;
  // A request body (after chunked decoding); over it: `413`, closed. A handler may lower it per
  // request (HttpExchange::SetBodyLimit). 5 GiB: S3's largest single PUT.
  uint64_t max_body_bytes = uint64_t{5} << 30;
  // Slow-loris: a request head must arrive in this long from its first byte (and the first
  // request of a connection from the accept, and a TLS handshake likewise); else `408`, closed.
  uint32_t header_timeout_ms = 10000;
  // Waiting for the peer with nothing in progress (between requests), and any single wait for
  // body bytes to arrive or for the peer to take response bytes. Between requests the
  // connection is closed quietly; mid-body the request gets `408`.
  uint32_t idle_timeout_ms = 60000;
};

struct HttpServerOptions {
  std::string listen = "127.0.0.1:0";  // HOST:PORT; port 0 picks one
  HttpLimits limits;
  // PEM files. Both set: every connection is TLS. Both empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string server_header = "cairn";
};

// A response whose body is in memory. Header values must not contain CR or LF (they are
// replaced by spaces). Content-Length is set by the server (for HEAD too: the body is then
// not sent).
struct HttpResponse {
  unsigned status = 200;
  http::fields headers;
  std::string body;
};

// Bytes of files sent with sendfile(2): [offset, offset + length) of the concatenation of
// `extents` (a PinnedObject's ValueExtents, in value order). `keep_alive` holds whatever keeps
// the fds open and the extents in place (the PinnedObject) until the bytes are sent.
struct HttpFileBody {
  std::vector<ValueExtent> extents;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::shared_ptr<void> keep_alive;
  // From a pin: the whole value, or a range of it.
  static HttpFileBody FromPin(std::unique_ptr<PinnedObject> pin, uint64_t offset,
                              uint64_t length);
};

// A response body produced piece by piece (an object read from another node, a listing
// rendered as it is scanned). Read runs on the connection's loop and must not block.
class HttpBodySource {
 public:
  virtual ~HttpBodySource() = default;
  // Fills up to `cap` bytes of `buf`; returns how many, 0 at the end.
  virtual asio::awaitable<Result<size_t>> Read(char* buf, size_t cap) = 0;
};

// One request and its response, as the handler sees it.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;

  // ---- The request head.
  virtual http::verb method() const = 0;
  virtual std::string_view method_string() const = 0;
  virtual std::string_view target() const = 0;  // as sent: path and query, not decoded
  virtual unsigned version() const = 0;         // 11 or 10
  virtual const http::fields& headers() const = 0;
  // The declared body length; nullopt for a chunked body (length unknown until its end).
  virtual std::optional<uint64_t> content_length() const = 0;
  virtual bool chunked() const = 0;
  // True if a body follows the head (a non-zero Content-Length, or chunked).
  virtual bool has_body() const = 0;
  virtual bool expects_continue() const = 0;
  virtual bool is_tls() const = 0;
  virtual std::string_view peer() const = 0;  // "127.0.0.1:53211"

  // ---- The request body.
  // Lowers max_body_bytes for this request (`name` is the limit named in the 413, e.g.
  // "max_object_bytes"). REQUIRES: before the first ReadBody.
  virtual void SetBodyLimit(uint64_t limit, std::string_view name) = 0;
  // Reads up to `cap` body bytes into `buf`: how many, 0 at the end of the body. Sends
  // `100 Continue` first if the client asked for it. An error (the body broke a limit, its
  // chunk framing is bad, it ended early, it stopped arriving) is returned as a Status whose
  // message names the problem (LimitExceeded for a limit, DeadlineExceeded for the idle timeout,
  // InvalidArgument otherwise); the connection then answers with the matching 4xx if the
  // handler sends nothing, and closes after the response.
  virtual asio::awaitable<Result<size_t>> ReadBody(char* buf, size_t cap) = 0;
  // The whole body, refused with 413 "<limit_name>: ..." when it is over `limit` bytes.
  virtual asio::awaitable<Result<std::string>> ReadWholeBody(uint64_t limit,
                                                             std::string_view limit_name) = 0;

  // ---- The response (one per request; a second is a bug and is refused).
  // Sends `100 Continue` now (else the first ReadBody does). Nothing if not expected.
  virtual asio::awaitable<Status> SendContinue() = 0;
  virtual asio::awaitable<Status> Send(HttpResponse r) = 0;
  // Content-Length `length`, or chunked transfer coding when nullopt (close-delimited for an
  // HTTP/1.0 client). Memory: one piece of kStreamPieceBytes.
  virtual asio::awaitable<Status> SendStream(unsigned status, http::fields headers,
                                             HttpBodySource* src,
                                             std::optional<uint64_t> length) = 0;
  virtual asio::awaitable<Status> SendFile(unsigned status, http::fields headers,
                                           HttpFileBody body) = 0;
  // True once a final response has started.
  virtual bool responded() const = 0;
  // Ask for the connection to close after this response (adds `Connection: close`).
  virtual void CloseAfterResponse() = 0;

  // ---- Where it runs.
  virtual asio::any_io_executor executor() const = 0;  // the connection's loop
  virtual asio::thread_pool& blocking_pool() = 0;
};

using HttpHandler = std::function<asio::awaitable<void>(HttpExchange&)>;

// Renders an error the server itself answers (a limit, bad framing, a timeout) or a handler
// asks for with ErrorResponse. The default is text/plain "<status> <reason>: <message>\n"; the
// S3 gateway renders its XML instead.
using HttpErrorRenderer = std::function<HttpResponse(unsigned status, std::string_view message)>;
HttpResponse PlainErrorResponse(unsigned status, std::string_view message);

// Counters of one HttpServer. Relaxed atomics: statistics, not control.
struct HttpServerCounters {
  std::atomic<uint64_t> connections{0};          // open now
  std::atomic<uint64_t> connections_total{0};    // accepted, ever
  std::atomic<uint64_t> connections_refused{0};  // over max_connections
  std::atomic<uint64_t> requests{0};             // request heads read
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> header_timeouts{0};
  std::atomic<uint64_t> idle_timeouts{0};
  std::atomic<uint64_t> bad_requests{0};  // refused by the server itself (4xx/5xx it answered)
  std::array<std::atomic<uint64_t>, 6> responses_by_class{};  // index = status / 100
};

// Named bounds of a connection (besides HttpLimits).
inline constexpr size_t kFirstReadBytes = 512;          // buffer while waiting for a request
inline constexpr size_t kBodyReadBytes = 64 << 10;      // buffer while a body is read
inline constexpr size_t kStreamPieceBytes = 64 << 10;   // SendStream and TLS file pieces
inline constexpr uint64_t kSendFileSliceBytes = 1 << 20;  // per sendfile wait (idle timeout)
inline constexpr uint64_t kWarmWindowBytes = 8 << 20;    // warmed on the pool ahead of sends
// An unread request body up to this size is read and dropped so the connection stays open;
// a larger one closes the connection after the response.
inline constexpr uint64_t kMaxDrainBytes = 64 << 10;

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, LoopGroup* loops, asio::thread_pool* blocking,
             HttpHandler handler, HttpErrorRenderer errors = PlainErrorResponse);
  // Stops the server if Stop was not called (the loops must still be running then).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Loads the TLS files (if any), binds and starts accepting on loop 0. Returns the bound
  // port. The LoopGroup may be started before or after.
  Result<uint16_t> Start();
  // Stops accepting, lets each connection finish the response it is sending (up to
  // `deadline_ms`), then closes the rest. Returns when every connection is gone. REQUIRES: the
  // loops are running, and this thread is not one of them.
  void Stop(uint32_t deadline_ms = 5000);

  const HttpServerOptions& options() const { return options_; }
  HttpServerCounters& counters() { return counters_; }
  uint16_t port() const { return port_; }

  // For the connections.
  struct Shared;

 private:
  asio::awaitable<void> AcceptLoop();

  HttpServerOptions options_;
  LoopGroup* loops_;
  std::shared_ptr<Shared> shared_;
  HttpServerCounters counters_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::promise<void> accept_done_;  // set when AcceptLoop has returned
  uint16_t port_ = 0;
  bool started_ = false;
};

}  // namespace cairn::net
