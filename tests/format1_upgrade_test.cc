// Issue 15: a store written in format 1 (tests/fixtures/format1-store.tar.gz, made by the last
// format-1 cairn; tests/fixtures/README.md) opens with this build, reads back byte for byte with
// derived versions and no metadata, is upgraded (docs/format.md section 7), and then takes new
// writes, a crash, hole punching, compaction and a rebuild of its index.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "cairn/store.h"
#include "cairn/verify.h"
#include "crash_child.h"
#include "engine/record.h"
#include "engine/store_format.h"
#include "test_util.h"

#ifndef CAIRN_FIXTURE_DIR
#error "CAIRN_FIXTURE_DIR must name tests/fixtures"
#endif

namespace cairn {
namespace {

using test::CrashAfter;
using test::TempDir;

StoreOptions Opts() {
  StoreOptions o;
  o.background_reclaim = false;
  o.info_log = [](const std::string&) {};
  return o;
}

// tests/fixtures/README.md: byte i is (i * 131 + seed * 7 + i / 4096) mod 251.
std::string Pattern(uint64_t seed, size_t size) {
  std::string v(size, '\0');
  for (size_t i = 0; i < size; i++) v[i] = static_cast<char>((i * 131 + seed * 7 + i / 4096) % 251);
  return v;
}

// What the fixture holds.
std::map<std::string, std::string> FixtureObjects() {
  return {
      {"hello", "hello, format 1\n"},
      {"empty", ""},
      {"small/a", Pattern(1, 100)},
      {"small/b", Pattern(2, 3000)},
      {"mid/overwritten", Pattern(4, 12000)},
      {"large/stdin", Pattern(6, 5 * 1024 * 1024 + 321)},
  };
}

std::string Unpack(const TempDir& d) {
  const std::string cmd = "tar -C " + d.path() + " -xzf " CAIRN_FIXTURE_DIR "/format1-store.tar.gz";
  EXPECT_EQ(0, std::system(cmd.c_str())) << cmd;
  return d.sub("store");
}

format::StoreMarker ReadMarker(const std::string& dir) {
  std::ifstream f(dir + "/CAIRN", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  format::StoreMarker m;
  EXPECT_TRUE(format::DecodeMarker(ss.str(), &m).ok());
  return m;
}

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

WriteOptions IfNewer(Version v) {
  WriteOptions wo;
  wo.condition = WriteCondition::kIfNewer;
  wo.version = v;
  return wo;
}

// The expected contents: live objects with their values (and metadata), keys that must be absent.
struct Model {
  std::map<std::string, std::string> live;
  std::map<std::string, ObjectMetadata> meta;
  std::set<std::string> deleted;
  std::set<std::string> format1;  // keys whose live version is still the fixture's
};

Model FixtureModel() {
  Model m;
  m.live = FixtureObjects();
  m.deleted = {"deleted"};
  for (const auto& [k, v] : m.live) m.format1.insert(k);
  return m;
}

void Check(Store* s, const Model& m, const std::string& when) {
  SCOPED_TRACE(when);
  for (const auto& [k, v] : m.live) {
    auto g = s->Get(k);
    ASSERT_TRUE(g.ok()) << k << ": " << g.status().ToString();
    EXPECT_TRUE(*g == v) << k << ": " << g->size() << " bytes, want " << v.size();
    auto h = s->Head(k);
    ASSERT_TRUE(h.ok()) << k;
    EXPECT_EQ(v.size(), h->size) << k;
    auto it = m.meta.find(k);
    EXPECT_EQ(it == m.meta.end() ? ObjectMetadata() : it->second, h->metadata) << k;
    if (m.format1.count(k) > 0) {
      // A format-1 object's version: derived from its timestamp, writer 0.
      EXPECT_EQ(DerivedVersion(h->mtime_us), h->version) << k;
    } else {
      EXPECT_NE(0u, h->version.writer) << k;
    }
    auto r = s->OpenReader(k);
    ASSERT_TRUE(r.ok()) << k;
    std::string streamed, buf(1 << 20, '\0');
    for (;;) {
      auto n = (*r)->Read(buf.data(), buf.size());
      ASSERT_TRUE(n.ok()) << k << ": " << n.status().ToString();
      if (*n == 0) break;
      streamed.append(buf.data(), *n);
    }
    EXPECT_TRUE(streamed == v) << k;
  }
  for (const std::string& k : m.deleted) {
    EXPECT_TRUE(s->Get(k).status().IsNotFound()) << k;
    // Never back, not even through a replica write of an ancient version (older than the
    // delete, and older than the tombstone horizon).
    Status st = s->Put(k, "resurrected", IfNewer(Version::Make(1000, 0, 9)));
    EXPECT_TRUE(st.IsConflict()) << k << ": " << st.ToString();
  }
  auto scan = s->Scan("", "", 1000);
  ASSERT_TRUE(scan.ok());
  std::set<std::string> listed;
  for (const ObjectInfo& o : scan->objects) listed.insert(o.key);
  std::set<std::string> want;
  for (const auto& [k, v] : m.live) want.insert(k);
  EXPECT_EQ(want, listed);
  auto st = s->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(m.live.size(), st->objects);
}

void VerifyClean(const std::string& dir) {
  auto v = VerifyStore(dir, Opts());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->ok()) << (v->problems.empty() ? "" : v->problems[0].ToString());
}

TEST(Format1, Issue15AFormat1StoreOpensReadsBackAndIsUpgraded) {
  TempDir d;
  const std::string dir = Unpack(d);
  EXPECT_EQ(1u, ReadMarker(dir).format_version);
  // verify reads format 1 and changes nothing.
  VerifyClean(dir);
  EXPECT_EQ(1u, ReadMarker(dir).format_version);

  const uint64_t before_open = NowMs();
  auto opened = Store::Open(dir, Opts());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Store> s = std::move(*opened);
  EXPECT_TRUE(s->recovery_report().upgraded_from_format1);
  EXPECT_TRUE(s->recovery_report().clean_shutdown);
  const format::StoreMarker m = ReadMarker(dir);
  EXPECT_EQ(2u, m.format_version);
  EXPECT_NE(0u, m.writer_id);
  EXPECT_EQ(m.writer_id, s->writer_id());
  // Format 1 kept no tombstones in its index: nothing older than the upgrade may create a key.
  EXPECT_GE(s->tombstone_horizon().millis(), before_open);
  Model model = FixtureModel();
  Check(s.get(), model, "after the upgrade");

  // The change feed reads the format-1 log, with derived versions.
  std::vector<LogRecord> feed;
  LogPosition next;
  for (;;) {
    auto b = s->IterateLog(next, 3);
    ASSERT_TRUE(b.ok());
    for (auto& r : b->records) feed.push_back(r);
    next = b->next;
    if (b->end) break;
  }
  const std::vector<std::pair<std::string, LogRecordKind>> want = {
      {"hello", LogRecordKind::kPut},           {"empty", LogRecordKind::kPut},
      {"small/a", LogRecordKind::kPut},         {"small/b", LogRecordKind::kPut},
      {"mid/overwritten", LogRecordKind::kPut}, {"mid/overwritten", LogRecordKind::kPut},
      {"deleted", LogRecordKind::kPut},         {"deleted", LogRecordKind::kDelete},
      {"large/stdin", LogRecordKind::kPut}};
  ASSERT_EQ(want.size(), feed.size());
  for (size_t i = 0; i < want.size(); i++) {
    EXPECT_EQ(want[i].first, feed[i].key) << i;
    EXPECT_EQ(want[i].second, feed[i].kind) << i;
    EXPECT_EQ(0u, feed[i].version.writer) << i;
  }
  EXPECT_EQ(5u * 1024 * 1024 + 321, feed.back().size);
  EXPECT_EQ(s->Head("large/stdin")->version, feed.back().version);

  // New writes: format 2, with versions above every format-1 one.
  WriteOptions wo;
  wo.metadata.content_type = "text/plain";
  wo.metadata.user["from"] = "format 2";
  WriteResult r;
  wo.result_out = &r;
  ASSERT_TRUE(s->Put("hello", "hello, format 2\n", wo).ok());
  for (const LogRecord& rec : feed) EXPECT_LT(rec.version, r.version);
  model.live["hello"] = "hello, format 2\n";
  model.meta["hello"] = wo.metadata;
  model.format1.erase("hello");
  ASSERT_TRUE(s->Put("new/key", "new").ok());
  model.live["new/key"] = "new";
  ASSERT_TRUE(s->Delete("small/b").ok());
  model.live.erase("small/b");
  model.format1.erase("small/b");
  model.deleted.insert("small/b");
  // A replica write of an old version: refused for a key with no entry (below the horizon)...
  EXPECT_TRUE(s->Put("never", "x", IfNewer(Version::Make(NowMs() - 60000, 0, 9))).IsConflict());
  // ...but judged against the entry for a key that has one.
  const Version a_version = s->Head("small/a")->version;
  ASSERT_TRUE(s->Put("small/a", "replica", IfNewer(Version{a_version.hlc + 1, 9})).ok());
  model.live["small/a"] = "replica";
  model.format1.erase("small/a");
  Check(s.get(), model, "after format-2 writes");
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  VerifyClean(dir);

  auto again = Store::Open(dir, Opts());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE((*again)->recovery_report().upgraded_from_format1);
  Check(again->get(), model, "after a clean reopen");
}

CRASH_CHILD(WriteOnFormat1ThenCrash) {
  WriteOptions wo;
  wo.metadata.content_type = "application/octet-stream";
  if (!s->Put("big/new", Pattern(9, 6 << 20), wo).ok()) ::_exit(3);
  if (!s->Put("mid/overwritten", Pattern(10, 30000)).ok()) ::_exit(3);
  if (!s->Delete("empty").ok()) ::_exit(3);
}

Model AfterChild() {
  Model m = FixtureModel();
  m.live["big/new"] = Pattern(9, 6 << 20);
  m.meta["big/new"].content_type = "application/octet-stream";
  m.live["mid/overwritten"] = Pattern(10, 30000);
  m.format1.erase("mid/overwritten");
  m.live.erase("empty");
  m.format1.erase("empty");
  m.deleted.insert("empty");
  return m;
}

// The upgrade happens in a process that crashes after writing; recovery replays format-2
// records after format-1 ones; hole punching and compaction work on both; a rebuild of the
// index from the mixed log gives the same store.
TEST(Format1, Issue15AnUpgradedStoreSurvivesACrashReclamationAndARebuild) {
  TempDir d;
  const std::string dir = Unpack(d);
  CrashAfter(dir, "WriteOnFormat1ThenCrash");
  EXPECT_EQ(2u, ReadMarker(dir).format_version);
  StoreOptions o = Opts();
  o.compact_min_live_bytes = uint64_t{16} << 20;  // every sealed volume is compacted
  Model model = AfterChild();
  {
    auto s = Store::Open(dir, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_FALSE((*s)->recovery_report().clean_shutdown);
    EXPECT_GT((*s)->recovery_report().records_replayed, 0u);
    Check(s->get(), model, "after the crash");
    // The format-1 record of mid/overwritten's first version (listed dead by the format-1
    // build), and its second (killed by the child) are punched, with their format-1 heads kept.
    ReclaimOptions ro;
    ro.throttle = false;
    ro.compact = false;
    auto r = (*s)->Reclaim(ro);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_GE(r->punched_records, 2u);
    Check(s->get(), model, "after hole punching");
    // Seal volume 1 (the format-1 one) and compact it: its live format-1 records (the chunks and
    // manifest of large/stdin among them) are copied as format 1.
    for (int i = 0; i < 12; i++) {
      const std::string k = "filler/" + std::to_string(i);
      ASSERT_TRUE((*s)->Put(k, Pattern(20 + i, 1 << 20)).ok());
      model.live[k] = Pattern(20 + i, 1 << 20);
    }
    r = (*s)->Reclaim(ro);
    ASSERT_TRUE(r.ok());
    ro.compact = true;
    r = (*s)->Reclaim(ro);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_GE(r->compacted_volumes, 1u);
    Check(s->get(), model, "after compaction");
    auto st = (*s)->Stats();
    for (const auto& v : st->volume_list) EXPECT_NE(1u, v.id) << "volume 1 is still there";
    // The feed still starts at the beginning of what is left.
    auto b = (*s)->IterateLog(LogPosition(), 100);
    ASSERT_TRUE(b.ok());
    ASSERT_FALSE(b->records.empty());
    EXPECT_GT(b->records[0].position.volume(), 1u);
    ASSERT_TRUE((*s)->Close().ok());
  }
  VerifyClean(dir);
  auto rep = RepairStore(dir, o);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  auto s = Store::Open(dir, o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Check(s->get(), model, "after a rebuild of the index");
}

// Without its index, a format-1 store is rebuilt from format-1 records: the format-1 tombstone
// of "deleted" keeps it deleted, and becomes a kept tombstone.
TEST(Format1, Issue15AFormat1StoreWithoutItsIndexIsRebuiltFromItsRecords) {
  TempDir d;
  const std::string dir = Unpack(d);
  std::filesystem::remove_all(dir + "/index");
  auto s = Store::Open(dir, Opts());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE((*s)->recovery_report().upgraded_from_format1);
  EXPECT_EQ(11u, (*s)->recovery_report().records_replayed);
  Check(s->get(), FixtureModel(), "after the rebuild");
  EXPECT_EQ(1u, (*s)->Stats()->tombstones);
}

}  // namespace
}  // namespace cairn

int main(int argc, char** argv) {
  cairn::test::RunCrashChildIfAsked(argc, argv, cairn::Opts());
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
