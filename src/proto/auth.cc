#include "proto/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <string>

#include "util/check.h"

namespace cairn::proto {

Proof ComputeProof(AuthRole role, std::string_view secret, std::string_view key_id,
                   const Nonce& client_nonce, const Nonce& server_nonce) {
  CAIRN_CHECK(key_id.size() <= kMaxKeyIdBytes);
  std::string t;
  t.reserve(kAuthLabel.size() + 8 + 1 + key_id.size() + 2 * kNonceBytes);
  t.append(kAuthLabel);
  t.append(role == AuthRole::kServer ? std::string_view("server\0", 7)
                                     : std::string_view("client\0", 7));
  t.push_back(static_cast<char>(key_id.size()));
  t.append(key_id);
  t.append(reinterpret_cast<const char*>(client_nonce.data()), client_nonce.size());
  t.append(reinterpret_cast<const char*>(server_nonce.data()), server_nonce.size());
  Proof p{};
  unsigned int len = 0;
  const unsigned char* r =
      HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(t.data()), t.size(), p.data(), &len);
  CAIRN_CHECK(r != nullptr && len == p.size());
  return p;
}

bool ProofsEqual(const Proof& a, const Proof& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Nonce RandomNonce() {
  Nonce n{};
  CAIRN_CHECK(RAND_bytes(n.data(), static_cast<int>(n.size())) == 1);
  return n;
}

}  // namespace cairn::proto
