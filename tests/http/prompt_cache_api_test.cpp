// Prompt caching on the compatible routes and /chat: Anthropic's cache_control as cache points, cache
// usage in each API's shape (buffered and streamed).
#include <gtest/gtest.h>

#include "http/compat_fixture.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

constexpr const char* kSonnet4 = "us.anthropic.claude-sonnet-4-20250514-v1:0";

class PromptCacheApiTest : public CompatApiTest {
 protected:
  void SetUp() override {
    CompatApiTest::SetUp();
    // The fixture's models do not cache: add one that does, as an alias.
    wire({{"haiku", kHaiku}, {"sonnet4", kSonnet4}});
  }
  net::ServerResponse messages(std::string body) {
    net::Headers h;
    h.set("x-api-key", kKey);
    h.set("anthropic-version", "2023-06-01");
    return post("/v1/messages", std::move(body), std::move(h));
  }
  void reply_cached(std::int64_t read, std::int64_t write) {
    model.reply("ok", {"o", "k"});
    model.script.back().result->usage.cache_read_input_tokens = read;
    model.script.back().result->usage.cache_write_input_tokens = write;
  }
};

constexpr const char* kMarked = R"({"model": "sonnet4", "max_tokens": 50,
  "system": [{"type": "text", "text": "Rules.", "cache_control": {"type": "ephemeral"}},
             {"type": "text", "text": "More rules."}],
  "tools": [{"name": "f", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral", "ttl": "5m"}},
            {"name": "g", "input_schema": {"type": "object"}}],
  "messages": [
    {"role": "user", "content": [{"type": "text", "text": "A long document", "cache_control": {"type": "ephemeral"}},
                                 {"type": "text", "text": "Question?"}]},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                  "content": [{"type": "text", "text": "42", "cache_control": {"type": "ephemeral"}}]}]}]})";

TEST_F(PromptCacheApiTest, CacheControlBecomesCachePointsAfterTheMarkedBlocks) {
  reply_cached(0, 0);
  auto r = messages(kMarked);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& req = model.requests.at(0);
  EXPECT_EQ(req.system, "Rules.\n\nMore rules.");
  EXPECT_TRUE(req.system_cache_point);  // one system prompt for Converse: the point after all of it
  EXPECT_TRUE(req.tools.at(0).cache_point);
  EXPECT_FALSE(req.tools.at(1).cache_point);
  EXPECT_TRUE(req.messages.at(0).content.at(0).cache_point);
  EXPECT_FALSE(req.messages.at(0).content.at(1).cache_point);
  EXPECT_TRUE(req.messages.at(2).content.at(0).cache_point);  // a mark inside a tool_result: after the result
  EXPECT_EQ(bedrock::count_cache_points(req), 4u);
}

TEST_F(PromptCacheApiTest, ModelsThatDoNotCacheAnswerTheSameWithoutCachePoints) {
  reply_cached(0, 0);
  std::string body = kMarked;
  body.replace(body.find("sonnet4"), 7, "haiku");
  auto r = messages(body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(bedrock::count_cache_points(model.requests.at(0)), 0u);
  auto u = parse(r.body).at("usage");
  EXPECT_EQ(u.at("cache_read_input_tokens"), 0);
  EXPECT_EQ(u.at("cache_creation_input_tokens"), 0);
}

TEST_F(PromptCacheApiTest, BadOrTooManyCacheControlsAreA400) {
  const std::string five = R"({"model": "sonnet4", "max_tokens": 5, "messages": [{"role": "user", "content": [
    {"type": "text", "text": "1", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "2", "cache_control": {"type": "ephemeral"}},
    {"type": "text", "text": "3", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "4", "cache_control": {"type": "ephemeral"}},
    {"type": "text", "text": "5", "cache_control": {"type": "ephemeral"}}]}]})";
  struct Case {
    std::string body, says;
  };
  const std::vector<Case> cases = {
      {five, "A maximum of 4 blocks with cache_control may be provided. Found 5."},
      {R"({"model": "sonnet4", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}]})",
       "messages.0.content.0.cache_control.ttl: only '5m'"},
      {R"({"model": "sonnet4", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "scope": 1}}]}]})",
       "cache_control.scope: Extra inputs are not permitted"},
      {R"({"model": "sonnet4", "max_tokens": 5, "system": [{"type": "text", "text": "x", "cache_control": "yes"}], "messages": [{"role": "user", "content": "x"}]})",
       "system.0.cache_control: Input should be an object"},
      {R"({"model": "sonnet4", "max_tokens": 5, "tools": [{"name": "f", "input_schema": {"type": "object"}, "cache_control": {}}], "messages": [{"role": "user", "content": "x"}]})",
       "tools.0.cache_control.type: Field required"},
  };
  for (const auto& c : cases) {
    auto r = messages(c.body);
    ASSERT_EQ(r.status, 400) << c.body << " -> " << r.body;
    EXPECT_NE(parse(r.body).at("error").at("message").as_string().find(c.says), std::string::npos) << r.body;
  }
  EXPECT_TRUE(model.requests.empty());
}

TEST_F(PromptCacheApiTest, CacheUsageInAnthropicsShapeBufferedAndStreamed) {
  reply_cached(1200, 300);
  auto r = messages(kMarked);
  ASSERT_EQ(r.status, 200) << r.body;
  auto u = parse(r.body).at("usage");
  EXPECT_EQ(u.at("input_tokens"), 10);  // Anthropic's input_tokens: the uncached rest, as Bedrock's
  EXPECT_EQ(u.at("cache_read_input_tokens"), 1200);
  EXPECT_EQ(u.at("cache_creation_input_tokens"), 300);

  reply_cached(1200, 0);
  std::string streamed = kMarked;
  streamed.insert(1, R"("stream": true, )");
  auto s = messages(streamed);
  ASSERT_EQ(s.status, 200);
  const std::string body = drain(s);
  const auto at = body.find("event: message_delta");
  ASSERT_NE(at, std::string::npos) << body;
  const auto data = body.find("data: ", at);
  auto delta = parse(body.substr(data + 6, body.find('\n', data) - data - 6));
  EXPECT_EQ(delta.at("usage").at("cache_read_input_tokens"), 1200) << body;
}

TEST_F(PromptCacheApiTest, OpenAIReportsCachedTokensInPromptTokensDetails) {
  reply_cached(1200, 300);
  auto r = post("/v1/chat/completions", R"({"model": "sonnet4", "messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto u = parse(r.body).at("usage");
  EXPECT_EQ(u.at("prompt_tokens"), 10 + 1200 + 300);  // OpenAI's prompt_tokens include the cached ones
  EXPECT_EQ(u.at("prompt_tokens_details").at("cached_tokens"), 1200);

  reply_cached(1200, 0);
  auto s = post("/v1/chat/completions", R"({"model": "sonnet4", "stream": true, "stream_options": {"include_usage": true},
    "messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_EQ(s.status, 200);
  const std::string body = drain(s);
  EXPECT_NE(body.find(R"("prompt_tokens_details":{"cached_tokens":1200})"), std::string::npos) << body;
}

TEST_F(PromptCacheApiTest, ChatReportsCacheTokens) {
  reply_cached(700, 50);
  auto r = post("/chat", R"({"input": "hi"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto u = parse(r.body).at("usage");
  EXPECT_EQ(u.at("cache_read_input_tokens"), 700);
  EXPECT_EQ(u.at("cache_write_input_tokens"), 50);
}

}  // namespace
}  // namespace ba::test
