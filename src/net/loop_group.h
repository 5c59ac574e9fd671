// LoopGroup: one io_context per thread ("one loop per core"). Each connection lives on one loop
// for its whole life, so a connection's state is only ever touched by that loop's thread.
//
// Thread safety: loop(i) may be used from any thread (io_context is thread-safe for post);
// Start/Stop/Join from the owning thread.
#pragma once

#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "net/asio.h"

namespace cairn::net {

class LoopGroup {
 public:
  explicit LoopGroup(size_t n);
  ~LoopGroup();
  size_t size() const { return loops_.size(); }
  asio::io_context& loop(size_t i) { return *loops_[i]; }
  // The next loop, round robin (for spreading new connections).
  asio::io_context& Next();
  void Start();
  // Lets each loop return once it has no more work; then Join waits for the threads.
  void Stop();
  void Join();

 private:
  std::vector<std::unique_ptr<asio::io_context>> loops_;
  std::vector<std::optional<asio::executor_work_guard<asio::io_context::executor_type>>> guards_;
  std::vector<std::thread> threads_;
  size_t next_ = 0;
};

}  // namespace cairn::net
