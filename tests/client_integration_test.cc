// The client library against a real cairnd on an ephemeral loopback port: concurrent mixed
// operations with every byte checked, pipelining, range GETs, edge sizes, streaming.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "cairn/client.h"
#include "util/crc32c.h"

#ifndef CAIRND_PATH
#error "CAIRND_PATH must name the cairnd binary"
#endif

namespace cairn {
namespace {

std::string Pattern(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return s;
}

constexpr char kKeyId[] = "it";
constexpr char kSecret[] = "integration-test-secret-0123456789";

class Cairnd {
 public:
  Cairnd() {
    dir_ = std::filesystem::temp_directory_path() /
           ("cairn_client_it_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    const std::string data = (dir_ / "data").string();
    const std::string port_file = (dir_ / "port").string();
    const std::string log = (dir_ / "log").string();
    const std::string key_file = (dir_ / "key").string();
    {
      std::ofstream k(key_file);
      k << kKeyId << ":" << kSecret << "\n";
    }
    std::filesystem::permissions(key_file, std::filesystem::perms::owner_read |
                                               std::filesystem::perms::owner_write);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl(CAIRND_PATH, CAIRND_PATH, "--data", data.c_str(), "--listen", "127.0.0.1:0",
              "--port-file", port_file.c_str(), "--log-file", log.c_str(), "--volume-size", "256M",
              "--key-file", key_file.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 600 && port_ == 0; i++) {  // bounded: 60 s
      std::ifstream in(port_file);
      int p = 0;
      if (in >> p) port_ = static_cast<uint16_t>(p);
      else std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ~Cairnd() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
    std::filesystem::remove_all(dir_);
  }
  uint16_t port() const { return port_; }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

class ClientIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new Cairnd(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  std::unique_ptr<Client> Connect(int connections = 2) {
    EXPECT_NE(server_->port(), 0) << "cairnd did not start";
    ClientOptions o;
    o.port = server_->port();
    o.connections = connections;
    o.key = ClientKey{kKeyId, kSecret};
    auto c = Client::Create(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c).value();
  }
  static Cairnd* server_;
};
Cairnd* ClientIntegrationTest::server_ = nullptr;

TEST_F(ClientIntegrationTest, EdgeSizesAndRanges) {
  auto c = Connect();
  ASSERT_TRUE(c->Ping().ok());
  for (size_t size : {size_t{0}, size_t{1}, size_t{1} << 20}) {
    const std::string key = "edge/" + std::to_string(size);
    const std::string v = Pattern(size, size);
    Result<WriteResult> p = c->Put(key, v);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(p->crc32c, crc32c::Value(v));
    Result<GetResult> g = c->Get(key);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    EXPECT_TRUE(g->data == v) << size;
    EXPECT_EQ(g->info.size, size);
    Result<ObjectInfo> h = c->Head(key);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->crc32c, crc32c::Value(v));
  }
  const std::string v = Pattern(1 << 20, 1 << 20);
  for (auto [off, len] : {std::pair<uint64_t, uint64_t>{0, 1}, {1000, 5000}, {(1 << 20) - 10, 100},
                          {12345, ~uint64_t{0}}, {1 << 20, 10}}) {
    Result<GetResult> g = c->Get("edge/1048576", ByteRange{off, len});
    ASSERT_TRUE(g.ok()) << off << " " << g.status().ToString();
    EXPECT_EQ(g->range_offset, off);
    EXPECT_TRUE(g->data == v.substr(off, len)) << off;
  }
  EXPECT_TRUE(c->Get("edge/1048576", ByteRange{(1 << 20) + 1, 1}).status().IsInvalidArgument());
  EXPECT_TRUE(c->Get("edge/missing").status().IsNotFound());
}

TEST_F(ClientIntegrationTest, PipelinedAsyncCallsOnOneConnection) {
  auto c = Connect(1);
  constexpr int kCalls = 500;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, bad = 0;
  for (int i = 0; i < kCalls; i++) {
    Status started = c->PutAsync("pipe/" + std::to_string(i), Pattern(4096 + i, i),
                                 WriteOptions(), [&](Result<WriteResult> r) {
                                   std::lock_guard<std::mutex> lock(mu);
                                   if (!r.ok()) bad++;
                                   done++;
                                   cv.notify_all();
                                 });
    ASSERT_TRUE(started.ok()) << started.ToString();
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == kCalls; }));
  }
  done = 0;
  for (int i = 0; i < kCalls; i++) {
    c->GetAsync("pipe/" + std::to_string(i), ByteRange(), [&, i](Result<GetResult> r) {
      std::lock_guard<std::mutex> lock(mu);
      if (!r.ok() || r->data != Pattern(4096 + i, i)) bad++;
      done++;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == kCalls; }));
  EXPECT_EQ(bad, 0);
}

TEST_F(ClientIntegrationTest, ConcurrentMixedOperationsEveryByteChecked) {
  auto c = Connect(4);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      // Each thread owns its keys, so it knows exactly what each must hold.
      std::map<std::string, std::string> mine;
      for (int i = 0; i < 300; i++) {
        const std::string key = "mix/" + std::to_string(t) + "/" + std::to_string(i % 40);
        switch (i % 5) {
          case 0:
          case 1: {
            std::string v = Pattern(static_cast<size_t>((i * 7919) % 70000), t * 100000 + i);
            WriteOptions wo;
            if (i % 2) wo.durability = Durability::kNone;
            if (!c->Put(key, v, wo).ok()) bad++;
            mine[key] = std::move(v);
            break;
          }
          case 4: {
            Status s = c->Delete(key).status();
            if (mine.erase(key) ? !s.ok() : !s.IsNotFound()) bad++;
            break;
          }
          default: {
            Result<GetResult> g = c->Get(key);
            auto it = mine.find(key);
            if (it == mine.end() ? !g.status().IsNotFound() : (!g.ok() || g->data != it->second))
              bad++;
          }
        }
      }
      for (const auto& [k, v] : mine) {
        Result<GetResult> g = c->Get(k);
        if (!g.ok() || g->data != v) bad++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  Result<ListResult> ls = c->List(ListOptions{.prefix = "mix/0/"});
  ASSERT_TRUE(ls.ok()) << ls.status().ToString();
  for (const ObjectInfo& o : ls->objects) EXPECT_TRUE(o.key.starts_with("mix/0/"));
}

class StringSourceForTest final : public ValueSource {
 public:
  explicit StringSourceForTest(std::string s) : s_(std::move(s)) {}
  Result<size_t> Read(char* buf, size_t n) override {
    n = std::min(n, s_.size() - pos_);
    std::memcpy(buf, s_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string s_;
  size_t pos_ = 0;
};

class Source final : public ValueSource {
 public:
  Source(uint64_t size) : size_(size) {}
  Result<size_t> Read(char* buf, size_t n) override {
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - pos_));
    for (size_t i = 0; i < n; i++) buf[i] = static_cast<char>((pos_ + i) * 131 >> 3);
    pos_ += n;
    return n;
  }

 private:
  uint64_t size_, pos_ = 0;
};

TEST_F(ClientIntegrationTest, StreamingPutAndGetOfALargeObject) {
  auto c = Connect();
  const uint64_t size = (uint64_t{48} << 20) + 17;  // chunked: longer than one 1 MiB buffer
  Source src(size);
  Result<WriteResult> p = c->PutStream("stream/big", &src);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->size, size);
  Result<std::unique_ptr<ObjectReader>> r = c->OpenReader("stream/big");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->info().size, size);
  std::vector<char> buf(256 << 10);
  uint64_t pos = 0;
  bool same = true;
  for (;;) {
    Result<size_t> n = (*r)->Read(buf.data(), buf.size());
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    if (*n == 0) break;
    for (size_t i = 0; i < *n && same; i++)
      same = buf[i] == static_cast<char>((pos + i) * 131 >> 3);
    pos += *n;
  }
  EXPECT_EQ(pos, size);
  EXPECT_TRUE(same);
  // A range through the streaming reader.
  Result<std::unique_ptr<ObjectReader>> rr = c->OpenReader("stream/big", ByteRange{size - 5, 100});
  ASSERT_TRUE(rr.ok());
  char tail[16];
  Result<size_t> n = (*rr)->Read(tail, sizeof(tail));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 5u);
}

TEST_F(ClientIntegrationTest, Issue15AWrongKeyIsPermissionDeniedAndNothingIsSent) {
  ClientOptions o;
  o.port = server_->port();
  o.key = ClientKey{kKeyId, "not-the-secret-at-all-0123456789"};
  auto c = Client::Create(o);
  ASSERT_TRUE(c.ok());
  // The server's proof does not match this secret: the client refuses to send anything.
  Result<WriteResult> p = (*c)->Put("wrong/key", "v");
  EXPECT_TRUE(p.status().IsPermissionDenied()) << p.status().ToString();
  StringSourceForTest src("v");
  EXPECT_TRUE((*c)->PutStream("wrong/key2", &src).status().IsPermissionDenied());
  EXPECT_TRUE((*c)->OpenReader("wrong/key").status().IsPermissionDenied());
  // An unknown key id: the server refuses it.
  o.key = ClientKey{"nobody", kSecret};
  auto d = Client::Create(o);
  ASSERT_TRUE(d.ok());
  Result<ObjectInfo> h = (*d)->Head("x");
  EXPECT_TRUE(h.status().IsPermissionDenied()) << h.status().ToString();
  EXPECT_NE(h.status().message().find("unknown key id"), std::string::npos);
  // No key: refused too (this server does not allow unauthenticated clients).
  o.key.reset();
  auto e = Client::Create(o);
  ASSERT_TRUE(e.ok());
  Result<std::string> ping = (*e)->Ping();
  EXPECT_TRUE(ping.status().IsPermissionDenied()) << ping.status().ToString();
  // And the right key still works.
  EXPECT_TRUE(Connect()->Get("wrong/key").status().IsNotFound());
}

TEST_F(ClientIntegrationTest, Issue15StatsComeBackAsStoreStatsWithServerCounters) {
  auto c = Connect();
  ASSERT_TRUE(c->Put("stats/a", "xyz").ok());
  Result<StoreStats> s = c->Stats();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_GE(s->objects, 1u);
  EXPECT_GT(s->server.at("requests"), 0u);
  EXPECT_GT(s->server.at("connections"), 0u);
  EXPECT_FALSE(s->volume_list.empty());
}

}  // namespace
}  // namespace cairn
