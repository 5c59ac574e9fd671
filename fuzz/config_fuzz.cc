// libFuzzer target: cairnd's config parser (src/server/config.h). Feeds arbitrary bytes as the
// TOML text, and (after the first NUL byte, if any) as one flag override "key=value", through
// ParseConfig. Nothing may crash, hang or read out of bounds; an accepted config must satisfy
// the documented ranges.
//
// Build it with -DNDEBUG: toml++ 3.3.0 (Debian 12) fires its own assert() on input as small as
// "[\n" (parse_key, parser.inl:3037) in debug builds; with NDEBUG and ASan+UBSan, 232k runs
// from fuzz/corpus/config were clean once ParseConfig refused non-ASCII text (a UBSan report in
// toml++'s unicode tables).
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
        l.max_connections < 1 || l.header_timeout_ms < 1 || c->io_threads < 1 || c->data.empty() ||
        l.max_meta_bytes + 4096ull > l.max_frame_meta_bytes || l.auth_timeout_ms < 1)
      std::abort();
    for (const auto& [id, secret] : c->auth.keys)
      if (id.empty() || id.size() > 64 || secret.size() < 16) std::abort();
  }
  return 0;
}
