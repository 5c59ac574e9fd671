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

// Parses "sync", "none", "interval" or "interval=N" (N in ms, 1..3600000). Returns false if
// malformed. *interval_ms is written only for "interval=N".
bool ParseDurability(std::string_view text, Durability* mode, uint32_t* interval_ms);
const char* DurabilityName(Durability d);

struct StoreOptions {
  // nullptr means Env::Default().
  Env* env = nullptr;

  // Create the store if `dir` does not exist or is empty. A non-empty directory without a
  // CAIRN marker is always refused.
  bool create_if_missing = true;

  // Bytes per volume file. Used only when the store is created; later opens use the stored
  // value. Limits: kMinVolumeCapacity..kMaxVolumeCapacity in store.h.
  uint64_t volume_capacity = uint64_t{1} << 30;

  // The store's default durability; WriteOptions may override it per write.
  Durability durability = Durability::kSync;
  uint32_t sync_interval_ms = 100;

  // RocksDB block cache for the index, charged with index and filter blocks too: the index's
  // read memory is bounded by this, not by the number of objects.
  size_t index_cache_bytes = size_t{64} << 20;
  // RocksDB memtable size; at most two are kept, so index write memory is at most twice this.
  size_t index_write_buffer_bytes = size_t{32} << 20;

  // Named bound: bytes of log that may be reserved but not yet committed. Writers wait when it
  // is reached. Recovery scans this far past the last valid record looking for survivors.
  uint64_t max_unfinished_bytes = uint64_t{64} << 20;

  // After this many bytes of log since the last index flush, the index is flushed, so opening
  // a store after a crash replays at most about this much log.
  uint64_t checkpoint_bytes = uint64_t{64} << 20;

  // Reclamation (docs/design.md, "Reclamation").
  // A background thread releases dead records' blocks (hole punching) and copy-compacts
  // volumes that meet a threshold below. Off: only Store::Reclaim does it.
  bool background_reclaim = true;
  // How often the background reclaimer looks for work.
  uint32_t reclaim_interval_ms = 1000;
  // I/O budget of compaction's copying, in MB/s (bytes read plus bytes written); 0 = unlimited.
  uint32_t reclaim_mbps = 32;
  // A sealed volume is compacted when its live bytes are below this fraction of the bytes it
  // still occupies on disk (dead bytes that hole punching could not release: small records,
  // tombstones, the heads of punched records)...
  double compact_live_ratio = 0.5;
  // ...or when it holds fewer live bytes than this (a volume sealed early, by a crash or a
  // restart, is merged into the active one and its file removed). 0 = volume_capacity / 16.
  uint64_t compact_min_live_bytes = 0;

  // Tests only: called at named points of recovery and reclamation ("compact:mid-copy"...;
  // docs/reliability.md lists them), so a crash test can kill the process exactly there.
  std::function<void(const char* point)> test_point;

  // Receives the engine's warnings (an fsync failure, what recovery found). Default: stderr.
  std::function<void(const std::string&)> info_log;
};

struct WriteOptions {
  // When unset, the store's default durability applies.
  std::optional<Durability> durability;
  // When set, receives the sequence number of the write once it has committed (the server's
  // PUT reply carries it).
  uint64_t* sequence_out = nullptr;
};

}  // namespace cairn
