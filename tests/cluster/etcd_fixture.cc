#include "cluster/etcd_fixture.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace cairn::testing {

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

EtcdFixture::EtcdFixture(int members) {
  if (std::system("command -v etcd >/dev/null 2>&1") != 0) {
    why_ = "etcd is not installed (scripts/deps installs etcd-server)";
    return;
  }
  char tmpl[] = "/tmp/cairn-etcd.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    why_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  for (int i = 0; i < members; i++) {
    endpoints_.push_back("127.0.0.1:" + std::to_string(FreePort()));
    peers_.push_back("127.0.0.1:" + std::to_string(FreePort()));
    if (!initial_cluster_.empty()) initial_cluster_ += ",";
    initial_cluster_ += "m" + std::to_string(i) + "=http://" + peers_.back();
  }
  pids_.assign(members, -1);
  for (int i = 0; i < members; i++)
    if (!Start(i)) return;
  ok_ = WaitHealthy(30000);
  if (!ok_) why_ = "etcd did not become healthy in 30 s (logs in " + dir_ + ")";
}

EtcdFixture::~EtcdFixture() {
  for (size_t i = 0; i < pids_.size(); i++) Kill(static_cast<int>(i));
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

bool EtcdFixture::Start(int i) {
  const std::string name = "m" + std::to_string(i);
  const std::string data = dir_ + "/" + name;
  const std::string log = dir_ + "/" + name + ".log";
  pid_t pid = ::fork();
  if (pid < 0) {
    why_ = "fork failed";
    return false;
  }
  if (pid == 0) {
    // Dies with the test, whatever kills it; never holds the test's output pipes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    FILE* f = std::freopen(log.c_str(), "a", stderr);
    f = std::freopen("/dev/null", "w", stdout);
    (void)f;
    std::string client = "http://" + endpoints_[i], peer = "http://" + peers_[i];
    ::execlp("etcd", "etcd", "--name", name.c_str(), "--data-dir", data.c_str(),
             "--listen-client-urls", client.c_str(), "--advertise-client-urls", client.c_str(),
             "--listen-peer-urls", peer.c_str(), "--initial-advertise-peer-urls", peer.c_str(),
             "--initial-cluster", initial_cluster_.c_str(), "--initial-cluster-state", "new",
             "--initial-cluster-token", dir_.c_str(), "--heartbeat-interval", "100",
             "--election-timeout", "1000", "--logger", "zap", "--log-outputs", "stderr",
             static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  pids_[i] = pid;
  return true;
}

bool EtcdFixture::WaitHealthy(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Ctl("endpoint health") == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::string EtcdFixture::EndpointList() const {
  std::string s;
  for (const auto& e : endpoints_) s += (s.empty() ? "" : ",") + e;
  return s;
}

void EtcdFixture::Kill(int i) {
  if (pids_[i] <= 0) return;
  ::kill(pids_[i], SIGKILL);
  ::waitpid(pids_[i], nullptr, 0);
  pids_[i] = -1;
}
void EtcdFixture::Stop(int i) {
  if (pids_[i] > 0) ::kill(pids_[i], SIGSTOP);
}
void EtcdFixture::Cont(int i) {
  if (pids_[i] > 0) ::kill(pids_[i], SIGCONT);
}
bool EtcdFixture::Restart(int i) {
  Kill(i);
  initial_cluster_ = initial_cluster_;  // same cluster; the data dir says it exists
  return Start(i);
}

int EtcdFixture::Ctl(const std::string& args, std::string* out) const {
  std::string cmd = "ETCDCTL_API=3 etcdctl --dial-timeout=1s --command-timeout=2s --endpoints=" +
                    EndpointList() + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  std::array<char, 4096> buf;
  std::string text;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) text.append(buf.data(), n);
  int rc = ::pclose(p);
  if (out != nullptr) *out = text;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace cairn::testing
