// `cairn status` and `cairn top` formatting, from status documents as the ops listener sends
// them; byte progress lines (verify, reclaim).
#include "cli/node_status.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "cli/progress.h"

namespace cairn::cli {
namespace {

using nlohmann::json;

json Sample(uint64_t gets, uint64_t bytes_out) {
  return json::parse(R"({
    "node": {"version": "0.1.0", "pid": 42, "listen": "127.0.0.1:7700",
             "http_listen": "127.0.0.1:9100", "data": "/srv/cairn", "durability": "sync",
             "uptime_seconds": 3723.4},
    "ready": {"ready": false, "reason": "the store is read-only: fdatasync failed"},
    "disk": {"total_bytes": 107374182400, "free_bytes": 32212254720},
    "store": {"objects": 1234, "logical_bytes": 1073741824, "live_bytes": 1073741824,
              "dead_bytes": 1048576, "reclaimable_bytes": 0, "volumes": 3,
              "volume_capacity": 1073741824, "reclaimed_bytes": 0, "index_memory_bytes": 12582912,
              "read_only": true, "read_only_reason": "fdatasync failed"},
    "server": {"connections": 12, "max_connections": 4096, "inflight": 3,
               "connections_refused": 0, "requests_total": 5000, "bytes_in_total": 1000,
               "bytes_out_total": 0},
    "window_seconds": 10.0,
    "rates": {"requests_per_s": 123.4, "bytes_in_per_s": 2048, "bytes_out_per_s": 1048576},
    "ops": [{"op": "GET", "requests_total": 0, "errors_total": 1, "rate_per_s": 120.0,
             "errors_per_s": 0.1, "p50_ms": 0.12, "p99_ms": 1.5},
            {"op": "PUT", "requests_total": 10, "errors_total": 0, "rate_per_s": 3.4,
             "errors_per_s": 0, "p50_ms": 2.5, "p99_ms": 150}],
    "logs": {"warnings_total": 2, "errors_total": 1,
             "recent": [{"unix_ms": 1, "level": "error", "text": "event=engine message=\"ERROR\""}]}
  })")
      .patch(json::parse("[{\"op\":\"replace\",\"path\":\"/ops/0/requests_total\",\"value\":" +
                         std::to_string(gets) + "},{\"op\":\"replace\",\"path\":\"/server/"
                         "bytes_out_total\",\"value\":" + std::to_string(bytes_out) + "}]"));
}

TEST(NodeStatus, Table) {
  const std::string t = FormatNodeStatus(Sample(100, 0));
  EXPECT_NE(t.find("node 127.0.0.1:7700 (ops 127.0.0.1:9100), cairnd 0.1.0, pid 42, up 1:02:03: "
                   "NOT READY (the store is read-only: fdatasync failed)"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("70.0 GiB used of 100.0 GiB (70%), 30.0 GiB free"), std::string::npos) << t;
  EXPECT_NE(t.find("1234 objects"), std::string::npos);
  EXPECT_NE(t.find("READ-ONLY: fdatasync failed"), std::string::npos);
  EXPECT_NE(t.find("12 of 4096; 3 requests in flight"), std::string::npos);
  EXPECT_NE(t.find("op   req/s      p50      p99  err/s  requests  errors\n"), std::string::npos) << t;
  EXPECT_NE(t.find("GET    120   120 us  1.50 ms   0.10       100       1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("error event=engine"), std::string::npos);
}

TEST(NodeStatus, TopRatesFromTwoFrames) {
  json a = Sample(100, 0), b = Sample(300, 2 << 20);
  const std::string first = FormatTopFrame(a, nullptr, 0);
  EXPECT_NE(first.find("GET    120   0.10   120 us  1.50 ms\n"), std::string::npos) << first;  // the node's window
  EXPECT_NE(first.find("rates over 10.0 s"), std::string::npos) << first;
  const std::string next = FormatTopFrame(b, &a, 2.0);
  EXPECT_NE(next.find("GET    100   0.00   120 us  1.50 ms\n"), std::string::npos) << next;  // 200 requests in 2 s
  EXPECT_NE(next.find("out 1.0 MiB/s"), std::string::npos) << next;
  EXPECT_NE(next.find("all    100\n"), std::string::npos) << next;
}

TEST(ByteProgress, BarOnATerminalPlainOtherwise) {
  EXPECT_EQ(FormatByteProgress("verify", "read", 250 << 20, 1000 << 20, 5.0, 0),
            "verify: 25% 250.0 MiB/1000.0 MiB read, 52.4 MB/s, ETA 0:15");
  EXPECT_EQ(FormatByteProgress("reclaim", "released or copied", 1 << 20, 2 << 20, 1.0, 10),
            "reclaim: [#####-----] 50% 1.0 MiB/2.0 MiB released or copied, 1.0 MB/s, ETA 0:01");
  // More done than the estimate: the total grows with it, never over 100%.
  EXPECT_EQ(FormatByteProgress("verify", "read", 3000, 1000, 0, 4),
            "verify: [####] 100% 2.9 KiB/2.9 KiB read, 0.0 MB/s, ETA ?");
}

// Work that reports nothing itself (verify, reclaim) runs on another thread while this one
// draws the bar from the sampled counters, then clears it.
TEST(ByteProgress, RunWithByteProgressDrawsWhileTheWorkRuns) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ProgressReporter r("verify", f, /*tty=*/true, ProgressReporter::Clock::now());
  int samples = 0;
  int result = RunWithByteProgress(
      &r, "read",
      [&]() -> std::pair<uint64_t, uint64_t> {
        samples++;
        return {50 << 20, 100 << 20};
      },
      [] {
        std::this_thread::sleep_for(std::chrono::milliseconds(700));
        return 42;
      });
  EXPECT_EQ(result, 42);
  EXPECT_GE(samples, 1);
  EXPECT_LE(samples, 5);  // sampled only when a line is due (every 200 ms)
  std::rewind(f);
  char buf[4096];
  const size_t n = std::fread(buf, 1, sizeof(buf), f);
  std::fclose(f);
  const std::string out(buf, n);
  EXPECT_NE(out.find("\rverify: [############------------] 50% 50.0 MiB/100.0 MiB read"),
            std::string::npos)
      << out;
  EXPECT_TRUE(out.ends_with("\r\033[K")) << out;
}

}  // namespace
}  // namespace cairn::cli
