// Request shapes beyond text and tools: structured output (Converse outputConfig.textFormat) and which
// models take it; tool results holding JSON, images and documents.
#include <gtest/gtest.h>

#include "bedrock/codec_common.hpp"
#include "bedrock/converse_codec.hpp"
#include "bedrock/invoke_codec.hpp"
#include "bedrock/model_id.hpp"

namespace ba::bedrock {
namespace {

ChatRequest structured(std::string model) {
  ChatRequest r;
  r.model_id = std::move(model);
  r.max_tokens = 100;
  r.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("A person?")}});
  r.output_format = OutputFormat{.schema = R"({"type":"object","properties":{"n":{"type":"string"}},"required":["n"]})",
                                 .name = "person", .description = "A \"person\""};
  return r;
}

TEST(StructuredOutput, ModelsThatTakeItAreClaude45AndLaterAndTheListedOpenWeightFamilies) {
  for (const char* yes : {"anthropic.claude-sonnet-4-5-20250929-v1:0", "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                          "global.anthropic.claude-opus-4-5-20251101-v1:0", "anthropic.claude-opus-4-6-v1",
                          "anthropic.claude-sonnet-5-20270101-v1:0", "qwen.qwen3-32b-v1:0", "deepseek.v3-v1:0",
                          "mistral.magistral-small-2509", "google.gemma-3-27b-it", "nvidia.nemotron-nano-12b-v2",
                          "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"}) {
    EXPECT_TRUE(supports_structured_output(yes)) << yes;
  }
  for (const char* no : {"anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-7-sonnet-20250219-v1:0",
                         "anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-opus-4-1-20250805-v1:0",
                         "anthropic.claude-v2:1", "amazon.titan-text-express-v1", "amazon.nova-pro-v1:0",
                         "meta.llama3-70b-instruct-v1:0"}) {
    EXPECT_FALSE(supports_structured_output(no)) << no;
  }
}

TEST(StructuredOutput, ConverseSendsTheSchemaAsAStringInOutputConfigLast) {
  const std::string body = converse::encode_request(structured("anthropic.claude-sonnet-4-5-20250929-v1:0"));
  EXPECT_TRUE(body.ends_with(
      R"(,"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":"{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"string\"}},\"required\":[\"n\"]}","name":"person","description":"A \"person\""}}}}})"))
      << body;
  auto bare = structured("anthropic.claude-sonnet-4-5-20250929-v1:0");
  bare.output_format->name.clear();
  bare.output_format->description.clear();
  EXPECT_NE(converse::encode_request(bare).find(R"({"jsonSchema":{"schema":"{\"type\":\"object\",)"), std::string::npos);
  EXPECT_EQ(converse::encode_request(structured("x")).find("outputConfig") != std::string::npos, true);
  auto plain = structured("x");
  plain.output_format.reset();
  EXPECT_EQ(converse::encode_request(plain).find("outputConfig"), std::string::npos);
}

TEST(StructuredOutput, InvokeModelRefusesItNamingConverse) {
  auto body = invoke::encode_request(structured("anthropic.claude-sonnet-4-5-20250929-v1:0"), ModelFamily::anthropic_claude);
  ASSERT_FALSE(body);
  EXPECT_EQ(body.error().kind, ErrorKind::invalid_input);
  EXPECT_NE(body.error().message.find("Converse"), std::string::npos);
}

// A tool result holding JSON, an image, a document and text (what the front doors make of Anthropic
// tool_result blocks and OpenAI tool message parts).
ChatRequest rich_tool_result() {
  ChatRequest r;
  r.model_id = "anthropic.claude-3-5-sonnet-20240620-v1:0";
  r.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("Chart?")}});
  r.messages.push_back(Message{.role = "assistant", .content = {ContentBlock::make_tool_use("t1", "chart", "{}")}});
  ContentBlock result{.type = ContentBlock::Type::tool_result};
  result.tool_use_id = "t1";
  result.content = {ContentBlock::make_json(R"({"rows":[1,2.5],"ok":true})"),
                    ContentBlock{.type = ContentBlock::Type::image, .format = "png", .bytes = "PNG"},
                    ContentBlock{.type = ContentBlock::Type::document, .format = "pdf", .name = "report", .bytes = "%PDF"},
                    ContentBlock::make_text("caption")};
  r.messages.push_back(Message{.role = "user", .content = {result}});
  r.tools = {ToolSpec{.name = "chart", .input_schema = R"({"type":"object"})"}};
  return r;
}

TEST(ToolResultContent, ConverseSendsJsonImagesAndDocumentsAsToolResultContent) {
  const auto r = rich_tool_result();
  ASSERT_TRUE(validate_request(r));
  const std::string body = converse::encode_request(r);
  EXPECT_NE(body.find(R"({"toolResult":{"toolUseId":"t1","content":[{"json":{"rows":[1,2.5],"ok":true}},)"
                      R"({"image":{"format":"png","source":{"bytes":"UE5H"}}},)"
                      R"({"document":{"name":"report","source":{"bytes":"JVBERg=="},"format":"pdf"}},{"text":"caption"}]}})"),
            std::string::npos)
      << body;
}

TEST(ToolResultContent, ClaudesNativeBodyCarriesImagesAndDocumentsAndJsonAsText) {
  auto body = invoke::encode_request(rich_tool_result(), ModelFamily::anthropic_claude);
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_NE(body->find(R"("content":[{"type":"text","text":"{\"rows\":[1,2.5],\"ok\":true}"},)"
                       R"({"type":"image","source":{"type":"base64","media_type":"image/png","data":"UE5H"}},)"
                       R"({"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERg=="},"title":"report"},)"
                       R"({"type":"text","text":"caption"}])"),
            std::string::npos)
      << *body;
}

TEST(ToolResultContent, ValidationRefusesEmptyPartsBadFormatsAndNestedToolBlocks) {
  auto r = rich_tool_result();
  r.messages[2].content[0].content[1].format = "bmp";
  EXPECT_FALSE(validate_request(r));
  r = rich_tool_result();
  r.messages[2].content[0].content[2].name.clear();
  EXPECT_FALSE(validate_request(r));
  r = rich_tool_result();
  r.messages[2].content[0].content.push_back(ContentBlock::make_tool_use("t2", "x", "{}"));
  EXPECT_FALSE(validate_request(r));
  r = rich_tool_result();
  r.messages[2].content[0].content.push_back(ContentBlock::make_text(""));
  EXPECT_FALSE(validate_request(r));
}

}  // namespace
}  // namespace ba::bedrock
