// The DIGEST operation's request meta and reply bodies (docs/protocol.md section 10): pure
// encode/decode. Decoders accept arbitrary bytes and are strict (trailing bytes, a field out of
// range, a list out of order are errors); an error is InvalidArgument naming the field, or
// LimitExceeded naming the limit (cluster/anti_entropy_format.h).
//
// Thread safety: free functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "cluster/digested_store.h"

namespace cairn::cluster {

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

// Answers a decoded request from this node's digest and store: the reply body.
Result<std::string> ServeDigest(DigestedStore* store, const DigestRequest& r);

}  // namespace cairn::cluster
