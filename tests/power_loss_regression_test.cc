// Regression tests for the engine bugs the power-loss test (tests/power_loss_test.cc, issue 5)
// found, each made deterministic.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <rocksdb/env.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "cairn/store.h"
#include "engine/crash_index_fs.h"
#include "io/crash_env.h"
#include "io/fault_env.h"
#include "test_util.h"

namespace cairn {
namespace {

// A store whose volumes and index are tracked by one CrashModel.
struct CrashStore {
  explicit CrashStore(const std::string& root)
      : model(root + "/trash"), env(&model), index_env(NewCrashIndexEnv(&model)) {}
  StoreOptions Options() {
    StoreOptions o;
    o.env = &env;
    o.index_env = index_env.get();
    o.volume_capacity = 1u << 20;
    o.background_reclaim = false;
    o.info_log = [](const std::string&) {};
    return o;
  }
  CrashModel model;
  CrashEnv env;
  std::unique_ptr<rocksdb::Env> index_env;
};

// Bug: a new store's volumes/ and index/ entries (and the store directory's own entry) were
// never made durable by a directory fsync; a power loss after the first acknowledged sync put
// could take both directories, and the put, with it.
TEST(PowerLossRegression, AcknowledgedPutInAFreshStoreSurvivesLosingUnsyncedDirectoryEntries) {
  test::TempDir tmp;
  const std::string dir = tmp.sub("store");
  {
    CrashStore cs(tmp.path());
    auto s = Store::Open(dir, cs.Options());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE((*s)->Put("k", "durable").ok());
    cs.model.Freeze();
    s = Status::IOError("dropped");
    ASSERT_TRUE(cs.model.Crash(1, CrashModel::Style::kDropAll).ok());
  }
  CrashStore cs(tmp.path());
  auto s = Store::Open(dir, cs.Options());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto v = (*s)->Get("k");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, "durable");
}

}  // namespace
}  // namespace cairn
