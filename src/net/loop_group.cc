#include "net/loop_group.h"

#include "util/thread_name.h"

namespace cairn::net {

LoopGroup::LoopGroup(size_t n) {
  if (n == 0) n = 1;
  for (size_t i = 0; i < n; i++) {
    // Concurrency hint 1: each io_context is run by exactly one thread, so Asio can skip
    // internal locking.
    loops_.push_back(std::make_unique<asio::io_context>(1));
    guards_.emplace_back(asio::make_work_guard(*loops_.back()));
  }
}

LoopGroup::~LoopGroup() {
  Stop();
  for (auto& l : loops_) l->stop();
  Join();
}

asio::io_context& LoopGroup::Next() {
  asio::io_context& l = *loops_[next_];
  next_ = (next_ + 1) % loops_.size();
  return l;
}

void LoopGroup::Start() {
  for (auto& l : loops_) {
    asio::io_context* ctx = l.get();
    threads_.emplace_back([ctx] {
      SetThreadName("cairn-loop");
      ctx->run();
    });
  }
}

void LoopGroup::Stop() {
  for (auto& g : guards_) g.reset();
}

void LoopGroup::Join() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace cairn::net
