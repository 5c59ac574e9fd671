// libFuzzer target: cairnd's config parser (src/server/config.h). Feeds arbitrary bytes as the
// TOML text, and (after the first NUL byte, if any) as one flag override "key=value", through
// ParseConfig. Nothing may crash, hang or read out of bounds; an accepted config must satisfy
// the documented ranges.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view text = in;
  std::vector<std::pair<std::string, std::string>> overrides;
  size_t nul = in.find('\0');
  if (nul != std::string_view::npos) {
    text = in.substr(0, nul);
    std::string_view flag = in.substr(nul + 1);
    size_t eq = flag.find('=');
    if (eq != std::string_view::npos)
      overrides.emplace_back(std::string(flag.substr(0, eq)), std::string(flag.substr(eq + 1)));
  }
  cairn::Result<cairn::server::ServerConfig> c = cairn::server::ParseConfig(text, overrides);
  if (c.ok()) {
    const auto& l = c->limits;
    if (l.max_key_bytes < 1 || l.max_key_bytes > 1024 || l.max_inflight_per_connection < 1 ||
        l.max_connections < 1 || l.header_timeout_ms < 1 || c->io_threads < 1 || c->data.empty())
      std::abort();
  }
  return 0;
}
