#include "cli/http_get.h"

#include <fmt/format.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>

#include "util/escape.h"
#include "net/asio.h"
#include "net/listen_address.h"

namespace cairn::cli {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = net::asio;

Result<std::string> HttpGet(std::string_view hostport, std::string_view target, int timeout_ms) {
  std::string host;
  uint16_t port = 0;
  Status s = net::ParseListenAddress(hostport, &host, &port);
  if (!s.ok()) return Status::InvalidArgument("--http: " + s.message());
  const std::string where = fmt::format("http://{}:{}{}", host, port, target);
  asio::io_context io(1);
  beast::tcp_stream stream(io);
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxHttpResponseBytes);
  beast::flat_buffer buf;
  boost::system::error_code result = asio::error::timed_out;
  bool done = false;
  const auto deadline = std::chrono::milliseconds(timeout_ms);
  stream.expires_after(deadline);
  asio::ip::tcp::resolver resolver(io);
  http::request<http::empty_body> req{http::verb::get, std::string(target), 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "cairn");
  req.set(http::field::connection, "close");
  resolver.async_resolve(host, std::to_string(port), [&](auto ec, auto results) {
    if (ec) {
      result = ec;
      done = true;
      return;
    }
    stream.async_connect(results, [&](auto ec2, auto) {
      if (ec2) {
        result = ec2;
        done = true;
        return;
      }
      http::async_write(stream, req, [&](auto ec3, size_t) {
        if (ec3) {
          result = ec3;
          done = true;
          return;
        }
        http::async_read(stream, buf, parser, [&](auto ec4, size_t) {
          result = ec4;
          done = true;
        });
      });
    });
  });
  io.run_for(deadline + std::chrono::milliseconds(100));
  if (!done) return Status::IOError(fmt::format("{}: no answer within {} ms", where, timeout_ms));
  if (result == beast::error::timeout)
    return Status::IOError(fmt::format("{}: no answer within {} ms", where, timeout_ms));
  if (result) return Status::IOError(fmt::format("{}: {}", where, result.message()));
  auto& res = parser.get();
  if (res.result_int() != 200) {
    std::string body = res.body().substr(0, 300);
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    return Status::IOError(fmt::format("{}: HTTP {}: {}", where, res.result_int(), OneLine(body)));
  }
  return std::move(res.body());
}

}  // namespace cairn::cli
