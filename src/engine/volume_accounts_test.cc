// VolumeAccounts (engine/volume_accounts.h): a version's bytes move between live and dead with
// its records (a large object's chunks too, except those a relocated manifest keeps), dead records
// are listed for punching only where a whole block can be released, the counts follow, only
// changed accounts are written, and stream pins hold off compaction until released, also when
// many threads pin while others read.
#include "engine/volume_accounts.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace cairn {
namespace {

using LiveVersion = VolumeAccounts::LiveVersion;

constexpr uint64_t kHead = 64;

LiveVersion Object(uint32_t volume, uint64_t offset, uint64_t len, uint64_t size) {
  LiveVersion v;
  v.record = {volume, offset, kHead, len};
  v.object_size = size;
  return v;
}

TEST(VolumeAccountsTest, AReplacedVersionLeavesTheLiveCountsAndIsListedForPunching) {
  VolumeAccounts a;
  IndexBatch batch;
  a.Reset(1, format::kVolumeHeaderSize, /*sealed=*/false);
  a.Appended(1, 4096 + 3 * 4096, 7);
  const LiveVersion first = Object(1, 4096, 3 * 4096, 3 * 4096 - kHead);
  a.Replace(nullptr, &first, &batch);
  auto acct = a.Get(1);
  ASSERT_TRUE(acct.has_value());
  EXPECT_EQ(acct->live_bytes, 3u * 4096);
  EXPECT_EQ(acct->live_records, 1u);
  EXPECT_EQ(acct->min_seq, 7u);
  EXPECT_EQ(acct->end, 4u * 4096);
  EXPECT_EQ(a.counts().objects, 1u);
  EXPECT_EQ(a.counts().logical_bytes, 3u * 4096 - kHead);
  EXPECT_EQ(batch.count(), 0u);  // nothing dead yet

  // Overwritten by a tombstone: the object's record is dead; two whole blocks can be released
  // (the first holds its header and key, which stay readable).
  LiveVersion tomb;
  tomb.record = {1, 4 * 4096, kHead, 128};
  tomb.tombstone = true;
  a.Replace(&first, &tomb, &batch);
  acct = a.Get(1);
  EXPECT_EQ(acct->live_bytes, 128u);
  EXPECT_EQ(acct->live_records, 1u);
  EXPECT_EQ(acct->punchable_bytes, 2u * 4096);
  EXPECT_EQ(a.counts().objects, 0u);
  EXPECT_EQ(a.counts().logical_bytes, 0u);
  EXPECT_EQ(a.counts().tombstones, 1u);
  EXPECT_EQ(batch.count(), 1u);  // one dead record listed

  // The tombstone dropped at the horizon: nothing live is left; too small to punch.
  a.Replace(&tomb, nullptr, &batch);
  EXPECT_EQ(a.Get(1)->live_records, 0u);
  EXPECT_EQ(a.counts().tombstones, 0u);
  EXPECT_EQ(batch.count(), 1u);
}

TEST(VolumeAccountsTest, ALargeObjectsChunksAreLiveWithItsManifestUnlessARelocatedCopyKeepsThem) {
  VolumeAccounts a;
  IndexBatch batch;
  Manifest m;
  m.chunks = {ChunkRef{1, 3 * 4096, 4096}, ChunkRef{2, 3 * 4096, 4096}};
  const uint64_t chunk_len = RecordLength(format::kRecordFormat, 3, 0, 3 * 4096);
  LiveVersion big = Object(3, 4096, 512, 6 * 4096);
  big.chunks = {&m, format::kRecordFormat, 3};
  a.Replace(nullptr, &big, &batch);
  EXPECT_EQ(a.Get(1)->live_bytes, chunk_len);
  EXPECT_EQ(a.Get(2)->live_bytes, chunk_len);
  EXPECT_EQ(a.Get(3)->live_bytes, 512u);

  // Compaction moved the manifest and the chunk in volume 1; the one in volume 2 is kept.
  Manifest moved = m;
  moved.chunks[0] = ChunkRef{4, 3 * 4096, 4096};
  LiveVersion old = big;
  old.keep = &moved;
  LiveVersion copy = Object(4, 8 * 4096, 512, 6 * 4096);
  copy.chunks = {&moved, format::kRecordFormat, 3};
  a.Replace(&old, &copy, &batch);
  EXPECT_EQ(a.Get(1)->live_bytes, 0u);
  EXPECT_GT(a.Get(1)->punchable_bytes, 0u);   // the moved chunk is dead
  EXPECT_EQ(a.Get(2)->live_bytes, chunk_len);  // the kept one counted once, by the copy
  EXPECT_EQ(a.Get(2)->live_records, 1u);
  EXPECT_EQ(a.Get(2)->punchable_bytes, 0u);   // and not listed dead
  EXPECT_EQ(a.Get(3)->live_bytes, 0u);
  EXPECT_EQ(a.Get(4)->live_bytes, 512u + chunk_len);
  EXPECT_EQ(a.counts().objects, 1u);
  EXPECT_EQ(a.counts().logical_bytes, 6u * 4096);
}

TEST(VolumeAccountsTest, OnlyChangedAccountsAreWrittenAndRemovalKeepsTheTotals) {
  VolumeAccounts a;
  std::map<uint32_t, format::VolumeAccount> loaded;
  loaded[1].sealed = true;
  loaded[2].end = 8192;
  a.Load(loaded);
  a.SetTotals(100, 3);
  IndexBatch none;
  a.WriteDirty(&none);
  EXPECT_EQ(none.count(), 0u);  // loaded accounts are not dirty

  a.SealBelow(UINT32_MAX);
  IndexBatch sealed;
  a.WriteDirty(&sealed);
  EXPECT_EQ(sealed.count(), 1u);  // volume 2; volume 1 was sealed already
  EXPECT_TRUE(a.Get(2)->sealed);

  a.Retire(1);
  EXPECT_EQ(a.RetiredIds(), std::vector<uint32_t>{1});
  IndexBatch removed;
  a.Removed(1, 4096, &removed);
  EXPECT_FALSE(a.Get(1).has_value());
  a.WriteDirty(&removed);
  EXPECT_EQ(removed.count(), 1u);  // the totals only: the removed account is not written back
  const VolumeAccounts::Snapshot s = a.snapshot();
  EXPECT_EQ(s.reclaimed_total, 4196u);
  EXPECT_EQ(s.compactions_total, 4u);
  EXPECT_EQ(a.Last()->first, 2u);
  EXPECT_FALSE(a.Erase(7));
  EXPECT_TRUE(a.Erase(2));
  EXPECT_FALSE(a.Last().has_value());
}

TEST(VolumeAccountsTest, AFailedWritesGapMovesTheEndButNotTheSmallestSequence) {
  VolumeAccounts a;
  a.Appended(5, 8192, 0);
  EXPECT_EQ(a.Get(5)->end, 8192u);
  EXPECT_EQ(a.Get(5)->min_seq, 0u);
  a.Appended(5, 4096, 9);
  EXPECT_EQ(a.Get(5)->end, 8192u);
  EXPECT_EQ(a.Get(5)->min_seq, 9u);
  EXPECT_TRUE(a.OlderRecordOutside(6, 10));
  EXPECT_FALSE(a.OlderRecordOutside(5, 10));
  EXPECT_FALSE(a.OlderRecordOutside(6, 9));
}

TEST(VolumeAccountsTest, StreamPinsHoldTheLowestVolumeUntilReleasedAlsoUnderConcurrency) {
  VolumeAccounts a;
  EXPECT_FALSE(a.snapshot().first_pinned.has_value());
  {
    VolumeAccounts::StreamPin p3 = a.Pin(3);
    {
      VolumeAccounts::StreamPin p2 = a.Pin(2);
      VolumeAccounts::StreamPin again = a.Pin(2);
      EXPECT_EQ(a.snapshot().first_pinned, 2u);
    }
    EXPECT_EQ(a.snapshot().first_pinned, 3u);
    VolumeAccounts::StreamPin moved = std::move(p3);
    EXPECT_EQ(a.snapshot().first_pinned, 3u);
  }
  EXPECT_FALSE(a.snapshot().first_pinned.has_value());

  // Writers pin and count records while a reader takes snapshots: the counts add up and no pin
  // is left. Bounded: 4 threads x 2000 iterations.
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      const VolumeAccounts::Snapshot s = a.snapshot();
      if (s.first_pinned.has_value()) {
        EXPECT_GE(*s.first_pinned, 1u);
      }
    }
  });
  std::vector<std::thread> writers;
  for (uint32_t t = 0; t < 4; t++) {
    writers.emplace_back([&, t] {
      IndexBatch batch;
      for (int i = 0; i < 2000; i++) {
        VolumeAccounts::StreamPin pin = a.Pin(t + 1);
        const LiveVersion v = Object(t + 1, 4096, 100, 10);
        a.Replace(nullptr, &v, &batch);
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  EXPECT_EQ(a.counts().objects, 8000u);
  EXPECT_EQ(a.counts().logical_bytes, 80000u);
  EXPECT_EQ(a.Get(1)->live_records, 2000u);
  EXPECT_FALSE(a.snapshot().first_pinned.has_value());
}

}  // namespace
}  // namespace cairn
