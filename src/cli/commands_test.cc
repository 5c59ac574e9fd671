// In-process tests of the command bodies where the shell test would be slow: listings that
// span several Scan pages (kListPageKeys = 1000) need thousands of keys.
#include "cli/commands.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cairn/store.h"
#include "cli/local_backend.h"

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

}  // namespace
}  // namespace cairn::cli
