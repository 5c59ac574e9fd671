// The authentication handshake's cryptography (docs/protocol.md section 8): the proofs, HMAC-
// SHA256 over a transcript of the key id and both nonces, and the nonces themselves. Pure
// functions over OpenSSL's libcrypto; no I/O, nothing kept.
//
// Thread safety: free functions; OpenSSL 3's RAND_bytes and HMAC are thread-safe.
#pragma once

#include <string_view>

#include "cairn/status.h"
#include "proto/messages.h"
#include "util/key_file.h"  // key ids and secrets: CheckKeyId, CheckSecret

namespace cairn::proto {


enum class AuthRole { kServer, kClient };

// HMAC-SHA256(secret, label || role || 0 || u8 len(key_id) || key_id || client_nonce ||
// server_nonce). REQUIRES: CheckKeyId(key_id) passed.
Proof ComputeProof(AuthRole role, std::string_view secret, std::string_view key_id,
                   const Nonce& client_nonce, const Nonce& server_nonce);
// Compares in constant time.
bool ProofsEqual(const Proof& a, const Proof& b);
// 32 bytes from OpenSSL's CSPRNG. CAIRN_CHECKs that it succeeded: without randomness the
// handshake would be replayable.
Nonce RandomNonce();

}  // namespace cairn::proto
