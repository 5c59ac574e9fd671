// Helpers for the cairnd integration tests: start the real binary on an ephemeral loopback
// port, with a test key (docs/protocol.md section 8), and talk to it with raw proto frames.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "proto/auth.h"
#include "proto/frame.h"
#include "proto/messages.h"
#include "util/crc32c.h"

namespace cairn::test {

// The key every test server is started with (unless a test asks for none).
inline constexpr char kTestKeyId[] = "test";
inline constexpr char kTestSecret[] = "0123456789abcdef0123456789abcdef";

class ServerProcess {
 public:
  // Starts cairnd on 127.0.0.1:0 with its store in `dir`; waits for its port file. With
  // `with_key`, the server knows the test key (kTestKeyId, kTestSecret), from a key file.
  bool Start(const std::string& dir, std::vector<std::string> extra = {}, bool with_key = true) {
    dir_ = dir;
    port_file_ = dir + ".port";
    std::filesystem::remove(port_file_);
    std::vector<std::string> args = {CAIRND_PATH, "--data", dir, "--listen", "127.0.0.1:0",
                                     "--port-file", port_file_, "--log-level", "warn"};
    if (std::find(extra.begin(), extra.end(), "--volume-size") == extra.end())
      extra.insert(extra.end(), {"--volume-size", "256M"});
    if (with_key) {
      const std::string key_file = dir + ".key";
      {
        std::ofstream f(key_file, std::ios::trunc);
        f << kTestKeyId << ":" << kTestSecret << "\n";
      }
      ::chmod(key_file.c_str(), 0600);
      extra.insert(extra.end(), {"--key-file", key_file});
    }
    for (auto& e : extra) args.push_back(e);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      // Dies with the test: a test that aborts (a sanitizer's report) must not leave a cairnd
      // holding ctest's output pipe, which made ctest wait out its 900 s timeout. (The signal
      // follows the forking thread: every test starts its nodes from its main thread.)
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);  // the startup line
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 2000; i++) {  // up to 20 s (volume preparation on a busy machine)
      std::ifstream f(port_file_);
      int p = 0;
      if (f >> p && p > 0) {
        port_ = static_cast<uint16_t>(p);
        return true;
      }
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // Sends `sig` and waits (up to 60 s) for the exit; returns the wait status, -1 on timeout.
  int Stop(int sig) {
    if (pid_ <= 0) return -1;
    kill(pid_, sig);
    for (int i = 0; i < 6000; i++) {
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return st;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return -1;
  }
  bool Alive() const { return pid_ > 0 && kill(pid_, 0) == 0; }
  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // The data directory it was started on.
  const std::string& dir() const { return dir_; }
  // Peak resident memory (VmHWM) in bytes, from /proc.
  uint64_t PeakRss() const {
    std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    return 0;
  }

 private:
  std::string dir_, port_file_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

// A blocking client connection speaking raw frames.
class RawConn {
 public:
  // Connects and, with `authenticate`, completes the handshake with the test key.
  bool Connect(uint16_t port, bool authenticate = true) {
    if (!ConnectOnly(port)) return false;
    return !authenticate || Authenticate(kTestKeyId, kTestSecret);
  }
  bool ConnectOnly(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{30, 0};  // no test waits forever
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConn() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

  bool SendAll(std::string_view b) {
    while (!b.empty()) {
      ssize_t n = send(fd_, b.data(), b.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      b.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  bool RecvAll(char* p, size_t n) {
    while (n > 0) {
      ssize_t k = recv(fd_, p, n, 0);
      if (k <= 0) return false;
      p += k;
      n -= static_cast<size_t>(k);
    }
    return true;
  }
  // True if the server closed the connection (EOF) within the receive timeout.
  bool SeesEof() {
    char c;
    return recv(fd_, &c, 1, 0) == 0;
  }

  static std::string Frame(proto::Op op, uint64_t id, std::string_view meta,
                           std::string_view body = {}) {
    proto::FrameHeader h;
    h.op = op;
    h.request_id = id;
    h.meta_len = static_cast<uint32_t>(meta.size());
    h.body_len = body.size();
    h.body_crc = body.empty() ? 0 : crc32c::Value(body);
    std::string out = proto::EncodeFrame(h, meta);
    out.append(body);
    return out;
  }
  static std::string PutMeta(std::string_view key, uint8_t durability = 0) {
    std::string m;
    proto::EncodeMeta(proto::PutRequest{.durability = durability, .key = std::string(key)}, &m);
    return m;
  }
  static std::string GetMeta(std::string_view key, uint64_t off = 0,
                             uint64_t len = proto::kToEnd) {
    std::string m;
    proto::EncodeMeta(proto::GetRequest{std::string(key), off, len}, &m);
    return m;
  }
  static std::string KeyMeta(std::string_view key) {
    std::string m;
    proto::EncodeMeta(proto::KeyRequest{std::string(key)}, &m);
    return m;
  }
  static std::string DeleteMeta(std::string_view key) {
    std::string m;
    proto::EncodeMeta(proto::DeleteRequest{.durability = 0, .key = std::string(key)}, &m);
    return m;
  }

  // The handshake, step by step (docs/protocol.md section 8).
  static std::string HelloFrame(std::string_view key_id, const proto::Nonce& nc) {
    proto::HelloRequest m;
    m.key_id.assign(key_id);
    m.client_nonce = nc;
    std::string meta;
    proto::EncodeMeta(m, &meta);
    return Frame(proto::Op::kHello, 0, meta);
  }
  static std::string AuthFrame(const proto::Proof& p) {
    proto::AuthRequest m;
    m.client_proof = p;
    std::string meta;
    proto::EncodeMeta(m, &meta);
    return Frame(proto::Op::kAuth, 0, meta);
  }
  // HELLO with `key_id`, checks the server's proof with `secret`, AUTH; true if the server
  // accepted it. *server_nonce receives the server's nonce.
  bool Authenticate(std::string_view key_id, std::string_view secret,
                    proto::Nonce* server_nonce = nullptr, proto::Proof* sent = nullptr) {
    const proto::Nonce nc = proto::RandomNonce();
    Reply r;
    if (!Call(HelloFrame(key_id, nc), &r) || r.h.status != proto::WireStatus::kOk) return false;
    proto::HelloReply hr;
    proto::WireError err;
    if (!proto::DecodeMeta(r.meta, &hr, &err)) return false;
    if (!proto::ProofsEqual(hr.server_proof, proto::ComputeProof(proto::AuthRole::kServer, secret,
                                                                 key_id, nc, hr.server_nonce)))
      return false;
    const proto::Proof p =
        proto::ComputeProof(proto::AuthRole::kClient, secret, key_id, nc, hr.server_nonce);
    if (server_nonce != nullptr) *server_nonce = hr.server_nonce;
    if (sent != nullptr) *sent = p;
    return Call(AuthFrame(p), &r) && r.h.status == proto::WireStatus::kOk;
  }

  struct Reply {
    proto::FrameHeader h;
    std::string meta;
    std::string body;
    std::string error() const {
      proto::ErrorReply e;
      proto::WireError err;
      (void)proto::DecodeMeta(meta, &e, &err);
      return e.message;
    }
  };
  // Reads one reply frame (header checks, header CRC; body CRC is the caller's business).
  bool ReadReply(Reply* r, uint64_t max_body = uint64_t{1} << 31) {
    char hdr[proto::kHeaderSize];
    if (!RecvAll(hdr, sizeof hdr)) return false;
    proto::WireError err;
    if (!proto::DecodeHeader(hdr, proto::kMaxFrameMetaBytesLimit, &r->h, &err)) return false;
    r->meta.resize(r->h.meta_len);
    if (!RecvAll(r->meta.data(), r->meta.size())) return false;
    if (!proto::CheckHeaderCrc(hdr, r->meta, &err)) return false;
    if (r->h.body_len > max_body) return false;
    r->body.resize(r->h.body_len);
    return RecvAll(r->body.data(), r->body.size());
  }
  // One request, one reply.
  bool Call(const std::string& frame, Reply* r) { return SendAll(frame) && ReadReply(r); }

 private:
  int fd_ = -1;
};

}  // namespace cairn::test
