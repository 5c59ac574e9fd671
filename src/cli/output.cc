#include "cli/output.h"

#include <fmt/format.h>

#include <ctime>

#include "util/escape.h"

namespace cairn::cli {

std::string HumanBytes(uint64_t n) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (n < 1024) return fmt::format("{} B", n);
  double v = static_cast<double>(n) / 1024.0;
  size_t unit = 0;
  while (v >= 1024.0 && unit + 1 < std::size(kUnits)) {
    v /= 1024.0;
    unit++;
  }
  return fmt::format("{:.1f} {}", v, kUnits[unit]);
}

std::string ExactAndHuman(uint64_t n) { return fmt::format("{} ({})", n, HumanBytes(n)); }

std::string Crc32cHex(uint32_t crc) { return fmt::format("{:08x}", crc); }

std::string FormatUtcMicros(uint64_t micros_since_epoch) {
  const auto secs = static_cast<std::time_t>(micros_since_epoch / 1000000);
  std::tm tm{};
  if (::gmtime_r(&secs, &tm) == nullptr) return fmt::format("@{}us", micros_since_epoch);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros_since_epoch % 1000000);
}

std::string HexBytes(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

Json ObjectJson(const ObjectInfo& info, bool mtime_text) {
  Json j;
  j["key"] = EscapeKeyForJson(info.key);
  j["size"] = info.size;
  j["crc32c"] = Crc32cHex(info.crc32c);
  j["sequence"] = info.sequence;
  j["mtime_us"] = info.mtime_us;
  if (mtime_text) j["mtime"] = FormatUtcMicros(info.mtime_us);
  j["version"] = info.version.ToString();
  const ObjectMetadata& m = info.metadata;
  if (!m.content_type.empty()) j["content_type"] = EscapeKeyForJson(m.content_type);
  if (!m.md5.empty()) j["md5"] = HexBytes(m.md5);
  auto pairs = [](const std::map<std::string, std::string>& kv) {
    Json o = Json::object();
    for (const auto& [k, v] : kv) o[EscapeKeyForJson(k)] = EscapeKeyForJson(v);
    return o;
  };
  if (!m.user.empty()) j["meta"] = pairs(m.user);
  if (!m.system.empty()) j["system_meta"] = pairs(m.system);
  return j;
}

Json StatsJson(const StoreStats& s) {
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
  j["next_sequence"] = s.next_sequence;
  j["read_only"] = s.read_only;
  j["read_only_reason"] = OneLine(s.read_only_reason);
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
  return j;
}

}  // namespace cairn::cli
