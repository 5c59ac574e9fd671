#include "cluster/cluster_store.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>

#include "cluster/transition.h"
#include "util/crc32c.h"
#include "util/thread_name.h"

namespace cairn::cluster {
namespace {

using Clock = std::chrono::steady_clock;

// Named bound: recent replica read latencies kept for the hedge delay (its p95).
constexpr size_t kLatencySamples = 256;
// Named bound: a value up to this is repaired from memory; a larger one is streamed.
constexpr uint64_t kRepairInMemoryBytes = uint64_t{4} << 20;
// Named bound: how many times a read starts over when the version it chose changed under it.
constexpr int kMaxReadRetries = 3;
// Named bound: hints waiting for the background writer (past it, the oldest are dropped and
// counted as failures; anti-entropy finds what they would have fixed).
constexpr size_t kMaxQueuedHints = 65536;

uint64_t SystemMillis() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// A remote failure that says the request was certainly not applied.
bool DefinitelyNotApplied(const Status& s) {
  return s.IsInvalidArgument() || s.IsLimitExceeded() || s.IsPermissionDenied() ||
         s.IsNotSupported() || s.IsReadOnly() || s.IsNoSpace() || s.IsBusy() || s.IsConflict();
}

// Answers of replica calls, gathered on the coordinator's thread. Shared with the callbacks,
// which may run after the coordinator has returned.
template <typename T>
struct Gather {
  explicit Gather(size_t n) : results(n) {}
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result<T>>> results;
  size_t done = 0;
  // Set when the coordinator has returned: later answers go here.
  std::function<void(size_t, const Result<T>&)> late;

  void Set(size_t i, Result<T> r) {
    std::function<void(size_t, const Result<T>&)> f;
    {
      std::lock_guard<std::mutex> l(mu);
      if (results[i].has_value()) return;
      results[i] = std::move(r);
      done++;
      f = late;
      cv.notify_all();
    }
    if (f) f(i, *results[i]);
  }
};

// A ValueSource over an in-memory value (repairs of small objects go through Put instead).
class ReaderSource final : public ValueSource {
 public:
  explicit ReaderSource(ObjectReader* r) : r_(r) {}
  Result<size_t> Read(char* buf, size_t n) override { return r_->Read(buf, n); }

 private:
  ObjectReader* r_;
};

// Feeds one value to several streaming writers that read it at their own pace, holding at
// most `max_bytes` of it: the slowest active reader decides when the source is read further.
class Tee {
 public:
  Tee(ValueSource* src, size_t readers, size_t max_bytes)
      : src_(src), next_(readers, 0), active_(readers, true), max_chunks_(std::max<size_t>(2, max_bytes / kChunk)) {}

  static constexpr size_t kChunk = 1 << 20;

  class Reader final : public ValueSource {
   public:
    Reader(Tee* t, size_t i) : t_(t), i_(i) {}
    Result<size_t> Read(char* buf, size_t n) override { return t_->ReadFor(i_, buf, n); }

   private:
    Tee* t_;
    size_t i_;
  };

  // A reader that is done (its writer returned): the others no longer wait for it.
  void Detach(size_t i) {
    std::lock_guard<std::mutex> l(mu_);
    active_[i] = false;
    Trim();
    cv_.notify_all();
  }
  uint64_t bytes() const { return bytes_; }
  uint32_t crc() const { return crc_; }
  const Status& source_status() const { return source_status_; }

 private:
  Result<size_t> ReadFor(size_t i, char* buf, size_t n) {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      const size_t idx = next_[i] - base_;
      if (idx < chunks_.size()) {
        std::string& c = chunks_[idx];
        const size_t k = std::min(n, c.size() - offset_in_chunk_[i]);
        std::memcpy(buf, c.data() + offset_in_chunk_[i], k);
        offset_in_chunk_[i] += k;
        if (offset_in_chunk_[i] == c.size()) {
          next_[i]++;
          offset_in_chunk_[i] = 0;
          Trim();
          cv_.notify_all();
        }
        return k;
      }
      if (!source_status_.ok()) return source_status_;
      if (eof_) return size_t{0};
      if (!reading_ && chunks_.size() < max_chunks_) {
        // This reader is at the front: it reads the source for everyone.
        reading_ = true;
        l.unlock();
        std::string c(kChunk, '\0');
        size_t have = 0;
        Status s;
        while (have < c.size()) {
          Result<size_t> got = src_->Read(c.data() + have, c.size() - have);
          if (!got.ok()) {
            s = got.status();
            break;
          }
          if (*got == 0) break;
          have += *got;
        }
        l.lock();
        reading_ = false;
        if (!s.ok()) {
          source_status_ = s;
        } else if (have == 0) {
          eof_ = true;
        } else {
          c.resize(have);
          crc_ = crc32c::Extend(crc_, c.data(), c.size());
          bytes_ += have;
          chunks_.push_back(std::move(c));
        }
        cv_.notify_all();
        continue;
      }
      cv_.wait(l);
    }
  }
  // Drops chunks every active reader has read. REQUIRES: mu_ held.
  void Trim() {
    uint64_t low = UINT64_MAX;
    for (size_t i = 0; i < next_.size(); i++)
      if (active_[i]) low = std::min(low, next_[i]);
    if (low == UINT64_MAX) low = base_ + chunks_.size();
    while (base_ < low && !chunks_.empty()) {
      chunks_.pop_front();
      base_++;
    }
  }

  ValueSource* src_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> chunks_;
  uint64_t base_ = 0;  // index of chunks_.front()
  std::vector<uint64_t> next_;
  std::vector<size_t> offset_in_chunk_ = std::vector<size_t>(next_.size(), 0);
  std::vector<bool> active_;
  size_t max_chunks_;
  bool reading_ = false;
  bool eof_ = false;
  Status source_status_;
  uint64_t bytes_ = 0;
  uint32_t crc_ = 0;
};

}  // namespace

const char* WritePolicyName(WritePolicy p) {
  switch (p) {
    case WritePolicy::kQuorum: return "quorum";
    case WritePolicy::kAll: return "all";
    case WritePolicy::kOne: return "one";
  }
  return "?";
}

bool ParseWritePolicy(std::string_view text, WritePolicy* p) {
  if (text == "quorum") *p = WritePolicy::kQuorum;
  else if (text == "all") *p = WritePolicy::kAll;
  else if (text == "one") *p = WritePolicy::kOne;
  else return false;
  return true;
}

// ---- ClusterShared ------------------------------------------------------------------------

ClusterShared::ClusterShared(NodeId self, std::function<uint64_t()> now_ms, HintLog* hints)
    : self_(self),
      now_ms_(now_ms ? std::move(now_ms) : std::function<uint64_t()>(SystemMillis)),
      hints_(hints),
      clock_(self) {
  if (hints_ != nullptr)
    hint_thread_ = std::thread([this] {
      SetThreadName("cairn-hintlog");
      HintLoop();
    });
}

ClusterShared::~ClusterShared() {
  {
    std::lock_guard<std::mutex> l(hint_mu_);
    stop_ = true;
    hint_cv_.notify_all();
  }
  if (hint_thread_.joinable()) hint_thread_.join();
}

Version ClusterShared::Stamp() {
  const uint64_t now = now_ms_();
  std::lock_guard<std::mutex> l(clock_mu_);
  return clock_.Stamp(now);
}

void ClusterShared::Observe(const Version& v) {
  std::lock_guard<std::mutex> l(clock_mu_);
  clock_.Observe(v);
}

void ClusterShared::NoteReadMicros(uint64_t us) {
  std::lock_guard<std::mutex> l(lat_mu_);
  if (lat_.size() < kLatencySamples) {
    lat_.push_back(us);
  } else {
    lat_[lat_next_] = us;
  }
  lat_next_ = (lat_next_ + 1) % kLatencySamples;
  if (lat_next_ % 32 == 0 && lat_.size() >= 32) {
    std::vector<uint64_t> v = lat_;
    const size_t k = v.size() * 95 / 100;
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    hedge_ms_ = static_cast<uint32_t>(std::min<uint64_t>(v[k] / 1000 + 1, 60000));
  }
}

uint32_t ClusterShared::HedgeDelayMs(uint32_t min_ms, uint32_t max_ms) {
  std::lock_guard<std::mutex> l(lat_mu_);
  return std::clamp(hedge_ms_, min_ms, max_ms);
}

void ClusterShared::HintNow(NodeId target, const Hint& h) {
  if (hints_ == nullptr) return;
  if (hints_->Append(target, {h}).ok()) {
    counters_.hints_written++;
  } else {
    counters_.hint_failures++;
  }
}

uint64_t ClusterShared::HintQueueBytes() const {
  if (hints_ == nullptr) return 0;
  uint64_t b = 0;
  for (NodeId t : hints_->Targets()) b += hints_->Stats(t).bytes;
  return b;
}

void ClusterShared::HintLater(NodeId target, Hint h) {
  if (hints_ == nullptr) return;
  std::lock_guard<std::mutex> l(hint_mu_);
  if (hint_queue_.size() >= kMaxQueuedHints) {
    hint_queue_.pop_front();
    counters_.hint_failures++;
  }
  hint_queue_.emplace_back(target, std::move(h));
  hint_cv_.notify_one();
}

void ClusterShared::HintThen(std::vector<std::pair<NodeId, Hint>> hints,
                             std::function<void()> then) {
  if (hints_ != nullptr) {
    std::unique_lock<std::mutex> l(hint_mu_);
    if (!stop_) {
      hints_then_.push_back(HintsThen{std::move(hints), std::move(then)});
      hint_cv_.notify_one();
      return;
    }
    l.unlock();
    // The writer is stopping: append here (blocking, but only at shutdown).
    for (const auto& [target, h] : hints) HintNow(target, h);
  }
  then();
}

void ClusterShared::HintLoop() {
  std::unique_lock<std::mutex> l(hint_mu_);
  while (!stop_ || !hint_queue_.empty() || !hints_then_.empty()) {
    if (!hints_then_.empty()) {
      // Every waiting reply's hints, one Append (one fdatasync) per target, then the replies.
      std::deque<HintsThen> batch;
      batch.swap(hints_then_);
      l.unlock();
      std::map<NodeId, std::vector<Hint>> by_target;
      for (const HintsThen& b : batch)
        for (const auto& [target, h] : b.hints) by_target[target].push_back(h);
      for (const auto& [target, hs] : by_target) {
        if (hints_->Append(target, hs).ok()) {
          counters_.hints_written += hs.size();
        } else {
          counters_.hint_failures += hs.size();
        }
      }
      for (HintsThen& b : batch) b.then();
      l.lock();
      continue;
    }
    if (hint_queue_.empty()) {
      hint_cv_.wait(l);
      continue;
    }
    auto [target, h] = std::move(hint_queue_.front());
    hint_queue_.pop_front();
    l.unlock();
    HintNow(target, h);
    l.lock();
  }
}

// ---- ClusterObjectStore -------------------------------------------------------------------

struct ClusterObjectStore::Versions {
  struct Answer {
    NodeId node = 0;
    bool found = false;  // the replica holds something for the key (live or a delete)
    ObjectInfo info;     // when found (info.deleted for a delete)
  };
  std::vector<Answer> answers;
  const Answer* newest = nullptr;  // the answer with the highest version (null: none found)
};

ClusterObjectStore::ClusterObjectStore(ClusterStoreOptions options, MapView* view,
                                       PeerPool* peers, ObjectStore* local,
                                       std::shared_ptr<ClusterShared> shared)
    : options_(std::move(options)),
      view_(view),
      peers_(peers),
      local_(local),
      shared_(std::move(shared)) {}

ClusterObjectStore::~ClusterObjectStore() = default;

std::vector<NodeId> ClusterObjectStore::ReplicasOf(std::string_view key, bool* local_replica) const {
  std::shared_ptr<const ClusterMap> map = view_->map();
  *local_replica = false;
  // While the key's partition moves: the old row and the new one (cluster/transition.h).
  std::vector<NodeId> row = RowsOf(*map, PartitionOf(key)).all;
  for (NodeId id : row)
    if (id == options_.self && options_.self != 0 && local_ != nullptr) *local_replica = true;
  return row;
}

uint32_t ClusterObjectStore::WriteQuorum(size_t replicas) const {
  const uint32_t r = static_cast<uint32_t>(replicas);
  switch (options_.write_policy) {
    case WritePolicy::kAll: return r;
    case WritePolicy::kOne: return 1;
    case WritePolicy::kQuorum: break;
  }
  return r / 2 + 1;
}

std::vector<NodeId> ClusterObjectStore::RouteOrder(std::string_view key) const {
  bool local_replica = false;
  std::vector<NodeId> row = ReplicasOf(key, &local_replica);
  std::shared_ptr<const ClusterMap> map = view_->map();
  std::vector<NodeId> up, down;
  for (NodeId id : row) {
    if (id == options_.self) continue;
    const MapNode* n = map->Node(id);
    (n != nullptr && n->state == NodeState::kUp ? up : down).push_back(id);
  }
  up.insert(up.end(), down.begin(), down.end());  // down ones last: the map may be behind
  return up;
}

Client* ClusterObjectStore::Coordinator(NodeId node) { return peers_->Get(node, RoutingRole::kCoordinate); }

std::vector<NodeId> ClusterObjectStore::AnyNodeOrder() const {
  std::shared_ptr<const ClusterMap> map = view_->map();
  std::vector<NodeId> order;
  for (const MapNode& n : map->nodes)
    if (n.state == NodeState::kUp && n.id != options_.self) order.push_back(n.id);
  return order;
}

ObjectStore* ClusterObjectStore::ReplicaStore(NodeId node) {
  if (node == options_.self && local_ != nullptr) return local_;
  return peers_->Get(node, RoutingRole::kReplica);
}

namespace {

// Named bound: a read whose map changed while it ran is read again under the newer map at most
// this many times (CoordinatedHead).
constexpr int kMaxMapChangeRereads = 3;
// Named bound: the first bytes of a routed stream kept to replay to another coordinator when
// the first could not be reached (a client reads one chunk before it connects).
constexpr size_t kStreamFailoverBytes = 4u << 20;
// Named bound: a write whose replicas answered "a newer version is held" is written again above
// it only if those answers came within this long of the write's start (see WriteAll).
constexpr uint32_t kRestampWindowMs = 1000;
// Named bound: how many newer maps a write that met its quorum follows before it gives up as
// "unknown" (each may add replicas: see FollowMapChange).
constexpr int kMaxMapFollows = 3;

Status NoMap() { return Status::Unavailable("the cluster has no map yet (no placement)"); }

// The error of a write that fewer than `w` replicas acknowledged (`results`: the answers so
// far; `sent`: the replicas it was sent to): DeadlineExceeded when some replica may have
// applied it (the outcome is unknown), Unavailable when none can have. `shortfall`, when
// given, says what was needed and got (QuorumShortfall: a moving partition needs W in both rows,
// so two acknowledgements of two can still fall short).
Status PartialWriteStatus(const std::vector<std::optional<Result<WriteResult>>>& results,
                          const std::vector<bool>& sent, size_t acks, uint32_t w,
                          WritePolicy policy, const std::string& shortfall = "") {
  bool maybe = acks > 0;
  std::string why;
  for (size_t i = 0; i < results.size(); i++) {
    if (!results[i].has_value()) {
      maybe = maybe || sent[i];
      continue;
    }
    const Status& s = results[i]->status();
    if (!s.ok()) {
      if (why.empty()) why = s.ToString();
      if (sent[i] && !DefinitelyNotApplied(s)) maybe = true;
    }
  }
  const std::string policy_name = std::string("the write policy (") + WritePolicyName(policy) + ")";
  std::string msg = shortfall.empty() ? std::to_string(acks) + " of the " + std::to_string(w) +
                                            " replicas " + policy_name + " needs acknowledged the write"
                                      : policy_name + " " + shortfall;
  if (!why.empty()) msg += " (" + why + ")";
  if (maybe) return Status::DeadlineExceeded(msg + "; the outcome is unknown");
  return Status::Unavailable(msg + "; nothing was written");
}

// Whether no replica can have applied a write's round: every replica it was sent to answered,
// and each answer says nothing was written (a Conflict among them). Only such a round may be
// written again under a new stamp: a version one replica applied may already have been read
// (and written back to a majority by that read), so writing it again above a newer version
// would apply it twice, before and after that version (found by the nemesis harness; see
// WriteAll).
bool NoReplicaApplied(const std::vector<std::optional<Result<WriteResult>>>& results,
                      const std::vector<bool>& sent) {
  for (size_t i = 0; i < results.size(); i++) {
    if (!sent[i]) continue;
    if (!results[i].has_value() || results[i]->ok() || !DefinitelyNotApplied(results[i]->status()))
      return false;
  }
  return true;
}

// Runs `call` against the coordinators in `order`, moving to the next while one is
// unreachable (Unavailable: nothing reached it, or the connection was lost).
template <typename T, typename F>
Result<T> RouteWithFailover(const std::vector<NodeId>& order, ClusterCounters& c, F call) {
  Status last = Status::Unavailable("no replica of the key is reachable");
  for (size_t i = 0; i < order.size(); i++) {
    if (i > 0) c.failovers++;
    Result<T> r = call(order[i]);
    if (r.ok() || !r.status().IsUnavailable()) return r;
    last = r.status();
  }
  return last;
}

}  // namespace

template <typename T, typename F>
Result<T> ClusterObjectStore::Routed(std::string_view key, F call) {
  auto stale = [&] { return view_->noted_epoch() > view_->map()->epoch; };
  for (int round = 0;; round++) {
    const std::vector<NodeId> order = key.empty() ? AnyNodeOrder() : RouteOrder(key);
    Result<T> r = RouteWithFailover<T>(order, shared_->counters(), [&](NodeId n) -> Result<T> {
      // Once a node said our map is stale, every node will: stop and fetch the newer one.
      if (stale()) return Status::Unavailable("stale cluster map");
      Client* c = Coordinator(n);
      if (c == nullptr) return Status::Unavailable("no address for node " + std::to_string(n));
      shared_->counters().routed++;
      shared_->NoteForeground();
      return call(c);
    });
    if (r.ok() || !r.status().IsUnavailable() || round > 0 || !stale()) return r;
    // A node said our map is stale: fetch the newer one and route again.
    if (view_->Refresh().ok()) continue;
    // It cannot be fetched (etcd unreachable), but the nodes have it: let them route the
    // request by their own map, sent with no epoch as from a client without a map (to the
    // nodes our map names, in the same order).
    return RouteWithFailover<T>(order, shared_->counters(), [&](NodeId n) -> Result<T> {
      Client* c = peers_->GetUnrouted(n);
      if (c == nullptr) return Status::Unavailable("no address for node " + std::to_string(n));
      shared_->counters().routed++;
      shared_->NoteForeground();
      return call(c);
    });
  }
}

Result<WriteResult> ClusterObjectStore::WriteAll(std::string_view key, const std::string* value,
                                                 const WriteOptions& wo, Version v) {
  // One map for the whole write: its rows decide where it goes and what acknowledges it.
  std::shared_ptr<const ClusterMap> map = view_->map();
  const KeyRows rows = RowsOf(*map, PartitionOf(key));
  const std::vector<NodeId>& row = rows.all;
  const bool local_replica = local_ != nullptr && options_.self != 0 &&
                             std::find(row.begin(), row.end(), options_.self) != row.end();
  const size_t n = row.size();
  if (n == 0) return NoMap();
  // W of the new row (and, while the partition moves, W of the old one too: QuorumMet).
  const uint32_t w = WriteQuorum(rows.rows[0].size());
  auto quorum = [this](size_t k) { return WriteQuorum(k); };
  shared_->counters().coordinated++;
  shared_->NoteForeground();
  const auto started = Clock::now();
  for (int attempt = 0;; attempt++) {
    auto g = std::make_shared<Gather<WriteResult>>(n);
    auto held = std::make_shared<std::vector<Version>>(n);
    WriteOptions rwo;
    rwo.durability = wo.durability;
    rwo.condition = WriteCondition::kIfNewer;
    rwo.version = v;
    if (value != nullptr) rwo.metadata = wo.metadata;
    std::vector<bool> sent(n, false);
    size_t self_slot = n;
    for (size_t i = 0; i < n; i++) {
      if (row[i] == options_.self && local_replica) {
        self_slot = i;
        continue;
      }
      const MapNode* mn = map->Node(row[i]);
      Client* c = (mn != nullptr && mn->state == NodeState::kUp) ? peers_->Get(row[i], RoutingRole::kReplica) : nullptr;
      if (c == nullptr) {
        g->Set(i, Status::Unavailable("replica node " + std::to_string(row[i]) + " is down"));
        continue;
      }
      sent[i] = true;
      WriteOptions o = rwo;
      o.held_version_out = &(*held)[i];
      auto done = [g, held, i](Result<WriteResult> r) { g->Set(i, std::move(r)); };
      if (value != nullptr) {
        Status s = c->PutAsync(key, *value, o, done);
        if (!s.ok()) g->Set(i, s);
      } else {
        c->DeleteAsync(std::string(key), o, done);
      }
    }
    if (self_slot < n) {
      WriteOptions o = rwo;
      o.held_version_out = &(*held)[self_slot];
      g->Set(self_slot, value != nullptr ? local_->Put(key, *value, o) : local_->Delete(key, o));
      sent[self_slot] = true;
    }
    // Wait for W acknowledgements, every answer, or the deadline.
    size_t acks = 0;
    bool met = false;
    std::vector<NodeId> acked;
    Version newer;
    {
      std::unique_lock<std::mutex> l(g->mu);
      auto count = [&] {
        acks = 0;
        acked.clear();
        for (size_t i = 0; i < n; i++)
          if (g->results[i].has_value() && g->results[i]->ok()) {
            acks++;
            acked.push_back(row[i]);
          }
        met = QuorumMet(rows, acked, quorum);
        return met || g->done == n;
      };
      g->cv.wait_until(l, Clock::now() + std::chrono::milliseconds(options_.replica_deadline_ms), count);
      count();
      for (size_t i = 0; i < n; i++)
        if (g->results[i].has_value() && g->results[i]->status().IsConflict() && (*held)[i] > newer)
          newer = (*held)[i];
    }
    // A replica holds a newer version (a concurrent write, or a coordinator whose clock is
    // ahead of ours): the write is stamped again above it, once, so that it is ordered after
    // every write acknowledged before it began, but only when that cannot apply it twice:
    // - it is prompt: one whose answers came back late may already have been given up by its
    //   client, retried through another coordinator and acknowledged there, and newer writes
    //   acknowledged after it (found by the nemesis harness: a put cut off by a partition that
    //   healed within the deadline). kRestampWindowMs is well below every client's timeout;
    // - no replica applied the first stamp: one that did may have been read (a delete seen as
    //   "absent", then a newer put acknowledged, then the delete restamped above it: found by
    //   the nemesis harness, tests/cluster/testdata/issue11-restamp-within-window.jsonl). Such
    //   a write ends "unknown" instead; the clock has seen the newer version, so the client's
    //   retry is stamped above it.
    const bool prompt = Clock::now() - started < std::chrono::milliseconds(kRestampWindowMs);
    if (newer > v) shared_->Observe(newer);
    if (!met && newer > v && attempt == 0 && prompt && wo.condition != WriteCondition::kIfNewer &&
        [&] {
          std::lock_guard<std::mutex> l(g->mu);
          return NoReplicaApplied(g->results, sent);
        }()) {
      v = shared_->Stamp();
      shared_->counters().conflicts_retried++;
      continue;
    }
    Hint hint{std::string(key), v, value == nullptr, 0};
    // Hints: replicas that failed now are hinted before the reply (durable); those still
    // answering are hinted if they fail later, from the background writer.
    std::vector<size_t> failed_now;
    {
      std::lock_guard<std::mutex> l(g->mu);
      for (size_t i = 0; i < n; i++) {
        if (!g->results[i].has_value()) continue;
        const Status& s = g->results[i]->status();
        // (No hint for a node that is out: it holds nothing any more, and is never replayed to.)
        const MapNode* mn = map->Node(row[i]);
        if (mn != nullptr && mn->state == NodeState::kOut) continue;
        if (!s.ok() && !s.IsConflict()) failed_now.push_back(i);
      }
      if (acks > 0) {
        g->late = [shared = shared_, row, hint](size_t i, const Result<WriteResult>& r) {
          if (!r.ok() && !r.status().IsConflict()) shared->HintLater(row[i], hint);
        };
      }
    }
    if (acks > 0)
      for (size_t i : failed_now) shared_->HintNow(row[i], hint);
    if (met) {
      // The map may have changed while the write was out (a transition began): the write then
      // meets the newer map's quorum too before it is acknowledged.
      CAIRN_RETURN_IF_ERROR(FollowMapChange(key, value, wo, v, map, row, acked));
      WriteResult out;
      out.version = v;
      std::lock_guard<std::mutex> l(g->mu);
      if (self_slot < n && g->results[self_slot].has_value() && g->results[self_slot]->ok())
        out.sequence = (*g->results[self_slot])->sequence;
      if (value != nullptr) {
        out.size = value->size();
        out.crc32c = crc32c::Value(*value);
      }
      return out;
    }
    shared_->counters().partial_writes++;
    if (newer > v && wo.condition == WriteCondition::kIfNewer) {
      if (wo.held_version_out != nullptr) *wo.held_version_out = newer;
      return Status::Conflict("a replica holds a newer version (" + newer.ToString() + ")");
    }
    // Could any replica have applied it? Then the outcome is unknown.
    std::lock_guard<std::mutex> l(g->mu);
    return PartialWriteStatus(g->results, sent, acks, w, options_.write_policy,
                              rows.moving() ? QuorumShortfall(rows, acked, quorum) : "");
  }
}

Status ClusterObjectStore::FollowMapChange(std::string_view key, const std::string* value,
                                           const WriteOptions& wo, Version v,
                                           std::shared_ptr<const ClusterMap> map,
                                           std::vector<NodeId> written,
                                           std::vector<NodeId> acked) {
  auto quorum = [this](size_t k) { return WriteQuorum(k); };
  for (int hop = 0; hop < kMaxMapFollows; hop++) {
    std::shared_ptr<const ClusterMap> now = view_->map();
    if (now->epoch == map->epoch) return Status::OK();
    map = now;
    const KeyRows rows = RowsOf(*map, PartitionOf(key));
    WriteOptions o;
    o.durability = wo.durability;
    o.condition = WriteCondition::kIfNewer;
    o.version = v;
    if (value != nullptr) o.metadata = wo.metadata;
    const Hint hint{std::string(key), v, value == nullptr, 0};
    for (NodeId id : rows.all) {
      if (std::find(written.begin(), written.end(), id) != written.end()) continue;
      written.push_back(id);
      const MapNode* mn = map->Node(id);
      ObjectStore* s = mn != nullptr && mn->state == NodeState::kUp ? ReplicaStore(id) : nullptr;
      Status st = s == nullptr ? Status::Unavailable("replica node " + std::to_string(id) + " is down")
                  : value != nullptr ? s->Put(key, *value, o).status()
                                     : s->Delete(key, o).status();
      if (st.ok()) {
        acked.push_back(id);
      } else if (!st.IsConflict()) {
        shared_->HintNow(id, hint);
      }
    }
    if (!QuorumMet(rows, acked, quorum)) {
      shared_->counters().partial_writes++;
      return Status::DeadlineExceeded(
          "the cluster map changed during the write (epoch " + std::to_string(map->epoch) +
          ") and the write reached too few of the key's new replicas; the outcome is unknown");
    }
  }
  return Status::DeadlineExceeded("the cluster map kept changing during the write; the outcome is unknown");
}

// ---- PutAsync: a coordinated put without a thread of its own ------------------------------

// One PutAsync in flight, shared by the answers' callbacks (the local store's commit leader,
// the peer clients' I/O thread); the answer that decides a round answers the caller, or starts
// the one restamped round WriteAll would.
struct ClusterObjectStore::AsyncWrite {
  std::shared_ptr<ClusterShared> shared;
  ObjectStore* local = nullptr;
  std::vector<Client*> clients;  // by slot; null for this node's
  std::vector<NodeId> row;
  uint32_t w = 0;
  WritePolicy policy = WritePolicy::kQuorum;
  size_t self_slot = 0;
  std::string key;
  std::string value;  // kept for a restamped round
  WriteOptions rwo;   // the replicas' options: if-newer the round's version
  Clock::time_point started;
  WriteResult out;  // the answer once W acknowledged (the local sequence added then)
  WriteDone done;
  std::vector<bool> sent;  // every slot (each round sends to every replica)
  MapView* view = nullptr;  // to see whether the map changed before answering
  uint64_t epoch = 0;       // the map's the put was sent under
  uint32_t partition = 0;
  std::mutex mu;
  int round = 0;  // guarded by mu
  // Per round (an answer of round 0 may still arrive during round 1): guarded by mu, except
  // that a client writes held[r][i] before it calls back for slot i.
  std::vector<std::optional<Result<WriteResult>>> results[2];
  std::vector<Version> held[2];
  size_t answered = 0;     // this round's (guarded by mu)
  size_t acks = 0;         // this round's (guarded by mu)
  bool finished = false;   // `done` has been given its answer (guarded by mu)
  bool hint_late = false;  // replicas failing after that are hinted (some replica acknowledged)

  // Sends round `r` (its version in rwo) to every replica. The local write never waits: when it
  // would (a restamped round), it counts as that replica's failure, as Busy (nothing written).
  // REQUIRES: round == r was set under mu, with rwo, out.version and the round's vectors.
  static void Send(const std::shared_ptr<AsyncWrite>& op, int r) {
    const size_t n = op->row.size();
    for (size_t i = 0; i < n; i++) {
      WriteOptions o = op->rwo;
      o.held_version_out = &op->held[r][i];
      auto cb = [op, r, i](Result<WriteResult> res) { op->Answer(r, i, std::move(res)); };
      Status s = i == op->self_slot ? op->local->PutAsync(op->key, op->value, o, cb)
                                    : op->clients[i]->PutAsync(op->key, op->value, o, cb);
      if (!s.ok()) op->Answer(r, i, s);
    }
    op->local->StartCommit();
  }

  // What WriteAll decides, made by whichever answer completes a round: W acknowledgements, or
  // every replica answered. A prompt first round that a replica refused with a newer version
  // is written again above it (on the hint writer's thread: this one may be the local store's
  // commit leader, which must not be called back into). Replicas that failed by then are hinted
  // durably before `done` runs (on the hint writer's thread); later failures are hinted from
  // the background writer.
  void Answer(int r, size_t i, Result<WriteResult> res) {
    std::optional<Result<WriteResult>> answer;
    std::vector<std::pair<NodeId, Hint>> hint_now;
    bool hint_this_late = false;
    bool restamp = false;
    Hint hint;
    {
      std::lock_guard<std::mutex> l(mu);
      if (r != round || results[r][i].has_value()) return;  // a round given up, or a repeat
      const bool failed = !res.ok() && !res.status().IsConflict();
      answered++;
      if (res.ok()) acks++;
      results[r][i] = std::move(res);
      hint = Hint{key, out.version, false, 0};
      if (finished) {
        hint_this_late = failed && hint_late;
      } else if (acks >= w || answered == results[r].size()) {
        Version newer;
        for (size_t j = 0; j < results[r].size(); j++)
          if (results[r][j].has_value() && results[r][j]->status().IsConflict() && held[r][j] > newer)
            newer = held[r][j];
        const bool prompt = Clock::now() - started < std::chrono::milliseconds(kRestampWindowMs);
        if (newer > out.version) shared->Observe(newer);
        if (acks < w && newer > out.version && r == 0 && prompt && NoReplicaApplied(results[r], sent)) {
          // As WriteAll: a replica holds a newer version (a concurrent write, or a coordinator
          // whose clock is ahead) and none applied this one: write once more above it.
          const Version v = shared->Stamp();
          shared->counters().conflicts_retried++;
          round = 1;
          answered = acks = 0;
          rwo.version = v;
          out.version = v;
          results[1].assign(row.size(), std::nullopt);
          held[1].assign(row.size(), Version());
          restamp = true;
        } else {
          finished = true;
          hint_late = acks > 0;
          if (acks > 0) {
            for (size_t j = 0; j < results[r].size(); j++)
              if (results[r][j].has_value() && !results[r][j]->ok() &&
                  !results[r][j]->status().IsConflict())
                hint_now.emplace_back(row[j], hint);
          }
          // The map changed while the put was out and the key now has replicas it was not
          // sent to (a transition began): unknown, as WriteAll's FollowMapChange would need
          // to block to send it there. Rare (a write racing a map change); the client retries.
          bool grew = false;
          if (acks >= w && view != nullptr) {
            std::shared_ptr<const ClusterMap> now = view->map();
            if (now->epoch != epoch)
              for (NodeId id : RowsOf(*now, partition).all)
                grew = grew || std::find(row.begin(), row.end(), id) == row.end();
          }
          if (acks >= w && grew) {
            shared->counters().partial_writes++;
            answer = Status::DeadlineExceeded(
                "the cluster map changed during the write and the key has new replicas; the "
                "outcome is unknown");
          } else if (acks >= w) {
            WriteResult o = out;
            if (results[r][self_slot].has_value() && results[r][self_slot]->ok())
              o.sequence = (*results[r][self_slot])->sequence;
            answer = o;
          } else {
            shared->counters().partial_writes++;
            answer = PartialWriteStatus(results[r], sent, acks, w, policy);
          }
        }
      }
    }
    if (hint_this_late) shared->HintLater(row[i], hint);
    if (restamp) {
      shared->HintThen({}, [self = self_ptr.lock()] {
        if (self != nullptr) Send(self, 1);
      });
      return;
    }
    if (!answer.has_value()) return;
    if (hint_now.empty()) return done(std::move(*answer));
    shared->HintThen(std::move(hint_now), [done = std::move(done), a = std::move(*answer)]() mutable {
      done(std::move(a));
    });
  }
  std::weak_ptr<AsyncWrite> self_ptr;
};

Status ClusterObjectStore::PutAsync(std::string_view key, std::string_view value,
                                    const WriteOptions& wo, WriteDone done) {
  // A condition needs a read of the replicas first (or, for if-newer, its Conflict answered
  // with the version held): Put.
  if (local_ == nullptr || wo.condition != WriteCondition::kNone)
    return Status::Busy("a conditional or routed put: use Put");
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  bool local_replica = false;
  std::vector<NodeId> row = ReplicasOf(key, &local_replica);
  if (!local_replica) return Status::Busy("this node is not a replica of the key: Put routes it");
  std::shared_ptr<const ClusterMap> map = view_->map();
  // A moving partition needs W in two rows (and the ones under a newer map): Put's WriteAll.
  if (map->Moving(PartitionOf(key))) return Status::Busy("the key's partition is moving: use Put");
  row = RowsOf(*map, PartitionOf(key)).all;  // the same map as the checks below
  if (std::find(row.begin(), row.end(), options_.self) == row.end())
    return Status::Busy("this node is not a replica of the key: Put routes it");
  const size_t n = row.size();
  auto op = std::make_shared<AsyncWrite>();
  op->self_ptr = op;
  op->clients.assign(n, nullptr);
  op->self_slot = n;
  for (size_t i = 0; i < n; i++) {
    if (row[i] == options_.self) {
      op->self_slot = i;
      continue;
    }
    // A replica down is hinted before the reply (a blocking, group-committed append): Put,
    // whose concurrent writers share those appends.
    const MapNode* mn = map->Node(row[i]);
    if (mn == nullptr || mn->state != NodeState::kUp)
      return Status::Busy("a replica is down: use Put");
    op->clients[i] = peers_->Get(row[i], RoutingRole::kReplica);
    if (op->clients[i] == nullptr) return Status::Busy("a replica has no client: use Put");
  }
  op->shared = shared_;
  op->view = view_;
  op->epoch = map->epoch;
  op->partition = PartitionOf(key);
  op->local = local_;
  op->row = std::move(row);
  op->w = WriteQuorum(n);
  op->policy = options_.write_policy;
  op->key.assign(key);
  op->value.assign(value);
  op->started = Clock::now();
  op->done = std::move(done);
  op->sent.assign(n, true);
  op->results[0].resize(n);
  op->held[0].resize(n);
  const Version v = shared_->Stamp();
  op->out.version = v;
  op->out.size = value.size();
  op->out.crc32c = crc32c::Value(value);
  op->rwo.durability = wo.durability;
  op->rwo.condition = WriteCondition::kIfNewer;
  op->rwo.version = v;
  op->rwo.metadata = wo.metadata;
  // The local write first: when it would wait, or is refused (a newer version held here: Put
  // restamps above it), nothing has been sent and the caller falls back to Put. The version
  // stamped stays unused, which the clock allows.
  const size_t self_slot = op->self_slot;
  WriteOptions lo = op->rwo;
  lo.held_version_out = nullptr;  // a refusal here is Busy: Put looks again
  Status s = local_->PutAsync(key, value, lo, [op, self_slot](Result<WriteResult> r) {
    op->Answer(0, self_slot, std::move(r));
  });
  if (!s.ok())
    return Status::Busy("the local write would wait or was refused (" + s.ToString() +
                        "): use Put");
  shared_->counters().coordinated++;
  shared_->NoteForeground();
  for (size_t i = 0; i < n; i++) {
    if (i == self_slot) continue;
    WriteOptions o = op->rwo;
    o.held_version_out = &op->held[0][i];
    Status cs = op->clients[i]->PutAsync(key, value, o, [op, i](Result<WriteResult> r) {
      op->Answer(0, i, std::move(r));
    });
    if (!cs.ok()) op->Answer(0, i, cs);
  }
  return Status::OK();
}

void ClusterObjectStore::StartCommit() {
  if (local_ != nullptr) local_->StartCommit();
}

Result<WriteResult> ClusterObjectStore::WriteStreamAll(std::string_view key, ValueSource* src,
                                                       const WriteOptions& wo, Version v) {
  std::shared_ptr<const ClusterMap> map = view_->map();
  const KeyRows rows = RowsOf(*map, PartitionOf(key));
  const std::vector<NodeId>& row = rows.all;  // while the partition moves: old and new rows
  const bool local_replica = local_ != nullptr && options_.self != 0 &&
                             std::find(row.begin(), row.end(), options_.self) != row.end();
  const size_t n = row.size();
  if (n == 0) return NoMap();
  const uint32_t w = WriteQuorum(rows.rows[0].size());
  shared_->counters().coordinated++;
  shared_->NoteForeground();
  WriteOptions rwo;
  rwo.durability = wo.durability;
  rwo.condition = WriteCondition::kIfNewer;
  rwo.version = v;
  rwo.metadata = wo.metadata;
  std::vector<ObjectStore*> stores(n, nullptr);
  std::vector<Result<WriteResult>> results(n, Status::Unavailable("replica node is down"));
  for (size_t i = 0; i < n; i++) {
    const MapNode* mn = map->Node(row[i]);
    if (row[i] == options_.self && local_replica) {
      stores[i] = local_;
    } else if (mn != nullptr && mn->state == NodeState::kUp) {
      stores[i] = peers_->Get(row[i], RoutingRole::kReplica);
    }
  }
  // Every replica reads the same bytes, in step, from one bounded buffer.
  Tee tee(src, n, options_.stream_buffer_bytes);
  std::vector<std::thread> writers;
  for (size_t i = 0; i < n; i++) {
    if (stores[i] == nullptr) {
      tee.Detach(i);
      continue;
    }
    writers.emplace_back([&, i] {
      Tee::Reader r(&tee, i);
      results[i] = stores[i]->PutStream(key, &r, rwo);
      tee.Detach(i);
    });
  }
  for (auto& t : writers) t.join();
  if (!tee.source_status().ok()) return tee.source_status();
  size_t acks = 0;
  std::vector<NodeId> acked;
  for (size_t i = 0; i < n; i++)
    if (results[i].ok()) {
      acks++;
      acked.push_back(row[i]);
    }
  // W in the row, or in each of the old and new rows while the partition moves.
  const bool met = QuorumMet(rows, acked, [this](size_t k) { return WriteQuorum(k); });
  Hint hint{std::string(key), v, false, 0};
  if (acks > 0)
    for (size_t i = 0; i < n; i++)
      if (!results[i].ok() && !results[i].status().IsConflict()) shared_->HintNow(row[i], hint);
  if (met) {
    // The map changed while the value streamed and the key has replicas it was not sent to (a
    // transition began): the stream cannot be sent again, so the outcome is unknown (the client
    // retries; anti-entropy brings the new replicas what the old ones hold).
    std::shared_ptr<const ClusterMap> now = view_->map();
    if (now->epoch != map->epoch)
      for (NodeId id : RowsOf(*now, PartitionOf(key)).all)
        if (std::find(row.begin(), row.end(), id) == row.end()) {
          shared_->counters().partial_writes++;
          return Status::DeadlineExceeded(
              "the cluster map changed during the streamed write and the key has new replicas; "
              "the outcome is unknown");
        }
    WriteResult out;
    out.version = v;
    out.size = tee.bytes();
    out.crc32c = tee.crc();
    return out;
  }
  shared_->counters().partial_writes++;
  std::string why;
  for (const auto& r : results)
    if (!r.ok() && why.empty()) why = r.status().ToString();
  const std::string msg = std::to_string(acks) + " of the " + std::to_string(w) +
                          " replicas needed acknowledged the streamed write (" + why + ")";
  return acks > 0 ? Status::DeadlineExceeded(msg + "; the outcome is unknown")
                  : Status::Unavailable(msg);
}

Result<ClusterObjectStore::Versions> ClusterObjectStore::ReadVersions(
    std::string_view key, const KeyRows& rows) {
  std::shared_ptr<const ClusterMap> map = view_->map();
  shared_->NoteForeground();
  // This node first (its index is at hand) unless it joins the key's row, then up nodes, then
  // down ones (cluster/transition.h).
  const std::vector<NodeId> order =
      ReadOrder(rows, local_ != nullptr ? options_.self : 0, [&](NodeId id) {
        const MapNode* mn = map->Node(id);
        return mn != nullptr && mn->state == NodeState::kUp;
      });
  auto g = std::make_shared<Gather<ObjectInfo>>(order.size());
  auto started = std::make_shared<std::vector<Clock::time_point>>(order.size());
  size_t next = 0;
  auto ask = [&](size_t i) {
    (*started)[i] = Clock::now();
    if (order[i] == options_.self && local_ != nullptr) {
      g->Set(i, local_->HeadVersion(key));
      return;
    }
    Client* c = peers_->Get(order[i], RoutingRole::kReplica);
    if (c == nullptr) {
      g->Set(i, Status::Unavailable("no address for node " + std::to_string(order[i])));
      return;
    }
    auto shared = shared_;
    c->HeadVersionAsync(std::string(key), [g, i, started, shared](Result<ObjectInfo> r) {
      if (r.ok() || r.status().IsNotFound())
        shared->NoteReadMicros(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - (*started)[i]).count()));
      g->Set(i, std::move(r));
    });
  };
  // A majority of every row: the row, or, while the partition moves, the old row and the new
  // one (cluster/transition.h), so that the newest acknowledged write is seen whichever rows
  // it met its quorum in, and a repair makes what this read returns durable in both.
  auto answered_at = [&](size_t i) {
    const auto& r = g->results[i];
    return r.has_value() && (r->ok() || r->status().IsNotFound());
  };
  auto failed_at = [&](size_t i) {
    const auto& r = g->results[i];
    return r.has_value() && !r->ok() && !r->status().IsNotFound();
  };
  // Whether every row has a majority among the asked nodes for which `count` holds.
  auto every_row = [&](const std::function<bool(size_t)>& count) {
    for (const std::vector<NodeId>& row : rows.rows) {
      size_t k = 0;
      for (size_t i = 0; i < next; i++)
        if (std::find(row.begin(), row.end(), order[i]) != row.end() && count(i)) k++;
      if (k < row.size() / 2 + 1) return false;
    }
    return true;
  };
  auto satisfied = [&] { return every_row(answered_at); };
  // Asked and not failed (answered or still outstanding): could they make a majority of each?
  auto possible = [&] { return every_row([&](size_t i) { return !failed_at(i); }); };
  // Ask as many as a majority of each row needs at once.
  while (next < order.size() && !every_row([](size_t) { return true; })) ask(next++);
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.replica_deadline_ms);
  std::unique_lock<std::mutex> l(g->mu);
  while (!satisfied()) {
    if (!possible() && next < order.size()) {
      // One of them failed: ask the next one at once.
      l.unlock();
      ask(next++);
      l.lock();
      continue;
    }
    if (next >= order.size() && g->done == next) break;  // everyone asked has answered
    const auto hedge = std::chrono::milliseconds(
        shared_->HedgeDelayMs(options_.hedge_min_ms, options_.hedge_max_ms));
    const auto until = next < order.size() ? std::min(deadline, Clock::now() + hedge) : deadline;
    const size_t before = g->done;
    g->cv.wait_until(l, until, [&] { return g->done != before || satisfied(); });
    if (satisfied()) break;
    if (Clock::now() >= deadline) break;
    if (g->done == before && next < order.size()) {
      // Slow: hedge to one more replica.
      shared_->counters().hedged++;
      l.unlock();
      ask(next++);
      l.lock();
    }
  }
  Versions v;
  for (size_t i = 0; i < order.size(); i++) {
    if (!g->results[i].has_value()) continue;
    const Result<ObjectInfo>& r = *g->results[i];
    if (!r.ok() && !r.status().IsNotFound()) continue;
    Versions::Answer a;
    a.node = order[i];
    a.found = r.ok();
    if (r.ok()) a.info = *r;
    v.answers.push_back(std::move(a));
  }
  if (!satisfied())
    return Status::Unavailable("only " + std::to_string(v.answers.size()) + " of the " +
                               std::to_string(order.size()) + " replicas answered, short of " +
                               (rows.moving() ? "a majority of both the old and the new row"
                                              : "the majority a read needs"));
  for (const auto& a : v.answers)
    if (a.found && (v.newest == nullptr || v.newest->info.version < a.info.version)) v.newest = &a;
  if (v.newest != nullptr) shared_->Observe(v.newest->info.version);
  return v;
}

Status ClusterObjectStore::Repair(std::string_view key, NodeId from, const ObjectInfo& newest,
                                  const std::vector<NodeId>& stale) {
  if (stale.empty()) return Status::OK();
  WriteOptions wo;
  wo.condition = WriteCondition::kIfNewer;
  wo.version = newest.version;
  size_t repaired = 0;
  Status last;
  auto count = [&](const Status& s) {
    // A Conflict means the replica already holds something newer: as good as repaired.
    if (s.ok() || s.IsConflict()) {
      repaired++;
      shared_->counters().read_repairs++;
    } else {
      last = s;
    }
  };
  if (newest.deleted) {
    for (NodeId id : stale) {
      ObjectStore* s = ReplicaStore(id);
      count(s != nullptr ? s->Delete(key, wo).status() : Status::Unavailable("no replica store"));
    }
  } else {
    wo.metadata = newest.metadata;
    ObjectStore* src = ReplicaStore(from);
    if (src == nullptr) return Status::Unavailable("no store for node " + std::to_string(from));
    if (newest.size <= kRepairInMemoryBytes) {
      Result<GetResult> got = src->Get(key, ByteRange());
      if (!got.ok()) return got.status().WithContext("read repair");
      if (got->info.version != newest.version) return Status::OK();  // moved on: a newer write repairs
      for (NodeId id : stale) {
        ObjectStore* s = ReplicaStore(id);
        count(s != nullptr ? s->Put(key, got->data, wo).status() : Status::Unavailable("no replica store"));
      }
    } else {
      for (NodeId id : stale) {
        Result<std::unique_ptr<ObjectReader>> r = src->OpenReader(key, ByteRange());
        if (!r.ok()) return r.status().WithContext("read repair");
        if ((*r)->info().version != newest.version) return Status::OK();
        ReaderSource rs(r->get());
        ObjectStore* s = ReplicaStore(id);
        count(s != nullptr ? s->PutStream(key, &rs, wo).status() : Status::Unavailable("no replica store"));
      }
    }
  }
  return repaired == stale.size() ? Status::OK() : last;
}

namespace {

// Whether `now` has a row of replicas that `before` has not: a read that asked and repaired a
// majority of each row of `before` has not covered it. (A retired transition only drops a row;
// a node going down or up changes no row.)
bool GainedARow(const KeyRows& before, const KeyRows& now) {
  for (const std::vector<NodeId>& r : now.rows)
    if (std::find(before.rows.begin(), before.rows.end(), r) == before.rows.end()) return true;
  return false;
}

}  // namespace

Result<ObjectInfo> ClusterObjectStore::CoordinatedHead(std::string_view key, NodeId* holder) {
  const uint32_t partition = PartitionOf(key);
  for (int attempt = 0;; attempt++) {
    const KeyRows rows = RowsOf(*view_->map(), partition);
    if (rows.all.empty()) return NoMap();
    // The key's rows changed while this read ran (its partition began to move, or moved on):
    // what it read and repaired is a majority of the rows it started with, which a read after
    // the transition retires may not ask. Read again under the newer map, which asks a majority
    // of each of its rows and repairs them, before answering, whatever the first attempt found
    // (docs/cluster.md "Map transitions").
    auto again = [&]() -> bool {
      if (!GainedARow(rows, RowsOf(*view_->map(), partition))) return false;
      return attempt < kMaxMapChangeRereads;
    };
    Result<Versions> read = ReadVersions(key, rows);
    if (!read.ok()) {
      if (again()) continue;
      return read.status();
    }
    Versions& vs = *read;
    if (vs.newest == nullptr) {
      if (again()) continue;
      return Status::NotFound("no such key");
    }
    // Replicas of the majority that hold less than the newest get it before we answer (ABD): a
    // later read then cannot see an older version.
    std::vector<NodeId> stale, newest;
    for (const auto& a : vs.answers)
      (!a.found || a.info.version < vs.newest->info.version ? stale : newest).push_back(a.node);
    stale = ReadRepairTargets(rows, newest, stale);
    if (!stale.empty()) {
      Status s = Repair(key, vs.newest->node, vs.newest->info, stale);
      if (!s.ok()) {
        if (again()) continue;
        return Status::Unavailable("read repair could not reach a majority: " + s.ToString());
      }
    }
    if (GainedARow(rows, RowsOf(*view_->map(), partition))) {
      if (attempt < kMaxMapChangeRereads) continue;
      return Status::Unavailable("the key's replicas changed during each of " +
                                 std::to_string(kMaxMapChangeRereads + 1) +
                                 " attempts of the read; try again");
    }
    *holder = vs.newest->node;
    // Prefer this node when it holds the newest too.
    for (const auto& a : vs.answers)
      if (a.node == options_.self && a.found && a.info.version == vs.newest->info.version) *holder = a.node;
    return vs.newest->info;
  }
}

Result<ObjectInfo> ClusterObjectStore::HeadVersion(std::string_view key) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  bool local_replica = false;
  if (ReplicasOf(key, &local_replica).empty()) return NoMap();
  if (!local_replica) {
    if (!options_.forward) return Status::Unavailable("this node is not a replica of the key");
    return Routed<ObjectInfo>(key, [&](Client* c) { return c->HeadVersion(key); });
  }
  NodeId holder = 0;
  return CoordinatedHead(key, &holder);
}

Result<ObjectInfo> ClusterObjectStore::Head(std::string_view key) {
  CAIRN_ASSIGN_OR_RETURN(ObjectInfo info, HeadVersion(key));
  if (info.deleted) return Status::NotFound("no such key");
  return info;
}

Result<GetResult> ClusterObjectStore::Get(std::string_view key, const ByteRange& range) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  bool local_replica = false;
  if (ReplicasOf(key, &local_replica).empty()) return NoMap();
  if (!local_replica) {
    if (!options_.forward) return Status::Unavailable("this node is not a replica of the key");
    return Routed<GetResult>(key, [&](Client* c) { return c->Get(key, range); });
  }
  for (int attempt = 0;; attempt++) {
    NodeId holder = 0;
    CAIRN_ASSIGN_OR_RETURN(ObjectInfo newest, CoordinatedHead(key, &holder));
    if (newest.deleted) return Status::NotFound("no such key");
    ObjectStore* s = ReplicaStore(holder);
    if (s == nullptr) return Status::Unavailable("no store for node " + std::to_string(holder));
    Result<GetResult> r = s->Get(key, range);
    // The version read must be the one chosen (or newer: a write landed meanwhile, and the next
    // read would see it anyway). An older one means a race with a repair: start over.
    if (r.ok() && r->info.version < newest.version && attempt < kMaxReadRetries) continue;
    if (!r.ok() && r.status().IsNotFound() && attempt < kMaxReadRetries) continue;
    return r;
  }
}

Result<std::unique_ptr<ObjectReader>> ClusterObjectStore::OpenReader(std::string_view key,
                                                                     const ByteRange& range) {
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  bool local_replica = false;
  if (ReplicasOf(key, &local_replica).empty()) return NoMap();
  if (!local_replica) {
    if (!options_.forward) return Status::Unavailable("this node is not a replica of the key");
    return Routed<std::unique_ptr<ObjectReader>>(key, [&](Client* c) { return c->OpenReader(key, range); });
  }
  for (int attempt = 0;; attempt++) {
    NodeId holder = 0;
    CAIRN_ASSIGN_OR_RETURN(ObjectInfo newest, CoordinatedHead(key, &holder));
    if (newest.deleted) return Status::NotFound("no such key");
    ObjectStore* s = ReplicaStore(holder);
    if (s == nullptr) return Status::Unavailable("no store for node " + std::to_string(holder));
    Result<std::unique_ptr<ObjectReader>> r = s->OpenReader(key, range);
    if (r.ok() && (*r)->info().version < newest.version && attempt < kMaxReadRetries) continue;
    if (!r.ok() && r.status().IsNotFound() && attempt < kMaxReadRetries) continue;
    return r;
  }
}

Result<std::unique_ptr<PinnedObject>> ClusterObjectStore::Pin(std::string_view key) {
  // Zero-copy only when this node holds the newest version itself.
  bool local_replica = false;
  if (ReplicasOf(key, &local_replica).empty()) return NoMap();
  if (!local_replica) return Status::NotSupported("pinning: this node is not a replica of the key");
  NodeId holder = 0;
  CAIRN_ASSIGN_OR_RETURN(ObjectInfo newest, CoordinatedHead(key, &holder));
  if (newest.deleted) return Status::NotFound("no such key");
  if (holder != options_.self) return Status::NotSupported("pinning: the newest version is elsewhere");
  Result<std::unique_ptr<PinnedObject>> p = local_->Pin(key);
  if (p.ok() && (*p)->info().version < newest.version)
    return Status::NotSupported("pinning: the local version changed");
  return p;
}

Result<WriteResult> ClusterObjectStore::CheckedWrite(std::string_view key, const std::string* value,
                                                     ValueSource* src, const WriteOptions& wo) {
  const bool is_delete = value == nullptr && src == nullptr;
  CAIRN_RETURN_IF_ERROR(ValidateKey(key));
  bool local_replica = false;
  if (ReplicasOf(key, &local_replica).empty()) return NoMap();
  if (!local_replica) {
    if (!options_.forward) return Status::Unavailable("this node is not a replica of the key");
    if (src != nullptr) {
      // A stream cannot be sent twice, except its first bytes: a client reads a chunk before it
      // connects, so the bytes read so far are kept (up to kStreamFailoverBytes) and replayed to
      // the next coordinator when this one could not be reached.
      struct Replayable final : ValueSource {
        ValueSource* s;
        std::string kept;    // every byte read, while under the bound
        size_t replay = 0;   // next byte of `kept` to hand out again
        bool over = false;   // more was read than kept: no failover
        Result<size_t> Read(char* buf, size_t n) override {
          if (replay < kept.size()) {
            const size_t k = std::min(n, kept.size() - replay);
            std::memcpy(buf, kept.data() + replay, k);
            replay += k;
            return k;
          }
          Result<size_t> r = s->Read(buf, n);
          if (r.ok() && !over) {
            if (kept.size() + *r > kStreamFailoverBytes) {
              over = true;
              kept.clear();
              kept.shrink_to_fit();
            } else {
              kept.append(buf, *r);
            }
            replay = kept.size();
          }
          return r;
        }
      } source;
      source.s = src;
      Status last = Status::Unavailable("no replica of the key is reachable");
      for (NodeId n : RouteOrder(key)) {
        Client* c = Coordinator(n);
        if (c == nullptr) continue;
        shared_->counters().routed++;
        shared_->NoteForeground();
        source.replay = 0;
        Result<WriteResult> r = c->PutStream(key, &source, wo);
        if (r.ok() || !r.status().IsUnavailable() || source.over) return r;
        shared_->counters().failovers++;
        last = r.status();
      }
      return last;
    }
    return Routed<WriteResult>(key, [&](Client* c) { return is_delete ? c->Delete(key, wo) : c->Put(key, *value, wo); });
  }
  // The coordinator.
  Version v;
  if (wo.condition == WriteCondition::kIfNewer) {
    if (wo.version.none()) return Status::InvalidArgument("if-newer needs a version");
    shared_->Observe(wo.version);
    v = wo.version;
  } else {
    const bool needs_read = is_delete || wo.condition != WriteCondition::kNone || src != nullptr;
    if (needs_read) {
      CAIRN_ASSIGN_OR_RETURN(Versions vs, ReadVersions(key, RowsOf(*view_->map(), PartitionOf(key))));
      const bool live = vs.newest != nullptr && !vs.newest->info.deleted;
      switch (wo.condition) {
        case WriteCondition::kIfMatch:
          if (wo.version.none()) return Status::InvalidArgument("if-match needs a version");
          if (!live) return Status::NotFound("if-match: the key has no live version");
          if (vs.newest->info.version != wo.version) {
            if (wo.held_version_out != nullptr) *wo.held_version_out = vs.newest->info.version;
            return Status::Conflict("if-match: the key's version is " + vs.newest->info.version.ToString());
          }
          break;
        case WriteCondition::kIfNoneMatch:
          if (live) {
            if (wo.held_version_out != nullptr) *wo.held_version_out = vs.newest->info.version;
            return Status::Conflict("if-none-match: the key exists (version " +
                                    vs.newest->info.version.ToString() + ")");
          }
          if (is_delete) return Status::NotFound("no such key");
          break;
        default:
          if (is_delete && !live) return Status::NotFound("no such key");
          break;
      }
    }
    v = shared_->Stamp();
  }
  Result<WriteResult> r = src != nullptr ? WriteStreamAll(key, src, wo, v) : WriteAll(key, value, wo, v);
  if (r.ok() && wo.result_out != nullptr) *wo.result_out = *r;
  if (r.ok() && wo.sequence_out != nullptr) *wo.sequence_out = r->sequence;
  return r;
}

Result<WriteResult> ClusterObjectStore::Put(std::string_view key, std::string_view value,
                                            const WriteOptions& wo) {
  const std::string v(value);
  return CheckedWrite(key, &v, nullptr, wo);
}

Result<WriteResult> ClusterObjectStore::PutStream(std::string_view key, ValueSource* src,
                                                  const WriteOptions& wo) {
  // Small values go the buffered way (one message per replica instead of a stream each).
  std::string first(size_t{1} << 20, '\0');
  size_t have = 0;
  while (have < first.size()) {
    CAIRN_ASSIGN_OR_RETURN(size_t got, src->Read(first.data() + have, first.size() - have));
    if (got == 0) {
      first.resize(have);
      return CheckedWrite(key, &first, nullptr, wo);
    }
    have += got;
  }
  // Longer: the bytes read so far, then the rest of the source.
  struct Rest final : ValueSource {
    std::string head;
    size_t off = 0;
    ValueSource* tail;
    Result<size_t> Read(char* buf, size_t n) override {
      if (off < head.size()) {
        const size_t k = std::min(n, head.size() - off);
        std::memcpy(buf, head.data() + off, k);
        off += k;
        return k;
      }
      return tail->Read(buf, n);
    }
  } rest;
  rest.head = std::move(first);
  rest.tail = src;
  return CheckedWrite(key, nullptr, &rest, wo);
}

Result<WriteResult> ClusterObjectStore::Delete(std::string_view key, const WriteOptions& wo) {
  return CheckedWrite(key, nullptr, nullptr, wo);
}

Result<ListResult> ClusterObjectStore::List(const ListOptions& lo) {
  const uint32_t limit = lo.limit == 0 ? kDefaultListLimit : lo.limit;
  if (limit > kMaxListLimit)
    return Status::LimitExceeded("max_list_limit: limit " + std::to_string(limit) + " is over " +
                                 std::to_string(kMaxListLimit));
  std::shared_ptr<const ClusterMap> map = view_->map();
  if (map->epoch == 0) return NoMap();
  // A client asks a node, which lists the cluster (it holds the member key the per-node
  // listings need).
  if (local_ == nullptr) return Routed<ListResult>("", [&](Client* c) { return c->List(lo); });
  // Every up node lists what it holds; the merge decides each key by its own replicas.
  std::vector<NodeId> nodes;
  for (const MapNode& n : map->nodes)
    if (n.state == NodeState::kUp) nodes.push_back(n.id);
  ListOptions each = lo;
  each.limit = limit;
  std::map<NodeId, ListResult> lists;
  for (NodeId id : nodes) {
    ObjectStore* s = ReplicaStore(id);
    if (s == nullptr) continue;
    Result<ListResult> r = s->List(each);
    if (!r.ok()) {
      if (r.status().IsLimitExceeded() || r.status().IsInvalidArgument()) return r.status();
      continue;  // that node is unreachable: its replicas' peers answer for it
    }
    lists[id] = std::move(*r);
  }
  if (lists.empty()) return Status::Unavailable("no node answered the listing");
  // Only what sorts at or before every truncated node's last entry is known completely.
  std::optional<std::string> frontier;
  for (const auto& [id, r] : lists)
    if (r.truncated && (!frontier || r.next_start_after < *frontier)) frontier = r.next_start_after;
  std::map<std::string, std::vector<std::pair<NodeId, const ObjectInfo*>>> keys;
  std::set<std::string> prefixes;
  for (const auto& [id, r] : lists) {
    for (const ObjectInfo& o : r.objects) keys[o.key].emplace_back(id, &o);
    for (const std::string& p : r.common_prefixes) prefixes.insert(p);
  }
  ListResult out;
  auto k = keys.begin();
  auto p = prefixes.begin();
  bool more = frontier.has_value();
  while (k != keys.end() || p != prefixes.end()) {
    const bool take_key = p == prefixes.end() || (k != keys.end() && k->first < *p);
    const std::string& name = take_key ? k->first : *p;
    if (frontier && name > *frontier) break;
    if (out.objects.size() + out.common_prefixes.size() == limit) {
      more = true;
      break;
    }
    if (!take_key) {
      out.common_prefixes.push_back(*p);
      out.next_start_after = *p;
      ++p;
      continue;
    }
    // Listed by every responding replica of the key: take the newest. Otherwise the replicas
    // disagree (a write or a delete some missed): a majority read decides.
    bool lr = false;
    std::vector<NodeId> row = ReplicasOf(k->first, &lr);
    size_t responding = 0;
    for (NodeId id : row) responding += lists.count(id);
    const ObjectInfo* best = nullptr;
    for (const auto& [id, o] : k->second)
      if (best == nullptr || best->version < o->version) best = o;
    if (k->second.size() >= responding) {
      out.objects.push_back(*best);
    } else {
      Result<ObjectInfo> h = HeadVersion(k->first);
      if (h.ok() && !h->deleted) out.objects.push_back(*h);
      else if (!h.ok() && !h.status().IsNotFound()) return h.status();
    }
    out.next_start_after = k->first;
    ++k;
  }
  if (k != keys.end() || p != prefixes.end()) more = true;
  out.truncated = more;
  if (!out.truncated) out.next_start_after.clear();
  else if (out.next_start_after.empty() && frontier) out.next_start_after = *frontier;
  return out;
}

Result<StoreStats> ClusterObjectStore::Stats() {
  if (local_ == nullptr) return Routed<StoreStats>("", [&](Client* c) { return c->Stats(); });
  StoreStats total;
  std::shared_ptr<const ClusterMap> map = view_->map();
  auto add = [&](const StoreStats& s, NodeId id) {
    total.objects += s.objects;
    total.logical_bytes += s.logical_bytes;
    total.live_bytes += s.live_bytes;
    total.dead_bytes += s.dead_bytes;
    total.tombstones += s.tombstones;
    total.volumes += s.volumes;
    total.allocated_bytes += s.allocated_bytes;
    total.reclaimed_bytes += s.reclaimed_bytes;
    total.reclaimable_bytes += s.reclaimable_bytes;
    const std::string n = "node." + std::to_string(id) + ".";
    total.server[n + "objects"] = s.objects;
    total.server[n + "logical_bytes"] = s.logical_bytes;
    total.server[n + "allocated_bytes"] = s.allocated_bytes;
    total.server[n + "read_only"] = s.read_only ? 1 : 0;
  };
  for (const MapNode& n : map->nodes) {
    total.server["node." + std::to_string(n.id) + ".state"] = static_cast<uint64_t>(n.state);
    if (n.state != NodeState::kUp) continue;
    ObjectStore* s = ReplicaStore(n.id);
    if (s == nullptr) continue;
    Result<StoreStats> st = s->Stats();
    if (st.ok()) add(*st, n.id);
  }
  // Each object is held R times: the cluster's objects and bytes are the copies divided by R
  // (exact when every replica holds every write; the per-node counts stay in `server`).
  const uint64_t r = std::max<uint32_t>(1, map->placement.replicas);
  total.server["cluster.copies"] = total.objects;
  total.objects /= r;
  total.logical_bytes /= r;
  total.live_bytes /= r;
  total.tombstones /= r;
  ClusterCounters& c = shared_->counters();
  total.server["cluster.epoch"] = map->epoch;
  // A transition in flight (issue 12): how many partitions move (0 when none).
  total.server["cluster.moving_partitions"] = map->MovingCount();
  total.server["cluster.nodes"] = map->nodes.size();
  total.server["cluster.coordinated"] = c.coordinated.load();
  total.server["cluster.routed"] = c.routed.load();
  total.server["cluster.failovers"] = c.failovers.load();
  total.server["cluster.hedged"] = c.hedged.load();
  total.server["cluster.read_repairs"] = c.read_repairs.load();
  total.server["cluster.ae_rounds"] = c.ae_rounds.load();
  total.server["cluster.ae_partitions_compared"] = c.ae_partitions_compared.load();
  total.server["cluster.ae_leaves_walked"] = c.ae_leaves_walked.load();
  total.server["cluster.ae_keys_repaired"] = c.ae_keys_repaired.load();
  total.server["cluster.ae_bytes_pushed"] = c.ae_bytes_pushed.load();
  total.server["cluster.ae_repairs_refused"] = c.ae_repairs_refused.load();
  total.server["cluster.hints_written"] = c.hints_written.load();
  total.server["cluster.hints_replayed"] = c.hints_replayed.load();
  total.server["cluster.hints_skipped"] = c.hints_skipped.load();
  total.server["cluster.hint_replay_stalls"] = c.hint_replay_stalls.load();
  total.server["cluster.hint_queue_bytes"] = shared_->HintQueueBytes();
  total.server["cluster.partial_writes"] = c.partial_writes.load();
  return total;
}

}  // namespace cairn::cluster
