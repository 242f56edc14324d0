#include "store/files.hpp"

namespace ba::store {
namespace {

// Length of the UTF-8 sequence starting at s[i] if it is well formed (no overlongs, no surrogates,
// at most U+10FFFF); 0 otherwise.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n;
  std::uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

bool token_char(char c) {
  // RFC 7230 tchar
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool valid_token(std::string_view t) {
  if (t.empty() || t.size() > 127) return false;
  for (char c : t) {
    if (!token_char(c)) return false;
  }
  return true;
}

std::string_view trim_spaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool valid_file_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  for (std::size_t i = 0; i < name.size();) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') return false;
    std::size_t n = utf8_sequence(name, i);
    if (n == 0) return false;
    // C1 control characters (U+0080..U+009F) are control characters too.
    if (n == 2 && c == 0xC2 && static_cast<unsigned char>(name[i + 1]) < 0xA0) return false;
    i += n;
  }
  return true;
}

bool valid_file_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool valid_content_type(std::string_view type) {
  if (type.empty() || type.size() > 255) return false;
  std::string_view main = type;
  std::string_view params;
  if (auto semi = type.find(';'); semi != std::string_view::npos) {
    main = type.substr(0, semi);
    params = type.substr(semi + 1);
  }
  main = trim_spaces(main);
  auto slash = main.find('/');
  if (slash == std::string_view::npos) return false;
  if (!valid_token(main.substr(0, slash)) || !valid_token(main.substr(slash + 1))) return false;
  if (type.find(';') == std::string_view::npos) return true;
  // One parameter at most, and only charset=<token>.
  params = trim_spaces(params);
  auto eq = params.find('=');
  if (eq == std::string_view::npos) return false;
  std::string_view key = trim_spaces(params.substr(0, eq));
  std::string_view value = trim_spaces(params.substr(eq + 1));
  if (key.size() != 7) return false;
  for (std::size_t i = 0; i < 7; ++i) {
    char c = key[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != "charset"[i]) return false;
  }
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
  return valid_token(value);
}

bool valid_blob_key(std::string_view key) {
  if (key.empty() || key.size() > 1024) return false;
  std::size_t start = 0;
  while (true) {
    auto slash = key.find('/', start);
    std::string_view seg = key.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                c == '.';
      if (!ok) return false;
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

}  // namespace ba::store
