// The command line (cli/app.hpp): flags that cannot be parsed or fail their checks stop the program
// with exit code 2 and say why on stderr, before anything starts.
#include "cli/app.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace ba::test {
namespace {

struct Outcome {
  int code;
  std::string err;
};

Outcome run(std::initializer_list<const char*> args) {
  std::vector<std::string> storage{"bedrock-agent"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  testing::internal::CaptureStderr();
  const int code = cli::run(static_cast<int>(argv.size()), argv.data());
  return {code, testing::internal::GetCapturedStderr()};
}

TEST(CommandLine, AnUnknownFlagExitsTwoAndNamesIt) {
  auto r = run({"serve", "--no-such-flag"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
}

TEST(CommandLine, AValueOutsideItsCheckExitsTwo) {
  auto r = run({"serve", "--api", "grpc"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--api"), std::string::npos) << r.err;

  r = run({"serve", "--retention-days", "40000"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--retention-days"), std::string::npos) << r.err;

  r = run({"deploy", "--max-rpm", "0"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--max-rpm"), std::string::npos) << r.err;
}

TEST(CommandLine, ANonNumberForANumberExitsTwo) {
  auto r = run({"serve", "--port", "eighty"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--port"), std::string::npos) << r.err;
}

TEST(CommandLine, AnUnknownSubcommandExitsTwo) {
  auto r = run({"frobnicate"});
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(r.err.empty());
}

}  // namespace
}  // namespace ba::test
