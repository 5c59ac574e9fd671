#include "engine/entry_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace cairn {
namespace {

format::IndexEntry Entry(uint64_t seq) {
  format::IndexEntry e;
  e.sequence = seq;
  e.offset = seq * 100;
  return e;
}

TEST(EntryCache, FillThenHitAndInvalidate) {
  EntryCache c(1 << 20);
  EXPECT_FALSE(c.Lookup("a").has_value());
  c.Fill("a", Entry(7), c.Ticket("a"));
  ASSERT_TRUE(c.Lookup("a").has_value());
  EXPECT_EQ(c.Lookup("a")->sequence, 7u);
  c.Invalidate("a");
  EXPECT_FALSE(c.Lookup("a").has_value());
  EXPECT_EQ(c.entries(), 0u);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(EntryCache, AFillStartedBeforeAnInvalidationIsRefused) {
  EntryCache c(1 << 20);
  const uint64_t t = c.Ticket("k");  // a reader starts its RocksDB lookup (finds version 1)
  c.Invalidate("k");                 // a write replaces the entry meanwhile
  c.Fill("k", Entry(1), t);          // the reader's stale fill must not stick
  EXPECT_FALSE(c.Lookup("k").has_value());
  c.Fill("k", Entry(2), c.Ticket("k"));
  EXPECT_EQ(c.Lookup("k")->sequence, 2u);
}

TEST(EntryCache, ReplaceCachesTheWrittenEntryAndRefusesOlderFills) {
  EntryCache c(1 << 20);
  c.Fill("k", Entry(1), c.Ticket("k"));
  const uint64_t t = c.Ticket("k");  // a reader looked version 1 up in RocksDB...
  c.Replace("k", Entry(2));          // ...then the writer wrote version 2
  c.Fill("k", Entry(1), t);          // the reader's late fill must not undo it
  ASSERT_TRUE(c.Lookup("k").has_value());
  EXPECT_EQ(c.Lookup("k")->sequence, 2u);
}

TEST(EntryCache, EvictsLeastRecentlyUsedWithinItsBound) {
  // One shard's share of the bound holds a handful of entries; fill far more than fit.
  const size_t bound = 16 * 4 * (EntryCache::kEntryOverhead + 8);
  EntryCache c(bound);
  for (int i = 0; i < 1000; i++) {
    std::string k = "key" + std::to_string(i);
    c.Fill(k, Entry(i), c.Ticket(k));
    EXPECT_LE(c.bytes(), bound);
  }
  EXPECT_GT(c.entries(), 0u);
  EXPECT_LT(c.entries(), 1000u);
  // The last key filled is the most recent in its shard: still there.
  EXPECT_TRUE(c.Lookup("key999").has_value());
}

TEST(EntryCache, ZeroCapacityKeepsNothing) {
  EntryCache c(0);
  c.Fill("a", Entry(1), c.Ticket("a"));
  EXPECT_FALSE(c.Lookup("a").has_value());
  EXPECT_EQ(c.bytes(), 0u);
}

// Writers and readers follow the Index protocol against a "RocksDB" (a locked map): a lookup
// must never return a version older than the newest write that finished before it began.
TEST(EntryCache, ConcurrentReadersNeverSeeAReplacedVersion) {
  EntryCache c(1 << 16);
  std::mutex db_mu;
  std::map<std::string, uint64_t> db;
  constexpr int kKeys = 8;
  std::atomic<uint64_t> done[kKeys];
  for (auto& d : done) d = 0;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> violations{0}, hits{0};
  std::thread writer([&] {
    for (uint64_t v = 1; v <= 50000; v++) {
      const int i = static_cast<int>(v % kKeys);
      const std::string k = "k" + std::to_string(i);
      c.Invalidate(k);
      {
        std::lock_guard<std::mutex> l(db_mu);
        db[k] = v;
      }
      c.Invalidate(k);
      done[i] = v;
      if (v % 16 == 0) std::this_thread::yield();
    }
    stop = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; r++) {
    readers.emplace_back([&, r] {
      uint64_t n = 0;
      // Bounded: until the writer is done and at least 100,000 lookups (so some run after the
      // last write and must hit), at most 5,000,000.
      while ((!stop || n < 100000) && n < 5000000) {
        const int i = static_cast<int>((n++ + r) % kKeys);
        const std::string k = "k" + std::to_string(i);
        const uint64_t floor = done[i];
        uint64_t got = 0;
        if (auto e = c.Lookup(k)) {
          got = e->sequence;
          hits++;
        } else {
          const uint64_t t = c.Ticket(k);
          {
            std::lock_guard<std::mutex> l(db_mu);
            auto it = db.find(k);
            if (it == db.end()) continue;
            got = it->second;
          }
          c.Fill(k, Entry(got), t);
        }
        if (got < floor) violations++;
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(violations.load(), 0u);
  EXPECT_GT(hits.load(), 0u);
}

}  // namespace
}  // namespace cairn
