// The checks of a request that every ObjectStore makes alike, written once: the write options
// (condition, version, metadata within max_meta_bytes) and the list options (limit within
// max_list_limit; prefix, delimiter and start_after within max_key_bytes). Keys are checked by
// cairn::ValidateKey (cairn/object_store.h, next to kMaxKeyBytes).
//
// Thread safety: pure functions.
#pragma once

#include "cairn/object_store.h"

namespace cairn::service {

// InvalidArgument for an if-match or if-newer write without a version, or malformed metadata;
// LimitExceeded naming max_meta_bytes for metadata over it (puts only: deletes carry none).
Status CheckWriteOptions(const WriteOptions& wo, size_t max_meta_bytes, bool is_delete);

// LimitExceeded naming max_list_limit or max_key_bytes. On OK, *limit is the limit to use
// (kDefaultListLimit, at most max_list_limit, for 0).
Status CheckListOptions(const ListOptions& lo, uint32_t max_list_limit, uint32_t* limit);

}  // namespace cairn::service
