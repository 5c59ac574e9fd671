// Issue 15 in the engine: versions, metadata, write conditions, kept tombstones and the horizon,
// and the change feed (include/cairn/store.h, docs/design.md). One rule per test; crashes are
// made by re-executed children that exit without closing the store (tests/crash_child.h).
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cairn/store.h"
#include "cairn/verify.h"
#include "crash_child.h"
#include "test_util.h"
#include "util/metadata_codec.h"

namespace cairn {
namespace {

using test::CrashAfter;
using test::TempDir;
using test::ValueFor;

constexpr uint32_t kReplica = 0xAB;  // the writer id of versions "from another node"

StoreOptions Opts() {
  StoreOptions o;
  o.volume_capacity = 4 << 20;
  o.max_unfinished_bytes = 8 << 20;
  o.background_reclaim = false;
  o.info_log = [](const std::string&) {};
  return o;
}

std::unique_ptr<Store> Open(const std::string& dir, StoreOptions o = Opts()) {
  auto s = Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// A replica's version `ago_ms` before now (negative: ahead).
Version Replica(int64_t ago_ms, uint16_t logical = 0) {
  return Version::Make(static_cast<uint64_t>(static_cast<int64_t>(NowMs()) - ago_ms), logical,
                       kReplica);
}

WriteOptions Cond(WriteCondition c, Version v = Version()) {
  WriteOptions wo;
  wo.condition = c;
  wo.version = v;
  return wo;
}

ObjectMetadata Meta(const std::string& tag) {
  ObjectMetadata m;
  m.content_type = "text/" + tag;
  m.md5 = std::string(16, static_cast<char>(tag.size()));
  m.user["owner"] = tag;
  m.user["z"] = std::string(300, 'z');
  m.system["cache-control"] = "no-cache";
  return m;
}

Version HeadVersion(Store* s, const std::string& k) {
  auto h = s->Head(k);
  return h.ok() ? h->version : Version();
}

// Puts `bytes` of filler under keys "fill/<tag>/<i>", enough to seal the current volume.
void Fill(Store* s, const std::string& tag, size_t bytes) {
  for (size_t i = 0; i * (256 << 10) < bytes; i++) {
    std::string k = "fill/" + tag + "/" + std::to_string(i);
    ASSERT_TRUE(s->Put(k, ValueFor(k, 1, 256 << 10)).ok());
  }
}

ReclaimOptions CompactAll() {
  ReclaimOptions ro;
  ro.throttle = false;
  return ro;
}

// ---- Versions and metadata --------------------------------------------------------------------

TEST(Versions, Issue15StampedVersionsIncreaseAndEveryReadReturnsThem) {
  TempDir d;
  auto s = Open(d.path());
  EXPECT_NE(0u, s->writer_id());
  WriteResult a, b;
  WriteOptions wo;
  wo.result_out = &a;
  uint64_t seq = 0;
  wo.sequence_out = &seq;
  ASSERT_TRUE(s->Put("k", "one", wo).ok());
  EXPECT_EQ(a.sequence, seq);
  EXPECT_EQ(3u, a.size);
  EXPECT_EQ(s->writer_id(), a.version.writer);
  EXPECT_LE(a.version.millis(), NowMs());
  EXPECT_GE(a.version.millis() + 5000, NowMs());
  wo.result_out = &b;
  ASSERT_TRUE(s->Put("k", "two", wo).ok());
  EXPECT_LT(a.version, b.version);
  EXPECT_EQ(b.version, HeadVersion(s.get(), "k"));
  auto scan = s->Scan("", "", 10);
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(1u, scan->objects.size());
  EXPECT_EQ(b.version, scan->objects[0].version);
  {
    auto r = s->OpenReader("k");  // a reader must not outlive its store
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(b.version, (*r)->info().version);
    auto pin = s->PinObject("k");
    ASSERT_TRUE(pin.ok());
    EXPECT_EQ(b.version, (*pin)->info().version);
  }
  // A clean reopen, and one after a crash: the clock stays above what the store holds.
  ASSERT_TRUE(s->Close().ok());
  StoreOptions behind = Opts();
  s = Open(d.path(), behind);
  EXPECT_EQ(b.version, HeadVersion(s.get(), "k"));
  WriteResult c;
  wo.result_out = &c;
  ASSERT_TRUE(s->Put("k", "three", wo).ok());
  EXPECT_LT(b.version, c.version);
  // StoreOptions::writer_id replaces the marker's for one open.
  ASSERT_TRUE(s->Close().ok());
  StoreOptions w = Opts();
  w.writer_id = 4242;
  s = Open(d.path(), w);
  EXPECT_EQ(4242u, s->writer_id());
  ASSERT_TRUE(s->Put("k", "four", wo).ok());
  EXPECT_EQ(4242u, c.version.writer);
}

TEST(Versions, Issue15MetadataIsStoredWithTheObjectAndReturnedByEveryRead) {
  TempDir d;
  auto s = Open(d.path());
  WriteOptions wo;
  wo.metadata = Meta("small");
  ASSERT_TRUE(s->Put("small", "value", wo).ok());
  // A large object (chunked) and a streamed one carry it in their manifest.
  const std::string big = ValueFor("big", 1, 3 << 20);
  wo.metadata = Meta("big");
  ASSERT_TRUE(s->Put("big", big, wo).ok());
  struct Src : ValueSource {
    std::string_view rest;
    Result<size_t> Read(char* buf, size_t n) override {
      n = std::min<size_t>({n, rest.size(), 7777});
      std::memcpy(buf, rest.data(), n);
      rest.remove_prefix(n);
      return n;
    }
  } src;
  const std::string streamed = ValueFor("streamed", 1, 5000);
  src.rest = streamed;
  wo.metadata = Meta("streamed");
  ASSERT_TRUE(s->PutStream("streamed", &src, wo).ok());
  ASSERT_TRUE(s->Put("plain", "no metadata").ok());
  auto check = [&](Store* st) {
    for (const std::string k : {"small", "big", "streamed"}) {
      auto h = st->Head(k);
      ASSERT_TRUE(h.ok()) << k;
      EXPECT_EQ(Meta(k), h->metadata) << k;
      auto r = st->OpenReader(k);
      ASSERT_TRUE(r.ok()) << k;
      EXPECT_EQ(Meta(k), (*r)->info().metadata) << k;
      auto pin = st->PinObject(k);
      ASSERT_TRUE(pin.ok()) << k;
      EXPECT_EQ(Meta(k), (*pin)->info().metadata) << k;
    }
    EXPECT_TRUE(st->Head("plain")->metadata.empty());
    EXPECT_EQ("value", *st->Get("small"));
    EXPECT_EQ(big, *st->Get("big"));
    EXPECT_EQ(streamed, *st->Get("streamed"));
    // The value's extent starts after the metadata.
    auto pin = st->PinObject("small");
    ASSERT_TRUE(pin.ok());
    ASSERT_EQ(1u, (*pin)->extents().size());
    std::string via_fd(5, '\0');
    ASSERT_EQ(5, ::pread((*pin)->extents()[0].fd, via_fd.data(), 5,
                         static_cast<off_t>((*pin)->extents()[0].offset)));
    EXPECT_EQ("value", via_fd);
    auto scan = st->Scan("", "", 100);
    ASSERT_TRUE(scan.ok());
    for (const ObjectInfo& o : scan->objects) {
      if (o.key == "small" || o.key == "big" || o.key == "streamed") {
        EXPECT_EQ(Meta(o.key), o.metadata) << o.key;
      }
    }
    auto phys = st->IteratePhysical("s");
    ASSERT_TRUE(phys.ok());
    PhysicalEntry pe;
    int n = 0;
    while (*(*phys)->Next(&pe)) {
      EXPECT_EQ(Meta(pe.info.key), pe.info.metadata);
      n++;
    }
    EXPECT_EQ(2, n);
  };
  check(s.get());
  ASSERT_TRUE(s->Close().ok());
  s = Open(d.path());
  check(s.get());
  // An overwrite without metadata has none.
  ASSERT_TRUE(s->Put("small", "again").ok());
  EXPECT_TRUE(s->Head("small")->metadata.empty());
  ASSERT_TRUE(s->Close().ok());
  auto v = VerifyStore(d.path(), Opts());
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << (v->problems.empty() ? "" : v->problems[0].ToString());
}

TEST(Versions, Issue15MetadataOverMaxMetaBytesIsRefusedAndNothingIsWritten) {
  TempDir d;
  StoreOptions o = Opts();
  o.max_meta_bytes = 200;
  auto s = Open(d.path(), o);
  ASSERT_TRUE(s->Put("first", "x").ok());  // marks the store unclean: PutAsync can answer
  const uint64_t next = s->Stats()->next_sequence;
  WriteOptions wo;
  wo.metadata.user["k"] = std::string(300, 'v');
  Status st = s->Put("k", "v", wo);
  EXPECT_TRUE(st.IsLimitExceeded()) << st.ToString();
  EXPECT_NE(std::string::npos, st.message().find("max_meta_bytes")) << st.ToString();
  struct Empty : ValueSource {
    Result<size_t> Read(char*, size_t) override { return size_t{0}; }
  } empty;
  EXPECT_TRUE(s->PutStream("k", &empty, wo).IsLimitExceeded());
  EXPECT_TRUE(s->PutAsync("k", "v", wo, [](Status, const WriteResult&) { ADD_FAILURE(); })
                  .IsLimitExceeded());
  EXPECT_TRUE(s->Put("big", std::string(3 << 20, 'b'), wo).IsLimitExceeded());
  // A malformed md5 is bad input.
  WriteOptions bad;
  bad.metadata.md5 = "short";
  EXPECT_TRUE(s->Put("k", "v", bad).IsInvalidArgument());
  EXPECT_TRUE(s->Head("k").status().IsNotFound());
  EXPECT_EQ(next, s->Stats()->next_sequence) << "a refused write reserved nothing";
  // Exactly at the limit is fine.
  wo.metadata.user["k"] = std::string(200 - 1 - 4 - 1, 'v');
  ASSERT_EQ(200u, wo.metadata.EncodedSize());
  ASSERT_TRUE(s->Put("k", "v", wo).ok());
  // The bound itself is checked at open.
  StoreOptions huge = Opts();
  huge.max_meta_bytes = size_t{1} << 20;
  ASSERT_TRUE(s->Close().ok());
  EXPECT_TRUE(Store::Open(d.path(), huge).status().IsInvalidArgument());
}

// ---- Conditions ------------------------------------------------------------------------------

TEST(Conditions, Issue15IfMatchAndIfNoneMatch) {
  TempDir d;
  auto s = Open(d.path());
  Version held;
  WriteOptions wo = Cond(WriteCondition::kIfMatch, Replica(1000));
  wo.held_version_out = &held;
  EXPECT_TRUE(s->Put("k", "v", wo).IsNotFound());
  EXPECT_TRUE(s->Put("k", "v", Cond(WriteCondition::kIfMatch)).IsInvalidArgument());
  WriteResult created;
  WriteOptions create = Cond(WriteCondition::kIfNoneMatch);
  create.result_out = &created;
  ASSERT_TRUE(s->Put("k", "one", create).ok());
  create.held_version_out = &held;
  Status st = s->Put("k", "again", create);
  EXPECT_TRUE(st.IsConflict()) << st.ToString();
  EXPECT_EQ(created.version, held);
  EXPECT_EQ("one", *s->Get("k"));
  // if-match the wrong version: Conflict, and the version held.
  held = Version();
  wo.version = Version{created.version.hlc - 1, created.version.writer};
  EXPECT_TRUE(s->Put("k", "two", wo).IsConflict());
  EXPECT_EQ(created.version, held);
  // if-match the right one: written, with a new stamped version.
  WriteResult second;
  wo.version = created.version;
  wo.result_out = &second;
  ASSERT_TRUE(s->Put("k", "two", wo).ok());
  EXPECT_LT(created.version, second.version);
  EXPECT_EQ("two", *s->Get("k"));
  // The same for deletes.
  WriteOptions del = Cond(WriteCondition::kIfMatch, created.version);
  del.held_version_out = &held;
  EXPECT_TRUE(s->Delete("k", del).IsConflict());
  EXPECT_TRUE(s->Delete("k", Cond(WriteCondition::kIfNoneMatch)).IsConflict());
  del.version = second.version;
  ASSERT_TRUE(s->Delete("k", del).ok());
  EXPECT_TRUE(s->Get("k").status().IsNotFound());
  // After the delete (a tombstone): if-none-match creates it again; a plain delete is NotFound.
  EXPECT_TRUE(s->Delete("k").IsNotFound());
  EXPECT_TRUE(s->Delete("k", Cond(WriteCondition::kIfNoneMatch)).IsNotFound());
  EXPECT_TRUE(s->Put("k", "three", Cond(WriteCondition::kIfMatch, second.version)).IsNotFound());
  ASSERT_TRUE(s->Put("k", "three", Cond(WriteCondition::kIfNoneMatch)).ok());
  EXPECT_EQ("three", *s->Get("k"));
}

TEST(Conditions, Issue15IfNewerHigherWinsEqualIsIdempotentLowerIsConflict) {
  TempDir d;
  auto s = Open(d.path());
  const Version v1 = Replica(5000);
  WriteResult r;
  WriteOptions wo = Cond(WriteCondition::kIfNewer, v1);
  wo.result_out = &r;
  ASSERT_TRUE(s->Put("k", "one", wo).ok());
  EXPECT_EQ(v1, r.version);
  EXPECT_EQ(v1, HeadVersion(s.get(), "k"));
  const uint64_t seq = r.sequence;
  const uint64_t next = s->Stats()->next_sequence;
  // The same version again: OK, nothing written, the version held reported.
  WriteResult again;
  wo.result_out = &again;
  ASSERT_TRUE(s->Put("k", "other bytes", wo).ok());
  EXPECT_EQ(v1, again.version);
  EXPECT_EQ(seq, again.sequence);
  EXPECT_EQ(3u, again.size);
  EXPECT_EQ(next, s->Stats()->next_sequence) << "an idempotent retry writes nothing";
  EXPECT_EQ("one", *s->Get("k"));
  // Lower: Conflict with the version held.
  Version held;
  WriteOptions low = Cond(WriteCondition::kIfNewer, Version{v1.hlc - 1, 0xFFFFFFFF});
  low.held_version_out = &held;
  EXPECT_TRUE(s->Put("k", "old", low).IsConflict());
  EXPECT_EQ(v1, held);
  EXPECT_TRUE(s->Delete("k", low).IsConflict());
  // Higher by writer id alone: newer.
  const Version v2{v1.hlc, kReplica + 1};
  ASSERT_TRUE(s->Put("k", "two", Cond(WriteCondition::kIfNewer, v2)).ok());
  EXPECT_EQ("two", *s->Get("k"));
  // A stamped write afterwards is above every version the store accepted.
  const Version ahead = Replica(-30000);  // 30 s ahead: within max_clock_skew_ms
  ASSERT_TRUE(s->Put("k", "ahead", Cond(WriteCondition::kIfNewer, ahead)).ok());
  WriteResult stamped;
  WriteOptions plain;
  plain.result_out = &stamped;
  ASSERT_TRUE(s->Put("k", "stamped", plain).ok());
  EXPECT_LT(ahead, stamped.version);
  EXPECT_EQ(s->writer_id(), stamped.version.writer);
  // Bad versions are bad input.
  Status st = s->Put("k", "x", Cond(WriteCondition::kIfNewer, Replica(-120000)));
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(std::string::npos, st.message().find("max_clock_skew_ms")) << st.ToString();
  EXPECT_TRUE(s->Put("k", "x", Cond(WriteCondition::kIfNewer)).IsInvalidArgument());
  EXPECT_TRUE(s->Put("k", "x", Cond(static_cast<WriteCondition>(9))).IsInvalidArgument());
  EXPECT_EQ("stamped", *s->Get("k"));
}

// A replica remembers a delete it never saw the object of; an older put then loses to it.
TEST(Conditions, Issue15IfNewerDeleteOfAnUnknownKeyWritesATombstone) {
  TempDir d;
  auto s = Open(d.path());
  const Version del = Replica(1000);
  ASSERT_TRUE(s->Delete("ghost", Cond(WriteCondition::kIfNewer, del)).ok());
  EXPECT_TRUE(s->Head("ghost").status().IsNotFound());
  auto st = s->Stats();
  EXPECT_EQ(0u, st->objects);
  EXPECT_EQ(1u, st->tombstones);
  EXPECT_TRUE(s->Scan("", "", 10)->objects.empty());
  Version held;
  WriteOptions older = Cond(WriteCondition::kIfNewer, Version{del.hlc - 1, kReplica});
  older.held_version_out = &held;
  EXPECT_TRUE(s->Put("ghost", "late", older).IsConflict());
  EXPECT_EQ(del, held);
  // The same delete again is an idempotent retry; a newer put brings the key back.
  ASSERT_TRUE(s->Delete("ghost", Cond(WriteCondition::kIfNewer, del)).ok());
  ASSERT_TRUE(s->Put("ghost", "new", Cond(WriteCondition::kIfNewer, Replica(0))).ok());
  EXPECT_EQ("new", *s->Get("ghost"));
  EXPECT_EQ(0u, s->Stats()->tombstones);
  EXPECT_EQ(1u, s->Stats()->objects);
}

// Conditions are checked atomically with the write's place in the log: of writers racing on
// one key, exactly one if-none-match wins, and exactly one if-match of the same version.
TEST(Conditions, Issue15RacingConditionalWritersOnOneKeyExactlyOneWins) {
  TempDir d;
  auto s = Open(d.path());
  constexpr int kThreads = 8;
  constexpr int kRounds = 40;
  for (int round = 0; round < kRounds; round++) {
    const std::string key = "race/" + std::to_string(round);
    std::atomic<int> wins{0}, conflicts{0};
    std::atomic<bool> go{false};
    std::vector<WriteResult> results(kThreads);
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; t++)
      ts.emplace_back([&, t] {
        while (!go) std::this_thread::yield();
        WriteOptions wo = Cond(WriteCondition::kIfNoneMatch);
        if (t % 2) wo.durability = Durability::kNone;
        wo.result_out = &results[t];
        Status st = s->Put(key, "t" + std::to_string(t), wo);
        if (st.ok()) wins++;
        if (st.IsConflict()) conflicts++;
      });
    go = true;
    for (auto& th : ts) th.join();
    ASSERT_EQ(1, wins.load()) << key;
    ASSERT_EQ(kThreads - 1, conflicts.load()) << key;
    // if-match of the version just written, by every thread: one wins.
    const Version v = HeadVersion(s.get(), key);
    wins = 0;
    conflicts = 0;
    go = false;
    ts.clear();
    for (int t = 0; t < kThreads; t++)
      ts.emplace_back([&, t] {
        while (!go) std::this_thread::yield();
        Status st = t % 3 == 0 ? s->Delete(key, Cond(WriteCondition::kIfMatch, v))
                               : s->Put(key, "m" + std::to_string(t),
                                        Cond(WriteCondition::kIfMatch, v));
        if (st.ok()) wins++;
        if (st.IsConflict() || st.IsNotFound()) conflicts++;
      });
    go = true;
    for (auto& th : ts) th.join();
    ASSERT_EQ(1, wins.load()) << key;
    ASSERT_EQ(kThreads - 1, conflicts.load()) << key;
  }
}

// Unconditional writers, PutAsync writers and kIfNewer writers racing on one key: the versions
// the store accepts only grow, and the highest version written is the one held.
TEST(Conditions, Issue15RacingIfNewerWritersKeepTheHighestVersion) {
  TempDir d;
  auto s = Open(d.path());
  ASSERT_TRUE(s->Put("k", "start").ok());
  constexpr int kThreads = 6;
  constexpr int kOps = 300;
  std::mutex mu;
  Version max_ok;
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  const uint64_t base = NowMs() - 100000;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (int i = 0; i < kOps; i++) {
        WriteResult r;
        Status st;
        if (t == 0) {
          WriteOptions wo;
          wo.result_out = &r;
          st = s->Put("k", "stamped", wo);
        } else {
          const Version v = Version::Make(base + rng() % 150000, static_cast<uint16_t>(rng()),
                                          static_cast<uint32_t>(t));
          WriteOptions wo = Cond(WriteCondition::kIfNewer, v);
          wo.result_out = &r;
          st = rng() % 4 == 0 ? s->Delete("k", wo) : s->Put("k", v.ToString(), wo);
          if (!st.ok() && !st.IsConflict()) ADD_FAILURE() << st.ToString();
        }
        if (st.ok()) {
          ok++;
          std::lock_guard<std::mutex> l(mu);
          if (max_ok < r.version) max_ok = r.version;
        }
      }
    });
  for (auto& th : ts) th.join();
  EXPECT_GT(ok.load(), kOps);
  // The key holds the highest version that was accepted (a put or a delete).
  Version held;
  WriteOptions probe = Cond(WriteCondition::kIfNewer, Version{1, 0});
  probe.held_version_out = &held;
  EXPECT_TRUE(s->Put("k", "probe", probe).IsConflict());
  EXPECT_EQ(max_ok, held);
}

TEST(Conditions, Issue15PutAsyncJudgesConditionsWithoutWaiting) {
  TempDir d;
  auto s = Open(d.path());
  ASSERT_TRUE(s->Put("k", "v").ok());
  const Version v = HeadVersion(s.get(), "k");
  auto fail = [](Status, const WriteResult&) { ADD_FAILURE() << "done must not be called"; };
  Version held;
  WriteOptions none = Cond(WriteCondition::kIfNoneMatch);
  none.held_version_out = &held;
  Status st = s->PutAsync("k", "x", none, fail);
  if (!st.IsBusy()) {  // Busy only if the entry was not in memory
    EXPECT_TRUE(st.IsConflict()) << st.ToString();
    EXPECT_EQ(v, held);
  }
  // An idempotent retry is left to Put.
  EXPECT_TRUE(s->PutAsync("k", "x", Cond(WriteCondition::kIfNewer, v), fail).IsBusy());
  std::promise<std::pair<Status, WriteResult>> acked;
  st = s->PutAsync("k", "matched", Cond(WriteCondition::kIfMatch, v),
                   [&](Status r, const WriteResult& w) { acked.set_value({r, w}); });
  if (st.IsBusy()) {
    ASSERT_TRUE(s->Put("k", "matched", Cond(WriteCondition::kIfMatch, v)).ok());
  } else {
    ASSERT_TRUE(st.ok()) << st.ToString();
    s->StartCommit();
    auto [r, w] = acked.get_future().get();
    ASSERT_TRUE(r.ok());
    EXPECT_LT(v, w.version);
    EXPECT_EQ(w.version, HeadVersion(s.get(), "k"));
  }
  EXPECT_EQ("matched", *s->Get("k"));
}

// A streamed put judges its condition at its manifest: if it fails then, nothing is visible.
TEST(Conditions, Issue15AStreamedPutWhoseConditionFailsAtItsEndLeavesNothingVisible) {
  TempDir d;
  auto s = Open(d.path());
  // The source creates the key (another writer) in the middle of the stream.
  struct Racing : ValueSource {
    Store* s;
    std::string value;
    size_t pos = 0;
    bool raced = false;
    Result<size_t> Read(char* buf, size_t n) override {
      if (!raced && pos > value.size() / 2) {
        raced = true;
        EXPECT_TRUE(s->Put("k", "winner").ok());
      }
      n = std::min(n, value.size() - pos);
      std::memcpy(buf, value.data() + pos, n);
      pos += n;
      return n;
    }
  } src;
  src.s = s.get();
  src.value = ValueFor("k", 1, 3 << 20);  // chunked (4 MiB volumes: about 1 MiB chunks)
  Version held;
  WriteOptions wo = Cond(WriteCondition::kIfNoneMatch);
  wo.held_version_out = &held;
  wo.metadata = Meta("loser");
  Status st = s->PutStream("k", &src, wo);
  EXPECT_TRUE(st.IsConflict()) << st.ToString();
  EXPECT_EQ(HeadVersion(s.get(), "k"), held);
  EXPECT_EQ("winner", *s->Get("k"));
  EXPECT_TRUE(s->Head("k")->metadata.empty());
  // Also after a restart (the chunks are in the log: dead space).
  ASSERT_TRUE(s->Close().ok());
  s = Open(d.path());
  EXPECT_EQ("winner", *s->Get("k"));
  // The early check: nothing is read from a source whose condition fails at once.
  struct Untouched : ValueSource {
    Result<size_t> Read(char*, size_t) override {
      ADD_FAILURE() << "read";
      return size_t{0};
    }
  } untouched;
  EXPECT_TRUE(s->PutStream("k", &untouched, Cond(WriteCondition::kIfNoneMatch)).IsConflict());
}

// ---- Tombstones and the horizon ---------------------------------------------------------------

CRASH_CHILD(DeleteThenCrash) {
  if (!s->Put("gone", "soon").ok()) ::_exit(3);
  WriteOptions wo;
  wo.condition = WriteCondition::kIfNewer;
  wo.version = Version::Make(NowMs() - 1000, 0, kReplica);
  if (!s->Put("replica", "r", wo).ok()) ::_exit(3);
  if (!s->Delete("gone").ok()) ::_exit(3);
  wo.version = Version::Make(NowMs() - 500, 0, kReplica);
  if (!s->Delete("replica", wo).ok()) ::_exit(3);
}

// The rule of issue 15: a deleted key never comes back, not through a replica write that carries
// an older version, after a restart, a crash, compaction, or a rebuild of the index.
TEST(Tombstones, Issue15DeleteThenOlderIfNewerNeverResurrects) {
  TempDir d;
  StoreOptions o = Opts();
  o.compact_min_live_bytes = o.volume_capacity;  // compact every sealed volume
  CrashAfter(d.path(), "DeleteThenCrash");
  auto s = Open(d.path(), o);
  EXPECT_FALSE(s->recovery_report().clean_shutdown);
  const Version gone_tomb = [&] {
    Version held;
    WriteOptions wo = Cond(WriteCondition::kIfNewer, Version{1, 0});
    wo.held_version_out = &held;
    EXPECT_TRUE(s->Put("gone", "x", wo).IsConflict());
    return held;
  }();
  ASSERT_FALSE(gone_tomb.none()) << "the tombstone is kept with its version";
  auto expect_deleted = [&](Store* st, const std::string& when) {
    for (const std::string k : {"gone", "replica"}) {
      Version held;
      // Ancient: older than the deletes however long the test has run (slow under TSan).
      WriteOptions older = Cond(WriteCondition::kIfNewer, Version::Make(1000, 0, kReplica));
      older.held_version_out = &held;
      Status r = st->Put(k, "resurrected", older);
      EXPECT_TRUE(r.IsConflict()) << when << " " << k << ": " << r.ToString();
      EXPECT_FALSE(held.none()) << when << " " << k;
      EXPECT_TRUE(st->Get(k).status().IsNotFound()) << when << " " << k;
    }
    EXPECT_EQ(2u, st->Stats()->tombstones) << when;
  };
  expect_deleted(s.get(), "after the crash");
  ASSERT_TRUE(s->Close().ok());
  s = Open(d.path(), o);
  expect_deleted(s.get(), "after a clean reopen");
  // Seal the tombstones' volume and compact it: they are copied forward.
  Fill(s.get(), "a", 5 << 20);
  auto r = s->Reclaim(CompactAll());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_GE(r->compacted_volumes, 1u);
  EXPECT_GE(r->tombstones_kept, 2u);
  expect_deleted(s.get(), "after compaction");
  ASSERT_TRUE(s->Close().ok());
  auto rep = RepairStore(d.path(), o);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  s = Open(d.path(), o);
  expect_deleted(s.get(), "after a rebuild of the index");
  // What a rebuilt index holds: the tombstone's own version.
  Version held;
  WriteOptions probe = Cond(WriteCondition::kIfNewer, Version{1, 0});
  probe.held_version_out = &held;
  EXPECT_TRUE(s->Put("gone", "x", probe).IsConflict());
  EXPECT_EQ(gone_tomb, held);
  ASSERT_TRUE(s->Close().ok());
  auto v = VerifyStore(d.path(), o);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << (v->problems.empty() ? "" : v->problems[0].ToString());
}

// Tombstones are dropped only at the horizon: SetTombstoneHorizon (persisted, only forward) or
// tombstone_ttl_ms. Then a replica write at or below it, of a key with no entry, is refused.
TEST(Tombstones, Issue15TheHorizonDropsTombstonesAndRefusesOldWritesOfUnknownKeys) {
  TempDir d;
  StoreOptions o = Opts();
  o.tombstone_ttl_ms = 0;  // only the explicit horizon
  auto s = Open(d.path(), o);
  EXPECT_TRUE(s->tombstone_horizon().none());
  for (int i = 0; i < 10; i++) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_TRUE(s->Put(k, ValueFor(k, 1, 20000)).ok());
    ASSERT_TRUE(s->Delete(k).ok());
  }
  EXPECT_EQ(10u, s->Stats()->tombstones);
  // Without a horizon, an old replica write of a key the store never held is accepted.
  ASSERT_TRUE(s->Put("new-old", "v", Cond(WriteCondition::kIfNewer, Replica(600000))).ok());
  // A reclamation pass keeps the tombstones (no horizon yet).
  ASSERT_TRUE(s->Reclaim(CompactAll()).ok());
  EXPECT_EQ(10u, s->Stats()->tombstones);
  const Version h = Replica(0, 0xFFFF);
  ASSERT_TRUE(s->SetTombstoneHorizon(h).ok());
  EXPECT_EQ(h, s->tombstone_horizon());
  ASSERT_TRUE(s->SetTombstoneHorizon(Replica(100000)).ok());  // lower: ignored
  EXPECT_EQ(h, s->tombstone_horizon());
  auto r = s->Reclaim(CompactAll());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(10u, r->tombstones_dropped);
  EXPECT_EQ(0u, s->Stats()->tombstones);
  // The keys have no entry now; a replica write at or below the horizon is refused...
  Version held{7, 7};
  WriteOptions old = Cond(WriteCondition::kIfNewer, Replica(60000));
  old.held_version_out = &held;
  Status st = s->Put("k3", "resurrected?", old);
  EXPECT_TRUE(st.IsConflict()) << st.ToString();
  EXPECT_TRUE(held.none());
  EXPECT_TRUE(s->Delete("never-seen", old).IsConflict());
  EXPECT_TRUE(s->Get("k3").status().IsNotFound());
  // ...one above it is not, and a key that has an entry is judged against it, not the horizon.
  ASSERT_TRUE(s->Put("k4", "back", Cond(WriteCondition::kIfNewer, Replica(-10))).ok());
  ASSERT_TRUE(s->Put("new-old", "v2", Cond(WriteCondition::kIfNewer, Replica(500000))).ok());
  // The horizon survives a restart.
  ASSERT_TRUE(s->Close().ok());
  s = Open(d.path(), o);
  EXPECT_EQ(h, s->tombstone_horizon());
  EXPECT_TRUE(s->Put("k5", "x", old).IsConflict());
  EXPECT_EQ("back", *s->Get("k4"));
  // tombstone_ttl_ms: the horizon is also now minus the TTL.
  ASSERT_TRUE(s->Close().ok());
  StoreOptions ttl = o;
  ttl.tombstone_ttl_ms = 1000;
  s = Open(d.path(), ttl);
  EXPECT_GE(s->tombstone_horizon().millis() + 2000, NowMs());
  ASSERT_TRUE(s->Delete("k4").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  r = s->Reclaim(CompactAll());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(1u, r->tombstones_dropped);
  EXPECT_TRUE(s->Put("k4", "x", Cond(WriteCondition::kIfNewer, Replica(1100))).IsConflict());
}

// A tombstone whose entry the horizon dropped still hides, in a rebuild of the index, the older
// versions of its key that lie in other volumes: compaction keeps its record while any older
// volume remains.
TEST(Tombstones, Issue15ADroppedTombstoneStillHidesOlderRecordsFromARebuild) {
  TempDir d;
  StoreOptions o = Opts();
  o.tombstone_ttl_ms = 0;
  o.compact_min_live_bytes = 1;  // only volumes with no live bytes at all
  o.compact_live_ratio = 0;
  auto s = Open(d.path(), o);
  ASSERT_TRUE(s->Put("old", "version 1").ok());  // volume 1, which stays (a live neighbour)
  ASSERT_TRUE(s->Put("anchor", "keeps volume 1").ok());
  Fill(s.get(), "a", 5 << 20);  // volume 1 sealed
  ASSERT_TRUE(s->Delete("old").ok());  // the tombstone, in volume 2
  for (size_t i = 0; i * (256 << 10) < (5u << 20); i++)
    ASSERT_TRUE(s->Delete("fill/a/" + std::to_string(i)).ok());
  Fill(s.get(), "b", 5 << 20);  // volume 2 sealed
  for (size_t i = 0; i * (256 << 10) < (5u << 20); i++)  // nothing live in it but tombstones
    ASSERT_TRUE(s->Delete("fill/b/" + std::to_string(i)).ok());
  ASSERT_TRUE(s->SetTombstoneHorizon(Replica(-1000)).ok());
  auto r = s->Reclaim(CompactAll());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(0u, s->Stats()->tombstones);
  EXPECT_GE(r->compacted_volumes, 1u);
  EXPECT_GE(r->tombstones_kept, 1u) << "the tombstone of \"old\" must outlive volume 1's record";
  ASSERT_TRUE(s->Close().ok());
  ASSERT_TRUE(RepairStore(d.path(), o).ok());
  s = Open(d.path(), o);
  EXPECT_TRUE(s->Get("old").status().IsNotFound()) << "a rebuild brought a deleted key back";
  EXPECT_EQ("keeps volume 1", *s->Get("anchor"));
}

// ---- The change feed ------------------------------------------------------------------------

struct Expect {
  std::string key;
  LogRecordKind kind;
  uint64_t size;
};

std::vector<LogRecord> ReadFeed(Store* s, LogPosition from, size_t limit, LogPosition* next) {
  std::vector<LogRecord> all;
  for (int i = 0; i < 100000; i++) {
    auto b = s->IterateLog(from, limit);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    if (!b.ok()) break;
    for (auto& r : b->records) all.push_back(std::move(r));
    EXPECT_FALSE(b->next < from) << "the feed went backwards";
    from = b->next;
    if (b->end) break;
  }
  if (next != nullptr) *next = from;
  return all;
}

TEST(ChangeFeed, Issue15ListsCommittedWritesInLogOrderAndResumes) {
  TempDir d;
  auto s = Open(d.path());
  std::vector<WriteResult> results;
  std::vector<Expect> want;
  auto put = [&](const std::string& k, size_t size) {
    WriteResult r;
    WriteOptions wo;
    wo.result_out = &r;
    ASSERT_TRUE(s->Put(k, ValueFor(k, 1, size), wo).ok());
    results.push_back(r);
    want.push_back({k, LogRecordKind::kPut, size});
  };
  put("a", 10);
  put("b", 0);
  put("large", 2500000);  // chunks are not listed, the manifest is
  put("a", 20);
  WriteResult del;
  WriteOptions wo;
  wo.result_out = &del;
  ASSERT_TRUE(s->Delete("b", wo).ok());
  results.push_back(del);
  want.push_back({"b", LogRecordKind::kDelete, 0});
  ASSERT_TRUE(s->Delete("ghost", Cond(WriteCondition::kIfNewer, Replica(10))).ok());
  results.push_back(WriteResult{Replica(10)});
  want.push_back({"ghost", LogRecordKind::kDelete, 0});
  // Refused and idempotent writes are not in the log.
  EXPECT_TRUE(s->Put("a", "x", Cond(WriteCondition::kIfNoneMatch)).IsConflict());
  EXPECT_TRUE(s->Delete("never").IsNotFound());

  LogPosition next;
  std::vector<LogRecord> all = ReadFeed(s.get(), LogPosition(), 1000, &next);
  ASSERT_EQ(want.size(), all.size());
  for (size_t i = 0; i < all.size(); i++) {
    EXPECT_EQ(want[i].key, all[i].key) << i;
    EXPECT_EQ(want[i].kind, all[i].kind) << i;
    EXPECT_EQ(want[i].size, all[i].size) << i;
    EXPECT_FALSE(all[i].relocated);
    if (i + 1 < all.size()) {
      EXPECT_LT(all[i].position, all[i + 1].position);
    }
    if (want[i].key != "ghost") {
      EXPECT_EQ(results[i].version, all[i].version) << i;
    }
  }
  // One record at a time gives the same.
  std::vector<LogRecord> one = ReadFeed(s.get(), LogPosition(), 1, nullptr);
  ASSERT_EQ(all.size(), one.size());
  for (size_t i = 0; i < all.size(); i++) EXPECT_EQ(all[i].position, one[i].position);
  // From a record's position: that record first.
  auto from3 = s->IterateLog(all[3].position, 2);
  ASSERT_TRUE(from3.ok());
  ASSERT_EQ(2u, from3->records.size());
  EXPECT_EQ(all[3].position, from3->records[0].position);
  // At the end: nothing, and end.
  auto at_end = s->IterateLog(next, 10);
  ASSERT_TRUE(at_end.ok());
  EXPECT_TRUE(at_end->records.empty());
  EXPECT_TRUE(at_end->end);
  EXPECT_TRUE(s->IterateLog(LogPosition(), kMaxLogBatchRecords + 1).status().IsLimitExceeded());
  // New writes appear after `next`.
  ASSERT_TRUE(s->Put("c", "new").ok());
  std::vector<LogRecord> more = ReadFeed(s.get(), next, 1000, &next);
  ASSERT_EQ(1u, more.size());
  EXPECT_EQ("c", more[0].key);
}

CRASH_CHILD(FeedChild) {
  for (int i = 0; i < 20; i++)
    if (!s->Put("child/" + std::to_string(i), "v").ok()) ::_exit(3);
}

TEST(ChangeFeed, Issue15ResumesAcrossRestartsAndCrashes) {
  TempDir d;
  auto s = Open(d.path());
  for (int i = 0; i < 10; i++) ASSERT_TRUE(s->Put("first/" + std::to_string(i), "v").ok());
  LogPosition next;
  EXPECT_EQ(10u, ReadFeed(s.get(), LogPosition(), 3, &next).size());
  ASSERT_TRUE(s->Close().ok());
  s = Open(d.path());
  EXPECT_TRUE(ReadFeed(s.get(), next, 3, &next).empty());
  for (int i = 0; i < 5; i++) ASSERT_TRUE(s->Put("second/" + std::to_string(i), "v").ok());
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  CrashAfter(d.path(), "FeedChild");
  s = Open(d.path());
  std::vector<LogRecord> got = ReadFeed(s.get(), next, 4, &next);
  ASSERT_EQ(25u, got.size());
  EXPECT_EQ("second/0", got[0].key);
  EXPECT_EQ("child/19", got.back().key);
  ASSERT_TRUE(s->Put("after", "v").ok());
  got = ReadFeed(s.get(), next, 4, &next);
  ASSERT_EQ(1u, got.size());
  EXPECT_EQ("after", got[0].key);
  // The whole log, from the start, across all of it.
  EXPECT_EQ(36u, ReadFeed(s.get(), LogPosition(), 7, nullptr).size());
}

// Hole punching keeps a dead record's head, so the feed still lists it; compaction removes a
// volume, and a position in it resumes at the next volume, where its live records were copied
// (listed as relocated).
TEST(ChangeFeed, Issue15KeepsWorkingAcrossHolePunchingAndCompaction) {
  TempDir d;
  StoreOptions o = Opts();
  o.compact_min_live_bytes = o.volume_capacity;
  auto s = Open(d.path(), o);
  WriteOptions wo;
  wo.metadata = Meta("punched");
  for (int i = 0; i < 8; i++) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_TRUE(s->Put(k, ValueFor(k, 1, 30000), wo).ok());
  }
  for (int i = 0; i < 8; i++) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_TRUE(s->Put(k, ValueFor(k, 2, 100)).ok());
  }
  const std::vector<LogRecord> before = ReadFeed(s.get(), LogPosition(), 1000, nullptr);
  ASSERT_EQ(16u, before.size());
  ReclaimOptions punch = CompactAll();
  punch.compact = false;
  auto r = s->Reclaim(punch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(8u, r->punched_records);
  const std::vector<LogRecord> after = ReadFeed(s.get(), LogPosition(), 1000, nullptr);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); i++) {
    EXPECT_EQ(before[i].key, after[i].key);
    EXPECT_EQ(before[i].version, after[i].version);
    EXPECT_EQ(before[i].size, after[i].size);
    EXPECT_EQ(before[i].position, after[i].position);
  }
  // Compact volume 1 away (seal it first); resume from a position inside it.
  const LogPosition inside = before[3].position;
  ASSERT_EQ(1u, inside.volume());
  Fill(s.get(), "seal", 5 << 20);
  auto c = s->Reclaim(CompactAll());
  ASSERT_TRUE(c.ok());
  ASSERT_GE(c->compacted_volumes, 1u);
  auto st = s->Stats();
  for (const auto& v : st->volume_list) EXPECT_NE(1u, v.id) << "volume 1 was not removed";
  std::vector<LogRecord> resumed = ReadFeed(s.get(), inside, 100, nullptr);
  std::set<std::string> relocated;
  for (const LogRecord& rec : resumed) {
    EXPECT_GT(rec.position.volume(), 1u);
    if (rec.relocated) relocated.insert(rec.key);
  }
  for (int i = 0; i < 8; i++) EXPECT_EQ(1u, relocated.count("k" + std::to_string(i))) << i;
  ASSERT_TRUE(s->Close().ok());
  s = Open(d.path(), o);
  EXPECT_FALSE(ReadFeed(s.get(), inside, 100, nullptr).empty());
}

// A record written but not committed is never listed: PutAsync writes it and the commit waits
// for StartCommit.
TEST(ChangeFeed, Issue15NeverListsAWriteThatIsNotCommitted) {
  TempDir d;
  auto s = Open(d.path());
  ASSERT_TRUE(s->Put("committed", "v").ok());
  LogPosition next;
  ASSERT_EQ(1u, ReadFeed(s.get(), LogPosition(), 100, &next).size());
  std::promise<Status> acked;
  Status st = s->PutAsync("pending", "v", WriteOptions(),
                          [&](Status r, const WriteResult&) { acked.set_value(r); });
  ASSERT_TRUE(st.ok()) << st.ToString();
  // Its record is in the volume; its commit has not started.
  auto b = s->IterateLog(next, 100);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->records.empty());
  EXPECT_TRUE(b->end);
  s->StartCommit();
  ASSERT_TRUE(acked.get_future().get().ok());
  std::vector<LogRecord> got = ReadFeed(s.get(), next, 100, nullptr);
  ASSERT_EQ(1u, got.size());
  EXPECT_EQ("pending", got[0].key);
}

}  // namespace
}  // namespace cairn

int main(int argc, char** argv) {
  cairn::test::RunCrashChildIfAsked(argc, argv, cairn::Opts());
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
