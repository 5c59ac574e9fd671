// CommitQueue: the writers between reservation and acknowledgment, in log order, and the group
// commit that acknowledges them (docs/design.md, "The write path" and "Lock order").
//
// A writer joins the queue when it reserves its place in the log (Join, in the same critical
// section as its offset and sequence: log order == queue order). It writes its record with no
// lock held, then finishes: FinishAndWait (a thread that waits for its acknowledgment) or
// FinishAsync (PutAsync: nobody waits; the committer thread, woken by StartCommit, leads). The
// first writer in the queue whose bytes are written becomes the leader (one at a time): it takes
// the longest written prefix of the queue (at most kMaxGroupWriters), and, with the lock
// released, hands it to the `commit` callback (the store's fdatasync and index batch). Then the
// group leaves the queue, each writer's result is its own failed write's status or else the
// commit's, and the writers are woken; a no_wait writer is handed to `acknowledge` (lock
// released) and belongs to it from then on. The queue also keeps the backpressure bound (the
// bytes reserved but not committed: HasRoom), the count of groups committed (generation: a
// lookup made before a commit is stale), and where the committed prefix of the log ends.
//
// The lock: the queue has none of its own. Its state is guarded by the store's log lock, given
// at construction, because reservation and joining the queue must be one atomic step and both
// happen on every write: a second lock would be a second acquisition per write. Why the methods
// take that lock as an argument (`REQUIRES(held)`) instead of naming the reference member:
// clang's analysis (clang 14) does not see that the queue's `mu_` (a reference) and the store's
// `mu_` are one lock, so a `REQUIRES(mu_)` here would reject every correct caller. With the
// argument the analysis checks that each caller holds the lock it passes, and Held() (a debug
// check that it is this queue's) tells it the members are guarded. It costs nothing in release
// builds: the methods run in reservation's critical section are inline.
//
// Thread safety: methods marked REQUIRES(held) are called holding the log lock and pass it;
// FinishAndWait, FinishAsync, StartCommit and Stop take it themselves (never call them holding
// it). The callbacks run without the lock, one group at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "cairn/object_store.h"
#include "cairn/status.h"
#include "util/check.h"
#include "util/mutex.h"

namespace cairn {

class CommitQueue {
 public:
  // Named bound: writers one commit takes. Larger groups only delay the first writer's ack.
  static constexpr size_t kMaxGroupWriters = 1024;

  // The queue's part of a pending writer (the store's Writer derives from it). It lives on the
  // writing thread's stack until acknowledged, or, when no_wait, until `acknowledge` takes it.
  struct Entry {
    // Set before Join; constant while queued.
    uint64_t len = 0;   // log bytes reserved
    LogPosition end;    // where its record ends in the log
    bool no_wait = false;
    // Guarded by the log lock once joined (the analysis cannot follow an entry into the queue).
    bool done = false;  // its bytes are written (or its write failed: write_status)
    Status write_status;
    bool committed = false;
    Status result;      // set when committed
    CondVar cv;         // with the log lock: committed, or it may lead
  };
  using Group = std::vector<Entry*>;

  struct Callbacks {
    // Commits a group (log order, every entry done, at least one), without the log lock. Its
    // status becomes the result of each entry whose own write succeeded.
    std::function<Status(const Group&)> commit;
    // A no_wait entry was committed (result set): acknowledge it. Called without the log lock;
    // the callee owns the entry from here on.
    std::function<void(Entry*)> acknowledge;
  };

  // `mu`: the log lock, which outlives the queue. `max_unfinished_bytes`: the named bound on the
  // bytes reserved but not committed.
  CommitQueue(Mutex* mu, uint64_t max_unfinished_bytes, Callbacks callbacks)
      : mu_(*mu), max_unfinished_bytes_(max_unfinished_bytes), callbacks_(std::move(callbacks)) {}
  ~CommitQueue() { Stop(); }
  CommitQueue(const CommitQueue&) = delete;
  CommitQueue& operator=(const CommitQueue&) = delete;

  // ---- Opening (before Start).
  // Where the committed log ends at open (recovery's tail).
  void SetCommittedEnd(Mutex* held, LogPosition end) REQUIRES(held);
  // Starts the committer thread (it leads the commits of no_wait entries).
  void Start();

  // ---- Reservation (under the log lock).
  // Whether `len` more bytes fit under max_unfinished_bytes. An empty queue admits any writer.
  // Inline, as the two below: they run inside reservation's critical section on every write.
  bool HasRoom(Mutex* held, uint64_t len) const REQUIRES(held) {
    Held(held);
    // Named bound max_unfinished_bytes: reserved-but-uncommitted log. Always admit one writer.
    return unfinished_bytes_ == 0 || unfinished_bytes_ + len <= max_unfinished_bytes_;
  }
  // Appends e (len and end set) at the end of the log order.
  void Join(Mutex* held, Entry* e) REQUIRES(held) {
    Held(held);
    unfinished_bytes_ += e->len;
    queue_.push_back(e);
  }
  // The last queued entry (newest first) for which pred(entry) holds, or null.
  template <class Pred>
  const Entry* FindLast(Mutex* held, Pred pred) const REQUIRES(held) {
    Held(held);
    for (auto it = queue_.rbegin(); it != queue_.rend(); ++it)
      if (pred(*it)) return *it;
    return nullptr;
  }
  // Releases the lock until a group commits, the queue drains or Wake is called; may return
  // spuriously: the caller loops on its own condition.
  void Wait(Mutex* held) REQUIRES(held);
  // Wakes every thread in Wait (the caller's condition changed: an error, closing).
  void Wake(Mutex* held) REQUIRES(held);
  bool empty(Mutex* held) const REQUIRES(held);
  // Where the committed prefix of the log ends (the change feed reads up to here).
  LogPosition committed_end(Mutex* held) const REQUIRES(held);
  // Groups committed (successfully or not): moves after a commit reached the index, before the
  // group's writers are woken. Readable without the lock.
  uint64_t generation(std::memory_order order = std::memory_order_acquire) const {
    return generation_.load(order);
  }

  // ---- After the write (take the lock).
  // Marks e written (or failed), then waits until it is committed, leading commits when it is
  // its turn. e->result is its outcome.
  void FinishAndWait(Entry* e, Status write_status) EXCLUDES(mu_);
  // Marks a no_wait entry written; e may be acknowledged (and gone) as soon as the lock drops.
  void FinishAsync(Entry* e, Status write_status) EXCLUDES(mu_);
  // Wakes the committer if the queue's front is written and no commit is running.
  void StartCommit() EXCLUDES(mu_);

  // ---- Closing.
  // Wakes the waiters, has the committer lead what is written, waits until the queue is empty
  // (the caller has stopped admitting writers), then tells the committer to stop.
  void Drain(Mutex* held) REQUIRES(held);
  // Stops and joins the committer thread. Idempotent.
  void Stop() EXCLUDES(mu_);

 private:
  // Tells the analysis that the caller holds this queue's lock (it passed it as `held`); checks
  // in debug builds that it is this queue's.
  void Held([[maybe_unused]] const Mutex* held) const ASSERT_CAPABILITY(mu_) {
#ifndef NDEBUG
    CAIRN_CHECK(held == &mu_);
#endif
  }
  // Whether a leader may start now: none is active and the front is written.
  bool FrontReady() const REQUIRES(mu_) {
    return !leader_active_ && !queue_.empty() && queue_.front()->done;
  }
  // Commits the longest written prefix; releases the lock while the group commits and while
  // no_wait entries are acknowledged.
  void LeadCommit() REQUIRES(mu_);
  void CommitterLoop() EXCLUDES(mu_);

  Mutex& mu_;  // the store's log lock
  const uint64_t max_unfinished_bytes_;
  const Callbacks callbacks_;
  std::deque<Entry*> queue_ GUARDED_BY(mu_);
  uint64_t unfinished_bytes_ GUARDED_BY(mu_) = 0;  // the bytes of the entries in queue_
  bool leader_active_ GUARDED_BY(mu_) = false;
  LogPosition committed_end_ GUARDED_BY(mu_);
  std::atomic<uint64_t> generation_{0};  // written under mu_
  CondVar space_cv_;   // with mu_: a group committed (room, generation), or Wake
  CondVar commit_cv_;  // with mu_: the front may be ready for the committer, or stop
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread committer_;
};

}  // namespace cairn
