#include "engine/entry_cache.h"

#include <functional>

namespace cairn {

EntryCache::EntryCache(size_t capacity_bytes)
    : shard_capacity_(capacity_bytes / kShards), shards_(new Shard[kShards]) {}

EntryCache::Shard& EntryCache::ShardFor(std::string_view key) {
  return shards_[std::hash<std::string_view>()(key) % kShards];
}

std::optional<format::IndexEntry> EntryCache::Lookup(std::string_view key) {
  if (shard_capacity_ == 0) {
    off_misses_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  Shard& s = ShardFor(key);
  std::lock_guard<std::mutex> l(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) {
    s.misses++;
    return std::nullopt;
  }
  s.hits++;
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  return it->second->entry;
}

uint64_t EntryCache::hits() const {
  uint64_t n = 0;
  for (size_t i = 0; i < kShards; i++) {
    std::lock_guard<std::mutex> l(shards_[i].mu);
    n += shards_[i].hits;
  }
  return n;
}

uint64_t EntryCache::misses() const {
  uint64_t n = off_misses_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < kShards; i++) {
    std::lock_guard<std::mutex> l(shards_[i].mu);
    n += shards_[i].misses;
  }
  return n;
}

uint64_t EntryCache::Ticket(std::string_view key) {
  Shard& s = ShardFor(key);
  std::lock_guard<std::mutex> l(s.mu);
  return s.generation;
}

void EntryCache::Fill(std::string_view key, const format::IndexEntry& e, uint64_t ticket) {
  const size_t charge = Charge(key, e);
  if (charge > shard_capacity_) return;
  Shard& s = ShardFor(key);
  std::lock_guard<std::mutex> l(s.mu);
  if (s.generation != ticket) return;  // a write touched this shard since the lookup began
  auto it = s.map.find(key);
  if (it != s.map.end()) {
    s.bytes -= Charge(it->second->key, it->second->entry);
    it->second->entry = e;
    s.bytes += charge;
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return;
  }
  while (s.bytes + charge > shard_capacity_ && !s.lru.empty()) {
    Node& victim = s.lru.back();
    s.bytes -= Charge(victim.key, victim.entry);
    s.map.erase(victim.key);
    s.lru.pop_back();
  }
  s.lru.push_front(Node{std::string(key), e});
  s.map.emplace(s.lru.front().key, s.lru.begin());
  s.bytes += charge;
}

void EntryCache::Replace(std::string_view key, const format::IndexEntry& e) {
  Invalidate(key);
  Fill(key, e, Ticket(key));
}

void EntryCache::Invalidate(std::string_view key) {
  Shard& s = ShardFor(key);
  std::lock_guard<std::mutex> l(s.mu);
  s.generation++;
  auto it = s.map.find(key);
  if (it == s.map.end()) return;
  s.bytes -= Charge(it->second->key, it->second->entry);
  auto node = it->second;
  s.map.erase(it);
  s.lru.erase(node);
}

size_t EntryCache::bytes() const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; i++) {
    std::lock_guard<std::mutex> l(shards_[i].mu);
    n += shards_[i].bytes;
  }
  return n;
}

size_t EntryCache::entries() const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; i++) {
    std::lock_guard<std::mutex> l(shards_[i].mu);
    n += shards_[i].map.size();
  }
  return n;
}

}  // namespace cairn
