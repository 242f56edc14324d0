// The AWS shared config/credentials file reader (aws::parse_ini, config_profile, credentials_profile) and
// the ISO-8601 reader used for credential expirations (aws::parse_iso8601); docs/testing.md, "Fuzzing".
// Checked:
// - keys are lower-case and trimmed, section names and each line of a value trimmed;
// - the parsed file written back as INI (values' continuation lines indented) parses to the same file;
// - every "[profile NAME]" section is found by config_profile(NAME), every section by credentials_profile;
// - parse_iso8601 accepts only YYYY-MM-DDTHH:MM:SS[.fraction][Z|+hh:mm|-hh:mm] (surrounding whitespace
//   aside), and what it accepts (within the clock's range) is the time iso8601_ms writes back.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "aws/config_file.hpp"
#include "fuzz_check.hpp"
#include "util/clock.hpp"
#include "util/encoding.hpp"

namespace {

std::string write_ini(const ba::aws::IniFile& file) {
  std::string out;
  for (const auto& [name, section] : file) {
    out += "[" + name + "]\n";
    for (const auto& [key, value] : section) {
      out += key + " = ";
      std::size_t start = 0;
      for (;;) {
        auto nl = value.find('\n', start);
        out.append(value, start, nl == std::string::npos ? std::string::npos : nl - start);
        if (nl == std::string::npos) break;
        out += "\n  ";
        start = nl + 1;
      }
      out += '\n';
    }
  }
  return out;
}

bool digits(std::string_view s, std::size_t at, std::size_t n) {
  if (at + n > s.size()) return false;
  for (std::size_t i = at; i < at + n; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// The grammar parse_iso8601 documents, checked independently.
bool iso8601_shape(std::string_view s) {
  s = ba::trim(s);
  if (s.size() < 19) return false;
  if (!(digits(s, 0, 4) && s[4] == '-' && digits(s, 5, 2) && s[7] == '-' && digits(s, 8, 2) && s[10] == 'T' &&
        digits(s, 11, 2) && s[13] == ':' && digits(s, 14, 2) && s[16] == ':' && digits(s, 17, 2)))
    return false;
  std::string_view rest = s.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    rest.remove_prefix(1);
    while (!rest.empty() && rest[0] >= '0' && rest[0] <= '9') rest.remove_prefix(1);
  }
  if (rest.empty() || rest == "Z" || rest == "z") return true;
  return rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && digits(rest, 1, 2) && rest[3] == ':' &&
         digits(rest, 4, 2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const ba::aws::IniFile file = ba::aws::parse_ini(text);
  for (const auto& [name, section] : file) {
    FUZZ_CHECK(ba::trim(name) == name);
    for (const auto& [key, value] : section) {
      FUZZ_CHECK(ba::trim(key) == key && ba::to_lower(key) == key);
      // Each line trimmed (a nested sub-section's value starts with '\n': "s3 =\n  x = y").
      for (std::size_t start = 0;;) {
        auto nl = value.find('\n', start);
        const std::string_view part = std::string_view(value).substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        FUZZ_CHECK(ba::trim(part) == part);
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
    }
    FUZZ_CHECK(ba::aws::credentials_profile(file, name).has_value());
    std::string_view n = name;
    if (n.starts_with("profile") && n.size() > 7 && (n[7] == ' ' || n[7] == '\t')) {
      FUZZ_CHECK(ba::aws::config_profile(file, ba::trim(n.substr(7))).has_value());
    }
  }
  const ba::aws::IniFile again = ba::aws::parse_ini(write_ini(file));
  FUZZ_CHECK(again == file);

  // The first line as a time.
  const std::string_view line = text.substr(0, std::min<std::size_t>(text.find('\n'), 64));
  if (auto t = ba::aws::parse_iso8601(line)) {
    FUZZ_CHECK(iso8601_shape(line));
    if (*t != ba::WallTime::max()) {  // a later time is the clock's latest
      auto back = ba::aws::parse_iso8601(ba::iso8601_ms(*t));
      FUZZ_CHECK(back && *back == *t);
    }
  }
  return 0;
}
