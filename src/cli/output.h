// Formatting of what cairn prints: byte counts, checksums, timestamps and JSON records.
//
// Plain output is for people and may change; --json output is for scripts: its field names are
// stable and every key goes through EscapeKeyForJson, so it is always valid UTF-8.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "cairn/object_store.h"

namespace cairn::cli {

// Insertion-ordered, so fields print in the documented order.
using Json = nlohmann::ordered_json;

// Binary units with one decimal: "512 B", "1.0 MiB", "64.0 GiB".
std::string HumanBytes(uint64_t n);
// "1048576 (1.0 MiB)": exact for scripts and for comparing, humanised for reading.
std::string ExactAndHuman(uint64_t n);
// Eight lowercase hex digits, e.g. "9a71bb4c".
std::string Crc32cHex(uint32_t crc);
// ISO-8601 UTC with microseconds: "2026-11-21T22:54:39.123456Z".
std::string FormatUtcMicros(uint64_t micros_since_epoch);

// Lowercase hex of any bytes (an MD5).
std::string HexBytes(std::string_view bytes);

// {"key","size","crc32c","sequence","mtime_us"}; with `mtime_text`, also "mtime" (ISO-8601);
// then "version" (24 hex digits), and the metadata that is set: "content_type", "md5" (hex),
// "meta" (user pairs), "system_meta" (system pairs). Keys, names and values are escaped.
Json ObjectJson(const ObjectInfo& info, bool mtime_text);
// Every StoreStats field, including volume_list, read_only and read_only_reason.
Json StatsJson(const StoreStats& stats);

}  // namespace cairn::cli
