// BOOST_ASSERT's handler in Debug builds (the sanitize, tsan and fuzz presets; BOOST_ENABLE_ASSERT_DEBUG_HANDLER
// in CMakeLists.txt; release builds compile assertions out and never call it). A failed assertion prints
// where and aborts, as Boost's default does (so libFuzzer saves the input and a sanitizer run fails), with
// one exception. Boost 1.81 Beast's basic_parser::parse_chunk_header asserts `n >= 5`, but a chunk header can
// legitimately be reached with 3 or 4 bytes buffered (`0\r\n`, then the final `\r\n` in a later read);
// the code after it returns need_more correctly. Beast relaxed the assertion after 1.81 (boostorg/beast
// pull request 2861: `n >= 5` only when a CRLF is expected first, else `n >= 3`); the `n >= 3` that
// follows it in the same function still checks the lower bound. docs/testing.md, "Fuzzing";
// tests/net/request_reader_test.cpp replays the input the fuzzer found.
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool beast_chunk_header_relaxed(const char* expr, const char* function) {
  return std::strcmp(expr, "n >= 5") == 0 && function != nullptr && std::strstr(function, "parse_chunk_header") != nullptr;
}

[[noreturn]] void fail(const char* expr, const char* msg, const char* function, const char* file, long line) {
  std::fprintf(stderr, "BOOST_ASSERT failed at %s:%ld in %s: %s%s%s\n", file, line, function, expr, msg ? ": " : "",
               msg ? msg : "");
  std::abort();
}

}  // namespace

namespace boost {

void assertion_failed(const char* expr, const char* function, const char* file, long line) {
  if (beast_chunk_header_relaxed(expr, function)) return;
  fail(expr, nullptr, function, file, line);
}

void assertion_failed_msg(const char* expr, const char* msg, const char* function, const char* file, long line) {
  fail(expr, msg, function, file, line);
}

}  // namespace boost
