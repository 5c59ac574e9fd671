// The gateway's internals, shared by its source files (s3_gateway.cc: routing, buckets, auth;
// s3_objects.cc; s3_list.cc; s3_multipart.cc). Not a public header.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <functional>
#include <utility>
#include <variant>
#include <vector>

#include "gateway/s3_errors.h"
#include "gateway/s3_gateway.h"
#include "gateway/s3_xml.h"
#include "net/blocking.h"
#include "ops/op_metrics.h"

// CAIRN_RETURN_IF_ERROR for coroutines.
#define CAIRN_CO_RETURN_IF_ERROR(expr)    \
  do {                                    \
    ::cairn::Status _cairn_st = (expr);   \
    if (!_cairn_st.ok()) co_return _cairn_st; \
  } while (0)

namespace cairn::gateway {

namespace http = boost::beast::http;
using net::asio::awaitable;
using net::HttpExchange;

// How the request's payload is signed (x-amz-content-sha256).
enum class PayloadMode {
  kUnsigned,                // UNSIGNED-PAYLOAD (or a presigned URL)
  kSha256,                  // the hex SHA-256 of the body, checked as it arrives
  kStreamingSigned,         // STREAMING-AWS4-HMAC-SHA256-PAYLOAD
  kStreamingSignedTrailer,  // STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
  kStreamingUnsignedTrailer // STREAMING-UNSIGNED-PAYLOAD-TRAILER
};

struct Request {
  std::string id;
  std::string path;  // decoded
  std::string raw_query;
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::string bucket;
  std::string key;  // empty for a bucket or service request
  int64_t now_s = 0;

  // Authentication (filled by Authenticate).
  std::string access_key;
  const S3Key* s3key = nullptr;
  PayloadMode payload = PayloadMode::kUnsigned;
  std::string payload_sha256;  // hex, for kSha256
  std::string signing_key;     // for the streaming forms
  std::string amz_date;
  std::string scope;
  std::string signature;

  // An error answered by the operation itself (not through its Outcome), for the metrics.
  std::string_view answered_error;

  const std::string* Q(std::string_view name) const {
    for (const auto& [n, v] : query)
      if (n == name) return &v;
    return nullptr;
  }
  bool Has(std::string_view name) const { return Q(name) != nullptr; }
  bool streaming() const {
    return payload == PayloadMode::kStreamingSigned ||
           payload == PayloadMode::kStreamingSignedTrailer ||
           payload == PayloadMode::kStreamingUnsignedTrailer;
  }
};

// An op's outcome: nullopt once it has sent its response; else the error to send.
using Outcome = std::optional<S3Error>;
// The headers of an object write (PutObject, CopyObject, CreateMultipartUpload; after
// authentication) that ask for what the gateway does not do are refused rather than dropped,
// so that nobody believes an object encrypted, tagged, public or locked when it is not:
// server-side encryption, tags, a canned ACL other than private or bucket-owner-full-control,
// grants, object lock, a website redirect: NotImplemented naming the header. A storage class
// S3 does not have: InvalidStorageClass.
Outcome CheckObjectWriteHeaders(const http::fields& h);

struct BucketInfo {
  std::string owner;
  std::string region;
  uint64_t created_us = 0;
};

// Store key layout (s3_gateway.h).
std::string BucketRecordKey(std::string_view bucket);
inline constexpr std::string_view kBucketRecordPrefix = ".cairn-s3/b/";
inline constexpr std::string_view kUploadPrefix = ".cairn-s3/u/";
inline constexpr std::string_view kPartPrefix = ".cairn-s3/p/";
std::string UploadRecordKey(std::string_view bucket, std::string_view upload_id);
std::string PartKey(std::string_view upload_id, uint32_t part);

// The ETag of an object (without quotes): a multipart ETag kept in its metadata, else the hex
// MD5, else (an object written without one, e.g. by `cairn put`) its CRC-32C and version.
std::string ETagOf(const ObjectInfo& info);
// An ETag from a header or XML: quotes (and &quot;) removed.
std::string UnquoteETag(std::string_view v);

// Request headers' metadata of a PUT/POST uploads/copy with REPLACE: content type, x-amz-meta-*,
// and the standard headers kept as system pairs.
Status MetadataFromHeaders(const http::fields& h, ObjectMetadata* m);
// Adds the object's metadata as response headers.
void MetadataToHeaders(const ObjectInfo& info, http::fields* h);

std::string Lower(std::string_view s);
std::string_view HeaderOr(const http::fields& h, std::string_view name, std::string_view dflt = {});

class Gateway::Impl {
 public:
  Impl(ObjectStore* store, GatewayOptions o);

  awaitable<void> Handle(HttpExchange& ex);
  net::HttpResponse RenderServerError(unsigned status, std::string_view message);
  Result<uint64_t> CleanAbandonedUploads(int64_t now_s);

  GatewayOptions o_;
  ObjectStore* store_;
  service::ObjectService svc_;
  GatewayCounters counters_;
  // Per S3Op: requests, their latency, and errors by S3 code (index in AllS3ErrorCodes() + 1).
  ops::OpMetrics by_op_;

  // ---- s3_gateway.cc
  std::string NewRequestId();
  Status ParseTarget(std::string_view target, Request* r);
  // SigV4 (header or presigned); the caller maps a failure with FromStatus.
  Status Authenticate(const HttpExchange& ex, Request* r);
  awaitable<Outcome> Dispatch(HttpExchange& ex, Request& r);
  awaitable<void> SendXml(HttpExchange& ex, const Request& r, unsigned status, std::string body,
                          http::fields extra = {});
  awaitable<void> SendError(HttpExchange& ex, const Request& r, S3Error e);
  // The end of an operation whose work can take minutes (it copies bytes): `work` runs on the
  // I/O pool and gives the 200's XML or an error. Answered as usual if it ends within
  // keepalive_ms; otherwise the 200 head and the XML declaration go out at once, a space every
  // keepalive_ms after them, then the answer's XML, an <Error> document if it failed. The
  // handler returns only once `work` has ended, whatever the client does meanwhile.
  using LongWorkFn = std::function<std::variant<std::string, S3Error>()>;
  awaitable<Outcome> AnswerWhenDone(HttpExchange& ex, Request& r, LongWorkFn work);
  awaitable<void> SendEmpty(HttpExchange& ex, const Request& r, unsigned status,
                            http::fields h = {});
  http::fields BaseHeaders(const Request& r) const;
  // Sets the headers of BaseHeaders in `h` (replacing any of the same names).
  void SetBaseHeaders(const Request& r, http::fields* h) const;
  // The bucket's record (cached), or NotFound.
  awaitable<Result<BucketInfo>> LoadBucket(HttpExchange& ex, std::string_view bucket);
  void ForgetBucket(std::string_view bucket);
  // NoSuchBucket, or AccessDenied when the key may not use it; OK otherwise.
  awaitable<Outcome> Authorize(HttpExchange& ex, const Request& r, std::string_view bucket,
                               BucketInfo* info = nullptr);
  bool MayUse(const Request& r, std::string_view bucket, const BucketInfo& b) const;
  awaitable<Outcome> BucketRequest(HttpExchange& ex, Request& r);
  awaitable<Outcome> CreateBucket(HttpExchange& ex, Request& r);
  awaitable<Outcome> DeleteBucket(HttpExchange& ex, Request& r);
  awaitable<Outcome> ListBuckets(HttpExchange& ex, Request& r);
  template <typename F>
  auto Blocking(HttpExchange& ex, F f) -> awaitable<std::invoke_result_t<F&>> {
    return net::RunBlocking(ex.blocking_pool(), std::move(f));
  }

  // ---- s3_objects.cc
  awaitable<Outcome> PutObject(HttpExchange& ex, Request& r);
  awaitable<Outcome> GetObject(HttpExchange& ex, Request& r, bool head);
  awaitable<Outcome> DeleteObject(HttpExchange& ex, Request& r);
  awaitable<Outcome> DeleteObjects(HttpExchange& ex, Request& r);
  awaitable<Outcome> CopyObject(HttpExchange& ex, Request& r);
  // Reads a small body whole (XML, DeleteObjects), checking Content-MD5 and the payload hash,
  // and x-amz-checksum-* unless `checksum_headers` is false (Complete: they are the object's).
  awaitable<Result<std::string>> ReadSmallBody(HttpExchange& ex, const Request& r, uint64_t limit,
                                               std::string_view limit_name,
                                               bool checksum_headers = true);
  // Stores the request body under `store_key` (PutObject, UploadPart). On success, *info_out
  // gets the ETag, size and the checksum headers to echo.
  struct Stored {
    std::string etag;
    uint64_t size = 0;
    WriteResult w;
    http::fields echo;
  };
  awaitable<Result<Stored>> StoreBody(HttpExchange& ex, const Request& r,
                                      const std::string& store_key, WriteOptions wo,
                                      uint64_t max_bytes, std::string_view max_name);
  // The copy source of x-amz-copy-source: bucket and key, authorized, and its current info.
  awaitable<Outcome> ParseCopySource(HttpExchange& ex, const Request& r, std::string* bucket,
                                     std::string* key);

  // The MD5 of a range of an object (a first pass for a store that takes metadata before the
  // value); Unavailable if the object is no longer `version`.
  Result<std::string> Md5Of(const std::string& store_key, const ByteRange& range,
                            const Version& version);

  // ---- s3_list.cc
  awaitable<Outcome> ListObjects(HttpExchange& ex, Request& r, int version);
  awaitable<Outcome> ListObjectVersions(HttpExchange& ex, Request& r);

  // ---- s3_multipart.cc
  awaitable<Outcome> CreateUpload(HttpExchange& ex, Request& r);
  awaitable<Outcome> UploadPart(HttpExchange& ex, Request& r);
  awaitable<Outcome> CompleteUpload(HttpExchange& ex, Request& r);
  awaitable<Outcome> AbortUpload(HttpExchange& ex, Request& r);
  awaitable<Outcome> ListParts(HttpExchange& ex, Request& r);
  awaitable<Outcome> ListUploads(HttpExchange& ex, Request& r);
  // Removes an upload's parts, then its record (blocking).
  Status RemoveUpload(std::string_view bucket, std::string_view upload_id);

 private:
  std::mutex cache_mu_;
  struct Cached {
    std::optional<BucketInfo> info;  // nullopt: known not to exist
    std::chrono::steady_clock::time_point expires;
  };
  std::unordered_map<std::string, Cached> bucket_cache_;
  std::atomic<uint64_t> next_id_{0};
  uint64_t id_seed_ = 0;
};

}  // namespace cairn::gateway
