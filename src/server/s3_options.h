// The S3 gateway's options from the server configuration (config keys s3_*, [s3_keys], and the
// limits they share with the binary protocol): one translation for cairnd --s3-listen and for
// the stand-alone cairn-s3.
//
// Thread safety: pure functions.
#pragma once

#include "gateway/s3_gateway.h"
#include "server/config.h"

namespace cairn::server {

gateway::GatewayOptions S3GatewayOptions(const ServerConfig& c);
// `threads` event loops (0: as ServerConfig::threads resolves them), io_threads for the store.
gateway::S3EndpointOptions S3EndpointOptionsFrom(const ServerConfig& c, uint32_t threads);

}  // namespace cairn::server
