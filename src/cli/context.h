// Context: what every cairn command needs, resolved from the global flags.
//
// Flag values are kept as text by the parser and validated here, so that a bad value becomes a
// one-line usage error (exit 2) with a hint, rather than a parser message.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/options.h"
#include "cli/outcome.h"

namespace cairn::cli {

class LocalBackend;

inline constexpr char kDefaultStoreDir[] = "./cairn-data";

// The global flags as typed (empty string: not given).
struct GlobalFlags {
  std::string store = kDefaultStoreDir;  // --store, else $CAIRN_STORE, else the default
  bool json = false;
  std::string durability;
  std::string volume_size;
  std::string server;  // --server, else $CAIRN_SERVER: HOST:PORT of a cairnd (remote mode)
  std::string key_file;  // --key-file: the key for the server (else FindClientKey's search)
  // --cluster, else $CAIRN_CLUSTER: etcd endpoints of a cluster (cluster mode; docs/cluster.md)
  std::string cluster;
  std::string cluster_name = "default";  // --cluster-name, else $CAIRN_CLUSTER_NAME
  bool no_map_cache = false;             // --no-map-cache: fetch the map from etcd every call
};

struct Context {
  std::string command;  // "put", "ls"...: names the command in error messages
  std::string store_dir;
  bool json = false;
  // Durability, volume capacity and info_log are set; create_if_missing is chosen per command.
  StoreOptions options;
  // Remote mode when not empty: the commands talk to the cairnd at this HOST:PORT.
  std::string server;
  // The --durability asked for each remote write (unset: the server's default).
  std::optional<Durability> remote_durability;
  // --key-file (remote mode); empty: $CAIRN_KEY, $CAIRN_KEY_FILE, then the default key file.
  std::string key_file;
  // Cluster mode when not empty: etcd endpoints; the map comes from /dev/shm or etcd, and each
  // request goes to a replica of its key (docs/cluster.md, "The CLI").
  std::string cluster;
  std::string cluster_name = "default";
  bool no_map_cache = false;
  // What opens a local store (cli/local_backend.h); null in `cairn`, which links no engine and
  // runs `cairn-local` for the commands that need one. Not owned; lives as long as the process.
  const LocalBackend* local = nullptr;
};

// Validates `flags` and fills `*ctx`. Usage outcome if a value is malformed or out of range.
Outcome MakeContext(const GlobalFlags& flags, std::string command, Context* ctx);

// Parses a byte count with an optional binary suffix: "1048576", "8K", "8M", "1G" (also "8MiB",
// case-insensitive). nullopt if malformed or if it overflows 64 bits.
std::optional<uint64_t> ParseByteSize(std::string_view text);

}  // namespace cairn::cli
