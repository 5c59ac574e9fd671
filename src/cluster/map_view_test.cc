#include "cluster/map_view.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace cairn::cluster {
namespace {

constexpr int kCallers = 8;

// Blocks until `n` callers wait at the gate (each is past reading its epochs and its fetch
// number), so that the tests do not depend on how the threads are scheduled.
void WaitForWaiters(const RefreshGate& gate, size_t n) {
  while (gate.waiting() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// kCallers threads call Run at once, as the requests of a node whose map went stale do; the
// first fetch finishes only once every other caller waits at the gate. Returns how many
// fetches ran; every result goes to *results.
int RunTogether(RefreshGate* gate, std::atomic<uint64_t>* epoch, std::atomic<uint64_t>* noted,
                const std::function<Status()>& fetch, std::vector<Status>* results) {
  std::atomic<int> fetches{0};
  results->assign(kCallers, Status::OK());
  std::vector<std::thread> ts;
  for (int i = 0; i < kCallers; i++) {
    ts.emplace_back([&, i] {
      (*results)[i] = gate->Run(*epoch, *noted, [&] {
        if (fetches++ == 0) WaitForWaiters(*gate, kCallers - 1);
        return fetch();
      });
    });
  }
  for (auto& t : ts) t.join();
  return fetches.load();
}

TEST(RefreshGate, Issue12CallersOfAStaleMapShareOneFetch) {
  // Every request of a node whose map went stale refreshed it at once: one fetch of the whole
  // map each, which stalled the node and etcd at every map change.
  RefreshGate gate;
  std::atomic<uint64_t> epoch{3}, noted{4};
  std::vector<Status> results;
  const int fetches = RunTogether(
      &gate, &epoch, &noted,
      [&] {
        epoch = 4;
        return Status::OK();
      },
      &results);
  EXPECT_EQ(fetches, 1);
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(RefreshGate, Issue12WhileEtcdFailsCallersShareTheNextFetchsErrorInsteadOfQueueing) {
  // Each caller running its own failing fetch in turn made the last of 8 wait 8 timeouts.
  RefreshGate gate;
  std::atomic<uint64_t> epoch{3}, noted{4};
  std::vector<Status> results;
  const int fetches = RunTogether(
      &gate, &epoch, &noted, [] { return Status::Unavailable("etcd unreachable"); }, &results);
  // The one running when they came in, then one that started after: they share its error.
  EXPECT_EQ(fetches, 2);
  for (const Status& s : results) EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
}

// A fetch that was already running when a caller came in may have read etcd before the map the
// caller needs was written: it does not answer that caller.
TEST(RefreshGate, Issue12AFetchThatStartedBeforeACallerCameInDoesNotAnswerIt) {
  for (const uint64_t later_noted : {uint64_t{5}, uint64_t{0}}) {
    SCOPED_TRACE("the later caller noted epoch " + std::to_string(later_noted));
    RefreshGate gate;
    // Noted: epoch 4 is known when the first fetch starts, 5 while it runs. Not noted: neither
    // caller knows of a newer epoch (a plain refresh).
    std::atomic<uint64_t> epoch{3}, noted{later_noted != 0 ? 4u : 0u};
    std::atomic<int> fetches{0};
    std::thread first([&] {
      EXPECT_TRUE(gate.Run(epoch, noted,
                           [&] {
                             fetches++;
                             WaitForWaiters(gate, 1);  // the later caller came in meanwhile
                             epoch = 4;                // the map etcd had when this fetch read it
                             return Status::OK();
                           })
                      .ok());
    });
    while (fetches.load() == 0) std::this_thread::yield();
    if (later_noted != 0) noted = later_noted;  // a node says epoch 5 while the first is out
    EXPECT_TRUE(gate.Run(epoch, noted,
                         [&] {
                           fetches++;
                           epoch = 5;
                           return Status::OK();
                         })
                    .ok());
    first.join();
    EXPECT_EQ(fetches.load(), 2);
    EXPECT_EQ(epoch.load(), 5u);
  }
}

TEST(RefreshGate, ACallerWithNothingNotedStillFetches) {
  // A first load, or a refresh nobody asked for by an epoch: the gate does not skip it.
  RefreshGate gate;
  std::atomic<uint64_t> epoch{0}, noted{0};
  int fetches = 0;
  EXPECT_TRUE(gate.Run(epoch, noted,
                       [&] {
                         fetches++;
                         return Status::OK();
                       })
                  .ok());
  EXPECT_EQ(fetches, 1);
}

}  // namespace
}  // namespace cairn::cluster
