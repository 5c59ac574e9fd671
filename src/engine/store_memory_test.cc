// A whole store in memory: the volumes on MemEnv (io/mem_env.h), the index on RocksDB's memory
// Env, through OpenStoreForTesting. The engine's parts (the commit queue, the preparer, the
// accounts, the reclaimer, the reader epochs) working together, with no disk: writes, volume
// switches, chunked objects, reclamation and clean reopening.
#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/store_testing.h"
#include "io/mem_env.h"

namespace cairn {
namespace {

class StoreInMemory : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(env_.CreateDir("/mem").ok()); }
  StoreOptions Options() {
    StoreOptions o;
    o.env = &env_;
    o.volume_capacity = 1u << 20;  // small volumes: switching and chunking get exercised
    o.max_unfinished_bytes = 8u << 20;
    o.background_reclaim = false;
    o.info_log = [](const std::string&) {};
    o.observer = observer_;
    return o;
  }
  std::unique_ptr<Store> Open() {
    StoreTestHooks hooks;
    hooks.index_env = index_env_.get();
    auto s = OpenStoreForTesting("/mem/store", Options(), std::move(hooks));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  static std::string Value(int i, size_t n) {
    std::string v(n, static_cast<char>('a' + i % 26));
    v.replace(0, std::min<size_t>(n, 8), std::to_string(i).substr(0, std::min<size_t>(n, 8)));
    return v;
  }
  MemEnv env_;
  std::unique_ptr<rocksdb::Env> index_env_{rocksdb::NewMemEnv(rocksdb::Env::Default())};
  StoreObserver* observer_ = nullptr;
};

TEST_F(StoreInMemory, WritesSurviveACleanReopen) {
  {
    auto s = Open();
    ASSERT_NE(s, nullptr);
    for (int i = 0; i < 200; i++)
      ASSERT_TRUE(s->Put("k" + std::to_string(i), Value(i, 10000)).ok());  // two volumes' worth
    ASSERT_TRUE(s->Put("big", Value(7, 700000)).ok());                   // chunked
    ASSERT_TRUE(s->Delete("k3").ok());
    EXPECT_TRUE(s->Delete("k3").IsNotFound());
    auto st = s->Stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->objects, 200u);
    EXPECT_GE(st->volumes, 3u);
    ASSERT_TRUE(s->Close().ok());
  }
  auto s = Open();
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->recovery_report().clean_shutdown);
  for (int i = 0; i < 200; i++) {
    auto v = s->Get("k" + std::to_string(i));
    if (i == 3) {
      EXPECT_TRUE(v.status().IsNotFound());
      continue;
    }
    ASSERT_TRUE(v.ok()) << i << ": " << v.status().ToString();
    EXPECT_EQ(*v, Value(i, 10000));
  }
  EXPECT_EQ(*s->Get("big"), Value(7, 700000));
}

TEST_F(StoreInMemory, ConcurrentWritersShareGroupCommits) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; i++)
        ASSERT_TRUE(s->Put("t" + std::to_string(t) + "/" + std::to_string(i), Value(i, 3000)).ok());
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 100; i++)
      EXPECT_EQ(*s->Get("t" + std::to_string(t) + "/" + std::to_string(i)), Value(i, 3000));
  EXPECT_EQ(s->Stats()->next_sequence, 401u);
}

TEST_F(StoreInMemory, ReclamationPunchesAndCompactsWhatDied) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  for (int round = 0; round < 3; round++)
    for (int i = 0; i < 60; i++)
      ASSERT_TRUE(s->Put("k" + std::to_string(i), Value(round * 100 + i, 9000)).ok());
  const uint64_t before = *env_.AllocatedBytesUnder("/mem/store/volumes");
  ReclaimOptions ro;
  ro.throttle = false;
  auto r = s->Reclaim(ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->punched_bytes + r->retired_bytes, 0u);
  EXPECT_LT(*env_.AllocatedBytesUnder("/mem/store/volumes"), before);
  for (int i = 0; i < 60; i++)
    EXPECT_EQ(*s->Get("k" + std::to_string(i)), Value(200 + i, 9000));
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

// Issue 14: the engine tells its observer of every group commit and fdatasync (cairnd's
// histograms), and counts the hot-entry cache's hits and misses (StoreStats).
class Counting final : public StoreObserver {
 public:
  void OnGroupCommit(size_t writers, uint64_t bytes) override {
    groups++;
    writes += writers;
    log_bytes += bytes;
  }
  void OnDataSync(uint64_t, bool ok) override { (ok ? syncs : failed) += 1; }
  std::atomic<uint64_t> groups{0}, writes{0}, log_bytes{0}, syncs{0}, failed{0};
};

TEST_F(StoreInMemory, Issue14TheObserverSeesGroupCommitsAndSyncsAndStatsCountHotHits) {
  Counting c;
  observer_ = &c;
  auto s = Open();
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < 10; i++) ASSERT_TRUE(s->Put("k" + std::to_string(i), Value(i, 1000)).ok());
  EXPECT_GE(c.groups.load(), 1u);
  EXPECT_EQ(c.writes.load(), 10u);  // sequential sync puts: every write in some group
  EXPECT_GE(c.log_bytes.load(), 10u * 1000);
  EXPECT_GE(c.syncs.load(), 1u);
  EXPECT_EQ(c.failed.load(), 0u);
  auto before = s->Stats();
  ASSERT_TRUE(before.ok());
  for (int i = 0; i < 10; i++) ASSERT_TRUE(s->Get("k" + std::to_string(i)).ok());
  ASSERT_TRUE(s->Get("missing").status().IsNotFound());
  auto after = s->Stats();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->index_hot_hits - before->index_hot_hits, 10u);  // written: cached
  EXPECT_GE(after->index_hot_misses - before->index_hot_misses, 1u);
  ASSERT_TRUE(s->Close().ok());
}

}  // namespace
}  // namespace cairn
