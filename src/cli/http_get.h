// HttpGet: one GET to a cairnd ops listener (its --http-listen), for `cairn status` and
// `cairn top`. Blocking, one connection per call (net::HttpClient): the connect and the
// response are each bounded by the timeout.
//
// Thread safety: a pure function (its own connection per call).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::cli {

// Named bound: the largest response body accepted (a status.json is a few KiB; a node with
// thousands of volumes lists each).
inline constexpr uint64_t kMaxHttpResponseBytes = 16 << 20;

// GETs `target` from `hostport` ("HOST:PORT", or "PORT" for 127.0.0.1). The body of a 200;
// anything else is an error naming the address and what came back.
Result<std::string> HttpGet(std::string_view hostport, std::string_view target, int timeout_ms);

}  // namespace cairn::cli
