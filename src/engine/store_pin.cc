// PinObject: where a committed value's bytes lie, pinned against reclamation (issue 4: the
// server sends GET bodies from the volume file with sendfile, never through user space).
#include <algorithm>

#include "engine/store_impl.h"
#include "util/crc32c.h"

namespace cairn {
namespace {

// One record holding value bytes: the value starts `head_len` (header, key, metadata) into it.
struct PinnedRecord {
  std::shared_ptr<Volume> vol;  // keeps the file open even if the volume is retired
  uint64_t record_offset = 0;
  uint64_t record_len = 0;
  uint64_t head_len = 0;
  RecordType type = RecordType::kValue;
  uint64_t sequence = 0;  // 0 for chunks (checked through the manifest instead)
};

class PinnedObjectImpl final : public PinnedObject {
 public:
  // REQUIRES: `epoch` was registered with store->RegisterReader() before the index lookup
  // that found this version, so reclamation waits for us (see WaitForOlderReaders).
  PinnedObjectImpl(StoreImpl* store, uint64_t epoch, ObjectInfo info)
      : store_(store), epoch_(epoch), info_(std::move(info)) {}
  ~PinnedObjectImpl() override { store_->UnregisterReader(epoch_); }

  const ObjectInfo& info() const override { return info_; }
  const std::vector<ValueExtent>& extents() const override { return extents_; }

  void Add(PinnedRecord r, uint64_t value_len) {
    if (value_len == 0) return;  // an empty object has no extent
    extents_.push_back(ValueExtent{r.vol->file()->fd(), r.record_offset + r.head_len, value_len});
    records_.push_back(std::move(r));
  }

  Result<uint32_t> RangeCrc(uint64_t offset, uint64_t length) override {
    uint32_t crc = 0;
    uint64_t pos = 0;  // value offset of records_[i]'s first byte
    std::string buf;
    for (size_t i = 0; i < extents_.size() && length > 0; i++) {
      const uint64_t n = extents_[i].length;
      if (offset < pos + n) {
        const PinnedRecord& r = records_[i];
        std::string_view value;
        CAIRN_RETURN_IF_ERROR(store_->ReadRecord(r.vol->id(), r.record_offset, r.record_len,
                                                 info_.key, r.type, r.sequence, &buf, &value));
        if (value.size() != n) return Status::Corruption("record length disagrees with index");
        const uint64_t from = offset - pos;
        const uint64_t k = std::min(length, n - from);
        crc = crc32c::Extend(crc, value.data() + from, k);
        offset += k;
        length -= k;
      }
      pos += n;
    }
    if (length != 0) return Status::InvalidArgument("range past the end of the object");
    return crc;
  }

 private:
  StoreImpl* store_;
  const uint64_t epoch_;
  ObjectInfo info_;
  std::vector<ValueExtent> extents_;
  std::vector<PinnedRecord> records_;  // records_[i] holds extents_[i] (only those with bytes)
};

}  // namespace

Result<std::unique_ptr<PinnedObject>> StoreImpl::PinObject(std::string_view key) {
  return Pin(key, /*may_block=*/true);
}

Result<std::unique_ptr<PinnedObject>> StoreImpl::TryPinObject(std::string_view key) {
  return Pin(key, /*may_block=*/false);
}

Result<std::unique_ptr<PinnedObject>> StoreImpl::Pin(std::string_view key, bool may_block) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  // Register first, then look up: any version the lookup finds died (if at all) after our
  // epoch was taken, so reclamation's WaitForOlderReaders waits for this pin.
  const uint64_t epoch = RegisterReader();
  Result<format::IndexEntry> found = Status::OK();
  if (may_block) {
    found = LookupLive(key);
  } else {
    bool in_memory = true;
    found = index_->GetCached(key, &in_memory);
    if (!in_memory) {
      UnregisterReader(epoch);
      return std::unique_ptr<PinnedObject>();
    }
  }
  if (!found.ok()) {
    UnregisterReader(epoch);
    return found.status().IsNotFound() ? Status::NotFound("no such key") : found.status();
  }
  const format::IndexEntry e = *found;
  if (!may_block && e.type != static_cast<uint8_t>(RecordType::kValue)) {
    UnregisterReader(epoch);  // a large object: its manifest would be read
    return std::unique_ptr<PinnedObject>();
  }
  foreground_ops_.fetch_add(1, std::memory_order_relaxed);
  ObjectInfo info;
  if (Status s = InfoOf(std::string(key), e, &info); !s.ok()) {
    UnregisterReader(epoch);
    return s;
  }
  auto pin = std::make_unique<PinnedObjectImpl>(this, epoch, std::move(info));
  std::shared_ptr<Volume> vol = VolumeFor(e.volume);
  if (vol == nullptr || vol->file()->fd() < 0)
    return Status::Corruption("index points into missing volume " + Volume::FileName(e.volume));
  if (e.type == static_cast<uint8_t>(RecordType::kValue)) {
    if (RecordLength(e.record_format, key.size(), e.meta.size(), e.object_size) != e.record_len ||
        e.offset < vol->data_offset() || e.offset + e.record_len > vol->capacity())
      return Status::Corruption("index entry of " + std::string(key) + " is inconsistent");
    pin->Add(PinnedRecord{vol, e.offset, e.record_len, e.head_len(key.size()), RecordType::kValue,
                          e.sequence},
             e.object_size);
    return std::unique_ptr<PinnedObject>(std::move(pin));
  }
  // A large object: its manifest (read and verified now) lists the chunks.
  std::string buf;
  std::string_view payload;
  CAIRN_RETURN_IF_ERROR(ReadRecord(e.volume, e.offset, e.record_len, key, RecordType::kManifest,
                                   e.sequence, &buf, &payload));
  Manifest m;
  CAIRN_RETURN_IF_ERROR(DecodeManifest(payload, &m));
  if (m.object_size != e.object_size)
    return Status::Corruption("manifest of " + std::string(key) + " disagrees with the index");
  for (const ChunkRef& c : m.chunks) {
    std::shared_ptr<Volume> cv = VolumeFor(c.volume);
    const uint64_t len = RecordLength(e.record_format, key.size(), 0, c.value_len);
    if (cv == nullptr || cv->file()->fd() < 0 || c.offset < cv->data_offset() ||
        c.offset + len > cv->capacity())
      return Status::Corruption("a chunk of " + std::string(key) + " lies outside its volume");
    pin->Add(PinnedRecord{cv, c.offset, len, RecordHeaderSize(e.record_format) + key.size(),
                          RecordType::kChunk, 0},
             c.value_len);
  }
  return std::unique_ptr<PinnedObject>(std::move(pin));
}

}  // namespace cairn
