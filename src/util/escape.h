// Escaping of arbitrary key bytes for terminals and JSON.
//
// Keys are any bytes but NUL, so a key printed raw could span lines, move the cursor, or make
// the JSON output invalid UTF-8. Every function here maps distinct keys to distinct strings
// (backslash is escaped too), so a listing can be read back unambiguously:
//   `\\` is one backslash; `\xHH` is the byte 0xHH; every other character stands for itself.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cairn {

// For plain output: bytes < 0x20, 0x7f, and bytes that are not part of a valid UTF-8 sequence
// become `\xHH`; backslash becomes `\\`. The result never contains a newline.
std::string EscapeKey(std::string_view key);

// For JSON string values: bytes that are not part of valid UTF-8 become `\xHH` and backslash
// becomes `\\`; control characters are left for the JSON encoder (which writes \n, \u0001...).
// The result is always valid UTF-8.
std::string EscapeKeyForJson(std::string_view key);

// For error messages, which embed keys and paths: control bytes and invalid UTF-8 become
// `\xHH` so the message stays on one line; backslashes are kept as they are.
std::string OneLine(std::string_view message);

// Length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0 if there is none.
// Overlong forms, surrogates and code points above U+10FFFF are invalid (RFC 3629).
size_t Utf8SequenceLength(std::string_view s, size_t i);

}  // namespace cairn
