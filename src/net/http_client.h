// HttpClient: a small blocking HTTP/1.1 client for the project's own control traffic (the etcd
// v3 JSON API, a node's ops endpoints): one keep-alive connection, every step bounded by a
// timeout, responses parsed by Boost.Beast's parser. Not for the data path.
//
// Thread safety: one thread at a time per HttpClient. Close() may be called from another
// thread to abort a call blocked in Stream().
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"

namespace cairn::net {

// Not `HttpResponse`: http_server.h has a different struct of that name in this namespace, and
// cairnd links both. Two definitions of one name break the one-definition rule: the linker kept
// one inline move constructor for both, and the -Og ASan build crashed in it.
struct HttpClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string Header(std::string_view name) const;  // case-insensitive; "" if absent
};

class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port, uint32_t timeout_ms);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and reads the whole response (at most max_body bytes of body: a larger
  // one is LimitExceeded naming max_response_bytes). Reconnects once if a kept-alive
  // connection turned out to be closed before anything was sent. Unavailable when the server
  // cannot be reached, DeadlineExceeded when it did not answer in time.
  Result<HttpClientResponse> Request(std::string_view method, std::string_view target,
                               std::string_view body,
                               const std::vector<std::pair<std::string, std::string>>& headers = {},
                               uint64_t max_body = uint64_t{64} << 20);

  // Sends one request and hands the response body to `on_data` as it arrives (a streaming
  // response such as an etcd watch), until the body ends, `on_data` returns false, Close() is
  // called, or nothing arrives for `idle_timeout_ms` (0: wait forever). The connection is not
  // reused afterwards. *status receives the response status.
  Status Stream(std::string_view method, std::string_view target, std::string_view body,
                const std::vector<std::pair<std::string, std::string>>& headers,
                uint32_t idle_timeout_ms, int* status,
                const std::function<bool(std::string_view)>& on_data);

  // Closes the connection (from any thread): a blocked Stream() returns.
  void Close();
  // Closes it for good (from any thread): a Stream() blocked now returns, and so does one that
  // was still connecting, or starts later. Close() alone misses a Stream() between its connect
  // and its first wait: the watch that Membership::Stop cancelled that way then waited forever
  // (Membership.AllocatesAndKeepsANodeId hung, about 1 run in 25 under load).
  void Abort();
  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }

 private:
  Status Connect();
  Status SendAll(std::string_view data);
  std::string Format(std::string_view method, std::string_view target, std::string_view body,
                     const std::vector<std::pair<std::string, std::string>>& headers) const;

  const std::string host_;
  const uint16_t port_;
  const uint32_t timeout_ms_;
  std::atomic<int> fd_{-1};
  std::atomic<bool> aborted_{false};  // Abort
};

}  // namespace cairn::net
