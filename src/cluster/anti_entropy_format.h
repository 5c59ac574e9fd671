// The anti-entropy digest and its exchange between nodes: constants and named limits
// (docs/protocol.md section 10, docs/cluster.md "Anti-entropy"; issue 12).
//
// The frame's op is proto::Op::kDigest (src/proto/frame.h); its meta (after the routing
// prefix, role replica) and its reply body are owned by the cluster, which decodes them
// (cluster/anti_entropy_wire.h): one format, specified in docs/protocol.md first.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cluster/placement.h"

namespace cairn::cluster {

// Leaves per partition: 64 (the key hash's 6 bits below the partition bits). Why 64: a node
// of a small cluster holds a replica of every one of the 65,536 partitions, and 64 leaves of 8
// bytes are 512 bytes per partition, 32 MiB at most (partitions without keys cost nothing);
// at 1,000 nodes (~200 partitions each) 100 KiB. A walked leaf then lists about keys / 64 of
// its partition: 800 keys at 10 M keys per node on 1,000 nodes, 2 at 10 M keys on 3 nodes.
inline constexpr uint32_t kLeafBits = 6;
inline constexpr uint32_t kLeaves = 1u << kLeafBits;

// Request kinds (the first byte of a DIGEST request's meta).
enum class DigestKind : uint8_t {
  kRoots = 1,   // the root of each listed partition
  kLeaves = 2,  // the kLeaves leaves of each listed partition
  kKeys = 3,    // the (key, version) of every key in the listed leaves, paged
};
inline constexpr uint8_t kMaxDigestKind = 3;

// Named limits of one request (an error names the one hit).
inline constexpr uint32_t kMaxRootPartitions = 4096;   // max_digest_partitions: roots per request
inline constexpr uint32_t kMaxLeafPartitions = 64;     // max_leaf_partitions: leaves per request
// max_key_leaves: leaves per keys request. Each request scans the node's whole index, so the
// more leaves one carries, the fewer scans a walk costs: 1,000 since 2026-12-04, 256 before (a
// node from before refuses more with LimitExceeded). Bounded by the smallest frame meta a node
// may be configured with (kMaxKeysRequestBytes, checked in server/config.cc).
inline constexpr uint32_t kMaxKeyLeaves = 1000;
// The largest keys request: kind, count, the leaves, start_after (length and bytes), max_keys.
inline constexpr size_t kMaxKeysRequestBytes = 1 + 2 + 3 * size_t{kMaxKeyLeaves} + 2 + 1024 + 4;
inline constexpr uint32_t kMaxKeysPerReply = 1024;     // max_digest_keys: keys per reply
// max_digest_scan: index entries one keys request scans before it answers "truncated" (the
// local index is ordered by key, not by hash, so listing a leaf scans the node's keys).
inline constexpr uint32_t kMaxKeysScannedPerRequest = 65536;

// Entry sizes on the wire.
inline constexpr size_t kDigestVersionSize = 8 + 4;  // u64 hlc, u32 writer

}  // namespace cairn::cluster
