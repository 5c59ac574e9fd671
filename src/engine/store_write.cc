// The write path: reservation, record writes and group commit (see store_impl.h).
#include <algorithm>
#include <cstring>

#include "engine/store_impl.h"
#include "util/check.h"
#include "util/crc32c.h"
#include "util/metadata_codec.h"

namespace cairn {
namespace {

// Named bounds: lookups a conditional write makes. The first kOptimisticDecisionAttempts take no
// lock, and are made stale by a group commit landing between the lookup and the reservation;
// the others hold index_write_mu_ over both and are retried only after waiting for log space, a
// volume, or the commit of the same version. A PutAsync writer (which may not wait) makes only
// optimistic attempts, then returns Busy.
constexpr int kOptimisticDecisionAttempts = 2;
constexpr int kMaxDecisionAttempts = 64;
// Values from this size on are written in place with pwritev (WriteRecord); smaller ones are
// copied behind their head and written with one pwrite.
constexpr size_t kGatherValueBytes = 64 << 10;

bool Live(const std::optional<format::IndexEntry>& e) { return e.has_value() && !e->tombstone(); }

// What a queued writer did (its replaced version only when it was judged).
template <typename W>
WriteResult ResultOf(const W& w) {
  WriteResult r{w.version, w.seq, w.object_size, w.object_crc};
  r.replaced = w.replaced;
  r.replaced_known = w.replaced_known;
  return r;
}

// An idempotent kIfNewer retry: the version held, which it "replaced" with itself.
template <typename D>
WriteResult NoopResultOf(const D& d) {
  WriteResult r{d.held, d.found->sequence, d.found->object_size, d.found->object_crc};
  r.replaced = d.held;
  r.replaced_known = true;
  return r;
}

void ReportWrite(const WriteOptions& wo, const WriteResult& r) {
  if (wo.result_out != nullptr) *wo.result_out = r;
  if (wo.sequence_out != nullptr) *wo.sequence_out = r.sequence;
}
}  // namespace

Status StoreImpl::ValidateKey(std::string_view key) const { return cairn::ValidateKey(key); }

bool StoreImpl::WantsSync(const WriteOptions& wo) const {
  return wo.durability.value_or(options_.durability) == Durability::kSync;
}

bool StoreImpl::WantsInterval(const WriteOptions& wo) const {
  return wo.durability.value_or(options_.durability) == Durability::kInterval;
}

void StoreImpl::Log(const std::string& msg) {
  if (options_.info_log) {
    options_.info_log(msg);
  } else {
    std::fprintf(stderr, "cairn: %s\n", msg.c_str());
  }
}

void StoreImpl::SetBgError(const Status& cause) {
  {
    MutexLock l(&mu_);
    if (!bg_error_.ok()) return;
    bg_error_ = Status::ReadOnly(
        "the store turned read-only after an I/O error (" + cause.ToString() +
        "); writes since the last successful sync may be lost, so none will be acknowledged; "
        "reopen the store to recover");
    // Seal every volume: nothing is appended after a failed sync.
    queue_.Wake(&mu_);
    preparer_.Halt();  // writers waiting for a volume give up
  }
  accounts_.SealBelow(UINT32_MAX);
  Log("ERROR: " + cause.ToString() + "; store is now read-only");
}

void StoreImpl::LockForDecision(Writer* w) {
  index_write_mu_.Lock();
  w->decision_locked = true;
}

void StoreImpl::ReleaseDecisionLock(Writer* w) {
  if (!w->decision_locked) return;
  w->decision_locked = false;
  index_write_mu_.Unlock();
}

Status StoreImpl::Reserve(Writer* w, uint64_t len) {
  // A decision made under index_write_mu_ (WriteDecided) holds it until the write has its place
  // in the queue, and never while waiting: the commit that would end the wait needs it.
  struct ReleaseAtExit {
    StoreImpl* s;
    Writer* w;
    ~ReleaseAtExit() { s->ReleaseDecisionLock(w); }
  } release_at_exit{this, w};
  MutexLock l(&mu_);
  for (;;) {
    if (!bg_error_.ok()) return bg_error_;
    if (closing_) return Status::ReadOnly("the store is closing");
    // Named bound max_unfinished_bytes: reserved-but-uncommitted log. Always admit one writer.
    if (!queue_.HasRoom(&mu_, len)) {
      if (w->no_wait) return Status::Busy("log space is full (max_unfinished_bytes)");
      ReleaseDecisionLock(w);
      queue_.Wait(&mu_);
      continue;
    }
    if (active_ == nullptr || tail_ + len > active_->capacity()) {
      if (std::shared_ptr<Volume> next = preparer_.TryTake(); next != nullptr) {
        SwitchVolumeLocked(std::move(next));
        continue;
      }
      if (w->no_wait) return Status::Busy("no prepared volume yet");
      // Wait for the preparer without the log lock (and without the decision lock): writers
      // that still fit and the commits that free space go on meanwhile.
      ReleaseDecisionLock(w);
      l.Unlock();
      Status prep = preparer_.WaitForVolume();
      l.Lock();
      if (!prep.ok()) {
        if (!bg_error_.ok()) return bg_error_;
        // Close stops the preparer: a writer still waiting for a volume then would wait forever.
        if (closing_) return Status::ReadOnly("the store is closing");
        return prep.WithContext("no volume to append to");
      }
      continue;
    }
    break;
  }
  // Judged here, with the place in the log: nothing can commit ahead of this write meanwhile.
  if (w->decision != nullptr) {
    CAIRN_RETURN_IF_ERROR(JudgeLocked(w));
    if (w->decision->outcome != Decision::Outcome::kWrite) return Status::OK();  // a no-op
    w->replaced = w->decision->held;
    w->replaced_known = true;
  }
  // The version, in log order: a stamp is above every version accepted before it.
  if (w->stamp) {
    w->version = clock_.Stamp(w->timestamp_us / 1000);
  } else if (!w->relocated && !w->version.none()) {
    clock_.Observe(w->version);
  }
  w->vol = active_;
  w->offset = tail_;
  w->len = len;
  if (!w->relocated) w->seq = next_seq_++;  // a copy keeps its original's sequence
  w->seq_after = next_seq_;
  w->end = LogPosition(active_->id(), tail_ + len);
  tail_ += len;
  queue_.Join(&mu_, w);
  // Prepare the next volume once this one is half full: early enough that it is ready when
  // needed (writing 1 GiB of zeros takes about a second here), late enough that a short-lived
  // process does not write a volume it will never use.
  if (!asked_ahead_ &&
      tail_ - active_->data_offset() > (active_->capacity() - active_->data_offset()) / 2) {
    asked_ahead_ = true;  // once per volume: the preparer's lock is not taken per write
    preparer_.WantAhead();
  }
  return Status::OK();
}

// Makes `next` (a prepared volume) the active one, sealing the current one.
void StoreImpl::SwitchVolumeLocked(std::shared_ptr<Volume> next) {
  if (active_ != nullptr) accounts_.Seal(active_->id(), tail_);
  accounts_.Reset(next->id(), next->data_offset(), /*sealed=*/false);
  active_ = std::move(next);
  tail_ = active_->data_offset();
  asked_ahead_ = false;
}

Status StoreImpl::WriteRecord(Writer* w, std::string_view value, std::string* buf) {
  uint32_t vcrc = crc32c::Value(value);
  const size_t hs = RecordHeaderSize(w->format);
  uint64_t len = RecordLength(w->format, w->key.size(), w->meta.size(), value.size());
  CAIRN_CHECK(len <= capacity_ - format::kVolumeHeaderSize);
  if (w->no_wait && clean_on_disk_.load()) return Status::Busy("the store must be marked unclean");
  CAIRN_RETURN_IF_ERROR(MarkUncleanOnce());
  CAIRN_RETURN_IF_ERROR(Reserve(w, len));
  if (w->decision != nullptr && w->decision->outcome != Decision::Outcome::kWrite)
    return Status::OK();  // an idempotent retry: nothing reserved, nothing to write
  // No lock held from here until FinishAndWait: the copy and the pwrite run in parallel with
  // other writers.
  RecordHeader h;
  h.format = w->format;
  h.type = w->type;
  h.key_len = static_cast<uint16_t>(w->key.size());
  h.meta_len = static_cast<uint32_t>(w->meta.size());
  h.value_len = value.size();
  h.sequence = w->seq;
  h.timestamp_us = w->timestamp_us;
  h.version = w->version;
  h.value_crc = vcrc;
  h.relocated = w->relocated;
  const size_t hk = hs + w->key.size() + w->meta.size();
  const size_t pad = len - hk - value.size();
  // The value may already sit in *buf at offset hk (streaming puts read it there).
  const bool in_place = buf->size() >= hk + value.size() && value.data() == buf->data() + hk;
  // A large value is written from where it is (pwritev), not copied behind its head first: at
  // 1 MiB that copy, and the zeroing of the buffer it needed, were a sixth of a durable put's
  // CPU (perf, 64 writers).
  const bool gather = !in_place && value.size() >= kGatherValueBytes;
  if (gather) {
    buf->resize(hk);
  } else {
    if (!in_place) {
      buf->resize(hk + value.size());
      if (!value.empty()) std::memcpy(buf->data() + hk, value.data(), value.size());
    }
    buf->resize(len);
    std::memset(buf->data() + hk + value.size(), 0, pad);
  }
  EncodeRecordHeader(h, w->key, w->meta, w->vol->salt(), w->offset, buf->data());
  std::memcpy(buf->data() + hs, w->key.data(), w->key.size());
  if (!w->meta.empty()) std::memcpy(buf->data() + hs + w->key.size(), w->meta.data(), w->meta.size());
  static constexpr char kZeros[format::kRecordAlign] = {};
  Status ws = gather ? w->vol->file()->PWriteV(
                           w->offset, {std::string_view(*buf), value, std::string_view(kZeros, pad)})
                     : w->vol->file()->PWrite(w->offset, *buf);
  if (ws.ok()) {
    // By the write's own mode: a kInterval write in a store whose default is sync or none was
    // never synced by the interval thread (found while writing the issue 5 power-loss test).
    syncer_.Written(w->vol, w->interval && w->type != RecordType::kChunk);
  }
  if (w->no_wait) {
    queue_.FinishAsync(w, std::move(ws));  // w may be gone from here on
    return Status::OK();
  }
  queue_.FinishAndWait(w, ws);
  return w->result;
}

Status StoreImpl::CheckCondition(const WriteOptions& wo, uint64_t now_us) const {
  switch (wo.condition) {
    case WriteCondition::kNone:
    case WriteCondition::kIfNoneMatch:
      return Status::OK();
    case WriteCondition::kIfMatch:
      if (wo.version.none()) return Status::InvalidArgument("if-match needs a version");
      return Status::OK();
    case WriteCondition::kIfNewer: {
      if (wo.version.none()) return Status::InvalidArgument("if-newer needs a version");
      const uint64_t now_ms = now_us / 1000;
      if (wo.version.millis() > now_ms + options_.max_clock_skew_ms)
        return Status::InvalidArgument(
            "version " + wo.version.ToString() + " is " +
            std::to_string(wo.version.millis() - now_ms) +
            " ms ahead of this machine's clock, more than max_clock_skew_ms (" +
            std::to_string(options_.max_clock_skew_ms) + ")");
      return Status::OK();
    }
  }
  return Status::InvalidArgument("unknown write condition " +
                                 std::to_string(static_cast<int>(wo.condition)));
}

Version StoreImpl::HorizonLocked(uint64_t now_ms) const {
  Version h = explicit_horizon_;
  if (options_.tombstone_ttl_ms != 0 && now_ms > options_.tombstone_ttl_ms) {
    const Version ttl = Version::Make(now_ms - options_.tombstone_ttl_ms, 0xFFFF, 0xFFFFFFFF);
    if (h < ttl) h = ttl;
  }
  return h;
}

Version StoreImpl::tombstone_horizon() const {
  const uint64_t now_ms = env_->NowMicros() / 1000;
  MutexLock l(&mu_);
  return HorizonLocked(now_ms);
}

Status StoreImpl::JudgeLocked(Writer* w) {
  Decision& d = *w->decision;
  // The lookup is current if it was made under index_write_mu_, still held (nothing reached the
  // index since), or, made without it, if no group has committed since.
  const bool current =
      d.locked ? w->decision_locked : queue_.generation(std::memory_order_relaxed) == d.gen;
  if (!current) {
    d.outcome = Decision::Outcome::kRetry;
    return Status::Busy("the lookup is stale: look again");
  }
  // A write of the key ahead in the log, not committed yet, takes effect when its group commits
  // (it was judged too, or needs no judging): this write is judged against it. Compaction's
  // copies change no version: they do not count.
  const Writer* ahead = static_cast<const Writer*>(
      queue_.FindLast(&mu_, [w](const CommitQueue::Entry* e) {
        const Writer* q = static_cast<const Writer*>(e);
        return q->type != RecordType::kChunk && !q->relocated && q->key == w->key;
      }));
  if (ahead == nullptr) return Judge(&d, HorizonLocked(w->timestamp_us / 1000));
  d.found.emplace();
  d.found->type = static_cast<uint8_t>(ahead->type);
  d.found->version = ahead->version;
  Status s = Judge(&d, HorizonLocked(w->timestamp_us / 1000));
  if (d.outcome != Decision::Outcome::kNoop) return s;
  // The same version as a write still committing: an idempotent retry may answer only once that
  // write is acknowledged. Wait for the next commit, then look again.
  if (!d.may_wait) {
    d.outcome = Decision::Outcome::kRefused;
    return Status::Busy("the same version of the key is still committing");
  }
  d.outcome = Decision::Outcome::kRetry;
  ReleaseDecisionLock(w);
  const uint64_t gen = queue_.generation(std::memory_order_relaxed);
  while (queue_.generation(std::memory_order_relaxed) == gen && bg_error_.ok() && !closing_)
    queue_.Wait(&mu_);
  return Status::Busy("looked up again after a commit");
}

Status StoreImpl::Judge(Decision* dp, const Version& horizon) {
  Decision& d = *dp;
  const std::optional<format::IndexEntry>& e = d.found;
  const bool live = Live(e);
  d.held = e.has_value() ? e->version : Version();
  auto conflict = [&](const std::string& why) {
    d.outcome = Decision::Outcome::kRefused;
    return Status::Conflict(why + " (held version " + d.held.ToString() + ")");
  };
  auto not_found = [&] {
    d.outcome = Decision::Outcome::kRefused;
    return Status::NotFound("no such key");
  };
  d.outcome = Decision::Outcome::kWrite;
  switch (d.condition) {
    case WriteCondition::kNone:  // only deletes are judged without a condition
      if (!live) return not_found();
      break;
    case WriteCondition::kIfMatch:
      if (!live) return not_found();
      if (e->version != d.want) return conflict("if-match " + d.want.ToString() + " failed");
      break;
    case WriteCondition::kIfNoneMatch:
      if (live) return conflict("if-none-match failed: the key exists");
      if (d.is_delete) return not_found();
      break;
    case WriteCondition::kIfNewer:
      if (e.has_value()) {
        if (d.want == e->version) {
          d.outcome = Decision::Outcome::kNoop;  // an idempotent retry
          return Status::OK();
        }
        if (d.want < e->version)
          return conflict("if-newer " + d.want.ToString() + " is not newer");
      } else if (d.want <= horizon) {
        return conflict("if-newer " + d.want.ToString() +
                        " is at or below the tombstone horizon and the key has no entry: a "
                        "delete of it may have been forgotten");
      }
      break;
  }
  return Status::OK();
}

Status StoreImpl::WriteDecided(Writer* w, std::string_view value, std::string* buf) {
  Decision& d = *w->decision;
  // The lookup may look at the disk: the index's clean flag goes first, outside the lock.
  if (d.may_wait) CAIRN_RETURN_IF_ERROR(MarkUncleanOnce());
  for (int attempt = 0; attempt < kMaxDecisionAttempts; attempt++) {
    d.outcome = Decision::Outcome::kWrite;
    // The first attempts are optimistic (no lock: a commit in between only means trying again).
    // Then, for a writer that may wait, the lookup and the reservation are made under
    // index_write_mu_, so that no commit lands between them: under heavy writing of one key,
    // the optimistic way might never succeed.
    d.locked = d.may_wait && attempt >= kOptimisticDecisionAttempts;
    if (d.locked) LockForDecision(w);
    d.gen = queue_.generation(std::memory_order_acquire);
    Result<format::IndexEntry> e = Status::OK();
    if (d.may_wait) {
      e = index_->Get(w->key, /*with_tombstones=*/true);
    } else {
      bool in_memory = true;
      e = index_->GetCached(w->key, &in_memory, /*with_tombstones=*/true);
      if (!in_memory) return Status::Busy("a condition needs an index lookup from disk");
    }
    if (e.ok()) {
      d.found = std::move(*e);
    } else if (e.status().IsNotFound()) {
      d.found.reset();
    } else {
      ReleaseDecisionLock(w);
      return e.status();
    }
    Status s = WriteRecord(w, value, buf);  // Reserve releases the decision lock
    ReleaseDecisionLock(w);                 // (WriteRecord failed before Reserve)
    // A queued PutAsync writer may be gone already: only `d` (ours) is looked at.
    if (d.outcome != Decision::Outcome::kRetry) return s;
  }
  return Status::Busy("a conditional write could not be ordered: the log kept changing under it " +
                      std::to_string(kMaxDecisionAttempts) + " times (kMaxDecisionAttempts)");
}

void StoreImpl::StartCommit() { queue_.StartCommit(); }

void StoreImpl::Acknowledge(CommitQueue::Entry* e) {
  Writer* w = static_cast<Writer*>(e);
  WriteResult r;
  if (w->result.ok()) r = ResultOf(*w);
  w->done_cb(w->result, r);
  delete w;
}

Status StoreImpl::CommitGroup(const CommitQueue::Group& entries) {
  // The group's Writers (Reserve joins only Writers to the queue): a view, no copy.
  struct Writers {
    const CommitQueue::Group& g;
    struct It {
      CommitQueue::Entry* const* p;
      Writer* operator*() const { return static_cast<Writer*>(*p); }
      It& operator++() {
        ++p;
        return *this;
      }
      bool operator!=(const It& o) const { return p != o.p; }
    };
    It begin() const { return It{g.data()}; }
    It end() const { return It{g.data() + g.size()}; }
    size_t size() const { return g.size(); }
    Writer* back() const { return static_cast<Writer*>(g.back()); }
  } const group{entries};
  if (options_.observer != nullptr) {
    uint64_t log_bytes = 0;
    for (const Writer* w : group) log_bytes += w->len;
    options_.observer->OnGroupCommit(group.size(), log_bytes);
  }
  bool need_sync = false;
  std::vector<std::shared_ptr<Volume>> touched;
  for (Writer* w : group) {
    if (!w->write_status.ok()) {
      // A failed pwrite leaves a gap that recovery reports. EIO means the device is failing:
      // trust nothing more. ENOSPC on a pre-written volume fails just this write.
      if (!w->write_status.IsNoSpace()) SetBgError(w->write_status);
      continue;
    }
    need_sync |= w->sync;
    if (touched.empty() || touched.back() != w->vol) touched.push_back(w->vol);
  }
  {
    MutexLock l(&mu_);
    if (!bg_error_.ok()) return bg_error_;
  }
  if (need_sync) {
    TestPoint("commit:before-sync");
    CAIRN_RETURN_IF_ERROR(syncer_.SyncAll(touched));
    TestPoint("commit:after-sync");
  }

  IndexBatch batch;
  Overlay overlay;
  uint64_t bytes = 0;
  MutexLock iwl(&index_write_mu_);
  // The previous versions of the group's keys (to count their bytes dead), with one sorted
  // MultiGet instead of one Get per write: those Gets were 13% of cairnd's CPU in the 10 KiB
  // PUT bench (issue 4). Nothing else writes the index while we hold index_write_mu_.
  Overlay prefetch;
  struct ClearPrefetch {
    const Overlay** p;
    ~ClearPrefetch() { *p = nullptr; }
  } clear_prefetch{&replay_prefetch_};
  if (group.size() > 1) {
    std::vector<std::string> keys;
    keys.reserve(group.size());
    for (const Writer* w : group)
      if (w->write_status.ok() && w->type != RecordType::kChunk) keys.emplace_back(w->key);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    if (keys.size() > 1) {
      std::vector<std::optional<format::IndexEntry>> found;
      CAIRN_RETURN_IF_ERROR(index_->MultiGet(keys, &found));
      for (size_t i = 0; i < keys.size(); i++) prefetch.emplace(std::move(keys[i]), found[i]);
      replay_prefetch_ = &prefetch;
    }
  }
  for (Writer* w : group) {
    bytes += w->len;
    if (!w->write_status.ok()) {
      accounts_.Appended(w->vol->id(), w->offset + w->len, /*seq=*/0);  // a gap, no record
      continue;
    }
    Applied a;
    a.type = w->type;
    a.relocated = w->relocated;
    a.format = w->format;
    a.version = w->version;
    a.meta = w->meta;
    a.key = w->key;
    a.volume = w->vol->id();
    a.offset = w->offset;
    a.len = w->len;
    a.seq = w->seq;
    a.ts = w->timestamp_us;
    a.object_size = w->object_size;
    a.object_crc = w->object_crc;
    a.manifest = w->manifest;
    a.expect = w->relocated ? &w->expect : nullptr;
    CAIRN_RETURN_IF_ERROR(ApplyRecord(a, ApplyMode::kCommit, &batch, &overlay));
  }
  const Writer* last = group.back();
  for (const Writer* w : group)
    if (w->write_status.ok() && last_ckpt_.max_version < w->version)
      last_ckpt_.max_version = w->version;
  last_ckpt_.clean = false;
  last_ckpt_.volume = last->vol->id();
  last_ckpt_.offset = last->offset + last->len;
  last_ckpt_.next_sequence = last->seq_after;
  const format::Checkpoint ckpt = CurrentCheckpointLocked();
  accounts_.WriteDirty(&batch);
  batch.PutCheckpoint(ckpt);
  Status s = index_->Write(&batch);
  if (!s.ok()) {
    SetBgError(s);
    return s;
  }
  TestPoint("commit:after-index");
  bytes_since_flush_ += bytes;
  records_since_flush_ += group.size();
  if (bytes_since_flush_ >= options_.checkpoint_bytes ||
      records_since_flush_ >= options_.checkpoint_records) {
    // Bounds how much log (in bytes and in records) the next open after a crash replays: at
    // most twice checkpoint_bytes / checkpoint_records committed since the last flush that
    // completed. Asynchronous, but Index::Flush first waits for the flush asked for before this
    // one: RocksDB's flush thread syncs the volumes (Index's before_flush), then writes the
    // memtable.
    bytes_since_flush_ = 0;
    records_since_flush_ = 0;
    (void)index_->Flush(/*wait=*/false);
  }
  return Status::OK();
}

format::Checkpoint StoreImpl::CurrentCheckpointLocked() {
  const VolumeAccounts::Counts c = accounts_.counts();
  last_ckpt_.objects = c.objects;
  last_ckpt_.logical_bytes = c.logical_bytes;
  last_ckpt_.tombstones = c.tombstones;
  return last_ckpt_;
}

Result<std::optional<format::IndexEntry>> StoreImpl::LookupForCommit(std::string_view key,
                                                                     const Overlay& overlay) {
  auto it = overlay.find(std::string(key));
  if (it != overlay.end()) return it->second;
  if (replay_prefetch_ != nullptr) {
    auto p = replay_prefetch_->find(std::string(key));
    if (p != replay_prefetch_->end()) return p->second;
  }
  Result<format::IndexEntry> e = index_->Get(key, /*with_tombstones=*/true);
  if (e.ok()) return std::optional<format::IndexEntry>(*e);
  if (e.status().IsNotFound()) return std::optional<format::IndexEntry>();
  return e.status();
}

VolumeAccounts::LiveVersion StoreImpl::Retiring(const format::IndexEntry& e,
                                                 std::string_view key, const Manifest* keep,
                                                 Manifest* chunks) {
  VolumeAccounts::LiveVersion v;
  v.record = {e.volume, e.offset, e.head_len(key.size()), e.record_len};
  v.tombstone = e.tombstone();
  v.object_size = e.object_size;
  v.keep = keep;
  if (e.tombstone() || e.type != static_cast<uint8_t>(RecordType::kManifest)) return v;
  // The chunks of a large object are live with its manifest. Read it back to find them. They are
  // in the manifest's record format.
  std::string buf;
  std::string_view payload;
  Status s = ReadRecord(e.volume, e.offset, e.record_len, key, RecordType::kManifest,
                        e.sequence, &buf, &payload);
  if (s.ok()) s = DecodeManifest(payload, chunks);
  if (!s.ok()) {
    Log("WARNING: cannot account the chunks of a large object: " + s.ToString());
    return v;
  }
  v.chunks = {chunks, e.record_format, key.size()};
  return v;
}

// The rules (docs/design.md, "Applying a record"):
//  - A write (kCommit) is the newest version of its key (its condition, if any, was judged when
//    it was reserved), except a relocated copy, which takes effect only if the key's entry is
//    still the record it copied (compare-and-swap).
//  - Recovery applies a record only if it is newer (CompareWrites: version, or sequence for
//    format 1) than the key's entry, tombstones included; a relocated copy of the entry's own
//    write moves the entry (the original came first in the log). During kReplay a relocated
//    copy of anything else is dead. During kRebuild it may be the only copy left, so it applies
//    unless a newer entry (or tombstone) exists.
//  - A tombstone is an entry like any other (kept until the horizon), so an older write of its
//    key met later, by replay, rebuild or a replica, loses to it.
//  - Whatever stops being live is listed for hole punching in the same batch.
Status StoreImpl::ApplyRecord(const Applied& r, ApplyMode mode, IndexBatch* batch,
                              Overlay* overlay) {
  accounts_.Appended(r.volume, r.offset + r.len, r.seq);
  if (r.type == RecordType::kChunk) return Status::OK();  // live once its manifest commits
  const bool tombstone = r.type == RecordType::kTombstone;
  CAIRN_ASSIGN_OR_RETURN(std::optional<format::IndexEntry> old, LookupForCommit(r.key, *overlay));
  const bool old_live = Live(old);
  if (old.has_value() && old->volume == r.volume && old->offset == r.offset &&
      old->sequence == r.seq)
    return Status::OK();  // already absorbed
  // > 0: this record is newer than the entry; 0: the same write.
  const int order = old.has_value() ? CompareWrites(r.format, r.version, r.seq, old->record_format,
                                                    old->version, old->sequence)
                                    : 1;
  bool apply = false;
  if (r.relocated) {
    switch (mode) {
      case ApplyMode::kCommit:
        apply = old.has_value() && r.expect != nullptr && old->volume == r.expect->volume &&
                old->offset == r.expect->offset && old->sequence == r.seq && order == 0;
        break;
      case ApplyMode::kReplay:
        apply = old.has_value() && old->sequence == r.seq && order == 0;
        break;
      case ApplyMode::kRebuild:
        apply = order >= 0;
        break;
    }
  } else {
    apply = mode == ApplyMode::kCommit || order > 0;
  }
  const uint64_t head_len = RecordHeaderSize(r.format) + r.key.size() + r.meta.size();
  if (!apply) {
    // Dead on arrival: a copy that lost a race with a newer write, or a version recovery found
    // superseded. Its bytes are dead; list them for punching.
    VolumeAccounts::Chunks chunks;
    const bool shared = old_live && order == 0;  // same object: chunks may be live
    if (r.manifest != nullptr && r.relocated && !shared)
      chunks = {r.manifest, r.format, r.key.size()};
    accounts_.ListDead({r.volume, r.offset, head_len, r.len}, chunks, batch);
    return Status::OK();
  }
  // What the version replaced held (a large object's chunks are read back without the
  // accounts' lock).
  Manifest old_chunks;
  std::optional<VolumeAccounts::LiveVersion> retiring;
  if (old.has_value())
    retiring = Retiring(*old, r.key, r.relocated ? r.manifest : nullptr, &old_chunks);
  format::IndexEntry e;
  e.type = static_cast<uint8_t>(r.type);
  e.record_format = r.format;
  e.volume = r.volume;
  e.offset = r.offset;
  e.record_len = r.len;
  e.sequence = r.seq;
  e.object_size = tombstone ? 0 : r.object_size;
  e.object_crc = tombstone ? 0 : r.object_crc;
  e.timestamp_us = r.ts;
  e.version = r.version;
  e.meta.assign(r.meta);
  VolumeAccounts::LiveVersion now;
  now.record = {r.volume, r.offset, head_len, r.len};
  now.tombstone = tombstone;
  now.object_size = r.object_size;
  if (r.manifest != nullptr) now.chunks = {r.manifest, r.format, r.key.size()};
  accounts_.Replace(retiring ? &*retiring : nullptr, &now, batch);
  batch->PutEntry(r.key, e);
  (*overlay)[std::string(r.key)] = std::move(e);
  return Status::OK();
}

namespace {

// The metadata of a put, checked against max_meta_bytes and encoded. Empty metadata costs one
// test and no allocation.
Status EncodeMeta(const WriteOptions& wo, size_t max_meta_bytes, std::string* out) {
  if (wo.metadata.empty()) return Status::OK();
  CAIRN_RETURN_IF_ERROR(CheckMetadata(wo.metadata, max_meta_bytes));
  AppendMetadata(wo.metadata, out);
  return Status::OK();
}

}  // namespace

Status StoreImpl::WriteWith(Writer* w, std::string_view value, std::string* buf,
                            const WriteOptions& wo) {
  const bool is_delete = w->type == RecordType::kTombstone;
  if (wo.condition == WriteCondition::kNone && !is_delete) {
    // The common case: no lookup, no decision; Reserve stamps the version.
    w->stamp = true;
    const bool no_wait = w->no_wait;
    Status s = WriteRecord(w, value, buf);
    if (s.ok() && !no_wait) ReportWrite(wo, ResultOf(*w));
    return s;
  }
  Decision d;
  d.condition = wo.condition;
  d.want = wo.version;
  d.is_delete = is_delete;
  d.may_wait = !w->no_wait;
  if (wo.condition == WriteCondition::kIfNewer) {
    w->version = wo.version;
  } else {
    w->stamp = true;
  }
  w->decision = &d;
  const bool no_wait = w->no_wait;
  Status s = WriteDecided(w, value, buf);
  // A PutAsync writer that was queued belongs to the commit leader now: do not touch it.
  if (s.ok() && d.outcome == Decision::Outcome::kNoop) {
    if (no_wait) return Status::Busy("an idempotent retry: Put answers it");
    ReportWrite(wo, NoopResultOf(d));
    return s;
  }
  if (s.ok() && !no_wait) {
    w->decision = nullptr;
    ReportWrite(wo, ResultOf(*w));
  }
  if (s.IsConflict() && wo.held_version_out != nullptr) *wo.held_version_out = d.held;
  return s;
}

Status StoreImpl::Put(std::string_view key, std::string_view value, const WriteOptions& wo) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  const uint64_t now = env_->NowMicros();
  if (wo.condition != WriteCondition::kNone) CAIRN_RETURN_IF_ERROR(CheckCondition(wo, now));
  foreground_ops_.fetch_add(1, std::memory_order_relaxed);
  if (value.size() > chunk_bytes_) {
    // Large values are chunked exactly as a stream would be.
    struct ViewSource : ValueSource {
      std::string_view rest;
      Result<size_t> Read(char* buf, size_t n) override {
        size_t k = std::min(n, rest.size());
        std::memcpy(buf, rest.data(), k);
        rest.remove_prefix(k);
        return k;
      }
    } src;
    src.rest = value;
    return PutStream(key, &src, wo);
  }
  std::string meta;
  CAIRN_RETURN_IF_ERROR(EncodeMeta(wo, options_.max_meta_bytes, &meta));
  Writer w;
  w.type = RecordType::kValue;
  w.key = key;
  w.meta = meta;
  w.sync = WantsSync(wo);
  w.interval = WantsInterval(wo);
  w.object_size = value.size();
  w.object_crc = crc32c::Value(value);
  w.timestamp_us = now;
  thread_local std::string buf;
  Status s = WriteWith(&w, value, &buf, wo);
  if (buf.capacity() > (size_t{1} << 20)) std::string().swap(buf);  // keep the cache small
  return s;
}

Status StoreImpl::PutAsync(std::string_view key, std::string_view value, const WriteOptions& wo,
                           PutDone done) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  if (value.size() > chunk_bytes_) return Status::Busy("a chunked value: use Put");
  const uint64_t now = env_->NowMicros();
  if (wo.condition != WriteCondition::kNone) CAIRN_RETURN_IF_ERROR(CheckCondition(wo, now));
  foreground_ops_.fetch_add(1, std::memory_order_relaxed);
  auto w = std::make_unique<Writer>();
  w->owned_key.assign(key);
  CAIRN_RETURN_IF_ERROR(EncodeMeta(wo, options_.max_meta_bytes, &w->owned_meta));
  w->type = RecordType::kValue;
  w->key = w->owned_key;
  w->meta = w->owned_meta;
  w->sync = WantsSync(wo);
  w->interval = WantsInterval(wo);
  w->object_size = value.size();
  w->object_crc = crc32c::Value(value);
  w->timestamp_us = now;
  w->no_wait = true;
  w->done_cb = std::move(done);
  thread_local std::string buf;
  // A no_wait WriteRecord fails only before Reserve queues the writer; once queued, the commit
  // leader owns it (runs done_cb, deletes it), possibly before WriteRecord has even returned.
  Status s = WriteWith(w.get(), value, &buf, wo);
  if (buf.capacity() > (size_t{1} << 20)) std::string().swap(buf);
  if (!s.ok()) return s;  // never queued: nothing written, done not called
  (void)w.release();
  return Status::OK();
}

Status StoreImpl::Delete(std::string_view key, const WriteOptions& wo) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  const uint64_t now = env_->NowMicros();
  CAIRN_RETURN_IF_ERROR(CheckCondition(wo, now));
  foreground_ops_.fetch_add(1, std::memory_order_relaxed);
  Writer w;
  w.type = RecordType::kTombstone;
  w.key = key;
  w.sync = WantsSync(wo);
  w.interval = WantsInterval(wo);
  w.timestamp_us = now;
  std::string buf;
  return WriteWith(&w, std::string_view(), &buf, wo);
}

namespace {

// Reads from src until n bytes or the end of the value; returns the bytes read.
Result<size_t> ReadFull(ValueSource* src, char* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    CAIRN_ASSIGN_OR_RETURN(size_t got, src->Read(dst + done, n - done));
    if (got == 0) break;
    done += got;
  }
  return done;
}

}  // namespace

Status StoreImpl::PutStream(std::string_view key, ValueSource* src, const WriteOptions& wo) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  const uint64_t ts = env_->NowMicros();
  std::string meta;
  CAIRN_RETURN_IF_ERROR(EncodeMeta(wo, options_.max_meta_bytes, &meta));
  if (wo.condition != WriteCondition::kNone) {
    CAIRN_RETURN_IF_ERROR(CheckCondition(wo, ts));
    // Fail early, before reading the stream: judged again (atomically) at the last record.
    Decision d;
    d.condition = wo.condition;
    d.want = wo.version;
    Result<format::IndexEntry> e = index_->Get(key, /*with_tombstones=*/true);
    if (e.ok()) {
      d.found = std::move(*e);
    } else if (!e.status().IsNotFound()) {
      return e.status();
    }
    Status s = Judge(&d, tombstone_horizon());
    if (s.IsConflict() && wo.held_version_out != nullptr) *wo.held_version_out = d.held;
    CAIRN_RETURN_IF_ERROR(s);
    if (d.outcome == Decision::Outcome::kNoop) {
      // An idempotent retry: the stream is read to its end (its bytes are the version held).
      std::string sink(64 << 10, '\0');
      for (;;) {
        CAIRN_ASSIGN_OR_RETURN(size_t got, src->Read(sink.data(), sink.size()));
        if (got == 0) break;
      }
      ReportWrite(wo, NoopResultOf(d));
      return Status::OK();
    }
  }
  const size_t hk = RecordHeaderSize(format::kRecordFormat) + key.size();
  // One chunk buffer, laid out as a chunk record: the source reads straight into the value area.
  std::string buf(hk + chunk_bytes_ + format::kRecordAlign, '\0');
  char* data = buf.data() + hk;
  // Reads the next chunk into `data`. A full chunk may be the last one: peek one byte ahead,
  // and carry it over as the first byte of the next chunk.
  char carry = 0;
  bool has_carry = false;
  auto next_chunk = [&](size_t* n, bool* more) -> Status {
    size_t start = 0;
    if (has_carry) data[start++] = carry;
    CAIRN_ASSIGN_OR_RETURN(size_t got, ReadFull(src, data + start, chunk_bytes_ - start));
    *n = start + got;
    has_carry = false;
    if (*n == chunk_bytes_) {
      CAIRN_ASSIGN_OR_RETURN(size_t peeked, src->Read(&carry, 1));
      has_carry = peeked == 1;
    }
    *more = has_carry;
    return Status::OK();
  };
  const bool sync = WantsSync(wo);
  const bool interval = WantsInterval(wo);
  // Metadata known only at the end of the value (ValueSource::FinalMetadata) replaces wo's.
  auto final_meta = [&]() -> Status {
    const ObjectMetadata* fm = src->FinalMetadata();
    if (fm == nullptr) return Status::OK();
    WriteOptions fwo;
    fwo.metadata = *fm;
    meta.clear();
    return EncodeMeta(fwo, options_.max_meta_bytes, &meta);
  };
  size_t n = 0;
  bool more = false;
  CAIRN_RETURN_IF_ERROR(next_chunk(&n, &more));
  if (!more) {
    CAIRN_RETURN_IF_ERROR(final_meta());
    Writer w;
    w.type = RecordType::kValue;
    w.key = key;
    w.meta = meta;
    w.sync = sync;
    w.interval = interval;
    w.object_size = n;
    w.object_crc = crc32c::Value(data, n);
    w.timestamp_us = ts;
    if (meta.empty()) return WriteWith(&w, std::string_view(data, n), &buf, wo);
    // The metadata goes between the key and the value: the value is not in place.
    const std::string value(data, n);
    return WriteWith(&w, value, &buf, wo);
  }
  // Pin the volumes this object's chunks may land in (the active one and later) against
  // compaction until the manifest has committed or the stream failed.
  uint32_t pin = 0;  // no active volume yet: pin every volume
  {
    MutexLock l(&mu_);
    if (active_ != nullptr) pin = active_->id();
  }
  const VolumeAccounts::StreamPin stream_pin = accounts_.Pin(pin);
  Manifest m;
  uint32_t crc = 0;
  for (;;) {
    // Chunks are committed (not synced) one by one; until the manifest commits they are dead
    // space, so an interrupted stream leaves nothing visible.
    if ((m.chunks.size() + 1) * format::kManifestEntrySize + format::kManifestHeaderSize >
        chunk_bytes_)
      return Status::InvalidArgument("object exceeds the limit max_object_bytes (" +
                                     std::to_string(m.object_size) + " bytes read so far)");
    Writer cw;
    cw.type = RecordType::kChunk;
    cw.key = key;
    cw.timestamp_us = ts;
    crc = crc32c::Extend(crc, data, n);
    CAIRN_RETURN_IF_ERROR(WriteRecord(&cw, std::string_view(data, n), &buf));
    m.chunks.push_back(ChunkRef{cw.vol->id(), static_cast<uint32_t>(n), cw.offset});
    m.object_size += n;
    if (!more) break;
    buf.resize(hk + chunk_bytes_ + format::kRecordAlign);  // WriteRecord trimmed it
    data = buf.data() + hk;
    CAIRN_RETURN_IF_ERROR(next_chunk(&n, &more));
  }
  m.object_crc = crc;
  CAIRN_RETURN_IF_ERROR(final_meta());
  std::string payload = EncodeManifest(m);
  // The object's version is decided (stamped, or its condition judged) by the manifest: the
  // chunks of a refused stream stay dead space.
  Writer w;
  w.type = RecordType::kManifest;
  w.key = key;
  w.meta = meta;
  w.sync = sync;
  w.interval = interval;
  w.object_size = m.object_size;
  w.object_crc = m.object_crc;
  w.timestamp_us = env_->NowMicros();
  w.manifest = &m;
  std::string mbuf;
  return WriteWith(&w, payload, &mbuf, wo);
}

Status StoreImpl::Sync() {
  {
    MutexLock l(&mu_);
    if (!bg_error_.ok()) return bg_error_;
  }
  return syncer_.SyncAll({});
}

}  // namespace cairn
