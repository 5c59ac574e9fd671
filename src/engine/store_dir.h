// Offline access to the files of a store directory, for the tools that must work on a store
// that cannot be opened (VerifyStore, RepairStore): the marker, the writer lock, the list of
// volume files, and each volume's header, checked without trusting the file's size.
//
// Nothing here runs recovery or writes to a volume. Thread safety: free functions; a
// VolumeProbe is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cairn/env.h"
#include "cairn/status.h"
#include "engine/store_format.h"

namespace cairn {

// A store directory held for offline work: its marker, and its lock for as long as this lives.
struct LockedStoreDir {
  std::string dir;
  format::StoreMarker marker;
  std::unique_ptr<FileLock> lock;
};

// Checks that `dir` is a Cairn store (a valid CAIRN marker), then takes DIR/LOCK. NotFound if
// there is no store, Busy if another process (or another Store in this one) holds it.
Status LockStoreDir(Env* env, const std::string& dir, LockedStoreDir* out);

// Ids of the volume files in `vol_dir`, ascending; half-written ".vol.tmp" files are left out.
Result<std::vector<uint32_t>> ListVolumeIds(Env* env, const std::string& vol_dir);

// One volume file, opened, with its header read and judged.
struct VolumeProbe {
  uint32_t id = 0;
  std::string path;
  std::unique_ptr<File> file;
  format::VolumeHeader header;
  // OK when the header checks (magic, version, CRC, id, store id); otherwise why not. A volume
  // whose header is bad cannot be scanned: its salt, which every record's CRC depends on, is
  // unknown.
  Status header_status;
  uint64_t size = 0;  // the file's size; a whole volume's equals header.capacity
};

// Opens volume `id` in `vol_dir` and checks its header against `id` and `store_id`. Only an I/O
// failure is returned as an error; a bad header is reported in header_status.
Result<VolumeProbe> ProbeVolume(Env* env, const std::string& vol_dir, uint32_t id,
                                uint64_t store_id);

}  // namespace cairn
