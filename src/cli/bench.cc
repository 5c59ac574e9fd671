// cairn bench: parses the flags, runs the client library's load generator
// (cairn/load_generator.h) and prints what it measured.
#include "cli/bench.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "cairn/client.h"
#include "cairn/load_generator.h"
#include "util/escape.h"
#include "cli/output.h"
#include "cli/s3_load.h"
#include "util/key_file.h"
#include "cli/signals.h"
#include "cli/stream_io.h"

namespace cairn::cli {
namespace {

// S3's bucket naming rules, as far as the load generator needs them.
bool gateway_BucketNameOk(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  return std::all_of(b.begin(), b.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
  });
}

Json LatencyJson(const LoadLatency& l) {
  Json j;
  j["p50"] = l.p50;
  j["p99"] = l.p99;
  j["p999"] = l.p999;
  j["max"] = l.max;
  j["mean"] = l.mean;
  return j;
}

Outcome Print(const Context& ctx, const BenchArgs& args, const LoadOptions& lo,
              const LoadReport& r) {
  const double secs = std::max(r.seconds, 1e-9);
  struct Op {
    const char* name;
    uint32_t weight;
    const LoadOpReport* rep;
  };
  const Op ops[] = {{"get", lo.get_weight, &r.get},
                    {"put", lo.put_weight, &r.put},
                    {"delete", lo.delete_weight, &r.del}};
  if (ctx.json) {
    Json j;
    j["server"] = ctx.server;
    j["connections"] = lo.connections;
    j["inflight"] = lo.inflight;
    j["rate"] = lo.rate;  // 0: a closed loop
    j["size"] = lo.value_bytes;
    Json mix;
    for (const Op& o : ops) mix[o.name] = o.weight;
    j["mix"] = mix;
    j["keys"] = lo.keys;
    j["dist"] = args.dist;
    j["durability"] = lo.durability.has_value() ? DurabilityName(*lo.durability)
                                                : "server default";
    j["seconds"] = r.seconds;
    j["ops"] = r.ops;
    j["errors"] = r.errors;
    j["not_found"] = r.not_found;
    j["ops_per_sec"] = static_cast<double>(r.ops) / secs;
    j["mb_per_sec"] = static_cast<double>(r.bytes) / secs / 1e6;
    j["latency_us"] = LatencyJson(r.latency);
    Json per;
    for (const Op& o : ops) {
      if (o.weight == 0) continue;
      Json p;
      p["ops"] = o.rep->ok;
      p["errors"] = o.rep->errors;
      p["not_found"] = o.rep->not_found;
      p["ops_per_sec"] = static_cast<double>(o.rep->ok) / secs;
      p["mb_per_sec"] = static_cast<double>(o.rep->bytes) / secs / 1e6;
      p["latency_us"] = LatencyJson(o.rep->latency);
      per[o.name] = p;
    }
    j["per_op"] = per;
    if (lo.slow_us != 0) {
      Json slow = Json::array();
      for (const SlowRequest& q : r.slow)
        slow.push_back(Json::array({q.at_s, q.latency_us / 1e3, q.op, OneLine(q.key)}));
      j["slow"] = slow;  // [seconds from the start, ms, op, key], in the order answered
    }
    if (!r.first_error.empty()) j["first_error"] = OneLine(r.first_error);
    PrintOut(j.dump() + "\n");
  } else {
    PrintOut(fmt::format("{} ops in {:.2f} s: {:.0f} ops/s{}, {:.1f} MB/s; errors {}, "
                         "not found {}\n",
                         r.ops, r.seconds, static_cast<double>(r.ops) / secs,
                         lo.rate > 0 ? fmt::format(" (offered {:.0f}/s)", lo.rate) : "",
                         static_cast<double>(r.bytes) / secs / 1e6, r.errors, r.not_found));
    auto line = [&](const char* name, const LoadLatency& l, uint64_t n) {
      PrintOut(fmt::format(
          "  {:<6} {:>10} ops  latency us: p50 {:.1f}  p99 {:.1f}  p999 {:.1f}  max {:.1f}\n",
          name, n, l.p50, l.p99, l.p999, l.max));
    };
    line("all", r.latency, r.ops);
    for (const Op& o : ops)
      if (o.weight > 0) line(o.name, o.rep->latency, o.rep->ok);
    for (const SlowRequest& q : r.slow)
      PrintOut(fmt::format("  slow   at {:.3f} s  {} {}  {:.1f} ms\n", q.at_s, q.op, OneLine(q.key),
                           q.latency_us / 1e3));
  }
  if (r.errors > 0)
    return Outcome::Error(fmt::format("{} errors; first: {}", r.errors, r.first_error));
  return Outcome::Ok();
}

}  // namespace

Outcome RunBench(const Context& ctx, const BenchArgs& args) {
  if (ctx.server.empty() && args.s3.empty())
    return Outcome::Usage(
        "bench needs a server: pass --server HOST:PORT (or set CAIRN_SERVER), or --s3 "
        "http://HOST:PORT");
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
  if (args.rate != 0 && !(args.rate >= 1 && args.rate <= 1e7))
    return Outcome::Usage("--rate must be 1..10000000 requests/s (or 0: a closed loop)");
  if (args.slow_ms < 0 || args.slow_ms > 3.6e6)
    return Outcome::Usage("--slow-ms must be 0..3600000 (0: list none)");
  if (args.rate != 0 && !args.s3.empty())
    return Outcome::Usage("--rate is not supported with --s3 (its load is a closed loop)");
  static constexpr const char* kOpNames[3] = {"get", "put", "delete"};
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
      for (int i = 0; i < 3; i++)
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
  LoadOptions lo;
  lo.connections = args.connections;
  lo.inflight = args.inflight;
  lo.value_bytes = *size;
  lo.get_weight = weights[0];
  lo.put_weight = weights[1];
  lo.delete_weight = weights[2];
  lo.keys = args.keys;
  lo.zipf = args.dist == "zipf";
  lo.zipf_theta = args.zipf_theta;
  lo.duration_s = args.duration_s;
  lo.rate = args.rate;
  lo.slow_us = static_cast<uint64_t>(args.slow_ms * 1000);
  lo.count = args.count;
  if (lo.duration_s == 0 && lo.count == 0) lo.duration_s = 10;  // always bounded
  lo.preload = !args.no_preload;
  lo.key_prefix = args.key_prefix;
  lo.timeout_ms = args.timeout_ms;
  lo.durability = ctx.remote_durability;
  lo.stop = [] { return PendingSignal() != 0; };
  if (!args.s3.empty()) {
    S3Target t;
    if (Status s = ParseS3Endpoint(args.s3, &t); !s.ok()) return Outcome::Usage(s.message());
    t.bucket = args.s3_bucket;
    if (!gateway_BucketNameOk(t.bucket))
      return Outcome::Usage("--s3-bucket: 3 to 63 characters of a-z, 0-9, '.' and '-'");
    const char* ak = std::getenv("AWS_ACCESS_KEY_ID");
    const char* sk = std::getenv("AWS_SECRET_ACCESS_KEY");
    if (args.s3_key_file.empty() && ak != nullptr && sk != nullptr) {
      t.key.access_key = ak;
      t.key.secret = sk;
    } else {
      std::string file = args.s3_key_file;
      if (file.empty()) {
        const std::string def = DefaultKeyFile();
        file = def.substr(0, def.rfind('/') + 1) + "s3key";
      }
      Result<AuthKey> k = ReadKeyFile(file);
      if (!k.ok())
        return Outcome::Error(k.status().message() +
                              " (--s3-key-file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
      t.key.access_key = k->id;
      t.key.secret = k->secret;
    }
    if (const char* region = std::getenv("AWS_DEFAULT_REGION"); region != nullptr && *region)
      t.key.region = region;
    Result<LoadReport> rep = RunS3Load(t, lo);
    if (!rep.ok()) {
      if (rep.status().IsInvalidArgument()) return Outcome::Usage(rep.status().message());
      return Outcome::Error(rep.status().message());
    }
    Context shown = ctx;
    shown.server = args.s3;
    return Print(shown, args, lo, *rep);
  }
  ClientOptions co;
  if (Status s = ParseServerAddress(ctx.server, &co.host, &co.port); !s.ok())
    return Outcome::Usage(s.message());
  Result<std::optional<ClientKey>> key = FindClientKey(ctx.key_file);
  if (!key.ok())
    return Outcome::Error(key.status().message() + " (--key-file, CAIRN_KEY or CAIRN_KEY_FILE)");
  co.key = std::move(*key);
  Result<LoadReport> rep = RunLoad(co, lo);
  if (!rep.ok()) {
    if (rep.status().IsInvalidArgument()) return Outcome::Usage(rep.status().message());
    return Outcome::Error(rep.status().message());
  }
  return Print(ctx, args, lo, *rep);
}

}  // namespace cairn::cli
