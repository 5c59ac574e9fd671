// Opening the local store for a command, with errors turned into messages that say what to do.
// Part of the local backend (cli/local_backend.h): only `cairn-local` links the engine.
#pragma once

#include <memory>

#include "cairn/store.h"
#include "cli/command_checks.h"
#include "cli/context.h"
#include "cli/open_mode.h"
#include "cli/outcome.h"

namespace cairn::cli {

Outcome OpenStore(const Context& ctx, OpenMode mode, std::unique_ptr<Store>* store);

// The engine options for ctx.store_dir: ctx.options, and, for a cluster node's data directory
// (it holds the node's NODE_ID), what the node runs its store with (cluster::ClusterEngineOptions:
// no tombstone TTL), so that a command run on a stopped node's store forgets no delete the
// cluster still needs.
StoreOptions StoreOptionsFor(const Context& ctx);

// On a stopped cluster node's data directory (it holds NODE_ID): removes the node's digest
// checkpoint, which a command may invalidate without moving its fingerprint (a repair that
// falls back to an older version of a key): the node's next start scans its store instead
// (cluster/digested_store.h). OpenStore does it; so does anything that opens the store
// another way (verify --repair).
void DropNodeDigestCheckpoint(const Context& ctx);

// Closes the store, reporting a failure to write the final checkpoint: the command's work is
// done, but the next open will have to replay the log.
Outcome CloseStore(const Context& ctx, Store* store);

}  // namespace cairn::cli
