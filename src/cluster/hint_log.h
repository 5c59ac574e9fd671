// HintLog: the durable hinted-handoff queues of a node (CLUSTER.md section 4; docs/cluster.md,
// "Hints"). When a replica does not acknowledge a write, the coordinator appends a hint (key,
// version, put or delete) to that replica's queue; when the replica is up again, a replayer
// reads the value from the local store and sends it as an apply-if-newer write. Hints never
// count toward W: they only shorten the time until anti-entropy would repair the replica.
//
// One queue per target node, a directory of append-only segment files plus a consumer offset:
//   hints/<target>/<seq>.hint   records, appended and group-committed (one fdatasync per group)
//   hints/<target>/offset       where replay resumes (written to a temporary, synced, renamed)
// After a crash, a segment's torn tail is dropped (hints are idempotent, so replaying some
// twice is harmless), and appends go to a new segment. Each queue is bounded by bytes and age
// (named bounds max_bytes_per_target and max_age_ms): past them the oldest hints are dropped
// and counted; anti-entropy finds what they would have fixed.
//
// Thread safety: Append from any number of threads (they share fdatasyncs); Read/Ack from one
// replayer per target; Stats from anywhere.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cairn/env.h"
#include "cairn/object_store.h"
#include "cluster/placement.h"

namespace cairn::cluster {

struct Hint {
  std::string key;
  Version version;
  bool deleted = false;
  uint64_t enqueued_us = 0;  // filled in by Append when 0
};

struct HintLogOptions {
  Env* env = nullptr;  // nullptr: Env::Default()
  uint64_t max_bytes_per_target = uint64_t{256} << 20;  // named bound
  uint64_t max_age_ms = uint64_t{3} * 3600 * 1000;      // named bound: older hints are dropped
  uint64_t segment_bytes = uint64_t{16} << 20;          // a new segment after this many bytes
};

// Where replay of a queue stands: a segment and an offset in it.
struct HintCursor {
  uint64_t segment = 0;
  uint64_t offset = 0;
  friend auto operator<=>(const HintCursor&, const HintCursor&) = default;
};

struct HintBatch {
  std::vector<Hint> hints;
  HintCursor next;   // Ack(target, next) once these are replayed
  bool end = false;  // nothing more queued now
  uint64_t expired = 0;  // hints skipped for being older than max_age_ms
};

struct HintQueueStats {
  uint64_t bytes = 0;         // queued, not yet acknowledged
  uint64_t oldest_us = 0;     // enqueue time of the oldest queued hint (0: empty)
  uint64_t appended = 0;      // this session
  uint64_t dropped = 0;       // over max_bytes_per_target, expired or discarded, this session
  uint64_t replayed = 0;      // acknowledged, this session
};

class HintLog {
 public:
  static Result<std::unique_ptr<HintLog>> Open(const std::string& dir, const HintLogOptions& o);
  ~HintLog();

  // Appends hints for `target` and returns once they are durable. Concurrent appends share one
  // fdatasync. IOError/NoSpace: nothing is promised (the write still has its W replicas).
  Status Append(NodeId target, const std::vector<Hint>& hints);
  // Up to `max` hints queued for `target` after the last acknowledged cursor.
  Result<HintBatch> Read(NodeId target, size_t max);
  // Everything before `next` has been replayed: persists the cursor, removes used segments.
  Status Ack(NodeId target, HintCursor next);
  // Drops every hint queued for `target` now (an out node: the map's transition rebuilds what
  // it held from the other replicas, so its hints would only fill the disk until their age
  // bound). Acknowledges to the end of what is durable; hints appended later are kept. Returns
  // the bytes dropped (also counted in Stats().dropped).
  Result<uint64_t> Discard(NodeId target);
  std::vector<NodeId> Targets();
  HintQueueStats Stats(NodeId target);

 private:
  struct Queue;
  HintLog(std::string dir, HintLogOptions o);
  Result<Queue*> QueueFor(NodeId target);  // REQUIRES: mu_ held
  Status OpenQueue(NodeId target, Queue* q);
  Status NewSegment(NodeId target, Queue* q);
  Status WriteCursor(NodeId target, const HintCursor& c);
  Status AckLocked(NodeId target, Queue* q, HintCursor next);  // REQUIRES: mu_ held
  void DropOverBound(NodeId target, Queue* q);
  std::string QueueDir(NodeId target) const;

  const std::string dir_;
  HintLogOptions o_;
  Env* env_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<NodeId, std::unique_ptr<Queue>> queues_;
  // Group commit: appenders stage records; one of them (the leader) writes and syncs.
  bool leader_ = false;
  uint64_t staged_group_ = 1;   // the group new records join
  uint64_t synced_group_ = 0;   // groups up to this one are durable (or failed: see results_)
  std::map<uint64_t, Status> results_;
};

// The encoded record of a hint (docs/cluster.md "Hints"): exposed for the tests.
std::string EncodeHintRecord(const Hint& h);

}  // namespace cairn::cluster
