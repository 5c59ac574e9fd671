#include "cluster/epoch_fence.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace cairn::cluster {
namespace {

using std::chrono::milliseconds;

TEST(EpochFence, Issue12AWritesAreCountedByTheEpochTheyWereSentUnder) {
  std::atomic<uint64_t> epoch{5};
  EpochFence f(&epoch);
  uint64_t ours = 0;
  std::shared_ptr<const void> a = f.Enter(5, &ours);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(ours, 5u);
  std::shared_ptr<const void> b = f.Enter(0, &ours);  // a sender with no epoch: the oldest
  ASSERT_NE(b, nullptr);
  std::shared_ptr<const void> c = f.Enter(7, &ours);  // newer than ours: admitted
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(f.InFlight(), 3u);
  EXPECT_EQ(f.OlderInFlight(5), 1u);  // the one with no epoch
  EXPECT_EQ(f.OlderInFlight(6), 2u);
  EXPECT_EQ(f.OlderInFlight(8), 3u);
  b.reset();
  EXPECT_EQ(f.OlderInFlight(6), 1u);
  std::shared_ptr<const void> a2 = a;  // copies share one place
  a.reset();
  EXPECT_EQ(f.OlderInFlight(6), 1u);
  a2.reset();
  EXPECT_EQ(f.OlderInFlight(6), 0u);
  c.reset();
  EXPECT_EQ(f.InFlight(), 0u);
}

TEST(EpochFence, Issue12AWriteOfAnOlderMapIsRefusedAndNotCounted) {
  std::atomic<uint64_t> epoch{6};
  EpochFence f(&epoch);
  uint64_t ours = 0;
  EXPECT_EQ(f.Enter(5, &ours), nullptr);
  EXPECT_EQ(ours, 6u);
  EXPECT_EQ(f.InFlight(), 0u);
  EXPECT_EQ(f.OlderInFlight(100), 0u);
}

TEST(EpochFence, Issue12AAwaitOlderReturnsWhenTheLastOlderWriteIsDoneOrWhenItsBoundPasses) {
  std::atomic<uint64_t> epoch{5};
  EpochFence f(&epoch);
  uint64_t ours = 0;
  std::shared_ptr<const void> old = f.Enter(5, &ours);
  epoch = 6;
  // Bounded: still there after the wait.
  EXPECT_EQ(f.AwaitOlder(6, milliseconds(20)), 1u);
  // A write of the new map does not hold it.
  std::shared_ptr<const void> fresh = f.Enter(6, &ours);
  ASSERT_NE(fresh, nullptr);
  std::thread done([&] {
    std::this_thread::sleep_for(milliseconds(30));
    old.reset();
  });
  EXPECT_EQ(f.AwaitOlder(6, std::chrono::seconds(30)), 0u);  // woken, not timed out
  done.join();
  EXPECT_EQ(f.InFlight(), 1u);
}

// The race the fence exists for: writers of epoch 1 keep arriving (each holding its place a
// moment, as a commit does) while the epoch moves to 2. Once a check found none of epoch 1 in
// flight, none may ever be in flight again: a write that read the old epoch and was counted
// after the check (the check and the count not one step) would show up here.
TEST(EpochFence, Issue12ANoOlderWriteIsAdmittedAfterTheFenceFoundNoneInFlight) {
  for (int round = 0; round < 50; round++) {
    std::atomic<uint64_t> epoch{1};
    EpochFence f(&epoch);
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int t = 0; t < 3; t++)
      writers.emplace_back([&] {
        for (int i = 0; i < 20000 && !stop.load(); i++) {
          uint64_t ours = 0;
          std::shared_ptr<const void> h = f.Enter(1, &ours);
          if (h != nullptr) std::this_thread::sleep_for(std::chrono::microseconds(20));
        }
      });
    std::this_thread::sleep_for(std::chrono::microseconds(100 * (round % 5)));
    epoch = 2;
    while (f.AwaitOlder(2, milliseconds(100)) != 0) {
    }
    uint64_t seen_after = 0;
    for (int i = 0; i < 2000; i++) seen_after += f.OlderInFlight(2);
    stop = true;
    for (auto& w : writers) w.join();
    EXPECT_EQ(seen_after, 0u) << "round " << round;
    uint64_t ours = 0;
    EXPECT_EQ(f.Enter(1, &ours), nullptr);
  }
}

TEST(EpochFence, Issue12AHoldReleasedAfterTheFenceIsGoneIsHarmless) {
  // A request still queued when a server stops is destroyed after the node (and its fence).
  std::atomic<uint64_t> epoch{3};
  std::shared_ptr<const void> hold;
  {
    EpochFence f(&epoch);
    uint64_t ours = 0;
    hold = f.Enter(3, &ours);
    ASSERT_NE(hold, nullptr);
  }
  hold.reset();  // under ASan: no use after free
}

// An inner store whose Put waits for the test, and whose PutAsync keeps its callback.
class BlockingStore final : public ObjectStore {
 public:
  Result<WriteResult> Put(std::string_view, std::string_view, const WriteOptions&) override {
    entered.set_value();
    release.get_future().wait();
    return WriteResult{};
  }
  Status PutAsync(std::string_view, std::string_view, const WriteOptions&, WriteDone done) override {
    pending = std::move(done);
    return Status::OK();
  }
  Result<WriteResult> PutStream(std::string_view, ValueSource*, const WriteOptions&) override {
    return Status::NotSupported("test");
  }
  Result<GetResult> Get(std::string_view, const ByteRange&) override { return Status::NotSupported("test"); }
  Result<std::unique_ptr<ObjectReader>> OpenReader(std::string_view, const ByteRange&) override {
    return Status::NotSupported("test");
  }
  Result<ObjectInfo> Head(std::string_view) override { return Status::NotSupported("test"); }
  Result<WriteResult> Delete(std::string_view, const WriteOptions&) override {
    return Status::NotSupported("test");
  }
  Result<ListResult> List(const ListOptions&) override { return Status::NotSupported("test"); }
  Result<StoreStats> Stats() override { return Status::NotSupported("test"); }
  std::promise<void> entered, release;
  WriteDone pending;
};

TEST(EpochFence, Issue12ACoordinatorsOwnWritesHoldPlacesUnderTheNodesEpoch) {
  std::atomic<uint64_t> epoch{5};
  EpochFence f(&epoch);
  BlockingStore inner;
  FencedStore s(&inner, &f);
  // A write into the node's own store started under epoch 5 and still in it when the map
  // moves to 6: a DIGEST at 6 waits for it.
  std::thread t([&] { (void)s.Put("k", "v", WriteOptions()); });
  inner.entered.get_future().wait();
  epoch = 6;
  EXPECT_EQ(f.OlderInFlight(6), 1u);
  inner.release.set_value();
  t.join();
  EXPECT_EQ(f.InFlight(), 0u);
  // On the loop: the place is held until the commit's callback has run. Started at 6, it is
  // counted under 6 (never refused: its coordinator covers a map newer than its own).
  bool answered = false;
  ASSERT_TRUE(s.PutAsync("k", "v", WriteOptions(), [&](Result<WriteResult>) { answered = true; }).ok());
  EXPECT_EQ(f.OlderInFlight(6), 0u);
  EXPECT_EQ(f.OlderInFlight(7), 1u);
  inner.pending(WriteResult{});
  inner.pending = nullptr;
  EXPECT_TRUE(answered);
  EXPECT_EQ(f.InFlight(), 0u);
}

}  // namespace
}  // namespace cairn::cluster
