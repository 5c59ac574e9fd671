// CRC-32C (Castagnoli) via ISA-L's hardware-accelerated crc32_iscsi.
// Extend() continues a checksum over more bytes: Value(a ‖ b) == Extend(Value(a), b).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cairn::crc32c {

uint32_t Extend(uint32_t crc, const char* data, size_t n);
inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Value(s.data(), s.size()); }

}  // namespace cairn::crc32c
