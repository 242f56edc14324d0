// Extended thinking in the codecs: reasoning blocks sent back unchanged and the thinking budget in
// Converse requests (additionalModelRequestFields.thinking, reasoningContent) and Claude's native body
// (thinking, thinking / redacted_thinking blocks); the reply's reasoning read from both. The bytes the
// official SDK writes for the same input are compared in sdk_oracle_test.cpp.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "bedrock/codec_common.hpp"
#include "bedrock/converse_codec.hpp"
#include "bedrock/invoke_codec.hpp"

namespace ba::bedrock {
namespace {

namespace json = boost::json;

ChatRequest tool_turn() {
  ChatRequest r;
  r.model_id = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
  r.max_tokens = 2048;
  r.reasoning = ReasoningConfig{.budget_tokens = 1024};
  r.tools = {ToolSpec{.name = "now", .input_schema = R"({"type":"object"})"}};
  r.messages = {
      Message{.role = "user", .content = {ContentBlock::make_text("Time?")}},
      Message{.role = "assistant",
              .content = {ContentBlock::make_reasoning("I should call now.", "c2ln"),
                          ContentBlock::make_redacted_reasoning(std::string("\x00\xff", 2)),
                          ContentBlock::make_tool_use("tooluse_1", "now", "{}")}},
      Message{.role = "user", .content = {ContentBlock{.type = ContentBlock::Type::tool_result, .tool_use_id = "tooluse_1",
                                                       .content = {ContentBlock::make_text("noon")}}}}};
  return r;
}

TEST(ReasoningCodec, ConverseSendsTheReasoningBackAndTheBudgetInAdditionalFields) {
  ChatRequest r = tool_turn();
  EXPECT_EQ(converse::encode_request(r),
            R"({"messages":[{"role":"user","content":[{"text":"Time?"}]},{"role":"assistant","content":[)"
            R"({"reasoningContent":{"reasoningText":{"text":"I should call now.","signature":"c2ln"}}},)"
            R"({"reasoningContent":{"redactedContent":"AP8="}},)"
            R"({"toolUse":{"toolUseId":"tooluse_1","name":"now","input":{}}}]},)"
            R"({"role":"user","content":[{"toolResult":{"toolUseId":"tooluse_1","content":[{"text":"noon"}]}}]}],)"
            R"("inferenceConfig":{"maxTokens":2048},"toolConfig":{"tools":[{"toolSpec":{"name":"now","inputSchema":{"json":{"type":"object"}}}}],)"
            R"("toolChoice":{"auto":{}}},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}})");
  EXPECT_TRUE(validate_request(r).has_value());
  r.top_k = 3;  // both of the model's own fields
  EXPECT_NE(converse::encode_request(r).find(
                R"("additionalModelRequestFields":{"top_k":3,"thinking":{"type":"enabled","budget_tokens":1024}})"),
            std::string::npos);
}

TEST(ReasoningCodec, ConverseRepliesReasoningBlocksBeforeTheText) {
  auto r = converse::decode_response(R"({"output":{"message":{"role":"assistant","content":[
        {"reasoningContent":{"reasoningText":{"text":"Hmm.","signature":"sig=="}}},
        {"reasoningContent":{"redactedContent":"AP8="}},
        {"text":"Noon."},{"toolUse":{"toolUseId":"t1","name":"now","input":{}}}]}},
      "stopReason":"tool_use","usage":{"inputTokens":3,"outputTokens":9}})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->reasoning.size(), 2u);
  EXPECT_EQ(r->reasoning[0].type, ContentBlock::Type::reasoning);
  EXPECT_EQ(r->reasoning[0].text, "Hmm.");
  EXPECT_EQ(r->reasoning[0].signature, "sig==");
  EXPECT_TRUE(r->reasoning[1].is_redacted_reasoning());
  EXPECT_EQ(r->reasoning[1].bytes, std::string("\x00\xff", 2));
  EXPECT_EQ(r->text, "Noon.");
  ASSERT_EQ(r->tool_uses.size(), 1u);
}

TEST(ReasoningCodec, ClaudesNativeBodyHasThinkingAndItsBlocks) {
  auto body = invoke::encode_request(tool_turn(), ModelFamily::anthropic_claude);
  ASSERT_TRUE(body.has_value()) << body.error().message;
  const auto o = json::parse(*body).as_object();
  EXPECT_EQ(o.at("thinking"), json::parse(R"({"type":"enabled","budget_tokens":1024})"));
  EXPECT_EQ(o.at("messages").at(1).at("content"),
            json::parse(R"([{"type":"thinking","thinking":"I should call now.","signature":"c2ln"},
                            {"type":"redacted_thinking","data":"AP8="},
                            {"type":"tool_use","id":"tooluse_1","name":"now","input":{}}])"));

  auto reply = invoke::decode_response(R"({"id":"m","type":"message","role":"assistant","content":[
      {"type":"thinking","thinking":"Hmm.","signature":"sig=="},{"type":"redacted_thinking","data":"AP8="},
      {"type":"text","text":"Noon."}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}})",
                                       ModelFamily::anthropic_claude);
  ASSERT_TRUE(reply.has_value()) << reply.error().message;
  ASSERT_EQ(reply->reasoning.size(), 2u);
  EXPECT_EQ(reply->reasoning[0].signature, "sig==");
  EXPECT_EQ(reply->reasoning[1].bytes, std::string("\x00\xff", 2));
  EXPECT_EQ(reply->text, "Noon.");

  ChatRequest titan = tool_turn();
  titan.model_id = "amazon.titan-text-express-v1";
  titan.tools.clear();
  titan.messages = {Message{.role = "user", .content = {ContentBlock::make_text("x")}}};
  auto refused = invoke::encode_request(titan, ModelFamily::amazon_titan_text);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(refused.error().message.find("do not reason"), std::string::npos);
}

TEST(ReasoningCodec, TheBudgetAndTheBlocksAreCheckedBeforeAnythingIsSent) {
  ChatRequest r = tool_turn();
  r.reasoning->budget_tokens = 1023;
  EXPECT_FALSE(validate_request(r).has_value());
  r.reasoning->budget_tokens = 2048;  // not below max_tokens
  auto st = validate_request(r);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message.find("less than max_tokens"), std::string::npos);
  r = tool_turn();
  r.messages[0].content.push_back(ContentBlock::make_reasoning("x", "y"));
  st = validate_request(r);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message.find("only allowed in assistant messages"), std::string::npos);
  r = tool_turn();
  r.messages[1].content[0].text.clear();  // neither text nor redacted content
  EXPECT_FALSE(validate_request(r).has_value());
}

TEST(ReasoningCodec, AStreamsReasoningPiecesAssembleTheReplysBlocks) {
  StreamAccumulator acc;
  for (const auto& [type, payload] : std::vector<std::pair<std::string, std::string>>{
           {"contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"Hm"}}})"},
           {"contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"m."}}})"},
           {"contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"sig=="}}})"},
           {"contentBlockDelta", R"({"contentBlockIndex":1,"delta":{"reasoningContent":{"redactedContent":"AP8="}}})"},
           {"contentBlockDelta", R"({"contentBlockIndex":2,"delta":{"text":"Noon."}})"}}) {
    auto piece = converse::apply_stream_event(acc, type, payload);
    ASSERT_TRUE(piece.has_value());
    if (*piece) acc.add_reasoning(**piece);
  }
  const ChatResponse r = acc.to_response();
  ASSERT_EQ(r.reasoning.size(), 2u);
  EXPECT_EQ(r.reasoning[0].text, "Hmm.");
  EXPECT_EQ(r.reasoning[0].signature, "sig==");
  EXPECT_EQ(r.reasoning[1].bytes, std::string("\x00\xff", 2));
  EXPECT_EQ(r.text, "Noon.");
}

}  // namespace
}  // namespace ba::bedrock
