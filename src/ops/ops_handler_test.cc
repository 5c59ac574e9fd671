// The ops routes on a real HttpServer: methods other than GET and HEAD are refused with 405 and
// Allow, /readyz carries the reason, the status page is served from the binary.
#include "ops/ops_handler.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

namespace cairn::ops {
namespace {

std::string Exchange(uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return "";
  }
  (void)!::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

class OpsHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OpsEndpoints e;
    e.metrics = [] { return std::string("# HELP x X.\n# TYPE x gauge\nx 1\n"); };
    e.readiness = [this] {
      return ready_.load() ? Readiness{true, ""}
                           : Readiness{false, "the store is read-only: fdatasync failed"};
    };
    e.status_json = [] { return std::string("{\"node\":{}}"); };
    server_ = std::make_unique<net::HttpServer>(net::HttpServerOptions{}, &loops_, &pool_,
                                                MakeOpsHandler(std::move(e)));
    Result<uint16_t> p = server_->Start();
    ASSERT_TRUE(p.ok());
    port_ = *p;
    loops_.Start();
  }
  void TearDown() override {
    server_->Stop();
    server_.reset();
    loops_.Stop();
    loops_.Join();
    pool_.join();
  }
  std::string Get(const std::string& method, const std::string& path) {
    return Exchange(port_, method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  }

  std::atomic<bool> ready_{true};
  net::LoopGroup loops_{1};
  net::asio::thread_pool pool_{1};
  std::unique_ptr<net::HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(OpsHandlerTest, Routes) {
  std::string m = Get("GET", "/metrics");
  EXPECT_TRUE(m.starts_with("HTTP/1.1 200 OK\r\n")) << m;
  EXPECT_NE(m.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_TRUE(m.ends_with("x 1\n"));
  EXPECT_TRUE(Get("GET", "/healthz").ends_with("\r\n\r\nok\n"));
  std::string page = Get("GET", "/");
  EXPECT_NE(page.find("Content-Type: text/html"), std::string::npos);
  EXPECT_NE(page.find("status.json"), std::string::npos);
  EXPECT_TRUE(Get("GET", "/status.json?x=1").ends_with("{\"node\":{}}"));
  EXPECT_TRUE(Get("GET", "/nope").starts_with("HTTP/1.1 404"));
  // HEAD: the head with the GET's length, no body.
  std::string head = Get("HEAD", "/healthz");
  EXPECT_NE(head.find("Content-Length: 3\r\n"), std::string::npos) << head;
  EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;
}

TEST_F(OpsHandlerTest, OnlyGetAndHeadAreAllowed) {
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    std::string r = Exchange(port_, std::string(method) +
                                        " /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                        "Connection: close\r\n\r\nabc");
    EXPECT_TRUE(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n")) << method << ": " << r;
    EXPECT_NE(r.find("Allow: GET, HEAD\r\n"), std::string::npos) << r;
    EXPECT_NE(r.find("serves GET and HEAD only"), std::string::npos) << r;
  }
}

TEST_F(OpsHandlerTest, ReadyzGivesTheReason) {
  EXPECT_TRUE(Get("GET", "/readyz").ends_with("\r\n\r\nready\n"));
  ready_ = false;
  std::string r = Get("GET", "/readyz");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 503")) << r;
  EXPECT_TRUE(r.ends_with("not ready: the store is read-only: fdatasync failed\n")) << r;
}

}  // namespace
}  // namespace cairn::ops
