// In-process tests of the command bodies where the shell test would be slow: listings that
// span several Scan pages (kListPageKeys = 1000) need thousands of keys.
#include "cli/commands.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cairn/store.h"
#include "cli/local_backend.h"
#include "cluster/cluster_node.h"

namespace cairn::cli {
namespace {

constexpr int kKeys = 2345;  // two full pages and a part

std::string Key(int i) { return fmt::format("k{:05}", i); }

class PagedListing : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-cli-test-XXXXXX";
    ASSERT_NE(nullptr, ::mkdtemp(tmpl));
    dir_ = tmpl;
    StoreOptions o;
    o.volume_capacity = 1 << 20;
    o.durability = Durability::kNone;
    o.info_log = [](const std::string&) {};
    auto s = Store::Open(dir_ + "/store", o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    for (int i = kKeys - 1; i >= 0; i--) ASSERT_TRUE((*s)->Put(Key(i), "v").ok());
    ASSERT_TRUE((*s)->Close().ok());
    GlobalFlags f;
    f.store = dir_ + "/store";
    ASSERT_TRUE(MakeContext(f, "ls", &ctx_).ok());
    ctx_.local = &LocalStoreBackend();  // what cairn-local's main passes
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs ls and returns its stdout as lines.
  std::vector<std::string> Ls(const ListArgs& args) {
    testing::internal::CaptureStdout();
    Outcome o = RunLs(ctx_, args);
    std::string out = testing::internal::GetCapturedStdout();
    EXPECT_TRUE(o.ok()) << o.message();
    std::vector<std::string> lines;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
  }

  nlohmann::json LsJson(const ListArgs& args) {
    ctx_.json = true;
    testing::internal::CaptureStdout();
    Outcome o = RunLs(ctx_, args);
    std::string out = testing::internal::GetCapturedStdout();
    ctx_.json = false;
    EXPECT_TRUE(o.ok()) << o.message();
    EXPECT_EQ('\n', out.back());
    EXPECT_EQ(1, std::count(out.begin(), out.end(), '\n'));
    return nlohmann::json::parse(out);
  }

  std::string dir_;
  Context ctx_;
};

TEST_F(PagedListing, ListsEverythingInOrderAcrossPages) {
  std::vector<std::string> lines = Ls({});
  ASSERT_EQ(static_cast<size_t>(kKeys), lines.size());
  for (int i = 0; i < kKeys; i++) ASSERT_EQ(Key(i), lines[i]);
}

TEST_F(PagedListing, LimitAndStartAfterCrossPages) {
  ListArgs a;
  a.limit = 1500;
  std::vector<std::string> lines = Ls(a);
  ASSERT_EQ(1500u, lines.size());
  EXPECT_EQ(Key(1499), lines.back());

  a.start_after = Key(998);
  a.limit = 1003;
  lines = Ls(a);
  ASSERT_EQ(1003u, lines.size());
  EXPECT_EQ(Key(999), lines.front());
  EXPECT_EQ(Key(2001), lines.back());

  a.limit = std::nullopt;
  a.start_after = Key(kKeys - 2);
  lines = Ls(a);
  ASSERT_EQ(1u, lines.size());
  EXPECT_EQ(Key(kKeys - 1), lines[0]);

  a.start_after = "";
  a.prefix = "k01";  // k01000..k01999: exactly one page
  lines = Ls(a);
  ASSERT_EQ(1000u, lines.size());
  EXPECT_EQ(Key(1000), lines.front());
  EXPECT_EQ(Key(1999), lines.back());
}

TEST_F(PagedListing, JsonIsOneObjectWithTruncatedFlag) {
  nlohmann::json j = LsJson({});
  ASSERT_EQ(static_cast<size_t>(kKeys), j["objects"].size());
  EXPECT_FALSE(j["truncated"].get<bool>());
  EXPECT_EQ(Key(kKeys - 1), j["objects"].back()["key"]);

  ListArgs a;
  for (uint64_t limit : {0u, 1u, 999u, 1000u, 1001u, 2000u, 2344u}) {
    a.limit = limit;
    j = LsJson(a);
    EXPECT_EQ(limit, j["objects"].size()) << limit;
    EXPECT_TRUE(j["truncated"].get<bool>()) << limit;
  }
  for (uint64_t limit : {2345u, 2346u, 100000u}) {
    a.limit = limit;
    j = LsJson(a);
    EXPECT_EQ(static_cast<size_t>(kKeys), j["objects"].size()) << limit;
    EXPECT_FALSE(j["truncated"].get<bool>()) << limit;
  }
  a.limit = 1000;
  a.prefix = "k01";  // all 1000 matches fit the limit exactly: nothing was cut
  j = LsJson(a);
  EXPECT_EQ(1000u, j["objects"].size());
  EXPECT_FALSE(j["truncated"].get<bool>());
}

// A command run on a stopped cluster node's store (its data directory holds NODE_ID) opens it
// as the node does, with no tombstone TTL: `cairn reclaim` there must not forget a delete the
// cluster still needs (docs/cluster.md "Tombstones and their collection"). On a store of its
// own the TTL (10 days) still applies.
TEST(NodeStore, Issue12ReclaimOnAClusterNodesStoreKeepsOldTombstonesAndOnAPlainStoreDropsThem) {
  char tmpl[] = "/tmp/cairn-cli-test-XXXXXX";
  ASSERT_NE(nullptr, ::mkdtemp(tmpl));
  const std::string dir = std::string(tmpl) + "/store";
  StoreOptions o = cluster::ClusterEngineOptions(StoreOptions());
  o.durability = Durability::kNone;
  o.info_log = [](const std::string&) {};
  const uint64_t day_ms = uint64_t{24} * 3600 * 1000;
  const uint64_t now_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                    std::chrono::system_clock::now().time_since_epoch())
                                                    .count());
  {
    auto s = Store::Open(dir, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    WriteOptions wo;
    wo.condition = WriteCondition::kIfNewer;
    wo.version = Version::Make(now_ms - 21 * day_ms, 0, 5);
    ASSERT_TRUE((*s)->Put("deleted-long-ago", "v", wo).ok());
    wo.version = Version::Make(now_ms - 20 * day_ms, 0, 5);
    ASSERT_TRUE((*s)->Delete("deleted-long-ago", wo).ok());
    ASSERT_TRUE((*s)->Close().ok());
  }
  auto tombstones = [&]() -> uint64_t {
    auto s = Store::Open(dir, o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return ~uint64_t{0};
    Result<StoreStats> st = (*s)->Stats();
    EXPECT_TRUE(st.ok());
    EXPECT_TRUE((*s)->Close().ok());
    return st.ok() ? st->tombstones : ~uint64_t{0};
  };
  auto reclaim = [&] {
    GlobalFlags f;
    f.store = dir;
    Context ctx;
    ASSERT_TRUE(MakeContext(f, "reclaim", &ctx).ok());
    ctx.local = &LocalStoreBackend();
    testing::internal::CaptureStdout();
    Outcome r = RunReclaim(ctx, /*dry_run=*/false);
    (void)testing::internal::GetCapturedStdout();
    ASSERT_TRUE(r.ok()) << r.message();
  };
  { std::ofstream(dir + "/NODE_ID") << "3\n"; }
  // The node's digest checkpoint goes too: a command may change the store in ways its
  // fingerprint does not show, so the node's next start scans (cluster/digested_store.h).
  const std::string checkpoint = dir + "/" + cluster::kDigestCheckpointFile;
  { std::ofstream(checkpoint) << "digest"; }
  reclaim();
  EXPECT_FALSE(std::filesystem::exists(checkpoint));
  EXPECT_EQ(tombstones(), 1u) << "a cluster node's store forgot a 20-day-old delete";
  // verify --repair opens the store its own way: it removes the checkpoint too.
  { std::ofstream(checkpoint) << "digest"; }
  {
    GlobalFlags f;
    f.store = dir;
    Context ctx;
    ASSERT_TRUE(MakeContext(f, "verify", &ctx).ok());
    ctx.local = &LocalStoreBackend();
    testing::internal::CaptureStdout();
    Outcome r = RunVerify(ctx, /*repair=*/true);
    (void)testing::internal::GetCapturedStdout();
    ASSERT_TRUE(r.ok()) << r.message();
  }
  EXPECT_FALSE(std::filesystem::exists(checkpoint));
  std::filesystem::remove(dir + "/NODE_ID");
  reclaim();
  EXPECT_EQ(tombstones(), 0u) << "a store of its own kept a delete past its TTL";
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace cairn::cli
