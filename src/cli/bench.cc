#include "cli/bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "cairn/client.h"
#include "cli/escape.h"
#include "cli/output.h"
#include "cli/signals.h"
#include "cli/stream_io.h"
#include "client/connection.h"
#include "proto/messages.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/histogram.h"

namespace cairn::cli {
namespace {
namespace asio = boost::asio;
using client::Clock;
using client::Connection;
using client::Reply;

enum OpKind { kGet = 0, kPut = 1, kDelete = 2, kOpKinds = 3 };
constexpr const char* kOpNames[kOpKinds] = {"get", "put", "delete"};

// The value header: magic, key index, version, size (little-endian), then 4 bytes of zeros.
constexpr size_t kValueHeader = 32;
constexpr uint32_t kValueMagic = 0x48424E43;  // "CNBH"
// Values are a slice of a random pool starting at one of this many offsets.
constexpr size_t kPoolSlack = 4096;

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

uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

struct OpStats {
  Histogram latency_ns;
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t not_found = 0;
  uint64_t bytes = 0;
};

class Bench {
 public:
  Bench(const Context& ctx, const BenchArgs& args, uint64_t size, std::array<uint32_t, 3> weights)
      : ctx_(ctx), args_(args), size_(size), weights_(weights) {
    for (uint32_t w : weights_) weight_total_ += w;
  }

  Outcome Setup();
  // Writes every key once (version 0), unmeasured.
  Outcome Preload();
  void Measure();
  Outcome Report();

 private:
  void IssueNext(Connection* conn);
  void Issue(Connection* conn, OpKind op, uint64_t key);
  void OnReply(OpKind op, uint64_t key, uint64_t min_version, uint64_t sent_mark,
               Clock::time_point start, Connection* conn, Reply& r);
  bool CheckValue(uint64_t key, uint64_t min_version, std::string_view body, std::string* why);
  void BuildHeader(uint64_t key, uint64_t version, char* out) const;
  size_t PoolOffset(uint64_t key, uint64_t version) const {
    return static_cast<size_t>(Mix64(key * 0x9E3779B97F4A7C15ull + version) % kPoolSlack);
  }
  uint64_t PickKey();
  void Error(std::string msg) {
    if (first_error_.empty()) first_error_ = std::move(msg);
  }
  std::string KeyName(uint64_t key) const { return fmt::format("{}{:08}", args_.key_prefix, key); }

  const Context& ctx_;
  const BenchArgs& args_;
  const uint64_t size_;
  const std::array<uint32_t, 3> weights_;
  uint32_t weight_total_ = 0;
  uint8_t durability_ = proto::kDurabilityDefault;

  asio::io_context io_;
  std::vector<std::unique_ptr<Connection>> conns_;
  std::string pool_;
  std::vector<uint64_t> issued_version_;  // newest version sent per key
  // Per key: the oldest version a GET may still return. It rises to a PUT's version when that
  // PUT was alone on the key for its whole life (no other PUT in flight when it was sent,
  // none sent before it was acknowledged): only then is it known to be the key's latest. With
  // concurrent PUTs either may be applied last, so neither raises the floor.
  std::vector<uint64_t> floor_version_;
  std::vector<uint32_t> puts_in_flight_;
  std::vector<uint64_t> puts_sent_;
  std::vector<double> zipf_cdf_;
  Rng rng_{0x853C49E6748FEA9Bull};

  // The phase in progress.
  bool preload_ = false;
  uint64_t preload_next_ = 0;
  bool stopping_ = false;
  bool finished_ = false;
  uint64_t issued_ = 0;
  uint64_t outstanding_ = 0;
  Clock::time_point end_ = Clock::time_point::max();
  uint64_t limit_ = 0;  // ops to issue in this phase (0: unbounded)

  std::array<OpStats, kOpKinds> stats_;
  uint64_t errors_ = 0;
  std::string first_error_;
  double elapsed_s_ = 0;
  std::string key_buf_;
  std::string meta_buf_;
};

void Bench::BuildHeader(uint64_t key, uint64_t version, char* out) const {
  EncodeFixed32(out, kValueMagic);
  EncodeFixed64(out + 4, key);
  EncodeFixed64(out + 12, version);
  EncodeFixed64(out + 20, size_);
  EncodeFixed32(out + 28, 0);
}

Outcome Bench::Setup() {
  std::string host;
  uint16_t port = 0;
  if (Status s = ParseServerAddress(ctx_.server, &host, &port); !s.ok())
    return Outcome::Usage(s.message());
  asio::ip::tcp::resolver resolver(io_);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty())
    return Outcome::Usage(fmt::format("cannot resolve '{}': {}", host, ec.message()));
  if (ctx_.remote_durability.has_value())
    durability_ = static_cast<uint8_t>(static_cast<uint8_t>(*ctx_.remote_durability) + 1);
  client::ConnectionOptions co;
  co.endpoint = results.begin()->endpoint();
  co.name = ctx_.server;
  Result<std::optional<ClientKey>> key = FindClientKey(ctx_.key_file);
  if (!key.ok())
    return Outcome::Error(key.status().message() + " (--key-file, CAIRN_KEY or CAIRN_KEY_FILE)");
  co.key = std::move(*key);
  co.max_inflight = static_cast<uint32_t>(args_.inflight);
  co.max_reply_body_bytes = std::max<uint64_t>(size_, 1 << 20);
  for (int i = 0; i < args_.connections; i++)
    conns_.push_back(std::make_unique<Connection>(io_, co));

  // The pool the values are cut from: random bytes, so the server cannot compress or dedupe.
  pool_.resize(static_cast<size_t>(size_) + kPoolSlack);
  Rng r{0x2545F4914F6CDD1Dull};
  size_t i = 0;
  for (; i + 8 <= pool_.size(); i += 8) EncodeFixed64(pool_.data() + i, r.Next());
  for (; i < pool_.size(); i++) pool_[i] = static_cast<char>(r.Next());
  issued_version_.assign(args_.keys, 0);
  floor_version_.assign(args_.keys, 0);
  puts_in_flight_.assign(args_.keys, 0);
  puts_sent_.assign(args_.keys, 0);
  if (args_.dist == "zipf") {
    zipf_cdf_.resize(args_.keys);
    double sum = 0;
    for (uint64_t k = 0; k < args_.keys; k++) {
      sum += 1.0 / std::pow(static_cast<double>(k + 1), args_.zipf_theta);
      zipf_cdf_[k] = sum;
    }
    for (double& c : zipf_cdf_) c /= sum;
  }
  key_buf_.reserve(args_.key_prefix.size() + 24);
  return Outcome::Ok();
}

uint64_t Bench::PickKey() {
  if (zipf_cdf_.empty()) return rng_.Next() % args_.keys;
  const double u = rng_.Uniform();
  auto it = std::lower_bound(zipf_cdf_.begin(), zipf_cdf_.end(), u);
  const uint64_t rank = std::min<uint64_t>(it - zipf_cdf_.begin(), args_.keys - 1);
  return rank;  // key 0 is the hottest
}

void Bench::IssueNext(Connection* conn) {
  if (!stopping_ && PendingSignal() != 0) stopping_ = true;
  if (limit_ != 0 && issued_ >= limit_) stopping_ = true;
  if (!preload_ && Clock::now() >= end_) stopping_ = true;
  if (stopping_) {
    if (outstanding_ == 0) io_.stop();
    return;
  }
  if (preload_) {
    Issue(conn, kPut, preload_next_++);
    return;
  }
  const uint32_t w = static_cast<uint32_t>(rng_.Next() % weight_total_);
  OpKind op = kGet;
  if (w >= weights_[kGet]) op = w < weights_[kGet] + weights_[kPut] ? kPut : kDelete;
  Issue(conn, op, PickKey());
}

void Bench::Issue(Connection* conn, OpKind op, uint64_t key) {
  issued_++;
  outstanding_++;
  key_buf_ = KeyName(key);
  meta_buf_.clear();
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + std::chrono::milliseconds(args_.timeout_ms);
  uint64_t min_version = floor_version_[key];  // for a PUT: its version
  uint64_t sent_mark = 0;                       // for a PUT: puts_sent_ after sending it
  std::string_view head, tail;
  char header[kValueHeader];
  uint32_t crc = 0;
  proto::Op wire_op = proto::Op::kGet;
  if (op == kGet) {
    proto::GetRequest req;
    req.key = key_buf_;
    proto::EncodeMeta(req, &meta_buf_);
  } else if (op == kPut) {
    wire_op = proto::Op::kPut;
    const uint64_t version = preload_ ? 0 : ++issued_version_[key];
    min_version = version;
    const bool alone = puts_in_flight_[key] == 0;
    puts_in_flight_[key]++;
    sent_mark = ++puts_sent_[key];
    if (!alone) sent_mark = 0;  // never alone
    proto::PutRequest req;
    req.durability = durability_;
    req.key = key_buf_;
    proto::EncodeMeta(req, &meta_buf_);
    BuildHeader(key, version, header);
    const size_t hn = static_cast<size_t>(std::min<uint64_t>(size_, kValueHeader));
    head = std::string_view(header, hn);
    tail = std::string_view(pool_.data() + PoolOffset(key, version),
                            static_cast<size_t>(size_ - hn));
    crc = crc32c::Extend(crc32c::Value(head), tail.data(), tail.size());
  } else {
    wire_op = proto::Op::kDelete;
    proto::DeleteRequest req;
    req.durability = durability_;
    req.key = key_buf_;
    proto::EncodeMeta(req, &meta_buf_);
  }
  conn->Submit(wire_op, meta_buf_, head, tail, crc, deadline,
               [this, op, key, min_version, sent_mark, start, conn](Reply& r) {
                 OnReply(op, key, min_version, sent_mark, start, conn, r);
               });
}

bool Bench::CheckValue(uint64_t key, uint64_t min_version, std::string_view body,
                       std::string* why) {
  if (body.size() != size_) {
    *why = fmt::format("{} bytes, expected {}", body.size(), size_);
    return false;
  }
  if (size_ < kValueHeader) {
    // Too short to name its version: check the magic and key that fit.
    char header[kValueHeader];
    BuildHeader(key, 0, header);
    const size_t n = std::min<size_t>(body.size(), 12);
    if (std::memcmp(body.data(), header, n) != 0) {
      *why = "the bytes are not this key's";
      return false;
    }
    return true;
  }
  const uint64_t version = DecodeFixed64(body.data() + 12);
  char header[kValueHeader];
  BuildHeader(key, version, header);
  if (std::memcmp(body.data(), header, kValueHeader) != 0) {
    *why = "the value header does not name this key (or is damaged)";
    return false;
  }
  if (version < min_version || version > issued_version_[key]) {
    *why = fmt::format("version {} read, but {} was the latest before the GET (newest sent {})",
                       version, min_version, issued_version_[key]);
    return false;
  }
  if (std::memcmp(body.data() + kValueHeader, pool_.data() + PoolOffset(key, version),
                  body.size() - kValueHeader) != 0) {
    *why = fmt::format("the bytes of version {} differ from what was written", version);
    return false;
  }
  return true;
}

void Bench::OnReply(OpKind op, uint64_t key, uint64_t min_version, uint64_t sent_mark,
                    Clock::time_point start, Connection* conn, Reply& r) {
  if (finished_) return;  // the run is over; these were counted as errors already
  outstanding_--;
  if (op == kPut) puts_in_flight_[key]--;
  const auto ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
  OpStats& st = stats_[op];
  bool ok = r.failure == client::Failure::kNone && r.header.status == proto::WireStatus::kOk;
  if (r.failure == client::Failure::kNone && r.header.status == proto::WireStatus::kNotFound &&
      op != kPut && (weights_[kDelete] > 0 || args_.no_preload)) {
    st.not_found++;  // expected when keys are deleted (or were never written)
    st.latency_ns.Add(ns);
  } else if (!ok) {
    st.errors++;
    errors_++;
    Status s = r.failure != client::Failure::kNone
                   ? r.status
                   : proto::FromWireStatus(r.header.status, [&] {
                       proto::ErrorReply e;
                       proto::WireError err;
                       return proto::DecodeMeta(r.meta, &e, &err) ? e.message : std::string();
                     }());
    Error(fmt::format("{} {}: {}", kOpNames[op], KeyName(key), s.ToString()));
  } else {
    std::string why;
    if (op == kGet && !CheckValue(key, min_version, r.body, &why)) {
      st.errors++;
      errors_++;
      Error(fmt::format("get {}: {}", KeyName(key), why));
    } else {
      st.ok++;
      st.latency_ns.Add(ns);
      if (op == kGet) st.bytes += r.body.size();
      if (op == kPut) {
        st.bytes += size_;
        if (sent_mark != 0 && sent_mark == puts_sent_[key])  // alone for its whole life
          floor_version_[key] = std::max(floor_version_[key], min_version);
      }
    }
  }
  IssueNext(conn);
}

Outcome Bench::Preload() {
  preload_ = true;
  preload_next_ = 0;
  stopping_ = false;
  issued_ = 0;
  limit_ = args_.keys;
  for (auto& c : conns_)
    for (int i = 0; i < args_.inflight && !stopping_; i++) IssueNext(c.get());
  if (outstanding_ > 0) io_.run();
  io_.restart();
  preload_ = false;
  const uint64_t failed = stats_[kPut].errors;
  if (failed > 0)
    return Outcome::Error(fmt::format("preloading {} keys failed ({} errors; first: {})",
                                      args_.keys, failed, first_error_));
  stats_ = {};
  return Outcome::Ok();
}

void Bench::Measure() {
  stopping_ = false;
  issued_ = 0;
  limit_ = args_.count;
  const Clock::time_point t0 = Clock::now();
  if (args_.duration_s > 0)
    end_ = t0 + std::chrono::microseconds(static_cast<int64_t>(args_.duration_s * 1e6));
  // A hard stop in case replies stop coming: the duration plus one request timeout.
  asio::steady_timer guard(io_);
  if (args_.duration_s > 0) {
    guard.expires_at(end_ + std::chrono::milliseconds(args_.timeout_ms) +
                     std::chrono::seconds(1));
    guard.async_wait([this](boost::system::error_code ec) {
      if (!ec) io_.stop();
    });
  }
  for (auto& c : conns_)
    for (int i = 0; i < args_.inflight && !stopping_; i++) IssueNext(c.get());
  io_.run();
  elapsed_s_ = std::chrono::duration<double>(Clock::now() - t0).count();
  if (outstanding_ > 0) {
    errors_ += outstanding_;
    Error(fmt::format("{} requests had no reply when the run ended", outstanding_));
  }
  finished_ = true;
  for (auto& c : conns_) c->Close(client::Failure::kClosed, Status::IOError("bench ended"));
}

Json LatencyJson(const Histogram& h) {
  Json j;
  j["p50"] = static_cast<double>(h.Percentile(0.50)) / 1e3;
  j["p99"] = static_cast<double>(h.Percentile(0.99)) / 1e3;
  j["p999"] = static_cast<double>(h.Percentile(0.999)) / 1e3;
  j["max"] = static_cast<double>(h.max()) / 1e3;
  j["mean"] = h.mean() / 1e3;
  return j;
}

Outcome Bench::Report() {
  Histogram all;
  uint64_t ops = 0, bytes = 0, not_found = 0;
  for (const OpStats& s : stats_) {
    all.Merge(s.latency_ns);
    ops += s.ok + s.not_found;
    bytes += s.bytes;
    not_found += s.not_found;
  }
  const double secs = std::max(elapsed_s_, 1e-9);
  if (ctx_.json) {
    Json j;
    j["server"] = ctx_.server;
    j["connections"] = args_.connections;
    j["inflight"] = args_.inflight;
    j["size"] = size_;
    Json mix;
    for (int i = 0; i < kOpKinds; i++) mix[kOpNames[i]] = weights_[i];
    j["mix"] = mix;
    j["keys"] = args_.keys;
    j["dist"] = args_.dist;
    j["durability"] = ctx_.remote_durability.has_value()
                          ? DurabilityName(*ctx_.remote_durability)
                          : "server default";
    j["seconds"] = elapsed_s_;
    j["ops"] = ops;
    j["errors"] = errors_;
    j["not_found"] = not_found;
    j["ops_per_sec"] = static_cast<double>(ops) / secs;
    j["mb_per_sec"] = static_cast<double>(bytes) / secs / 1e6;
    j["latency_us"] = LatencyJson(all);
    Json per;
    for (int i = 0; i < kOpKinds; i++) {
      const OpStats& s = stats_[i];
      if (weights_[i] == 0) continue;
      Json p;
      p["ops"] = s.ok + s.not_found;
      p["errors"] = s.errors;
      p["not_found"] = s.not_found;
      p["ops_per_sec"] = static_cast<double>(s.ok + s.not_found) / secs;
      p["mb_per_sec"] = static_cast<double>(s.bytes) / secs / 1e6;
      p["latency_us"] = LatencyJson(s.latency_ns);
      per[kOpNames[i]] = p;
    }
    j["per_op"] = per;
    if (!first_error_.empty()) j["first_error"] = OneLine(first_error_);
    PrintOut(j.dump() + "\n");
  } else {
    PrintOut(fmt::format("{} ops in {:.2f} s: {:.0f} ops/s, {:.1f} MB/s; errors {}, not found {}\n",
                         ops, elapsed_s_, static_cast<double>(ops) / secs,
                         static_cast<double>(bytes) / secs / 1e6, errors_, not_found));
    auto line = [&](const char* name, const Histogram& h, uint64_t n) {
      PrintOut(fmt::format(
          "  {:<6} {:>10} ops  latency us: p50 {:.1f}  p99 {:.1f}  p999 {:.1f}  max {:.1f}\n",
          name, n, h.Percentile(0.5) / 1e3, h.Percentile(0.99) / 1e3, h.Percentile(0.999) / 1e3,
          static_cast<double>(h.max()) / 1e3));
    };
    line("all", all, ops);
    for (int i = 0; i < kOpKinds; i++)
      if (weights_[i] > 0) line(kOpNames[i], stats_[i].latency_ns, stats_[i].ok + stats_[i].not_found);
  }
  if (errors_ > 0)
    return Outcome::Error(fmt::format("{} errors; first: {}", errors_, first_error_));
  return Outcome::Ok();
}

}  // namespace

Outcome RunBench(const Context& ctx, const BenchArgs& args) {
  if (ctx.server.empty())
    return Outcome::Usage("bench needs a server: pass --server HOST:PORT or set CAIRN_SERVER");
  std::optional<uint64_t> size = ParseByteSize(args.size);
  if (!size.has_value() || *size > (uint64_t{4} << 30))
    return Outcome::Usage(fmt::format("bad --size '{}'; use bytes with an optional K, M or G "
                                      "suffix, at most 4G",
                                      OneLine(args.size)));
  if (args.connections < 1 || args.connections > 4096)
    return Outcome::Usage("--connections must be 1..4096");
  if (args.inflight < 1 || args.inflight > 1024) return Outcome::Usage("--inflight must be 1..1024");
  if (args.keys < 1 || args.keys > (uint64_t{1} << 32)) return Outcome::Usage("--keys must be 1..2^32");
  if (args.dist != "uniform" && args.dist != "zipf")
    return Outcome::Usage("--dist must be uniform or zipf");
  if (args.duration_s < 0 || args.duration_s > 86400)
    return Outcome::Usage("--duration must be 0..86400 seconds");
  std::array<uint32_t, 3> weights{0, 0, 0};
  {
    std::string_view rest = args.mix;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      const size_t eq = item.find('=');
      const std::string_view name = item.substr(0, eq);
      uint64_t w = 0;
      bool good = eq != std::string_view::npos;
      if (good) {
        const std::string_view num = item.substr(eq + 1);
        good = !num.empty() && num.size() < 7 &&
               std::all_of(num.begin(), num.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (good) w = std::stoull(std::string(num));
      }
      int idx = -1;
      for (int i = 0; i < kOpKinds; i++)
        if (name == kOpNames[i]) idx = i;
      if (!good || idx < 0)
        return Outcome::Usage(fmt::format(
            "bad --mix item '{}'; use get=W,put=W,delete=W with whole-number weights",
            OneLine(item)));
      weights[idx] = static_cast<uint32_t>(w);
    }
    if (weights[0] + weights[1] + weights[2] == 0)
      return Outcome::Usage("--mix has no operation with a weight above 0");
  }
  BenchArgs bounded = args;
  if (bounded.duration_s == 0 && bounded.count == 0) bounded.duration_s = 10;  // always bounded

  Bench bench(ctx, bounded, *size, weights);
  if (Outcome o = bench.Setup(); !o.ok()) return o;
  if (!bounded.no_preload && (weights[kGet] > 0 || weights[kDelete] > 0)) {
    if (Outcome o = bench.Preload(); !o.ok()) return o;
  }
  bench.Measure();
  return bench.Report();
}

}  // namespace cairn::cli
