// Tests of VerifyStore and RepairStore (include/cairn/verify.h) on healthy stores and on stores
// damaged on purpose: flipped bytes, a truncated volume, a deleted index, an index that lost or
// kept the wrong entries, and a store that was not closed.
#include "cairn/verify.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>

#include "cairn/store.h"
#include "engine/index.h"
#include "engine/record.h"
#include "engine/volume.h"
#include "test_util.h"

namespace cairn {
namespace {

using test::TempDir;
using test::ValueFor;

StoreOptions SmallOptions() {
  StoreOptions o;
  o.volume_capacity = 1 << 20;  // chunks of about 256 KiB; records spread over volumes
  o.max_unfinished_bytes = 8 << 20;
  o.background_reclaim = false;
  o.info_log = [](const std::string&) {};
  return o;
}

std::unique_ptr<Store> OpenOrDie(const std::string& dir) {
  auto s = Store::Open(dir, SmallOptions());
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

VerifyReport VerifyOrDie(const std::string& dir) {
  Result<VerifyReport> r = VerifyStore(dir, SmallOptions());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : VerifyReport();
}

std::string Dump(const VerifyReport& r) {
  std::string s;
  for (const VerifyProblem& p : r.problems) s += "\n  " + p.ToString();
  return s;
}

const VerifyProblem* FindProblem(const VerifyReport& r, const std::string& kind,
                                 std::optional<std::string> key = std::nullopt) {
  for (const VerifyProblem& p : r.problems)
    if (p.kind == kind && (!key.has_value() || p.key == *key)) return &p;
  return nullptr;
}

std::string VolumePath(const std::string& dir, uint32_t id) {
  return dir + "/volumes/" + Volume::FileName(id);
}

// Where each live object's record is (its manifest, for a large object).
std::map<std::string, PhysicalEntry> Positions(Store* s) {
  std::map<std::string, PhysicalEntry> out;
  auto it = s->IteratePhysical("");
  EXPECT_TRUE(it.ok());
  PhysicalEntry e;
  while (true) {
    Result<bool> more = (*it)->Next(&e);
    EXPECT_TRUE(more.ok());
    if (!more.ok() || !*more) break;
    out[e.info.key] = e;
  }
  return out;
}

void FlipByte(const std::string& path, uint64_t offset) {
  FILE* f = std::fopen(path.c_str(), "r+b");
  ASSERT_NE(nullptr, f);
  ASSERT_EQ(0, std::fseek(f, static_cast<long>(offset), SEEK_SET));
  int c = std::fgetc(f);
  ASSERT_NE(EOF, c);
  ASSERT_EQ(0, std::fseek(f, static_cast<long>(offset), SEEK_SET));
  std::fputc(c ^ 0x5a, f);
  std::fclose(f);
}

// What a test store holds: key -> value, for keys that must read back; and deleted keys.
struct Contents {
  std::map<std::string, std::string> live;
  std::vector<std::string> deleted;
};

// Values of several sizes (a large one is chunked), overwrites and deletes, over many volumes.
Contents Fill(Store* s) {
  Contents c;
  for (int i = 0; i < 60; i++) {
    std::string k = "obj/" + std::to_string(i);
    std::string v = ValueFor(k, 1, static_cast<size_t>(100 + i * 997));
    EXPECT_TRUE(s->Put(k, v).ok());
    c.live[k] = v;
  }
  for (int i = 0; i < 60; i += 3) {  // overwrites: the newest must win
    std::string k = "obj/" + std::to_string(i);
    std::string v = ValueFor(k, 2, 5000);
    EXPECT_TRUE(s->Put(k, v).ok());
    c.live[k] = v;
  }
  for (int i = 1; i < 60; i += 7) {  // deletes: must stay deleted
    std::string k = "obj/" + std::to_string(i);
    EXPECT_TRUE(s->Delete(k).ok());
    c.live.erase(k);
    c.deleted.push_back(k);
  }
  std::string big = ValueFor("big", 1, 700 * 1024);  // about three chunks
  EXPECT_TRUE(s->Put("big", big).ok());
  c.live["big"] = big;
  EXPECT_TRUE(s->Put("empty", "").ok());
  c.live["empty"] = "";
  return c;
}

void ExpectContents(Store* s, const Contents& c) {
  for (const auto& [k, v] : c.live) {
    Result<std::string> got = s->Get(k);
    ASSERT_TRUE(got.ok()) << k << ": " << got.status().ToString();
    EXPECT_TRUE(*got == v) << k << " has other bytes";
  }
  for (const std::string& k : c.deleted) EXPECT_TRUE(s->Get(k).status().IsNotFound()) << k;
  auto st = s->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(c.live.size(), st->objects);
}

TEST(Verify, HealthyStoreIsClean) {
  TempDir d;
  Contents c;
  {
    auto s = OpenOrDie(d.path());
    c = Fill(s.get());
    ASSERT_TRUE(s->Close().ok());
  }
  VerifyReport r = VerifyOrDie(d.path());
  EXPECT_TRUE(r.ok()) << Dump(r);
  EXPECT_TRUE(r.index_checked);
  EXPECT_FALSE(r.needs_recovery);
  EXPECT_GT(r.volumes, 2u);
  EXPECT_EQ(c.live.size(), r.index_entries);
  // Every put, overwrite, delete and chunk is a record.
  EXPECT_GE(r.records, 60u + 20u + 9u + 3u);
  EXPECT_GT(r.bytes_scanned, 700u * 1024);
  // It changed nothing: the store still opens clean, with the same contents.
  auto s = OpenOrDie(d.path());
  EXPECT_TRUE(s->recovery_report().clean_shutdown);
  ExpectContents(s.get(), c);
}

TEST(Verify, EmptyStoreIsClean) {
  TempDir d;
  ASSERT_TRUE(OpenOrDie(d.path())->Close().ok());
  VerifyReport r = VerifyOrDie(d.path());
  EXPECT_TRUE(r.ok()) << Dump(r);
  EXPECT_EQ(0u, r.records);
}

TEST(Verify, NotAStoreIsAnErrorAndLeavesNothing) {
  TempDir d;
  Result<VerifyReport> r = VerifyStore(d.path(), SmallOptions());
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_NE(0, ::access(d.sub("LOCK").c_str(), F_OK));
  EXPECT_TRUE(VerifyStore(d.sub("missing"), SmallOptions()).status().IsNotFound());
  EXPECT_FALSE(RepairStore(d.path(), SmallOptions()).ok());
}

TEST(Verify, StoreOpenElsewhereIsBusy) {
  TempDir d;
  auto s = OpenOrDie(d.path());
  ASSERT_TRUE(s->Put("k", "v").ok());
  Result<VerifyReport> v = VerifyStore(d.path(), SmallOptions());
  EXPECT_TRUE(v.status().IsBusy()) << v.status().ToString();
  Result<RepairReport> r = RepairStore(d.path(), SmallOptions());
  EXPECT_TRUE(r.status().IsBusy()) << r.status().ToString();
  EXPECT_EQ("v", *s->Get("k"));
}

TEST(Verify, FlippedValueByteNamesVolumeOffsetAndKey) {
  TempDir d;
  PhysicalEntry at;
  {
    auto s = OpenOrDie(d.path());
    for (int i = 0; i < 5; i++)
      ASSERT_TRUE(s->Put("k" + std::to_string(i), ValueFor("k", i, 3000)).ok());
    at = Positions(s.get())["k2"];
    ASSERT_TRUE(s->Close().ok());
  }
  FlipByte(VolumePath(d.path(), at.volume), at.offset + 40 + 2 + 100);
  VerifyReport r = VerifyOrDie(d.path());
  EXPECT_FALSE(r.ok());
  const VerifyProblem* region = FindProblem(r, "bad-region", "k2");
  ASSERT_NE(nullptr, region) << Dump(r);
  EXPECT_EQ(at.volume, region->volume);
  EXPECT_EQ(at.offset, region->offset);
  EXPECT_NE(std::string::npos, region->detail.find("value checksum")) << region->detail;
  const VerifyProblem* entry = FindProblem(r, "dangling-entry", "k2");
  ASSERT_NE(nullptr, entry) << Dump(r);
  EXPECT_EQ(at.volume, entry->volume);
  EXPECT_EQ(at.offset, entry->offset);
  EXPECT_NE(std::string::npos, entry->ToString().find(Volume::FileName(at.volume) + " offset " +
                                                      std::to_string(at.offset)));
  EXPECT_EQ(2u, r.problems.size()) << Dump(r);
  // The store itself refuses to hand out the damaged value, and serves the rest.
  auto s = OpenOrDie(d.path());
  EXPECT_TRUE(s->Get("k2").status().IsCorruption());
  EXPECT_EQ(ValueFor("k", 3, 3000), *s->Get("k3"));
}

TEST(Verify, FlippedHeaderByteIsABadRegion) {
  TempDir d;
  PhysicalEntry at;
  {
    auto s = OpenOrDie(d.path());
    for (int i = 0; i < 5; i++)
      ASSERT_TRUE(s->Put("k" + std::to_string(i), ValueFor("k", i, 3000)).ok());
    at = Positions(s.get())["k2"];
    ASSERT_TRUE(s->Close().ok());
  }
  FlipByte(VolumePath(d.path(), at.volume), at.offset + 17);  // in the sequence number
  VerifyReport r = VerifyOrDie(d.path());
  const VerifyProblem* region = FindProblem(r, "bad-region");
  ASSERT_NE(nullptr, region) << Dump(r);
  EXPECT_EQ(at.volume, region->volume);
  EXPECT_EQ(at.offset, region->offset);
  EXPECT_NE(nullptr, FindProblem(r, "dangling-entry", "k2")) << Dump(r);
  // The records after it were found again (resync): only k2 is affected.
  EXPECT_EQ(4u, r.records);
}

TEST(Verify, DamagedChunkIsReportedWithTheObjectsKey) {
  TempDir d;
  {
    auto s = OpenOrDie(d.path());
    ASSERT_TRUE(s->Put("big", ValueFor("big", 1, 600 * 1024)).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  // The first chunk starts right after the volume header.
  FlipByte(VolumePath(d.path(), 1), 4096 + 40 + 3 + 5000);
  VerifyReport r = VerifyOrDie(d.path());
  const VerifyProblem* chunk = FindProblem(r, "bad-chunk", "big");
  ASSERT_NE(nullptr, chunk) << Dump(r);
  EXPECT_EQ(1u, chunk->volume);
  EXPECT_EQ(4096u, chunk->offset);
  EXPECT_NE(nullptr, FindProblem(r, "bad-region", "big")) << Dump(r);
}

TEST(Verify, TruncatedVolumeIsReportedAndRepaired) {
  TempDir d;
  Contents c;
  std::map<std::string, PhysicalEntry> pos;
  {
    auto s = OpenOrDie(d.path());
    for (int i = 0; i < 200; i++) {
      std::string k = "t/" + std::to_string(i);
      c.live[k] = ValueFor(k, 1, 20000);
      ASSERT_TRUE(s->Put(k, c.live[k]).ok());
    }
    pos = Positions(s.get());
    ASSERT_TRUE(s->Close().ok());
  }
  ASSERT_GE(pos["t/199"].volume, 3u);
  // Cut volume 2 in the middle of a record.
  const uint64_t cut = (512 << 10) + 1001;
  ASSERT_EQ(0, ::truncate(VolumePath(d.path(), 2).c_str(), cut));
  VerifyReport r = VerifyOrDie(d.path());
  const VerifyProblem* vol = FindProblem(r, "bad-volume");
  ASSERT_NE(nullptr, vol) << Dump(r);
  EXPECT_EQ(2u, vol->volume);
  EXPECT_EQ(cut, vol->offset);
  EXPECT_NE(nullptr, FindProblem(r, "dangling-entry")) << Dump(r);
  // The store cannot be opened like this...
  EXPECT_FALSE(Store::Open(d.path(), SmallOptions()).ok());
  // ...until it is repaired.
  Result<RepairReport> rep = RepairStore(d.path(), SmallOptions());
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_FALSE(rep->index_moved_to.empty());
  EXPECT_EQ(0, ::access(rep->index_moved_to.c_str(), F_OK));  // kept
  VerifyReport after = VerifyOrDie(d.path());
  EXPECT_TRUE(after.ok()) << Dump(after);
  // Every object whose record lay before the cut (or in another volume) is back, intact.
  Contents kept;
  for (const auto& [k, e] : pos) {
    bool lost = e.volume == 2 && e.offset + RecordLength(format::kRecordFormat, k.size(), 0, 20000) > cut;
    if (lost) {
      kept.deleted.push_back(k);
    } else {
      kept.live[k] = c.live[k];
    }
  }
  EXPECT_GT(kept.live.size(), 150u);
  EXPECT_LT(kept.live.size(), 200u);
  EXPECT_EQ(kept.live.size(), rep->objects);
  auto s = OpenOrDie(d.path());
  ExpectContents(s.get(), kept);
}

TEST(Verify, DeletedIndexIsReportedAndRebuilt) {
  TempDir d;
  Contents c;
  {
    auto s = OpenOrDie(d.path());
    c = Fill(s.get());
    ASSERT_TRUE(s->Close().ok());
  }
  ASSERT_EQ(0, std::system(("rm -rf " + d.sub("index")).c_str()));
  VerifyReport r = VerifyOrDie(d.path());
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.index_checked);
  ASSERT_NE(nullptr, FindProblem(r, "bad-index")) << Dump(r);
  EXPECT_EQ(1u, r.problems.size()) << Dump(r);  // the volumes themselves are fine
  EXPECT_GT(r.records, 0u);
  EXPECT_NE(0, ::access(d.sub("index").c_str(), F_OK));  // verify did not create one

  Result<RepairReport> rep = RepairStore(d.path(), SmallOptions());
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_TRUE(rep->index_moved_to.empty());
  EXPECT_EQ(c.live.size(), rep->objects);
  EXPECT_GT(rep->rebuild.records_replayed, 0u);
  VerifyReport after = VerifyOrDie(d.path());
  EXPECT_TRUE(after.ok()) << Dump(after);
  EXPECT_EQ(c.live.size(), after.index_entries);
  auto s = OpenOrDie(d.path());
  ExpectContents(s.get(), c);
}

TEST(Verify, RepairOfAHealthyStoreKeepsEverything) {
  TempDir d;
  Contents c;
  {
    auto s = OpenOrDie(d.path());
    c = Fill(s.get());
  }
  Result<RepairReport> rep = RepairStore(d.path(), SmallOptions());
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_EQ(c.live.size(), rep->objects);
  // Twice in a row (within the same second): the second old index gets its own name.
  Result<RepairReport> again = RepairStore(d.path(), SmallOptions());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_NE(rep->index_moved_to, again->index_moved_to);
  EXPECT_TRUE(VerifyOrDie(d.path()).ok());
  auto s = OpenOrDie(d.path());
  ExpectContents(s.get(), c);
}

// Edits the index of a closed store directly, as a bug or a lost index write could.
void EditIndex(const std::string& dir, const std::function<void(IndexBatch*)>& edit) {
  auto idx = Index::Open(dir + "/index", SmallOptions(), nullptr, {});
  ASSERT_TRUE(idx.ok()) << idx.status().ToString();
  IndexBatch b;
  edit(&b);
  ASSERT_TRUE((*idx)->Write(&b).ok());
  ASSERT_TRUE((*idx)->Flush(/*wait=*/true).ok());  // no WAL: flush, or the edit is lost
}

TEST(Verify, MissingEntryIsUnindexedButDeletedKeysAreNot) {
  TempDir d;
  PhysicalEntry at;
  {
    auto s = OpenOrDie(d.path());
    ASSERT_TRUE(s->Put("keep", "1").ok());
    ASSERT_TRUE(s->Put("lost", "old").ok());
    ASSERT_TRUE(s->Put("lost", "new").ok());
    ASSERT_TRUE(s->Put("gone", "x").ok());
    ASSERT_TRUE(s->Delete("gone").ok());
    at = Positions(s.get())["lost"];
    ASSERT_TRUE(s->Close().ok());
  }
  EditIndex(d.path(), [](IndexBatch* b) { b->DeleteEntry("lost"); });
  VerifyReport r = VerifyOrDie(d.path());
  const VerifyProblem* p = FindProblem(r, "unindexed", "lost");
  ASSERT_NE(nullptr, p) << Dump(r);
  EXPECT_EQ(at.volume, p->volume);
  EXPECT_EQ(at.offset, p->offset);  // the newest version, not the overwritten one
  EXPECT_EQ(1u, r.problems.size()) << Dump(r);
  ASSERT_TRUE(RepairStore(d.path(), SmallOptions()).ok());
  EXPECT_TRUE(VerifyOrDie(d.path()).ok());
  auto s = OpenOrDie(d.path());
  EXPECT_EQ("new", *s->Get("lost"));
  EXPECT_TRUE(s->Get("gone").status().IsNotFound());
}

TEST(Verify, OlderEntryIsStale) {
  TempDir d;
  format::IndexEntry old_entry;
  {
    auto s = OpenOrDie(d.path());
    ASSERT_TRUE(s->Put("k", "old").ok());
    ASSERT_TRUE(s->Close().ok());
  }
  {
    auto idx = Index::Open(d.sub("index"), SmallOptions(), nullptr, {});
    ASSERT_TRUE(idx.ok());
    auto e = (*idx)->Get("k");
    ASSERT_TRUE(e.ok());
    old_entry = *e;
  }
  {
    auto s = OpenOrDie(d.path());
    ASSERT_TRUE(s->Put("k", "new").ok());
    ASSERT_TRUE(s->Put("d", "x").ok());
    ASSERT_TRUE(s->Close().ok());
  }
  // The index goes back to the old version of k.
  EditIndex(d.path(), [&](IndexBatch* b) { b->PutEntry("k", old_entry); });
  VerifyReport r = VerifyOrDie(d.path());
  ASSERT_NE(nullptr, FindProblem(r, "stale-entry", "k")) << Dump(r);
  EXPECT_EQ(1u, r.problems.size()) << Dump(r);
}

TEST(Verify, UncleanStoreNeedsRecoveryButHasNoProblem) {
  TempDir d;
  const std::string copy = d.sub("copy");
  {
    auto s = OpenOrDie(d.sub("s"));
    for (int i = 0; i < 20; i++) ASSERT_TRUE(s->Put("u/" + std::to_string(i), "v").ok());
    ASSERT_TRUE(s->Sync().ok());
    // A copy taken while the store is open looks like a store after a crash: its index was
    // last flushed with an unclean checkpoint before these writes.
    ASSERT_EQ(0, std::system(("cp -r " + d.sub("s") + " " + copy).c_str()));
  }
  VerifyReport r = VerifyOrDie(copy);
  EXPECT_TRUE(r.ok()) << Dump(r);
  EXPECT_TRUE(r.needs_recovery);
  EXPECT_EQ(20u, r.unreplayed_records);
  {
    auto s = OpenOrDie(copy);
    EXPECT_EQ("v", *s->Get("u/19"));
  }
  VerifyReport after = VerifyOrDie(copy);
  EXPECT_TRUE(after.ok()) << Dump(after);
  EXPECT_FALSE(after.needs_recovery);
  EXPECT_EQ(20u, after.index_entries);
}

TEST(Verify, BadVolumeHeaderIsSetAsideByRepair) {
  TempDir d;
  std::map<std::string, PhysicalEntry> pos;
  Contents c;
  {
    auto s = OpenOrDie(d.path());
    for (int i = 0; i < 120; i++) {
      std::string k = "h/" + std::to_string(i);
      c.live[k] = ValueFor(k, 1, 20000);
      ASSERT_TRUE(s->Put(k, c.live[k]).ok());
    }
    pos = Positions(s.get());
    ASSERT_TRUE(s->Close().ok());
  }
  FlipByte(VolumePath(d.path(), 1), 20);  // the capacity field, under the header CRC
  VerifyReport r = VerifyOrDie(d.path());
  const VerifyProblem* p = FindProblem(r, "bad-volume");
  ASSERT_NE(nullptr, p) << Dump(r);
  EXPECT_EQ(1u, p->volume);
  Result<RepairReport> rep = RepairStore(d.path(), SmallOptions());
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_EQ(0, ::access((VolumePath(d.path(), 1) + ".bad").c_str(), F_OK));
  EXPECT_TRUE(VerifyOrDie(d.path()).ok());
  Contents kept;
  for (const auto& [k, e] : pos) {
    if (e.volume == 1) {
      kept.deleted.push_back(k);
    } else {
      kept.live[k] = c.live[k];
    }
  }
  EXPECT_FALSE(kept.deleted.empty());
  auto s = OpenOrDie(d.path());
  ExpectContents(s.get(), kept);
}

}  // namespace
}  // namespace cairn
