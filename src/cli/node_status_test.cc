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

// Issue 14: the cluster table shows each node's disk, rates and p99s, and a silent node as
// "no answer since" with the reason.
TEST(NodeStatus, Issue14ClusterTableShowsEveryNodesNumbers) {
  json s = Sample(100, 0);
  s["cluster"] = json::parse(R"({
    "epoch": 5, "self": 1, "controller": true, "etcd_reachable": true, "write_policy": "quorum",
    "replicas": 3, "hints": {}, "counters": {},
    "nodes": [
      {"id": 1, "address": "127.0.0.1:7001", "zone": "z1", "state": "up", "weight": 100,
       "partitions": 65536, "stats": {"answering": true, "self": true, "disk_total_bytes": 1000,
       "disk_free_bytes": 250, "disk_used_bytes": 750, "get_per_s": 12.5, "put_per_s": 3,
       "get_p99_ms": 0.25, "put_p99_ms": 4}},
      {"id": 2, "address": "127.0.0.1:7002", "zone": "z2", "state": "up", "weight": 100,
       "partitions": 65536, "stats": {"answering": true, "disk_total_bytes": 2147483648,
       "disk_free_bytes": 1073741824, "disk_used_bytes": 1073741824, "get_per_s": 0,
       "put_per_s": 40, "get_p99_ms": 0, "put_p99_ms": 2.5}},
      {"id": 3, "address": "127.0.0.1:7003", "zone": "z3", "state": "down", "weight": 100,
       "partitions": 65536, "stats": {"answering": false, "no_answer_since_unix_ms": 1796282465000,
       "error": "Unavailable: connection refused"}},
      {"id": 4, "address": "127.0.0.1:7004", "zone": "z4", "state": "out", "weight": 100,
       "partitions": 0}
    ]})");
  const std::string t = FormatNodeStatus(s);
  auto line = [&t](const std::string& start) {  // the table row that starts so
    const size_t at = t.find("\n" + start);
    if (at == std::string::npos) return std::string();
    return t.substr(at + 1, t.find('\n', at + 1) - at - 1);
  };
  auto squeeze = [](std::string l) {  // runs of spaces to one
    std::string out;
    for (char c : l)
      if (c != ' ' || (!out.empty() && out.back() != ' ')) out += c;
    return out;
  };
  EXPECT_EQ(squeeze(line("zone")),
            "zone node address state partitions weight disk used disk free GET/s PUT/s p99 GET p99 PUT")
      << t;
  EXPECT_EQ(squeeze(line("z1")), "z1 1 127.0.0.1:7001 up 65536 100 750 B 250 B 12.5 3.00 250 us 4.00 ms") << t;
  EXPECT_EQ(squeeze(line("z2")), "z2 2 127.0.0.1:7002 up 65536 100 1.0 GiB 1.0 GiB 0.00 40.0 - 2.50 ms") << t;
  EXPECT_EQ(squeeze(line("z3")), "z3 3 127.0.0.1:7003 down 65536 100 no answer - - - - -") << t;
  EXPECT_EQ(squeeze(line("z4")), "z4 4 127.0.0.1:7004 out 0 100 - - - - - -") << t;
  EXPECT_NE(t.find("  node 3: no answer since 2026-12-03 07:21:05 UTC: Unavailable: connection refused\n"),
            std::string::npos) << t;
}

// Issue 14: a transition in flight shows its sync and each node's partitions before and after.
TEST(NodeStatus, Issue14ATransitionShowsItsSyncAndThePartitionsThatMove) {
  json s = Sample(100, 0);
  s["cluster"] = json::parse(R"({
    "epoch": 9, "self": 1, "controller": false, "etcd_reachable": true, "write_policy": "quorum",
    "replicas": 3, "hints": {}, "counters": {},
    "transition": {"epoch": 9, "moving_partitions": 16384, "partitions_synced": 4000,
                   "partitions_led_reported": 12000, "nodes_reported": 2},
    "nodes": [
      {"id": 1, "address": "127.0.0.1:7001", "zone": "z1", "state": "up", "weight": 1,
       "partitions": 49152, "partitions_before": 65536, "sync": {"synced": 4000, "led": 8000}},
      {"id": 2, "address": "127.0.0.1:7002", "zone": "z2", "state": "up", "weight": 1,
       "partitions": 49152, "partitions_before": 49152}
    ]})");
  const std::string t = FormatNodeStatus(s);
  EXPECT_NE(t.find("transition to epoch 9: 4000 of 16384 moving partitions synced (2 nodes reported)\n"),
            std::string::npos) << t;
  EXPECT_NE(t.find(" 65536 -> 49152 "), std::string::npos) << t;
  EXPECT_EQ(t.find("49152 -> 49152"), std::string::npos) << t;
  s["cluster"].erase("transition");
  EXPECT_EQ(FormatNodeStatus(s).find("transition"), std::string::npos);
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
