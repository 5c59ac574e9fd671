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

// The checksum of a ‖ b from the checksums of a and b and the length of b, without the bytes:
// Combine(Value(a), Value(b), b.size()) == Value(a ‖ b). Costs O(log len_b) small GF(2)
// multiplications. Verify uses it to check a large object's CRC from its chunks' CRCs, which
// the scan has already checked, instead of reading every chunk a second time.
uint32_t Combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

}  // namespace cairn::crc32c
