// The S3 gateway (issue 13): the S3 REST API over net::HttpServer, on any ObjectStore (a local
// store in cairnd, a remote node behind cairn-s3, the cluster later), through the transport-free
// service::ObjectService. docs/s3.md says what is supported and how; docs/design.md, "The S3
// gateway", is the tour.
//
// Buckets map onto the one key space of the store (docs/s3.md, "Keys"):
//   object `k` of bucket `b`   ->  store key  b + "/" + k
//   bucket record              ->  .cairn-s3/b/<bucket>              (owner, region)
//   multipart upload           ->  .cairn-s3/u/<bucket>/<upload id>  (key, owner, metadata)
//   a part of an upload        ->  .cairn-s3/p/<upload id>/<part number, 5 digits>
// A bucket name never starts with '.', so no object key can collide with the reserved prefix.
//
// Requests are authenticated with AWS Signature V4 (gateway/s3_auth.h); each access key is
// limited to the buckets it created unless its configuration grants it more ("*": all).
//
// Thread safety: Handle runs on any loop thread, concurrently; CleanAbandonedUploads from any
// thread. Ownership: borrows the ObjectStore, which must outlive the Gateway.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/background.h"
#include "cairn/object_store.h"
#include "net/http_server.h"
#include "service/object_service.h"

namespace cairn::ops {
class ExpositionWriter;
}

namespace cairn::gateway {

// One access key of the gateway's configuration.
struct S3Key {
  std::string secret;
  // Buckets this key may use besides those it created; "*" grants every bucket.
  std::vector<std::string> buckets;
};

struct GatewayOptions {
  std::map<std::string, S3Key> keys;  // access key id -> key
  // What ?location answers and what a bucket created without a LocationConstraint records.
  // Requests signed for any region are accepted (clients sign with what they are configured
  // with).
  std::string region = "us-east-1";
  // A signed request's x-amz-date (or Date) must be within this of the gateway's clock.
  uint32_t max_clock_skew_s = 900;
  // Presigned URLs: X-Amz-Expires at most this (S3's own bound: 7 days).
  uint32_t max_presign_expires_s = 604800;
  // Multipart uploads (S3's rules): parts of min_part_bytes at least except the last, at most
  // max_part_bytes each, part numbers 1..max_parts.
  uint64_t min_part_bytes = 5 << 20;
  uint64_t max_part_bytes = uint64_t{5} << 30;
  uint32_t max_parts = 10000;
  // Uploads neither completed nor aborted within this are removed (with their parts) by
  // CleanAbandonedUploads, which the endpoint runs every upload_cleanup_interval_s.
  uint64_t upload_max_age_s = 7 * 86400;
  uint32_t upload_cleanup_interval_s = 3600;
  // A single PutObject body (S3's limit: 5 GiB). Larger: EntityTooLarge.
  uint64_t max_put_bytes = uint64_t{5} << 30;
  // Bodies parsed as XML (CompleteMultipartUpload, DeleteObjects, CreateBucket): at most this.
  uint64_t max_xml_body_bytes = 4 << 20;
  // DeleteObjects: at most this many keys per request (S3's limit).
  uint32_t max_delete_keys = 1000;
  // One aws-chunked chunk's data.
  uint64_t max_aws_chunk_bytes = 16 << 20;
  // Bucket records are cached this long (a bucket deleted through another gateway may be seen
  // for this long; one deleted through this one is forgotten at once).
  uint32_t bucket_cache_ms = 1000;
  // CompleteMultipartUpload, CopyObject and UploadPartCopy copy bytes and can take minutes.
  // One that has not ended within this sends its 200 head and then a space every this many ms
  // until its answer, as S3 does, so that a client's read timeout does not fire while it runs;
  // an error after the head is an <Error> document inside the 200 (docs/s3.md, "Long answers").
  uint32_t keepalive_ms = 5000;
  service::ServiceLimits service;
  // A directory for spooling streamed bodies (cairn-s3 in front of a remote store): a store
  // that takes its metadata before the value (RemoteObjectStore) must be told a body's MD5, its
  // ETag, before the body; such a body is written to an unlinked file here first. Empty: bodies
  // stream straight into the store, which takes the MD5 at the end (ValueSource::FinalMetadata:
  // a local store).
  std::string spool_dir;
  // Seconds since the epoch (tests inject a clock). Default: the system clock.
  std::function<int64_t()> now_s;
  // The process's one budget for background work (cairn/background.h; cairnd's, beside the
  // native protocol's requests): told the latency of every GetObject, HeadObject, PutObject,
  // DeleteObject and UploadPart this gateway serves, so reclamation and repair yield to S3
  // clients too. nullptr: none (cairn-s3, whose store is remote). Must outlive the gateway.
  BackgroundScheduler* background = nullptr;
};

// The S3 operations the gateway's request metrics are counted by (S3's own names). What none
// of them names counts as kOther: ListParts, ListMultipartUploads, ?acl, ?tagging, ?location,
// the sub-resources answered "not implemented", and requests not understood.
enum class S3Op : uint8_t {
  kOther,
  kListBuckets,
  kCreateBucket,
  kDeleteBucket,
  kHeadBucket,
  kListObjects,  // ListObjects and ListObjectsV2
  kGetObject,
  kHeadObject,
  kPutObject,
  kCopyObject,
  kDeleteObject,
  kDeleteObjects,
  kCreateMultipartUpload,
  kUploadPart,
  kCompleteMultipartUpload,
  kAbortMultipartUpload,
  kCount
};
const char* S3OpName(S3Op op);
// Which operation a request is, from its method, bucket, key, decoded query parameters and
// whether it carries x-amz-copy-source (pure; the gateway classifies every request so).
S3Op ClassifyS3Op(boost::beast::http::verb method, std::string_view bucket, std::string_view key,
                  const std::vector<std::pair<std::string, std::string>>& query, bool copy_source);

struct GatewayCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};  // responses with an S3 error
  std::atomic<uint64_t> auth_failures{0};
  std::atomic<uint64_t> bytes_in{0};   // object bytes stored
  std::atomic<uint64_t> uploads_cleaned{0};
  std::atomic<uint64_t> long_answers{0};  // 200 sent before the answer (AnswerWhenDone)
};

class Gateway {
 public:
  Gateway(ObjectStore* store, GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // The handler and the error renderer to give net::HttpServer.
  net::HttpHandler Handler();
  net::HttpErrorRenderer ErrorRenderer();

  // Removes the uploads initiated more than upload_max_age_s before `now_s`, with their parts.
  // May block. Returns how many it removed.
  Result<uint64_t> CleanAbandonedUploads(int64_t now_s);

  const GatewayOptions& options() const;
  GatewayCounters& counters();
  // The gateway's request metrics in the Prometheus exposition (docs/design.md, "What /metrics
  // exports"): cairn_s3_requests_total{op}, cairn_s3_request_errors_total{op,code} (the S3
  // error code), cairn_s3_request_duration_seconds{op} (from the request head read to the end
  // of its response, body included), and the counters above.
  void WriteMetrics(ops::ExpositionWriter& w) const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The gateway's store key of object `key` in `bucket`, and the reserved prefix.
inline constexpr std::string_view kReservedPrefix = ".cairn-s3/";
std::string ObjectStoreKey(std::string_view bucket, std::string_view key);
// The longest S3 key a bucket allows: max_key_bytes - bucket - 1 (KeyTooLongError beyond).
size_t MaxS3KeyBytes(std::string_view bucket, size_t max_key_bytes = kMaxKeyBytes);
// S3's bucket naming rules (3..63 of a-z 0-9 . -, starting and ending with a letter or digit,
// no "..", not an IP address, not starting with "xn--" or ending with "-s3alias").
bool ValidBucketName(std::string_view name);
// x-amz-storage-class: one of S3's storage class names. Cairn keeps every object one way and
// lists it STANDARD; a name S3 does not know is InvalidStorageClass.
bool KnownStorageClass(std::string_view name);

// An S3 endpoint: the gateway on an HttpServer with loops, a blocking pool, and the periodic
// cleanup of abandoned uploads. What cairnd --s3-listen and cairn-s3 run.
struct S3EndpointOptions {
  net::HttpServerOptions http;  // listen, limits, TLS
  uint32_t threads = 1;         // event loops
  uint32_t io_threads = 16;     // blocking store calls
};

class S3Endpoint {
 public:
  S3Endpoint(ObjectStore* store, GatewayOptions gw, S3EndpointOptions eo);
  ~S3Endpoint();
  // Binds and serves. Returns the bound port.
  Result<uint16_t> Start();
  void Stop();
  Gateway& gateway() { return *gateway_; }
  net::HttpServer& http() { return *http_; }
  // The gateway's metrics and its HTTP server's (connections, bytes sent, refusals, timeouts),
  // prefixed cairn_s3_: what cairnd's /metrics adds when it serves S3, and cairn-s3's /metrics.
  void WriteMetrics(ops::ExpositionWriter& w);

 private:
  void ScheduleCleanup();

  std::unique_ptr<Gateway> gateway_;
  S3EndpointOptions eo_;
  net::LoopGroup loops_;
  net::asio::thread_pool pool_;
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<net::asio::steady_timer> cleanup_;
  std::atomic<bool> cleaning_{false};
  bool started_ = false;
};

}  // namespace cairn::gateway
