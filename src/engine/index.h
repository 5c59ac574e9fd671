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
// StoreOptions; nothing here grows with the number of keys.
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
#include "engine/store_format.h"

namespace rocksdb {
class DB;
class Cache;
class WriteBatch;
}  // namespace rocksdb

namespace cairn {

class IndexBatch {
 public:
  IndexBatch();
  ~IndexBatch();
  void PutEntry(std::string_view key, const format::IndexEntry& e);
  void DeleteEntry(std::string_view key);
  void PutVolume(uint32_t id, const format::VolumeAccount& v);
  void PutCheckpoint(const format::Checkpoint& c);
  void Clear();
  size_t count() const;
  rocksdb::WriteBatch* rep() { return rep_.get(); }

 private:
  std::unique_ptr<rocksdb::WriteBatch> rep_;
};

class Index {
 public:
  ~Index();
  static Result<std::unique_ptr<Index>> Open(const std::string& dir, const StoreOptions& options,
                                             std::function<void()> before_flush);

  // NotFound if the key has no entry.
  Result<format::IndexEntry> Get(std::string_view key);
  // Looks up many keys in one batched call (sorted, so RocksDB reads each block once);
  // (*out)[i] is empty where keys[i] has no entry.
  Status MultiGet(const std::vector<std::string>& keys,
                  std::vector<std::optional<format::IndexEntry>>* out);
  Status Write(IndexBatch* batch);
  // NotFound when the index is new.
  Result<format::Checkpoint> ReadCheckpoint();
  Result<std::map<uint32_t, format::VolumeAccount>> ReadVolumes();
  // Entries whose key starts with prefix and sorts after start_after, in key order; at most
  // `limit`; *truncated says whether more matched.
  Status Scan(std::string_view prefix, std::string_view start_after, size_t limit,
              std::vector<std::pair<std::string, format::IndexEntry>>* out, bool* truncated);
  // Writes the memtables to disk. With wait, returns once they are durable.
  Status Flush(bool wait);
  uint64_t MemoryBytes();

 private:
  Index() = default;
  std::unique_ptr<rocksdb::DB> db_;
  std::shared_ptr<rocksdb::Cache> cache_;
};

}  // namespace cairn
