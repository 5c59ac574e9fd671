// Explicit little-endian encoding of fixed-width integers (docs/format.md: "no struct memcpy").
// On x86-64 each function compiles to one load or store.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace cairn {

inline void EncodeFixed16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
}
inline void EncodeFixed32(char* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<char>(v >> (8 * i));
}
inline void EncodeFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<char>(v >> (8 * i));
}
inline void EncodeBigEndian32(char* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<char>(v >> (8 * (3 - i)));
}
inline void EncodeBigEndian64(char* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<char>(v >> (8 * (7 - i)));
}
inline uint16_t DecodeFixed16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}
inline uint32_t DecodeFixed32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | u[i];
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | u[i];
  return v;
}
inline uint32_t DecodeBigEndian32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}
inline uint64_t DecodeBigEndian64(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | u[i];
  return v;
}
inline void PutFixed8(std::string* dst, uint8_t v) { dst->push_back(static_cast<char>(v)); }
inline void PutFixed16(std::string* dst, uint16_t v) {
  char b[2];
  EncodeFixed16(b, v);
  dst->append(b, 2);
}
inline void PutFixed32(std::string* dst, uint32_t v) {
  char b[4];
  EncodeFixed32(b, v);
  dst->append(b, 4);
}
inline void PutFixed64(std::string* dst, uint64_t v) {
  char b[8];
  EncodeFixed64(b, v);
  dst->append(b, 8);
}

// A bounds-checked cursor over little-endian fixed-width fields: every Get returns false, and
// consumes nothing, when fewer bytes remain than it needs.
struct ByteReader {
  std::string_view in;
  bool GetFixed8(uint8_t* v) {
    if (in.size() < 1) return false;
    *v = static_cast<uint8_t>(in[0]);
    in.remove_prefix(1);
    return true;
  }
  bool GetFixed16(uint16_t* v) {
    if (in.size() < 2) return false;
    *v = DecodeFixed16(in.data());
    in.remove_prefix(2);
    return true;
  }
  bool GetFixed32(uint32_t* v) {
    if (in.size() < 4) return false;
    *v = DecodeFixed32(in.data());
    in.remove_prefix(4);
    return true;
  }
  bool GetFixed64(uint64_t* v) {
    if (in.size() < 8) return false;
    *v = DecodeFixed64(in.data());
    in.remove_prefix(8);
    return true;
  }
  bool GetBytes(size_t n, std::string* s) {
    if (in.size() < n) return false;
    s->assign(in.data(), n);
    in.remove_prefix(n);
    return true;
  }
};

inline constexpr uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace cairn
