// Authentication keys (docs/protocol.md section 8) as files and text: a key is an id (1 to 64
// bytes of A-Z a-z 0-9 . _ -; it is logged) and a secret (16 to 1,024 bytes; never logged,
// never in an error message). A key file holds one line "ID:SECRET".
//
// Files that hold secrets (a key file, cairnd's config) are read only when neither their group
// nor others may read them, as ssh does with private keys: the error says so and how to fix it.
//
// Thread safety: free functions.
#pragma once

#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn {

inline constexpr size_t kMaxKeyIdBytes = 64;
inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kMaxSecretBytes = 1024;

struct AuthKey {
  std::string id;
  std::string secret;
};

// InvalidArgument naming what is wrong (never the secret itself).
Status CheckKeyId(std::string_view key_id);
Status CheckSecret(std::string_view secret);

// Parses "ID:SECRET" (a final newline, and spaces around it, are dropped). `from` names where
// the text came from in errors ("$CAIRN_KEY", the file's path).
Result<AuthKey> ParseAuthKey(std::string_view text, std::string_view from);

// Reads a whole file that holds secrets. PermissionDenied if its group or others may read it;
// NotFound if it does not exist; `what` names it in errors ("config file", "key file").
Result<std::string> ReadPrivateFile(const std::string& path, std::string_view what);

// ReadPrivateFile, then ParseAuthKey.
Result<AuthKey> ReadKeyFile(const std::string& path);

}  // namespace cairn
