#include "aws/config_file.hpp"

#include <chrono>
#include <cstdint>
#include <ctime>
#include <fstream>
#include <sstream>

#include "util/encoding.hpp"

namespace ba::aws {

IniFile parse_ini(std::string_view text) {
  IniFile file;
  IniSection* section = nullptr;
  std::string* last_value = nullptr;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view raw = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') {
      if (nl == text.size()) break;
      continue;
    }
    if (line.front() == '[') {
      auto close = line.find(']');
      std::string name(trim(line.substr(1, close == std::string_view::npos ? line.size() - 1 : close - 1)));
      section = &file[name];
      last_value = nullptr;
    } else if ((raw.front() == ' ' || raw.front() == '\t') && last_value) {
      *last_value += "\n" + std::string(line);  // continuation / nested sub-section
    } else if (section) {
      auto eq = line.find('=');
      if (eq != std::string_view::npos) {
        std::string key = to_lower(trim(line.substr(0, eq)));
        std::string_view value = trim(line.substr(eq + 1));
        for (std::size_t i = 1; i < value.size(); ++i) {  // inline comment: whitespace then # or ;
          if ((value[i] == '#' || value[i] == ';') && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
            value = trim(value.substr(0, i));
            break;
          }
        }
        auto [it, _] = section->insert_or_assign(std::move(key), std::string(value));
        last_value = &it->second;
      }
    }
    if (nl == text.size()) break;
  }
  return file;
}

std::optional<IniFile> load_ini(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_ini(ss.str());
}

SharedFiles shared_files(const GetEnv& env, const std::optional<std::string>& home_override) {
  std::string home = home_override.value_or(env("HOME").value_or(""));
  auto expand = [&](std::string p) -> std::filesystem::path {
    if (p.starts_with("~/") || p == "~") return std::filesystem::path(home) / p.substr(std::min<std::size_t>(2, p.size()));
    return p;
  };
  SharedFiles f;
  auto cfg = env("AWS_CONFIG_FILE");
  f.config = cfg && !cfg->empty() ? expand(*cfg) : std::filesystem::path(home) / ".aws" / "config";
  auto cred = env("AWS_SHARED_CREDENTIALS_FILE");
  f.credentials = cred && !cred->empty() ? expand(*cred) : std::filesystem::path(home) / ".aws" / "credentials";
  return f;
}

std::string profile_name(std::string_view explicit_profile, const GetEnv& env) {
  if (!explicit_profile.empty()) return std::string(explicit_profile);
  if (auto p = env("AWS_PROFILE"); p && !p->empty()) return *p;
  return "default";
}

std::optional<IniSection> config_profile(const IniFile& config, std::string_view profile) {
  // "[profile NAME]" with any spacing; "[default]" is also accepted for the default profile.
  for (const auto& [name, section] : config) {
    std::string_view n = name;
    if (n.starts_with("profile") && n.size() > 7 && (n[7] == ' ' || n[7] == '\t') && trim(n.substr(7)) == profile)
      return section;
  }
  if (profile == "default") {
    if (auto it = config.find("default"); it != config.end()) return it->second;
  }
  return std::nullopt;
}

std::optional<IniSection> credentials_profile(const IniFile& credentials, std::string_view profile) {
  if (auto it = credentials.find(std::string(profile)); it != credentials.end()) return it->second;
  return std::nullopt;
}

std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text) {
  text = trim(text);
  // Fixed-width decimal fields only (sscanf's %d would take signs, spaces and "+026" as a year).
  auto number = [&](std::size_t at, std::size_t width, int& out) {
    if (at + width > text.size()) return false;
    out = 0;
    for (std::size_t i = at; i < at + width; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!(number(0, 4, y) && text.size() > 4 && text[4] == '-' && number(5, 2, mo) && text.size() > 7 && text[7] == '-' &&
        number(8, 2, d) && text.size() > 10 && text[10] == 'T' && number(11, 2, h) && text.size() > 13 &&
        text[13] == ':' && number(14, 2, mi) && text.size() > 16 && text[16] == ':' && number(17, 2, s)))
    return std::nullopt;
  std::string_view rest = text.substr(19);
  if (!rest.empty() && rest.front() == '.') {  // fractional seconds: ignored
    rest.remove_prefix(1);
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') rest.remove_prefix(1);
  }
  long offset = 0;
  if (rest == "Z" || rest == "z" || rest.empty()) {
    offset = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0, om = 0;
    if (!number(text.size() - 5, 2, oh) || !number(text.size() - 2, 2, om)) return std::nullopt;
    offset = (oh * 3600L + om * 60L) * (rest[0] == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::int64_t t = static_cast<std::int64_t>(timegm(&tm)) - offset;
  // The clock counts nanoseconds in 64 bits: 1677-09-21 to 2262-04-11. Later times ("never expires",
  // 9999-12-31) are the latest it can hold; earlier ones are refused.
  using std::chrono::system_clock;
  constexpr std::int64_t kMax = std::chrono::duration_cast<std::chrono::seconds>(system_clock::duration::max()).count();
  if (t >= kMax) return system_clock::time_point::max();
  if (t <= -kMax) return std::nullopt;
  return system_clock::time_point{std::chrono::seconds{t}};
}

}  // namespace ba::aws
