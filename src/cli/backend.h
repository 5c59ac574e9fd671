// Backend: what the object commands (put, get, head, rm, ls, stat) need from where the objects
// live. Each command is written once against it; LocalBackend runs on a store directory through
// the engine, RemoteBackend on a cairnd through the client library (--server HOST:PORT or
// $CAIRN_SERVER). Both report the same Status codes for the same situations, so a command's
// output and exit code do not depend on the mode.
//
// Thread safety: one command, one thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cairn/status.h"
#include "cairn/store.h"
#include "cli/context.h"
#include "cli/open_store.h"
#include "cli/outcome.h"
#include "cli/output.h"

namespace cairn::cli {

class Backend {
 public:
  virtual ~Backend() = default;
  // Streams `src` to its end under `key`; returns what was stored (mtime_us may be 0).
  virtual Result<ObjectInfo> Put(std::string_view key, ValueSource* src) = 0;
  virtual Result<std::unique_ptr<ObjectReader>> OpenReader(std::string_view key) = 0;
  virtual Result<ObjectInfo> Head(std::string_view key) = 0;
  virtual Status Delete(std::string_view key) = 0;
  virtual Result<ScanResult> Scan(std::string_view prefix, std::string_view start_after,
                                  size_t limit) = 0;
  // The statistics; *extra receives what only this backend has (the server's "server" member),
  // or stays null.
  virtual Result<StoreStats> Stats(Json* extra) = 0;
  // Ends the session (the local store writes its checkpoint).
  virtual Outcome Close() = 0;
  // The first line of `cairn stat`: "store:  DIR" or "server: HOST:PORT".
  virtual std::string Where() const = 0;
};

// The remote backend when ctx.server is set, else the local store opened in `mode`.
Outcome OpenBackend(const Context& ctx, OpenMode mode, std::unique_ptr<Backend>* out);

// Fills StoreStats from the JSON object of `cairn stat --json` (the STAT reply of cairnd).
// Missing members stay zero; a member of the wrong type is an error.
Result<StoreStats> StatsFromJson(const Json& j);

}  // namespace cairn::cli
