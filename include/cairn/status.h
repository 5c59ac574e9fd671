// Status and Result<T>: how every recoverable error travels in Cairn.
//
// A Status is a code plus a one-line message. OK carries no message and costs no allocation.
// Codes are chosen by what the caller should do next (STYLE.md habit 10):
//
//   code              caller's next step                       examples
//   kNotFound         expected outcome; nothing to do          get/head/rm of a missing key
//   kInvalidArgument  fix the input; retrying won't help       empty key, key over a limit
//   kCorruption       raise an alarm; the bytes are bad        checksum mismatch on read
//   kIOError          raise an alarm; the device failed        EIO from pwrite/fdatasync
//   kNoSpace          free space, then retry                   ENOSPC
//   kBusy             another process holds it; retry later    store locked by pid N
//   kReadOnly         reopen after fixing the cause            store sealed after an fsync error
//   kNotSupported     use another feature                      unknown format version
//   kUnavailable      try another replica or node now          a node is down, no quorum
//   kDeadlineExceeded the outcome is unknown: read, then retry   no reply within the deadline
//   kConflict         re-read the current version, then decide  if-match failed; a replica
//                                                              holds a newer version
//   kPermissionDenied fix the credentials; retrying won't help  wrong or missing key
//   kLimitExceeded    fix the input; the message names the limit key over max_key_bytes
//
// One table (src/util/status_table.h) maps every code to the wire status, the HTTP status and
// the S3 error code; a test walks every code.
//
// Thread safety: Status and Result are values; distinct objects may be used from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cairn {

class [[nodiscard]] Status {
 public:
  enum class Code : uint8_t {
    kOk = 0,
    kNotFound = 1,
    kInvalidArgument = 2,
    kCorruption = 3,
    kIOError = 4,
    kNoSpace = 5,
    kBusy = 6,
    kReadOnly = 7,
    kNotSupported = 8,
    kUnavailable = 9,
    kDeadlineExceeded = 10,
    kConflict = 11,
    kPermissionDenied = 12,
    kLimitExceeded = 13,
  };
  static constexpr uint8_t kMaxCode = 13;

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status InvalidArgument(std::string_view msg) { return Status(Code::kInvalidArgument, msg); }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  static Status NoSpace(std::string_view msg) { return Status(Code::kNoSpace, msg); }
  static Status Busy(std::string_view msg) { return Status(Code::kBusy, msg); }
  static Status ReadOnly(std::string_view msg) { return Status(Code::kReadOnly, msg); }
  static Status NotSupported(std::string_view msg) { return Status(Code::kNotSupported, msg); }
  static Status Unavailable(std::string_view msg) { return Status(Code::kUnavailable, msg); }
  static Status DeadlineExceeded(std::string_view msg) {
    return Status(Code::kDeadlineExceeded, msg);
  }
  static Status Conflict(std::string_view msg) { return Status(Code::kConflict, msg); }
  static Status PermissionDenied(std::string_view msg) {
    return Status(Code::kPermissionDenied, msg);
  }
  static Status LimitExceeded(std::string_view msg) { return Status(Code::kLimitExceeded, msg); }
  // A status with code `c` (any code; kOk gives OK and drops the message).
  static Status FromCode(Code c, std::string_view msg) {
    return c == Code::kOk ? Status() : Status(c, msg);
  }
  // Maps an errno from a failed system call to the right code; `context` names the operation
  // and the file, e.g. "pwrite volumes/00000003.vol".
  static Status FromErrno(int err, std::string_view context);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsNoSpace() const { return code_ == Code::kNoSpace; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsReadOnly() const { return code_ == Code::kReadOnly; }
  bool IsNotSupported() const { return code_ == Code::kNotSupported; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  bool IsDeadlineExceeded() const { return code_ == Code::kDeadlineExceeded; }
  bool IsConflict() const { return code_ == Code::kConflict; }
  bool IsPermissionDenied() const { return code_ == Code::kPermissionDenied; }
  bool IsLimitExceeded() const { return code_ == Code::kLimitExceeded; }

  const std::string& message() const { return msg_; }
  // "Corruption: value checksum mismatch at volumes/00000001.vol offset 4096"
  std::string ToString() const;
  static const char* CodeName(Code c);

  // Returns a copy with `prefix + ": "` put before the message; OK stays OK.
  Status WithContext(std::string_view prefix) const;

 private:
  Status(Code c, std::string_view msg) : code_(c), msg_(msg) {}
  Code code_ = Code::kOk;
  std::string msg_;
};

// A value or the Status that explains why there is none. REQUIRES for value(): ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T v) : value_(std::move(v)) {}  // NOLINT: implicit by design, like std::optional
  Result(Status s) : status_(std::move(s)) {}  // NOLINT
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace cairn

// Returns early from the enclosing function if `expr` (a Status) is not OK.
#define CAIRN_RETURN_IF_ERROR(expr)              \
  do {                                           \
    ::cairn::Status _cairn_st = (expr);          \
    if (!_cairn_st.ok()) return _cairn_st;       \
  } while (0)

#define CAIRN_CONCAT_INNER(a, b) a##b
#define CAIRN_CONCAT(a, b) CAIRN_CONCAT_INNER(a, b)
// `CAIRN_ASSIGN_OR_RETURN(auto x, f());` declares x from a Result or returns its Status.
#define CAIRN_ASSIGN_OR_RETURN(decl, expr)                                  \
  auto CAIRN_CONCAT(_cairn_r_, __LINE__) = (expr);                          \
  if (!CAIRN_CONCAT(_cairn_r_, __LINE__).ok())                              \
    return CAIRN_CONCAT(_cairn_r_, __LINE__).status();                      \
  decl = std::move(CAIRN_CONCAT(_cairn_r_, __LINE__)).value()
