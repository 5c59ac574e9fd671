// The ObjectStore suite: see object_store_suite.h. Every expectation here holds for every
// implementation; none looks at which one it runs against.
#include "object_store_suite.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "util/crc32c.h"

namespace cairn::test {
namespace {

std::string Bytes(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return s;
}

class StringSource final : public ValueSource {
 public:
  explicit StringSource(std::string s) : s_(std::move(s)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    n = std::min(n, s_.size() - pos_);
    std::memcpy(buf, s_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string s_;
  size_t pos_ = 0;
};

Result<std::string> ReadAll(ObjectStore& s, std::string_view key, ByteRange range = ByteRange()) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<ObjectReader> r, s.OpenReader(key, range));
  std::string out, buf(256 << 10, '\0');
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(size_t n, r->Read(buf.data(), buf.size()));
    if (n == 0) return out;
    out.append(buf.data(), n);
  }
}

std::vector<std::string> Keys(const ListResult& l) {
  std::vector<std::string> v;
  for (const ObjectInfo& o : l.objects) v.push_back(o.key);
  return v;
}

WriteOptions If(WriteCondition c, Version v = Version()) {
  WriteOptions wo;
  wo.condition = c;
  wo.version = v;
  return wo;
}

}  // namespace

std::string ObjectStoreImplName(const ::testing::TestParamInfo<ObjectStoreImpl>& info) {
  return info.param.name;
}

void ObjectStoreSuite::SetUp() {
  under_ = GetParam().make();
  ASSERT_NE(under_, nullptr) << GetParam().name << ": the store could not be made";
}

TEST_P(ObjectStoreSuite, PutGetHeadDelete) {
  const std::string v = Bytes(10000, 1);
  Result<WriteResult> w = s().Put("a/b", v);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->size, v.size());
  EXPECT_EQ(w->crc32c, crc32c::Value(v));
  Result<GetResult> g = s().Get("a/b");
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_TRUE(g->data == v);
  EXPECT_EQ(g->range_offset, 0u);
  EXPECT_EQ(g->info.key, "a/b");
  EXPECT_EQ(g->info.size, v.size());
  EXPECT_EQ(g->info.crc32c, crc32c::Value(v));
  Result<ObjectInfo> h = s().Head("a/b");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->key, "a/b");
  EXPECT_EQ(h->size, v.size());
  EXPECT_EQ(h->crc32c, crc32c::Value(v));
  EXPECT_GT(h->mtime_us, 0u);
  // Replaced, then deleted.
  ASSERT_TRUE(s().Put("a/b", "second").ok());
  EXPECT_EQ(s().Get("a/b")->data, "second");
  ASSERT_TRUE(s().Delete("a/b").ok());
  EXPECT_TRUE(s().Get("a/b").status().IsNotFound());
  EXPECT_TRUE(s().Head("a/b").status().IsNotFound());
  EXPECT_TRUE(s().OpenReader("a/b").status().IsNotFound());
  EXPECT_TRUE(s().Delete("a/b").status().IsNotFound());  // nothing live to delete
  EXPECT_TRUE(s().Delete("never").status().IsNotFound());
}

TEST_P(ObjectStoreSuite, EmptyAndLargeValuesStreamBothWays) {
  ASSERT_TRUE(s().Put("empty", "").ok());
  EXPECT_EQ(s().Get("empty")->data, "");
  EXPECT_EQ(s().Head("empty")->size, 0u);
  EXPECT_EQ(*ReadAll(s(), "empty"), "");
  // Longer than a chunk (and than one client buffer): streamed in, read back streamed.
  const std::string big = Bytes((9 << 20) + 123, 2);
  StringSource src(big);
  Result<WriteResult> w = s().PutStream("big", &src);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->size, big.size());
  EXPECT_EQ(w->crc32c, crc32c::Value(big));
  Result<std::string> back = ReadAll(s(), "big");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == big);
  Result<std::string> part = ReadAll(s(), "big", ByteRange{(4 << 20) - 7, 100});
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_TRUE(*part == big.substr((4 << 20) - 7, 100));
  // A short stream: the same as a put.
  StringSource small("short");
  ASSERT_TRUE(s().PutStream("small", &small).ok());
  EXPECT_EQ(s().Get("small")->data, "short");
}

TEST_P(ObjectStoreSuite, RangesAreClippedAndAnOffsetPastTheEndIsRefused) {
  const std::string v = Bytes(5000, 3);
  ASSERT_TRUE(s().Put("r", v).ok());
  struct Case {
    uint64_t off, len;
  };
  for (Case c : {Case{0, 1}, Case{100, 200}, Case{4999, 1}, Case{4000, kToEnd}, Case{0, 100000},
                 Case{5000, 10}, Case{0, 0}}) {
    SCOPED_TRACE(std::to_string(c.off) + "+" + std::to_string(c.len));
    const std::string want = v.substr(c.off, c.len);
    Result<GetResult> g = s().Get("r", ByteRange{c.off, c.len});
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    EXPECT_EQ(g->range_offset, c.off);
    EXPECT_EQ(g->info.size, v.size());  // the whole object's info
    EXPECT_TRUE(g->data == want);
    Result<std::string> r = ReadAll(s(), "r", ByteRange{c.off, c.len});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(*r == want);
  }
  Status past = s().Get("r", ByteRange{5001, 1}).status();
  EXPECT_TRUE(past.IsInvalidArgument()) << past.ToString();
  EXPECT_NE(past.message().find("past the end"), std::string::npos) << past.ToString();
  EXPECT_TRUE(s().OpenReader("r", ByteRange{5001, 1}).status().IsInvalidArgument());
}

TEST_P(ObjectStoreSuite, KeysAreOneToMaxKeyBytes) {
  const std::string longest(kMaxKeyBytes, 'k');
  const std::string too_long(kMaxKeyBytes + 1, 'k');
  ASSERT_TRUE(s().Put(longest, "v").ok());
  EXPECT_EQ(s().Head(longest)->key, longest);
  StringSource src("v");
  for (const std::string& bad : {std::string(), too_long}) {
    SCOPED_TRACE(bad.size());
    auto check = [&](const Status& st) {
      if (bad.empty()) {
        EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
      } else {
        EXPECT_TRUE(st.IsLimitExceeded()) << st.ToString();
        EXPECT_NE(st.message().find("max_key_bytes"), std::string::npos) << st.ToString();
      }
    };
    check(s().Put(bad, "v").status());
    check(s().PutStream(bad, &src).status());
    check(s().Get(bad).status());
    check(s().OpenReader(bad).status());
    check(s().Head(bad).status());
    check(s().Delete(bad).status());
  }
  // Any bytes: NUL, 0xFF, newline.
  const std::string odd("a\0b\xff\n", 5);
  ASSERT_TRUE(s().Put(odd, "odd").ok());
  EXPECT_EQ(s().Get(odd)->data, "odd");
}

TEST_P(ObjectStoreSuite, ListingsPageWithLimitsAndPrefixes) {
  for (const char* k : {"p/a", "p/b", "p/c", "p/d", "q/a", "o"}) ASSERT_TRUE(s().Put(k, k).ok());
  Result<ListResult> l = s().List(ListOptions{.prefix = "p/"});
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(Keys(*l), (std::vector<std::string>{"p/a", "p/b", "p/c", "p/d"}));
  EXPECT_FALSE(l->truncated);
  EXPECT_EQ(l->objects[1].size, 3u);
  EXPECT_EQ(l->objects[1].crc32c, crc32c::Value("p/b"));
  // Pages of two, continued from next_start_after.
  ListOptions lo{.prefix = "p/", .limit = 2};
  std::vector<std::string> seen;
  for (int page = 0; page < 5; page++) {
    Result<ListResult> r = s().List(lo);
    ASSERT_TRUE(r.ok());
    for (const auto& k : Keys(*r)) seen.push_back(k);
    if (!r->truncated) break;
    EXPECT_EQ(r->next_start_after, r->objects.back().key);
    lo.start_after = r->next_start_after;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"p/a", "p/b", "p/c", "p/d"}));
  l = s().List(ListOptions{.start_after = "p/b"});
  EXPECT_EQ(Keys(*l), (std::vector<std::string>{"p/c", "p/d", "q/a"}));
  EXPECT_TRUE(s().List(ListOptions{.prefix = "none/"})->objects.empty());
  // The limits: over max_list_limit is refused, naming it.
  Status over = s().List(ListOptions{.limit = kMaxListLimit + 1}).status();
  EXPECT_TRUE(over.IsLimitExceeded()) << over.ToString();
  EXPECT_NE(over.message().find("max_list_limit"), std::string::npos) << over.ToString();
  EXPECT_TRUE(s().List(ListOptions{.limit = kMaxListLimit}).ok());
  Status long_prefix = s().List(ListOptions{.prefix = std::string(kMaxKeyBytes + 1, 'p')}).status();
  EXPECT_TRUE(long_prefix.IsLimitExceeded()) << long_prefix.ToString();
}

TEST_P(ObjectStoreSuite, ListingsWithADelimiterRollUpCommonPrefixes) {
  for (const char* k : {"a", "b/1", "b/2", "b/x/3", "c", "d/1", "e", "p/q/1", "p/r"})
    ASSERT_TRUE(s().Put(k, "v").ok());
  Result<ListResult> l = s().List(ListOptions{.delimiter = "/"});
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(Keys(*l), (std::vector<std::string>{"a", "c", "e"}));
  EXPECT_EQ(l->common_prefixes, (std::vector<std::string>{"b/", "d/", "p/"}));
  EXPECT_FALSE(l->truncated);
  l = s().List(ListOptions{.prefix = "p/", .delimiter = "/"});
  EXPECT_EQ(Keys(*l), (std::vector<std::string>{"p/r"}));
  EXPECT_EQ(l->common_prefixes, (std::vector<std::string>{"p/q/"}));
  // Paged: objects and prefixes count together; a continuation skips what was rolled up.
  ListOptions lo{.delimiter = "/", .limit = 2};
  std::vector<std::string> seen;
  for (int page = 0; page < 10; page++) {
    Result<ListResult> r = s().List(lo);
    ASSERT_TRUE(r.ok());
    std::set<std::string> items(r->common_prefixes.begin(), r->common_prefixes.end());
    for (const auto& k : Keys(*r)) items.insert(k);
    EXPECT_LE(items.size(), 2u);
    seen.insert(seen.end(), items.begin(), items.end());
    if (!r->truncated) break;
    lo.start_after = r->next_start_after;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b/", "c", "d/", "e", "p/"}));
}

TEST_P(ObjectStoreSuite, StatsCountTheObjects) {
  Result<StoreStats> before = s().Stats();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  ASSERT_TRUE(s().Put("s/1", "12345").ok());
  ASSERT_TRUE(s().Put("s/2", "123").ok());
  Result<StoreStats> after = s().Stats();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->objects, before->objects + 2);
  EXPECT_EQ(after->logical_bytes, before->logical_bytes + 8);
}

TEST_P(ObjectStoreSuite, PutAsyncIsAcknowledgedOrRefusedAtOnce) {
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, ok = 0, busy = 0;
  for (int i = 0; i < 20; i++) {
    const std::string key = "async/" + std::to_string(i);
    Status st = s().PutAsync(key, "value", WriteOptions(), [&](Result<WriteResult> r) {
      std::lock_guard<std::mutex> l(mu);
      if (r.ok() && r->size == 5) ok++;
      done++;
      cv.notify_all();
    });
    if (st.IsBusy()) {
      busy++;  // would have to wait: the caller uses Put instead
      ASSERT_TRUE(s().Put(key, "value").ok());
    } else {
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
  }
  s().StartCommit();
  std::unique_lock<std::mutex> l(mu);
  ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(30), [&] { return done + busy == 20; }));
  EXPECT_EQ(ok, done);
  l.unlock();
  for (int i = 0; i < 20; i++) EXPECT_EQ(s().Get("async/" + std::to_string(i))->data, "value");
}

// ---- Versions, metadata, conditions.

TEST_P(ObjectStoreSuite, EveryWriteHasAHigherVersion) {
  Result<WriteResult> w1 = s().Put("v", "1");
  ASSERT_TRUE(w1.ok());
  EXPECT_FALSE(w1->version.none());
  Result<WriteResult> w2 = s().Put("v", "2");
  ASSERT_TRUE(w2.ok());
  EXPECT_GT(w2->version, w1->version);
  EXPECT_EQ(s().Head("v")->version, w2->version);
  EXPECT_EQ(s().Get("v")->info.version, w2->version);
  Result<ListResult> l = s().List(ListOptions{.prefix = "v"});
  ASSERT_EQ(l->objects.size(), 1u);
  EXPECT_EQ(l->objects[0].version, w2->version);
  Result<WriteResult> d = s().Delete("v");
  ASSERT_TRUE(d.ok());
  EXPECT_GT(d->version, w2->version);
}

TEST_P(ObjectStoreSuite, MetadataIsKeptAndBounded) {
  WriteOptions wo;
  wo.metadata.content_type = "text/plain";
  wo.metadata.md5 = std::string(16, '\x42');
  wo.metadata.user["owner"] = "ada";
  wo.metadata.user["bin"] = std::string("\0\xff", 2);
  wo.metadata.system["etag"] = "\"abc\"";
  ASSERT_TRUE(s().Put("m", "value", wo).ok());
  EXPECT_EQ(s().Head("m")->metadata, wo.metadata);
  EXPECT_EQ(s().Get("m")->info.metadata, wo.metadata);
  EXPECT_EQ((*s().OpenReader("m"))->info().metadata, wo.metadata);
  EXPECT_EQ(s().List(ListOptions{.prefix = "m"})->objects.at(0).metadata, wo.metadata);
  StringSource src("streamed");
  ASSERT_TRUE(s().PutStream("ms", &src, wo).ok());
  EXPECT_EQ(s().Head("ms")->metadata, wo.metadata);
  // A put replaces the metadata too.
  ASSERT_TRUE(s().Put("m", "value").ok());
  EXPECT_TRUE(s().Head("m")->metadata.empty());
  // Over max_meta_bytes (8 KiB): refused, naming it, and nothing is written.
  WriteOptions big;
  big.metadata.user["a"] = std::string(kDefaultMaxMetaBytes, 'x');
  Status st = s().Put("too-much", "v", big).status();
  EXPECT_TRUE(st.IsLimitExceeded()) << st.ToString();
  EXPECT_NE(st.message().find("max_meta_bytes"), std::string::npos) << st.ToString();
  EXPECT_TRUE(s().Head("too-much").status().IsNotFound());
}

TEST_P(ObjectStoreSuite, IfMatchAndIfNoneMatch) {
  // if-none-match: create only.
  Result<WriteResult> created = s().Put("c", "1", If(WriteCondition::kIfNoneMatch));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  Version held;
  WriteOptions again = If(WriteCondition::kIfNoneMatch);
  again.held_version_out = &held;
  Status st = s().Put("c", "2", again).status();
  EXPECT_TRUE(st.IsConflict()) << st.ToString();
  EXPECT_EQ(held, created->version);
  EXPECT_EQ(s().Get("c")->data, "1");  // nothing written
  // if-match: only the current version.
  Result<WriteResult> next = s().Put("c", "3", If(WriteCondition::kIfMatch, created->version));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  WriteOptions stale = If(WriteCondition::kIfMatch, created->version);
  stale.held_version_out = &held;
  st = s().Put("c", "4", stale).status();
  EXPECT_TRUE(st.IsConflict()) << st.ToString();
  EXPECT_EQ(held, next->version);
  EXPECT_EQ(s().Get("c")->data, "3");
  // if-match of a key with no live version: NotFound; without a version: InvalidArgument.
  EXPECT_TRUE(s().Put("nothing", "x", If(WriteCondition::kIfMatch, next->version))
                  .status()
                  .IsNotFound());
  EXPECT_TRUE(s().Put("c", "x", If(WriteCondition::kIfMatch)).status().IsInvalidArgument());
  // Deletes take the same conditions.
  stale.held_version_out = &held;
  EXPECT_TRUE(s().Delete("c", stale).status().IsConflict());
  EXPECT_EQ(held, next->version);
  ASSERT_TRUE(s().Delete("c", If(WriteCondition::kIfMatch, next->version)).ok());
  EXPECT_TRUE(s().Head("c").status().IsNotFound());
  // Streamed puts too.
  StringSource src("s");
  ASSERT_TRUE(s().PutStream("cs", &src, If(WriteCondition::kIfNoneMatch)).ok());
  StringSource src2("t");
  EXPECT_TRUE(s().PutStream("cs", &src2, If(WriteCondition::kIfNoneMatch)).status().IsConflict());
}

TEST_P(ObjectStoreSuite, IfNewerTheHighestVersionWins) {
  const uint64_t now_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  const Version v10 = Version::Make(now_ms, 10, 7);
  const Version v20 = Version::Make(now_ms, 20, 7);
  const Version v5 = Version::Make(now_ms, 5, 7);
  Result<WriteResult> w = s().Put("n", "ten", If(WriteCondition::kIfNewer, v10));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->version, v10);
  EXPECT_EQ(s().Head("n")->version, v10);
  // The same version again: an idempotent retry, nothing written.
  Result<WriteResult> same = s().Put("n", "ten", If(WriteCondition::kIfNewer, v10));
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_EQ(same->version, v10);
  // Newer wins.
  ASSERT_TRUE(s().Put("n", "twenty", If(WriteCondition::kIfNewer, v20)).ok());
  EXPECT_EQ(s().Get("n")->data, "twenty");
  // Older loses, with the version held.
  Version held;
  WriteOptions older = If(WriteCondition::kIfNewer, v5);
  older.held_version_out = &held;
  Status st = s().Put("n", "five", older).status();
  EXPECT_TRUE(st.IsConflict()) << st.ToString();
  EXPECT_EQ(held, v20);
  EXPECT_EQ(s().Get("n")->data, "twenty");
  // if-newer without a version is refused.
  EXPECT_TRUE(s().Put("n", "x", If(WriteCondition::kIfNewer)).status().IsInvalidArgument());
  // A replica's delete of a key it never saw is kept, and an older put cannot bring it back.
  const Version d30 = Version::Make(now_ms, 30, 7);
  ASSERT_TRUE(s().Delete("ghost", If(WriteCondition::kIfNewer, d30)).ok());
  EXPECT_TRUE(s().Head("ghost").status().IsNotFound());
  held = Version();
  WriteOptions late = If(WriteCondition::kIfNewer, v20);
  late.held_version_out = &held;
  EXPECT_TRUE(s().Put("ghost", "back?", late).status().IsConflict());
  EXPECT_EQ(held, d30);
  EXPECT_TRUE(s().Head("ghost").status().IsNotFound());
}

}  // namespace cairn::test
