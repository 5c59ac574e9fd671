#include "cluster/hint_log.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace cairn::cluster {
namespace {

class HintLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-hints.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<HintLog> Open(HintLogOptions o = HintLogOptions()) {
    auto h = HintLog::Open(dir_ + "/hints", o);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return std::move(*h);
  }
  static Hint H(int i, bool del = false) {
    return Hint{"key-" + std::to_string(i), Version::Make(1000 + i, 0, 7), del, 0};
  }
  static std::vector<Hint> ReadAll(HintLog* log, NodeId t, HintCursor* next = nullptr) {
    std::vector<Hint> all;
    for (int guard = 0; guard < 10000; guard++) {
      Result<HintBatch> b = log->Read(t, 7);
      EXPECT_TRUE(b.ok()) << b.status().ToString();
      all.insert(all.end(), b->hints.begin(), b->hints.end());
      EXPECT_TRUE(log->Ack(t, b->next).ok());
      if (next) *next = b->next;
      if (b->end) break;
    }
    return all;
  }
  std::string dir_;
};

TEST_F(HintLogTest, AppendReadAckAcrossRestarts) {
  {
    auto log = Open();
    for (int i = 0; i < 50; i++) ASSERT_TRUE(log->Append(3, {H(i, i % 5 == 0)}).ok());
    ASSERT_TRUE(log->Append(4, {H(100)}).ok());
    EXPECT_GT(log->Stats(3).bytes, 0u);
    // Read and acknowledge the first 20 only.
    int acked = 0;
    while (acked < 20) {
      Result<HintBatch> b = log->Read(3, 20 - acked);
      ASSERT_TRUE(b.ok());
      acked += static_cast<int>(b->hints.size());
      ASSERT_TRUE(log->Ack(3, b->next).ok());
    }
  }
  auto log = Open();
  std::vector<NodeId> targets = log->Targets();
  EXPECT_EQ(targets, (std::vector<NodeId>{3, 4}));
  std::vector<Hint> rest = ReadAll(log.get(), 3);
  ASSERT_EQ(rest.size(), 30u);
  EXPECT_EQ(rest[0].key, "key-20");
  EXPECT_EQ(rest[0].version, Version::Make(1020, 0, 7));
  EXPECT_TRUE(rest[5].deleted);  // key-25
  EXPECT_EQ(log->Stats(3).bytes, 0u);
  EXPECT_EQ(ReadAll(log.get(), 4).size(), 1u);
}

TEST_F(HintLogTest, ConcurrentAppendersShareSyncsAndLoseNothing) {
  auto log = Open();
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; t++)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 100; i++) ASSERT_TRUE(log->Append(static_cast<NodeId>(1 + t % 2), {H(t * 1000 + i)}).ok());
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ReadAll(log.get(), 1).size() + ReadAll(log.get(), 2).size(), 800u);
}

TEST_F(HintLogTest, SegmentsRotateAndAreRemovedOnceReplayed) {
  HintLogOptions o;
  o.segment_bytes = 4096;
  auto log = Open(o);
  for (int i = 0; i < 500; i++) ASSERT_TRUE(log->Append(5, {H(i)}).ok());
  size_t segments = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_ + "/hints/5")) segments += e.path().extension() == ".hint";
  EXPECT_GE(segments, 4u);
  std::vector<Hint> all = ReadAll(log.get(), 5);
  ASSERT_EQ(all.size(), 500u);
  for (int i = 0; i < 500; i++) EXPECT_EQ(all[i].key, "key-" + std::to_string(i));
  segments = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_ + "/hints/5")) segments += e.path().extension() == ".hint";
  EXPECT_EQ(segments, 1u);  // only the one still appended to
}

// Issue 12: an out node's hints are dropped at once, across segments and restarts; what is
// appended after is kept.
TEST_F(HintLogTest, Issue12DiscardDropsEverythingQueuedAndKeepsWhatComesAfter) {
  HintLogOptions o;
  o.segment_bytes = 4096;
  {
    auto log = Open(o);
    for (int i = 0; i < 300; i++) ASSERT_TRUE(log->Append(6, {H(i)}).ok());
    ASSERT_TRUE(log->Append(8, {H(999)}).ok());
    const uint64_t queued = log->Stats(6).bytes;
    ASSERT_GT(queued, 4096u);
    Result<uint64_t> d = log->Discard(6);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(*d, queued);
    EXPECT_EQ(log->Stats(6).bytes, 0u);
    EXPECT_EQ(log->Stats(6).dropped, queued);
    EXPECT_TRUE(ReadAll(log.get(), 6).empty());
    EXPECT_EQ(log->Discard(6).value(), 0u);   // nothing left
    EXPECT_EQ(log->Discard(42).value(), 0u);  // no queue at all
  }
  auto log = Open(o);
  EXPECT_TRUE(ReadAll(log.get(), 6).empty());  // the cursor was made durable
  size_t segments = 0;
  for (auto& e : std::filesystem::directory_iterator(dir_ + "/hints/6")) segments += e.path().extension() == ".hint";
  EXPECT_LE(segments, 1u);
  ASSERT_TRUE(log->Append(6, {H(1000)}).ok());
  std::vector<Hint> after = ReadAll(log.get(), 6);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].key, "key-1000");
  EXPECT_EQ(ReadAll(log.get(), 8).size(), 1u);  // another target's queue is untouched
}

TEST_F(HintLogTest, ATornTailIsDroppedAndAppendsGoToANewSegment) {
  std::string seg;
  {
    auto log = Open();
    for (int i = 0; i < 10; i++) ASSERT_TRUE(log->Append(2, {H(i)}).ok());
  }
  for (auto& e : std::filesystem::directory_iterator(dir_ + "/hints/2"))
    if (e.path().extension() == ".hint") seg = e.path();
  {
    std::ofstream f(seg, std::ios::app | std::ios::binary);
    std::string rec = EncodeHintRecord(H(10));
    f.write(rec.data(), static_cast<std::streamsize>(rec.size() - 3));  // a torn record
  }
  auto log = Open();
  ASSERT_TRUE(log->Append(2, {H(11)}).ok());
  std::vector<Hint> all = ReadAll(log.get(), 2);
  ASSERT_EQ(all.size(), 11u);
  EXPECT_EQ(all[9].key, "key-9");
  EXPECT_EQ(all[10].key, "key-11");
}

TEST_F(HintLogTest, BoundedByBytesAndAge) {
  HintLogOptions o;
  o.segment_bytes = 2048;
  o.max_bytes_per_target = 8192;
  auto log = Open(o);
  for (int i = 0; i < 400; i++) ASSERT_TRUE(log->Append(6, {H(i)}).ok());
  EXPECT_LE(log->Stats(6).bytes, 8192u + 2048u);
  EXPECT_GT(log->Stats(6).dropped, 0u);
  std::vector<Hint> kept = ReadAll(log.get(), 6);
  EXPECT_LT(kept.size(), 400u);
  EXPECT_EQ(kept.back().key, "key-399");  // the newest are kept

  HintLogOptions aged;
  aged.max_age_ms = 1;
  auto log2 = HintLog::Open(dir_ + "/hints2", aged);
  ASSERT_TRUE(log2.ok());
  ASSERT_TRUE((*log2)->Append(7, {H(1), H(2)}).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Result<HintBatch> b = (*log2)->Read(7, 10);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->hints.empty());
  EXPECT_EQ(b->expired, 2u);
}

TEST_F(HintLogTest, Issue11HintsSurviveKillMinus9OfTheCoordinator) {
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    auto log = HintLog::Open(dir_ + "/hints", HintLogOptions());
    if (!log.ok()) _exit(1);
    for (int i = 0;; i++) {
      if (!(*log)->Append(9, {H(i)}).ok()) _exit(2);
      int32_t acked = i;
      if (write(pipefd[1], &acked, sizeof(acked)) != sizeof(acked)) _exit(3);
    }
  }
  close(pipefd[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  int32_t last = -1, v;
  while (read(pipefd[0], &v, sizeof(v)) == sizeof(v)) last = v;
  close(pipefd[0]);
  ASSERT_GE(last, 10);
  auto log = Open();
  std::vector<Hint> all = ReadAll(log.get(), 9);
  ASSERT_GE(all.size(), static_cast<size_t>(last + 1));  // every acknowledged hint is there
  for (int i = 0; i <= last; i++) EXPECT_EQ(all[i].key, "key-" + std::to_string(i));
}

TEST_F(HintLogTest, BadInputIsRefused) {
  auto log = Open();
  EXPECT_TRUE(log->Append(0, {H(1)}).IsInvalidArgument());
  EXPECT_TRUE(log->Append(kNoNode, {H(1)}).IsInvalidArgument());
  Hint empty = H(1);
  empty.key.clear();
  EXPECT_TRUE(log->Append(1, {empty}).IsInvalidArgument());
}

}  // namespace
}  // namespace cairn::cluster
