#include "engine/volume_syncer.h"

#include <algorithm>
#include <chrono>

#include "util/thread_name.h"

namespace cairn {

VolumeSyncer::VolumeSyncer(std::function<void(const Status&)> on_error)
    : on_error_(std::move(on_error)) {}

VolumeSyncer::~VolumeSyncer() { StopInterval(); }

Status VolumeSyncer::SyncAll(std::vector<std::shared_ptr<Volume>> vols) {
  // One pass at a time. A pass takes the dirty set before it syncs it, so without this a
  // caller arriving meanwhile (the index's before-flush hook, Store::Sync) found the set empty
  // and returned while those volumes were not yet synced: an index flush could then make
  // entries durable that point at log bytes a power loss drops (issue 5, power-loss test:
  // Get returned Corruption for keys whose records were lost).
  MutexLock run(&run_mu_);
  // A pass whose fdatasync failed had taken the dirty set: what it held may be lost, so no later
  // pass may report success (issue 15: Store::Sync returned OK after such a pass, and the power-
  // loss test found the writes it had promised durable gone).
  if (!error_.ok()) return error_;
  {
    MutexLock l(&dirty_mu_);
    for (auto& [id, v] : dirty_) vols.push_back(v);
    dirty_.clear();
    interval_pending_ = false;
  }
  std::sort(vols.begin(), vols.end(),
            [](const auto& a, const auto& b) { return a->id() < b->id(); });
  vols.erase(std::unique(vols.begin(), vols.end()), vols.end());
  for (const auto& v : vols) {
    const auto start = std::chrono::steady_clock::now();
    Status s = v->file()->DataSync();
    if (observer_ != nullptr) {
      observer_->OnDataSync(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                      std::chrono::steady_clock::now() - start)
                                                      .count()),
                            s.ok());
    }
    // A volume that lost its name (its directory wiped or replaced under the running store)
    // still takes writes and even syncs them, but they go with its last open handle: no write
    // to it may be promised durable, now or later (as after a failed fdatasync).
    // (Unlinked first: reclamation marks a volume removed before it removes the file.)
    Status gone;
    if (s.ok()) {
      Result<bool> unlinked = v->file()->Unlinked();
      if (unlinked.ok() && *unlinked && !v->removed())
        gone = Status::IOError("volume " + std::to_string(v->id()) + " (" + v->file()->path() +
                               ") was removed while the store had it open: the data directory "
                               "was wiped or replaced, and what was written to it is gone");
    }
    if (!s.ok()) {
      // Never retried (docs/reliability.md): the pages may already be gone.
      on_error_(s);
      error_ = Status::IOError("fdatasync failed; the write is not durable: " + s.message());
      return error_;
    }
    if (!gone.ok()) {
      on_error_(gone);
      error_ = Status::IOError("the write is not durable: " + gone.message());
      return error_;
    }
  }
  return Status::OK();
}

void VolumeSyncer::StartInterval(uint32_t interval_ms) {
  interval_ = std::thread([this, interval_ms] {
    SetThreadName("cairn-sync");
    IntervalLoop(interval_ms);
  });
}

void VolumeSyncer::StopInterval() {
  {
    MutexLock l(&interval_mu_);
    interval_stop_ = true;
    interval_cv_.SignalAll();
  }
  if (interval_.joinable()) interval_.join();
}

void VolumeSyncer::IntervalLoop(uint32_t interval_ms) {
  MutexLock l(&interval_mu_);
  while (!interval_stop_) {
    interval_cv_.WaitFor(&interval_mu_, std::chrono::milliseconds(interval_ms));
    if (interval_stop_) break;
    bool pending;
    {
      MutexLock dl(&dirty_mu_);
      pending = interval_pending_;
    }
    if (pending) (void)SyncAll({});
  }
}

}  // namespace cairn
