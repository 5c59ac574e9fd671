#include "cli/progress.h"

#include <fmt/format.h>

#include <cmath>

#include "cli/output.h"

namespace cairn::cli {

std::string FormatDuration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e9) return "?";
  auto s = static_cast<uint64_t>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string FormatProgress(std::string_view verb, const ProgressCounts& c, double elapsed_s) {
  const double mbps = elapsed_s > 0 ? static_cast<double>(c.bytes_done) / 1e6 / elapsed_s : 0.0;
  std::string eta = "?";
  if (c.bytes_done > 0 && elapsed_s > 0) {
    const uint64_t left = c.bytes_total > c.bytes_done ? c.bytes_total - c.bytes_done : 0;
    eta = FormatDuration(static_cast<double>(left) * elapsed_s / static_cast<double>(c.bytes_done));
  } else if (c.files_total > 0 && c.files_done == c.files_total) {
    eta = FormatDuration(0);
  }
  return fmt::format("{}: {}/{} files, {}/{}, {:.1f} MB/s, ETA {}", verb, c.files_done,
                     c.files_total, HumanBytes(c.bytes_done), HumanBytes(c.bytes_total), mbps, eta);
}

ProgressReporter::ProgressReporter(std::string verb, std::FILE* out, bool tty,
                                   Clock::time_point start)
    : verb_(std::move(verb)), out_(out), tty_(tty), start_(start), last_(start) {}

void ProgressReporter::Tick(const ProgressCounts& c, Clock::time_point now) {
  const int64_t since_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now - last_).count();
  if (since_ms < (tty_ ? kTtyRedrawMs : kPlainLineMs)) return;
  last_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const std::string line = FormatProgress(verb_, c, elapsed);
  if (tty_) {
    // Carriage return, the line, then erase whatever a longer previous line left behind.
    std::fprintf(out_, "\r%s\033[K", line.c_str());
    drawn_ = true;
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

void ProgressReporter::Finish() {
  if (tty_ && drawn_) {
    std::fputs("\r\033[K", out_);
    std::fflush(out_);
  }
  drawn_ = false;
}

}  // namespace cairn::cli
