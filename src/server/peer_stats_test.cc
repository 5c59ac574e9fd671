// PeerStatsPoller (issue 14): fake peers that answer, hang past the deadline, send malformed
// JSON, send a reply over the bounds, or fail; each ends in a clear view, nothing crashes, and
// the views render. No timed assertions: every wait polls for a condition, bounded.
#include "server/peer_stats.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "proto/stat_body.h"
#include "server/stat_counters.h"

namespace cairn::server {
namespace {

using namespace std::chrono_literals;

// Polls `cond` every 10 ms for up to 20 s.
template <typename F>
bool Eventually(F cond) {
  for (int i = 0; i < 2000; i++) {
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return cond();
}

// A peer's STAT reply as its server would encode it: `gets` GETs of 100 us and `puts` PUTs of
// 2 ms so far, on a 1 TiB disk with 400 GiB free; its share of a transition's sync at epoch 9
// says 250 synced of the 100 it leads (a count over its total: the view clamps it).
std::string Body(uint64_t gets, uint64_t puts) {
  StoreStats s;
  s.objects = 7;
  s.allocated_bytes = 1 << 20;
  s.server["requests"] = gets + puts;
  AddDiskCounters("/nonexistent-dir-so-statvfs-fails", &s.server);  // adds nothing
  s.server[std::string(kStatDiskTotal)] = uint64_t{1} << 40;
  s.server[std::string(kStatDiskFree)] = uint64_t{400} << 30;
  s.server["cluster.sync_epoch"] = 9;
  s.server["cluster.sync_led"] = 100;
  s.server["cluster.sync_synced"] = 250;
  const ops::HistogramSpec spec = ops::HistogramSpec::LatencyNs();
  ops::Histogram g, p;
  for (uint64_t i = 0; i < gets; i++) g.Observe(100'000);
  for (uint64_t i = 0; i < puts; i++) p.Observe(2'000'000);
  AddLatencyCounters("GET", spec, g.Snapshot(), &s.server);
  AddLatencyCounters("PUT", spec, p.Snapshot(), &s.server);
  return proto::EncodeStatBody(s);
}

struct Fakes {
  std::atomic<uint64_t> calls{0};
  std::atomic<bool> release{false};  // lets the hanging peer return
  std::atomic<int> hanging{0};
  Result<StoreStats> Stat(uint32_t id) {
    switch (id) {
      case 1: {  // answers; 10 more GETs and 20 more PUTs at every call
        const uint64_t n = ++calls;
        return proto::DecodeStatBody(Body(10 * n, 20 * n));
      }
      case 2: {  // hangs until released (bounded: 30 s)
        hanging++;
        for (int i = 0; i < 3000 && !release; i++) std::this_thread::sleep_for(10ms);
        hanging--;
        return Status::DeadlineExceeded("released");
      }
      case 3:  // malformed JSON, decoded as the client does
        return proto::DecodeStatBody("{\"objects\": [1, 2");
      case 4: {  // over kPeerStatsMaxCounters once decoded
        std::string body = "{\"server\":{";
        for (size_t i = 0; i <= kPeerStatsMaxCounters; i++)
          body += (i ? "," : "") + std::string("\"c") + std::to_string(i) + "\":1";
        body += "}}";
        return proto::DecodeStatBody(body);
      }
      case 5:  // a value of the wrong type
        return proto::DecodeStatBody("{\"server\":{\"requests\":-3}}");
      default:  // refused: what a dead node's connection gives
        return Status::Unavailable("connection refused");
    }
  }
};

TEST(Issue14PeerStats, EveryKindOfPeerEndsInAClearView) {
  Fakes f;
  PeerStatsPoller::Source src;
  src.targets = [] {
    std::vector<PeerTarget> t;
    for (uint32_t id = 1; id <= 6; id++) t.push_back({id});
    return t;
  };
  src.stat = [&f](uint32_t id) { return f.Stat(id); };
  PeerStatsOptions o;
  o.interval = 20ms;
  o.deadline = 1000ms;  // decoding 4,097 counters takes a while under TSan
  PeerStatsPoller poller(src, o);
  poller.Start();

  auto view = [&](uint32_t id) { return poller.Views()[id]; };
  // The answering peer: disk, and rates from at least two answers.
  ASSERT_TRUE(Eventually([&] {
    PeerView v = view(1);
    return v.answering && v.window_seconds > 0 && v.put_per_s > 0;
  }));
  PeerView v1 = view(1);
  EXPECT_TRUE(v1.has_disk);
  EXPECT_EQ(v1.disk_total_bytes, uint64_t{1} << 40);
  EXPECT_EQ(v1.disk_free_bytes, uint64_t{400} << 30);
  EXPECT_EQ(v1.objects, 7u);
  EXPECT_EQ(v1.sync_epoch, 9u);
  EXPECT_EQ(v1.sync_led, 100u);
  EXPECT_EQ(v1.sync_synced, 100u);
  EXPECT_GT(v1.get_per_s, 0);
  EXPECT_GT(v1.put_per_s, v1.get_per_s);  // twice as many PUTs per call
  // The p99s land in the buckets holding 100 us ((98304, 131072] ns) and 2 ms
  // ((1572864, 2097152] ns).
  EXPECT_GT(v1.get_p99_ms, 0.098304);
  EXPECT_LE(v1.get_p99_ms, 0.131072);
  EXPECT_GT(v1.put_p99_ms, 1.572864);
  EXPECT_LE(v1.put_p99_ms, 2.097152);

  // The hanging peer: "no answer within" its deadline, and only one call ever in flight.
  ASSERT_TRUE(Eventually([&] { return !view(2).answering && !view(2).error.empty(); }));
  EXPECT_NE(view(2).error.find("no answer within 1000 ms"), std::string::npos) << view(2).error;
  EXPECT_GT(view(2).no_answer_since_unix_ms, 0);
  EXPECT_EQ(view(2).last_answer_unix_ms, 0);
  EXPECT_LE(f.hanging.load(), 1);

  // Malformed, oversized, wrongly typed, refused: not answering, with the reason.
  const std::map<uint32_t, std::string> why = {{3, "not a JSON object"},
                                               {4, "kPeerStatsMaxCounters"},
                                               {5, "server counter \"requests\" is not a count"},
                                               {6, "connection refused"}};
  for (const auto& [id, text] : why)
    EXPECT_TRUE(Eventually([&] { return view(id).error.find(text) != std::string::npos; }))
        << id << ": " << view(id).error;
  for (uint32_t id : {3u, 4u, 5u, 6u}) {
    EXPECT_FALSE(view(id).answering);
    EXPECT_FALSE(view(id).has_disk);
  }

  // Every view renders, answering or not.
  for (const auto& [id, v] : poller.Views()) {
    nlohmann::ordered_json j = PeerViewJson(v);
    EXPECT_EQ(j["answering"], v.answering);
    if (!v.answering) {
      EXPECT_TRUE(j.contains("no_answer_since_unix_ms"));
    }
    EXPECT_FALSE(j.dump().empty());
  }
  EXPECT_EQ(PeerViewJson(view(1))["disk_used_bytes"], (uint64_t{1} << 40) - (uint64_t{400} << 30));
  EXPECT_EQ(PeerViewJson(view(1))["sync"].dump(), R"({"epoch":9,"synced":100,"led":100})");
  EXPECT_FALSE(PeerViewJson(view(6)).contains("sync"));

  // The hung peer comes back with an error: still not answering, the process fine.
  f.release = true;
  ASSERT_TRUE(Eventually([&] { return view(2).error.find("released") != std::string::npos; }));
  poller.Stop();
}

TEST(Issue14PeerStats, APeerThatStopsAnsweringKeepsItsLastNumbersAndSince) {
  std::atomic<bool> dead{false};
  std::atomic<uint64_t> n{0};
  PeerStatsPoller::Source src;
  src.targets = [] { return std::vector<PeerTarget>{{9}}; };
  src.stat = [&](uint32_t) -> Result<StoreStats> {
    if (dead) return Status::Unavailable("connection refused");
    const uint64_t k = ++n;
    return proto::DecodeStatBody(Body(k, k));
  };
  PeerStatsOptions o;
  o.interval = 20ms;
  o.deadline = 500ms;
  PeerStatsPoller poller(src, o);
  poller.Start();
  ASSERT_TRUE(Eventually([&] { return poller.Views()[9].answering; }));
  const int64_t last = poller.Views()[9].last_answer_unix_ms;
  dead = true;
  ASSERT_TRUE(Eventually([&] { return !poller.Views()[9].answering; }));
  PeerView v = poller.Views()[9];
  EXPECT_GE(v.no_answer_since_unix_ms, last);
  EXPECT_EQ(v.no_answer_since_unix_ms, v.last_answer_unix_ms);
  EXPECT_TRUE(v.has_disk);  // the last numbers stay, marked as old by "since"
  poller.Stop();
}

TEST(Issue14PeerStats, NodesLeavingTheTargetsAreDroppedAndTheRoundIsBounded) {
  std::atomic<size_t> count{kPeerStatsMaxNodes + 10};
  std::atomic<uint64_t> asked{0};
  PeerStatsPoller::Source src;
  src.targets = [&] {
    std::vector<PeerTarget> t;
    for (uint32_t id = 1; id <= count; id++) t.push_back({id});
    return t;
  };
  src.stat = [&](uint32_t id) -> Result<StoreStats> {
    asked++;
    return proto::DecodeStatBody(Body(id, id));
  };
  PeerStatsOptions o;
  o.interval = 20ms;
  PeerStatsPoller poller(src, o);
  poller.Start();
  ASSERT_TRUE(Eventually([&] { return poller.Views().size() == kPeerStatsMaxNodes; }));
  count = 3;
  ASSERT_TRUE(Eventually([&] { return poller.Views().size() == 3; }));
  poller.Stop();
}

TEST(Issue14PeerStats, LatencyCountersRoundTrip) {
  const ops::HistogramSpec spec = ops::HistogramSpec::LatencyNs();
  ops::Histogram h;
  for (uint64_t v : {500ull, 1536ull, 1537ull, 40'000'000ull, 1ull << 40}) h.Observe(v);
  std::map<std::string, uint64_t> m;
  AddLatencyCounters("GET", spec, h.Snapshot(), &m);
  EXPECT_EQ(m["latency_ns.GET.count"], 5u);
  EXPECT_EQ(m["latency_ns.GET.bucket.1024"], 1u);
  EXPECT_EQ(m["latency_ns.GET.bucket.1536"], 1u);
  EXPECT_EQ(m["latency_ns.GET.bucket.2048"], 1u);
  EXPECT_EQ(m["latency_ns.GET.bucket.inf"], 1u);
  ops::HistogramSnapshot back = LatencyFromCounters(m, "GET", spec);
  ops::HistogramSnapshot orig = h.Snapshot();
  EXPECT_EQ(back.counts, orig.counts);
  EXPECT_EQ(back.count, orig.count);
  EXPECT_EQ(back.sum, orig.sum);
  // Nothing for an operation without requests; junk bucket names are skipped.
  EXPECT_EQ(LatencyFromCounters(m, "PUT", spec).count, 0u);
  m["latency_ns.GET.bucket.x12"] = 99;
  m["latency_ns.GET.bucket."] = 99;
  EXPECT_EQ(LatencyFromCounters(m, "GET", spec).count, 5u);
  // A saturating sum: a peer's huge numbers never wrap.
  m["latency_ns.GET.bucket.4096"] = UINT64_MAX;
  EXPECT_EQ(LatencyFromCounters(m, "GET", spec).count, UINT64_MAX);
}

}  // namespace
}  // namespace cairn::server
