// MapView: where the cluster's data path gets the map. A node's Membership (etcd) or, for a
// client, a map fetched from etcd and cached in /dev/shm; tests use a fixed one.
//
// Thread safety: every method from any thread, never blocking.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "cairn/status.h"
#include "cluster/cluster_map.h"

namespace cairn::cluster {

// RefreshGate: one map fetch at a time for a view's Refresh. At a map change every request that
// finds its view stale calls Refresh at once (ClusterObjectStore::Routed); when each fetched the
// whole map (hundreds of KiB of JSON through etcd's gateway), a node and etcd stalled for
// 100-470 ms at every map change (perf, 2026-12-04). Through the gate:
//  - a caller that knows of a newer epoch (`noted` above the epoch it saw) returns OK as soon as
//    a map that new is installed, whoever fetched it;
//  - otherwise it returns the result of the first fetch that started after it came in, OK or
//    not: callers that pile up behind a fetch share the next one, so "fetches the newest map
//    now" holds and a failing etcd costs each caller at most two fetches' time, not one fetch
//    per caller waiting before it.
class RefreshGate {
 public:
  // `epoch`: the view's installed epoch; `noted`: the newest epoch a node said it has (0: none);
  // `fetch`: fetches and installs the map.
  Status Run(const std::atomic<uint64_t>& epoch, const std::atomic<uint64_t>& noted,
             const std::function<Status()>& fetch) {
    const uint64_t before = epoch.load();
    const uint64_t want_epoch = noted.load();
    std::unique_lock<std::mutex> l(mu_);
    const uint64_t want = started_ + 1;  // the first fetch to start after this caller came in
    for (;;) {
      if (finished_ >= want) return last_;
      if (want_epoch > before && epoch.load() >= want_epoch) return Status::OK();
      if (!running_) break;
      waiting_++;
      cv_.wait(l);
      waiting_--;
    }
    running_ = true;
    const uint64_t mine = ++started_;
    l.unlock();
    Status s = fetch();
    l.lock();
    running_ = false;
    finished_ = mine;
    last_ = s;
    cv_.notify_all();
    return s;
  }
  // Callers waiting for a fetch now (tests).
  size_t waiting() const {
    std::lock_guard<std::mutex> l(mu_);
    return waiting_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool running_ = false;
  uint64_t started_ = 0, finished_ = 0;  // fetches started, and the last one to finish
  Status last_;                          // that one's result
  size_t waiting_ = 0;
};

class MapView {
 public:
  virtual ~MapView() = default;
  // The newest map known (never null; epoch 0 when there is none).
  virtual std::shared_ptr<const ClusterMap> map() const = 0;
  // Its epoch, as requests carry it (docs/protocol.md section 9).
  virtual const std::atomic<uint64_t>* epoch_cell() const = 0;
  // A node said its map is at `epoch`: fetch it if it is newer (asynchronously).
  virtual void NoteEpoch(uint64_t epoch) = 0;
  // The highest epoch a node has said it is at (0: none said).
  virtual uint64_t noted_epoch() const = 0;
  // Fetches the newest map now (blocking). NotSupported where the view cannot.
  virtual Status Refresh() { return Status::NotSupported("this map view does not refresh"); }
  // Whether NoteEpoch starts a fetch by itself (a node's Membership), so that a retry after a
  // StaleEpoch is worth waiting for (ClientRouting::stale_epoch_wait_ms). A client's view is
  // refreshed by its caller (ClusterObjectStore::Routed) instead.
  virtual bool fetches_on_note() const { return false; }
};

// A map that changes only when told (tests, and a client that fetched one).
class FixedMapView : public MapView {
 public:
  explicit FixedMapView(ClusterMap m) { Set(std::move(m)); }
  std::shared_ptr<const ClusterMap> map() const override { return std::atomic_load(&map_); }
  const std::atomic<uint64_t>* epoch_cell() const override { return &epoch_; }
  void NoteEpoch(uint64_t epoch) override {
    uint64_t cur = noted_.load();
    while (epoch > cur && !noted_.compare_exchange_weak(cur, epoch)) {
    }
  }
  void Set(ClusterMap m) {
    auto p = std::make_shared<const ClusterMap>(std::move(m));
    epoch_.store(p->epoch);
    std::atomic_store(&map_, p);
  }
  // The highest epoch a node has said it is at (a client refetches when it is above its own).
  uint64_t noted_epoch() const override { return noted_.load(); }

 private:
  std::shared_ptr<const ClusterMap> map_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<uint64_t> noted_{0};
};

}  // namespace cairn::cluster
