// The DIGEST operation's request meta and reply bodies (docs/protocol.md section 10): pure
// encode/decode. Decoders accept arbitrary bytes and are strict (trailing bytes, a field out of
// range, a list out of order are errors); an error is InvalidArgument naming the field, or
// LimitExceeded naming the limit (cluster/anti_entropy_format.h).
//
// Its own library (cairn_cluster_wire, no networking) so that the fuzz build links it
// (fuzz/wire_fuzz.cc).
//
// Thread safety: free functions.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/object_store.h"
#include "cairn/status.h"
#include "cluster/anti_entropy_format.h"

namespace cairn::cluster {

// The leaves of one partition's digest (cluster/digest.h).
using Leaves = std::array<uint64_t, kLeaves>;

// A leaf of a partition, as a keys request names it.
struct LeafRef {
  uint32_t partition = 0;
  uint32_t leaf = 0;
  friend auto operator<=>(const LeafRef&, const LeafRef&) = default;
};

// One key of a leaf listing.
struct KeyVersion {
  std::string key;
  Version version;
  bool deleted = false;
  friend bool operator==(const KeyVersion&, const KeyVersion&) = default;
};

// A page of the keys of a set of leaves, in key order.
struct KeyPage {
  std::vector<KeyVersion> keys;
  bool truncated = false;          // more may follow: continue after next_start_after
  std::string next_start_after;    // the last key scanned (not necessarily listed)
};

struct DigestRequest {
  DigestKind kind = DigestKind::kRoots;
  std::vector<uint32_t> partitions;  // kRoots, kLeaves: strictly increasing
  std::vector<LeafRef> leaves;       // kKeys: strictly increasing
  std::string start_after;           // kKeys
  uint32_t max_keys = 0;             // kKeys: 1..kMaxKeysPerReply
};

std::string EncodeDigestRequest(const DigestRequest& r);
Status DecodeDigestRequest(std::string_view in, DigestRequest* r);

std::string EncodeRootsReply(const std::vector<uint64_t>& roots);
Status DecodeRootsReply(std::string_view in, size_t expect, std::vector<uint64_t>* roots);
std::string EncodeLeavesReply(const std::vector<Leaves>& leaves);
Status DecodeLeavesReply(std::string_view in, size_t expect, std::vector<Leaves>* leaves);
std::string EncodeKeysReply(const KeyPage& page);
Status DecodeKeysReply(std::string_view in, uint32_t max_keys, KeyPage* page);

}  // namespace cairn::cluster
