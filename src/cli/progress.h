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
#include <functional>
#include <future>
#include <string>
#include <string_view>
#include <utility>

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

// Progress counted in bytes alone (verify, reclaim): "verify: 41% 1.9 GiB/4.7 GiB read,
// 512.3 MB/s, ETA 0:07"; with bar_width > 0 a bar follows the verb:
// "verify: [########------------] 41% ...". `what` names the bytes ("read").
std::string FormatByteProgress(std::string_view verb, std::string_view what, uint64_t done,
                               uint64_t total, double elapsed_s, int bar_width);

// Named bound: the width of a terminal progress bar, in characters.
inline constexpr int kProgressBarWidth = 24;

// "[#########---------------]": `frac` (clamped to 0..1) of `width` characters filled.
std::string ProgressBar(double frac, int width);

// This process's I/O so far (/proc/self/io: bytes passed to read and write calls, page cache
// or not), for progress of work that cannot report its own (verify and reclaim run inside the
// engine). Zeros where /proc is missing.
struct ProcessIo {
  uint64_t read_bytes = 0;
  uint64_t written_bytes = 0;
};
ProcessIo ReadProcessIo();

class ProgressReporter;

// Runs `work` on a thread of its own while the calling thread reports `sample()` (bytes done,
// bytes total) through `reporter` every kTtyRedrawMs / kPlainLineMs; returns what `work`
// returned. The reporter's line is cleared before returning.
template <typename Work>
auto RunWithByteProgress(ProgressReporter* reporter, std::string_view what,
                         const std::function<std::pair<uint64_t, uint64_t>()>& sample, Work work)
    -> decltype(work());

class ProgressReporter {
 public:
  using Clock = std::chrono::steady_clock;
  // `out` is not owned. `tty`: redraw one line with '\r' (isatty of `out`).
  ProgressReporter(std::string verb, std::FILE* out, bool tty, Clock::time_point start);

  // Prints the progress if a line is due at `now`.
  void Tick(const ProgressCounts& c, Clock::time_point now);
  // The same for progress in bytes alone (FormatByteProgress; a bar on a terminal).
  void TickBytes(std::string_view what, uint64_t done, uint64_t total, Clock::time_point now);
  // The same for progress the caller words itself: "VERB: TEXT".
  void TickText(std::string_view text, Clock::time_point now);
  // Clears the redrawn line (terminal) so the summary that follows starts on a clean line.
  void Finish();
  // Whether a line is due at `now` (Tick and TickBytes print only then).
  bool Due(Clock::time_point now) const;
  bool tty() const { return tty_; }

 private:
  std::string verb_;
  std::FILE* out_;
  bool tty_;
  Clock::time_point start_;
  Clock::time_point last_;
  bool drawn_ = false;

  void Draw(const std::string& line, Clock::time_point now);
};

template <typename Work>
auto RunWithByteProgress(ProgressReporter* reporter, std::string_view what,
                         const std::function<std::pair<uint64_t, uint64_t>()>& sample, Work work)
    -> decltype(work()) {
  auto result = std::async(std::launch::async, std::move(work));
  // Ticks at the terminal's redraw rate; the reporter decides when a line is due.
  while (result.wait_for(std::chrono::milliseconds(kTtyRedrawMs / 2)) !=
         std::future_status::ready) {
    const auto now = ProgressReporter::Clock::now();
    if (!reporter->Due(now)) continue;  // sample only when a line will be printed
    const auto [done, total] = sample();
    reporter->TickBytes(what, done, total, now);
  }
  reporter->Finish();
  return result.get();
}

}  // namespace cairn::cli
