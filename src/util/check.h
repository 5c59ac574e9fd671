// CAIRN_CHECK: a bug check that stays on in release builds. Used where continuing would risk
// data (STYLE.md habit 11). It prints file and line and aborts; it is never turned into a Status.
#pragma once

#include <cstdio>
#include <cstdlib>

#define CAIRN_CHECK(cond)                                                             \
  do {                                                                                \
    if (__builtin_expect(!(cond), 0)) {                                               \
      std::fprintf(stderr, "%s:%d: CAIRN_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)
