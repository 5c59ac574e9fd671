// VolumeSyncer: which volumes hold records no fdatasync has covered yet, the sync passes that
// cover them, and the interval thread (Durability::kInterval).
//
// The write path notes each volume it wrote to (Written: one short critical section, as before
// the split). A sync pass (SyncAll) takes that set and fdatasyncs it, with any volumes the caller
// adds: the group commit (its own volumes), Store::Sync, the index's before-flush hook (so the
// index on disk never points at log bytes that are not durable), compaction and a clean close.
// Passes run one at a time: a caller arriving while a pass is in progress waits for it rather than
// find the set empty and return early (issue 5). A failed fdatasync is never retried: the pass
// reports it to the store (on_error: the store turns read-only), and every later pass fails with
// it, so no caller is told that data is durable after a sync of it failed (issue 15). A synced
// volume whose file has lost its name (File::Unlinked: the data directory wiped or replaced
// under the store) is treated the same way (issue 12).
//
// Thread safety: every method may be called from any thread. Lock order (docs/design.md,
// "Lock order"): interval_mu_, then run_mu_ (a pass; on_error takes the store's log lock, which
// comes after it), then dirty_mu_ (a leaf).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "cairn/options.h"
#include "cairn/status.h"
#include "engine/volume.h"
#include "util/mutex.h"

namespace cairn {

class VolumeSyncer {
 public:
  // on_error: called once, during the pass whose fdatasync failed (or that found a volume
  // without its name), with its error.
  explicit VolumeSyncer(std::function<void(const Status&)> on_error);
  // Told the duration of every fdatasync (StoreOptions::observer); set before the first pass.
  void SetObserver(StoreObserver* observer) { observer_ = observer; }
  ~VolumeSyncer();
  VolumeSyncer(const VolumeSyncer&) = delete;
  VolumeSyncer& operator=(const VolumeSyncer&) = delete;

  // The write path: `vol` holds a record that no fdatasync covers yet; `interval` if the
  // interval thread must sync it (a kInterval write, by its own options).
  void Written(const std::shared_ptr<Volume>& vol, bool interval) EXCLUDES(dirty_mu_) {
    MutexLock l(&dirty_mu_);
    dirty_.emplace(vol->id(), vol);
    if (interval) interval_pending_ = true;
  }

  // One sync pass: fdatasyncs `extra` and every volume written since the last pass took the set.
  // IOError if an fdatasync failed, in this pass or an earlier one.
  Status SyncAll(std::vector<std::shared_ptr<Volume>> extra) EXCLUDES(run_mu_);

  // Starts the interval thread: every `interval_ms`, a pass if a kInterval write is waiting.
  void StartInterval(uint32_t interval_ms);
  // Stops and joins it. Idempotent.
  void StopInterval() EXCLUDES(interval_mu_);

 private:
  friend class StoreImpl;  // names the locks in the store's lock order
  void IntervalLoop(uint32_t interval_ms) EXCLUDES(interval_mu_);

  const std::function<void(const Status&)> on_error_;

  StoreObserver* observer_ = nullptr;

  Mutex interval_mu_ ACQUIRED_BEFORE(run_mu_);
  Mutex run_mu_ ACQUIRED_BEFORE(dirty_mu_);
  Mutex dirty_mu_;

  // The first failed fdatasync: every later pass fails with it.
  Status error_ GUARDED_BY(run_mu_);
  std::map<uint32_t, std::shared_ptr<Volume>> dirty_ GUARDED_BY(dirty_mu_);
  bool interval_pending_ GUARDED_BY(dirty_mu_) = false;

  std::thread interval_;
  CondVar interval_cv_;  // with interval_mu_: stop
  bool interval_stop_ GUARDED_BY(interval_mu_) = false;
};

}  // namespace cairn
