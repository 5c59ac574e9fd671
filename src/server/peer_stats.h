// PeerStatsPoller: what a cluster node's status page and `cairn status` show of the other nodes
// (issue 14): each one's disk, request rates and p99 latencies. A background thread asks every
// peer for its STAT reply (docs/protocol.md section 4) every kPeerStatsInterval, over the
// authenticated node-to-node protocol, keeps the last few answers per node, and computes rates
// and percentiles from the difference between the newest and the oldest kept (the counters and
// histograms of server/stat_counters.h). The page's request only reads what was last polled:
// it never waits on a peer.
//
// A peer that does not answer within the deadline, answers with an error, or sends a reply
// over the named bounds is shown as "no answer since <its last answer>" with the reason; a
// call still running is never started again, so a hung peer holds at most one worker.
//
// Thread safety: Start and Stop from one thread; Views from any thread. The Source's functions
// are called on the poller's threads (targets on the poll thread, stat on a worker).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/object_store.h"
#include "ops/metrics.h"

namespace cairn::server {

// Named bounds (docs/design.md, "The ops listener").
inline constexpr std::chrono::milliseconds kPeerStatsInterval{2000};  // between rounds
inline constexpr std::chrono::milliseconds kPeerStatsDeadline{1500};  // a call older: no answer
inline constexpr size_t kPeerStatsMaxNodes = 256;     // peers polled per round (the rest: not)
inline constexpr size_t kPeerStatsWorkers = 4;        // calls in flight at once
inline constexpr size_t kPeerStatsMaxCounters = 4096;  // "server" members in a decoded reply
inline constexpr size_t kPeerStatsMaxVolumes = 65536;  // volumes in a decoded reply
// Largest STAT reply body taken from a peer (the client refuses a larger one, naming its bound).
inline constexpr uint64_t kPeerStatsMaxReplyBytes = 16 << 20;
// Answers kept per peer: rates and p99s cover up to (kPeerStatsWindow - 1) intervals (10 s).
inline constexpr size_t kPeerStatsWindow = 6;

struct PeerTarget {
  uint32_t id = 0;
};

// What is shown of one peer.
struct PeerView {
  uint32_t id = 0;
  bool answering = false;           // the last call answered within the bounds
  int64_t last_answer_unix_ms = 0;  // 0: never answered
  int64_t no_answer_since_unix_ms = 0;  // when not answering: its last answer, else first try
  std::string error;                // when not answering: why
  // From the last answer (zero before the first).
  bool has_disk = false;
  uint64_t disk_total_bytes = 0, disk_free_bytes = 0;
  uint64_t objects = 0, allocated_bytes = 0;
  bool read_only = false;
  double window_seconds = 0;        // the span the rates cover (0: one answer so far)
  double requests_per_s = 0, get_per_s = 0, put_per_s = 0;
  double get_p99_ms = 0, put_p99_ms = 0;
  // Its share of a transition's sync (ClusterHooks::AddStatCounters): of the moving partitions
  // it leads at sync_epoch, how many are synced (sync_epoch 0: it reported none).
  uint64_t sync_epoch = 0;
  uint32_t sync_synced = 0, sync_led = 0;
};

// The view as /status.json carries it (a node's "stats" member; docs/design.md).
nlohmann::ordered_json PeerViewJson(const PeerView& v);

struct PeerStatsOptions {
  std::chrono::milliseconds interval = kPeerStatsInterval;
  std::chrono::milliseconds deadline = kPeerStatsDeadline;
};

class PeerStatsPoller {
 public:
  struct Source {
    // The peers to poll now (the caller leaves itself and removed nodes out); at most
    // kPeerStatsMaxNodes of them are polled.
    std::function<std::vector<PeerTarget>()> targets;
    // A STAT call to `id`; may block (up to the client's own timeouts).
    std::function<Result<StoreStats>(uint32_t id)> stat;
  };
  PeerStatsPoller(Source source, PeerStatsOptions options = {});
  ~PeerStatsPoller();

  void Start();
  // Waits for the calls in flight (each bounded by the client's timeouts).
  void Stop();
  // One round now, on the caller's thread (tests; Start's thread calls it every interval).
  void Round();
  // The last view of every node polled (by id), nodes no longer targeted dropped.
  std::map<uint32_t, PeerView> Views() const;

 private:
  struct Raw;  // one answer, decoded
  struct Peer {
    PeerView view;
    bool in_flight = false;
    std::chrono::steady_clock::time_point started{};
    int64_t first_try_unix_ms = 0;  // "since" for a peer that never answered
    std::deque<std::shared_ptr<const Raw>> window;  // oldest first
  };
  void Call(uint32_t id);
  void Answered(uint32_t id, Result<StoreStats> r);
  void NoAnswer(Peer& p, std::string why);
  void Loop();
  void Worker();

  Source source_;
  PeerStatsOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;       // the loop's sleep and the workers' queue
  bool stop_ = false;
  std::map<uint32_t, Peer> peers_;   // GUARDED_BY(mu_)
  std::deque<uint32_t> queue_;       // GUARDED_BY(mu_): peers whose call waits for a worker
  std::thread loop_;
  std::vector<std::thread> workers_;
};

}  // namespace cairn::server
