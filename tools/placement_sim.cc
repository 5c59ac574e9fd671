// placement_sim: the placement of src/cluster/placement.h at any size, without a cluster.
//
// For N nodes in Z zones (weights equal, or mixed with --mixed-weights), it builds the table
// and prints the balance (max and min of slots/weight relative to the mean), then the slots
// moved, as a multiple of the optimum, when one node is added, one removed, one drained
// (weight 0) and one reweighted (x2). The optimum for adding a node of weight w is its share,
// P x R x w / W; for removing or draining one, the slots it held; for a reweight, the change of
// its quota. Deterministic. Usage:
//   placement_sim [--nodes 1000] [--zones 10] [--replicas 3] [--partitions 65536]
//                 [--mixed-weights | --weight-max K] [--seed S] [--json]
// --weight-max K: each node's weight drawn uniformly from 1..K (by the seed). --seed S (0 by
// default: ids 1..N, the middle node removed, the new node in z0): S > 0 draws the N node ids
// from 1..65534, the removed/drained/reweighted node, and the new node's zone and weight from a
// generator seeded with S, so the same hashes are not measured every time (bench/cluster).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>

#include "cluster/placement.h"

using namespace cairn;
using namespace cairn::cluster;

namespace {

struct Args {
  int nodes = 1000;
  int zones = 10;
  uint32_t replicas = 3;
  uint32_t partitions = kPartitions;
  bool mixed = false;
  uint32_t weight_max = 1;
  uint64_t seed = 0;
  bool json = false;
};

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: placement_sim [--nodes N] [--zones Z] [--replicas R] [--partitions P] "
               "[--mixed-weights | --weight-max K] [--seed S] [--json]\n");
  std::exit(2);
}

uint64_t Held(const Placement& t, NodeId id) {
  uint64_t n = 0;
  for (NodeId x : t.table) n += x == id;
  return n;
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i++) {
    std::string k = argv[i];
    auto next = [&]() -> long {
      if (i + 1 >= argc) Usage();
      return std::strtol(argv[++i], nullptr, 10);
    };
    if (k == "--nodes") a.nodes = static_cast<int>(next());
    else if (k == "--zones") a.zones = static_cast<int>(next());
    else if (k == "--replicas") a.replicas = static_cast<uint32_t>(next());
    else if (k == "--partitions") a.partitions = static_cast<uint32_t>(next());
    else if (k == "--mixed-weights") a.mixed = true;
    else if (k == "--weight-max") a.weight_max = static_cast<uint32_t>(next());
    else if (k == "--seed") a.seed = static_cast<uint64_t>(next());
    else if (k == "--json") a.json = true;
    else Usage();
  }
  if (a.nodes < 1 || a.nodes > 60000 || a.zones < 1 || a.weight_max < 1) Usage();
  std::mt19937_64 rng(a.seed);
  auto draw_weight = [&](int i) -> uint32_t {
    if (a.mixed) return 1 + static_cast<uint32_t>(i % 4);  // capacities 1x..4x
    if (a.weight_max > 1) return std::uniform_int_distribution<uint32_t>(1, a.weight_max)(rng);
    return 1;
  };
  // Node ids: 1..N, or with a seed N distinct ids drawn from 1..65534 (sorted).
  std::vector<NodeId> ids;
  if (a.seed == 0) {
    for (int i = 0; i < a.nodes + 1; i++) ids.push_back(static_cast<NodeId>(i + 1));
  } else {
    std::set<NodeId> picked;
    std::uniform_int_distribution<uint32_t> d(1, 65534);
    while (picked.size() < static_cast<size_t>(a.nodes) + 1) picked.insert(static_cast<NodeId>(d(rng)));
    ids.assign(picked.begin(), picked.end());
    std::shuffle(ids.begin(), ids.end(), rng);  // the last one is the added node
    std::sort(ids.begin(), ids.begin() + a.nodes);
  }
  std::vector<NodeSpec> nodes;
  for (int i = 0; i < a.nodes; i++)
    nodes.push_back(NodeSpec{ids[i], "z" + std::to_string(i % a.zones), draw_weight(i)});
  auto t0 = std::chrono::steady_clock::now();
  Result<Placement> base = BuildPlacement(nodes, a.replicas, a.partitions);
  if (!base.ok()) {
    std::fprintf(stderr, "placement_sim: %s\n", base.status().ToString().c_str());
    return 1;
  }
  const double build_s = Seconds(t0);
  PlacementBalance bal = MeasureBalance(*base, nodes);
  const double slots = static_cast<double>(a.partitions) * a.replicas;
  double total_w = 0;
  for (const NodeSpec& n : nodes) total_w += n.weight;

  struct Change {
    const char* what;
    std::vector<NodeSpec> nodes;
    double optimum;
  };
  std::vector<Change> changes;
  {
    auto v = nodes;
    const uint32_t w = a.mixed ? 2 : draw_weight(a.nodes);
    const std::string zone =
        a.seed == 0 ? "z0" : "z" + std::to_string(std::uniform_int_distribution<int>(0, a.zones - 1)(rng));
    const NodeId id = ids[static_cast<size_t>(a.nodes)];
    v.insert(std::upper_bound(v.begin(), v.end(), id,
                              [](NodeId x, const NodeSpec& n) { return x < n.id; }),
             NodeSpec{id, zone, w});
    changes.push_back({"add 1 node", v, slots * w / (total_w + w)});
  }
  const size_t victim =
      a.seed == 0 ? nodes.size() / 2
                  : std::uniform_int_distribution<size_t>(0, nodes.size() - 1)(rng);
  const double victim_held = static_cast<double>(Held(*base, nodes[victim].id));
  {
    auto v = nodes;
    v.erase(v.begin() + static_cast<long>(victim));
    changes.push_back({"remove 1 node", v, victim_held});
  }
  {
    auto v = nodes;
    v[victim].weight = 0;
    changes.push_back({"drain 1 node", v, victim_held});
  }
  {
    auto v = nodes;
    v[victim].weight *= 2;
    std::vector<uint64_t> q0 = PlacementQuotas(nodes, a.replicas, a.partitions);
    std::vector<uint64_t> q1 = PlacementQuotas(v, a.replicas, a.partitions);
    changes.push_back({"reweight 1 node x2", v, static_cast<double>(q1[victim] - q0[victim])});
  }

  if (a.json) {
    std::printf("{\"nodes\":%d,\"zones\":%d,\"replicas\":%u,\"partitions\":%u,\"mixed_weights\":%s,"
                "\"weight_max\":%u,\"seed\":%llu,"
                "\"build_s\":%.3f,\"max_over_mean\":%.4f,\"min_over_mean\":%.4f,\"changes\":[",
                a.nodes, a.zones, a.replicas, a.partitions, a.mixed ? "true" : "false", a.weight_max,
                static_cast<unsigned long long>(a.seed), build_s,
                bal.max_over_mean, bal.min_over_mean);
  } else {
    std::printf("placement of %u partitions x %u replicas on %d nodes in %d zones (%s weights, seed %llu)\n",
                a.partitions, a.replicas, a.nodes, a.zones,
                a.mixed ? "mixed 1-4" : a.weight_max > 1 ? ("random 1-" + std::to_string(a.weight_max)).c_str() : "equal",
                static_cast<unsigned long long>(a.seed));
    std::printf("  built in %.2f s; max/mean %.4f, min/mean %.4f (slots %lu..%lu)\n\n", build_s,
                bal.max_over_mean, bal.min_over_mean, static_cast<unsigned long>(bal.min_slots),
                static_cast<unsigned long>(bal.max_slots));
    std::printf("| change | slots moved | optimum | moved / optimum | quota-implied | max/mean after | time |\n");
    std::printf("|---|--:|--:|--:|--:|--:|--:|\n");
  }
  // What the integer quotas alone demand: the slots each node of the new set must gain to reach
  // the quota a rebalance from `base` gives it (PlacementQuotas with prev) from what it holds now.
  std::map<NodeId, uint64_t> held;
  for (NodeId x : base->table) held[x]++;
  bool first = true;
  for (const Change& c : changes) {
    uint64_t quota_implied = 0;
    {
      std::vector<uint64_t> q = PlacementQuotas(c.nodes, a.replicas, a.partitions, &*base);
      for (size_t i = 0; i < c.nodes.size(); i++) {
        const uint64_t h = held.count(c.nodes[i].id) ? held[c.nodes[i].id] : 0;
        if (q[i] > h) quota_implied += q[i] - h;
      }
    }
    auto t1 = std::chrono::steady_clock::now();
    Result<Placement> next = RebalancePlacement(*base, c.nodes);
    if (!next.ok()) {
      std::fprintf(stderr, "placement_sim: %s: %s\n", c.what, next.status().ToString().c_str());
      return 1;
    }
    const double s = Seconds(t1);
    const uint64_t moved = MovedSlots(*base, *next);
    PlacementBalance after = MeasureBalance(*next, c.nodes);
    const double ratio = c.optimum > 0 ? static_cast<double>(moved) / c.optimum : 0;
    if (a.json) {
      std::printf("%s{\"change\":\"%s\",\"moved\":%lu,\"optimum\":%.1f,\"ratio\":%.4f,"
                  "\"quota_implied\":%lu,\"max_over_mean\":%.4f,\"seconds\":%.3f}",
                  first ? "" : ",", c.what, static_cast<unsigned long>(moved), c.optimum, ratio,
                  static_cast<unsigned long>(quota_implied), after.max_over_mean, s);
    } else {
      std::printf("| %s | %lu | %.1f | %.4f | %lu | %.4f | %.2f s |\n", c.what,
                  static_cast<unsigned long>(moved), c.optimum, ratio,
                  static_cast<unsigned long>(quota_implied), after.max_over_mean, s);
    }
    first = false;
  }
  if (a.json) std::printf("]}\n");
  return 0;
}
