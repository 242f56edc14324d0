#pragma once
// A minimal "{}" formatter for the simulator's messages (g++ 12 has no std::format).
#include <charconv>
#include <concepts>
#include <string>
#include <string_view>

namespace ba::sim::detail {

inline void append(std::string& out, std::string_view s) { out += s; }
inline void append(std::string& out, const char* s) { out += s; }
inline void append(std::string& out, const std::string& s) { out += s; }
inline void append(std::string& out, char c) { out += c; }
template <std::integral I>
  requires(!std::same_as<I, char> && !std::same_as<I, bool>)
void append(std::string& out, I v) {
  out += std::to_string(v);
}
inline void append(std::string& out, double v) {
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc{} ? ptr : buf);
}

inline void format_into(std::string& out, std::string_view pattern) { out += pattern; }

template <class A, class... Rest>
void format_into(std::string& out, std::string_view pattern, const A& a, const Rest&... rest) {
  const auto at = pattern.find("{}");
  if (at == std::string_view::npos) {
    out += pattern;
    return;
  }
  out += pattern.substr(0, at);
  append(out, a);
  format_into(out, pattern.substr(at + 2), rest...);
}

// format("a {} b {}", x, y): each "{}" takes the next argument.
template <class... A>
std::string format(std::string_view pattern, const A&... args) {
  std::string out;
  format_into(out, pattern, args...);
  return out;
}

}  // namespace ba::sim::detail
