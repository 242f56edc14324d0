// Prompt caching in the model-facing request: which models take cache points, and where the Converse
// codec writes them (the SDK oracle checks the same bodies byte for byte: sdk_oracle_test.cpp).
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "bedrock/converse_codec.hpp"
#include "bedrock/invoke_codec.hpp"
#include "bedrock/types.hpp"

namespace ba::bedrock {
namespace {

boost::json::value J(std::string_view s) { return boost::json::parse(s); }

TEST(PromptCacheSupport, FollowsBedrocksModelList) {
  for (const char* id : {"anthropic.claude-3-5-haiku-20241022-v1:0", "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
                         "anthropic.claude-sonnet-4-20250514-v1:0", "eu.anthropic.claude-opus-4-1-20250805-v1:0",
                         "global.anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0",
                         "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-4-20250514-v1:0"}) {
    const auto s = prompt_cache_support(id);
    EXPECT_TRUE(s.system && s.messages && s.tools) << id;
  }
  for (const char* id : {"amazon.nova-pro-v1:0", "us.amazon.nova-micro-v1:0", "amazon.nova-premier-v1:0"}) {
    const auto s = prompt_cache_support(id);
    EXPECT_TRUE(s.system && s.messages) << id;
    EXPECT_FALSE(s.tools) << id << ": Nova takes no cache point in toolConfig";
  }
  for (const char* id : {"anthropic.claude-3-sonnet-20240229-v1:0", "anthropic.claude-3-haiku-20240307-v1:0",
                         "us.anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic.claude-v2:1",
                         "amazon.titan-text-express-v1", "meta.llama3-70b-instruct-v1:0", "amazon.nova-canvas-v1:0",
                         "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"}) {
    EXPECT_FALSE(prompt_cache_support(id).any()) << id;
  }
}

ChatRequest marked(std::string model) {
  ChatRequest r;
  r.model_id = std::move(model);
  r.system = "You are terse.";
  r.system_cache_point = true;
  r.max_tokens = 10;
  r.tools = {ToolSpec{.name = "a", .input_schema = R"({"type":"object"})", .cache_point = true},
             ToolSpec{.name = "b", .input_schema = R"({"type":"object"})"}};
  r.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("long document"), ContentBlock::make_text("q1")}});
  r.messages[0].content[0].cache_point = true;
  r.messages.push_back(Message{.role = "assistant", .content = {ContentBlock::make_text("a1")}});
  r.messages[1].content[0].cache_point = true;
  r.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("q2")}});
  return r;
}

TEST(PromptCacheCodec, CachePointsFollowTheMarkedSystemPromptBlocksAndTools) {
  const auto body = J(converse::encode_request(marked("anthropic.claude-sonnet-4-20250514-v1:0")));
  EXPECT_EQ(body.at("system"), J(R"([{"text":"You are terse."},{"cachePoint":{"type":"default"}}])"));
  EXPECT_EQ(body.at("messages"), J(R"([
      {"role":"user","content":[{"text":"long document"},{"cachePoint":{"type":"default"}},{"text":"q1"}]},
      {"role":"assistant","content":[{"text":"a1"},{"cachePoint":{"type":"default"}}]},
      {"role":"user","content":[{"text":"q2"}]}])"));
  EXPECT_EQ(body.at("toolConfig").at("tools"), J(R"([
      {"toolSpec":{"name":"a","inputSchema":{"json":{"type":"object"}}}},{"cachePoint":{"type":"default"}},
      {"toolSpec":{"name":"b","inputSchema":{"json":{"type":"object"}}}}])"));
  EXPECT_EQ(count_cache_points(marked("x")), 4u);
}

// InvokeModel with Claude's native body: the same points as cache_control marks on the marked block,
// tool or (as a text block) the system prompt.
TEST(PromptCacheCodec, ClaudesNativeBodyMarksTheBlocksWithCacheControl) {
  auto body = invoke::encode_request(marked("anthropic.claude-sonnet-4-20250514-v1:0"), ModelFamily::anthropic_claude);
  ASSERT_TRUE(body) << body.error().message;
  const auto b = J(*body);
  EXPECT_EQ(b.at("system"), J(R"([{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}])"));
  EXPECT_EQ(b.at("messages"), J(R"([
      {"role":"user","content":[{"type":"text","text":"long document","cache_control":{"type":"ephemeral"}},
                                {"type":"text","text":"q1"}]},
      {"role":"assistant","content":[{"type":"text","text":"a1","cache_control":{"type":"ephemeral"}}]},
      {"role":"user","content":[{"type":"text","text":"q2"}]}])"));
  EXPECT_EQ(b.at("tools"), J(R"([{"name":"a","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}},
                                  {"name":"b","input_schema":{"type":"object"}}])"));

  ChatRequest plain = marked("anthropic.claude-sonnet-4-20250514-v1:0");
  plain.system_cache_point = false;
  for (auto& m : plain.messages)
    for (auto& blk : m.content) blk.cache_point = false;
  for (auto& t : plain.tools) t.cache_point = false;
  auto unmarked = invoke::encode_request(plain, ModelFamily::anthropic_claude);
  ASSERT_TRUE(unmarked);
  EXPECT_EQ(J(*unmarked).at("system"), J(R"("You are terse.")"));  // unchanged without marks
  EXPECT_EQ(unmarked->find("cache_control"), std::string::npos);
}

TEST(PromptCacheCodec, ReadsCacheUsageFromClaudesNativeReply) {
  auto r = invoke::decode_response(R"({"type":"message","role":"assistant",
      "content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn",
      "usage":{"input_tokens":5,"output_tokens":2,"cache_creation_input_tokens":300,"cache_read_input_tokens":1200}})",
                                  ModelFamily::anthropic_claude);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->usage.input_tokens, 5);
  EXPECT_EQ(r->usage.cache_read_input_tokens, 1200);
  EXPECT_EQ(r->usage.cache_write_input_tokens, 300);
}

TEST(PromptCacheCodec, NoCachePointsWithoutMarks) {
  ChatRequest r = marked("anthropic.claude-sonnet-4-20250514-v1:0");
  r.system_cache_point = false;
  for (auto& m : r.messages)
    for (auto& b : m.content) b.cache_point = false;
  for (auto& t : r.tools) t.cache_point = false;
  EXPECT_EQ(converse::encode_request(r).find("cachePoint"), std::string::npos);
  EXPECT_EQ(count_cache_points(r), 0u);
}

TEST(PromptCacheCodec, UnsupportedCachePointsAreDroppedPerModel) {
  ChatRequest claude3 = marked("anthropic.claude-3-sonnet-20240229-v1:0");
  drop_unsupported_cache_points(claude3);
  EXPECT_EQ(count_cache_points(claude3), 0u);
  EXPECT_EQ(converse::encode_request(claude3).find("cachePoint"), std::string::npos);

  ChatRequest nova = marked("amazon.nova-pro-v1:0");
  drop_unsupported_cache_points(nova);
  EXPECT_TRUE(nova.system_cache_point);
  EXPECT_TRUE(nova.messages[0].content[0].cache_point);
  EXPECT_FALSE(nova.tools[0].cache_point);  // Nova: system and messages only
  EXPECT_EQ(count_cache_points(nova), 3u);

  ChatRequest sonnet4 = marked("us.anthropic.claude-sonnet-4-20250514-v1:0");
  drop_unsupported_cache_points(sonnet4);
  EXPECT_EQ(count_cache_points(sonnet4), 4u);
}

TEST(PromptCacheCodec, AnEmptySystemPromptGetsNoCachePoint) {
  ChatRequest r = marked("anthropic.claude-sonnet-4-20250514-v1:0");
  r.system.clear();
  EXPECT_FALSE(J(converse::encode_request(r)).as_object().contains("system"));
}

TEST(PromptCacheCodec, ReadsCacheUsageFromConverse) {
  auto r = converse::decode_response(R"({"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},
      "stopReason":"end_turn","usage":{"inputTokens":5,"outputTokens":2,"totalTokens":1507,
      "cacheReadInputTokens":1200,"cacheWriteInputTokens":300}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->usage.input_tokens, 5);
  EXPECT_EQ(r->usage.cache_read_input_tokens, 1200);
  EXPECT_EQ(r->usage.cache_write_input_tokens, 300);
}

}  // namespace
}  // namespace ba::bedrock
