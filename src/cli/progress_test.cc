#include "cli/progress.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace cairn::cli {
namespace {

using std::chrono::milliseconds;

TEST(FormatDuration, MinutesAndHours) {
  EXPECT_EQ("0:00", FormatDuration(0));
  EXPECT_EQ("0:07", FormatDuration(7.4));
  EXPECT_EQ("2:03", FormatDuration(123));
  EXPECT_EQ("1:02:03", FormatDuration(3723));
  EXPECT_EQ("?", FormatDuration(-1));
  EXPECT_EQ("?", FormatDuration(1e12));
}

TEST(FormatProgress, RateAndEta) {
  ProgressCounts c{250, 1000, 500'000'000, 2'000'000'000};
  // 500 MB in 5 s: 100 MB/s; 1500 MB left at that rate: 15 s.
  EXPECT_EQ("import: 250/1000 files, 476.8 MiB/1.9 GiB, 100.0 MB/s, ETA 0:15",
            FormatProgress("import", c, 5.0));
}

TEST(FormatProgress, UnknownEtaBeforeAnyBytes) {
  ProgressCounts c{0, 10, 0, 100};
  EXPECT_EQ("export: 0/10 files, 0 B/100 B, 0.0 MB/s, ETA ?", FormatProgress("export", c, 0));
}

TEST(FormatProgress, EmptyFilesOnlyAreDone) {
  ProgressCounts c{3, 3, 0, 0};
  EXPECT_EQ("import: 3/3 files, 0 B/0 B, 0.0 MB/s, ETA 0:00", FormatProgress("import", c, 1));
}

// Captures what a reporter writes.
class Capture {
 public:
  Capture() : f_(::open_memstream(&buf_, &len_)) {}
  ~Capture() {
    std::fclose(f_);
    std::free(buf_);
  }
  std::FILE* file() { return f_; }
  std::string text() {
    std::fflush(f_);
    return std::string(buf_, len_);
  }

 private:
  char* buf_ = nullptr;
  size_t len_ = 0;
  std::FILE* f_;
};

// A fraction past either end fills the bar or empties it, never more than its width (a count
// of reports over the total it is measured against would have thrown std::length_error).
TEST(ProgressBar, FillsItsWidthAndClampsTheFraction) {
  EXPECT_EQ(ProgressBar(0.5, 4), "[##--]");
  EXPECT_EQ(ProgressBar(0.0, 3), "[---]");
  EXPECT_EQ(ProgressBar(1.0, 3), "[###]");
  EXPECT_EQ(ProgressBar(7.0 / 5.0, 5), "[#####]");
  EXPECT_EQ(ProgressBar(-0.5, 2), "[--]");
}

TEST(ProgressReporter, PlainLinesAreSpacedOut) {
  Capture cap;
  auto t0 = ProgressReporter::Clock::time_point();
  ProgressReporter r("import", cap.file(), /*tty=*/false, t0);
  ProgressCounts c{1, 2, 10, 20};
  r.Tick(c, t0 + milliseconds(500));  // too soon
  EXPECT_EQ("", cap.text());
  r.Tick(c, t0 + milliseconds(kPlainLineMs));
  EXPECT_EQ("import: 1/2 files, 10 B/20 B, 0.0 MB/s, ETA 0:02\n", cap.text());
  r.Tick(c, t0 + milliseconds(kPlainLineMs + 100));  // too soon after the last line
  r.Finish();                                        // nothing to clear
  const std::string s = cap.text();
  EXPECT_EQ(1, std::count(s.begin(), s.end(), '\n'));
}

TEST(ProgressReporter, TerminalRedrawsOneLineAndClearsIt) {
  Capture cap;
  auto t0 = ProgressReporter::Clock::time_point();
  ProgressReporter r("export", cap.file(), /*tty=*/true, t0);
  ProgressCounts c{1, 2, 10, 20};
  r.Tick(c, t0 + milliseconds(kTtyRedrawMs));
  r.Tick(c, t0 + milliseconds(2 * kTtyRedrawMs));
  r.Finish();
  const std::string s = cap.text();
  EXPECT_EQ(std::string::npos, s.find('\n'));
  EXPECT_EQ(3, std::count(s.begin(), s.end(), '\r'));
  EXPECT_TRUE(s.ends_with("\r\033[K"));
}

}  // namespace
}  // namespace cairn::cli
