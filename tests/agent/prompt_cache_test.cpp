// Prompt caching in the chat use case: /chat's cache points (ChatConfig::prompt_cache) and the stateless
// front doors' marks, dropped for models that do not cache.
#include <gtest/gtest.h>

#include "agent/chat_service.hpp"
#include "store/sqlite_history.hpp"
#include "support/fake_model.hpp"
#include "support/run_sync.hpp"

namespace ba::test {
namespace {

class PromptCacheTest : public ::testing::Test {
 protected:
  void make(std::string model_id, bool prompt_cache) {
    auto s = store::make_sqlite_history(":memory:");
    ASSERT_TRUE(s);
    history = std::move(*s);
    agent::ChatConfig cfg;
    cfg.model_id = std::move(model_id);
    cfg.prompt_cache = prompt_cache;
    // The stateless test names these models (the agent calls its model and the aliases' targets only).
    cfg.model_aliases = {{"sonnet37", "us.anthropic.claude-3-7-sonnet-20250219-v1:0"}, {"nova", "amazon.nova-lite-v1:0"}};
    service = std::make_unique<agent::ChatService>(model, *history, cfg);
  }
  agent::ChatInput input(std::string text, std::string conversation) {
    agent::ChatInput in;
    in.owner = "alice";
    in.input = std::move(text);
    in.conversation_id = std::move(conversation);
    in.system = "You are terse.";
    in.request_id = "rid";
    return in;
  }
  static std::size_t points(const bedrock::ChatRequest& r) { return bedrock::count_cache_points(r); }

  FakeModel model;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<agent::ChatService> service;
};

TEST_F(PromptCacheTest, ChatPutsCachePointsAfterTheSystemPromptAndTheHistory) {
  make("us.anthropic.claude-sonnet-4-20250514-v1:0", true);
  model.reply("r1");
  model.script.back().result->usage.cache_write_input_tokens = 1500;
  ASSERT_TRUE(run_sync(service->chat(input("q1", "c1"))));
  const auto& first = model.requests.back();
  EXPECT_TRUE(first.system_cache_point);
  ASSERT_EQ(first.messages.size(), 1u);  // no history yet: no point in the messages
  EXPECT_EQ(points(first), 1u);

  model.reply("r2");
  model.script.back().result->usage.cache_read_input_tokens = 1500;
  auto out = run_sync(service->chat(input("q2", "c1")));
  ASSERT_TRUE(out) << out.error().message;
  const auto& second = model.requests.back();
  ASSERT_EQ(second.messages.size(), 3u);
  EXPECT_TRUE(second.system_cache_point);
  EXPECT_FALSE(second.messages[0].content.back().cache_point);
  EXPECT_TRUE(second.messages[1].content.back().cache_point);  // after the history (the last assistant turn)
  EXPECT_FALSE(second.messages[2].content.back().cache_point);  // not after the new question
  EXPECT_EQ(points(second), 2u);
  EXPECT_EQ(out->usage.cache_read_input_tokens, 1500);  // reported to the caller
}

TEST_F(PromptCacheTest, ChatSendsNoCachePointsUnlessAskedTo) {
  make("us.anthropic.claude-sonnet-4-20250514-v1:0", false);
  model.reply("r1");
  model.reply("r2");
  ASSERT_TRUE(run_sync(service->chat(input("q1", "c1"))));
  ASSERT_TRUE(run_sync(service->chat(input("q2", "c1"))));
  EXPECT_EQ(points(model.requests.back()), 0u);
}

TEST_F(PromptCacheTest, ModelsThatDoNotCacheGetNoCachePoints) {
  make("anthropic.claude-3-sonnet-20240229-v1:0", true);
  model.reply("r1");
  model.reply("r2");
  ASSERT_TRUE(run_sync(service->chat(input("q1", "c1"))));
  ASSERT_TRUE(run_sync(service->chat(input("q2", "c1"))));
  EXPECT_EQ(points(model.requests.back()), 0u);  // Bedrock would refuse them (ValidationException)
}

TEST_F(PromptCacheTest, StatelessMarksReachTheModelForModelsThatCache) {
  make("anthropic.claude-3-sonnet-20240229-v1:0", false);
  auto stateless = [](std::string model_id) {
    agent::ChatInput in;
    in.owner = "alice";
    in.request_id = "rid";
    in.model_id = std::move(model_id);
    in.system = "Be brief.";
    in.system_cache_point = true;
    in.messages = std::vector<bedrock::Message>{{"user", {bedrock::ContentBlock::make_text("doc"), bedrock::ContentBlock::make_text("q")}}};
    (*in.messages)[0].content[0].cache_point = true;
    in.tools = {bedrock::ToolSpec{.name = "t", .input_schema = R"({"type":"object"})", .cache_point = true}};
    return in;
  };
  model.reply("a");
  auto out = run_sync(service->chat(stateless("us.anthropic.claude-3-7-sonnet-20250219-v1:0")));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(points(model.requests.back()), 3u);
  EXPECT_TRUE(model.requests.back().messages[0].content[0].cache_point);
  model.reply("a");
  ASSERT_TRUE(run_sync(service->chat(stateless("amazon.nova-lite-v1:0"))));
  EXPECT_EQ(points(model.requests.back()), 2u);  // Nova: not in tools
  model.reply("a");
  ASSERT_TRUE(run_sync(service->chat(stateless("anthropic.claude-3-sonnet-20240229-v1:0"))));
  EXPECT_EQ(points(model.requests.back()), 0u);
}

}  // namespace
}  // namespace ba::test
