#include "store/history.hpp"

#include "util/encoding.hpp"

namespace ba::store {

std::string conversation_title(std::string_view first_input) {
  std::string out;
  std::size_t chars = 0;
  bool space = false;
  for (std::size_t i = 0; i < first_input.size();) {
    const auto c = static_cast<unsigned char>(first_input[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    if (i + len > first_input.size()) len = first_input.size() - i;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
      ++i;
      continue;
    }
    if (chars + (space ? 1 : 0) >= kTitleChars) {
      out += "\u2026";
      return out;
    }
    if (space) {
      out += ' ';
      ++chars;
      space = false;
    }
    out.append(first_input.substr(i, len));
    ++chars;
    i += len;
  }
  return out;
}

std::string encode_cursor(std::string_view position) {
  std::string s = base64_encode(position);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return s;
}

std::optional<std::string> decode_cursor(std::string_view cursor) {
  if (cursor.empty() || cursor.size() > 1024) return std::nullopt;
  std::string s(cursor);
  for (char& c : s) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (c == '+' || c == '/' || c == '=') return std::nullopt;
  }
  while (s.size() % 4 != 0) s += '=';
  return base64_decode(s);
}

}  // namespace ba::store
