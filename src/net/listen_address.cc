#include "net/listen_address.h"

#include <charconv>
#include <cstdint>
#include <string>

namespace cairn::net {

Status ParseListenAddress(std::string_view text, std::string* host, uint16_t* port) {
  auto bad = [&] {
    return Status::InvalidArgument("expected HOST:PORT or PORT (e.g. 127.0.0.1:9100), got '" +
                                   std::string(text.substr(0, 64)) + "'");
  };
  std::string_view h = "127.0.0.1";
  std::string_view p = text;
  size_t colon = text.rfind(':');
  if (colon != std::string_view::npos) {
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (!h.empty() && h.front() == '[') {
      if (h.size() < 3 || h.back() != ']') return bad();
      h = h.substr(1, h.size() - 2);
    }
    if (h.empty()) return bad();
  }
  uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || v > 65535) return bad();
  *host = std::string(h);
  *port = static_cast<uint16_t>(v);
  return Status::OK();
}

}  // namespace cairn::net
