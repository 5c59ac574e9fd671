#include "cluster/placement.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <unordered_map>

namespace cairn::cluster {
namespace {

constexpr uint32_t kMaxReplicas = 16;
// Named bound: rounds of the balancer; each round moves at least one slot or stops.
constexpr int kMaxBalanceRounds = 256;
constexpr uint64_t kHrwSeed = 0x6361697270617274ULL;  // "cairpart"

// The HRW score of `node` (with `weight`) for partition p: weight / -ln(u), u uniform in (0,1)
// from a hash of (p, node). Higher is more preferred.
double Score(uint32_t p, NodeId node, uint32_t weight) {
  unsigned char b[6] = {static_cast<unsigned char>(p), static_cast<unsigned char>(p >> 8),
                        static_cast<unsigned char>(p >> 16), static_cast<unsigned char>(p >> 24),
                        static_cast<unsigned char>(node), static_cast<unsigned char>(node >> 8)};
  const uint64_t h = XXH3_64bits_withSeed(b, sizeof(b), kHrwSeed);
  const double u = (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  return static_cast<double>(weight) / -std::log(u);
}

// Everything about the eligible nodes that the algorithms need, by dense index.
struct Cluster {
  std::vector<NodeSpec> nodes;          // eligible (weight > 0) only
  std::vector<uint32_t> zone_of;        // dense zone index per node
  uint32_t zones = 0;
  uint32_t max_per_zone = 1;
  std::unordered_map<NodeId, uint32_t> index;  // node id -> dense index
  std::vector<uint64_t> quota;
};

// Distributes `total` over items proportionally to `weight`, each at most `cap`, as real
// numbers (water-filling). REQUIRES: sum of caps >= total.
std::vector<double> WaterFill(double total, const std::vector<double>& weight,
                              const std::vector<double>& cap) {
  std::vector<double> out(weight.size(), 0);
  std::vector<bool> fixed(weight.size(), false);
  double left = total;
  for (;;) {
    double w = 0;
    for (size_t i = 0; i < weight.size(); i++)
      if (!fixed[i]) w += weight[i];
    if (w <= 0) break;
    bool capped = false;
    for (size_t i = 0; i < weight.size(); i++) {
      if (fixed[i]) continue;
      if (left * weight[i] / w > cap[i]) {
        out[i] = cap[i];
        fixed[i] = true;
        left -= cap[i];
        capped = true;
      }
    }
    if (capped) continue;
    for (size_t i = 0; i < weight.size(); i++)
      if (!fixed[i]) out[i] = left * weight[i] / w;
    break;
  }
  return out;
}

// Rounds real shares to integers summing to `total`, each at most `cap`: every item gets the
// floor of its share, and the slots left over go one each, by largest remainder (ties by index).
// With `held` (what each item holds now, in a rebalance), the items that hold more than their
// floor get those extra slots first, still by remainder: an item whose share barely moved keeps
// the count it has, instead of giving a slot away because another item's remainder ranks higher
// now. Every quota is still the floor or the ceiling of its share.
std::vector<uint64_t> RoundShares(const std::vector<double>& share, uint64_t total,
                                  const std::vector<uint64_t>& cap,
                                  const std::vector<uint64_t>* held = nullptr) {
  std::vector<uint64_t> out(share.size());
  uint64_t sum = 0;
  for (size_t i = 0; i < share.size(); i++) {
    out[i] = std::min<uint64_t>(cap[i], static_cast<uint64_t>(std::floor(share[i] + 1e-9)));
    sum += out[i];
  }
  std::vector<bool> keeps(share.size(), false);
  if (held != nullptr)
    for (size_t i = 0; i < share.size(); i++) keeps[i] = (*held)[i] > out[i];
  std::vector<size_t> order(share.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (keeps[a] != keeps[b]) return static_cast<bool>(keeps[a]);
    return share[a] - std::floor(share[a]) > share[b] - std::floor(share[b]);
  });
  while (sum < total) {
    bool any = false;
    for (size_t i : order) {
      if (sum == total) break;
      if (out[i] < cap[i]) {
        out[i]++;
        sum++;
        any = true;
      }
    }
    if (!any) break;
  }
  return out;
}

// `prev`: the table a rebalance starts from (its slot counts make the rounding sticky,
// RoundShares), or null.
Result<Cluster> MakeCluster(const std::vector<NodeSpec>& all, uint32_t replicas,
                            uint32_t partitions, const Placement* prev = nullptr) {
  if (replicas < 1 || replicas > kMaxReplicas)
    return Status::InvalidArgument("replicas must be 1..16, not " + std::to_string(replicas));
  if (partitions < 1 || partitions > kPartitions)
    return Status::InvalidArgument("partitions must be 1..65536");
  Cluster c;
  std::map<std::string, uint32_t> zone_index;
  std::unordered_map<NodeId, bool> seen;
  for (const NodeSpec& n : all) {
    if (n.id == kNoNode) return Status::InvalidArgument("node id 65535 is reserved");
    if (!seen.emplace(n.id, true).second)
      return Status::InvalidArgument("node id " + std::to_string(n.id) + " appears twice");
    if (n.weight == 0) continue;
    c.index[n.id] = static_cast<uint32_t>(c.nodes.size());
    c.nodes.push_back(n);
    auto [it, fresh] = zone_index.emplace(n.zone, static_cast<uint32_t>(zone_index.size()));
    (void)fresh;
    c.zone_of.push_back(it->second);
  }
  if (c.nodes.size() < replicas)
    return Status::InvalidArgument("placement needs at least " + std::to_string(replicas) +
                                   " nodes with weight > 0, has " +
                                   std::to_string(c.nodes.size()));
  c.zones = static_cast<uint32_t>(zone_index.size());
  c.max_per_zone = c.zones >= replicas ? 1 : (replicas + c.zones - 1) / c.zones;
  // Zone totals first (a zone holds at most max_per_zone slots of each partition, and at most
  // one per partition per node), then nodes within their zone.
  const uint64_t slots = uint64_t{partitions} * replicas;
  std::vector<double> zw(c.zones, 0), zcap(c.zones, 0);
  std::vector<uint64_t> zcap_int(c.zones, 0);
  std::vector<uint64_t> znodes(c.zones, 0);
  std::vector<uint64_t> held(c.nodes.size(), 0), zheld(c.zones, 0);
  if (prev != nullptr)
    for (NodeId id : prev->table) {
      auto it = c.index.find(id);
      if (it != c.index.end()) held[it->second]++;
    }
  for (size_t i = 0; i < c.nodes.size(); i++) {
    zw[c.zone_of[i]] += c.nodes[i].weight;
    znodes[c.zone_of[i]]++;
    zheld[c.zone_of[i]] += held[i];
  }
  for (uint32_t z = 0; z < c.zones; z++) {
    zcap_int[z] = uint64_t{partitions} * std::min<uint64_t>(c.max_per_zone, znodes[z]);
    zcap[z] = static_cast<double>(zcap_int[z]);
  }
  std::vector<uint64_t> ztotal = RoundShares(WaterFill(static_cast<double>(slots), zw, zcap),
                                             slots, zcap_int, prev ? &zheld : nullptr);
  c.quota.assign(c.nodes.size(), 0);
  for (uint32_t z = 0; z < c.zones; z++) {
    std::vector<size_t> members;
    std::vector<double> w, cap;
    std::vector<uint64_t> cap_int, mheld;
    for (size_t i = 0; i < c.nodes.size(); i++) {
      if (c.zone_of[i] != z) continue;
      members.push_back(i);
      w.push_back(c.nodes[i].weight);
      cap.push_back(partitions);
      cap_int.push_back(partitions);
      mheld.push_back(held[i]);
    }
    std::vector<uint64_t> q = RoundShares(WaterFill(static_cast<double>(ztotal[z]), w, cap),
                                          ztotal[z], cap_int, prev ? &mheld : nullptr);
    for (size_t k = 0; k < members.size(); k++) c.quota[members[k]] = q[k];
  }
  return c;
}

// Whether dense node j may take slot `slot` of row `row` (replacing whatever is there).
bool CanTake(const Cluster& c, std::span<const NodeId> row, size_t slot, uint32_t j) {
  const NodeId id = c.nodes[j].id;
  uint32_t same_zone = 0;
  for (size_t s = 0; s < row.size(); s++) {
    if (s == slot || row[s] == kNoNode) continue;
    if (row[s] == id) return false;
    auto it = c.index.find(row[s]);
    if (it != c.index.end() && c.zone_of[it->second] == c.zone_of[j]) same_zone++;
  }
  return same_zone < c.max_per_zone;
}

std::vector<int64_t> Loads(const Cluster& c, const Placement& t) {
  std::vector<int64_t> load(c.nodes.size(), 0);
  for (NodeId id : t.table) {
    if (id == kNoNode) continue;
    auto it = c.index.find(id);
    if (it != c.index.end()) load[it->second]++;
  }
  return load;
}

// Moves single slots from nodes over their quota to nodes under it. A node gives first the
// partitions it scores lowest; a slot goes to the eligible under-quota node with the largest
// deficit. When no direct move is possible, a slot may go to a node at its quota (which then
// gives one on in a later round).
void Balance(const Cluster& c, Placement* t) {
  std::vector<int64_t> load = Loads(c, *t);
  for (int round = 0; round < kMaxBalanceRounds; round++) {
    std::vector<uint32_t> over, under;
    for (uint32_t i = 0; i < c.nodes.size(); i++) {
      if (load[i] > static_cast<int64_t>(c.quota[i])) over.push_back(i);
      if (load[i] < static_cast<int64_t>(c.quota[i])) under.push_back(i);
    }
    if (over.empty() || under.empty()) return;
    auto deficit = [&](uint32_t j) { return static_cast<int64_t>(c.quota[j]) - load[j]; };
    std::stable_sort(under.begin(), under.end(),
                     [&](uint32_t a, uint32_t b) { return deficit(a) > deficit(b); });
    // Each over node's slots, least preferred first.
    std::vector<std::vector<std::pair<double, uint32_t>>> held(c.nodes.size());
    std::vector<bool> is_over(c.nodes.size(), false);
    for (uint32_t i : over) is_over[i] = true;
    for (uint32_t p = 0; p < t->partitions; p++) {
      std::span<const NodeId> row = t->Row(p);
      for (size_t s = 0; s < row.size(); s++) {
        auto it = c.index.find(row[s]);
        if (it == c.index.end() || !is_over[it->second]) continue;
        held[it->second].emplace_back(Score(p, row[s], c.nodes[it->second].weight),
                                      static_cast<uint32_t>(p * t->replicas + s));
      }
    }
    bool progress = false;
    const bool relaxed = round > 0 && round % 2 == 1;  // allow moves to nodes at quota
    for (uint32_t i : over) {
      auto& mine = held[i];
      std::sort(mine.begin(), mine.end());
      for (const auto& [score, at] : mine) {
        if (load[i] <= static_cast<int64_t>(c.quota[i])) break;
        const uint32_t p = at / t->replicas;
        const size_t slot = at % t->replicas;
        std::span<const NodeId> row = t->Row(p);
        int64_t best = -1;
        for (uint32_t j : under) {
          if (deficit(j) <= 0) continue;
          if (CanTake(c, row, slot, j)) {
            best = j;
            break;
          }
        }
        if (best < 0 && relaxed) {
          for (uint32_t j = 0; j < c.nodes.size(); j++) {
            if (j == i || deficit(j) != 0) continue;
            if (CanTake(c, row, slot, j)) {
              best = j;
              break;
            }
          }
        }
        if (best < 0) continue;
        t->MutableRow(p)[slot] = c.nodes[static_cast<uint32_t>(best)].id;
        load[i]--;
        load[static_cast<uint32_t>(best)]++;
        progress = true;
      }
    }
    if (!progress && !relaxed && round > 0) return;
  }
}

// Fills every empty slot with the eligible node that has the most room (then the highest HRW
// score, then the lowest id).
void FillHoles(const Cluster& c, Placement* t) {
  std::vector<int64_t> load = Loads(c, *t);
  for (uint32_t p = 0; p < t->partitions; p++) {
    for (size_t s = 0; s < t->replicas; s++) {
      if (t->Row(p)[s] != kNoNode) continue;
      int64_t best = -1;
      int64_t best_room = 0;
      double best_score = 0;
      for (uint32_t j = 0; j < c.nodes.size(); j++) {
        if (!CanTake(c, t->Row(p), s, j)) continue;
        const int64_t room = static_cast<int64_t>(c.quota[j]) - load[j];
        if (best >= 0 && room < best_room) continue;
        const double sc = Score(p, c.nodes[j].id, c.nodes[j].weight);
        if (best >= 0 && room == best_room && sc <= best_score) continue;
        best = j;
        best_room = room;
        best_score = sc;
      }
      if (best < 0) continue;  // no eligible node: CheckPlacement reports it
      t->MutableRow(p)[s] = c.nodes[static_cast<uint32_t>(best)].id;
      load[static_cast<uint32_t>(best)]++;
    }
  }
}

// Nodes well under their quota (new ones) take slots from nodes over theirs, choosing the
// partitions they score highest.
void TakeFromOver(const Cluster& c, Placement* t) {
  std::vector<int64_t> load = Loads(c, *t);
  std::vector<uint32_t> takers;
  for (uint32_t j = 0; j < c.nodes.size(); j++)
    if (static_cast<int64_t>(c.quota[j]) - load[j] >= 2) takers.push_back(j);
  std::stable_sort(takers.begin(), takers.end(), [&](uint32_t a, uint32_t b) {
    return static_cast<int64_t>(c.quota[a]) - load[a] > static_cast<int64_t>(c.quota[b]) - load[b];
  });
  for (uint32_t j : takers) {
    std::vector<std::pair<double, uint32_t>> want;  // (score, partition)
    for (uint32_t p = 0; p < t->partitions; p++) want.emplace_back(Score(p, c.nodes[j].id, c.nodes[j].weight), p);
    std::sort(want.begin(), want.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [score, p] : want) {
      if (load[j] >= static_cast<int64_t>(c.quota[j])) break;
      std::span<const NodeId> row = t->Row(p);
      // Give up the slot of the most-over holder that j may replace.
      int64_t slot = -1;
      int64_t most = 0;
      for (size_t s = 0; s < row.size(); s++) {
        auto it = c.index.find(row[s]);
        if (it == c.index.end()) continue;
        const int64_t excess = load[it->second] - static_cast<int64_t>(c.quota[it->second]);
        if (excess <= 0 || excess <= most) continue;
        if (!CanTake(c, row, s, j)) continue;
        slot = static_cast<int64_t>(s);
        most = excess;
      }
      if (slot < 0) continue;
      load[c.index.at(row[static_cast<size_t>(slot)])]--;
      t->MutableRow(p)[static_cast<size_t>(slot)] = c.nodes[j].id;
      load[j]++;
    }
  }
}

}  // namespace

uint32_t PartitionOf(std::string_view key) {
  return static_cast<uint32_t>(XXH3_64bits(key.data(), key.size()) >> (64 - kPartitionBits));
}

std::vector<uint64_t> PlacementQuotas(const std::vector<NodeSpec>& nodes, uint32_t replicas,
                                      uint32_t partitions, const Placement* prev) {
  std::vector<uint64_t> out(nodes.size(), 0);
  Result<Cluster> c = MakeCluster(nodes, replicas, partitions, prev);
  if (!c.ok()) return out;
  for (size_t i = 0; i < nodes.size(); i++) {
    auto it = c->index.find(nodes[i].id);
    if (it != c->index.end()) out[i] = c->quota[it->second];
  }
  return out;
}

Result<Placement> BuildPlacement(const std::vector<NodeSpec>& nodes, uint32_t replicas,
                                 uint32_t partitions) {
  CAIRN_ASSIGN_OR_RETURN(Cluster c, MakeCluster(nodes, replicas, partitions));
  Placement t;
  t.replicas = replicas;
  t.partitions = partitions;
  t.table.assign(size_t{partitions} * replicas, kNoNode);
  std::vector<std::pair<double, uint32_t>> scored(c.nodes.size());
  for (uint32_t p = 0; p < partitions; p++) {
    for (uint32_t j = 0; j < c.nodes.size(); j++)
      scored[j] = {Score(p, c.nodes[j].id, c.nodes[j].weight), j};
    // The best few usually satisfy the zone rule; sort the rest only when they do not.
    size_t k = std::min<size_t>(scored.size(), size_t{replicas} * 4);
    std::partial_sort(scored.begin(), scored.begin() + static_cast<long>(k), scored.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    std::span<NodeId> row = t.MutableRow(p);
    size_t filled = 0;
    for (size_t pass = 0; pass < 2 && filled < replicas; pass++) {
      if (pass == 1)
        std::sort(scored.begin(), scored.end(),
                  [](const auto& a, const auto& b) { return a.first > b.first; });
      for (size_t x = 0; x < (pass == 0 ? k : scored.size()) && filled < replicas; x++) {
        const uint32_t j = scored[x].second;
        if (CanTake(c, row, filled, j)) row[filled++] = c.nodes[j].id;
      }
    }
  }
  Balance(c, &t);
  CAIRN_RETURN_IF_ERROR(CheckPlacement(t, nodes));
  return t;
}

Result<Placement> RebalancePlacement(const Placement& prev, const std::vector<NodeSpec>& nodes) {
  if (prev.table.size() != size_t{prev.partitions} * prev.replicas)
    return Status::InvalidArgument("previous placement table has the wrong size");
  CAIRN_ASSIGN_OR_RETURN(Cluster c, MakeCluster(nodes, prev.replicas, prev.partitions, &prev));
  Placement t = prev;
  // Slots of nodes that left or drain become holes, and so do slots that break the zone rule
  // now (a node moved to another zone): the first holders keep their slots.
  for (uint32_t p = 0; p < t.partitions; p++) {
    std::span<NodeId> row = t.MutableRow(p);
    for (size_t s = 0; s < row.size(); s++) {
      if (row[s] == kNoNode) continue;
      auto it = c.index.find(row[s]);
      if (it == c.index.end()) {
        row[s] = kNoNode;
        continue;
      }
      if (!CanTake(c, std::span<const NodeId>(row.data(), s), s, it->second)) row[s] = kNoNode;
    }
  }
  FillHoles(c, &t);
  TakeFromOver(c, &t);
  Balance(c, &t);
  CAIRN_RETURN_IF_ERROR(CheckPlacement(t, nodes));
  return t;
}

Status CheckPlacement(const Placement& t, const std::vector<NodeSpec>& nodes) {
  CAIRN_ASSIGN_OR_RETURN(Cluster c, MakeCluster(nodes, t.replicas, t.partitions));
  if (t.table.size() != size_t{t.partitions} * t.replicas)
    return Status::Corruption("placement table has " + std::to_string(t.table.size()) +
                              " slots, expected " + std::to_string(t.partitions * t.replicas));
  for (uint32_t p = 0; p < t.partitions; p++) {
    std::span<const NodeId> row = t.Row(p);
    for (size_t s = 0; s < row.size(); s++) {
      auto it = c.index.find(row[s]);
      if (it == c.index.end())
        return Status::Corruption("partition " + std::to_string(p) + " slot " +
                                  std::to_string(s) + " holds no eligible node");
      if (!CanTake(c, row, s, it->second))
        return Status::Corruption("partition " + std::to_string(p) +
                                  " repeats a node or breaks the zone rule");
    }
  }
  return Status::OK();
}

uint64_t MovedSlots(const Placement& a, const Placement& b) {
  uint64_t moved = 0;
  const size_t n = std::min(a.table.size(), b.table.size());
  for (size_t i = 0; i < n; i++)
    if (a.table[i] != b.table[i]) moved++;
  return moved + (std::max(a.table.size(), b.table.size()) - n);
}

PlacementBalance MeasureBalance(const Placement& t, const std::vector<NodeSpec>& nodes) {
  PlacementBalance b;
  std::unordered_map<NodeId, uint64_t> load;
  for (NodeId id : t.table) load[id]++;
  double total_w = 0, total_load = 0;
  for (const NodeSpec& n : nodes) {
    if (n.weight == 0) continue;
    total_w += n.weight;
    total_load += static_cast<double>(load[n.id]);
  }
  if (total_w == 0 || total_load == 0) return b;
  const double mean = total_load / total_w;
  bool first = true;
  for (const NodeSpec& n : nodes) {
    if (n.weight == 0) continue;
    const uint64_t l = load[n.id];
    const double r = static_cast<double>(l) / n.weight / mean;
    if (first || r > b.max_over_mean) b.max_over_mean = r;
    if (first || r < b.min_over_mean) b.min_over_mean = r;
    if (first || l > b.max_slots) b.max_slots = l;
    if (first || l < b.min_slots) b.min_slots = l;
    first = false;
  }
  return b;
}

}  // namespace cairn::cluster
