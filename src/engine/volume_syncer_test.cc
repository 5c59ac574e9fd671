// VolumeSyncer (engine/volume_syncer.h) on an in-memory Env: a pass syncs what was written and
// what the caller adds, once each; the interval thread syncs only when a kInterval write waits;
// a failed fdatasync is reported once and fails every later pass.
#include "engine/volume_syncer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "io/fault_env.h"
#include "io/mem_env.h"

namespace cairn {
namespace {

constexpr uint64_t kCap = 1u << 20;
constexpr uint64_t kStore = 77;

class VolumeSyncerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(mem_.CreateDir("/v").ok()); }
  std::shared_ptr<Volume> Make(uint32_t id) {
    auto v = Volume::Create(&env_, "/v", id, kCap, kStore, VolumePreparation::kAllocate);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : nullptr;
  }
  // DataSync calls that reached the files since `before` (MemEnv counts SyncDir too; the
  // volumes are created before `before` is taken).
  uint64_t SyncsSince(uint64_t before) const { return mem_.syncs() - before; }

  MemEnv mem_;
  FaultEnv env_{&mem_};
  std::vector<Status> errors_;
  VolumeSyncer syncer_{[this](const Status& s) { errors_.push_back(s); }};
};

TEST_F(VolumeSyncerTest, APassSyncsEachWrittenOrGivenVolumeOnce) {
  auto a = Make(1), b = Make(2), c = Make(3);
  const uint64_t before = mem_.syncs();
  syncer_.Written(a, false);
  syncer_.Written(a, false);
  syncer_.Written(b, false);
  ASSERT_TRUE(syncer_.SyncAll({b, c}).ok());
  EXPECT_EQ(SyncsSince(before), 3u);  // a, b, c: each once
  // The pass took the set: the next one has nothing to do.
  ASSERT_TRUE(syncer_.SyncAll({}).ok());
  EXPECT_EQ(SyncsSince(before), 3u);
  EXPECT_TRUE(errors_.empty());
}

TEST_F(VolumeSyncerTest, Issue15AFailedSyncIsReportedOnceAndFailsEveryLaterPass) {
  auto a = Make(1), b = Make(2);
  env_.Inject(FaultEnv::Op::kSync, "00000001.vol", 0, 1, Status::IOError("injected EIO"));
  syncer_.Written(a, false);
  Status s = syncer_.SyncAll({});
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  ASSERT_EQ(errors_.size(), 1u);
  // The fault was for one call only; the pass is still not retried and no later pass succeeds,
  // even one for another volume: what the failed pass held may be lost.
  syncer_.Written(b, false);
  Status again = syncer_.SyncAll({});
  EXPECT_TRUE(again.IsIOError()) << again.ToString();
  EXPECT_NE(again.message().find("not durable"), std::string::npos) << again.ToString();
  EXPECT_EQ(errors_.size(), 1u);
  EXPECT_EQ(env_.injected(FaultEnv::Op::kSync), 1u);
}

// Issue 12 (a disk wiped under a running node): a volume whose file was removed behind the
// store's back still takes writes and syncs them, into an inode that goes with its last handle.
// The pass that finds it fails like a failed fdatasync, and so does every later one; a volume
// the store removed itself (reclamation) is not such a sign.
TEST_F(VolumeSyncerTest, Issue12AVolumeRemovedBehindTheStoresBackFailsThePassAndEveryLaterOne) {
  auto a = Make(1), b = Make(2), c = Make(3);
  ASSERT_TRUE(mem_.RemoveFile("/v/" + Volume::FileName(3)).ok());
  c->MarkRemoved();
  syncer_.Written(c, false);
  ASSERT_TRUE(syncer_.SyncAll({a}).ok());
  EXPECT_TRUE(errors_.empty());
  ASSERT_TRUE(a->file()->PWrite(a->data_offset(), "acknowledged?").ok());
  ASSERT_TRUE(mem_.RemoveFile("/v/" + Volume::FileName(1)).ok());  // rm -rf, or a new disk
  syncer_.Written(a, false);
  Status s = syncer_.SyncAll({});
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_NE(s.message().find("not durable"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("volume 1"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("wiped or replaced"), std::string::npos) << s.ToString();
  ASSERT_EQ(errors_.size(), 1u);
  syncer_.Written(b, false);
  EXPECT_TRUE(syncer_.SyncAll({}).IsIOError());
  EXPECT_EQ(errors_.size(), 1u);
}

TEST_F(VolumeSyncerTest, TheIntervalThreadSyncsOnlyWhenAnIntervalWriteWaits) {
  auto a = Make(1);
  const uint64_t before = mem_.syncs();
  syncer_.StartInterval(5);
  syncer_.Written(a, /*interval=*/false);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(SyncsSince(before), 0u);  // a kSync or kNone write waits for its own pass
  syncer_.Written(a, /*interval=*/true);
  // Bounded wait (10 s): the thread wakes every 5 ms.
  for (int i = 0; i < 2000 && SyncsSince(before) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(SyncsSince(before), 1u);
  syncer_.StopInterval();
  syncer_.StopInterval();  // idempotent
  EXPECT_TRUE(errors_.empty());
}

}  // namespace
}  // namespace cairn
