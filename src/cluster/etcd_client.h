// EtcdClient: the cluster's client of etcd's v3 API, spoken as JSON over HTTP/1.1 (etcd's
// grpc-gateway: keys and values base64, int64 as strings, defaults omitted, a watch as an
// endless chunked response), on the project's own HTTP client (net/http_client.h). No gRPC.
//
// Endpoints: several etcd members; a call that cannot reach one (Unavailable, or no answer in
// time) is tried on the next, each once. Errors keep etcd's meaning: NotFound (a lease that
// expired), PermissionDenied (etcd authentication), Unavailable (no member reachable),
// DeadlineExceeded (no answer in time: the outcome of a write is unknown).
//
// Authentication: with a user and password, the client gets a token from etcd
// (/v3/auth/authenticate) and sends it with every call, renewing it when etcd refuses it.
// The password is never logged.
//
// Thread safety: calls are serialised by an internal mutex (one connection); Watch runs on its
// own connection and may run on another thread at the same time as other calls.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cairn/status.h"

namespace cairn::net {
class HttpClient;
}

namespace cairn::cluster {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // "host:port", at least one
  uint32_t timeout_ms = 2000;          // each attempt
  std::string user;                    // etcd authentication, when the operator set it up
  std::string password;
};

// Parses "host:port[,host:port...]" (an optional "http://" prefix per endpoint is accepted).
Status ParseEtcdEndpoints(std::string_view text, std::vector<std::string>* out);

struct EtcdKv {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct EtcdRange {
  std::vector<EtcdKv> kvs;
  int64_t revision = 0;  // the store's revision the read saw
  bool more = false;
  int64_t count = 0;
};

struct EtcdCompare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue, kLease };
  enum class Result { kEqual, kGreater, kLess, kNotEqual };
  std::string key;
  Target target = Target::kValue;
  Result result = Result::kEqual;
  int64_t number = 0;  // for every target but kValue
  std::string value;   // kValue
};

struct EtcdOp {
  enum class Kind { kPut, kDelete, kRange };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;      // kPut
  std::string range_end;  // kDelete / kRange: empty = the key alone
  int64_t lease = 0;      // kPut
};

struct EtcdTxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::vector<EtcdRange> ranges;  // one per kRange op of the branch that ran
};

struct EtcdEvent {
  bool deleted = false;
  EtcdKv kv;
};

// The smallest key after every key that starts with `prefix` (etcd's range_end for a prefix).
std::string EtcdPrefixEnd(std::string_view prefix);

class EtcdClient {
 public:
  static Result<std::unique_ptr<EtcdClient>> Create(const EtcdOptions& options);
  ~EtcdClient();

  Result<int64_t> Put(std::string_view key, std::string_view value, int64_t lease = 0);
  // One key, or (with range_end) a range; at `revision` when non-zero (one consistent view).
  Result<EtcdRange> Get(std::string_view key, std::string_view range_end = {},
                        int64_t revision = 0, int64_t limit = 0);
  Result<EtcdRange> GetPrefix(std::string_view prefix, int64_t revision = 0) {
    return Get(prefix, EtcdPrefixEnd(prefix), revision);
  }
  Result<int64_t> Delete(std::string_view key, std::string_view range_end = {});
  Result<EtcdTxnResult> Txn(const std::vector<EtcdCompare>& compares,
                            const std::vector<EtcdOp>& success,
                            const std::vector<EtcdOp>& failure = {});
  Result<int64_t> LeaseGrant(int64_t ttl_seconds);
  // Renews the lease; returns its TTL in seconds. NotFound when it has already expired.
  Result<int64_t> LeaseKeepAlive(int64_t id);
  Status LeaseRevoke(int64_t id);

  // Watches keys from `key` to `range_end` from `start_revision` (0: from now). Runs on the
  // calling thread, calling `on_events` with each batch in order and the revision it brings
  // the view to (also once, with no events, when the watch is set up), until `on_events`
  // returns false (OK), CancelWatch() is called (OK), the stream fails (Unavailable), or etcd
  // cancels it because start_revision was compacted: then NotFound with *compact_revision
  // set, and the caller re-reads everything at one revision and watches again from the next
  // (CLUSTER.md section 1).
  Status Watch(std::string_view key, std::string_view range_end, int64_t start_revision,
               const std::function<bool(const std::vector<EtcdEvent>&, int64_t revision)>& on_events,
               int64_t* compact_revision);
  // Ends the Watch running now and every later one at once (for shutting down).
  void CancelWatch();

  const EtcdOptions& options() const { return options_; }

 private:
  explicit EtcdClient(EtcdOptions options);
  // POSTs `json` to `path` on the current endpoint, failing over to the others; returns the
  // parsed JSON body of a 200, or the error etcd gave.
  Result<std::string> Call(const std::string& path, const std::string& json);
  Status Authenticate();

  EtcdOptions options_;
  std::mutex mu_;  // guards everything below and serialises calls
  size_t current_ = 0;
  std::unique_ptr<net::HttpClient> http_;
  std::string token_;
  std::mutex watch_mu_;
  net::HttpClient* watch_http_ = nullptr;  // while a Watch runs
  std::atomic<bool> watch_cancelled_{false};
};

}  // namespace cairn::cluster
