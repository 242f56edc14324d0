#pragma once
// The AWS shared config and credentials files (~/.aws/config, ~/.aws/credentials): a small INI
// reader and the profile lookup rules the SDKs use. Used by the credentials chain and region resolution.
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "aws/env.hpp"

namespace ba::aws {

using IniSection = std::map<std::string, std::string>;  // lower-cased key -> value
using IniFile = std::map<std::string, IniSection>;      // section name as written (trimmed) -> keys

// '#' and ';' start comment lines (and inline comments after whitespace); indented lines continue
// the previous key's value (nested sub-sections such as "s3 =\n  x = y" are kept as raw text).
IniFile parse_ini(std::string_view text);
// nullopt if the file cannot be read.
std::optional<IniFile> load_ini(const std::filesystem::path& path);

struct SharedFiles {
  std::filesystem::path config;       // AWS_CONFIG_FILE or ~/.aws/config
  std::filesystem::path credentials;  // AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials
};
// `home` overrides $HOME; a leading "~/" in the env paths is expanded.
SharedFiles shared_files(const GetEnv& env, const std::optional<std::string>& home = std::nullopt);

// The profile name in effect: `explicit_profile`, else AWS_PROFILE, else "default".
std::string profile_name(std::string_view explicit_profile, const GetEnv& env);

// Section of a profile: config uses "[profile NAME]" (and "[default]" for default); credentials "[NAME]".
std::optional<IniSection> config_profile(const IniFile& config, std::string_view profile);
std::optional<IniSection> credentials_profile(const IniFile& credentials, std::string_view profile);

// Parses an ISO-8601 / RFC 3339 UTC time ("2026-11-25T13:00:00Z", fractional seconds and +hh:mm offsets
// allowed), as found in credential responses: YYYY-MM-DDTHH:MM:SS, digits only. A time after 2262-04-11
// (the clock's range; "9999-12-31T23:59:59Z" for credentials that never expire) is the clock's latest;
// one before 1677-09-21 is nullopt.
std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text);

}  // namespace ba::aws
