#include "util/status_table.h"

namespace cairn {

const char* RetryAdviceName(RetryAdvice a) {
  switch (a) {
    case RetryAdvice::kDone: return "done";
    case RetryAdvice::kFixInput: return "fix the input";
    case RetryAdvice::kReadThenDecide: return "read, then decide";
    case RetryAdvice::kBackoff: return "retry after a pause";
    case RetryAdvice::kOtherReplica: return "try another replica now";
    case RetryAdvice::kAlarm: return "raise an alarm";
  }
  return "unknown";
}

}  // namespace cairn
