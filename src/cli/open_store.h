// Opening the store for a command, with errors turned into messages that say what to do.
#pragma once

#include <memory>

#include "cairn/store.h"
#include "cli/context.h"
#include "cli/outcome.h"

namespace cairn::cli {

// kCreate for commands that write a new object (the default store appears on first use);
// kExisting for the others, so a typo in --store is reported instead of leaving an empty store.
enum class OpenMode { kCreate, kExisting };

Outcome OpenStore(const Context& ctx, OpenMode mode, std::unique_ptr<Store>* store);

// Closes the store, reporting a failure to write the final checkpoint: the command's work is
// done, but the next open will have to replay the log.
Outcome CloseStore(const Context& ctx, Store* store);

// Checks a key from the command line (engine limits: 1..kMaxKeyBytes bytes) before the store is
// opened, so a bad key never creates a store. Usage outcome on failure.
Outcome CheckKey(std::string_view key);

// A failure of the engine or the OS: exit 1 with the status' message. Never NotFound's exit 3,
// which is reserved for keys (ENOENT on a file also arrives as Status::NotFound).
Outcome Failure(const Status& s);

}  // namespace cairn::cli
