#include "engine/store_format.h"

#include <cstring>

#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn::format {
namespace {

// Writes crc32c(bytes 0..at-1) at `at`.
void SealCrc(std::string* b, size_t at) {
  EncodeFixed32(b->data() + at, crc32c::Value(b->data(), at));
}

Status CheckCrc(std::string_view b, size_t at, const char* what) {
  if (crc32c::Value(b.data(), at) != DecodeFixed32(b.data() + at))
    return Status::Corruption(std::string(what) + " checksum mismatch");
  return Status::OK();
}

}  // namespace

std::string EncodeMarker(const StoreMarker& m) {
  std::string b(kMarkerSize, '\0');
  std::memcpy(b.data(), kMarkerMagic, 8);
  EncodeFixed32(b.data() + 8, kFormatVersion);
  EncodeFixed64(b.data() + 16, m.store_id);
  EncodeFixed64(b.data() + 24, m.volume_capacity);
  EncodeFixed64(b.data() + 32, m.created_us);
  EncodeFixed32(b.data() + 40, m.writer_id);
  SealCrc(&b, 44);
  return b;
}

Status DecodeMarker(std::string_view b, StoreMarker* m) {
  if (b.size() != kMarkerSize || std::memcmp(b.data(), kMarkerMagic, 8) != 0)
    return Status::InvalidArgument("not a Cairn store marker");
  CAIRN_RETURN_IF_ERROR(CheckCrc(b, 44, "store marker"));
  uint32_t version = DecodeFixed32(b.data() + 8);
  if ((version != kFormatVersion && version != kFormatVersion1) || DecodeFixed32(b.data() + 12) != 0)
    return Status::NotSupported("store format version " + std::to_string(version) +
                                " (this build reads versions 1 and 2)");
  m->format_version = version;
  m->store_id = DecodeFixed64(b.data() + 16);
  m->volume_capacity = DecodeFixed64(b.data() + 24);
  m->created_us = DecodeFixed64(b.data() + 32);
  m->writer_id = DecodeFixed32(b.data() + 40);
  if (version == kFormatVersion1 ? m->writer_id != 0 : m->writer_id == 0)
    return Status::Corruption("store marker has an impossible writer id");
  return Status::OK();
}

std::string EncodeVolumeHeader(const VolumeHeader& h) {
  std::string b(kVolumeHeaderSize, '\0');
  std::memcpy(b.data(), kVolumeMagic, 8);
  EncodeFixed32(b.data() + 8, kVolumeHeaderVersion);
  EncodeFixed32(b.data() + 12, h.volume_id);
  EncodeFixed64(b.data() + 16, h.capacity);
  EncodeFixed64(b.data() + 24, h.salt);
  EncodeFixed64(b.data() + 32, h.store_id);
  EncodeFixed64(b.data() + 40, h.created_us);
  EncodeFixed32(b.data() + 48, h.data_offset);
  SealCrc(&b, 52);
  return b;
}

Status DecodeVolumeHeader(std::string_view b, VolumeHeader* h) {
  if (b.size() < 56 || std::memcmp(b.data(), kVolumeMagic, 8) != 0)
    return Status::Corruption("volume header has no CAIRNVOL magic");
  CAIRN_RETURN_IF_ERROR(CheckCrc(b, 52, "volume header"));
  if (DecodeFixed32(b.data() + 8) != kVolumeHeaderVersion)
    return Status::NotSupported("volume format version " +
                                std::to_string(DecodeFixed32(b.data() + 8)));
  h->volume_id = DecodeFixed32(b.data() + 12);
  h->capacity = DecodeFixed64(b.data() + 16);
  h->salt = DecodeFixed64(b.data() + 24);
  h->store_id = DecodeFixed64(b.data() + 32);
  h->created_us = DecodeFixed64(b.data() + 40);
  h->data_offset = DecodeFixed32(b.data() + 48);
  if (h->data_offset != kVolumeHeaderSize || h->capacity <= h->data_offset)
    return Status::Corruption("volume header has impossible data_offset/capacity");
  return Status::OK();
}

std::string EncodeIndexEntry(const IndexEntry& e) {
  std::string b(kIndexEntrySize + e.meta.size(), '\0');
  b[0] = 2;
  b[1] = static_cast<char>(e.type);
  b[2] = static_cast<char>(e.record_format);
  EncodeFixed32(b.data() + 4, e.volume);
  EncodeFixed64(b.data() + 8, e.offset);
  EncodeFixed64(b.data() + 16, e.record_len);
  EncodeFixed64(b.data() + 24, e.sequence);
  EncodeFixed64(b.data() + 32, e.object_size);
  EncodeFixed32(b.data() + 40, e.object_crc);
  EncodeFixed32(b.data() + 44, e.version.writer);
  EncodeFixed64(b.data() + 48, e.timestamp_us);
  EncodeFixed64(b.data() + 56, e.version.hlc);
  if (!e.meta.empty()) std::memcpy(b.data() + kIndexEntrySize, e.meta.data(), e.meta.size());
  return b;
}

Status DecodeIndexEntry(std::string_view b, IndexEntry* e) {
  auto type_ok = [](char t) { return t == 1 || t == 2 || t == 4; };
  if (b.size() == kIndexEntrySizeV1 && b[0] == 1 && type_ok(b[1])) {
    // Entry version 1 (a format-1 store): its record is format 1, its version derived from the
    // timestamp, no metadata. Type 2 was a rebuild's negative entry: a tombstone entry now.
    e->type = static_cast<uint8_t>(b[1]);
    e->record_format = 1;
    e->volume = DecodeFixed32(b.data() + 4);
    e->offset = DecodeFixed64(b.data() + 8);
    e->record_len = DecodeFixed64(b.data() + 16);
    e->sequence = DecodeFixed64(b.data() + 24);
    e->object_size = DecodeFixed64(b.data() + 32);
    e->object_crc = DecodeFixed32(b.data() + 40);
    e->timestamp_us = DecodeFixed64(b.data() + 48);
    e->version = Version{(e->timestamp_us / 1000) << Version::kLogicalBits, 0};
    e->meta.clear();
    return Status::OK();
  }
  if (b.size() < kIndexEntrySize || b[0] != 2 || !type_ok(b[1]) || (b[2] != 1 && b[2] != 2) ||
      b[3] != 0 || (b[2] == 1 && b.size() != kIndexEntrySize))
    return Status::Corruption("index entry is malformed");
  e->type = static_cast<uint8_t>(b[1]);
  e->record_format = static_cast<uint8_t>(b[2]);
  e->volume = DecodeFixed32(b.data() + 4);
  e->offset = DecodeFixed64(b.data() + 8);
  e->record_len = DecodeFixed64(b.data() + 16);
  e->sequence = DecodeFixed64(b.data() + 24);
  e->object_size = DecodeFixed64(b.data() + 32);
  e->object_crc = DecodeFixed32(b.data() + 40);
  e->version.writer = DecodeFixed32(b.data() + 44);
  e->timestamp_us = DecodeFixed64(b.data() + 48);
  e->version.hlc = DecodeFixed64(b.data() + 56);
  e->meta.assign(b.data() + kIndexEntrySize, b.size() - kIndexEntrySize);
  return Status::OK();
}

std::string EncodeCheckpoint(const Checkpoint& c) {
  std::string b(kCheckpointSize, '\0');
  b[0] = 2;
  b[1] = c.clean ? 1 : 0;
  EncodeFixed32(b.data() + 4, c.volume);
  EncodeFixed64(b.data() + 8, c.offset);
  EncodeFixed64(b.data() + 16, c.next_sequence);
  EncodeFixed64(b.data() + 24, c.objects);
  EncodeFixed64(b.data() + 32, c.logical_bytes);
  EncodeFixed64(b.data() + 40, c.tombstones);
  EncodeFixed64(b.data() + 48, c.max_version.hlc);
  EncodeFixed32(b.data() + 56, c.max_version.writer);
  SealCrc(&b, 60);
  return b;
}

Status DecodeCheckpoint(std::string_view b, Checkpoint* c) {
  *c = Checkpoint();
  if (b.size() == kCheckpointSizeV1 && b[0] == 1) {
    CAIRN_RETURN_IF_ERROR(CheckCrc(b, 44, "index checkpoint"));
    c->version = 1;
  } else if (b.size() == kCheckpointSize && b[0] == 2) {
    CAIRN_RETURN_IF_ERROR(CheckCrc(b, 60, "index checkpoint"));
    c->version = 2;
    c->tombstones = DecodeFixed64(b.data() + 40);
    c->max_version.hlc = DecodeFixed64(b.data() + 48);
    c->max_version.writer = DecodeFixed32(b.data() + 56);
  } else {
    return Status::Corruption("checkpoint is malformed");
  }
  c->clean = (b[1] & 1) != 0;
  c->volume = DecodeFixed32(b.data() + 4);
  c->offset = DecodeFixed64(b.data() + 8);
  c->next_sequence = DecodeFixed64(b.data() + 16);
  c->objects = DecodeFixed64(b.data() + 24);
  c->logical_bytes = DecodeFixed64(b.data() + 32);
  return Status::OK();
}

std::string EncodeHorizon(const Version& v) {
  std::string b(kHorizonSize, '\0');
  EncodeFixed64(b.data(), v.hlc);
  EncodeFixed32(b.data() + 8, v.writer);
  SealCrc(&b, 12);
  return b;
}

Status DecodeHorizon(std::string_view b, Version* v) {
  if (b.size() != kHorizonSize) return Status::Corruption("tombstone horizon is malformed");
  CAIRN_RETURN_IF_ERROR(CheckCrc(b, 12, "tombstone horizon"));
  v->hlc = DecodeFixed64(b.data());
  v->writer = DecodeFixed32(b.data() + 8);
  return Status::OK();
}

std::string EncodeVolumeAccount(const VolumeAccount& v) {
  std::string b(kVolumeStatsSize, '\0');
  b[0] = 2;
  b[1] = v.retired ? 3 : v.sealed ? 2 : 1;
  EncodeFixed64(b.data() + 8, v.end);
  EncodeFixed64(b.data() + 16, v.live_bytes);
  EncodeFixed64(b.data() + 24, v.live_records);
  EncodeFixed64(b.data() + 32, v.punched_bytes);
  EncodeFixed64(b.data() + 40, v.punchable_bytes);
  EncodeFixed64(b.data() + 48, v.min_seq);
  SealCrc(&b, 60);
  return b;
}

Status DecodeVolumeAccount(std::string_view b, VolumeAccount* v) {
  *v = VolumeAccount();
  if (b.size() == kVolumeStatsSizeV1 && b[0] == 1 && (b[1] == 1 || b[1] == 2)) {
    // Version 1 had no reclamation fields; the oldest sequence is unknown, so assume the
    // oldest possible (which only keeps tombstones longer).
    CAIRN_RETURN_IF_ERROR(CheckCrc(b, 36, "volume stats"));
    v->sealed = b[1] == 2;
    v->end = DecodeFixed64(b.data() + 8);
    v->live_bytes = DecodeFixed64(b.data() + 16);
    v->live_records = DecodeFixed64(b.data() + 24);
    v->min_seq = v->end > kVolumeHeaderSize ? 1 : 0;
    return Status::OK();
  }
  if (b.size() != kVolumeStatsSize || b[0] != 2 || b[1] < 1 || b[1] > 3)
    return Status::Corruption("volume stats entry is malformed");
  CAIRN_RETURN_IF_ERROR(CheckCrc(b, 60, "volume stats"));
  v->sealed = b[1] >= 2;
  v->retired = b[1] == 3;
  v->end = DecodeFixed64(b.data() + 8);
  v->live_bytes = DecodeFixed64(b.data() + 16);
  v->live_records = DecodeFixed64(b.data() + 24);
  v->punched_bytes = DecodeFixed64(b.data() + 32);
  v->punchable_bytes = DecodeFixed64(b.data() + 40);
  v->min_seq = DecodeFixed64(b.data() + 48);
  return Status::OK();
}

}  // namespace cairn::format
