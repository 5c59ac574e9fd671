// Reads, scans and statistics. Every byte handed out has passed its record's checksum.
#include <algorithm>
#include <cstring>

#include "engine/store_impl.h"
#include "util/crc32c.h"
#include "util/metadata_codec.h"

namespace cairn {
namespace {

std::string Where(uint32_t volume, uint64_t offset) {
  return "volumes/" + Volume::FileName(volume) + " offset " + std::to_string(offset);
}

}  // namespace

Status InfoOf(std::string key, const format::IndexEntry& e, ObjectInfo* i) {
  i->key = std::move(key);
  i->size = e.object_size;
  i->crc32c = e.object_crc;
  i->sequence = e.sequence;
  i->mtime_us = e.timestamp_us;
  i->version = e.version;
  if (e.meta.empty()) return Status::OK();  // REQUIRES: i->metadata is empty
  Status s = DecodeMetadata(e.meta, &i->metadata);
  if (!s.ok()) return s.WithContext("the index entry of \"" + i->key + "\"");
  return Status::OK();
}

Status StoreImpl::ReadRecord(uint32_t volume, uint64_t offset, uint64_t len,
                             std::string_view key, RecordType type, uint64_t sequence,
                             std::string* buf, std::string_view* value) {
  std::shared_ptr<Volume> vol = VolumeFor(volume);
  if (vol == nullptr)
    return Status::Corruption("index points into missing volume " + Volume::FileName(volume));
  if (offset < vol->data_offset() || offset + len > vol->capacity() ||
      len < format::kMinRecordHeaderSize)
    return Status::Corruption("index points outside the volume: " + Where(volume, offset));
  buf->resize(len);
  size_t got = 0;
  // One positioned read of the whole record.
  CAIRN_RETURN_IF_ERROR(vol->file()->PRead(offset, len, buf->data(), &got));
  if (got != len) return Status::Corruption("record cut short at " + Where(volume, offset));
  RecordHeader h;
  std::string_view k, meta;
  Status s = ParseRecord(*buf, vol->salt(), offset, &h, &k, &meta, value);
  if (!s.ok()) return Status::Corruption(s.message() + " at " + Where(volume, offset));
  if (k != key || h.type != type || (sequence != 0 && h.sequence != sequence) ||
      h.record_len() != len)
    return Status::Corruption("the record at " + Where(volume, offset) +
                              " is not the one the index expects");
  return Status::OK();
}

namespace {

// Streams an object, one verified record at a time.
class ObjectReaderImpl final : public ObjectReader {
 public:
  // Registered with the store for its lifetime: reclamation does not release or remove the
  // records of the version it reads until it is gone.
  ObjectReaderImpl(StoreImpl* store, ObjectInfo info, format::IndexEntry e)
      : store_(store), info_(std::move(info)), entry_(e), epoch_(store->RegisterReader()) {}
  ~ObjectReaderImpl() override { store_->UnregisterReader(epoch_); }

  Status Init() {
    std::string_view payload;
    CAIRN_RETURN_IF_ERROR(store_->ReadRecord(entry_.volume, entry_.offset, entry_.record_len,
                                             info_.key, static_cast<RecordType>(entry_.type),
                                             entry_.sequence, &buf_, &payload));
    if (entry_.type == static_cast<uint8_t>(RecordType::kValue)) {
      cur_ = payload;
      next_chunk_ = 0;
      return Status::OK();
    }
    CAIRN_RETURN_IF_ERROR(DecodeManifest(payload, &manifest_));
    if (manifest_.object_size != entry_.object_size)
      return Status::Corruption("manifest of " + info_.key + " disagrees with the index");
    chunked_ = true;
    return Status::OK();
  }

  const ObjectInfo& info() const override { return info_; }

  Result<size_t> Read(char* out, size_t n) override {
    while (cur_.empty()) {
      if (!chunked_ || next_chunk_ >= manifest_.chunks.size()) return size_t{0};
      const ChunkRef& c = manifest_.chunks[next_chunk_++];
      CAIRN_RETURN_IF_ERROR(store_->ReadRecord(
          c.volume, c.offset, RecordLength(entry_.record_format, info_.key.size(), 0, c.value_len),
          info_.key, RecordType::kChunk, 0, &buf_, &cur_));
      if (cur_.size() != c.value_len) return Status::Corruption("chunk length mismatch");
      crc_ = crc32c::Extend(crc_, cur_.data(), cur_.size());
      if (next_chunk_ == manifest_.chunks.size() && crc_ != manifest_.object_crc)
        return Status::Corruption("object checksum mismatch for " + info_.key);
    }
    size_t k = std::min(n, cur_.size());
    std::memcpy(out, cur_.data(), k);
    cur_.remove_prefix(k);
    return k;
  }

 private:
  StoreImpl* store_;
  ObjectInfo info_;
  format::IndexEntry entry_;
  std::string buf_;
  std::string_view cur_;
  bool chunked_ = false;
  Manifest manifest_;
  size_t next_chunk_ = 0;
  uint32_t crc_ = 0;
  const uint64_t epoch_;
};

}  // namespace

Result<format::IndexEntry> StoreImpl::LookupLive(std::string_view key) {
  Result<format::IndexEntry> e = index_->Get(key);
  if (!e.ok()) return e.status().IsNotFound() ? Status::NotFound("no such key") : e.status();
  return e;
}

namespace {

bool SameVersion(const format::IndexEntry& a, const format::IndexEntry& b) {
  return a.volume == b.volume && a.offset == b.offset && a.sequence == b.sequence;
}

// Named bound: how many times a read follows an object that moved under it.
constexpr int kMaxReadAttempts = 4;

}  // namespace

Result<std::unique_ptr<ObjectReader>> StoreImpl::OpenReader(std::string_view key) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  foreground_ops_.fetch_add(1, std::memory_order_relaxed);
  for (int attempt = 1;; attempt++) {
    CAIRN_ASSIGN_OR_RETURN(format::IndexEntry e, LookupLive(key));
    ObjectInfo info;
    CAIRN_RETURN_IF_ERROR(InfoOf(std::string(key), e, &info));
    auto r = std::make_unique<ObjectReaderImpl>(this, std::move(info), e);
    Status s = r->Init();
    if (s.ok()) return std::unique_ptr<ObjectReader>(std::move(r));
    // The version may have been replaced, and its record released or moved, between the
    // lookup and the read: look again before calling it corruption.
    Result<format::IndexEntry> now = LookupLive(key);
    if (!s.IsCorruption() || attempt == kMaxReadAttempts || !now.ok() || SameVersion(*now, e))
      return now.ok() || !now.status().IsNotFound() ? s : now.status();
  }
}

Result<std::string> StoreImpl::Get(std::string_view key) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  foreground_ops_.fetch_add(1, std::memory_order_relaxed);
  CAIRN_ASSIGN_OR_RETURN(format::IndexEntry e, LookupLive(key));
  std::string buf;
  std::string_view value;
  for (int attempt = 1; e.type == static_cast<uint8_t>(RecordType::kValue); attempt++) {
    Status s = ReadRecord(e.volume, e.offset, e.record_len, key, RecordType::kValue, e.sequence,
                          &buf, &value);
    if (s.ok()) {
      // Move the value to the front of the record buffer instead of copying it out.
      size_t at = static_cast<size_t>(value.data() - buf.data());
      std::memmove(buf.data(), buf.data() + at, value.size());
      buf.resize(value.size());
      return buf;
    }
    // Replaced (and released, or moved by compaction) since the lookup? Follow it.
    Result<format::IndexEntry> now = LookupLive(key);
    if (!s.IsCorruption() || attempt == kMaxReadAttempts || !now.ok() || SameVersion(*now, e))
      return now.ok() || !now.status().IsNotFound() ? s : now.status();
    e = *now;
  }
  // A large object: stream its chunks.
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<ObjectReader> r, OpenReader(key));
  std::string out;
  out.resize(r->info().size);
  size_t done = 0;
  while (done < out.size()) {
    CAIRN_ASSIGN_OR_RETURN(size_t got, r->Read(out.data() + done, out.size() - done));
    if (got == 0) return Status::Corruption("object " + std::string(key) + " ended early");
    done += got;
  }
  return out;
}

Result<ObjectInfo> StoreImpl::Head(std::string_view key) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  Result<format::IndexEntry> e = index_->Get(key);
  if (!e.ok()) return e.status().IsNotFound() ? Status::NotFound("no such key") : e.status();
  ObjectInfo info;
  CAIRN_RETURN_IF_ERROR(InfoOf(std::string(key), *e, &info));
  return info;
}

Result<ObjectInfo> StoreImpl::HeadVersion(std::string_view key) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  Result<format::IndexEntry> e = index_->Get(key, /*with_tombstones=*/true);
  if (!e.ok()) return e.status().IsNotFound() ? Status::NotFound("no such key") : e.status();
  ObjectInfo info;
  if (e->type == static_cast<uint8_t>(RecordType::kTombstone)) {
    info.key.assign(key);
    info.version = e->version;
    info.sequence = e->sequence;
    info.mtime_us = e->timestamp_us;
    info.deleted = true;
    return info;
  }
  CAIRN_RETURN_IF_ERROR(InfoOf(std::string(key), *e, &info));
  return info;
}

Result<ScanResult> StoreImpl::Scan(std::string_view prefix, std::string_view start_after,
                                   size_t limit) {
  if (prefix.size() > kMaxKeyBytes || start_after.size() > kMaxKeyBytes)
    return Status::InvalidArgument("prefix or start-after is longer than max_key_bytes (1024)");
  std::vector<std::pair<std::string, format::IndexEntry>> rows;
  ScanResult r;
  CAIRN_RETURN_IF_ERROR(index_->Scan(prefix, start_after, limit, &rows, &r.truncated));
  r.objects.resize(rows.size());
  for (size_t i = 0; i < rows.size(); i++)
    CAIRN_RETURN_IF_ERROR(InfoOf(std::move(rows[i].first), rows[i].second, &r.objects[i]));
  return r;
}

Result<ScanResult> StoreImpl::ScanVersions(std::string_view start_after, size_t limit) {
  if (start_after.size() > kMaxKeyBytes)
    return Status::InvalidArgument("start-after is longer than max_key_bytes (1024)");
  std::vector<std::pair<std::string, format::IndexEntry>> rows;
  ScanResult r;
  CAIRN_RETURN_IF_ERROR(index_->Scan("", start_after, limit, &rows, &r.truncated,
                                     /*with_tombstones=*/true));
  r.objects.resize(rows.size());
  for (size_t i = 0; i < rows.size(); i++) {
    const format::IndexEntry& e = rows[i].second;
    ObjectInfo& info = r.objects[i];
    if (e.type == static_cast<uint8_t>(RecordType::kTombstone)) {  // as HeadVersion
      info.key = std::move(rows[i].first);
      info.version = e.version;
      info.sequence = e.sequence;
      info.mtime_us = e.timestamp_us;
      info.deleted = true;
      continue;
    }
    CAIRN_RETURN_IF_ERROR(InfoOf(std::move(rows[i].first), e, &info));
  }
  return r;
}

namespace {

class PhysicalIteratorImpl final : public PhysicalIterator {
 public:
  explicit PhysicalIteratorImpl(std::vector<PhysicalEntry> v) : entries_(std::move(v)) {}
  Result<bool> Next(PhysicalEntry* out) override {
    if (next_ >= entries_.size()) return false;
    *out = std::move(entries_[next_++]);
    return true;
  }
  size_t size() const override { return entries_.size(); }

 private:
  std::vector<PhysicalEntry> entries_;
  size_t next_ = 0;
};

}  // namespace

Result<std::unique_ptr<PhysicalIterator>> StoreImpl::IteratePhysical(std::string_view prefix) {
  if (prefix.size() > kMaxKeyBytes)
    return Status::InvalidArgument("prefix is longer than max_key_bytes (1024)");
  // The index is in key order; sorting its entries by position gives the disk's order.
  std::vector<PhysicalEntry> all;
  std::string after;
  for (;;) {
    std::vector<std::pair<std::string, format::IndexEntry>> rows;
    bool truncated = false;
    CAIRN_RETURN_IF_ERROR(index_->Scan(prefix, after, 65536, &rows, &truncated));
    for (auto& [k, e] : rows) {
      PhysicalEntry pe;
      pe.volume = e.volume;
      pe.offset = e.offset;
      CAIRN_RETURN_IF_ERROR(InfoOf(std::move(k), e, &pe.info));
      all.push_back(std::move(pe));
    }
    if (!truncated || rows.empty()) break;
    after = all.back().info.key;
  }
  std::sort(all.begin(), all.end(), [](const PhysicalEntry& a, const PhysicalEntry& b) {
    return a.volume != b.volume ? a.volume < b.volume : a.offset < b.offset;
  });
  return std::unique_ptr<PhysicalIterator>(std::make_unique<PhysicalIteratorImpl>(std::move(all)));
}

Result<StoreStats> StoreImpl::Stats() {
  StoreStats st;
  std::vector<uint32_t> prepared;
  {
    MutexLock l(&mu_);
    st.next_sequence = next_seq_;
    st.read_only = !bg_error_.ok();
    st.read_only_reason = bg_error_.ok() ? "" : bg_error_.message();
  }
  prepared = preparer_.PreparedIds();
  st.volume_capacity = capacity_;
  const VolumeAccounts::Snapshot snap = accounts_.snapshot();
  for (const auto& p : PlanVolumes(snap)) {
    st.reclaimable_bytes += p.punchable_bytes;
    // Compaction releases what a volume still occupies beyond its live bytes.
    if (p.compact) st.reclaimable_bytes += p.dead_bytes - std::min(p.dead_bytes, p.punchable_bytes);
  }
  {
    st.objects = snap.counts.objects;
    st.logical_bytes = snap.counts.logical_bytes;
    st.tombstones = snap.counts.tombstones;
    st.reclaimed_bytes = snap.reclaimed_total;
    st.compactions = snap.compactions_total;
    for (const auto& [id, a] : snap.accounts) {
      VolumeStats v;
      v.id = id;
      v.state = a.sealed ? "sealed" : "active";
      v.capacity = capacity_;
      v.end = a.end;
      v.live_bytes = a.live_bytes;
      v.live_records = a.live_records;
      // The unused remainder of a sealed volume is not counted: it is never appended to, and
      // recovery already returned it to the file system (a punched hole).
      uint64_t used = a.end > format::kVolumeHeaderSize ? a.end - format::kVolumeHeaderSize : 0;
      v.dead_bytes = used - std::min(used, a.live_bytes);
      v.reclaimed_bytes = a.punched_bytes;
      v.reclaimable_bytes = a.punchable_bytes;
      if (a.retired) v.state = "retired";
      st.live_bytes += v.live_bytes;
      st.dead_bytes += v.dead_bytes;
      st.volume_list.push_back(v);
    }
  }
  for (uint32_t id : prepared) {
    VolumeStats v;
    v.id = id;
    v.state = "prepared";
    v.capacity = capacity_;
    v.end = format::kVolumeHeaderSize;
    st.volume_list.push_back(v);
  }
  std::sort(st.volume_list.begin(), st.volume_list.end(),
            [](const VolumeStats& a, const VolumeStats& b) { return a.id < b.id; });
  st.volumes = st.volume_list.size();
  CAIRN_ASSIGN_OR_RETURN(st.allocated_bytes, env_->AllocatedBytesUnder(dir_));
  CAIRN_ASSIGN_OR_RETURN(st.index_allocated_bytes, env_->AllocatedBytesUnder(dir_ + "/index"));
  st.index_memory_bytes = index_->MemoryBytes();
  st.index_cache_bytes = index_->CacheCapacity();
  st.index_hot_hits = index_->HotHits();
  st.index_hot_misses = index_->HotMisses();
  return st;
}

}  // namespace cairn
