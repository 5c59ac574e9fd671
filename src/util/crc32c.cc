#include "util/crc32c.h"

#include <isa-l/crc.h>

namespace cairn::crc32c {

// ISA-L returns the raw register; the standard CRC-32C pre- and post-inverts it.
uint32_t Extend(uint32_t crc, const char* data, size_t n) {
  uint32_t reg = ~crc;
  // crc32_iscsi takes an int length; feed large buffers in pieces.
  const char* p = data;
  while (n > 0) {
    size_t piece = n > (size_t{1} << 30) ? (size_t{1} << 30) : n;
    reg = crc32_iscsi(reinterpret_cast<unsigned char*>(const_cast<char*>(p)),
                      static_cast<int>(piece), reg);
    p += piece;
    n -= piece;
  }
  return ~reg;
}

namespace {

// Polynomials over GF(2) modulo the CRC-32C polynomial, in the reflected order the CRC uses:
// bit 31 holds the coefficient of x^0, bit 0 that of x^31.
constexpr uint32_t kReflectedPoly = 0x82F63B78;
constexpr uint32_t kXPow0 = uint32_t{1} << 31;
constexpr uint32_t kXPow8 = uint32_t{1} << (31 - 8);

// a * b mod P. REQUIRES: a != 0 (the loop ends at a's lowest-order set coefficient).
uint32_t MultModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t m = kXPow0;; m >>= 1) {
    if ((a & m) != 0) {
      product ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    b = (b & 1) != 0 ? (b >> 1) ^ kReflectedPoly : b >> 1;  // b *= x
  }
  return product;
}

// x^(8n) mod P: appending n zero bytes multiplies the CRC register by it. Never 0, since x is
// invertible modulo P (P has a constant term).
uint32_t XPow8N(uint64_t n) {
  uint32_t result = kXPow0;
  for (uint32_t square = kXPow8; n != 0; n >>= 1, square = MultModP(square, square))
    if ((n & 1) != 0) result = MultModP(square, result);
  return result;
}

}  // namespace

// With the standard pre- and post-inversion, crc(a ‖ b) = crc(a)·x^(8·|b|) ⊕ crc(b): the
// inversions of the two halves cancel out in the linear part.
uint32_t Combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) {
  return MultModP(XPow8N(len_b), crc_a) ^ crc_b;
}

}  // namespace cairn::crc32c
