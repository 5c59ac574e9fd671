// ClusterObjectStore: the cluster as one ObjectStore (docs/cluster.md, "Writes" and "Reads";
// CLUSTER.md section 4). The third implementation of cairn/object_store.h, beside the local and
// the remote store, and answering the same way (tests/object_store_suite runs against it).
//
// Roles. A key's replicas are its partition's row in the map. A node that is one of them
// **coordinates** the request; anyone else (a client, or a node that is not a replica of the
// key) **routes** it to a replica with role kCoordinate, failing over to the next replica when
// one is unreachable (and, for reads, hedging to a second after the p95 delay).
//
// Writes (coordinator). A put or delete gets a version from the coordinator's hybrid clock and
// goes to all R replicas in parallel as an apply-if-newer write (the local store directly, the
// others with role kReplica); it is acknowledged once W have made it durable (W by the write
// policy: quorum = majority of R, all = R, one = 1). A replica that holds a newer version
// answers Conflict with it: the coordinator takes note and retries once above it, so a new
// write is ordered after every acknowledged one even with skewed clocks (two majorities
// intersect). Replicas that did not acknowledge get a durable hint. Fewer than W
// acknowledgements is DeadlineExceeded when some replica may have applied it (the outcome is
// unknown), Unavailable when none can have. Hints never count toward W.
//
// On an event loop (PutAsync), the common put (plain, small, every replica up) is coordinated
// the same way without blocking: the local write joins the loop's group commit, the answers
// arrive on the store's and the peer clients' threads, and the one that decides the write
// answers. Everything else is Busy there and goes through Put on a thread that may block.
//
// Reads (coordinator). The versions of a majority of the replicas (the local one, then others,
// hedged to the next after the p95 delay) are compared, deletes included (HeadVersion). The
// newest is read; replicas of the majority that hold an older one get the newest written back
// (apply-if-newer) before the read returns, so single-key get/put/delete are linearizable
// while a majority of a key's replicas is reachable (ABD).
//
// Map transitions (cluster/transition.h; docs/cluster.md "Map transitions"). While a key's
// partition moves, its replicas are the old row and the new one: a write goes to both and
// needs W acknowledgements in each; a write whose map changed under it follows the newer map
// (FollowMapChange); a read asks a majority of each row and repairs both. PutAsync leaves
// moving partitions to Put (Busy). Conditional writes (if-match,
// if-none-match) are checked against such a read and then written: they are not linearizable
// under concurrent writers of the same key (docs/cluster.md).
//
// Thread safety: every method from any thread; methods may block on the network.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cairn/object_store.h"
#include "cluster/hint_log.h"
#include "cluster/map_view.h"
#include "cluster/peer_pool.h"
#include "cluster/transition.h"
#include "util/hlc.h"

namespace cairn::cluster {

enum class WritePolicy : uint8_t {
  kQuorum = 0,  // W = majority of R: survives the loss of any minority of replicas
  kAll = 1,     // W = R: survives the loss of all but one; a write fails while any is down
  kOne = 2,     // W = 1: acknowledged once one replica has it durable; lost with that replica
};
const char* WritePolicyName(WritePolicy p);
bool ParseWritePolicy(std::string_view text, WritePolicy* p);

struct ClusterStoreOptions {
  NodeId self = 0;  // this node; 0 for a client (which only routes)
  WritePolicy write_policy = WritePolicy::kQuorum;
  // May a request be sent on to another node (false for a request that was routed here with
  // role kCoordinate: it is served here or refused, never bounced on).
  bool forward = true;
  // Named bounds of hedging: a read waits for the p95 of recent replica reads, within these,
  // before asking one more replica.
  uint32_t hedge_min_ms = 2;
  uint32_t hedge_max_ms = 250;
  // Named bound: how long a coordinator waits for its replicas in all.
  uint32_t replica_deadline_ms = 5000;
  // Named bound: bytes of a streamed value buffered for its replicas (they read in step).
  size_t stream_buffer_bytes = size_t{8} << 20;
  // The clock versions are stamped from (tests skew it). nullptr: the system clock.
  std::function<uint64_t()> now_ms;
};

// What one node counts, for STAT, /metrics and the tests.
struct ClusterCounters {
  std::atomic<uint64_t> coordinated{0};   // requests this node coordinated
  std::atomic<uint64_t> routed{0};        // requests sent on to a replica
  std::atomic<uint64_t> failovers{0};     // a replica unreachable, the next one asked
  std::atomic<uint64_t> hedged{0};        // reads that asked one more replica after the delay
  std::atomic<uint64_t> conflicts_retried{0};  // writes restamped above a replica's version
  std::atomic<uint64_t> read_repairs{0};  // replicas given the newest version by a read
  std::atomic<uint64_t> hints_written{0};
  std::atomic<uint64_t> hint_failures{0};
  std::atomic<uint64_t> hints_replayed{0};  // hints delivered to their target
  std::atomic<uint64_t> hints_skipped{0};   // hints dropped (expired, refused for what they are)
  std::atomic<uint64_t> hint_replay_stalls{0};  // replays put off (target away, busy, joining)
  std::atomic<uint64_t> partial_writes{0};  // fewer than W acknowledgements
  // Anti-entropy (cluster/anti_entropy.h, issue 12).
  std::atomic<uint64_t> ae_rounds{0};
  std::atomic<uint64_t> ae_partitions_compared{0};  // roots compared, per peer
  std::atomic<uint64_t> ae_leaves_walked{0};        // leaves whose keys were listed
  std::atomic<uint64_t> ae_keys_repaired{0};        // records pushed and applied
  std::atomic<uint64_t> ae_bytes_pushed{0};         // value bytes of those
  std::atomic<uint64_t> ae_repairs_refused{0};      // pushes not copied (below the horizon, over a limit)
  std::atomic<uint64_t> ae_errors{0};               // peers a round could not finish with
};

// State shared by the views of one node's cluster store (a node serves role kAny and role
// kCoordinate requests through two ClusterObjectStores that differ only in `forward`).
class ClusterShared {
 public:
  ClusterShared(NodeId self, std::function<uint64_t()> now_ms, HintLog* hints);
  ~ClusterShared();
  // A version above every version this node has stamped or seen.
  Version Stamp();
  void Observe(const Version& v);
  // Replica read latencies (µs) for the hedge delay.
  void NoteReadMicros(uint64_t us);
  uint32_t HedgeDelayMs(uint32_t min_ms, uint32_t max_ms);
  // Appends a hint now (blocking: the coordinator's own thread) or later (from a client's I/O
  // thread, which must not block on an fdatasync).
  void HintNow(NodeId target, const Hint& h);
  void HintLater(NodeId target, Hint h);
  // For a caller that must not block (a write coordinated on an event loop): appends `hints`
  // durably, then runs `then`, both on the background writer's thread. Hints queued meanwhile
  // for one target share one Append (one fdatasync). Never dropped: `then` answers a client.
  void HintThen(std::vector<std::pair<NodeId, Hint>> hints, std::function<void()> then);
  ClusterCounters& counters() { return counters_; }
  // Bumped by every client request this node coordinates or routes: background work (the
  // anti-entropy rounds) yields while it moves (util/background_throttle.h).
  std::atomic<uint64_t>& foreground_ops() { return foreground_ops_; }
  void NoteForeground() { foreground_ops_.fetch_add(1, std::memory_order_relaxed); }
  HintLog* hints() const { return hints_; }
  // Bytes queued for every target (0 without a hint log).
  uint64_t HintQueueBytes() const;

 private:
  void HintLoop();
  NodeId self_;
  std::function<uint64_t()> now_ms_;
  HintLog* hints_;
  std::atomic<uint64_t> foreground_ops_{0};
  std::mutex clock_mu_;
  HybridClock clock_;
  std::mutex lat_mu_;
  std::vector<uint64_t> lat_;  // a ring of recent read latencies
  size_t lat_next_ = 0;
  uint32_t hedge_ms_ = 10;
  std::mutex hint_mu_;
  std::condition_variable hint_cv_;
  std::deque<std::pair<NodeId, Hint>> hint_queue_;
  // HintThen's: hints to append before their continuation runs (not bounded by
  // kMaxQueuedHints: each one holds a client's reply, so it is bounded by the requests in
  // flight).
  struct HintsThen {
    std::vector<std::pair<NodeId, Hint>> hints;
    std::function<void()> then;
  };
  std::deque<HintsThen> hints_then_;
  bool stop_ = false;
  std::thread hint_thread_;
  ClusterCounters counters_;
};

class ClusterObjectStore final : public ObjectStore {
 public:
  // `local` (this node's own store) and `hints` are null for a client.
  ClusterObjectStore(ClusterStoreOptions options, MapView* view, PeerPool* peers,
                     ObjectStore* local, std::shared_ptr<ClusterShared> shared);
  ~ClusterObjectStore() override;

  Result<WriteResult> Put(std::string_view key, std::string_view value,
                          const WriteOptions& wo) override;
  // The common put without a thread of its own (issue 11: a coordinated PUT cost 8x the CPU of
  // a local one, most of it thread hand-offs): a plain put of a key this node is a replica of,
  // every replica up in the map, is written to the local store with its PutAsync and sent to
  // the other replicas with theirs; `done` runs once W have made it durable (or every replica
  // answered). Anything else (a condition, routing, a replica down, a local write that would
  // wait or is refused) is Busy at once, nothing done: the caller uses Put, whose WriteAll
  // handles it (and restamps above a newer version).
  Status PutAsync(std::string_view key, std::string_view value, const WriteOptions& wo,
                  WriteDone done) override;
  void StartCommit() override;
  Result<WriteResult> PutStream(std::string_view key, ValueSource* src,
                                const WriteOptions& wo) override;
  Result<GetResult> Get(std::string_view key, const ByteRange& range) override;
  Result<std::unique_ptr<ObjectReader>> OpenReader(std::string_view key,
                                                   const ByteRange& range) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ObjectInfo> HeadVersion(std::string_view key) override;
  Result<WriteResult> Delete(std::string_view key, const WriteOptions& wo) override;
  Result<ListResult> List(const ListOptions& lo) override;
  Result<StoreStats> Stats() override;
  Result<std::unique_ptr<PinnedObject>> Pin(std::string_view key) override;

  ClusterShared& shared() { return *shared_; }

 private:
  struct Versions;  // what a majority of a key's replicas hold
  struct AsyncWrite;  // one PutAsync in flight
  struct Target;    // one replica: this node's store, or a peer

  // The key's replicas (row order), and whether this node is one of them.
  std::vector<NodeId> ReplicasOf(std::string_view key, bool* local_replica) const;
  uint32_t WriteQuorum(size_t replicas) const;
  // A routed request: the replicas' nodes in the order to try (up ones first).
  std::vector<NodeId> RouteOrder(std::string_view key) const;
  Client* Coordinator(NodeId node);
  // Every up node, this one last (for what any node can answer: a listing, statistics).
  std::vector<NodeId> AnyNodeOrder() const;
  // Sends `call` to the nodes of `order` (RouteOrder(key), or AnyNodeOrder() when key is
  // empty) until one answers; after a node said our map is stale, refreshes it and tries once
  // more.
  template <typename T, typename F>
  Result<T> Routed(std::string_view key, F call);
  ObjectStore* ReplicaStore(NodeId node);

  // The coordinator's write of a put (value != nullptr) or a delete, with version `v`, to
  // every replica; W acknowledgements make it OK. Retries once above a replica's newer version.
  Result<WriteResult> WriteAll(std::string_view key, const std::string* value,
                               const WriteOptions& wo, Version v);
  // A write that met its quorum under `map` (sent to `written`, acknowledged by `acked`): if
  // the view holds a newer map now, sends it to the replicas that map adds and checks that
  // map's quorum (a transition began while it was out). DeadlineExceeded when it falls short.
  Status FollowMapChange(std::string_view key, const std::string* value, const WriteOptions& wo,
                         Version v, std::shared_ptr<const ClusterMap> map,
                         std::vector<NodeId> written, std::vector<NodeId> acked);
  Result<WriteResult> WriteStreamAll(std::string_view key, ValueSource* src,
                                     const WriteOptions& wo, Version v);
  // HeadVersion of a majority of the replicas (hedged).
  // (A majority of each of the old and the new row while the key's partition moves.)
  Result<Versions> ReadVersions(std::string_view key, const KeyRows& rows);
  // Writes the newest version held by `from` back to the replicas in `stale` (read repair).
  Status Repair(std::string_view key, NodeId from, const ObjectInfo& newest,
                const std::vector<NodeId>& stale);
  Result<WriteResult> CheckedWrite(std::string_view key, const std::string* value,
                                   ValueSource* src, const WriteOptions& wo);
  Result<ObjectInfo> CoordinatedHead(std::string_view key, NodeId* holder);

  ClusterStoreOptions options_;
  MapView* view_;
  PeerPool* peers_;
  ObjectStore* local_;
  std::shared_ptr<ClusterShared> shared_;
};

}  // namespace cairn::cluster
