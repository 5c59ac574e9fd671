// The gateway's front: request parsing, authentication, routing, errors, buckets, and the
// endpoint that runs it. Objects, listings and multipart uploads are in their own files.
#include "gateway/s3_gateway.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "gateway/s3_internal.h"
#include "gateway/sigv4.h"
#include "ops/exposition.h"

namespace cairn::gateway {

// ---- Keys ----------------------------------------------------------------------------------

std::string ObjectStoreKey(std::string_view bucket, std::string_view key) {
  std::string k;
  k.reserve(bucket.size() + 1 + key.size());
  k.append(bucket).append("/").append(key);
  return k;
}

size_t MaxS3KeyBytes(std::string_view bucket, size_t max_key_bytes) {
  return max_key_bytes > bucket.size() + 1 ? max_key_bytes - bucket.size() - 1 : 0;
}

bool KnownStorageClass(std::string_view name) {
  static constexpr std::string_view kClasses[] = {
      "STANDARD",     "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
      "GLACIER",      "DEEP_ARCHIVE",       "OUTPOSTS",    "GLACIER_IR", "SNOW",
      "EXPRESS_ONEZONE"};
  for (std::string_view c : kClasses)
    if (name == c) return true;
  return false;
}

bool ValidBucketName(std::string_view n) {
  if (n.size() < 3 || n.size() > 63) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(n.front()) || !alnum(n.back())) return false;
  if (n.find("..") != std::string_view::npos || n.find(".-") != std::string_view::npos ||
      n.find("-.") != std::string_view::npos)
    return false;
  if (n.starts_with("xn--") || n.ends_with("-s3alias") || n.ends_with("--ol-s3")) return false;
  // Not an IPv4 address.
  int dots = 0;
  bool digits_only = true;
  for (char c : n) {
    if (c == '.') dots++;
    else if (c < '0' || c > '9') digits_only = false;
  }
  return !(digits_only && dots == 3);
}

std::string BucketRecordKey(std::string_view bucket) {
  return std::string(kBucketRecordPrefix) + std::string(bucket);
}
std::string UploadRecordKey(std::string_view bucket, std::string_view upload_id) {
  return std::string(kUploadPrefix) + std::string(bucket) + "/" + std::string(upload_id);
}
std::string PartKey(std::string_view upload_id, uint32_t part) {
  return fmt::format("{}{}/{:05}", kPartPrefix, upload_id, part);
}

// ---- Small helpers -------------------------------------------------------------------------

std::string Lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::string_view HeaderOr(const http::fields& h, std::string_view name, std::string_view dflt) {
  auto it = h.find(boost::beast::string_view(name.data(), name.size()));
  if (it == h.end()) return dflt;
  auto v = it->value();
  return {v.data(), v.size()};
}

Outcome CheckObjectWriteHeaders(const http::fields& h) {
  std::string_view c = HeaderOr(h, "x-amz-storage-class");
  if (!c.empty() && !KnownStorageClass(c))
    return S3Error::Make("InvalidStorageClass",
                         fmt::format("x-amz-storage-class: '{}' is not one of S3's storage classes",
                                     c.substr(0, 64)));
  std::string_view acl = HeaderOr(h, "x-amz-acl", "private");
  if (acl != "private" && acl != "bucket-owner-full-control")
    return S3Error::Make("NotImplemented", "x-amz-acl: only the canned ACL \"private\" is supported");
  static constexpr std::string_view kRefused[] = {
      "x-amz-server-side-encryption",
      "x-amz-server-side-encryption-customer-algorithm",
      "x-amz-server-side-encryption-aws-kms-key-id",
      "x-amz-tagging",
      "x-amz-grant-read",
      "x-amz-grant-read-acp",
      "x-amz-grant-write-acp",
      "x-amz-grant-full-control",
      "x-amz-object-lock-mode",
      "x-amz-object-lock-retain-until-date",
      "x-amz-object-lock-legal-hold",
      "x-amz-website-redirect-location"};
  for (std::string_view name : kRefused) {
    // An empty value asks for nothing (tools send an empty x-amz-tagging).
    if (HeaderOr(h, name).empty()) continue;
    return S3Error::Make("NotImplemented",
                         fmt::format("{}: not implemented (objects are stored unencrypted, "
                                     "untagged, private and unlocked)",
                                     name));
  }
  return std::nullopt;
}

std::string ETagOf(const ObjectInfo& info) {
  auto it = info.metadata.system.find("etag");
  if (it != info.metadata.system.end()) return it->second;
  if (info.metadata.md5.size() == 16) return Hex(info.metadata.md5);
  return fmt::format("{:08x}{}", info.crc32c, info.version.ToString());
}

std::string UnquoteETag(std::string_view v) {
  std::string s(v);
  for (std::string_view q : {"&quot;", "&#34;"}) {
    size_t p;
    while ((p = s.find(q)) != std::string::npos) s.replace(p, q.size(), "\"");
  }
  while (!s.empty() && (s.front() == '"' || s.front() == ' ')) s.erase(s.begin());
  while (!s.empty() && (s.back() == '"' || s.back() == ' ')) s.pop_back();
  return s;
}

namespace {

// Standard headers an object keeps (as system pairs, by lowercase name) and gives back.
// Sorted (MetadataToHeaders relies on it).
constexpr std::string_view kKeptHeaders[] = {"cache-control", "content-disposition",
                                             "content-encoding", "content-language", "expires"};

}  // namespace

Status MetadataFromHeaders(const http::fields& h, ObjectMetadata* m) {
  for (const auto& f : h) {
    auto nv = f.name_string();
    std::string name = Lower(std::string_view(nv.data(), nv.size()));
    auto vv = f.value();
    std::string_view value(vv.data(), vv.size());
    if (name == "content-type") {
      m->content_type = std::string(value);
    } else if (name.starts_with("x-amz-meta-")) {
      std::string k = name.substr(11);
      if (k.empty()) return Status::InvalidArgument("InvalidArgument: an x-amz-meta- header has no name");
      auto [it, fresh] = m->user.emplace(k, std::string(value));
      if (!fresh) it->second += "," + std::string(value);
    } else if (std::find(std::begin(kKeptHeaders), std::end(kKeptHeaders), name) !=
               std::end(kKeptHeaders)) {
      std::string v(value);
      if (name == "content-encoding") {
        // aws-chunked is the framing of this request's body, never the object's encoding.
        std::string kept;
        size_t start = 0;
        while (start <= v.size()) {
          size_t comma = v.find(',', start);
          if (comma == std::string::npos) comma = v.size();
          std::string part = v.substr(start, comma - start);
          while (!part.empty() && part.front() == ' ') part.erase(part.begin());
          while (!part.empty() && part.back() == ' ') part.pop_back();
          if (!part.empty() && Lower(part) != "aws-chunked") {
            if (!kept.empty()) kept += ",";
            kept += part;
          }
          start = comma + 1;
        }
        v = kept;
      }
      if (!v.empty()) m->system[name] = v;
    }
  }
  // S3's own limit on user metadata (2 KiB of names and values) is not applied; the store's
  // max_meta_bytes bounds the whole encoded metadata (MetadataTooLarge).
  return Status::OK();
}

void MetadataToHeaders(const ObjectInfo& info, http::fields* h) {
  const ObjectMetadata& m = info.metadata;
  if (m.content_type.empty()) {
    h->set(http::field::content_type, "binary/octet-stream");
  } else {
    h->set(http::field::content_type, m.content_type);
  }
  // The kept headers in kKeptHeaders' (sorted) order: one pass over the (sorted) system pairs,
  // not a lookup per name that builds a key string each time (issue 13: every GET runs this).
  for (const auto& [name, value] : m.system) {
    if (std::find(std::begin(kKeptHeaders), std::end(kKeptHeaders), name) != std::end(kKeptHeaders))
      h->set(boost::beast::string_view(name.data(), name.size()), value);
  }
  for (const auto& [k, v] : m.user) h->set("x-amz-meta-" + k, v);
  std::string etag = ETagOf(info);
  etag.insert(etag.begin(), '"');
  etag.push_back('"');
  h->set(http::field::etag, etag);
  h->set(http::field::last_modified,
         FormatHttpDate(static_cast<int64_t>(info.mtime_us / 1000000)));
}

// ---- Impl ----------------------------------------------------------------------------------

Gateway::Impl::Impl(ObjectStore* store, GatewayOptions o)
    : o_(std::move(o)), store_(store), svc_(store, o_.service) {
  if (!o_.now_s) o_.now_s = [] { return static_cast<int64_t>(::time(nullptr)); };
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&id_seed_), sizeof(id_seed_)) != 1)
    id_seed_ = static_cast<uint64_t>(::time(nullptr)) * 2654435761u;
}

std::string Gateway::Impl::NewRequestId() {
  const uint64_t n = next_id_.fetch_add(1, std::memory_order_relaxed);
  // 16 uppercase hex digits: the seed's high half, then its low half plus the count (by hand:
  // every request makes one, issue 13).
  const uint64_t v = (id_seed_ & ~uint64_t{0xFFFFFFFF}) | static_cast<uint32_t>(id_seed_ + n);
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string id(16, '0');
  for (int i = 0; i < 16; i++) id[15 - i] = kDigits[(v >> (4 * i)) & 15];
  return id;
}

Status Gateway::Impl::ParseTarget(std::string_view target, Request* r) {
  if (target.empty() || target[0] != '/')
    return Status::InvalidArgument("InvalidRequest: the request target must be an absolute path");
  size_t qm = target.find('?');
  std::string_view raw_path = target.substr(0, qm);
  if (qm != std::string_view::npos) r->raw_query = std::string(target.substr(qm + 1));
  if (!UriDecode(raw_path, &r->path))
    return Status::InvalidArgument("InvalidRequest: the path has a malformed %-escape");
  if (!ParseQuery(r->raw_query, &r->query))
    return Status::InvalidArgument("InvalidRequest: the query has a malformed %-escape");
  std::string_view p = std::string_view(r->path).substr(1);
  size_t slash = p.find('/');
  r->bucket = std::string(p.substr(0, slash));
  if (slash != std::string_view::npos) r->key = std::string(p.substr(slash + 1));
  return Status::OK();
}

http::fields Gateway::Impl::BaseHeaders(const Request& r) const {
  http::fields h;
  SetBaseHeaders(r, &h);
  return h;
}

void Gateway::Impl::SetBaseHeaders(const Request& r, http::fields* h) const {
  h->set("x-amz-request-id", r.id);
  h->set("x-amz-id-2", r.id);
  h->set(http::field::date, FormatHttpDate(r.now_s));
}

awaitable<void> Gateway::Impl::SendXml(HttpExchange& ex, const Request& r, unsigned status,
                                       std::string body, http::fields extra) {
  net::HttpResponse resp;
  resp.status = status;
  resp.headers = BaseHeaders(r);
  for (const auto& f : extra) resp.headers.set(f.name_string(), f.value());
  resp.headers.set(http::field::content_type, "application/xml");
  resp.body = std::move(body);
  co_await ex.Send(std::move(resp));
}

awaitable<void> Gateway::Impl::SendEmpty(HttpExchange& ex, const Request& r, unsigned status,
                                         http::fields h) {
  net::HttpResponse resp;
  resp.status = status;
  resp.headers = BaseHeaders(r);
  for (const auto& f : h) resp.headers.set(f.name_string(), f.value());
  co_await ex.Send(std::move(resp));
}

awaitable<void> Gateway::Impl::SendError(HttpExchange& ex, const Request& r, S3Error e) {
  counters_.errors.fetch_add(1, std::memory_order_relaxed);
  if (ex.responded()) co_return;
  if (e.resource.empty()) e.resource = r.path;
  net::HttpResponse resp;
  resp.status = e.http;
  resp.headers = BaseHeaders(r);
  resp.headers.set(http::field::content_type, "application/xml");
  // A HEAD's error has no body; the status and the request id say it.
  resp.body = RenderS3Error(e, r.id);
  if (ex.method() == http::verb::head) resp.headers.set("x-amz-error-code", e.code);
  co_await ex.Send(std::move(resp));
}

namespace {

constexpr std::string_view kXmlDeclaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

// A long operation's work and its answer, shared by the handler and the coroutine that waits
// for the I/O pool; both run on the connection's loop.
struct LongWork {
  explicit LongWork(net::asio::any_io_executor loop) : wake(std::move(loop)) {}
  net::asio::steady_timer wake;  // cancelled when the work ends
  bool done = false;
  std::variant<std::string, S3Error> answer;

  // Returns when the work has ended or `ms` have passed.
  awaitable<void> WaitFor(uint32_t ms) {
    if (done) co_return;
    wake.expires_after(std::chrono::milliseconds(ms));
    boost::system::error_code ec;
    co_await wake.async_wait(net::asio::redirect_error(net::asio::use_awaitable, ec));
  }
};

// The body of a 200 sent before its answer was known: the XML declaration, a space every
// keepalive_ms while the work runs, then the answer's document (without its declaration).
class LongAnswerBody : public net::HttpBodySource {
 public:
  LongAnswerBody(std::shared_ptr<LongWork> w, uint32_t keepalive_ms,
                 std::function<std::string()> render)
      : w_(std::move(w)),
        keepalive_ms_(keepalive_ms),
        render_(std::move(render)),
        out_(kXmlDeclaration) {}

  awaitable<Result<size_t>> Read(char* buf, size_t cap) override {
    while (at_ == out_.size()) {
      if (finished_) co_return size_t{0};
      if (!w_->done) co_await w_->WaitFor(keepalive_ms_);
      at_ = 0;
      if (w_->done) {
        out_ = render_();
        if (out_.starts_with(kXmlDeclaration)) at_ = kXmlDeclaration.size();
        finished_ = true;
      } else {
        out_ = " ";
      }
    }
    const size_t n = std::min(cap, out_.size() - at_);
    std::memcpy(buf, out_.data() + at_, n);
    at_ += n;
    co_return n;
  }

 private:
  std::shared_ptr<LongWork> w_;
  const uint32_t keepalive_ms_;
  std::function<std::string()> render_;
  std::string out_;
  size_t at_ = 0;
  bool finished_ = false;
};

}  // namespace

awaitable<Outcome> Gateway::Impl::AnswerWhenDone(HttpExchange& ex, Request& r, LongWorkFn work) {
  auto w = std::make_shared<LongWork>(ex.executor());
  net::asio::co_spawn(
      ex.executor(),
      [w, &pool = ex.blocking_pool(), work = std::move(work)]() mutable -> awaitable<void> {
        w->answer = co_await net::RunBlocking(pool, std::move(work));
        w->done = true;
        w->wake.cancel();
      },
      net::asio::detached);
  const uint32_t keepalive_ms = std::max<uint32_t>(o_.keepalive_ms, 1);
  co_await w->WaitFor(keepalive_ms);
  if (w->done) {
    if (S3Error* e = std::get_if<S3Error>(&w->answer)) co_return std::move(*e);
    co_await SendXml(ex, r, 200, std::move(std::get<std::string>(w->answer)));
    co_return std::nullopt;
  }
  // S3's way: the 200 now, whitespace while the work runs, and an error, if it comes, inside.
  counters_.long_answers.fetch_add(1, std::memory_order_relaxed);
  http::fields h = BaseHeaders(r);
  h.set(http::field::content_type, "application/xml");
  LongAnswerBody body(w, keepalive_ms, [this, w, &r]() -> std::string {
    if (const std::string* xml = std::get_if<std::string>(&w->answer)) return *xml;
    S3Error e = std::get<S3Error>(w->answer);
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
    if (const S3ErrorCode* c = FindS3ErrorCode(e.code); c != nullptr) r.answered_error = c->code;
    if (e.resource.empty()) e.resource = r.path;
    return RenderS3Error(e, r.id);
  });
  (void)co_await ex.SendStream(200, std::move(h), &body, std::nullopt);
  // The client may have gone; the work has not.
  while (!w->done) co_await w->WaitFor(keepalive_ms);
  co_return std::nullopt;
}

net::HttpResponse Gateway::Impl::RenderServerError(unsigned status, std::string_view message) {
  // The HTTP server's own refusals (limits, framing, timeouts), in S3's words.
  std::string code = "InvalidRequest";
  switch (status) {
    case 400:
      code = message.find("ended early") != std::string_view::npos ||
                     message.find("ended before") != std::string_view::npos
                 ? "IncompleteBody"
                 : "InvalidRequest";
      break;
    case 408: code = "RequestTimeout"; break;
    case 411: code = "MissingContentLength"; break;
    case 413: code = "EntityTooLarge"; break;
    case 431: code = "RequestHeaderSectionTooLarge"; break;
    case 501: code = "NotImplemented"; break;
    case 503: code = "SlowDown"; break;
    default:
      code = status >= 500 ? "InternalError" : "InvalidRequest";
  }
  S3Error e = S3Error::Make(code, message);
  Request r;
  r.id = NewRequestId();
  r.now_s = o_.now_s();
  net::HttpResponse resp;
  resp.status = e.http;
  resp.headers = BaseHeaders(r);
  resp.headers.set(http::field::content_type, "application/xml");
  resp.body = RenderS3Error(e, r.id);
  return resp;
}

awaitable<void> Gateway::Impl::Handle(HttpExchange& ex) {
  const uint64_t t0 = ops::NowNs();
  counters_.requests.fetch_add(1, std::memory_order_relaxed);
  Request r;
  r.id = NewRequestId();
  r.now_s = o_.now_s();
  Outcome out;
  S3Op op = S3Op::kOther;
  if (Status s = ParseTarget(ex.target(), &r); !s.ok()) {
    out = FromStatus(s);
  } else {
    op = ClassifyS3Op(ex.method(), r.bucket, r.key, r.query,
                      !HeaderOr(ex.headers(), "x-amz-copy-source").empty());
    if (Status a = Authenticate(ex, &r); !a.ok()) {
      counters_.auth_failures.fetch_add(1, std::memory_order_relaxed);
      out = FromStatus(a);
    } else {
      out = co_await Dispatch(ex, r);
    }
  }
  std::string_view code = out.has_value() ? std::string_view(out->code) : r.answered_error;
  const size_t code_index = code.empty() ? 0 : S3ErrorCodeIndex(code);
  if (out.has_value()) {
    // A request refused before its body was read: the server closes the connection if the
    // body is large and unread (the client may be sending it still).
    co_await SendError(ex, r, std::move(*out));
  }
  const uint64_t latency_ns = ops::NowNs() - t0;
  by_op_.Observe(static_cast<size_t>(op), code_index, latency_ns);
  // The data requests, as cairnd's native ones are (server/connection.cc): the background
  // budget's measure of what clients wait.
  if (o_.background != nullptr &&
      (op == S3Op::kGetObject || op == S3Op::kHeadObject || op == S3Op::kPutObject ||
       op == S3Op::kDeleteObject || op == S3Op::kUploadPart))
    o_.background->RecordForeground(latency_ns / 1000);
}

// ---- Routing -------------------------------------------------------------------------------

namespace {

// Sub-resources S3 knows on a bucket that this gateway answers with a fixed "none" (GET) or
// does not implement (PUT).
struct NoneAnswer {
  const char* param;
  const char* error;  // GET answers this NoSuch... code
};
constexpr NoneAnswer kBucketNone[] = {
    {"policy", "NoSuchBucketPolicy"},
    {"cors", "NoSuchCORSConfiguration"},
    {"lifecycle", "NoSuchLifecycleConfiguration"},
    {"tagging", "NoSuchTagSet"},
    {"website", "NoSuchWebsiteConfiguration"},
    {"encryption", "ServerSideEncryptionConfigurationNotFoundError"},
    {"object-lock", "ObjectLockConfigurationNotFoundError"},
};
constexpr const char* kBucketUnsupported[] = {
    "replication", "inventory", "analytics", "metrics", "intelligent-tiering", "publicAccessBlock",
    "ownershipControls", "policyStatus", "select", "restore", "torrent", "legal-hold",
    "retention", "attributes"};

}  // namespace

const char* S3OpName(S3Op op) {
  switch (op) {
    case S3Op::kOther: return "Other";
    case S3Op::kListBuckets: return "ListBuckets";
    case S3Op::kCreateBucket: return "CreateBucket";
    case S3Op::kDeleteBucket: return "DeleteBucket";
    case S3Op::kHeadBucket: return "HeadBucket";
    case S3Op::kListObjects: return "ListObjects";
    case S3Op::kGetObject: return "GetObject";
    case S3Op::kHeadObject: return "HeadObject";
    case S3Op::kPutObject: return "PutObject";
    case S3Op::kCopyObject: return "CopyObject";
    case S3Op::kDeleteObject: return "DeleteObject";
    case S3Op::kDeleteObjects: return "DeleteObjects";
    case S3Op::kCreateMultipartUpload: return "CreateMultipartUpload";
    case S3Op::kUploadPart: return "UploadPart";
    case S3Op::kCompleteMultipartUpload: return "CompleteMultipartUpload";
    case S3Op::kAbortMultipartUpload: return "AbortMultipartUpload";
    case S3Op::kCount: break;
  }
  return nullptr;
}

S3Op ClassifyS3Op(http::verb m, std::string_view bucket, std::string_view key,
                  const std::vector<std::pair<std::string, std::string>>& query,
                  bool copy_source) {
  auto has = [&query](std::string_view name) {
    for (const auto& [n, v] : query)
      if (n == name) return true;
    return false;
  };
  if (bucket.empty()) return m == http::verb::get ? S3Op::kListBuckets : S3Op::kOther;
  if (key.empty()) {
    // A bucket's sub-resources (what BucketRequest answers besides the operations below).
    bool sub = false;
    for (const NoneAnswer& n : kBucketNone) sub = sub || has(n.param);
    for (const char* p : kBucketUnsupported) sub = sub || has(p);
    for (const char* p : {"location", "versioning", "acl", "logging", "notification",
                          "requestPayment", "accelerate", "uploads", "versions"})
      sub = sub || has(p);
    switch (m) {
      case http::verb::get: return sub ? S3Op::kOther : S3Op::kListObjects;
      case http::verb::put: return query.empty() ? S3Op::kCreateBucket : S3Op::kOther;
      case http::verb::delete_: return query.empty() ? S3Op::kDeleteBucket : S3Op::kOther;
      case http::verb::head: return S3Op::kHeadBucket;
      case http::verb::post: return has("delete") ? S3Op::kDeleteObjects : S3Op::kOther;
      default: return S3Op::kOther;
    }
  }
  switch (m) {
    case http::verb::put:
      if (has("uploadId") || has("partNumber")) return S3Op::kUploadPart;
      if (has("acl") || has("tagging")) return S3Op::kOther;
      return copy_source ? S3Op::kCopyObject : S3Op::kPutObject;
    case http::verb::get:
      return has("uploadId") || has("acl") || has("tagging") ? S3Op::kOther : S3Op::kGetObject;
    case http::verb::head: return S3Op::kHeadObject;
    case http::verb::delete_:
      if (has("uploadId")) return S3Op::kAbortMultipartUpload;
      return has("tagging") ? S3Op::kOther : S3Op::kDeleteObject;
    case http::verb::post:
      if (has("uploads")) return S3Op::kCreateMultipartUpload;
      return has("uploadId") ? S3Op::kCompleteMultipartUpload : S3Op::kOther;
    default: return S3Op::kOther;
  }
}

awaitable<Outcome> Gateway::Impl::Dispatch(HttpExchange& ex, Request& r) {
  const http::verb m = ex.method();
  if (r.bucket.empty()) {
    if (m == http::verb::get) co_return co_await ListBuckets(ex, r);
    co_return S3Error::Make("MethodNotAllowed");
  }
  if (!ValidBucketName(r.bucket)) {
    // An existing bucket could not have this name; creating one says why.
    if (m == http::verb::put && r.key.empty())
      co_return S3Error::Make("InvalidBucketName", "bucket names are 3 to 63 characters of a-z, "
                                                   "0-9, '.' and '-' (S3's rules)");
    co_return S3Error::Make("NoSuchBucket");
  }
  if (const std::string* v = r.Q("versionId"); v != nullptr && *v != "null") {
    // Buckets are unversioned: the only version of an object is "null".
    S3Error e = S3Error::Make("InvalidArgument", "Invalid version id specified");
    co_return e;
  }
  if (r.key.empty()) co_return co_await BucketRequest(ex, r);
  for (const char* p : kBucketUnsupported)
    if (r.Has(p)) co_return S3Error::Make("NotImplemented", std::string(p) + " is not implemented");
  switch (m) {
    case http::verb::put:
      if (r.Has("uploadId") || r.Has("partNumber")) co_return co_await UploadPart(ex, r);
      if (r.Has("acl")) {
        // Objects are private to their bucket's keys: a canned "private" ACL is what they have.
        Outcome a = co_await Authorize(ex, r, r.bucket);
        if (a) co_return a;
        std::string_view acl = HeaderOr(ex.headers(), "x-amz-acl", "private");
        if (acl != "private" || ex.has_body())
          co_return S3Error::Make("NotImplemented", "only the canned ACL \"private\" is supported");
        co_await SendEmpty(ex, r, 200);
        co_return std::nullopt;
      }
      if (r.Has("tagging")) co_return S3Error::Make("NotImplemented", "object tagging is not implemented");
      if (!HeaderOr(ex.headers(), "x-amz-copy-source").empty()) co_return co_await CopyObject(ex, r);
      co_return co_await PutObject(ex, r);
    case http::verb::get:
      if (r.Has("uploadId")) co_return co_await ListParts(ex, r);
      if (r.Has("acl") || r.Has("tagging")) {
        Outcome a = co_await Authorize(ex, r, r.bucket);
        if (a) co_return a;
        Result<ObjectInfo> info = co_await Blocking(
            ex, [&] { return svc_.Head(ObjectStoreKey(r.bucket, r.key)); });
        if (!info.ok()) co_return FromStatus(info.status());
        if (r.Has("tagging")) {
          XmlWriter w("Tagging");
          w.Open("TagSet");
          co_await SendXml(ex, r, 200, w.Finish());
        } else {
          XmlWriter w("AccessControlPolicy");
          w.Open("Owner");
          w.Leaf("ID", r.access_key);
          w.Leaf("DisplayName", r.access_key);
          w.Close();
          w.Open("AccessControlList");
          w.Open("Grant");
          std::string doc = w.Finish();
          // The grantee carries an xsi:type attribute, written by hand.
          const std::string grant =
              "<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
              "xsi:type=\"CanonicalUser\"><ID>" + XmlEscape(r.access_key) + "</ID><DisplayName>" +
              XmlEscape(r.access_key) + "</DisplayName></Grantee><Permission>FULL_CONTROL</Permission>";
          doc.insert(doc.find("<Grant>") + 7, grant);
          co_await SendXml(ex, r, 200, std::move(doc));
        }
        co_return std::nullopt;
      }
      co_return co_await GetObject(ex, r, /*head=*/false);
    case http::verb::head:
      co_return co_await GetObject(ex, r, /*head=*/true);
    case http::verb::delete_:
      if (r.Has("uploadId")) co_return co_await AbortUpload(ex, r);
      if (r.Has("tagging")) {
        Outcome a = co_await Authorize(ex, r, r.bucket);
        if (a) co_return a;
        co_await SendEmpty(ex, r, 204);
        co_return std::nullopt;
      }
      co_return co_await DeleteObject(ex, r);
    case http::verb::post:
      if (r.Has("uploads")) co_return co_await CreateUpload(ex, r);
      if (r.Has("uploadId")) co_return co_await CompleteUpload(ex, r);
      co_return S3Error::Make("NotImplemented", "this POST is not implemented");
    default:
      co_return S3Error::Make("MethodNotAllowed");
  }
}

// ---- Buckets -------------------------------------------------------------------------------

awaitable<Result<BucketInfo>> Gateway::Impl::LoadBucket(HttpExchange& ex,
                                                        std::string_view bucket) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> l(cache_mu_);
    auto it = bucket_cache_.find(std::string(bucket));
    if (it != bucket_cache_.end() && it->second.expires > now) {
      if (!it->second.info.has_value()) co_return Status::NotFound("NoSuchBucket: " + std::string(bucket));
      co_return *it->second.info;
    }
  }
  const std::string rk = BucketRecordKey(bucket);
  Result<ObjectInfo> h = co_await Blocking(ex, [&] { return store_->Head(rk); });
  Cached c;
  c.expires = now + std::chrono::milliseconds(o_.bucket_cache_ms);
  if (h.ok()) {
    BucketInfo b;
    auto owner = h->metadata.system.find("owner");
    auto region = h->metadata.system.find("region");
    if (owner != h->metadata.system.end()) b.owner = owner->second;
    b.region = region != h->metadata.system.end() ? region->second : o_.region;
    b.created_us = h->mtime_us;
    c.info = b;
  } else if (!h.status().IsNotFound()) {
    co_return h.status();
  }
  {
    std::lock_guard<std::mutex> l(cache_mu_);
    // Bounded: a cache of many names (a scan of random names) is dropped whole.
    if (bucket_cache_.size() > 65536) bucket_cache_.clear();
    bucket_cache_[std::string(bucket)] = c;
  }
  if (!c.info.has_value()) co_return Status::NotFound("NoSuchBucket: " + std::string(bucket));
  co_return *c.info;
}

void Gateway::Impl::ForgetBucket(std::string_view bucket) {
  std::lock_guard<std::mutex> l(cache_mu_);
  bucket_cache_.erase(std::string(bucket));
}

bool Gateway::Impl::MayUse(const Request& r, std::string_view bucket, const BucketInfo& b) const {
  if (b.owner == r.access_key) return true;
  for (const std::string& g : r.s3key->buckets)
    if (g == "*" || g == bucket) return true;
  return false;
}

awaitable<Outcome> Gateway::Impl::Authorize(HttpExchange& ex, const Request& r,
                                            std::string_view bucket, BucketInfo* info) {
  Result<BucketInfo> b = co_await LoadBucket(ex, bucket);
  if (!b.ok()) {
    S3Error e = FromStatus(b.status(), "NoSuchBucket");
    if (b.status().IsNotFound()) e.message = "The specified bucket does not exist";
    e.extra_xml = "<BucketName>" + XmlEscape(bucket) + "</BucketName>";
    co_return e;
  }
  if (!MayUse(r, bucket, *b)) co_return S3Error::Make("AccessDenied");
  if (info != nullptr) *info = *b;
  co_return std::nullopt;
}

awaitable<Outcome> Gateway::Impl::BucketRequest(HttpExchange& ex, Request& r) {
  const http::verb m = ex.method();
  if (m == http::verb::put) {
    for (const NoneAnswer& n : kBucketNone)
      if (r.Has(n.param))
        co_return S3Error::Make("NotImplemented", std::string(n.param) + " is not implemented");
    if (r.Has("acl")) {
      Outcome a = co_await Authorize(ex, r, r.bucket);
      if (a) co_return a;
      std::string_view acl = HeaderOr(ex.headers(), "x-amz-acl", "private");
      if (acl != "private" || ex.has_body())
        co_return S3Error::Make("NotImplemented", "only the canned ACL \"private\" is supported");
      co_await SendEmpty(ex, r, 200);
      co_return std::nullopt;
    }
    if (r.Has("versioning"))
      co_return S3Error::Make("NotImplemented", "versioning is not implemented");
    for (const char* p : kBucketUnsupported)
      if (r.Has(p)) co_return S3Error::Make("NotImplemented", std::string(p) + " is not implemented");
    if (!r.query.empty())
      co_return S3Error::Make("NotImplemented", "this bucket sub-resource is not implemented");
    co_return co_await CreateBucket(ex, r);
  }
  if (m == http::verb::post) {
    if (r.Has("delete")) co_return co_await DeleteObjects(ex, r);
    co_return S3Error::Make("NotImplemented", "this POST is not implemented");
  }
  if (m == http::verb::head) {
    BucketInfo b;
    Outcome a = co_await Authorize(ex, r, r.bucket, &b);
    if (a) co_return a;
    http::fields h;
    h.set("x-amz-bucket-region", b.region);
    co_await SendEmpty(ex, r, 200, std::move(h));
    co_return std::nullopt;
  }
  if (m == http::verb::delete_) {
    for (const NoneAnswer& n : kBucketNone) {
      if (r.Has(n.param)) {
        Outcome a = co_await Authorize(ex, r, r.bucket);
        if (a) co_return a;
        co_await SendEmpty(ex, r, 204);  // nothing to delete
        co_return std::nullopt;
      }
    }
    if (!r.query.empty())
      co_return S3Error::Make("NotImplemented", "this bucket sub-resource is not implemented");
    co_return co_await DeleteBucket(ex, r);
  }
  if (m != http::verb::get) co_return S3Error::Make("MethodNotAllowed");
  // GET: a listing, or a sub-resource.
  BucketInfo b;
  Outcome a = co_await Authorize(ex, r, r.bucket, &b);
  if (a) co_return a;
  for (const NoneAnswer& n : kBucketNone) {
    if (r.Has(n.param)) {
      S3Error e = S3Error::Make(n.error);
      e.extra_xml = "<BucketName>" + XmlEscape(r.bucket) + "</BucketName>";
      co_return e;
    }
  }
  for (const char* p : kBucketUnsupported)
    if (r.Has(p)) co_return S3Error::Make("NotImplemented", std::string(p) + " is not implemented");
  if (r.Has("location")) {
    XmlWriter w("LocationConstraint");
    // us-east-1 is written as an empty constraint (what S3 answers for it).
    std::string doc = w.Finish();
    if (b.region != "us-east-1") {
      doc.insert(doc.rfind("</LocationConstraint>"), XmlEscape(b.region));
    }
    co_await SendXml(ex, r, 200, std::move(doc));
    co_return std::nullopt;
  }
  if (r.Has("versioning")) {
    XmlWriter w("VersioningConfiguration");  // never enabled: no Status element
    co_await SendXml(ex, r, 200, w.Finish());
    co_return std::nullopt;
  }
  if (r.Has("acl")) {
    std::string doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AccessControlPolicy "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>" + XmlEscape(b.owner) +
        "</ID><DisplayName>" + XmlEscape(b.owner) +
        "</DisplayName></Owner><AccessControlList><Grant><Grantee "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
        "xsi:type=\"CanonicalUser\"><ID>" + XmlEscape(b.owner) + "</ID><DisplayName>" +
        XmlEscape(b.owner) +
        "</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>"
        "</AccessControlList></AccessControlPolicy>";
    co_await SendXml(ex, r, 200, std::move(doc));
    co_return std::nullopt;
  }
  if (r.Has("logging")) {
    XmlWriter w("BucketLoggingStatus");
    co_await SendXml(ex, r, 200, w.Finish());
    co_return std::nullopt;
  }
  if (r.Has("notification")) {
    XmlWriter w("NotificationConfiguration");
    co_await SendXml(ex, r, 200, w.Finish());
    co_return std::nullopt;
  }
  if (r.Has("requestPayment")) {
    XmlWriter w("RequestPaymentConfiguration");
    w.Leaf("Payer", "BucketOwner");
    co_await SendXml(ex, r, 200, w.Finish());
    co_return std::nullopt;
  }
  if (r.Has("accelerate")) {
    XmlWriter w("AccelerateConfiguration");
    co_await SendXml(ex, r, 200, w.Finish());
    co_return std::nullopt;
  }
  if (r.Has("uploads")) co_return co_await ListUploads(ex, r);
  if (r.Has("versions")) co_return co_await ListObjectVersions(ex, r);
  if (const std::string* lt = r.Q("list-type"); lt != nullptr) {
    if (*lt != "2") co_return S3Error::Make("InvalidArgument", "list-type must be 2");
    co_return co_await ListObjects(ex, r, 2);
  }
  co_return co_await ListObjects(ex, r, 1);
}

awaitable<Outcome> Gateway::Impl::CreateBucket(HttpExchange& ex, Request& r) {
  // The body: empty, or a CreateBucketConfiguration with a LocationConstraint.
  std::string region = o_.region;
  Result<std::string> body = co_await ReadSmallBody(ex, r, o_.max_xml_body_bytes, "max_xml_body_bytes");
  if (!body.ok()) co_return FromStatus(body.status());
  if (!body->empty()) {
    Result<std::unique_ptr<XmlNode>> doc = ParseXml(*body);
    if (!doc.ok()) co_return FromStatus(doc.status());
    if ((*doc)->name != "CreateBucketConfiguration")
      co_return S3Error::Make("MalformedXML", "the body is not a CreateBucketConfiguration");
    if (const XmlNode* lc = (*doc)->Child("LocationConstraint"); lc != nullptr) {
      if (lc->text.empty() || lc->text.size() > 64)
        co_return S3Error::Make("IllegalLocationConstraintException",
                                "the LocationConstraint is empty or too long");
      region = lc->text;
    }
  }
  std::string_view acl = HeaderOr(ex.headers(), "x-amz-acl", "private");
  if (acl != "private" && acl != "bucket-owner-full-control")
    co_return S3Error::Make("NotImplemented", "only the canned ACL \"private\" is supported");
  const std::string rk = BucketRecordKey(r.bucket);
  WriteOptions wo;
  wo.condition = WriteCondition::kIfNoneMatch;
  wo.metadata.system["owner"] = r.access_key;
  wo.metadata.system["region"] = region;
  Result<WriteResult> w = co_await Blocking(ex, [&] { return store_->Put(rk, "", wo); });
  ForgetBucket(r.bucket);
  if (!w.ok()) {
    if (!w.status().IsConflict()) co_return FromStatus(w.status());
    Result<BucketInfo> b = co_await LoadBucket(ex, r.bucket);
    if (b.ok() && b->owner == r.access_key) {
      // S3 (us-east-1) answers 200 to its owner re-creating a bucket; elsewhere 409
      // BucketAlreadyOwnedByYou. Clients (rclone) accept both; the region decides, as in S3.
      if (o_.region == "us-east-1" && region == "us-east-1") {
        http::fields h;
        h.set(http::field::location, "/" + r.bucket);
        co_await SendEmpty(ex, r, 200, std::move(h));
        co_return std::nullopt;
      }
      co_return S3Error::Make("BucketAlreadyOwnedByYou");
    }
    co_return S3Error::Make("BucketAlreadyExists");
  }
  http::fields h;
  h.set(http::field::location, "/" + r.bucket);
  co_await SendEmpty(ex, r, 200, std::move(h));
  co_return std::nullopt;
}

awaitable<Outcome> Gateway::Impl::DeleteBucket(HttpExchange& ex, Request& r) {
  Outcome a = co_await Authorize(ex, r, r.bucket);
  if (a) co_return a;
  ListOptions lo;
  lo.prefix = r.bucket + "/";
  lo.limit = 1;
  Result<ListResult> l = co_await Blocking(ex, [&] { return svc_.List(lo); });
  if (!l.ok()) co_return FromStatus(l.status());
  if (!l->objects.empty()) co_return S3Error::Make("BucketNotEmpty");
  // Uploads in progress are aborted with the bucket.
  ListOptions ul;
  ul.prefix = std::string(kUploadPrefix) + r.bucket + "/";
  ul.limit = kMaxListLimit;
  for (;;) {
    Result<ListResult> u = co_await Blocking(ex, [&] { return store_->List(ul); });
    if (!u.ok()) co_return FromStatus(u.status());
    for (const ObjectInfo& o : u->objects) {
      std::string id = o.key.substr(ul.prefix.size());
      Status s = co_await Blocking(ex, [&] { return RemoveUpload(r.bucket, id); });
      if (!s.ok()) co_return FromStatus(s);
    }
    if (!u->truncated) break;
    ul.start_after = u->next_start_after;
  }
  const std::string rk = BucketRecordKey(r.bucket);
  Result<WriteResult> d = co_await Blocking(ex, [&] { return store_->Delete(rk); });
  ForgetBucket(r.bucket);
  if (!d.ok() && !d.status().IsNotFound()) co_return FromStatus(d.status());
  co_await SendEmpty(ex, r, 204);
  co_return std::nullopt;
}

awaitable<Outcome> Gateway::Impl::ListBuckets(HttpExchange& ex, Request& r) {
  uint32_t max = 10000;
  if (const std::string* m = r.Q("max-buckets"); m != nullptr) {
    if (m->empty() || m->size() > 5 ||
        !std::all_of(m->begin(), m->end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoul(*m) < 1 || std::stoul(*m) > 10000)
      co_return S3Error::Make("InvalidArgument", "max-buckets must be 1 to 10000");
    max = static_cast<uint32_t>(std::stoul(*m));
  }
  std::string after;
  if (const std::string* t = r.Q("continuation-token"); t != nullptr && !t->empty()) {
    if (!Unbase64(*t, &after)) co_return S3Error::Make("InvalidArgument", "bad continuation-token");
  }
  std::string prefix;
  if (const std::string* p = r.Q("prefix"); p != nullptr) prefix = *p;
  ListOptions lo;
  lo.prefix = std::string(kBucketRecordPrefix) + prefix;
  if (!after.empty()) lo.start_after = std::string(kBucketRecordPrefix) + after;
  lo.limit = kMaxListLimit;
  std::vector<std::pair<std::string, uint64_t>> out;
  bool more = false;
  std::string last;
  for (;;) {
    Result<ListResult> l = co_await Blocking(ex, [&] { return store_->List(lo); });
    if (!l.ok()) co_return FromStatus(l.status());
    for (const ObjectInfo& o : l->objects) {
      std::string name = o.key.substr(kBucketRecordPrefix.size());
      BucketInfo b;
      auto owner = o.metadata.system.find("owner");
      if (owner != o.metadata.system.end()) b.owner = owner->second;
      if (!MayUse(r, name, b)) continue;
      if (out.size() == max) {
        more = true;
        break;
      }
      out.emplace_back(name, o.mtime_us);
      last = name;
    }
    if (more || !l->truncated) break;
    lo.start_after = l->next_start_after;
  }
  XmlWriter w("ListAllMyBucketsResult");
  w.Open("Owner");
  w.Leaf("ID", r.access_key);
  w.Leaf("DisplayName", r.access_key);
  w.Close();
  w.Open("Buckets");
  for (const auto& [name, us] : out) {
    w.Open("Bucket");
    w.Leaf("Name", name);
    w.Leaf("CreationDate", FormatIso8601(static_cast<int64_t>(us)));
    w.Close();
  }
  w.Close();
  if (more) w.Leaf("ContinuationToken", Base64(last));
  if (!prefix.empty()) w.Leaf("Prefix", prefix);
  co_await SendXml(ex, r, 200, w.Finish());
  co_return std::nullopt;
}

// ---- Gateway -------------------------------------------------------------------------------

Gateway::Gateway(ObjectStore* store, GatewayOptions options)
    : impl_(std::make_unique<Impl>(store, std::move(options))) {}
Gateway::~Gateway() = default;

net::HttpHandler Gateway::Handler() {
  Impl* impl = impl_.get();
  return [impl](HttpExchange& ex) -> awaitable<void> { return impl->Handle(ex); };
}

net::HttpErrorRenderer Gateway::ErrorRenderer() {
  Impl* impl = impl_.get();
  return [impl](unsigned status, std::string_view message) {
    return impl->RenderServerError(status, message);
  };
}

Result<uint64_t> Gateway::CleanAbandonedUploads(int64_t now_s) {
  return impl_->CleanAbandonedUploads(now_s);
}
const GatewayOptions& Gateway::options() const { return impl_->o_; }
GatewayCounters& Gateway::counters() { return impl_->counters_; }

void Gateway::WriteMetrics(ops::ExpositionWriter& w) const {
  const std::span<const S3ErrorCode> codes = AllS3ErrorCodes();
  impl_->by_op_.Write(
      w, "cairn_s3",
      [](size_t op) { return op < static_cast<size_t>(S3Op::kCount) ? S3OpName(static_cast<S3Op>(op)) : nullptr; },
      [codes](size_t code) -> const char* {
        if (code == codes.size() + 1) return "unknown";
        return code >= 1 && code <= codes.size() ? codes[code - 1].code : nullptr;
      });
  const GatewayCounters& c = impl_->counters_;
  w.Counter("cairn_s3_auth_failures_total", "Requests refused by authentication (SigV4).",
            c.auth_failures.load(std::memory_order_relaxed));
  w.Counter("cairn_s3_received_object_bytes_total", "Object bytes stored through S3 (PUT, parts).",
            c.bytes_in.load(std::memory_order_relaxed));
  w.Counter("cairn_s3_uploads_cleaned_total", "Abandoned multipart uploads removed.",
            c.uploads_cleaned.load(std::memory_order_relaxed));
  w.Counter("cairn_s3_long_answers_total",
            "Completes and copies that answered 200 before they ended and kept the connection "
            "alive with spaces.",
            c.long_answers.load(std::memory_order_relaxed));
}

// ---- Endpoint ------------------------------------------------------------------------------

S3Endpoint::S3Endpoint(ObjectStore* store, GatewayOptions gw, S3EndpointOptions eo)
    : gateway_(std::make_unique<Gateway>(store, std::move(gw))),
      eo_(std::move(eo)),
      loops_(std::max<uint32_t>(1, eo_.threads)),
      pool_(std::max<uint32_t>(1, eo_.io_threads)) {
  http_ = std::make_unique<net::HttpServer>(eo_.http, &loops_, &pool_, gateway_->Handler(),
                                            gateway_->ErrorRenderer());
}

S3Endpoint::~S3Endpoint() { Stop(); }

Result<uint16_t> S3Endpoint::Start() {
  Result<uint16_t> port = http_->Start();
  if (!port.ok()) return port;
  cleanup_ = std::make_unique<net::asio::steady_timer>(loops_.loop(0));
  loops_.Start();
  started_ = true;
  net::asio::post(loops_.loop(0), [this] { ScheduleCleanup(); });
  return port;
}

void S3Endpoint::WriteMetrics(ops::ExpositionWriter& w) {
  gateway_->WriteMetrics(w);
  const net::HttpServerCounters& h = http_->counters();
  w.Gauge("cairn_s3_connections", "Connections open on the S3 listener.",
          static_cast<double>(h.connections.load(std::memory_order_relaxed)));
  w.Counter("cairn_s3_connections_accepted_total", "Connections the S3 listener accepted.",
            h.connections_total.load(std::memory_order_relaxed));
  w.Counter("cairn_s3_connections_refused_total",
            "Connections refused over the S3 listener's max_connections.",
            h.connections_refused.load(std::memory_order_relaxed));
  w.Counter("cairn_s3_sent_bytes_total", "Bytes the S3 listener sent (heads and bodies).",
            h.bytes_out.load(std::memory_order_relaxed));
  w.Counter("cairn_s3_http_refused_total",
            "Requests the S3 listener's HTTP layer refused itself (limits, framing), before the gateway.",
            h.bad_requests.load(std::memory_order_relaxed));
  w.Family("cairn_s3_http_timeouts_total", "S3 connections closed by a timeout.",
           ops::MetricType::kCounter);
  w.Sample("cairn_s3_http_timeouts_total", {{"kind", "header"}},
           h.header_timeouts.load(std::memory_order_relaxed));
  w.Sample("cairn_s3_http_timeouts_total", {{"kind", "idle"}},
           h.idle_timeouts.load(std::memory_order_relaxed));
}

void S3Endpoint::ScheduleCleanup() {
  const uint32_t every = std::max<uint32_t>(1, gateway_->options().upload_cleanup_interval_s);
  cleanup_->expires_after(std::chrono::seconds(every));
  cleanup_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    if (!cleaning_.exchange(true)) {
      net::asio::post(pool_, [this] {
        const int64_t now = gateway_->options().now_s();
        (void)gateway_->CleanAbandonedUploads(now);
        cleaning_.store(false);
      });
    }
    ScheduleCleanup();
  });
}

void S3Endpoint::Stop() {
  if (!started_) return;
  started_ = false;
  http_->Stop();
  std::promise<void> done;
  net::asio::post(loops_.loop(0), [&] {
    cleanup_->cancel();
    done.set_value();
  });
  done.get_future().wait();
  pool_.join();  // a cleanup in progress finishes
  loops_.Stop();
  for (size_t i = 0; i < loops_.size(); i++) loops_.loop(i).stop();
  loops_.Join();
}

}  // namespace cairn::gateway
