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

}  // namespace cairn::crc32c
