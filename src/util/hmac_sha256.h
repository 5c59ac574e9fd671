// HMAC-SHA256 (RFC 2104 over FIPS 180-4 SHA-256) for short messages: the authentication
// handshake's proofs (proto/auth.h), a few hundred bytes per connection.
//
// Why not OpenSSL's HMAC(): in OpenSSL 3 the first digest of a process loads the default
// provider and builds its name map, about 1 ms, and a short `cairn` call against a cluster
// makes exactly one connection (issue 11). This implementation is plain portable C++ with no
// setup; for bulk hashing (SigV4 payloads) OpenSSL's assembly stays the right tool.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace cairn {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);
Sha256Digest HmacSha256(std::string_view key, std::string_view message);

// Compares in time that depends only on the length, not on where the first difference is.
bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t n);

}  // namespace cairn
