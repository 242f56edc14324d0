#pragma once
// FUZZ_CHECK, what every fuzzer (fuzz/, docs/testing.md "Fuzzing") checks its invariants with: a failed
// check prints where and aborts, and libFuzzer saves the input as crash-*.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)
