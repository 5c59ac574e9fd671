// LocalBackend: the commands that need the engine, or the S3 signer, behind one seam, so that `cairn`
// can be built without them (issue 11, item 7).
//
// A `cairn` call against a server or a cluster never touches a local store, yet linking the
// engine made every such call pay for it at process start: librocksdb and its compression
// libraries mapped, relocated and statically initialised, about 7 ms of CPU of a 15 ms cached
// cluster call; libssl cost more (docs/design.md, "The CLI without the
// engine"). So there are two binaries built from the same sources (cli/cairn_main.h):
//   cairn        no engine, no TLS; Context::local is null. A command that needs the local
//                store, or `bench` (its --s3 signs with the gateway's SigV4), makes it exec
//                `cairn-local` beside it with the same arguments (same process, so stdin,
//                stdout, signals and the exit code are the caller's as before).
//   cairn-local  links everything; Context::local is LocalStoreBackend(). Runs every command.
//
// Thread safety: the backend has no state; its methods may be called from any thread.
#pragma once

#include <memory>

#include "cli/bench.h"
#include "cli/commands.h"
#include "cli/context.h"
#include "cli/open_mode.h"
#include "cli/outcome.h"

namespace cairn::cli {

class Session;

class LocalBackend {
 public:
  virtual ~LocalBackend() = default;
  // A session over the LocalObjectStore of ctx.store_dir, opened in `mode`.
  virtual Outcome OpenSession(const Context& ctx, OpenMode mode,
                              std::unique_ptr<Session>* out) const = 0;
  // The commands that work on a local store only (cli/commands.h has their contracts).
  virtual Outcome Reclaim(const Context& ctx, bool dry_run) const = 0;
  virtual Outcome Verify(const Context& ctx, bool repair) const = 0;
  virtual Outcome Import(const Context& ctx, const BulkArgs& args) const = 0;
  virtual Outcome Export(const Context& ctx, const BulkArgs& args) const = 0;
  // The load generator (cli/bench.h): not a local command, but it links the gateway's SigV4
  // (--s3) and is long-running, so the exec costs nothing that matters.
  virtual Outcome Bench(const Context& ctx, const BenchArgs& args) const = 0;
};

// The engine's backend (src/cli/local_backend.cc, linked only into cairn-local).
const LocalBackend& LocalStoreBackend();

}  // namespace cairn::cli
