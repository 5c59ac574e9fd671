#include "proto/stat_body.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace cairn::proto {
namespace {

using Json = nlohmann::ordered_json;

template <typename T>
Status Field(const Json& j, const char* name, T* out) {
  if (!j.contains(name)) return Status::OK();
  const Json& v = j[name];
  if constexpr (std::is_same_v<T, bool>) {
    if (!v.is_boolean()) return Status::IOError(fmt::format("stat: \"{}\" is not a boolean", name));
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) return Status::IOError(fmt::format("stat: \"{}\" is not a string", name));
  } else {
    if (!v.is_number_unsigned())
      return Status::IOError(fmt::format("stat: \"{}\" is not a count", name));
  }
  *out = v.get<T>();
  return Status::OK();
}

}  // namespace

std::string EncodeStatBody(const StoreStats& s) {
  Json j;
  j["objects"] = s.objects;
  j["logical_bytes"] = s.logical_bytes;
  j["live_bytes"] = s.live_bytes;
  j["dead_bytes"] = s.dead_bytes;
  j["tombstones"] = s.tombstones;
  j["volumes"] = s.volumes;
  j["volume_capacity"] = s.volume_capacity;
  j["allocated_bytes"] = s.allocated_bytes;
  j["index_allocated_bytes"] = s.index_allocated_bytes;
  j["index_memory_bytes"] = s.index_memory_bytes;
  j["index_cache_bytes"] = s.index_cache_bytes;
  j["index_hot_hits"] = s.index_hot_hits;
  j["index_hot_misses"] = s.index_hot_misses;
  j["next_sequence"] = s.next_sequence;
  j["read_only"] = s.read_only;
  j["read_only_reason"] = s.read_only_reason;
  j["reclaimable_bytes"] = s.reclaimable_bytes;
  j["reclaimed_bytes"] = s.reclaimed_bytes;
  j["compactions"] = s.compactions;
  Json vols = Json::array();
  for (const VolumeStats& v : s.volume_list) {
    Json jv;
    jv["id"] = v.id;
    jv["state"] = v.state;
    jv["capacity"] = v.capacity;
    jv["end"] = v.end;
    jv["live_bytes"] = v.live_bytes;
    jv["dead_bytes"] = v.dead_bytes;
    jv["live_records"] = v.live_records;
    jv["reclaimable_bytes"] = v.reclaimable_bytes;
    jv["reclaimed_bytes"] = v.reclaimed_bytes;
    vols.push_back(std::move(jv));
  }
  j["volume_list"] = std::move(vols);
  Json server = Json::object();
  for (const auto& [name, n] : s.server) server[name] = n;
  j["server"] = std::move(server);
  // A reason may hold any bytes (a path): never throw on them.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<StoreStats> DecodeStatBody(std::string_view body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status::IOError("stat: the server's statistics are not a JSON object");
  StoreStats s;
  CAIRN_RETURN_IF_ERROR(Field(j, "objects", &s.objects));
  CAIRN_RETURN_IF_ERROR(Field(j, "logical_bytes", &s.logical_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "live_bytes", &s.live_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "dead_bytes", &s.dead_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "tombstones", &s.tombstones));
  CAIRN_RETURN_IF_ERROR(Field(j, "volumes", &s.volumes));
  CAIRN_RETURN_IF_ERROR(Field(j, "volume_capacity", &s.volume_capacity));
  CAIRN_RETURN_IF_ERROR(Field(j, "allocated_bytes", &s.allocated_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "index_allocated_bytes", &s.index_allocated_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "index_memory_bytes", &s.index_memory_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "index_cache_bytes", &s.index_cache_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "index_hot_hits", &s.index_hot_hits));
  CAIRN_RETURN_IF_ERROR(Field(j, "index_hot_misses", &s.index_hot_misses));
  CAIRN_RETURN_IF_ERROR(Field(j, "next_sequence", &s.next_sequence));
  CAIRN_RETURN_IF_ERROR(Field(j, "read_only", &s.read_only));
  CAIRN_RETURN_IF_ERROR(Field(j, "read_only_reason", &s.read_only_reason));
  CAIRN_RETURN_IF_ERROR(Field(j, "reclaimable_bytes", &s.reclaimable_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "reclaimed_bytes", &s.reclaimed_bytes));
  CAIRN_RETURN_IF_ERROR(Field(j, "compactions", &s.compactions));
  if (j.contains("volume_list")) {
    if (!j["volume_list"].is_array()) return Status::IOError("stat: \"volume_list\" is not an array");
    for (const Json& jv : j["volume_list"]) {
      if (!jv.is_object()) return Status::IOError("stat: a volume is not an object");
      VolumeStats v;
      CAIRN_RETURN_IF_ERROR(Field(jv, "id", &v.id));
      CAIRN_RETURN_IF_ERROR(Field(jv, "state", &v.state));
      CAIRN_RETURN_IF_ERROR(Field(jv, "capacity", &v.capacity));
      CAIRN_RETURN_IF_ERROR(Field(jv, "end", &v.end));
      CAIRN_RETURN_IF_ERROR(Field(jv, "live_bytes", &v.live_bytes));
      CAIRN_RETURN_IF_ERROR(Field(jv, "dead_bytes", &v.dead_bytes));
      CAIRN_RETURN_IF_ERROR(Field(jv, "live_records", &v.live_records));
      CAIRN_RETURN_IF_ERROR(Field(jv, "reclaimable_bytes", &v.reclaimable_bytes));
      CAIRN_RETURN_IF_ERROR(Field(jv, "reclaimed_bytes", &v.reclaimed_bytes));
      s.volume_list.push_back(std::move(v));
    }
  }
  if (j.contains("server")) {
    const Json& sv = j["server"];
    if (!sv.is_object()) return Status::IOError("stat: \"server\" is not an object");
    for (const auto& [name, v] : sv.items()) {
      if (!v.is_number_unsigned())
        return Status::IOError(fmt::format("stat: server counter \"{}\" is not a count", name));
      s.server[name] = v.get<uint64_t>();
    }
  }
  return s;
}

}  // namespace cairn::proto
