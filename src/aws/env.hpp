#pragma once
// The environment as the AWS code reads it: a function, so that tests pass their own variables.
// A header of its own so that config_file.hpp and endpoints.hpp both use it without including each
// other (endpoints.cpp reads the shared config file for the profile's region).
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace ba::aws {

using GetEnv = std::function<std::optional<std::string>(std::string_view)>;
// The process's environment (getenv).
GetEnv process_env();

}  // namespace ba::aws
