// SetThreadName: names the calling thread, so that top -H, perf and /proc/PID/task/*/comm tell
// the engine's, the server's and the cluster's threads apart (every thread was "cairnd", and a
// profile of a stall could not say which part was burning the CPU). Linux keeps at most 15
// characters; the rest is cut.
#pragma once

#include <string_view>

namespace cairn {

void SetThreadName(std::string_view name);

}  // namespace cairn
