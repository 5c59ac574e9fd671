// ListWithDelimiter over an in-memory ordered scan: the rolling-up, its limits, continuing from
// next_start_after, and that it seeks past a common prefix instead of reading the keys under it.
#include "service/list_rollup.h"

#include <gtest/gtest.h>

#include <set>

namespace cairn::service {
namespace {

class Keys {
 public:
  explicit Keys(std::set<std::string> keys) : keys_(std::move(keys)) {}
  ScanFn Scan() {
    return [this](std::string_view prefix, std::string_view after,
                  size_t limit) -> Result<ScanPage> {
      scans++;
      ScanPage p;
      for (auto it = keys_.upper_bound(std::string(after)); it != keys_.end(); ++it) {
        if (!std::string_view(*it).starts_with(prefix)) {
          if (*it > std::string(prefix)) break;
          continue;
        }
        if (p.objects.size() == limit) {
          p.truncated = true;
          break;
        }
        ObjectInfo o;
        o.key = *it;
        p.objects.push_back(o);
        keys_read++;
      }
      return p;
    };
  }
  int scans = 0;
  int keys_read = 0;

 private:
  std::set<std::string> keys_;
};

std::vector<std::string> KeysOf(const ListResult& r) {
  std::vector<std::string> v;
  for (const auto& o : r.objects) v.push_back(o.key);
  return v;
}

ListOptions Opts(std::string prefix, std::string delim, std::string after = "") {
  ListOptions lo;
  lo.prefix = std::move(prefix);
  lo.delimiter = std::move(delim);
  lo.start_after = std::move(after);
  return lo;
}

TEST(ListRollup, WithoutADelimiterItIsTheScan) {
  Keys k({"a", "b/1", "b/2", "c"});
  Result<ListResult> r = ListWithDelimiter(Opts("", ""), 2, k.Scan());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(KeysOf(*r), (std::vector<std::string>{"a", "b/1"}));
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->next_start_after, "b/1");
  EXPECT_TRUE(r->common_prefixes.empty());
}

TEST(ListRollup, CommonPrefixesAreListedOnceInOrder) {
  Keys k({"a", "b/1", "b/2", "b/x/3", "c", "d/1", "e"});
  Result<ListResult> r = ListWithDelimiter(Opts("", "/"), 100, k.Scan());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(KeysOf(*r), (std::vector<std::string>{"a", "c", "e"}));
  EXPECT_EQ(r->common_prefixes, (std::vector<std::string>{"b/", "d/"}));
  EXPECT_FALSE(r->truncated);
  EXPECT_EQ(r->next_start_after, "e");
}

TEST(ListRollup, ThePrefixIsNotSearchedForTheDelimiter) {
  Keys k({"p/a", "p/b/1", "p/b/2", "p/c", "q/z"});
  Result<ListResult> r = ListWithDelimiter(Opts("p/", "/"), 100, k.Scan());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(KeysOf(*r), (std::vector<std::string>{"p/a", "p/c"}));
  EXPECT_EQ(r->common_prefixes, (std::vector<std::string>{"p/b/"}));
}

TEST(ListRollup, LimitCountsBothAndContinuationSkipsWhatWasRolledUp) {
  Keys k({"a", "b/1", "b/2", "c", "d/1", "d/2", "e"});
  std::vector<std::string> seen;
  ListOptions lo = Opts("", "/");
  for (int pages = 0; pages < 10; pages++) {
    Result<ListResult> r = ListWithDelimiter(lo, 2, k.Scan());
    ASSERT_TRUE(r.ok());
    // Objects and prefixes interleave in key order; a page holds two of them.
    std::set<std::string> page;
    for (const auto& o : r->objects) page.insert(o.key);
    for (const auto& p : r->common_prefixes) page.insert(p);
    EXPECT_LE(page.size(), 2u);
    seen.insert(seen.end(), page.begin(), page.end());
    if (!r->truncated) break;
    lo.start_after = r->next_start_after;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b/", "c", "d/", "e"}));
}

TEST(ListRollup, StartAfterInsideAGroupSkipsTheGroup) {
  Keys k({"a/1", "a/2", "a/3", "b"});
  Result<ListResult> r = ListWithDelimiter(Opts("", "/", "a/1"), 100, k.Scan());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->common_prefixes.empty());
  EXPECT_EQ(KeysOf(*r), (std::vector<std::string>{"b"}));
}

TEST(ListRollup, MultiByteDelimiter) {
  Keys k({"x--1", "x--2", "y", "z-1"});
  Result<ListResult> r = ListWithDelimiter(Opts("", "--"), 100, k.Scan());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->common_prefixes, (std::vector<std::string>{"x--"}));
  EXPECT_EQ(KeysOf(*r), (std::vector<std::string>{"y", "z-1"}));
}

TEST(ListRollup, Issue15SeeksPastACommonPrefixInsteadOfReadingItsKeys) {
  std::set<std::string> keys;
  for (int i = 0; i < 5000; i++) keys.insert("big/" + std::to_string(100000 + i));
  keys.insert("after");
  keys.insert("zzz");
  Keys k(std::move(keys));
  Result<ListResult> r = ListWithDelimiter(Opts("", "/"), 1000, k.Scan());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->common_prefixes, (std::vector<std::string>{"big/"}));
  EXPECT_EQ(KeysOf(*r), (std::vector<std::string>{"after", "zzz"}));
  // A short first page meets "big/" (reading a few of its keys), then one seek past it.
  EXPECT_LT(k.keys_read, 100) << "read " << k.keys_read << " keys";
  EXPECT_LE(k.scans, 3);
}

TEST(ListRollup, PastEveryKeyWithPrefix) {
  std::string p = PastEveryKeyWithPrefix("ab/");
  EXPECT_EQ(p.size(), kMaxKeyBytes);
  EXPECT_GT(p, std::string("ab/") + std::string(kMaxKeyBytes - 4, '\xfe'));
  EXPECT_LT(p, std::string("ab0"));
}

}  // namespace
}  // namespace cairn::service
