// The simulator on a real port, checked by the official AWS SDK for JavaScript (tests/node/sim_sdk_check.mjs).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/sim_harness.hpp"

namespace ba::sim {
namespace {

bool node_available() {
  if (!std::filesystem::exists(std::filesystem::path(BA_SOURCE_DIR) / "node_modules" / "@aws-sdk" / "client-bedrock-runtime"))
    return false;
  return std::system("node --version > /dev/null 2>&1") == 0;
}

TEST(SimulatorSdkOracle, OfficialClientParsesEveryOperationAndError) {
  if (!node_available()) GTEST_SKIP() << "node or node_modules/@aws-sdk/client-bedrock-runtime not available";
  SimulatorOptions opts;
  opts.access_key_id = "AKIDSIMULATOR";
  opts.secret_access_key = "sim-secret";
  opts.ttft = std::chrono::milliseconds(2);
  opts.per_token = std::chrono::milliseconds(1);
  testing::SimThread server(opts);

  const auto out = std::filesystem::temp_directory_path() / ("ba-sim-sdk-" + std::to_string(server.port()) + ".json");
  const std::string cmd = "cd '" + std::string(BA_SOURCE_DIR) + "' && NODE_NO_WARNINGS=1 node tests/node/sim_sdk_check.mjs " +
                          std::to_string(server.port()) + " AKIDSIMULATOR sim-secret > '" + out.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::stringstream ss;
  ss << std::ifstream(out).rdbuf();
  std::filesystem::remove(out);
  EXPECT_EQ(rc, 0) << ss.str();
  EXPECT_NE(ss.str().find("\"failed\": 0"), std::string::npos) << ss.str();
  const auto stats = server.sim().stats();
  EXPECT_GT(stats.requests.at("Converse"), 10u);
  EXPECT_GT(stats.requests.at("InvokeModelWithResponseStream"), 5u);
  EXPECT_EQ(stats.auth_failures, 2u);
}

}  // namespace
}  // namespace ba::sim
