// The S3 gateway against a local store over real sockets (label `s3`): every request signed
// here with SigV4 (sigv4_test.cc pins the signer to AWS's examples). Authentication failures,
// integrity checks, conditions, ranges, permissions, multipart rules, the cleanup of abandoned
// uploads, and hostile HTTP; each failure checked for its S3 error code and for nothing stored.
#include "gateway/s3_gateway.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <openssl/evp.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "cairn/local_object_store.h"
#include "util/write_gate.h"
#include "gateway/put_body.h"
#include "gateway/s3_xml.h"
#include "gateway/sigv4.h"
#include "ops/exposition.h"
#include "util/crc32c.h"

namespace cairn::gateway {
namespace {

namespace fs = std::filesystem;

constexpr char kAk[] = "AKIDALICE";
constexpr char kSecret[] = "alice-secret-0123456789";
constexpr char kBobAk[] = "AKIDBOB";
constexpr char kBobSecret[] = "bob-secret-0123456789ab";
constexpr char kCarolAk[] = "AKIDCAROL";  // granted bucket "shared"
constexpr char kCarolSecret[] = "carol-secret-0123456789";

int64_t Now() { return static_cast<int64_t>(::time(nullptr)); }

struct Resp {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  bool ok = false;
  std::string Code() const {
    auto doc = ParseXml(body);
    if (!doc.ok() || (*doc)->Child("Code") == nullptr) return "";
    return (*doc)->Child("Code")->text;
  }
  std::string H(const std::string& n) const {
    auto it = headers.find(n);
    return it == headers.end() ? "" : it->second;
  }
};

int Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Big-endian bytes, as S3's checksums are sent (base64 of these).
std::string Be64(uint64_t v) {
  std::string s;
  for (int i = 7; i >= 0; i--) s.push_back(static_cast<char>(v >> (8 * i)));
  return s;
}

// S3's CRC `alg` of `data`, as the big-endian bytes S3 sends base64-encoded.
std::string CrcOf(std::string_view alg, std::string_view data) {
  std::unique_ptr<CrcChecksum> c = CrcChecksum::Make(alg);
  c->Update(data.data(), data.size());
  return c->Value();
}

// One response (Content-Length or chunked body; none for HEAD or 204/304).
Resp ReadResp(int fd, bool head, int timeout_ms = 10000) {
  Resp r;
  std::string in;
  char buf[65536];
  auto fill = [&]() {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    in.append(buf, static_cast<size_t>(n));
    return true;
  };
  size_t end;
  while ((end = in.find("\r\n\r\n")) == std::string::npos)
    if (!fill()) return r;
  std::string head_text = in.substr(0, end + 2);
  in.erase(0, end + 4);
  r.status = std::atoi(head_text.c_str() + 9);
  size_t pos = head_text.find("\r\n") + 2;
  while (pos < head_text.size()) {
    size_t e = head_text.find("\r\n", pos);
    std::string line = head_text.substr(pos, e - pos);
    pos = e + 2;
    size_t c = line.find(':');
    if (c == std::string::npos) continue;
    std::string n = line.substr(0, c);
    for (char& ch : n) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string v = line.substr(c + 1);
    while (!v.empty() && v.front() == ' ') v.erase(v.begin());
    r.headers[n] = v;
  }
  if (head || r.status == 204 || r.status == 304) {
    r.ok = true;
    return r;
  }
  if (r.H("transfer-encoding") == "chunked") {
    for (;;) {
      size_t le;
      while ((le = in.find("\r\n")) == std::string::npos)
        if (!fill()) return r;
      uint64_t n = std::stoull(in.substr(0, le), nullptr, 16);
      in.erase(0, le + 2);
      while (in.size() < n + 2)
        if (!fill()) return r;
      r.body += in.substr(0, n);
      in.erase(0, n + 2);
      if (n == 0) break;
    }
  } else {
    uint64_t len = r.headers.count("content-length") ? std::stoull(r.H("content-length")) : 0;
    while (in.size() < len)
      if (!fill()) return r;
    r.body = in.substr(0, len);
  }
  r.ok = true;
  return r;
}

// Splits "/b/k?x=y" into its decoded path and query pairs, as the gateway sees them.
void SplitTarget(const std::string& target, std::string* path,
                 std::vector<std::pair<std::string, std::string>>* query) {
  size_t q = target.find('?');
  UriDecode(target.substr(0, q), path);
  if (q != std::string::npos) ParseQuery(target.substr(q + 1), query);
}

struct Req {
  std::string method = "GET";
  std::string target = "/";  // encoded, as sent
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string ak = kAk, secret = kSecret;
  bool sign = true;
  std::string payload_hash;  // default: the body's SHA-256
  int64_t at = 0;            // signing time (default now)
};

class S3GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(GatewayOptions()); }
  void TearDown() override {
    endpoint_.reset();
    if (store_) (void)store_->Close();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void Start(GatewayOptions go, net::HttpLimits limits = net::HttpLimits()) {
    endpoint_.reset();
    if (!store_) {
      dir_ = fs::temp_directory_path() /
             ("cairn_s3_test." + std::to_string(::getpid()) + "." +
              std::to_string(reinterpret_cast<uintptr_t>(this)));
      StoreOptions so;
      so.volume_capacity = 64 << 20;
      auto s = LocalObjectStore::Open(dir_.string(), so);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      store_ = std::move(*s);
    }
    go.keys[kAk] = S3Key{kSecret, {}};
    go.keys[kBobAk] = S3Key{kBobSecret, {}};
    go.keys[kCarolAk] = S3Key{kCarolSecret, {"shared"}};
    S3EndpointOptions eo;
    eo.threads = 2;
    eo.io_threads = 4;
    eo.http.limits = limits;
    endpoint_ = std::make_unique<S3Endpoint>(served_ != nullptr ? served_ : store_.get(),
                                             std::move(go), eo);
    auto p = endpoint_->Start();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    port_ = *p;
  }

  std::string Host() const { return "127.0.0.1:" + std::to_string(port_); }

  std::string Build(const Req& q) {
    std::vector<std::pair<std::string, std::string>> h = q.headers;
    h.emplace_back("host", Host());
    std::string out = q.method + " " + q.target + " HTTP/1.1\r\n";
    if (q.sign) {
      std::string path;
      std::vector<std::pair<std::string, std::string>> query;
      SplitTarget(q.target, &path, &query);
      const std::string ph = q.payload_hash.empty() ? Hex(Sha256(q.body)) : q.payload_hash;
      std::string auth = SignRequest(SignerKey{q.ak, q.secret, "us-east-1"},
                                     q.at != 0 ? q.at : Now(), q.method, path, query, &h, ph);
      h.emplace_back("authorization", auth);
    }
    bool has_len = false, chunked = false;
    for (const auto& [n, v] : h) {
      out += n + ": " + v + "\r\n";
      if (n == "content-length") has_len = true;
      if (n == "transfer-encoding") chunked = true;
    }
    if (!has_len && !chunked && (!q.body.empty() || q.method == "PUT" || q.method == "POST"))
      out += "content-length: " + std::to_string(q.body.size()) + "\r\n";
    out += "\r\n";
    out += q.body;
    return out;
  }

  Resp Do(const Req& q) {
    int fd = Connect(port_);
    EXPECT_GE(fd, 0);
    SendAll(fd, Build(q));
    Resp r = ReadResp(fd, q.method == "HEAD");
    ::close(fd);
    return r;
  }
  Resp Do(std::string method, std::string target, std::string body = "",
          std::vector<std::pair<std::string, std::string>> headers = {}) {
    Req q;
    q.method = std::move(method);
    q.target = std::move(target);
    q.body = std::move(body);
    q.headers = std::move(headers);
    return Do(q);
  }

  bool Stored(const std::string& bucket, const std::string& key) {
    return store_->Head(ObjectStoreKey(bucket, key)).ok();
  }

  // A multipart upload of `parts` to bkt/KEY, completed with `complete_headers`: its upload id
  // and Complete's response.
  std::pair<std::string, Resp> Multipart(
      const std::string& key, const std::vector<std::string>& parts,
      std::vector<std::pair<std::string, std::string>> complete_headers = {}) {
    Resp c = Do("POST", "/bkt/" + key + "?uploads", "", {{"x-amz-meta-color", "red"}});
    auto doc = ParseXml(c.body);
    EXPECT_TRUE(doc.ok()) << c.body;
    const std::string id = doc.ok() ? (*doc)->Child("UploadId")->text : "";
    std::string x = "<CompleteMultipartUpload>";
    for (size_t i = 0; i < parts.size(); i++) {
      Resp p = Do("PUT", fmt::format("/bkt/{}?partNumber={}&uploadId={}", key, i + 1, id), parts[i]);
      EXPECT_EQ(p.status, 200) << p.body;
      x += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1,
                       XmlEscape(p.H("etag")));
    }
    x += "</CompleteMultipartUpload>";
    return std::pair{id, Do("POST", "/bkt/" + key + "?uploadId=" + id, x, complete_headers)};
  }

  fs::path dir_;
  std::unique_ptr<LocalObjectStore> store_;
  ObjectStore* served_ = nullptr;  // the store the endpoint serves, when not store_
  std::unique_ptr<S3Endpoint> endpoint_;
  uint16_t port_ = 0;
};

TEST_F(S3GatewayTest, BucketLifeCycle) {
  { Resp x = Do("PUT", "/bk1"); EXPECT_EQ(x.status, 200) << x.body; }
  // Again by its owner: 200 in us-east-1 (S3's answer there); by another key: 409.
  EXPECT_EQ(Do("PUT", "/bk1/").status, 200);
  Req other;
  other.method = "PUT";
  other.target = "/bk1";
  other.ak = kBobAk;
  other.secret = kBobSecret;
  Resp r = Do(other);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.Code(), "BucketAlreadyExists");
  // With a location body, with and without the namespace.
  EXPECT_EQ(Do("PUT", "/bk2",
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                "<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>")
                .status,
            200);
  r = Do("GET", "/bk2?location");
  EXPECT_NE(r.body.find(">eu-west-1</LocationConstraint>"), std::string::npos) << r.body;
  r = Do("PUT", "/bk3", "<CreateBucketConfiguration><LocationConstraint>x</LocationConstraint>");
  EXPECT_EQ(r.Code(), "MalformedXML");
  EXPECT_EQ(Do("PUT", "/Bad_Name").Code(), "InvalidBucketName");
  EXPECT_EQ(Do("HEAD", "/bk1").status, 200);
  EXPECT_EQ(Do("HEAD", "/nope").status, 404);
  r = Do("GET", "/");
  EXPECT_NE(r.body.find("<Name>bk1</Name>"), std::string::npos);
  EXPECT_NE(r.body.find("<Name>bk2</Name>"), std::string::npos);
  // Bob sees none of Alice's buckets.
  Req bl;
  bl.ak = kBobAk;
  bl.secret = kBobSecret;
  EXPECT_EQ(Do(bl).body.find("<Name>bk1</Name>"), std::string::npos);
  // The probes clients send.
  EXPECT_EQ(Do("GET", "/bk1?versioning").status, 200);
  EXPECT_EQ(Do("GET", "/bk1?acl").status, 200);
  EXPECT_EQ(Do("GET", "/bk1?policy").Code(), "NoSuchBucketPolicy");
  EXPECT_EQ(Do("GET", "/bk1?cors").Code(), "NoSuchCORSConfiguration");
  EXPECT_EQ(Do("GET", "/bk1?lifecycle").Code(), "NoSuchLifecycleConfiguration");
  EXPECT_EQ(Do("GET", "/bk1?tagging").Code(), "NoSuchTagSet");
  EXPECT_EQ(Do("GET", "/bk1?website").Code(), "NoSuchWebsiteConfiguration");
  EXPECT_EQ(Do("GET", "/bk1?encryption").Code(), "ServerSideEncryptionConfigurationNotFoundError");
  EXPECT_EQ(Do("GET", "/bk1?object-lock").Code(), "ObjectLockConfigurationNotFoundError");
  EXPECT_EQ(Do("PUT", "/bk1?policy", "{}").Code(), "NotImplemented");
  EXPECT_EQ(Do("GET", "/bk1?replication").Code(), "NotImplemented");
  // Delete only when empty.
  EXPECT_EQ(Do("PUT", "/bk1/k", "x").status, 200);
  EXPECT_EQ(Do("DELETE", "/bk1").Code(), "BucketNotEmpty");
  EXPECT_EQ(Do("DELETE", "/bk1/k").status, 204);
  EXPECT_EQ(Do("DELETE", "/bk1").status, 204);
  EXPECT_EQ(Do("HEAD", "/bk1").status, 404);
  EXPECT_EQ(Do("GET", "/bk1/k").Code(), "NoSuchBucket");
  EXPECT_EQ(Do("DELETE", "/bk1").Code(), "NoSuchBucket");
  EXPECT_EQ(Do("POST", "/").Code(), "MethodNotAllowed");
}

TEST_F(S3GatewayTest, Issue12AObjectRequestsAreReportedToTheBackgroundBudget) {
  // cairnd gives its S3 gateway the process's background budget: S3 clients' latency steers
  // reclamation and repair as native clients' does. The data requests count, as natively; a
  // listing and a bucket's creation do not.
  BackgroundScheduler budget;
  GatewayOptions go;
  go.background = &budget;
  Start(go);
  ASSERT_EQ(Do("PUT", "/bgt").status, 200);
  ASSERT_EQ(Do("PUT", "/bgt/k", "value").status, 200);
  EXPECT_EQ(Do("GET", "/bgt/k").status, 200);
  EXPECT_EQ(Do("HEAD", "/bgt/k").status, 200);
  EXPECT_EQ(Do("GET", "/bgt?list-type=2").status, 200);
  EXPECT_EQ(Do("DELETE", "/bgt/k").status, 204);
  // Reported once the handler is done, which may be just after the response reached us.
  for (int i = 0; i < 400 && budget.stats().foreground_requests < 4; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(budget.stats().foreground_requests, 4u);
}

TEST_F(S3GatewayTest, AuthenticationFailuresStoreNothing) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  // Anonymous.
  Req q;
  q.method = "PUT";
  q.target = "/bkt/anon";
  q.body = "x";
  q.sign = false;
  Resp r = Do(q);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Code(), "AccessDenied");
  EXPECT_FALSE(r.H("x-amz-request-id").empty());
  auto doc = ParseXml(r.body);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ((*doc)->Child("RequestId")->text, r.H("x-amz-request-id"));
  // An unknown key, a wrong secret, a stale clock.
  q = Req();
  q.method = "PUT";
  q.target = "/bkt/k";
  q.body = "x";
  q.ak = "AKIDNOBODY";
  EXPECT_EQ(Do(q).Code(), "InvalidAccessKeyId");
  q.ak = kAk;
  q.secret = "not-the-secret-at-all";
  EXPECT_EQ(Do(q).Code(), "SignatureDoesNotMatch");
  q.secret = kSecret;
  q.at = Now() - 3600;
  EXPECT_EQ(Do(q).Code(), "RequestTimeTooSkewed");
  // A body other than the signed hash.
  q.at = 0;
  q.payload_hash = Hex(Sha256("y"));
  EXPECT_EQ(Do(q).Code(), "XAmzContentSHA256Mismatch");
  // Malformed Authorization, and SigV2.
  Req m;
  m.sign = false;
  m.target = "/bkt/k";
  m.headers = {{"authorization", "AWS4-HMAC-SHA256 Credential=x"}};
  EXPECT_EQ(Do(m).Code(), "AuthorizationHeaderMalformed");
  m.headers = {{"authorization", "AWS AKID:c2ln"}};
  EXPECT_EQ(Do(m).Code(), "InvalidRequest");
  EXPECT_FALSE(Stored("bkt", "anon"));
  EXPECT_FALSE(Stored("bkt", "k"));
  // Another key's bucket.
  q = Req();
  q.method = "PUT";
  q.target = "/bkt/k";
  q.body = "x";
  q.ak = kBobAk;
  q.secret = kBobSecret;
  EXPECT_EQ(Do(q).Code(), "AccessDenied");
  EXPECT_FALSE(Stored("bkt", "k"));
  EXPECT_GT(endpoint_->gateway().counters().auth_failures.load(), 5u);
}

TEST_F(S3GatewayTest, GrantedBucketsAndPresignedUrls) {
  ASSERT_EQ(Do("PUT", "/shared").status, 200);
  ASSERT_EQ(Do("PUT", "/private").status, 200);
  Req q;
  q.method = "PUT";
  q.target = "/shared/k";
  q.body = "from carol";
  q.ak = kCarolAk;
  q.secret = kCarolSecret;
  EXPECT_EQ(Do(q).status, 200);
  q.target = "/private/k";
  EXPECT_EQ(Do(q).Code(), "AccessDenied");
  // Presigned GET and PUT.
  const SignerKey key{kAk, kSecret, "us-east-1"};
  std::string qs = PresignQuery(key, Now(), 60, "PUT", "/shared/pre", Host());
  Req p;
  p.sign = false;
  p.method = "PUT";
  p.target = "/shared/pre?" + qs;
  p.body = "presigned body";
  EXPECT_EQ(Do(p).status, 200);
  p.method = "GET";
  p.body.clear();
  p.target = "/shared/pre?" + PresignQuery(key, Now(), 60, "GET", "/shared/pre", Host());
  Resp r = Do(p);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "presigned body");
  // Expired, tampered, and a method it was not signed for.
  p.target = "/shared/pre?" + PresignQuery(key, Now() - 120, 60, "GET", "/shared/pre", Host());
  r = Do(p);
  EXPECT_EQ(r.Code(), "AccessDenied");
  EXPECT_NE(r.body.find("expired"), std::string::npos);
  p.target = "/shared/pre2?" + PresignQuery(key, Now(), 60, "GET", "/shared/pre", Host());
  EXPECT_EQ(Do(p).Code(), "SignatureDoesNotMatch");
  p.method = "DELETE";
  p.target = "/shared/pre?" + PresignQuery(key, Now(), 60, "GET", "/shared/pre", Host());
  EXPECT_EQ(Do(p).Code(), "SignatureDoesNotMatch");
  EXPECT_TRUE(Stored("shared", "pre"));
  p.target = "/shared/pre?" + PresignQuery(key, Now(), 700000, "GET", "/shared/pre", Host());
  p.method = "GET";
  EXPECT_EQ(Do(p).Code(), "AuthorizationQueryParametersError");
}

TEST_F(S3GatewayTest, ObjectsMetadataAndIntegrity) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  Resp r = Do("PUT", "/bkt/dir/k1", "hello world",
              {{"content-type", "text/plain"},
               {"x-amz-meta-color", "blue"},
               {"cache-control", "no-cache"},
               {"content-disposition", "attachment"},
               {"content-encoding", "identity"},
               {"content-language", "en"},
               {"expires", "Thu, 01 Dec 2044 16:00:00 GMT"},
               {"content-md5", Base64(std::string("\x5e\xb6\x3b\xbb\xe0\x1e\xee\xd0\x93\xcb\x22\xbb\x8f\x5a\xcd\xc3", 16))}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.H("etag"), "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");
  r = Do("GET", "/bkt/dir/k1");
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(r.H("content-type"), "text/plain");
  EXPECT_EQ(r.H("x-amz-meta-color"), "blue");
  EXPECT_EQ(r.H("cache-control"), "no-cache");
  EXPECT_EQ(r.H("content-disposition"), "attachment");
  EXPECT_EQ(r.H("content-encoding"), "identity");
  EXPECT_EQ(r.H("content-language"), "en");
  EXPECT_EQ(r.H("expires"), "Thu, 01 Dec 2044 16:00:00 GMT");
  EXPECT_EQ(r.H("etag"), "\"5eb63bbbe01eeed093cb22bb8f5acdc3\"");
  EXPECT_FALSE(r.H("last-modified").empty());
  r = Do("HEAD", "/bkt/dir/k1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.H("content-length"), "11");
  // A wrong Content-MD5, a malformed one, a wrong CRC32: nothing stored.
  r = Do("PUT", "/bkt/bad", "hello", {{"content-md5", Base64(std::string(16, 'x'))}});
  EXPECT_EQ(r.Code(), "BadDigest");
  r = Do("PUT", "/bkt/bad", "hello", {{"content-md5", "zz"}});
  EXPECT_EQ(r.Code(), "InvalidDigest");
  r = Do("PUT", "/bkt/bad", "hello", {{"x-amz-checksum-crc32", "AAAAAA=="}});
  EXPECT_EQ(r.Code(), "BadDigest");
  EXPECT_FALSE(Stored("bkt", "bad"));
  r = Do("PUT", "/bkt/good", "hello", {{"x-amz-checksum-crc32", "NhCmhg=="}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.H("x-amz-checksum-crc32"), "NhCmhg==");
  uint32_t c = crc32c::Value("hello");
  std::string be = {static_cast<char>(c >> 24), static_cast<char>(c >> 16), static_cast<char>(c >> 8),
                    static_cast<char>(c)};
  EXPECT_EQ(Do("PUT", "/bkt/good2", "hello", {{"x-amz-checksum-crc32c", Base64(be)}}).status, 200);
  // CRC64NVME: S3's check value (CRC-64/NVME of "123456789"); a wrong one refused, nothing
  // stored; the right one stored and echoed.
  EXPECT_EQ(CrcOf("crc64nvme", "123456789"), Be64(0xAE8B14860A799888u));
  r = Do("PUT", "/bkt/bad", "hello", {{"x-amz-checksum-crc64nvme", Base64(std::string(8, 'x'))}});
  EXPECT_EQ(r.Code(), "BadDigest");
  EXPECT_FALSE(Stored("bkt", "bad"));
  r = Do("PUT", "/bkt/good3", "hello", {{"x-amz-checksum-crc64nvme", Base64(CrcOf("crc64nvme", "hello"))}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.H("x-amz-checksum-crc64nvme"), Base64(CrcOf("crc64nvme", "hello")));
  // A large (streamed) body whose hash does not match: nothing visible.
  Req big;
  big.method = "PUT";
  big.target = "/bkt/big";
  big.body = std::string(3 << 20, 'z');
  big.payload_hash = Hex(Sha256("other"));
  EXPECT_EQ(Do(big).Code(), "XAmzContentSHA256Mismatch");
  EXPECT_FALSE(Stored("bkt", "big"));
  big.payload_hash.clear();
  r = Do(big);
  EXPECT_EQ(r.status, 200);
  // The streamed body's ETag is its MD5 (stored with it at the end of the stream).
  unsigned char md[16];
  unsigned int k = 0;
  EVP_Digest(big.body.data(), big.body.size(), md, &k, EVP_md5(), nullptr);
  EXPECT_EQ(r.H("etag"), "\"" + Hex(std::string(reinterpret_cast<char*>(md), 16)) + "\"");
  EXPECT_EQ(Do("HEAD", "/bkt/big").H("etag"), r.H("etag"));
  // Keys: too long for the bucket, and empty-ish.
  r = Do("PUT", "/bkt/" + std::string(1100, 'k'), "x");
  EXPECT_EQ(r.Code(), "KeyTooLongError");
  EXPECT_EQ(Do("PUT", "/bkt/" + std::string(MaxS3KeyBytes("bkt"), 'k'), "x").status, 200);
  EXPECT_EQ(Do("GET", "/bkt/missing").Code(), "NoSuchKey");
  EXPECT_EQ(Do("HEAD", "/bkt/missing").status, 404);
  // Metadata over max_meta_bytes.
  r = Do("PUT", "/bkt/meta", "x", {{"x-amz-meta-big", std::string(9000, 'm')}});
  EXPECT_EQ(r.Code(), "MetadataTooLarge");
  // Deletes: idempotent; batch with quiet and not.
  EXPECT_EQ(Do("DELETE", "/bkt/dir/k1").status, 204);
  EXPECT_EQ(Do("DELETE", "/bkt/dir/k1").status, 204);
  r = Do("POST", "/bkt?delete",
         "<Delete><Object><Key>good</Key></Object><Object><Key>never</Key></Object>"
         "<Object><Key>good2</Key><VersionId>v9</VersionId></Object></Delete>");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("<Deleted><Key>good</Key></Deleted>"), std::string::npos);
  EXPECT_NE(r.body.find("<Deleted><Key>never</Key></Deleted>"), std::string::npos);
  EXPECT_NE(r.body.find("<Code>NoSuchVersion</Code>"), std::string::npos);
  EXPECT_FALSE(Stored("bkt", "good"));
  r = Do("POST", "/bkt?delete", "<Delete><Quiet>true</Quiet><Object><Key>good2</Key></Object></Delete>");
  EXPECT_EQ(r.body.find("<Deleted>"), std::string::npos);
  EXPECT_FALSE(Stored("bkt", "good2"));
  EXPECT_EQ(Do("POST", "/bkt?delete", "<Delete>").Code(), "MalformedXML");
}

// A write that asks for what the gateway does not do is refused, never stored without it: an
// object someone believes encrypted, tagged, public or locked is not written unencrypted,
// untagged, private or unlocked.
TEST_F(S3GatewayTest, Issue13WritesAskingForWhatIsNotDoneAreRefusedNotDropped) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  ASSERT_EQ(Do("PUT", "/bkt/src", "x").status, 200);
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"x-amz-server-side-encryption", "AES256"},
      {"x-amz-server-side-encryption-customer-algorithm", "AES256"},
      {"x-amz-tagging", "a=b"},
      {"x-amz-acl", "public-read"},
      {"x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""},
      {"x-amz-object-lock-mode", "GOVERNANCE"},
      {"x-amz-website-redirect-location", "/elsewhere"}};
  for (const auto& [name, value] : refused) {
    SCOPED_TRACE(name);
    Resp r = Do("PUT", "/bkt/k", "x", {{name, value}});
    EXPECT_EQ(r.status, 501);
    EXPECT_EQ(r.Code(), "NotImplemented");
    EXPECT_NE(r.body.find(name), std::string::npos) << r.body;  // the error names the header
    EXPECT_EQ(Do("PUT", "/bkt/copy", "", {{"x-amz-copy-source", "/bkt/src"}, {name, value}}).Code(),
              "NotImplemented");
    EXPECT_EQ(Do("POST", "/bkt/mp?uploads", "", {{name, value}}).Code(), "NotImplemented");
  }
  EXPECT_FALSE(Stored("bkt", "k"));
  EXPECT_FALSE(Stored("bkt", "copy"));
  EXPECT_EQ(Do("PUT", "/bkt/k", "x", {{"x-amz-storage-class", "NO_SUCH"}}).Code(), "InvalidStorageClass");
  EXPECT_FALSE(Stored("bkt", "k"));
  // What asks for nothing more is stored: the owner's canned ACLs, an empty tag set, a class
  // S3 has.
  EXPECT_EQ(Do("PUT", "/bkt/k", "x", {{"x-amz-acl", "private"}}).status, 200);
  EXPECT_EQ(Do("PUT", "/bkt/k", "x", {{"x-amz-acl", "bucket-owner-full-control"}}).status, 200);
  EXPECT_EQ(Do("PUT", "/bkt/k", "x", {{"x-amz-tagging", ""}}).status, 200);
  EXPECT_EQ(Do("PUT", "/bkt/k", "x", {{"x-amz-storage-class", "STANDARD_IA"}}).status, 200);
}

TEST_F(S3GatewayTest, RangesAndConditions) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  ASSERT_EQ(Do("PUT", "/bkt/k", "0123456789").status, 200);
  Resp r = Do("GET", "/bkt/k", "", {{"range", "bytes=2-4"}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "234");
  EXPECT_EQ(r.H("content-range"), "bytes 2-4/10");
  r = Do("GET", "/bkt/k", "", {{"range", "bytes=7-"}});
  EXPECT_EQ(r.body, "789");
  r = Do("GET", "/bkt/k", "", {{"range", "bytes=-3"}});
  EXPECT_EQ(r.body, "789");
  r = Do("GET", "/bkt/k", "", {{"range", "bytes=-30"}});  // longer than the object: all of it
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "0123456789");
  EXPECT_EQ(r.H("content-range"), "bytes 0-9/10");
  r = Do("GET", "/bkt/k", "", {{"range", "bytes=0-"}});
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.H("content-range"), "bytes 0-9/10");
  r = Do("GET", "/bkt/k", "", {{"range", "bytes=5-100"}});
  EXPECT_EQ(r.body, "56789");
  r = Do("GET", "/bkt/k", "", {{"range", "bytes=10-"}});
  EXPECT_EQ(r.status, 416);
  EXPECT_EQ(r.Code(), "InvalidRange");
  EXPECT_EQ(r.H("content-range"), "bytes */10");
  r = Do("GET", "/bkt/k", "", {{"range", "bytes=x-y"}});  // ignored
  EXPECT_EQ(r.status, 200);
  const std::string etag = Do("HEAD", "/bkt/k").H("etag");
  EXPECT_EQ(Do("GET", "/bkt/k", "", {{"if-none-match", etag}}).status, 304);
  EXPECT_EQ(Do("GET", "/bkt/k", "", {{"if-match", "\"nope\""}}).Code(), "PreconditionFailed");
  EXPECT_EQ(Do("GET", "/bkt/k", "", {{"if-match", etag}}).status, 200);
  EXPECT_EQ(Do("GET", "/bkt/k", "", {{"if-modified-since", FormatHttpDate(Now() + 60)}}).status, 304);
  EXPECT_EQ(Do("GET", "/bkt/k", "", {{"if-unmodified-since", FormatHttpDate(Now() - 3600)}}).Code(),
            "PreconditionFailed");
  // Conditional PUT: create only, and replace only that version.
  EXPECT_EQ(Do("PUT", "/bkt/k", "new", {{"if-none-match", "*"}}).Code(), "PreconditionFailed");
  EXPECT_EQ(Do("PUT", "/bkt/c", "v1", {{"if-none-match", "*"}}).status, 200);
  EXPECT_EQ(Do("PUT", "/bkt/k", "new", {{"if-match", "\"nope\""}}).Code(), "PreconditionFailed");
  EXPECT_EQ(Do("PUT", "/bkt/k", "new", {{"if-match", etag}}).status, 200);
  EXPECT_EQ(Do("GET", "/bkt/k").body, "new");
  // CopyObject with either directive, its conditions, and to itself.
  r = Do("PUT", "/bkt/copy", "", {{"x-amz-copy-source", "/bkt/k"}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("<ETag>"), std::string::npos);
  EXPECT_EQ(Do("GET", "/bkt/copy").body, "new");
  ASSERT_EQ(Do("PUT", "/bkt/m", "meta", {{"x-amz-meta-a", "1"}, {"content-type", "x/y"}}).status, 200);
  r = Do("PUT", "/bkt/m2", "", {{"x-amz-copy-source", "bkt/m"}});
  EXPECT_EQ(Do("HEAD", "/bkt/m2").H("x-amz-meta-a"), "1");
  r = Do("PUT", "/bkt/m3", "",
         {{"x-amz-copy-source", "bkt/m"}, {"x-amz-metadata-directive", "REPLACE"}, {"x-amz-meta-b", "2"}});
  Resp h = Do("HEAD", "/bkt/m3");
  EXPECT_EQ(h.H("x-amz-meta-b"), "2");
  EXPECT_EQ(h.H("x-amz-meta-a"), "");
  EXPECT_EQ(h.H("content-type"), "binary/octet-stream");
  EXPECT_EQ(Do("PUT", "/bkt/m", "", {{"x-amz-copy-source", "/bkt/m"}}).Code(), "InvalidRequest");
  EXPECT_EQ(Do("PUT", "/bkt/m4", "", {{"x-amz-copy-source", "/bkt/m"}, {"x-amz-copy-source-if-match", "\"no\""}})
                .Code(),
            "PreconditionFailed");
  EXPECT_EQ(Do("PUT", "/bkt/m4", "", {{"x-amz-copy-source", "/bkt/none"}}).Code(), "NoSuchKey");
}

TEST_F(S3GatewayTest, ListingsPagingAndEncoding) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  const std::vector<std::string> keys = {"a/1", "a/2", "a b", "a+b", "a%b", "b/c/d", "b/", "\xC3\xA9t\xC3\xA9", "z"};
  for (const std::string& k : keys)
    ASSERT_EQ(Do("PUT", "/bkt/" + UriEncode(k, true), "v").status, 200) << k;
  Resp r = Do("GET", "/bkt?list-type=2&delimiter=%2F&encoding-type=url");
  EXPECT_NE(r.body.find("<Key>a%20b</Key>"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("<Key>a%2Bb</Key>"), std::string::npos);
  EXPECT_NE(r.body.find("<Key>a%25b</Key>"), std::string::npos);
  EXPECT_NE(r.body.find("<Prefix>a/</Prefix>"), std::string::npos);
  EXPECT_NE(r.body.find("<Prefix>b/</Prefix>"), std::string::npos);
  EXPECT_NE(r.body.find("<EncodingType>url</EncodingType>"), std::string::npos);
  EXPECT_NE(r.body.find("<KeyCount>7</KeyCount>"), std::string::npos);
  // V2 paging: 2 at a time, every key once, in order.
  std::vector<std::string> seen;
  std::string token;
  for (int i = 0; i < 20; i++) {
    std::string t = "/bkt?list-type=2&max-keys=2";
    if (!token.empty()) t += "&continuation-token=" + UriEncode(token, false);
    r = Do("GET", t);
    auto doc = ParseXml(r.body);
    ASSERT_TRUE(doc.ok()) << r.body;
    for (const XmlNode* c : (*doc)->Children("Contents")) seen.push_back(c->Child("Key")->text);
    if ((*doc)->Child("IsTruncated")->text != "true") break;
    token = (*doc)->Child("NextContinuationToken")->text;
  }
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(seen, sorted);
  // V1 with a marker and a prefix; start-after; max-keys=0.
  r = Do("GET", "/bkt?prefix=a&marker=a%2F1");
  EXPECT_EQ(r.body.find("<Key>a/1</Key>"), std::string::npos);
  EXPECT_NE(r.body.find("<Key>a/2</Key>"), std::string::npos);
  EXPECT_EQ(r.body.find("<Key>z</Key>"), std::string::npos);
  r = Do("GET", "/bkt?list-type=2&start-after=b%2Fc%2Fd");
  EXPECT_NE(r.body.find("<Key>z</Key>"), std::string::npos);
  EXPECT_NE(r.body.find("<StartAfter>b/c/d</StartAfter>"), std::string::npos);
  r = Do("GET", "/bkt?max-keys=0");
  EXPECT_NE(r.body.find("<IsTruncated>false</IsTruncated>"), std::string::npos);
  EXPECT_EQ(r.body.find("<Contents>"), std::string::npos);
  EXPECT_EQ(Do("GET", "/bkt?encoding-type=xml").Code(), "InvalidArgument");
  // Versions of an unversioned bucket: each object once, as "null".
  r = Do("GET", "/bkt?versions&max-keys=3");
  EXPECT_NE(r.body.find("<VersionId>null</VersionId><IsLatest>true</IsLatest>"), std::string::npos);
  EXPECT_NE(r.body.find("<NextKeyMarker>"), std::string::npos);
  // Paged by key-marker (what bucket-cleaning tools do): every key once, as version null.
  std::vector<std::string> versions;
  std::string key_marker;
  for (int i = 0; i < 20; i++) {
    std::string t = "/bkt?versions&max-keys=3";
    if (!key_marker.empty()) t += "&key-marker=" + UriEncode(key_marker, false) + "&version-id-marker=null";
    r = Do("GET", t);
    auto doc = ParseXml(r.body);
    ASSERT_TRUE(doc.ok()) << r.body;
    for (const XmlNode* v : (*doc)->Children("Version")) {
      versions.push_back(v->Child("Key")->text);
      EXPECT_EQ(v->Child("VersionId")->text, "null");
    }
    if ((*doc)->Child("IsTruncated")->text != "true") break;
    key_marker = (*doc)->Child("NextKeyMarker")->text;
  }
  EXPECT_EQ(versions, sorted);
  EXPECT_EQ(Do("GET", "/bkt/z?versionId=abc").Code(), "InvalidArgument");
  EXPECT_EQ(Do("GET", "/bkt/z?versionId=null").status, 200);
}

TEST_F(S3GatewayTest, StreamingSignedAndTrailerBodies) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  const int64_t now = Now();
  const std::string date = FormatAmzDate(now);
  const std::string scope = SigningScope(date.substr(0, 8), "us-east-1", "s3");
  const std::string skey = SigningKey(kSecret, date.substr(0, 8), "us-east-1", "s3");
  const std::string data = std::string(70000, 'q') + "tail";
  // Sign the head like a Java SDK v1 or minio-go client would.
  auto make = [&](bool corrupt) {
    std::vector<std::pair<std::string, std::string>> h = {
        {"host", Host()},
        {"content-encoding", "aws-chunked"},
        {"x-amz-decoded-content-length", std::to_string(data.size())}};
    std::string path = "/bkt/streamed";
    std::string auth = SignRequest(SignerKey{kAk, kSecret, "us-east-1"}, now, "PUT", path, {}, &h,
                                   kStreamingPayload);
    const std::string seed = auth.substr(auth.size() - 64);
    std::string body, prev = seed;
    for (size_t at = 0; at <= data.size();) {
      const size_t n = std::min<size_t>(65536, data.size() - at);
      std::string chunk = data.substr(at, n);
      std::string sig = Signature(skey, ChunkStringToSign(date, scope, prev, Hex(Sha256(chunk))));
      prev = sig;
      if (corrupt && at > 0) chunk[0] ^= 1;
      body += fmt::format("{:x};chunk-signature={}\r\n", n, sig) + chunk + "\r\n";
      if (n == 0) break;
      at += n;
    }
    std::string req = "PUT " + path + " HTTP/1.1\r\n";
    for (const auto& [n, v] : h) req += n + ": " + v + "\r\n";
    req += "authorization: " + auth + "\r\ncontent-length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
    return req;
  };
  int fd = Connect(port_);
  SendAll(fd, make(/*corrupt=*/true));
  Resp r = ReadResp(fd, false);
  ::close(fd);
  EXPECT_EQ(r.Code(), "SignatureDoesNotMatch") << r.body;
  EXPECT_FALSE(Stored("bkt", "streamed"));
  fd = Connect(port_);
  SendAll(fd, make(false));
  r = ReadResp(fd, false);
  ::close(fd);
  EXPECT_EQ(r.status, 200) << r.body;
  r = Do("GET", "/bkt/streamed");
  EXPECT_TRUE(r.body == data) << r.body.size();
  EXPECT_EQ(r.H("content-encoding"), "");  // aws-chunked is never stored

  // STREAMING-UNSIGNED-PAYLOAD-TRAILER with a trailing CRC32, chunked on the wire.
  auto trailer_req = [&](const std::string& crc, std::string alg = "crc32") {
    Req q;
    q.method = "PUT";
    q.target = "/bkt/trailer";
    q.payload_hash = std::string(kStreamingUnsignedTrailer);
    q.headers = {{"content-encoding", "aws-chunked"},
                 {"x-amz-trailer", "x-amz-checksum-" + alg},
                 {"x-amz-decoded-content-length", "5"},
                 {"transfer-encoding", "chunked"}};
    const std::string aws = "5\r\nhello\r\n0\r\nx-amz-checksum-" + alg + ":" + crc + "\r\n\r\n";
    q.body = fmt::format("{:x}\r\n", aws.size()) + aws + "\r\n0\r\n\r\n";
    return q;
  };
  r = Do(trailer_req("AAAAAA=="));
  EXPECT_EQ(r.Code(), "BadDigest");
  EXPECT_FALSE(Stored("bkt", "trailer"));
  r = Do(trailer_req("NhCmhg=="));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.H("x-amz-checksum-crc32"), "NhCmhg==");
  EXPECT_EQ(Do("GET", "/bkt/trailer").body, "hello");
  // The same with a trailing CRC64NVME (what newer SDKs send when asked for it).
  ASSERT_EQ(Do("DELETE", "/bkt/trailer").status, 204);
  EXPECT_EQ(Do(trailer_req(Base64(std::string(8, 'x')), "crc64nvme")).Code(), "BadDigest");
  EXPECT_FALSE(Stored("bkt", "trailer"));
  r = Do(trailer_req(Base64(CrcOf("crc64nvme", "hello")), "crc64nvme"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.H("x-amz-checksum-crc64nvme"), Base64(CrcOf("crc64nvme", "hello")));
}

TEST_F(S3GatewayTest, MultipartRulesAndCleanup) {
  GatewayOptions go;
  go.min_part_bytes = 1000;  // small parts for the test
  go.now_s = [] { return Now(); };
  Start(go);
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  auto create = [&](const std::string& key) {
    Resp r = Do("POST", "/bkt/" + key + "?uploads");
    auto doc = ParseXml(r.body);
    return doc.ok() && (*doc)->Child("UploadId") ? (*doc)->Child("UploadId")->text : std::string();
  };
  const std::string id = create("mp");
  ASSERT_EQ(id.size(), 32u);
  const std::string p1(1500, '1'), p2(1200, '2'), p3(10, '3');
  std::vector<std::string> etags;
  for (auto [n, data] : {std::pair{1, p1}, {2, p2}, {3, p3}}) {
    Resp r = Do("PUT", fmt::format("/bkt/mp?partNumber={}&uploadId={}", n, id), data);
    ASSERT_EQ(r.status, 200) << r.body;
    etags.push_back(UnquoteETag(r.H("etag")));
  }
  EXPECT_EQ(Do("PUT", fmt::format("/bkt/mp?partNumber=0&uploadId={}", id), "x").Code(), "InvalidArgument");
  EXPECT_EQ(Do("PUT", "/bkt/mp?partNumber=1&uploadId=0123456789abcdef0123456789abcdef", "x").Code(),
            "NoSuchUpload");
  Resp r = Do("GET", "/bkt/mp?uploadId=" + id);
  EXPECT_NE(r.body.find("<PartNumber>3</PartNumber>"), std::string::npos) << r.body;
  r = Do("GET", "/bkt?uploads");
  EXPECT_NE(r.body.find("<UploadId>" + id + "</UploadId>"), std::string::npos) << r.body;
  auto complete = [&](std::vector<std::pair<int, std::string>> parts) {
    std::string x = "<CompleteMultipartUpload>";
    for (auto& [n, e] : parts) x += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>", n, e);
    x += "</CompleteMultipartUpload>";
    return Do("POST", "/bkt/mp?uploadId=" + id, x);
  };
  EXPECT_EQ(complete({{2, etags[1]}, {1, etags[0]}}).Code(), "InvalidPartOrder");
  EXPECT_EQ(complete({{1, etags[0]}, {2, "0000"}}).Code(), "InvalidPart");
  EXPECT_EQ(complete({{1, etags[0]}, {4, etags[1]}}).Code(), "InvalidPart");
  EXPECT_EQ(complete({{3, etags[2]}, {2, etags[1]}}).Code(), "InvalidPartOrder");
  EXPECT_EQ(complete({{1, etags[0]}, {2, etags[1]}, {4, "x"}}).Code(), "InvalidPart");
  EXPECT_EQ(complete({{1, etags[0]}, {3, etags[2]}, {4, "x"}}).Code(), "EntityTooSmall");
  EXPECT_EQ(Do("POST", "/bkt/mp?uploadId=" + id, "<CompleteMultipartUpload/>").Code(), "MalformedXML");
  {
    // Part 3 (10 bytes) may only be last.
    const std::string id2 = create("small");
    Do("PUT", fmt::format("/bkt/small?partNumber=1&uploadId={}", id2), p3);
    Resp a = Do("PUT", fmt::format("/bkt/small?partNumber=2&uploadId={}", id2), p3);
    std::string x = fmt::format(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part><Part>"
        "<PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        a.H("etag"), a.H("etag"));
    EXPECT_EQ(Do("POST", "/bkt/small?uploadId=" + id2, x).Code(), "EntityTooSmall");
    EXPECT_EQ(Do("DELETE", "/bkt/small?uploadId=" + id2).status, 204);
    EXPECT_EQ(Do("DELETE", "/bkt/small?uploadId=" + id2).Code(), "NoSuchUpload");
  }
  r = complete({{1, etags[0]}, {2, etags[1]}, {3, etags[2]}});
  ASSERT_EQ(r.status, 200) << r.body;
  // ETag: MD5 of the parts' MD5s, then -N.
  std::string md5s;
  for (const std::string& e : etags) {
    std::string raw;
    Unhex(e, &raw);
    md5s += raw;
  }
  unsigned char md[16];
  unsigned int k = 0;
  EVP_Digest(md5s.data(), md5s.size(), md, &k, EVP_md5(), nullptr);
  const std::string want = "\"" + Hex(std::string(reinterpret_cast<char*>(md), 16)) + "-3\"";
  EXPECT_NE(r.body.find("<ETag>" + XmlEscape(want) + "</ETag>"), std::string::npos) << r.body;
  r = Do("GET", "/bkt/mp");
  EXPECT_TRUE(r.body == p1 + p2 + p3);
  EXPECT_EQ(r.H("etag"), want);
  r = Do("GET", "/bkt/mp?partNumber=2");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, p2);
  EXPECT_EQ(r.H("x-amz-mp-parts-count"), "3");
  EXPECT_EQ(Do("GET", "/bkt/mp?partNumber=4").Code(), "InvalidPartNumber");
  EXPECT_EQ(Do("GET", "/bkt/mp?uploadId=" + id).Code(), "NoSuchUpload");
  // UploadPartCopy of a range.
  const std::string id3 = create("pc");
  r = Do("PUT", fmt::format("/bkt/pc?partNumber=1&uploadId={}", id3), "",
         {{"x-amz-copy-source", "/bkt/mp"}, {"x-amz-copy-source-range", "bytes=1000-2699"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = ParseXml(r.body);
  ASSERT_TRUE(doc.ok());
  const std::string pce = (*doc)->Child("ETag")->text;
  r = Do("POST", "/bkt/pc?uploadId=" + id3,
         "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + XmlEscape(pce) +
             "</ETag></Part></CompleteMultipartUpload>");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Do("GET", "/bkt/pc").body, (p1 + p2).substr(1000, 1700));
  // Abandoned uploads are cleaned once older than upload_max_age_s; young ones stay.
  const std::string old_id = create("old");
  Do("PUT", fmt::format("/bkt/old?partNumber=1&uploadId={}", old_id), "x");
  auto n = endpoint_->gateway().CleanAbandonedUploads(Now());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  n = endpoint_->gateway().CleanAbandonedUploads(Now() + 8 * 86400);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(Do("GET", "/bkt/old?uploadId=" + old_id).Code(), "NoSuchUpload");
  ListOptions lo;
  lo.prefix = ".cairn-s3/p/";
  auto left = store_->List(lo);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->objects.empty()) << left->objects.size() << " parts left";
}

// cairn-s3's path: streamed bodies spooled so their MD5 is known before they are stored.
TEST_F(S3GatewayTest, SpooledBodiesKeepTheirEtagAndChecks) {
  GatewayOptions go;
  go.spool_dir = fs::temp_directory_path().string();
  go.min_part_bytes = 1000;
  Start(go);
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  Req big;
  big.method = "PUT";
  big.target = "/bkt/spooled";
  big.body = std::string(3 << 20, 's');
  big.payload_hash = Hex(Sha256("other"));
  EXPECT_EQ(Do(big).Code(), "XAmzContentSHA256Mismatch");
  EXPECT_FALSE(Stored("bkt", "spooled"));
  big.payload_hash.clear();
  Resp r = Do(big);
  ASSERT_EQ(r.status, 200) << r.body;
  unsigned char md[16];
  unsigned int k = 0;
  EVP_Digest(big.body.data(), big.body.size(), md, &k, EVP_md5(), nullptr);
  const std::string etag = "\"" + Hex(std::string(reinterpret_cast<char*>(md), 16)) + "\"";
  EXPECT_EQ(r.H("etag"), etag);
  EXPECT_EQ(Do("HEAD", "/bkt/spooled").H("etag"), etag);
  EXPECT_TRUE(Do("GET", "/bkt/spooled").body == big.body);
  // A part copied from a range, then completed: the part's ETag was computed in a first pass.
  Resp c = Do("POST", "/bkt/mp?uploads");
  auto doc = ParseXml(c.body);
  ASSERT_TRUE(doc.ok());
  const std::string id = (*doc)->Child("UploadId")->text;
  r = Do("PUT", "/bkt/mp?partNumber=1&uploadId=" + id, "",
         {{"x-amz-copy-source", "/bkt/spooled"}, {"x-amz-copy-source-range", "bytes=0-1999"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto pd = ParseXml(r.body);
  ASSERT_TRUE(pd.ok());
  r = Do("POST", "/bkt/mp?uploadId=" + id,
         "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" +
             XmlEscape((*pd)->Child("ETag")->text) + "</ETag></Part></CompleteMultipartUpload>");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Do("GET", "/bkt/mp").body, std::string(2000, 's'));
}

// Issue 13's smaller promises, each checked on its own: GET's checksum for newer botocore,
// ListBuckets paging, V2's fetch-owner, HEAD with partNumber, UploadPart's checks, and the
// endpoint's own timer removing abandoned uploads.
TEST_F(S3GatewayTest, Issue13ChecksumModeReturnsTheObjectsCrc32c) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  ASSERT_EQ(Do("PUT", "/bkt/k", "hello").status, 200);
  const uint32_t c = crc32c::Value("hello");
  const std::string be = {static_cast<char>(c >> 24), static_cast<char>(c >> 16),
                          static_cast<char>(c >> 8), static_cast<char>(c)};
  Resp r = Do("GET", "/bkt/k", "", {{"x-amz-checksum-mode", "ENABLED"}});
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.H("x-amz-checksum-crc32c"), Base64(be));
  EXPECT_EQ(Do("HEAD", "/bkt/k", "", {{"x-amz-checksum-mode", "ENABLED"}}).H("x-amz-checksum-crc32c"),
            Base64(be));
  // Not asked for, or for a range (whose checksum would not be the object's): none.
  EXPECT_EQ(Do("GET", "/bkt/k").H("x-amz-checksum-crc32c"), "");
  EXPECT_EQ(Do("GET", "/bkt/k", "", {{"x-amz-checksum-mode", "ENABLED"}, {"range", "bytes=1-2"}})
                .H("x-amz-checksum-crc32c"),
            "");
}

TEST_F(S3GatewayTest, Issue13ListBucketsPagesAndFetchOwner) {
  for (const char* b : {"pb-1", "pb-2", "pb-3", "qb-1"}) ASSERT_EQ(Do("PUT", std::string("/") + b).status, 200);
  std::vector<std::string> seen;
  std::string token;
  for (int i = 0; i < 10; i++) {
    std::string t = "/?max-buckets=2&prefix=pb-";
    if (!token.empty()) t += "&continuation-token=" + UriEncode(token, false);
    Resp r = Do("GET", t);
    auto doc = ParseXml(r.body);
    ASSERT_TRUE(doc.ok()) << r.body;
    const XmlNode* buckets = (*doc)->Child("Buckets");
    ASSERT_NE(buckets, nullptr) << r.body;
    size_t n = 0;
    for (const XmlNode* b : buckets->Children("Bucket")) {
      seen.push_back(b->Child("Name")->text);
      n++;
    }
    EXPECT_LE(n, 2u);
    const XmlNode* next = (*doc)->Child("ContinuationToken");
    if (next == nullptr) break;
    token = next->text;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"pb-1", "pb-2", "pb-3"}));
  EXPECT_EQ(Do("GET", "/?max-buckets=0").Code(), "InvalidArgument");
  // V2 lists owners only when asked; V1 always.
  ASSERT_EQ(Do("PUT", "/pb-1/k", "v").status, 200);
  EXPECT_EQ(Do("GET", "/pb-1?list-type=2").body.find("<Owner>"), std::string::npos);
  EXPECT_NE(Do("GET", "/pb-1?list-type=2&fetch-owner=true").body.find("<Owner><ID>AKIDALICE</ID>"),
            std::string::npos);
  EXPECT_NE(Do("GET", "/pb-1").body.find("<Owner><ID>AKIDALICE</ID>"), std::string::npos);
}

TEST_F(S3GatewayTest, Issue13UploadPartChecksAndHeadWithPartNumber) {
  GatewayOptions go;
  go.min_part_bytes = 1000;
  Start(go);
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  Resp c = Do("POST", "/bkt/mp?uploads=");  // "?uploads=" as some clients send it
  auto doc = ParseXml(c.body);
  ASSERT_TRUE(doc.ok()) << c.body;
  const std::string id = (*doc)->Child("UploadId")->text;
  const std::string p1(1500, 'a'), p2(700, 'b');
  const std::string part1 = fmt::format("/bkt/mp?partNumber=1&uploadId={}", id);
  // A wrong Content-MD5 or CRC32 on a part: refused, and no part is listed.
  EXPECT_EQ(Do("PUT", part1, p1, {{"content-md5", Base64(std::string(16, 'x'))}}).Code(), "BadDigest");
  EXPECT_EQ(Do("PUT", part1, p1, {{"x-amz-checksum-crc32", "AAAAAA=="}}).Code(), "BadDigest");
  EXPECT_EQ(Do("GET", "/bkt/mp?uploadId=" + id).body.find("<Part>"), std::string::npos);
  // The right CRC32 is echoed (newer botocore verifies it).
  uint32_t crc = Crc32Extend(0, p1.data(), p1.size());
  const std::string be = {static_cast<char>(crc >> 24), static_cast<char>(crc >> 16),
                          static_cast<char>(crc >> 8), static_cast<char>(crc)};
  Resp r = Do("PUT", part1, p1, {{"x-amz-checksum-crc32", Base64(be)}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.H("x-amz-checksum-crc32"), Base64(be));
  const std::string e1 = r.H("etag");
  r = Do("PUT", fmt::format("/bkt/mp?partNumber=2&uploadId={}", id), p2);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string e2 = r.H("etag");
  r = Do("POST", "/bkt/mp?uploadId=" + id,
         "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + XmlEscape(e1) +
             "</ETag></Part><Part><PartNumber>2</PartNumber><ETag>" + XmlEscape(e2) +
             "</ETag></Part></CompleteMultipartUpload>");
  ASSERT_EQ(r.status, 200) << r.body;
  r = Do("HEAD", "/bkt/mp?partNumber=2");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.H("content-length"), "700");
  EXPECT_EQ(r.H("content-range"), "bytes 1500-2199/2200");
  EXPECT_EQ(r.H("x-amz-mp-parts-count"), "2");
  EXPECT_EQ(Do("HEAD", "/bkt/mp?partNumber=3").status, 416);
  EXPECT_EQ(Do("GET", "/bkt/mp?partNumber=1").body, p1);
  EXPECT_EQ(Do("GET", "/bkt/mp?partNumber=1", "", {{"range", "bytes=0-1"}}).Code(), "InvalidRequest");
  // A simple object is its own part 1.
  ASSERT_EQ(Do("PUT", "/bkt/simple", "abc").status, 200);
  r = Do("GET", "/bkt/simple?partNumber=1");
  EXPECT_EQ(r.body, "abc");
  EXPECT_EQ(r.H("x-amz-mp-parts-count"), "1");
  EXPECT_EQ(Do("GET", "/bkt/simple?partNumber=2").Code(), "InvalidPartNumber");
}

TEST_F(S3GatewayTest, Issue13TheEndpointsTimerRemovesAbandonedUploads) {
  GatewayOptions go;
  go.upload_max_age_s = 60;
  go.upload_cleanup_interval_s = 1;
  // The gateway's clock runs 10 minutes ahead of the signer's (within the skew bound): every
  // upload is older than upload_max_age_s as soon as the timer looks.
  go.now_s = [] { return Now() + 600; };
  Start(go);
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  Resp c = Do("POST", "/bkt/old?uploads");
  auto doc = ParseXml(c.body);
  ASSERT_TRUE(doc.ok()) << c.body;
  const std::string id = (*doc)->Child("UploadId")->text;
  ASSERT_EQ(Do("PUT", fmt::format("/bkt/old?partNumber=1&uploadId={}", id), "x").status, 200);
  // Bounded: the timer fires every second; give it up to 30.
  for (int i = 0; i < 300 && endpoint_->gateway().counters().uploads_cleaned.load() == 0; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(endpoint_->gateway().counters().uploads_cleaned.load(), 1u);
  EXPECT_EQ(Do("GET", "/bkt/old?uploadId=" + id).Code(), "NoSuchUpload");
  ListOptions lo;
  lo.prefix = ".cairn-s3/p/";
  auto left = store_->List(lo);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->objects.empty());
}

// A store with the Compose capability (ObjectStore::Compose), over the local store: it makes
// the object of the sources' bytes and deletes the sources, and records each call. No store
// composes without copying yet; this checks the gateway's half of that contract, and, as it
// cannot pin, also GETs (whole and ranged) from a store that only reads.
class ComposingStore : public ObjectStore {
 public:
  explicit ComposingStore(ObjectStore* base) : base_(base) {}
  Result<WriteResult> Put(std::string_view k, std::string_view v, const WriteOptions& wo) override {
    return base_->Put(k, v, wo);
  }
  Result<WriteResult> PutStream(std::string_view k, ValueSource* src, const WriteOptions& wo) override {
    if (gate != nullptr) gate->Hold(k);
    if (fail) return Status::IOError("the disk went away");
    return base_->PutStream(k, src, wo);
  }
  Result<GetResult> Get(std::string_view k, const ByteRange& r) override { return base_->Get(k, r); }
  Result<std::unique_ptr<ObjectReader>> OpenReader(std::string_view k, const ByteRange& r) override {
    return base_->OpenReader(k, r);
  }
  Result<ObjectInfo> Head(std::string_view k) override { return base_->Head(k); }
  Result<WriteResult> Delete(std::string_view k, const WriteOptions& wo) override {
    return base_->Delete(k, wo);
  }
  Result<ListResult> List(const ListOptions& lo) override { return base_->List(lo); }
  Result<StoreStats> Stats() override { return base_->Stats(); }
  Result<WriteResult> Compose(std::string_view key, const std::vector<std::string>& sources,
                              const WriteOptions& wo) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      calls_.push_back({std::string(key), sources, wo.metadata, wo.condition});
    }
    if (gate != nullptr) gate->Hold(key);
    if (fail) return Status::IOError("the disk went away");
    std::string value;
    for (const std::string& s : sources) {
      Result<GetResult> g = base_->Get(s);
      if (!g.ok()) return g.status();
      value += g->data;
    }
    Result<WriteResult> w = base_->Put(key, value, wo);
    if (!w.ok()) return w;
    for (const std::string& s : sources) (void)base_->Delete(s);
    return w;
  }
  struct Call {
    std::string key;
    std::vector<std::string> sources;
    ObjectMetadata metadata;
    WriteCondition condition;
  };
  std::vector<Call> calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }
  // When set, Compose and PutStream wait for it (for the keys it holds); then `fail`
  // is their answer. `gate` is set before the endpoint starts.
  cairn::testing::WriteGate* gate = nullptr;
  std::atomic<bool> fail{false};  // then they fail with an I/O error

 private:
  ObjectStore* base_;
  std::mutex mu_;
  std::vector<Call> calls_;
};

TEST_F(S3GatewayTest, Issue13CompleteComposesThePartsWhereTheStoreCan) {
  ComposingStore composing(store_.get());
  served_ = &composing;
  GatewayOptions go;
  go.min_part_bytes = 1000;
  Start(go);
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  auto upload = [&](const std::string& key, const std::vector<std::string>& parts,
                    std::vector<std::pair<std::string, std::string>> complete_headers = {}) {
    return Multipart(key, parts, std::move(complete_headers));
  };
  const std::vector<std::string> parts = {std::string(1500, 'a'), std::string(1200, 'b'), "cc"};
  auto [id, r] = upload("obj", parts);
  ASSERT_EQ(r.status, 200) << r.body;
  auto calls = composing.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].key, "bkt/obj");
  EXPECT_EQ(calls[0].sources, (std::vector<std::string>{".cairn-s3/p/" + id + "/00001",
                                                         ".cairn-s3/p/" + id + "/00002",
                                                         ".cairn-s3/p/" + id + "/00003"}));
  EXPECT_EQ(calls[0].metadata.user.at("color"), "red");
  EXPECT_TRUE(calls[0].metadata.system.at("etag").ends_with("-3"));
  EXPECT_EQ(calls[0].metadata.system.at("parts"), "1500,1200,2");
  EXPECT_EQ(calls[0].condition, WriteCondition::kNone);
  const std::string whole = parts[0] + parts[1] + parts[2];
  EXPECT_TRUE(Do("GET", "/bkt/obj").body == whole);
  EXPECT_EQ(Do("GET", "/bkt/obj", "", {{"range", "bytes=1499-1500"}}).body, "ab");
  EXPECT_EQ(Do("GET", "/bkt/obj?partNumber=3").body, "cc");
  EXPECT_EQ(Do("HEAD", "/bkt/obj").H("x-amz-meta-color"), "red");
  // The upload is gone, record and parts.
  EXPECT_EQ(Do("GET", "/bkt/obj?uploadId=" + id).Code(), "NoSuchUpload");
  ListOptions lo;
  lo.prefix = ".cairn-s3/";
  auto left = store_->List(lo);
  ASSERT_TRUE(left.ok());
  for (const ObjectInfo& o : left->objects) EXPECT_TRUE(o.key.starts_with(".cairn-s3/b/")) << o.key;
  // If-None-Match: * on Complete reaches the store as a create-only condition.
  auto [id2, r2] = upload("obj", {"x"}, {{"if-none-match", "*"}});
  EXPECT_EQ(r2.Code(), "PreconditionFailed") << r2.body;
  calls = composing.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].condition, WriteCondition::kIfNoneMatch);
  EXPECT_TRUE(Do("GET", "/bkt/obj").body == whole);
  EXPECT_EQ(Do("DELETE", "/bkt/obj?uploadId=" + id2).status, 204);
  endpoint_.reset();  // before `composing` goes
}

// A whole-object CRC sent with Complete (x-amz-checksum-crc64nvme, FULL_OBJECT) is checked over
// the parts before the object is made: a wrong one is BadDigest, nothing is made and the upload
// stays; the right one is answered in the result. What the gateway cannot check (a composite
// value, SHA-256 of the whole, COMPOSITE) is refused, not dropped.
TEST_F(S3GatewayTest, Issue13CompleteChecksAWholeObjectChecksumAndRefusesWhatItCannot) {
  GatewayOptions go;
  go.min_part_bytes = 1000;
  Start(go);
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  const std::vector<std::string> parts = {std::string(1500, 'a'), "bb"};
  const std::string whole = parts[0] + parts[1];
  const std::string crc = Base64(CrcOf("crc64nvme", whole));
  auto [id, r] = Multipart("sum", parts, {{"x-amz-checksum-crc64nvme", Base64(std::string(8, 'x'))}});
  EXPECT_EQ(r.Code(), "BadDigest") << r.body;
  EXPECT_FALSE(Stored("bkt", "sum"));
  EXPECT_EQ(Do("GET", "/bkt/sum?uploadId=" + id).status, 200);  // the upload is still there
  auto [id2, r2] = Multipart("sum", parts, {{"x-amz-checksum-crc64nvme", crc}});
  ASSERT_EQ(r2.status, 200) << r2.body;
  EXPECT_NE(r2.body.find("<ChecksumCRC64NVME>" + crc + "</ChecksumCRC64NVME>"), std::string::npos)
      << r2.body;
  EXPECT_NE(r2.body.find("<ChecksumType>FULL_OBJECT</ChecksumType>"), std::string::npos);
  EXPECT_TRUE(Do("GET", "/bkt/sum").body == whole);
  // CRC-32 of the whole, by the same check.
  const std::string crc32 = Base64(CrcOf("crc32", whole));
  auto [id3, r3] = Multipart("sum32", parts, {{"x-amz-checksum-crc32", crc32}});
  EXPECT_EQ(r3.status, 200) << r3.body;
  for (const auto& headers : std::vector<std::vector<std::pair<std::string, std::string>>>{
           {{"x-amz-checksum-crc32", crc32 + "-2"}},
           {{"x-amz-checksum-sha256", Base64(std::string(32, 's'))}},
           {{"x-amz-checksum-crc32", crc32}, {"x-amz-checksum-type", "COMPOSITE"}}}) {
    auto [idn, rn] = Multipart("refused", parts, headers);
    EXPECT_EQ(rn.Code(), "NotImplemented") << headers[0].first << " " << rn.body;
    EXPECT_FALSE(Stored("bkt", "refused"));
    EXPECT_EQ(Do("DELETE", "/bkt/refused?uploadId=" + idn).status, 204);
  }
}

// Reads from `fd` until `done(in)` or 10 s without a byte; what arrived.
std::string ReadUntil(int fd, const std::function<bool(const std::string&)>& done) {
  std::string in;
  char buf[4096];
  while (!done(in)) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  return in;
}

// The body of a chunked response (head included in `raw`); "" if it is not one or not whole.
std::string Dechunk(const std::string& raw) {
  size_t at = raw.find("\r\n\r\n");
  if (at == std::string::npos) return "";
  at += 4;
  std::string body;
  for (;;) {
    size_t le = raw.find("\r\n", at);
    if (le == std::string::npos) return "";
    uint64_t n = std::stoull(raw.substr(at, le - at), nullptr, 16);
    if (raw.size() < le + 2 + n + 2) return "";
    body += raw.substr(le + 2, n);
    at = le + 2 + n + 2;
    if (n == 0) return body;
  }
}

// A Complete or a copy that runs long answers as S3 does: the 200 head at once, a space every
// keepalive_ms while the store works (so a client's read timeout does not fire), then the
// answer; a failure after the head is an <Error> document inside the 200. Checked with the
// store's write held: the head and the spaces arrive while nothing is written.
TEST_F(S3GatewayTest, Issue13ALongCompleteOrCopyKeepsTheConnectionAliveAndThenAnswers) {
  ComposingStore composing(store_.get());
  cairn::testing::WriteGate gate([](std::string_view k) { return k.starts_with("bkt/slow"); });
  composing.gate = &gate;
  served_ = &composing;
  GatewayOptions go;
  go.min_part_bytes = 1000;
  go.keepalive_ms = 20;
  Start(go);
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  auto complete_request = [&](const std::string& key) {
    Resp c = Do("POST", "/bkt/" + key + "?uploads");
    auto doc = ParseXml(c.body);
    EXPECT_TRUE(doc.ok()) << c.body;
    const std::string id = doc.ok() ? (*doc)->Child("UploadId")->text : "";
    std::string x = "<CompleteMultipartUpload>";
    const std::vector<std::string> parts = {std::string(1500, 'a'), "bb"};
    for (size_t i = 0; i < parts.size(); i++) {
      Resp p = Do("PUT", fmt::format("/bkt/{}?partNumber={}&uploadId={}", key, i + 1, id), parts[i]);
      EXPECT_EQ(p.status, 200) << p.body;
      x += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1,
                       XmlEscape(p.H("etag")));
    }
    Req q;
    q.method = "POST";
    q.target = "/bkt/" + key + "?uploadId=" + id;
    q.body = x + "</CompleteMultipartUpload>";
    return std::pair{id, Build(q)};
  };
  const std::string decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  auto spaces = [](const std::string& in) {
    size_t n = 0;
    for (size_t at = 0; (at = in.find("\r\n1\r\n \r\n", at)) != std::string::npos; at++) n++;
    return n;
  };
  auto whole = [](const std::string& in) { return in.ends_with("\r\n0\r\n\r\n"); };
  // The head, the declaration and three spaces while the store holds the write; then the answer.
  auto [id, complete] = complete_request("slow1");
  int fd = Connect(port_);
  ASSERT_TRUE(SendAll(fd, complete));
  std::string in = ReadUntil(fd, [&](const std::string& s) { return spaces(s) >= 3; });
  ASSERT_TRUE(gate.AwaitEntered(1));
  EXPECT_TRUE(in.starts_with("HTTP/1.1 200")) << in;
  EXPECT_NE(in.find("Transfer-Encoding: chunked"), std::string::npos) << in;
  EXPECT_NE(in.find(decl), std::string::npos) << in;
  EXPECT_EQ(in.find("CompleteMultipartUploadResult"), std::string::npos) << in;
  EXPECT_FALSE(Stored("bkt", "slow1"));
  gate.Release();
  in += ReadUntil(fd, [&](const std::string& s) { return whole(in + s); });
  ::close(fd);
  std::string body = Dechunk(in);
  ASSERT_TRUE(body.starts_with(decl + "   ")) << in;
  auto doc = ParseXml(body);
  ASSERT_TRUE(doc.ok()) << body;
  EXPECT_EQ((*doc)->name, "CompleteMultipartUploadResult");
  EXPECT_TRUE((*doc)->Child("ETag")->text.ends_with("-2\"")) << body;
  EXPECT_EQ(Do("GET", "/bkt/slow1").body, std::string(1500, 'a') + "bb");
  EXPECT_EQ(Do("GET", "/bkt/slow1?uploadId=" + id).Code(), "NoSuchUpload");

  // A failure after the head: an <Error> inside the 200, and the upload is still there.
  gate.Rearm();
  auto [id2, complete2] = complete_request("slow2");
  composing.fail = true;
  fd = Connect(port_);
  ASSERT_TRUE(SendAll(fd, complete2));
  in = ReadUntil(fd, [&](const std::string& s) { return spaces(s) >= 2; });
  ASSERT_TRUE(gate.AwaitEntered(2));
  EXPECT_TRUE(in.starts_with("HTTP/1.1 200")) << in;
  gate.Release();
  in += ReadUntil(fd, [&](const std::string& s) { return whole(in + s); });
  ::close(fd);
  body = Dechunk(in);
  doc = ParseXml(body);
  ASSERT_TRUE(doc.ok()) << body;
  EXPECT_EQ((*doc)->name, "Error");
  EXPECT_EQ((*doc)->Child("Code")->text, "InternalError") << body;
  EXPECT_FALSE(Stored("bkt", "slow2"));
  composing.fail = false;
  EXPECT_EQ(Do("GET", "/bkt/slow2?uploadId=" + id2).status, 200);

  // CopyObject (a copy streams through PutStream here): the same.
  gate.Rearm();
  ASSERT_EQ(Do("PUT", "/bkt/src", "source bytes").status, 200);
  Req cq;
  cq.method = "PUT";
  cq.target = "/bkt/slow3";
  cq.headers = {{"x-amz-copy-source", "/bkt/src"}};
  fd = Connect(port_);
  ASSERT_TRUE(SendAll(fd, Build(cq)));
  in = ReadUntil(fd, [&](const std::string& s) { return spaces(s) >= 2; });
  ASSERT_TRUE(gate.AwaitEntered(3));
  EXPECT_TRUE(in.starts_with("HTTP/1.1 200")) << in;
  EXPECT_FALSE(Stored("bkt", "slow3"));
  gate.Release();
  in += ReadUntil(fd, [&](const std::string& s) { return whole(in + s); });
  ::close(fd);
  doc = ParseXml(Dechunk(in));
  ASSERT_TRUE(doc.ok()) << in;
  EXPECT_EQ((*doc)->name, "CopyObjectResult");
  EXPECT_EQ(Do("GET", "/bkt/slow3").body, "source bytes");

  // What ends within keepalive_ms is answered as before, with its own status (a long keepalive
  // here, so that a slow sanitizer build cannot take the long way).
  go.keepalive_ms = 600000;
  Start(go);
  Resp quick = Do(cq.method, "/bkt/quick", "", cq.headers);
  EXPECT_EQ(quick.status, 200);
  EXPECT_EQ(quick.H("content-length"), std::to_string(quick.body.size()));
  composing.fail = true;
  EXPECT_EQ(Do(cq.method, "/bkt/quick2", "", cq.headers).status, 500);
  composing.fail = false;
  endpoint_.reset();  // before `composing` goes
}

// Every limit is named in its error, and a body that breaks one is not stored.
TEST_F(S3GatewayTest, Issue13LimitsAreNamedAndNothingIsStored) {
  GatewayOptions go;
  go.max_put_bytes = 2000;
  go.max_part_bytes = 3000;
  go.min_part_bytes = 10;
  go.max_xml_body_bytes = 300;
  go.max_delete_keys = 2;
  go.max_aws_chunk_bytes = 100;
  Start(go);
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  Resp r = Do("PUT", "/bkt/big", std::string(2001, 'x'));
  EXPECT_EQ(r.Code(), "EntityTooLarge");
  EXPECT_NE(r.body.find("max_put_bytes"), std::string::npos) << r.body;
  // Of unknown length (chunked): refused when it passes the limit.
  Req q;
  q.method = "PUT";
  q.target = "/bkt/big";
  q.payload_hash = std::string(kUnsignedPayload);
  q.headers = {{"transfer-encoding", "chunked"}};
  q.body = "7d0\r\n" + std::string(2000, 'y') + "\r\n1\r\ny\r\n0\r\n\r\n";
  r = Do(q);
  EXPECT_EQ(r.Code(), "EntityTooLarge") << r.body;
  EXPECT_FALSE(Stored("bkt", "big"));
  q.body = "7d0\r\n" + std::string(2000, 'y') + "\r\n0\r\n\r\n";
  EXPECT_EQ(Do(q).status, 200);  // exactly the limit
  // One aws-chunked chunk over max_aws_chunk_bytes.
  q = Req();
  q.method = "PUT";
  q.target = "/bkt/awschunk";
  q.payload_hash = std::string(kStreamingUnsignedTrailer);
  q.headers = {{"content-encoding", "aws-chunked"}, {"x-amz-decoded-content-length", "101"}};
  q.body = "65\r\n" + std::string(101, 'c') + "\r\n0\r\n\r\n";
  r = Do(q);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("max_aws_chunk_bytes"), std::string::npos) << r.body;
  EXPECT_FALSE(Stored("bkt", "awschunk"));
  // A part over max_part_bytes.
  Resp c = Do("POST", "/bkt/mp?uploads");
  auto doc = ParseXml(c.body);
  ASSERT_TRUE(doc.ok()) << c.body;
  const std::string id = (*doc)->Child("UploadId")->text;
  r = Do("PUT", fmt::format("/bkt/mp?partNumber=1&uploadId={}", id), std::string(3001, 'p'));
  EXPECT_EQ(r.Code(), "EntityTooLarge");
  EXPECT_NE(r.body.find("max_part_bytes"), std::string::npos) << r.body;
  EXPECT_EQ(Do("GET", "/bkt/mp?uploadId=" + id).body.find("<Part>"), std::string::npos);
  // XML bodies over max_xml_body_bytes, and more keys than max_delete_keys.
  r = Do("POST", "/bkt/mp?uploadId=" + id, "<CompleteMultipartUpload>" + std::string(400, ' ') +
                                               "</CompleteMultipartUpload>");
  EXPECT_EQ(r.Code(), "MaxMessageLengthExceeded");
  EXPECT_NE(r.body.find("max_xml_body_bytes"), std::string::npos) << r.body;
  ASSERT_EQ(Do("PUT", "/bkt/d1", "1").status, 200);
  r = Do("POST", "/bkt?delete",
         "<Delete><Object><Key>d1</Key></Object><Object><Key>d2</Key></Object><Object><Key>d3"
         "</Key></Object></Delete>");
  EXPECT_EQ(r.Code(), "MalformedXML");
  EXPECT_NE(r.body.find("max_delete_keys"), std::string::npos) << r.body;
  EXPECT_TRUE(Stored("bkt", "d1"));
}

// STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed chunks, then a trailing checksum whose
// signature chains from the last chunk's. A wrong trailer signature, or a checksum that does not
// match, stores nothing.
TEST_F(S3GatewayTest, Issue13SignedStreamingWithASignedTrailer) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  const int64_t now = Now();
  const std::string date = FormatAmzDate(now);
  const std::string scope = SigningScope(date.substr(0, 8), "us-east-1", "s3");
  const std::string skey = SigningKey(kSecret, date.substr(0, 8), "us-east-1", "s3");
  const std::string data = "hello";
  auto make = [&](const std::string& crc, bool bad_trailer_sig) {
    std::vector<std::pair<std::string, std::string>> h = {
        {"host", Host()},
        {"content-encoding", "aws-chunked"},
        {"x-amz-trailer", "x-amz-checksum-crc32"},
        {"x-amz-decoded-content-length", std::to_string(data.size())}};
    const std::string path = "/bkt/signed-trailer";
    std::string auth = SignRequest(SignerKey{kAk, kSecret, "us-east-1"}, now, "PUT", path, {}, &h,
                                   kStreamingPayloadTrailer);
    std::string prev = auth.substr(auth.size() - 64);
    std::string body;
    for (const std::string& chunk : {data, std::string()}) {
      const std::string sig = Signature(skey, ChunkStringToSign(date, scope, prev, Hex(Sha256(chunk))));
      prev = sig;
      body += fmt::format("{:x};chunk-signature={}\r\n", chunk.size(), sig) + chunk;
      if (!chunk.empty()) body += "\r\n";
    }
    const std::string trailer = "x-amz-checksum-crc32:" + crc + "\n";
    std::string tsig = Signature(skey, TrailerStringToSign(date, scope, prev, Hex(Sha256(trailer))));
    if (bad_trailer_sig) tsig[0] = tsig[0] == '0' ? '1' : '0';
    body += "x-amz-checksum-crc32:" + crc + "\r\nx-amz-trailer-signature:" + tsig + "\r\n\r\n";
    std::string req = "PUT " + path + " HTTP/1.1\r\n";
    for (const auto& [n, v] : h) req += n + ": " + v + "\r\n";
    req += "authorization: " + auth + "\r\ncontent-length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
    return req;
  };
  auto send = [&](const std::string& req) {
    int fd = Connect(port_);
    SendAll(fd, req);
    Resp r = ReadResp(fd, false);
    ::close(fd);
    return r;
  };
  Resp r = send(make("NhCmhg==", /*bad_trailer_sig=*/true));
  EXPECT_EQ(r.Code(), "SignatureDoesNotMatch") << r.body;
  EXPECT_FALSE(Stored("bkt", "signed-trailer"));
  r = send(make("AAAAAA==", false));
  EXPECT_EQ(r.Code(), "BadDigest") << r.body;
  EXPECT_FALSE(Stored("bkt", "signed-trailer"));
  r = send(make("NhCmhg==", false));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.H("x-amz-checksum-crc32"), "NhCmhg==");
  r = Do("GET", "/bkt/signed-trailer");
  EXPECT_EQ(r.body, "hello");
  EXPECT_EQ(r.H("content-encoding"), "");
}

// Expect: 100-continue: a request refused on its head is answered before its body is sent; an
// accepted one gets 100 Continue, then its answer.
TEST_F(S3GatewayTest, Issue13ExpectContinueRefusesBeforeTheBody) {
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  Req q;
  q.method = "PUT";
  q.target = "/bkt/k";
  q.body = std::string(4096, 'e');
  q.headers = {{"expect", "100-continue"}};
  const std::string signed_req = Build(q);
  const size_t head_end = signed_req.find("\r\n\r\n") + 4;
  // A wrong key: the 403 comes without the body being sent.
  q.ak = "AKIDNOBODY";
  std::string bad = Build(q);
  int fd = Connect(port_);
  SendAll(fd, std::string_view(bad).substr(0, bad.find("\r\n\r\n") + 4));
  Resp r = ReadResp(fd, false);
  ::close(fd);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.Code(), "InvalidAccessKeyId");
  EXPECT_FALSE(Stored("bkt", "k"));
  // The right key: 100 Continue, then 200 once the body is sent.
  fd = Connect(port_);
  SendAll(fd, std::string_view(signed_req).substr(0, head_end));
  std::string got;
  char buf[4096];
  while (got.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_TRUE(got.starts_with("HTTP/1.1 100 Continue")) << got;
  SendAll(fd, std::string_view(signed_req).substr(head_end));
  r = ReadResp(fd, false);
  ::close(fd);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Do("GET", "/bkt/k").body, q.body);
}

// ---- Hostile HTTP ---------------------------------------------------------------------------

std::string RawExchange(uint16_t port, std::string_view req, int timeout_ms = 5000) {
  int fd = Connect(port);
  SendAll(fd, req);
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

TEST_F(S3GatewayTest, HostileHttpGetsS3ErrorsAndStoresNothing) {
  net::HttpLimits lim;
  lim.header_timeout_ms = 500;
  lim.max_header_bytes = 8192;
  Start(GatewayOptions(), lim);
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  // Malformed request line.
  std::string out = RawExchange(port_, "GARBAGE\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  EXPECT_NE(out.find("<Code>"), std::string::npos);
  // Oversized headers.
  out = RawExchange(port_, "GET / HTTP/1.1\r\nx: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_NE(out.find("RequestHeaderSectionTooLarge"), std::string::npos) << out.substr(0, 200);
  // A body that ends early (Content-Length says more): IncompleteBody, nothing stored.
  Req q;
  q.method = "PUT";
  q.target = "/bkt/short";
  q.body = std::string(100, 'x');
  q.headers = {{"content-length", "200"}};
  std::string built = Build(q);
  out = RawExchange(port_, built);
  EXPECT_EQ(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_FALSE(Stored("bkt", "short"));
  // A large one cut short (the streamed path).
  q.body = std::string(2 << 20, 'x');
  q.headers = {{"content-length", std::to_string(3 << 20)}};
  out = RawExchange(port_, Build(q));
  EXPECT_EQ(out.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_FALSE(Stored("bkt", "short"));
  // Chunk framing errors.
  q = Req();
  q.method = "PUT";
  q.target = "/bkt/chunky";
  q.payload_hash = std::string(kUnsignedPayload);
  q.headers = {{"transfer-encoding", "chunked"}};
  q.body = "5\r\nhel";  // then nothing
  out = RawExchange(port_, Build(q));
  EXPECT_EQ(out.find("HTTP/1.1 200"), std::string::npos);
  q.body = "zz\r\nhello\r\n0\r\n\r\n";
  out = RawExchange(port_, Build(q));
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  EXPECT_FALSE(Stored("bkt", "chunky"));
  // aws-chunked framing errors inside a valid HTTP body.
  q.payload_hash = std::string(kStreamingUnsignedTrailer);
  q.headers = {{"content-encoding", "aws-chunked"}};
  q.body = "5\r\nhelloXX\r\n0\r\n\r\n";
  Resp r = Do(q);
  EXPECT_EQ(r.status, 400);
  EXPECT_FALSE(Stored("bkt", "chunky"));
  // Slow-loris: a head that never completes is closed after header_timeout_ms.
  int fd = Connect(port_);
  SendAll(fd, "GET / HTTP/1.1\r\nHost: x\r\n");
  auto t0 = std::chrono::steady_clock::now();
  std::string got;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
  EXPECT_NE(got.find("RequestTimeout"), std::string::npos) << got;
  // Still serving.
  EXPECT_EQ(Do("PUT", "/bkt/after", "ok").status, 200);
  EXPECT_EQ(Do("GET", "/bkt/after").body, "ok");
}

TEST_F(S3GatewayTest, TenThousandIdleConnectionsDoNotBlockARequest) {
  constexpr int kIdle = 10000;
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < kIdle + 200 && rl.rlim_max >= kIdle + 200) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, kIdle + 1000);
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur < kIdle + 200)
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << rl.rlim_max << " is below " << kIdle + 200;
  net::HttpLimits lim;
  lim.max_connections = kIdle + 100;
  lim.header_timeout_ms = 120000;
  Start(GatewayOptions(), lim);
  ASSERT_EQ(Do("PUT", "/bkt").status, 200);
  int to_child[2], from_child[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(from_child), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    int opened = 0;
    for (int i = 0; i < kIdle; i++) {
      if (Connect(port_) < 0) break;
      opened++;
    }
    (void)!::write(from_child[1], &opened, sizeof(opened));
    char c;
    (void)!::read(to_child[0], &c, 1);
    _exit(0);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  int opened = 0;
  ASSERT_EQ(::read(from_child[0], &opened, sizeof(opened)), static_cast<ssize_t>(sizeof(opened)));
  EXPECT_EQ(opened, kIdle);
  // Served while they stay open (Do gives up after its 10 s read timeout; no speed is asserted).
  EXPECT_EQ(Do("PUT", "/bkt/k", "v").status, 200);
  EXPECT_EQ(Do("GET", "/bkt/k").body, "v");
  (void)!::write(to_child[1], "x", 1);
  ::close(to_child[1]);
  ::close(from_child[0]);
  ::waitpid(pid, nullptr, 0);
}


// Issue 14: every request is counted by its S3 operation (S3's own names); what none names is
// Other.
TEST(S3Metrics, Issue14RequestsAreClassifiedByTheirS3Operation) {
  namespace http = boost::beast::http;
  using V = http::verb;
  using Q = std::vector<std::pair<std::string, std::string>>;
  struct Case {
    V m;
    const char* bucket;
    const char* key;
    Q query;
    bool copy;
    S3Op want;
  };
  const Case cases[] = {
      {V::get, "", "", {}, false, S3Op::kListBuckets},
      {V::post, "", "", {}, false, S3Op::kOther},
      {V::put, "b", "", {}, false, S3Op::kCreateBucket},
      {V::put, "b", "", {{"acl", ""}}, false, S3Op::kOther},
      {V::delete_, "b", "", {}, false, S3Op::kDeleteBucket},
      {V::head, "b", "", {}, false, S3Op::kHeadBucket},
      {V::get, "b", "", {}, false, S3Op::kListObjects},
      {V::get, "b", "", {{"list-type", "2"}, {"prefix", "a/"}, {"x-id", "ListObjectsV2"}}, false, S3Op::kListObjects},
      {V::get, "b", "", {{"location", ""}}, false, S3Op::kOther},
      {V::get, "b", "", {{"uploads", ""}}, false, S3Op::kOther},
      {V::get, "b", "", {{"policy", ""}}, false, S3Op::kOther},
      {V::get, "b", "", {{"replication", ""}}, false, S3Op::kOther},
      {V::post, "b", "", {{"delete", ""}}, false, S3Op::kDeleteObjects},
      {V::get, "b", "k", {}, false, S3Op::kGetObject},
      {V::get, "b", "k", {{"partNumber", "1"}}, false, S3Op::kGetObject},
      {V::get, "b", "k", {{"uploadId", "u"}}, false, S3Op::kOther},
      {V::get, "b", "k", {{"tagging", ""}}, false, S3Op::kOther},
      {V::head, "b", "k", {}, false, S3Op::kHeadObject},
      {V::put, "b", "k", {}, false, S3Op::kPutObject},
      {V::put, "b", "k", {}, true, S3Op::kCopyObject},
      {V::put, "b", "k", {{"partNumber", "2"}, {"uploadId", "u"}}, false, S3Op::kUploadPart},
      {V::put, "b", "k", {{"partNumber", "2"}, {"uploadId", "u"}}, true, S3Op::kUploadPart},
      {V::put, "b", "k", {{"acl", ""}}, false, S3Op::kOther},
      {V::delete_, "b", "k", {}, false, S3Op::kDeleteObject},
      {V::delete_, "b", "k", {{"uploadId", "u"}}, false, S3Op::kAbortMultipartUpload},
      {V::post, "b", "k", {{"uploads", ""}}, false, S3Op::kCreateMultipartUpload},
      {V::post, "b", "k", {{"uploadId", "u"}}, false, S3Op::kCompleteMultipartUpload},
      {V::post, "b", "k", {}, false, S3Op::kOther},
      {V::patch, "b", "k", {}, false, S3Op::kOther},
  };
  for (const Case& c : cases)
    EXPECT_EQ(S3OpName(ClassifyS3Op(c.m, c.bucket, c.key, c.query, c.copy)), std::string(S3OpName(c.want)))
        << http::to_string(c.m) << " /" << c.bucket << "/" << c.key << " (" << c.query.size() << " params)";
  // Every operation and code has a name and fits the metrics' bounds.
  static_assert(static_cast<size_t>(S3Op::kCount) <= ops::OpMetrics::kMaxOps);
  EXPECT_LT(AllS3ErrorCodes().size() + 1, ops::OpMetrics::kMaxCodes);
  for (size_t i = 0; i < static_cast<size_t>(S3Op::kCount); i++)
    EXPECT_NE(S3OpName(static_cast<S3Op>(i)), nullptr) << i;
  EXPECT_EQ(S3ErrorCodeIndex("NoSuchKey"),
            static_cast<size_t>(FindS3ErrorCode("NoSuchKey") - AllS3ErrorCodes().data()) + 1);
  EXPECT_EQ(S3ErrorCodeIndex("NotACode"), AllS3ErrorCodes().size() + 1);
}

// Issue 14: the endpoint's /metrics part counts requests, errors by S3 code and latencies per
// operation, and its HTTP layer's own numbers.
TEST_F(S3GatewayTest, Issue14MetricsCountRequestsErrorsAndLatencyPerOperation) {
  EXPECT_EQ(Do("PUT", "/mbk").status, 200);
  EXPECT_EQ(Do("PUT", "/mbk/k1", "hello").status, 200);
  EXPECT_EQ(Do("PUT", "/mbk/k2", "world").status, 200);
  EXPECT_EQ(Do("GET", "/mbk/k1").status, 200);
  EXPECT_EQ(Do("GET", "/mbk/none").Code(), "NoSuchKey");
  EXPECT_EQ(Do("GET", "/mbk/k1", "", {{"range", "bytes=100-200"}}).status, 416);
  EXPECT_EQ(Do("GET", "/mbk?list-type=2").status, 200);
  Req bad;
  bad.method = "GET";
  bad.target = "/mbk/k1";
  bad.secret = "not-the-secret";
  EXPECT_EQ(Do(bad).Code(), "SignatureDoesNotMatch");
  EXPECT_EQ(Do("GET", "/mbk?location").status, 200);
  // A request is counted once its response is sent: the client may read it a moment before.
  std::string m;
  auto has = [&m](const std::string& line) { return m.find("\n" + line + "\n") != std::string::npos; };
  for (int i = 0; i < 500; i++) {  // bounded: 5 s
    ops::ExpositionWriter w;
    endpoint_->WriteMetrics(w);
    m = w.Take();
    if (has("cairn_s3_requests_total{op=\"GetObject\"} 4") && has("cairn_s3_requests_total{op=\"Other\"} 1") &&
        has("cairn_s3_requests_total{op=\"PutObject\"} 2") && has("cairn_s3_requests_total{op=\"ListObjects\"} 1"))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(has("cairn_s3_requests_total{op=\"CreateBucket\"} 1")) << m;
  EXPECT_TRUE(has("cairn_s3_requests_total{op=\"PutObject\"} 2")) << m;
  EXPECT_TRUE(has("cairn_s3_requests_total{op=\"GetObject\"} 4")) << m;
  EXPECT_TRUE(has("cairn_s3_requests_total{op=\"ListObjects\"} 1")) << m;
  EXPECT_TRUE(has("cairn_s3_requests_total{op=\"Other\"} 1")) << m;
  EXPECT_TRUE(has("cairn_s3_requests_total{op=\"DeleteObjects\"} 0")) << m;
  EXPECT_TRUE(has("cairn_s3_request_errors_total{op=\"GetObject\",code=\"NoSuchKey\"} 1")) << m;
  EXPECT_TRUE(has("cairn_s3_request_errors_total{op=\"GetObject\",code=\"InvalidRange\"} 1")) << m;
  EXPECT_TRUE(has("cairn_s3_request_errors_total{op=\"GetObject\",code=\"SignatureDoesNotMatch\"} 1")) << m;
  EXPECT_TRUE(has("cairn_s3_request_duration_seconds_count{op=\"PutObject\"} 2")) << m;
  EXPECT_TRUE(has("cairn_s3_request_duration_seconds_bucket{op=\"PutObject\",le=\"+Inf\"} 2")) << m;
  EXPECT_TRUE(has("cairn_s3_auth_failures_total 1")) << m;
  EXPECT_TRUE(has("cairn_s3_received_object_bytes_total 10")) << m;
  EXPECT_TRUE(has("cairn_s3_connections_accepted_total 9")) << m;
  EXPECT_NE(m.find("\ncairn_s3_sent_bytes_total "), std::string::npos) << m;
  EXPECT_TRUE(has("cairn_s3_http_timeouts_total{kind=\"idle\"} 0")) << m;
}

}  // namespace
}  // namespace cairn::gateway
