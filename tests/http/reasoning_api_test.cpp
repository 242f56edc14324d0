// Reasoning through the compatible APIs (docs/api.md, "Reasoning"): OpenAI's reasoning_effort and
// Anthropic's thinking translated to the model request's budget (within max_tokens), the reply's
// reasoning blocks in each API's shape (reasoning_content + thinking_blocks; thinking / redacted_thinking
// blocks first), and sent back unchanged before an assistant turn's tool calls. The official clients'
// round trips against the simulator are in tests/e2e/compat_clients_e2e_test.cpp ("reasoning").
#include <gtest/gtest.h>

#include "http/compat_fixture.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;
using bedrock::ContentBlock;

constexpr const char* kSonnet37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
constexpr const char* kTool = R"({"name": "now", "description": "The time", "input_schema": {"type": "object", "properties": {}}})";
constexpr const char* kFunction = R"({"type": "function", "function": {"name": "now", "description": "The time"}})";

class ReasoningApiTest : public CompatApiTest {
 protected:
  void SetUp() override {
    CompatApiTest::SetUp();
    wire({{"sonnet37", kSonnet37}, {"titan", "amazon.titan-text-express-v1"}});
  }
  net::ServerResponse openai(const std::string& body) { return post("/v1/chat/completions", body); }
  net::ServerResponse anthropic(const std::string& body) {
    net::Headers h;
    h.set("anthropic-version", "2023-06-01");
    return post("/v1/messages", body, std::move(h));
  }
  // The next reply: a reasoning block (and a redacted one), then a tool call.
  void reply_reasoning_then_tool() {
    model.reply_tools("", {ContentBlock::make_tool_use("tooluse_1", "now", "{}")});
    model.script.back().result->reasoning = {ContentBlock::make_reasoning("Let me think.", "c2lnLTE="),
                                             ContentBlock::make_redacted_reasoning(std::string("\x01\x02\xff", 3))};
  }
};

TEST_F(ReasoningApiTest, OpenAIsReasoningEffortIsABudgetWithinMaxTokens) {
  struct Case {
    std::string fields;
    int max_tokens;
    int budget;
  };
  // Without max_tokens the default (1024) is raised by the budget; with one, the budget takes at most half.
  const std::vector<Case> cases = {{R"("reasoning_effort": "low")", 2048, 1024},
                                   {R"("reasoning_effort": "minimal")", 2048, 1024},
                                   {R"("reasoning_effort": "medium")", 5120, 4096},
                                   {R"("reasoning_effort": "high")", 17408, 16384},
                                   {R"("reasoning_effort": "high", "max_tokens": 10000)", 10000, 5000},
                                   {R"("reasoning_effort": "medium", "max_completion_tokens": 2000)", 2000, 1024},
                                   {R"("reasoning_effort": "high", "temperature": 1, "top_p": 0.95)", 17408, 16384}};
  for (const auto& c : cases) {
    model.reply("ok");
    auto r = openai(R"({"model": "sonnet37", "messages": [{"role": "user", "content": "x"}], )" + c.fields + "}");
    ASSERT_EQ(r.status, 200) << c.fields << " -> " << r.body;
    const auto& req = model.requests.back();
    ASSERT_TRUE(req.reasoning) << c.fields;
    EXPECT_EQ(req.max_tokens, c.max_tokens) << c.fields;
    EXPECT_EQ(req.reasoning->budget_tokens, c.budget) << c.fields;
  }
  model.reply("ok");
  ASSERT_EQ(openai(R"({"model": "sonnet37", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "none"})").status, 200);
  EXPECT_FALSE(model.requests.back().reasoning);
}

TEST_F(ReasoningApiTest, OpenAIsReasoningIsRefusedWhereClaudeCannotReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("reasoning_effort": "extreme")", "reasoning_effort"},
      {R"("reasoning_effort": "low", "max_tokens": 1024)", "max_tokens above 1024"},
      {R"("reasoning_effort": "low", "temperature": 0.5)", "temperature"},
      {R"("reasoning_effort": "low", "top_p": 0.5)", "top_p"},
      {R"("reasoning_effort": "low", "tools": [)" + std::string(kFunction) + R"(], "tool_choice": "required")", "tool_choice"},
  };
  for (const auto& [fields, named] : cases) {
    auto r = openai(R"({"model": "sonnet37", "messages": [{"role": "user", "content": "x"}], )" + fields + "}");
    ASSERT_EQ(r.status, 400) << fields << " -> " << r.body;
    EXPECT_NE(r.body.find(named), std::string::npos) << fields << " -> " << r.body;
  }
  auto titan = openai(R"({"model": "titan", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low"})");
  ASSERT_EQ(titan.status, 400) << titan.body;
  EXPECT_NE(titan.body.find("does not support reasoning"), std::string::npos) << titan.body;
  EXPECT_TRUE(model.requests.empty());
}

TEST_F(ReasoningApiTest, OpenAIsAnswerCarriesTheReasoningAndItsThinkingBlocksGoBackBeforeTheToolCalls) {
  reply_reasoning_then_tool();
  auto r = openai(R"({"model": "sonnet37", "reasoning_effort": "low", "tools": [)" + std::string(kFunction) +
                  R"(], "messages": [{"role": "user", "content": "Time?"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto message = parse(r.body).at("choices").at(0).at("message").as_object();
  EXPECT_EQ(message.at("reasoning_content"), "Let me think.");
  const auto& blocks = message.at("thinking_blocks").as_array();
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0], json::parse(R"({"type": "thinking", "thinking": "Let me think.", "signature": "c2lnLTE="})"));
  EXPECT_EQ(blocks[1], json::parse(R"({"type": "redacted_thinking", "data": "AQL/"})"));
  EXPECT_TRUE(message.at("content").is_null());

  // The client sends the message back as it got it, with the tool's result.
  model.reply("It is noon.");
  auto second = openai(R"({"model": "sonnet37", "reasoning_effort": "low", "tools": [)" + std::string(kFunction) +
                       R"(], "messages": [{"role": "user", "content": "Time?"}, )" + json::serialize(message) +
                       R"(, {"role": "tool", "tool_call_id": "tooluse_1", "content": "noon"}]})");
  ASSERT_EQ(second.status, 200) << second.body;
  const auto& turn = model.requests.back().messages.at(1).content;
  ASSERT_EQ(turn.size(), 3u);
  EXPECT_EQ(turn[0].type, ContentBlock::Type::reasoning);
  EXPECT_EQ(turn[0].text, "Let me think.");
  EXPECT_EQ(turn[0].signature, "c2lnLTE=");
  EXPECT_TRUE(turn[1].is_redacted_reasoning());
  EXPECT_EQ(turn[1].bytes, std::string("\x01\x02\xff", 3));
  EXPECT_EQ(turn[2].type, ContentBlock::Type::tool_use);
  // No reasoning in the answer: no reasoning fields.
  EXPECT_FALSE(parse(second.body).at("choices").at(0).at("message").as_object().contains("reasoning_content"));

  // reasoning_content alone (no signature) is not sent back; bad thinking_blocks are a 400 naming them.
  model.reply("ok");
  ASSERT_EQ(openai(R"({"model": "sonnet37", "messages": [{"role": "user", "content": "a"},
      {"role": "assistant", "content": "b", "reasoning_content": "hmm"}, {"role": "user", "content": "c"}]})").status, 200);
  ASSERT_EQ(model.requests.back().messages.at(1).content.size(), 1u);
  for (const std::string bad : {R"([{"type": "thinking", "thinking": "x"}])", R"([{"type": "redacted_thinking", "data": "%%"}])",
                                R"([{"type": "other"}])", R"({})"}) {
    auto r400 = openai(R"({"model": "sonnet37", "messages": [{"role": "user", "content": "a"},
        {"role": "assistant", "content": "b", "thinking_blocks": )" + bad + R"(}, {"role": "user", "content": "c"}]})");
    ASSERT_EQ(r400.status, 400) << bad << " -> " << r400.body;
    EXPECT_NE(r400.body.find("thinking_blocks"), std::string::npos) << r400.body;
  }
  auto user = openai(R"({"model": "sonnet37", "messages": [{"role": "user", "content": "a", "thinking_blocks": []}]})");
  EXPECT_EQ(user.status, 400) << user.body;
}

TEST_F(ReasoningApiTest, AnthropicsThinkingIsTheBudgetAndTheSettingsClaudeRefusesWithItAre400) {
  model.reply("ok");
  auto r = anthropic(R"({"model": "sonnet37", "max_tokens": 3000, "thinking": {"type": "enabled", "budget_tokens": 2000},
    "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(model.requests.back().reasoning);
  EXPECT_EQ(model.requests.back().reasoning->budget_tokens, 2000);
  EXPECT_EQ(model.requests.back().max_tokens, 3000);
  model.reply("ok");
  ASSERT_EQ(anthropic(R"({"model": "sonnet37", "max_tokens": 30, "thinking": {"type": "disabled"},
    "messages": [{"role": "user", "content": "x"}]})").status, 200);
  EXPECT_FALSE(model.requests.back().reasoning);

  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("thinking": {"type": "enabled"})", "thinking.budget_tokens: Field required"},
      {R"("thinking": {"type": "enabled", "budget_tokens": 1000})", "greater than or equal to 1024"},
      {R"("thinking": {"type": "enabled", "budget_tokens": 4000})", "less than max_tokens (3000)"},
      {R"("thinking": {"type": "on", "budget_tokens": 1024})", "thinking.type"},
      {R"("thinking": {"type": "enabled", "budget_tokens": 1024, "x": 1})", "thinking.x"},
      {R"("thinking": {"type": "enabled", "budget_tokens": 1024}, "temperature": 0.2)", "temperature"},
      {R"("thinking": {"type": "enabled", "budget_tokens": 1024}, "top_k": 5)", "top_k"},
      {R"("thinking": {"type": "enabled", "budget_tokens": 1024}, "tools": [)" + std::string(kTool) +
           R"(], "tool_choice": {"type": "any"})", "tool_choice"},
  };
  for (const auto& [fields, named] : cases) {
    auto bad = anthropic(R"({"model": "sonnet37", "max_tokens": 3000, "messages": [{"role": "user", "content": "x"}], )" + fields + "}");
    ASSERT_EQ(bad.status, 400) << fields << " -> " << bad.body;
    EXPECT_NE(bad.body.find(named), std::string::npos) << fields << " -> " << bad.body;
    EXPECT_EQ(parse(bad.body).at("error").at("type"), "invalid_request_error");
  }
}

TEST_F(ReasoningApiTest, AnthropicsResponseStartsWithItsThinkingBlocksAndTheContentGoesBackUnchanged) {
  reply_reasoning_then_tool();
  const std::string head = R"({"model": "sonnet37", "max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024},
    "tools": [)" + std::string(kTool) + R"(], "messages": [{"role": "user", "content": "Time?"})";
  auto r = anthropic(head + "]}");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto content = parse(r.body).at("content").as_array();
  ASSERT_EQ(content.size(), 3u) << r.body;
  EXPECT_EQ(content[0], json::parse(R"({"type": "thinking", "thinking": "Let me think.", "signature": "c2lnLTE="})"));
  EXPECT_EQ(content[1], json::parse(R"({"type": "redacted_thinking", "data": "AQL/"})"));
  EXPECT_EQ(content[2].at("type"), "tool_use");

  model.reply("It is noon.");
  auto second = anthropic(head + R"(, {"role": "assistant", "content": )" + json::serialize(content) +
                          R"(}, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tooluse_1", "content": "noon"}]}]})");
  ASSERT_EQ(second.status, 200) << second.body;
  const auto& turn = model.requests.back().messages.at(1).content;
  ASSERT_EQ(turn.size(), 3u);
  EXPECT_EQ(turn[0].text, "Let me think.");
  EXPECT_EQ(turn[0].signature, "c2lnLTE=");
  EXPECT_EQ(turn[1].bytes, std::string("\x01\x02\xff", 3));
  EXPECT_EQ(turn[2].tool_use_id, "tooluse_1");

  // Thinking blocks belong to assistant turns, whole.
  auto user = anthropic(R"({"model": "sonnet37", "max_tokens": 20, "messages": [{"role": "user", "content": [
      {"type": "thinking", "thinking": "x", "signature": "y"}, {"type": "text", "text": "hi"}]}]})");
  EXPECT_EQ(user.status, 400) << user.body;
  auto unsigned_block = anthropic(R"({"model": "sonnet37", "max_tokens": 20, "messages": [{"role": "user", "content": "a"},
      {"role": "assistant", "content": [{"type": "thinking", "thinking": "x"}]}, {"role": "user", "content": "b"}]})");
  ASSERT_EQ(unsigned_block.status, 400) << unsigned_block.body;
  EXPECT_NE(unsigned_block.body.find("messages.1.content.0.signature: Field required"), std::string::npos) << unsigned_block.body;
}

TEST_F(ReasoningApiTest, CountTokensTakesThinkingAndCountsTheConversation) {
  model.counts.push_back(42);
  auto r = post("/v1/messages/count_tokens", R"({"model": "sonnet37", "thinking": {"type": "enabled", "budget_tokens": 2048},
    "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": [
      {"type": "thinking", "thinking": "x", "signature": "s"}, {"type": "text", "text": "b"}]}, {"role": "user", "content": "c"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r.body).at("input_tokens"), 42);
}

// Streams: the pieces as they arrive (FakeModel scripts what the Bedrock client hands on).
std::vector<bedrock::StreamDelta> reasoning_pieces() {
  using Kind = bedrock::StreamDelta::Kind;
  std::vector<bedrock::StreamDelta> out{{.kind = Kind::reasoning_text, .block_index = 0, .text = "Let me "},
                                        {.kind = Kind::reasoning_text, .block_index = 0, .text = "think."},
                                        {.kind = Kind::reasoning_signature, .block_index = 0, .text = "c2lnLTE="},
                                        {.kind = Kind::reasoning_redacted, .block_index = 1, .text = "AQL/"}};
  for (auto& d : tool_deltas(2, "tooluse_1", "now", {"{}"})) out.push_back(std::move(d));
  return out;
}

TEST_F(ReasoningApiTest, OpenAIStreamsReasoningContentThenTheThinkingBlocksWhole) {
  reply_reasoning_then_tool();
  model.stream(reasoning_pieces());
  auto r = openai(R"({"model": "sonnet37", "stream": true, "reasoning_effort": "low", "tools": [)" + std::string(kFunction) +
                  R"(], "messages": [{"role": "user", "content": "Time?"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string body = drain(r);
  std::vector<json::object> deltas;
  for (std::size_t at = 0; (at = body.find("data: ", at)) != std::string::npos;) {
    const auto end = body.find("\n\n", at);
    const std::string data = body.substr(at + 6, end - at - 6);
    at = end;
    if (data == "[DONE]") continue;
    deltas.push_back(parse(data).at("choices").at(0).at("delta").as_object());
  }
  ASSERT_GE(deltas.size(), 6u) << body;
  EXPECT_EQ(deltas[1].at("reasoning_content"), "Let me ");
  EXPECT_EQ(deltas[2].at("reasoning_content"), "think.");
  EXPECT_TRUE(deltas[3].contains("tool_calls")) << body;  // the signature and redacted content are not text
  std::size_t blocks = 0;
  for (const auto& d : deltas) {
    if (!d.contains("thinking_blocks")) continue;
    ++blocks;
    EXPECT_FALSE(d.contains("reasoning_content"));  // already streamed
    EXPECT_EQ(d.at("thinking_blocks"), json::parse(R"([{"type": "thinking", "thinking": "Let me think.", "signature": "c2lnLTE="},
                                                        {"type": "redacted_thinking", "data": "AQL/"}])"));
  }
  EXPECT_EQ(blocks, 1u) << body;
}

TEST_F(ReasoningApiTest, AnthropicStreamsThinkingBlocksWithTheirIndexes) {
  reply_reasoning_then_tool();
  model.stream(reasoning_pieces());
  auto r = anthropic(R"({"model": "sonnet37", "stream": true, "max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024},
    "tools": [)" + std::string(kTool) + R"(], "messages": [{"role": "user", "content": "Time?"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string body = drain(r);
  std::vector<json::object> events;
  for (std::size_t at = 0; (at = body.find("data: ", at)) != std::string::npos;) {
    const auto end = body.find("\n\n", at);
    events.push_back(parse(body.substr(at + 6, end - at - 6)).as_object());
    at = end;
  }
  std::vector<std::string> seq;
  for (const auto& e : events) seq.push_back(std::string(e.at("type").as_string()) + (e.contains("index") ? ":" + std::to_string(e.at("index").as_int64()) : ""));
  const std::vector<std::string> want = {"message_start", "content_block_start:0", "ping", "content_block_delta:0",
                                         "content_block_delta:0", "content_block_delta:0", "content_block_stop:0",
                                         "content_block_start:1", "content_block_stop:1", "content_block_start:2",
                                         "content_block_delta:2", "content_block_stop:2", "message_delta", "message_stop"};
  ASSERT_EQ(seq, want) << body;
  EXPECT_EQ(events[1].at("content_block"), json::parse(R"({"type": "thinking", "thinking": "", "signature": ""})"));
  EXPECT_EQ(events[3].at("delta"), json::parse(R"({"type": "thinking_delta", "thinking": "Let me "})"));
  EXPECT_EQ(events[5].at("delta"), json::parse(R"({"type": "signature_delta", "signature": "c2lnLTE="})"));
  EXPECT_EQ(events[7].at("content_block"), json::parse(R"({"type": "redacted_thinking", "data": "AQL/"})"));
  EXPECT_EQ(events[9].at("content_block").at("type"), "tool_use");

  // A streamed repeat of an Idempotency-Key replays the blocks the same way.
  reply_reasoning_then_tool();
  net::Headers h;
  h.set("anthropic-version", "2023-06-01");
  h.set("Idempotency-Key", "k-reasoning-1");
  const std::string req = R"({"model": "sonnet37", "max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024},
    "tools": [)" + std::string(kTool) + R"(], "messages": [{"role": "user", "content": "Time?"}])";
  auto first = post("/v1/messages", req + R"(, "stream": true})", h);
  ASSERT_EQ(first.status, 200) << first.body;
  drain(first);
  auto again = post("/v1/messages", req + R"(, "stream": true})", h);
  const std::string replay = drain(again);
  EXPECT_NE(replay.find(R"({"type":"thinking_delta","thinking":"Let me think."})"), std::string::npos) << replay;
  EXPECT_NE(replay.find(R"("content_block":{"type":"redacted_thinking","data":"AQL/"})"), std::string::npos) << replay;
}

}  // namespace
}  // namespace ba::test
