#include "agent/chat_service.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "support/fake_model.hpp"
#include "support/run_sync.hpp"
#include "store/no_history.hpp"
#include "store/sqlite_history.hpp"

namespace ba::test {
namespace {

class ChatServiceTest : public ::testing::Test {
 protected:
  ChatServiceTest() {
    auto s = store::make_sqlite_history(":memory:");
    EXPECT_TRUE(s);
    history = std::move(*s);
    ChatConfig cfg;
    cfg.model_id = "us.anthropic.claude-3-haiku-20240307-v1:0";
    cfg.limits.history_turns = 3;
    service = std::make_unique<agent::ChatService>(model, *history, cfg);
  }
  using ChatConfig = agent::ChatConfig;

  agent::ChatInput input(std::string text, std::optional<std::string> conversation = std::nullopt) {
    agent::ChatInput in;
    in.owner = "alice";
    in.input = std::move(text);
    in.conversation_id = std::move(conversation);
    in.request_id = "rid";
    return in;
  }

  std::size_t stored_turns(const std::string& id, const std::string& owner = "alice") {
    auto t = run_sync(history->load(owner, id, 1000));
    return t ? t->size() : 0;
  }

  FakeModel model;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<agent::ChatService> service;
};

TEST_F(ChatServiceTest, NewConversationGetsAnIdAndIsSaved) {
  model.reply("Hi there");
  auto out = run_sync(service->chat(input("Hello")));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->response, "Hi there");
  EXPECT_TRUE(agent::valid_conversation_id(out->conversation_id));
  EXPECT_EQ(out->conversation_id.size(), 36u);
  EXPECT_TRUE(out->new_conversation);
  EXPECT_EQ(out->model_id, "us.anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(out->stop_reason, "end_turn");
  EXPECT_EQ(out->usage.input_tokens, 10);
  EXPECT_EQ(out->usage.output_tokens, 5);
  EXPECT_EQ(out->upstream_request_id, "upstream-req");
  EXPECT_EQ(out->seq, 1);
  ASSERT_EQ(model.requests.size(), 1u);
  const auto& req = model.requests[0];
  EXPECT_EQ(req.model_id, "us.anthropic.claude-3-haiku-20240307-v1:0");
  ASSERT_EQ(req.messages.size(), 1u);
  EXPECT_EQ(req.messages[0].role, "user");
  EXPECT_EQ(req.messages[0].content.at(0).text, "Hello");
  EXPECT_EQ(req.max_tokens, 1024);
  auto turns = run_sync(history->load("alice", out->conversation_id, 10));
  ASSERT_TRUE(turns);
  ASSERT_EQ(turns->size(), 1u);
  EXPECT_EQ((*turns)[0].user_input, "Hello");
  EXPECT_EQ((*turns)[0].assistant_reply, "Hi there");
  EXPECT_EQ((*turns)[0].request_id, "rid");
  EXPECT_EQ((*turns)[0].input_tokens, 10);
}

TEST_F(ChatServiceTest, TwoNewConversationsGetDifferentIds) {
  model.reply("a");
  model.reply("b");
  auto a = run_sync(service->chat(input("x")));
  auto b = run_sync(service->chat(input("y")));
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->conversation_id, b->conversation_id);
}

TEST_F(ChatServiceTest, HistoryIsSentAsAlternatingMessages) {
  model.reply("r1");
  auto first = run_sync(service->chat(input("q1", "conv-1")));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->conversation_id, "conv-1");
  EXPECT_TRUE(first->new_conversation);
  model.reply("r2");
  auto second = run_sync(service->chat(input("q2", "conv-1")));
  ASSERT_TRUE(second);
  EXPECT_FALSE(second->new_conversation);
  EXPECT_EQ(second->seq, 2);
  const auto& msgs = model.requests.back().messages;
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[0].role, "user");
  EXPECT_EQ(msgs[0].content[0].text, "q1");
  EXPECT_EQ(msgs[1].role, "assistant");
  EXPECT_EQ(msgs[1].content[0].text, "r1");
  EXPECT_EQ(msgs[2].role, "user");
  EXPECT_EQ(msgs[2].content[0].text, "q2");
}

TEST_F(ChatServiceTest, HistoryCanBeExcluded) {
  model.reply("r1");
  ASSERT_TRUE(run_sync(service->chat(input("q1", "c"))));
  model.reply("r2");
  auto in = input("q2", "c");
  in.include_history = false;
  auto out = run_sync(service->chat(in));
  ASSERT_TRUE(out);
  ASSERT_EQ(model.requests.back().messages.size(), 1u);
  EXPECT_EQ(stored_turns("c"), 2u);  // still saved
}

TEST_F(ChatServiceTest, HistoryWindowKeepsTheNewestTurns) {
  for (int i = 1; i <= 5; ++i) {
    model.reply("r" + std::to_string(i));
    ASSERT_TRUE(run_sync(service->chat(input("q" + std::to_string(i), "c"))));
  }
  // history_turns = 3: the 5th request saw turns 2..4.
  const auto& msgs = model.requests.back().messages;
  ASSERT_EQ(msgs.size(), 7u);
  EXPECT_EQ(msgs[0].content[0].text, "q2");
  EXPECT_EQ(msgs[6].content[0].text, "q5");
}

TEST_F(ChatServiceTest, HistoryCharacterBudgetDropsOldestTurns) {
  agent::ChatConfig cfg;
  cfg.limits.history_turns = 20;
  cfg.limits.history_chars = 10;
  agent::ChatService small(model, *history, cfg);
  model.reply("aaaa");  // turn 1: 4 + 4 chars
  ASSERT_TRUE(run_sync(small.chat(input("bbbb", "c"))));
  model.reply("cc");  // turn 2: 2 + 2 chars
  ASSERT_TRUE(run_sync(small.chat(input("dd", "c"))));
  model.reply("x");
  ASSERT_TRUE(run_sync(small.chat(input("q3", "c"))));
  // Budget 10: turn 2 (4) fits, turn 1 (8) would exceed.
  const auto& msgs = model.requests.back().messages;
  ASSERT_EQ(msgs.size(), 3u);
  EXPECT_EQ(msgs[0].content[0].text, "dd");
}

TEST_F(ChatServiceTest, FailedModelCallLeavesHistoryUnchanged) {
  model.reply("r1");
  ASSERT_TRUE(run_sync(service->chat(input("q1", "c"))));
  Error e = Error::make(ErrorKind::throttled, "Too many requests");
  e.code = "ThrottlingException";
  e.http_status = 429;
  model.error(e);
  auto out = run_sync(service->chat(input("q2", "c")));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::throttled);
  EXPECT_EQ(stored_turns("c"), 1u);
  // A failed first turn does not create the conversation.
  model.error(Error::make(ErrorKind::timeout, "deadline"));
  auto fresh = run_sync(service->chat(input("q", "never")));
  ASSERT_FALSE(fresh);
  auto gone = run_sync(history->load("alice", "never", 10));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind, ErrorKind::not_found);
}

TEST_F(ChatServiceTest, StreamingForwardsDeltasAndSavesTheTurn) {
  model.reply("Hello world", {"Hel", "lo ", "world"});
  std::vector<std::string> seen;
  auto out = run_sync(service->chat(input("hi", "s"), [&](const bedrock::StreamDelta& d) -> boost::asio::awaitable<bool> {
    seen.push_back(d.text);
    co_return true;
  }));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(model.stream_calls, 1);
  EXPECT_EQ(model.buffered_calls, 0);
  EXPECT_EQ(seen, (std::vector<std::string>{"Hel", "lo ", "world"}));
  EXPECT_EQ(out->response, "Hello world");
  EXPECT_EQ(stored_turns("s"), 1u);
}

TEST_F(ChatServiceTest, StreamCancellationPropagatesAndSavesNothing) {
  model.reply("Hello world", {"Hel", "lo ", "world"});
  int calls = 0;
  auto out = run_sync(service->chat(input("hi", "s"), [&](const bedrock::StreamDelta&) -> boost::asio::awaitable<bool> {
    co_return ++calls < 2;  // the caller goes away on the second delta
  }));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::cancelled);
  EXPECT_TRUE(model.cancelled);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(stored_turns("s"), 0u);
}

TEST_F(ChatServiceTest, ValidationErrorsNeverReachTheModel) {
  struct Case {
    std::string name;
    std::function<void(agent::ChatInput&)> mutate;
    std::string needle;
  };
  std::vector<Case> cases = {
      {"empty", [](auto& in) { in.input = "  \n"; }, "input"},
      {"too long", [](auto& in) { in.input = std::string(100'001, 'x'); }, "limit is 100000"},
      {"bad id", [](auto& in) { in.conversation_id = "has space"; }, "A-Z a-z 0-9"},
      {"long id", [](auto& in) { in.conversation_id = std::string(129, 'a'); }, "1-128"},
      {"empty id", [](auto& in) { in.conversation_id = ""; }, "1-128"},
      {"max_tokens 0", [](auto& in) { in.max_tokens = 0; }, "max_tokens must be a positive integer"},
      {"max_tokens negative", [](auto& in) { in.max_tokens = -5; }, "max_tokens must be a positive integer"},
      {"temperature", [](auto& in) { in.temperature = 1.5; }, "temperature"},
      {"temperature nan", [](auto& in) { in.temperature = std::nan(""); }, "temperature"},
      {"system", [](auto& in) { in.system = std::string(20'001, 's'); }, "system"},
  };
  for (const auto& c : cases) {
    auto in = input("ok");
    c.mutate(in);
    auto out = run_sync(service->chat(in));
    ASSERT_FALSE(out) << c.name;
    EXPECT_EQ(out.error().kind, ErrorKind::invalid_input) << c.name;
    EXPECT_NE(out.error().message.find(c.needle), std::string::npos) << c.name << ": " << out.error().message;
  }
  EXPECT_TRUE(model.requests.empty());
}

TEST_F(ChatServiceTest, OptionsReachTheModel) {
  model.reply("ok");
  auto in = input("hi");
  in.system = "be brief";
  in.max_tokens = 77;
  in.temperature = 0.25;
  in.deadline = SteadyTime{} + std::chrono::seconds(42);
  ASSERT_TRUE(run_sync(service->chat(in)));
  const auto& req = model.requests.back();
  EXPECT_EQ(req.system, "be brief");
  EXPECT_EQ(req.max_tokens, 77);
  ASSERT_TRUE(req.temperature);
  EXPECT_DOUBLE_EQ(*req.temperature, 0.25);
  EXPECT_EQ(model.last_options.deadline, in.deadline);
}

// Issue 3: max_tokens has one source of truth, ratelimit::model_profile; above the clamp it is clamped.
TEST_F(ChatServiceTest, MaxTokensAboveTheModelClampIsClampedAndReported) {
  model.reply("ok");
  auto in = input("hi");
  in.max_tokens = 4097;  // Claude 3 Haiku's clamp is 4096
  auto out = run_sync(service->chat(in));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(model.requests.back().max_tokens, 4096);
  EXPECT_EQ(out->max_tokens, 4096);
  EXPECT_EQ(service->effective_max_tokens(std::nullopt), 1024);
  EXPECT_EQ(service->effective_max_tokens(100), 100);
}

TEST_F(ChatServiceTest, MaxTokensOverridesComeFromTheRateLimitConfig) {
  ChatConfig cfg;
  cfg.model_id = "us.anthropic.claude-sonnet-4-20250514-v1:0";
  cfg.rate_limit.model_overrides[cfg.model_id] = ratelimit::ModelOverride{.default_max_tokens = 300,
                                                                          .max_tokens_clamp = 2000};
  agent::ChatService svc(model, *history, cfg);
  EXPECT_DOUBLE_EQ(svc.profile().burndown, 5.0);
  model.reply("a");
  auto out = run_sync(svc.chat(input("no max_tokens")));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(model.requests.back().max_tokens, 300);
  EXPECT_EQ(out->max_tokens, 300);
  model.reply("b");
  auto in = input("too many");
  in.max_tokens = 50'000;
  out = run_sync(svc.chat(in));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(model.requests.back().max_tokens, 2000);
  EXPECT_EQ(out->max_tokens, 2000);
}

TEST_F(ChatServiceTest, TheModelClientsCallReportReachesTheOutputAndTheCaller) {
  model.reply("ok");
  model.report = bedrock::CallReport{.attempts = 3,
                                     .throttles = 2,
                                     .queued = std::chrono::milliseconds(7),
                                     .backoff = std::chrono::milliseconds(11),
                                     .max_tokens = 1024};
  auto out = run_sync(service->chat(input("hi")));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->call.attempts, 3);
  EXPECT_EQ(out->call.throttles, 2);
  EXPECT_EQ(out->call.queued.count(), 7);
  EXPECT_EQ(out->call.backoff.count(), 11);

  // On failure the pending chat's report says what happened (the request log needs it).
  Error e = Error::make(ErrorKind::unavailable, "503");
  e.http_status = 503;
  model.error(e);
  model.report->attempts = 2;
  auto checked = service->check(input("hi again"));
  ASSERT_TRUE(checked);
  auto pending = run_sync(service->prepare(std::move(*checked)));
  ASSERT_TRUE(pending) << pending.error().message;
  ASSERT_FALSE(run_sync(service->finish(*pending)));
  EXPECT_EQ(pending->report().attempts, 2);
}

TEST_F(ChatServiceTest, DailyCapThrottleSaysItIsADailyCap) {
  Error e = Error::make(ErrorKind::quota_exceeded, "Too many tokens per day, please wait before trying again.");
  e.code = "ThrottlingException";
  e.http_status = 429;
  model.error(e);
  auto out = run_sync(service->chat(input("hi")));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::quota_exceeded);
  EXPECT_NE(out.error().message.find("daily token cap"), std::string::npos) << out.error().message;
}

TEST_F(ChatServiceTest, MissingCredentialsBecomeUnavailableWithAHint) {
  model.error(Error::make(ErrorKind::unauthorized, "no credentials in the default chain"));
  auto out = run_sync(service->chat(input("hi")));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::unavailable);
  EXPECT_NE(out.error().message.find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_NE(out.error().message.find("--simulate"), std::string::npos);
}

TEST_F(ChatServiceTest, AccessDeniedFromBedrockIsAnUpstreamError) {
  Error e = Error::make(ErrorKind::forbidden, "You don't have access to the model");
  e.code = "AccessDeniedException";
  e.http_status = 403;
  model.error(e);
  auto out = run_sync(service->chat(input("hi")));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::upstream);
  EXPECT_NE(out.error().message.find("You don't have access to the model"), std::string::npos);
}

TEST_F(ChatServiceTest, ValidationErrorFromBedrockKeepsItsMessage) {
  Error e = Error::make(ErrorKind::invalid_input, "max_tokens exceeds the model limit");
  e.code = "ValidationException";
  e.http_status = 400;
  model.error(e);
  auto out = run_sync(service->chat(input("hi")));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::invalid_input);
  EXPECT_EQ(out.error().message, "max_tokens exceeds the model limit");
}

TEST_F(ChatServiceTest, AnotherOwnersConversationIsNotFound) {
  model.reply("r");
  ASSERT_TRUE(run_sync(service->chat(input("mine", "shared-id"))));
  model.reply("r");
  auto in = input("theirs", "shared-id");
  in.owner = "bob";
  auto out = run_sync(service->chat(in));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::not_found);
  // Bob saw none of Alice's turns.
  EXPECT_EQ(model.requests.back().messages.size(), 1u);
  EXPECT_EQ(stored_turns("shared-id"), 1u);
  auto listed = run_sync(service->conversation("bob", "shared-id"));
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().kind, ErrorKind::not_found);
}

TEST_F(ChatServiceTest, ConversationAndRemove) {
  model.reply("r1");
  ASSERT_TRUE(run_sync(service->chat(input("q1", "c"))));
  auto turns = run_sync(service->conversation("alice", "c"));
  ASSERT_TRUE(turns);
  EXPECT_EQ(turns->size(), 1u);
  auto bad = run_sync(service->conversation("alice", "bad/id"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::invalid_input);
  ASSERT_TRUE(run_sync(service->remove("alice", "c")));
  auto gone = run_sync(service->conversation("alice", "c"));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind, ErrorKind::not_found);
}

// `--history none`: a stateless proxy. A turn that needs no stored history works; one that asks for it is
// refused before the model is called, not answered without its context.
TEST(ChatServiceNoHistory, StandaloneTurnsWorkAndHistoryRequestsAreRefused) {
  FakeModel model;
  auto history = store::make_no_history();
  agent::ChatService service(model, *history);
  agent::ChatInput in;
  in.owner = "alice";
  in.input = "Hello";
  model.reply("Hi");
  auto out = run_sync(service.chat(in));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->response, "Hi");
  EXPECT_EQ(out->conversation_id.size(), 36u);
  EXPECT_TRUE(out->new_conversation);
  EXPECT_EQ(out->seq, 1);

  // A conversation_id without include_history: answered, nothing kept.
  in.conversation_id = out->conversation_id;
  in.include_history = false;
  model.reply("Again");
  auto again = run_sync(service.chat(in));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->conversation_id, out->conversation_id);
  EXPECT_EQ(model.requests.back().messages.size(), 1u);

  // With include_history: a clear 400, and the model is not called.
  in.include_history = true;
  const auto calls = model.requests.size();
  auto refused = run_sync(service.chat(in));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::invalid_input);
  EXPECT_NE(refused.error().message.find("--history none"), std::string::npos) << refused.error().message;
  EXPECT_EQ(model.requests.size(), calls);
  auto listed = run_sync(service.conversation("alice", out->conversation_id));
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().kind, ErrorKind::invalid_input);
  auto removed = run_sync(service.remove("alice", out->conversation_id));
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().kind, ErrorKind::invalid_input);
  EXPECT_TRUE(history->check());
}

// Stateless mode (the compatible front doors): the caller's conversation is sent as given; nothing is
// loaded, and nothing is saved without a conversation id.
class StatelessChatTest : public ChatServiceTest {
 protected:
  agent::ChatInput conversation(std::vector<bedrock::Message> messages) {
    agent::ChatInput in;
    in.owner = "alice";
    in.request_id = "rid";
    in.messages = std::move(messages);
    return in;
  }
  static bedrock::Message text(std::string role, std::string t) {
    return {std::move(role), {bedrock::ContentBlock::make_text(std::move(t))}};
  }
};

TEST_F(StatelessChatTest, TheConversationGoesAsSentAndNothingIsSaved) {
  model.reply("Paris");
  auto in = conversation({text("user", "Hi"), text("assistant", "Hello!"), text("user", "Capital of France?")});
  in.system = "Be brief.";
  in.top_p = 0.5;
  in.stop_sequences = {"END"};
  auto out = run_sync(service->chat(in));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->response, "Paris");
  EXPECT_TRUE(out->conversation_id.empty());
  EXPECT_EQ(out->seq, 0);
  const auto& req = model.requests.at(0);
  ASSERT_EQ(req.messages.size(), 3u);
  EXPECT_EQ(req.messages[1].role, "assistant");
  EXPECT_EQ(req.messages[2].content.at(0).text, "Capital of France?");
  EXPECT_EQ(req.system, "Be brief.");
  EXPECT_EQ(req.top_p, 0.5);
  EXPECT_EQ(req.stop_sequences, std::vector<std::string>{"END"});
  EXPECT_EQ(req.max_tokens, 1024);
}

TEST_F(StatelessChatTest, WithAConversationIdTheTurnIsSavedButNothingLoaded) {
  model.reply("first");
  ASSERT_TRUE(run_sync(service->chat(input("stored turn", "c-1"))));
  model.reply("second");
  auto in = conversation({text("user", "only this")});
  in.conversation_id = "c-1";
  auto out = run_sync(service->chat(in));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->conversation_id, "c-1");
  EXPECT_EQ(out->seq, 2);
  EXPECT_EQ(model.requests.back().messages.size(), 1u);  // the stored turn was not sent
  auto turns = run_sync(history->load("alice", "c-1", 10));
  ASSERT_TRUE(turns);
  ASSERT_EQ(turns->size(), 2u);
  EXPECT_EQ((*turns)[1].user_input, "only this");
  EXPECT_EQ((*turns)[1].assistant_reply, "second");
  // Another owner's conversation id is not found, before the model is called.
  in.owner = "bob";
  auto refused = run_sync(service->chat(in));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::not_found);
  EXPECT_EQ(model.requests.size(), 2u);
}

TEST_F(StatelessChatTest, AppendMessageMergesConsecutiveRoles) {
  std::vector<bedrock::Message> m;
  agent::append_message(m, text("user", "a"));
  agent::append_message(m, text("user", "b"));
  agent::append_message(m, text("assistant", "c"));
  ASSERT_EQ(m.size(), 2u);
  ASSERT_EQ(m[0].content.size(), 2u);
  EXPECT_EQ(m[0].content[1].text, "b");
}

TEST_F(StatelessChatTest, InvalidConversationsNeverReachTheModel) {
  auto refused = [&](agent::ChatInput in, std::string_view says) {
    auto out = run_sync(service->chat(std::move(in)));
    if (out) return ::testing::AssertionFailure() << "accepted";
    if (out.error().kind != ErrorKind::invalid_input) return ::testing::AssertionFailure() << out.error().message;
    if (out.error().message.find(says) == std::string::npos)
      return ::testing::AssertionFailure() << "message: " << out.error().message;
    return ::testing::AssertionSuccess();
  };
  EXPECT_TRUE(refused(conversation({}), "at least one message"));
  EXPECT_TRUE(refused(conversation({text("assistant", "hi")}), "start with a user message"));
  EXPECT_TRUE(refused(conversation({text("user", "a"), text("user", "b")}), "must alternate"));
  EXPECT_TRUE(refused(conversation({text("user", "  ")}), "must not be empty or blank"));
  EXPECT_TRUE(refused(conversation({text("user", "a"), text("tool", "b")}), "role must be user or assistant"));
  auto image = conversation({{"user", {bedrock::ContentBlock{.type = bedrock::ContentBlock::Type::image, .format = "png"}}}});
  EXPECT_TRUE(refused(image, "an image must hold 1 to"));
  auto top_p = conversation({text("user", "a")});
  top_p.top_p = 1.5;
  EXPECT_TRUE(refused(top_p, "top_p must be a number between 0 and 1"));
  auto stop = conversation({text("user", "a")});
  stop.stop_sequences = {""};
  EXPECT_TRUE(refused(stop, "stop sequence must not be empty"));
  EXPECT_TRUE(model.requests.empty());
}

TEST_F(StatelessChatTest, TopKOnlyForClaudeAndOnlyToCalledModels) {
  agent::ChatConfig cfg;
  cfg.model_id = "anthropic.claude-3-haiku-20240307-v1:0";
  cfg.model_aliases = {{"titan", "amazon.titan-text-express-v1"}, {"haiku", "anthropic.claude-3-haiku-20240307-v1:0"}};
  agent::ChatService svc(model, *history, cfg);
  EXPECT_EQ(svc.resolve_model("titan"), "amazon.titan-text-express-v1");
  EXPECT_EQ(svc.resolve_model("amazon.titan-text-express-v1"), "amazon.titan-text-express-v1");
  EXPECT_EQ(svc.resolve_model("anthropic.claude-3-haiku-20240307-v1:0"), "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_FALSE(svc.resolve_model("gpt-4o"));
  EXPECT_EQ(svc.models(), (std::vector<std::string>{"anthropic.claude-3-haiku-20240307-v1:0", "amazon.titan-text-express-v1"}));

  auto in = conversation({text("user", "a")});
  in.top_k = 40;
  model.reply("ok");
  auto out = run_sync(svc.chat(in));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(model.requests.back().top_k, 40);
  in.model_id = "amazon.titan-text-express-v1";
  auto titan = run_sync(svc.chat(in));
  ASSERT_FALSE(titan);
  EXPECT_NE(titan.error().message.find("top_k is supported for Anthropic Claude models only"), std::string::npos);
  in.top_k.reset();
  model.reply("titan says");
  auto plain = run_sync(svc.chat(in));
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->model_id, "amazon.titan-text-express-v1");
  EXPECT_EQ(model.requests.back().model_id, "amazon.titan-text-express-v1");
  EXPECT_EQ(model.requests.back().max_tokens, 512);  // Titan's default, not Claude's
  in.model_id = "meta.llama3-70b-instruct-v1:0";
  auto other = run_sync(svc.chat(in));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().kind, ErrorKind::not_found);
}

}  // namespace
}  // namespace ba::test
