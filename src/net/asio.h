// Includes Boost.Asio for Cairn. Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>; including it first keeps every user compiling (g++ 12, C++20).
#pragma once

#include <utility>

#include <boost/asio.hpp>

namespace cairn::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
}  // namespace cairn::net
