// RunLoad (cairn/load_generator.h): the load engine of `cairn bench`, on the client library's
// pipelined connections (client/connection.h).
#include "cairn/load_generator.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <unordered_set>
#include <vector>

#include "client/connection.h"
#include "client/handshake.h"
#include "proto/messages.h"
#include "util/coding.h"
#include "util/crc32c.h"
#include "util/histogram.h"

namespace cairn {
namespace client {
namespace {
namespace asio = boost::asio;

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
  Bench(const ClientOptions& server, const LoadOptions& args)
      : server_(server),
        args_(args),
        size_(args.value_bytes),
        weights_{args.get_weight, args.put_weight, args.delete_weight} {
    for (uint32_t w : weights_) weight_total_ += w;
  }

  Status Setup();
  // Writes every key once (version 0), unmeasured.
  Status Preload();
  void Measure();
  LoadReport Report() const;

 private:
  // Whether the run is ending (a bound reached or `stop`); ends the loop once nothing is out.
  bool Stopping();
  // Closed loop: the next request on `conn`.
  void IssueNext(Connection* conn);
  // Open loop (args_.rate): every request due by now, on the connections with a free slot.
  void Pump();
  // A request of the mix, its latency counted from `start`.
  void IssueMixed(Connection* conn, Clock::time_point start);
  void Issue(Connection* conn, OpKind op, uint64_t key, Clock::time_point start);
  void OnReply(OpKind op, uint64_t key, uint64_t min_version, uint64_t sent_mark,
               Clock::time_point start, Connection* conn, Reply& r);
  // Lists an answered request slower than args_.slow_us (LoadReport::slow).
  void NoteSlow(OpKind op, uint64_t key, Clock::time_point start, uint64_t ns) {
    if (args_.slow_us == 0 || preload_ || ns / 1000 <= args_.slow_us ||
        slow_.size() >= kMaxSlowListed)
      return;
    slow_.push_back(SlowRequest{std::chrono::duration<double>(start - measure_start_).count(),
                                static_cast<double>(ns) / 1e3, kOpNames[op], KeyName(key)});
  }
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

  const ClientOptions& server_;
  const LoadOptions& args_;
  const uint64_t size_;
  const std::array<uint32_t, 3> weights_;
  uint32_t weight_total_ = 0;
  uint8_t durability_ = proto::kDurabilityDefault;

  asio::io_context io_;
  asio::steady_timer pace_{io_};  // open loop: the next request's due time
  std::vector<std::unique_ptr<Connection>> conns_;
  std::unordered_set<Connection*> starved_;  // no room after a timeout: resumed by on_room
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
  bool open_loop_ = false;
  Clock::time_point t0_;  // open loop: request n is due at t0_ + n / rate
  size_t next_conn_ = 0;  // open loop: where to look for a free slot first

  std::array<OpStats, kOpKinds> stats_;
  Clock::time_point measure_start_;
  std::vector<SlowRequest> slow_;
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

Status Bench::Setup() {
  asio::ip::tcp::resolver resolver(io_);
  boost::system::error_code ec;
  auto results = resolver.resolve(server_.host, std::to_string(server_.port), ec);
  if (ec || results.empty())
    return Status::InvalidArgument(
        fmt::format("cannot resolve '{}': {}", server_.host, ec.message()));
  durability_ = proto::WireDurability(args_.durability);
  ConnectionOptions co;
  co.endpoint = results.begin()->endpoint();
  co.name = fmt::format("{}:{}", server_.host, server_.port);
  co.key = server_.key;
  co.connect_timeout = std::chrono::milliseconds(server_.connect_timeout_ms);
  co.max_inflight = static_cast<uint32_t>(args_.inflight);
  co.max_reply_body_bytes = std::max<uint64_t>(size_, 1 << 20);
  for (int i = 0; i < args_.connections; i++) {
    conns_.push_back(std::make_unique<Connection>(io_, co));
    Connection* c = conns_.back().get();
    // A connection left without room by a timed-out call (IssueNext) resumes when the late
    // reply frees its slot; the open loop looks for a free slot again.
    c->set_on_room([this, c] {
      if (open_loop_) {
        Pump();
      } else if (starved_.erase(c) > 0) {
        IssueNext(c);
      }
    });
  }

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
  if (args_.zipf) {
    zipf_cdf_.resize(args_.keys);
    double sum = 0;
    for (uint64_t k = 0; k < args_.keys; k++) {
      sum += 1.0 / std::pow(static_cast<double>(k + 1), args_.zipf_theta);
      zipf_cdf_[k] = sum;
    }
    for (double& c : zipf_cdf_) c /= sum;
  }
  key_buf_.reserve(args_.key_prefix.size() + 24);
  return Status::OK();
}

uint64_t Bench::PickKey() {
  if (zipf_cdf_.empty()) return rng_.Next() % args_.keys;
  const double u = rng_.Uniform();
  auto it = std::lower_bound(zipf_cdf_.begin(), zipf_cdf_.end(), u);
  const uint64_t rank = std::min<uint64_t>(it - zipf_cdf_.begin(), args_.keys - 1);
  return rank;  // key 0 is the hottest
}

bool Bench::Stopping() {
  if (!stopping_ && args_.stop && args_.stop()) stopping_ = true;
  if (limit_ != 0 && issued_ >= limit_) stopping_ = true;
  if (!preload_ && Clock::now() >= end_) stopping_ = true;
  if (stopping_ && outstanding_ == 0) io_.stop();
  return stopping_;
}

void Bench::IssueNext(Connection* conn) {
  if (Stopping()) return;
  // A call that timed out still holds its request id until its late reply arrives (Connection):
  // wait for that (set_on_room) instead of submitting past the connection's slots.
  if (!conn->HasRoom()) {
    starved_.insert(conn);
    return;
  }
  if (preload_) {
    Issue(conn, kPut, preload_next_++, Clock::now());
    return;
  }
  IssueMixed(conn, Clock::now());
}

void Bench::Pump() {
  while (!Stopping()) {
    const Clock::time_point due = t0_ + std::chrono::nanoseconds(static_cast<int64_t>(
                                            static_cast<double>(issued_) * 1e9 / args_.rate));
    if (due > Clock::now()) {
      pace_.expires_at(due);
      pace_.async_wait([this](boost::system::error_code ec) {
        if (!ec) Pump();
      });
      return;
    }
    Connection* conn = nullptr;
    for (size_t k = 0; k < conns_.size() && conn == nullptr; k++) {
      Connection* c = conns_[(next_conn_ + k) % conns_.size()].get();
      if (c->HasRoom()) {
        conn = c;
        next_conn_ = (next_conn_ + k + 1) % conns_.size();
      }
    }
    if (conn == nullptr) return;  // every slot busy: the next reply (or freed slot) pumps again
    IssueMixed(conn, due);
  }
}

void Bench::IssueMixed(Connection* conn, Clock::time_point start) {
  const uint32_t w = static_cast<uint32_t>(rng_.Next() % weight_total_);
  OpKind op = kGet;
  if (w >= weights_[kGet]) op = w < weights_[kGet] + weights_[kPut] ? kPut : kDelete;
  Issue(conn, op, PickKey(), start);
}

void Bench::Issue(Connection* conn, OpKind op, uint64_t key, Clock::time_point start) {
  issued_++;
  outstanding_++;
  key_buf_ = KeyName(key);
  meta_buf_.clear();
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(args_.timeout_ms);
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
  bool ok = r.failure == Failure::kNone && r.header.status == proto::WireStatus::kOk;
  if (r.failure == Failure::kNone && r.header.status == proto::WireStatus::kNotFound &&
      op != kPut && (weights_[kDelete] > 0 || !args_.preload)) {
    st.not_found++;  // expected when keys are deleted (or were never written)
    st.latency_ns.Add(ns);
    NoteSlow(op, key, start, ns);
  } else if (!ok) {
    st.errors++;
    errors_++;
    Status s = r.failure != Failure::kNone ? r.status : ReplyStatus(r.header, r.meta);
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
      NoteSlow(op, key, start, ns);
      if (op == kGet) st.bytes += r.body.size();
      if (op == kPut) {
        st.bytes += size_;
        if (sent_mark != 0 && sent_mark == puts_sent_[key])  // alone for its whole life
          floor_version_[key] = std::max(floor_version_[key], min_version);
      }
    }
  }
  open_loop_ ? Pump() : IssueNext(conn);
}

Status Bench::Preload() {
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
    return Status::Unavailable(fmt::format("preloading {} keys failed ({} errors; first: {})",
                                           args_.keys, failed, first_error_));
  stats_ = {};
  return Status::OK();
}

void Bench::Measure() {
  stopping_ = false;
  issued_ = 0;
  limit_ = args_.count;
  const Clock::time_point t0 = Clock::now();
  measure_start_ = t0;
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
  if (args_.rate > 0) {
    open_loop_ = true;
    t0_ = t0;
    Pump();
  } else {
    for (auto& c : conns_)
      for (int i = 0; i < args_.inflight && !stopping_; i++) IssueNext(c.get());
  }
  io_.run();
  pace_.cancel();
  elapsed_s_ = std::chrono::duration<double>(Clock::now() - t0).count();
  if (outstanding_ > 0) {
    errors_ += outstanding_;
    Error(fmt::format("{} requests had no reply when the run ended", outstanding_));
  }
  finished_ = true;
  for (auto& c : conns_) c->Close(Failure::kClosed, Status::Unavailable("load ended"));
}

LoadLatency LatencyOf(const Histogram& h) {
  LoadLatency l;
  l.p50 = static_cast<double>(h.Percentile(0.50)) / 1e3;
  l.p99 = static_cast<double>(h.Percentile(0.99)) / 1e3;
  l.p999 = static_cast<double>(h.Percentile(0.999)) / 1e3;
  l.max = static_cast<double>(h.max()) / 1e3;
  l.mean = h.mean() / 1e3;
  return l;
}

LoadReport Bench::Report() const {
  LoadReport rep;
  Histogram all;
  LoadOpReport* per[kOpKinds] = {&rep.get, &rep.put, &rep.del};
  for (int i = 0; i < kOpKinds; i++) {
    const OpStats& s = stats_[i];
    all.Merge(s.latency_ns);
    per[i]->ok = s.ok + s.not_found;
    per[i]->errors = s.errors;
    per[i]->not_found = s.not_found;
    per[i]->bytes = s.bytes;
    per[i]->latency = LatencyOf(s.latency_ns);
    rep.ops += s.ok + s.not_found;
    rep.bytes += s.bytes;
    rep.not_found += s.not_found;
  }
  rep.seconds = elapsed_s_;
  rep.errors = errors_;
  rep.first_error = first_error_;
  rep.latency = LatencyOf(all);
  rep.slow = slow_;
  return rep;
}

}  // namespace
}  // namespace client

Result<LoadReport> RunLoad(const ClientOptions& server, const LoadOptions& options) {
  if (options.connections < 1 || options.connections > 4096)
    return Status::InvalidArgument("connections must be 1..4096");
  if (options.inflight < 1 || options.inflight > 1024)
    return Status::InvalidArgument("inflight must be 1..1024");
  if (options.keys < 1 || options.keys > (uint64_t{1} << 32))
    return Status::InvalidArgument("keys must be 1..2^32");
  if (options.value_bytes > (uint64_t{4} << 30))
    return Status::InvalidArgument("value_bytes must be at most 4 GiB");
  if (options.get_weight + options.put_weight + options.delete_weight == 0)
    return Status::InvalidArgument("the mix has no operation with a weight above 0");
  if (options.rate != 0 && !(options.rate >= 1 && options.rate <= 1e7))
    return Status::InvalidArgument("rate must be 0 (a closed loop) or 1..10000000 requests/s");
  if (options.duration_s <= 0 && options.count == 0)
    return Status::InvalidArgument("a load is bounded: set duration_s or count");
  client::Bench bench(server, options);
  CAIRN_RETURN_IF_ERROR(bench.Setup());
  if (options.preload && (options.get_weight > 0 || options.delete_weight > 0))
    CAIRN_RETURN_IF_ERROR(bench.Preload());
  bench.Measure();
  return bench.Report();
}

}  // namespace cairn
