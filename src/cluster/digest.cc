#include "cluster/digest.h"

#include <xxhash.h>

#include <cstring>
#include <string>

#include "util/coding.h"

namespace cairn::cluster {
namespace {

constexpr uint64_t kEntrySeed = 0x6361697266616531ull;  // "cairfae1": entries
constexpr uint64_t kRootSeed = 0x6361697266616532ull;   // "cairfae2": roots

}  // namespace

KeySlot SlotOf(std::string_view key) {
  const uint64_t h = XXH3_64bits(key.data(), key.size());
  return KeySlot{static_cast<uint32_t>(h >> (64 - kPartitionBits)),
                 static_cast<uint32_t>(h >> (64 - kPartitionBits - kLeafBits)) & (kLeaves - 1)};
}

uint64_t EntryHash(std::string_view key, const Version& v) {
  if (v.none()) return 0;
  // u64 hlc, u32 writer, key (docs/protocol.md section 10): on the stack for any valid key.
  char buf[kDigestVersionSize + kMaxKeyBytes];
  std::string big;
  char* p = buf;
  if (key.size() > kMaxKeyBytes) {
    big.resize(kDigestVersionSize + key.size());
    p = big.data();
  }
  EncodeFixed64(p, v.hlc);
  EncodeFixed32(p + 8, v.writer);
  std::memcpy(p + kDigestVersionSize, key.data(), key.size());
  const uint64_t h = XXH3_64bits_withSeed(p, kDigestVersionSize + key.size(), kEntrySeed);
  return h != 0 ? h : 1;  // 0 means "nothing": a real entry never hashes to it
}

uint64_t RootOf(const Leaves& leaves) {
  char buf[kLeaves * 8];
  bool any = false;
  for (uint32_t i = 0; i < kLeaves; i++) {
    EncodeFixed64(buf + 8 * i, leaves[i]);
    any = any || leaves[i] != 0;
  }
  if (!any) return 0;
  const uint64_t h = XXH3_64bits_withSeed(buf, sizeof(buf), kRootSeed);
  return h != 0 ? h : 1;
}

DigestSet::DigestSet() : parts_(kPartitions) {}

void DigestSet::Apply(std::string_view key, const Version& was, const Version& now) {
  if (was == now) return;
  const KeySlot s = SlotOf(key);
  std::lock_guard<std::mutex> l(MuFor(s.partition));
  std::unique_ptr<Part>& p = parts_[s.partition];
  if (p == nullptr) p = std::make_unique<Part>();
  p->leaves[s.leaf] ^= EntryHash(key, was) ^ EntryHash(key, now);
  p->generation++;
}

uint64_t DigestSet::Root(uint32_t partition) const { return RootOf(LeavesOf(partition)); }

Leaves DigestSet::LeavesOf(uint32_t partition) const {
  if (partition >= kPartitions) return Leaves{};
  std::lock_guard<std::mutex> l(MuFor(partition));
  const std::unique_ptr<Part>& p = parts_[partition];
  return p != nullptr ? p->leaves : Leaves{};
}

uint64_t DigestSet::Generation(uint32_t partition) const {
  std::lock_guard<std::mutex> l(MuFor(partition));
  const std::unique_ptr<Part>& p = parts_[partition];
  return p != nullptr ? p->generation : 0;
}

bool DigestSet::SetLeafIf(uint32_t partition, uint32_t leaf, uint64_t value, uint64_t generation) {
  std::lock_guard<std::mutex> l(MuFor(partition));
  std::unique_ptr<Part>& p = parts_[partition];
  if ((p != nullptr ? p->generation : 0) != generation) return false;
  if (p == nullptr) p = std::make_unique<Part>();
  p->leaves[leaf] = value;
  return true;
}

void DigestSet::Clear() {
  for (uint32_t i = 0; i < kPartitions; i++) {
    std::lock_guard<std::mutex> l(MuFor(i));
    if (parts_[i] != nullptr) {
      parts_[i]->leaves = Leaves{};
      parts_[i]->generation++;
    }
  }
}

size_t DigestSet::partitions_held() const {
  size_t n = 0;
  for (uint32_t i = 0; i < kPartitions; i++) {
    std::lock_guard<std::mutex> l(MuFor(i));
    if (parts_[i] == nullptr) continue;
    for (uint64_t v : parts_[i]->leaves)
      if (v != 0) {
        n++;
        break;
      }
  }
  return n;
}

}  // namespace cairn::cluster
