// CommitQueue (engine/commit_queue.h) without a store, with a fake commit callback: the leader
// takes exactly the written prefix when writers finish out of order; a group reaches the
// callback in log order; a failed write's status, and a failed commit's, become the results;
// the committer thread commits writers nobody waits for; the unfinished-bytes bound admits a
// waiting writer once a group commits; Drain at close commits what is admitted and releases the
// waiters.
#include "engine/commit_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace cairn {
namespace {

using Entry = CommitQueue::Entry;
constexpr uint64_t kMaxUnfinished = 100;

class CommitQueueTest : public ::testing::Test {
 protected:
  // The fake store: records each group (as the ids of its entries: their end offsets) and the
  // acknowledged no_wait entries; fails the next commit when told.
  Status Commit(const CommitQueue::Group& g) {
    std::lock_guard<std::mutex> l(fake_mu_);
    std::vector<uint64_t> ids;
    for (const Entry* e : g) ids.push_back(e->end.offset());
    groups_.push_back(ids);
    Status s = fail_next_;
    fail_next_ = Status::OK();
    return s;
  }
  void Acknowledge(Entry* e) {
    std::lock_guard<std::mutex> l(fake_mu_);
    acked_.push_back(e->end.offset());
    acked_results_.push_back(e->result);
    fake_cv_.notify_all();
  }
  // Waits (bounded: 10 s) until n no_wait entries were acknowledged.
  bool WaitAcked(size_t n) {
    std::unique_lock<std::mutex> l(fake_mu_);
    return fake_cv_.wait_for(l, std::chrono::seconds(10), [&] { return acked_.size() >= n; });
  }
  std::vector<std::vector<uint64_t>> groups() {
    std::lock_guard<std::mutex> l(fake_mu_);
    return groups_;
  }

  // A new entry with id `id` (its end offset) and `len` bytes, joined at the end of the queue.
  Entry* Join(uint64_t id, uint64_t len = 10, bool no_wait = false) {
    auto e = std::make_unique<Entry>();
    e->len = len;
    e->end = LogPosition(1, id);
    e->no_wait = no_wait;
    Entry* p = e.get();
    entries_.push_back(std::move(e));
    MutexLock l(&mu_);
    q_.Join(&mu_, p);
    return p;
  }
  bool Done(Entry* e) {
    MutexLock l(&mu_);
    return e->done;
  }
  bool Committed(Entry* e) {
    MutexLock l(&mu_);
    return e->committed;
  }
  // Waits (bounded: 10 s) until e is marked done by another thread.
  bool WaitDone(Entry* e) {
    for (int i = 0; i < 1000; i++) {
      if (Done(e)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  Mutex mu_;  // the store's log lock
  std::mutex fake_mu_;
  std::condition_variable fake_cv_;
  std::vector<std::vector<uint64_t>> groups_;
  std::vector<uint64_t> acked_;
  std::vector<Status> acked_results_;
  Status fail_next_;
  std::vector<std::unique_ptr<Entry>> entries_;  // outlive the queue (declared before it)
  CommitQueue q_{&mu_, kMaxUnfinished,
                 {[this](const CommitQueue::Group& g) { return Commit(g); },
                  [this](Entry* e) { Acknowledge(e); }}};
};

TEST_F(CommitQueueTest, TheLeaderTakesExactlyTheWrittenPrefix) {
  Entry* a = Join(1);
  Entry* b = Join(2);
  Entry* c = Join(3, 10, /*no_wait=*/true);
  Entry* d = Join(4);
  q_.FinishAsync(c, Status::OK());  // written before b: must wait for b
  q_.FinishAndWait(a, Status::OK());  // the front: leads a group of itself (b is not written)
  EXPECT_TRUE(Committed(a));
  EXPECT_FALSE(Committed(b));
  EXPECT_FALSE(Committed(c));
  ASSERT_EQ(groups(), (std::vector<std::vector<uint64_t>>{{1}}));
  // b finishes: it leads b and the written c, not the unwritten d.
  q_.FinishAndWait(b, Status::OK());
  EXPECT_TRUE(Committed(c));
  EXPECT_FALSE(Committed(d));
  ASSERT_EQ(groups(), (std::vector<std::vector<uint64_t>>{{1}, {2, 3}}));
  ASSERT_TRUE(WaitAcked(1));  // c, acknowledged by b's thread after the commit
  q_.FinishAndWait(d, Status::OK());
  ASSERT_EQ(groups(), (std::vector<std::vector<uint64_t>>{{1}, {2, 3}, {4}}));
  EXPECT_EQ(q_.generation(), 3u);
  MutexLock l(&mu_);
  EXPECT_TRUE(q_.empty(&mu_));
  EXPECT_EQ(q_.committed_end(&mu_), LogPosition(1, 4));
}

TEST_F(CommitQueueTest, WritersFinishingOutOfOrderCommitInLogOrder) {
  std::vector<Entry*> es;
  for (uint64_t i = 1; i <= 6; i++) es.push_back(Join(i));
  // The later writers finish first, each on its own thread; they wait behind the front.
  std::vector<std::thread> threads;
  for (size_t i = es.size() - 1; i >= 1; i--) {
    Entry* e = es[i];
    threads.emplace_back([this, e] { q_.FinishAndWait(e, Status::OK()); });
    ASSERT_TRUE(WaitDone(e));
  }
  EXPECT_TRUE(groups().empty());  // nobody may lead while the front is unwritten
  q_.FinishAndWait(es[0], Status::OK());
  for (std::thread& t : threads) t.join();
  // Everything was written when the front finished: one group, in log order.
  ASSERT_EQ(groups(), (std::vector<std::vector<uint64_t>>{{1, 2, 3, 4, 5, 6}}));
  for (Entry* e : es) EXPECT_TRUE(e->result.ok());
}

TEST_F(CommitQueueTest, AFailedWriteKeepsItsStatusAndAFailedCommitFailsTheGroup) {
  Entry* a = Join(1);
  Entry* b = Join(2);
  Entry* c = Join(3);
  std::thread tb([&] { q_.FinishAndWait(b, Status::IOError("pwrite failed")); });
  std::thread tc([&] { q_.FinishAndWait(c, Status::OK()); });
  ASSERT_TRUE(WaitDone(b));
  ASSERT_TRUE(WaitDone(c));
  q_.FinishAndWait(a, Status::OK());
  tb.join();
  tc.join();
  ASSERT_EQ(groups(), (std::vector<std::vector<uint64_t>>{{1, 2, 3}}));
  EXPECT_TRUE(a->result.ok());
  EXPECT_TRUE(b->result.IsIOError()) << b->result.ToString();
  EXPECT_TRUE(c->result.ok());
  {
    MutexLock l(&mu_);
    EXPECT_EQ(q_.committed_end(&mu_), LogPosition(1, 3));
  }
  // A failed commit: every writer of the group gets its status; the committed end stays.
  Entry* d = Join(4);
  {
    std::lock_guard<std::mutex> l(fake_mu_);
    fail_next_ = Status::ReadOnly("the store turned read-only");
  }
  q_.FinishAndWait(d, Status::OK());
  EXPECT_TRUE(d->result.IsReadOnly()) << d->result.ToString();
  EXPECT_EQ(q_.generation(), 2u);  // a failed commit still makes earlier lookups stale
  MutexLock l(&mu_);
  EXPECT_EQ(q_.committed_end(&mu_), LogPosition(1, 3));
  EXPECT_TRUE(q_.empty(&mu_));
}

TEST_F(CommitQueueTest, TheCommitterCommitsWritersNobodyWaitsFor) {
  q_.Start();
  std::vector<Entry*> es;
  for (uint64_t i = 1; i <= 5; i++) es.push_back(Join(i, 10, /*no_wait=*/true));
  for (Entry* e : es) q_.FinishAsync(e, Status::OK());
  EXPECT_TRUE(groups().empty());  // nothing leads until StartCommit wakes the committer
  q_.StartCommit();
  ASSERT_TRUE(WaitAcked(es.size()));
  {
    std::lock_guard<std::mutex> l(fake_mu_);
    EXPECT_EQ(acked_, (std::vector<uint64_t>{1, 2, 3, 4, 5}));
    for (const Status& s : acked_results_) EXPECT_TRUE(s.ok());
  }
  // A waiting writer behind async ones: the committer (or the writer) leads both.
  Entry* f = Join(6, 10, /*no_wait=*/true);
  Entry* g = Join(7);
  q_.FinishAsync(f, Status::OK());
  q_.StartCommit();
  q_.FinishAndWait(g, Status::OK());
  EXPECT_TRUE(g->result.ok());
  ASSERT_TRUE(WaitAcked(es.size() + 1));
  q_.Stop();
  MutexLock l(&mu_);
  EXPECT_TRUE(q_.empty(&mu_));
}

TEST_F(CommitQueueTest, TheUnfinishedBytesBoundAdmitsAWaiterOnceAGroupCommits) {
  {
    MutexLock l(&mu_);
    EXPECT_TRUE(q_.HasRoom(&mu_, 10 * kMaxUnfinished));  // an empty queue admits any writer
  }
  Entry* a = Join(1, 60);
  {
    MutexLock l(&mu_);
    EXPECT_TRUE(q_.HasRoom(&mu_, 40));
    EXPECT_FALSE(q_.HasRoom(&mu_, 41));
  }
  auto b = std::make_unique<Entry>();
  b->len = 50;
  b->end = LogPosition(1, 2);
  bool admitted = false;
  std::thread waiter([&] {
    {
      MutexLock l(&mu_);
      while (!q_.HasRoom(&mu_, b->len)) q_.Wait(&mu_);
      q_.Join(&mu_, b.get());
      admitted = true;
    }
    q_.FinishAndWait(b.get(), Status::OK());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    MutexLock l(&mu_);
    EXPECT_FALSE(admitted);  // 60 + 50 > 100
  }
  q_.FinishAndWait(a, Status::OK());  // frees 60 bytes and wakes the waiter
  waiter.join();
  EXPECT_TRUE(admitted);
  EXPECT_TRUE(b->result.ok());
  ASSERT_EQ(groups(), (std::vector<std::vector<uint64_t>>{{1}, {2}}));
}

TEST_F(CommitQueueTest, DrainCommitsWhatIsAdmittedAndReleasesTheWaiters) {
  q_.Start();
  Entry* a = Join(1, 60, /*no_wait=*/true);
  Entry* b = Join(2, 10);
  Entry* c = Join(3, 10);
  q_.FinishAsync(a, Status::OK());  // no StartCommit: Drain must have it committed
  std::thread tc([&] { q_.FinishAndWait(c, Status::OK()); });  // behind b, unwritten yet
  ASSERT_TRUE(WaitDone(c));
  // A thread waiting in the queue for a condition of the store's (here: the closing flag,
  // which no commit changes) is woken by Drain.
  bool closing = false;
  Status waiter_status;
  std::thread waiter([&] {
    MutexLock l(&mu_);
    while (!closing) q_.Wait(&mu_);
    waiter_status = Status::ReadOnly("the store is closing");
  });
  std::thread tb([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    q_.FinishAndWait(b, Status::OK());  // the last admitted writer finishes during Drain
  });
  {
    MutexLock l(&mu_);
    closing = true;
    q_.Drain(&mu_);  // wakes the waiter, waits until a, b and c committed
    EXPECT_TRUE(q_.empty(&mu_));
  }
  q_.Stop();
  waiter.join();
  tb.join();
  tc.join();
  EXPECT_TRUE(waiter_status.IsReadOnly()) << waiter_status.ToString();
  ASSERT_TRUE(WaitAcked(1));
  EXPECT_TRUE(b->result.ok());
  EXPECT_TRUE(c->result.ok());
  uint64_t committed = 0;
  for (const auto& g : groups()) committed += g.size();
  EXPECT_EQ(committed, 3u);
  q_.Stop();  // idempotent
}

}  // namespace
}  // namespace cairn
