// RunLoad: a load generator for cairnd (issue 4, item 9), part of the client library so that
// `cairn bench` (and any other program) measures a server through a public interface.
//
// One event loop on the calling thread drives `connections` pipelined connections with
// `inflight` requests each, with no client-side copies of reply bodies, so one core can drive
// well over 100k GET/s of 10 KiB. Every value is derived from its key and a version number (a
// 32-byte header naming both, then bytes of a random pool at an offset derived from them), so
// every GET is checked: body_crc end to end, then the length, the key, a version no older than
// the last acknowledged PUT when the GET was sent, and every byte. Failures are counted as
// errors, apart from the measurements; NotFound is an error unless the mix deletes (or the
// keys were not preloaded). Connections authenticate with ClientOptions::key.
//
// Closed loop by default; open loop at a fixed rate with `rate` (a load below what the server
// can do, whose latency can then be compared across conditions: a closed loop that saturates
// the server measures its queue).
//
// Always bounded: by duration_s and/or count (at least one must be set), and every request by
// timeout_ms; the run ends at the first bound reached, or when `stop` says so.
//
// Thread safety: runs on the calling thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cairn/client.h"
#include "cairn/options.h"
#include "cairn/status.h"

namespace cairn {

struct LoadOptions {
  int connections = 16;
  int inflight = 8;  // per connection
  uint64_t value_bytes = 10 << 10;
  // Relative weights of the operations; at least one above 0.
  uint32_t get_weight = 100;
  uint32_t put_weight = 0;
  uint32_t delete_weight = 0;
  uint64_t keys = 1000;
  bool zipf = false;  // else uniform
  double zipf_theta = 0.99;
  double duration_s = 0;  // 0: not bounded by time
  // Requests per second offered, an open loop (1..10,000,000; 0: a closed loop, where each of
  // the connections x inflight slots sends its next request when its last is answered). Request
  // n is due at n / rate seconds and goes on the next connection with a free slot; with none
  // free it waits for one. Its latency counts from when it was due, so a server that falls
  // behind shows in the percentiles instead of slowing the load (no coordinated omission).
  double rate = 0;
  // Requests answered (as expected) slower than this many microseconds are listed in the
  // report, the first kMaxSlowListed of them (0: none listed): to tell a stall of the whole
  // server (slow requests bunched in time) from a spread tail.
  uint64_t slow_us = 0;
  uint64_t count = 0;     // 0: not bounded by count
  bool preload = true;    // write every key once before measuring (when the mix reads)
  std::string key_prefix = "bench/";
  uint32_t timeout_ms = 10000;
  std::optional<Durability> durability;  // of each PUT and DELETE; unset: the server's default
  // Polled between requests: true ends the run early (e.g. a signal arrived).
  std::function<bool()> stop;
};

struct LoadLatency {  // microseconds
  double p50 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;
};

struct LoadOpReport {
  uint64_t ok = 0;  // answered as expected (NotFound included where expected)
  uint64_t errors = 0;
  uint64_t not_found = 0;
  uint64_t bytes = 0;
  LoadLatency latency;
};

struct SlowRequest {
  double at_s = 0;         // when it was due (open loop) or sent, from the measured part's start
  double latency_us = 0;
  const char* op = "";     // "get", "put" or "delete"
  std::string key;
};
inline constexpr size_t kMaxSlowListed = 100000;

struct LoadReport {
  double seconds = 0;
  uint64_t ops = 0;  // ok + not_found of every operation
  uint64_t bytes = 0;
  uint64_t not_found = 0;
  uint64_t errors = 0;      // includes requests with no reply when the run ended
  std::string first_error;  // empty when errors == 0
  LoadLatency latency;      // of every operation
  LoadOpReport get, put, del;
  std::vector<SlowRequest> slow;  // LoadOptions::slow_us; in the order they were answered
};

// InvalidArgument for options out of range; the error of a setup or preload that failed.
// Errors during the measured run are counted in the report, not returned.
Result<LoadReport> RunLoad(const ClientOptions& server, const LoadOptions& options);

}  // namespace cairn
