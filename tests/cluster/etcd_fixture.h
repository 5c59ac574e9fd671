// EtcdFixture: real etcd members for tests, on 127.0.0.1 ports chosen free, in a temporary
// directory, started as child processes and stopped by pid (never by name). Never the
// system's etcd service or its port 2379.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace cairn::testing {

class EtcdFixture {
 public:
  // Starts `members` etcd members forming one cluster and waits until it has a leader (up to
  // 30 s). ok() says whether that worked; why() says why not (etcd missing: install it with
  // scripts/deps).
  explicit EtcdFixture(int members = 1);
  ~EtcdFixture();

  bool ok() const { return ok_; }
  const std::string& why() const { return why_; }
  // "127.0.0.1:PORT" of each member's client URL.
  const std::vector<std::string>& endpoints() const { return endpoints_; }
  std::string EndpointList() const;  // comma-separated
  // Stops (SIGKILL) / pauses (SIGSTOP) / resumes (SIGCONT) / restarts member i.
  void Kill(int i);
  void Stop(int i);
  void Cont(int i);
  bool Restart(int i);
  // Runs etcdctl against the cluster; returns its exit code, output in *out.
  int Ctl(const std::string& args, std::string* out = nullptr) const;

 private:
  bool Start(int i);
  bool WaitHealthy(int timeout_ms);

  std::string dir_;
  std::vector<std::string> endpoints_;
  std::vector<std::string> peers_;
  std::vector<pid_t> pids_;
  std::string initial_cluster_;
  bool ok_ = false;
  std::string why_;
};

// A free TCP port on 127.0.0.1 (bound and released; the caller binds it soon after).
int FreePort();

}  // namespace cairn::testing
