// Encodings of the store marker, volume header and index values (docs/format.md sections 2, 3.1
// and 6). Pure functions; each Decode checks version and CRC and returns Corruption otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::format {

inline constexpr char kMarkerMagic[8] = {'C', 'A', 'I', 'R', 'N', 'S', 'T', 'O'};
inline constexpr char kVolumeMagic[8] = {'C', 'A', 'I', 'R', 'N', 'V', 'O', 'L'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kMarkerSize = 48;
inline constexpr uint64_t kVolumeHeaderSize = 4096;  // == data_offset
inline constexpr size_t kIndexEntrySize = 56;
inline constexpr size_t kCheckpointSize = 48;
inline constexpr size_t kVolumeStatsSizeV1 = 40;
inline constexpr size_t kVolumeStatsSize = 64;

struct StoreMarker {
  uint64_t store_id = 0;
  uint64_t volume_capacity = 0;
  uint64_t created_us = 0;
};
std::string EncodeMarker(const StoreMarker& m);
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
  // RecordType::kValue or kManifest. kTombstone only while the index is being rebuilt from the
  // volumes: a "negative" entry remembering the deletion's sequence (docs/format.md 6.1).
  uint8_t type = 1;
  uint32_t volume = 0;
  uint64_t offset = 0;
  uint64_t record_len = 0;
  uint64_t sequence = 0;
  uint64_t object_size = 0;
  uint32_t object_crc = 0;
  uint64_t timestamp_us = 0;
};
std::string EncodeIndexEntry(const IndexEntry& e);
Status DecodeIndexEntry(std::string_view b, IndexEntry* e);

struct Checkpoint {
  bool clean = false;
  uint32_t volume = 0;
  uint64_t offset = 0;
  uint64_t next_sequence = 1;
  uint64_t objects = 0;
  uint64_t logical_bytes = 0;
};
std::string EncodeCheckpoint(const Checkpoint& c);
Status DecodeCheckpoint(std::string_view b, Checkpoint* c);

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
