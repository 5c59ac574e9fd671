// A negative compile test of clang's thread-safety analysis: this file must NOT compile in a
// clang build. scripts/test's thread-safety stage builds it (the target mutex_violation_test,
// never part of `all`) and fails unless clang rejects each of the two violations below: a guarded
// field written without its lock, and two locks taken against their declared order. It proves
// that util/thread_annotations.h expands to real annotations under clang and that the build's
// warning flags make them errors, so a clean build of the engine means something.
#include "util/mutex.h"

namespace cairn {
namespace {

class Violations {
 public:
  void WriteWithoutLock() { value_ = 1; }  // expected: "requires holding mutex 'mu_'"
  void OutOfOrder() {
    MutexLock second(&second_);
    MutexLock first(&first_);  // expected: "must be acquired before"
  }

 private:
  Mutex mu_;
  int value_ GUARDED_BY(mu_) = 0;
  Mutex first_ ACQUIRED_BEFORE(second_);
  Mutex second_;
};

}  // namespace
}  // namespace cairn

int main() {
  cairn::Violations v;
  v.WriteWithoutLock();
  v.OutOfOrder();
  return 0;
}
