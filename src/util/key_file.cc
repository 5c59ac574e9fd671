#include "util/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace cairn {

Status CheckKeyId(std::string_view key_id) {
  if (key_id.empty() || key_id.size() > kMaxKeyIdBytes)
    return Status::InvalidArgument("a key id is 1 to " + std::to_string(kMaxKeyIdBytes) +
                                   " bytes, not " + std::to_string(key_id.size()));
  for (char c : key_id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return Status::InvalidArgument("a key id may only hold letters, digits, '.', '_' and '-'");
  }
  return Status::OK();
}

Status CheckSecret(std::string_view secret) {
  if (secret.size() < kMinSecretBytes || secret.size() > kMaxSecretBytes)
    return Status::InvalidArgument("a key's secret is " + std::to_string(kMinSecretBytes) +
                                   " to " + std::to_string(kMaxSecretBytes) + " bytes, not " +
                                   std::to_string(secret.size()));
  return Status::OK();
}

Result<AuthKey> ParseAuthKey(std::string_view text, std::string_view from) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  const std::string where(from);
  if (text.find('\n') != std::string_view::npos)
    return Status::InvalidArgument(where + ": a key is one line, ID:SECRET");
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos)
    return Status::InvalidArgument(where + ": expected ID:SECRET (no ':' found)");
  AuthKey k{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
  if (Status s = CheckKeyId(k.id); !s.ok()) return s.WithContext(where);
  if (Status s = CheckSecret(k.secret); !s.ok()) return s.WithContext(where);
  return k;
}

Result<std::string> ReadPrivateFile(const std::string& path, std::string_view what) {
  const std::string w(what);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "cannot read the " + w + " " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Status s = Status::FromErrno(errno, "fstat " + path);
    ::close(fd);
    return s;
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::PermissionDenied("the " + w + " " + path + " holds secrets but its group or " +
                                    "others may use it (mode " + mode +
                                    "); refusing to read it: chmod 600 " + path);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Status::FromErrno(errno, "read " + path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) {
      ::close(fd);
      return Status::LimitExceeded("the " + w + " " + path + " is over 1 MiB");
    }
  }
  ::close(fd);
  return out;
}

Result<AuthKey> ReadKeyFile(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadPrivateFile(path, "key file"));
  return ParseAuthKey(text, path);
}

}  // namespace cairn
