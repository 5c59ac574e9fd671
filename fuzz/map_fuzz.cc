// libFuzzer target: the cluster map's decoder (docs/cluster.md section 2, DecodeClusterMap):
// the bytes a node reads from etcd and the CLI from its cache in /dev/shm, where anything that
// can write there can put anything. Nothing may crash, hang or read out of bounds, and a map
// that decodes must be the one its encoding gives back byte for byte, with every slot of its
// tables naming a node it lists (or empty).
//
// Getting past the checksum: when the input's first byte is odd, the rest is taken as a map
// without its CRC-32C and the right one is appended, so mutations reach the fields behind it;
// otherwise the rest is decoded as it is (the checksum checked as in production).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cluster/cluster_map.h"
#include "util/coding.h"
#include "util/crc32c.h"

using cairn::cluster::ClusterMap;
using cairn::cluster::kNoNode;
using cairn::cluster::NodeId;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) != 0) cairn::PutFixed32(&in, cairn::crc32c::Value(in));
  ClusterMap m;
  if (!cairn::cluster::DecodeClusterMap(in, &m).ok()) return 0;
  if (cairn::cluster::EncodeClusterMap(m) != in) std::abort();
  auto listed = [&](NodeId id) { return id == kNoNode || m.Node(id) != nullptr; };
  for (NodeId id : m.placement.table)
    if (!listed(id)) std::abort();
  for (NodeId id : m.prev.table)
    if (!listed(id)) std::abort();
  if (m.placement.table.size() != size_t{m.placement.partitions} * m.placement.replicas) std::abort();
  return 0;
}
