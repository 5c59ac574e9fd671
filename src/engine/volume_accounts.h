// VolumeAccounts: what the store knows about each volume's bytes (format::VolumeAccount: its
// end, live bytes and records, what was punched and is listed for punching, sealed, retired),
// the object counts (objects, logical bytes, tombstones), reclamation's running totals, and the
// stream pins (the first volume each chunked write in flight may have chunks in).
//
// Changed by the commit leader and recovery (what happens to a record and to the version it
// replaces), by volume switching and SetBgError (sealing), and by reclamation (punched, retired,
// removed volumes). Every change marks the volume's account dirty; WriteDirty puts the dirty
// accounts into the index batch that carries the change that caused them, so the accounts on disk
// move with the entries (docs/design.md, "Applying a record"). Stats, the change feed and
// reclamation's plan read a copy (snapshot()).
//
// It never reads the disk: a retired large object's chunks are given by the caller (which reads
// the manifest before, without this lock).
//
// Thread safety: every method may be called from any thread. Its lock is a leaf (docs/design.md,
// "Lock order"): nothing else is taken while holding it; the store's log lock (mu_) and the index
// writer's lock are taken before it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/index.h"
#include "engine/record.h"
#include "engine/store_format.h"
#include "util/mutex.h"

namespace cairn {

class VolumeAccounts {
 public:
  // A record as the accounts see it: where it is, how long its header with key and metadata is
  // (kept readable by hole punching) and its whole length.
  struct RecordRef {
    uint32_t volume = 0;
    uint64_t offset = 0;
    uint64_t head_len = 0;
    uint64_t len = 0;
  };
  // A large object's chunks: records of `format` carrying the key (`key_size` bytes) and no
  // metadata.
  struct Chunks {
    const Manifest* manifest = nullptr;
    uint8_t format = 0;
    size_t key_size = 0;
  };
  // A version of a key as it becomes or stops being live.
  struct LiveVersion {
    RecordRef record;
    bool tombstone = false;
    uint64_t object_size = 0;
    // A large object: its chunks (manifest null: none, or unknown for a manifest that could not be
    // read back; then only its record is counted).
    Chunks chunks;
    // Retiring a version that a relocated copy of its manifest replaces: the chunks the copy still
    // uses leave the live counts of their volumes (the copy counts them again) but are not dead.
    const Manifest* keep = nullptr;
  };
  struct Counts {
    uint64_t objects = 0;
    uint64_t logical_bytes = 0;
    uint64_t tombstones = 0;
  };
  struct Snapshot {
    std::map<uint32_t, format::VolumeAccount> accounts;
    Counts counts;
    uint64_t reclaimed_total = 0;  // punched and retired bytes, over the store's life
    uint64_t compactions_total = 0;
    // The lowest first volume of a chunked write in flight: compaction leaves it and every later
    // volume alone. None when no chunked write is in flight.
    std::optional<uint32_t> first_pinned;
  };

  VolumeAccounts() = default;
  VolumeAccounts(const VolumeAccounts&) = delete;
  VolumeAccounts& operator=(const VolumeAccounts&) = delete;

  // ---- Opening (the store's open, before its threads start).
  // The accounts the index holds; none dirty.
  void Load(std::map<uint32_t, format::VolumeAccount> accounts) EXCLUDES(mu_);
  void SetCounts(const Counts& c) EXCLUDES(mu_);
  void SetTotals(uint64_t reclaimed, uint64_t compactions) EXCLUDES(mu_);

  // ---- Reading.
  Snapshot snapshot() const EXCLUDES(mu_);
  Counts counts() const EXCLUDES(mu_);
  std::optional<format::VolumeAccount> Get(uint32_t id) const EXCLUDES(mu_);
  // The account with the highest id, if any.
  std::optional<std::pair<uint32_t, format::VolumeAccount>> Last() const EXCLUDES(mu_);
  std::vector<uint32_t> RetiredIds() const EXCLUDES(mu_);
  // True if a volume other than `except`, not retired, holds a record of a sequence below `seq`
  // (a tombstone of sequence `seq` must then be kept: compaction).
  bool OlderRecordOutside(uint32_t except, uint64_t seq) const EXCLUDES(mu_);

  // ---- Records and versions (the commit leader, recovery; the caller holds the index writer's
  // lock, so the changes land in the batch that causes them).
  // A record (sequence `seq`; 0 for a failed write's gap, which has none) occupies its volume up
  // to `end`.
  void Appended(uint32_t volume, uint64_t end, uint64_t seq) EXCLUDES(mu_);
  // A record dead as it is applied (a relocated copy that lost to a newer write, a version
  // recovery found superseded): listed for hole punching in `batch`, with `chunks` if given.
  void ListDead(const RecordRef& record, const Chunks& chunks, IndexBatch* batch) EXCLUDES(mu_);
  // `old` stops being live (its bytes leave the live counts and its records are listed for
  // punching in `batch`) and `now` becomes live; either may be null.
  void Replace(const LiveVersion* old, const LiveVersion* now, IndexBatch* batch) EXCLUDES(mu_);

  // ---- Volumes.
  // An empty account for `id` ending at `end`, sealed or not (a new volume; a torn one recovery
  // retires).
  void Reset(uint32_t id, uint64_t end, bool sealed) EXCLUDES(mu_);
  // Nothing is appended to `id` after `end` (its end is at least `end`).
  void Seal(uint32_t id, uint64_t end) EXCLUDES(mu_);
  // Seals every volume with an id below `below` (every volume: UINT32_MAX).
  void SealBelow(uint32_t below) EXCLUDES(mu_);
  // Compaction copied every live record out of `id`: it is retired (and sealed).
  void Retire(uint32_t id) EXCLUDES(mu_);
  // Drops the account of `id` (its file is gone, or it is unused); false if there was none.
  bool Erase(uint32_t id) EXCLUDES(mu_);
  // Hole punching released `per_volume` bytes (of the listed punchable ones) in those volumes;
  // the running totals go into `batch`. Retired volumes are left as they are.
  void Punched(const std::map<uint32_t, uint64_t>& per_volume, IndexBatch* batch) EXCLUDES(mu_);
  // The retired volume `id` was removed, freeing `allocated` bytes: its account goes, and the
  // running totals go into `batch` (the caller deletes the account from the index).
  void Removed(uint32_t id, uint64_t allocated, IndexBatch* batch) EXCLUDES(mu_);
  // Puts every account changed since the last call into `batch`.
  void WriteDirty(IndexBatch* batch) EXCLUDES(mu_);

  // ---- Stream pins: a chunked write in flight may have chunks in `first_volume` and later
  // volumes, not live until its manifest commits, so compaction must leave these volumes alone
  // or it would find them empty and remove them under the manifest (LargeObject.MoreThanFourGiB...
  // did). The pin holds until the StreamPin is destroyed.
  class StreamPin {
   public:
    StreamPin(StreamPin&& o) noexcept : owner_(o.owner_), it_(o.it_) { o.owner_ = nullptr; }
    StreamPin(const StreamPin&) = delete;
    StreamPin& operator=(const StreamPin&) = delete;
    StreamPin& operator=(StreamPin&&) = delete;
    ~StreamPin() {
      if (owner_ != nullptr) owner_->Unpin(it_);
    }

   private:
    friend class VolumeAccounts;
    StreamPin(VolumeAccounts* owner, std::multiset<uint32_t>::iterator it)
        : owner_(owner), it_(it) {}
    VolumeAccounts* owner_;
    std::multiset<uint32_t>::iterator it_;
  };
  StreamPin Pin(uint32_t first_volume) EXCLUDES(mu_);

 private:
  friend class StoreImpl;  // names mu_ in the store's lock order

  void Unpin(std::multiset<uint32_t>::iterator it) EXCLUDES(mu_);
  void AddLiveLocked(uint32_t volume, uint64_t bytes) REQUIRES(mu_);
  void ListDeadLocked(const RecordRef& r, IndexBatch* batch) REQUIRES(mu_);
  void DropLiveLocked(const RecordRef& r, IndexBatch* batch) REQUIRES(mu_);
  void RetireLocked(const LiveVersion& v, IndexBatch* batch) REQUIRES(mu_);
  void AddLocked(const LiveVersion& v) REQUIRES(mu_);

  mutable Mutex mu_;
  std::map<uint32_t, format::VolumeAccount> accounts_ GUARDED_BY(mu_);
  std::set<uint32_t> dirty_ GUARDED_BY(mu_);
  std::multiset<uint32_t> stream_pins_ GUARDED_BY(mu_);
  Counts counts_ GUARDED_BY(mu_);
  uint64_t reclaimed_total_ GUARDED_BY(mu_) = 0;
  uint64_t compactions_total_ GUARDED_BY(mu_) = 0;
};

}  // namespace cairn
