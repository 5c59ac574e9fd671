// HttpServer against a test handler (label `http`): normal requests with curl, hostile ones
// with raw sockets, TLS with a certificate made here, and 10,000 idle connections.
#include "net/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "net/blocking.h"

namespace cairn::net {
namespace {

namespace fs = std::filesystem;
using asio::awaitable;

// The byte at position i of every generated body.
char PatternByte(uint64_t i) { return static_cast<char>('a' + (i * 7 + i / 251) % 26); }

std::string Pattern(uint64_t n) {
  std::string s(n, '\0');
  for (uint64_t i = 0; i < n; i++) s[i] = PatternByte(i);
  return s;
}

uint64_t QueryNumber(std::string_view target, std::string_view name) {
  size_t p = target.find(std::string(name) + "=");
  if (p == std::string_view::npos) return 0;
  return std::stoull(std::string(target.substr(p + name.size() + 1)));
}

class PatternSource : public HttpBodySource {
 public:
  explicit PatternSource(uint64_t n) : n_(n) {}
  awaitable<Result<size_t>> Read(char* buf, size_t cap) override {
    size_t k = static_cast<size_t>(std::min<uint64_t>(cap, n_ - pos_));
    for (size_t i = 0; i < k; i++) buf[i] = PatternByte(pos_ + i);
    pos_ += k;
    co_return k;
  }

 private:
  uint64_t n_;
  uint64_t pos_ = 0;
};

// What the test handler saw, for the assertions.
struct Seen {
  std::atomic<uint64_t> largest_piece{0};
  std::atomic<uint64_t> requests{0};
};

// The file the /file route sends from: extents [0, 100000) and [200000, 300000) of it, so the
// body is two extents of one file.
struct TestFile {
  std::string path;
  int fd = -1;
};

awaitable<void> TestHandler(HttpExchange& ex, Seen* seen, const TestFile* file) {
  seen->requests++;
  std::string target(ex.target());
  std::string path = target.substr(0, target.find('?'));
  if (path == "/hello") {
    HttpResponse r;
    r.headers.set(http::field::content_type, "text/plain");
    r.body = "hello\n";
    co_await ex.Send(std::move(r));
  } else if (path == "/echo") {
    // The body streamed in bounded pieces: replies with its length and a checksum.
    std::vector<char> piece(64 << 10);
    uint64_t n = 0, sum = 0;
    bool pattern_ok = true;
    for (;;) {
      Result<size_t> k = co_await ex.ReadBody(piece.data(), piece.size());
      if (!k.ok()) co_return;  // the server answers the framing error
      if (*k == 0) break;
      uint64_t prev = seen->largest_piece.load();
      while (*k > prev && !seen->largest_piece.compare_exchange_weak(prev, *k)) {
      }
      for (size_t i = 0; i < *k; i++) {
        sum = sum * 31 + static_cast<unsigned char>(piece[i]);
        if (piece[i] != PatternByte(n + i)) pattern_ok = false;
      }
      n += *k;
    }
    HttpResponse r;
    r.body = std::to_string(n) + " " + std::to_string(sum) + (pattern_ok ? " pattern" : " other");
    co_await ex.Send(std::move(r));
  } else if (path == "/whole") {
    Result<std::string> b = co_await ex.ReadWholeBody(1 << 20, "max_test_body_bytes");
    if (!b.ok()) co_return;
    HttpResponse r;
    r.body = "got " + std::to_string(b->size());
    co_await ex.Send(std::move(r));
  } else if (path == "/deny") {
    HttpResponse r = PlainErrorResponse(403, "denied before the body");
    co_await ex.Send(std::move(r));
  } else if (path == "/big") {
    HttpResponse r;
    r.body = Pattern(QueryNumber(target, "n"));
    co_await ex.Send(std::move(r));
  } else if (path == "/stream") {
    PatternSource src(QueryNumber(target, "n"));
    std::optional<uint64_t> len;
    if (target.find("chunked") == std::string::npos) len = QueryNumber(target, "n");
    co_await ex.SendStream(200, {}, &src, len);
  } else if (path == "/file") {
    HttpFileBody b;
    b.extents = {{file->fd, 0, 100000}, {file->fd, 200000, 100000}};
    b.offset = QueryNumber(target, "off");
    b.length = 200000 - b.offset;
    co_await ex.SendFile(200, {}, std::move(b));
  } else if (path == "/blocking") {
    int v = co_await RunBlocking(ex.blocking_pool(), [] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return 42;
    });
    HttpResponse r;
    r.body = std::to_string(v);
    co_await ex.Send(std::move(r));
  } else if (path == "/throw") {
    throw std::runtime_error("test exception");
  } else if (path == "/none") {
    co_return;
  } else {
    co_await ex.Send(PlainErrorResponse(404, "no such route"));
  }
}

// ---- Raw client helpers.

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

// Reads whatever arrives until EOF or `timeout_ms` of silence.
std::string ReadUntilClose(int fd, int timeout_ms = 5000) {
  std::string out;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

struct RawResponse {
  int status = 0;
  std::string head;
  std::string body;
  bool ok = false;
};

// Reads one response with a Content-Length body (or none). `pending` keeps bytes that belong
// to the next response.
RawResponse ReadResponse(int fd, std::string* pending, int timeout_ms = 5000) {
  RawResponse r;
  std::string& in = *pending;
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
  r.head = in.substr(0, end + 2);
  in.erase(0, end + 4);
  r.status = std::atoi(r.head.c_str() + 9);
  uint64_t len = 0;
  std::string lower = r.head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (size_t p = lower.find("content-length: "); p != std::string::npos)
    len = std::stoull(lower.substr(p + 16));
  while (in.size() < len)
    if (!fill()) return r;
  r.body = in.substr(0, len);
  in.erase(0, len);
  r.ok = true;
  return r;
}

bool HasHeader(const RawResponse& r, std::string_view h) {
  return r.head.find(std::string(h)) != std::string::npos;
}

// Runs a shell command; returns its stdout, and its exit status in *rc.
std::string Shell(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

size_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

// Makes a self-signed certificate for 127.0.0.1 (EC P-256) and writes cert.pem and key.pem.
bool MakeSelfSignedCert(const std::string& dir) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (key == nullptr) return false;
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  bool ok = X509_sign(x, key, EVP_sha256()) > 0;
  FILE* f = std::fopen((dir + "/cert.pem").c_str(), "w");
  ok = ok && f != nullptr && PEM_write_X509(f, x) == 1;
  if (f) std::fclose(f);
  f = std::fopen((dir + "/key.pem").c_str(), "w");
  ok = ok && f != nullptr &&
       PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (f) std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(key);
  return ok;
}

bool HaveCurl() { return ::access(CURL_PATH, X_OK) == 0; }

// ---- The fixture: a server on two loops with the test handler.

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cairn_http_test." + std::to_string(::getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    file_.path = (dir_ / "extents").string();
    std::ofstream(file_.path) << Pattern(300000);
    file_.fd = ::open(file_.path.c_str(), O_RDONLY);
  }
  void TearDown() override {
    if (server_) server_->Stop(2000);
    server_.reset();
    loops_.reset();
    if (pool_) pool_->join();
    pool_.reset();
    if (file_.fd >= 0) ::close(file_.fd);
    fs::remove_all(dir_);
  }

  void StartServer(HttpServerOptions o = {}) {
    loops_ = std::make_unique<LoopGroup>(2);
    pool_ = std::make_unique<asio::thread_pool>(2);
    o.listen = "127.0.0.1:0";
    Seen* seen = &seen_;
    const TestFile* file = &file_;
    server_ = std::make_unique<HttpServer>(
        o, loops_.get(), pool_.get(),
        [seen, file](HttpExchange& ex) { return TestHandler(ex, seen, file); });
    Result<uint16_t> p = server_->Start();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    port_ = *p;
    loops_->Start();
  }

  std::string Url(std::string_view path, bool tls = false) {
    return std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) +
           std::string(path);
  }

  // One raw request on a fresh connection; the whole reply until the server closes.
  std::string RawExchange(std::string_view request, int timeout_ms = 5000) {
    int fd = Connect(port_);
    EXPECT_GE(fd, 0);
    SendAll(fd, request);
    std::string out = ReadUntilClose(fd, timeout_ms);
    ::close(fd);
    return out;
  }

  fs::path dir_;
  TestFile file_;
  Seen seen_;
  std::unique_ptr<LoopGroup> loops_;
  std::unique_ptr<asio::thread_pool> pool_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

// ---- Normal requests, with curl.

TEST_F(HttpServerTest, CurlGetKeepAliveAndHead) {
  if (!HaveCurl()) GTEST_SKIP() << "curl is not installed (scripts/deps installs it)";
  StartServer();
  int rc = 0;
  // Three URLs in one curl run share one connection (keep-alive).
  std::string out = Shell(std::string(CURL_PATH) + " -sS -w ' %{num_connects}\\n' " +
                            Url("/hello") + " " + Url("/hello") + " " + Url("/blocking"),
                        &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "hello\n 1\nhello\n 0\n42 0\n");
  out = Shell(std::string(CURL_PATH) + " -sS -I " + Url("/big?n=1000"), &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find("HTTP/1.1 200 OK"), std::string::npos) << out;
  EXPECT_NE(out.find("Content-Length: 1000"), std::string::npos) << out;
  out = Shell(std::string(CURL_PATH) + " -sS -o /dev/null -w '%{http_code}' " + Url("/nope"), &rc);
  EXPECT_EQ(out, "404");
}

TEST_F(HttpServerTest, CurlUploadsWithExpectContinueAndChunked) {
  if (!HaveCurl()) GTEST_SKIP() << "curl is not installed (scripts/deps installs it)";
  StartServer();
  const std::string body = Pattern(3 << 20);
  const std::string in = (dir_ / "upload").string();
  std::ofstream(in) << body;
  uint64_t sum = 0;
  for (char c : body) sum = sum * 31 + static_cast<unsigned char>(c);
  const std::string want = std::to_string(body.size()) + " " + std::to_string(sum) + " pattern";
  int rc = 0;
  // A PUT of a file: curl sends Expect: 100-continue for it.
  std::string out = Shell(std::string(CURL_PATH) + " -sS -v -T " + in + " " + Url("/echo") +
                            " 2>" + (dir_ / "v").string(),
                        &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, want);
  std::ifstream v(dir_ / "v");
  std::string verbose((std::istreambuf_iterator<char>(v)), std::istreambuf_iterator<char>());
  EXPECT_NE(verbose.find("Expect: 100-continue"), std::string::npos);
  EXPECT_NE(verbose.find("HTTP/1.1 100 Continue"), std::string::npos);
  // The same bytes with chunked transfer coding (from stdin).
  out = Shell("cat " + in + " | " + CURL_PATH + " -sS -H 'Transfer-Encoding: chunked' -T - " +
                Url("/echo"),
            &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, want);
  // A handler that refuses before reading: curl gets the 403 and does not send the body.
  out = Shell(std::string(CURL_PATH) + " -sS -o /dev/null -w '%{http_code}' -T " + in + " " +
                Url("/deny"),
            &rc);
  EXPECT_EQ(out, "403");
}

TEST_F(HttpServerTest, CurlOverTlsWithSelfSignedCertificate) {
  if (!HaveCurl()) GTEST_SKIP() << "curl is not installed (scripts/deps installs it)";
  ASSERT_TRUE(MakeSelfSignedCert(dir_.string()));
  HttpServerOptions o;
  o.tls_cert_file = (dir_ / "cert.pem").string();
  o.tls_key_file = (dir_ / "key.pem").string();
  StartServer(o);
  const std::string curl =
      std::string(CURL_PATH) + " -sS --cacert " + (dir_ / "cert.pem").string() + " ";
  int rc = 0;
  EXPECT_EQ(Shell(curl + Url("/hello", true), &rc), "hello\n");
  EXPECT_EQ(rc, 0);
  // File extents over TLS (read on the pool, encrypted), and a streamed body.
  std::string out = Shell(curl + Url("/file?off=0", true), &rc);
  EXPECT_EQ(out, Pattern(300000).substr(0, 100000) + Pattern(300000).substr(200000));
  out = Shell(curl + Url("/stream?n=300000&chunked", true), &rc);
  EXPECT_EQ(out, Pattern(300000));
  const std::string in = (dir_ / "upload").string();
  std::ofstream(in) << Pattern(2 << 20);
  out = Shell(curl + "-T " + in + " " + Url("/echo", true), &rc);
  EXPECT_EQ(out.substr(0, out.find(' ')), std::to_string(2 << 20));
  // Plain HTTP to the TLS port is not served.
  EXPECT_EQ(Shell(std::string(CURL_PATH) + " -s -m 5 " + Url("/hello"), &rc), "");
  EXPECT_NE(rc, 0);
}

// ---- Bodies: streams, files, bounded memory.

TEST_F(HttpServerTest, ResponseBodiesFromMemoryStreamsAndFiles) {
  StartServer();
  int fd = Connect(port_);
  std::string pending;
  // Each kind of body on one keep-alive connection.
  SendAll(fd, "GET /big?n=1000000 HTTP/1.1\r\nHost: x\r\n\r\n");
  RawResponse r = ReadResponse(fd, &pending);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body, Pattern(1000000));
  SendAll(fd, "GET /stream?n=1000000 HTTP/1.1\r\nHost: x\r\n\r\n");
  r = ReadResponse(fd, &pending);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body, Pattern(1000000));
  SendAll(fd, "GET /file?off=50000 HTTP/1.1\r\nHost: x\r\n\r\n");
  r = ReadResponse(fd, &pending);
  ASSERT_TRUE(r.ok);
  const std::string all = Pattern(300000);
  EXPECT_EQ(r.body, all.substr(50000, 50000) + all.substr(200000, 100000));
  // A stream of unknown length: chunked transfer coding.
  SendAll(fd, "GET /stream?n=70000&chunked HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string rest = pending + ReadUntilClose(fd, 500);
  EXPECT_NE(rest.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(rest.find("\r\n10000\r\n"), std::string::npos);  // a 64 KiB piece
  EXPECT_TRUE(rest.ends_with("\r\n0\r\n\r\n"));
  ::close(fd);
}

TEST_F(HttpServerTest, LargeStreamedRequestBodyUsesBoundedMemory) {
  StartServer();
  // 256 MiB through the streaming handler (a 5 GiB body takes the same path, only longer);
  // 64 MiB under the sanitizers, which make the byte-by-byte checks here 20 times slower.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  const uint64_t total = uint64_t{64} << 20;
#else
  const uint64_t total = uint64_t{256} << 20;
#endif
  [[maybe_unused]] const size_t rss_before = RssBytes();
  int fd = Connect(port_);
  SendAll(fd, "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(total) +
                  "\r\n\r\n");
  std::string piece(1 << 20, '\0');
  uint64_t sum = 0;
  for (uint64_t sent = 0; sent < total; sent += piece.size()) {
    for (size_t i = 0; i < piece.size(); i++) {
      piece[i] = PatternByte(sent + i);
      sum = sum * 31 + static_cast<unsigned char>(piece[i]);
    }
    ASSERT_TRUE(SendAll(fd, piece));
  }
  std::string pending;
  RawResponse r = ReadResponse(fd, &pending, 30000);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body, std::to_string(total) + " " + std::to_string(sum) + " pattern");
  EXPECT_LE(seen_.largest_piece.load(), 64u << 10);
  // Nothing of the body was held: the process grew by far less than the body. Not under TSan:
  // its own memory (shadow, and each thread's event history, history_size=7 in scripts/test)
  // grows with the work done, not with what the server holds (38 MiB here for a 64 MiB body);
  // the largest piece above is the check there.
#if !defined(__SANITIZE_THREAD__)
  EXPECT_LT(RssBytes(), rss_before + (32u << 20));
#endif
  ::close(fd);
}

// ---- Pipelining and 100-continue on the wire.

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  int fd = Connect(port_);
  std::string reqs;
  for (int i = 0; i < 20; i++) {
    // Mixed: a slow one (the pool), a body, sizes, in one write.
    if (i % 4 == 0) reqs += "GET /blocking HTTP/1.1\r\nHost: x\r\n\r\n";
    else if (i % 4 == 1) reqs += "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde";
    else reqs += "GET /big?n=" + std::to_string(i * 1000) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  ASSERT_TRUE(SendAll(fd, reqs));
  std::string pending;
  for (int i = 0; i < 20; i++) {
    RawResponse r = ReadResponse(fd, &pending);
    ASSERT_TRUE(r.ok) << i;
    EXPECT_EQ(r.status, 200);
    if (i % 4 == 0) EXPECT_EQ(r.body, "42");
    else if (i % 4 == 1) EXPECT_EQ(r.body.substr(0, 2), "5 ");
    else EXPECT_EQ(r.body.size(), static_cast<size_t>(i * 1000));
  }
  ::close(fd);
}

TEST_F(HttpServerTest, ExpectContinueLetsTheHandlerDecideFirst) {
  StartServer();
  int fd = Connect(port_);
  std::string pending;
  SendAll(fd, "PUT /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  RawResponse c = ReadResponse(fd, &pending);
  ASSERT_TRUE(c.ok);
  EXPECT_EQ(c.status, 100);
  SendAll(fd, "abc");
  RawResponse r = ReadResponse(fd, &pending);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.substr(0, 2), "3 ");
  ::close(fd);
  // Refused before the body: no 100, the final status at once, and the connection closes
  // (the client will not send the body).
  std::string out = RawExchange(
      "PUT /deny HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000000\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 403 Forbidden\r\n")) << out;
  EXPECT_EQ(out.find("100 Continue"), std::string::npos);
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
}

TEST_F(HttpServerTest, ChunkedRequestBodies) {
  StartServer();
  std::string out = RawExchange(
      "PUT /whole HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer-A: b\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200 OK\r\n")) << out;
  EXPECT_TRUE(out.ends_with("got 12")) << out;
}

// ---- Hostile input: clear 4xx, the server stays up.

TEST_F(HttpServerTest, MalformedRequestLine) {
  StartServer();
  std::string out = RawExchange("GARBAGE\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400 Bad Request\r\n")) << out;
  EXPECT_NE(out.find("malformed request line"), std::string::npos) << out;
  out = RawExchange("GET /hello HTTP/9.9\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  out = RawExchange("GET /hello HTTP/1.1\r\nBad Header Name: x\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  EXPECT_TRUE(RawExchange("GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n").ends_with("hello\n"));
}

TEST_F(HttpServerTest, OversizedHeaderIs431NamingTheLimit) {
  HttpServerOptions o;
  o.limits.max_header_bytes = 4096;
  StartServer(o);
  std::string out =
      RawExchange("GET /hello HTTP/1.1\r\nX-Big: " + std::string(5000, 'a') + "\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n")) << out;
  EXPECT_NE(out.find("max_header_bytes: the request head is over 4096 bytes"), std::string::npos);
  // A long target counts too.
  out = RawExchange("GET /" + std::string(8000, 'a') + " HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 431")) << out;
}

TEST_F(HttpServerTest, WrongContentLengths) {
  HttpServerOptions o;
  o.limits.max_body_bytes = 4 << 20;
  StartServer(o);
  std::string out = RawExchange("PUT /echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  EXPECT_NE(out.find("Content-Length"), std::string::npos);
  out = RawExchange("PUT /echo HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  out = RawExchange(
      "PUT /echo HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  // Over the server's body limit: refused from the head alone.
  out = RawExchange("PUT /echo HTTP/1.1\r\nContent-Length: 5000000\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 413")) << out;
  EXPECT_NE(out.find("max_body_bytes"), std::string::npos) << out;
  // Over the handler's own limit (ReadWholeBody's): the limit it named.
  out = RawExchange("PUT /whole HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 413")) << out;
  EXPECT_NE(out.find("max_test_body_bytes: Content-Length 1048577"), std::string::npos) << out;
  // A chunked body over the handler's limit: found while it arrives.
  std::string big_chunk = "100000\r\n" + std::string(0x100000, 'x') + "\r\n";
  out = RawExchange("PUT /whole HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + big_chunk +
                    big_chunk + "0\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 413")) << out;
  EXPECT_NE(out.find("max_test_body_bytes"), std::string::npos) << out;
}

TEST_F(HttpServerTest, BodyThatEndsEarly) {
  StartServer();
  int fd = Connect(port_);
  SendAll(fd, "PUT /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly this");
  ::shutdown(fd, SHUT_WR);
  std::string out = ReadUntilClose(fd);
  ::close(fd);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  EXPECT_NE(out.find("the request body ended early: 9 of 100 bytes"), std::string::npos) << out;
  fd = Connect(port_);
  SendAll(fd, "PUT /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc");
  ::shutdown(fd, SHUT_WR);
  out = ReadUntilClose(fd);
  ::close(fd);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  EXPECT_NE(out.find("ended before its last chunk"), std::string::npos) << out;
}

TEST_F(HttpServerTest, BadChunkFraming) {
  StartServer();
  std::string out = RawExchange(
      "PUT /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  EXPECT_NE(out.find("bad chunk framing"), std::string::npos) << out;
  out = RawExchange(
      "PUT /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  out = RawExchange("PUT /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 501")) << out;
  out = RawExchange("PUT /echo HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 417")) << out;
  // Still serving.
  EXPECT_TRUE(RawExchange("GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n").ends_with("hello\n"));
}

TEST_F(HttpServerTest, HandlerFailuresAre500) {
  StartServer();
  std::string out = RawExchange("GET /throw HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 500")) << out;
  EXPECT_NE(out.find("test exception"), std::string::npos);
  out = RawExchange("GET /none HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 500")) << out;
  EXPECT_NE(out.find("the handler sent no response"), std::string::npos);
}

TEST_F(HttpServerTest, HeaderTimeoutStopsSlowLoris) {
  HttpServerOptions o;
  o.limits.header_timeout_ms = 300;
  StartServer(o);
  int fd = Connect(port_);
  auto t0 = std::chrono::steady_clock::now();
  SendAll(fd, "GET /hello HTTP/1.1\r\nX-Slow: ");
  // Dribble a byte every 100 ms: each arrives in time, the head as a whole does not.
  for (int i = 0; i < 3; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    SendAll(fd, "a");
  }
  std::string out = ReadUntilClose(fd, 5000);
  ::close(fd);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 408 Request Timeout\r\n")) << out;
  EXPECT_NE(out.find("header_timeout_ms"), std::string::npos) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
  EXPECT_GE(server_->counters().header_timeouts.load(), 1u);
  // A connection that sends nothing at all is closed after the same timeout.
  fd = Connect(port_);
  out = ReadUntilClose(fd, 5000);
  ::close(fd);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 408")) << out;
}

TEST_F(HttpServerTest, IdleTimeoutClosesQuietly) {
  HttpServerOptions o;
  o.limits.idle_timeout_ms = 300;
  StartServer(o);
  int fd = Connect(port_);
  std::string pending;
  SendAll(fd, "GET /hello HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(ReadResponse(fd, &pending).ok);
  auto t0 = std::chrono::steady_clock::now();
  std::string rest = ReadUntilClose(fd, 5000);  // EOF once idle
  EXPECT_EQ(rest, "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
  ::close(fd);
  // A body that stops arriving: 408 naming the limit.
  fd = Connect(port_);
  SendAll(fd, "PUT /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
  std::string out = ReadUntilClose(fd, 5000);
  ::close(fd);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 408")) << out;
  EXPECT_NE(out.find("idle_timeout_ms: the request body stopped arriving"), std::string::npos);
}

TEST_F(HttpServerTest, MaxConnectionsAnswers503) {
  HttpServerOptions o;
  o.limits.max_connections = 5;
  StartServer(o);
  std::vector<int> fds;
  for (int i = 0; i < 5; i++) {
    fds.push_back(Connect(port_));
    std::string pending;
    SendAll(fds.back(), "GET /hello HTTP/1.1\r\n\r\n");
    ASSERT_TRUE(ReadResponse(fds.back(), &pending).ok);  // each is registered by now
  }
  std::string out = RawExchange("GET /hello HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 503")) << out;
  EXPECT_NE(out.find("max_connections: 5 connections are open"), std::string::npos) << out;
  EXPECT_EQ(server_->counters().connections_refused.load(), 1u);
  for (int fd : fds) ::close(fd);
}

TEST_F(HttpServerTest, Http10ClosesUnlessKeepAlive) {
  StartServer();
  std::string out = RawExchange("GET /hello HTTP/1.0\r\n\r\n", 2000);
  EXPECT_TRUE(out.ends_with("hello\n")) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
  int fd = Connect(port_);
  std::string pending;
  SendAll(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  RawResponse r = ReadResponse(fd, &pending);
  EXPECT_TRUE(HasHeader(r, "Connection: keep-alive")) << r.head;
  SendAll(fd, "GET /hello HTTP/1.0\r\n\r\n");
  EXPECT_TRUE(ReadResponse(fd, &pending).ok);
  ::close(fd);
}

TEST_F(HttpServerTest, StopClosesOpenConnections) {
  StartServer();
  std::vector<int> fds;
  for (int i = 0; i < 20; i++) fds.push_back(Connect(port_));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  server_->Stop(1000);
  for (int fd : fds) {
    EXPECT_EQ(ReadUntilClose(fd, 2000).substr(0, 0), "");
    ::close(fd);
  }
  EXPECT_EQ(server_->counters().connections.load(), 0u);
}

// 10,000 idle connections, held by a child process (each side needs a descriptor per
// connection), do not stop a new request from being answered in time.
TEST_F(HttpServerTest, TenThousandIdleConnectionsDoNotBlockANewRequest) {
  constexpr int kIdle = 10000;
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < kIdle + 200 && rl.rlim_max >= kIdle + 200) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, kIdle + 1000);
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur < kIdle + 200)
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << rl.rlim_max << " is below " << kIdle + 200;
  HttpServerOptions o;
  o.limits.max_connections = kIdle + 100;
  o.limits.header_timeout_ms = 120000;
  StartServer(o);
  int to_child[2], from_child[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(from_child), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    int opened = 0;
    std::vector<int> fds;
    for (int i = 0; i < kIdle; i++) {
      int fd = Connect(port_);
      if (fd < 0) break;
      fds.push_back(fd);
      opened++;
    }
    (void)!::write(from_child[1], &opened, sizeof(opened));
    char c;
    (void)!::read(to_child[0], &c, 1);  // hold them until told
    _exit(0);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  int opened = 0;
  ASSERT_EQ(::read(from_child[0], &opened, sizeof(opened)), static_cast<ssize_t>(sizeof(opened)));
  EXPECT_EQ(opened, kIdle);
  // Every one of them accepted and registered.
  for (int i = 0; i < 1000 && server_->counters().connections.load() < uint64_t(kIdle); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server_->counters().connections.load(), uint64_t(kIdle));
  auto t0 = std::chrono::steady_clock::now();
  std::string out = RawExchange("GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n", 5000);
  EXPECT_TRUE(out.ends_with("hello\n")) << out;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  (void)!::write(to_child[1], "x", 1);
  ::close(to_child[1]);
  ::close(from_child[0]);
  ::waitpid(pid, nullptr, 0);
}

TEST(HttpListenAddress, Parses) {
  std::string h;
  uint16_t p = 0;
  ASSERT_TRUE(ParseListenAddress("9100", &h, &p).ok());
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(p, 9100);
  ASSERT_TRUE(ParseListenAddress("[::1]:80", &h, &p).ok());
  EXPECT_EQ(h, "::1");
  ASSERT_TRUE(ParseListenAddress("0.0.0.0:0", &h, &p).ok());
  EXPECT_EQ(h, "0.0.0.0");
  EXPECT_FALSE(ParseListenAddress("host:", &h, &p).ok());
  EXPECT_FALSE(ParseListenAddress(":80", &h, &p).ok());
  EXPECT_FALSE(ParseListenAddress("1.2.3.4:70000", &h, &p).ok());
}

}  // namespace
}  // namespace cairn::net
