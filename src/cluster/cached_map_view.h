// CachedMapView: a client's view of the cluster map (the CLI's `--cluster`): read from the
// /dev/shm cache when it is fresh (cluster/map_cache.h), else fetched from etcd and cached.
// When a node says the map is older than its own (StaleEpoch), Refresh fetches it again and
// rewrites the cache, so every later CLI call starts from the newer map.
//
// Thread safety: every method from any thread.
#pragma once

#include <mutex>

#include "cluster/etcd_client.h"
#include "cluster/map_cache.h"
#include "cluster/map_view.h"

namespace cairn::cluster {

struct CachedMapOptions {
  EtcdOptions etcd;
  std::string cluster = "default";
  MapCacheOptions cache;
  bool use_cache = true;  // false: fetch from etcd every time (the benchmark's baseline)
};

class CachedMapView final : public MapView {
 public:
  // Loads the map (cache, else etcd). NotFound when the cluster has no map yet; Unavailable
  // when etcd cannot be reached and there is no fresh cache.
  static Result<std::unique_ptr<CachedMapView>> Load(const CachedMapOptions& o);

  std::shared_ptr<const ClusterMap> map() const override;
  const std::atomic<uint64_t>* epoch_cell() const override { return &epoch_; }
  void NoteEpoch(uint64_t epoch) override;
  uint64_t noted_epoch() const override { return noted_.load(); }
  Status Refresh() override;
  bool from_cache() const { return from_cache_; }

 private:
  explicit CachedMapView(CachedMapOptions o) : o_(std::move(o)) {}
  void Set(ClusterMap m);
  static uint64_t NowMicros();

  CachedMapOptions o_;
  std::string name_;
  mutable std::mutex mu_;
  RefreshGate refresh_gate_;  // one Refresh fetch at a time (the others wait for its map)
  std::shared_ptr<const ClusterMap> map_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<uint64_t> noted_{0};
  bool from_cache_ = false;
};

}  // namespace cairn::cluster
