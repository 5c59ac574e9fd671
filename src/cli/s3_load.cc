#include "cli/s3_load.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include "util/coding.h"
#include "util/histogram.h"

namespace cairn::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

enum OpKind { kGet = 0, kPut = 1, kDelete = 2, kOpKinds = 3 };

constexpr size_t kValueHeader = 32;
constexpr uint32_t kValueMagic = 0x33424E43;  // "CNB3"
constexpr size_t kPoolSlack = 4096;

uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

struct Rng {
  uint64_t s;
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
};

struct OpStats {
  Histogram latency_ns;
  uint64_t ok = 0, errors = 0, not_found = 0, bytes = 0;
};

LoadLatency LatencyOf(const Histogram& h) {
  LoadLatency l;
  l.p50 = static_cast<double>(h.Percentile(0.50)) / 1e3;
  l.p99 = static_cast<double>(h.Percentile(0.99)) / 1e3;
  l.p999 = static_cast<double>(h.Percentile(0.999)) / 1e3;
  l.max = static_cast<double>(h.max()) / 1e3;
  l.mean = h.mean() / 1e3;
  return l;
}

class S3Bench {
 public:
  S3Bench(const S3Target& t, const LoadOptions& o) : t_(t), o_(o) {
    weights_ = {o.get_weight, o.put_weight, o.delete_weight};
    for (uint32_t w : weights_) total_weight_ += w;
    pool_.resize(o.value_bytes + kPoolSlack);
    Rng r{0x5EED};
    for (char& c : pool_) c = static_cast<char>(r.Next());
    acked_.assign(o.keys, 0);
    next_version_.assign(o.keys, 0);
    host_ = t.host + ":" + std::to_string(t.port);
    if (o.zipf) {
      // Zipf by inverse CDF over a table (keys up to a few million).
      zipf_cdf_.resize(o.keys);
      double sum = 0;
      for (uint64_t i = 0; i < o.keys; i++) {
        sum += 1.0 / std::pow(static_cast<double>(i + 1), o.zipf_theta);
        zipf_cdf_[i] = sum;
      }
      for (double& c : zipf_cdf_) c /= sum;
    }
  }

  Result<LoadReport> Run() {
    // The bucket (200 when created or already ours; 409 when another key's).
    {
      Result<int> st = OneRequest("PUT", "/" + t_.bucket, "");
      if (!st.ok()) return st.status();
      if (*st != 200 && *st != 409)
        return Status::Unavailable(fmt::format("creating bucket {} answered {}", t_.bucket, *st));
    }
    if (o_.preload && (weights_[kGet] > 0)) {
      preloading_ = true;
      RunPhase();
      preloading_ = false;
      if (errors_total() > 0) return Status::Unavailable("preload failed: " + first_error_);
    }
    for (OpStats& s : stats_) s = OpStats();
    started_ = Clock::now();
    RunPhase();
    LoadReport r;
    r.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    Histogram all;
    LoadOpReport* per[kOpKinds] = {&r.get, &r.put, &r.del};
    for (int i = 0; i < kOpKinds; i++) {
      const OpStats& s = stats_[i];
      all.Merge(s.latency_ns);
      per[i]->ok = s.ok;
      per[i]->errors = s.errors;
      per[i]->not_found = s.not_found;
      per[i]->bytes = s.bytes;
      per[i]->latency = LatencyOf(s.latency_ns);
      r.ops += s.ok + s.not_found;
      r.bytes += s.bytes;
      r.not_found += s.not_found;
      r.errors += s.errors;
    }
    r.latency = LatencyOf(all);
    r.first_error = first_error_;
    return r;
  }

 private:
  uint64_t errors_total() const {
    return stats_[0].errors + stats_[1].errors + stats_[2].errors;
  }

  std::string KeyName(uint64_t k) const { return o_.key_prefix + std::to_string(k); }
  std::string Path(uint64_t k) const {
    return "/" + t_.bucket + "/" + gateway::UriEncode(KeyName(k), true);
  }

  std::string Value(uint64_t key, uint64_t version) const {
    std::string v(o_.value_bytes, '\0');
    const size_t off = Mix64(key * 1000003 + version) % kPoolSlack;
    std::memcpy(v.data(), pool_.data() + off, v.size());
    if (v.size() >= kValueHeader) {
      EncodeFixed32(v.data(), kValueMagic);
      EncodeFixed64(v.data() + 4, key);
      EncodeFixed64(v.data() + 12, version);
      EncodeFixed64(v.data() + 20, o_.value_bytes);
      EncodeFixed32(v.data() + 28, 0);
    }
    return v;
  }

  std::string Build(const std::string& method, const std::string& path, const std::string& body) {
    const int64_t now = static_cast<int64_t>(::time(nullptr));
    std::vector<std::pair<std::string, std::string>> h = {{"host", host_}};
    const std::string ph = body.empty() && method != "PUT" ? std::string(gateway::kEmptySha256)
                                                           : gateway::Hex(gateway::Sha256(body));
    std::string decoded;
    gateway::UriDecode(path, &decoded);
    std::string auth = gateway::SignRequest(t_.key, now, method, decoded, {}, &h, ph);
    std::string out = method + " " + path + " HTTP/1.1\r\n";
    for (const auto& [n, v] : h) out += n + ": " + v + "\r\n";
    out += "authorization: " + auth + "\r\n";
    if (method == "PUT") out += "content-length: " + std::to_string(body.size()) + "\r\n";
    out += "\r\n";
    out += body;
    return out;
  }

  uint64_t PickKey(Rng& r) {
    if (!o_.zipf) return r.Next() % o_.keys;
    const double u = r.Uniform();
    auto it = std::lower_bound(zipf_cdf_.begin(), zipf_cdf_.end(), u);
    return std::min<uint64_t>(static_cast<uint64_t>(it - zipf_cdf_.begin()), o_.keys - 1);
  }
  int PickOp(Rng& r) {
    uint64_t x = r.Next() % total_weight_;
    for (int i = 0; i < kOpKinds; i++) {
      if (x < weights_[i]) return i;
      x -= weights_[i];
    }
    return kGet;
  }

  void Error(int op, std::string what) {
    stats_[op].errors++;
    if (first_error_.empty()) first_error_ = std::move(what);
  }

  bool Done() {
    if (o_.stop && o_.stop()) return true;
    if (preloading_) return preload_next_ >= o_.keys;
    if (o_.count != 0 && issued_ >= o_.count) return true;
    if (o_.duration_s > 0 &&
        std::chrono::duration<double>(Clock::now() - started_).count() >= o_.duration_s)
      return true;
    return false;
  }

  struct Pending {
    int op;
    uint64_t key;
    uint64_t version;      // PUT: written; GET: acknowledged when sent
    Clock::time_point sent;
  };

  awaitable<void> Connection(uint64_t index, uint64_t seed) {
    Rng rng{seed | 1};
    const uint64_t conns = static_cast<uint64_t>(o_.connections);
    tcp::socket s(co_await asio::this_coro::executor);
    boost::system::error_code ec;
    co_await s.async_connect(tcp::endpoint(asio::ip::make_address(t_.host, ec), t_.port),
                             asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      Error(kGet, "connect: " + ec.message());
      co_return;
    }
    s.set_option(tcp::no_delay(true), ec);
    beast::flat_buffer buf;
    asio::steady_timer timer(s.get_executor());
    while (!Done()) {
      std::vector<Pending> batch;
      std::string out;
      for (int i = 0; i < o_.inflight && !Done(); i++) {
        Pending p;
        if (preloading_) {
          p.op = kPut;
          p.key = preload_next_++;
        } else {
          p.op = PickOp(rng);
          p.key = PickKey(rng);
          if (p.op != kGet) {
            // Writes of a key go through one connection, so the server applies them in the
            // order they were sent (S3 returns no version to order them by): the last one
            // acknowledged is the one a later GET must see, or a newer one.
            p.key = p.key - p.key % conns + index;
            if (p.key >= o_.keys) p.key = p.key >= conns ? p.key - conns : o_.keys;
            if (p.key >= o_.keys) p.op = kGet, p.key = PickKey(rng);
          }
          issued_++;
        }
        if (p.op == kPut) {
          p.version = preloading_ ? 0 : ++next_version_[p.key];
          out += Build("PUT", Path(p.key), Value(p.key, p.version));
        } else if (p.op == kGet) {
          p.version = acked_[p.key];
          out += Build("GET", Path(p.key), "");
        } else {
          out += Build("DELETE", Path(p.key), "");
        }
        p.sent = Clock::now();
        batch.push_back(p);
      }
      if (batch.empty()) break;
      timer.expires_after(std::chrono::milliseconds(o_.timeout_ms));
      timer.async_wait([&s](boost::system::error_code e) {
        if (!e) s.cancel();
      });
      co_await asio::async_write(s, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
      for (const Pending& p : batch) {
        if (ec) {
          Error(p.op, "request: " + ec.message());
          continue;
        }
        http::response_parser<http::string_body> parser;
        parser.body_limit(o_.value_bytes + (1 << 20));
        co_await http::async_read(s, buf, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          Error(p.op, "reply: " + ec.message());
          continue;
        }
        const auto& res = parser.get();
        const uint64_t ns = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - p.sent).count());
        Check(p, res.result_int(), res.body(), ns);
      }
      timer.cancel();
      if (ec) co_return;
    }
  }

  void Check(const Pending& p, unsigned status, const std::string& body, uint64_t ns) {
    OpStats& st = stats_[p.op];
    const std::string key = KeyName(p.key);
    if (p.op == kPut) {
      if (status != 200) return Error(kPut, fmt::format("PUT {} answered {}", key, status));
      acked_[p.key] = p.version;  // writes of a key are ordered (one connection)
      st.ok++;
      st.bytes += o_.value_bytes;
      st.latency_ns.Add(ns);
      return;
    }
    if (p.op == kDelete) {
      if (status != 204) return Error(kDelete, fmt::format("DELETE {} answered {}", key, status));
      st.ok++;
      st.latency_ns.Add(ns);
      return;
    }
    if (status == 404 && (weights_[kDelete] > 0 || !o_.preload)) {
      st.not_found++;
      st.latency_ns.Add(ns);
      return;
    }
    if (status != 200) return Error(kGet, fmt::format("GET {} answered {}", key, status));
    if (body.size() != o_.value_bytes)
      return Error(kGet, fmt::format("GET {}: {} bytes, expected {}", key, body.size(), o_.value_bytes));
    uint64_t version = 0;
    if (body.size() >= kValueHeader) {
      if (DecodeFixed32(body.data()) != kValueMagic || DecodeFixed64(body.data() + 4) != p.key)
        return Error(kGet, "GET " + key + ": the value is not this key's");
      version = DecodeFixed64(body.data() + 12);
      if (version < p.version)
        return Error(kGet, fmt::format("GET {}: version {} is older than the acknowledged {}", key,
                                       version, p.version));
    }
    if (body != Value(p.key, version)) return Error(kGet, "GET " + key + ": bytes differ");
    st.ok++;
    st.bytes += body.size();
    st.latency_ns.Add(ns);
  }

  void RunPhase() {
    asio::io_context io(1);
    for (int c = 0; c < o_.connections; c++)
      asio::co_spawn(io, Connection(static_cast<uint64_t>(c), Mix64(static_cast<uint64_t>(c) + 1)),
                     asio::detached);
    io.run();
  }

  // A single request on its own connection (setup).
  Result<int> OneRequest(const std::string& method, const std::string& path,
                         const std::string& body) {
    try {
      asio::io_context io;
      tcp::socket s(io);
      s.connect(tcp::endpoint(asio::ip::make_address(t_.host), t_.port));
      asio::write(s, asio::buffer(Build(method, path, body)));
      beast::flat_buffer buf;
      http::response<http::string_body> res;
      http::read(s, buf, res);
      return static_cast<int>(res.result_int());
    } catch (const std::exception& e) {
      return Status::Unavailable(std::string("cannot reach the endpoint: ") + e.what());
    }
  }

  S3Target t_;
  LoadOptions o_;
  std::string host_;
  std::array<uint32_t, kOpKinds> weights_{};
  uint64_t total_weight_ = 0;
  std::string pool_;
  std::vector<uint64_t> acked_, next_version_;
  std::vector<double> zipf_cdf_;
  std::array<OpStats, kOpKinds> stats_;
  std::string first_error_;
  bool preloading_ = false;
  uint64_t preload_next_ = 0;
  uint64_t issued_ = 0;
  Clock::time_point started_;
};

}  // namespace

Status ParseS3Endpoint(std::string_view text, S3Target* out) {
  if (text.starts_with("https://"))
    return Status::InvalidArgument("--s3: the load generator speaks plain HTTP; use http://");
  if (text.starts_with("http://")) text.remove_prefix(7);
  while (text.ends_with("/")) text.remove_suffix(1);
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return Status::InvalidArgument("--s3: expected http://HOST:PORT");
  out->host = std::string(text.substr(0, colon));
  if (out->host == "localhost") out->host = "127.0.0.1";
  uint32_t port = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9' || port > 65535) return Status::InvalidArgument("--s3: bad port");
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port == 0 || port > 65535) return Status::InvalidArgument("--s3: bad port");
  out->port = static_cast<uint16_t>(port);
  return Status::OK();
}

Result<LoadReport> RunS3Load(const S3Target& target, const LoadOptions& options) {
  if (options.connections < 1 || options.inflight < 1 || options.keys < 1)
    return Status::InvalidArgument("connections, inflight and keys must be at least 1");
  if (options.get_weight + options.put_weight + options.delete_weight == 0)
    return Status::InvalidArgument("the mix has no operation");
  if (options.duration_s <= 0 && options.count == 0)
    return Status::InvalidArgument("a run must be bounded by a duration or a count");
  if (options.keys > (uint64_t{1} << 26))
    return Status::InvalidArgument("--keys: at most 2^26 with --s3");
  S3Bench b(target, options);
  return b.Run();
}

}  // namespace cairn::cli
