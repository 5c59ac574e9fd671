// How bulk import and export map between file paths under a directory and object keys.
//
//   import: key = prefix + relative path, components joined by '/'
//   export: relative path = key without the prefix, accepted only if it stays inside the
//           directory: not empty, not absolute, no "." or ".." component, no empty component
//           ("a//b", a trailing '/'), no NUL byte, no component longer than NAME_MAX.
//
// A key that fails is reported by name and skipped, never "repaired": two keys must never be
// written to the same file. Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::cli {

// Named bound: the longest file name (one path component) that export writes; Linux's NAME_MAX.
inline constexpr size_t kMaxNameBytes = 255;

// The key for the file at `relative_path` (as found by the walk: components separated by '/',
// no leading '/'). InvalidArgument, naming max_key_bytes, if it would be too long.
Result<std::string> ImportKey(std::string_view prefix, std::string_view relative_path);

// The relative path that `key` exports to. REQUIRES: key starts with prefix. InvalidArgument
// saying why a key would escape the directory or cannot be a file name.
Result<std::string> ExportPath(std::string_view prefix, std::string_view key);

}  // namespace cairn::cli
