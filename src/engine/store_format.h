// Encodings of the store marker, volume header and index values (docs/format.md sections 2, 3.1
// and 6). Pure functions; each Decode checks version and CRC and returns Corruption otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/object_store.h"
#include "cairn/status.h"
#include "engine/record_format.h"

namespace cairn::format {

inline constexpr char kMarkerMagic[8] = {'C', 'A', 'I', 'R', 'N', 'S', 'T', 'O'};
inline constexpr char kVolumeMagic[8] = {'C', 'A', 'I', 'R', 'N', 'V', 'O', 'L'};
// The store format (the marker's format_version): 2 since issue 15. Format 1 is read and
// upgraded (docs/format.md section 7).
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint32_t kFormatVersion1 = 1;
// The volume header's own layout version, unchanged in store format 2.
inline constexpr uint32_t kVolumeHeaderVersion = 1;
inline constexpr size_t kMarkerSize = 48;
inline constexpr uint64_t kVolumeHeaderSize = 4096;  // == data_offset
inline constexpr size_t kIndexEntrySizeV1 = 56;
inline constexpr size_t kIndexEntrySize = 64;  // version 2, before its metadata
inline constexpr size_t kCheckpointSizeV1 = 48;
inline constexpr size_t kCheckpointSize = 64;
inline constexpr size_t kHorizonSize = 16;
inline constexpr size_t kVolumeStatsSizeV1 = 40;
inline constexpr size_t kVolumeStatsSize = 64;

struct StoreMarker {
  uint32_t format_version = kFormatVersion;  // decoded: 1 or 2; encoded: always 2
  uint64_t store_id = 0;
  uint64_t volume_capacity = 0;
  uint64_t created_us = 0;
  uint32_t writer_id = 0;  // format 2: non-zero
};
// Encodes a format-2 marker.
std::string EncodeMarker(const StoreMarker& m);
// Accepts format 1 (writer_id 0) and 2; NotSupported for any other format version.
Status DecodeMarker(std::string_view b, StoreMarker* m);

struct VolumeHeader {
  uint32_t volume_id = 0;
  uint64_t capacity = 0;
  uint64_t salt = 0;
  uint64_t store_id = 0;
  uint64_t created_us = 0;
  uint32_t data_offset = kVolumeHeaderSize;
};
// Returns exactly kVolumeHeaderSize bytes.
std::string EncodeVolumeHeader(const VolumeHeader& h);
Status DecodeVolumeHeader(std::string_view b, VolumeHeader* h);

struct IndexEntry {
  // RecordType::kValue, kManifest, or kTombstone: a kept delete (docs/format.md 6.1), never
  // returned to readers.
  uint8_t type = 1;
  uint8_t record_format = 2;  // of the record it points at
  uint32_t volume = 0;
  uint64_t offset = 0;
  uint64_t record_len = 0;
  uint64_t sequence = 0;
  uint64_t object_size = 0;
  uint32_t object_crc = 0;
  uint64_t timestamp_us = 0;
  Version version;
  std::string meta;  // the record's encoded metadata (empty: none, and no allocation)

  bool tombstone() const { return type == static_cast<uint8_t>(RecordType::kTombstone); }
  // Bytes of the record's head (header, key, metadata) for a key of key_len bytes.
  uint64_t head_len(size_t key_len) const {
    return (record_format == kRecordFormat1 ? kRecordHeaderSizeV1 : kRecordHeaderSizeV2) +
           key_len + meta.size();
  }
};
// Encodes an entry version 2.
std::string EncodeIndexEntry(const IndexEntry& e);
// Accepts entry versions 1 (56 bytes) and 2.
Status DecodeIndexEntry(std::string_view b, IndexEntry* e);

struct Checkpoint {
  uint8_t version = 2;  // decoded: 1 (a store not upgraded yet) or 2; encoded: always 2
  bool clean = false;
  uint32_t volume = 0;
  uint64_t offset = 0;
  uint64_t next_sequence = 1;
  uint64_t objects = 0;
  uint64_t logical_bytes = 0;
  uint64_t tombstones = 0;
  Version max_version;  // at least the highest version the index reflects
};
std::string EncodeCheckpoint(const Checkpoint& c);
Status DecodeCheckpoint(std::string_view b, Checkpoint* c);

// The tombstone horizon set by Store::SetTombstoneHorizon (docs/format.md 6.6).
std::string EncodeHorizon(const Version& v);
Status DecodeHorizon(std::string_view b, Version* v);

struct VolumeAccount {
  bool sealed = false;
  // Compacted: its live records were copied out, and its file is (being) removed.
  bool retired = false;
  uint64_t end = kVolumeHeaderSize;
  uint64_t live_bytes = 0;
  uint64_t live_records = 0;
  uint64_t punched_bytes = 0;    // released by hole punching so far
  uint64_t punchable_bytes = 0;  // in dead records listed for punching, not yet released
  // Smallest sequence number of any record in the volume (relocated copies keep old ones);
  // 0 while it holds none. Decides when a tombstone may be dropped.
  uint64_t min_seq = 0;
  void NoteSeq(uint64_t seq) {
    if (min_seq == 0 || seq < min_seq) min_seq = seq;
  }
};
std::string EncodeVolumeAccount(const VolumeAccount& v);
Status DecodeVolumeAccount(std::string_view b, VolumeAccount* v);

}  // namespace cairn::format
