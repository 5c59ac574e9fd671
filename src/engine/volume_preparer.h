// VolumePreparer: the background thread that makes the next volume ready ahead of need (written
// with zeros, or allocated: StoreOptions::volume_preparation; docs/design.md, "Preparing
// volumes"), the queue of prepared volumes, the next volume id, and the last preparation's error.
//
// The write path asks for a volume once the active one is half full (WantAhead) and takes one
// when the active one is full (TryTake): both are short, non-blocking calls, made holding the
// store's log lock. A writer that finds none ready waits in WaitForVolume, which it must call
// *without* the log lock: preparing a volume writes up to its whole capacity (about a second per
// GiB here), and the log must stay open to writers that still fit in the active volume and to
// the commits that free space. A failed preparation (e.g. NoSpace) is logged once, reported to
// the writers waiting, and retried after kRetryDelay: writes resume by themselves once space is
// freed.
//
// Ids: a new volume's id is above every id the store's index or its volume directory names
// (IdsAbove, at open), also when that volume's file is gone: records of a new volume under a
// reused id would be skipped by the next replay (PowerLossRegression.
// AVolumeIdTheIndexStillNamesIsNeverReused). A failed preparation gives its id back (the
// temporary file was removed).
//
// No stall (issue 16): a writer waits for a zeroed volume at most kMaxWait. Past it, the
// preparer is hurried: the rest of the volume it is writing is allocated instead of zeroed
// (Volume::Create's `hurry`), and the volume is ready in milliseconds. The zeros already
// written are on their way to the disk as they go (Volume::Create writes them back in chunks),
// so the volume's final fdatasync is short too. The id stays the one the volume was started
// with: volumes are handed out in id order, which recovery relies on (it replays the volumes
// from the checkpoint's id up). At most one volume is ever ahead of the writers.
//
// Thread safety: every method may be called from any thread; Stop joins the thread. Lock order
// (docs/design.md, "Lock order"): the store's log lock (mu_) may be held when calling any method
// but WaitForVolume and Stop; this part's lock is a leaf: it calls nothing while holding it (the
// volume set and the log are told without it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cairn/env.h"
#include "cairn/options.h"
#include "cairn/status.h"
#include "engine/volume.h"
#include "engine/volume_set.h"
#include "util/mutex.h"

namespace cairn {

class VolumePreparer {
 public:
  // Named bound: the wait before trying again after a preparation failed.
  static constexpr std::chrono::milliseconds kRetryDelay{200};
  // Named bound: the longest a writer waits for zeros before the preparer is hurried.
  static constexpr std::chrono::milliseconds kMaxWait{50};

  struct Options {
    Env* env = nullptr;
    std::string dir;  // the volume directory
    uint64_t capacity = 0;
    uint64_t store_id = 0;
    VolumePreparation preparation = VolumePreparation::kWriteZeros;
    VolumeSet* volumes = nullptr;  // a prepared volume is added here before it is handed out
    std::function<void(const std::string&)> log;  // the first failure of a series
    const std::function<void(const char*)>* test_point = nullptr;  // Volume::Create's
  };

  VolumePreparer() = default;
  ~VolumePreparer() { Stop(); }
  VolumePreparer(const VolumePreparer&) = delete;
  VolumePreparer& operator=(const VolumePreparer&) = delete;

  // ---- Opening, before Start.
  void SetOptions(Options o) EXCLUDES(mu_);
  // Every new id is above `id`.
  void IdsAbove(uint32_t id) EXCLUDES(mu_);
  // Takes the next id for a volume the caller creates itself (a new store's first volume).
  uint32_t TakeId() EXCLUDES(mu_);
  // A volume found unused at open: handed out before any new one.
  void AddPrepared(std::shared_ptr<Volume> v) EXCLUDES(mu_);
  // Starts the thread.
  void Start() EXCLUDES(mu_);

  // ---- The write path (non-blocking; the log lock may be held).
  // The next prepared volume, or null if none is ready.
  std::shared_ptr<Volume> TryTake() EXCLUDES(mu_);
  // Asks for a volume now.
  void Want() EXCLUDES(mu_);
  // Asks for a volume ahead of need, unless one is ready or being prepared.
  void WantAhead() EXCLUDES(mu_);
  std::vector<uint32_t> PreparedIds() const EXCLUDES(mu_);

  // Blocks until a volume is ready (OK: TryTake may find it, unless another writer took it
  // first), or preparing it failed (that error; another attempt is asked for), or Halt was
  // called (OK: the caller looks at why). Asks for a volume; past kMaxWait, hurries the one
  // being prepared. Never call holding the log lock.
  Status WaitForVolume() EXCLUDES(mu_);
  // Volumes a writer waited kMaxWait for, and so hurried (tests). Not logged: an embedded
  // `cairn put` of a large file into small volumes hurries several, as it should, and the CLI
  // prints the store's log lines.
  uint64_t hurried() const EXCLUDES(mu_);
  // Whether the last preparation failed for want of space (ENOSPC), until one succeeds: the
  // disk is full, and reclamation must not be held back.
  bool short_of_space() const EXCLUDES(mu_);
  // Whether the volume being prepared is being hurried now (tests).
  bool hurrying() const { return hurry_.load(); }
  // The store failed or is closing: nothing more is prepared, and the writers waiting return.
  // Sticky.
  void Halt() EXCLUDES(mu_);
  // Halts, cancels a volume being written and joins the thread. Idempotent.
  void Stop() EXCLUDES(mu_);

 private:
  friend class StoreImpl;  // names mu_ in the store's lock order
  void Loop() EXCLUDES(mu_);

  Options options_;
  std::atomic<bool> stop_{false};  // also cancels Volume::Create
  std::atomic<bool> hurry_{false};  // a writer waited kMaxWait: Volume::Create allocates the rest
  std::thread thread_;

  mutable Mutex mu_;
  CondVar work_cv_;   // with mu_: a volume is wanted, or stop
  CondVar ready_cv_;  // with mu_: a volume was prepared, preparing failed, or halted
  std::deque<std::shared_ptr<Volume>> prepared_ GUARDED_BY(mu_);
  uint32_t next_id_ GUARDED_BY(mu_) = 1;
  Status error_ GUARDED_BY(mu_);  // the last preparation's, until one succeeds
  bool wanted_ GUARDED_BY(mu_) = false;
  bool halted_ GUARDED_BY(mu_) = false;
  uint64_t hurried_ GUARDED_BY(mu_) = 0;
};

}  // namespace cairn
