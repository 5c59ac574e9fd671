#include "cairn/status.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace cairn {

const char* Status::CodeName(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "NotFound";
    case Code::kInvalidArgument: return "InvalidArgument";
    case Code::kCorruption: return "Corruption";
    case Code::kIOError: return "IOError";
    case Code::kNoSpace: return "NoSpace";
    case Code::kBusy: return "Busy";
    case Code::kReadOnly: return "ReadOnly";
    case Code::kNotSupported: return "NotSupported";
    case Code::kUnavailable: return "Unavailable";
    case Code::kDeadlineExceeded: return "DeadlineExceeded";
    case Code::kConflict: return "Conflict";
    case Code::kPermissionDenied: return "PermissionDenied";
    case Code::kLimitExceeded: return "LimitExceeded";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = CodeName(code_);
  if (!msg_.empty()) {
    s += ": ";
    s += msg_;
  }
  return s;
}

Status Status::WithContext(std::string_view prefix) const {
  if (ok()) return *this;
  std::string m(prefix);
  m += ": ";
  m += msg_;
  return Status(code_, m);
}

Status Status::FromErrno(int err, std::string_view context) {
  std::string m(context);
  m += ": ";
  m += std::strerror(err);
  switch (err) {
    case ENOENT: return NotFound(m);
    case ENOSPC:
    case EDQUOT: return NoSpace(m);
    case EINVAL:
    case ENAMETOOLONG:
    case ENOTDIR:
    case EISDIR: return InvalidArgument(m);
    case EWOULDBLOCK: return Busy(m);
    case EROFS: return ReadOnly(m);
    default: return IOError(m);
  }
}

}  // namespace cairn
