// BenchEngine: one interface over Cairn and its two embedded peers (RocksDB with BlobDB, and
// LMDB), each configured for the same durability, so a workload runs unchanged on all three.
//
// Equal durability, per mode (bench/engine/RESULTS.md repeats this):
//   sync      Cairn Durability::kSync (group commit, one fdatasync per group).
//             RocksDB WriteOptions.sync = true, WAL on (its group commit, one fdatasync).
//             LMDB: one write transaction per put, default flags (commit syncs data and meta).
//   interval  Cairn Durability::kInterval, sync_interval_ms = 100.
//             RocksDB sync = false, plus a thread calling DB::SyncWAL() every 100 ms.
//             LMDB MDB_NOSYNC, plus a thread calling mdb_env_sync(force) every 100 ms.
//   none      Cairn Durability::kNone. RocksDB sync = false. LMDB MDB_NOSYNC | MDB_NOMETASYNC.
//
// Thread safety: Put and Get may be called from many threads at once. The other methods are
// called by the driving thread while no worker runs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace cairn {
class Store;
}

namespace cairn::bench {

enum class Mode { kSync, kInterval, kNone };
const char* ModeName(Mode m);
bool ParseMode(std::string_view s, Mode* m);

struct EngineConfig {
  std::string dir;  // created by Open; must not hold another engine's files
  Mode mode = Mode::kSync;
  uint64_t cairn_volume_capacity = uint64_t{1} << 30;
  uint64_t lmdb_map_bytes = uint64_t{16} << 30;
  uint32_t interval_ms = 100;
};

class BenchEngine {
 public:
  virtual ~BenchEngine() = default;
  // "cairn", "rocksdb" or "lmdb".
  static std::unique_ptr<BenchEngine> Open(const std::string& name, const EngineConfig& cfg,
                                           std::string* err);

  // A put at the configured durability. Returns false and sets *err on failure.
  virtual bool Put(std::string_view key, std::string_view value, std::string* err) = 0;
  virtual bool Get(std::string_view key, std::string* value, std::string* err) = 0;

  // Preloading for read workloads: between Begin and End, puts need not be durable. End makes
  // everything durable and settled (memtables flushed) so reads hit the engine's on-disk form.
  virtual void BeginPreload() = 0;
  virtual bool EndPreload(std::string* err) = 0;

  // Returns once the background work that a freshly opened engine starts has finished, so the
  // measurement sees the steady state (Cairn: the next volume has been pre-written).
  virtual void WaitSteady() {}
  // Each worker thread calls this before it exits (LMDB releases its read transaction).
  virtual void ThreadDone() {}
  // The configuration, in words, for the result line.
  virtual std::string Describe() const = 0;
  // Extra result fields, as `"name":value` pairs joined by commas (Cairn: volumes and bytes).
  virtual std::string ExtraJson() { return ""; }
  // Called by the benchmark's watchdog, from another thread, when a run overstays its time
  // bound or the disk is nearly full: makes blocked calls return (Cairn: Close()).
  virtual void Abort() {}
};

}  // namespace cairn::bench
