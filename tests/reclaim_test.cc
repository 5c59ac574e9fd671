// Reclamation (docs/design.md, "Reclamation"): hole punching releases dead records' blocks
// without moving live bytes; compaction copies what is live out of sparse volumes and removes
// them; tombstones stay while an older version could come back; a crash at each named point of
// a pass leaves a correct store; readers and writers running during a pass see correct bytes.
//
// Crashes are real: a child process (this binary, re-executed) runs the pass and is killed with
// SIGKILL at the named point through StoreTestHooks::test_point (engine/store_testing.h).
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "cairn/background.h"
#include "cairn/store.h"
#include "cairn/verify.h"
#include "engine/store_testing.h"
#include "test_util.h"

namespace cairn {
namespace {

using test::TempDir;
using test::ValueFor;

StoreOptions Opts() {
  StoreOptions o;
  o.volume_capacity = 1 << 20;  // chunks of ~255 KiB; many volumes from little data
  o.max_unfinished_bytes = 8 << 20;
  o.background_reclaim = false;
  o.compact_min_live_bytes = 256 << 10;  // a quarter of a volume
  o.info_log = [](const std::string&) {};
  return o;
}

std::unique_ptr<Store> Open(const std::string& dir, StoreOptions o = Opts()) {
  auto s = Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

ReclaimOptions Now() {
  ReclaimOptions r;
  r.throttle = false;
  return r;
}

uint64_t VolumeBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/volumes")) {
    struct stat st;
    if (::stat(e.path().c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

size_t VolumeFiles(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/volumes")) (void)e, n++;
  return n;
}

// The expected state: key -> (version, size), or nullopt when deleted.
using Model = std::map<std::string, std::optional<std::pair<uint64_t, size_t>>>;

void Apply(Store* s, Model* m, const std::string& k, uint64_t version, size_t size) {
  ASSERT_TRUE(s->Put(k, ValueFor(k, version, size)).ok());
  (*m)[k] = std::make_pair(version, size);
}

void Remove(Store* s, Model* m, const std::string& k) {
  ASSERT_TRUE(s->Delete(k).ok());
  (*m)[k] = std::nullopt;
}

void Check(Store* s, const Model& m) {
  size_t live = 0;
  for (const auto& [k, v] : m) {
    Result<std::string> got = s->Get(k);
    if (!v.has_value()) {
      EXPECT_TRUE(got.status().IsNotFound()) << k << " came back: " << got.status().ToString();
      continue;
    }
    live++;
    ASSERT_TRUE(got.ok()) << k << ": " << got.status().ToString();
    EXPECT_TRUE(*got == ValueFor(k, v->first, v->second)) << k << " has wrong bytes";
  }
  auto st = s->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->objects, live);
}

// Small (unpunchable) and medium (punchable) objects and two large (chunked) ones, most of them
// then overwritten or deleted: several sparse sealed volumes.
Model Populate(Store* s) {
  Model m;
  for (int i = 0; i < 200; i++) Apply(s, &m, "s" + std::to_string(i), 1, 300);
  for (int i = 0; i < 40; i++) Apply(s, &m, "m" + std::to_string(i), 1, 20000);
  Apply(s, &m, "L0", 1, 600000);
  Apply(s, &m, "L1", 1, 700000);
  for (int i = 0; i < 200; i++) {
    if (i % 10 == 0) continue;  // 10% stay at version 1, spread over the old volumes
    if (i % 7 == 0) {
      Remove(s, &m, "s" + std::to_string(i));
    } else {
      Apply(s, &m, "s" + std::to_string(i), 2, 300);
    }
  }
  for (int i = 0; i < 40; i++)
    if (i % 8 != 0) Apply(s, &m, "m" + std::to_string(i), 2, 20000);
  Apply(s, &m, "L0", 2, 650000);
  return m;
}

// Both ways of preparing volumes (issue 3): punched ranges are holes, allocated-but-unwritten
// space is not, and recovery and a rebuild of the index tell them apart alike.
class HolePunching : public ::testing::TestWithParam<VolumePreparation> {};
INSTANTIATE_TEST_SUITE_P(Prep, HolePunching,
                         ::testing::Values(VolumePreparation::kWriteZeros,
                                           VolumePreparation::kAllocate),
                         [](const auto& info) {
                           return info.param == VolumePreparation::kAllocate ? "Allocate"
                                                                             : "WriteZeros";
                         });

TEST_P(HolePunching, ReleasesDeadBlocksAndKeepsEveryLiveByte) {
  TempDir d;
  StoreOptions o = Opts();
  o.volume_preparation = GetParam();
  auto s = Open(d.path(), o);
  Model m;
  for (int i = 0; i < 30; i++) Apply(s.get(), &m, "k" + std::to_string(i), 1, 64 << 10);
  for (int i = 0; i < 30; i += 2) Apply(s.get(), &m, "k" + std::to_string(i), 2, 64 << 10);
  for (int i = 1; i < 30; i += 4) Remove(s.get(), &m, "k" + std::to_string(i));
  auto before = s->Stats();
  ASSERT_TRUE(before.ok());
  EXPECT_GT(before->reclaimable_bytes, 20u * (60 << 10));
  uint64_t disk_before = VolumeBytes(d.path());

  ReclaimOptions dry = Now();
  dry.dry_run = true;
  auto plan = s->Reclaim(dry);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  uint64_t punchable = 0;
  for (const auto& v : before->volume_list) punchable += v.reclaimable_bytes;
  EXPECT_EQ(plan->punched_bytes, punchable) << "a dry run reports what it would punch";
  EXPECT_EQ(VolumeBytes(d.path()), disk_before) << "a dry run changes nothing";

  ReclaimOptions punch = Now();
  punch.compact = false;
  auto r = s->Reclaim(punch);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->punched_records, 15u + 8u);  // 15 overwritten, 8 deleted
  EXPECT_GE(r->punched_bytes, 23u * (60 << 10));
  EXPECT_EQ(r->copied_bytes, 0u) << "hole punching copies nothing";
  uint64_t disk_after = VolumeBytes(d.path());
  // st_blocks shows the space as free (the file system may keep a block of extent metadata).
  EXPECT_GE(disk_before - disk_after, r->punched_bytes - r->punched_bytes / 50);
  Check(s.get(), m);
  auto after = s->Stats();
  ASSERT_TRUE(after.ok());
  for (const auto& v : after->volume_list) EXPECT_EQ(v.reclaimable_bytes, 0u) << v.id;
  EXPECT_GE(after->reclaimed_bytes, r->punched_bytes);
  // A second pass finds nothing: punching is done once.
  auto again = s->Reclaim(punch);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->punched_records, 0u);

  // Recovery and a rebuild of the index step over punched records.
  ASSERT_TRUE(s->Close().ok());
  s = Open(d.path(), o);
  Check(s.get(), m);
  auto st = s->Stats();
  EXPECT_GE(st->reclaimed_bytes, r->punched_bytes) << "reclaimed bytes survive a restart";
  ASSERT_TRUE(s->Close().ok());
  std::filesystem::remove_all(d.sub("index"));
  s = Open(d.path(), o);
  EXPECT_EQ(s->recovery_report().punched_records, 23u);
  EXPECT_TRUE(s->recovery_report().bad_regions.empty());
  Check(s.get(), m);
}

// Issue 3: yielding to foreground work is bounded by the work done, so a throttled pass keeps
// going while calls arrive without pause. The old rule (sleep 1 ms while calls arrive, up to
// 20 ms after every step) took 20 ms per punched record here: more than 2 s for these 120.
TEST(Reclaim, Issue3ThrottledPassProgressesUnderConstantForegroundLoad) {
  TempDir d;
  StoreOptions o = Opts();
  o.volume_capacity = 4 << 20;
  o.reclaim_mbps = 1000;  // the budget is not what this test measures
  auto s = Open(d.path(), o);
  Model m;
  for (int i = 0; i < 120; i++) Apply(s.get(), &m, "k" + std::to_string(i), 1, 20000);
  for (int i = 0; i < 120; i++) Apply(s.get(), &m, "k" + std::to_string(i), 2, 20000);
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done) (void)s->Get("k0");  // a foreground call without pause
  });
  ReclaimOptions ro;  // throttled, as the background reclaimer runs it
  ro.compact = false;
  // The pass finishes (a pass that yielded for ever would hang here until ctest's timeout) and
  // does all its work. How long it yields per step is a rule of BackgroundThrottle, checked on a
  // fake clock (BackgroundThrottleTest.Issue3ShortStepsUnderConstantLoadYieldNoMoreThanTheirWork):
  // a time asserted here failed on a loaded machine (5.9 s against 1.5 s under TSan).
  auto r = s->Reclaim(ro);
  done = true;
  reader.join();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->punched_records, 120u);
  Check(s.get(), m);
}

// Issue 12 item 4: reclamation is admitted by the process's one budget for background work
// (cairn/background.h), as anti-entropy and hint replay are; an explicit, unthrottled pass is
// not background work and is not held by it.
TEST(Reclaim, Issue12AThrottledPassIsAdmittedByTheOneBackgroundBudget) {
  TempDir d;
  BackgroundSchedulerOptions bo;
  bo.max_mbps = 1000;  // the admission is what this test looks at, not the pace
  bo.latency_control = false;
  BackgroundScheduler background(bo);
  StoreOptions o = Opts();
  o.volume_capacity = 4 << 20;
  o.reclaim_mbps = 0;
  o.background_scheduler = &background;
  auto s = Open(d.path(), o);
  Model m;
  for (int i = 0; i < 40; i++) Apply(s.get(), &m, "k" + std::to_string(i), 1, 20000);
  for (int i = 0; i < 40; i++) Apply(s.get(), &m, "k" + std::to_string(i), 2, 20000);
  ReclaimOptions ro;
  ro.compact = false;
  ro.throttle = false;
  auto r = s->Reclaim(ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->punched_records, 40u);
  const size_t reclaim = static_cast<size_t>(BackgroundActivity::kReclaim);
  EXPECT_EQ(background.stats().admissions[reclaim], 0u) << "an on-demand pass was admitted";
  for (int i = 0; i < 40; i++) Apply(s.get(), &m, "k" + std::to_string(i), 3, 20000);
  ro.throttle = true;  // as the background reclaimer runs it
  r = s->Reclaim(ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->punched_records, 40u);
  const BackgroundSchedulerStats st = background.stats();
  EXPECT_GE(st.admissions[reclaim], 40u);
  EXPECT_GT(st.admitted_bytes[reclaim], 0u);
  Check(s.get(), m);
}

// Issue 4: a punch holds the volume file's inode lock (and, on a file system mounted with
// `discard`, waits for the device meanwhile), so a punch in the volume being appended to stalls
// every append; in cairnd that stalled the event loop. The background reclaimer leaves the
// active volume alone, punches it once it is sealed, and an explicit Reclaim still punches it.
TEST(Reclaim, Issue4BackgroundPunchingWaitsUntilTheActiveVolumeIsSealed) {
  TempDir d;
  StoreOptions o = Opts();
  o.volume_capacity = 4 << 20;
  o.background_reclaim = true;
  o.reclaim_interval_ms = 5;
  o.reclaim_mbps = 0;
  auto s = Open(d.path(), o);
  Model m;
  // Overwrites inside the first volume: 40 dead records of 20 KB, all in the active volume.
  for (int v = 1; v <= 2; v++)
    for (int i = 0; i < 40; i++) Apply(s.get(), &m, "k" + std::to_string(i), v, 20000);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // ~60 background passes
  Result<StoreStats> st = s->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->reclaimed_bytes, 0u) << "the background reclaimer punched the active volume";
  // Fill past the first volume: it is sealed, and the background reclaimer punches it.
  for (int i = 0; i < 200; i++) Apply(s.get(), &m, "fill" + std::to_string(i), 1, 20000);
  bool punched = false;
  for (int t = 0; t < 500 && !punched; t++) {  // bounded: 5 s
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    st = s->Stats();
    ASSERT_TRUE(st.ok());
    punched = st->reclaimed_bytes > 0;
  }
  EXPECT_TRUE(punched) << "the sealed volume's dead records were never punched";
  Check(s.get(), m);
  // An explicit pass punches the active volume too (the last fills were written there).
  for (int i = 190; i < 200; i++) Apply(s.get(), &m, "fill" + std::to_string(i), 2, 20000);
  auto r = s->Reclaim(Now());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(r->punched_records, 10u);
  Check(s.get(), m);
}

// Issue 3: the chunks of an object still being streamed are not live until its manifest
// commits, so a sealed volume holding only them looks empty. Compaction must leave it alone;
// it used to remove it, and the manifest then pointed into a missing volume (seen as a flaky
// LargeObject.MoreThanFourGiBStreamsInAndOutWithBoundedMemory once reclamation ran faster).
TEST(Reclaim, Issue3CompactionLeavesVolumesOfAnObjectStillBeingWritten) {
  TempDir d;
  auto s = Open(d.path());
  const std::string want = ValueFor("big", 1, 3 << 20);  // ~12 chunks, several 1 MiB volumes
  struct Source : ValueSource {
    Store* store;
    const std::string* value;
    size_t pos = 0;
    bool reclaimed = false;
    Result<size_t> Read(char* buf, size_t n) override {
      if (!reclaimed && pos >= (2u << 20)) {  // volumes full of this object's chunks are sealed
        reclaimed = true;
        auto r = store->Reclaim(Now());
        if (!r.ok()) return r.status();
      }
      size_t k = std::min(n, value->size() - pos);
      std::memcpy(buf, value->data() + pos, k);
      pos += k;
      return k;
    }
  } src;
  src.store = s.get();
  src.value = &want;
  ASSERT_TRUE(s->PutStream("big", &src).ok());
  ASSERT_TRUE(src.reclaimed);
  auto got = s->Get("big");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == want);
  ASSERT_TRUE(s->Close().ok());
  s = Open(d.path());
  got = s->Get("big");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == want);
}

TEST(Reclaim, CompactionMovesLiveRecordsAndRemovesSparseVolumes) {
  TempDir d;
  auto s = Open(d.path());
  Model m = Populate(s.get());
  size_t files_before = VolumeFiles(d.path());
  auto r = s->Reclaim(Now());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->compacted_volumes, 0u);
  EXPECT_GT(r->copied_records, 0u);
  EXPECT_GT(r->retired_bytes, 0u);
  EXPECT_LT(VolumeFiles(d.path()), files_before);
  Check(s.get(), m);
  auto st = s->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->compactions, r->compacted_volumes);
  // Writes after compaction, and a second pass.
  Apply(s.get(), &m, "s1", 3, 5000);
  Remove(s.get(), &m, "m1");
  ASSERT_TRUE(s->Reclaim(Now()).ok());
  Check(s.get(), m);
  ASSERT_TRUE(s->Close().ok());
  s = Open(d.path());
  Check(s.get(), m);
  ASSERT_TRUE(s->Close().ok());
  // Verify understands punched records and relocated copies: nothing to report.
  auto v = VerifyStore(d.path(), Opts());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  for (const auto& p : v->problems) ADD_FAILURE() << p.ToString();
  EXPECT_GT(v->punched_records, 0u);
  // The volumes alone still give the same objects, deletions included (kept tombstones).
  std::filesystem::remove_all(d.sub("index"));
  s = Open(d.path());
  Check(s.get(), m);
}

// Bytes this process has read through read(2)/pread(2) so far (/proc/self/io rchar).
uint64_t ProcessReadBytes() {
  std::ifstream f("/proc/self/io");
  std::string name;
  uint64_t v = 0;
  while (f >> name >> v)
    if (name == "rchar:") return v;
  return 0;
}

// Issue 16, sustained overwrites: a volume of small dead records goes whole, by compaction,
// before any of its records is punched. Punching first cost a fallocate per record and, under
// 10 KiB overwrites at 11k/s, never reached compaction (design.md, "Reclamation").
TEST(Reclaim, Issue16AVolumeOfSmallDeadRecordsIsCompactedNotPunched) {
  TempDir d;
  auto s = Open(d.path());
  Model m;
  for (int i = 0; i < 150; i++) Apply(s.get(), &m, "k" + std::to_string(i), 1, 6000);
  for (int i = 0; i < 150; i++) Apply(s.get(), &m, "k" + std::to_string(i), 2, 6000);
  ReclaimOptions dry = Now();
  dry.dry_run = true;
  auto plan = s->Reclaim(dry);
  ASSERT_TRUE(plan.ok());
  ASSERT_GE(plan->compacted_volumes, 1u);
  ASSERT_GT(plan->punched_bytes, 0u) << "the dead records have punchable blocks";
  ReclaimOptions ro = Now();
  ro.punch_active = false;  // only the sealed volumes' dead records
  auto r = s->Reclaim(ro);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(r->compacted_volumes, 1u);
  EXPECT_EQ(0u, r->punched_records) << "dead records of a compacted volume were punched first";
  Check(s.get(), m);
  ASSERT_TRUE(s->Close().ok());
  Check(Open(d.path()).get(), m);
}

// Compaction reads a volume's heads and its live values, not its dead values: a volume of dead
// 200 KB records costs its heads. Before, the scan read (and charged reclaim_mbps for) every
// byte of the volume.
TEST(Reclaim, Issue16CompactionReadsHeadsAndLiveValuesOnly) {
  TempDir d;
  StoreOptions o = Opts();
  o.volume_capacity = 8 << 20;
  o.compact_min_live_bytes = 1 << 20;
  auto s = Open(d.path(), o);
  Model m;
  for (int i = 0; i < 60; i++) Apply(s.get(), &m, "v" + std::to_string(i), 1, 200000);
  for (int i = 0; i < 60; i++)
    if (i != 7) Apply(s.get(), &m, "v" + std::to_string(i), 2, 200000);  // v7 stays live
  ReclaimOptions ro = Now();
  ro.punch = false;  // compaction alone: what it reads
  const uint64_t before = ProcessReadBytes();
  auto r = s->Reclaim(ro);
  const uint64_t read = ProcessReadBytes() - before;
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_GE(r->compacted_volumes, 1u);
  EXPECT_EQ(1u, r->copied_records);  // v7's value, read once
  // About 40 heads of 4 KiB and one value, against 8 MB of dead values per compacted volume.
  EXPECT_LT(read, uint64_t{2} << 20) << "compaction read " << read << " bytes for "
                                      << r->compacted_volumes << " volumes";
  Check(s.get(), m);
}

TEST(Reclaim, TombstoneIsKeptWhileAnOlderVersionExistsElsewhere) {
  TempDir d;
  StoreOptions o = Opts();
  o.compact_min_live_bytes = 1;  // compact on the live ratio only
  auto s = Open(d.path(), o);
  Model m;
  // Volume 1: the old version of "victim" among objects that stay live (never compacted).
  Apply(s.get(), &m, "victim", 1, 300);
  for (int i = 0; i < 55; i++) Apply(s.get(), &m, "keep" + std::to_string(i), 1, 20000);
  // Volume 2: the tombstone among small objects that are then overwritten (compacted).
  Remove(s.get(), &m, "victim");
  for (int i = 0; i < 2000; i++) Apply(s.get(), &m, "churn" + std::to_string(i), 1, 300);
  for (int i = 0; i < 2000; i++) Apply(s.get(), &m, "churn" + std::to_string(i), 2, 300);
  auto r = s->Reclaim(Now());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GT(r->compacted_volumes, 0u);
  EXPECT_GE(r->tombstones_kept, 1u) << "the tombstone must outlive the version in volume 1";
  Check(s.get(), m);
  ASSERT_TRUE(s->Close().ok());
  std::filesystem::remove_all(d.sub("index"));
  s = Open(d.path(), o);
  Check(s.get(), m);  // "victim" stays deleted after a rebuild from the volumes
}

TEST(Reclaim, TombstoneIsDroppedWhenNothingOlderRemains) {
  TempDir d;
  StoreOptions o = Opts();
  auto s = Open(d.path(), o);
  Model m;
  for (int i = 0; i < 100; i++) Apply(s.get(), &m, "k" + std::to_string(i), 1, 20000);
  for (int i = 0; i < 100; i++) Remove(s.get(), &m, "k" + std::to_string(i));
  for (int i = 0; i < 100; i++) Apply(s.get(), &m, "pad" + std::to_string(i), 1, 20000);
  // Everything before the tombstones is dead and compacted away first, so they can go too.
  for (int pass = 0; pass < 3; pass++) ASSERT_TRUE(s->Reclaim(Now()).ok());
  auto r = s->Reclaim(Now());
  ASSERT_TRUE(r.ok());
  Check(s.get(), m);
  ASSERT_TRUE(s->Close().ok());
  std::filesystem::remove_all(d.sub("index"));
  s = Open(d.path(), o);
  Check(s.get(), m);
}

TEST(Reclaim, ReadersAndWritersDuringReclamationSeeCorrectBytes) {
  TempDir d;
  auto s = Open(d.path());
  constexpr int kKeys = 64;
  std::atomic<uint64_t> version[kKeys];
  for (int i = 0; i < kKeys; i++) {
    version[i] = 1;
    std::string k = "c" + std::to_string(i);
    ASSERT_TRUE(s->Put(k, ValueFor(k, 1, static_cast<size_t>(5000 + i * 997))).ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::mutex key_mu[kKeys];
  auto size_of = [](int i, uint64_t v) { return static_cast<size_t>(5000 + i * 997 + (v % 3) * 30000); };
  std::thread writer([&] {
    for (uint64_t n = 0; n < 3000 && !stop; n++) {
      int i = static_cast<int>(n * 7 % kKeys);
      std::lock_guard<std::mutex> l(key_mu[i]);
      uint64_t v = version[i] + 1;
      std::string k = "c" + std::to_string(i);
      if (!s->Put(k, ValueFor(k, v, size_of(i, v))).ok()) errors++;
      version[i] = v;
    }
  });
  std::thread reader([&] {
    for (uint64_t n = 0; n < 20000 && !stop; n++) {
      int i = static_cast<int>(n * 13 % kKeys);
      std::string k = "c" + std::to_string(i);
      uint64_t before = version[i];
      Result<std::string> got = s->Get(k);
      uint64_t after = version[i];
      if (!got.ok()) {
        ADD_FAILURE() << k << ": " << got.status().ToString();
        errors++;
        continue;
      }
      bool match = false;
      for (uint64_t v = before; v <= after + 1 && !match; v++)
        match = *got == ValueFor(k, v, v == 1 ? static_cast<size_t>(5000 + i * 997) : size_of(i, v));
      if (!match) errors++;
    }
  });
  for (int pass = 0; pass < 20; pass++) ASSERT_TRUE(s->Reclaim(Now()).ok());
  writer.join();
  stop = true;
  reader.join();
  EXPECT_EQ(errors.load(), 0);
}

// ---- Crashes at the named points of a pass.

Model Expected() {
  // The model of Populate(), recomputed without a store.
  Model m;
  for (int i = 0; i < 200; i++) m["s" + std::to_string(i)] = std::make_pair(uint64_t{1}, size_t{300});
  for (int i = 0; i < 40; i++) m["m" + std::to_string(i)] = std::make_pair(uint64_t{1}, size_t{20000});
  m["L0"] = std::make_pair(uint64_t{2}, size_t{650000});
  m["L1"] = std::make_pair(uint64_t{1}, size_t{700000});
  for (int i = 0; i < 200; i++) {
    if (i % 10 == 0) continue;
    if (i % 7 == 0) {
      m["s" + std::to_string(i)] = std::nullopt;
    } else {
      m["s" + std::to_string(i)] = std::make_pair(uint64_t{2}, size_t{300});
    }
  }
  for (int i = 0; i < 40; i++)
    if (i % 8 != 0) m["m" + std::to_string(i)] = std::make_pair(uint64_t{2}, size_t{20000});
  return m;
}

// Runs a reclamation pass in a child process killed at `point`; true if it died there.
bool ReclaimAndDieAt(const std::string& dir, const std::string& point) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/proc/self/exe", "reclaim_test", "--kill-at", point.c_str(), dir.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return false;
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

class ReclaimCrash : public ::testing::TestWithParam<const char*> {};

TEST_P(ReclaimCrash, StoreIsCorrectAfterACrashAtThePoint) {
  TempDir d;
  {
    auto s = Open(d.path());
    Model m = Populate(s.get());
    ASSERT_EQ(m, Expected());
    ASSERT_TRUE(s->Close().ok());
  }
  ASSERT_TRUE(ReclaimAndDieAt(d.path(), GetParam())) << "the pass never reached " << GetParam();
  const Model m = Expected();
  {
    auto s = Open(d.path());
    Check(s.get(), m);
    // The interrupted pass is finished by the next one.
    auto r = s->Reclaim(Now());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    Check(s.get(), m);
    ASSERT_TRUE(s->Close().ok());
  }
  std::filesystem::remove_all(d.sub("index"));
  auto s = Open(d.path());
  Check(s.get(), m);
}

INSTANTIATE_TEST_SUITE_P(Points, ReclaimCrash,
                         ::testing::Values("punch:after-punch", "compact:before-copy",
                                           "compact:mid-copy", "compact:after-copy",
                                           "compact:after-switch"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == ':' || c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace cairn

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--kill-at") {
    const std::string point = argv[2];
    cairn::StoreTestHooks hooks;
    hooks.test_point = [point](const char* p) {
      if (point == p) ::kill(::getpid(), SIGKILL);
    };
    auto s = cairn::OpenStoreForTesting(argv[3], cairn::Opts(), std::move(hooks));
    if (!s.ok()) return 2;
    cairn::ReclaimOptions ro = cairn::Now();
    // A pass compacts first, and every volume Populate leaves with punchable records qualifies
    // for compaction: the punching point is reached by a pass that only punches.
    if (point.starts_with("punch:")) ro.compact = false;
    (void)(*s)->Reclaim(ro);
    ::_exit(0);  // the point was never reached
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
