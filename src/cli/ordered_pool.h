// The concurrency of bulk import and export: a fixed set of worker threads that take items in
// a given order (the disk's), and a byte budget that bounds the memory they hold.
//
// Why threads and not io_uring: each item is a chain of blocking steps (open, read, checksum,
// Store::Put, which may wait for a group commit), so a worker per in-flight item is the simple
// way to keep many reads queued at the device; the kernel merges neighbouring ones because
// items start in disk order (docs/design.md, "Bulk import and export").
//
// Thread safety: RunOrdered is called from one thread; `work` runs on the workers
// concurrently; `tick` runs on the calling thread only. ByteBudget is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>

namespace cairn::cli {

// Named bound: worker threads of a bulk command (--jobs).
inline constexpr int kMaxJobs = 64;
inline constexpr int kDefaultJobs = 16;
// How often RunOrdered's caller gets its tick (signals, progress, checkpoints).
inline constexpr std::chrono::milliseconds kTickInterval{100};

// Runs work(i) for every i in [0, n) on `jobs` threads (1..kMaxJobs). Items start in increasing
// order of i. Once *stop is true no further item starts; items already started finish. While
// the workers run, the calling thread calls tick() about every kTickInterval, and once more
// when all have finished. Returns the number of items started.
size_t RunOrdered(size_t n, int jobs, const std::function<void(size_t)>& work,
                  const std::function<void()>& tick, std::atomic<bool>* stop);

// Bytes held by workers at once. Acquire waits while the budget is spent, but always admits a
// request when nothing is held, so one item larger than the budget still makes progress.
class ByteBudget {
 public:
  explicit ByteBudget(uint64_t limit) : limit_(limit) {}
  void Acquire(uint64_t n);
  void Release(uint64_t n);

 private:
  const uint64_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t held_ = 0;
};

}  // namespace cairn::cli
