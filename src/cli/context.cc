#include "cli/context.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdio>

#include "cairn/store.h"
#include "util/escape.h"

namespace cairn::cli {
namespace {

// The engine's warnings (a failed fsync, what recovery found) go to stderr, one line each, in
// the tool's own voice so they are not mistaken for another program's output.
void LogToStderr(const std::string& msg) {
  size_t start = 0;
  while (start <= msg.size()) {
    size_t end = msg.find('\n', start);
    if (end == std::string::npos) end = msg.size();
    std::string_view line(msg.data() + start, end - start);
    if (!line.empty()) std::fprintf(stderr, "cairn: %s\n", OneLine(line).c_str());
    start = end + 1;
  }
}

}  // namespace

std::optional<uint64_t> ParseByteSize(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) digits++;
  if (digits == 0) return std::nullopt;
  uint64_t value = 0;
  for (size_t i = 0; i < digits; i++) {
    const auto d = static_cast<uint64_t>(text[i] - '0');
    if (value > (UINT64_MAX - d) / 10) return std::nullopt;
    value = value * 10 + d;
  }
  std::string suffix;
  for (char c : text.substr(digits)) suffix.push_back(static_cast<char>(std::tolower(c)));
  int shift;
  if (suffix.empty() || suffix == "b") {
    shift = 0;
  } else if (suffix == "k" || suffix == "kib") {
    shift = 10;
  } else if (suffix == "m" || suffix == "mib") {
    shift = 20;
  } else if (suffix == "g" || suffix == "gib") {
    shift = 30;
  } else {
    return std::nullopt;
  }
  if (shift > 0 && value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

Outcome MakeContext(const GlobalFlags& flags, std::string command, Context* ctx) {
  ctx->command = std::move(command);
  ctx->store_dir = flags.store;
  ctx->json = flags.json;
  ctx->server = flags.server;
  ctx->key_file = flags.key_file;
  ctx->cluster = flags.cluster;
  ctx->cluster_name = flags.cluster_name;
  ctx->no_map_cache = flags.no_map_cache;
  if (!ctx->cluster.empty() && !ctx->server.empty())
    return Outcome::Usage("--cluster and --server both given (or CAIRN_CLUSTER and "
                          "CAIRN_SERVER): pick one");
  if (ctx->store_dir.empty())
    return Outcome::Usage("the store directory is empty; pass --store DIR");
  ctx->options.info_log = LogToStderr;
  if (!flags.durability.empty()) {
    Durability mode = Durability::kSync;
    uint32_t interval_ms = ctx->options.sync_interval_ms;
    if (!ParseDurability(flags.durability, &mode, &interval_ms))
      return Outcome::Usage(fmt::format(
          "bad --durability value '{}'; use sync, none, interval or interval=MS (MS 1..3600000)",
          OneLine(flags.durability)));
    ctx->options.durability = mode;
    ctx->options.sync_interval_ms = interval_ms;
    ctx->remote_durability = mode;
  }
  if (!flags.volume_size.empty()) {
    std::optional<uint64_t> size = ParseByteSize(flags.volume_size);
    if (!size.has_value())
      return Outcome::Usage(
          fmt::format("bad --volume-size value '{}'; use a byte count with an optional K, M or G "
                      "suffix, e.g. 64M",
                      OneLine(flags.volume_size)));
    if (*size < kMinVolumeCapacity || *size > kMaxVolumeCapacity)
      return Outcome::Usage(fmt::format("--volume-size {} is outside the allowed 1M..64G",
                                        OneLine(flags.volume_size)));
    ctx->options.volume_capacity = *size;
  }
  return Outcome::Ok();
}

}  // namespace cairn::cli
