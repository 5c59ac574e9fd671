// Finding and running cairn-local, the engine-linked sibling of `cairn` (cli/local_backend.h).
#pragma once

#include <string>

#include "cli/outcome.h"

namespace cairn::cli {

// The file name of the engine-linked binary; it is built and installed beside `cairn`.
inline constexpr char kLocalToolName[] = "cairn-local";

// The path of cairn-local: the directory of this process's binary (/proc/self/exe, symbolic
// links resolved, so a link to cairn elsewhere still finds it) joined with kLocalToolName.
// Empty if /proc/self/exe cannot be read.
std::string LocalToolPath();

// Replaces this process with cairn-local, given the same `argv` (argv[0] included): same pid,
// descriptors, environment and signal mask. Returns only if that fails, with an error that names
// the path and says what to do.
Outcome ExecLocalTool(char** argv);

}  // namespace cairn::cli
