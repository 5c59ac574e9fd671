#include "cli/ordered_pool.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "util/check.h"

namespace cairn::cli {

size_t RunOrdered(size_t n, int jobs, const std::function<void(size_t)>& work,
                  const std::function<void()>& tick, std::atomic<bool>* stop) {
  CAIRN_CHECK(jobs >= 1 && jobs <= kMaxJobs);
  std::atomic<size_t> next{0};
  std::atomic<size_t> started{0};
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  auto worker = [&] {
    for (;;) {
      if (stop->load()) break;
      const size_t i = next.fetch_add(1);
      if (i >= n) break;
      started.fetch_add(1);
      work(i);
    }
    std::lock_guard<std::mutex> l(mu);
    running--;
    cv.notify_all();
  };
  const int threads = static_cast<int>(std::min<size_t>(static_cast<size_t>(jobs), n));
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads));
  running = threads;
  for (int t = 0; t < threads; t++) pool.emplace_back(worker);
  {
    std::unique_lock<std::mutex> l(mu);
    while (running > 0) {
      cv.wait_for(l, kTickInterval);
      if (running == 0) break;
      l.unlock();
      tick();
      l.lock();
    }
  }
  for (std::thread& t : pool) t.join();
  tick();
  return started.load();
}

void ByteBudget::Acquire(uint64_t n) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return held_ == 0 || held_ + n <= limit_; });
  held_ += n;
}

void ByteBudget::Release(uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  CAIRN_CHECK(n <= held_);
  held_ -= n;
  cv_.notify_all();
}

}  // namespace cairn::cli
