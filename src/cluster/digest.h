// DigestSet: a node's anti-entropy digests, one small Tictac-style tree per partition it holds
// keys of (docs/cluster.md "Anti-entropy"; CLUSTER.md section 5; issue 12).
//
// A partition has kLeaves leaves of 64 bits. A key's leaf is the kLeafBits bits of xxh3_64(key)
// just below the partition bits; a leaf is the XOR of EntryHash(key, version) over the keys it
// covers, each at its current version (a delete's tombstone counts as the delete's version).
// XOR makes a leaf independent of the order keys were written in, and lets one write update it
// in O(1): XOR out the version it replaced, XOR in its own. A partition's root is a hash of its
// leaves (0 when every leaf is 0). Two replicas holding the same (key, version) set have equal
// roots; a key whose version differs changes exactly one leaf.
//
// Kept in memory; written to a checkpoint file by a clean stop and read back by the next start
// when the store is as it was then (DigestedStore::SaveCheckpoint; docs/format.md section 8),
// otherwise rebuilt at start by one scan of the local store.
//
// Thread safety: every method from any thread (a mutex per stripe of partitions).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/object_store.h"
#include "cluster/anti_entropy_format.h"
#include "cluster/anti_entropy_wire.h"

namespace cairn::cluster {

// Where a key lies: its partition (PartitionOf) and its leaf in it.
struct KeySlot {
  uint32_t partition = 0;
  uint32_t leaf = 0;
};
KeySlot SlotOf(std::string_view key);
// The 64-bit hash a (key, version) contributes to its leaf. 0 for version none() (no entry).
uint64_t EntryHash(std::string_view key, const Version& v);
// The root over a partition's leaves: 0 when all are 0.
uint64_t RootOf(const Leaves& leaves);

// What a digest checkpoint records of the store it was taken from: it is used only for a store
// that still matches it (any write moves next_sequence; a record lost or dropped offline moves
// the counts).
struct StoreFingerprint {
  uint64_t next_sequence = 0;
  uint64_t objects = 0;
  uint64_t tombstones = 0;
  bool operator==(const StoreFingerprint&) const = default;
};

// The partitions that hold keys, with their leaves, in partition order.
using DigestParts = std::vector<std::pair<uint32_t, Leaves>>;

// The checkpoint file's bytes (docs/format.md section 8) and back. Decode checks the magic, the
// format and leaf count, the length, the CRC-32C and the partitions' order and range:
// Corruption naming what is wrong.
std::string EncodeDigestCheckpoint(const StoreFingerprint& f, const DigestParts& parts);
// Named bound: the largest checkpoint (every partition held); a longer file is not read.
inline constexpr uint64_t kMaxDigestCheckpointBytes = 48 + uint64_t{kPartitions} * (4 + 8 * kLeaves) + 4;
Status DecodeDigestCheckpoint(std::string_view in, StoreFingerprint* f, DigestParts* parts);

class DigestSet {
 public:
  DigestSet();
  // Key `key` went from version `was` to `now` (either may be none(): no entry). Equal
  // versions change nothing.
  void Apply(std::string_view key, const Version& was, const Version& now);
  uint64_t Root(uint32_t partition) const;
  Leaves LeavesOf(uint32_t partition) const;
  // Bumped by every Apply to the partition: a leaf recomputed from a scan replaces the kept one
  // only if no write touched the partition meanwhile (SetLeafIf).
  uint64_t Generation(uint32_t partition) const;
  // Sets a leaf to `value` if the partition's generation is still `generation`. True if set.
  bool SetLeafIf(uint32_t partition, uint32_t leaf, uint64_t value, uint64_t generation);
  void Clear();
  // Every partition with a non-zero leaf (a checkpoint's body).
  DigestParts Snapshot() const;
  // Clear(), then these partitions' leaves. REQUIRES: `parts` valid (as Decode leaves them).
  void Restore(const DigestParts& parts);
  // Partitions with any non-zero leaf.
  size_t partitions_held() const;

 private:
  static constexpr size_t kStripes = 256;
  struct Part {
    Leaves leaves{};
    uint64_t generation = 0;
  };
  std::mutex& MuFor(uint32_t p) const { return mu_[p % kStripes]; }
  mutable std::array<std::mutex, kStripes> mu_;
  std::vector<std::unique_ptr<Part>> parts_;  // kPartitions, created at a partition's first key
};

}  // namespace cairn::cluster
