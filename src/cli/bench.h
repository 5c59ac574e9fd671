// cairn bench: a load generator for cairnd (issue 4, item 9). The load itself is the client
// library's (cairn/load_generator.h: pipelined connections, every value checked); this command
// parses the flags and prints what it measured.
//
// Always bounded: by --duration (default 10 s when neither it nor --count is given) and/or
// --count, and every request by --timeout-ms; the run ends at the first bound reached.
//
// Thread safety: runs on the calling thread only.
#pragma once

#include <cstdint>
#include <string>

#include "cli/context.h"
#include "cli/outcome.h"

namespace cairn::cli {

struct BenchArgs {
  int connections = 16;
  int inflight = 8;                // per connection
  std::string size = "10K";        // value bytes (K, M, G suffixes)
  std::string mix = "get=100";     // e.g. get=90,put=10,delete=0
  uint64_t keys = 1000;
  std::string dist = "uniform";    // or zipf
  double zipf_theta = 0.99;
  double duration_s = 0;           // 0: not bounded by time (then --count must be set)
  uint64_t count = 0;              // 0: not bounded by count
  double rate = 0;                 // requests/s offered, an open loop; 0: a closed loop
  double slow_ms = 0;              // list requests slower than this (0: none)
  bool no_preload = false;         // skip writing every key once before measuring
  std::string key_prefix = "bench/";
  uint32_t timeout_ms = 10000;
  // --s3 http://HOST:PORT: load an S3 endpoint instead (cli/s3_load.h), with the access key of
  // --s3-key-file (one line ACCESS_KEY:SECRET; default ~/.config/cairn/s3key, which scripts/run
  // creates) or $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY, in bucket --s3-bucket.
  std::string s3;
  std::string s3_key_file;
  std::string s3_bucket = "bench";
};

// REQUIRES: ctx.server or args.s3 is set (usage error otherwise).
Outcome RunBench(const Context& ctx, const BenchArgs& args);

}  // namespace cairn::cli
