#include "cluster/digested_store.h"

#include <algorithm>
#include <vector>

#include "cairn/env.h"

namespace cairn::cluster {
namespace {

// Named bound: keys read per ListVersions call while rebuilding or listing a leaf.
constexpr uint32_t kScanPage = 4096;

bool Judged(const WriteOptions& wo) { return wo.condition != WriteCondition::kNone; }

Result<StoreFingerprint> FingerprintOf(ObjectStore* s) {
  CAIRN_ASSIGN_OR_RETURN(StoreStats st, s->Stats());
  if (st.read_only) return Status::ReadOnly("the store is read-only: " + st.read_only_reason);
  return StoreFingerprint{st.next_sequence, st.objects, st.tombstones};
}

}  // namespace

Version DigestedStore::Before(std::string_view key, const WriteOptions& wo) {
  if (Judged(wo)) return Version();
  Result<ObjectInfo> h = inner_->HeadVersion(key);
  return h.ok() ? h->version : Version();
}

void DigestedStore::After(std::string_view key, const Version& before, const WriteResult& r) {
  digest_.Apply(key, r.replaced_known ? r.replaced : before, r.version);
}

Result<WriteResult> DigestedStore::Put(std::string_view key, std::string_view value,
                                       const WriteOptions& wo) {
  const Version before = Before(key, wo);
  CAIRN_ASSIGN_OR_RETURN(WriteResult r, inner_->Put(key, value, wo));
  After(key, before, r);
  return r;
}

Result<WriteResult> DigestedStore::PutStream(std::string_view key, ValueSource* src,
                                             const WriteOptions& wo) {
  const Version before = Before(key, wo);
  CAIRN_ASSIGN_OR_RETURN(WriteResult r, inner_->PutStream(key, src, wo));
  After(key, before, r);
  return r;
}

Status DigestedStore::PutAsync(std::string_view key, std::string_view value,
                               const WriteOptions& wo, WriteDone done) {
  // Only judged writes on the loop: an unjudged one would need a lookup first (Put does it).
  if (!Judged(wo)) return Status::Busy("an unconditional put through the digest: use Put");
  return inner_->PutAsync(key, value, wo,
                          [this, k = std::string(key), done = std::move(done)](Result<WriteResult> r) {
                            if (r.ok()) After(k, Version(), *r);
                            done(std::move(r));
                          });
}

Result<WriteResult> DigestedStore::Delete(std::string_view key, const WriteOptions& wo) {
  // Every delete is judged by the engine (it needs the key's entry): replaced is reported.
  CAIRN_ASSIGN_OR_RETURN(WriteResult r, inner_->Delete(key, wo));
  After(key, Version(), r);
  return r;
}

Status DigestedStore::Rebuild() {
  digest_.Clear();
  std::string after;
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(ListResult page, inner_->ListVersions(after, kScanPage));
    for (const ObjectInfo& o : page.objects) digest_.Apply(o.key, Version(), o.version);
    if (!page.truncated || page.objects.empty()) return Status::OK();
    after = page.next_start_after;
  }
}

Status DigestedStore::SaveCheckpoint(const std::string& path) {
  // After a write error nothing unsynced is trusted, this digest included: the next start scans.
  CAIRN_ASSIGN_OR_RETURN(StoreFingerprint f, FingerprintOf(inner_));
  const std::string bytes = EncodeDigestCheckpoint(f, digest_.Snapshot());
  Env* env = Env::Default();
  const std::string tmp = path + ".tmp";
  {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env->OpenFile(tmp, Env::OpenMode::kCreate));
    CAIRN_RETURN_IF_ERROR(file->PWrite(0, bytes));
    CAIRN_RETURN_IF_ERROR(file->DataSync());
  }
  return env->Rename(tmp, path);
}

Status DigestedStore::LoadCheckpoint(const std::string& path) {
  Env* env = Env::Default();
  if (!env->Exists(path)) return Status::NotFound("no digest checkpoint");
  std::string bytes;
  Status read = [&]() -> Status {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<File> file, env->OpenFile(path, Env::OpenMode::kExisting));
    CAIRN_ASSIGN_OR_RETURN(uint64_t size, file->Size());
    if (size > kMaxDigestCheckpointBytes)
      return Status::Corruption("digest checkpoint: " + std::to_string(size) +
                                " bytes, more than the largest (" +
                                std::to_string(kMaxDigestCheckpointBytes) + ")");
    bytes.resize(size);
    size_t got = 0;
    CAIRN_RETURN_IF_ERROR(file->PRead(0, bytes.size(), bytes.data(), &got));
    bytes.resize(got);
    return Status::OK();
  }();
  // Used once, whatever it held: a later start (after writes, or a crash) must not find it.
  CAIRN_RETURN_IF_ERROR(env->RemoveFile(path));
  CAIRN_RETURN_IF_ERROR(read);
  StoreFingerprint kept;
  DigestParts parts;
  CAIRN_RETURN_IF_ERROR(DecodeDigestCheckpoint(bytes, &kept, &parts));
  CAIRN_ASSIGN_OR_RETURN(StoreFingerprint now, FingerprintOf(inner_));
  if (!(now == kept))
    return Status::Conflict(
        "the store changed since the digest checkpoint (next sequence " +
        std::to_string(kept.next_sequence) + " -> " + std::to_string(now.next_sequence) +
        ", objects " + std::to_string(kept.objects) + " -> " + std::to_string(now.objects) +
        ", tombstones " + std::to_string(kept.tombstones) + " -> " + std::to_string(now.tombstones) + ")");
  digest_.Restore(parts);
  return Status::OK();
}

Result<KeyPage> DigestedStore::ListLeafKeys(const std::set<LeafRef>& leaves,
                                            std::string_view start_after, uint32_t max_keys) {
  KeyPage out;
  const bool whole = start_after.empty();
  // The partitions' generations before the scan: a recomputed leaf is kept only if unchanged.
  std::vector<std::pair<LeafRef, uint64_t>> gens;
  for (const LeafRef& l : leaves) gens.emplace_back(l, digest_.Generation(l.partition));
  std::vector<uint64_t> computed(leaves.size(), 0);
  const std::vector<LeafRef> sorted(leaves.begin(), leaves.end());  // a set's order: for indexes
  std::string after(start_after);
  uint64_t scanned = 0;
  for (;;) {
    const uint32_t want = static_cast<uint32_t>(
        std::min<uint64_t>(kScanPage, kMaxKeysScannedPerRequest - scanned));
    CAIRN_ASSIGN_OR_RETURN(ListResult page, inner_->ListVersions(after, want));
    for (const ObjectInfo& o : page.objects) {
      scanned++;
      out.next_start_after = o.key;
      const KeySlot s = SlotOf(o.key);
      const LeafRef want_leaf{s.partition, s.leaf};
      auto it = std::lower_bound(sorted.begin(), sorted.end(), want_leaf);
      if (it == sorted.end() || want_leaf < *it) continue;
      computed[static_cast<size_t>(it - sorted.begin())] ^= EntryHash(o.key, o.version);
      out.keys.push_back(KeyVersion{o.key, o.version, o.deleted});
      if (out.keys.size() >= max_keys) break;
    }
    if (out.keys.size() >= max_keys || scanned >= kMaxKeysScannedPerRequest) {
      out.truncated = page.truncated || out.next_start_after != page.next_start_after;
      break;
    }
    if (!page.truncated || page.objects.empty()) break;
    after = page.next_start_after;
  }
  if (whole && !out.truncated) {
    size_t i = 0;
    for (const auto& [l, gen] : gens) (void)digest_.SetLeafIf(l.partition, l.leaf, computed[i++], gen);
  }
  return out;
}

Result<std::string> ServeDigest(DigestedStore* store, const DigestRequest& r) {
  switch (r.kind) {
    case DigestKind::kRoots: {
      std::vector<uint64_t> roots;
      roots.reserve(r.partitions.size());
      for (uint32_t p : r.partitions) roots.push_back(store->digest().Root(p));
      return EncodeRootsReply(roots);
    }
    case DigestKind::kLeaves: {
      std::vector<Leaves> leaves;
      leaves.reserve(r.partitions.size());
      for (uint32_t p : r.partitions) leaves.push_back(store->digest().LeavesOf(p));
      return EncodeLeavesReply(leaves);
    }
    case DigestKind::kKeys: {
      std::set<LeafRef> set(r.leaves.begin(), r.leaves.end());
      CAIRN_ASSIGN_OR_RETURN(KeyPage page, store->ListLeafKeys(set, r.start_after, r.max_keys));
      return EncodeKeysReply(page);
    }
  }
  return Status::InvalidArgument("digest: unknown kind");
}

}  // namespace cairn::cluster
