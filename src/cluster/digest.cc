#include "cluster/digest.h"

#include <xxhash.h>

#include <cstring>
#include <string>

#include "util/coding.h"
#include "util/crc32c.h"

namespace cairn::cluster {
namespace {

constexpr uint64_t kEntrySeed = 0x6361697266616531ull;  // "cairfae1": entries
constexpr uint64_t kRootSeed = 0x6361697266616532ull;   // "cairfae2": roots
constexpr char kCheckpointMagic[8] = {'C', 'A', 'I', 'R', 'N', 'D', 'G', 'C'};
constexpr uint32_t kCheckpointFormat = 1;
// magic, format, partitions in all, leaves per partition, next_sequence, objects, tombstones,
// partitions that follow
constexpr size_t kCheckpointHeader = 8 + 4 + 4 + 4 + 8 + 8 + 8 + 4;
constexpr size_t kCheckpointPart = 4 + 8 * kLeaves;

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

std::string EncodeDigestCheckpoint(const StoreFingerprint& f, const DigestParts& parts) {
  std::string out(kCheckpointHeader + parts.size() * kCheckpointPart + 4, '\0');
  char* p = out.data();
  std::memcpy(p, kCheckpointMagic, 8);
  EncodeFixed32(p + 8, kCheckpointFormat);
  EncodeFixed32(p + 12, kPartitions);
  EncodeFixed32(p + 16, kLeaves);
  EncodeFixed64(p + 20, f.next_sequence);
  EncodeFixed64(p + 28, f.objects);
  EncodeFixed64(p + 36, f.tombstones);
  EncodeFixed32(p + 44, static_cast<uint32_t>(parts.size()));
  p += kCheckpointHeader;
  for (const auto& [partition, leaves] : parts) {
    EncodeFixed32(p, partition);
    for (uint32_t i = 0; i < kLeaves; i++) EncodeFixed64(p + 4 + 8 * i, leaves[i]);
    p += kCheckpointPart;
  }
  EncodeFixed32(p, crc32c::Value(std::string_view(out.data(), out.size() - 4)));
  return out;
}

Status DecodeDigestCheckpoint(std::string_view in, StoreFingerprint* f, DigestParts* parts) {
  auto bad = [](const std::string& what) { return Status::Corruption("digest checkpoint: " + what); };
  if (in.size() < kCheckpointHeader + 4) return bad("shorter than its header");
  if (std::memcmp(in.data(), kCheckpointMagic, 8) != 0) return bad("wrong magic");
  if (DecodeFixed32(in.data() + 8) != kCheckpointFormat)
    return bad("format " + std::to_string(DecodeFixed32(in.data() + 8)) + ", this build reads " +
               std::to_string(kCheckpointFormat));
  if (DecodeFixed32(in.data() + 12) != kPartitions)
    return bad(std::to_string(DecodeFixed32(in.data() + 12)) + " partitions, this build has " +
               std::to_string(kPartitions));
  if (DecodeFixed32(in.data() + 16) != kLeaves)
    return bad(std::to_string(DecodeFixed32(in.data() + 16)) + " leaves per partition, this build has " +
               std::to_string(kLeaves));
  const uint64_t n = DecodeFixed32(in.data() + 44);
  if (n > kPartitions) return bad(std::to_string(n) + " partitions follow, more than there are");
  if (in.size() != kCheckpointHeader + n * kCheckpointPart + 4)
    return bad("length " + std::to_string(in.size()) + " does not match its " + std::to_string(n) +
               " partitions");
  if (crc32c::Value(in.substr(0, in.size() - 4)) != DecodeFixed32(in.data() + in.size() - 4))
    return bad("CRC-32C mismatch");
  f->next_sequence = DecodeFixed64(in.data() + 20);
  f->objects = DecodeFixed64(in.data() + 28);
  f->tombstones = DecodeFixed64(in.data() + 36);
  parts->clear();
  parts->reserve(n);
  const char* p = in.data() + kCheckpointHeader;
  for (uint64_t k = 0; k < n; k++, p += kCheckpointPart) {
    const uint32_t partition = DecodeFixed32(p);
    if (partition >= kPartitions || (!parts->empty() && partition <= parts->back().first))
      return bad("partition " + std::to_string(partition) + " out of range or out of order");
    Leaves leaves;
    for (uint32_t i = 0; i < kLeaves; i++) leaves[i] = DecodeFixed64(p + 4 + 8 * i);
    parts->emplace_back(partition, leaves);
  }
  return Status::OK();
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

DigestParts DigestSet::Snapshot() const {
  DigestParts out;
  for (uint32_t i = 0; i < kPartitions; i++) {
    std::lock_guard<std::mutex> l(MuFor(i));
    if (parts_[i] == nullptr) continue;
    for (uint64_t v : parts_[i]->leaves)
      if (v != 0) {
        out.emplace_back(i, parts_[i]->leaves);
        break;
      }
  }
  return out;
}

void DigestSet::Restore(const DigestParts& parts) {
  Clear();
  for (const auto& [partition, leaves] : parts) {
    std::lock_guard<std::mutex> l(MuFor(partition));
    std::unique_ptr<Part>& p = parts_[partition];
    if (p == nullptr) p = std::make_unique<Part>();
    p->leaves = leaves;
    p->generation++;
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
