// Index (engine/index.h) on RocksDB's in-memory Env: entries and kept tombstones, the hot cache,
// the checkpoint and the other meta keys across a reopen, what a missing WAL loses, and the
// listings reclamation reads (tombstones by version, dead records by volume).
#include "engine/index.h"

#include <gtest/gtest.h>
#include <rocksdb/env.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>

#include <atomic>
#include <memory>

#include "engine/record.h"
#include "util/coding.h"

namespace cairn {
namespace {

format::IndexEntry Entry(uint32_t volume, uint64_t offset, uint64_t seq, Version v,
                         bool tombstone = false) {
  format::IndexEntry e;
  e.type = static_cast<uint8_t>(tombstone ? RecordType::kTombstone : RecordType::kValue);
  e.volume = volume;
  e.offset = offset;
  e.record_len = 64;
  e.sequence = seq;
  e.object_size = tombstone ? 0 : 10;
  e.version = v;
  return e;
}

class IndexTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    index_.reset();
    StoreOptions o;
    o.index_write_buffer_bytes = 256 << 10;
    auto idx = Index::Open("/index", o, env_.get(), [this] { flushes_++; });
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    index_ = std::move(*idx);
  }
  Status Put(std::string_view key, const format::IndexEntry& e) {
    IndexBatch b;
    b.PutEntry(key, e);
    return index_->Write(&b);
  }
  std::unique_ptr<rocksdb::Env> env_{rocksdb::NewMemEnv(rocksdb::Env::Default())};
  std::unique_ptr<Index> index_;
  std::atomic<int> flushes_{0};
};

TEST_F(IndexTest, EntriesAndKeptTombstones) {
  ASSERT_TRUE(Put("a", Entry(1, 4096, 1, Version{1 << 16, 7})).ok());
  ASSERT_TRUE(Put("b", Entry(1, 8192, 2, Version{2 << 16, 7})).ok());
  ASSERT_TRUE(Put("c", Entry(1, 12288, 3, Version{3 << 16, 7}, /*tombstone=*/true)).ok());
  auto a = index_->Get("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->offset, 4096u);
  EXPECT_EQ(a->version, (Version{1 << 16, 7}));
  // A tombstone is no entry to readers, and the key's entry to the commit path.
  EXPECT_TRUE(index_->Get("c").status().IsNotFound());
  auto c = index_->Get("c", /*with_tombstones=*/true);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->tombstone());
  bool in_memory = false;
  EXPECT_TRUE(index_->GetCached("b", &in_memory).ok());
  EXPECT_TRUE(in_memory);  // the memtable
  std::vector<std::optional<format::IndexEntry>> found;
  ASSERT_TRUE(index_->MultiGet({"a", "c", "zz"}, &found).ok());
  ASSERT_EQ(found.size(), 3u);
  EXPECT_TRUE(found[0].has_value());
  EXPECT_TRUE(found[1].has_value() && found[1]->tombstone());
  EXPECT_FALSE(found[2].has_value());
  std::vector<std::pair<std::string, format::IndexEntry>> rows;
  bool truncated = false;
  ASSERT_TRUE(index_->Scan("", "", 10, &rows, &truncated).ok());
  ASSERT_EQ(rows.size(), 2u);  // no tombstone
  EXPECT_EQ(rows[0].first, "a");
  EXPECT_FALSE(truncated);
  rows.clear();
  ASSERT_TRUE(index_->Scan("", "a", 1, &rows, &truncated, /*with_tombstones=*/true).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].first, "b");
  EXPECT_TRUE(truncated);  // c is left
  // Overwritten and deleted entries: the cache never answers with the old one.
  ASSERT_TRUE(Put("a", Entry(2, 4096, 4, Version{4 << 16, 7})).ok());
  EXPECT_EQ(index_->Get("a")->volume, 2u);
  IndexBatch del;
  del.DeleteEntry("a");
  ASSERT_TRUE(index_->Write(&del).ok());
  EXPECT_TRUE(index_->Get("a").status().IsNotFound());
}

TEST_F(IndexTest, MetaKeysSurviveAFlushAndAReopen) {
  IndexBatch b;
  format::Checkpoint c;
  c.volume = 3;
  c.offset = 8192;
  c.next_sequence = 42;
  c.objects = 5;
  c.max_version = Version{9 << 16, 1};
  b.PutCheckpoint(c);
  format::VolumeAccount acct;
  acct.sealed = true;
  acct.end = 123456;
  acct.live_bytes = 1000;
  b.PutVolume(3, acct);
  b.PutVolume(4, format::VolumeAccount());
  b.PutHorizon(Version{7 << 16, 0});
  b.PutReclaimTotals(4096, 2);
  b.SetRebuilding(true);
  ASSERT_TRUE(index_->Write(&b).ok());
  const int before = flushes_.load();
  ASSERT_TRUE(index_->Flush(/*wait=*/true).ok());
  EXPECT_GT(flushes_.load(), before);  // the store syncs its volumes there
  Reopen();
  auto ckpt = index_->ReadCheckpoint();
  ASSERT_TRUE(ckpt.ok());
  EXPECT_EQ(ckpt->volume, 3u);
  EXPECT_EQ(ckpt->offset, 8192u);
  EXPECT_EQ(ckpt->next_sequence, 42u);
  EXPECT_EQ(ckpt->objects, 5u);
  EXPECT_EQ(ckpt->max_version, (Version{9 << 16, 1}));
  auto vols = index_->ReadVolumes();
  ASSERT_TRUE(vols.ok());
  ASSERT_EQ(vols->size(), 2u);
  EXPECT_TRUE(vols->at(3).sealed);
  EXPECT_EQ(vols->at(3).end, 123456u);
  EXPECT_EQ(*index_->ReadHorizon(), (Version{7 << 16, 0}));
  EXPECT_EQ(*index_->ReadReclaimTotals(), (std::pair<uint64_t, uint64_t>(4096, 2)));
  EXPECT_TRUE(*index_->Rebuilding());
}

// Index::Open checks each table file's size and last bytes against what its MANIFEST recorded
// when the file was written (index.cc, "The tail check"), before RocksDB parses any of it: a
// flipped byte in a table's properties block aborted the process inside DB::Open (RocksDB 7.8
// parses that block before it checks it; corruption_test's Seed626951 case).
TEST_F(IndexTest, ATableFileWhoseTailOrSizeChangedIsRefusedBeforeRocksDBReadsIt) {
  for (int i = 0; i < 200; i++)
    ASSERT_TRUE(Put("key" + std::to_string(i), Entry(1, 4096 * (i + 1), i + 1, Version{1 << 16, 1})).ok());
  ASSERT_TRUE(index_->Flush(/*wait=*/true).ok());
  index_.reset();
  std::vector<std::string> names;
  ASSERT_TRUE(env_->GetChildren("/index", &names).ok());
  std::string table;
  for (const std::string& n : names)
    if (n.ends_with(".sst")) table = "/index/" + n;
  ASSERT_FALSE(table.empty());
  std::string original;
  ASSERT_TRUE(rocksdb::ReadFileToString(env_.get(), table, &original).ok());
  StoreOptions o;
  auto open = [&] { return Index::Open("/index", o, env_.get(), {}); };
  auto expect_refused = [&](const std::string& bytes, const char* what) {
    ASSERT_TRUE(rocksdb::WriteStringToFile(env_.get(), bytes, table, true).ok());
    auto idx = open();
    ASSERT_FALSE(idx.ok()) << what;
    EXPECT_TRUE(idx.status().IsCorruption()) << what << ": " << idx.status().ToString();
    EXPECT_NE(idx.status().ToString().find("index table file"), std::string::npos)
        << idx.status().ToString();
  };
  // A flipped bit in each of the last 64 bytes (the footer) and further in (the meta-index and
  // properties blocks, the index block).
  for (size_t back : {1, 8, 20, 47, 64, 100, 300, 1000, 3000}) {
    if (back > original.size()) continue;
    std::string flipped = original;
    flipped[flipped.size() - back] ^= 0x80;
    expect_refused(flipped, "a flipped bit near the end");
  }
  expect_refused(original.substr(0, original.size() - 1), "one byte cut off");
  expect_refused(original + std::string(1, '\0'), "one byte appended");
  // Restored, it opens and reads.
  ASSERT_TRUE(rocksdb::WriteStringToFile(env_.get(), original, table, true).ok());
  auto idx = open();
  ASSERT_TRUE(idx.ok()) << idx.status().ToString();
  EXPECT_TRUE((*idx)->Get("key7").ok());
}

TEST_F(IndexTest, WithNoWalWhatWasNotFlushedIsGoneAfterAReopen) {
  EXPECT_TRUE(index_->ReadCheckpoint().status().IsNotFound());  // a new index
  ASSERT_TRUE(Put("durable", Entry(1, 4096, 1, Version{1 << 16, 1})).ok());
  ASSERT_TRUE(index_->Flush(/*wait=*/true).ok());
  ASSERT_TRUE(Put("lost", Entry(1, 8192, 2, Version{2 << 16, 1})).ok());
  IndexBatch b;
  b.PutCheckpoint(format::Checkpoint());
  ASSERT_TRUE(index_->Write(&b).ok());
  Reopen();  // no flush: the volume log is the index's only WAL
  EXPECT_TRUE(index_->Get("durable").ok());
  EXPECT_TRUE(index_->Get("lost").status().IsNotFound());
  EXPECT_TRUE(index_->ReadCheckpoint().status().IsNotFound());
}

TEST_F(IndexTest, TombstonesAreListedInVersionOrderUpToTheHorizon) {
  ASSERT_TRUE(Put("x", Entry(1, 4096, 1, Version{30 << 16, 1}, true)).ok());
  ASSERT_TRUE(Put("y", Entry(1, 8192, 2, Version{10 << 16, 1}, true)).ok());
  ASSERT_TRUE(Put("z", Entry(1, 12288, 3, Version{20 << 16, 1}, true)).ok());
  std::vector<TombstoneRef> listed;
  ASSERT_TRUE(index_->ListTombstones(Version{20 << 16, 1}, 10, &listed).ok());
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].key, "y");
  EXPECT_EQ(listed[1].key, "z");
  ASSERT_TRUE(index_->ListTombstones(Version{99 << 16, 0}, 1, &listed).ok());
  ASSERT_EQ(listed.size(), 1u);  // the limit
  IndexBatch b;
  b.DeleteTombstoneListing(listed[0]);
  b.DeleteEntry("y");
  ASSERT_TRUE(index_->Write(&b).ok());
  ASSERT_TRUE(index_->ListTombstones(Version{99 << 16, 0}, 10, &listed).ok());
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].key, "z");
}

TEST_F(IndexTest, DeadRecordsAreListedByVolumeOnlyOnceFlushed) {
  IndexBatch b;
  b.PutDead(DeadRecord{1, 4096, 8192, 16384});
  b.PutDead(DeadRecord{1, 65536, 69632, 73728});
  b.PutDead(DeadRecord{2, 4096, 8192, 12288});
  ASSERT_TRUE(index_->Write(&b).ok());
  std::vector<DeadRecord> dead;
  ASSERT_TRUE(index_->FlushAndListDead(10, /*before_volume=*/2, &dead).ok());
  ASSERT_EQ(dead.size(), 2u);  // volume 2 is not below 2
  EXPECT_EQ(dead[0].offset, 4096u);
  EXPECT_EQ(dead[0].punch_begin, 8192u);
  EXPECT_EQ(dead[1].offset, 65536u);
  ASSERT_TRUE(index_->FlushAndListDead(1, UINT32_MAX, &dead).ok());
  EXPECT_EQ(dead.size(), 1u);  // the limit
  IndexBatch d;
  d.DeleteDead(1, 4096);
  d.DeleteDeadInVolume(2);
  ASSERT_TRUE(index_->Write(&d).ok());
  ASSERT_TRUE(index_->FlushAndListDead(10, UINT32_MAX, &dead).ok());
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].offset, 65536u);
}

// Issue 16 (a cold GET costs one disk read): a lookup in a compacted table reads the blocks
// on its path, not a whole table's index or filter. Before the index and filters were
// partitioned, a table had one index block and one filter block; one larger than the block
// cache's shard was never kept, so every lookup read it again (on a cold page cache: from the
// disk). Here the table's filter alone is about 120 KB and the cache 64 KiB; RocksDB's perf
// context counts the bytes of the blocks each lookup had to read: 152 KB a lookup before the
// change, 5.7 KB after.
TEST_F(IndexTest, Issue16ALookupReadsBlocksNotAWholeTablesIndexOrFilter) {
  index_.reset();
  StoreOptions o;
  o.index_cache_bytes = 64 << 10;
  o.index_hot_bytes = 0;  // every lookup goes to RocksDB
  // RocksDB pins the index and filter of a table no larger than 1.5 memtables (as if it were a
  // flushed one); with small memtables the compacted table is not pinned, as in a large store.
  o.index_write_buffer_bytes = 256 << 10;
  auto idx = Index::Open("/index", o, env_.get(), {});
  ASSERT_TRUE(idx.ok()) << idx.status().ToString();
  index_ = std::move(*idx);
  constexpr int kKeys = 100000;
  auto key = [](uint64_t i) {
    char k[8];
    EncodeBigEndian64(k, i * 0x9E3779B97F4A7C15ULL);  // spread: key order is not write order
    return "obj/" + std::string(k, 8);
  };
  for (int b = 0; b < kKeys / 1000; b++) {
    IndexBatch batch;
    for (int i = b * 1000; i < (b + 1) * 1000; i++)
      batch.PutEntry(key(i), Entry(1 + i / 100000, 4096 * (i % 100000 + 1), i + 1, Version{1 << 16, 1}));
    ASSERT_TRUE(index_->Write(&batch).ok());
  }
  ASSERT_TRUE(index_->Flush(/*wait=*/true).ok());
  ASSERT_TRUE(index_->CompactForTesting().ok());
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
  constexpr int kLookups = 2000;
  for (int n = 0; n < kLookups; n++) {
    const uint64_t i = (static_cast<uint64_t>(n) * 7919) % kKeys;
    auto e = index_->Get(key(i));
    ASSERT_TRUE(e.ok()) << i << ": " << e.status().ToString();
    ASSERT_EQ(e->sequence, i + 1);
  }
  const uint64_t bytes = rocksdb::get_perf_context()->block_read_byte;
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  // Each lookup may read a filter partition, an index partition and a data block (a few KiB
  // each); a whole filter is about 120 KB and a whole index about 30 KB.
  EXPECT_LT(bytes / kLookups, uint64_t{32} << 10) << bytes << " bytes read by " << kLookups << " lookups";
}

// Issue 16: with the default index_cache_bytes (0) the block cache is sized to the index, so a
// cold GET's index block stays cached as the store grows (docs/design.md, "Cold reads"); the
// 64 MiB that was the default held the index of about 670k objects.
TEST(AutoIndexCache, Issue16FollowsTheIndexBetweenAFloorAndAQuarterOfTheMemory) {
  constexpr uint64_t MiB = uint64_t{1} << 20, GiB = uint64_t{1} << 30;
  EXPECT_EQ(AutoIndexCacheBytes(0, 16 * GiB), kMinAutoIndexCacheBytes);
  EXPECT_EQ(AutoIndexCacheBytes(40 * MiB, 16 * GiB), kMinAutoIndexCacheBytes);  // 53 MiB wanted
  // 2 M objects: about 191 MB of blocks (design.md): all of it, an eighth more and 8 MiB.
  EXPECT_EQ(AutoIndexCacheBytes(191'000'000, 16 * GiB), 191'000'000 + 191'000'000 / 8 + 8 * MiB);
  EXPECT_EQ(AutoIndexCacheBytes(10 * GiB, 16 * GiB), 4 * GiB);  // a quarter of the memory
  EXPECT_EQ(AutoIndexCacheBytes(10 * GiB, 128 * MiB), kMinAutoIndexCacheBytes);  // never below
  EXPECT_GT(AvailableMemoryBytes(), 0u);
}

// The cap follows the memory cgroup's limit, its parents' included, on v1, v2 and a hybrid.
TEST(AutoIndexCache, Issue16TheMemoryLimitIsReadFromTheProcessCgroupAndItsParents) {
  using V = std::vector<std::string>;
  EXPECT_EQ(CgroupMemoryLimitFiles("0::/a/b\n"),
            (V{"/sys/fs/cgroup/a/b/memory.max", "/sys/fs/cgroup/unified/a/b/memory.max",
               "/sys/fs/cgroup/a/memory.max", "/sys/fs/cgroup/unified/a/memory.max",
               "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/unified/memory.max"}));
  // v1 (this machine's kind): only the memory controller's line counts.
  EXPECT_EQ(CgroupMemoryLimitFiles("8:pids:/x\n4:memory:/process_api/c1\n0::/\n"),
            (V{"/sys/fs/cgroup/memory/process_api/c1/memory.limit_in_bytes",
               "/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes",
               "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max",
               "/sys/fs/cgroup/unified/memory.max"}));
  EXPECT_EQ(CgroupMemoryLimitFiles(""), V{});
  EXPECT_EQ(CgroupMemoryLimitFiles("garbage\n"), V{});
}

TEST_F(IndexTest, Issue16AnAutomaticCacheGrowsWithTheIndexAndASetOneStays) {
  auto fill = [](Index* idx, int from, int to) {
    for (int b = from; b < to; b += 1000) {
      IndexBatch batch;
      for (int i = b; i < b + 1000; i++)
        batch.PutEntry("obj/" + std::to_string(i), Entry(1, 4096 * (i + 1), i + 1, Version{1 << 16, 1}));
      ASSERT_TRUE(idx->Write(&batch).ok());
    }
    ASSERT_TRUE(idx->Flush(/*wait=*/true).ok());
  };
  const uint64_t memory = AvailableMemoryBytes();
  // index_ is opened with the default (automatic) size.
  const uint64_t empty = index_->FootprintBytes();
  fill(index_.get(), 0, 20000);
  const uint64_t grown = index_->FootprintBytes();
  EXPECT_GT(grown, empty + 20000 * 20) << "the tables' footprint counts their keys and values";
  EXPECT_EQ(index_->CacheCapacity(), AutoIndexCacheBytes(grown, memory));
  // Reopened, it starts from the tables it has. (Not to the byte: a compaction RocksDB started
  // after the flush may rewrite them meanwhile; seen under ASan, 1,662,672 then 1,662,285.)
  Reopen();
  const uint64_t reopened = index_->FootprintBytes();
  EXPECT_NEAR(static_cast<double>(reopened), static_cast<double>(grown), 0.05 * static_cast<double>(grown));
  EXPECT_EQ(index_->CacheCapacity(), AutoIndexCacheBytes(reopened, memory));
  // A size that was set is kept whatever the index holds.
  index_.reset();
  StoreOptions o;
  o.index_cache_bytes = 3 << 20;
  o.index_write_buffer_bytes = 256 << 10;
  auto idx = Index::Open("/index2", o, env_.get(), {});
  ASSERT_TRUE(idx.ok()) << idx.status().ToString();
  fill(idx->get(), 0, 20000);
  EXPECT_EQ((*idx)->CacheCapacity(), uint64_t{3} << 20);
}

}  // namespace
}  // namespace cairn
