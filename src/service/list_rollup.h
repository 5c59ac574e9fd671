// ListWithDelimiter: a listing (cairn/object_store.h, ListOptions) built from any ordered scan
// of keys, with the rolling-up of a delimiter written once, for every ObjectStore that lists
// from an ordered index (LocalObjectStore today, the cluster's merged listing later).
//
// A key that contains the delimiter after the prefix is rolled up into its common prefix (the
// key up to and including that delimiter). Once a common prefix is listed, the next scan starts
// past every key that can have it (the prefix followed by 0xFF bytes up to kMaxKeyBytes): one
// seek in the index instead of reading every key under it. A common prefix that sorts at or
// before start_after is not listed again, so a listing continued from next_start_after skips
// what it already rolled up. Objects and common prefixes count together toward the limit.
//
// Thread safety: a pure function of its arguments; `scan` is called on the caller's thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "cairn/object_store.h"

namespace cairn::service {

// Up to `limit` objects (limit >= 1) whose key starts with `prefix` and sorts after
// `start_after`, in key order; `truncated` when more match.
struct ScanPage {
  std::vector<ObjectInfo> objects;
  bool truncated = false;
};
using ScanFn = std::function<Result<ScanPage>(std::string_view prefix,
                                              std::string_view start_after, size_t limit)>;

// REQUIRES: the options passed CheckListOptions (limit resolved: 1..max_list_limit).
Result<ListResult> ListWithDelimiter(const ListOptions& lo, uint32_t limit, const ScanFn& scan);

// A start_after that skips every key that starts with `prefix`: the largest key that can (the
// prefix padded with 0xFF bytes to kMaxKeyBytes). REQUIRES: prefix.size() <= kMaxKeyBytes.
std::string PastEveryKeyWithPrefix(std::string_view prefix);

}  // namespace cairn::service
