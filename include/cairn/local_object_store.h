// LocalObjectStore: the ObjectStore (cairn/object_store.h) of a store directory on this
// machine, through the engine (cairn/store.h). What cairnd serves, and what the `cairn` tool
// uses without --server.
//
// It answers like every other ObjectStore (tests/object_store_suite): keys checked by
// ValidateKey, write options and list options by the same checks as the server's, a listing
// with a delimiter rolled up by service/list_rollup.h (one seek past each common prefix). It
// can pin (Pin/TryPin: extents for sendfile), write without blocking (PutAsync/StartCommit) and
// read the change feed (IterateLog).
//
// Reads of a range: Get reads the bytes of the range from the pinned object and checks them
// against the CRC of the records holding them; OpenReader of a range starting past 0 reads and
// checks the bytes before it too (it streams from the start of the object).
//
// Thread safety: as ObjectStore (every method from any thread).
// Ownership: Open owns the Store it opens (closed by Close or the destructor); Borrow serves a
// Store its caller keeps open for the LocalObjectStore's life.
#pragma once

#include <memory>
#include <string>

#include "cairn/object_store.h"
#include "cairn/store.h"

namespace cairn {

class LocalObjectStore : public ObjectStore {
 public:
  // Store::Open(dir, options), served.
  static Result<std::unique_ptr<LocalObjectStore>> Open(const std::string& dir,
                                                        const StoreOptions& options);
  static std::unique_ptr<LocalObjectStore> Borrow(Store* store);

  // The engine's Store, for what only it does (Reclaim, Sync, recovery_report...).
  virtual Store* store() = 0;
  // Closes an owned store (commit, checkpoint); OK and nothing done for a borrowed one.
  virtual Status Close() = 0;
};

}  // namespace cairn
