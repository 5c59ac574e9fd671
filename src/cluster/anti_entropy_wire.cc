#include "cluster/anti_entropy_wire.h"

#include "util/coding.h"

namespace cairn::cluster {
namespace {

Status Short(const char* what) {
  return Status::InvalidArgument(std::string("digest: truncated ") + what);
}
Status Trailing() { return Status::InvalidArgument("digest: trailing bytes"); }

Status CheckCount(uint32_t n, uint32_t limit, const char* limit_name, const char* what) {
  if (n == 0) return Status::InvalidArgument(std::string("digest: no ") + what);
  if (n > limit)
    return Status::LimitExceeded(std::string(limit_name) + ": " + std::to_string(n) + " " + what +
                                 ", limit " + std::to_string(limit));
  return Status::OK();
}

}  // namespace

std::string EncodeDigestRequest(const DigestRequest& r) {
  std::string o;
  PutFixed8(&o, static_cast<uint8_t>(r.kind));
  if (r.kind == DigestKind::kKeys) {
    PutFixed16(&o, static_cast<uint16_t>(r.leaves.size()));
    for (const LeafRef& l : r.leaves) {
      PutFixed16(&o, static_cast<uint16_t>(l.partition));
      PutFixed8(&o, static_cast<uint8_t>(l.leaf));
    }
    PutFixed16(&o, static_cast<uint16_t>(r.start_after.size()));
    o += r.start_after;
    PutFixed32(&o, r.max_keys);
  } else {
    PutFixed16(&o, static_cast<uint16_t>(r.partitions.size()));
    for (uint32_t p : r.partitions) PutFixed16(&o, static_cast<uint16_t>(p));
  }
  return o;
}

Status DecodeDigestRequest(std::string_view in, DigestRequest* r) {
  ByteReader rd{in};
  uint8_t kind = 0;
  if (!rd.GetFixed8(&kind)) return Short("kind");
  if (kind == 0 || kind > kMaxDigestKind)
    return Status::InvalidArgument("digest: unknown kind " + std::to_string(kind));
  *r = DigestRequest();
  r->kind = static_cast<DigestKind>(kind);
  uint16_t n = 0;
  if (r->kind == DigestKind::kKeys) {
    if (!rd.GetFixed16(&n)) return Short("leaf count");
    CAIRN_RETURN_IF_ERROR(CheckCount(n, kMaxKeyLeaves, "max_key_leaves", "leaves"));
    for (uint32_t i = 0; i < n; i++) {
      uint16_t p = 0;
      uint8_t leaf = 0;
      if (!rd.GetFixed16(&p) || !rd.GetFixed8(&leaf)) return Short("leaf");
      if (leaf >= kLeaves)
        return Status::InvalidArgument("digest: leaf " + std::to_string(leaf) + " is not below " +
                                       std::to_string(kLeaves));
      LeafRef l{p, leaf};
      if (!r->leaves.empty() && !(r->leaves.back() < l))
        return Status::InvalidArgument("digest: leaves are not in increasing order");
      r->leaves.push_back(l);
    }
    uint16_t len = 0;
    if (!rd.GetFixed16(&len)) return Short("start_after length");
    if (len > kMaxKeyBytes)
      return Status::LimitExceeded("max_key_bytes: start_after of " + std::to_string(len) +
                                   " bytes, limit " + std::to_string(kMaxKeyBytes));
    if (!rd.GetBytes(len, &r->start_after)) return Short("start_after");
    if (!rd.GetFixed32(&r->max_keys)) return Short("max_keys");
    CAIRN_RETURN_IF_ERROR(CheckCount(r->max_keys, kMaxKeysPerReply, "max_digest_keys", "keys"));
  } else {
    if (!rd.GetFixed16(&n)) return Short("partition count");
    const uint32_t limit = r->kind == DigestKind::kRoots ? kMaxRootPartitions : kMaxLeafPartitions;
    CAIRN_RETURN_IF_ERROR(CheckCount(n, limit,
                                     r->kind == DigestKind::kRoots ? "max_digest_partitions"
                                                                   : "max_leaf_partitions",
                                     "partitions"));
    for (uint32_t i = 0; i < n; i++) {
      uint16_t p = 0;
      if (!rd.GetFixed16(&p)) return Short("partition");
      if (!r->partitions.empty() && r->partitions.back() >= p)
        return Status::InvalidArgument("digest: partitions are not in increasing order");
      r->partitions.push_back(p);
    }
  }
  if (!rd.in.empty()) return Trailing();
  return Status::OK();
}

std::string EncodeRootsReply(const std::vector<uint64_t>& roots) {
  std::string o;
  PutFixed16(&o, static_cast<uint16_t>(roots.size()));
  for (uint64_t v : roots) PutFixed64(&o, v);
  return o;
}

Status DecodeRootsReply(std::string_view in, size_t expect, std::vector<uint64_t>* roots) {
  ByteReader rd{in};
  uint16_t n = 0;
  if (!rd.GetFixed16(&n)) return Short("root count");
  if (n != expect)
    return Status::InvalidArgument("digest: " + std::to_string(n) + " roots for " +
                                   std::to_string(expect) + " partitions");
  roots->assign(n, 0);
  for (uint64_t& v : *roots)
    if (!rd.GetFixed64(&v)) return Short("root");
  if (!rd.in.empty()) return Trailing();
  return Status::OK();
}

std::string EncodeLeavesReply(const std::vector<Leaves>& leaves) {
  std::string o;
  PutFixed16(&o, static_cast<uint16_t>(leaves.size()));
  for (const Leaves& ls : leaves)
    for (uint64_t v : ls) PutFixed64(&o, v);
  return o;
}

Status DecodeLeavesReply(std::string_view in, size_t expect, std::vector<Leaves>* leaves) {
  ByteReader rd{in};
  uint16_t n = 0;
  if (!rd.GetFixed16(&n)) return Short("leaves count");
  if (n != expect)
    return Status::InvalidArgument("digest: leaves of " + std::to_string(n) + " partitions for " +
                                   std::to_string(expect));
  leaves->assign(n, Leaves{});
  for (Leaves& ls : *leaves)
    for (uint64_t& v : ls)
      if (!rd.GetFixed64(&v)) return Short("leaf");
  if (!rd.in.empty()) return Trailing();
  return Status::OK();
}

std::string EncodeKeysReply(const KeyPage& page) {
  std::string o;
  PutFixed8(&o, page.truncated ? 1 : 0);
  PutFixed16(&o, static_cast<uint16_t>(page.next_start_after.size()));
  o += page.next_start_after;
  PutFixed32(&o, static_cast<uint32_t>(page.keys.size()));
  for (const KeyVersion& k : page.keys) {
    PutFixed16(&o, static_cast<uint16_t>(k.key.size()));
    o += k.key;
    PutFixed64(&o, k.version.hlc);
    PutFixed32(&o, k.version.writer);
    PutFixed8(&o, k.deleted ? 1 : 0);
  }
  return o;
}

Status DecodeKeysReply(std::string_view in, uint32_t max_keys, KeyPage* page) {
  ByteReader rd{in};
  *page = KeyPage();
  uint8_t truncated = 0;
  if (!rd.GetFixed8(&truncated)) return Short("truncated");
  if (truncated > 1) return Status::InvalidArgument("digest: truncated is not 0 or 1");
  page->truncated = truncated == 1;
  uint16_t len = 0;
  if (!rd.GetFixed16(&len)) return Short("next_start_after length");
  if (len > kMaxKeyBytes)
    return Status::LimitExceeded("max_key_bytes: next_start_after of " + std::to_string(len) +
                                 " bytes, limit " + std::to_string(kMaxKeyBytes));
  if (!rd.GetBytes(len, &page->next_start_after)) return Short("next_start_after");
  uint32_t n = 0;
  if (!rd.GetFixed32(&n)) return Short("key count");
  if (n > max_keys)
    return Status::LimitExceeded("max_digest_keys: " + std::to_string(n) + " keys, asked for " +
                                 std::to_string(max_keys));
  for (uint32_t i = 0; i < n; i++) {
    KeyVersion k;
    uint16_t kl = 0;
    uint8_t deleted = 0;
    if (!rd.GetFixed16(&kl)) return Short("key length");
    if (kl == 0 || kl > kMaxKeyBytes)
      return Status::InvalidArgument("digest: key length " + std::to_string(kl) +
                                     " is not 1..max_key_bytes");
    if (!rd.GetBytes(kl, &k.key) || !rd.GetFixed64(&k.version.hlc) || !rd.GetFixed32(&k.version.writer) ||
        !rd.GetFixed8(&deleted))
      return Short("key entry");
    if (deleted > 1) return Status::InvalidArgument("digest: deleted is not 0 or 1");
    if (!page->keys.empty() && !(page->keys.back().key < k.key))
      return Status::InvalidArgument("digest: keys are not in increasing order");
    k.deleted = deleted == 1;
    page->keys.push_back(std::move(k));
  }
  if (!rd.in.empty()) return Trailing();
  return Status::OK();
}

}  // namespace cairn::cluster
