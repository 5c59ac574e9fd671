#include "engine/store_dir.h"

#include <algorithm>

#include "engine/volume.h"

namespace cairn {

Status LockStoreDir(Env* env, const std::string& dir, LockedStoreDir* out) {
  const std::string marker_path = dir + "/CAIRN";
  if (!env->Exists(dir)) return Status::NotFound("no store at " + dir);
  // Checked before locking, so that pointing the tool at the wrong directory leaves no LOCK.
  if (!env->Exists(marker_path))
    return Status::InvalidArgument(dir + " is not a Cairn store (it has no CAIRN marker)");
  CAIRN_ASSIGN_OR_RETURN(auto f, env->OpenFile(marker_path, Env::OpenMode::kExisting));
  std::string b(format::kMarkerSize + 1, '\0');
  size_t got = 0;
  CAIRN_RETURN_IF_ERROR(f->PRead(0, b.size(), b.data(), &got));
  b.resize(got);
  Status s = format::DecodeMarker(b, &out->marker);
  if (!s.ok()) return Status::Corruption(marker_path + " is damaged (" + s.message() + ")");
  CAIRN_ASSIGN_OR_RETURN(out->lock, env->LockFile(dir + "/LOCK"));
  out->dir = dir;
  return Status::OK();
}

Result<std::vector<uint32_t>> ListVolumeIds(Env* env, const std::string& vol_dir) {
  std::vector<uint32_t> ids;
  if (!env->Exists(vol_dir)) return ids;
  CAIRN_ASSIGN_OR_RETURN(auto names, env->ListDir(vol_dir));
  for (const std::string& n : names) {
    uint32_t id = 0;
    bool tmp = false;
    if (Volume::ParseFileName(n, &id, &tmp) && !tmp) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<VolumeProbe> ProbeVolume(Env* env, const std::string& vol_dir, uint32_t id,
                                uint64_t store_id) {
  VolumeProbe p;
  p.id = id;
  p.path = vol_dir + "/" + Volume::FileName(id);
  CAIRN_ASSIGN_OR_RETURN(p.file, env->OpenFile(p.path, Env::OpenMode::kExisting));
  CAIRN_ASSIGN_OR_RETURN(p.size, p.file->Size());
  std::string buf(format::kVolumeHeaderSize, '\0');
  size_t got = 0;
  CAIRN_RETURN_IF_ERROR(p.file->PRead(0, buf.size(), buf.data(), &got));
  buf.resize(got);
  Status s = format::DecodeVolumeHeader(buf, &p.header);
  if (s.ok() && p.header.volume_id != id)
    s = Status::Corruption("the header says it is volume " + std::to_string(p.header.volume_id));
  if (s.ok() && p.header.store_id != store_id)
    s = Status::Corruption("the volume belongs to another store");
  p.header_status = s;
  return p;
}

}  // namespace cairn
