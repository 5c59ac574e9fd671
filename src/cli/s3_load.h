// RunS3Load: `cairn bench --s3 ENDPOINT`, the load generator for an S3 endpoint (issue 13,
// item 9): the same options, mix, key distributions and checks as RunLoad (cairn/
// load_generator.h), over HTTP/1.1 keep-alive connections with `inflight` pipelined requests
// each, every request signed with SigV4 (the payload's real SHA-256 on PUT, as awscli sends
// over HTTP). Every GET is checked: status, length, the key and a version no older than the last
// acknowledged PUT when the GET was sent, and every byte (values are derived from their key and
// version, as RunLoad's are).
//
// Always bounded: by duration_s and/or count, and every request by timeout_ms.
//
// Thread safety: runs on the calling thread only.
#pragma once

#include <cstdint>
#include <string>

#include "cairn/load_generator.h"
#include "gateway/sigv4.h"

namespace cairn::cli {

struct S3Target {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string bucket = "bench";  // created when missing
  gateway::SignerKey key;
};

// Parses "http://HOST:PORT" (or "HOST:PORT"); https is not supported by the generator.
Status ParseS3Endpoint(std::string_view text, S3Target* out);

Result<LoadReport> RunS3Load(const S3Target& target, const LoadOptions& options);

}  // namespace cairn::cli
