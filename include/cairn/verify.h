// Offline integrity checking and repair of a store directory (docs/design.md, "Verify").
//
// VerifyStore reads a store without opening it for writing and without running recovery, so it
// works on a store that cannot be opened: it checks every record's checksums in every volume,
// that every index entry points at a valid record of its key, and that every live record is
// indexed. It changes nothing.
//
// RepairStore rebuilds the index from the volumes, keeping the newest committed version of each
// key and honouring tombstones. What it cannot read it reports and leaves in place.
//
// Both take the store's lock: Busy if another process has the store open.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cairn/options.h"
#include "cairn/status.h"
#include "cairn/store.h"

namespace cairn {

struct VerifyProblem {
  // "bad-region"      bytes between valid records that are not a valid record (corrupt, torn)
  // "bad-volume"      a volume file whose header or size is wrong
  // "dangling-entry"  an index entry points at bytes that are not a valid record of its key
  // "unindexed"       a valid record is the newest version of its key but the index lacks it
  // "stale-entry"     the index holds an older version than the newest committed record
  // "bad-chunk"       a large object's manifest lists a chunk that is not a valid record
  // "bad-index"       the index cannot be opened or read
  std::string kind;
  uint32_t volume = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::string key;     // when known
  std::string detail;
  // "volumes/00000003.vol offset 8192: bad-region (4096 bytes): detail"
  std::string ToString() const;
};

struct VerifyReport {
  uint64_t volumes = 0;
  uint64_t records = 0;          // valid records found in the volumes
  uint64_t punched_records = 0;  // dead records whose body was released (not a problem)
  uint64_t index_entries = 0;
  uint64_t bytes_scanned = 0;
  uint64_t micros = 0;
  std::vector<VerifyProblem> problems;
  bool ok() const { return problems.empty(); }
};

Result<VerifyReport> VerifyStore(const std::string& dir, const StoreOptions& options);

struct RepairReport {
  std::vector<std::string> actions;  // what was changed, one line each
  RecoveryReport rebuild;            // the index rebuild's report
  uint64_t objects = 0;              // live objects after the repair
};

Result<RepairReport> RepairStore(const std::string& dir, const StoreOptions& options);

}  // namespace cairn
