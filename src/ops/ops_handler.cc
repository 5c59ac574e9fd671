#include "ops/ops_handler.h"

#include <memory>

#include "net/blocking.h"

namespace cairn::ops {

namespace http = net::http;
using net::asio::awaitable;

namespace {

awaitable<void> Serve(const OpsEndpoints& e, net::HttpExchange& ex) {
  const http::verb m = ex.method();
  std::string_view path = ex.target();
  path = path.substr(0, path.find('?'));
  net::HttpResponse r;
  r.headers.set(http::field::cache_control, "no-store");
  if (m != http::verb::get && m != http::verb::head) {
    r = net::PlainErrorResponse(
        405, std::string(ex.method_string()) +
                 " is not allowed: the ops listener serves GET and HEAD only (it accepts no "
                 "writes)");
    r.headers.set(http::field::allow, "GET, HEAD");
    co_await ex.Send(std::move(r));
    co_return;
  }
  if (path == "/metrics") {
    r.headers.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    r.body = co_await net::RunBlocking(ex.blocking_pool(), [&] { return e.metrics(); });
  } else if (path == "/healthz") {
    r.headers.set(http::field::content_type, "text/plain; charset=utf-8");
    r.body = "ok\n";
  } else if (path == "/readyz") {
    Readiness rd = co_await net::RunBlocking(ex.blocking_pool(), [&] { return e.readiness(); });
    r.headers.set(http::field::content_type, "text/plain; charset=utf-8");
    if (rd.ready) {
      r.body = "ready\n";
    } else {
      r.status = 503;
      r.body = "not ready: " + rd.reason + "\n";
    }
  } else if (!e.status_json && (path == "/status.json" || path == "/" || path == "/index.html")) {
    // A process with no status page (cairn-s3): its metrics and health only.
    r = net::PlainErrorResponse(404, "this process has no status page; try /metrics, /healthz or /readyz");
  } else if (path == "/status.json") {
    r.headers.set(http::field::content_type, "application/json");
    r.body = co_await net::RunBlocking(ex.blocking_pool(), [&] { return e.status_json(); });
  } else if (path == "/" || path == "/index.html") {
    r.headers.set(http::field::content_type, "text/html; charset=utf-8");
    r.body = std::string(StatusPageHtml());
  } else {
    r = net::PlainErrorResponse(
        404, "no such page; try /, /metrics, /healthz, /readyz or /status.json");
  }
  co_await ex.Send(std::move(r));
}

}  // namespace

net::HttpHandler MakeOpsHandler(OpsEndpoints endpoints) {
  auto e = std::make_shared<const OpsEndpoints>(std::move(endpoints));
  return [e](net::HttpExchange& ex) -> awaitable<void> { return Serve(*e, ex); };
}

}  // namespace cairn::ops
