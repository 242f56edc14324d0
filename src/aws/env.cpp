#include "aws/env.hpp"

#include <cstdlib>

namespace ba::aws {

GetEnv process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

}  // namespace ba::aws
