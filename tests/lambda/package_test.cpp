// The Lambda binary end to end: the real executable (the normal build's bedrock-agent, and the packaged
// `bootstrap` when `make package` has made build-lambda-pkg/bedrock-agent-lambda.zip) started with
// AWS_LAMBDA_RUNTIME_API pointing at a fake Runtime API and the bundled simulator as Bedrock; and the
// package check (scripts/check-lambda-zip.sh) on the package and on a binary it must reject.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "lambda/binary_harness.hpp"

namespace ba::test {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(LambdaPackageCheck, AcceptsThePackage) {
  const fs::path zip = package_zip();
  if (!fs::exists(zip)) GTEST_SKIP() << zip << " does not exist: run `make package` first";
  ShellRun r = shell(quote(source_dir() / "scripts/check-lambda-zip.sh") + " " + quote(zip));
  EXPECT_EQ(r.rc, 0) << r.output;
  EXPECT_NE(r.output.find("check-lambda-zip: OK"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("checked bootstrap"), std::string::npos) << r.output;
}

// The normal build links OpenSSL, SQLite, Boost and libstdc++ as shared libraries: the check must say so.
TEST(LambdaPackageCheck, RejectsTheDynamicallyLinkedBuild) {
  const fs::path binary = fs::path(BA_BINARY_DIR) / "bedrock-agent";
  if (!fs::exists(binary)) GTEST_SKIP() << binary << " is not built";
  if (shell("command -v zip").rc != 0) GTEST_SKIP() << "zip is not installed";
  TempDir dir;
  fs::copy_file(binary, dir.path() / "bootstrap");
  fs::permissions(dir.path() / "bootstrap", fs::perms(0755));
  ShellRun z = shell("cd " + quote(dir.path()) + " && zip -q bad.zip bootstrap");
  ASSERT_EQ(z.rc, 0) << z.output;
  ShellRun r = shell(quote(source_dir() / "scripts/check-lambda-zip.sh") + " " + quote(dir.path() / "bad.zip"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("needs libssl.so.3, which is neither glibc's nor in the zip"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("needs libstdc++.so.6"), std::string::npos) << r.output;
}

// The trap the package avoids: a program built here that calls arc4random needs GLIBC_2.36.
TEST(LambdaPackageCheck, RejectsSymbolVersionsNewerThanGlibc234) {
  if (shell("command -v zip && command -v c++").rc != 0) GTEST_SKIP() << "zip or c++ is not installed";
  TempDir dir;
  std::FILE* f = std::fopen((dir.path() / "t.cpp").c_str(), "w");
  ASSERT_TRUE(f);
  std::fputs("#include <stdlib.h>\nint main() { return static_cast<int>(arc4random() & 1u); }\n", f);
  std::fclose(f);
  ShellRun cc = shell("cd " + quote(dir.path()) + " && c++ -o bootstrap t.cpp");
  if (cc.rc != 0) GTEST_SKIP() << "this machine's glibc has no arc4random (older than 2.36): " << cc.output;
  ASSERT_EQ(shell("cd " + quote(dir.path()) + " && zip -q x.zip bootstrap").rc, 0);
  ShellRun r = shell(quote(source_dir() / "scripts/check-lambda-zip.sh") + " " + quote(dir.path() / "x.zip"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("needs GLIBC_2.36 (> GLIBC_2.34): arc4random@GLIBC_2.36"), std::string::npos) << r.output;
}

TEST(LambdaPackageCheck, RejectsAZipWithoutBootstrap) {
  TempDir dir;
  std::FILE* f = std::fopen((dir.path() / "handler").c_str(), "w");
  ASSERT_TRUE(f);
  std::fputs("#!/bin/sh\n", f);
  std::fclose(f);
  if (shell("command -v zip").rc != 0) GTEST_SKIP() << "zip is not installed";
  ASSERT_EQ(shell("cd " + quote(dir.path()) + " && zip -q x.zip handler").rc, 0);
  ShellRun r = shell(quote(source_dir() / "scripts/check-lambda-zip.sh") + " " + quote(dir.path() / "x.zip"));
  EXPECT_EQ(r.rc, 1) << r.output;
  EXPECT_NE(r.output.find("no bootstrap at the root"), std::string::npos) << r.output;
}

constexpr std::string_view kModel = "anthropic.claude-3-haiku-20240307-v1:0";

std::string v1_chat(std::string_view body) {
  json::object ev;
  ev["resource"] = "/chat";
  ev["path"] = "/chat";
  ev["httpMethod"] = "POST";
  ev["headers"] = json::object{{"content-type", "application/json"}};
  ev["multiValueHeaders"] = json::object{{"content-type", json::array{"application/json"}}};
  ev["requestContext"] = json::object{{"stage", "prod"},
                                      {"requestId", "gw-v1"},
                                      {"identity", json::object{{"apiKeyId", "key-id-1"}, {"sourceIp", "203.0.113.9"}}}};
  ev["body"] = body;
  ev["isBase64Encoded"] = false;
  return json::serialize(ev);
}

std::string v2_chat(std::string_view body) {
  json::object ev;
  ev["version"] = "2.0";
  ev["routeKey"] = "POST /chat";
  ev["rawPath"] = "/chat";
  ev["rawQueryString"] = "";
  ev["headers"] = json::object{{"content-type", "application/json"}};
  ev["requestContext"] = json::object{
      {"http", json::object{{"method", "POST"}, {"path", "/chat"}, {"sourceIp", "192.0.2.7"}}},
      {"stage", "$default"},
      {"authorizer", json::object{{"lambda", json::object{{"principalId", "user-7"}}}}}};
  ev["body"] = body;
  ev["isBase64Encoded"] = false;
  return json::serialize(ev);
}

// The binaries under test: the normal build's, and the packaged bootstrap (unzipped) when it exists.
struct Binary {
  std::string name;
  fs::path path;  // empty: skip with `why`
  std::string why;
};

Binary normal_binary() {
  fs::path b = fs::path(BA_BINARY_DIR) / "bedrock-agent";
  if (!fs::exists(b)) return {"bedrock-agent", {}, b.string() + " is not built"};
  return {"bedrock-agent", b, {}};
}

class LambdaBinaryTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "build") {
      auto b = normal_binary();
      if (b.path.empty()) GTEST_SKIP() << b.why;
      binary_ = b.path;
    } else {
      const fs::path zip = package_zip();
      if (!fs::exists(zip)) GTEST_SKIP() << zip << " does not exist: run `make package` first";
      ShellRun r = shell("unzip -q " + quote(zip) + " -d " + quote(dir_.path() / "pkg"));
      ASSERT_EQ(r.rc, 0) << r.output;
      binary_ = dir_.path() / "pkg" / "bootstrap";
    }
  }
  // Env of a Lambda container: no arguments, AWS_LAMBDA_RUNTIME_API set, the template's names.
  std::vector<std::string> env(const std::string& api, std::string_view model) const {
    return {"AWS_LAMBDA_RUNTIME_API=" + api,
            "MODEL_ID=" + std::string(model),
            "BEDROCK_AGENT_SIMULATE=1",
            "BEDROCK_AGENT_HISTORY=sqlite:" + (dir_.path() / "history.db").string(),
            "MAX_REQUESTS_PER_MINUTE=600",
            "AWS_REGION=us-east-1"};
  }

  TempDir dir_;
  fs::path binary_;
};

TEST_P(LambdaBinaryTest, ServesApiGatewayV1AndV2ChatEvents) {
  RuntimeApiThread runtime;
  Child child({binary_.string()}, env(runtime.api(), kModel), /*merge_stdout=*/true);
  runtime.queue("inv-v1", v1_chat(R"({"input":"echo:hello from v1"})"));
  runtime.queue("inv-v2", v2_chat(R"({"input":"echo:hello from v2"})"));
  auto posts = runtime.wait_for("response", 2, child);
  runtime.close();  // /next answers 500: the binary exits 1, as Lambda's "exit now"
  const int rc = child.wait_exit();
  const std::string output = child.rest();
  ASSERT_EQ(posts.size(), 2u) << output;
  EXPECT_TRUE(runtime.protocol_errors().empty());

  for (const auto& p : posts) {
    ASSERT_EQ(p.kind, "response") << p.body;
    auto o = json::parse(p.body).as_object();
    ASSERT_EQ(o.at("statusCode").as_int64(), 200) << p.body << "\n" << output;
    auto body = json::parse(o.at("body").as_string()).as_object();
    const bool v1 = p.id == "inv-v1";
    EXPECT_EQ(body.at("response").as_string(), v1 ? "hello from v1" : "hello from v2") << p.body;
    // v1 answers carry multiValueHeaders, v2 answers do not.
    EXPECT_EQ(o.contains("multiValueHeaders"), v1) << p.body;
  }
  EXPECT_EQ(rc, 1) << output;

  // One EMF line per chat request on stdout, namespace BedrockAgent, dimension Model, the caller from
  // API Gateway's identity.
  int emf_lines = 0;
  std::istringstream lines(output);
  std::string line;
  std::set<std::string> callers;
  while (std::getline(lines, line)) {
    if (line.find("\"_aws\"") == std::string::npos) continue;
    auto o = json::parse(line).as_object();
    ++emf_lines;
    const auto& directive = o.at("_aws").at("CloudWatchMetrics").as_array().at(0).as_object();
    EXPECT_EQ(directive.at("Namespace").as_string(), "BedrockAgent");
    EXPECT_EQ(o.at("Model").as_string(), kModel);
    EXPECT_GT(o.at("OutputTokens").as_int64(), 0) << line;
    EXPECT_EQ(o.at("Errors").as_int64(), 0);
    callers.insert(std::string(o.at("caller").as_string()));
  }
  EXPECT_EQ(emf_lines, 2) << output;
  EXPECT_EQ(callers, (std::set<std::string>{"apikey:key-id-1", "authorizer:user-7"})) << output;
}

// Lambda's shutdown phase: SIGTERM while idle (blocked on /next) exits 0 at once, posting nothing.
TEST_P(LambdaBinaryTest, SigtermWhileIdleExitsZero) {
  RuntimeApiThread runtime;
  Child child({binary_.string()}, env(runtime.api(), kModel), /*merge_stdout=*/true);
  runtime.queue("inv-1", v1_chat(R"({"input":"echo:before the signal"})"));
  auto posts = runtime.wait_for("response", 1, child);
  ASSERT_EQ(posts.size(), 1u);
  child.signal(SIGTERM);
  const int rc = child.wait_exit();
  const std::string output = child.rest();
  EXPECT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("\"invocation_cancelled\":false"), std::string::npos) << output;
  EXPECT_EQ(runtime.wait_for("response", 2, child).size(), 1u);
}

// SIGTERM with an invocation in flight (the model answers only after 20 s): the invocation is
// cancelled within Lambda's shutdown budget (its Bedrock call aborted), answered 503 with Retry-After
// through the Runtime API, and the process exits 0 without waiting for the model.
TEST_P(LambdaBinaryTest, SigtermCancelsTheInvocationInFlightAndExitsZero) {
  Child sim({binary_.string(), "simulate-bedrock", "--port", "0", "--ttft-ms", "20000"});
  std::optional<int> sim_port;
  while (auto l = sim.line()) {
    auto v = json::parse(*l);
    if (v.is_object() && v.as_object().contains("msg") && v.at("msg") == "simulator listening") {
      sim_port = static_cast<int>(v.at("port").to_number<int>());
      break;
    }
  }
  ASSERT_TRUE(sim_port) << sim.rest();
  RuntimeApiThread runtime;
  std::vector<std::string> e = env(runtime.api(), kModel);
  std::erase(e, std::string("BEDROCK_AGENT_SIMULATE=1"));
  e.push_back("AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:" + std::to_string(*sim_port));
  e.push_back("AWS_ACCESS_KEY_ID=AKIDTEST");
  e.push_back("AWS_SECRET_ACCESS_KEY=secret");
  e.push_back("AWS_PROFILE=none-such");
  Child child({binary_.string()}, e, /*merge_stdout=*/true);
  runtime.queue("inv-slow", v1_chat(R"({"input":"echo:too slow"})"));
  ASSERT_TRUE(runtime.wait_delivered(1, child)) << child.rest();
  const auto signalled = std::chrono::steady_clock::now();
  child.signal(SIGTERM);
  const int rc = child.wait_exit();
  const auto exit_after = std::chrono::steady_clock::now() - signalled;
  const std::string output = child.rest();
  EXPECT_EQ(rc, 0) << output;
  EXPECT_LT(exit_after, 10s) << output;  // not the model's 20 s
  EXPECT_NE(output.find("\"invocation_cancelled\":true"), std::string::npos) << output;
  auto posts = runtime.wait_for("response", 1, child);
  ASSERT_EQ(posts.size(), 1u) << output;
  auto o = json::parse(posts[0].body).as_object();
  EXPECT_EQ(o.at("statusCode").as_int64(), 503) << posts[0].body;
  EXPECT_TRUE(runtime.protocol_errors().empty());
  sim.signal(SIGTERM);
  sim.wait_exit();
}

// A start-up failure is a C++ exception thrown and caught inside the binary (ConfigError), then posted
// as the init error: in the packaged binary this proves the unwinder works with the compat
// _dl_find_object (a broken one would std::terminate instead).
TEST_P(LambdaBinaryTest, BadConfigurationIsPostedAsAnInitError) {
  RuntimeApiThread runtime;
  Child child({binary_.string()}, env(runtime.api(), "not a model id!"), /*merge_stdout=*/true);
  auto posts = runtime.wait_for("init", 1, child);
  const int rc = child.wait_exit();
  const std::string output = child.rest();
  ASSERT_EQ(posts.size(), 1u) << output;
  EXPECT_EQ(posts[0].kind, "init");
  EXPECT_EQ(posts[0].error_type, "BedrockAgent.ConfigError");
  auto body = json::parse(posts[0].body).as_object();
  EXPECT_NE(std::string(body.at("errorMessage").as_string()).find("not a model id!"), std::string::npos)
      << posts[0].body;
  EXPECT_EQ(rc, 1) << output;
  EXPECT_EQ(output.find("terminate called"), std::string::npos) << output;
}

INSTANTIATE_TEST_SUITE_P(Binaries, LambdaBinaryTest, ::testing::Values("build", "package"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ba::test
