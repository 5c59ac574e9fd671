// RunBlocking: runs a blocking call (an engine call that may read the disk or wait for a group
// commit) on a thread pool and resumes the calling coroutine on its own event loop with the
// result. The loop thread never blocks on the disk (issue 4).
//
// Thread safety: `f` runs on a pool thread; it must not touch loop-owned state. The coroutine
// is suspended meanwhile, so `f` may use references into the coroutine's frame.
#pragma once

#include <optional>
#include <type_traits>

#include "net/asio.h"

namespace cairn::net {

template <typename F>
asio::awaitable<std::invoke_result_t<F&>> RunBlocking(asio::thread_pool& pool, F f) {
  using R = std::invoke_result_t<F&>;
  std::optional<R> result;
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      [&pool, &f, &result](auto handler) {
        asio::post(pool, [&f, &result, h = std::move(handler)]() mutable {
          result.emplace(f());
          // Resumes the coroutine on its own executor (its event loop), never on the pool.
          auto ex = asio::get_associated_executor(h);
          asio::dispatch(ex, std::move(h));
        });
      },
      asio::use_awaitable);
  co_return std::move(*result);
}

}  // namespace cairn::net
