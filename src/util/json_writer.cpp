#include "util/json_writer.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>

namespace ba {

namespace {

// 1 for the bytes a JSON string cannot hold as they are: '"', '\\' and the control characters.
constexpr auto kEscape = [] {
  std::array<unsigned char, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[static_cast<std::size_t>(c)] = 1;
  t['"'] = t['\\'] = 1;
  return t;
}();

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n && !kEscape[p[i]]) ++i;
  if (i == n) {  // nearly always: nothing to escape
    const std::size_t at = out.size();
    out.resize(at + n + 2);
    char* o = out.data() + at;
    o[0] = '"';
    if (n) std::memcpy(o + 1, s.data(), n);
    o[n + 1] = '"';
    return;
  }
  out.reserve(out.size() + n + 16);
  out.push_back('"');
  std::size_t run = 0;  // start of the pending run of bytes that need no escape
  for (; i < n; ++i) {
    const unsigned char c = p[i];
    if (!kEscape[c]) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const char esc[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
        out.append(esc, sizeof esc);
      }
    }
  }
  out.append(s.data() + run, n - run);
  out.push_back('"');
}

void JsonWriter::separate() {
  if (need_comma_) out_.push_back(',');
}

JsonWriter& JsonWriter::open(char c) {
  separate();
  out_.push_back(c);
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::close(char c) {
  out_.push_back(c);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  separate();
  append_json_string(out_, name);
  out_.push_back(':');
  need_comma_ = false;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
  separate();
  append_json_string(out_, s);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(std::int64_t v) {
  separate();
  std::array<char, 24> buf;
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out_.append(buf.data(), end);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(double v) {
  if (!std::isfinite(v)) return null();
  // to_chars writes -0.0 as "-0", which JSON readers (Boost.JSON among them) read as the integer 0.
  if (v == 0 && std::signbit(v)) return raw("-0.0");
  separate();
  std::array<char, 64> buf;
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out_.append(buf.data(), end);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(bool v) { return raw(v ? "true" : "false"); }

JsonWriter& JsonWriter::null() { return raw("null"); }

JsonWriter& JsonWriter::raw(std::string_view json) {
  separate();
  out_ += json;
  need_comma_ = true;
  return *this;
}

}  // namespace ba
