// Which sanitizer the test binary was built with, for the few tests that must know (a sanitizer's runtime
// needs file descriptors of its own; an instrumented agent is several times slower). GCC defines
// __SANITIZE_ADDRESS__ and __SANITIZE_THREAD__; clang (the sanitize preset's clang 16) defines neither and
// answers __has_feature instead.
#pragma once

namespace ba::test {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
#else
inline constexpr bool kThreadSanitizer = false;
#endif

}  // namespace ba::test
