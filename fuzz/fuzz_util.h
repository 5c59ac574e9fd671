// Helpers shared by the fuzz targets: an invariant check that aborts (libFuzzer saves the input
// as a crash), and the constants the seed generator (fuzz/make_seeds.cc) must agree on.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>

// Aborts with file, line and the failed condition: a broken invariant is a finding, exactly
// like an ASan report.
#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace cairn::fuzz {

// The salt of the volume every record and scanner input is decoded in (the worked example of
// docs/format.md 3.3), so that seeds with valid checksums can be generated ahead of time.
inline constexpr uint64_t kSalt = 0x0123456789ABCDEFull;
// record_fuzz decodes its input as a record written at this offset (the first data offset).
inline constexpr uint64_t kRecordOffset = 4096;
// scanner_fuzz builds a volume with this id and store id around its input.
inline constexpr uint32_t kVolumeId = 1;
inline constexpr uint64_t kStoreId = 0x5EED5EED5EED5EEDull;

// The first input byte of record_fuzz and scanner_fuzz: which checksums to bypass.
inline constexpr uint8_t kBypassHeaderCrc = 1;
inline constexpr uint8_t kBypassValueCrc = 2;

}  // namespace cairn::fuzz
