// Volume: one volume file of a store (docs/format.md 3): its validated header and file handle.
//
// A volume is created whole (header, then its data area written with zeros or, with
// VolumePreparation::kAllocate, allocated unwritten, up to its capacity) under a temporary name
// and renamed into place only once synced, so a volume that exists under its final name is
// always whole, and appends never extend the file.
//
// Thread safety: all const methods and file() may be used concurrently. Resalt() may only be
// called before the volume is shared.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cairn/env.h"
#include "cairn/options.h"
#include "cairn/status.h"
#include "engine/store_format.h"

namespace cairn {

class Volume {
 public:
  // "00000001.vol"; the temporary name while it is being written adds ".tmp".
  static std::string FileName(uint32_t id);
  // Parses a volume file name; *tmp is set for names ending ".vol.tmp".
  static bool ParseFileName(const std::string& name, uint32_t* id, bool* tmp);

  // Prepares a new volume in `dir`: header, then the data area to `capacity` written with
  // zeros or, with kAllocate, allocated unwritten (falling back to zeros); synced and renamed.
  // If *cancel becomes true meanwhile, stops, removes the temporary file and returns an
  // IOError saying so: closing a store never waits for a whole volume to be written.
  // `test_point` (tests only) is called at "volume:create-begin", "volume:before-rename" and
  // "volume:before-dir-sync".
  static Result<std::shared_ptr<Volume>> Create(
      Env* env, const std::string& dir, uint32_t id, uint64_t capacity, uint64_t store_id,
      VolumePreparation prep, const std::atomic<bool>* cancel = nullptr,
      const std::function<void(const char*)>* test_point = nullptr,
      const std::atomic<bool>* hurry = nullptr);
  // Opens an existing volume and validates its header against `id` and `store_id`.
  static Result<std::shared_ptr<Volume>> Open(Env* env, const std::string& dir, uint32_t id,
                                              uint64_t store_id);

  // Gives the volume a new random salt, so no record ever written in it validates again, and
  // syncs the header. Recovery uses this on volumes it found unused before appending to them.
  Status Resalt();

  uint32_t id() const { return header_.volume_id; }
  uint64_t capacity() const { return header_.capacity; }
  uint64_t salt() const { return header_.salt; }
  uint64_t data_offset() const { return header_.data_offset; }
  File* file() const { return file_.get(); }
  // The store removed this volume's file itself (reclamation retired it): its having no name
  // is then expected, not a sign that the directory was wiped (VolumeSyncer).
  void MarkRemoved() { removed_.store(true); }
  bool removed() const { return removed_.load(); }

 private:
  Volume(format::VolumeHeader h, std::unique_ptr<File> f) : header_(h), file_(std::move(f)) {}
  format::VolumeHeader header_;
  std::unique_ptr<File> file_;
  std::atomic<bool> removed_{false};
};

uint64_t RandomU64();

}  // namespace cairn
