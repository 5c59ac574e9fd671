#include "cluster/cached_map_view.h"

#include <chrono>

#include "cluster/membership.h"

namespace cairn::cluster {

uint64_t CachedMapView::NowMicros() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

Result<std::unique_ptr<CachedMapView>> CachedMapView::Load(const CachedMapOptions& o) {
  std::unique_ptr<CachedMapView> v(new CachedMapView(o));
  std::string endpoints;
  for (const auto& e : o.etcd.endpoints) endpoints += e + ",";
  v->name_ = MapCacheName(o.cluster, endpoints);
  if (o.use_cache) {
    Result<ClusterMap> cached = ReadCachedMap(o.cache, v->name_, NowMicros());
    if (cached.ok()) {
      v->from_cache_ = true;
      v->Set(std::move(*cached));
      return v;
    }
  }
  CAIRN_RETURN_IF_ERROR(v->Refresh());
  return v;
}

std::shared_ptr<const ClusterMap> CachedMapView::map() const {
  std::lock_guard<std::mutex> l(mu_);
  return map_;
}

void CachedMapView::Set(ClusterMap m) {
  auto p = std::make_shared<const ClusterMap>(std::move(m));
  std::lock_guard<std::mutex> l(mu_);
  if (map_ != nullptr && map_->epoch >= p->epoch) return;
  map_ = p;
  epoch_.store(p->epoch, std::memory_order_release);
}

void CachedMapView::NoteEpoch(uint64_t epoch) {
  uint64_t cur = noted_.load();
  while (epoch > cur && !noted_.compare_exchange_weak(cur, epoch)) {
  }
}

Status CachedMapView::Refresh() {
  return refresh_gate_.Run(epoch_, noted_, [this]() -> Status {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<EtcdClient> etcd, EtcdClient::Create(o_.etcd));
    CAIRN_ASSIGN_OR_RETURN(ClusterMap m,
                           Membership::FetchMap(etcd.get(), "/cairn/" + o_.cluster + "/"));
    if (o_.use_cache) {
      // A cache that cannot be written is only a slower next call.
      (void)WriteCachedMap(o_.cache, name_, m, NowMicros());
    }
    from_cache_ = false;
    Set(std::move(m));
    return Status::OK();
  });
}

}  // namespace cairn::cluster
