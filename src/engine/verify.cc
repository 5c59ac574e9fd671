// VerifyStore: the offline check of a store directory (docs/design.md, "Verify and repair").
//
// It never opens the store (no recovery runs, nothing is written), so it works on a store that
// cannot be opened. Two passes:
//
//  1. Every volume is read once, in log order, by the LogScanner: each record's header CRC and
//     value CRC are checked. Valid records are looked up in the index in batches (one MultiGet
//     per kBatchRecords), which classifies each one:
//       - the index entry of its key is at this very record and agrees with it: the entry is
//         confirmed (a manifest's chunks are then read and the object CRC checked);
//       - the entry is a newer write or the same one (a relocated copy keeps the original's
//         version and sequence; CompareWrites): an old version, fine;
//       - the entry is older: "stale-entry", unless the record lies after the index checkpoint
//         (not yet replayed: recovery will apply it);
//       - there is no entry: a candidate "unindexed" record, kept (newest per key) until the
//         end, when it is dropped if a newer tombstone of its key was seen.
//     Tombstone entries (kept deletes) are confirmed like the others, at their tombstone record.
//     Memory: one batch, plus the candidates and the tombstones of keys absent from the index.
//     Valid chunk records are remembered (position, key, length, CRC; at most kChunkMemoryBytes)
//     until their manifest is met, so an object's CRC is folded from its chunks' CRCs
//     (crc32c::Combine) instead of reading every chunk twice; a chunk not remembered is read.
//  2. Only if pass 1 confirmed fewer entries than the index holds (a damaged store), every
//     entry is read and checked at the place it points to, and each failure is reported as a
//     "dangling-entry". On a healthy store, equal counts prove every entry was confirmed (an
//     entry is confirmed at most once: one key, one position), so the index is only counted.
//
// What is scanned, per volume (the account is the index's 'v' entry):
//   - retired (compacted) volumes: not scanned; their live records were copied out, and the
//     file may be gone;
//   - sealed: [data_offset, end). Garbage there is a problem;
//   - after a clean shutdown, the checkpoint's volume: [data_offset, checkpoint offset); volumes
//     past it hold no log yet (prepared) and are not scanned;
//   - otherwise (not closed cleanly, or no usable index): [data_offset, capacity), stopping
//     max_unfinished_bytes past the last valid record, as recovery does. Garbage after the last
//     record of the whole log and after the checkpoint is the torn tail (counted, not a
//     problem); anywhere else it is a "bad-region".
// Zero-filled gaps between records (a reservation whose write never happened) are not
// problems: recovery skips them, and an index entry pointing into one is reported anyway.
#include "cairn/verify.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "engine/index.h"
#include "engine/log_scanner.h"
#include "engine/record.h"
#include "engine/store_dir.h"
#include "engine/volume.h"
#include "util/crc32c.h"

namespace cairn {
namespace {

constexpr size_t kBatchRecords = 4096;            // named bound: records per index lookup
constexpr size_t kBatchBytes = size_t{16} << 20;  // named bound: key and manifest bytes per batch
constexpr size_t kEntryPage = 65536;              // named bound: index entries per Scan page
// Named bound: memory for chunks waiting for their manifest. Past it the memory is dropped and
// those manifests' chunks are read again instead.
constexpr size_t kChunkMemoryBytes = size_t{64} << 20;
constexpr size_t kChunkOverheadBytes = 96;  // a remembered chunk's hash node and bucket, roughly
// The longest record there can be; an index entry claiming more is not read.
const uint64_t kMaxRecordLen = RecordLength(format::kRecordFormat, format::kMaxKeyBytes,
                                            format::kMaxRecordMetaBytes, format::kMaxChunkBytes);

// Which of two writes of a key is newer: > 0 when a is.
struct WriteId {
  uint8_t format = 0;
  Version version;
  uint64_t seq = 0;
};
int Compare(const WriteId& a, const WriteId& b) {
  return CompareWrites(a.format, a.version, a.seq, b.format, b.version, b.seq);
}
WriteId IdOf(const format::IndexEntry& e) { return WriteId{e.record_format, e.version, e.sequence}; }

std::string QuoteKey(std::string_view key) {
  std::string out = "\"";
  for (char c : key) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '"' && c != '\\') {
      out.push_back(c);
    } else {
      out += fmt::format("\\x{:02x}", u);
    }
  }
  out.push_back('"');
  return out;
}

std::string Where(uint32_t volume, uint64_t offset) {
  return fmt::format("volumes/{} offset {}", Volume::FileName(volume), offset);
}

struct Position {
  uint32_t volume = 0;
  uint64_t offset = 0;
  auto operator<=>(const Position&) const = default;
};

struct PositionHash {
  size_t operator()(const Position& p) const {
    return std::hash<uint64_t>()(p.offset * 0x9E3779B97F4A7C15ull ^ p.volume);
  }
};

class Verifier {
 public:
  Verifier(std::string dir, const StoreOptions& options)
      : dir_(std::move(dir)),
        options_(options),
        env_(options.env != nullptr ? options.env : Env::Default()) {}

  Result<VerifyReport> Run();

 private:
  struct Vol {
    VolumeProbe probe;
    std::optional<format::VolumeAccount> account;
    bool usable = false;  // header checks: records can be validated
    // Filled by the scan.
    bool any_record = false;
    uint64_t last_valid_end = 0;
    uint64_t garbage = 0;             // non-zero bytes after the last valid record
    bool garbage_is_problem = false;  // inside a range that must hold only records
  };
  struct Plan {
    bool scan = false;
    uint64_t limit = 0;
    uint64_t gap_limit = LogScanner::kNoGapLimit;
    bool garbage_is_problem = false;
  };
  // A valid record waiting for its batched index lookup.
  struct Pending {
    RecordType type;
    WriteId id;
    std::string key;
    Position pos;
    uint64_t len, value_len;
    uint32_t value_crc;
    bool after_checkpoint;
    std::string meta;
    std::string manifest;  // a manifest's payload
  };
  // A valid chunk record met by the scan, until a manifest claims it.
  struct ChunkSeen {
    std::string key;
    uint64_t value_len = 0;
    uint32_t value_crc = 0;
  };
  // The newest version seen of a key the index has no entry for.
  struct Candidate {
    WriteId id;
    Position pos;
    uint64_t len = 0;
  };

  void AddProblem(std::string kind, uint32_t volume, uint64_t offset, uint64_t length,
                  std::string_view key, std::string detail);
  void LoadIndex();
  void IndexFailed(const Status& s);
  Status LoadVolumes();
  void CheckCleanClaim();
  Plan PlanFor(const Vol& v) const;
  Status ScanVolume(Vol* v);
  void DescribeBadRegion(const Vol& v, uint64_t offset, uint64_t length);
  void JudgeTailGarbage();
  bool AfterCheckpoint(Position p) const;
  Status AddPending(const Vol& v, const ScanEvent& ev);
  void RememberChunk(Position pos, const ScanEvent& ev);
  Status FlushPending();
  void Classify(const Pending& p, const std::optional<format::IndexEntry>& e);
  void ReportUnindexed();
  Status CheckAllEntries();
  void CheckEntry(const std::string& key, const format::IndexEntry& e);
  void CheckManifest(std::string_view key, std::string_view payload, const format::IndexEntry& e);
  // Reads `len` bytes at `offset` of volume `id` into buf_ and parses them as a record; on
  // failure returns why, in words.
  std::optional<std::string> ReadRecordAt(uint32_t id, uint64_t offset, uint64_t len,
                                          RecordHeader* h, std::string_view* key,
                                          std::string_view* value);

  const std::string dir_;
  const StoreOptions options_;
  Env* const env_;
  LockedStoreDir store_;
  VerifyReport report_;
  std::unique_ptr<Index> index_;  // null when unusable
  std::optional<format::Checkpoint> checkpoint_;
  std::map<uint32_t, format::VolumeAccount> accounts_;
  std::map<uint32_t, Vol> vols_;
  std::vector<Pending> pending_;
  size_t pending_bytes_ = 0;
  uint64_t confirmed_ = 0;
  uint64_t confirmed_tombstones_ = 0;  // tombstone entries confirmed at their record
  std::unordered_map<std::string, Candidate> candidates_;
  std::unordered_map<std::string, WriteId> tombstones_;  // newest tombstone of absent keys
  std::unordered_map<Position, ChunkSeen, PositionHash> chunks_;
  size_t chunk_bytes_ = 0;  // memory charged to chunks_
  std::string buf_;         // one record being checked
};

void Verifier::AddProblem(std::string kind, uint32_t volume, uint64_t offset, uint64_t length,
                          std::string_view key, std::string detail) {
  if (report_.problems.size() >= kMaxVerifyProblems) {
    report_.problems_omitted++;
    return;
  }
  VerifyProblem p;
  p.kind = std::move(kind);
  p.volume = volume;
  p.offset = offset;
  p.length = length;
  p.key = std::string(key);
  p.detail = std::move(detail);
  report_.problems.push_back(std::move(p));
}

void Verifier::IndexFailed(const Status& s) {
  AddProblem("bad-index", 0, 0, 0, "", s.ToString() + "; only the volumes were checked");
  index_.reset();
  report_.index_checked = false;
}

// Opens the index without creating one: a missing index is reported, never replaced by an
// empty one (which would change what the next open does).
void Verifier::LoadIndex() {
  const std::string path = dir_ + "/index";
  if (!env_->Exists(path + "/CURRENT")) {
    AddProblem("bad-index", 0, 0, 0, "",
               fmt::format("{} is missing (no index/CURRENT); only the volumes were checked; "
                           "repair rebuilds the index from them",
                           path));
    return;
  }
  Result<std::unique_ptr<Index>> idx = Index::Open(path, options_, nullptr, {});
  if (!idx.ok()) return IndexFailed(idx.status().WithContext("cannot open the index"));
  index_ = std::move(*idx);
  report_.index_checked = true;
  Result<format::Checkpoint> c = index_->ReadCheckpoint();
  if (c.ok()) {
    checkpoint_ = *c;
  } else if (!c.status().IsNotFound()) {
    return IndexFailed(c.status().WithContext("cannot read the index checkpoint"));
  }
  // A rebuild that was interrupted: what it has not reached yet is not indexed, as after a
  // crash; the next open finishes it.
  Result<bool> rebuilding = index_->Rebuilding();
  if (rebuilding.ok() && *rebuilding) report_.needs_recovery = true;
  Result<std::map<uint32_t, format::VolumeAccount>> a = index_->ReadVolumes();
  if (!a.ok()) return IndexFailed(a.status().WithContext("cannot read the volume accounts"));
  accounts_ = std::move(*a);
}

Status Verifier::LoadVolumes() {
  const std::string vol_dir = dir_ + "/volumes";
  CAIRN_ASSIGN_OR_RETURN(std::vector<uint32_t> ids, ListVolumeIds(env_, vol_dir));
  for (uint32_t id : ids) {
    auto acct = accounts_.find(id);
    if (acct != accounts_.end() && acct->second.retired) continue;  // being removed
    Result<VolumeProbe> p = ProbeVolume(env_, vol_dir, id, store_.marker.store_id);
    report_.volumes++;
    if (!p.ok()) {
      AddProblem("bad-volume", id, 0, 0, "", p.status().ToString());
      continue;
    }
    Vol& v = vols_[id];
    v.probe = std::move(*p);
    if (acct != accounts_.end()) v.account = acct->second;
    const VolumeProbe& vp = v.probe;
    if (!vp.header_status.ok()) {
      AddProblem("bad-volume", id, 0, format::kVolumeHeaderSize, "",
                 "the volume header is invalid (" + vp.header_status.message() +
                     "); its records cannot be checked; repair renames the file to .bad");
      continue;
    }
    v.usable = true;
    if (vp.size < vp.header.capacity) {
      AddProblem("bad-volume", id, vp.size, vp.header.capacity - vp.size, "",
                 fmt::format("the file is truncated: {} bytes of {}; repair writes the missing "
                             "part back as zeros",
                             vp.size, vp.header.capacity));
    } else if (vp.size > vp.header.capacity) {
      AddProblem("bad-volume", id, vp.header.capacity, vp.size - vp.header.capacity, "",
                 fmt::format("the file is {} bytes, longer than its capacity {}", vp.size,
                             vp.header.capacity));
    }
  }
  // An account with records whose file is gone: those records are lost.
  for (const auto& [id, a] : accounts_) {
    if (a.retired || vols_.count(id) > 0 || std::binary_search(ids.begin(), ids.end(), id))
      continue;
    if (a.live_bytes > 0 || a.end > format::kVolumeHeaderSize)
      AddProblem("bad-volume", id, 0, 0, "",
                 fmt::format("the file is missing, but the index accounts {} live bytes in it",
                             a.live_bytes));
  }
  return Status::OK();
}

// A clean checkpoint claims nothing was appended after it; a session clears the flag durably
// before its first append. Where the next session appends first (the checkpoint's position, if
// its volume is not sealed, and the start of every later volume not sealed) must therefore be
// unwritten. If it is not, the index lost updates flushed after the checkpoint (RocksDB reads a
// flipped length in its MANIFEST as a torn tail and silently opens an older state): the index
// is not used, and the volumes are checked whole, as Store::Open refuses such a store.
void Verifier::CheckCleanClaim() {
  if (index_ == nullptr || !checkpoint_.has_value() || !checkpoint_->clean) return;
  const format::Checkpoint ckpt = *checkpoint_;
  for (const auto& [id, v] : vols_) {
    if (!v.usable || id < ckpt.volume) continue;
    if (v.account.has_value() && v.account->sealed) continue;
    const uint64_t at = id == ckpt.volume ? ckpt.offset : v.probe.header.data_offset;
    Result<bool> written = WrittenAt(v.probe.file.get(), at);
    if (!written.ok() || !*written) continue;  // a read error is reported by the scan
    IndexFailed(Status::Corruption(fmt::format(
        "the index is older than the log: its checkpoint records a clean shutdown at {}, but "
        "the log continues at {} (the index lost updates); the store will not open; repair "
        "rebuilds the index from the volumes",
        Where(ckpt.volume, ckpt.offset), Where(id, at))));
    checkpoint_.reset();
    accounts_.clear();
    for (auto& [i, vol] : vols_) vol.account.reset();
    return;
  }
}

Verifier::Plan Verifier::PlanFor(const Vol& v) const {
  Plan p;
  if (!v.usable) return p;
  const uint64_t capacity = v.probe.header.capacity;
  p.scan = true;
  if (v.account.has_value() && v.account->sealed) {
    p.limit = std::min(v.account->end, capacity);
    p.garbage_is_problem = true;
    return p;
  }
  if (checkpoint_.has_value() && checkpoint_->clean && index_ != nullptr) {
    if (v.probe.id == checkpoint_->volume) {
      p.limit = std::min(checkpoint_->offset, capacity);
      p.garbage_is_problem = true;
      return p;
    }
    if (v.probe.id > checkpoint_->volume) {
      p.scan = false;  // prepared: no log in it yet
      return p;
    }
  }
  p.limit = capacity;
  p.gap_limit = options_.max_unfinished_bytes;
  return p;
}

bool Verifier::AfterCheckpoint(Position p) const {
  if (index_ == nullptr || !checkpoint_.has_value()) return true;
  if (checkpoint_->clean) return false;
  return p >= Position{checkpoint_->volume, checkpoint_->offset};
}

// Names what lies at the start of a bad region: a record whose header (and so key) checks but
// whose value does not is the usual result of a flipped bit.
void Verifier::DescribeBadRegion(const Vol& v, uint64_t offset, uint64_t length) {
  char hdr[format::kMaxRecordHeaderSize];
  size_t got = 0;
  RecordHeader h;
  std::string detail = "bytes that are not a valid record (corrupt or torn)";
  std::string key;
  if (v.probe.file->PRead(offset, sizeof(hdr), hdr, &got).ok() &&
      got >= format::kMinRecordHeaderSize &&
      PeekRecordHeader(hdr, got, &h) == HeaderCheck::kValid) {
    std::string head(h.head_len(), '\0');
    std::string_view k;
    if (v.probe.file->PRead(offset, head.size(), head.data(), &got).ok() && got == head.size() &&
        DecodeRecordHead(head.data(), head.size(), v.probe.header.salt, offset, &h, &k) ==
            HeaderCheck::kValid) {
      uint64_t len = h.record_len();
      detail = fmt::format("a record (sequence {}, {} bytes) whose {}", h.sequence, len,
                           offset + len > v.probe.size ? "end is missing (the file ends first)"
                                                       : "value checksum fails");
      key = std::string(k);
    }
  }
  AddProblem("bad-region", v.probe.id, offset, length, key, detail);
}

Status Verifier::ScanVolume(Vol* v) {
  const Plan plan = PlanFor(*v);
  if (!plan.scan) return Status::OK();
  const uint64_t start = v->probe.header.data_offset;
  LogScanner scanner(v->probe.file.get(), v->probe.header.salt, start, plan.limit, plan.gap_limit);
  ScanEvent ev;
  for (;;) {
    Result<bool> more = scanner.Next(&ev);
    if (!more.ok()) {
      // An I/O error: the rest of this volume cannot be read. Say so and go on with the next.
      AddProblem("bad-volume", v->probe.id, scanner.scanned_end(), 0, "",
                 "read error, the rest of the volume is not checked: " + more.status().ToString());
      break;
    }
    if (!*more) break;
    switch (ev.kind) {
      case ScanEvent::Kind::kBadRegion:
        if (!ev.zero) DescribeBadRegion(*v, ev.offset, ev.length);
        break;
      case ScanEvent::Kind::kPunched:
        report_.punched_records++;
        v->any_record = true;
        break;
      case ScanEvent::Kind::kRecord:
        report_.records++;
        v->any_record = true;
        CAIRN_RETURN_IF_ERROR(AddPending(*v, ev));
        break;
    }
  }
  report_.bytes_scanned += scanner.scanned_end() - start;
  v->last_valid_end = scanner.last_valid_end();
  v->garbage = scanner.tail_garbage_bytes();
  v->garbage_is_problem = plan.garbage_is_problem;
  return Status::OK();
}

// Garbage after a volume's last record is a problem inside a range that must hold records (a
// sealed volume, or before the checkpoint), or when a later volume holds records (the middle
// of the log, as recovery sees it); otherwise it is the torn tail recovery truncates.
void Verifier::JudgeTailGarbage() {
  uint32_t tail_volume = 0;
  for (const auto& [id, v] : vols_)
    if (v.any_record) tail_volume = id;
  for (const auto& [id, v] : vols_) {
    if (v.garbage == 0) continue;
    const Position at{id, v.last_valid_end};
    if (v.garbage_is_problem || id < tail_volume || !AfterCheckpoint(at)) {
      DescribeBadRegion(v, v.last_valid_end, v.garbage);
    } else {
      report_.torn_tail_bytes += v.garbage;
    }
  }
}

Status Verifier::AddPending(const Vol& v, const ScanEvent& ev) {
  const Position pos{v.probe.id, ev.offset};
  const bool after = AfterCheckpoint(pos);
  if (after && index_ != nullptr) report_.unreplayed_records++;
  if (index_ == nullptr) return Status::OK();
  if (ev.header.type == RecordType::kChunk) {  // checked through its manifest
    RememberChunk(pos, ev);
    return Status::OK();
  }
  Pending p{ev.header.type,
            WriteId{ev.header.format, ev.header.version, ev.header.sequence},
            std::string(ev.key),
            pos,
            ev.length,
            ev.header.value_len,
            ev.header.value_crc,
            after,
            std::string(ev.meta),
            std::string()};
  if (p.type == RecordType::kManifest) p.manifest.assign(ev.value);
  pending_bytes_ += p.key.size() + p.meta.size() + p.manifest.size();
  pending_.push_back(std::move(p));
  if (pending_.size() >= kBatchRecords || pending_bytes_ >= kBatchBytes) return FlushPending();
  return Status::OK();
}

void Verifier::RememberChunk(Position pos, const ScanEvent& ev) {
  const size_t cost = ev.key.size() + kChunkOverheadBytes;
  if (chunk_bytes_ + cost > kChunkMemoryBytes) {
    // Mostly dead chunks (replaced or abandoned objects) by now: forget them all.
    chunks_.clear();
    chunk_bytes_ = 0;
  }
  chunks_[pos] = ChunkSeen{std::string(ev.key), ev.header.value_len, ev.header.value_crc};
  chunk_bytes_ += cost;
}

Status Verifier::FlushPending() {
  if (pending_.empty() || index_ == nullptr) {
    pending_.clear();
    pending_bytes_ = 0;
    return Status::OK();
  }
  std::vector<std::string> keys;
  keys.reserve(pending_.size());
  for (const Pending& p : pending_) keys.push_back(p.key);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::vector<std::optional<format::IndexEntry>> found;
  Status s = index_->MultiGet(keys, &found);
  if (!s.ok()) {
    IndexFailed(s.WithContext("index lookup failed"));
  } else {
    for (const Pending& p : pending_) {
      auto it = std::lower_bound(keys.begin(), keys.end(), p.key);
      Classify(p, found[static_cast<size_t>(it - keys.begin())]);
    }
  }
  pending_.clear();
  pending_bytes_ = 0;
  return Status::OK();
}

void Verifier::Classify(const Pending& p, const std::optional<format::IndexEntry>& found) {
  const std::optional<format::IndexEntry>& e = found;
  // The entry is at this very record: it is confirmed if it agrees with it.
  if (e.has_value() && Position{e->volume, e->offset} == p.pos) {
    const bool agrees = e->type == static_cast<uint8_t>(p.type) && e->sequence == p.id.seq &&
                        e->record_format == p.id.format && e->version == p.id.version &&
                        e->record_len == p.len && e->meta == p.meta &&
                        (p.type != RecordType::kValue ||
                         (e->object_size == p.value_len && e->object_crc == p.value_crc));
    // An entry that disagrees with the record it points at is reported by pass 2.
    if (!agrees) return;
    if (p.type == RecordType::kTombstone) {
      confirmed_tombstones_++;
      return;
    }
    confirmed_++;
    if (p.type == RecordType::kManifest) CheckManifest(p.key, p.manifest, *e);
    return;
  }
  if (p.type == RecordType::kTombstone) {
    if (!e.has_value()) {
      WriteId& t = tombstones_[p.key];
      if (t.format == 0 || Compare(p.id, t) > 0) t = p.id;
    } else if (Compare(IdOf(*e), p.id) < 0 && !p.after_checkpoint) {
      AddProblem("stale-entry", p.pos.volume, p.pos.offset, p.len, p.key,
                 fmt::format("this tombstone (sequence {}, version {}) deleted the key, but the "
                             "index still holds sequence {} at {}",
                             p.id.seq, p.id.version.ToString(), e->sequence,
                             Where(e->volume, e->offset)));
    }
    return;
  }
  if (!e.has_value()) {
    if (p.after_checkpoint) return;  // recovery will index it
    Candidate& c = candidates_[p.key];
    if (c.id.format == 0 || Compare(p.id, c.id) >= 0) c = Candidate{p.id, p.pos, p.len};
    return;
  }
  if (Compare(IdOf(*e), p.id) >= 0 || p.after_checkpoint) return;  // older, or not replayed
  AddProblem("stale-entry", p.pos.volume, p.pos.offset, p.len, p.key,
             fmt::format("this record (sequence {}, version {}) is newer than the indexed one "
                         "(sequence {} at {})",
                         p.id.seq, p.id.version.ToString(), e->sequence,
                         Where(e->volume, e->offset)));
}

void Verifier::ReportUnindexed() {
  std::vector<std::pair<std::string, Candidate>> out;
  for (auto& [key, c] : candidates_) {
    auto t = tombstones_.find(key);
    if (t != tombstones_.end() && Compare(t->second, c.id) > 0) continue;  // deleted
    out.emplace_back(key, c);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second.pos < b.second.pos; });
  for (const auto& [key, c] : out)
    AddProblem("unindexed", c.pos.volume, c.pos.offset, c.len, key,
               fmt::format("the newest version (sequence {}, version {}) of a key the index does "
                           "not hold",
                           c.id.seq, c.id.version.ToString()));
}

std::optional<std::string> Verifier::ReadRecordAt(uint32_t id, uint64_t offset, uint64_t len,
                                                  RecordHeader* h, std::string_view* key,
                                                  std::string_view* value) {
  auto it = vols_.find(id);
  if (it == vols_.end()) return std::string("its volume file is missing");
  const Vol& v = it->second;
  if (!v.usable) return std::string("its volume's header is invalid");
  if (offset < v.probe.header.data_offset || len < format::kMinRecordHeaderSize ||
      len > kMaxRecordLen || offset + len > v.probe.header.capacity)
    return std::string("it points outside the volume's records");
  std::string& buf = buf_;
  buf.resize(len);
  size_t got = 0;
  Status s = v.probe.file->PRead(offset, len, buf.data(), &got);
  if (!s.ok()) return "read error: " + s.ToString();
  if (got != len) return fmt::format("the file ends at {}, inside the record", v.probe.size);
  std::string_view meta;
  s = ParseRecord(buf, v.probe.header.salt, offset, h, key, &meta, value);
  if (!s.ok()) return s.message();
  if (h->record_len() != len)
    return fmt::format("the record there is {} bytes, the index says {}", h->record_len(), len);
  return std::nullopt;
}

// Checks that the entry for `key` points at a valid record of that key, with the entry's type,
// sequence, length, size and CRC.
void Verifier::CheckEntry(const std::string& key, const format::IndexEntry& e) {
  RecordHeader h;
  std::string_view k, value;
  std::optional<std::string> bad = ReadRecordAt(e.volume, e.offset, e.record_len, &h, &k, &value);
  if (!bad.has_value() &&
      (k != key || static_cast<uint8_t>(h.type) != e.type || h.sequence != e.sequence ||
       h.format != e.record_format || h.version != e.version))
    bad = fmt::format(
        "the record there is key {} type {} sequence {} version {}, the index expects type {} "
        "sequence {} version {}",
        QuoteKey(k), static_cast<int>(h.type), h.sequence, h.version.ToString(),
        static_cast<int>(e.type), e.sequence, e.version.ToString());
  if (!bad.has_value() && h.type == RecordType::kValue &&
      (h.value_len != e.object_size || h.value_crc != e.object_crc))
    bad = fmt::format("the index says {} bytes with CRC {:08x}, the record holds {} with {:08x}",
                      e.object_size, e.object_crc, h.value_len, h.value_crc);
  if (bad.has_value()) {
    AddProblem("dangling-entry", e.volume, e.offset, e.record_len, key,
               "the index entry does not point at a valid record of its key: " + *bad);
    return;
  }
  if (h.type == RecordType::kManifest) {
    std::string payload(value);  // buf_ is reused for the chunks
    CheckManifest(key, payload, e);
  }
}

// Reads every chunk a manifest lists, checks each is a valid chunk record of the key, and
// checks the whole object's CRC.
void Verifier::CheckManifest(std::string_view key, std::string_view payload,
                             const format::IndexEntry& e) {
  Manifest m;
  Status s = DecodeManifest(payload, &m);
  if (s.ok() && (m.object_size != e.object_size || m.object_crc != e.object_crc))
    s =
        Status::Corruption(fmt::format("the manifest says {} bytes with CRC {:08x}, the index "
                                       "says {} with {:08x}",
                                       m.object_size, m.object_crc, e.object_size, e.object_crc));
  if (!s.ok()) {
    AddProblem("dangling-entry", e.volume, e.offset, e.record_len, key,
               "the manifest cannot be used: " + s.message());
    return;
  }
  uint32_t crc = 0;
  bool whole = true;
  for (const ChunkRef& c : m.chunks) {
    // A chunk the scan found valid: its CRC was checked then, so fold it in without a read.
    auto seen = chunks_.find(Position{c.volume, c.offset});
    if (seen != chunks_.end() && seen->second.key == key && seen->second.value_len == c.value_len) {
      crc = crc32c::Combine(crc, seen->second.value_crc, c.value_len);
      chunk_bytes_ -= std::min(chunk_bytes_, seen->second.key.size() + kChunkOverheadBytes);
      chunks_.erase(seen);  // a chunk belongs to one object
      continue;
    }
    RecordHeader h;
    std::string_view k, value;
    const uint64_t len = RecordLength(e.record_format, key.size(), 0, c.value_len);
    std::optional<std::string> bad = ReadRecordAt(c.volume, c.offset, len, &h, &k, &value);
    if (!bad.has_value() && (k != key || h.type != RecordType::kChunk))
      bad = "the record there is not a chunk of this key";
    if (bad.has_value()) {
      AddProblem("bad-chunk", c.volume, c.offset, len, key,
                 fmt::format("a chunk of the object whose manifest is at {}: {}",
                             Where(e.volume, e.offset), *bad));
      whole = false;
      continue;
    }
    crc = crc32c::Extend(crc, value.data(), value.size());
  }
  if (whole && crc != m.object_crc)
    AddProblem("bad-chunk", e.volume, e.offset, e.record_len, key,
               fmt::format("the chunks are valid records, but the object's CRC is {:08x}, not "
                           "{:08x}",
                           crc, m.object_crc));
}

// Pass 2: counts the index entries, and checks each one where it points when pass 1 did not
// confirm them all.
Status Verifier::CheckAllEntries() {
  for (int round = 0; round < 2 && index_ != nullptr; round++) {
    const bool check = round == 1;
    uint64_t seen = 0, seen_tombstones = 0;
    std::string after;
    for (;;) {
      std::vector<std::pair<std::string, format::IndexEntry>> rows;
      bool truncated = false;
      Status s = index_->Scan("", after, kEntryPage, &rows, &truncated, /*with_tombstones=*/true);
      if (!s.ok()) {
        IndexFailed(s.WithContext("cannot list the index entries"));
        return Status::OK();
      }
      for (const auto& [key, e] : rows) {
        (e.tombstone() ? seen_tombstones : seen)++;
        if (check) CheckEntry(key, e);
      }
      if (!truncated || rows.empty()) break;
      after = rows.back().first;
    }
    report_.index_entries = seen;
    // Every entry was met, valid, during the volume scan.
    if (seen == confirmed_ && seen_tombstones == confirmed_tombstones_) break;
  }
  return Status::OK();
}

Result<VerifyReport> Verifier::Run() {
  const uint64_t t0 = env_->NowMicros();
  CAIRN_RETURN_IF_ERROR(LockStoreDir(env_, dir_, &store_));
  LoadIndex();
  CAIRN_RETURN_IF_ERROR(LoadVolumes());
  CheckCleanClaim();
  for (auto& [id, v] : vols_) CAIRN_RETURN_IF_ERROR(ScanVolume(&v));
  CAIRN_RETURN_IF_ERROR(FlushPending());
  JudgeTailGarbage();
  if (index_ != nullptr) {
    ReportUnindexed();
    CAIRN_RETURN_IF_ERROR(CheckAllEntries());
  }
  report_.needs_recovery =
      index_ != nullptr && (!checkpoint_.has_value() ? report_.records > 0 : !checkpoint_->clean);
  // Problems in disk order, index-wide ones first; a manifest checked in both passes is
  // reported once.
  auto& ps = report_.problems;
  auto order = [](const VerifyProblem& p) {
    return std::tie(p.volume, p.offset, p.kind, p.key, p.length);
  };
  std::sort(ps.begin(), ps.end(),
            [&](const VerifyProblem& a, const VerifyProblem& b) { return order(a) < order(b); });
  ps.erase(std::unique(ps.begin(), ps.end(),
                       [&](const VerifyProblem& a, const VerifyProblem& b) {
                         return order(a) == order(b);
                       }),
           ps.end());
  report_.micros = env_->NowMicros() - t0;
  return std::move(report_);
}

}  // namespace

std::string VerifyProblem::ToString() const {
  std::string s = volume != 0 ? Where(volume, offset) : std::string("index");
  s += ": " + kind;
  if (length > 0) s += fmt::format(" ({} bytes)", length);
  if (!key.empty()) s += " key " + QuoteKey(key);
  if (!detail.empty()) s += ": " + detail;
  return s;
}

Result<VerifyReport> VerifyStore(const std::string& dir, const StoreOptions& options) {
  if (dir.empty()) return Status::InvalidArgument("store directory is empty");
  Verifier v(dir, options);
  return v.Run();
}

}  // namespace cairn
