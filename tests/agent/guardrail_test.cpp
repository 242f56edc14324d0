// A configured guardrail in the chat use case: on every model call; a blocked turn answered as Bedrock
// returned it and not saved in the history.
#include <gtest/gtest.h>

#include "agent/chat_service.hpp"
#include "store/sqlite_history.hpp"
#include "support/fake_model.hpp"
#include "support/run_sync.hpp"

namespace ba::test {
namespace {

class GuardrailChatTest : public ::testing::Test {
 protected:
  GuardrailChatTest() {
    auto s = store::make_sqlite_history(":memory:");
    EXPECT_TRUE(s);
    history = std::move(*s);
    agent::ChatConfig cfg;
    cfg.model_id = "anthropic.claude-3-haiku-20240307-v1:0";
    cfg.guardrail = bedrock::GuardrailConfig{.identifier = "gr1", .version = "2", .trace = "enabled"};
    service = std::make_unique<agent::ChatService>(model, *history, cfg);
  }
  agent::ChatInput input(std::string text) {
    agent::ChatInput in;
    in.owner = "alice";
    in.input = std::move(text);
    in.conversation_id = "c1";
    in.request_id = "rid";
    return in;
  }
  void blocked() {
    model.reply("Sorry, the model cannot answer this question.");
    model.script.back().result->stop_reason = "guardrail_intervened";
    model.script.back().result->usage.output_tokens = 0;
  }
  std::size_t turns() {
    auto t = run_sync(history->load("alice", "c1", 100));
    return t ? t->size() : 0;
  }

  FakeModel model;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<agent::ChatService> service;
};

TEST_F(GuardrailChatTest, EveryCallCarriesTheGuardrail) {
  model.reply("fine");
  ASSERT_TRUE(run_sync(service->chat(input("hello"))));
  ASSERT_TRUE(model.requests.back().guardrail.has_value());
  EXPECT_EQ(model.requests.back().guardrail->identifier, "gr1");
  EXPECT_EQ(model.requests.back().guardrail->version, "2");
  EXPECT_EQ(model.requests.back().guardrail->trace, "enabled");
  EXPECT_EQ(turns(), 1u);
}

TEST_F(GuardrailChatTest, ABlockedTurnIsAnsweredAsBedrockReturnedItAndNotSaved) {
  model.reply("fine");
  ASSERT_TRUE(run_sync(service->chat(input("hello"))));
  blocked();
  auto out = run_sync(service->chat(input("something forbidden")));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->stop_reason, "guardrail_intervened");
  EXPECT_EQ(out->response, "Sorry, the model cannot answer this question.");
  EXPECT_EQ(out->seq, 0);      // nothing saved
  EXPECT_EQ(turns(), 1u);      // the conversation is as it was
  model.reply("still fine");  // the next turn does not carry the blocked input to the guardrail again
  ASSERT_TRUE(run_sync(service->chat(input("next"))));
  const auto& msgs = model.requests.back().messages;
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[0].content[0].text, "hello");
  EXPECT_EQ(msgs[2].content[0].text, "next");
}

}  // namespace
}  // namespace ba::test
