#pragma once

namespace ba::cli {
// Parses the command line and runs a subcommand (serve, simulate-bedrock, ...); returns the exit code.
int run(int argc, char** argv);
}  // namespace ba::cli
