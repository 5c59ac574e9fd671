#include "cluster/etcd_client.h"

#include <nlohmann/json.hpp>

#include "net/http_client.h"
#include "util/base64.h"

namespace cairn::cluster {
namespace {

using Json = nlohmann::json;

// etcd's int64 fields come as strings ("12") and are omitted when zero.
int64_t Int(const Json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return 0;
  if (it->is_string()) return std::stoll(it->get<std::string>());
  if (it->is_number_integer()) return it->get<int64_t>();
  return 0;
}

std::string B64(const Json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return "";
  std::optional<std::string> v = Base64Decode(it->get<std::string>());
  if (!v) throw std::runtime_error(std::string("field ") + name + " is not base64");
  return *v;
}

EtcdKv KvOf(const Json& j) {
  EtcdKv kv;
  kv.key = B64(j, "key");
  kv.value = B64(j, "value");
  kv.create_revision = Int(j, "create_revision");
  kv.mod_revision = Int(j, "mod_revision");
  kv.version = Int(j, "version");
  kv.lease = Int(j, "lease");
  return kv;
}

EtcdRange RangeOf(const Json& j) {
  EtcdRange r;
  if (auto h = j.find("header"); h != j.end()) r.revision = Int(*h, "revision");
  if (auto kvs = j.find("kvs"); kvs != j.end())
    for (const Json& kv : *kvs) r.kvs.push_back(KvOf(kv));
  r.more = j.value("more", false);
  r.count = Int(j, "count");
  return r;
}

Json OpJson(const EtcdOp& op) {
  Json j;
  switch (op.kind) {
    case EtcdOp::Kind::kPut: {
      Json p = {{"key", Base64Encode(op.key)}, {"value", Base64Encode(op.value)}};
      if (op.lease != 0) p["lease"] = std::to_string(op.lease);
      j["request_put"] = p;
      break;
    }
    case EtcdOp::Kind::kDelete: {
      Json d = {{"key", Base64Encode(op.key)}};
      if (!op.range_end.empty()) d["range_end"] = Base64Encode(op.range_end);
      j["request_delete_range"] = d;
      break;
    }
    case EtcdOp::Kind::kRange: {
      Json r = {{"key", Base64Encode(op.key)}};
      if (!op.range_end.empty()) r["range_end"] = Base64Encode(op.range_end);
      j["request_range"] = r;
      break;
    }
  }
  return j;
}

Json CompareJson(const EtcdCompare& c) {
  static const char* kTargets[] = {"VERSION", "CREATE", "MOD", "VALUE", "LEASE"};
  static const char* kResults[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};
  Json j = {{"key", Base64Encode(c.key)},
            {"target", kTargets[static_cast<int>(c.target)]},
            {"result", kResults[static_cast<int>(c.result)]}};
  switch (c.target) {
    case EtcdCompare::Target::kVersion: j["version"] = std::to_string(c.number); break;
    case EtcdCompare::Target::kCreateRevision: j["create_revision"] = std::to_string(c.number); break;
    case EtcdCompare::Target::kModRevision: j["mod_revision"] = std::to_string(c.number); break;
    case EtcdCompare::Target::kLease: j["lease"] = std::to_string(c.number); break;
    case EtcdCompare::Target::kValue: j["value"] = Base64Encode(c.value); break;
  }
  return j;
}

// The Status for an etcd error body ({"error": ..., "code": grpc code, "message": ...}).
Status FromEtcdError(int http_status, const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  std::string msg = "etcd: HTTP " + std::to_string(http_status);
  int code = 2;
  if (!j.is_discarded() && j.is_object()) {
    msg = "etcd: " + j.value("message", j.value("error", msg));
    code = j.value("code", 2);
  }
  // etcd reports some authentication failures as InvalidArgument (gRPC code 3): tell them by
  // their messages (etcdserver/api/v3rpc/rpctypes).
  for (const char* auth : {"user name is empty", "authentication failed", "permission denied",
                           "invalid auth token", "user name not found"})
    if (msg.find(auth) != std::string::npos) return Status::PermissionDenied(msg);
  switch (code) {
    case 5: return Status::NotFound(msg);
    case 4: return Status::DeadlineExceeded(msg);
    case 7:
    case 16: return Status::PermissionDenied(msg);
    case 14: return Status::Unavailable(msg);
    case 3:
    case 9:
    case 11: return Status::InvalidArgument(msg);
    case 8: return Status::LimitExceeded(msg);
    default: return Status::IOError(msg);
  }
}

bool SplitHostPort(const std::string& ep, std::string* host, uint16_t* port) {
  size_t colon = ep.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == ep.size()) return false;
  *host = ep.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  unsigned long p = 0;
  for (char c : ep.substr(colon + 1)) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + static_cast<unsigned long>(c - '0');
    if (p > 65535) return false;
  }
  if (p == 0) return false;
  *port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace

Status ParseEtcdEndpoints(std::string_view text, std::vector<std::string>* out) {
  out->clear();
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string ep(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    if (ep.rfind("http://", 0) == 0) ep = ep.substr(7);
    while (!ep.empty() && ep.back() == '/') ep.pop_back();
    std::string host;
    uint16_t port;
    if (!SplitHostPort(ep, &host, &port))
      return Status::InvalidArgument("etcd endpoint \"" + ep + "\" is not HOST:PORT");
    out->push_back(ep);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (out->empty()) return Status::InvalidArgument("no etcd endpoints given");
  return Status::OK();
}

std::string EtcdPrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char c = static_cast<unsigned char>(end.back());
    if (c < 0xFF) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // the whole key space
}

EtcdClient::EtcdClient(EtcdOptions options) : options_(std::move(options)) {}
EtcdClient::~EtcdClient() { CancelWatch(); }

Result<std::unique_ptr<EtcdClient>> EtcdClient::Create(const EtcdOptions& options) {
  if (options.endpoints.empty()) return Status::InvalidArgument("no etcd endpoints given");
  for (const std::string& ep : options.endpoints) {
    std::string host;
    uint16_t port;
    if (!SplitHostPort(ep, &host, &port))
      return Status::InvalidArgument("etcd endpoint \"" + ep + "\" is not HOST:PORT");
  }
  return std::unique_ptr<EtcdClient>(new EtcdClient(options));
}

Status EtcdClient::Authenticate() {
  token_.clear();
  Json req = {{"name", options_.user}, {"password", options_.password}};
  std::string host;
  uint16_t port;
  (void)SplitHostPort(options_.endpoints[current_], &host, &port);
  Result<net::HttpClientResponse> r = http_->Request("POST", "/v3/auth/authenticate", req.dump());
  if (!r.ok()) return r.status();
  if (r->status != 200) return FromEtcdError(r->status, r->body).WithContext("authenticate as " + options_.user);
  Json j = Json::parse(r->body, nullptr, false);
  if (j.is_discarded() || !j.contains("token")) return Status::Corruption("etcd: no token in the authenticate answer");
  token_ = j["token"].get<std::string>();
  return Status::OK();
}

Result<std::string> EtcdClient::Call(const std::string& path, const std::string& json) {
  std::lock_guard<std::mutex> l(mu_);
  Status last;
  for (size_t attempt = 0; attempt < options_.endpoints.size(); attempt++) {
    if (http_ == nullptr) {
      std::string host;
      uint16_t port;
      (void)SplitHostPort(options_.endpoints[current_], &host, &port);
      http_ = std::make_unique<net::HttpClient>(host, port, options_.timeout_ms);
      token_.clear();
    }
    Status s;
    if (!options_.user.empty() && token_.empty()) s = Authenticate();
    if (s.ok()) {
      std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
      if (!token_.empty()) headers.emplace_back("Authorization", token_);
      Result<net::HttpClientResponse> r = http_->Request("POST", path, json, headers);
      if (r.ok() && r->status == 200) return std::move(r->body);
      if (r.ok()) {
        s = FromEtcdError(r->status, r->body);
        if (s.IsPermissionDenied() && !options_.user.empty() && attempt == 0) {
          token_.clear();  // an expired token: authenticate again, same endpoint
          attempt--;
          continue;
        }
        // A member without a leader answers Unavailable: another member may have one.
        if (!s.IsUnavailable()) return s;
      } else {
        s = r.status();
      }
    }
    last = s;
    if (!s.IsUnavailable() && !s.IsDeadlineExceeded()) return s;
    http_.reset();
    current_ = (current_ + 1) % options_.endpoints.size();
  }
  return last.WithContext("no etcd endpoint answered");
}

namespace {
template <typename T, typename F>
Result<T> Parse(const Result<std::string>& body, F f) {
  if (!body.ok()) return body.status();
  Json j = Json::parse(body.value(), nullptr, false);
  if (j.is_discarded()) return Status::Corruption("etcd: the answer is not JSON");
  try {
    return f(j);
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("etcd: malformed answer: ") + e.what());
  }
}
}  // namespace

Result<int64_t> EtcdClient::Put(std::string_view key, std::string_view value, int64_t lease) {
  Json req = {{"key", Base64Encode(key)}, {"value", Base64Encode(value)}};
  if (lease != 0) req["lease"] = std::to_string(lease);
  return Parse<int64_t>(Call("/v3/kv/put", req.dump()),
                        [](const Json& j) { return Int(j.at("header"), "revision"); });
}

Result<EtcdRange> EtcdClient::Get(std::string_view key, std::string_view range_end,
                                  int64_t revision, int64_t limit) {
  Json req = {{"key", Base64Encode(key)}};
  if (!range_end.empty()) req["range_end"] = Base64Encode(range_end);
  if (revision != 0) req["revision"] = std::to_string(revision);
  if (limit != 0) req["limit"] = std::to_string(limit);
  return Parse<EtcdRange>(Call("/v3/kv/range", req.dump()), [](const Json& j) { return RangeOf(j); });
}

Result<int64_t> EtcdClient::Delete(std::string_view key, std::string_view range_end) {
  Json req = {{"key", Base64Encode(key)}};
  if (!range_end.empty()) req["range_end"] = Base64Encode(range_end);
  return Parse<int64_t>(Call("/v3/kv/deleterange", req.dump()),
                        [](const Json& j) { return Int(j.at("header"), "revision"); });
}

Result<EtcdTxnResult> EtcdClient::Txn(const std::vector<EtcdCompare>& compares,
                                      const std::vector<EtcdOp>& success,
                                      const std::vector<EtcdOp>& failure) {
  Json req = Json::object();
  Json c = Json::array(), s = Json::array(), f = Json::array();
  for (const auto& x : compares) c.push_back(CompareJson(x));
  for (const auto& x : success) s.push_back(OpJson(x));
  for (const auto& x : failure) f.push_back(OpJson(x));
  req["compare"] = c;
  req["success"] = s;
  req["failure"] = f;
  return Parse<EtcdTxnResult>(Call("/v3/kv/txn", req.dump()), [](const Json& j) {
    EtcdTxnResult r;
    r.succeeded = j.value("succeeded", false);
    r.revision = Int(j.at("header"), "revision");
    if (auto rs = j.find("responses"); rs != j.end())
      for (const Json& one : *rs)
        if (auto rr = one.find("response_range"); rr != one.end()) r.ranges.push_back(RangeOf(*rr));
    return r;
  });
}

Result<int64_t> EtcdClient::LeaseGrant(int64_t ttl_seconds) {
  Json req = {{"TTL", std::to_string(ttl_seconds)}};
  return Parse<int64_t>(Call("/v3/lease/grant", req.dump()), [](const Json& j) {
    if (j.contains("error") && !j["error"].get<std::string>().empty())
      throw std::runtime_error(j["error"].get<std::string>());
    return Int(j, "ID");
  });
}

Result<int64_t> EtcdClient::LeaseKeepAlive(int64_t id) {
  Json req = {{"ID", std::to_string(id)}};
  Result<std::string> body = Call("/v3/lease/keepalive", req.dump());
  if (!body.ok()) return body.status();
  // A streaming endpoint: one request, one {"result": {...}} line back.
  Json j = Json::parse(body->substr(0, body->find('\n')), nullptr, false);
  if (j.is_discarded() || !j.contains("result")) return Status::Corruption("etcd: malformed keepalive answer");
  const int64_t ttl = Int(j["result"], "TTL");
  if (ttl <= 0) return Status::NotFound("etcd: lease " + std::to_string(id) + " has expired");
  return ttl;
}

Status EtcdClient::LeaseRevoke(int64_t id) {
  Json req = {{"ID", std::to_string(id)}};
  Result<std::string> r = Call("/v3/lease/revoke", req.dump());
  return r.ok() ? Status::OK() : r.status();
}

void EtcdClient::CancelWatch() {
  std::lock_guard<std::mutex> l(watch_mu_);
  watch_cancelled_ = true;
  if (watch_http_ != nullptr) watch_http_->Abort();
}

Status EtcdClient::Watch(std::string_view key, std::string_view range_end, int64_t start_revision,
                         const std::function<bool(const std::vector<EtcdEvent>&, int64_t)>& on_events,
                         int64_t* compact_revision) {
  *compact_revision = 0;
  std::string endpoint;
  std::string token;
  {
    std::lock_guard<std::mutex> l(mu_);
    endpoint = options_.endpoints[current_];
    if (!options_.user.empty()) {
      if (token_.empty()) {
        if (http_ == nullptr) {
          std::string host;
          uint16_t port;
          (void)SplitHostPort(endpoint, &host, &port);
          http_ = std::make_unique<net::HttpClient>(host, port, options_.timeout_ms);
        }
        CAIRN_RETURN_IF_ERROR(Authenticate());
      }
      token = token_;
    }
  }
  std::string host;
  uint16_t port;
  (void)SplitHostPort(endpoint, &host, &port);
  net::HttpClient http(host, port, options_.timeout_ms);
  {
    std::lock_guard<std::mutex> l(watch_mu_);
    if (watch_cancelled_) return Status::OK();  // cancelled for good (shutting down)
    watch_http_ = &http;
  }
  struct Clear {
    EtcdClient* c;
    ~Clear() {
      std::lock_guard<std::mutex> l(c->watch_mu_);
      c->watch_http_ = nullptr;
    }
  } clear{this};
  Json create = {{"key", Base64Encode(key)}};
  if (!range_end.empty()) create["range_end"] = Base64Encode(range_end);
  if (start_revision != 0) create["start_revision"] = std::to_string(start_revision);
  Json req = {{"create_request", create}};
  std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
  if (!token.empty()) headers.emplace_back("Authorization", token);
  std::string line;
  Status result;
  bool compacted = false;
  bool caller_stopped = false;
  int http_status = 0;
  auto on_data = [&](std::string_view data) -> bool {
    line.append(data);
    for (size_t nl; (nl = line.find('\n')) != std::string::npos;) {
      std::string one = line.substr(0, nl);
      line.erase(0, nl + 1);
      if (one.empty()) continue;
      Json j = Json::parse(one, nullptr, false);
      if (j.is_discarded()) {
        result = Status::Corruption("etcd: a watch message is not JSON");
        return false;
      }
      if (j.contains("error")) {
        result = FromEtcdError(http_status, one);
        return false;
      }
      const Json& r = j.value("result", Json::object());
      if (Int(r, "compact_revision") != 0) {
        *compact_revision = Int(r, "compact_revision");
        compacted = true;
        return false;
      }
      if (r.value("canceled", false)) {
        result = Status::Unavailable("etcd cancelled the watch: " + r.value("cancel_reason", std::string("?")));
        return false;
      }
      std::vector<EtcdEvent> events;
      try {
        if (auto ev = r.find("events"); ev != r.end())
          for (const Json& e : *ev) {
            EtcdEvent x;
            x.deleted = e.value("type", std::string("PUT")) == "DELETE";
            x.kv = KvOf(e.at("kv"));
            events.push_back(std::move(x));
          }
      } catch (const std::exception& e) {
        result = Status::Corruption(std::string("etcd: malformed watch event: ") + e.what());
        return false;
      }
      const int64_t rev = r.contains("header") ? Int(r["header"], "revision") : 0;
      if (events.empty() && !r.value("created", false)) continue;
      if (!on_events(events, rev)) {
        caller_stopped = true;
        return false;
      }
    }
    return true;
  };
  Status s = http.Stream("POST", "/v3/watch", req.dump(), headers, /*idle_timeout_ms=*/0,
                         &http_status, on_data);
  if (compacted)
    return Status::NotFound("etcd: watch from revision " + std::to_string(start_revision) +
                            " cancelled: compacted up to " + std::to_string(*compact_revision));
  if (watch_cancelled_ || caller_stopped) return Status::OK();
  if (!result.ok()) return result;
  if (!s.ok()) return s;
  if (http_status != 200) return Status::Unavailable("etcd: watch answered HTTP " + std::to_string(http_status));
  return Status::Unavailable("etcd: the watch stream ended");
}

}  // namespace cairn::cluster
