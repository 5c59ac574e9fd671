// MapCache: the cluster map kept between short-lived CLI processes in POSIX shared memory
// (/dev/shm), so that a script calling `cairn` thousands of times does not fetch the map from
// etcd each time (issue 11 item 7; ARCHITECTURE.md, "What the seed problems teach").
//
// A writer encodes {header, map} into DIR/NAME.tmp.PID and renames it over DIR/NAME, so a reader
// sees a whole old file or a whole new one. A reader mmaps the file, checks the header's CRC,
// the map's own CRC and the age against the TTL; anything else is a miss (never an error the
// user sees: the CLI then fetches from etcd and rewrites the cache).
//
//   header (32 bytes): "CAIRNSHM", u32 format 1, u32 reserved, u64 fetched_at_us,
//                      u32 map_len, u32 crc32c(bytes 0..27); then map_len bytes of the map
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <string>

#include "cluster/cluster_map.h"

namespace cairn::cluster {

struct MapCacheOptions {
  std::string dir = "/dev/shm";
  uint32_t ttl_ms = 30000;  // named bound: a cached map older than this is fetched again
};

// The cache file's name for a cluster reached through `endpoints` (etcd endpoint list).
std::string MapCacheName(const std::string& cluster, const std::string& endpoints);

// A cached map no older than the TTL, or NotFound (missing, stale, damaged: all a miss).
Result<ClusterMap> ReadCachedMap(const MapCacheOptions& o, const std::string& name,
                                 uint64_t now_us);
// Replaces the cached map (atomically). Skipped (OK) when the cache holds a newer epoch.
Status WriteCachedMap(const MapCacheOptions& o, const std::string& name, const ClusterMap& m,
                      uint64_t now_us);
// Forgets the cached map (a node said our epoch is too old).
void InvalidateCachedMap(const MapCacheOptions& o, const std::string& name);

}  // namespace cairn::cluster
