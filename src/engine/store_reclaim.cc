// Reclamation: hole punching first, copying compaction only when needed (docs/design.md,
// "Reclamation").
//
// Hole punching. When a version stops being live (overwritten, deleted, or moved by compaction),
// the commit that kills it lists its records in the index ('d' entries, in the same batch). A
// pass makes the index durable (so the killing records are durable and the replay after a crash
// starts past them), then releases the whole 4 KiB blocks inside each listed record with
// fallocate(PUNCH_HOLE), keeping each record's header and key readable so scanners can step over
// it. Punching is idempotent: a crash before the entries are deleted only repeats it.
//
// Compaction. A sealed volume whose live bytes are a small part of what it still occupies, or
// that holds very little, has its live records copied into the active volume through the normal
// write path (group commit), as relocated copies that keep their sequence numbers and commit
// only if the key still points at the original. Once none of its records is live and the copies
// and the index are durable, the volume is marked retired and its file removed. Each step is
// safe to crash at; tests kill the process at the named points (TestPoint).
#include <algorithm>
#include <set>
#include <thread>

#include "engine/log_scanner.h"
#include "engine/store_impl.h"
#include "util/check.h"

namespace cairn {
namespace {

// Named bounds of one pass.
constexpr size_t kDeadPerRound = 4096;       // dead records listed per index flush
// Rounds of punching in one throttled (background) pass: about 8k punches, a few seconds at
// the default budget. Then the pass ends, and the next one compacts first the volumes sealed
// meanwhile, whose dead records then go with their files instead of a punch each. Unbounded,
// one pass under sustained 10 KiB overwrites punched for minutes and compacted nothing.
constexpr int kThrottledPunchRounds = 2;
constexpr size_t kCompactBatchRecords = 1024;  // records looked up together while compacting
constexpr uint64_t kCompactBatchBytes = 8u << 20;

}  // namespace

std::vector<ReclaimReport::VolumePlan> StoreImpl::PlanVolumes(
    const VolumeAccounts::Snapshot& snap) {
  const uint64_t min_live =
      options_.compact_min_live_bytes != 0 ? options_.compact_min_live_bytes : capacity_ / 16;
  std::vector<ReclaimReport::VolumePlan> plans;
  for (const auto& [id, a] : snap.accounts) {
    if (a.retired) continue;
    ReclaimReport::VolumePlan p;
    p.id = id;
    p.live_bytes = a.live_bytes;
    const uint64_t used = a.end > format::kVolumeHeaderSize ? a.end - format::kVolumeHeaderSize : 0;
    p.dead_bytes = used - std::min(used, a.live_bytes);
    p.punchable_bytes = a.punchable_bytes;
    // What the volume will still occupy once the listed punches are done.
    const uint64_t released = a.punched_bytes + a.punchable_bytes;
    const uint64_t occupied = used - std::min(used, released);
    if (!a.sealed) {
      p.reason = "active: appended to, never compacted";
    } else if (snap.first_pinned.has_value() && id >= *snap.first_pinned) {
      p.reason = "may hold chunks of an object still being written";
    } else if (a.live_bytes < min_live) {
      p.compact = true;
      p.reason = "holds " + std::to_string(a.live_bytes) + " live bytes, below compact_min_live_bytes (" +
                 std::to_string(min_live) + ")";
    } else if (static_cast<double>(a.live_bytes) <
               options_.compact_live_ratio * static_cast<double>(occupied)) {
      p.compact = true;
      p.reason = "live bytes are " + std::to_string(a.live_bytes) + " of the " +
                 std::to_string(occupied) + " it occupies, below compact_live_ratio";
    } else {
      p.reason = "live enough to keep";
    }
    plans.push_back(std::move(p));
  }
  return plans;
}

Result<ReclaimReport> StoreImpl::Reclaim(const ReclaimOptions& ro) {
  MutexLock rl(&reclaim_mu_);
  {
    MutexLock l(&mu_);
    if (closing_) return Status::ReadOnly("the store is closing");
    if (!bg_error_.ok()) return bg_error_;
  }
  const uint64_t t0 = env_->NowMicros();
  ReclaimReport r;
  r.volumes = PlanVolumes();
  if (ro.dry_run) {
    for (const auto& p : r.volumes) {
      r.punched_bytes += p.punchable_bytes;
      if (p.compact) {
        r.compacted_volumes++;
        r.copied_bytes += p.live_bytes;
      }
    }
    r.micros = env_->NowMicros() - t0;
    return r;
  }
  // Reclamation writes to the index: like a write, it makes the session's close checkpoint (and
  // a crash's replay) necessary, or its accounts would be dropped with the memtable.
  CAIRN_RETURN_IF_ERROR(MarkUncleanOnce());
  StartThrottle();
  CAIRN_RETURN_IF_ERROR(RemoveRetired(&r));
  // Tombstones the horizon has reached go first: their records become dead, which the plan
  // then counts (a volume of expired tombstones is compacted away in this same pass).
  const uint64_t dropped_before = r.tombstones_dropped;
  CAIRN_RETURN_IF_ERROR(DropExpiredTombstones(&r));
  if (r.tombstones_dropped != dropped_before) r.volumes = PlanVolumes();
  // A volume the plan compacts whose dead bytes punching would release less than three
  // quarters of (records of tens of KiB and less, or punched already) is compacted before
  // anything is punched: it goes whole, its dead records with its file, where punching them
  // first costs a fallocate each and releases little. Punching first fell behind for good under sustained overwrites of 10 KiB objects
  // (one punch per record against 11k PUTs/s): no pass reached compaction, and dead records
  // filled the disk. Where punching releases nearly all (large records), it still goes first:
  // it frees a megabyte per punch, where compacting first copied the live megabytes and fell
  // further behind under 1 MiB overwrites (design.md, "Reclamation").
  std::set<uint32_t> compacted;
  if (ro.compact) {
    for (const auto& p : r.volumes) {
      if (!p.compact || p.punchable_bytes * 4 >= p.dead_bytes * 3 || stop_) continue;
      CAIRN_RETURN_IF_ERROR(CompactVolume(p.id, ro.throttle, &r));
      compacted.insert(p.id);
    }
  }
  if (ro.punch) CAIRN_RETURN_IF_ERROR(PunchDead(ro.throttle, ro.punch_active, &r));
  // The other volumes the plan compacts wait while punching is behind: a punch frees a large
  // record for one 4 KiB of budget, compaction copies live bytes at three times theirs.
  if (ro.compact && !r.punch_bound_reached) {
    bool more = false;
    for (const auto& p : r.volumes) {
      if (!p.compact || compacted.count(p.id) != 0 || stop_) continue;
      CAIRN_RETURN_IF_ERROR(CompactVolume(p.id, ro.throttle, &r));
      more = true;
    }
    // Compaction listed the originals' records in other volumes (a moved manifest's old
    // record, say); release them too.
    if (ro.punch && more) CAIRN_RETURN_IF_ERROR(PunchDead(ro.throttle, ro.punch_active, &r));
  }
  r.micros = env_->NowMicros() - t0;
  return r;
}

uint32_t StoreImpl::ActiveVolumeId() {
  MutexLock l(&mu_);
  return active_ != nullptr ? active_->id() : UINT32_MAX;
}

Status StoreImpl::PunchDead(bool throttle, bool punch_active, ReclaimReport* r) {
  const int rounds = throttle ? kThrottledPunchRounds : 1024;  // named bound: rounds per pass
  for (int round = 0; round < rounds && !stop_; round++) {
    std::vector<DeadRecord> dead;
    // Volumes only grow in id: everything below the active one is sealed.
    const uint32_t before = punch_active ? UINT32_MAX : ActiveVolumeId();
    CAIRN_RETURN_IF_ERROR(index_->FlushAndListDead(kDeadPerRound, before, &dead));
    if (dead.empty()) return Status::OK();
    // An open reader may still be reading a version that died after it started.
    if (!WaitForOlderReaders()) {
      Log("reclaim: a reader has been open for a long time; hole punching waits for it");
      return Status::OK();
    }
    uint64_t bytes = 0;
    std::map<uint32_t, uint64_t> per_volume;
    size_t done = 0;
    for (const DeadRecord& d : dead) {
      std::shared_ptr<Volume> v = VolumeFor(d.volume);
      if (v != nullptr && d.punch_end > d.punch_begin) {
        Status s = v->file()->PunchHole(d.punch_begin, d.punch_end - d.punch_begin);
        if (!s.ok()) {
          // Nothing is lost: the entries stay listed and the next pass tries again.
          Log("WARNING: reclaim: " + s.ToString());
          break;
        }
        Throttle(kPunchBlock, throttle);
      }
      per_volume[d.volume] += d.punch_end - d.punch_begin;
      bytes += d.punch_end - d.punch_begin;
      done++;
    }
    TestPoint("punch:after-punch");
    IndexBatch batch;
    {
      MutexLock iwl(&index_write_mu_);
      for (size_t i = 0; i < done; i++) batch.DeleteDead(dead[i].volume, dead[i].offset);
      accounts_.Punched(per_volume, &batch);
      accounts_.WriteDirty(&batch);
      CAIRN_RETURN_IF_ERROR(index_->Write(&batch));
    }
    r->punched_records += done;
    r->punched_bytes += bytes;
    if (done < dead.size() || dead.size() < kDeadPerRound) return Status::OK();
  }
  r->punch_bound_reached = !stop_;
  return Status::OK();
}

namespace {

// A record of the volume being compacted, held until its key's entry has been looked up.
struct Candidate {
  RecordType type;
  uint8_t format;
  Version version;
  std::string key;
  std::string meta;
  uint64_t offset, len, seq, ts;
};

// Named bound: tombstone entries dropped per index batch at the horizon.
constexpr size_t kTombstoneDropBatch = 4096;

}  // namespace

Status StoreImpl::CompactVolume(uint32_t id, bool throttle, ReclaimReport* r) {
  std::shared_ptr<Volume> vol = VolumeFor(id);
  format::VolumeAccount acct;
  {
    const std::optional<format::VolumeAccount> a = accounts_.Get(id);
    if (vol == nullptr || !a.has_value() || !a->sealed || a->retired) return Status::OK();
    acct = *a;
  }
  TestPoint("compact:before-copy");
  // Tombstones must be kept while any other volume may hold an older version of their key.
  auto older_volume_exists = [&](uint64_t seq) { return accounts_.OlderRecordOutside(id, seq); };
  // Large objects whose manifest or chunks live here: chunk moves, by key.
  struct Rewrite {
    format::IndexEntry entry;
    std::map<uint64_t, ChunkRef> moved;  // old offset in this volume -> new place
  };
  std::map<std::string, Rewrite> rewrites;
  std::map<std::string, std::optional<Manifest>> manifests;  // current manifest, by key
  bool mid_copy_reported = false;
  std::string buf;

  // A copy keeps the original's format, sequence, timestamp, version and metadata.
  auto write_copy = [&](RecordType type, uint8_t fmt, std::string_view key, uint64_t seq,
                        uint64_t ts, const Version& version, std::string_view meta,
                        const format::IndexEntry* expect, const Manifest* manifest,
                        std::string_view value, ChunkRef* placed) REQUIRES(reclaim_mu_) -> Status {
    Writer w;
    w.type = type;
    w.format = fmt;
    w.key = key;
    w.meta = meta;
    w.version = version;
    w.relocated = true;
    w.seq = seq;
    w.timestamp_us = ts;
    w.manifest = manifest;
    if (expect != nullptr) {
      w.expect = *expect;
      w.object_size = expect->object_size;
      w.object_crc = expect->object_crc;
    }
    CAIRN_RETURN_IF_ERROR(WriteRecord(&w, value, &buf));
    if (placed != nullptr) *placed = ChunkRef{w.vol->id(), static_cast<uint32_t>(value.size()), w.offset};
    r->copied_records++;
    r->copied_bytes += w.len;
    Throttle(2 * w.len, throttle);
    if (!mid_copy_reported) {
      mid_copy_reported = true;
      TestPoint("compact:mid-copy");
    }
    return Status::OK();
  };

  // The scan steps over values: a live record's (or a referenced chunk's) value is read here,
  // checked, and copied. One whose value fails its checksum is not copied: the volume then
  // still holds a live record and is kept (the check after copying), as when the scan could
  // not read it.
  std::string vbuf;
  auto read_value = [&](const Candidate& c,
                        std::string_view* value) REQUIRES(reclaim_mu_) -> Result<bool> {
    Status s = ReadRecord(id, c.offset, c.len, c.key, c.type, c.seq, &vbuf, value);
    if (s.IsCorruption()) {
      Log("reclaim: " + s.ToString() + "; not copied");
      return false;
    }
    CAIRN_RETURN_IF_ERROR(s);
    Throttle(c.len, throttle);
    return true;
  };

  auto process = [&](std::vector<Candidate>* batch) REQUIRES(reclaim_mu_) -> Status {
    std::vector<std::string> keys;
    for (const Candidate& c : *batch) keys.push_back(c.key);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    std::vector<std::optional<format::IndexEntry>> found;
    CAIRN_RETURN_IF_ERROR(index_->MultiGet(keys, &found));
    auto entry_of = [&](const std::string& k) -> const std::optional<format::IndexEntry>& {
      size_t i = static_cast<size_t>(std::lower_bound(keys.begin(), keys.end(), k) - keys.begin());
      return found[i];
    };
    for (const Candidate& c : *batch) {
      const std::optional<format::IndexEntry>& e = entry_of(c.key);
      const bool here = e && e->volume == id && e->offset == c.offset && e->sequence == c.seq;
      const bool live_manifest = e && e->type == static_cast<uint8_t>(RecordType::kManifest);
      switch (c.type) {
        case RecordType::kValue: {
          if (!here) break;
          std::string_view value;
          CAIRN_ASSIGN_OR_RETURN(bool readable, read_value(c, &value));
          if (!readable) break;
          CAIRN_RETURN_IF_ERROR(write_copy(RecordType::kValue, c.format, c.key, c.seq, c.ts,
                                           c.version, c.meta, &*e, nullptr, value, nullptr));
          break;
        }
        case RecordType::kManifest:
          if (here) rewrites[c.key].entry = *e;
          break;
        case RecordType::kChunk: {
          if (!live_manifest) break;
          auto m = manifests.find(c.key);
          if (m == manifests.end()) {
            std::string mb;
            std::string_view payload;
            Manifest man;
            Status s = ReadRecord(e->volume, e->offset, e->record_len, c.key,
                                  RecordType::kManifest, e->sequence, &mb, &payload);
            if (s.ok()) s = DecodeManifest(payload, &man);
            m = manifests.emplace(c.key, s.ok() ? std::optional<Manifest>(man) : std::nullopt).first;
          }
          if (!m->second) break;
          bool referenced = std::any_of(m->second->chunks.begin(), m->second->chunks.end(),
                                        [&](const ChunkRef& ref) {
                                          return ref.volume == id && ref.offset == c.offset;
                                        });
          if (!referenced) break;
          std::string_view value;
          CAIRN_ASSIGN_OR_RETURN(bool readable, read_value(c, &value));
          if (!readable) break;
          ChunkRef placed;
          CAIRN_RETURN_IF_ERROR(write_copy(RecordType::kChunk, c.format, c.key, c.seq, c.ts,
                                           Version(), std::string_view(), nullptr, nullptr,
                                           value, &placed));
          Rewrite& rw = rewrites[c.key];
          rw.entry = *e;
          rw.moved[c.offset] = placed;
          break;
        }
        case RecordType::kTombstone:
          if (here) {
            // The key's entry: kept until the horizon drops it (DropExpiredTombstones), so it
            // moves like a live record (the copy commits only if the entry is still this one).
            CAIRN_RETURN_IF_ERROR(write_copy(RecordType::kTombstone, c.format, c.key, c.seq, c.ts,
                                             c.version, std::string_view(), &*e, nullptr,
                                             std::string_view(), nullptr));
            r->tombstones_kept++;
          } else if ((e && CompareWrites(e->record_format, e->version, e->sequence, c.format,
                                         c.version, c.seq) > 0) ||
                     !older_volume_exists(c.seq)) {
            // Dropped if the key was written again since (nothing older can win over that), or
            // if no other volume holds anything older than it.
            r->tombstones_dropped++;
          } else {
            // Its entry was dropped at the horizon, but an older write of the key may lie in
            // another volume: a rebuild of the index must still meet the delete after it.
            CAIRN_RETURN_IF_ERROR(write_copy(RecordType::kTombstone, c.format, c.key, c.seq, c.ts,
                                             c.version, std::string_view(), nullptr, nullptr,
                                             std::string_view(), nullptr));
            r->tombstones_kept++;
          }
          break;
      }
    }
    batch->clear();
    return Status::OK();
  };

  // Heads only: what compaction reads and is charged for is the heads, then the live values.
  // A volume worth compacting is mostly dead; reading every value made a pass cost the whole
  // volume's bytes against reclaim_mbps, and under sustained overwrites of small objects
  // reclamation never caught up (design.md, "Reclamation").
  LogScanner scanner(vol->file(), vol->salt(), vol->data_offset(), acct.end,
                     LogScanner::kNoGapLimit);
  scanner.SkipValues();
  std::vector<Candidate> batch;
  uint64_t batch_bytes = 0;
  ScanEvent ev;
  for (;;) {
    if (stop_) return Status::OK();  // closing: the next pass starts over
    CAIRN_ASSIGN_OR_RETURN(bool more, scanner.Next(&ev));
    if (!more) break;
    if (ev.kind != ScanEvent::Kind::kRecord) continue;  // unreadable: not live
    Throttle(ev.header.head_len(), throttle);
    batch.push_back(Candidate{ev.header.type, ev.header.format, ev.header.version,
                              std::string(ev.key), std::string(ev.meta), ev.offset, ev.length,
                              ev.header.sequence, ev.header.timestamp_us});
    batch_bytes += ev.key.size() + ev.meta.size();
    if (batch.size() >= kCompactBatchRecords || batch_bytes >= kCompactBatchBytes) {
      CAIRN_RETURN_IF_ERROR(process(&batch));
      batch_bytes = 0;
    }
  }
  CAIRN_RETURN_IF_ERROR(process(&batch));
  // Large objects: a relocated manifest that lists the moved chunks (and replaces a manifest
  // that lived here). It commits only if the object is still the one whose chunks were copied.
  for (auto& [key, rw] : rewrites) {
    Result<format::IndexEntry> cur = LookupLive(key);
    if (!cur.ok() || !(cur->volume == rw.entry.volume && cur->offset == rw.entry.offset &&
                       cur->sequence == rw.entry.sequence))
      continue;  // replaced meanwhile: the copied chunks are dead
    std::string mb;
    std::string_view payload;
    Manifest m;
    CAIRN_RETURN_IF_ERROR(ReadRecord(cur->volume, cur->offset, cur->record_len, key,
                                     RecordType::kManifest, cur->sequence, &mb, &payload));
    CAIRN_RETURN_IF_ERROR(DecodeManifest(payload, &m));
    for (ChunkRef& c : m.chunks) {
      if (c.volume != id) continue;
      auto it = rw.moved.find(c.offset);
      if (it != rw.moved.end()) c = it->second;
    }
    std::string np = EncodeManifest(m);
    CAIRN_RETURN_IF_ERROR(write_copy(RecordType::kManifest, cur->record_format, key,
                                     cur->sequence, cur->timestamp_us, cur->version, cur->meta,
                                     &*cur, &m, np, nullptr));
  }
  TestPoint("compact:after-copy");
  {
    const uint64_t live_records = accounts_.Get(id).value_or(format::VolumeAccount()).live_records;
    if (live_records != 0) {
      Log("reclaim: volume " + Volume::FileName(id) + " still holds " +
          std::to_string(live_records) +
          " live records after compaction (written meanwhile, or unreadable); keeping it");
      return Status::OK();
    }
  }
  // The copies and the index that points at them become durable before the volume is retired.
  CAIRN_RETURN_IF_ERROR(syncer_.SyncAll({}));
  CAIRN_RETURN_IF_ERROR(index_->Flush(/*wait=*/true));
  {
    MutexLock iwl(&index_write_mu_);
    IndexBatch b;
    accounts_.Retire(id);
    b.DeleteDeadInVolume(id);
    accounts_.WriteDirty(&b);
    CAIRN_RETURN_IF_ERROR(index_->Write(&b));
  }
  CAIRN_RETURN_IF_ERROR(index_->Flush(/*wait=*/true));
  TestPoint("compact:after-switch");
  r->compacted_volumes++;
  return RemoveRetired(r);
}

Status StoreImpl::DropExpiredTombstones(ReclaimReport* r) {
  const Version horizon = tombstone_horizon();
  for (int round = 0; round < 64 && !stop_; round++) {  // named bound: rounds per pass
    std::vector<TombstoneRef> listed;
    CAIRN_RETURN_IF_ERROR(index_->ListTombstones(horizon, kTombstoneDropBatch, &listed));
    if (listed.empty()) return Status::OK();
    MutexLock iwl(&index_write_mu_);
    IndexBatch batch;
    Overlay overlay;
    for (const TombstoneRef& t : listed) {
      CAIRN_ASSIGN_OR_RETURN(std::optional<format::IndexEntry> e, LookupForCommit(t.key, overlay));
      batch.DeleteTombstoneListing(t);
      // Written again since (or already dropped): only the listing goes.
      if (!e.has_value() || !e->tombstone() || e->version != t.version) continue;
      Manifest none;  // a tombstone has no chunks
      const VolumeAccounts::LiveVersion old = Retiring(*e, t.key, nullptr, &none);
      accounts_.Replace(&old, nullptr, &batch);
      batch.DeleteEntry(t.key);
      overlay[t.key] = std::nullopt;
      r->tombstones_dropped++;
    }
    // The counts change with the entries: a checkpoint in the same batch keeps them together.
    batch.PutCheckpoint(CurrentCheckpointLocked());
    accounts_.WriteDirty(&batch);
    CAIRN_RETURN_IF_ERROR(index_->Write(&batch));
    if (listed.size() < kTombstoneDropBatch) return Status::OK();
  }
  return Status::OK();
}

Status StoreImpl::RemoveRetired(ReclaimReport* r) {
  const std::vector<uint32_t> retired = accounts_.RetiredIds();
  if (retired.empty()) return Status::OK();
  // Readers opened before the index stopped pointing into these volumes may still be in them.
  if (!WaitForOlderReaders()) return Status::OK();
  for (uint32_t id : retired) {
    std::shared_ptr<Volume> v = volumes_.Remove(id);
    uint64_t allocated = 0;
    if (v != nullptr) {
      Result<uint64_t> ab = v->file()->AllocatedBytes();
      allocated = ab.ok() ? *ab : 0;
      v->MarkRemoved();
      v.reset();  // readers that fetched it earlier keep their own reference
      CAIRN_RETURN_IF_ERROR(env_->RemoveFile(vol_dir_ + "/" + Volume::FileName(id)));
      CAIRN_RETURN_IF_ERROR(env_->SyncDir(vol_dir_));
    }
    MutexLock iwl(&index_write_mu_);
    IndexBatch b;
    accounts_.Removed(id, allocated, &b);
    b.DeleteVolume(id);
    CAIRN_RETURN_IF_ERROR(index_->Write(&b));
    r->retired_bytes += allocated;
  }
  return Status::OK();
}

void StoreImpl::BackgroundReclaim(bool* warned) {
  if (stop_) return;
  // Only when there is work: dead records to punch outside the active volume, or a volume
  // to compact.
  bool work = false;
  const uint32_t active = ActiveVolumeId();
  for (const auto& p : PlanVolumes())
    work |= (p.punchable_bytes > 0 && p.id < active) || p.compact;
  if (!work) {
    // Tombstones the horizon has reached (one index seek).
    std::vector<TombstoneRef> due;
    work = index_->ListTombstones(tombstone_horizon(), 1, &due).ok() && !due.empty();
  }
  if (!work) return;
  ReclaimOptions ro;
  ro.punch_active = false;  // appends to the active volume must never wait on a punch
  Result<ReclaimReport> r = Reclaim(ro);
  // A pass that stopped at kThrottledPunchRounds left punching to do: the next one starts now,
  // not after reclaim_interval_ms (it compacts what was sealed meanwhile first).
  if (r.ok() && r->punch_bound_reached) reclaimer_.Wake();
  if (!r.ok() && !*warned && !stop_) {
    Log("WARNING: background reclamation failed: " + r.status().ToString());
    *warned = true;
  }
}

}  // namespace cairn
