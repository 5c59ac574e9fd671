// Faults and bad input: fdatasync and pwrite errors, a full disk, what a read sees while a write
// commits, directories that are not stores, a locked store, damaged metadata.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "cairn/background.h"
#include "cairn/store.h"
#include "io/fault_env.h"
#include "test_util.h"

namespace cairn {
namespace {

using test::TempDir;
using test::ValueFor;

StoreOptions Opts(Env* env = nullptr) {
  StoreOptions o;
  o.env = env;
  o.volume_capacity = 2 << 20;
  o.max_unfinished_bytes = 8 << 20;
  o.info_log = [](const std::string&) {};
  return o;
}

std::unique_ptr<Store> Open(const std::string& dir, StoreOptions o) {
  auto s = Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

TEST(Fault, FdatasyncErrorFailsTheGroupAndTurnsTheStoreReadOnly) {
  TempDir d;
  FaultEnv env(Env::Default());
  {
    auto s = Open(d.path(), Opts(&env));
    ASSERT_TRUE(s->Put("acked", "v1").ok());
    env.Inject(FaultEnv::Op::kSync, "volumes/", 0, 1, Status::IOError("EIO"));
    Status e = s->Put("acked", "v2");
    EXPECT_TRUE(e.IsIOError()) << e.ToString();
    // Never visible: the index was not told.
    EXPECT_EQ("v1", *s->Get("acked"));
    // Sealed: no later write is acknowledged, even though fdatasync would now succeed.
    EXPECT_TRUE(s->Put("other", "x").IsReadOnly());
    EXPECT_TRUE(s->Delete("acked").IsReadOnly());
    EXPECT_EQ(1u, env.injected(FaultEnv::Op::kSync));  // no retry
    auto st = s->Stats();
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE(st->read_only);
    EXPECT_NE(std::string::npos, st->read_only_reason.find("EIO"));
    for (const VolumeStats& v : st->volume_list) EXPECT_NE("active", v.state);
    // Reads go on.
    EXPECT_TRUE(s->Head("acked").ok());
  }
  env.ClearFaults();
  // After reopening, the acknowledged write is intact. The failed one is indeterminate, like a
  // timeout: it may have reached the disk whole, or not at all, never partly.
  auto s = Open(d.path(), Opts());
  auto v = s->Get("acked");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(*v == "v1" || *v == "v2");
  EXPECT_TRUE(s->Get("other").status().IsNotFound());
  EXPECT_TRUE(s->Put("other", "x").ok());
}

// Issue 12 (a disk wiped under a running node): the store's directory removed, or moved aside
// and made again (as another disk mounted over it would), while the store runs. Its open volume
// still takes writes and fdatasync still succeeds, into a file its path no longer names: before,
// every such write was acknowledged and then gone at the next start. Now the first sync pass
// that finds the volume so fails the write, and the store is read-only (as after an fdatasync
// error), saying why; reads of what it had go on.
void ExpectNoWriteAcknowledgedAfter(bool move_aside) {
  TempDir d;
  const std::string dir = d.path() + "/store";
  auto s = Open(dir, Opts());
  ASSERT_TRUE(s != nullptr);
  ASSERT_TRUE(s->Put("before", "v1").ok());
  std::error_code ec;
  if (move_aside) {
    std::filesystem::rename(dir, d.path() + "/store.old", ec);
    ASSERT_FALSE(ec) << ec.message();
    std::filesystem::create_directories(dir + "/volumes", ec);  // names, but other files
  } else {
    std::filesystem::remove_all(dir, ec);
  }
  ASSERT_FALSE(ec) << ec.message();
  Status e = s->Put("after", "v2");
  EXPECT_TRUE(e.IsIOError()) << e.ToString();
  EXPECT_NE(std::string::npos, e.message().find("wiped or replaced")) << e.ToString();
  EXPECT_TRUE(s->Get("after").status().IsNotFound());
  EXPECT_TRUE(s->Put("later", "x").IsReadOnly());
  auto st = s->Stats();
  if (st.ok()) {  // (Stats also reads the directory, which may be gone)
    EXPECT_TRUE(st->read_only);
    EXPECT_NE(std::string::npos, st->read_only_reason.find("wiped or replaced"))
        << st->read_only_reason;
  }
  EXPECT_EQ("v1", *s->Get("before"));
}

TEST(Fault, Issue12AStoreWhoseDirectoryIsWipedAcknowledgesNoMoreWrites) {
  ExpectNoWriteAcknowledgedAfter(/*move_aside=*/false);
}

TEST(Fault, Issue12AStoreWhoseDirectoryIsMovedAsideAndMadeAgainAcknowledgesNoMoreWrites) {
  ExpectNoWriteAcknowledgedAfter(/*move_aside=*/true);
}

TEST(Fault, PwriteEioFailsTheWriteAndSealsTheStore) {
  TempDir d;
  FaultEnv env(Env::Default());
  auto s = Open(d.path(), Opts(&env));
  ASSERT_TRUE(s->Put("a", "1").ok());
  env.Inject(FaultEnv::Op::kWrite, ".vol", 0, 1, Status::IOError("EIO"));
  EXPECT_TRUE(s->Put("b", "2").IsIOError());
  EXPECT_TRUE(s->Get("b").status().IsNotFound());
  EXPECT_TRUE(s->Put("c", "3").IsReadOnly());
  EXPECT_EQ("1", *s->Get("a"));
}

TEST(Fault, FullDiskGivesCleanErrorsReadsGoOnAndWritesResume) {
  TempDir d;
  FaultEnv env(Env::Default());
  auto s = Open(d.path(), Opts(&env));
  // No new volume can be created: the disk is full.
  env.Inject(FaultEnv::Op::kCreateFile, ".vol.tmp", 0, FaultEnv::kForever,
             Status::NoSpace("ENOSPC"));
  // The first volume is written; a prepared second may exist. Fill until writes fail.
  int acked = 0;
  Status e;
  for (int i = 0; i < 2000; i++) {
    std::string k = "k" + std::to_string(i);
    e = s->Put(k, ValueFor(k, 1, 8000));
    if (!e.ok()) break;
    acked++;
  }
  ASSERT_TRUE(e.IsNoSpace()) << e.ToString();
  EXPECT_GT(acked, 100);
  EXPECT_NE(std::string::npos, e.message().find("no volume to append to"));
  // Reads continue; nothing acknowledged is lost.
  for (int i = 0; i < acked; i++) {
    std::string k = "k" + std::to_string(i);
    ASSERT_EQ(ValueFor(k, 1, 8000), *s->Get(k));
  }
  EXPECT_FALSE(s->Stats()->read_only);  // a full disk is not an I/O error
  // Space is freed: writes resume by themselves (the preparer retries).
  env.ClearFaults();
  Status ok;
  for (int attempt = 0; attempt < 50; attempt++) {
    ok = s->Put("after", "space");
    if (ok.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(ok.ok()) << ok.ToString();
  EXPECT_EQ("space", *s->Get("after"));
}

// Issue 12 item 4: with the disk full, the space reclamation releases is what the writers wait
// for, so the process's one budget for background work counts its steps but does not hold them:
// here the budget owes 100 s, and a throttled pass (as the background reclaimer runs it) still
// finishes without waiting. Once space is back, it waits its turn again.
TEST(Fault, Issue12AFullDiskReclamationIsChargedButNotHeldByTheBackgroundBudget) {
  TempDir d;
  FaultEnv env(Env::Default());
  BackgroundSchedulerOptions bo;
  bo.max_mbps = 1;
  bo.latency_control = false;
  BackgroundScheduler background(bo);
  StoreOptions o = Opts(&env);
  o.reclaim_mbps = 0;
  o.background_reclaim = false;
  o.background_scheduler = &background;
  auto s = Open(d.path(), o);
  env.Inject(FaultEnv::Op::kCreateFile, ".vol.tmp", 0, FaultEnv::kForever,
             Status::NoSpace("ENOSPC"));
  // Overwrites until the disk is full: the first versions are dead, and only reclamation
  // brings their space back.
  Status e;
  for (int i = 0; i < 2000 && e.ok(); i++) {
    std::string k = "k" + std::to_string(i % 100);
    e = s->Put(k, ValueFor(k, 1 + i / 100, 20000));
  }
  ASSERT_TRUE(e.IsNoSpace()) << e.ToString();
  background.Charge(BackgroundActivity::kRepair, 100000000);  // the others spent 100 s of it
  ReclaimOptions ro;  // throttled
  ro.compact = false;
  ro.punch_active = true;
  auto r = s->Reclaim(ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->punched_records, 0u);
  const size_t reclaim = static_cast<size_t>(BackgroundActivity::kReclaim);
  const BackgroundSchedulerStats st = background.stats();
  EXPECT_GT(st.admitted_bytes[reclaim], 0u) << "the pass was not counted";
  EXPECT_EQ(st.waited_us[reclaim], 0u) << "the pass waited for the budget with the disk full";
}

// ENOSPC from a pwrite into a pre-written volume (possible on copy-on-write file systems) fails
// that write only: the store does not turn read-only, and the next write succeeds (issue 5).
TEST(Fault, PwriteNoSpaceFailsOnlyThatWrite) {
  // A small value (one pwrite of the record) and a large one (issue 16: pwritev of head, value
  // and padding) fail the same way.
  for (const std::string& big : {std::string("2"), ValueFor("b", 1, 200 << 10)}) {
    SCOPED_TRACE(big.size());
    TempDir d;
    FaultEnv env(Env::Default());
    auto s = Open(d.path(), Opts(&env));
    ASSERT_TRUE(s->Put("a", "1").ok());
    env.Inject(FaultEnv::Op::kWrite, ".vol", 0, 1, Status::NoSpace("ENOSPC"));
    Status e = s->Put("b", big);
    EXPECT_TRUE(e.IsNoSpace()) << e.ToString();
    EXPECT_TRUE(s->Get("b").status().IsNotFound());
    EXPECT_FALSE(s->Stats()->read_only);
    ASSERT_TRUE(s->Put("c", big + "3").ok());
    EXPECT_EQ("1", *s->Get("a"));
    EXPECT_EQ(big + "3", *s->Get("c"));
    s.reset();
    auto again = Open(d.path(), Opts());
    EXPECT_EQ("1", *again->Get("a"));
    EXPECT_EQ(big + "3", *again->Get("c"));
  }
}

// Issue 15: a conditional write or a versioned delete whose sync fails is like a timeout: after a
// restart it is there whole (with its version) or not at all; a write refused by its condition
// meanwhile wrote nothing; metadata is never half there.
TEST(Fault, Issue15AVersionedDeleteWhoseSyncFailsIsThereWholeOrNotAtAll) {
  TempDir d;
  FaultEnv env(Env::Default());
  Version v1;
  const Version del = Version::Make(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count()) + 10000,
      0, 99);
  ObjectMetadata meta;
  meta.content_type = "text/plain";
  {
    auto s = Open(d.path(), Opts(&env));
    WriteOptions wo;
    WriteResult r;
    wo.result_out = &r;
    wo.metadata = meta;
    ASSERT_TRUE(s->Put("k", "v1", wo).ok());
    v1 = r.version;
    WriteOptions conflict;
    conflict.condition = WriteCondition::kIfNoneMatch;
    EXPECT_TRUE(s->Put("k", "refused", conflict).IsConflict());
    env.Inject(FaultEnv::Op::kSync, "volumes/", 0, 1, Status::IOError("EIO"));
    WriteOptions newer;
    newer.condition = WriteCondition::kIfNewer;
    newer.version = del;
    Status e = s->Delete("k", newer);
    EXPECT_TRUE(e.IsIOError()) << e.ToString();
    EXPECT_EQ("v1", *s->Get("k"));  // never visible
    WriteOptions match;
    match.condition = WriteCondition::kIfMatch;
    match.version = v1;
    EXPECT_TRUE(s->Put("k", "v2", match).IsReadOnly());
  }
  env.ClearFaults();
  auto s = Open(d.path(), Opts());
  auto g = s->Get("k");
  WriteOptions same;
  same.condition = WriteCondition::kIfNewer;
  same.version = del;
  if (g.ok()) {
    EXPECT_EQ("v1", *g);
    EXPECT_EQ(v1, s->Head("k")->version);
    EXPECT_EQ(meta, s->Head("k")->metadata);
  } else {
    ASSERT_TRUE(g.status().IsNotFound()) << g.status().ToString();
    // The delete is there whole: with its version (the same delete again is a retry).
    ASSERT_TRUE(s->Delete("k", same).ok());
    EXPECT_EQ(1u, s->Stats()->tombstones);
  }
  WriteOptions ancient;
  ancient.condition = WriteCondition::kIfNewer;
  ancient.version = Version::Make(10, 0, 99);
  EXPECT_TRUE(s->Put("k", "old", ancient).IsConflict());
}

// Issue 15: a conditional streamed put cut short by ENOSPC leaves nothing visible, fails only
// itself, and the same write succeeds once there is room.
TEST(Fault, Issue15AConditionalStreamCutShortByAFullDiskLeavesNothing) {
  TempDir d;
  FaultEnv env(Env::Default());
  auto s = Open(d.path(), Opts(&env));
  ASSERT_TRUE(s->Put("other", "x").ok());
  const std::string value = ValueFor("big", 1, 1500000);  // chunked: 2 MiB volumes
  WriteOptions wo;
  wo.condition = WriteCondition::kIfNoneMatch;
  wo.metadata.content_type = "application/x-test";
  // The 2nd chunk (all three fit in volume 1; the preparer may be writing volume 2 meanwhile).
  env.Inject(FaultEnv::Op::kWrite, "00000001.vol", 1, 1, Status::NoSpace("ENOSPC"));
  Status e = s->Put("big", value, wo);
  EXPECT_TRUE(e.IsNoSpace()) << e.ToString();
  EXPECT_TRUE(s->Head("big").status().IsNotFound());
  EXPECT_FALSE(s->Stats()->read_only);
  env.ClearFaults();
  ASSERT_TRUE(s->Put("big", value, wo).ok());
  EXPECT_EQ(value, *s->Get("big"));
  EXPECT_EQ("application/x-test", s->Head("big")->metadata.content_type);
  EXPECT_TRUE(s->Put("big", value, wo).IsConflict());
}

// ENOSPC from fallocate(PUNCH_HOLE) (ext4 may need a block to split an extent): the pass
// releases nothing, loses nothing, keeps its work listed, and the next pass does it (issue 5).
TEST(Fault, PunchHoleNoSpaceLosesNothingAndTheNextPassReleases) {
  TempDir d;
  FaultEnv env(Env::Default());
  StoreOptions o = Opts(&env);
  o.background_reclaim = false;
  auto s = Open(d.path(), o);
  for (int i = 0; i < 8; i++) {
    std::string k = "k" + std::to_string(i);
    ASSERT_TRUE(s->Put(k, ValueFor(k, 1, 60000)).ok());
  }
  for (int i = 0; i < 8; i++) {
    std::string k = "k" + std::to_string(i);
    ASSERT_TRUE(s->Put(k, ValueFor(k, 2, 60000)).ok());
  }
  env.Inject(FaultEnv::Op::kPunchHole, ".vol", 0, FaultEnv::kForever, Status::NoSpace("ENOSPC"));
  ReclaimOptions ro;
  ro.compact = false;
  auto r = s->Reclaim(ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(0u, r->punched_bytes);
  EXPECT_GE(env.injected(FaultEnv::Op::kPunchHole), 1u);
  EXPECT_FALSE(s->Stats()->read_only);
  for (int i = 0; i < 8; i++) {
    std::string k = "k" + std::to_string(i);
    ASSERT_EQ(ValueFor(k, 2, 60000), *s->Get(k));
  }
  env.ClearFaults();
  r = s->Reclaim(ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->punched_bytes, 0u);
  for (int i = 0; i < 8; i++) {
    std::string k = "k" + std::to_string(i);
    ASSERT_EQ(ValueFor(k, 2, 60000), *s->Get(k));
  }
}

// Writers waiting for the next volume when the store closes get an error, not a hang (found by
// bench/engine: 64 writers of 1 MiB outran the preparer, and Close never returned).
TEST(Fault, CloseWhileWritersWaitForAVolumeDoesNotHang) {
  TempDir d;
  FaultEnv env(Env::Default());
  auto s = Open(d.path(), Opts(&env));
  // Hold volume creation until the writers are stuck behind it.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  env.SetHook(FaultEnv::Op::kCreateFile, [&](const std::string&) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait_for(l, std::chrono::seconds(20), [&] { return release; });
  });
  std::atomic<int> finished{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; t++) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 100; i++) {
        std::string k = "w" + std::to_string(t) + "/" + std::to_string(i);
        if (!s->Put(k, ValueFor(k, 1, 100000)).ok()) break;
      }
      finished++;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // 2 MiB volumes fill fast
  std::thread closer([&] { EXPECT_TRUE(s->Close().ok()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
    cv.notify_all();
  }
  closer.join();
  for (auto& w : writers) w.join();
  EXPECT_EQ(4, finished.load());
  env.SetHook(FaultEnv::Op::kCreateFile, nullptr);
}

TEST(Fault, ReadOfAKeyWhoseWriteIsCommittingReturnsThePreviousVersion) {
  TempDir d;
  FaultEnv env(Env::Default());
  auto s = Open(d.path(), Opts(&env));
  ASSERT_TRUE(s->Put("k", "old").ok());
  ASSERT_TRUE(s->Put("other", "x").ok());
  // Hold the next fdatasync until the reader has looked.
  std::mutex mu;
  std::condition_variable cv;
  bool in_sync = false, release = false;
  env.SetHook(FaultEnv::Op::kSync, [&](const std::string&) {
    std::unique_lock<std::mutex> l(mu);
    in_sync = true;
    cv.notify_all();
    cv.wait(l, [&] { return release; });
  });
  std::thread writer([&] { EXPECT_TRUE(s->Put("k", "new").ok()); });
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return in_sync; }));
  }
  // The new record is written but not committed: readers see the committed version.
  EXPECT_EQ("old", *s->Get("k"));
  EXPECT_EQ(3u, s->Head("k")->size);
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
    cv.notify_all();
  }
  writer.join();
  env.SetHook(FaultEnv::Op::kSync, nullptr);
  EXPECT_EQ("new", *s->Get("k"));
}

TEST(Fault, NonStoreDirectoryIsRefusedAndUntouched) {
  TempDir d;
  ASSERT_EQ(0, std::system(("echo precious > " + d.sub("file.txt")).c_str()));
  auto s = Store::Open(d.path(), Opts());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsInvalidArgument());
  EXPECT_NE(std::string::npos, s.status().message().find("not a Cairn store"));
  auto names = Env::Default()->ListDir(d.path());
  ASSERT_EQ(1u, names->size());  // nothing was created
  EXPECT_EQ("file.txt", (*names)[0]);
}

TEST(Fault, SecondOpenerIsToldTheHolderPid) {
  TempDir d;
  auto s = Open(d.path(), Opts());
  ASSERT_TRUE(s->Put("k", "v").ok());
  pid_t child = ::fork();
  if (child == 0) {
    auto again = Store::Open(d.path(), Opts());
    bool ok = !again.ok() && again.status().IsBusy() &&
              again.status().message().find(std::to_string(::getppid())) != std::string::npos;
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ("v", *s->Get("k"));
}

TEST(Fault, DamagedVolumeHeaderRefusesToOpen) {
  TempDir d;
  {
    auto s = Open(d.path(), Opts());
    ASSERT_TRUE(s->Put("k", "v").ok());
  }
  auto f = Env::Default()->OpenFile(d.sub("volumes/00000001.vol"), Env::OpenMode::kExisting);
  ASSERT_TRUE((*f)->PWrite(20, "garbage").ok());
  auto s = Store::Open(d.path(), Opts());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsCorruption());
  EXPECT_NE(std::string::npos, s.status().message().find("00000001.vol"));
}

TEST(Fault, DamagedIndexRefusesToOpenWithAClearError) {
  TempDir d;
  {
    auto s = Open(d.path(), Opts());
    ASSERT_TRUE(s->Put("k", "v").ok());
  }
  ASSERT_EQ(0, std::system(("printf 'MANIFEST-999999\\n' > " + d.sub("index/CURRENT")).c_str()));
  auto s = Store::Open(d.path(), Opts());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsCorruption()) << s.status().ToString();
  EXPECT_NE(std::string::npos, s.status().message().find("index"));
}

TEST(Fault, DamagedMarkerRefusesToOpen) {
  TempDir d;
  { auto s = Open(d.path(), Opts()); }
  auto f = Env::Default()->OpenFile(d.sub("CAIRN"), Env::OpenMode::kExisting);
  // Flip the byte: writing a fixed value left the marker whole when byte 17 (inside the random
  // store id) already held it, 1 run in 256 (seen once in a ctest run).
  char b = 0;
  size_t got = 0;
  ASSERT_TRUE((*f)->PRead(17, 1, &b, &got).ok());
  ASSERT_EQ(1u, got);
  b = static_cast<char>(~b);
  ASSERT_TRUE((*f)->PWrite(17, std::string_view(&b, 1)).ok());
  auto s = Store::Open(d.path(), Opts());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string::npos, s.status().message().find("damaged"));
}

TEST(Fault, OptionsOutOfRangeAreNamed) {
  TempDir d;
  StoreOptions o = Opts();
  o.volume_capacity = 1000;
  auto s = Store::Open(d.path(), o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string::npos, s.status().message().find("volume_capacity"));
}

}  // namespace
}  // namespace cairn
