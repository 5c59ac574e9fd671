// CairnMain: the whole `cairn` tool (arguments, commands, exit codes; cairn_main.cc), shared by
// its two binaries (cli/local_backend.h): `cairn` passes no backend, `cairn-local` the engine's.
#pragma once

namespace cairn::cli {

class LocalBackend;

// Runs one command line and returns the exit code. With `local` null, a command that needs a
// local store replaces this process with cairn-local (cli/local_tool.h).
int CairnMain(int argc, char** argv, const LocalBackend* local);

}  // namespace cairn::cli
