#include "engine/volume.h"

#include <cinttypes>
#include <cstdio>
#include <random>

namespace cairn {

uint64_t RandomU64() {
  static thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    return (uint64_t{rd()} << 32) ^ rd();
  }());
  uint64_t v = 0;
  while (v == 0) v = rng();
  return v;
}

std::string Volume::FileName(uint32_t id) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%08" PRIx32 ".vol", id);
  return buf;
}

bool Volume::ParseFileName(const std::string& name, uint32_t* id, bool* tmp) {
  if (name.size() < 12 || name.compare(8, 4, ".vol") != 0) return false;
  std::string rest = name.substr(12);
  if (!rest.empty() && rest != ".tmp") return false;
  uint32_t v = 0;
  for (int i = 0; i < 8; i++) {
    char c = name[i];
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = v * 16 + static_cast<uint32_t>(d);
  }
  *id = v;
  *tmp = !rest.empty();
  return true;
}

Result<std::shared_ptr<Volume>> Volume::Create(Env* env, const std::string& dir, uint32_t id,
                                               uint64_t capacity, uint64_t store_id,
                                               VolumePreparation prep,
                                               const std::atomic<bool>* cancel,
                                               const std::function<void(const char*)>* test_point,
                                               const std::atomic<bool>* hurry) {
  auto point = [test_point](const char* name) {
    if (test_point != nullptr && *test_point) (*test_point)(name);
  };
  point("volume:create-begin");
  format::VolumeHeader h;
  h.volume_id = id;
  h.capacity = capacity;
  h.salt = RandomU64();
  h.store_id = store_id;
  h.created_us = env->NowMicros();
  const std::string final_path = dir + "/" + FileName(id);
  const std::string tmp_path = final_path + ".tmp";
  CAIRN_ASSIGN_OR_RETURN(auto file, env->OpenFile(tmp_path, Env::OpenMode::kCreate));
  Status s = file->PWrite(0, format::EncodeVolumeHeader(h));
  // Write zeros over the whole data area now, so the write path only ever overwrites blocks
  // that are already allocated and written (bench/engine measures why: ~2x cheaper fdatasync).
  // kAllocate skips the zeros (a bulk load's bytes are then written once, not twice); the
  // recovery rules hold for both kinds because unwritten extents read as zeros and InHole tells
  // them from punched holes.
  bool zeros = true;
  if (s.ok() && prep == VolumePreparation::kAllocate) {
    s = file->Allocate(h.data_offset, capacity - h.data_offset);
    zeros = s.IsNotSupported();
    if (zeros) s = Status::OK();
  }
  // The zeros are written back as they go (kWriteBackChunk at a time, the previous chunk waited
  // for), so at most two chunks are dirty: the final DataSync, and any other file's sync queued
  // behind it, never meets a whole volume of zeros in the page cache. With `hurry` set (a writer
  // is waiting for this volume: VolumePreparer::kMaxWait), the rest of the data area is
  // allocated instead of written (as kAllocate), so the volume is ready in milliseconds.
  static const std::string kZeros(1 << 20, '\0');
  constexpr uint64_t kWriteBackChunk = uint64_t{32} << 20;
  uint64_t chunk_start = h.data_offset, waited_to = h.data_offset;
  for (uint64_t off = h.data_offset; zeros && s.ok() && off < capacity; off += kZeros.size()) {
    if (cancel != nullptr && cancel->load()) {
      s = Status::IOError("cancelled: the store is closing");
      break;
    }
    if (hurry != nullptr && hurry->load()) {
      Status a = file->Allocate(off, capacity - off);
      if (a.ok()) {
        point("volume:hurried");
        break;
      }
      if (!a.IsNotSupported()) {
        s = a;
        break;
      }
      hurry = nullptr;  // cannot allocate here: go on writing zeros
    }
    uint64_t n = std::min<uint64_t>(kZeros.size(), capacity - off);
    s = file->PWrite(off, std::string_view(kZeros.data(), n));
    if (s.ok() && off + n - chunk_start >= kWriteBackChunk) {
      s = file->WriteBack(chunk_start, off + n - chunk_start, /*wait=*/false);
      if (s.ok() && chunk_start > waited_to)
        s = file->WriteBack(waited_to, chunk_start - waited_to, /*wait=*/true);
      waited_to = chunk_start;
      chunk_start = off + n;
    }
  }
  if (s.ok()) s = file->DataSync();
  if (s.ok()) point("volume:before-rename");
  if (s.ok()) s = env->Rename(tmp_path, final_path);
  if (s.ok()) point("volume:before-dir-sync");
  if (s.ok()) s = env->SyncDir(dir);
  if (!s.ok()) {
    file.reset();
    (void)env->RemoveFile(tmp_path);
    return s.WithContext("creating volume " + FileName(id));
  }
  // The handle keeps the tmp name for messages; reopen under the final name.
  file.reset();
  return Open(env, dir, id, store_id);
}

Result<std::shared_ptr<Volume>> Volume::Open(Env* env, const std::string& dir, uint32_t id,
                                             uint64_t store_id) {
  const std::string path = dir + "/" + FileName(id);
  CAIRN_ASSIGN_OR_RETURN(auto file, env->OpenFile(path, Env::OpenMode::kExisting));
  std::string buf(format::kVolumeHeaderSize, '\0');
  size_t got = 0;
  CAIRN_RETURN_IF_ERROR(file->PRead(0, buf.size(), buf.data(), &got));
  buf.resize(got);
  format::VolumeHeader h;
  Status s = format::DecodeVolumeHeader(buf, &h);
  if (s.ok() && h.volume_id != id)
    s = Status::Corruption("header says volume " + std::to_string(h.volume_id));
  if (s.ok() && h.store_id != store_id) s = Status::Corruption("volume belongs to another store");
  if (s.ok()) {
    CAIRN_ASSIGN_OR_RETURN(uint64_t size, file->Size());
    if (size != h.capacity)
      s = Status::Corruption("file is " + std::to_string(size) + " bytes, header says " +
                             std::to_string(h.capacity));
  }
  if (!s.ok()) return s.WithContext(path);
  return std::shared_ptr<Volume>(new Volume(h, std::move(file)));
}

Status Volume::Resalt() {
  header_.salt = RandomU64();
  CAIRN_RETURN_IF_ERROR(file_->PWrite(0, format::EncodeVolumeHeader(header_)));
  return file_->DataSync();
}

}  // namespace cairn
