// Progress of a bulk command (import, export): files and bytes done out of a total, the rate
// and the time left.
//
// On a terminal it is one line, redrawn in place at most every kTtyRedrawMs; otherwise (a log
// file, CI) a plain line every kPlainLineMs, so logs stay short but show the run is alive.
// Progress goes to stderr: stdout carries the final summary, which scripts read.
//
// Thread safety: a ProgressReporter is used by one thread (the command's main thread); the
// counts it is given come from atomics the workers update.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace cairn::cli {

inline constexpr int64_t kTtyRedrawMs = 200;
inline constexpr int64_t kPlainLineMs = 2000;

struct ProgressCounts {
  uint64_t files_done = 0;
  uint64_t files_total = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
};

// "import: 1234/10000 files, 617.0 MiB/4.7 GiB, 512.3 MB/s, ETA 0:07". The rate is decimal MB
// per second (as fio and dd print it); the ETA is h:mm:ss or m:ss, "?" until bytes have moved.
std::string FormatProgress(std::string_view verb, const ProgressCounts& c, double elapsed_s);

// "1:02:03" or "2:03".
std::string FormatDuration(double seconds);

class ProgressReporter {
 public:
  using Clock = std::chrono::steady_clock;
  // `out` is not owned. `tty`: redraw one line with '\r' (isatty of `out`).
  ProgressReporter(std::string verb, std::FILE* out, bool tty, Clock::time_point start);

  // Prints the progress if a line is due at `now`.
  void Tick(const ProgressCounts& c, Clock::time_point now);
  // Clears the redrawn line (terminal) so the summary that follows starts on a clean line.
  void Finish();

 private:
  std::string verb_;
  std::FILE* out_;
  bool tty_;
  Clock::time_point start_;
  Clock::time_point last_;
  bool drawn_ = false;
};

}  // namespace cairn::cli
