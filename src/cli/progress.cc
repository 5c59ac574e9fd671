#include "cli/progress.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

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

std::string FormatByteProgress(std::string_view verb, std::string_view what, uint64_t done,
                               uint64_t total, double elapsed_s, int bar_width) {
  const uint64_t shown_total = std::max(total, done);
  const double frac =
      shown_total > 0 ? static_cast<double>(done) / static_cast<double>(shown_total) : 0.0;
  const double mbps = elapsed_s > 0 ? static_cast<double>(done) / 1e6 / elapsed_s : 0.0;
  std::string eta = "?";
  if (done > 0 && elapsed_s > 0)
    eta = FormatDuration(static_cast<double>(shown_total - done) * elapsed_s /
                         static_cast<double>(done));
  const std::string bar = bar_width > 0 ? ProgressBar(frac, bar_width) + " " : "";
  return fmt::format("{}: {}{:.0f}% {}/{} {}, {:.1f} MB/s, ETA {}", verb, bar, 100 * frac,
                     HumanBytes(done), HumanBytes(shown_total), what, mbps, eta);
}

std::string ProgressBar(double frac, int width) {
  const int full = static_cast<int>(std::clamp(frac, 0.0, 1.0) * width);
  return "[" + std::string(static_cast<size_t>(full), '#') +
         std::string(static_cast<size_t>(width - full), '-') + "]";
}

ProcessIo ReadProcessIo() {
  ProcessIo io;
  std::ifstream f("/proc/self/io");
  std::string key;
  uint64_t v = 0;
  while (f >> key >> v) {
    if (key == "rchar:") io.read_bytes = v;
    if (key == "wchar:") io.written_bytes = v;
  }
  return io;
}

ProgressReporter::ProgressReporter(std::string verb, std::FILE* out, bool tty,
                                   Clock::time_point start)
    : verb_(std::move(verb)), out_(out), tty_(tty), start_(start), last_(start) {}

bool ProgressReporter::Due(Clock::time_point now) const {
  const int64_t since_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now - last_).count();
  return since_ms >= (tty_ ? kTtyRedrawMs : kPlainLineMs);
}

void ProgressReporter::Tick(const ProgressCounts& c, Clock::time_point now) {
  if (!Due(now)) return;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  Draw(FormatProgress(verb_, c, elapsed), now);
}

void ProgressReporter::TickBytes(std::string_view what, uint64_t done, uint64_t total,
                                 Clock::time_point now) {
  if (!Due(now)) return;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  Draw(FormatByteProgress(verb_, what, done, total, elapsed, tty_ ? kProgressBarWidth : 0), now);
}

void ProgressReporter::TickText(std::string_view text, Clock::time_point now) {
  if (!Due(now)) return;
  Draw(verb_ + ": " + std::string(text), now);
}

void ProgressReporter::Draw(const std::string& line, Clock::time_point now) {
  last_ = now;
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
