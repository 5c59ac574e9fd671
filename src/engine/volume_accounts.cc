#include "engine/volume_accounts.h"

#include <algorithm>

namespace cairn {
namespace {

// The record of the chunk `ch` of `c`.
VolumeAccounts::RecordRef ChunkRecord(const VolumeAccounts::Chunks& c, const ChunkRef& ch) {
  return VolumeAccounts::RecordRef{ch.volume, ch.offset, RecordHeaderSize(c.format) + c.key_size,
                                   RecordLength(c.format, c.key_size, 0, ch.value_len)};
}

// The chunks of `c` (none without a manifest). Plain loops over this keep the lock's analysis
// (a lambda called through a template is not analysed with the caller's locks).
const std::vector<ChunkRef>& ChunksOf(const VolumeAccounts::Chunks& c) {
  static const std::vector<ChunkRef> kNone;
  return c.manifest != nullptr ? c.manifest->chunks : kNone;
}

}  // namespace

void VolumeAccounts::Load(std::map<uint32_t, format::VolumeAccount> accounts) {
  MutexLock l(&mu_);
  accounts_ = std::move(accounts);
  dirty_.clear();
}

void VolumeAccounts::SetCounts(const Counts& c) {
  MutexLock l(&mu_);
  counts_ = c;
}

void VolumeAccounts::SetTotals(uint64_t reclaimed, uint64_t compactions) {
  MutexLock l(&mu_);
  reclaimed_total_ = reclaimed;
  compactions_total_ = compactions;
}

VolumeAccounts::Snapshot VolumeAccounts::snapshot() const {
  MutexLock l(&mu_);
  Snapshot s;
  s.accounts = accounts_;
  s.counts = counts_;
  s.reclaimed_total = reclaimed_total_;
  s.compactions_total = compactions_total_;
  if (!stream_pins_.empty()) s.first_pinned = *stream_pins_.begin();
  return s;
}

VolumeAccounts::Counts VolumeAccounts::counts() const {
  MutexLock l(&mu_);
  return counts_;
}

std::optional<format::VolumeAccount> VolumeAccounts::Get(uint32_t id) const {
  MutexLock l(&mu_);
  auto it = accounts_.find(id);
  if (it == accounts_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::pair<uint32_t, format::VolumeAccount>> VolumeAccounts::Last() const {
  MutexLock l(&mu_);
  if (accounts_.empty()) return std::nullopt;
  return *accounts_.rbegin();
}

std::vector<uint32_t> VolumeAccounts::RetiredIds() const {
  MutexLock l(&mu_);
  std::vector<uint32_t> ids;
  for (const auto& [id, a] : accounts_)
    if (a.retired) ids.push_back(id);
  return ids;
}

bool VolumeAccounts::OlderRecordOutside(uint32_t except, uint64_t seq) const {
  MutexLock l(&mu_);
  for (const auto& [id, a] : accounts_)
    if (id != except && !a.retired && a.min_seq != 0 && a.min_seq < seq) return true;
  return false;
}

void VolumeAccounts::Appended(uint32_t volume, uint64_t end, uint64_t seq) {
  MutexLock l(&mu_);
  format::VolumeAccount& a = accounts_[volume];
  a.end = std::max(a.end, end);
  if (seq != 0) a.NoteSeq(seq);
  dirty_.insert(volume);
}

void VolumeAccounts::ListDead(const RecordRef& record, const Chunks& chunks, IndexBatch* batch) {
  MutexLock l(&mu_);
  ListDeadLocked(record, batch);
  for (const ChunkRef& c : ChunksOf(chunks)) ListDeadLocked(ChunkRecord(chunks, c), batch);
}

void VolumeAccounts::Replace(const LiveVersion* old, const LiveVersion* now, IndexBatch* batch) {
  MutexLock l(&mu_);
  if (old != nullptr) RetireLocked(*old, batch);
  if (now != nullptr) AddLocked(*now);
}

void VolumeAccounts::AddLiveLocked(uint32_t volume, uint64_t bytes) {
  format::VolumeAccount& a = accounts_[volume];
  a.live_bytes += bytes;
  a.live_records++;
  dirty_.insert(volume);
}

void VolumeAccounts::ListDeadLocked(const RecordRef& r, IndexBatch* batch) {
  PunchRange p = PunchableRange(r.offset, r.head_len, r.len);
  if (p.bytes() == 0) return;  // no whole block to release: left to compaction
  batch->PutDead(DeadRecord{r.volume, r.offset, p.begin, p.end});
  accounts_[r.volume].punchable_bytes += p.bytes();
  dirty_.insert(r.volume);
}

void VolumeAccounts::DropLiveLocked(const RecordRef& r, IndexBatch* batch) {
  format::VolumeAccount& a = accounts_[r.volume];
  a.live_bytes -= std::min(a.live_bytes, r.len);
  a.live_records -= std::min<uint64_t>(a.live_records, 1);
  dirty_.insert(r.volume);
  ListDeadLocked(r, batch);
}

void VolumeAccounts::RetireLocked(const LiveVersion& v, IndexBatch* batch) {
  DropLiveLocked(v.record, batch);
  if (v.tombstone) {
    counts_.tombstones -= std::min<uint64_t>(counts_.tombstones, 1);
    return;
  }
  counts_.objects--;
  counts_.logical_bytes -= std::min(counts_.logical_bytes, v.object_size);
  // The chunks of a large object are live with its manifest.
  for (const ChunkRef& c : ChunksOf(v.chunks)) {
    const RecordRef r = ChunkRecord(v.chunks, c);
    // A relocated manifest still uses the chunks compaction did not move.
    const bool kept =
        v.keep != nullptr &&
        std::any_of(v.keep->chunks.begin(), v.keep->chunks.end(), [&](const ChunkRef& k) {
          return k.volume == c.volume && k.offset == c.offset;
        });
    if (kept) {
      format::VolumeAccount& a = accounts_[c.volume];
      a.live_bytes -= std::min(a.live_bytes, r.len);
      a.live_records -= std::min<uint64_t>(a.live_records, 1);
      dirty_.insert(c.volume);
      continue;
    }
    DropLiveLocked(r, batch);
  }
}

void VolumeAccounts::AddLocked(const LiveVersion& v) {
  AddLiveLocked(v.record.volume, v.record.len);
  // Live accounting of a new manifest's chunks uses the manifest in hand, not a disk read.
  for (const ChunkRef& c : ChunksOf(v.chunks)) AddLiveLocked(c.volume, ChunkRecord(v.chunks, c).len);
  if (v.tombstone) {
    counts_.tombstones++;
  } else {
    counts_.objects++;
    counts_.logical_bytes += v.object_size;
  }
}

void VolumeAccounts::Reset(uint32_t id, uint64_t end, bool sealed) {
  MutexLock l(&mu_);
  format::VolumeAccount& a = accounts_[id];
  a = format::VolumeAccount();
  a.end = end;
  a.sealed = sealed;
  dirty_.insert(id);
}

void VolumeAccounts::Seal(uint32_t id, uint64_t end) {
  MutexLock l(&mu_);
  format::VolumeAccount& a = accounts_[id];
  a.sealed = true;
  a.end = std::max(a.end, end);
  dirty_.insert(id);
}

void VolumeAccounts::SealBelow(uint32_t below) {
  MutexLock l(&mu_);
  for (auto& [id, a] : accounts_) {
    if (id < below && !a.sealed) {
      a.sealed = true;
      dirty_.insert(id);
    }
  }
}

void VolumeAccounts::Retire(uint32_t id) {
  MutexLock l(&mu_);
  format::VolumeAccount& a = accounts_[id];
  a.retired = true;
  a.sealed = true;
  dirty_.insert(id);
}

bool VolumeAccounts::Erase(uint32_t id) {
  MutexLock l(&mu_);
  dirty_.erase(id);
  return accounts_.erase(id) > 0;
}

void VolumeAccounts::Punched(const std::map<uint32_t, uint64_t>& per_volume, IndexBatch* batch) {
  MutexLock l(&mu_);
  uint64_t bytes = 0;
  for (const auto& [vol, b] : per_volume) {
    bytes += b;
    auto it = accounts_.find(vol);
    if (it == accounts_.end() || it->second.retired) continue;
    it->second.punchable_bytes -= std::min(it->second.punchable_bytes, b);
    it->second.punched_bytes += b;
    dirty_.insert(vol);
  }
  reclaimed_total_ += bytes;
  batch->PutReclaimTotals(reclaimed_total_, compactions_total_);
}

void VolumeAccounts::Removed(uint32_t id, uint64_t allocated, IndexBatch* batch) {
  MutexLock l(&mu_);
  accounts_.erase(id);
  dirty_.erase(id);
  reclaimed_total_ += allocated;
  compactions_total_++;
  batch->PutReclaimTotals(reclaimed_total_, compactions_total_);
}

void VolumeAccounts::WriteDirty(IndexBatch* batch) {
  MutexLock l(&mu_);
  for (uint32_t id : dirty_) batch->PutVolume(id, accounts_[id]);
  dirty_.clear();
}

VolumeAccounts::StreamPin VolumeAccounts::Pin(uint32_t first_volume) {
  MutexLock l(&mu_);
  return StreamPin(this, stream_pins_.insert(first_volume));
}

void VolumeAccounts::Unpin(std::multiset<uint32_t>::iterator it) {
  MutexLock l(&mu_);
  stream_pins_.erase(it);
}

}  // namespace cairn
