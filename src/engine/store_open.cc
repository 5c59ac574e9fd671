// Opening (and creating) a store, recovery, and closing.
//
// Recovery rules (docs/design.md, "Recovery"):
//  - Replay starts at the index checkpoint and applies every valid record after it, in log
//    order, exactly as the commit path would. Records the index already holds (by sequence) are
//    skipped, so replaying twice gives the same index.
//  - Invalid bytes between two valid records are reported (volume, offset, length, zero or not)
//    and skipped: the scanner resynchronises at the next valid record.
//  - Bytes after the last valid record are the torn tail: reported with their count and
//    logically truncated. After an unclean shutdown the tail volume is sealed at the last valid
//    record, so nothing beyond it is ever read again, and appending resumes in a volume that
//    holds no record (re-salted, so stale bytes can never validate).
//  - Recovery writes nothing to a volume that holds records. Its result becomes durable in one
//    index write and flush at the end; a crash before that just means recovery runs again from
//    the same checkpoint, with the same result.
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "engine/log_scanner.h"
#include "engine/store_impl.h"
#include "util/check.h"
#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn {

std::string RecoveryReport::ToString() const {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "%s shutdown; replayed %" PRIu64 " records (%" PRIu64
                " bytes) in %.1f ms; %zu bad regions; torn tail %" PRIu64
                " bytes; appending at volume %u offset %" PRIu64,
                clean_shutdown ? "clean" : "unclean", records_replayed, bytes_replayed,
                static_cast<double>(micros) / 1000.0, bad_regions.size(), torn_tail_bytes,
                tail_volume, tail_offset);
  std::string s = buf;
  if (!clean_shutdown) {
    const Timings& t = timings;
    std::snprintf(buf, sizeof(buf),
                  " (ms: index open %.1f, scan %.1f, sync %.1f, lookups %.1f, apply %.1f, "
                  "index writes %.1f, index flush %.1f)",
                  static_cast<double>(t.index_open) / 1000.0, static_cast<double>(t.scan) / 1000.0,
                  static_cast<double>(t.sync) / 1000.0, static_cast<double>(t.lookup) / 1000.0,
                  static_cast<double>(t.apply) / 1000.0,
                  static_cast<double>(t.index_write) / 1000.0,
                  static_cast<double>(t.index_flush) / 1000.0);
    s += buf;
  }
  if (upgraded_from_format1) s += "; upgraded from format 1";
  for (const Region& r : bad_regions) {
    std::snprintf(buf, sizeof(buf), "\n  %s region at volumes/%08x.vol offset %" PRIu64
                  " length %" PRIu64,
                  r.zero ? "unwritten (zero)" : "corrupt or torn", r.volume, r.offset, r.length);
    s += buf;
  }
  return s;
}

namespace {

// The directory holding `path` ("." for a bare name).
std::string ParentDir(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

// Writes the marker crash-safely: CAIRN.tmp, fdatasync, rename, directory fsync.
Status WriteMarker(Env* env, const std::string& dir, const std::string& path,
                   const format::StoreMarker& m) {
  const std::string tmp = path + ".tmp";
  CAIRN_ASSIGN_OR_RETURN(auto f, env->OpenFile(tmp, Env::OpenMode::kCreate));
  CAIRN_RETURN_IF_ERROR(f->PWrite(0, format::EncodeMarker(m)));
  CAIRN_RETURN_IF_ERROR(f->DataSync());
  f.reset();
  CAIRN_RETURN_IF_ERROR(env->Rename(tmp, path));
  return env->SyncDir(dir);
}

// The hint file a clean Close leaves (see StoreImpl::Open; format.md, "Files").
constexpr char kClosedHintFile[] = "CLOSED";

// Named bounds of a replay: records applied per index batch (their keys' previous versions are
// looked up in one MultiGet), and the threads of that lookup. Measured on a cold 10 M-object
// store, 32 767 records replayed: 16384 and 32 took 1114 ms where 4096 and 8 took 1226 ms
// (bench/engine open_time; docs/design.md, "Recovery").
constexpr size_t kReplayBatchRecords = 16384;
constexpr size_t kReplayLookupThreads = 32;

uint32_t NewWriterId() {
  for (;;) {
    const auto id = static_cast<uint32_t>(RandomU64());
    if (id != 0) return id;
  }
}

}  // namespace

StoreImpl::StoreImpl(std::string dir, const StoreOptions& options, StoreTestHooks hooks)
    : dir_(std::move(dir)),
      vol_dir_(dir_ + "/volumes"),
      options_(options),
      hooks_(std::move(hooks)),
      env_(options.env != nullptr ? options.env : Env::Default()) {
  syncer_.SetObserver(options.observer);
  MutexLock l(&reclaim_mu_);
  throttle_.SetScheduler(options.background_scheduler, BackgroundActivity::kReclaim, &stop_);
}

StoreImpl::~StoreImpl() { (void)Close(); }

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, const StoreOptions& options) {
  return StoreImpl::Open(dir, options, StoreTestHooks());
}

Result<std::unique_ptr<Store>> StoreImpl::Open(const std::string& dir, const StoreOptions& options,
                                               StoreTestHooks hooks) {
  if (dir.empty()) return Status::InvalidArgument("store directory is empty");
  auto s = std::make_unique<StoreImpl>(dir, options, std::move(hooks));
  CAIRN_RETURN_IF_ERROR(s->OpenStore());
  return std::unique_ptr<Store>(std::move(s));
}

Status StoreImpl::OpenStore() {
  const std::string marker_path = dir_ + "/CAIRN";
  if (options_.volume_capacity < kMinVolumeCapacity ||
      options_.volume_capacity > kMaxVolumeCapacity)
    return Status::InvalidArgument("volume_capacity " + std::to_string(options_.volume_capacity) +
                                   " is outside 1 MiB..64 GiB");
  if (options_.max_unfinished_bytes < (uint64_t{8} << 20))
    return Status::InvalidArgument("max_unfinished_bytes must be at least 8 MiB");
  if (options_.checkpoint_records == 0 || options_.checkpoint_bytes == 0)
    return Status::InvalidArgument("checkpoint_records and checkpoint_bytes must be at least 1");
  if (options_.max_meta_bytes > format::kMaxRecordMetaBytes)
    return Status::InvalidArgument("max_meta_bytes " + std::to_string(options_.max_meta_bytes) +
                                   " is above the record format's bound, " +
                                   std::to_string(format::kMaxRecordMetaBytes));
  if (options_.max_clock_skew_ms > uint64_t{365} * 24 * 3600 * 1000)
    return Status::InvalidArgument("max_clock_skew_ms must be at most one year");
  bool exists = env_->Exists(dir_);
  if (!exists) {
    if (!options_.create_if_missing)
      return Status::NotFound("no store at " + dir_ + " (create_if_missing is off)");
    CAIRN_RETURN_IF_ERROR(env_->CreateDir(dir_));
    // The new directory's name must be durable before anything in it is acknowledged: after a
    // power loss an unsynced mkdir takes the whole store with it (found by powerloss_test).
    CAIRN_RETURN_IF_ERROR(env_->SyncDir(ParentDir(dir_)));
  }
  bool fresh = !env_->Exists(marker_path);
  if (fresh) {
    CAIRN_ASSIGN_OR_RETURN(auto names, env_->ListDir(dir_));
    // A non-empty directory without a marker is somebody else's: never write into it. LOCK and
    // CAIRN.tmp alone are what an interrupted (or concurrent) creation of a store leaves.
    std::erase_if(names, [](const std::string& n) { return n == "LOCK" || n == "CAIRN.tmp"; });
    if (!names.empty())
      return Status::InvalidArgument(dir_ + " is not a Cairn store (no CAIRN marker) and is not "
                                     "empty; refusing to touch it: pass an empty or new directory");
    if (!options_.create_if_missing)
      return Status::NotFound("no store at " + dir_ + " (create_if_missing is off)");
  }
  CAIRN_ASSIGN_OR_RETURN(lock_, env_->LockFile(dir_ + "/LOCK"));
  fresh = !env_->Exists(marker_path);
  format::StoreMarker marker;
  bool format1 = false;
  if (fresh) {
    marker.store_id = RandomU64();
    marker.volume_capacity = options_.volume_capacity;
    marker.created_us = env_->NowMicros();
    marker.writer_id = NewWriterId();
    CAIRN_RETURN_IF_ERROR(WriteMarker(env_, dir_, marker_path, marker));
  } else {
    CAIRN_ASSIGN_OR_RETURN(auto f, env_->OpenFile(marker_path, Env::OpenMode::kExisting));
    std::string b(format::kMarkerSize + 1, '\0');
    size_t got = 0;
    CAIRN_RETURN_IF_ERROR(f->PRead(0, b.size(), b.data(), &got));
    b.resize(got);
    Status s = format::DecodeMarker(b, &marker);
    if (!s.ok()) {
      if (s.IsNotSupported()) return s.WithContext(marker_path);
      return Status::Corruption(marker_path + " is damaged (" + s.message() +
                                "); refusing to open the store");
    }
    if (marker.format_version == format::kFormatVersion1) {
      // Format 1 (docs/format.md section 7): the marker is upgraded before anything else is
      // written, so no build that reads only format 1 opens the store once it holds format 2.
      format1 = true;
      marker.format_version = format::kFormatVersion;
      marker.writer_id = NewWriterId();
      CAIRN_RETURN_IF_ERROR(
          WriteMarker(env_, dir_, marker_path, marker).WithContext("upgrading the store marker"));
      Log("upgraded " + marker_path + " from format 1 to format 2");
    }
  }
  clock_writer_ = options_.writer_id != 0 ? options_.writer_id : marker.writer_id;
  clock_.set_writer(clock_writer_);
  store_id_ = marker.store_id;
  capacity_ = marker.volume_capacity;
  // A record must fit in a volume with room to spare: chunks are at most a quarter of the data
  // area, and 4 MiB (format::kMaxChunkBytes).
  chunk_bytes_ = std::min<uint64_t>(format::kMaxChunkBytes,
                                    (capacity_ - format::kVolumeHeaderSize) / 4 / 8 * 8);
  CAIRN_RETURN_IF_ERROR(env_->CreateDir(vol_dir_));

  // CLOSED, left by the last Close that left a clean checkpoint, says nothing needs replaying:
  // compactions need not wait (deferring them and starting them again rewrites RocksDB's
  // OPTIONS file, about 8 ms of a short `cairn` call). Only a hint: it is removed before anything
  // is written, unsynced, so at worst a power loss brings it back and a replay runs with
  // compactions allowed (slower, not less safe; the replay bound rests on the memtables).
  const std::string closed_hint = dir_ + "/" + kClosedHintFile;
  const bool closed_cleanly = !fresh && env_->Exists(closed_hint);
  if (closed_cleanly) CAIRN_RETURN_IF_ERROR(env_->RemoveFile(closed_hint));
  const uint64_t index_open_start = env_->NowMicros();
  Result<std::unique_ptr<Index>> idx =
      Index::Open(dir_ + "/index", options_, hooks_.index_env, [this] {
        (void)syncer_.SyncAll({});
        TestPoint("index:flush-begin");
      }, /*defer_compactions=*/!closed_cleanly);
  if (!idx.ok())
    return Status::Corruption("the index in " + dir_ + "/index cannot be opened (" +
                              idx.status().ToString() + "); the volumes are untouched");
  index_ = std::move(*idx);
  const uint64_t index_open_micros = env_->NowMicros() - index_open_start;
  // volumes/ and index/ may have just been created (here, or by a session that crashed before
  // making them durable): their names go to disk before any write is acknowledged. Cheap when
  // nothing changed.
  CAIRN_RETURN_IF_ERROR(env_->SyncDir(dir_));

  // Volumes on disk. A half-written one (.tmp) was never used: remove it.
  CAIRN_ASSIGN_OR_RETURN(auto names, env_->ListDir(vol_dir_));
  std::vector<uint32_t> ids;
  for (const std::string& n : names) {
    uint32_t id;
    bool tmp;
    if (!Volume::ParseFileName(n, &id, &tmp)) continue;
    if (tmp) {
      CAIRN_RETURN_IF_ERROR(env_->RemoveFile(vol_dir_ + "/" + n));
      continue;
    }
    ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  for (uint32_t id : ids) {
    Result<std::shared_ptr<Volume>> v = Volume::Open(env_, vol_dir_, id, store_id_);
    if (!v.ok())
      return Status::Corruption("cannot open volume: " + v.status().message() +
                                "; refusing to open the store rather than lose its records");
    volumes_.Add(*v);
  }
  preparer_.SetOptions({env_, vol_dir_, capacity_, store_id_, options_.volume_preparation,
                        &volumes_, [this](const std::string& m) { Log(m); }, &hooks_.test_point});
  if (!ids.empty()) preparer_.IdsAbove(ids.back());

  std::optional<format::Checkpoint> ckpt;
  Result<format::Checkpoint> c = index_->ReadCheckpoint();
  if (c.ok()) {
    ckpt = *c;
  } else if (!c.status().IsNotFound()) {
    return Status::Corruption("index checkpoint is damaged: " + c.status().message());
  } else if (!ids.empty()) {
    // The index has never been flushed (it has no WAL), or it was removed: it has absorbed
    // nothing, so replay the whole log.
    format::Checkpoint from_start;
    from_start.volume = ids.front();
    from_start.offset = format::kVolumeHeaderSize;
    ckpt = from_start;
    rebuild_from_start_ = true;
    Log("the index has no checkpoint; rebuilding it from the volumes");
  }
  CAIRN_ASSIGN_OR_RETURN(explicit_horizon_, index_->ReadHorizon());
  if (ckpt.has_value()) {
    clock_.Observe(ckpt->max_version);
    format1 = format1 || ckpt->version == 1;
  }
  // A format-1 index, or one rebuilt from the volumes, does not know which deletes were
  // forgotten: its horizon becomes now (docs/format.md section 7).
  if (format1 || rebuild_from_start_) CAIRN_RETURN_IF_ERROR(UpgradeIndex(ckpt ? &*ckpt : nullptr));
  {
    CAIRN_ASSIGN_OR_RETURN(auto accounts, index_->ReadVolumes());
    accounts_.Load(std::move(accounts));
  }
  // A new volume never takes an id the index still names, even if that volume's file is gone
  // (compaction removed it, and the power failed before the next volume's directory entry was
  // durable). The checkpoint may point into that id and its account may seal it: records of a
  // new volume under the same id would be skipped by the next replay (power_loss_test lost
  // acknowledged writes that way; PowerLossRegression.AVolumeIdTheIndexStillNamesIsNeverReused).
  if (ckpt.has_value()) preparer_.IdsAbove(ckpt->volume);
  if (auto last = accounts_.Last(); last.has_value()) preparer_.IdsAbove(last->first);
  // A compaction that crashed after retiring a volume but before removing its file: finish it.
  // (The index no longer points into it, and its dead-record entries are gone.)
  for (const uint32_t id : accounts_.RetiredIds()) {
    if (std::shared_ptr<Volume> v = volumes_.Remove(id); v != nullptr) {
      v->MarkRemoved();
      CAIRN_RETURN_IF_ERROR(env_->RemoveFile(vol_dir_ + "/" + Volume::FileName(id)));
      CAIRN_RETURN_IF_ERROR(env_->SyncDir(vol_dir_));
      Log("removed retired volume " + Volume::FileName(id) + " left by an interrupted compaction");
    }
    IndexBatch b;
    b.DeleteVolume(id);
    CAIRN_RETURN_IF_ERROR(index_->Write(&b));
    accounts_.Erase(id);
    std::erase(ids, id);
  }
  for (const auto& [id, a] : accounts_.snapshot().accounts) {
    if (!volumes_.Contains(id) && a.live_bytes > 0)
      return Status::Corruption("volume " + Volume::FileName(id) +
                                " holds live objects but its file is missing");
  }
  CAIRN_RETURN_IF_ERROR(Recover(ckpt));
  // Compactions wait for the replay (Index::Open): it has the disk and the cores to itself.
  CAIRN_RETURN_IF_ERROR(index_->StartCompactions());
  report_.upgraded_from_format1 = format1;
  report_.timings.index_open = index_open_micros;
  {
    MutexLock iwl(&index_write_mu_);
    last_ckpt_.clean = false;
    last_ckpt_.volume = report_.tail_volume;
    last_ckpt_.offset = report_.tail_offset;
    last_ckpt_.next_sequence = next_seq_;
    last_ckpt_.max_version = clock_.max();
  }
  queue_.SetCommittedEnd(&mu_, LogPosition(report_.tail_volume, report_.tail_offset));
  opened_ = true;
  CAIRN_ASSIGN_OR_RETURN(auto totals, index_->ReadReclaimTotals());
  accounts_.SetTotals(totals.first, totals.second);
  preparer_.Start();
  queue_.Start();
  if (options_.background_reclaim) {
    reclaimer_.Start(
        std::chrono::milliseconds(options_.reclaim_interval_ms),
        [this, warned = false]() mutable { BackgroundReclaim(&warned); }, "cairn-reclaim");
  }
  syncer_.StartInterval(options_.sync_interval_ms);
  return Status::OK();
}

Status StoreImpl::UpgradeIndex(format::Checkpoint* ckpt) {
  // One pass over the entries: the clock must start above every version the store holds (a
  // format-1 checkpoint does not say), and nothing older than this moment may create a key
  // that format 1 (or a lost index) may have deleted and forgotten.
  std::string after;
  for (;;) {
    std::vector<std::pair<std::string, format::IndexEntry>> rows;
    bool truncated = false;
    CAIRN_RETURN_IF_ERROR(index_->Scan("", after, 65536, &rows, &truncated,
                                       /*with_tombstones=*/true));
    for (const auto& [k, e] : rows) clock_.Observe(e.version);
    if (!truncated || rows.empty()) break;
    after = rows.back().first;
  }
  Version h = Version::Make(env_->NowMicros() / 1000, 0xFFFF, 0xFFFFFFFF);
  if (h < clock_.max()) h = clock_.max();
  if (h < explicit_horizon_) h = explicit_horizon_;
  explicit_horizon_ = h;
  IndexBatch b;
  b.PutHorizon(h);
  if (ckpt != nullptr && !rebuild_from_start_) {
    ckpt->version = 2;
    ckpt->max_version = clock_.max();
    b.PutCheckpoint(*ckpt);
  }
  CAIRN_RETURN_IF_ERROR(index_->Write(&b));
  return index_->Flush(/*wait=*/true);
}

Status StoreImpl::Recover(const std::optional<format::Checkpoint>& ckpt) {
  const uint64_t t0 = env_->NowMicros();
  report_ = RecoveryReport();
  if (!ckpt.has_value()) {
    // A new store: its first volume is written now, so the first put does not wait for it,
    // and the store starts clean, appending at the start of that volume.
    CAIRN_ASSIGN_OR_RETURN(auto v, Volume::Create(env_, vol_dir_, preparer_.TakeId(), capacity_,
                                                  store_id_, options_.volume_preparation,
                                                  nullptr, &hooks_.test_point));
    volumes_.Add(v);
    active_ = v;
    tail_ = v->data_offset();
    format::Checkpoint c;
    c.clean = true;
    c.volume = v->id();
    c.offset = tail_;
    accounts_.Reset(v->id(), format::kVolumeHeaderSize, /*sealed=*/false);
    IndexBatch b;
    accounts_.WriteDirty(&b);
    b.PutCheckpoint(c);
    CAIRN_RETURN_IF_ERROR(index_->Write(&b));
    CAIRN_RETURN_IF_ERROR(index_->Flush(/*wait=*/true));
    open_checkpoint_ = c;
    clean_on_disk_ = true;
    report_.clean_shutdown = true;
    report_.tail_volume = c.volume;
    report_.tail_offset = c.offset;
    report_.micros = env_->NowMicros() - t0;
    return Status::OK();
  }
  next_seq_ = ckpt->next_sequence;
  accounts_.SetCounts({ckpt->objects, ckpt->logical_bytes, ckpt->tombstones});

  if (ckpt->clean) {
    // Nothing was written after the checkpoint: resume exactly there. Check the claim first. A
    // session clears the clean flag durably before its first append, so the places where the
    // next session appends first hold nothing: the checkpoint's position in its volume (unless
    // that is sealed) and the start of every later volume that is not sealed. Something written
    // there means the index lost updates flushed after this checkpoint: RocksDB reads a
    // flipped length in its MANIFEST as a torn tail and silently opens an older state.
    // Trusting it would hide every later write and append over them.
    for (const std::shared_ptr<Volume>& v : volumes_.All()) {
      if (v->id() < ckpt->volume) continue;
      const std::optional<format::VolumeAccount> a = accounts_.Get(v->id());
      if (a.has_value() && a->sealed) continue;
      const uint64_t at = v->id() == ckpt->volume ? ckpt->offset : v->data_offset();
      CAIRN_ASSIGN_OR_RETURN(bool written, WrittenAt(v->file(), at));
      if (written)
        return Status::Corruption(
            "the index in " + dir_ + "/index is older than the log: its checkpoint records a "
            "clean shutdown at volumes/" + Volume::FileName(ckpt->volume) + " offset " +
            std::to_string(ckpt->offset) + ", but the log continues at volumes/" +
            Volume::FileName(v->id()) + " offset " + std::to_string(at) +
            " (the index lost updates: a damaged index file); refusing to open rather than "
            "lose the records after it; `cairn verify --repair` rebuilds the index from the "
            "volumes");
    }
    report_.clean_shutdown = true;
    std::shared_ptr<Volume> last = volumes_.Get(ckpt->volume);
    const std::optional<format::VolumeAccount> last_acct = accounts_.Get(ckpt->volume);
    if (last == nullptr || (last_acct.has_value() && last_acct->sealed)) {
      // The last volume was full: the next write switches to a prepared one.
      active_ = nullptr;
      preparer_.Want();
    } else {
      active_ = last;
      tail_ = ckpt->offset;
    }
    for (const std::shared_ptr<Volume>& v : volumes_.All())
      if (v->id() > ckpt->volume && !accounts_.Get(v->id()).has_value()) preparer_.AddPrepared(v);
    report_.tail_volume = ckpt->volume;
    report_.tail_offset = ckpt->offset;
    // The clean flag stays on disk until the first write (MarkUncleanOnce).
    open_checkpoint_ = *ckpt;
    open_checkpoint_.max_version = clock_.max();
    clean_on_disk_ = true;
    report_.micros = env_->NowMicros() - t0;
    return Status::OK();
  }

  // Unclean shutdown: replay the log after the checkpoint. A rebuild (no checkpoint, or one
  // that was interrupted) replays everything.
  CAIRN_ASSIGN_OR_RETURN(bool rebuild, index_->Rebuilding());
  rebuild = rebuild || rebuild_from_start_;
  // A rebuild writes the whole index: it must not run with compactions deferred (level 0 would
  // fill and stall its writes for good).
  if (rebuild) CAIRN_RETURN_IF_ERROR(index_->StartCompactions());
  IndexBatch batch;
  if (rebuild) batch.SetRebuilding(true);
  Overlay overlay;
  uint32_t tail_vol = ckpt->volume;
  uint64_t tail_end = ckpt->offset;
  uint64_t last_seq = ckpt->next_sequence - 1;
  struct Seen {
    bool any_record = false;
    uint64_t last_valid_end = 0;
    uint64_t garbage = 0;  // non-zero bytes after the last valid record
  };
  std::map<uint32_t, Seen> seen;
  // Records waiting to be applied: their previous versions are looked up together.
  struct Pending {
    RecordType type;
    bool relocated;
    uint8_t format;
    Version version;
    std::string key;
    std::string meta;
    uint32_t volume;
    uint64_t offset, len, seq, ts, object_size;
    uint32_t object_crc;
    std::optional<Manifest> manifest;
  };
  std::vector<Pending> pending;
  size_t pending_bytes = 0;
  std::set<std::pair<uint32_t, uint64_t>> chunks_seen;  // every valid chunk record scanned
  auto flush_batch = [&](uint32_t vol, uint64_t end) NO_THREAD_SAFETY_ANALYSIS -> Status {
    format::Checkpoint c = *ckpt;
    c.clean = false;
    c.volume = vol;
    c.offset = end;
    c.next_sequence = last_seq + 1;
    c.version = 2;
    const VolumeAccounts::Counts counts = accounts_.counts();
    c.objects = counts.objects;
    c.logical_bytes = counts.logical_bytes;
    c.tombstones = counts.tombstones;
    c.max_version = clock_.max();
    accounts_.WriteDirty(&batch);
    batch.PutCheckpoint(c);
    const uint64_t w0 = env_->NowMicros();
    CAIRN_RETURN_IF_ERROR(index_->Write(&batch));
    report_.timings.index_write += env_->NowMicros() - w0;
    batch.Clear();
    overlay.clear();
    return Status::OK();
  };
  // Applies `pending` in log order after one batched lookup of the keys' current entries
  // (a cold point lookup per record made replay of a large store take 28 µs a record).
  auto apply_pending = [&]() NO_THREAD_SAFETY_ANALYSIS -> Status {
    if (pending.empty()) return Status::OK();
    // Replayed records may exist only in the page cache (a process crash in kNone mode, or a
    // writeback that failed before the crash). Make them durable before the index points at
    // them; a failure fails the open, and nothing of this batch reaches the index.
    std::set<uint32_t> vols;
    for (const Pending& p : pending) vols.insert(p.volume);
    const uint64_t s0 = env_->NowMicros();
    for (uint32_t v : vols) {
      Status s = volumes_.Get(v)->file()->DataSync();
      if (!s.ok()) return s.WithContext("recovery could not sync a replayed volume");
    }
    report_.timings.sync += env_->NowMicros() - s0;
    MutexLock iwl(&index_write_mu_);
    std::vector<std::string> keys;
    keys.reserve(pending.size());
    for (const Pending& p : pending)
      if (p.type != RecordType::kChunk) keys.push_back(p.key);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    std::vector<std::optional<format::IndexEntry>> found;
    const uint64_t l0 = env_->NowMicros();
    CAIRN_RETURN_IF_ERROR(index_->MultiGet(keys, &found, kReplayLookupThreads));
    report_.timings.lookup += env_->NowMicros() - l0;
    Overlay prefetch;
    for (size_t i = 0; i < keys.size(); i++) prefetch.emplace(std::move(keys[i]), found[i]);
    replay_prefetch_ = &prefetch;
    const uint64_t a0 = env_->NowMicros();
    Status s;
    for (const Pending& p : pending) {
      Applied a;
      a.type = p.type;
      a.relocated = p.relocated;
      a.format = p.format;
      a.version = p.version;
      a.meta = p.meta;
      a.key = p.key;
      a.volume = p.volume;
      a.offset = p.offset;
      a.len = p.len;
      a.seq = p.seq;
      a.ts = p.ts;
      a.object_size = p.object_size;
      a.object_crc = p.object_crc;
      a.manifest = p.manifest ? &*p.manifest : nullptr;
      s = ApplyRecord(a, rebuild ? ApplyMode::kRebuild : ApplyMode::kReplay, &batch, &overlay);
      if (!s.ok()) break;
    }
    replay_prefetch_ = nullptr;
    report_.timings.apply += env_->NowMicros() - a0;
    CAIRN_RETURN_IF_ERROR(s);
    pending.clear();
    pending_bytes = 0;
    return flush_batch(tail_vol, tail_end);
  };
  for (const std::shared_ptr<Volume>& vol : volumes_.All()) {
    const uint32_t id = vol->id();
    if (id < ckpt->volume) continue;
    const std::optional<format::VolumeAccount> acct = accounts_.Get(id);
    bool sealed = acct.has_value() && acct->sealed;
    uint64_t start = id == ckpt->volume ? ckpt->offset : vol->data_offset();
    uint64_t limit = sealed ? acct->end : vol->capacity();
    if (start < vol->data_offset()) start = vol->data_offset();
    LogScanner scanner(vol->file(), vol->salt(), start, limit,
                       sealed ? LogScanner::kNoGapLimit : options_.max_unfinished_bytes);
    Seen& sn = seen[id];
    ScanEvent ev;
    for (;;) {
      const uint64_t n0 = env_->NowMicros();
      CAIRN_ASSIGN_OR_RETURN(bool more, scanner.Next(&ev));
      report_.timings.scan += env_->NowMicros() - n0;
      if (!more) break;
      if (ev.kind == ScanEvent::Kind::kBadRegion) {
        report_.bad_regions.push_back({id, ev.offset, ev.length, ev.zero});
        continue;
      }
      if (ev.kind == ScanEvent::Kind::kPunched) {
        // A dead record whose body the reclaimer released: nothing to apply (the record that
        // killed it is durable and later in the log), but it marks how far the log reached.
        report_.punched_records++;
        sn.any_record = true;
        tail_vol = id;
        tail_end = ev.offset + ev.length;
        continue;
      }
      Pending p{ev.header.type,      ev.header.relocated,    ev.header.format,
                ev.header.version,   std::string(ev.key),    std::string(ev.meta),
                id,                  ev.offset,              ev.length,
                ev.header.sequence,  ev.header.timestamp_us, ev.header.value_len,
                ev.header.value_crc, std::nullopt};
      if (ev.header.type == RecordType::kManifest) {
        Manifest m;
        Status ms = DecodeManifest(ev.value, &m);
        if (!ms.ok()) {
          // Checksums passed, so this was written this way: a bug, not a disk fault.
          report_.bad_regions.push_back({id, ev.offset, ev.length, false});
          continue;
        }
        // A manifest whose chunks did not survive would index an object that cannot be read;
        // the key keeps its previous version instead. A rebuild has seen every chunk there is
        // (a cut or damaged volume loses some). A replay has seen every chunk after the
        // checkpoint; those before it are durable (an index flush syncs the volumes first).
        // After a power loss a manifest can survive while its chunks do not: in `none` and
        // `interval` modes nothing orders their writeback (issue 5, power-loss test: Get
        // returned Corruption for such objects).
        auto lost = [&](const ChunkRef& c) {
          if (chunks_seen.count({c.volume, c.offset}) > 0) return false;
          const bool before_ckpt =
              c.volume < ckpt->volume || (c.volume == ckpt->volume && c.offset < ckpt->offset);
          return rebuild || !before_ckpt;
        };
        if (std::any_of(m.chunks.begin(), m.chunks.end(), lost)) {
          report_.bad_regions.push_back({id, ev.offset, ev.length, false});
          Log("recovery: a manifest of \"" + p.key + "\" lists chunks that are gone; ignored");
          continue;
        }
        p.object_size = m.object_size;
        p.object_crc = m.object_crc;
        pending_bytes += ev.value.size();
        p.manifest = std::move(m);
      }
      if (ev.header.type == RecordType::kChunk) chunks_seen.insert({id, ev.offset});
      pending_bytes += p.key.size() + p.meta.size();
      // Every version replayed is one the store has seen: later stamps are above it.
      if (p.type != RecordType::kChunk) clock_.Observe(p.version);
      pending.push_back(std::move(p));
      report_.records_replayed++;
      report_.bytes_replayed += ev.length;
      last_seq = std::max(last_seq, ev.header.sequence);
      sn.any_record = true;
      tail_vol = id;
      tail_end = ev.offset + ev.length;
      // Named bound on recovery memory: kReplayBatchRecords records or 16 MiB of keys and
      // manifests.
      if (pending.size() >= kReplayBatchRecords || pending_bytes >= (16u << 20))
        CAIRN_RETURN_IF_ERROR(apply_pending());
    }
    sn.last_valid_end = scanner.last_valid_end();
    sn.garbage = scanner.tail_garbage_bytes();
  }
  CAIRN_RETURN_IF_ERROR(apply_pending());
  // Garbage after the last valid record of a volume is the torn tail if no later volume holds
  // a record, otherwise a bad region in the middle of the log.
  for (const auto& [id, sn] : seen) {
    if (sn.garbage == 0) continue;
    if (id < tail_vol) {
      report_.bad_regions.push_back({id, sn.last_valid_end, sn.garbage, false});
    } else {
      report_.torn_tail_bytes += sn.garbage;
    }
  }

  // Seal the tail volume at its last valid record; every volume after it holds no record.
  if (volumes_.Contains(tail_vol)) {
    accounts_.Seal(tail_vol, tail_end);
  } else if (accounts_.Erase(tail_vol)) {
    // The checkpoint's volume is gone (compaction removed it and nothing was appended after
    // it): no account for a file that does not exist. New volumes take higher ids (OpenStore).
    batch.DeleteVolume(tail_vol);
  }
  accounts_.SealBelow(tail_vol);
  // The sealed tail's unused remainder goes back to the file system now: a crash must not cost
  // a volume's worth of disk, and whatever stale bytes lay there become zeros.
  if (std::shared_ptr<Volume> tv = volumes_.Get(tail_vol); tv != nullptr) {
    uint64_t from = std::max<uint64_t>(AlignUp(tail_end, 4096), tv->data_offset());
    Status ps = tv->file()->PunchHole(from, tv->capacity() - from);
    if (!ps.ok()) Log("WARNING: could not release the sealed tail: " + ps.ToString());
  }
  for (const std::shared_ptr<Volume>& vol : volumes_.All()) {
    const uint32_t id = vol->id();
    if (id <= tail_vol) continue;
    const Seen& sn = seen[id];
    CAIRN_CHECK(!sn.any_record);
    if (sn.garbage == 0) {
      // Unused as far as any write could have reached. A new salt makes sure no stale byte
      // in it can ever pass for a record.
      CAIRN_RETURN_IF_ERROR(vol->Resalt());
      if (accounts_.Erase(id)) batch.PutVolume(id, format::VolumeAccount());  // reset
      preparer_.AddPrepared(vol);
    } else {
      // Torn bytes of writes that never committed: retire the volume, all of it dead space.
      accounts_.Reset(id, sn.last_valid_end + sn.garbage, /*sealed=*/true);
      Status ps = vol->file()->PunchHole(vol->data_offset(), vol->capacity() - vol->data_offset());
      if (!ps.ok()) Log("WARNING: could not release a retired volume: " + ps.ToString());
    }
  }
  CAIRN_RETURN_IF_ERROR(flush_batch(tail_vol, tail_end));
  if (rebuild) {
    // Every record has been seen. Tombstones stay: they are the keys' entries now.
    batch.SetRebuilding(false);
    CAIRN_RETURN_IF_ERROR(flush_batch(tail_vol, tail_end));
  }
  // Make the recovered state durable before anything new is appended.
  const uint64_t f0 = env_->NowMicros();
  CAIRN_RETURN_IF_ERROR(index_->Flush(/*wait=*/true));
  report_.timings.index_flush = env_->NowMicros() - f0;
  next_seq_ = last_seq + 1;
  active_ = nullptr;  // the first write takes a prepared volume
  if (preparer_.PreparedIds().empty()) preparer_.Want();
  report_.tail_volume = tail_vol;
  report_.tail_offset = tail_end;
  report_.micros = env_->NowMicros() - t0;
  if (report_.records_replayed > 0 || !report_.bad_regions.empty() ||
      report_.torn_tail_bytes > 0)
    Log("recovery: " + report_.ToString());
  return Status::OK();
}

Status StoreImpl::MarkUncleanOnce() {
  if (!clean_on_disk_.load()) return Status::OK();
  MutexLock l(&mark_mu_);
  if (!clean_on_disk_.load()) return Status::OK();
  // The index has no WAL: if the clean flag stayed on disk, a crash before the next index flush
  // would make the next open skip the replay of acknowledged writes.
  format::Checkpoint unclean = open_checkpoint_;
  unclean.clean = false;
  IndexBatch b;
  b.PutCheckpoint(unclean);
  CAIRN_RETURN_IF_ERROR(index_->Write(&b));
  CAIRN_RETURN_IF_ERROR(index_->Flush(/*wait=*/true));
  clean_on_disk_ = false;
  return Status::OK();
}

Status StoreImpl::Close() {
  {
    MutexLock l(&mu_);
    if (closed_) return Status::OK();
    closing_ = true;
    // Writers waiting for a volume or for room give up; writers already admitted finish and
    // commit.
    preparer_.Halt();
    // The queue wakes the writers waiting for room, has the committer lead the PutAsync writes
    // not yet started by a StartCommit, waits until every admitted writer has committed, and
    // tells the committer to stop.
    queue_.Drain(&mu_);
    stop_ = true;
  }
  preparer_.Stop();  // cancels a volume being written
  queue_.Stop();     // joins the committer
  syncer_.StopInterval();
  reclaimer_.Stop();
  // A pass started by Reclaim() on another thread finishes (it stops early on stop_).
  { MutexLock rl(&reclaim_mu_); }
  Status result;
  if (index_ != nullptr) {
    bool healthy;
    {
      MutexLock l(&mu_);
      healthy = bg_error_.ok();
    }
    // A clean checkpoint is written only by a store that opened and stayed healthy, and only if
    // this session wrote (otherwise the one on disk is still true).
    if (healthy && opened_ && !clean_on_disk_.load()) {
      result = syncer_.SyncAll({});
      if (result.ok()) {
        format::Checkpoint c;
        c.clean = true;
        {
          MutexLock l(&mu_);
          c.volume = active_ != nullptr ? active_->id() : 0;
          c.offset = active_ != nullptr ? tail_ : 0;
          c.next_sequence = next_seq_;
          c.max_version = clock_.max();
        }
        if (c.volume == 0) {
          // No active volume: resume at the end of the last sealed one.
          if (auto last = accounts_.Last(); last.has_value()) {
            c.volume = last->first;
            c.offset = last->second.end;
          }
        }
        const VolumeAccounts::Counts counts = accounts_.counts();
        c.objects = counts.objects;
        c.logical_bytes = counts.logical_bytes;
        c.tombstones = counts.tombstones;
        IndexBatch batch;
        accounts_.WriteDirty(&batch);
        if (c.volume != 0) batch.PutCheckpoint(c);
        result = index_->Write(&batch);
        if (result.ok()) result = index_->Flush(/*wait=*/true);
      }
    }
    // The hint for the next open (see Open): the checkpoint on disk is clean.
    if (result.ok() && healthy && opened_)
      (void)env_->OpenFile(dir_ + "/" + kClosedHintFile, Env::OpenMode::kCreate);
    index_.reset();
  }
  lock_.reset();
  MutexLock l(&mu_);
  closed_ = true;
  return result;
}

}  // namespace cairn
