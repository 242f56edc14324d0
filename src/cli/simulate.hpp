#pragma once
// `simulate-bedrock`: the Bedrock simulator (src/sim) on its own, as a server. Its options are the
// simulator's own (sim::SimulatorOptions), filled by the command-line parser (cli/app.cpp).
#include "sim/simulator.hpp"

namespace ba::cli {

// Runs `simulate-bedrock` until SIGINT/SIGTERM.
int run_simulate(const sim::SimulatorOptions& options);

}  // namespace ba::cli
