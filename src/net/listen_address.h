// ParseListenAddress: "HOST:PORT" as the listeners and their clients take it. In a file of its
// own so that a client (cairn status, over net/) does not link the HTTP server and its TLS
// (issue 11: cairn starts without libssl).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::net {

// Splits "HOST:PORT" ("[::1]:80" for IPv6; a bare "PORT" means 127.0.0.1:PORT, so a listener
// binds to loopback unless told otherwise).
Status ParseListenAddress(std::string_view text, std::string* host, uint16_t* port);

}  // namespace cairn::net
