// RecentLogSink: an spdlog sink that keeps the newest warning and error lines in memory, for
// the status page ("recent warnings/errors") and `cairn status`. cairnd adds it beside its
// stderr or file sink; lines below `warn` never reach it.
//
// Bounded: at most kRecentLogLines lines of at most kRecentLogLineBytes each (longer ones are
// cut, marked with "..."); older lines are dropped, and counted.
//
// Thread safety: spdlog calls sink_it_ under the sink's mutex; Recent() takes the same mutex.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace cairn::ops {

inline constexpr size_t kRecentLogLines = 100;
inline constexpr size_t kRecentLogLineBytes = 1024;

struct LogLine {
  int64_t unix_ms = 0;
  std::string level;  // "warning", "error", "critical"
  std::string text;   // the message (key=value pairs for cairnd)
};

class RecentLogSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  RecentLogSink();
  // Newest last.
  std::vector<LogLine> Recent();
  uint64_t warnings() const { return warnings_.load(std::memory_order_relaxed); }
  uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  std::deque<LogLine> lines_;
  std::atomic<uint64_t> warnings_{0};
  std::atomic<uint64_t> errors_{0};  // error and critical
};

}  // namespace cairn::ops
