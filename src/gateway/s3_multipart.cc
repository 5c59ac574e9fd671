// Multipart uploads: create, upload part (and UploadPartCopy), list parts, list uploads,
// complete, abort, and the cleanup of abandoned uploads (docs/s3.md, "Multipart uploads").
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "gateway/put_body.h"
#include "gateway/s3_internal.h"
#include "gateway/sigv4.h"

namespace cairn::gateway {
namespace {

// The upload record's own pairs (the rest of its metadata is the object's to be).
constexpr std::string_view kUpKey = "upload.key";
constexpr std::string_view kUpOwner = "upload.owner";
// Named bound: ListMultipartUploads reads at most this many upload records of a bucket.
constexpr size_t kMaxUploadScan = 100000;
// Named bound: ListParts answers at most this many parts per page.
constexpr uint32_t kMaxPartsPerPage = 1000;

std::string NewUploadId(int64_t now_s) {
  uint64_t rnd = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&rnd), sizeof(rnd)) != 1)
    rnd = static_cast<uint64_t>(now_s) * 0x9E3779B97F4A7C15ull;
  return fmt::format("{:016x}{:016x}", static_cast<uint64_t>(now_s), rnd);
}

bool ValidUploadId(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool ParseU32(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 9) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  *out = v;
  return true;
}

// Part sizes as runs: "SIZE*COUNT,SIZE" (docs/s3.md).
std::string EncodePartSizes(const std::vector<uint64_t>& sizes) {
  std::string out;
  for (size_t i = 0; i < sizes.size();) {
    size_t j = i;
    while (j < sizes.size() && sizes[j] == sizes[i]) j++;
    if (!out.empty()) out += ",";
    out += std::to_string(sizes[i]);
    if (j - i > 1) out += "*" + std::to_string(j - i);
    i = j;
  }
  return out;
}

struct UploadRecord {
  std::string key;
  std::string owner;
  uint64_t initiated_us = 0;
  ObjectMetadata object_meta;
};

UploadRecord ToUpload(const ObjectInfo& info) {
  UploadRecord u;
  u.initiated_us = info.mtime_us;
  u.object_meta = info.metadata;
  auto k = u.object_meta.system.find(std::string(kUpKey));
  if (k != u.object_meta.system.end()) {
    u.key = k->second;
    u.object_meta.system.erase(k);
  }
  auto o = u.object_meta.system.find(std::string(kUpOwner));
  if (o != u.object_meta.system.end()) {
    u.owner = o->second;
    u.object_meta.system.erase(o);
  }
  return u;
}

// A value source over the parts of an upload, read one after another (the fallback of a store
// that cannot compose records).
class PartsSource final : public ValueSource {
 public:
  PartsSource(ObjectStore* store, std::vector<std::string> keys) : store_(store), keys_(std::move(keys)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    for (;;) {
      if (cur_ == nullptr) {
        if (next_ == keys_.size()) return size_t{0};
        CAIRN_ASSIGN_OR_RETURN(cur_, store_->OpenReader(keys_[next_++]));
      }
      CAIRN_ASSIGN_OR_RETURN(size_t got, cur_->Read(buf, n));
      if (got > 0) return got;
      cur_.reset();
    }
  }

 private:
  ObjectStore* store_;
  std::vector<std::string> keys_;
  size_t next_ = 0;
  std::unique_ptr<ObjectReader> cur_;
};

// A part copied from a range of another object, with its MD5 computed as it passes.
class RangeCopySource final : public ValueSource {
 public:
  explicit RangeCopySource(ObjectReader* r) : r_(r), md5_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(md5_, EVP_md5(), nullptr);
  }
  ~RangeCopySource() override { EVP_MD_CTX_free(md5_); }
  Result<size_t> Read(char* buf, size_t n) override {
    Result<size_t> got = r_->Read(buf, n);
    if (got.ok() && *got > 0) EVP_DigestUpdate(md5_, buf, *got);
    if (got.ok() && *got == 0 && !done_) {
      unsigned char md[16];
      unsigned int k = 0;
      EVP_DigestFinal_ex(md5_, md, &k);
      meta_.md5.assign(reinterpret_cast<char*>(md), 16);
      done_ = true;
    }
    return got;
  }
  const ObjectMetadata* FinalMetadata() override { return done_ ? &meta_ : nullptr; }
  const std::string& md5() const { return meta_.md5; }

 private:
  ObjectReader* r_;
  EVP_MD_CTX* md5_;
  ObjectMetadata meta_;
  bool done_ = false;
};

}  // namespace

awaitable<Outcome> Gateway::Impl::CreateUpload(HttpExchange& ex, Request& r) {
  Outcome a = co_await Authorize(ex, r, r.bucket);
  if (a) co_return a;
  if (Outcome h = CheckObjectWriteHeaders(ex.headers()); h) co_return h;
  if (r.key.size() > MaxS3KeyBytes(r.bucket, o_.service.max_key_bytes))
    co_return S3Error::Make("KeyTooLongError");
  WriteOptions wo;
  if (Status s = MetadataFromHeaders(ex.headers(), &wo.metadata); !s.ok()) co_return FromStatus(s);
  wo.metadata.system[std::string(kUpKey)] = r.key;
  wo.metadata.system[std::string(kUpOwner)] = r.access_key;
  const std::string id = NewUploadId(r.now_s);
  const std::string rk = UploadRecordKey(r.bucket, id);
  Result<WriteResult> w = co_await Blocking(ex, [&] { return store_->Put(rk, "", wo); });
  if (!w.ok()) co_return FromStatus(w.status());
  XmlWriter x("InitiateMultipartUploadResult");
  x.Leaf("Bucket", r.bucket);
  x.Leaf("Key", r.key);
  x.Leaf("UploadId", id);
  co_await SendXml(ex, r, 200, x.Finish());
  co_return std::nullopt;
}

namespace {
S3Error NoSuchUpload(std::string_view id) {
  S3Error e = S3Error::Make("NoSuchUpload");
  e.extra_xml = "<UploadId>" + XmlEscape(id) + "</UploadId>";
  return e;
}
}  // namespace

awaitable<Outcome> Gateway::Impl::UploadPart(HttpExchange& ex, Request& r) {
  Outcome a = co_await Authorize(ex, r, r.bucket);
  if (a) co_return a;
  const std::string* id = r.Q("uploadId");
  const std::string* pn = r.Q("partNumber");
  if (id == nullptr || pn == nullptr)
    co_return S3Error::Make("InvalidRequest", "UploadPart needs both uploadId and partNumber");
  uint32_t part = 0;
  if (!ParseU32(*pn, &part) || part < 1 || part > o_.max_parts)
    co_return S3Error::Make("InvalidArgument",
                            fmt::format("Part number must be an integer between 1 and {}, inclusive",
                                        o_.max_parts));
  if (!ValidUploadId(*id)) co_return NoSuchUpload(*id);
  const std::string rk = UploadRecordKey(r.bucket, *id);
  Result<ObjectInfo> up = co_await Blocking(ex, [&] { return store_->Head(rk); });
  if (!up.ok()) co_return up.status().IsNotFound() ? NoSuchUpload(*id) : FromStatus(up.status());
  if (ToUpload(*up).key != r.key) co_return NoSuchUpload(*id);
  const std::string pk = PartKey(*id, part);
  if (!HeaderOr(ex.headers(), "x-amz-copy-source").empty()) {
    // UploadPartCopy: a range of another object becomes the part.
    std::string sb, skey;
    Outcome cs = co_await ParseCopySource(ex, r, &sb, &skey);
    if (cs) co_return cs;
    const std::string src_key = ObjectStoreKey(sb, skey);
    Result<ObjectInfo> si = co_await Blocking(ex, [&] { return svc_.Head(src_key); });
    if (!si.ok()) co_return FromStatus(si.status());
    ByteRange range;
    if (std::string_view cr = HeaderOr(ex.headers(), "x-amz-copy-source-range"); !cr.empty()) {
      // bytes=first-last, both given, inside the object.
      uint64_t f = 0, l = 0;
      size_t dash = cr.find('-');
      auto num = [](std::string_view s, uint64_t* o) {
        if (s.empty() || s.size() > 19) return false;
        *o = 0;
        for (char c : s) {
          if (c < '0' || c > '9') return false;
          *o = *o * 10 + static_cast<uint64_t>(c - '0');
        }
        return true;
      };
      if (!cr.starts_with("bytes=") || dash == std::string_view::npos ||
          !num(cr.substr(6, dash - 6), &f) || !num(cr.substr(dash + 1), &l) || l < f)
        co_return S3Error::Make("InvalidArgument",
                                "The x-amz-copy-source-range value must be of the form "
                                "bytes=first-last where first and last are the zero-based offsets "
                                "of the first and last bytes to copy");
      if (l >= si->size) co_return S3Error::Make("InvalidRange");
      range.offset = f;
      range.length = l - f + 1;
    }
    const uint64_t len = std::min(range.length, si->size - std::min(range.offset, si->size));
    if (len > o_.max_part_bytes) co_return S3Error::Make("EntityTooLarge");
    Result<std::unique_ptr<ObjectReader>> rd =
        co_await Blocking(ex, [&] { return store_->OpenReader(src_key, range); });
    if (!rd.ok()) co_return FromStatus(rd.status());
    if ((*rd)->info().version != si->version)
      co_return S3Error::Make("InternalError", "the source changed while it was being copied; retry");
    if (unsigned c = 0; c == 0) {
      // Copy conditions on the source.
      const http::fields& h = ex.headers();
      const std::string etag = ETagOf(*si);
      std::string_view im = HeaderOr(h, "x-amz-copy-source-if-match");
      std::string_view inm = HeaderOr(h, "x-amz-copy-source-if-none-match");
      if ((!im.empty() && UnquoteETag(im) != etag) || (!inm.empty() && UnquoteETag(inm) == etag))
        co_return S3Error::Make("PreconditionFailed");
    }
    // The copy can take minutes: AnswerWhenDone keeps the client's connection alive meanwhile.
    std::shared_ptr<ObjectReader> reader(std::move(*rd));
    // A named function: a temporary in the co_await below would be destroyed twice (g++ 12).
    LongWorkFn work =
        [this, reader, pk, src_key, range, version = si->version,
         now_s = r.now_s]() -> std::variant<std::string, S3Error> {
          RangeCopySource src(reader.get());
          WriteOptions wo;
          wo.metadata.md5.assign(16, '\0');
          if (!o_.spool_dir.empty()) {
            // A store that takes metadata first: the MD5 from a first pass over the range.
            Result<std::string> md5 = Md5Of(src_key, range, version);
            if (!md5.ok()) return FromStatus(md5.status());
            wo.metadata.md5 = *md5;
          }
          Result<WriteResult> w = svc_.PutStream(pk, &src, wo);
          if (!w.ok()) return FromStatus(w.status());
          const std::string part_md5 = o_.spool_dir.empty() ? src.md5() : wo.metadata.md5;
          XmlWriter x("CopyPartResult");
          x.Leaf("LastModified", FormatIso8601(static_cast<int64_t>(now_s) * 1000000));
          x.Leaf("ETag", "\"" + Hex(part_md5) + "\"");
          return x.Finish();
        };
    co_return co_await AnswerWhenDone(ex, r, std::move(work));
  }
  Result<Stored> st = co_await StoreBody(ex, r, pk, WriteOptions(), o_.max_part_bytes, "max_part_bytes");
  if (!st.ok()) co_return FromStatus(st.status());
  http::fields h = st->echo;
  h.set(http::field::etag, "\"" + st->etag + "\"");
  co_await SendEmpty(ex, r, 200, std::move(h));
  co_return std::nullopt;
}

awaitable<Outcome> Gateway::Impl::ListParts(HttpExchange& ex, Request& r) {
  Outcome a = co_await Authorize(ex, r, r.bucket);
  if (a) co_return a;
  const std::string id = *r.Q("uploadId");
  if (!ValidUploadId(id)) co_return NoSuchUpload(id);
  uint32_t marker = 0, max_parts = kMaxPartsPerPage;
  if (const std::string* m = r.Q("part-number-marker"); m != nullptr && !m->empty()) {
    if (!ParseU32(*m, &marker)) co_return S3Error::Make("InvalidArgument", "bad part-number-marker");
  }
  if (const std::string* m = r.Q("max-parts"); m != nullptr) {
    if (!ParseU32(*m, &max_parts)) co_return S3Error::Make("InvalidArgument", "bad max-parts");
    max_parts = std::min(max_parts, kMaxPartsPerPage);
  }
  const std::string rk = UploadRecordKey(r.bucket, id);
  Result<ObjectInfo> up = co_await Blocking(ex, [&] { return store_->Head(rk); });
  if (!up.ok()) co_return up.status().IsNotFound() ? NoSuchUpload(id) : FromStatus(up.status());
  UploadRecord u = ToUpload(*up);
  if (u.key != r.key) co_return NoSuchUpload(id);
  ListResult l;
  if (max_parts > 0) {
    ListOptions lo;
    lo.prefix = PartKey(id, 0).substr(0, PartKey(id, 0).size() - 5);
    if (marker > 0) lo.start_after = PartKey(id, marker);
    lo.limit = max_parts;
    Result<ListResult> got = co_await Blocking(ex, [&] { return store_->List(lo); });
    if (!got.ok()) co_return FromStatus(got.status());
    l = std::move(*got);
  }
  XmlWriter x("ListPartsResult");
  x.Leaf("Bucket", r.bucket);
  x.Leaf("Key", r.key);
  x.Leaf("UploadId", id);
  x.Open("Initiator");
  x.Leaf("ID", u.owner);
  x.Leaf("DisplayName", u.owner);
  x.Close();
  x.Open("Owner");
  x.Leaf("ID", u.owner);
  x.Leaf("DisplayName", u.owner);
  x.Close();
  x.Leaf("StorageClass", "STANDARD");
  x.Leaf("PartNumberMarker", marker);
  uint32_t last = marker;
  std::string parts_xml;
  for (const ObjectInfo& o : l.objects) {
    uint32_t n = 0;
    (void)ParseU32(std::string_view(o.key).substr(o.key.size() - 5), &n);
    last = n;
  }
  if (l.truncated) x.Leaf("NextPartNumberMarker", last);
  x.Leaf("MaxParts", max_parts);
  x.Bool("IsTruncated", l.truncated);
  for (const ObjectInfo& o : l.objects) {
    uint32_t n = 0;
    (void)ParseU32(std::string_view(o.key).substr(o.key.size() - 5), &n);
    x.Open("Part");
    x.Leaf("PartNumber", n);
    x.Leaf("LastModified", FormatIso8601(static_cast<int64_t>(o.mtime_us)));
    x.Leaf("ETag", "\"" + ETagOf(o) + "\"");
    x.Leaf("Size", o.size);
    x.Close();
  }
  co_await SendXml(ex, r, 200, x.Finish());
  co_return std::nullopt;
}

awaitable<Outcome> Gateway::Impl::ListUploads(HttpExchange& ex, Request& r) {
  // Authorized by BucketRequest.
  std::string prefix, delimiter, key_marker, id_marker, encoding;
  if (const std::string* v = r.Q("prefix")) prefix = *v;
  if (const std::string* v = r.Q("delimiter")) delimiter = *v;
  if (const std::string* v = r.Q("key-marker")) key_marker = *v;
  if (const std::string* v = r.Q("upload-id-marker")) id_marker = *v;
  if (const std::string* v = r.Q("encoding-type")) {
    encoding = *v;
    if (encoding != "url")
      co_return S3Error::Make("InvalidArgument", "Invalid Encoding Method specified in Request");
  }
  uint32_t max_uploads = 1000;
  if (const std::string* v = r.Q("max-uploads"); v != nullptr) {
    if (!ParseU32(*v, &max_uploads)) co_return S3Error::Make("InvalidArgument", "bad max-uploads");
    max_uploads = std::min<uint32_t>(max_uploads, 1000);
  }
  const bool url = encoding == "url";
  auto enc = [&](std::string_view s) { return url ? UriEncode(s, true) : std::string(s); };
  struct Up {
    std::string key, id, owner;
    uint64_t initiated_us;
  };
  std::vector<Up> ups;
  ListOptions lo;
  lo.prefix = std::string(kUploadPrefix) + r.bucket + "/";
  lo.limit = kMaxListLimit;
  for (;;) {
    Result<ListResult> l = co_await Blocking(ex, [&] { return store_->List(lo); });
    if (!l.ok()) co_return FromStatus(l.status());
    for (const ObjectInfo& o : l->objects) {
      UploadRecord u = ToUpload(o);
      if (!u.key.starts_with(prefix)) continue;
      ups.push_back(Up{u.key, o.key.substr(lo.prefix.size()), u.owner, o.mtime_us});
    }
    if (!l->truncated || ups.size() >= kMaxUploadScan) break;
    lo.start_after = l->next_start_after;
  }
  std::sort(ups.begin(), ups.end(), [](const Up& a, const Up& b) {
    return std::tie(a.key, a.initiated_us, a.id) < std::tie(b.key, b.initiated_us, b.id);
  });
  XmlWriter x("ListMultipartUploadsResult");
  x.Leaf("Bucket", r.bucket);
  x.Leaf("KeyMarker", enc(key_marker));
  x.Leaf("UploadIdMarker", id_marker);
  std::vector<const Up*> out;
  std::vector<std::string> prefixes;
  bool truncated = false;
  for (const Up& u : ups) {
    if (!key_marker.empty()) {
      if (u.key < key_marker) continue;
      if (u.key == key_marker && (id_marker.empty() || u.id <= id_marker)) continue;
    }
    if (!delimiter.empty()) {
      size_t d = u.key.find(delimiter, prefix.size());
      if (d != std::string::npos) {
        std::string cp = u.key.substr(0, d + delimiter.size());
        if (!prefixes.empty() && prefixes.back() == cp) continue;
        if (out.size() + prefixes.size() == max_uploads) {
          truncated = true;
          break;
        }
        prefixes.push_back(cp);
        continue;
      }
    }
    if (out.size() + prefixes.size() == max_uploads) {
      truncated = true;
      break;
    }
    out.push_back(&u);
  }
  if (truncated && !out.empty()) {
    x.Leaf("NextKeyMarker", enc(out.back()->key));
    x.Leaf("NextUploadIdMarker", out.back()->id);
  }
  if (!delimiter.empty()) x.Leaf("Delimiter", enc(delimiter));
  x.Leaf("Prefix", enc(prefix));
  x.Leaf("MaxUploads", max_uploads);
  if (url) x.Leaf("EncodingType", "url");
  x.Bool("IsTruncated", truncated);
  for (const Up* u : out) {
    x.Open("Upload");
    x.Leaf("Key", enc(u->key));
    x.Leaf("UploadId", u->id);
    x.Open("Initiator");
    x.Leaf("ID", u->owner);
    x.Leaf("DisplayName", u->owner);
    x.Close();
    x.Open("Owner");
    x.Leaf("ID", u->owner);
    x.Leaf("DisplayName", u->owner);
    x.Close();
    x.Leaf("StorageClass", "STANDARD");
    x.Leaf("Initiated", FormatIso8601(static_cast<int64_t>(u->initiated_us)));
    x.Close();
  }
  for (const std::string& p : prefixes) {
    x.Open("CommonPrefixes");
    x.Leaf("Prefix", enc(p));
    x.Close();
  }
  co_await SendXml(ex, r, 200, x.Finish());
  co_return std::nullopt;
}

awaitable<Outcome> Gateway::Impl::CompleteUpload(HttpExchange& ex, Request& r) {
  Outcome a = co_await Authorize(ex, r, r.bucket);
  if (a) co_return a;
  const std::string id = *r.Q("uploadId");
  if (!ValidUploadId(id)) co_return NoSuchUpload(id);
  const std::string rk = UploadRecordKey(r.bucket, id);
  Result<ObjectInfo> up = co_await Blocking(ex, [&] { return store_->Head(rk); });
  if (!up.ok()) co_return up.status().IsNotFound() ? NoSuchUpload(id) : FromStatus(up.status());
  UploadRecord u = ToUpload(*up);
  if (u.key != r.key) co_return NoSuchUpload(id);
  // x-amz-checksum-* on Complete is the whole object's (checked below), not the XML's.
  Result<std::string> body = co_await ReadSmallBody(ex, r, o_.max_xml_body_bytes, "max_xml_body_bytes",
                                                    /*checksum_headers=*/false);
  if (!body.ok()) co_return FromStatus(body.status());
  Result<std::unique_ptr<XmlNode>> doc = ParseXml(*body);
  if (!doc.ok()) co_return FromStatus(doc.status());
  if ((*doc)->name != "CompleteMultipartUpload")
    co_return S3Error::Make("MalformedXML", "the body is not a CompleteMultipartUpload");
  std::vector<const XmlNode*> parts = (*doc)->Children("Part");
  if (parts.empty())
    co_return S3Error::Make("MalformedXML", "You must specify at least one part");
  if (parts.size() > o_.max_parts) co_return S3Error::Make("MalformedXML", "too many parts");
  std::vector<std::pair<uint32_t, std::string>> want;  // part number, ETag
  for (const XmlNode* p : parts) {
    const XmlNode* n = p->Child("PartNumber");
    const XmlNode* e = p->Child("ETag");
    uint32_t num = 0;
    if (n == nullptr || e == nullptr || !ParseU32(n->text, &num) || num < 1 || num > o_.max_parts)
      co_return S3Error::Make("MalformedXML", "each Part needs a PartNumber (1 to 10000) and an ETag");
    if (!want.empty() && num <= want.back().first) co_return S3Error::Make("InvalidPartOrder");
    want.emplace_back(num, UnquoteETag(e->text));
  }
  // Check every part (exists, ETag, size) and compute the multipart ETag.
  std::vector<std::string> keys;
  std::vector<uint64_t> sizes;
  std::string md5s;
  Outcome bad = co_await Blocking(ex, [&]() -> Outcome {
    for (size_t i = 0; i < want.size(); i++) {
      const std::string pk = PartKey(id, want[i].first);
      Result<ObjectInfo> pi = store_->Head(pk);
      if (!pi.ok()) {
        if (!pi.status().IsNotFound()) return FromStatus(pi.status());
        S3Error e = S3Error::Make("InvalidPart");
        e.message = fmt::format("part {} was not uploaded", want[i].first);
        return e;
      }
      if (ETagOf(*pi) != want[i].second) {
        S3Error e = S3Error::Make("InvalidPart");
        e.message = fmt::format("the ETag of part {} is not the one given", want[i].first);
        return e;
      }
      if (i + 1 < want.size() && pi->size < o_.min_part_bytes) {
        S3Error e = S3Error::Make("EntityTooSmall");
        e.message = fmt::format("min_part_bytes: part {} is {} bytes; every part but the last is "
                                "at least {} bytes",
                                want[i].first, pi->size, o_.min_part_bytes);
        return e;
      }
      md5s += pi->metadata.md5;
      keys.push_back(pk);
      sizes.push_back(pi->size);
    }
    return std::nullopt;
  });
  if (bad) co_return bad;
  std::string etag = Hex(Sha256(""));  // replaced below
  {
    unsigned char md[16];
    unsigned int k = 0;
    EVP_Digest(md5s.data(), md5s.size(), md, &k, EVP_md5(), nullptr);
    etag = Hex(std::string_view(reinterpret_cast<char*>(md), 16)) + "-" + std::to_string(want.size());
  }
  WriteOptions wo;
  wo.metadata = u.object_meta;
  wo.metadata.system["etag"] = etag;
  std::string runs = EncodePartSizes(sizes);
  ObjectMetadata with_parts = wo.metadata;
  with_parts.system["parts"] = runs;
  // The part sizes (for GetObject?partNumber) are kept when they fit the metadata bound.
  if (with_parts.EncodedSize() <= o_.service.max_meta_bytes) wo.metadata = std::move(with_parts);
  if (UnquoteETag(HeaderOr(ex.headers(), "if-none-match")) == "*")
    wo.condition = WriteCondition::kIfNoneMatch;
  const std::string sk = ObjectStoreKey(r.bucket, r.key);
  std::string location = "/" + r.bucket + "/" + UriEncode(r.key, true);
  // A checksum of the whole object (x-amz-checksum-crc32, -crc32c or -crc64nvme, FULL_OBJECT)
  // is checked over the parts' bytes before the object is made. What is not checked here (a
  // COMPOSITE "...-N" value, SHA-1 or SHA-256 of the whole) is refused, not dropped.
  std::string checksum_alg, checksum_expected;
  for (std::string_view alg : {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"}) {
    const std::string name = "x-amz-checksum-" + std::string(alg);
    std::string_view v = HeaderOr(ex.headers(), name);
    if (v.empty()) continue;
    if (!checksum_alg.empty())
      co_return S3Error::Make("InvalidRequest", "expecting a single x-amz-checksum- header");
    std::unique_ptr<CrcChecksum> probe = CrcChecksum::Make(alg);
    if (probe == nullptr || v.find('-') != std::string_view::npos ||
        HeaderOr(ex.headers(), "x-amz-checksum-type", "FULL_OBJECT") != "FULL_OBJECT")
      co_return S3Error::Make("NotImplemented",
                              name + ": only a whole-object (FULL_OBJECT) CRC is checked on "
                                     "CompleteMultipartUpload");
    if (!Unbase64(v, &checksum_expected) || checksum_expected.size() != probe->Value().size())
      co_return S3Error::Make("InvalidRequest", "value for " + name + " header is invalid");
    checksum_alg = alg;
  }
  // Assemble: the store makes one object of the parts' records where it can (no bytes copied);
  // otherwise the parts are streamed into a new object. That can take minutes: AnswerWhenDone
  // keeps the client's connection alive meanwhile, as S3 does.
  // A named function: a temporary in the co_await below would be destroyed twice (g++ 12).
  LongWorkFn work =
      [this, sk, keys = std::move(keys), wo = std::move(wo), bucket = r.bucket, key = r.key, id,
       etag, location = std::move(location), checksum_alg,
       checksum_expected]() -> std::variant<std::string, S3Error> {
        if (!checksum_alg.empty()) {
          // One pass over the parts first: the object is made only if they are what was sent.
          std::unique_ptr<CrcChecksum> c = CrcChecksum::Make(checksum_alg);
          PartsSource all(store_, keys);
          std::string buf(1 << 20, '\0');
          for (;;) {
            Result<size_t> n = all.Read(buf.data(), buf.size());
            if (!n.ok()) return FromStatus(n.status());
            if (*n == 0) break;
            c->Update(buf.data(), *n);
          }
          if (c->Value() != checksum_expected)
            return S3Error::Make("BadDigest", "the x-amz-checksum-" + checksum_alg +
                                                  " you specified did not match the calculated "
                                                  "checksum of the object");
        }
        Result<WriteResult> w = store_->Compose(sk, keys, wo);
        if (w.status().IsNotSupported()) {
          PartsSource src(store_, keys);
          w = svc_.PutStream(sk, &src, wo);
        }
        if (!w.ok()) {
          if (w.status().IsConflict()) return S3Error::Make("PreconditionFailed");
          return FromStatus(w.status());
        }
        Status rm = RemoveUpload(bucket, id);
        (void)rm;  // leftovers are removed by the cleanup of abandoned uploads
        XmlWriter x("CompleteMultipartUploadResult");
        x.Leaf("Location", location);
        x.Leaf("Bucket", bucket);
        x.Leaf("Key", key);
        x.Leaf("ETag", "\"" + etag + "\"");
        if (!checksum_alg.empty()) {
          std::string element = "Checksum";
          for (char ch : checksum_alg)
            element += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
          x.Leaf(element, Base64(checksum_expected));
          x.Leaf("ChecksumType", "FULL_OBJECT");
        }
        return x.Finish();
      };
  co_return co_await AnswerWhenDone(ex, r, std::move(work));
}

awaitable<Outcome> Gateway::Impl::AbortUpload(HttpExchange& ex, Request& r) {
  Outcome a = co_await Authorize(ex, r, r.bucket);
  if (a) co_return a;
  const std::string id = *r.Q("uploadId");
  if (!ValidUploadId(id)) co_return NoSuchUpload(id);
  const std::string rk = UploadRecordKey(r.bucket, id);
  Result<ObjectInfo> up = co_await Blocking(ex, [&] { return store_->Head(rk); });
  if (!up.ok()) co_return up.status().IsNotFound() ? NoSuchUpload(id) : FromStatus(up.status());
  if (ToUpload(*up).key != r.key) co_return NoSuchUpload(id);
  Status s = co_await Blocking(ex, [&] { return RemoveUpload(r.bucket, id); });
  if (!s.ok()) co_return FromStatus(s);
  co_await SendEmpty(ex, r, 204);
  co_return std::nullopt;
}

Status Gateway::Impl::RemoveUpload(std::string_view bucket, std::string_view upload_id) {
  // The record first: from then on the upload is gone for every request, and parts left by a
  // crash here are found by the cleanup (it lists parts without a record too).
  Result<WriteResult> d = store_->Delete(UploadRecordKey(bucket, upload_id));
  if (!d.ok() && !d.status().IsNotFound()) return d.status();
  ListOptions lo;
  lo.prefix = std::string(kPartPrefix) + std::string(upload_id) + "/";
  lo.limit = kMaxListLimit;
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(ListResult l, store_->List(lo));
    for (const ObjectInfo& o : l.objects) {
      Result<WriteResult> pd = store_->Delete(o.key);
      if (!pd.ok() && !pd.status().IsNotFound()) return pd.status();
    }
    if (!l.truncated) break;
    lo.start_after = l.next_start_after;
  }
  return Status::OK();
}

Result<uint64_t> Gateway::Impl::CleanAbandonedUploads(int64_t now_s) {
  const uint64_t cutoff_us =
      now_s > static_cast<int64_t>(o_.upload_max_age_s)
          ? static_cast<uint64_t>(now_s - static_cast<int64_t>(o_.upload_max_age_s)) * 1000000
          : 0;
  uint64_t removed = 0;
  std::map<std::string, bool> live_ids;  // upload ids with a record (young or old)
  ListOptions lo;
  lo.prefix = std::string(kUploadPrefix);
  lo.limit = kMaxListLimit;
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(ListResult l, store_->List(lo));
    for (const ObjectInfo& o : l.objects) {
      std::string_view rest = std::string_view(o.key).substr(kUploadPrefix.size());
      size_t slash = rest.rfind('/');
      if (slash == std::string_view::npos) continue;
      std::string bucket(rest.substr(0, slash)), id(rest.substr(slash + 1));
      if (o.mtime_us < cutoff_us) {
        CAIRN_RETURN_IF_ERROR(RemoveUpload(bucket, id));
        removed++;
      } else {
        live_ids[id] = true;
      }
    }
    if (!l.truncated) break;
    lo.start_after = l.next_start_after;
  }
  // Parts whose upload has no record (a crash between removing the record and its parts, or a
  // completed upload whose cleanup was cut short), once old enough.
  ListOptions po;
  po.prefix = std::string(kPartPrefix);
  po.limit = kMaxListLimit;
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(ListResult l, store_->List(po));
    for (const ObjectInfo& o : l.objects) {
      std::string_view rest = std::string_view(o.key).substr(kPartPrefix.size());
      std::string id(rest.substr(0, rest.find('/')));
      if (live_ids.count(id) == 0 && o.mtime_us < cutoff_us) {
        Result<WriteResult> d = store_->Delete(o.key);
        if (!d.ok() && !d.status().IsNotFound()) return d.status();
      }
    }
    if (!l.truncated) break;
    po.start_after = l.next_start_after;
  }
  counters_.uploads_cleaned.fetch_add(removed, std::memory_order_relaxed);
  return removed;
}

}  // namespace cairn::gateway
