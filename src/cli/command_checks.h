// Checks and failures shared by every command, in every mode (no engine needed).
#pragma once

#include <string_view>

#include "cairn/status.h"
#include "cli/outcome.h"

namespace cairn::cli {

// Checks a key from the command line (engine limits: 1..kMaxKeyBytes bytes) before the store is
// opened, so a bad key never creates a store. Usage outcome on failure.
Outcome CheckKey(std::string_view key);

// A failure of the engine or the OS: exit 1 with the status' message. Never NotFound's exit 3,
// which is reserved for keys (ENOENT on a file also arrives as Status::NotFound).
Outcome Failure(const Status& s);

}  // namespace cairn::cli
