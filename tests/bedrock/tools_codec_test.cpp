// Tools on the wire: Converse toolConfig / toolUse / toolResult (request, reply, ConverseStream events),
// Claude's native tools on InvokeModel, Titan's refusal, and what validate_request refuses before a call.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "bedrock/converse_codec.hpp"
#include "bedrock/invoke_codec.hpp"

namespace ba::bedrock {
namespace {

boost::json::value J(std::string_view s) { return boost::json::parse(s); }

ContentBlock tool_result(std::string id, std::vector<std::string> texts, bool error = false) {
  ContentBlock b{.type = ContentBlock::Type::tool_result};
  b.tool_use_id = std::move(id);
  for (auto& t : texts) b.content.push_back(ContentBlock::make_text(std::move(t)));
  b.is_error = error;
  return b;
}

ChatRequest tool_request() {
  ChatRequest r;
  r.model_id = "anthropic.claude-3-haiku-20240307-v1:0";
  r.max_tokens = 100;
  r.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("Weather in Paris?")}});
  r.messages.push_back(Message{.role = "assistant",
                               .content = {ContentBlock::make_text("Looking."),
                                           ContentBlock::make_tool_use("t1", "get_weather", R"({"city":"Paris","n":1.5})")}});
  r.messages.push_back(Message{.role = "user", .content = {tool_result("t1", {"21 C"}), tool_result("t2", {}, true)}});
  r.tools.push_back(ToolSpec{.name = "get_weather", .description = "Weather", .input_schema = R"({"type":"object"})"});
  r.tools.push_back(ToolSpec{.name = "now", .input_schema = R"({"type":"object","properties":{}})"});
  return r;
}

TEST(ConverseTools, EncodesToolConfigAndToolBlocks) {
  ChatRequest r = tool_request();
  r.tool_choice = ToolChoice{.mode = ToolChoice::Mode::tool, .name = "now"};
  const std::string body = converse::encode_request(r);
  EXPECT_EQ(J(body), J(R"({"messages":[
      {"role":"user","content":[{"text":"Weather in Paris?"}]},
      {"role":"assistant","content":[{"text":"Looking."},{"toolUse":{"toolUseId":"t1","name":"get_weather","input":{"city":"Paris","n":1.5}}}]},
      {"role":"user","content":[{"toolResult":{"toolUseId":"t1","content":[{"text":"21 C"}]}},
                                {"toolResult":{"toolUseId":"t2","content":[],"status":"error"}}]}],
     "inferenceConfig":{"maxTokens":100},
     "toolConfig":{"tools":[{"toolSpec":{"name":"get_weather","inputSchema":{"json":{"type":"object"}},"description":"Weather"}},
                            {"toolSpec":{"name":"now","inputSchema":{"json":{"type":"object","properties":{}}}}}],
                   "toolChoice":{"tool":{"name":"now"}}}})"));
  r.tool_choice = {};
  EXPECT_EQ(J(converse::encode_request(r)).at("toolConfig").at("toolChoice"), J(R"({"auto":{}})"));
  r.tool_choice.mode = ToolChoice::Mode::any;
  EXPECT_EQ(J(converse::encode_request(r)).at("toolConfig").at("toolChoice"), J(R"({"any":{}})"));
  // none: no toolConfig at all (Converse has no "none"); without tool blocks that is a valid request.
  r.tool_choice.mode = ToolChoice::Mode::none;
  r.messages.resize(1);
  EXPECT_FALSE(J(converse::encode_request(r)).as_object().contains("toolConfig"));
  EXPECT_TRUE(validate_request(r));
}

TEST(ConverseTools, DecodesToolUseInTheReply) {
  auto r = converse::decode_response(R"({"output":{"message":{"role":"assistant","content":[
      {"text":"Let me check."},{"toolUse":{"toolUseId":"tooluse_a","name":"get_weather","input":{"city":"Paris","days":2.5}}},
      {"toolUse":{"toolUseId":"tooluse_b","name":"now","input":{}}}]}},
      "stopReason":"tool_use","usage":{"inputTokens":5,"outputTokens":7}})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->text, "Let me check.");
  EXPECT_EQ(r->stop_reason, "tool_use");
  ASSERT_EQ(r->tool_uses.size(), 2u);
  EXPECT_EQ(r->tool_uses[0].tool_use_id, "tooluse_a");
  EXPECT_EQ(r->tool_uses[0].name, "get_weather");
  EXPECT_EQ(r->tool_uses[0].input, R"({"city":"Paris","days":2.5})");
  EXPECT_EQ(r->tool_uses[1].input, "{}");
}

TEST(ConverseTools, StreamedToolInputIsAssembledByBlockIndex) {
  StreamAccumulator acc;
  const std::pair<std::string_view, std::string_view> events[] = {
      {"messageStart", R"({"role":"assistant"})"},
      {"contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hm."}})"},
      {"contentBlockStop", R"({"contentBlockIndex":0})"},
      {"contentBlockStart", R"({"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t1","name":"get_weather"}}})"},
      {"contentBlockDelta", R"({"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"city\":"}}})"},
      {"contentBlockDelta", R"({"contentBlockIndex":1,"delta":{"toolUse":{"input":"\"Paris\"}"}}})"},
      {"contentBlockStop", R"({"contentBlockIndex":1})"},
      {"contentBlockStart", R"({"contentBlockIndex":2,"start":{"toolUse":{"toolUseId":"t2","name":"now"}}})"},
      {"contentBlockStop", R"({"contentBlockIndex":2})"},
      {"messageStop", R"({"stopReason":"tool_use"})"},
      {"metadata", R"({"usage":{"inputTokens":3,"outputTokens":9},"metrics":{"latencyMs":5}})"},
  };
  std::string text;
  for (const auto& [type, payload] : events) {
    auto d = converse::apply_stream_event(acc, type, payload);
    ASSERT_TRUE(d) << d.error().message;
    if (*d && (*d)->kind == StreamDelta::Kind::text) text += (*d)->text;
  }
  EXPECT_EQ(text, "Hm.");  // tool input is not text
  auto r = acc.to_response();
  ASSERT_EQ(r.tool_uses.size(), 2u);
  EXPECT_EQ(r.tool_uses[0].input, R"({"city":"Paris"})");
  EXPECT_EQ(r.tool_uses[1].input, "{}");  // no input streamed: no parameters
  EXPECT_EQ(r.stop_reason, "tool_use");
}

TEST(ClaudeTools, NativeToolsAndBlocks) {
  ChatRequest r = tool_request();
  r.tool_choice.mode = ToolChoice::Mode::any;
  auto body = invoke::encode_request(r, ModelFamily::anthropic_claude);
  ASSERT_TRUE(body) << body.error().message;
  const auto b = J(*body);
  EXPECT_EQ(b.at("tools"), J(R"([{"name":"get_weather","description":"Weather","input_schema":{"type":"object"}},
                                 {"name":"now","input_schema":{"type":"object","properties":{}}}])"));
  EXPECT_EQ(b.at("tool_choice"), J(R"({"type":"any"})"));
  EXPECT_EQ(b.at("messages").at(1).at("content").at(1),
            J(R"({"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris","n":1.5}})"));
  EXPECT_EQ(b.at("messages").at(2).at("content"),
            J(R"([{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"21 C"}]},
                  {"type":"tool_result","tool_use_id":"t2","content":[],"is_error":true}])"));
  r.tool_choice = ToolChoice{.mode = ToolChoice::Mode::tool, .name = "now"};
  EXPECT_EQ(J(*invoke::encode_request(r, ModelFamily::anthropic_claude)).at("tool_choice"), J(R"({"type":"tool","name":"now"})"));

  auto reply = invoke::decode_response(R"({"content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"toolu_1","name":"now","input":{"tz":"UTC"}}],
      "stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}})", ModelFamily::anthropic_claude);
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->tool_uses.size(), 1u);
  EXPECT_EQ(reply->tool_uses[0].input, R"({"tz":"UTC"})");

  StreamAccumulator acc;
  for (std::string_view chunk : {
           R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_2","name":"now","input":{}}})",
           R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"tz\":"}})",
           R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"UTC\"}"}})",
           R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":4}})",
           R"({"type":"message_stop"})"}) {
    ASSERT_TRUE(invoke::apply_model_chunk(acc, chunk, ModelFamily::anthropic_claude));
  }
  ASSERT_EQ(acc.tool_uses.size(), 1u);
  EXPECT_EQ(acc.tool_uses[0].tool_use_id, "toolu_2");
  EXPECT_EQ(acc.tool_uses[0].input, R"({"tz":"UTC"})");
  EXPECT_EQ(acc.text, "");
}

TEST(TitanTools, TheModelDoesNotSupportTools) {
  ChatRequest r = tool_request();
  r.model_id = "amazon.titan-text-express-v1";
  auto body = invoke::encode_request(r, ModelFamily::amazon_titan_text);
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().kind, ErrorKind::invalid_input);
  EXPECT_NE(body.error().message.find("does not support tools"), std::string::npos);
}

TEST(ValidateTools, RefusesWhatBedrockWould) {
  auto expect_refused = [](const ChatRequest& r, std::string_view says) {
    auto st = validate_request(r);
    ASSERT_FALSE(st) << says;
    EXPECT_EQ(st.error().kind, ErrorKind::invalid_input);
    EXPECT_NE(st.error().message.find(says), std::string::npos) << st.error().message;
  };
  ASSERT_TRUE(validate_request(tool_request()));
  ChatRequest r = tool_request();
  r.tools.clear();
  expect_refused(r, "no tools are given");
  r = tool_request();
  r.tool_choice.mode = ToolChoice::Mode::none;
  expect_refused(r, "cannot be honoured");
  r = tool_request();
  r.tool_choice = ToolChoice{.mode = ToolChoice::Mode::tool, .name = "missing"};
  expect_refused(r, "not among the tools");
  r = tool_request();
  r.tools[1].name = "get_weather";
  expect_refused(r, "unique");
  r = tool_request();
  r.tools[0].name = "get weather";
  expect_refused(r, "a tool name must be");
  r = tool_request();
  r.messages[1].content[1].tool_use_id = "bad id!";
  expect_refused(r, "a tool call id must be");
  r = tool_request();
  std::swap(r.messages[1].content, r.messages[2].content);  // results from the assistant, a call from the user
  expect_refused(r, "only allowed in");
  r = tool_request();
  r.messages[2].content[0].content[0].text.clear();
  expect_refused(r, "non-empty text");
}

}  // namespace
}  // namespace ba::bedrock
