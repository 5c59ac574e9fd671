// Offline integrity checking and repair of a store directory (docs/design.md, "Verify").
//
// VerifyStore reads a store without opening it for writing and without running recovery, so it
// works on a store that cannot be opened: it checks every record's checksums in every volume,
// that every index entry points at a valid record of its key, and that every live record is
// indexed. It changes nothing.
//
// RepairStore rebuilds the index from the volumes, keeping the newest committed version of each
// key and honouring tombstones. It never deletes anything: a volume whose header is invalid is
// renamed NNNNNNNN.vol.bad, a truncated volume is extended back to its capacity with zeros, and
// the old index is moved to DIR/index.broken-<unix seconds>; then Store::Open replays every
// volume into a new index. Bytes it cannot read stay where they are (verify keeps reporting
// them).
//
// Both take the store's lock: Busy if another process has the store open (or another Store
// object in this one).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cairn/options.h"
#include "cairn/status.h"
#include "cairn/store.h"

namespace cairn {

// Named bound: problems listed in a VerifyReport; more are counted in problems_omitted.
inline constexpr size_t kMaxVerifyProblems = 10000;

struct VerifyProblem {
  // "bad-region"      bytes between valid records that are not a valid record (corrupt, torn)
  // "bad-volume"      a volume file whose header or size is wrong
  // "dangling-entry"  an index entry points at bytes that are not a valid record of its key
  // "unindexed"       a valid record is the newest version of its key but the index lacks it
  // "stale-entry"     the index holds an older version than the newest committed record
  // "bad-chunk"       a large object's manifest lists a chunk that is not a valid record
  // "bad-index"       the index cannot be opened or read
  std::string kind;
  uint32_t volume = 0;  // 0: not in a volume (bad-index)
  uint64_t offset = 0;
  uint64_t length = 0;
  std::string key;     // when known
  std::string detail;
  // "volumes/00000003.vol offset 8192: bad-region (4096 bytes) key \"k1\": detail"; the key is
  // quoted, with bytes outside printable ASCII as \xNN. "index: bad-index: detail" when volume
  // is 0.
  std::string ToString() const;
};

struct VerifyReport {
  uint64_t volumes = 0;
  uint64_t records = 0;          // valid records found in the volumes
  uint64_t punched_records = 0;  // dead records whose body was released (not a problem)
  uint64_t index_entries = 0;
  uint64_t bytes_scanned = 0;
  uint64_t micros = 0;
  std::vector<VerifyProblem> problems;  // in volume and offset order; index-wide ones first
  uint64_t problems_omitted = 0;        // found beyond kMaxVerifyProblems
  // The index could be read, so entries and records were cross-checked. When false, only the
  // volumes were checked (and a "bad-index" problem says why).
  bool index_checked = false;
  // The store was not closed cleanly (or its index has no checkpoint): the next Store::Open
  // replays the log after the index checkpoint. Valid records there are not yet indexed, which
  // is not a problem; garbage after the last record of the log is the torn tail recovery
  // truncates, not a problem either.
  bool needs_recovery = false;
  uint64_t unreplayed_records = 0;  // valid records after the index checkpoint
  uint64_t torn_tail_bytes = 0;
  bool ok() const { return problems.empty() && problems_omitted == 0; }
};

Result<VerifyReport> VerifyStore(const std::string& dir, const StoreOptions& options);

struct RepairReport {
  std::vector<std::string> actions;  // what was changed, one line each
  std::string index_moved_to;        // where the old index was set aside; empty if there was none
  RecoveryReport rebuild;            // the index rebuild's report
  uint64_t objects = 0;              // live objects after the repair
};

Result<RepairReport> RepairStore(const std::string& dir, const StoreOptions& options);

}  // namespace cairn
