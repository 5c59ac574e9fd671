#include "engine/volume_set.h"

namespace cairn {

std::shared_ptr<Volume> VolumeSet::Get(uint32_t id) const {
  ReaderLock l(&mu_);
  auto it = volumes_.find(id);
  return it == volumes_.end() ? nullptr : it->second;
}

void VolumeSet::Add(std::shared_ptr<Volume> v) {
  WriterLock l(&mu_);
  const uint32_t id = v->id();
  volumes_[id] = std::move(v);
}

std::shared_ptr<Volume> VolumeSet::Remove(uint32_t id) {
  WriterLock l(&mu_);
  auto it = volumes_.find(id);
  if (it == volumes_.end()) return nullptr;
  std::shared_ptr<Volume> v = std::move(it->second);
  volumes_.erase(it);
  return v;
}

bool VolumeSet::Contains(uint32_t id) const {
  ReaderLock l(&mu_);
  return volumes_.count(id) > 0;
}

std::vector<std::shared_ptr<Volume>> VolumeSet::All() const {
  ReaderLock l(&mu_);
  std::vector<std::shared_ptr<Volume>> all;
  all.reserve(volumes_.size());
  for (const auto& [id, v] : volumes_) all.push_back(v);
  return all;
}

}  // namespace cairn
