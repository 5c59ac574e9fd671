// The status table: one row per cairn::Status code, saying what that code becomes on the wire
// (docs/protocol.md section 5), over HTTP (the status and the default S3 error code the S3
// gateway sends), and what a caller should do next (STYLE.md habits 10 and 26).
//
// Every layer maps codes through this table and nowhere else: the server's replies
// (proto::ToWireStatus), the client's reading of them (proto::FromWireStatus), and the S3
// gateway. status_table_test walks every code 0..Status::kMaxCode and fails if one has no row,
// so a new code cannot be added without deciding all of this.
//
// The S3 code is the default for the code; the gateway may refine it where it knows more
// (NotFound becomes NoSuchKey, NoSuchBucket or NoSuchUpload; LimitExceeded naming max_key_bytes
// becomes KeyTooLongError, naming max_meta_bytes MetadataTooLarge).
//
// Thread safety: constant data.
#pragma once

#include <array>
#include <cstdint>

#include "cairn/status.h"

namespace cairn {

// What a caller should do after a code (the "caller's next step" column of cairn/status.h).
enum class RetryAdvice : uint8_t {
  kDone = 0,        // OK, or an expected outcome (NotFound): nothing to retry
  kFixInput,        // retrying the same request cannot help: change it (or the credentials)
  kReadThenDecide,  // the outcome is unknown, or another version won: read, then decide
  kBackoff,         // the same target may succeed later: retry after a pause
  kOtherReplica,    // this target cannot serve now: try another replica or node at once
  kAlarm,           // something is broken (bytes, device, store): raise an alarm
};

const char* RetryAdviceName(RetryAdvice a);

struct StatusRow {
  Status::Code code;
  uint16_t wire;     // the wire status (docs/protocol.md section 5)
  uint16_t http;     // the HTTP status
  const char* s3;    // the default S3 error code ("" for OK)
  RetryAdvice retry;
};

// Indexed by code. Invariant: kStatusTable[c].code == c (checked at compile time below).
inline constexpr std::array<StatusRow, Status::kMaxCode + 1> kStatusTable = {{
    {Status::Code::kOk, 0, 200, "", RetryAdvice::kDone},
    {Status::Code::kNotFound, 1, 404, "NoSuchKey", RetryAdvice::kDone},
    {Status::Code::kInvalidArgument, 2, 400, "InvalidArgument", RetryAdvice::kFixInput},
    {Status::Code::kCorruption, 3, 500, "InternalError", RetryAdvice::kAlarm},
    {Status::Code::kIOError, 4, 500, "InternalError", RetryAdvice::kAlarm},
    {Status::Code::kNoSpace, 5, 507, "InsufficientStorage", RetryAdvice::kBackoff},
    {Status::Code::kBusy, 6, 503, "SlowDown", RetryAdvice::kBackoff},
    {Status::Code::kReadOnly, 7, 503, "ServiceUnavailable", RetryAdvice::kAlarm},
    {Status::Code::kNotSupported, 8, 501, "NotImplemented", RetryAdvice::kFixInput},
    {Status::Code::kUnavailable, 9, 503, "ServiceUnavailable", RetryAdvice::kOtherReplica},
    // S3 itself answers 500 InternalError when its back end does not answer in time; SDKs
    // retry it, which suits "outcome unknown" for S3's idempotent requests.
    {Status::Code::kDeadlineExceeded, 10, 500, "InternalError", RetryAdvice::kReadThenDecide},
    {Status::Code::kConflict, 11, 412, "PreconditionFailed", RetryAdvice::kReadThenDecide},
    {Status::Code::kPermissionDenied, 12, 403, "AccessDenied", RetryAdvice::kFixInput},
    {Status::Code::kLimitExceeded, 13, 400, "InvalidArgument", RetryAdvice::kFixInput},
}};

constexpr bool StatusTableIsIndexedByCode() {
  for (size_t i = 0; i < kStatusTable.size(); i++)
    if (static_cast<size_t>(kStatusTable[i].code) != i) return false;
  return true;
}
static_assert(StatusTableIsIndexedByCode(), "kStatusTable rows must be in code order");

// The row of `c`, or nullptr for a value outside the table (a code added to Status without a
// row; status_table_test catches that).
constexpr const StatusRow* FindStatusRow(Status::Code c) {
  const size_t i = static_cast<size_t>(c);
  return i < kStatusTable.size() ? &kStatusTable[i] : nullptr;
}

// The row whose wire status is `wire`, or nullptr (a wire-only status, or an unknown one).
constexpr const StatusRow* FindStatusRowByWire(uint16_t wire) {
  for (const StatusRow& r : kStatusTable)
    if (r.wire == wire) return &r;
  return nullptr;
}

}  // namespace cairn
