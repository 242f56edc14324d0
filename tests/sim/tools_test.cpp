// The simulator's tool answers: a toolUse block when tools are offered (Converse, ConverseStream, Claude
// InvokeModel), text quoting the results when the last user message carries tool results.
#include <gtest/gtest.h>

#include "sim/reply.hpp"
#include "sim/simulator.hpp"
#include "sim/sim_harness.hpp"
#include "util/encoding.hpp"

namespace ba::sim {
namespace {

namespace json = boost::json;
using testing::Answer;
using testing::call;
using testing::decode_frames;
using testing::model_request;

constexpr std::string_view kClaude = "us.anthropic.claude-3-5-haiku-20241022-v1:0";

const json::value kSchema = json::parse(
    R"({"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":2},
        "unit":{"type":"string","enum":["celsius","fahrenheit"]},"detail":{"type":"boolean"},
        "where":{"type":"object","properties":{"lat":{"type":"number"}},"required":["lat"]}},
        "required":["city","days","unit","where"]})");

json::object tool_config(std::optional<json::object> choice = std::nullopt) {
  json::object spec{{"name", "get_weather"}, {"inputSchema", {{"json", kSchema}}}, {"description", "Weather"}};
  json::object other{{"name", "get_time"}, {"inputSchema", {{"json", {{"type", "object"}}}}}};
  json::object cfg{{"tools", json::array{json::object{{"toolSpec", spec}}, json::object{{"toolSpec", other}}}}};
  if (choice) cfg["toolChoice"] = *choice;
  return cfg;
}

json::object user(std::string_view text) {
  return json::object{{"role", "user"}, {"content", json::array{json::object{{"text", text}}}}};
}

// user asks, assistant calls get_weather (id t1), user returns the result.
json::array round_trip() {
  return json::array{
      user("Weather in Paris?"),
      json::object{{"role", "assistant"},
                   {"content", json::array{json::object{{"toolUse", {{"toolUseId", "t1"}, {"name", "get_weather"}, {"input", {{"city", "Paris"}}}}}}}}},
      json::object{{"role", "user"},
                   {"content", json::array{json::object{{"toolResult", {{"toolUseId", "t1"}, {"content", json::array{json::object{{"text", "21 C, sunny"}}}}}}}}}}};
}

class SimToolsTest : public ::testing::Test {
 protected:
  Answer send(net::ServerRequest req) {
    if (!sim_) sim_ = make_simulator(io, opts);
    return testing::run(io, call(*sim_, std::move(req)));
  }
  boost::asio::io_context io;
  SimulatorOptions opts;
  std::unique_ptr<Simulator> sim_;
};

TEST(SimToolInput, FillsRequiredPropertiesByType) {
  const auto input = json::parse(tool_input_for(json::serialize(kSchema)));
  EXPECT_EQ(input, json::parse(R"({"city":"sample","days":2,"unit":"celsius","where":{"lat":1}})"));
  EXPECT_EQ(tool_input_for(R"({"type":"object"})"), "{}");
  EXPECT_EQ(tool_input_for("not json"), "{}");
  const auto call = make_tool_call(1, "fp", "f", R"({"type":"object","properties":{"q":{"type":"string"}},"required":["q"]})");
  EXPECT_EQ(call.input, R"({"q":"sample"})");
  EXPECT_EQ(call.input_pieces.size(), 4u);  // streamed in a few pieces
  std::string joined;
  for (const auto& p : call.input_pieces) {
    EXPECT_FALSE(p.empty());
    joined += p;
  }
  EXPECT_EQ(joined, call.input);
  EXPECT_EQ(make_tool_call(1, "fp", "f", "{}").input_pieces, (std::vector<std::string>{"{", "}"}));
  EXPECT_TRUE(call.id.starts_with("tooluse_"));
  EXPECT_EQ(call.id.size(), 30u);
  EXPECT_EQ(make_tool_call(1, "fp", "f", "{}").id, call.id);  // deterministic
  EXPECT_NE(make_tool_call(2, "fp", "f", "{}").id, call.id);
}

TEST_F(SimToolsTest, ConverseAnswersWithAToolCall) {
  json::object body{{"messages", json::array{user("Weather in Paris?")}}, {"toolConfig", tool_config()}};
  auto a = send(model_request(kClaude, "converse", json::serialize(body)));
  ASSERT_EQ(a.response.status, 200) << a.body;
  auto b = json::parse(a.body).as_object();
  EXPECT_EQ(b.at("stopReason").as_string(), "tool_use");
  const auto& content = b.at("output").at("message").at("content").as_array();
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0].at("text").as_string(), "Calling get_weather.");
  const auto& tu = content[1].at("toolUse").as_object();
  EXPECT_EQ(tu.at("name").as_string(), "get_weather");
  EXPECT_TRUE(std::string_view(tu.at("toolUseId").as_string()).starts_with("tooluse_"));
  EXPECT_EQ(tu.at("input").at("city").as_string(), "sample");
  EXPECT_GT(b.at("usage").at("outputTokens").as_int64(), 0);
  // The tool definitions count as input.
  auto plain = send(model_request(kClaude, "converse", testing::converse_body("Weather in Paris?")));
  EXPECT_GT(b.at("usage").at("inputTokens").as_int64(), json::parse(plain.body).at("usage").at("inputTokens").as_int64());
}

TEST_F(SimToolsTest, ForcedChoiceCallsTheNamedToolWithoutText) {
  json::object body{{"messages", round_trip()}, {"toolConfig", tool_config(json::object{{"tool", {{"name", "get_time"}}}})}};
  auto a = send(model_request(kClaude, "converse", json::serialize(body)));
  ASSERT_EQ(a.response.status, 200) << a.body;
  const auto reply = json::parse(a.body);
  const auto& content = reply.at("output").at("message").at("content").as_array();
  ASSERT_EQ(content.size(), 1u);  // forced even after tool results; no text
  EXPECT_EQ(content[0].at("toolUse").at("name").as_string(), "get_time");
  EXPECT_EQ(content[0].at("toolUse").at("input"), json::object{});
}

TEST_F(SimToolsTest, ToolResultsGetATextAnswerQuotingThem) {
  json::object body{{"messages", round_trip()}, {"toolConfig", tool_config()}};
  auto a = send(model_request(kClaude, "converse", json::serialize(body)));
  ASSERT_EQ(a.response.status, 200) << a.body;
  auto b = json::parse(a.body);
  EXPECT_EQ(b.at("stopReason").as_string(), "end_turn");
  EXPECT_EQ(b.at("output").at("message").at("content").at(0).at("text").as_string(), "The tool returned: 21 C, sunny");
}

TEST_F(SimToolsTest, ToolBlocksNeedAToolConfig) {
  json::object body{{"messages", round_trip()}};
  auto a = send(model_request(kClaude, "converse", json::serialize(body)));
  EXPECT_EQ(a.response.status, 400);
  EXPECT_NE(a.body.find("toolConfig field must be defined"), std::string::npos) << a.body;
  body = json::object{{"messages", json::array{user("x")}}, {"toolConfig", tool_config(json::object{{"tool", {{"name", "nope"}}}})}};
  EXPECT_EQ(send(model_request(kClaude, "converse", json::serialize(body))).response.status, 400);
}

TEST_F(SimToolsTest, ConverseStreamStreamsTheToolInput) {
  json::object body{{"messages", json::array{user("Weather in Paris?")}}, {"toolConfig", tool_config()}};
  auto a = send(model_request(kClaude, "converse-stream", json::serialize(body)));
  ASSERT_EQ(a.response.status, 200);
  auto frames = decode_frames(a.body);
  std::vector<std::string> types;
  std::string text, input;
  for (const auto& f : frames.frames) {
    types.push_back(f.event_type);
    if (f.event_type == "contentBlockStart") {
      EXPECT_EQ(f.json().at("contentBlockIndex").as_int64(), 1);
      EXPECT_EQ(f.json().at("start").at("toolUse").at("name").as_string(), "get_weather");
    }
    if (f.event_type == "contentBlockDelta") {
      const auto j = f.json();
      const auto& d = j.at("delta").as_object();
      if (d.contains("text")) text += d.at("text").as_string();
      if (d.contains("toolUse")) {
        EXPECT_EQ(f.json().at("contentBlockIndex").as_int64(), 1);
        input += d.at("toolUse").at("input").as_string();
      }
    }
    if (f.event_type == "messageStop") {
      EXPECT_EQ(f.json().at("stopReason").as_string(), "tool_use");
    }
  }
  EXPECT_EQ(types, (std::vector<std::string>{"messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockStop",
                                             "contentBlockStart", "contentBlockDelta", "contentBlockDelta", "contentBlockDelta",
                                             "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"}));  // the input in four pieces
  EXPECT_EQ(text, "Calling get_weather.");
  EXPECT_EQ(json::parse(input).at("unit").as_string(), "celsius");
}

TEST_F(SimToolsTest, ClaudeInvokeModelAnswersWithToolUse) {
  json::object body{{"anthropic_version", "bedrock-2023-05-31"},
                    {"max_tokens", 100},
                    {"messages", json::array{json::object{{"role", "user"}, {"content", "Weather?"}}}},
                    {"tools", json::array{json::object{{"name", "get_weather"}, {"input_schema", kSchema}}}},
                    {"tool_choice", {{"type", "any"}}}};
  auto a = send(model_request(kClaude, "invoke", json::serialize(body)));
  ASSERT_EQ(a.response.status, 200) << a.body;
  auto b = json::parse(a.body);
  EXPECT_EQ(b.at("stop_reason").as_string(), "tool_use");
  ASSERT_EQ(b.at("content").as_array().size(), 1u);
  EXPECT_EQ(b.at("content").at(0).at("type").as_string(), "tool_use");
  EXPECT_EQ(b.at("content").at(0).at("input").at("days").as_int64(), 2);

  auto s = send(model_request(kClaude, "invoke-with-response-stream", json::serialize(body)));
  ASSERT_EQ(s.response.status, 200);
  std::string input;
  std::vector<std::string> types;
  for (const auto& f : decode_frames(s.body).frames) {
    auto chunk = json::parse(*base64_decode(std::string(f.json().at("bytes").as_string())));
    types.emplace_back(chunk.at("type").as_string());
    if (chunk.at("type") == "content_block_delta") input += chunk.at("delta").at("partial_json").as_string();
  }
  EXPECT_EQ(types, (std::vector<std::string>{"message_start", "content_block_start", "content_block_delta",
                                             "content_block_delta", "content_block_delta", "content_block_delta",
                                             "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(json::parse(input).at("city").as_string(), "sample");

  // A tool_result in the last user message: a text answer.
  body["messages"] = json::array{
      json::object{{"role", "user"}, {"content", "Weather?"}},
      json::object{{"role", "assistant"}, {"content", json::array{json::object{{"type", "tool_use"}, {"id", "t1"}, {"name", "get_weather"}, {"input", json::object{}}}}}},
      json::object{{"role", "user"}, {"content", json::array{json::object{{"type", "tool_result"}, {"tool_use_id", "t1"}, {"content", "rain"}}}}}};
  body["tool_choice"] = json::object{{"type", "auto"}};
  auto r = send(model_request(kClaude, "invoke", json::serialize(body)));
  ASSERT_EQ(r.response.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).at("content").at(0).at("text").as_string(), "The tool returned: rain");
}

}  // namespace
}  // namespace ba::sim
