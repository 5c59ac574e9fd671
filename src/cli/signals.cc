#include "cli/signals.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

namespace cairn::cli {
namespace {

static_assert(std::atomic<int>::is_always_lock_free, "used from a signal handler");
std::atomic<int> g_signal{0};
// The self-pipe: a byte written by the handler makes WaitReady's poll return, whichever
// thread the signal was delivered to.
int g_wake[2] = {-1, -1};

void SetPending(int sig) {
  int none = 0;
  g_signal.compare_exchange_strong(none, sig);
}

void OnSignal(int sig) {
  const int saved_errno = errno;
  SetPending(sig);
  char b = 0;
  // Non-blocking: if the pipe is full, a wake-up is already pending.
  [[maybe_unused]] ssize_t n = ::write(g_wake[1], &b, 1);
  errno = saved_errno;
}

}  // namespace

void InstallSignalHandlers() {
  if (::pipe2(g_wake, O_CLOEXEC | O_NONBLOCK) != 0) g_wake[0] = g_wake[1] = -1;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_RESETHAND;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

int PendingSignal() { return g_signal.load(); }

void NoteBrokenPipe() { SetPending(SIGPIPE); }

Status WaitReady(int fd, short events, std::string_view name) {
  for (;;) {
    if (int sig = PendingSignal(); sig != 0)
      return Status::IOError(std::string(name) + ": interrupted by " + SignalName(sig));
    // A negative descriptor (no wake-up pipe) is ignored by poll(2).
    struct pollfd p[2] = {{fd, events, 0}, {g_wake[0], POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "poll " + std::string(name));
    }
    // Readiness, hang-up or error on fd: the read or write that follows reports which.
    if (p[0].revents != 0 && PendingSignal() == 0) return Status::OK();
  }
}

std::string SignalName(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    case SIGPIPE:
      return "SIGPIPE";
  }
  return "signal " + std::to_string(sig);
}

void DieOfSignal(int sig) {
  ::signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  ::raise(sig);
  ::_exit(128 + sig);  // not reached for the signals handled here
}

}  // namespace cairn::cli
