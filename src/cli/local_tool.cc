#include "cli/local_tool.h"

#include <fmt/format.h>
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/escape.h"

namespace cairn::cli {

std::string LocalToolPath() {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "";
  std::string path(self, static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return path.substr(0, slash + 1) + kLocalToolName;
}

Outcome ExecLocalTool(char** argv) {
  const std::string path = LocalToolPath();
  if (path.empty())
    return Outcome::Error(fmt::format("cannot find {} (the local store's tool): reading "
                                      "/proc/self/exe failed: {}",
                                      kLocalToolName, std::strerror(errno)));
  ::execv(path.c_str(), argv);
  const int err = errno;
  return Outcome::Error(fmt::format(
      "cannot run {} (the local store's tool, installed beside cairn): {}; build or install it "
      "there, or use --server or --cluster",
      OneLine(path), std::strerror(err)));
}

}  // namespace cairn::cli
