#include "util/base64.h"

#include <array>
#include <cstdint>

namespace cairn {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The value of each byte in the alphabet, or -1.
constexpr std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; i++) t[static_cast<uint8_t>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kDecode = MakeDecodeTable();

}  // namespace

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve(4 * ((in.size() + 2) / 3));
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = uint32_t{static_cast<uint8_t>(in[i])} << 16 |
                       uint32_t{static_cast<uint8_t>(in[i + 1])} << 8 |
                       uint32_t{static_cast<uint8_t>(in[i + 2])};
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{static_cast<uint8_t>(in[i])} << 16;
    if (rest == 2) v |= uint32_t{static_cast<uint8_t>(in[i + 1])} << 8;
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  if (!in.empty() && in.back() == '=') pad++;
  if (in.size() >= 2 && in[in.size() - 2] == '=') pad++;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const size_t data_chars = last ? 4 - pad : 4;
    uint32_t v = 0;
    for (size_t j = 0; j < 4; j++) {
      int8_t d = 0;
      if (j < data_chars) {
        d = kDecode[static_cast<uint8_t>(in[i + j])];
        if (d < 0) return std::nullopt;  // also '=' anywhere but the end
      }
      v = v << 6 | static_cast<uint32_t>(d);
    }
    // Canonical: the bits the padding leaves over are zero.
    if ((data_chars == 3 && (v & 0xff) != 0) || (data_chars == 2 && (v & 0xffff) != 0))
      return std::nullopt;
    out.push_back(static_cast<char>(v >> 16));
    if (data_chars > 2) out.push_back(static_cast<char>((v >> 8) & 0xff));
    if (data_chars > 3) out.push_back(static_cast<char>(v & 0xff));
  }
  return out;
}

}  // namespace cairn
