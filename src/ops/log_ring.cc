#include "ops/log_ring.h"

namespace cairn::ops {

RecentLogSink::RecentLogSink() { set_level(spdlog::level::warn); }

void RecentLogSink::sink_it_(const spdlog::details::log_msg& msg) {
  if (msg.level < spdlog::level::warn) return;
  if (msg.level == spdlog::level::warn) {
    warnings_.fetch_add(1, std::memory_order_relaxed);
  } else {
    errors_.fetch_add(1, std::memory_order_relaxed);
  }
  LogLine l;
  l.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch())
                  .count();
  const auto& name = spdlog::level::to_string_view(msg.level);
  l.level.assign(name.data(), name.size());
  l.text.assign(msg.payload.data(), std::min(msg.payload.size(), kRecentLogLineBytes));
  if (msg.payload.size() > kRecentLogLineBytes) l.text += "...";
  if (lines_.size() == kRecentLogLines) lines_.pop_front();
  lines_.push_back(std::move(l));
}

std::vector<LogLine> RecentLogSink::Recent() {
  std::lock_guard<std::mutex> l(mutex_);
  return {lines_.begin(), lines_.end()};
}

}  // namespace cairn::ops
