// DigestedStore: this node's own store, as the cluster writes it, keeping the anti-entropy
// digest (cluster/digest.h) current (docs/cluster.md "Anti-entropy"; issue 12).
//
// Every cluster write a node applies to its own store passes through here: its own writes as a
// coordinator, its peers' replica writes (role replica), read repairs, hint replays and
// anti-entropy repairs pushed to it (ClusterNode hands this store out for all of them). A
// judged write (apply-if-newer, any other condition, every delete) reports the version it
// replaced (WriteResult::replaced, decided atomically with its place in the log), so racing
// writers of one key leave the digest exact: each XORs out what it replaced and in what it
// wrote. An unconditional put (the cluster sends none) looks the key up first, which may race;
// a leaf left wrong by such a race, or by a tombstone the engine dropped at its horizon, is
// recomputed the next time anti-entropy lists it (ListLeafKeys).
//
// Thread safety: every method from any thread.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cairn/object_store.h"
#include "cluster/anti_entropy_wire.h"
#include "cluster/digest.h"

namespace cairn::cluster {

class DigestedStore final : public ForwardingObjectStore {
 public:
  explicit DigestedStore(ObjectStore* inner) : ForwardingObjectStore(inner) {}

  // Rebuilds the digest by one scan of the store (every key, deletes included). REQUIRES: no
  // write through this store meanwhile (ClusterNode calls it before the node serves).
  Status Rebuild();
  // The digest kept across a clean stop (docs/format.md section 8). SaveCheckpoint writes it to
  // `path` (a temporary file, synced, renamed) with the store's fingerprint; call it after the
  // last write, as the node stops. LoadCheckpoint, at start instead of Rebuild: OK when the
  // digest was read and the store still matches the fingerprint; NotFound with no file;
  // Corruption for a damaged one; Conflict when the store has changed since (written to, or a
  // record lost). The file is removed whatever the outcome, so a checkpoint serves only the
  // start right after the stop that wrote it. REQUIRES (both): no write through this store
  // meanwhile.
  Status SaveCheckpoint(const std::string& path);
  Status LoadCheckpoint(const std::string& path);
  DigestSet& digest() { return digest_; }

  // The keys of `leaves` after `start_after`: at most `max_keys` listed, at most
  // kMaxKeysScannedPerRequest index entries scanned. A listing that covered every key
  // (start_after empty, not truncated) also recomputes each listed leaf, replacing the kept
  // one if no write touched its partition meanwhile.
  Result<KeyPage> ListLeafKeys(const std::set<LeafRef>& leaves, std::string_view start_after,
                               uint32_t max_keys);

  Result<WriteResult> Put(std::string_view key, std::string_view value,
                          const WriteOptions& wo) override;
  Result<WriteResult> PutStream(std::string_view key, ValueSource* src,
                                const WriteOptions& wo) override;
  Status PutAsync(std::string_view key, std::string_view value, const WriteOptions& wo,
                  WriteDone done) override;
  Result<WriteResult> Delete(std::string_view key, const WriteOptions& wo) override;
  // Reads go to the inner store (ForwardingObjectStore).
  // Compose is not offered (the default NotSupported): the cluster does not compose.

 private:
  // Before an unjudged write: the key's version now (none() if it has none).
  Version Before(std::string_view key, const WriteOptions& wo);
  void After(std::string_view key, const Version& before, const WriteResult& r);

  DigestSet digest_;
};

// Answers a decoded DIGEST request from this node's digest and store: the reply body.
Result<std::string> ServeDigest(DigestedStore* store, const DigestRequest& r);

}  // namespace cairn::cluster
