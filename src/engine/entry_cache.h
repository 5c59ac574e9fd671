// EntryCache: a bounded cache of key -> index entry for recently read keys, kept in front of
// the RocksDB index (issue 4: a hot GET's RocksDB lookup was about 15% of cairnd's CPU, a
// memtable skiplist search plus an SST block search per GET).
//
// Coherence: the cache never answers with an entry the index no longer holds. Index::Write
// calls Invalidate for every key of its batch twice, before and after the RocksDB write:
//   - before, so no lookup hits the old entry once RocksDB may hold the new one (a hit is a
//     read that happened before the write);
//   - after, to drop anything a reader filled meanwhile from the old state.
// A reader takes a Ticket before its RocksDB lookup and Fills only if no invalidation of that
// key's shard happened since, so a fill can never resurrect an entry that a write replaced.
// Only positive entries are cached; NotFound always goes to RocksDB. The writer also caches
// what it has just written (Replace, after the RocksDB write), so the next overwrite of a key
// finds its previous version here (the commit looks every written key's previous version up).
//
// Memory: named bound StoreOptions::index_hot_bytes, charged per entry as key and metadata bytes
// plus a fixed overhead (kEntryOverhead); least recently used entries are evicted, per shard.
//
// Thread safety: every method may be called concurrently (one mutex per shard).
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/store_format.h"

namespace cairn {

class EntryCache {
 public:
  // Bytes charged per entry beyond its key: the entry, the list node and the map node.
  static constexpr size_t kEntryOverhead = 208;

  // capacity_bytes == 0 turns the cache off (every lookup misses, nothing is kept).
  explicit EntryCache(size_t capacity_bytes);

  std::optional<format::IndexEntry> Lookup(std::string_view key);
  // Call before looking the key up in RocksDB; pass the result to Fill.
  uint64_t Ticket(std::string_view key);
  // Caches e for key unless the key's shard was invalidated since `ticket` was taken.
  void Fill(std::string_view key, const format::IndexEntry& e, uint64_t ticket);
  void Invalidate(std::string_view key);
  // Invalidate, then cache e: for the index's single writer, right after it wrote e.
  void Replace(std::string_view key, const format::IndexEntry& e);

  size_t bytes() const;
  size_t entries() const;
  // Lookups that found the key, and that did not (an off cache counts every lookup a miss).
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  static constexpr size_t kShards = 16;
  struct Node {
    std::string key;
    format::IndexEntry entry;
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Node> lru;  // most recently used first
    std::unordered_map<std::string_view, std::list<Node>::iterator> map;  // views into lru
    uint64_t generation = 0;  // bumped by every Invalidate of a key in this shard
    size_t bytes = 0;
    uint64_t hits = 0, misses = 0;  // under mu: counting adds no shared write to a lookup
  };
  Shard& ShardFor(std::string_view key);
  static size_t Charge(std::string_view key, const format::IndexEntry& e) {
    return key.size() + e.meta.size() + kEntryOverhead;
  }

  const size_t shard_capacity_;
  std::atomic<uint64_t> off_misses_{0};  // lookups while the cache is off
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace cairn
