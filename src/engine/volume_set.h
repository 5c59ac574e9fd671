// VolumeSet: the store's open volumes by id, for readers (a Get per record read) and for the
// parts that add volumes (the preparer, recovery) and remove them (reclamation, once retired).
// A reader keeps the shared_ptr it got, so a volume removed meanwhile stays open until the last
// reader lets it go.
//
// Thread safety: every method may be called from any thread. Its lock is a readers-writer lock
// near the bottom of the lock order (docs/design.md, "Lock order"): only the leaves come after it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "engine/volume.h"
#include "util/mutex.h"

namespace cairn {

class VolumeSet {
 public:
  // nullptr if there is no such volume (never created, or removed).
  std::shared_ptr<Volume> Get(uint32_t id) const EXCLUDES(mu_);
  void Add(std::shared_ptr<Volume> v) EXCLUDES(mu_);
  // Removes and returns the volume (nullptr if there was none).
  std::shared_ptr<Volume> Remove(uint32_t id) EXCLUDES(mu_);
  bool Contains(uint32_t id) const EXCLUDES(mu_);
  // Every volume, in id order.
  std::vector<std::shared_ptr<Volume>> All() const EXCLUDES(mu_);

 private:
  friend class StoreImpl;  // names mu_ in its lock order
  mutable SharedMutex mu_;
  std::map<uint32_t, std::shared_ptr<Volume>> volumes_ GUARDED_BY(mu_);
};

}  // namespace cairn
