// Functional tests of the engine's public API (include/cairn/store.h).
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "cairn/store.h"
#include "test_util.h"

namespace cairn {
namespace {

using test::TempDir;
using test::ValueFor;

StoreOptions SmallOptions() {
  StoreOptions o;
  o.volume_capacity = 4 << 20;  // small volumes: switching and chunking get exercised
  o.max_unfinished_bytes = 8 << 20;
  o.info_log = [](const std::string&) {};
  return o;
}

std::unique_ptr<Store> OpenOrDie(const std::string& dir, StoreOptions o = SmallOptions()) {
  auto s = Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

TEST(Store, PutGetHeadDelete) {
  TempDir d;
  auto s = OpenOrDie(d.path());
  ASSERT_TRUE(s->Put("k1", "hello").ok());
  auto v = s->Get("k1");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ("hello", *v);
  auto h = s->Head("k1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(5u, h->size);
  EXPECT_EQ(0x9A71BB4Cu, h->crc32c);
  ASSERT_TRUE(s->Delete("k1").ok());
  EXPECT_TRUE(s->Get("k1").status().IsNotFound());
  EXPECT_TRUE(s->Head("k1").status().IsNotFound());
  EXPECT_TRUE(s->Delete("k1").IsNotFound());
}

TEST(Store, EmptyAndOneByteAndOverwrite) {
  TempDir d;
  auto s = OpenOrDie(d.path());
  ASSERT_TRUE(s->Put("empty", "").ok());
  ASSERT_TRUE(s->Put("one", "x").ok());
  EXPECT_EQ("", *s->Get("empty"));
  EXPECT_EQ("x", *s->Get("one"));
  ASSERT_TRUE(s->Put("one", "y").ok());
  EXPECT_EQ("y", *s->Get("one"));
  auto st = s->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(2u, st->objects);
  EXPECT_EQ(1u, st->logical_bytes);
  EXPECT_GT(st->dead_bytes, 0u);  // the first "one"
}

TEST(Store, KeyLimits) {
  TempDir d;
  auto s = OpenOrDie(d.path());
  Status e = s->Put("", "v");
  EXPECT_TRUE(e.IsInvalidArgument());
  std::string big(1025, 'k');
  e = s->Put(big, "v");
  EXPECT_TRUE(e.IsLimitExceeded());  // the one key check, cairn::ValidateKey
  EXPECT_NE(std::string::npos, e.message().find("max_key_bytes"));
  std::string max(1024, '\xff');
  ASSERT_TRUE(s->Put(max, "v").ok());
  EXPECT_EQ("v", *s->Get(max));
  std::string binary("a\0b\n\xff", 5);
  ASSERT_TRUE(s->Put(binary, "bin").ok());
  EXPECT_EQ("bin", *s->Get(binary));
}

TEST(Store, ReopenKeepsEverything) {
  TempDir d;
  {
    auto s = OpenOrDie(d.path());
    for (int i = 0; i < 500; i++) {
      std::string k = "key" + std::to_string(i);
      ASSERT_TRUE(s->Put(k, ValueFor(k, 1, static_cast<size_t>(i * 37 % 5000))).ok());
    }
    for (int i = 0; i < 500; i += 5) ASSERT_TRUE(s->Delete("key" + std::to_string(i)).ok());
  }
  auto s = OpenOrDie(d.path());
  EXPECT_TRUE(s->recovery_report().clean_shutdown);
  for (int i = 0; i < 500; i++) {
    std::string k = "key" + std::to_string(i);
    auto v = s->Get(k);
    if (i % 5 == 0) {
      EXPECT_TRUE(v.status().IsNotFound()) << k;
    } else {
      ASSERT_TRUE(v.ok()) << k << v.status().ToString();
      EXPECT_EQ(ValueFor(k, 1, static_cast<size_t>(i * 37 % 5000)), *v);
    }
  }
  EXPECT_EQ(400u, s->Stats()->objects);
}

TEST(Store, LargeValuesAreChunkedAndStreamed) {
  TempDir d;
  auto s = OpenOrDie(d.path());  // 4 MiB volumes: chunks of ~1 MiB, objects span volumes
  std::string big = ValueFor("big", 1, 9 << 20);
  ASSERT_TRUE(s->Put("big", big).ok());
  auto v = s->Get("big");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(*v == big);
  auto r = s->OpenReader("big");
  ASSERT_TRUE(r.ok());
  std::string streamed;
  char buf[70000];
  for (;;) {
    auto n = (*r)->Read(buf, sizeof(buf));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
    streamed.append(buf, *n);
  }
  EXPECT_TRUE(streamed == big);
  EXPECT_GT(s->Stats()->volumes, 2u);
}

TEST(Store, ScanIsOrderedAndPaged) {
  TempDir d;
  auto s = OpenOrDie(d.path());
  for (const char* k : {"b/2", "a/1", "b/1", "c", "b/3", "b"}) ASSERT_TRUE(s->Put(k, k).ok());
  auto r = s->Scan("b/", "", 2);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(2u, r->objects.size());
  EXPECT_EQ("b/1", r->objects[0].key);
  EXPECT_EQ("b/2", r->objects[1].key);
  EXPECT_TRUE(r->truncated);
  r = s->Scan("b/", "b/2", 2);
  ASSERT_EQ(1u, r->objects.size());
  EXPECT_EQ("b/3", r->objects[0].key);
  EXPECT_FALSE(r->truncated);
  r = s->Scan("", "", 100);
  ASSERT_EQ(6u, r->objects.size());
  EXPECT_EQ("a/1", r->objects[0].key);
  EXPECT_EQ("c", r->objects[5].key);
}

TEST(Store, ConcurrentWritersShareCommits) {
  TempDir d;
  auto s = OpenOrDie(d.path());
  std::vector<std::thread> ts;
  for (int t = 0; t < 16; t++) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 200; i++) {
        std::string k = "t" + std::to_string(t) + "/" + std::to_string(i);
        ASSERT_TRUE(s->Put(k, ValueFor(k, 1, 4096)).ok());
      }
    });
  }
  for (auto& t : ts) t.join();
  for (int t = 0; t < 16; t++)
    for (int i = 0; i < 200; i++) {
      std::string k = "t" + std::to_string(t) + "/" + std::to_string(i);
      auto v = s->Get(k);
      ASSERT_TRUE(v.ok());
      ASSERT_EQ(ValueFor(k, 1, 4096), *v);
    }
  EXPECT_EQ(3200u, s->Stats()->objects);
}

// Issue 4: the server's event loop pins cached objects without I/O, and falls back otherwise.
TEST(Store, TryPinObjectNeverReadsTheDiskAndFallsBackForLargeObjects) {
  TempDir d;
  auto s = OpenOrDie(d.path());
  ASSERT_TRUE(s->Put("small", "hello").ok());
  auto p = s->TryPinObject("small");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_NE(nullptr, *p);  // just written: in the memtable
  EXPECT_EQ(5u, (*p)->info().size);
  EXPECT_EQ(0x9A71BB4Cu, (*p)->info().crc32c);
  ASSERT_EQ(1u, (*p)->extents().size());
  EXPECT_TRUE(s->TryPinObject("missing").status().IsNotFound());
  // A chunked object's manifest would be read: no pin, and no error.
  ASSERT_TRUE(s->Put("big", ValueFor("big", 1, 5 << 20)).ok());
  auto big = s->TryPinObject("big");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(nullptr, *big);
  ASSERT_TRUE(s->PinObject("big").ok());
}

// Issue 4: PutAsync acknowledges through its callback, after the commit, once per write.
TEST(Store, PutAsyncCallsBackAfterCommitOnce) {
  TempDir d;
  auto s = OpenOrDie(d.path());
  constexpr int kWrites = 200;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, ok = 0, busy = 0;
  for (int i = 0; i < kWrites; i++) {
    std::string key = "k" + std::to_string(i);
    std::string value = ValueFor(key, 1, 10 << 10);
    WriteOptions wo;
    if (i % 2 == 1) wo.durability = Durability::kNone;
    Status st = s->PutAsync(key, value, wo, [&, key](Status r, const WriteResult& w) {
      std::lock_guard<std::mutex> l(mu);
      EXPECT_TRUE(r.ok()) << r.ToString();
      EXPECT_GT(w.sequence, 0u);
      EXPECT_FALSE(w.version.none());
      EXPECT_EQ(10u << 10, w.size);
      ok += r.ok();
      done++;
      cv.notify_all();
    });
    if (st.IsBusy()) {  // it would have waited: the caller falls back to Put
      busy++;
      ASSERT_TRUE(s->Put(key, value, wo).ok());
      continue;
    }
    ASSERT_TRUE(st.ok()) << st.ToString();
    if (i % 10 == 9) s->StartCommit();  // groups of up to 10, as a server's loop turn would
  }
  s->StartCommit();
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(30), [&] { return done + busy == kWrites; }));
  }
  EXPECT_EQ(kWrites - busy, ok);
  EXPECT_LT(busy, kWrites);  // the first write after a clean open is the only expected one
  for (int i = 0; i < kWrites; i++) {
    std::string key = "k" + std::to_string(i);
    auto v = s->Get(key);
    ASSERT_TRUE(v.ok()) << key;
    EXPECT_EQ(ValueFor(key, 1, 10 << 10), *v);
  }
  ASSERT_TRUE(s->Close().ok());
  auto again = OpenOrDie(d.path());
  EXPECT_EQ(ValueFor("k7", 1, 10 << 10), *again->Get("k7"));
}

}  // namespace
}  // namespace cairn
