// EpochFence: the replica writes a node has admitted and not yet finished, by the map epoch
// they were sent under (docs/cluster.md "Map transitions", the DIGEST fence).
//
// A moving partition is declared synced for epoch E from DIGEST comparisons at E. That is sound
// only if, once a member has answered one, no write sent under an older map can still land in
// its store: such a write may be acknowledged with its copies in the old row alone, and a round
// that already listed the member would never see it. A node refuses writes sent under an older
// map than its own (Route, docs/protocol.md section 9), but a write admitted just before the
// node's map moved can still be in the store's commit. The fence counts those: a DIGEST at E is
// answered only when none sent under an epoch below E is in flight, and the leader's own store
// counts as seen at E only then (AntiEntropy).
//
// The check and the count are one step under the fence's lock, so a write is either counted
// before a DIGEST looks or sees the node's new epoch and is refused: none slips between.
//
// Thread safety: every method from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "cairn/object_store.h"

namespace cairn::cluster {

class EpochFence {
 public:
  // `epoch`: the node's map epoch as requests are checked against it (MapView::epoch_cell()).
  explicit EpochFence(const std::atomic<uint64_t>* epoch) : epoch_(epoch) {}
  EpochFence(const EpochFence&) = delete;
  EpochFence& operator=(const EpochFence&) = delete;

  // Admits a replica write sent under map epoch `sent` (0: a sender with no epoch, counted as
  // the oldest). Refused (nullptr, nothing counted) when `sent` is older than the node's epoch
  // now, which goes to *ours. Otherwise the write is in flight until the returned hold (never
  // null) is released: keep it until the write is durable or has failed. A hold may outlive
  // the fence (a request still queued when a server stops): it shares the counts' state.
  std::shared_ptr<const void> Enter(uint64_t sent, uint64_t* ours);
  // A write this node coordinates into its own store: counted under the node's epoch now, never
  // refused. One that starts before the node's map reaches E is waited for by a DIGEST at E;
  // one that starts later made its request under an older map at most, and the coordinator
  // that sees the newer map covers it (FollowMapChange for a write, a read read again).
  std::shared_ptr<const void> EnterLocal();

  // Writes sent under an epoch below `epoch` still in flight.
  uint64_t OlderInFlight(uint64_t epoch) const;
  // Waits up to `max_wait` for OlderInFlight(epoch) to reach 0; returns what is left.
  uint64_t AwaitOlder(uint64_t epoch, std::chrono::milliseconds max_wait) const;
  // Every write in flight (STAT).
  uint64_t InFlight() const;

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::map<uint64_t, uint64_t> in_flight;  // sent epoch -> writes
    uint64_t OlderLocked(uint64_t epoch) const;
    void Leave(uint64_t sent);
  };

  std::shared_ptr<const void> HoldLocked(uint64_t sent);  // st_->mu held

  const std::atomic<uint64_t>* epoch_;
  const std::shared_ptr<State> st_ = std::make_shared<State>();
};

// This node's own store as its coordinators write it: every put and delete holds a place in the
// fence (EnterLocal) until it is done (for PutAsync, until its callback has run). Reads pass
// through.
class FencedStore final : public ForwardingObjectStore {
 public:
  FencedStore(ObjectStore* inner, EpochFence* fence) : ForwardingObjectStore(inner), fence_(fence) {}
  Result<WriteResult> Put(std::string_view key, std::string_view value,
                          const WriteOptions& wo) override {
    std::shared_ptr<const void> hold = fence_->EnterLocal();
    return inner_->Put(key, value, wo);
  }
  Result<WriteResult> PutStream(std::string_view key, ValueSource* src,
                                const WriteOptions& wo) override {
    std::shared_ptr<const void> hold = fence_->EnterLocal();
    return inner_->PutStream(key, src, wo);
  }
  Status PutAsync(std::string_view key, std::string_view value, const WriteOptions& wo,
                  WriteDone done) override {
    // The place is given back as the commit answers (the write is in the store then), not
    // whenever the store gets round to destroying its callback.
    return inner_->PutAsync(key, value, wo,
                            [hold = fence_->EnterLocal(), done = std::move(done)](
                                Result<WriteResult> r) mutable {
                              hold.reset();
                              done(std::move(r));
                            });
  }
  Result<WriteResult> Delete(std::string_view key, const WriteOptions& wo) override {
    std::shared_ptr<const void> hold = fence_->EnterLocal();
    return inner_->Delete(key, wo);
  }
  // Reads go to the inner store (ForwardingObjectStore); Compose is not offered.

 private:
  EpochFence* fence_;
};

// Named bound: how long a DIGEST waits for older writes to finish before it is answered
// Unavailable (the round then retries that member).
inline constexpr uint32_t kFenceWaitMs = 200;

}  // namespace cairn::cluster
