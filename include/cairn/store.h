// Store: Cairn's local storage engine. Start here.
//
// A store is a directory of pre-written volume files, to which objects are appended as
// checksummed records, and a RocksDB key index pointing into them (docs/design.md). The volume
// log is the only write-ahead log.
//
// Thread safety: every method of Store may be called concurrently from any number of threads.
// An ObjectReader is used by one thread at a time.
//
// Visibility: a write becomes visible to readers only when its commit has succeeded (for
// kSync, after its fdatasync). While a write to key K is still committing, Get/Head/Scan/
// OpenReader of K return the previous committed version, or NotFound if there was none.
// A write whose commit failed is never made visible by this process; the store turns read-only
// (docs/reliability.md).
//
// Ownership: one process owns a store directory; Open fails with Busy naming the pid of the
// process that holds it.
//
// Versions, metadata and conditions (issue 15) follow cairn/object_store.h: every write of a key
// carries a Version (stamped by the store, or the caller's with kIfNewer), puts carry metadata,
// and a write may be conditional. A condition is checked atomically with the write's place in
// the log: of two writers racing on one key, the second is judged against the first's outcome.
// A write refused by its condition (Conflict, NotFound) or an idempotent kIfNewer retry writes
// nothing. Deletes are kept as tombstones (with their version) until the tombstone horizon
// allows dropping them; reads, listings and object counts never show them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/object_store.h"
#include "cairn/options.h"
#include "cairn/status.h"

namespace cairn {

// Limits (each one is named in the error that reports it).
inline constexpr uint64_t kMinVolumeCapacity = uint64_t{1} << 20;    // 1 MiB
inline constexpr uint64_t kMaxVolumeCapacity = uint64_t{64} << 30;   // 64 GiB
// max_object_bytes with volumes of 16 MiB or more (4 MiB chunks, a manifest of at most one
// chunk): about 1 TiB. Smaller volumes use smaller chunks and allow proportionally less. A
// stream is only known to exceed it once that much has been read; the put then fails with
// InvalidArgument and nothing becomes visible.
inline constexpr uint64_t kMaxObjectBytes = ((uint64_t{4} << 20) - 16) / 16 * (uint64_t{4} << 20);

struct ScanResult {
  std::vector<ObjectInfo> objects;  // in key order
  bool truncated = false;           // more keys match; continue with start_after = last key
};

// What opening the store found and did. Nothing is dropped without being counted here.
struct RecoveryReport {
  struct Region {
    uint32_t volume = 0;
    uint64_t offset = 0;
    uint64_t length = 0;
    bool zero = false;  // all zero bytes (a write that never happened) vs garbage
  };
  bool clean_shutdown = false;
  uint64_t records_replayed = 0;
  uint64_t bytes_replayed = 0;
  std::vector<Region> bad_regions;   // invalid bytes between valid records: reported, skipped
  uint64_t torn_tail_bytes = 0;      // non-zero bytes after the last valid record, truncated
  uint64_t punched_records = 0;      // dead records met with their bodies released (expected)
  // The store was written in format 1 and this open upgraded it (docs/format.md section 7).
  bool upgraded_from_format1 = false;
  uint32_t tail_volume = 0;
  uint64_t tail_offset = 0;          // where appending resumes (logically truncated here)
  uint64_t micros = 0;               // Recover's time: from the checkpoint on
  // Where an open's time went, in microseconds. The replay's parts are zero after a clean
  // shutdown. Measured to find what bounds a restart after a crash (docs/design.md, "Recovery").
  struct Timings {
    uint64_t index_open = 0;   // RocksDB's open, with the check of its table files
    uint64_t scan = 0;         // reading and checking the log after the checkpoint
    uint64_t sync = 0;         // fdatasync of the volumes replayed from
    uint64_t lookup = 0;       // the replayed keys' current index entries (batched)
    uint64_t apply = 0;        // applying the records to the batch (ApplyRecord)
    uint64_t index_write = 0;  // writing the index batches
    uint64_t index_flush = 0;  // the flush that makes the recovered index durable
  } timings;
  std::string ToString() const;
};

// One live object, as the physical-order iterator gives it: where its first record lies.
struct PhysicalEntry {
  ObjectInfo info;
  uint32_t volume = 0;
  uint64_t offset = 0;
};

// Visits live objects in on-disk order (volume id, then offset of the object's record; for a
// large object, its manifest). It lists the objects from the index when created, so it sees
// that moment's objects, and holds one entry per object (key + about 64 bytes) in memory; the
// objects themselves are read with OpenReader, which may find one deleted or replaced since.
class PhysicalIterator {
 public:
  virtual ~PhysicalIterator() = default;
  // Sets *out to the next object; false at the end.
  virtual Result<bool> Next(PhysicalEntry* out) = 0;
  // Objects in all (the iterator's size).
  virtual size_t size() const = 0;
};

struct ReclaimOptions {
  bool dry_run = false;   // plan and report only; change nothing
  bool punch = true;      // release dead records' blocks with fallocate(PUNCH_HOLE)
  bool compact = true;    // copy-compact volumes that meet the thresholds in StoreOptions
  bool throttle = true;   // honour StoreOptions::reclaim_mbps; false for on-demand runs
  // Also punch dead records in the volume being appended to. A punch holds the file's inode
  // lock (and, on a file system mounted with `discard`, waits for the device meanwhile), which
  // stalls every append to that volume; the background reclaimer therefore leaves the active
  // volume alone until it is sealed.
  bool punch_active = true;
};

struct ReclaimReport {
  // What each volume looked like and what happened (or, with dry_run, would happen) to it.
  struct VolumePlan {
    uint32_t id = 0;
    uint64_t live_bytes = 0;
    uint64_t dead_bytes = 0;
    uint64_t punchable_bytes = 0;   // whole 4 KiB blocks inside dead records, not yet released
    bool compact = false;           // meets a compaction threshold
    std::string reason;             // why it is (or is not) compacted
  };
  std::vector<VolumePlan> volumes;
  uint64_t punched_records = 0;
  uint64_t punched_bytes = 0;        // released by hole punching
  uint64_t compacted_volumes = 0;
  uint64_t copied_records = 0;
  uint64_t copied_bytes = 0;         // live bytes rewritten by compaction
  uint64_t retired_bytes = 0;        // allocated bytes of retired volume files
  // Tombstones dropped: their entry (at or below the effective tombstone horizon), or a record
  // no entry refers to and no older write of the key can be behind.
  uint64_t tombstones_dropped = 0;
  uint64_t tombstones_kept = 0;      // tombstone records copied forward by compaction
  // Punching stopped at its bound of rounds for one pass with records still listed (a
  // throttled pass: the background reclaimer's, which then starts the next pass at once).
  bool punch_bound_reached = false;
  uint64_t micros = 0;
};

// Named bounds of one IterateLog call.
inline constexpr size_t kMaxLogBatchRecords = 10000;                 // max_log_batch_records
inline constexpr size_t kDefaultLogBatchRecords = 1000;              // limit 0
inline constexpr size_t kMaxLogBatchBytes = size_t{4} << 20;         // key bytes in one batch
inline constexpr uint64_t kMaxLogScanBytes = uint64_t{64} << 20;     // log bytes read per call

class Store {
 public:
  virtual ~Store() = default;

  // Opens (and, with create_if_missing, creates) the store in `dir`, running recovery.
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, const StoreOptions& options);

  // Stores `value` under `key` (1..kMaxKeyBytes bytes) with wo.metadata, subject to
  // wo.condition (cairn/object_store.h):
  //   kNone        replaces any previous version; the store stamps the version.
  //   kIfMatch     only if the key's live version is wo.version: Conflict if another version is
  //                live, NotFound if none is (wo.version must not be none: InvalidArgument).
  //   kIfNoneMatch only if the key has no live version (create); Conflict otherwise.
  //   kIfNewer     writes wo.version (required, not none; its milliseconds at most
  //                max_clock_skew_ms ahead of this machine's clock, else InvalidArgument) if it
  //                is above the key's current version, live or deleted; an equal version is an
  //                idempotent retry: OK, nothing written, *wo.result_out the version held. A
  //                lower one is Conflict. A version at or below the tombstone horizon, for a key
  //                with no entry, is Conflict too (a forgotten delete may be newer).
  // On Conflict, *wo.held_version_out (if set) receives the version held (none() if none). On
  // OK, *wo.result_out and *wo.sequence_out (if set) receive what was written. Metadata over
  // max_meta_bytes is LimitExceeded, and nothing is written.
  virtual Status Put(std::string_view key, std::string_view value,
                     const WriteOptions& wo = WriteOptions()) = 0;
  // Stores a value read from `src` until it reports the end. At most one chunk of it is held in
  // memory. The object becomes visible only when all of it is committed. The condition is
  // checked once before reading (to fail early) and decides at the commit of the last record
  // (the manifest): if it fails then, nothing becomes visible (the chunks are dead space).
  virtual Status PutStream(std::string_view key, ValueSource* src,
                           const WriteOptions& wo = WriteOptions()) = 0;

  // The outcome of a PutAsync and, on success, what was written (version, sequence, size, crc).
  using PutDone = std::function<void(Status status, const WriteResult& result)>;
  // Put for a caller that must not block (the server's event loop, issue 4): reserves log
  // space, writes the record into the volume (pre-written, so a page-cache copy) and returns
  // OK without waiting for the commit. `done` then runs exactly once, on the thread leading
  // the group commit that covers the write, after that commit: in kSync mode only after its
  // fdatasync succeeded, and only after the index points at the new version. Keep `done` short:
  // it delays the acknowledgements of the rest of its group. wo.result_out and wo.sequence_out
  // are not used (`done` receives the result); wo.held_version_out is, for a Conflict returned
  // directly.
  // Returns Busy (nothing written, `done` never called) where the call would have to wait:
  // log space (max_unfinished_bytes) is full, the next volume is not prepared yet, the first
  // write after a clean open must mark the store unclean, the value is larger than a chunk, a
  // condition needs an index lookup that is not in memory or a write of the same key still
  // committing, or a kIfNewer retry is idempotent (Put answers it). The caller then uses Put on
  // a thread that may block. Other errors (Conflict, NotFound, LimitExceeded...) are returned
  // directly too (`done` not called).
  // The commit starts at the next StartCommit (or with another writer's commit), so a caller
  // can gather several writes, e.g. one event-loop turn's, into one group commit.
  // REQUIRES: StartCommit is called soon after every PutAsync that returned OK.
  virtual Status PutAsync(std::string_view key, std::string_view value, const WriteOptions& wo,
                          PutDone done) = 0;
  // Starts the group commit of the PutAsync writes made so far (wakes the committer thread).
  virtual void StartCommit() = 0;

  // Returns the whole value. For large objects prefer OpenReader.
  virtual Result<std::string> Get(std::string_view key) = 0;
  virtual Result<std::unique_ptr<ObjectReader>> OpenReader(std::string_view key) = 0;
  // Pins the key's current version and returns where its value lies (server zero-copy GET).
  // Costs no disk read for an object of one record; reads (and verifies) the manifest of a
  // large object.
  virtual Result<std::unique_ptr<PinnedObject>> PinObject(std::string_view key) = 0;
  // PinObject that never touches the disk, for a caller that must not block (the server's
  // event loop): answers from the index's memtables and block cache only. Returns a null pin
  // (status OK) when that is not enough: the index entry is not in memory, or the object is
  // large (its manifest would be read). NotFound is returned only when it is certain.
  virtual Result<std::unique_ptr<PinnedObject>> TryPinObject(std::string_view key) = 0;
  // Size, checksum, version and metadata; costs no disk read (the index holds them all).
  virtual Result<ObjectInfo> Head(std::string_view key) = 0;
  // Head, deletes included (cairn/object_store.h, ObjectStore::HeadVersion): a kept tombstone
  // is an info with `deleted` set and the delete's version. NotFound when the index holds no
  // entry for the key (never written, or a tombstone dropped at the horizon).
  virtual Result<ObjectInfo> HeadVersion(std::string_view key) = 0;

  // Writes a tombstone (with a version, kept until the horizon), subject to wo.condition, as
  // Put: kNone, kIfMatch and kIfNoneMatch need a live version (NotFound, nothing written, if
  // there is none; kIfNoneMatch of a live key is Conflict); kIfNewer writes the tombstone with
  // wo.version even for a key the store has never seen (a replica must remember a delete it
  // never saw the object of), under the same rules as a kIfNewer put. wo.metadata is ignored.
  virtual Status Delete(std::string_view key, const WriteOptions& wo = WriteOptions()) = 0;

  // Up to `limit` objects whose key starts with `prefix` and sorts after `start_after`.
  virtual Result<ScanResult> Scan(std::string_view prefix, std::string_view start_after,
                                  size_t limit) = 0;

  // Scan over every key, deletes included (a kept tombstone is an info with `deleted` set, as
  // HeadVersion): for anti-entropy's digest (ObjectStore::ListVersions).
  virtual Result<ScanResult> ScanVersions(std::string_view start_after, size_t limit) = 0;

  // Live objects whose key starts with `prefix`, in on-disk order (bulk export, verify).
  virtual Result<std::unique_ptr<PhysicalIterator>> IteratePhysical(std::string_view prefix) = 0;

  // Runs one reclamation pass now (the background reclaimer runs the same pass on its own when
  // StoreOptions::background_reclaim is set). Returns what it found and did.
  virtual Result<ReclaimReport> Reclaim(const ReclaimOptions& ro) = 0;

  // The change feed (docs/design.md, "The change feed"): up to `limit` committed object-level
  // records (values and manifests as kPut, tombstones as kDelete; never chunks) at or after
  // `from`, in log order, each with its key, version, size, position and relocated flag. Resume
  // with batch.next; batch.end says that nothing committed follows it for now. Never returns a
  // record that is not committed (a write still committing, a write refused by its condition,
  // a torn record after a crash). Positions stay valid across restarts and reclamation: a
  // record whose body hole punching released is still listed from its head (the size of a
  // punched large object's manifest is then 0); a position in a volume compaction removed
  // resumes at the next volume, where its live records were copied (listed again, relocated).
  // Bounds: limit 1..kMaxLogBatchRecords (0: kDefaultLogBatchRecords; more: LimitExceeded naming
  // max_log_batch_records), at most kMaxLogBatchBytes of keys, and at most kMaxLogScanBytes of
  // log read per call (a batch may then be empty with end false). Thread-safe; reads only.
  virtual Result<LogBatch> IterateLog(LogPosition from, size_t limit) = 0;

  // Moves the tombstone horizon forward to `horizon` (persisted; a lower value changes nothing).
  // Tombstones at or below the effective horizon (this, or now - tombstone_ttl_ms, whichever
  // is higher) are dropped by reclamation, and a kIfNewer write at or below it of a key with no
  // entry is refused with Conflict. Durable when it returns OK.
  virtual Status SetTombstoneHorizon(Version horizon) = 0;
  // The effective tombstone horizon now.
  virtual Version tombstone_horizon() const = 0;
  // The writer id of the versions this store stamps (StoreOptions::writer_id, or the marker's).
  virtual uint32_t writer_id() const = 0;
  // OK, or the error that turned the store read-only (an fdatasync or pwrite error, a volume
  // removed under it): from then on it refuses every write until reopened. Cheap (one lock).
  virtual Status WriteError() const = 0;

  virtual Result<StoreStats> Stats() = 0;
  // What this open's recovery found.
  virtual const RecoveryReport& recovery_report() const = 0;

  // Makes every write that has returned so far durable (one fdatasync).
  virtual Status Sync() = 0;
  // Commits, checkpoints the index, and releases the store. Also done by the destructor.
  virtual Status Close() = 0;
};

}  // namespace cairn
