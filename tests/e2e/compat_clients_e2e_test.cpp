// The OpenAI- and Anthropic-compatible routes checked by the official clients (`openai`,
// `@anthropic-ai/sdk`; tests/node/compat_clients_check.mjs) against the real binary, `serve --simulate`
// on an ephemeral port, with API keys and a model alias. The agent is stopped (SIGTERM, else killed
// with its process group) whatever happens.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/shell.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

constexpr const char* kKey = "sk-compat-test-key";

bool clients_available() { return node_package_available("openai") && node_package_available("@anthropic-ai/sdk"); }

class CompatClients : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("ba-compat-" + uuid_v4());
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "keys") << kKey << "\n";
  }
  void TearDown() override {
    agent.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  // Starts the agent; the base URL, or empty when it did not start.
  // `env`: NAME=value entries added to the agent's environment. `listening` gets the start-up line.
  std::string start(std::vector<std::string> extra, std::vector<std::string> env = {}, json::object* listening = nullptr) {
    std::vector<std::string> args{std::string(BA_BINARY_DIR) + "/bedrock-agent", "serve", "--simulate", "--port", "0",
                                  "--history", "none", "--files", (dir / "files").string(), "--api-keys-file",
                                  (dir / "keys").string(), "--model-alias",
                                  "claude=anthropic.claude-3-haiku-20240307-v1:0", "--model-alias",
                                  "titan=amazon.titan-text-express-v1"};
    for (auto& a : extra) args.push_back(std::move(a));
    agent.emplace(std::move(args), std::move(env));
    while (auto l = agent->line()) {
      boost::system::error_code ec;
      auto v = json::parse(*l, ec);
      if (!ec && v.is_object() && v.as_object().contains("msg") && v.at("msg") == "listening") {
        if (listening) *listening = v.as_object();
        return "http://127.0.0.1:" + std::to_string(v.at("port").to_number<int>());
      }
    }
    return {};
  }

  // Runs the clients' checks; fails the test with their output unless every check passed.
  void run_checks(const std::string& scenario, const std::string& base, const std::string& alias = "claude") {
    auto r = shell("cd '" + std::string(BA_SOURCE_DIR) + "' && NODE_NO_WARNINGS=1 timeout 120 node " +
                   "tests/node/compat_clients_check.mjs " + scenario + " " + base + " " + kKey + " " + alias);
    EXPECT_EQ(r.rc, 0) << r.output;
    EXPECT_NE(r.output.find("\"failed\":0"), std::string::npos) << r.output;
  }

  // The request log lines once the agent stopped (SIGTERM: a clean exit).
  std::vector<json::object> stop_and_read_log() {
    agent->signal(SIGTERM);
    std::vector<json::object> lines;
    for (std::string rest = agent->rest(); !rest.empty();) {
      auto nl = rest.find('\n');
      std::string l = rest.substr(0, nl);
      rest = nl == std::string::npos ? std::string() : rest.substr(nl + 1);
      boost::system::error_code ec;
      auto v = json::parse(l, ec);
      if (!ec && v.is_object() && v.as_object().contains("route")) lines.push_back(v.as_object());
    }
    EXPECT_EQ(agent->wait_exit(), 0);
    return lines;
  }

  std::filesystem::path dir;
  std::optional<Child> agent;
};

TEST_F(CompatClients, OfficialClientsGetAnswersStreamsImagesAndErrorsInTheirApisShapes) {
  if (!clients_available()) GTEST_SKIP() << "node or node_modules/openai, @anthropic-ai/sdk not available";
  const std::string base = start({});
  ASSERT_FALSE(base.empty()) << agent->rest();
  run_checks("main", base);
  int openai_lines = 0, anthropic_lines = 0, unauthorized = 0;
  for (const auto& l : stop_and_read_log()) {
    const std::string route(l.at("route").as_string());
    if (route == "/v1/chat/completions") ++openai_lines;
    if (route == "/v1/messages") ++anthropic_lines;
    if (l.contains("error") && l.at("error") == "unauthorized") ++unauthorized;
    if ((route == "/v1/chat/completions" || route == "/v1/messages") && l.at("status") == 200) {
      EXPECT_EQ(l.at("model"), "anthropic.claude-3-haiku-20240307-v1:0") << json::serialize(l);
      EXPECT_TRUE(l.at("caller").as_string().starts_with("key:"));
    }
  }
  EXPECT_GE(openai_lines, 6);
  EXPECT_GE(anthropic_lines, 6);
  EXPECT_EQ(unauthorized, 2);
}

// AWS_BEARER_TOKEN_BEDROCK: every Bedrock call carries the key as a bearer token and no SigV4 header
// (the in-process simulator accepts that key and no other, and counts the schemes it saw), and the key
// appears in no log line.
TEST_F(CompatClients, ABedrockApiKeyFromTheEnvironmentIsSentAsBearerAndNeverLogged) {
  if (!clients_available()) GTEST_SKIP() << "node or node_modules/openai, @anthropic-ai/sdk not available";
  const std::string token = "ABSKe2e-bedrock-api-key-" + uuid_v4();
  json::object listening;
  const std::string base = start({}, {"AWS_BEARER_TOKEN_BEDROCK=" + token}, &listening);
  ASSERT_FALSE(base.empty()) << agent->rest();
  EXPECT_EQ(listening.at("bedrock_auth"), "api_key");
  EXPECT_EQ(json::serialize(listening).find(token), std::string::npos);
  run_checks("main", base);
  auto stats = shell("curl -s " + std::string(listening.at("simulator").as_string()) + "/sim/stats");
  ASSERT_EQ(stats.rc, 0) << stats.output;
  const auto s = json::parse(stats.output).as_object();
  EXPECT_GT(s.at("auth_schemes").at("bearer").to_number<int>(), 10) << stats.output;
  EXPECT_FALSE(s.at("auth_schemes").as_object().contains("sigv4")) << stats.output;
  EXPECT_EQ(s.at("bearer_with_sigv4_headers"), 0) << stats.output;
  EXPECT_EQ(s.at("auth_failures"), 0) << stats.output;
  agent->signal(SIGTERM);
  const std::string output = agent->rest();
  EXPECT_EQ(agent->wait_exit(), 0);
  EXPECT_EQ(output.find(token), std::string::npos) << "the key was logged";
  EXPECT_NE(output.find("/v1/messages/count_tokens"), std::string::npos);
}

// Tools with the agent on InvokeModel (Claude's native tools, tool_use and tool_result blocks); the
// main scenario above runs the same round trips over Converse.
TEST_F(CompatClients, ToolRoundTripsOverInvokeModel) {
  if (!clients_available()) GTEST_SKIP() << "node or node_modules/openai, @anthropic-ai/sdk not available";
  const std::string base = start({"--api", "invoke"});
  ASSERT_FALSE(base.empty()) << agent->rest();
  run_checks("tools", base);
  int ok = 0;
  for (const auto& l : stop_and_read_log())
    if (l.at("route").as_string().starts_with("/v1/") && l.at("status") == 200) ++ok;
  EXPECT_EQ(ok, 9);
}

// Prompt caching: the simulator keeps the prefixes before cache points; the Anthropic client sees the
// cache write, then the read on the second identical call; /chat with --prompt-cache too; over Converse
// and over InvokeModel (--api invoke).
TEST_F(CompatClients, PromptCacheTokensReachTheClients) {
  if (!clients_available()) GTEST_SKIP() << "node or node_modules/openai, @anthropic-ai/sdk not available";
  json::object listening;
  const std::string base = start({"--prompt-cache", "--model-alias", "sonnet4=us.anthropic.claude-sonnet-4-20250514-v1:0"}, {},
                                 &listening);
  ASSERT_FALSE(base.empty()) << agent->rest();
  EXPECT_EQ(listening["prompt_cache"], "unsupported_by_model");  // --model-id is Claude 3 Sonnet: /chat caches nothing
  agent.reset();
  const std::string cached = start({"--prompt-cache", "--model-id", "us.anthropic.claude-sonnet-4-20250514-v1:0", "--model-alias",
                                    "sonnet4=us.anthropic.claude-sonnet-4-20250514-v1:0"},
                                   {}, &listening);
  ASSERT_FALSE(cached.empty()) << agent->rest();
  EXPECT_EQ(listening["prompt_cache"], "on");
  run_checks("caching", cached);
  agent.reset();
  // Over InvokeModel: the same points as Claude's cache_control marks, the usage in Claude's names.
  const std::string invoke = start({"--api", "invoke", "--prompt-cache", "--model-id", "us.anthropic.claude-sonnet-4-20250514-v1:0",
                                    "--model-alias", "sonnet4=us.anthropic.claude-sonnet-4-20250514-v1:0"},
                                   {}, &listening);
  ASSERT_FALSE(invoke.empty()) << agent->rest();
  EXPECT_EQ(listening["prompt_cache"], "on");
  run_checks("caching", invoke);
}

// A guardrail configured on the agent: Converse guardrailConfig to the simulator, which blocks on its
// trigger word; the official clients see content_filter / refusal.
TEST_F(CompatClients, AGuardrailInterventionInEachApisWords) {
  if (!clients_available()) GTEST_SKIP() << "node or node_modules/openai, @anthropic-ai/sdk not available";
  json::object listening;
  const std::string base = start({"--guardrail", "gr1abc:DRAFT", "--guardrail-trace", "enabled"}, {}, &listening);
  ASSERT_FALSE(base.empty()) << agent->rest();
  EXPECT_EQ(listening["guardrail"], "gr1abc:DRAFT");
  run_checks("guardrail", base);
  agent.reset();
  // Over InvokeModel: the X-Amzn-Bedrock-Guardrail* headers, "amazon-bedrock-guardrailAction": "INTERVENED".
  const std::string invoke = start({"--api", "invoke", "--guardrail", "gr1abc:3"});
  ASSERT_FALSE(invoke.empty()) << agent->rest();
  run_checks("guardrail", invoke);
}

// Request shapes beyond text and tools (structured output...), against an alias of a model that takes
// them (`sonnet45`, Claude Sonnet 4.5 in the simulator).
TEST_F(CompatClients, StructuredOutputThroughTheOfficialClientsHelpers) {
  if (!clients_available()) GTEST_SKIP() << "node or node_modules/openai, @anthropic-ai/sdk not available";
  const std::string base = start({"--model-alias", "sonnet45=anthropic.claude-sonnet-4-5-20250929-v1:0"});
  ASSERT_FALSE(base.empty()) << agent->rest();
  run_checks("shapes", base);
  int structured = 0;
  for (const auto& l : stop_and_read_log())
    if (l.at("status") == 200 && l.contains("model") && l.at("model") == "anthropic.claude-sonnet-4-5-20250929-v1:0") ++structured;
  EXPECT_GE(structured, 2);
}

// Extended thinking through both clients, over Converse and over InvokeModel (Claude's native thinking):
// the reasoning kept across a tool turn (signed, and redacted), and its absence refused by the simulator
// as Bedrock refuses it.
TEST_F(CompatClients, ReasoningIsKeptAcrossAToolTurnOverConverseAndInvokeModel) {
  if (!clients_available()) GTEST_SKIP() << "node or node_modules/openai, @anthropic-ai/sdk not available";
  for (const std::string api : {"converse", "invoke"}) {
    const std::string base = start({"--api", api, "--model-alias", "sonnet37=us.anthropic.claude-3-7-sonnet-20250219-v1:0"});
    ASSERT_FALSE(base.empty()) << agent->rest();
    run_checks("reasoning", base, "sonnet37");
    int refused_upstream = 0, answered = 0;
    for (const auto& l : stop_and_read_log()) {
      if (!l.at("route").as_string().starts_with("/v1/")) continue;
      answered += l.at("status") == 200 ? 1 : 0;
      refused_upstream += l.at("status") == 400 && l.contains("attempts") && l.at("attempts") == 1 ? 1 : 0;
    }
    EXPECT_EQ(answered, 8) << api;          // two turns, two clients, signed and redacted
    EXPECT_EQ(refused_upstream, 5) << api;  // the dropped (4) and edited (1) reasoning reached Bedrock
    agent.reset();
  }
}

TEST_F(CompatClients, OurLimitersRetryAfterIsHonouredByTheClientsOwnRetries) {
  if (!clients_available()) GTEST_SKIP() << "node or node_modules/openai, @anthropic-ai/sdk not available";
  const std::string base = start({"--max-rpm", "20"});  // a burst of 20, then one request every 3 s
  ASSERT_FALSE(base.empty()) << agent->rest();
  run_checks("ratelimit", base);
  int limited = 0, upstream_calls_when_limited = 0;
  for (const auto& l : stop_and_read_log()) {
    if (l.at("status") == 429) {
      ++limited;
      EXPECT_EQ(l.at("error"), "rate_limited");
      upstream_calls_when_limited += static_cast<int>(l.at("attempts").as_int64());
    }
  }
  EXPECT_EQ(limited, 5);  // the burst's end, one per client without retries, one per retrying client
  EXPECT_EQ(upstream_calls_when_limited, 0);  // Bedrock was never called for them
}

}  // namespace
}  // namespace ba::test
