// An orderly exit on SIGINT, SIGTERM, SIGHUP and a broken pipe.
//
// Why: a cairn process that dies mid-command skips Store::Close, and the next open treats that
// as a crash: recovery seals the active volume, whose unused (pre-written) capacity is never
// appended to again, and `get -o` would leave its temporary file behind. So the first signal
// only sets a flag and wakes the main thread's waits; the command fails its current step,
// cleans up and closes the store, and then the process dies of that same signal, so the shell
// sees what it expects (Ctrl-C in a loop, a pipeline cut short by `head`). A second signal
// kills at once, in case the orderly exit itself is stuck.
//
// SIGPIPE is ignored; a write that fails with EPIPE calls NoteBrokenPipe() instead.
//
// Thread safety: the handlers use SA_RESTART, so the engine's threads never see EINTR; only
// the main thread waits with WaitReady(), which watches the wake-up pipe.
#pragma once

#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::cli {

void InstallSignalHandlers();

// The first signal received (SIGPIPE after NoteBrokenPipe), else 0.
int PendingSignal();

// A write failed with EPIPE: whoever read our output has gone, as if SIGPIPE had arrived.
void NoteBrokenPipe();

// Waits until `fd` is ready for `events` (POLLIN or POLLOUT) or a signal is pending; an error
// status in the latter case. `name` is for messages.
Status WaitReady(int fd, short events, std::string_view name);

// "SIGINT", "SIGTERM", "SIGHUP", "SIGPIPE", else "signal N".
std::string SignalName(int sig);

// Ends the process by `sig` with its default action, as if the handler had never been there.
[[noreturn]] void DieOfSignal(int sig);

}  // namespace cairn::cli
