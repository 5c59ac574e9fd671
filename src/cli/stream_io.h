// Byte streams between files (or stdin/stdout) and the store, in bounded pieces: no command
// ever holds a whole value in memory, so cairn can move objects larger than RAM.
//
// Thread safety: none needed; each object is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/status.h"
#include "cairn/store.h"

namespace cairn::cli {

// Named bound: bytes moved per read(2)/write(2) when streaming a value.
inline constexpr size_t kStreamBufferBytes = size_t{1} << 20;

// Owns a file descriptor; closes it (ignoring errors) unless Close() was called.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  // Takes ownership of `fd`, closing the descriptor held before.
  void Reset(int fd);
  // close(2), reporting its error: for a written file it can be the first sign of lost data.
  Status Close(std::string_view name);

 private:
  int fd_ = -1;
};

// Opens `path` for reading a value. The error names the file and says why (missing,
// unreadable, a directory).
Result<int> OpenInputFile(const std::string& path);

// A ValueSource over a descriptor (a file or stdin). It does not own the descriptor.
class FdSource final : public ValueSource {
 public:
  // `name` is how errors refer to the input, e.g. "stdin" or the file's path.
  FdSource(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  Result<size_t> Read(char* buf, size_t n) override;

 private:
  int fd_;
  std::string name_;
};

// Writes all of `data` to `fd`, retrying short writes and EINTR.
Status WriteAll(int fd, std::string_view data, std::string_view name);

// Copies the rest of `reader` to `fd`. Corruption if it yields a different number of bytes
// than its ObjectInfo promises (the reader's checksums cover content, this covers length).
Status CopyObject(ObjectReader* reader, int fd, std::string_view name);

// Writes text to stdout. Unlike fmt::print it never throws: a write error stays in
// ferror(stdout) for main() to report once (EPIPE is noted as a broken pipe).
void PrintOut(std::string_view text);

// Flushes stdout; returns 0, or the errno of the first failed write to it.
int FlushStdout();

}  // namespace cairn::cli
