#include "cli/app.hpp"

#include <cstdio>

namespace ba::cli {
int run(int, char**) {
  std::puts("bedrock-agent: not yet implemented");
  return 0;
}
}  // namespace ba::cli
