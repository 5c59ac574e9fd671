// Base64 (RFC 4648, standard alphabet, padded), through OpenSSL's EVP block functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cairn {

std::string Base64Encode(std::string_view in);
// Strict: nullopt for anything that is not canonical padded base64.
std::optional<std::string> Base64Decode(std::string_view in);

}  // namespace cairn
