// Index: the key index, a RocksDB database with its WAL turned off (docs/format.md 6).
//
// The volume log is the only write-ahead log. Each batch of index updates carries the checkpoint
// that says how far into the log it reaches, so whatever state RocksDB recovers after a crash
// (it loses its unflushed memtables, never part of one) is consistent with its checkpoint, and
// the store replays the log from there.
//
// Before RocksDB writes a memtable to disk it calls `before_flush`, which the store uses to sync
// the volumes: the index on disk never points at log bytes that are not durable.
//
// Memory: the block cache (charged with index and filter blocks) and the memtables are bounded by
// StoreOptions. The block cache's automatic size (index_cache_bytes = 0, the default) follows
// the index's size, up to a quarter of the memory (AutoIndexCacheBytes); a set size is fixed.
//
// Thread safety: all methods may be called concurrently. Write() is called by one thread at a
// time (the commit leader or recovery).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/options.h"
#include "cairn/status.h"
#include "engine/entry_cache.h"
#include "engine/store_format.h"
#include "util/mutex.h"

namespace rocksdb {
class DB;
class Env;
class Cache;
class WriteBatch;
}  // namespace rocksdb

namespace cairn {

// The automatic index cache size (StoreOptions::index_cache_bytes = 0) for an index whose tables
// take `footprint` bytes uncompressed, on a machine with `memory` bytes: the footprint plus an
// eighth and 8 MiB, at least kMinAutoIndexCacheBytes, at most memory / 4 (never below the
// floor).
inline constexpr uint64_t kMinAutoIndexCacheBytes = uint64_t{64} << 20;
uint64_t AutoIndexCacheBytes(uint64_t footprint, uint64_t memory);
// The memory this process may use: physical memory, or the lowest limit of its memory cgroup and
// the cgroups above it if lower (v2 memory.max, v1 memory.limit_in_bytes).
uint64_t AvailableMemoryBytes();
// The files AvailableMemoryBytes reads limits from, given /proc/self/cgroup's text: for v2
// ("0::PATH") PATH's memory.max and its ancestors' under /sys/fs/cgroup and /sys/fs/cgroup/unified
// (a hybrid mount), for v1 ("N:memory:PATH") memory.limit_in_bytes under /sys/fs/cgroup/memory.
std::vector<std::string> CgroupMemoryLimitFiles(std::string_view proc_self_cgroup);

// A dead record listed for hole punching ('d' entries, docs/format.md 6.4).
struct DeadRecord {
  uint32_t volume = 0;
  uint64_t offset = 0;
  uint64_t punch_begin = 0;
  uint64_t punch_end = 0;
};

// A tombstone entry as the tombstone list ('t' entries, docs/format.md 6.5) names it.
struct TombstoneRef {
  Version version;
  std::string key;
};

class IndexBatch {
 public:
  IndexBatch();
  ~IndexBatch();
  // A tombstone entry is also listed by version ('t'), for dropping it at the horizon.
  void PutEntry(std::string_view key, const format::IndexEntry& e);
  void DeleteEntry(std::string_view key);
  void DeleteTombstoneListing(const TombstoneRef& t);
  void PutHorizon(const Version& v);
  void PutVolume(uint32_t id, const format::VolumeAccount& v);
  void PutCheckpoint(const format::Checkpoint& c);
  void PutDead(const DeadRecord& d);
  void DeleteDead(uint32_t volume, uint64_t offset);
  void DeleteDeadInVolume(uint32_t volume);
  void DeleteVolume(uint32_t id);
  // Marks (or unmarks) a rebuild of the index from the volumes in progress.
  void SetRebuilding(bool on);
  void PutReclaimTotals(uint64_t reclaimed_bytes, uint64_t compactions);
  void Clear();
  size_t count() const;
  rocksdb::WriteBatch* rep() { return rep_.get(); }
  // The object entries this batch puts (with the entry) or deletes (without): Index::Write
  // keeps the hot cache coherent with them.
  const std::vector<std::pair<std::string, std::optional<format::IndexEntry>>>& entries() const {
    return entries_;
  }

 private:
  std::unique_ptr<rocksdb::WriteBatch> rep_;
  std::vector<std::pair<std::string, std::optional<format::IndexEntry>>> entries_;
};

class Index {
 public:
  ~Index();
  // `env`: the RocksDB Env (nullptr: RocksDB's default; tests pass others, engine/test_hooks.h).
  // `defer_compactions`: RocksDB compacts nothing until StartCompactions(), so that a replay
  // after a crash does not share the disk and the two cores with a compaction (one started by
  // the open took a third of the CPU of a cold restart at 10 M objects). Ignored when level 0
  // already holds kDeferCompactionsBelowL0 table files or more: writes would stall on them.
  static Result<std::unique_ptr<Index>> Open(const std::string& dir, const StoreOptions& options,
                                             rocksdb::Env* env, std::function<void()> before_flush,
                                             bool defer_compactions = false);
  // Named bound: level-0 table files below which an open may defer compactions. RocksDB slows
  // writes at 20 and stops them at 36; a replay adds at most a few.
  static constexpr uint64_t kDeferCompactionsBelowL0 = 12;
  // Lets RocksDB compact again (after Open with defer_compactions). Idempotent.
  Status StartCompactions();

  // Lookups of object entries (Get, GetCached) answer from the hot-entry cache when they can
  // (engine/entry_cache.h); Write keeps it coherent.
  // NotFound if the key has no entry. Tombstone entries count as no entry unless
  // `with_tombstones`.
  Result<format::IndexEntry> Get(std::string_view key, bool with_tombstones = false);
  // Like Get, but never reads the disk: answers only from the memtables and the block cache
  // (RocksDB's kBlockCacheTier). *in_memory is false (and the result NotFound) when the answer
  // needs a disk read. Used on the server's event loop (issue 4).
  Result<format::IndexEntry> GetCached(std::string_view key, bool* in_memory,
                                       bool with_tombstones = false);
  // Looks up many keys in one batched call (sorted, so RocksDB reads each block once);
  // (*out)[i] is empty where keys[i] has no entry; tombstone entries are returned. Keys in the
  // hot cache skip RocksDB.
  // A large batch is looked up from up to `max_threads` threads (named bound), 256 keys or more
  // each: Debian's RocksDB has no io_uring, so one thread keeps one read in flight.
  Status MultiGet(const std::vector<std::string>& keys,
                  std::vector<std::optional<format::IndexEntry>>* out,
                  size_t max_threads = kMultiGetThreads);
  static constexpr size_t kMultiGetThreads = 8;
  Status Write(IndexBatch* batch);
  // NotFound when the index is new.
  Result<format::Checkpoint> ReadCheckpoint();
  Result<std::map<uint32_t, format::VolumeAccount>> ReadVolumes();
  // Entries whose key starts with prefix and sorts after start_after, in key order; at most
  // `limit`; *truncated says whether more matched. Tombstone entries only `with_tombstones`.
  Status Scan(std::string_view prefix, std::string_view start_after, size_t limit,
              std::vector<std::pair<std::string, format::IndexEntry>>* out, bool* truncated,
              bool with_tombstones = false);
  // Up to `limit` listed tombstones ('t' entries) with versions at or below `upto`, in version
  // order. A listing may be stale (its key written again since): check the entry.
  Status ListTombstones(const Version& upto, size_t limit, std::vector<TombstoneRef>* out);
  // The horizon set by SetTombstoneHorizon; none() if never set.
  Result<Version> ReadHorizon();
  // Writes the memtables to disk. With wait, returns once they are durable. Without, returns
  // once the flush is scheduled, having first waited for a flush still running: at most one
  // flush is in flight, so everything written before the previous call is durable.
  Status Flush(bool wait);
  // Compacts every table into the last level (RocksDB CompactRange over all keys). The engine
  // never calls it: tests use it to get the tables a long-lived index has, past level 0 (whose
  // index and filter blocks stay pinned in the block cache).
  Status CompactForTesting();
  // Makes everything written so far durable, then lists up to `limit` dead records that were
  // part of it (in volume and offset order). Entries written meanwhile are not listed: the
  // records that killed them may not be durable yet.
  // Only records in volumes below `before_volume` are listed.
  Status FlushAndListDead(size_t limit, uint32_t before_volume, std::vector<DeadRecord>* out);
  Result<bool> Rebuilding();
  // Totals kept across restarts: bytes reclaimed, volumes compacted.
  Result<std::pair<uint64_t, uint64_t>> ReadReclaimTotals();
  uint64_t MemoryBytes();
  // The block cache's capacity now (StoreOptions::index_cache_bytes, or the automatic size).
  uint64_t CacheCapacity() const;
  // What the index's tables take in the block cache, uncompressed: keys, values, index and
  // filter blocks (RocksDB's aggregated table properties).
  uint64_t FootprintBytes();
  // The hot-entry cache's lookups since open: found there, gone to RocksDB.
  uint64_t HotHits() const { return hot_ ? hot_->hits() : 0; }
  uint64_t HotMisses() const { return hot_ ? hot_->misses() : 0; }

 private:
  Index() = default;
  // The entry's RocksDB lookup behind Get and GetCached (the hot cache is filled here).
  Result<format::IndexEntry> Lookup(std::string_view key, bool with_tombstones, bool cached_only,
                                    bool* in_memory);
  // With an automatic cache size: sets the capacity from FootprintBytes() (after open and after
  // each flush), when the tables' size on disk moved by more than a sixteenth since it last did.
  void ResizeCache() EXCLUDES(resize_mu_);
  std::unique_ptr<rocksdb::DB> db_;
  std::shared_ptr<rocksdb::Cache> cache_;
  bool auto_cache_ = false;
  Mutex resize_mu_;  // one resize at a time, so that an older size never replaces a newer one
  bool sized_ GUARDED_BY(resize_mu_) = false;
  uint64_t sized_sst_bytes_ GUARDED_BY(resize_mu_) = 0;  // the tables' size on disk then
  std::unique_ptr<EntryCache> hot_;
  bool compactions_deferred_ = false;
};

}  // namespace cairn
