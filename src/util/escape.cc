#include "util/escape.h"

namespace cairn {
namespace {

enum class Mode { kPlain, kJson, kMessage };

void AppendHex(unsigned char b, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->append("\\x");
  out->push_back(kHex[b >> 4]);
  out->push_back(kHex[b & 0xf]);
}

std::string Escape(std::string_view s, Mode mode) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b >= 0x80) {
      size_t n = Utf8SequenceLength(s, i);
      if (n == 0) {
        AppendHex(b, &out);
        i++;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    if ((b < 0x20 || b == 0x7f) && mode != Mode::kJson) {
      AppendHex(b, &out);
    } else if (b == '\\' && mode != Mode::kMessage) {
      out.append("\\\\");
    } else {
      out.push_back(static_cast<char>(b));
    }
    i++;
  }
  return out;
}

}  // namespace

size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  // The second byte's range is narrower after some lead bytes: that is what excludes overlong
  // forms (E0, F0), UTF-16 surrogates (ED) and code points past U+10FFFF (F4).
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c == 0xe0) {
    n = 3;
    lo = 0xa0;
  } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
    n = 3;
  } else if (c == 0xed) {
    n = 3;
    hi = 0x9f;
  } else if (c == 0xf0) {
    n = 4;
    lo = 0x90;
  } else if (c >= 0xf1 && c <= 0xf3) {
    n = 4;
  } else if (c == 0xf4) {
    n = 4;
    hi = 0x8f;
  } else {
    return 0;  // a continuation byte, C0/C1 (always overlong) or F5..FF
  }
  if (s.size() - i < n) return 0;
  const auto second = static_cast<unsigned char>(s[i + 1]);
  if (second < lo || second > hi) return 0;
  for (size_t k = 2; k < n; k++) {
    const auto cont = static_cast<unsigned char>(s[i + k]);
    if (cont < 0x80 || cont > 0xbf) return 0;
  }
  return n;
}

std::string EscapeKey(std::string_view key) { return Escape(key, Mode::kPlain); }
std::string EscapeKeyForJson(std::string_view key) { return Escape(key, Mode::kJson); }
std::string OneLine(std::string_view message) { return Escape(message, Mode::kMessage); }

}  // namespace cairn
