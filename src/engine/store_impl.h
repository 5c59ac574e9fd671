// StoreImpl: the engine behind cairn::Store. Implementation split by concern:
//   store_open.cc   opening, creating, recovery and closing
//   store_write.cc  reservation, the write path and group commit
//   store_read.cc   reads, scans and statistics
//   store_pin.cc    pinned value extents for zero-copy sends (the server's GET)
//   store_feed.cc   the change feed (IterateLog)
// Parts with their own state and locks (issue 15; docs/design.md, "Lock order"):
//   volume_syncer.h     the volumes awaiting fdatasync, the sync passes, the interval thread
//   volume_set.h        the open volumes, for readers
//   volume_accounts.h   the volume accounts, object counts, reclaim totals and stream pins
//   volume_preparer.h   the next volumes, prepared ahead of need by its thread; the next volume id
//   commit_queue.h      the writers in log order, the leader election of group commit, the
//                       unfinished bytes, the committer thread (no lock of its own: under mu_)
//   reader_epochs.h     the readers reclamation must wait for
//   periodic_thread.h   the background reclaimer's thread
//
// The write path (docs/design.md has the full tour):
//   1. Reserve: under mu_, a writer takes the next `len` bytes of the active volume and the next
//      sequence number, and joins queue_ (CommitQueue::Join, in the same critical section: log
//      order == sequence order). Only a few instructions run under the lock.
//   2. Write: with no lock held, the writer encodes and pwrites its record.
//   3. Commit (CommitQueue::FinishAndWait): the first writer in queue_ whose bytes are written
//      becomes the leader. It takes the longest prefix of queue_ whose bytes are written, and
//      without mu_ runs CommitGroup: one fdatasync (if any writer in the group asked for kSync)
//      and one index batch; then it marks the group committed and wakes it. Only then are the
//      writes visible and acknowledged.
//   Conditions (issue 15) are judged in Reserve, under mu_, against the key's last write ahead in
//   queue_ (it takes effect when its group commits), or else its committed entry, looked up just
//   before and still current (no group committed since: queue_.generation(); or looked up under
//   index_write_mu_, held until the reservation). So every record in the log takes effect when
//   its group commits, and replay needs no condition. Lock order: index_write_mu_, then mu_.
//   Invariant: the index only ever refers to records of a committed prefix of the log.
//   Invariant: per key, the versions of the records that take effect increase in log order.
//   Invariant: after an fdatasync or pwrite I/O error, bg_error_ is set and no later write is
//   acknowledged (the store is read-only until reopened).
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cairn/env.h"
#include "cairn/store.h"
#include "engine/commit_queue.h"
#include "engine/index.h"
#include "engine/periodic_thread.h"
#include "engine/reader_epochs.h"
#include "util/background_throttle.h"
#include "engine/record.h"
#include "engine/store_format.h"
#include "engine/test_hooks.h"
#include "engine/volume.h"
#include "engine/volume_accounts.h"
#include "engine/volume_preparer.h"
#include "engine/volume_set.h"
#include "engine/volume_syncer.h"
#include "util/hlc.h"
#include "util/mutex.h"

namespace cairn {

// store_read.cc: the ObjectInfo of an index entry (size, checksum, version, decoded metadata).
// REQUIRES: *info has empty metadata (a new ObjectInfo).
Status InfoOf(std::string key, const format::IndexEntry& e, ObjectInfo* info);

class StoreImpl final : public Store {
 public:
  StoreImpl(std::string dir, const StoreOptions& options, StoreTestHooks hooks);
  ~StoreImpl() override;
  // Store::Open, and OpenStoreForTesting (engine/store_testing.h) with test hooks.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, const StoreOptions& options,
                                             StoreTestHooks hooks);

  Status Put(std::string_view key, std::string_view value, const WriteOptions& wo) override;
  Status PutStream(std::string_view key, ValueSource* src, const WriteOptions& wo) override;
  Status PutAsync(std::string_view key, std::string_view value, const WriteOptions& wo,
                  PutDone done) override;
  void StartCommit() override;
  Result<std::string> Get(std::string_view key) override;
  Result<std::unique_ptr<ObjectReader>> OpenReader(std::string_view key) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ObjectInfo> HeadVersion(std::string_view key) override;
  Result<std::unique_ptr<PinnedObject>> PinObject(std::string_view key) override;
  Result<std::unique_ptr<PinnedObject>> TryPinObject(std::string_view key) override;
  Status Delete(std::string_view key, const WriteOptions& wo) override;
  Result<LogBatch> IterateLog(LogPosition from, size_t limit) override;
  Status SetTombstoneHorizon(Version horizon) override;
  Version tombstone_horizon() const override;
  uint32_t writer_id() const override { return clock_writer_; }
  Status WriteError() const override EXCLUDES(mu_) {
    MutexLock l(&mu_);
    return bg_error_;
  }
  Result<ScanResult> Scan(std::string_view prefix, std::string_view start_after,
                          size_t limit) override;
  Result<ScanResult> ScanVersions(std::string_view start_after, size_t limit) override;
  Result<std::unique_ptr<PhysicalIterator>> IteratePhysical(std::string_view prefix) override;
  Result<ReclaimReport> Reclaim(const ReclaimOptions& ro) override;
  Result<StoreStats> Stats() override;
  const RecoveryReport& recovery_report() const override { return report_; }
  Status Sync() override;
  Status Close() override;

  // store_open.cc
  // Not analysed: OpenStore and Recover run before any of the store's threads starts, and set
  // the guarded state directly (the parts of the store take this over: later commits).
  Status OpenStore() NO_THREAD_SAFETY_ANALYSIS;

  // store_read.cc: reads and validates the record at (volume, offset, len): its key, type and
  // (if not 0) sequence must be the expected ones. On success *value views into *buf.
  Status ReadRecord(uint32_t volume, uint64_t offset, uint64_t len, std::string_view key,
                    RecordType type, uint64_t sequence, std::string* buf,
                    std::string_view* value);
  uint64_t chunk_bytes() const { return chunk_bytes_; }
  std::shared_ptr<Volume> VolumeFor(uint32_t id) { return volumes_.Get(id); }

 private:
  // How a conditional write (a condition other than kNone, or any delete) is judged in Reserve,
  // and what was decided.
  struct Decision {
    WriteCondition condition = WriteCondition::kNone;
    Version want;            // kIfMatch: the live version required; kIfNewer: the one written
    bool is_delete = false;
    bool may_wait = true;    // false for PutAsync: Busy instead of waiting for a commit
    bool locked = false;     // looked up under index_write_mu_ (WriteDecided)
    // The key's committed entry (tombstones included), looked up when queue_.generation() was
    // `gen`.
    uint64_t gen = 0;
    std::optional<format::IndexEntry> found;
    enum class Outcome { kWrite, kRetry, kRefused, kNoop };
    Outcome outcome = Outcome::kWrite;
    Version held;            // on kRefused (Conflict) and kNoop: the version the store holds
  };

  // One pending write; lives on the writing thread's stack until committed. Its commit-queue
  // part (len, end, no_wait, done, write_status, committed, result, cv) is CommitQueue::Entry.
  struct Writer : CommitQueue::Entry {
    RecordType type = RecordType::kValue;
    std::string_view key;
    std::string_view meta;  // encoded metadata (values and manifests)
    uint8_t format = format::kRecordFormat;  // compaction copies a format-1 record as format 1
    // The version: stamped by Reserve when `stamp`, else given (kIfNewer, a relocated copy; none
    // for a chunk).
    Version version;
    bool stamp = false;
    Decision* decision = nullptr;  // judged by Reserve when set
    // Set by Reserve from the decision: the key's write this one replaces (WriteResult::replaced).
    Version replaced;
    bool replaced_known = false;
    // Set while the writer holds index_write_mu_ for its decision (WriteDecided); Reserve
    // releases it (ReleaseDecisionLock).
    bool decision_locked = false;
    bool sync = false;
    bool interval = false;  // Durability::kInterval: the interval thread must sync it
    uint64_t object_size = 0;
    uint32_t object_crc = 0;
    uint64_t timestamp_us = 0;
    const Manifest* manifest = nullptr;
    // A copy made by compaction: keeps `seq` (set by the caller) and commits only if the key's
    // index entry is still `expect`.
    bool relocated = false;
    format::IndexEntry expect;
    // Set by Reserve().
    std::shared_ptr<Volume> vol;
    uint64_t offset = 0;
    uint64_t seq = 0;
    uint64_t seq_after = 0;  // next_seq_ once this write was reserved
    // PutAsync (no_wait): Reserve returns Busy instead of waiting; once committed, Acknowledge
    // calls `done_cb` (with mu_ released) and deletes the writer, which owns its key.
    Store::PutDone done_cb;
    std::string owned_key;
    std::string owned_meta;
  };

  // Per-batch view of keys changed earlier in the same batch (nullopt = deleted).
  using Overlay = std::unordered_map<std::string, std::optional<format::IndexEntry>>;

  // How a record is applied to the index (ApplyRecord).
  enum class ApplyMode {
    kCommit,   // a write committing now: it is the newest version of its key
    kReplay,   // recovery after the index checkpoint: the index holds everything before it
    kRebuild,  // rebuilding the index from every volume, in log order
  };
  // One record as the commit path or recovery applies it.
  struct Applied {
    RecordType type = RecordType::kValue;
    bool relocated = false;
    uint8_t format = format::kRecordFormat;
    Version version;
    std::string_view meta;
    std::string_view key;
    uint32_t volume = 0;
    uint64_t offset = 0, len = 0, seq = 0, ts = 0, object_size = 0;
    uint32_t object_crc = 0;
    const Manifest* manifest = nullptr;      // for a manifest: its decoded payload
    const format::IndexEntry* expect = nullptr;  // kCommit of a relocated copy
  };

  // ---- store_write.cc
  Status ValidateKey(std::string_view key) const;
  // Checks wo's condition and version as arguments (InvalidArgument).
  Status CheckCondition(const WriteOptions& wo, uint64_t now_us) const;
  // Writes w's record after its decision: looks the key up (from memory only unless
  // d->may_wait), then WriteRecord, again while the lookup went stale (bounded).
  Status WriteDecided(Writer* w, std::string_view value, std::string* buf);
  // Under mu_: judges w->decision against its lookup and the queue. May release mu_ to wait
  // for a commit.
  Status JudgeLocked(Writer* w) REQUIRES(mu_);
  // Releases index_write_mu_ if w holds it for its decision. Not analysed: whether the lock is
  // held is a run-time property of the writer (w->decision_locked), which the analysis cannot
  // follow.
  void ReleaseDecisionLock(Writer* w) NO_THREAD_SAFETY_ANALYSIS;
  // Takes index_write_mu_ for w's decision (w->decision_locked). Not analysed, as above.
  void LockForDecision(Writer* w) NO_THREAD_SAFETY_ANALYSIS;
  // The rules of the conditions (cairn/object_store.h), on d->found; sets d->outcome, d->held.
  static Status Judge(Decision* d, const Version& horizon);
  // Runs w's write under wo's condition (stamped, or judged), and reports the outcome through
  // wo (result_out, sequence_out, held_version_out; not for a PutAsync writer).
  Status WriteWith(Writer* w, std::string_view value, std::string* buf, const WriteOptions& wo);
  // The effective tombstone horizon.
  Version HorizonLocked(uint64_t now_ms) const REQUIRES(mu_);
  bool WantsSync(const WriteOptions& wo) const;
  bool WantsInterval(const WriteOptions& wo) const;
  Status Reserve(Writer* w, uint64_t len) EXCLUDES(mu_);
  // Makes `next` (from the preparer) the active volume, sealing the current one.
  void SwitchVolumeLocked(std::shared_ptr<Volume> next) REQUIRES(mu_);
  // Encodes the record for w with `value` into buf (which may already hold the value at the
  // right place when `value_in_place`), pwrites it, then waits for its commit.
  Status WriteRecord(Writer* w, std::string_view value, std::string* buf);
  // The commit queue's callbacks (engine/commit_queue.h), without mu_: one fdatasync (if a
  // writer asked for kSync) and one index batch for a group of Writers, in log order; and the
  // acknowledgment of a committed PutAsync writer (its done_cb; deletes it).
  Status CommitGroup(const CommitQueue::Group& group);
  void Acknowledge(CommitQueue::Entry* e);
  void SetBgError(const Status& cause);
  void Log(const std::string& msg);

  // ---- store_reclaim.cc
  // One round of the background reclaimer (on reclaimer_'s thread): a pass if there is work.
  // Logs the first failure (`*warned`).
  void BackgroundReclaim(bool* warned);
  // Which volumes to compact, and why, from the accounts in `snap` (now: a fresh snapshot).
  std::vector<ReclaimReport::VolumePlan> PlanVolumes(const VolumeAccounts::Snapshot& snap);
  std::vector<ReclaimReport::VolumePlan> PlanVolumes() { return PlanVolumes(accounts_.snapshot()); }
  Status PunchDead(bool throttle, bool punch_active, ReclaimReport* r) REQUIRES(reclaim_mu_);
  // The id of the volume being appended to, or UINT32_MAX when there is none.
  uint32_t ActiveVolumeId();
  Status CompactVolume(uint32_t id, bool throttle, ReclaimReport* r) REQUIRES(reclaim_mu_);
  // Removes the files of volumes marked retired, once no reader can still be in them.
  Status RemoveRetired(ReclaimReport* r) REQUIRES(reclaim_mu_);
  // Waits until every reader opened before now has finished (bounded); false if some reader
  // is still open after the wait.
  bool WaitForOlderReaders() { return readers_.WaitForOlder(std::chrono::seconds(5)); }
  // Starts a throttled stretch of work: what came before it is not reclamation's work.
  void StartThrottle() REQUIRES(reclaim_mu_) { throttle_.Start(); }
  // Called after each step of reclamation (`bytes` read plus written): yields to foreground
  // work in proportion to the work done, then waits for the reclaim_mbps budget
  // (util/background_throttle.h).
  void Throttle(uint64_t bytes, bool throttle) REQUIRES(reclaim_mu_) {
    // With the disk full, the process's one budget for background work counts it but does not
    // hold it back: the space it releases is what the writers wait for.
    if (throttle)
      throttle_.Step(bytes, options_.reclaim_mbps, stop_.load(), preparer_.short_of_space());
  }
  void TestPoint(const char* name) {
    if (hooks_.test_point) hooks_.test_point(name);
  }
  Result<format::IndexEntry> LookupLive(std::string_view key);
  // Drops tombstone entries at or below the effective horizon (a bounded number per pass).
  Status DropExpiredTombstones(ReclaimReport* r) REQUIRES(reclaim_mu_);
  // store_pin.cc: PinObject (may_block) and TryPinObject (a null pin where a disk read would
  // be needed).
  Result<std::unique_ptr<PinnedObject>> Pin(std::string_view key, bool may_block);

 public:
  // Readers register while they may read records (ObjectReader, PinnedObject): reclamation
  // never releases or removes what an open reader may still read (engine/reader_epochs.h).
  uint64_t RegisterReader() { return readers_.Register(); }
  void UnregisterReader(uint64_t epoch) { readers_.Unregister(epoch); }

 private:

  // Shared by commit and recovery: updates the index batch, the volume accounts, the object
  // counts and the dead-record list for one record (docs/design.md, "Applying a record").
  Status ApplyRecord(const Applied& r, ApplyMode mode, IndexBatch* batch, Overlay* overlay)
      REQUIRES(index_write_mu_);
  // The key's current entry, tombstones included.
  Result<std::optional<format::IndexEntry>> LookupForCommit(std::string_view key,
                                                            const Overlay& overlay)
      REQUIRES(index_write_mu_);
  // The version `e` of `key` as it stops being live, for VolumeAccounts::Replace. A large
  // object's chunks are read back from its manifest into *chunks (without the accounts' lock); if
  // that fails, only its record is counted (logged). `keep`: as LiveVersion::keep.
  VolumeAccounts::LiveVersion Retiring(const format::IndexEntry& e, std::string_view key,
                                       const Manifest* keep, Manifest* chunks);
  // The checkpoint of the last committed position with the current counts (for index writes
  // that change counts outside a group commit).
  format::Checkpoint CurrentCheckpointLocked() REQUIRES(index_write_mu_);

  // ---- store_open.cc
  Status Recover(const std::optional<format::Checkpoint>& ckpt) NO_THREAD_SAFETY_ANALYSIS;
  // Format 1 -> 2 (docs/format.md section 7).
  Status UpgradeMarker(format::StoreMarker* marker, const std::string& marker_path);
  Status UpgradeIndex(format::Checkpoint* ckpt) NO_THREAD_SAFETY_ANALYSIS;
  // Before the first write of a session: durably replace the clean checkpoint the store was
  // opened with by an unclean one, so that a crash after that write makes the next open
  // replay the log. A session that never writes leaves the store clean, so a reader that
  // dies never costs a recovery.
  Status MarkUncleanOnce();

  const std::string dir_;
  const std::string vol_dir_;
  StoreOptions options_;
  const StoreTestHooks hooks_;  // none outside tests
  Env* env_;
  uint64_t store_id_ = 0;
  uint64_t capacity_ = 0;
  uint64_t chunk_bytes_ = 0;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<Index> index_;
  RecoveryReport report_;

  // ---- Locks, outermost first (docs/design.md, "Lock order"). A thread holding one of them
  // takes only locks below it; clang's thread-safety analysis checks every acquisition it can
  // see (ACQUIRED_BEFORE below; scripts/test's `threads` stage fails on a violation).
  //   reclaim_mu_        one reclamation pass at a time
  //   index_write_mu_    the index's single writer: a group commit, recovery, reclamation's
  //                      index writes, a decision that must not go stale
  //   mark_mu_           the clean flag's one-time reset (an index write and flush)
  //   syncer_.interval_mu_  (VolumeSyncer) the interval thread's sleep (it syncs holding it)
  //   syncer_.run_mu_       (VolumeSyncer) one sync pass at a time (a failed fdatasync calls
  //                         SetBgError, which takes mu_, then accounts_.mu_)
  //   mu_                the log: reservation, volume switching, and the commit queue
  //                      (queue_, CommitQueue: no lock of its own; its methods take mu_ as an
  //                      argument; its callbacks CommitGroup and Acknowledge run without it)
  //   preparer_.mu_      (VolumePreparer) a leaf: the prepared volumes, the next id; a writer
  //                      waits for a volume (WaitForVolume) with mu_ released
  //   volumes_           (VolumeSet) the open volumes, shared by readers
  //   accounts_.mu_      (VolumeAccounts) a leaf: the volume accounts, object counts, stream pins
  //   syncer_.dirty_mu_  (VolumeSyncer) a leaf: the volumes written since the last sync pass
  //   readers_           (ReaderEpochs) a leaf
  //   reclaimer_         (PeriodicThread) a leaf: the reclaimer thread's sleep and wake-up
  // Waits across threads follow the same order: the commit leader holds index_write_mu_ while
  // RocksDB may stall its write for a flush, whose before-flush hook syncs the volumes
  // (syncer_.run_mu_, and mu_ and accounts_.mu_ if the sync fails).
  Mutex reclaim_mu_ ACQUIRED_BEFORE(index_write_mu_);
  Mutex index_write_mu_ ACQUIRED_BEFORE(mark_mu_);
  Mutex mark_mu_ ACQUIRED_BEFORE(syncer_.interval_mu_);
  mutable Mutex mu_ ACQUIRED_AFTER(syncer_.run_mu_)
      ACQUIRED_BEFORE(preparer_.mu_, volumes_.mu_, accounts_.mu_);

  // All open volumes, for readers (engine/volume_set.h).
  VolumeSet volumes_;
  // The next volumes, prepared ahead of need by its thread, and the next volume id
  // (engine/volume_preparer.h). Declared after volumes_, which it adds to: destroyed before it.
  VolumePreparer preparer_;

  // Reservation and volume switching.
  std::shared_ptr<Volume> active_ GUARDED_BY(mu_);
  uint64_t tail_ GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ GUARDED_BY(mu_) = 1;
  HybridClock clock_ GUARDED_BY(mu_);  // stamps versions in log order
  uint32_t clock_writer_ = 0;          // clock_'s writer id (constant once open)
  Version explicit_horizon_ GUARDED_BY(mu_);  // SetTombstoneHorizon's, persisted
  // The writers reserved but not yet acknowledged, in log order; the leader election of group
  // commit, the unfinished bytes (max_unfinished_bytes), the groups committed (generation: a
  // decision's lookup is stale once it moved), where the committed log ends, and the committer
  // thread for PutAsync (engine/commit_queue.h). Guarded by mu_ (its methods take it as an
  // argument, so the analysis checks the callers). Declared after mu_ and options_, which it uses.
  CommitQueue queue_{&mu_, options_.max_unfinished_bytes,
                     {[this](const CommitQueue::Group& g) { return CommitGroup(g); },
                      [this](CommitQueue::Entry* e) { Acknowledge(e); }}};
  Status bg_error_ GUARDED_BY(mu_);
  bool closing_ GUARDED_BY(mu_) = false;
  bool closed_ GUARDED_BY(mu_) = false;
  // Reserve asked the preparer for the next volume (WantAhead) once the active one was half full.
  bool asked_ahead_ GUARDED_BY(mu_) = false;
  std::atomic<bool> stop_{false};

  // The volume accounts, the object counts, reclamation's totals and the stream pins
  // (engine/volume_accounts.h); changed by the commit leader, recovery and reclamation.
  VolumeAccounts accounts_;

  // The index's writer.
  uint64_t bytes_since_flush_ GUARDED_BY(index_write_mu_) = 0;
  uint64_t records_since_flush_ GUARDED_BY(index_write_mu_) = 0;
  // During recovery and a group commit: the index entries, before the current batch, of the
  // keys it touches.
  const Overlay* replay_prefetch_ GUARDED_BY(index_write_mu_) = nullptr;
  // The last checkpoint written with a commit (or recovery), and the highest version the index
  // reflects.
  format::Checkpoint last_ckpt_ GUARDED_BY(index_write_mu_);

  // Reclamation. One pass at a time (reclaim_mu_); commits and reclamation's own index writes
  // are serialised by index_write_mu_ so that account changes land in the batch that causes them.
  // The background reclaimer's thread (engine/periodic_thread.h); SetTombstoneHorizon wakes it.
  PeriodicThread reclaimer_;
  std::atomic<uint64_t> foreground_ops_{0};  // bumped by every foreground operation
  // Yielding to foreground work and the reclaim_mbps budget: one pass at a time uses it.
  BackgroundThrottle throttle_ GUARDED_BY(reclaim_mu_){&foreground_ops_};
  ReaderEpochs readers_;

  // Which volumes need an fdatasync, the sync passes and the interval thread
  // (engine/volume_syncer.h). Declared after what SetBgError touches: destroyed before it.
  VolumeSyncer syncer_{[this](const Status& s) { SetBgError(s); }};

  bool opened_ = false;
  bool rebuild_from_start_ = false;  // the index had no checkpoint at open
  std::atomic<bool> clean_on_disk_{false};
  format::Checkpoint open_checkpoint_ GUARDED_BY(mark_mu_);  // the clean checkpoint found at open
};

}  // namespace cairn
