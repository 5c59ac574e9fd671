// VolumePreparer (engine/volume_preparer.h) on an in-memory Env: a volume is prepared only when
// asked, with an id above every id named at open, and is in the volume set before it is handed
// out; a failed preparation is reported to the waiting writer, gives its id back and is retried;
// Halt releases a waiting writer; Stop is idempotent; a writer that waits kMaxWait hurries the
// volume being zeroed (the rest is allocated), which keeps its id.
#include "engine/volume_preparer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>

#include "io/fault_env.h"
#include "io/mem_env.h"

namespace cairn {
namespace {

constexpr uint64_t kCap = 1u << 20;

class VolumePreparerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mem_.CreateDir("/v").ok());
    prep_.SetOptions({&env_, "/v", kCap, 77, VolumePreparation::kAllocate, &volumes_,
                      [this](const std::string& m) { logged_.push_back(m); }, nullptr});
  }
  // Waits (bounded: 10 s) for a prepared volume and takes it; a failed attempt is asked again.
  std::shared_ptr<Volume> WaitAndTake() {
    for (int i = 0; i < 100; i++) {
      (void)prep_.WaitForVolume();
      if (auto v = prep_.TryTake(); v != nullptr) return v;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return nullptr;
  }

  MemEnv mem_;
  FaultEnv env_{&mem_};
  VolumeSet volumes_;
  std::vector<std::string> logged_;  // written by the preparer's thread, read after Stop
  VolumePreparer prep_;
};

TEST_F(VolumePreparerTest, AVolumeIsPreparedWhenAskedAboveEveryIdNamedAtOpen) {
  prep_.IdsAbove(4);
  prep_.IdsAbove(2);  // never lowers
  EXPECT_EQ(prep_.TakeId(), 5u);
  prep_.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(prep_.TryTake(), nullptr);  // nobody asked
  EXPECT_TRUE(prep_.PreparedIds().empty());
  std::shared_ptr<Volume> v = WaitAndTake();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->id(), 6u);
  EXPECT_TRUE(volumes_.Contains(6));  // readers find it before any writer appends to it
  // Ahead of need: one volume, not more.
  prep_.WantAhead();
  for (int i = 0; i < 1000 && prep_.PreparedIds().empty(); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(prep_.PreparedIds(), std::vector<uint32_t>{7});
  prep_.WantAhead();  // one is ready: nothing more
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(prep_.PreparedIds(), std::vector<uint32_t>{7});
  prep_.Stop();
  prep_.Stop();  // idempotent
  EXPECT_TRUE(logged_.empty());
}

TEST_F(VolumePreparerTest, AVolumeFoundAtOpenIsHandedOutFirst) {
  auto found = Volume::Create(&env_, "/v", 3, kCap, 77, VolumePreparation::kAllocate);
  ASSERT_TRUE(found.ok());
  prep_.IdsAbove(3);
  prep_.AddPrepared(*found);
  prep_.Start();
  EXPECT_EQ(prep_.PreparedIds(), std::vector<uint32_t>{3});
  std::shared_ptr<Volume> v = prep_.TryTake();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->id(), 3u);
}

TEST_F(VolumePreparerTest, AFailedPreparationIsReportedGivesItsIdBackAndIsRetried) {
  prep_.IdsAbove(1);
  env_.Inject(FaultEnv::Op::kCreateFile, "00000002.vol", 0, 1, Status::NoSpace("injected ENOSPC"));
  prep_.Start();
  // The first attempt fails: the waiting writer is told why.
  Status s = prep_.WaitForVolume();
  for (int i = 0; i < 100 && s.ok() && prep_.PreparedIds().empty(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s = prep_.WaitForVolume();
  }
  EXPECT_TRUE(s.IsNoSpace()) << s.ToString();
  // The retry (after kRetryDelay) uses the same id and succeeds.
  std::shared_ptr<Volume> v = WaitAndTake();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->id(), 2u);
  prep_.Stop();
  ASSERT_EQ(logged_.size(), 1u);
  EXPECT_NE(logged_[0].find("ENOSPC"), std::string::npos) << logged_[0];
}

TEST_F(VolumePreparerTest, HaltReleasesAWaitingWriterAndNothingMoreIsPrepared) {
  // Every attempt fails until Halt: a writer waiting would wait for ever without it.
  env_.Inject(FaultEnv::Op::kCreateFile, ".vol", 0, FaultEnv::kForever, Status::IOError("EIO"));
  prep_.Start();
  std::thread writer([&] {
    // Waits until halted (or told of the failure, then asks again), bounded: 10 s.
    for (int i = 0; i < 1000; i++) {
      Status s = prep_.WaitForVolume();
      if (s.ok()) return;  // halted
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "the writer was never released";
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  prep_.Halt();
  writer.join();
  env_.ClearFaults();
  prep_.Want();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(prep_.PreparedIds().empty());  // halted: nothing more is prepared
  EXPECT_TRUE(prep_.WaitForVolume().ok());    // and nobody waits
  prep_.Stop();
}

// Issue 16: a writer never waits for a whole volume of zeros. The preparer is held before it
// starts zeroing volume 2 (as a busy disk would hold it); a writer waiting for a volume hurries
// it after kMaxWait, and once released the preparer allocates the data area instead of writing
// it and hands out volume 2: the id it started with, so volumes stay in id order (recovery
// replays them from the checkpoint's id up). A volume prepared ahead, with nobody waiting, is
// zeroed whole.
TEST_F(VolumePreparerTest, AWriterThatWaitedHurriesTheVolumeBeingZeroedWhichKeepsItsId) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> began{0}, hurried_points{0};
  std::function<void(const char*)> point = [&](const char* name) {
    const std::string_view n(name);
    if (n == "volume:hurried") hurried_points++;
    if (n != "volume:create-begin") return;
    if (began++ > 0) return;  // only the first volume is held
    std::unique_lock<std::mutex> l(mu);
    cv.wait_for(l, std::chrono::seconds(30), [&] { return release; });
  };
  prep_.SetOptions({&env_, "/v", kCap, 77, VolumePreparation::kWriteZeros, &volumes_,
                    [this](const std::string& m) { logged_.push_back(m); }, &point});
  prep_.IdsAbove(1);
  prep_.Start();
  Status waited;
  std::thread writer([&] { waited = prep_.WaitForVolume(); });
  for (int i = 0; i < 1000 && !prep_.hurrying(); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(prep_.hurrying());  // the writer waited kMaxWait
  EXPECT_EQ(began.load(), 1);
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  writer.join();
  EXPECT_TRUE(waited.ok()) << waited.ToString();
  std::shared_ptr<Volume> v = prep_.TryTake();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->id(), 2u);
  EXPECT_EQ(hurried_points.load(), 1);  // the data area was allocated, not zeroed
  EXPECT_EQ(prep_.hurried(), 1u);
  EXPECT_FALSE(prep_.hurrying());
  EXPECT_TRUE(logged_.empty());  // not a warning: nothing to log
  // Ahead of need, nobody waiting: zeroed whole, not hurried.
  prep_.WantAhead();
  for (int i = 0; i < 1000 && prep_.PreparedIds().empty(); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(prep_.PreparedIds(), std::vector<uint32_t>{3});
  EXPECT_EQ(hurried_points.load(), 1);
  EXPECT_EQ(prep_.hurried(), 1u);
  prep_.Stop();
}

}  // namespace
}  // namespace cairn
