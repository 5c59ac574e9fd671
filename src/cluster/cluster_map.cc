#include "cluster/cluster_map.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn::cluster {

const char* NodeStateName(NodeState s) {
  switch (s) {
    case NodeState::kUp: return "up";
    case NodeState::kDown: return "down";
    case NodeState::kOut: return "out";
    case NodeState::kDraining: return "draining";
  }
  return "?";
}

const MapNode* ClusterMap::Node(NodeId id) const {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), id,
                             [](const MapNode& n, NodeId v) { return n.id < v; });
  return it != nodes.end() && it->id == id ? &*it : nullptr;
}

bool ClusterMap::Moving(uint32_t p) const {
  if (prev.table.empty() || p >= placement.partitions) return false;
  std::span<const NodeId> a = prev.Row(p), b = placement.Row(p);
  return !std::equal(a.begin(), a.end(), b.begin(), b.end());
}

uint32_t ClusterMap::MovingCount() const {
  uint32_t n = 0;
  if (prev.table.empty()) return 0;
  for (uint32_t p = 0; p < placement.partitions; p++) n += Moving(p) ? 1 : 0;
  return n;
}

std::vector<NodeSpec> ClusterMap::PlacementNodes() const {
  std::vector<NodeSpec> v;
  for (const MapNode& n : nodes) {
    const bool holds = n.state == NodeState::kUp || n.state == NodeState::kDown;
    v.push_back(NodeSpec{n.id, n.zone, holds ? n.weight : 0});
  }
  return v;
}

namespace {

void PutStr(std::string* o, const std::string& s) {
  PutFixed16(o, static_cast<uint16_t>(s.size()));
  o->append(s);
}

struct Reader {
  std::string_view in;
  bool ok = true;
  bool Need(size_t n) {
    if (in.size() < n) ok = false;
    return ok;
  }
  uint8_t U8() {
    if (!Need(1)) return 0;
    uint8_t v = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    return v;
  }
  uint16_t U16() {
    if (!Need(2)) return 0;
    uint16_t v = DecodeFixed16(in.data());
    in.remove_prefix(2);
    return v;
  }
  uint32_t U32() {
    if (!Need(4)) return 0;
    uint32_t v = DecodeFixed32(in.data());
    in.remove_prefix(4);
    return v;
  }
  uint64_t U64() {
    if (!Need(8)) return 0;
    uint64_t v = DecodeFixed64(in.data());
    in.remove_prefix(8);
    return v;
  }
  std::string Str() {
    uint16_t n = U16();
    if (n > kMaxMapStringBytes || !Need(n)) {
      ok = false;
      return "";
    }
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};

}  // namespace

std::string EncodeClusterMap(const ClusterMap& m) {
  std::string o;
  o.reserve(64 + m.nodes.size() * 64 + m.placement.table.size() * 2);
  const bool transition = m.in_transition();
  o.reserve(o.capacity() + m.prev.table.size() * 2);
  o.append(kMapMagic, 8);
  PutFixed32(&o, transition ? kMapFormat : kMapFormatNoTransition);
  PutFixed32(&o, 0);  // flags
  PutFixed64(&o, m.epoch);
  PutFixed32(&o, m.placement.replicas);
  PutFixed32(&o, m.placement.partitions);
  PutFixed32(&o, static_cast<uint32_t>(m.nodes.size()));
  for (const MapNode& n : m.nodes) {
    PutFixed16(&o, n.id);
    o.push_back(static_cast<char>(n.state));
    o.push_back(0);
    PutFixed32(&o, n.weight);
    PutStr(&o, n.address);
    PutStr(&o, n.zone);
  }
  PutFixed32(&o, static_cast<uint32_t>(m.placement.table.size()));
  for (NodeId id : m.placement.table) PutFixed16(&o, id);
  if (transition) {
    // Format 2: the previous table, the same shape as the table (its slot count repeated).
    PutFixed32(&o, static_cast<uint32_t>(m.prev.table.size()));
    for (NodeId id : m.prev.table) PutFixed16(&o, id);
  }
  PutFixed32(&o, crc32c::Value(o.data(), o.size()));
  return o;
}

Status DecodeClusterMap(std::string_view b, ClusterMap* m) {
  *m = ClusterMap();
  if (b.size() < 8 + 4 || std::memcmp(b.data(), kMapMagic, 8) != 0)
    return Status::Corruption("cluster map: bad magic");
  const uint32_t want = DecodeFixed32(b.data() + b.size() - 4);
  if (crc32c::Value(b.data(), b.size() - 4) != want)
    return Status::Corruption("cluster map: checksum mismatch");
  Reader r{b.substr(8, b.size() - 12)};
  const uint32_t format = r.U32();
  if (format != kMapFormatNoTransition && format != kMapFormat)
    return Status::NotSupported("cluster map format " + std::to_string(format) +
                                " is not known to this binary (it reads formats 1 and 2)");
  if (r.U32() != 0) return Status::Corruption("cluster map: unknown flags");
  m->epoch = r.U64();
  m->placement.replicas = r.U32();
  m->placement.partitions = r.U32();
  const uint32_t count = r.U32();
  if (!r.ok || count > kMaxMapNodes || m->placement.replicas == 0 ||
      m->placement.replicas > 16 || m->placement.partitions == 0 ||
      m->placement.partitions > kPartitions)
    return Status::Corruption("cluster map: a field is out of bounds");
  // Which ids a slot may hold: the node list's and kNoNode (an empty slot). A byte per possible
  // id rather than a hash set, because every slot of the table is checked against it (196,608
  // at R = 3) and the CLI decodes the map on every call (issue 11: a hash lookup per slot was
  // most of the decode).
  std::vector<uint8_t> known(size_t{kNoNode} + 1, 0);
  known[kNoNode] = 1;
  for (uint32_t i = 0; i < count && r.ok; i++) {
    MapNode n;
    n.id = r.U16();
    n.state = static_cast<NodeState>(r.U8());
    const uint8_t reserved = r.U8();
    n.weight = r.U32();
    n.address = r.Str();
    n.zone = r.Str();
    if (n.state < NodeState::kUp || n.state > NodeState::kDraining || n.id == kNoNode ||
        known[n.id] || reserved != 0)
      return Status::Corruption("cluster map: node " + std::to_string(n.id) + " is malformed");
    known[n.id] = true;
    if (!m->nodes.empty() && m->nodes.back().id > n.id)
      return Status::Corruption("cluster map: nodes out of order");
    m->nodes.push_back(std::move(n));
  }
  const uint32_t slots = r.U32();
  if (!r.ok || slots != m->placement.partitions * m->placement.replicas || !r.Need(size_t{slots} * 2))
    return Status::Corruption("cluster map: the table has the wrong size");
  // One pass with no branch per slot; the first bad slot is looked for only if there is one.
  auto read_table = [&](std::vector<NodeId>* table, const char* what) -> Status {
    table->resize(slots);
    const char* p = r.in.data();
    uint8_t all_known = 1;
    for (uint32_t i = 0; i < slots; i++) {
      const NodeId id = DecodeFixed16(p + size_t{i} * 2);
      (*table)[i] = id;
      all_known &= known[id];
    }
    if (all_known == 0) {
      for (uint32_t i = 0; i < slots; i++) {
        const NodeId id = (*table)[i];
        if (known[id] == 0)
          return Status::Corruption(std::string("cluster map: ") + what + "slot " +
                                    std::to_string(i) + " names unknown node " + std::to_string(id));
      }
    }
    r.in.remove_prefix(size_t{slots} * 2);
    return Status::OK();
  };
  CAIRN_RETURN_IF_ERROR(read_table(&m->placement.table, ""));
  if (format == kMapFormat) {
    // The previous table: exactly as many slots as the table (a map in transition has one).
    const uint32_t prev_slots = r.U32();
    if (!r.ok || prev_slots != slots || !r.Need(size_t{slots} * 2))
      return Status::Corruption("cluster map: the previous table has the wrong size");
    m->prev.replicas = m->placement.replicas;
    m->prev.partitions = m->placement.partitions;
    CAIRN_RETURN_IF_ERROR(read_table(&m->prev.table, "previous table's "));
  }
  if (!r.ok || !r.in.empty()) return Status::Corruption("cluster map: trailing or missing bytes");
  return Status::OK();
}

}  // namespace cairn::cluster
