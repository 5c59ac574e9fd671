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
  bool no_preload = false;         // skip writing every key once before measuring
  std::string key_prefix = "bench/";
  uint32_t timeout_ms = 10000;
};

// REQUIRES: ctx.server is set (usage error otherwise).
Outcome RunBench(const Context& ctx, const BenchArgs& args);

}  // namespace cairn::cli
