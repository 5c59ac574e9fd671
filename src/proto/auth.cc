#include "proto/auth.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "util/check.h"
#include "util/hmac_sha256.h"

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
  // util's HMAC, not OpenSSL's: a short `cairn` call makes one connection, and OpenSSL 3's
  // first HMAC in a process costs about 1 ms of provider set-up (issue 11).
  static_assert(sizeof(Proof) == sizeof(Sha256Digest));
  const Sha256Digest d = HmacSha256(secret, t);
  Proof p{};
  std::copy(d.begin(), d.end(), p.begin());
  return p;
}

bool ProofsEqual(const Proof& a, const Proof& b) {
  return ConstantTimeEqual(a.data(), b.data(), a.size());
}

// From the kernel's CSPRNG (getrandom(2)) rather than RAND_bytes: the nonce needs nothing more,
// and the first RAND_bytes of a process sets up OpenSSL's DRBG, about 0.5 ms of every short-lived
// `cairn` call (issue 11).
Nonce RandomNonce() {
  Nonce n{};
  size_t done = 0;
  while (done < n.size()) {
    const ssize_t got = ::getrandom(n.data() + done, n.size() - done, 0);
    if (got < 0 && errno == EINTR) continue;
    CAIRN_CHECK(got > 0);
    done += static_cast<size_t>(got);
  }
  return n;
}

}  // namespace cairn::proto
