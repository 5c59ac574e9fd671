// Options for opening a store and for individual writes.
//
// Durability modes and exactly what a crash can lose in each are in docs/reliability.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace cairn {

class Env;
class BackgroundScheduler;

enum class Durability : uint8_t {
  // The write returns only after an fdatasync covering it succeeded. Concurrent writers share
  // one fdatasync (group commit). A crash loses no acknowledged write.
  kSync = 0,
  // The write returns once it is in the page cache and visible; a background thread makes
  // everything durable every `sync_interval_ms`. A crash of the machine (not of the process)
  // can lose the writes of the last interval.
  kInterval = 1,
  // The write returns once it is in the page cache and visible. A machine crash can lose every
  // write since the last Sync(), index checkpoint or clean close.
  kNone = 2,
};

// How a new volume's data area is made ready before anything is appended to it
// (docs/design.md, "Preparing volumes").
enum class VolumePreparation : uint8_t {
  // Written with zeros and synced: the write path then only overwrites written blocks, and a
  // small write + fdatasync costs about 0.6x what it costs in allocated-but-unwritten space
  // (bench/engine, "prewrite"). The default, for stores that take durable puts.
  kWriteZeros = 0,
  // Allocated with fallocate(2) and synced, not written: the data area is unwritten extents,
  // which read as zeros. It costs no write bandwidth, so a bulk load writes each byte once
  // instead of twice (cairn import uses it: about 1.2x faster, docs/design.md); small synced puts into
  // such a volume pay the extent conversion in every fdatasync. Falls back to kWriteZeros
  // where the file system cannot allocate.
  kAllocate = 1,
};

// Parses "sync", "none", "interval" or "interval=N" (N in ms, 1..3600000). Returns false if
// malformed. *interval_ms is written only for "interval=N".
bool ParseDurability(std::string_view text, Durability* mode, uint32_t* interval_ms);
const char* DurabilityName(Durability d);

// Receives the engine's events, for metrics (cairnd feeds its Prometheus histograms from it).
// Called inline on the engine's threads (the commit leader, the sync pass): an implementation
// must be cheap, must not block and must not call the store.
class StoreObserver {
 public:
  virtual ~StoreObserver() = default;
  // A group commit applied `writers` writes (records) to the index, `bytes` of log in all.
  virtual void OnGroupCommit(size_t /*writers*/, uint64_t /*bytes*/) {}
  // One fdatasync of a volume took `micros` (ok: it succeeded).
  virtual void OnDataSync(uint64_t /*micros*/, bool /*ok*/) {}
};

struct StoreOptions {
  // nullptr means Env::Default().
  Env* env = nullptr;

  // Create the store if `dir` does not exist or is empty. A non-empty directory without a
  // CAIRN marker is always refused.
  bool create_if_missing = true;

  // Bytes per volume file. Used only when the store is created; later opens use the stored
  // value. Limits: kMinVolumeCapacity..kMaxVolumeCapacity in store.h.
  uint64_t volume_capacity = uint64_t{1} << 30;

  // How volumes created by this session are prepared (see VolumePreparation). Volumes that
  // already exist keep what they are; recovery treats both kinds alike.
  VolumePreparation volume_preparation = VolumePreparation::kWriteZeros;

  // The store's default durability; WriteOptions may override it per write.
  Durability durability = Durability::kSync;
  uint32_t sync_interval_ms = 100;

  // RocksDB block cache for the index, charged with index and filter blocks too: the index's
  // read memory is bounded by this, not by the number of objects. A cold GET costs one disk
  // read only while the index block holding its key is cached (docs/design.md, "Cold reads").
  // 0 (the default): sized to the index, and resized as it grows (after each index flush): its
  // uncompressed size plus an eighth and 8 MiB, at least 64 MiB, at most a quarter of the
  // machine's memory (or of the cgroup's limit, if lower). A size: exactly that.
  size_t index_cache_bytes = 0;
  // Named bound: the hot-entry cache kept in front of the RocksDB index, charged as key and
  // metadata bytes plus 208 per entry (so about 36,000 entries of 20-byte keys without metadata
  // per 8 MiB); recently read keys are found there without a RocksDB lookup (docs/design.md,
  // "Hot entries"). 0 turns it off. 20 MiB: the entry grew by its version and metadata (160 to
  // 208 bytes charged) with format 2, and the default grew with it so that as many keys fit as
  // before (about 92,000).
  size_t index_hot_bytes = size_t{20} << 20;
  // RocksDB memtable size; at most two are kept, so index write memory is at most twice this.
  size_t index_write_buffer_bytes = size_t{32} << 20;

  // Named bound: bytes of log that may be reserved but not yet committed. Writers wait when it
  // is reached. Recovery scans this far past the last valid record looking for survivors.
  uint64_t max_unfinished_bytes = uint64_t{64} << 20;

  // Named bounds on the log a restart after a crash replays (docs/design.md, "The index and its
  // checkpoint"). After this many bytes, or this many records, of log since the last index flush
  // was asked for, the commit asks for the next one, and it does so only once the previous flush
  // is done. So an open after a crash replays at most twice either bound of committed log, plus
  // the writes not yet committed when the process died (at most max_unfinished_bytes). Each
  // replayed record costs a lookup of its key's previous version, a random read when the index
  // is not in memory; each flush costs index writes (a table file, and compaction later).
  uint64_t checkpoint_bytes = uint64_t{64} << 20;
  uint64_t checkpoint_records = 8192;

  // Reclamation (docs/design.md, "Reclamation").
  // A background thread releases dead records' blocks (hole punching) and copy-compacts
  // volumes that meet a threshold below. Off: only Store::Reclaim does it.
  bool background_reclaim = true;
  // How often the background reclaimer looks for work.
  uint32_t reclaim_interval_ms = 1000;
  // I/O budget of compaction's copying, in MB/s (bytes read plus bytes written); 0 = unlimited.
  uint32_t reclaim_mbps = 32;
  // The process's one budget for background work (cairn/background.h), which reclamation's
  // steps are admitted by too (after reclaim_mbps); nullptr: none. It must outlive the store.
  BackgroundScheduler* background_scheduler = nullptr;
  // A sealed volume is compacted when its live bytes are below this fraction of the bytes it
  // still occupies on disk (dead bytes that hole punching could not release: small records,
  // tombstones, the heads of punched records)...
  double compact_live_ratio = 0.5;
  // ...or when it holds fewer live bytes than this (a volume sealed early, by a crash or a
  // restart, is merged into the active one and its file removed). 0 = volume_capacity / 16.
  uint64_t compact_min_live_bytes = 0;

  // Versions (docs/format.md section 5). The writer id this store stamps its versions with; 0:
  // the random id kept in the store's marker (chosen when the store was created or upgraded).
  // Not written to the marker. Two stores that may hold the same key (replicas) need distinct ids.
  uint32_t writer_id = 0;
  // Named bound: a kIfNewer write (a replica's version) whose milliseconds are more than this
  // ahead of this machine's clock is refused with InvalidArgument naming max_clock_skew_ms: the
  // store's clock would jump ahead with it and stamp every later write in the future. At most
  // one year.
  uint64_t max_clock_skew_ms = 60000;
  // Named bound: the encoded metadata of one object (cairn::kDefaultMaxMetaBytes, 8 KiB; at
  // most 64 KiB, the record format's bound). More is refused with LimitExceeded naming
  // max_meta_bytes, and nothing is written.
  size_t max_meta_bytes = 8192;
  // Tombstones (kept deletes, docs/design.md "Tombstones and the horizon") are dropped once their
  // version is at or below the effective horizon: the higher of Store::SetTombstoneHorizon's and
  // now minus this. 0: only the explicit horizon. Default 10 days, for a store of its own; a
  // cluster node's store runs with 0 (cluster::ClusterEngineOptions): a replica there may be
  // away longer, and must be able to take copies of objects older than any TTL.
  uint64_t tombstone_ttl_ms = uint64_t{10} * 24 * 3600 * 1000;

  // Receives the engine's warnings (an fsync failure, what recovery found). Default: stderr.
  std::function<void(const std::string&)> info_log;

  // Receives group commits and fdatasync timings (metrics); nullptr: none. Not owned; must
  // outlive the store.
  StoreObserver* observer = nullptr;
};

// WriteOptions (per-write durability, conditions, versions, metadata) is in cairn/object_store.h.

}  // namespace cairn
