#include "cluster/map_view.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace cairn::cluster {
namespace {

constexpr int kCallers = 8;

// kCallers threads call Run at once, as the requests of a node whose map went stale do. Returns
// how many fetches ran; every result goes to *results.
int RunTogether(RefreshGate* gate, std::atomic<uint64_t>* epoch, std::atomic<uint64_t>* noted,
                const std::function<Status()>& fetch, std::vector<Status>* results) {
  std::atomic<int> fetches{0}, entered{0};
  results->assign(kCallers, Status::OK());
  std::vector<std::thread> ts;
  for (int i = 0; i < kCallers; i++) {
    ts.emplace_back([&, i] {
      entered++;
      (*results)[i] = gate->Run(*epoch, *noted, [&] {
        fetches++;
        // Every caller has come in (and is waiting at the gate) before a fetch installs a map.
        while (entered.load() < kCallers) std::this_thread::yield();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
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

TEST(RefreshGate, Issue12AFailedFetchLetsTheNextCallerTryAndReportsItsError) {
  RefreshGate gate;
  std::atomic<uint64_t> epoch{3}, noted{4};
  std::vector<Status> results;
  const int fetches = RunTogether(
      &gate, &epoch, &noted, [] { return Status::Unavailable("etcd unreachable"); }, &results);
  EXPECT_EQ(fetches, kCallers);  // nobody's fetch brought the map: each tried
  for (const Status& s : results) EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
}

TEST(RefreshGate, Issue12AFetchOlderThanAnEpochNotedMeanwhileDoesNotServeTheLaterCaller) {
  RefreshGate gate;
  std::atomic<uint64_t> epoch{3}, noted{4};
  std::atomic<int> fetches{0};
  std::atomic<bool> first_in{false};
  std::thread first([&] {
    EXPECT_TRUE(gate.Run(epoch, noted,
                         [&] {
                           fetches++;
                           first_in = true;
                           std::this_thread::sleep_for(std::chrono::milliseconds(50));
                           epoch = 4;  // the map etcd had when this fetch read it
                           return Status::OK();
                         })
                    .ok());
  });
  while (!first_in.load()) std::this_thread::yield();
  noted = 5;  // a node says epoch 5 while the first fetch is out
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
