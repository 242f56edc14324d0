// Which sanitizer the test binary was built with, for the few tests that must know (a sanitizer's runtime
// needs file descriptors of its own; an instrumented agent is several times slower). GCC defines
// __SANITIZE_ADDRESS__ and __SANITIZE_THREAD__; clang (the sanitize preset's clang 16) defines neither and
// answers __has_feature instead.
#pragma once

#if defined(__has_feature)
#define BA_TEST_HAS_FEATURE(x) __has_feature(x)
#else
#define BA_TEST_HAS_FEATURE(x) 0
#endif

namespace ba::test {

inline constexpr bool kAddressSanitizer =
#if defined(__SANITIZE_ADDRESS__) || BA_TEST_HAS_FEATURE(address_sanitizer)
    true;
#else
    false;
#endif

inline constexpr bool kThreadSanitizer =
#if defined(__SANITIZE_THREAD__) || BA_TEST_HAS_FEATURE(thread_sanitizer)
    true;
#else
    false;
#endif

}  // namespace ba::test
