#include "net/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/beast/http.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <strings.h>

namespace cairn::net {
namespace http = boost::beast::http;

namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Waits until fd is readable (or writable); false on timeout. timeout_ms < 0: forever.
bool WaitFd(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

}  // namespace

std::string HttpClientResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  return "";
}

HttpClient::HttpClient(std::string host, uint16_t port, uint32_t timeout_ms)
    : host_(std::move(host)), port_(port), timeout_ms_(timeout_ms) {}

HttpClient::~HttpClient() { Close(); }

void HttpClient::Close() {
  int fd = fd_.exchange(-1);
  if (fd >= 0) {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }
}

void HttpClient::Abort() {
  aborted_ = true;  // before Close: Connect stores its fd, then looks at aborted_
  Close();
}

Status HttpClient::Connect() {
  Close();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(port_);
  if (int e = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &res); e != 0)
    return Status::Unavailable("cannot resolve " + host_ + ": " + gai_strerror(e));
  Status last = Status::Unavailable("no address for " + host_);
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int r = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (r < 0 && errno == EINPROGRESS) {
      if (!WaitFd(fd, POLLOUT, static_cast<int>(timeout_ms_))) {
        ::close(fd);
        last = Status::Unavailable("connect to " + host_ + ":" + port + " timed out");
        continue;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      r = err == 0 ? 0 : -1;
      errno = err;
    }
    if (r < 0) {
      last = Status::Unavailable("connect to " + host_ + ":" + port + ": " + std::strerror(errno));
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fd_ = fd;
    last = Status::OK();
    break;
  }
  ::freeaddrinfo(res);
  if (last.ok() && aborted_) {
    Close();
    return Status::Unavailable("the connection to " + host_ + " was closed for good");
  }
  return last;
}

Status HttpClient::SendAll(std::string_view data) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
  while (!data.empty()) {
    int fd = fd_.load();
    if (fd < 0) return Status::Unavailable("connection closed");
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitFd(fd, POLLOUT, RemainingMs(deadline)))
        return Status::DeadlineExceeded("sending to " + host_ + " timed out");
      continue;
    }
    return Status::Unavailable(std::string("send to ") + host_ + ": " + std::strerror(errno));
  }
  return Status::OK();
}

std::string HttpClient::Format(std::string_view method, std::string_view target,
                               std::string_view body,
                               const std::vector<std::pair<std::string, std::string>>& headers) const {
  std::string r;
  r.reserve(256 + body.size());
  r.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
  r.append(host_).append(":").append(std::to_string(port_)).append("\r\n");
  for (const auto& [k, v] : headers) r.append(k).append(": ").append(v).append("\r\n");
  r.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  r.append(body);
  return r;
}

Result<HttpClientResponse> HttpClient::Request(std::string_view method, std::string_view target,
                                         std::string_view body,
                                         const std::vector<std::pair<std::string, std::string>>& headers,
                                         uint64_t max_body) {
  const std::string req = Format(method, target, body, headers);
  for (int attempt = 0; attempt < 2; attempt++) {
    const bool reused = fd_.load() >= 0;
    if (!reused) CAIRN_RETURN_IF_ERROR(Connect());
    Status s = SendAll(req);
    if (!s.ok()) {
      Close();
      if (reused) continue;
      return s;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_body);
    parser.header_limit(64 << 10);
    parser.eager(true);  // header and body from one buffer in one put()
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
    std::string buf;
    size_t have = 0;
    bool got_any = false;
    while (!parser.is_done()) {
      int fd = fd_.load();
      if (fd < 0) return Status::Unavailable("connection closed");
      if (buf.size() - have < 16384) buf.resize(have + 65536);
      ssize_t n = ::recv(fd, buf.data() + have, buf.size() - have, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!WaitFd(fd, POLLIN, RemainingMs(deadline))) {
          Close();
          return Status::DeadlineExceeded("no response from " + host_ + ":" +
                                          std::to_string(port_) + " within " +
                                          std::to_string(timeout_ms_) + " ms");
        }
        continue;
      }
      if (n <= 0) {
        Close();
        if (!got_any && reused) break;  // a kept-alive connection the server had closed
        return Status::Unavailable("connection to " + host_ + " closed mid-response");
      }
      got_any = true;
      have += static_cast<size_t>(n);
      boost::system::error_code ec;
      size_t used = parser.put(boost::asio::buffer(buf.data(), have), ec);
      if (ec == http::error::need_more) ec = {};
      if (ec) {
        Close();
        if (ec == http::error::body_limit)
          return Status::LimitExceeded("max_response_bytes: response body over " +
                                       std::to_string(max_body) + " bytes");
        return Status::Corruption("malformed HTTP response from " + host_ + ": " + ec.message());
      }
      std::memmove(buf.data(), buf.data() + used, have - used);
      have -= used;
    }
    if (!parser.is_done()) continue;  // retry on a fresh connection
    auto& msg = parser.get();
    HttpClientResponse out;
    out.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(msg.body());
    if (!msg.keep_alive()) Close();
    return out;
  }
  return Status::Unavailable("connection to " + host_ + " closed before the response");
}

Status HttpClient::Stream(std::string_view method, std::string_view target, std::string_view body,
                          const std::vector<std::pair<std::string, std::string>>& headers,
                          uint32_t idle_timeout_ms, int* status,
                          const std::function<bool(std::string_view)>& on_data) {
  if (Status c = Connect(); !c.ok()) return aborted_ ? Status::OK() : c;
  CAIRN_RETURN_IF_ERROR(SendAll(Format(method, target, body, headers)));
  http::response_parser<http::empty_body> parser;
  parser.header_limit(64 << 10);
  parser.body_limit(boost::none);
  parser.eager(true);
  bool stop = false;
  auto deliver = [&](std::string_view piece) {
    if (!stop && !piece.empty() && !on_data(piece)) stop = true;
  };
  auto on_chunk = [&](std::uint64_t, boost::beast::string_view data,
                      boost::system::error_code&) -> std::size_t {
    deliver(std::string_view(data.data(), data.size()));
    return data.size();
  };
  parser.on_chunk_body(on_chunk);  // Beast keeps a reference: on_chunk outlives the parse
  std::string buf(65536, '\0');
  size_t have = 0;
  bool header_seen = false;
  while (!parser.is_done() && !stop) {
    int fd = fd_.load();
    if (fd < 0) return Status::OK();  // closed by Close()
    if (!WaitFd(fd, POLLIN, idle_timeout_ms == 0 ? -1 : static_cast<int>(idle_timeout_ms))) {
      Close();
      return Status::DeadlineExceeded("stream from " + host_ + " idle for " +
                                      std::to_string(idle_timeout_ms) + " ms");
    }
    if (buf.size() - have < 16384) buf.resize(have + 65536);
    ssize_t n = ::recv(fd, buf.data() + have, buf.size() - have, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) {
      Close();
      return fd_.load() < 0 && n == 0 ? Status::Unavailable("stream from " + host_ + " ended")
                                       : Status::Unavailable("stream from " + host_ + " failed");
    }
    have += static_cast<size_t>(n);
    size_t off = 0;
    while (off < have && !parser.is_done()) {
      boost::system::error_code ec;
      size_t used = parser.put(boost::asio::buffer(buf.data() + off, have - off), ec);
      if (ec == http::error::need_more) {
        off += used;
        break;
      }
      if (ec) {
        Close();
        return Status::Corruption("malformed HTTP stream from " + host_ + ": " + ec.message());
      }
      off += used;
      if (!header_seen && parser.is_header_done()) {
        header_seen = true;
        *status = static_cast<int>(parser.get().result_int());
        if (!parser.chunked()) {
          // A non-streaming answer (an error): hand its body over as one piece.
          std::string rest(buf.data() + off, have - off);
          deliver(rest);
          Close();
          return Status::OK();
        }
      }
      if (used == 0) break;
    }
    std::memmove(buf.data(), buf.data() + off, have - off);
    have -= off;
  }
  Close();
  return Status::OK();
}

}  // namespace cairn::net
