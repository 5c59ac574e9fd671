// Reclamation: hole punching and copying compaction (docs/design.md, "Reclamation").
#include "engine/store_impl.h"

namespace cairn {

Result<ReclaimReport> StoreImpl::Reclaim(const ReclaimOptions&) {
  return Status::NotSupported("reclamation is being built");
}

}  // namespace cairn
