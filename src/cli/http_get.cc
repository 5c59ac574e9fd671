#include "cli/http_get.h"

#include <fmt/format.h>

#include <utility>

#include "net/http_client.h"
#include "net/listen_address.h"
#include "util/escape.h"

namespace cairn::cli {

// On net::HttpClient (blocking sockets and Beast's response parser, compiled once in cairn_net)
// rather than on Beast's asynchronous tcp_stream, resolver, write and read: those templates,
// instantiated here for one GET, made this the heaviest file of the CLI (22.7 s of compile CPU
// at -O2, 35.5 s under ASan+UBSan -Og; now about 2 s), in every build CI makes of it.
Result<std::string> HttpGet(std::string_view hostport, std::string_view target, int timeout_ms) {
  std::string host;
  uint16_t port = 0;
  Status s = net::ParseListenAddress(hostport, &host, &port);
  if (!s.ok()) return Status::InvalidArgument("--http: " + s.message());
  const std::string where = fmt::format("http://{}:{}{}", host, port, target);
  net::HttpClient client(host, port, static_cast<uint32_t>(timeout_ms < 0 ? 0 : timeout_ms));
  Result<net::HttpClientResponse> r =
      client.Request("GET", target, "", {{"User-Agent", "cairn"}, {"Connection", "close"}},
                     kMaxHttpResponseBytes);
  if (!r.ok()) {
    if (r.status().IsDeadlineExceeded())
      return Status::IOError(fmt::format("{}: no answer within {} ms", where, timeout_ms));
    return Status::IOError(fmt::format("{}: {}", where, r.status().message()));
  }
  if (r->status != 200) {
    std::string body = r->body.substr(0, 300);
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    return Status::IOError(fmt::format("{}: HTTP {}: {}", where, r->status, OneLine(body)));
  }
  return std::move(r->body);
}

}  // namespace cairn::cli
