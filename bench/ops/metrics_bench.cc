// metrics_bench: nanoseconds per metric event (issue 14: "histograms cheap enough for the hot
// path"). Each case runs a tight loop for --seconds on 1 and on N threads and prints the time
// per event. What cairnd pays per request is the last case: two clock reads (request read,
// reply sent) and one OpMetrics::Observe.
//
//   metrics_bench [--seconds S] [--threads N]
//
// Not a test; run it on a quiet machine (the lead schedules measurement runs).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "ops/metrics.h"
#include "ops/op_metrics.h"

namespace {

using Clock = std::chrono::steady_clock;

// Runs body(i) in a loop on `threads` threads for `seconds`; returns ns per call per thread.
double Measure(int threads, double seconds, const std::function<void(uint64_t)>& body) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> calls{0};
  std::vector<std::thread> ts;
  const auto t0 = Clock::now();
  for (int t = 0; t < threads; t++) {
    ts.emplace_back([&, t] {
      uint64_t n = 0;
      uint64_t i = static_cast<uint64_t>(t) * 7919;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int k = 0; k < 1024; k++) body(i++);  // amortise the stop check
        n += 1024;
      }
      calls.fetch_add(n);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
  return ns * threads / static_cast<double>(calls.load());
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 1.0;
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
  }
  if (threads < 1) threads = 1;
  cairn::ops::Counter counter;
  cairn::ops::Histogram hist;
  cairn::ops::OpMetrics ops;
  std::atomic<uint64_t> shared{0};
  volatile uint64_t sink = 0;
  struct Case {
    const char* name;
    std::function<void(uint64_t)> body;
  };
  std::vector<Case> cases = {
      {"shared atomic add (unsharded, for comparison)",
       [&](uint64_t) { shared.fetch_add(1, std::memory_order_relaxed); }},
      {"Counter::Add", [&](uint64_t) { counter.Add(); }},
      {"Histogram::Observe", [&](uint64_t i) { hist.Observe(1000 + (i * 2654435761u) % 10000000); }},
      {"NowNs (clock_gettime)", [&](uint64_t) { sink = sink + cairn::ops::NowNs(); }},
      {"OpMetrics::Observe, success",
       [&](uint64_t i) { ops.Observe(3, 0, 1000 + (i * 2654435761u) % 10000000); }},
      {"per request: 2 x NowNs + OpMetrics::Observe",
       [&](uint64_t) {
         const uint64_t t0 = cairn::ops::NowNs();
         ops.Observe(3, 0, cairn::ops::NowNs() - t0);
       }},
  };
  std::printf("%-48s %12s %12s\n", "event", "1 thread", (std::to_string(threads) + " threads").c_str());
  for (const Case& c : cases) {
    const double one = Measure(1, seconds, c.body);
    const double many = Measure(threads, seconds, c.body);
    std::printf("%-48s %9.2f ns %9.2f ns\n", c.name, one, many);
  }
  std::printf("(histogram count %llu; per-thread ns: wall time x threads / events)\n",
              static_cast<unsigned long long>(hist.Snapshot().count));
  return 0;
}
