// ReaderEpochs (engine/reader_epochs.h): reclamation waits for the readers that were registered
// before it looked, and only for those.
#include "engine/reader_epochs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace cairn {
namespace {

using std::chrono::milliseconds;

TEST(ReaderEpochs, WithNoReaderThereIsNothingToWaitFor) {
  ReaderEpochs r;
  EXPECT_TRUE(r.WaitForOlder(milliseconds(0)));
  const uint64_t e = r.Register();
  r.Unregister(e);
  EXPECT_TRUE(r.WaitForOlder(milliseconds(0)));
}

TEST(ReaderEpochs, AWaitLastsUntilEveryReaderRegisteredBeforeItHasGone) {
  ReaderEpochs r;
  const uint64_t first = r.Register();
  EXPECT_FALSE(r.WaitForOlder(milliseconds(20)));  // still open: the wait times out
  const uint64_t second = r.Register();            // in the epoch that wait began
  EXPECT_GT(second, first);
  std::atomic<int> gone{0};
  std::thread t([&] {
    std::this_thread::sleep_for(milliseconds(30));
    gone++;
    r.Unregister(first);
    std::this_thread::sleep_for(milliseconds(30));
    gone++;
    r.Unregister(second);
  });
  EXPECT_TRUE(r.WaitForOlder(milliseconds(10000)));  // woken by each leaving reader
  EXPECT_EQ(gone.load(), 2);
  t.join();
  const uint64_t third = r.Register();
  EXPECT_FALSE(r.WaitForOlder(milliseconds(0)));
  r.Unregister(third);
  EXPECT_TRUE(r.WaitForOlder(milliseconds(0)));
}

TEST(ReaderEpochs, ManyThreadsRegisteringWhileReclamationWaits) {
  ReaderEpochs r;
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; i++)
    readers.emplace_back([&] {
      while (!stop) r.Unregister(r.Register());
    });
  for (int i = 0; i < 50; i++) EXPECT_TRUE(r.WaitForOlder(milliseconds(10000)));
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_TRUE(r.WaitForOlder(milliseconds(0)));
}

}  // namespace
}  // namespace cairn
