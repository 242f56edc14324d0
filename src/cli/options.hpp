#pragma once
// Plain option structs filled by the command-line parser (cli/app.cpp) and run by serve.cpp / simulate.cpp.
#include <cstdint>
#include <string>
#include <vector>

#include "sim/simulator.hpp"

#ifndef BA_VERSION
#define BA_VERSION "0.1.0"
#endif

namespace ba::cli {

inline constexpr const char* kDefaultModelId = "anthropic.claude-3-sonnet-20240229-v1:0";

struct ServeOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string model_id = kDefaultModelId;
  std::string region;   // empty: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1
  std::string profile;  // empty: AWS_PROFILE, else "default"
  std::string history = "sqlite:./data/history.db";
  std::string api = "converse";
  std::string api_keys_file;
  bool allow_anonymous = false;
  bool simulate = false;
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_input_chars = 100'000;
  int max_tokens_limit = 4096;
  std::size_t history_turns = 20;
  int request_timeout_s = 120;
};

// Runs `serve` until SIGINT/SIGTERM. Exit codes: 0 clean shutdown, 1 runtime failure (cannot listen),
// 2 invalid configuration (message on stderr).
int run_serve(const ServeOptions& options);

// Runs `simulate-bedrock` until SIGINT/SIGTERM.
int run_simulate(const sim::SimulatorOptions& options);

}  // namespace ba::cli
