// Listings from the ordered index: ListObjects V1 and V2, ListObjectVersions (an unversioned
// bucket: every object is version "null"). docs/s3.md, "Listing".
#include <fmt/format.h>

#include <algorithm>

#include "gateway/s3_internal.h"
#include "gateway/sigv4.h"

namespace cairn::gateway {
namespace {

// S3 answers at most 1000 keys per page whatever max-keys asks for.
constexpr uint32_t kMaxKeysPerPage = 1000;

Status ParseMaxKeys(const Request& r, std::string_view name, uint32_t* out) {
  *out = kMaxKeysPerPage;
  const std::string* v = r.Q(name);
  if (v == nullptr) return Status::OK();
  if (v->empty() || v->size() > 10 ||
      !std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '9'; }))
    return Status::InvalidArgument("InvalidArgument: " + std::string(name) +
                                   " must be a non-negative integer");
  *out = static_cast<uint32_t>(std::min<uint64_t>(std::stoull(*v), kMaxKeysPerPage));
  return Status::OK();
}

}  // namespace

awaitable<Outcome> Gateway::Impl::ListObjects(HttpExchange& ex, Request& r, int version) {
  // Authorized by BucketRequest.
  std::string prefix, delimiter, after, encoding, token;
  if (const std::string* v = r.Q("prefix")) prefix = *v;
  if (const std::string* v = r.Q("delimiter")) delimiter = *v;
  if (const std::string* v = r.Q("encoding-type")) {
    encoding = *v;
    if (encoding != "url")
      co_return S3Error::Make("InvalidArgument", "Invalid Encoding Method specified in Request");
  }
  uint32_t max_keys = 0;
  if (Status s = ParseMaxKeys(r, "max-keys", &max_keys); !s.ok()) co_return FromStatus(s);
  const bool url = encoding == "url";
  auto enc = [&](std::string_view s) { return url ? UriEncode(s, /*keep_slash=*/true) : std::string(s); };
  std::string start_after_param;
  bool fetch_owner = false;
  if (version == 1) {
    if (const std::string* v = r.Q("marker")) after = *v;
  } else {
    if (const std::string* v = r.Q("start-after")) start_after_param = *v;
    after = start_after_param;
    if (const std::string* v = r.Q("continuation-token")) {
      token = *v;
      std::string decoded;
      if (token.empty() || !Unbase64(token, &decoded))
        co_return S3Error::Make("InvalidArgument", "The continuation token provided is incorrect");
      after = std::max(after, decoded);
    }
    if (const std::string* v = r.Q("fetch-owner")) fetch_owner = *v == "true";
  }
  const size_t max_key = MaxS3KeyBytes(r.bucket, o_.service.max_key_bytes);
  ListResult l;
  if (max_keys > 0 && prefix.size() <= max_key && delimiter.size() <= max_key &&
      after.size() <= max_key) {
    ListOptions lo;
    const std::string base = r.bucket + "/";
    lo.prefix = base + prefix;
    lo.delimiter = delimiter;
    if (!after.empty()) lo.start_after = base + after;
    lo.limit = max_keys;
    Result<ListResult> got = co_await Blocking(ex, [&] { return svc_.List(lo); });
    if (!got.ok()) co_return FromStatus(got.status());
    l = std::move(*got);
    for (ObjectInfo& o : l.objects) o.key.erase(0, base.size());
    for (std::string& p : l.common_prefixes) p.erase(0, base.size());
    if (!l.next_start_after.empty()) l.next_start_after.erase(0, base.size());
  }
  XmlWriter w("ListBucketResult");
  w.Leaf("Name", r.bucket);
  w.Leaf("Prefix", enc(prefix));
  if (version == 1) {
    w.Leaf("Marker", enc(after));
    if (l.truncated && !delimiter.empty()) w.Leaf("NextMarker", enc(l.next_start_after));
  } else {
    if (!start_after_param.empty()) w.Leaf("StartAfter", enc(start_after_param));
    if (!token.empty()) w.Leaf("ContinuationToken", token);
    if (l.truncated) w.Leaf("NextContinuationToken", Base64(l.next_start_after));
    w.Leaf("KeyCount", l.objects.size() + l.common_prefixes.size());
  }
  w.Leaf("MaxKeys", max_keys);
  if (!delimiter.empty()) w.Leaf("Delimiter", enc(delimiter));
  if (url) w.Leaf("EncodingType", "url");
  w.Bool("IsTruncated", l.truncated);
  for (const ObjectInfo& o : l.objects) {
    w.Open("Contents");
    w.Leaf("Key", enc(o.key));
    w.Leaf("LastModified", FormatIso8601(static_cast<int64_t>(o.mtime_us)));
    w.Leaf("ETag", "\"" + ETagOf(o) + "\"");
    w.Leaf("Size", o.size);
    if (version == 1 || fetch_owner) {
      w.Open("Owner");
      w.Leaf("ID", r.access_key);
      w.Leaf("DisplayName", r.access_key);
      w.Close();
    }
    w.Leaf("StorageClass", "STANDARD");
    w.Close();
  }
  for (const std::string& p : l.common_prefixes) {
    w.Open("CommonPrefixes");
    w.Leaf("Prefix", enc(p));
    w.Close();
  }
  co_await SendXml(ex, r, 200, w.Finish());
  co_return std::nullopt;
}

awaitable<Outcome> Gateway::Impl::ListObjectVersions(HttpExchange& ex, Request& r) {
  std::string prefix, delimiter, after, encoding, vmarker;
  if (const std::string* v = r.Q("prefix")) prefix = *v;
  if (const std::string* v = r.Q("delimiter")) delimiter = *v;
  if (const std::string* v = r.Q("key-marker")) after = *v;
  if (const std::string* v = r.Q("version-id-marker")) vmarker = *v;
  if (const std::string* v = r.Q("encoding-type")) {
    encoding = *v;
    if (encoding != "url")
      co_return S3Error::Make("InvalidArgument", "Invalid Encoding Method specified in Request");
  }
  if (!vmarker.empty() && after.empty())
    co_return S3Error::Make("InvalidArgument",
                            "A version-id marker cannot be specified without a key marker.");
  if (!vmarker.empty() && vmarker != "null")
    co_return S3Error::Make("InvalidArgument", "Invalid version id specified");
  uint32_t max_keys = 0;
  if (Status s = ParseMaxKeys(r, "max-keys", &max_keys); !s.ok()) co_return FromStatus(s);
  const bool url = encoding == "url";
  auto enc = [&](std::string_view s) { return url ? UriEncode(s, true) : std::string(s); };
  const size_t max_key = MaxS3KeyBytes(r.bucket, o_.service.max_key_bytes);
  ListResult l;
  if (max_keys > 0 && prefix.size() <= max_key && after.size() <= max_key) {
    ListOptions lo;
    const std::string base = r.bucket + "/";
    lo.prefix = base + prefix;
    lo.delimiter = delimiter;
    if (!after.empty()) lo.start_after = base + after;
    lo.limit = max_keys;
    Result<ListResult> got = co_await Blocking(ex, [&] { return svc_.List(lo); });
    if (!got.ok()) co_return FromStatus(got.status());
    l = std::move(*got);
    for (ObjectInfo& o : l.objects) o.key.erase(0, base.size());
    for (std::string& p : l.common_prefixes) p.erase(0, base.size());
    if (!l.next_start_after.empty()) l.next_start_after.erase(0, base.size());
  }
  XmlWriter w("ListVersionsResult");
  w.Leaf("Name", r.bucket);
  w.Leaf("Prefix", enc(prefix));
  w.Leaf("KeyMarker", enc(after));
  w.Leaf("VersionIdMarker", vmarker);
  if (l.truncated) {
    w.Leaf("NextKeyMarker", enc(l.next_start_after));
    w.Leaf("NextVersionIdMarker", "null");
  }
  w.Leaf("MaxKeys", max_keys);
  if (!delimiter.empty()) w.Leaf("Delimiter", enc(delimiter));
  if (url) w.Leaf("EncodingType", "url");
  w.Bool("IsTruncated", l.truncated);
  for (const ObjectInfo& o : l.objects) {
    w.Open("Version");
    w.Leaf("Key", enc(o.key));
    w.Leaf("VersionId", "null");
    w.Bool("IsLatest", true);
    w.Leaf("LastModified", FormatIso8601(static_cast<int64_t>(o.mtime_us)));
    w.Leaf("ETag", "\"" + ETagOf(o) + "\"");
    w.Leaf("Size", o.size);
    w.Open("Owner");
    w.Leaf("ID", r.access_key);
    w.Leaf("DisplayName", r.access_key);
    w.Close();
    w.Leaf("StorageClass", "STANDARD");
    w.Close();
  }
  for (const std::string& p : l.common_prefixes) {
    w.Open("CommonPrefixes");
    w.Leaf("Prefix", enc(p));
    w.Close();
  }
  co_await SendXml(ex, r, 200, w.Finish());
  co_return std::nullopt;
}

}  // namespace cairn::gateway
