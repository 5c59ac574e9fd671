// ReaderEpochs: which readers may still be reading records that reclamation wants to release.
//
// A reader (an ObjectReader, a PinnedObject) registers before the index lookup that finds what
// it reads, and unregisters when done. Reclamation, before it punches or removes what died,
// starts a new epoch and waits until every reader registered in an older one has finished: such
// a reader may have found a version that died after it looked. A reader registered later looked
// after the death was in the index, so it cannot be in the dead records.
//
// Cost: registering in the current epoch bumps a count in an existing map entry, under one
// mutex: no allocation (a hot GET registers once per request).
//
// Thread safety: every method may be called from any thread. Its lock is a leaf (docs/design.md,
// "Lock order"): nothing else is taken while holding it.
#pragma once

#include <cstdint>
#include <map>

#include "util/mutex.h"

namespace cairn {

class ReaderEpochs {
 public:
  // Registers a reader in the current epoch; returns the epoch to unregister with.
  uint64_t Register() EXCLUDES(mu_);
  void Unregister(uint64_t epoch) EXCLUDES(mu_);
  // Starts a new epoch and waits (at most `timeout`) until no reader of an older epoch is left.
  // False if some still is.
  bool WaitForOlder(std::chrono::milliseconds timeout) EXCLUDES(mu_);

 private:
  // Drops the leading epochs whose readers have all gone; true if none older than `epoch` is
  // left.
  bool NoneOlderLocked(uint64_t epoch) REQUIRES(mu_);

  Mutex mu_;
  CondVar cv_;  // a reader unregistered
  // Readers registered per epoch. A map of counts, not a multiset: registering in the current
  // epoch allocates nothing. The current epoch's entry stays at zero for the next reader.
  std::map<uint64_t, uint64_t> epochs_ GUARDED_BY(mu_);
  uint64_t epoch_ GUARDED_BY(mu_) = 0;
};

}  // namespace cairn
