#include "server/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>

// No exceptions from the parser: errors come back as values (STYLE.md habit 9).
#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include "cairn/store.h"
#include "cluster/anti_entropy_format.h"
#include "proto/wire_format.h"
#include "util/key_file.h"

// A node with the smallest frame meta still takes the largest anti-entropy keys request.
static_assert(cairn::proto::kRoutingPrefixSize + cairn::cluster::kMaxKeysRequestBytes <=
                  cairn::proto::kMinFrameMetaBytes,
              "kMaxKeyLeaves: a keys request must fit in the smallest max_frame_meta_bytes");
static_assert(cairn::cluster::kMaxKeysRequestBytes - 3 * cairn::cluster::kMaxKeyLeaves - 9 ==
                  cairn::kMaxKeyBytes,
              "kMaxKeysRequestBytes counts start_after at max_key_bytes");

namespace cairn::server {
namespace {

// kSizeOrAuto: a size, or "auto" (applied as 0: the engine sizes it).
enum class Kind { kString, kUint, kSize, kSizeOrAuto, kDurability, kBool };

struct Key {
  const char* name;
  Kind kind;
  uint64_t min;
  uint64_t max;
  // Applies a parsed value. Strings arrive in `s`, numbers in `n`.
  std::function<void(ServerConfig*, const std::string& s, uint64_t n)> set;
};

constexpr uint64_t kU32 = std::numeric_limits<uint32_t>::max();
// The record format's bound on an object's encoded metadata.
constexpr uint64_t kMaxMetaBytesLimit = 65536;

const std::vector<Key>& Keys() {
  static const std::vector<Key> keys = {
      {"data", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->data = s; }},
      {"listen", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->listen = s; }},
      {"threads", Kind::kUint, 0, 1024, [](ServerConfig* c, const std::string&, uint64_t n) { c->threads = n; }},
      {"io_threads", Kind::kUint, 1, 4096, [](ServerConfig* c, const std::string&, uint64_t n) { c->io_threads = n; }},
      {"durability", Kind::kDurability, 0, 0, nullptr},
      {"volume_size", Kind::kSize, kMinVolumeCapacity, kMaxVolumeCapacity,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->volume_size = n; }},
      {"index_cache", Kind::kSizeOrAuto, uint64_t{1} << 20, uint64_t{1} << 40,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->index_cache = n; }},
      {"log_file", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->log_file = s; }},
      {"log_level", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->log_level = s; }},
      {"port_file", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->port_file = s; }},
      {"cluster_etcd", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->cluster.etcd = s; }},
      {"cluster_name", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->cluster.name = s; }},
      {"node_id", Kind::kUint, 0, 65534, [](ServerConfig* c, const std::string&, uint64_t n) { c->cluster.node_id = static_cast<uint32_t>(n); }},
      {"zone", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->cluster.zone = s; }},
      {"weight", Kind::kUint, 1, 1000000, [](ServerConfig* c, const std::string&, uint64_t n) { c->cluster.weight = static_cast<uint32_t>(n); }},
      {"replicas", Kind::kUint, 1, 16, [](ServerConfig* c, const std::string&, uint64_t n) { c->cluster.replicas = static_cast<uint32_t>(n); }},
      {"bootstrap_nodes", Kind::kUint, 0, 65534, [](ServerConfig* c, const std::string&, uint64_t n) { c->cluster.bootstrap_nodes = static_cast<uint32_t>(n); }},
      {"write_policy", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->cluster.write_policy = s; }},
      {"out_delay_ms", Kind::kUint, 0, uint64_t{24} * 3600 * 1000, [](ServerConfig* c, const std::string&, uint64_t n) { c->cluster.out_delay_ms = static_cast<uint32_t>(n); }},
      {"anti_entropy_interval_ms", Kind::kUint, 0, uint64_t{24} * 3600 * 1000, [](ServerConfig* c, const std::string&, uint64_t n) { c->cluster.anti_entropy_interval_ms = static_cast<uint32_t>(n); }},
      {"anti_entropy_max_keys", Kind::kUint, 1, 10000000, [](ServerConfig* c, const std::string&, uint64_t n) { c->cluster.anti_entropy_max_keys = static_cast<uint32_t>(n); }},
      {"anti_entropy_max_bytes", Kind::kSize, 1, uint64_t{1} << 40, [](ServerConfig* c, const std::string&, uint64_t n) { c->cluster.anti_entropy_max_bytes = n; }},
      {"anti_entropy_mbps", Kind::kUint, 0, 100000, [](ServerConfig* c, const std::string&, uint64_t n) { c->cluster.anti_entropy_mbps = static_cast<uint32_t>(n); }},
      {"background_mbps", Kind::kUint, 0, 100000, [](ServerConfig* c, const std::string&, uint64_t n) { c->background.mbps = static_cast<uint32_t>(n); }},
      {"background_min_mbps", Kind::kUint, 1, 100000, [](ServerConfig* c, const std::string&, uint64_t n) { c->background.min_mbps = static_cast<uint32_t>(n); }},
      {"background_latency_control", Kind::kBool, 0, 0, [](ServerConfig* c, const std::string&, uint64_t n) { c->background.latency_control = n != 0; }},
      {"background_p99_target_us", Kind::kUint, 0, 60000000, [](ServerConfig* c, const std::string&, uint64_t n) { c->background.p99_target_us = static_cast<uint32_t>(n); }},
      {"cluster_key_id", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->cluster.key_id = s; }},
      {"advertise", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->cluster.advertise = s; }},
      {"etcd_user", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->cluster.etcd_user = s; }},
      {"etcd_password", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->cluster.etcd_password = s; }},
      {"max_clock_skew_ms", Kind::kUint, 1, uint64_t{365} * 24 * 3600 * 1000, [](ServerConfig* c, const std::string&, uint64_t n) { c->max_clock_skew_ms = n; }},
      {"http_listen", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->http_listen = s; }},
      {"http_port_file", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->http_port_file = s; }},
      {"max_frame_meta_bytes", Kind::kSize, proto::kMinFrameMetaBytes, proto::kMaxFrameMetaBytesLimit,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->limits.max_frame_meta_bytes = n; }},
      // An object's metadata (at most 64 KiB, the record format's bound); in protocol version 1
      // this name was the frame's meta limit (LoadConfig explains a value of that kind).
      {"max_meta_bytes", Kind::kSize, 0, kU32,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->limits.max_meta_bytes = n; }},
      {"max_key_bytes", Kind::kUint, 1, kMaxKeyBytes,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->limits.max_key_bytes = n; }},
      {"max_chunk_bytes", Kind::kSize, 1, uint64_t{1} << 30,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->limits.max_chunk_bytes = n; }},
      {"max_list_limit", Kind::kUint, 1, 1000000,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->limits.max_list_limit = n; }},
      {"max_object_bytes", Kind::kSize, 0, kMaxObjectBytes,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->limits.max_object_bytes = n; }},
      {"max_inflight_per_connection", Kind::kUint, 1, 65536,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->limits.max_inflight_per_connection = n; }},
      {"max_connections", Kind::kUint, 1, 10000000,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->limits.max_connections = n; }},
      {"max_buffered_body_bytes", Kind::kSize, 4096, uint64_t{1} << 30,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->limits.max_buffered_body_bytes = n; }},
      {"header_timeout_ms", Kind::kUint, 1, kU32,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->limits.header_timeout_ms = n; }},
      {"idle_timeout_ms", Kind::kUint, 1, kU32,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->limits.idle_timeout_ms = n; }},
      {"auth_timeout_ms", Kind::kUint, 1, kU32,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->limits.auth_timeout_ms = n; }},
      {"max_auth_failures_per_second", Kind::kUint, 1, 1000000,
       [](ServerConfig* c, const std::string&, uint64_t n) {
         c->limits.max_auth_failures_per_second = n;
       }},
      {"s3_listen", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->s3.listen = s; }},
      {"s3_port_file", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->s3.port_file = s; }},
      {"s3_region", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->s3.region = s; }},
      {"s3_key_file", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->s3.key_file = s; }},
      {"s3_max_clock_skew_s", Kind::kUint, 1, 7 * 86400,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->s3.max_clock_skew_s = n; }},
      {"s3_upload_max_age_s", Kind::kUint, 1, uint64_t{10} * 365 * 86400,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->s3.upload_max_age_s = n; }},
      {"s3_upload_cleanup_interval_s", Kind::kUint, 1, 86400,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->s3.upload_cleanup_interval_s = n; }},
      {"s3_keepalive_ms", Kind::kUint, 1, 600000,
       [](ServerConfig* c, const std::string&, uint64_t n) { c->s3.keepalive_ms = n; }},
      {"s3_tls_cert_file", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->s3.tls_cert_file = s; }},
      {"s3_tls_key_file", Kind::kString, 0, 0, [](ServerConfig* c, const std::string& s, uint64_t) { c->s3.tls_key_file = s; }},
      {"key_file", Kind::kString, 0, 0,
       [](ServerConfig* c, const std::string& s, uint64_t) { c->auth.key_file = s; }},
      {"allow_unauthenticated_loopback", Kind::kBool, 0, 0,
       [](ServerConfig* c, const std::string&, uint64_t n) {
         c->auth.allow_unauthenticated_loopback = n != 0;
       }},
  };
  return keys;
}

bool ParseUint(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// "4096", "64K", "1M", "1G", "2T" (powers of 1024; an optional trailing "B" or "iB").
bool ParseSize(std::string_view s, uint64_t* out) {
  if (s.size() >= 2 && s.substr(s.size() - 2) == "iB") s.remove_suffix(2);
  else if (!s.empty() && (s.back() == 'B' || s.back() == 'b')) s.remove_suffix(1);
  int shift = 0;
  if (!s.empty()) {
    switch (s.back()) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      case 't': case 'T': shift = 40; break;
      default: break;
    }
    if (shift != 0) s.remove_suffix(1);
  }
  uint64_t n = 0;
  if (!ParseUint(s, &n)) return false;
  if (n > (std::numeric_limits<uint64_t>::max() >> shift)) return false;
  *out = n << shift;
  return true;
}

const Key* FindKey(std::string_view name) {
  for (const Key& k : Keys())
    if (name == k.name) return &k;
  return nullptr;
}

// Applies one key from text (a flag, or a TOML string).
Status ApplyText(ServerConfig* c, const Key& k, const std::string& text, std::string_view from) {
  auto bad = [&](std::string_view what) {
    return Status::InvalidArgument(std::string(from) + ": " + k.name + ": " + std::string(what));
  };
  switch (k.kind) {
    case Kind::kString:
      if (text.find('\0') != std::string::npos) return bad("contains a NUL byte");
      k.set(c, text, 0);
      return Status::OK();
    case Kind::kBool:
      if (text == "true") {
        k.set(c, text, 1);
      } else if (text == "false") {
        k.set(c, text, 0);
      } else {
        return bad("expected true or false, got '" + text.substr(0, 64) + "'");
      }
      return Status::OK();
    case Kind::kDurability: {
      uint32_t ms = c->sync_interval_ms;
      if (!ParseDurability(text, &c->durability, &ms))
        return bad("expected sync, interval, interval=MS or none, got '" + text.substr(0, 64) + "'");
      c->sync_interval_ms = ms;
      return Status::OK();
    }
    case Kind::kUint:
    case Kind::kSize:
    case Kind::kSizeOrAuto: {
      if (k.kind == Kind::kSizeOrAuto && text == "auto") {
        k.set(c, text, 0);
        return Status::OK();
      }
      uint64_t n = 0;
      bool ok = k.kind == Kind::kUint ? ParseUint(text, &n) : ParseSize(text, &n);
      if (!ok)
        return bad("expected a " +
                   std::string(k.kind == Kind::kUint   ? "number"
                               : k.kind == Kind::kSize ? "size"
                                                       : "size or auto") +
                   ", got '" + text.substr(0, 64) + "'");
      if (n < k.min || n > k.max)
        return bad(std::to_string(n) + " is out of range " + std::to_string(k.min) + ".." +
                   std::to_string(k.max));
      k.set(c, text, n);
      return Status::OK();
    }
  }
  return bad("unhandled");
}

Status ApplyToml(ServerConfig* c, const Key& k, const toml::node& node) {
  if (k.kind == Kind::kBool) {
    if (const auto* b = node.as_boolean()) return ApplyText(c, k, b->get() ? "true" : "false", "config");
    return Status::InvalidArgument(std::string("config: ") + k.name + ": wrong type (expected true or false)");
  }
  if (const auto* s = node.as_string()) return ApplyText(c, k, s->get(), "config");
  if (const auto* i = node.as_integer()) {
    if (k.kind == Kind::kUint || k.kind == Kind::kSize || k.kind == Kind::kSizeOrAuto) {
      if (i->get() < 0)
        return Status::InvalidArgument(std::string("config: ") + k.name + ": negative");
      return ApplyText(c, k, std::to_string(i->get()), "config");
    }
  }
  return Status::InvalidArgument(std::string("config: ") + k.name + ": wrong type (expected " +
                                 (k.kind == Kind::kString || k.kind == Kind::kDurability
                                      ? "a string)"
                                      : "an integer or a size string)"));
}

// The [keys] table: id = "secret" (docs/protocol.md section 8). Errors name the id, never the
// secret.
Status ApplyKeys(ServerConfig* c, const toml::node& node) {
  const toml::table* keys = node.as_table();
  if (keys == nullptr)
    return Status::InvalidArgument("config: keys: expected a table of id = \"secret\"");
  for (const auto& [id, secret] : *keys) {
    const std::string name(id.str());
    if (Status s = CheckKeyId(name); !s.ok())
      return Status::InvalidArgument("config: keys: " + s.message());
    const auto* text = secret.as_string();
    if (text == nullptr)
      return Status::InvalidArgument("config: keys." + name + ": the secret must be a string");
    if (Status s = CheckSecret(text->get()); !s.ok())
      return Status::InvalidArgument("config: keys." + name + ": " + s.message());
    c->auth.keys[name] = text->get();
  }
  return Status::OK();
}

// The [s3_keys] table: [s3_keys.ACCESS_KEY] secret = "...", buckets = ["..."]. Errors name the
// access key, never the secret.
Status ApplyS3Keys(ServerConfig* c, const toml::node& node) {
  const toml::table* keys = node.as_table();
  if (keys == nullptr)
    return Status::InvalidArgument("config: s3_keys: expected tables [s3_keys.ACCESS_KEY]");
  for (const auto& [id, entry] : *keys) {
    const std::string name(id.str());
    if (Status s = CheckKeyId(name); !s.ok())
      return Status::InvalidArgument("config: s3_keys: " + s.message());
    const toml::table* t = entry.as_table();
    if (t == nullptr)
      return Status::InvalidArgument("config: s3_keys." + name +
                                     ": expected a table with secret and buckets");
    S3KeyConfig k;
    for (const auto& [field, value] : *t) {
      if (field.str() == "secret") {
        const auto* text = value.as_string();
        if (text == nullptr)
          return Status::InvalidArgument("config: s3_keys." + name + ".secret must be a string");
        if (Status s = CheckSecret(text->get()); !s.ok())
          return Status::InvalidArgument("config: s3_keys." + name + ": " + s.message());
        k.secret = text->get();
      } else if (field.str() == "buckets") {
        const toml::array* a = value.as_array();
        if (a == nullptr)
          return Status::InvalidArgument("config: s3_keys." + name +
                                         ".buckets must be an array of bucket names or \"*\"");
        for (const toml::node& b : *a) {
          const auto* bn = b.as_string();
          if (bn == nullptr || bn->get().empty() || bn->get().size() > 63)
            return Status::InvalidArgument("config: s3_keys." + name +
                                           ".buckets: each is a bucket name or \"*\"");
          k.buckets.push_back(bn->get());
        }
      } else {
        return Status::InvalidArgument("config: s3_keys." + name + ": unknown field '" +
                                       std::string(field.str()).substr(0, 64) + "'");
      }
    }
    if (k.secret.empty())
      return Status::InvalidArgument("config: s3_keys." + name + ": no secret");
    c->s3.keys[name] = std::move(k);
  }
  return Status::OK();
}

}  // namespace

std::vector<std::string> ConfigKeys() {
  std::vector<std::string> v;
  for (const Key& k : Keys()) v.push_back(k.name);
  return v;
}

Result<ServerConfig> ParseConfig(
    std::string_view toml_text,
    const std::vector<std::pair<std::string, std::string>>& overrides) {
  ServerConfig c;
  // toml++ 3.3.0 (Debian 12) has undefined behaviour on some non-ASCII input (found by
  // fuzz/config_fuzz.cc under UBSan, unicode_autogenerated.h). No key needs more than printable
  // ASCII, so refuse anything else before the parser sees it; flags may still carry any path.
  for (size_t i = 0; i < toml_text.size(); i++) {
    unsigned char ch = static_cast<unsigned char>(toml_text[i]);
    if (ch >= 0x80 || (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') || ch == 0x7f) {
      size_t line = 1 + static_cast<size_t>(std::count(toml_text.begin(), toml_text.begin() + i, '\n'));
      return Status::InvalidArgument("config: line " + std::to_string(line) +
                                     ": only printable ASCII is accepted in the config file "
                                     "(byte " + std::to_string(ch) + ")");
    }
  }
  // toml++ 3.3.0 also asserts (and without assert()s reads on) when a table header has no name
  // on its line ("[" or "[[" then the line's end, found by fuzz/config_fuzz.cc). A header's
  // name starts with a bare-key character or a quote; refuse anything else first. (A line
  // inside a multi-line array that starts with a lone "[" is refused too: no setting of this
  // file needs nested arrays.)
  size_t line_no = 1;
  for (size_t pos = 0; pos <= toml_text.size(); line_no++) {
    size_t eol = toml_text.find('\n', pos);
    if (eol == std::string_view::npos) eol = toml_text.size();
    std::string_view line = toml_text.substr(pos, eol - pos);
    pos = eol + 1;
    size_t i = line.find_first_not_of(" \t");
    if (i == std::string_view::npos || line[i] != '[') continue;
    i++;
    if (i < line.size() && line[i] == '[') i++;
    i = line.find_first_not_of(" \t", i);
    const char ch = i == std::string_view::npos ? '\0' : line[i];
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '"' ||
          ch == '\'')) {
      return Status::InvalidArgument("config: line " + std::to_string(line_no) +
                                     ": a table header needs a name on its line");
    }
  }
  toml::parse_result parsed = toml::parse(toml_text);
  if (!parsed) {
    const auto& e = parsed.error();
    return Status::InvalidArgument("config: line " + std::to_string(e.source().begin.line) +
                                   ": " + std::string(e.description()));
  }
  const toml::table& t = parsed.table();
  for (const auto& [name, node] : t) {
    if (name.str() == "keys") {
      CAIRN_RETURN_IF_ERROR(ApplyKeys(&c, node));
      continue;
    }
    if (name.str() == "s3_keys") {
      CAIRN_RETURN_IF_ERROR(ApplyS3Keys(&c, node));
      continue;
    }
    const Key* k = FindKey(name.str());
    if (k == nullptr)
      return Status::InvalidArgument("config: unknown key '" + std::string(name.str()).substr(0, 64) +
                                     "'");
    CAIRN_RETURN_IF_ERROR(ApplyToml(&c, *k, node));
  }
  for (const auto& [name, text] : overrides) {
    const Key* k = FindKey(name);
    if (k == nullptr) return Status::InvalidArgument("unknown option --" + name);
    CAIRN_RETURN_IF_ERROR(ApplyText(&c, *k, text, "flag"));
  }
  std::string host;
  uint16_t port = 0;
  CAIRN_RETURN_IF_ERROR(SplitHostPort(c.listen, &host, &port));
  if (!c.http_listen.empty()) {
    // A bare PORT means 127.0.0.1:PORT (net::ParseListenAddress does the same).
    std::string_view hl = c.http_listen;
    if (hl.find(':') == std::string_view::npos) {
      uint64_t p = 0;
      if (!ParseUint(hl, &p) || p > 65535)
        return Status::InvalidArgument("http_listen: expected HOST:PORT or PORT, got '" +
                                       c.http_listen.substr(0, 64) + "'");
    } else {
      Status s = SplitHostPort(hl, &host, &port);
      if (!s.ok()) return Status::InvalidArgument("http_" + s.message());
    }
  }
  if (!c.s3.listen.empty()) {
    std::string_view sl = c.s3.listen;
    if (sl.find(':') == std::string_view::npos) {
      uint64_t p = 0;
      if (!ParseUint(sl, &p) || p > 65535)
        return Status::InvalidArgument("s3_listen: expected HOST:PORT or PORT, got '" +
                                       c.s3.listen.substr(0, 64) + "'");
    } else {
      Status s = SplitHostPort(sl, &host, &port);
      if (!s.ok()) return Status::InvalidArgument("s3_" + s.message());
    }
  }
  if (c.s3.tls_cert_file.empty() != c.s3.tls_key_file.empty())
    return Status::InvalidArgument("s3_tls_cert_file and s3_tls_key_file go together");
  if (c.data.empty()) return Status::InvalidArgument("data: the store directory is empty");
  const Limits& l = c.limits;
  if (l.max_meta_bytes > kMaxMetaBytesLimit ||
      l.max_meta_bytes + uint64_t{proto::kFrameMetaReserveBytes} > l.max_frame_meta_bytes)
    return Status::InvalidArgument(
        "max_meta_bytes: " + std::to_string(l.max_meta_bytes) +
        " is not a possible object-metadata limit: at most 65536, and at most "
        "max_frame_meta_bytes (" + std::to_string(l.max_frame_meta_bytes) + ") - " +
        std::to_string(proto::kFrameMetaReserveBytes) +
        ". Since protocol version 2, max_meta_bytes limits an object's metadata (default 8K) "
        "and max_frame_meta_bytes a frame's meta section (what max_meta_bytes was in version 1)");
  return c;
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1") return true;
  if (host.starts_with("::ffff:")) host.remove_prefix(7);
  if (!host.starts_with("127.")) return false;
  // A dotted IPv4 address: four numbers 0..255.
  int parts = 0;
  size_t i = 0;
  while (i <= host.size()) {
    size_t dot = host.find('.', i);
    if (dot == std::string_view::npos) dot = host.size();
    uint64_t n = 0;
    if (!ParseUint(host.substr(i, dot - i), &n) || n > 255) return false;
    parts++;
    i = dot + 1;
  }
  return parts == 4;
}

Result<ServerConfig> LoadConfig(
    const std::string& path, const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::string text;
  if (!path.empty()) {
    Result<std::string> r = ReadPrivateFile(path, "config file");
    if (!r.ok()) return r.status();
    text = std::move(*r);
  }
  CAIRN_ASSIGN_OR_RETURN(ServerConfig c, ParseConfig(text, overrides));
  if (!c.auth.key_file.empty()) {
    CAIRN_ASSIGN_OR_RETURN(AuthKey k, ReadKeyFile(c.auth.key_file));
    auto [it, fresh] = c.auth.keys.emplace(k.id, k.secret);
    if (!fresh && it->second != k.secret)
      return Status::InvalidArgument("key_file " + c.auth.key_file + ": key id '" + k.id +
                                     "' is also in the config's [keys] with another secret");
  }
  CAIRN_RETURN_IF_ERROR(LoadS3Keys(&c));
  std::string host;
  uint16_t port = 0;
  CAIRN_RETURN_IF_ERROR(SplitHostPort(c.listen, &host, &port));
  if (c.auth.allow_unauthenticated_loopback && !IsLoopbackHost(host))
    return Status::InvalidArgument(
        "allow_unauthenticated_loopback: only for a loopback listen address (127.0.0.1, ::1, "
        "localhost); listen is " + c.listen);
  if (!c.cluster.etcd.empty()) {
    if (c.cluster.write_policy != "quorum" && c.cluster.write_policy != "all" &&
        c.cluster.write_policy != "one")
      return Status::InvalidArgument("write_policy: expected quorum, all or one, got '" +
                                     c.cluster.write_policy.substr(0, 32) + "'");
    if (c.auth.keys.count(c.cluster.key_id) == 0)
      return Status::InvalidArgument(
          "cluster_key_id: the nodes of a cluster authenticate each other with the key '" +
          c.cluster.key_id + "', which is not among this server's keys (key_file or [keys])");
  }
  if (c.auth.keys.empty() && !c.auth.allow_unauthenticated_loopback)
    return Status::InvalidArgument(
        "no authentication key: every client must prove it holds a key (docs/protocol.md "
        "section 8). Give one with key_file (--key-file FILE, one line ID:SECRET, mode 0600) or "
        "a [keys] table in the config file, or set allow_unauthenticated_loopback = true with "
        "a loopback listen address");
  return c;
}

Status LoadS3Keys(ServerConfig* c) {
  if (!c->s3.key_file.empty()) {
    CAIRN_ASSIGN_OR_RETURN(AuthKey k, ReadKeyFile(c->s3.key_file));
    auto [it, fresh] = c->s3.keys.emplace(k.id, S3KeyConfig{k.secret, {"*"}});
    if (!fresh && it->second.secret != k.secret)
      return Status::InvalidArgument("s3_key_file " + c->s3.key_file + ": access key '" + k.id +
                                     "' is also in the config's [s3_keys] with another secret");
  }
  if (!c->s3.listen.empty() && c->s3.keys.empty())
    return Status::InvalidArgument(
        "s3_listen: the S3 gateway needs at least one access key: s3_key_file (one line "
        "ACCESS_KEY:SECRET, mode 0600) or an [s3_keys.ACCESS_KEY] table in the config file; "
        "anonymous requests are refused");
  return Status::OK();
}

Status SplitHostPort(std::string_view listen, std::string* host, uint16_t* port) {
  auto bad = [&] {
    return Status::InvalidArgument("listen: expected HOST:PORT (e.g. 127.0.0.1:7700), got '" +
                                   std::string(listen.substr(0, 64)) + "'");
  };
  size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad();
  std::string_view h = listen.substr(0, colon);
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return bad();
    h = h.substr(1, h.size() - 2);
  }
  uint64_t p = 0;
  if (!ParseUint(listen.substr(colon + 1), &p) || p > 65535) return bad();
  *host = std::string(h);
  *port = static_cast<uint16_t>(p);
  return Status::OK();
}

bool WritePortFile(const std::string& path, uint16_t port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!(f << port << "\n")) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace cairn::server
