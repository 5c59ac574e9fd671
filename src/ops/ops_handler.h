// The ops listener's routes, on net::HttpServer: what a node serves for people and monitoring.
//
//   GET /metrics       Prometheus text exposition (text/plain; version=0.0.4)
//   GET /healthz       200 "ok": the process is alive and its loop answers
//   GET /readyz        200 "ready", or 503 "not ready: <reason>"
//   GET /status.json   the node's state for the status page and `cairn status` / `cairn top`
//   GET /              the status page (HTML and a small script, served from the binary)
//
// GET and HEAD only: any other method is answered 405 with `Allow: GET, HEAD`. The listener
// serves no writes and carries nothing secret, so it does not authenticate (docs/design.md,
// "The ops listener"); it binds to loopback unless told otherwise.
//
// The providers may block (they read a store's statistics): they run on the server's
// blocking pool, never on the loop.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "net/http_server.h"

namespace cairn::ops {

struct Readiness {
  bool ready = true;
  std::string reason;  // why not, when not
};

struct OpsEndpoints {
  std::function<std::string()> metrics;
  std::function<Readiness()> readiness;
  std::function<std::string()> status_json;  // empty: no status page (/ and /status.json 404)
};

net::HttpHandler MakeOpsHandler(OpsEndpoints endpoints);

// The status page: one HTML document with its script and styles inline.
std::string_view StatusPageHtml();

}  // namespace cairn::ops
