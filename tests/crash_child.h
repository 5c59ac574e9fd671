// Crash children for engine tests: a test registers named bodies with CRASH_CHILD and runs one
// with CrashAfter(dir, name), in a re-executed copy of the test binary that opens the store,
// runs the body and _exit()s without closing it: what SIGKILL leaves (the page cache keeps what
// was written). The binary's main() must call RunCrashChildIfAsked first.
//
// Re-executing (not just forking) matters: RocksDB's thread pool does not survive a fork.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "cairn/store.h"

namespace cairn::test {

using ChildFn = void (*)(Store*);
inline std::map<std::string, ChildFn>& Children() {
  static std::map<std::string, ChildFn> m;
  return m;
}
struct RegisterChild {
  RegisterChild(const char* name, ChildFn fn) { Children()[name] = fn; }
};
#define CRASH_CHILD(name)                                     \
  void name(::cairn::Store* s);                               \
  ::cairn::test::RegisterChild register_##name(#name, name);  \
  void name(::cairn::Store* s)

// Runs child `name` on the store in `dir` in another process that exits without closing it.
inline void CrashAfter(const std::string& dir, const std::string& name) {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/proc/self/exe", "crash-child", "--crash-child", name.c_str(), dir.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ASSERT_EQ(pid, ::waitpid(pid, &status, 0));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child failed: " << status;
}

// In main(): if this process is a crash child, runs it (never returns); otherwise returns.
inline void RunCrashChildIfAsked(int argc, char** argv, const StoreOptions& options) {
  if (argc != 4 || std::string(argv[1]) != "--crash-child") return;
  auto it = Children().find(argv[2]);
  if (it == Children().end()) ::_exit(126);
  auto s = Store::Open(argv[3], options);
  if (!s.ok()) ::_exit(2);
  it->second(s->get());
  ::_exit(0);  // no Close: an unclean shutdown
}

}  // namespace cairn::test
