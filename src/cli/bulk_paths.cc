#include "cli/bulk_paths.h"

#include <fmt/format.h>

#include "cairn/store.h"
#include "util/check.h"

namespace cairn::cli {

Result<std::string> ImportKey(std::string_view prefix, std::string_view relative_path) {
  const size_t len = prefix.size() + relative_path.size();
  if (len > kMaxKeyBytes)
    return Status::InvalidArgument(
        fmt::format("its key would be {} bytes; the limit max_key_bytes is {}", len, kMaxKeyBytes));
  std::string key;
  key.reserve(len);
  key.append(prefix);
  key.append(relative_path);
  return key;
}

Result<std::string> ExportPath(std::string_view prefix, std::string_view key) {
  CAIRN_CHECK(key.starts_with(prefix));
  std::string_view rel = key.substr(prefix.size());
  if (rel.empty()) return Status::InvalidArgument("the key names no file below the prefix");
  if (rel.find('\0') != std::string_view::npos)
    return Status::InvalidArgument("the key holds a NUL byte, which no file name can");
  if (rel.front() == '/')
    return Status::InvalidArgument("the key would be an absolute path (it starts with '/')");
  size_t start = 0;
  for (;;) {
    const size_t end = std::min(rel.find('/', start), rel.size());
    std::string_view part = rel.substr(start, end - start);
    if (part.empty())
      return Status::InvalidArgument(
          "the key has an empty path component ('//' or a trailing '/')");
    if (part == "." || part == "..")
      return Status::InvalidArgument(
          fmt::format("the key has a '{}' path component, which could leave the directory", part));
    if (part.size() > kMaxNameBytes)
      return Status::InvalidArgument(
          fmt::format("a path component is {} bytes; the limit for a file name (NAME_MAX) is {}",
                      part.size(), kMaxNameBytes));
    if (end == rel.size()) break;
    start = end + 1;
  }
  return std::string(rel);
}

}  // namespace cairn::cli
