#include "util/base64.h"

#include <openssl/evp.h>

namespace cairn {

std::string Base64Encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  if (in.empty()) return out;
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  if (in.empty()) return std::string();
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = 0;
  if (in.back() == '=') pad++;
  if (in.size() >= 2 && in[in.size() - 2] == '=') pad++;
  out.resize(static_cast<size_t>(n) - pad);
  // EVP_DecodeBlock ignores some characters (whitespace); insist on the canonical form.
  if (Base64Encode(out) != in) return std::nullopt;
  return out;
}

}  // namespace cairn
