// ServerConfig: everything cairnd can be told, from a TOML file (cairnd.toml) and flags.
//
// ParseConfig is a pure function (text in, config or error out; no I/O), so it is fuzzed
// (fuzz/config_fuzz.cc). Every key may appear in the TOML file and as a flag `--key value`
// (flags win), except the `[keys]` table of authentication keys, which only the file holds;
// the limits are the named limits of docs/protocol.md section 6. LoadConfig does the I/O around
// it: it reads the config file and the key file, refusing either when its group or others may
// read it, and checks that the server can authenticate its clients (section 8).
//
// Thread safety: a value type.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/options.h"
#include "cairn/status.h"

namespace cairn::server {

struct Limits {
  uint32_t max_frame_meta_bytes = 64 << 10;   // a frame's meta section: LimitExceeded, closed
  uint32_t max_meta_bytes = 8192;             // an object's metadata: LimitExceeded, open
  uint32_t max_key_bytes = 1024;              // LimitExceeded, open
  uint32_t max_chunk_bytes = 4 << 20;         // chunked PUT bodies: LimitExceeded, closed
  uint32_t max_list_limit = 10000;            // LimitExceeded, open
  uint64_t max_object_bytes = 0;              // 0: the engine's (kMaxObjectBytes)
  uint32_t max_inflight_per_connection = 64;  // stop reading the connection at this many
  uint32_t max_connections = 4096;            // more are accepted and closed at once
  uint64_t max_buffered_body_bytes = 1 << 20; // larger PUT bodies are streamed, never held
  uint32_t header_timeout_ms = 10000;         // slow-loris: a header must arrive in this
  uint32_t idle_timeout_ms = 300000;          // nothing in flight, nothing received
  uint32_t auth_timeout_ms = 10000;           // a connection must authenticate in this
  uint32_t max_auth_failures_per_second = 10; // per peer address; beyond it HELLO is refused
};

// Authentication (docs/protocol.md section 8).
struct AuthConfig {
  // Key id -> secret, from the config file's [keys] table and from key_file.
  std::map<std::string, std::string> keys;
  // A file holding one line ID:SECRET, read by LoadConfig (mode 0600 or stricter).
  std::string key_file;
  // Clients connecting from loopback may skip the handshake; only with a loopback listen
  // address.
  bool allow_unauthenticated_loopback = false;
};

// The cluster (docs/cluster.md): set cluster_etcd to make this cairnd a node of a cluster.
struct ClusterConfig {
  std::string etcd;             // etcd endpoints, HOST:PORT[,HOST:PORT...]; empty: one node
  std::string name = "default";  // etcd prefix /cairn/<name>/
  uint32_t node_id = 0;         // 0: allocated once and kept in the data directory (NODE_ID)
  std::string zone = "default";
  uint32_t weight = 1;
  uint32_t replicas = 3;        // R of the first map
  uint32_t bootstrap_nodes = 0;  // the first map waits for this many registered nodes
  std::string write_policy = "quorum";  // quorum, all, one (docs/cluster.md, what each loses)
  // Which key of the server's keys the nodes authenticate each other with (the member key);
  // replica operations need it.
  std::string key_id = "cluster";
  // HOST:PORT the other nodes reach this one at (default: the listen address).
  std::string advertise;
  std::string etcd_user;        // etcd's own authentication, when the operator set it up
  std::string etcd_password;
  // Anti-entropy (docs/cluster.md "Anti-entropy"): a round every this many ms (0: none; the
  // digest is still kept, so peers can compare with this node), and its named bounds.
  uint32_t anti_entropy_interval_ms = 60000;
  // A node down for longer than this is out: its partitions move to other nodes (issue 12).
  uint32_t out_delay_ms = 60000;
  uint32_t anti_entropy_max_keys = 10000;    // records repaired per round
  uint64_t anti_entropy_max_bytes = uint64_t{256} << 20;  // value bytes pushed per round
  uint32_t anti_entropy_mbps = 0;  // the rounds' I/O budget (cluster/anti_entropy.h); 0: none
};

// The S3 gateway (issue 13; docs/s3.md): off unless s3_listen is set.
struct S3KeyConfig {
  std::string secret;
  // Buckets the key may use besides those it creates; "*" grants every bucket.
  std::vector<std::string> buckets;
};

struct S3Config {
  std::string listen;     // s3_listen: HOST:PORT, or PORT for 127.0.0.1:PORT; empty: off
  std::string port_file;  // s3_port_file: written with the bound port
  std::string region = "us-east-1";  // s3_region: what ?location answers
  // s3_key_file: one line ACCESS_KEY:SECRET (mode 0600), granted every bucket.
  std::string key_file;
  // [s3_keys.ACCESS_KEY] secret = "...", buckets = ["b1", "b2"] (or ["*"]).
  std::map<std::string, S3KeyConfig> keys;
  uint32_t max_clock_skew_s = 900;             // s3_max_clock_skew_s
  uint64_t upload_max_age_s = 7 * 86400;       // s3_upload_max_age_s
  uint32_t upload_cleanup_interval_s = 3600;   // s3_upload_cleanup_interval_s
  // s3_keepalive_ms: a Complete or a copy still running after this answers 200 and sends a
  // space every this many ms until its answer (docs/s3.md, "Long answers").
  uint32_t keepalive_ms = 5000;
  std::string tls_cert_file;                   // s3_tls_cert_file, s3_tls_key_file: HTTPS
  std::string tls_key_file;
};

// The process's one budget for background work (cairn/background.h; docs/design.md, "One budget
// for background work"): reclamation, anti-entropy and hint replay are admitted by it.
struct BackgroundConfig {
  uint32_t mbps = 0;          // ceiling for all of them together; 0: none
  uint32_t min_mbps = 1;      // the floor latency control never goes below
  bool latency_control = true;  // the rate follows the foreground p99; false: a fixed mbps
  uint32_t p99_target_us = 0;   // the foreground p99 to hold; 0: 1.2x the one measured without
};

struct ServerConfig {
  std::string data = "./cairn-data";
  std::string listen = "127.0.0.1:7700";
  // Event loops (one thread each); 0 = one per core the process may run on (its affinity).
  uint32_t threads = 0;
  // Threads that run engine calls that may block (cold GETs, streamed PUTs, DELETEs, PUTs that
  // PutAsync refused, LIST, STAT), so no loop ever blocks on the disk. Hot GETs and buffered
  // PUTs do not use them. 64 keeps cold random reads at a useful queue depth (docs/design.md).
  uint32_t io_threads = 64;
  Durability durability = Durability::kSync;
  uint32_t sync_interval_ms = 100;
  uint64_t volume_size = uint64_t{1} << 30;  // only when the store is created
  // Named bound: the engine's RocksDB block cache for the key index (StoreOptions::
  // index_cache_bytes). A cold GET costs one disk read only while the index block holding its
  // key is in this cache: about 100 bytes per object (docs/design.md, "Cold reads"). "auto"
  // (0, the default): sized to the index as it grows, 64 MiB to a quarter of the memory.
  uint64_t index_cache = 0;
  std::string log_file;                      // empty: stderr
  std::string log_level = "info";            // trace, debug, info, warn, error, off
  std::string port_file;                     // written with the bound port once listening
  // The ops listener (/metrics, /healthz, /readyz, the status page; src/server/ops_listener.h):
  // HOST:PORT, or PORT for 127.0.0.1:PORT. Empty: off. It serves no writes and does not
  // authenticate, so it binds to loopback unless told otherwise.
  std::string http_listen;
  std::string http_port_file;  // written with the ops listener's bound port
  Limits limits;
  AuthConfig auth;
  ClusterConfig cluster;
  // Named bound of the engine (StoreOptions::max_clock_skew_ms): a replica write whose version
  // is this far ahead of the clock is refused.
  uint64_t max_clock_skew_ms = 60000;
  BackgroundConfig background;
  S3Config s3;
};

// The keys, in the order `cairnd --help` lists them.
std::vector<std::string> ConfigKeys();

// Parses `toml_text` (may be empty), then applies `overrides` (key, value-as-text; for flags)
// in order. Unknown keys, wrong types and out-of-range values are InvalidArgument naming the
// key. Sizes accept an integer or a string with a K/M/G/T suffix (powers of 1024).
Result<ServerConfig> ParseConfig(std::string_view toml_text,
                                 const std::vector<std::pair<std::string, std::string>>& overrides);

// Reads the config file `path` (none if empty), parses it with `overrides`, reads auth.key_file,
// and checks the authentication setup: at least one key, unless allow_unauthenticated_loopback
// with a loopback listen address (and that option only with one). The config file and the key
// file are refused when their group or others may read them, with an error that says so.
Result<ServerConfig> LoadConfig(const std::string& path,
                                const std::vector<std::pair<std::string, std::string>>& overrides);

// Reads s3.key_file into s3.keys (granted every bucket; refused when its group or others may
// read it), and checks that an S3 listener has at least one access key. LoadConfig calls it;
// cairn-s3, which has no native listener, calls it after ParseConfig.
Status LoadS3Keys(ServerConfig* c);

// Writes `port` and a newline to `path` through a temporary file and a rename, so a reader never
// sees a partial number: the port files of cairnd and cairn-s3 (--port-file, --http-port-file,
// --s3-port-file). False when it could not.
bool WritePortFile(const std::string& path, uint16_t port);

// Splits "HOST:PORT" ("[::1]:7700" for IPv6). Port 0 means "pick one".
Status SplitHostPort(std::string_view listen, std::string* host, uint16_t* port);

// Whether a listen host is a loopback address: 127.0.0.0/8, ::1 or "localhost".
bool IsLoopbackHost(std::string_view host);

}  // namespace cairn::server
