// ClusterShared::HintThen: the hints of a reply coordinated on an event loop are durable before
// the reply goes (issue 11). The whole write path is in tests/cluster_test.cc (real nodes).
#include "cluster/cluster_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

namespace cairn::cluster {
namespace {

class ClusterSharedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-shared.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Result<std::unique_ptr<HintLog>> h = HintLog::Open(dir_ + "/hints", HintLogOptions());
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    log_ = std::move(*h);
  }
  void TearDown() override {
    log_.reset();
    std::filesystem::remove_all(dir_);
  }
  static Hint H(int i) {
    return Hint{"key-" + std::to_string(i), Version::Make(1000 + i, 0, 7), false, 0};
  }
  bool Holds(NodeId target, const std::string& key) {
    Result<HintBatch> b = log_->Read(target, 100000);
    if (!b.ok()) return false;
    for (const Hint& h : b->hints)
      if (h.key == key) return true;
    return false;
  }
  size_t Queued(NodeId target) {
    Result<HintBatch> b = log_->Read(target, 100000);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? b->hints.size() : 0;
  }
  std::string dir_;
  std::unique_ptr<HintLog> log_;
};

TEST_F(ClusterSharedTest, Issue11HintThenAppendsEveryHintBeforeItsContinuationRuns) {
  ClusterShared shared(1, nullptr, log_.get());
  constexpr int kWriters = 8;
  constexpr int kEach = 25;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  int missing = 0;  // continuations that ran before their own hints were readable
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; t++) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kEach; i++) {
        const int n = t * kEach + i;
        // Two targets per reply, as for a write two replicas failed.
        shared.HintThen({{2, H(n)}, {3, H(n)}}, [&, n] {
          std::lock_guard<std::mutex> l(mu);  // one reader of the log at a time
          // When the reply would go, its hint has been appended (Append returned: durable).
          if (!Holds(2, H(n).key) || !Holds(3, H(n).key)) missing++;
          done++;
          cv.notify_all();
        });
      }
    });
  }
  for (auto& w : writers) w.join();
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(30), [&] { return done == kWriters * kEach; }));
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(Queued(2), size_t{kWriters * kEach});
  EXPECT_EQ(Queued(3), size_t{kWriters * kEach});
  EXPECT_EQ(shared.counters().hints_written.load(), uint64_t{2 * kWriters * kEach});
}

TEST_F(ClusterSharedTest, Issue11HintThenWithoutAHintLogRunsAtOnce) {
  ClusterShared shared(1, nullptr, nullptr);
  bool ran = false;
  shared.HintThen({{2, H(1)}}, [&] { ran = true; });
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace cairn::cluster
