// RepairStore: rebuilds a store's index from its volumes (docs/design.md, "Verify and repair").
//
// Steps, under the store's lock:
//  1. A volume file whose header is invalid is renamed NNNNNNNN.vol.bad: without its salt none
//     of its records can be validated, and Store::Open refuses a store with such a file. It is
//     kept for a human to look at; records elsewhere that refer to it (chunks) fail their reads
//     with Corruption, never with other bytes (a new volume that reuses its id has a new salt).
//  2. A volume file shorter than its capacity (truncated) is extended back to its capacity by
//     writing zeros, and synced: volumes are always fully written (never a hole or an unwritten
//     extent under the write path), and to recovery the lost part reads as a torn tail or an
//     unwritten gap.
//  3. The index directory is moved aside to DIR/index.broken-<unix seconds> (kept, never
//     deleted: it may be the only copy of something), and the directory is synced.
// Then the lock is released and Store::Open rebuilds the index by replaying every volume from
// the first (an index with no checkpoint), keeping the newest committed version of each key and
// honouring tombstones, exactly as recovery after a crash would. The store is closed cleanly.
//
// Between releasing the lock and Store::Open taking it, another process could open the store;
// it would then do the same rebuild itself, so the result is the same.
#include <fmt/format.h>

#include "cairn/verify.h"
#include "engine/store_dir.h"
#include "engine/volume.h"

namespace cairn {
namespace {

// Renames `path` to `path + suffix`, or to `path + suffix + "-N"` if that name is taken;
// returns the new name.
Result<std::string> RenameAside(Env* env, const std::string& path, const std::string& suffix) {
  std::string to = path + suffix;
  for (int n = 2; env->Exists(to); n++) to = fmt::format("{}{}-{}", path, suffix, n);
  CAIRN_RETURN_IF_ERROR(env->Rename(path, to));
  return to;
}

// Writes zeros over [from, to) of `f` and syncs it.
Status WriteZeros(File* f, uint64_t from, uint64_t to) {
  static const std::string kZeros(size_t{1} << 20, '\0');
  for (uint64_t off = from; off < to; off += kZeros.size()) {
    uint64_t n = std::min<uint64_t>(kZeros.size(), to - off);
    CAIRN_RETURN_IF_ERROR(f->PWrite(off, std::string_view(kZeros.data(), n)));
  }
  return f->DataSync();
}

// Steps 1 and 2: makes every volume file one that Store::Open accepts.
Status RepairVolumes(Env* env, const LockedStoreDir& store, RepairReport* report) {
  const std::string vol_dir = store.dir + "/volumes";
  CAIRN_ASSIGN_OR_RETURN(std::vector<uint32_t> ids, ListVolumeIds(env, vol_dir));
  bool renamed = false;
  for (uint32_t id : ids) {
    CAIRN_ASSIGN_OR_RETURN(VolumeProbe p, ProbeVolume(env, vol_dir, id, store.marker.store_id));
    const std::string name = "volumes/" + Volume::FileName(id);
    if (!p.header_status.ok()) {
      p.file.reset();
      CAIRN_ASSIGN_OR_RETURN(std::string to, RenameAside(env, p.path, ".bad"));
      report->actions.push_back(fmt::format("renamed {} to {}: its header is invalid ({})", name,
                                            to.substr(store.dir.size() + 1),
                                            p.header_status.message()));
      renamed = true;
      continue;
    }
    if (p.size > p.header.capacity)
      return Status::NotSupported(fmt::format(
          "{} is {} bytes, longer than its capacity {}; repair does not cut files: move it aside "
          "by hand (records lie only in the first {} bytes)",
          name, p.size, p.header.capacity, p.header.capacity));
    if (p.size < p.header.capacity) {
      CAIRN_RETURN_IF_ERROR(
          WriteZeros(p.file.get(), p.size, p.header.capacity).WithContext("extending " + name));
      report->actions.push_back(fmt::format(
          "extended {} from {} to {} bytes with zeros (it was truncated; records in the lost "
          "part are gone)",
          name, p.size, p.header.capacity));
    }
  }
  if (renamed) CAIRN_RETURN_IF_ERROR(env->SyncDir(vol_dir));
  return Status::OK();
}

// Step 3: the index is set aside, so the next open rebuilds it.
Status SetIndexAside(Env* env, const std::string& dir, RepairReport* report) {
  const std::string index = dir + "/index";
  if (!env->Exists(index)) {
    report->actions.push_back("there was no index to set aside");
    return Status::OK();
  }
  const uint64_t now_s = env->NowMicros() / 1000000;
  CAIRN_ASSIGN_OR_RETURN(std::string to, RenameAside(env, index, fmt::format(".broken-{}", now_s)));
  CAIRN_RETURN_IF_ERROR(env->SyncDir(dir));
  report->index_moved_to = to;
  report->actions.push_back(
      fmt::format("moved the index aside to {} (kept; delete it once the "
                  "repaired store is trusted)",
                  to));
  return Status::OK();
}

}  // namespace

Result<RepairReport> RepairStore(const std::string& dir, const StoreOptions& options) {
  if (dir.empty()) return Status::InvalidArgument("store directory is empty");
  Env* env = options.env != nullptr ? options.env : Env::Default();
  RepairReport report;
  {
    LockedStoreDir store;
    CAIRN_RETURN_IF_ERROR(LockStoreDir(env, dir, &store));
    CAIRN_RETURN_IF_ERROR(RepairVolumes(env, store, &report));
    CAIRN_RETURN_IF_ERROR(SetIndexAside(env, dir, &report));
  }  // the lock is released here: Store::Open takes it
  StoreOptions o = options;
  o.create_if_missing = false;
  o.background_reclaim = false;  // open, rebuild and close: nothing else
  Result<std::unique_ptr<Store>> store = Store::Open(dir, o);
  if (!store.ok())
    return store.status().WithContext("rebuilding the index (" +
                                      (report.index_moved_to.empty()
                                           ? std::string("there was no old index")
                                           : "the old one is in " + report.index_moved_to) +
                                      ")");
  report.rebuild = (*store)->recovery_report();
  Result<StoreStats> stats = (*store)->Stats();
  if (stats.ok()) report.objects = stats->objects;
  CAIRN_RETURN_IF_ERROR((*store)->Close().WithContext("closing the repaired store"));
  report.actions.push_back(
      fmt::format("rebuilt the index from the volumes: {} objects", report.objects));
  if (!stats.ok()) return stats.status().WithContext("reading the repaired store's statistics");
  return report;
}

}  // namespace cairn
