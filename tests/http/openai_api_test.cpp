// POST /v1/chat/completions (http/openai_api.cpp): OpenAI's request translated to the chat use case
// (stateless), its answers, chunks and errors in OpenAI's shape. The official client's view is in
// tests/e2e/compat_clients_e2e_test.cpp.
#include <gtest/gtest.h>

#include "http/compat_fixture.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

class OpenAIApiTest : public CompatApiTest {
 protected:
  net::ServerResponse chat(std::string body, net::Headers headers = {}) {
    return post("/v1/chat/completions", std::move(body), std::move(headers));
  }
  static json::object error_of(const net::ServerResponse& r) { return parse(r.body).at("error").as_object(); }
  // The data: lines of an OpenAI stream.
  static std::vector<std::string> data_lines(const std::string& body) {
    std::vector<std::string> out;
    for (std::size_t at = 0; (at = body.find("data: ", at)) != std::string::npos;) {
      auto end = body.find("\n\n", at);
      out.push_back(body.substr(at + 6, end - at - 6));
      at = end;
    }
    return out;
  }
};

TEST_F(OpenAIApiTest, TheConversationIsTranslatedAndTheAnswerHasOpenAIsShape) {
  model.reply("Paris.");
  auto r = chat(R"({"model": "haiku", "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
      {"role": "user", "content": "Hi", "name": "ann"},
      {"role": "user", "content": [{"type": "text", "text": "Capital of France?"},
                                   {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K", "detail": "low"}}]},
      {"role": "assistant", "content": "Let me think."},
      {"role": "user", "content": "Go on."}],
    "max_completion_tokens": 100, "temperature": 0.2, "top_p": 0.9, "stop": ["END"], "n": 1, "user": "u-1", "seed": 7})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& req = model.requests.at(0);
  EXPECT_EQ(req.model_id, kHaiku);
  EXPECT_EQ(req.system, "Be brief.\n\nAnswer in English.");
  ASSERT_EQ(req.messages.size(), 3u);  // the two user messages merged into one turn
  ASSERT_EQ(req.messages[0].content.size(), 3u);
  EXPECT_EQ(req.messages[0].content[1].text, "Capital of France?");
  EXPECT_EQ(req.messages[0].content[2].type, bedrock::ContentBlock::Type::image);
  EXPECT_EQ(req.messages[0].content[2].format, "png");
  EXPECT_EQ(req.messages[0].content[2].bytes, *base64_decode("iVBORw0K"));
  EXPECT_EQ(req.max_tokens, 100);
  EXPECT_EQ(req.temperature, 0.2);
  EXPECT_EQ(req.top_p, 0.9);
  EXPECT_EQ(req.stop_sequences, std::vector<std::string>{"END"});

  auto b = parse(r.body).as_object();
  EXPECT_EQ(b.at("object"), "chat.completion");
  EXPECT_EQ(b.at("id").as_string(), "chatcmpl-" + std::string(*r.headers.get("x-request-id")));
  EXPECT_EQ(b.at("model"), kHaiku);
  EXPECT_EQ(b.at("choices").at(0).at("message").at("content"), "Paris.");
  EXPECT_EQ(b.at("choices").at(0).at("message").at("role"), "assistant");
  EXPECT_EQ(b.at("choices").at(0).at("finish_reason"), "stop");
  EXPECT_EQ(b.at("usage").at("prompt_tokens"), 10);
  EXPECT_EQ(b.at("usage").at("completion_tokens"), 5);
  EXPECT_EQ(b.at("usage").at("total_tokens"), 15);
  auto log = last_log();
  EXPECT_EQ(log.at("route"), "/v1/chat/completions");
  EXPECT_EQ(log.at("model"), kHaiku);
  EXPECT_EQ(log.at("stream"), false);
  EXPECT_EQ(log.at("input_tokens"), 10);
  EXPECT_TRUE(history->check());
}

TEST_F(OpenAIApiTest, UnsupportedAndUnknownFieldsAre400NamingTheParameter) {
  struct Case {
    std::string extra;
    std::string param;
  };
  const std::vector<Case> cases = {
      {R"("n": 2)", "n"},
      {R"("tools": [{"type": "custom", "custom": {"name": "f"}}])", "tools[0].type"},
      {R"("tools": [{"type": "function", "function": {"name": "f", "strict": true}}])", "tools[0].function.strict"},
      {R"("tool_choice": {"type": "allowed_tools"})", "tool_choice"},
      {R"("functions": [{"name": "f"}])", "functions"},
      {R"("response_format": {"type": "json_object"})", "response_format.type"},
      {R"("logprobs": true)", "logprobs"},
      {R"("presence_penalty": 0.5)", "presence_penalty"},
      {R"("reasoning_effort": "extreme")", "reasoning_effort"},
      {R"("temperature": 1.5)", "temperature"},
      {R"("max_tokens": 0)", "max_tokens"},
      {R"("max_tokens": 10, "max_completion_tokens": 20)", "max_tokens"},
      {R"("frobnicate": 1)", "frobnicate"},
  };
  for (const auto& c : cases) {
    auto r = chat(R"({"model": "haiku", "messages": [{"role": "user", "content": "x"}], )" + c.extra + "}");
    ASSERT_EQ(r.status, 400) << c.extra << " -> " << r.body;
    auto e = error_of(r);
    EXPECT_EQ(e.at("type"), "invalid_request_error") << c.extra;
    EXPECT_EQ(e.at("param"), json::value(c.param)) << c.extra << " -> " << r.body;
  }
  // Harmless ones pass: tool_choice "none", response_format text, logprobs false, zero penalties.
  model.reply("ok");
  auto ok = chat(R"({"model": "haiku", "messages": [{"role": "user", "content": "x"}], "tool_choice": "none", "tools": [],
    "response_format": {"type": "text"}, "logprobs": false, "frequency_penalty": 0, "metadata": {"a": "b"}, "store": false})");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(OpenAIApiTest, MessagesTheModelCannotTakeAreRefusedBeforeTheModel) {
  struct Case {
    std::string messages;
    std::string says;
  };
  const std::vector<Case> cases = {
      {R"([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}])", "does not fetch URLs"},
      {R"([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,AAAA"}}]}])", "image/bmp"},
      {R"([{"role": "user", "content": "x"}, {"role": "function", "content": "r", "name": "f"}])", "legacy functions"},
      {R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "1"}]}])", "function.name"},
      {R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, {"role": "tool", "content": "r", "tool_call_id": "1"}])",
       "no tools are given"},
      {R"([{"role": "user", "content": "x"}, {"role": "system", "content": "late"}])", "must come before"},
      {R"([{"role": "user", "content": ""}])", "must not be empty"},
      {R"([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}])", "input_audio"},
      {R"([{"role": "assistant", "content": "first"}])", "start with a user message"},
      {R"([])", "at least one message"},
  };
  for (const auto& c : cases) {
    auto r = chat(R"({"model": "haiku", "messages": )" + c.messages + "}");
    ASSERT_EQ(r.status, 400) << c.messages << " -> " << r.body;
    EXPECT_NE(error_of(r).at("message").as_string().find(c.says), std::string::npos) << r.body;
  }
  EXPECT_TRUE(model.requests.empty());
}

TEST_F(OpenAIApiTest, ModelsAreTheConfiguredOneAndTheAliasesUnknownIs404ModelNotFound) {
  model.reply("a");
  model.reply("b");
  EXPECT_EQ(chat(R"({"model": "anthropic.claude-3-sonnet-20240229-v1:0", "messages": [{"role": "user", "content": "x"}]})").status, 200);
  EXPECT_EQ(model.requests.back().model_id, kModel);
  EXPECT_EQ(chat(R"({"model": "anthropic.claude-3-haiku-20240307-v1:0", "messages": [{"role": "user", "content": "x"}]})").status, 200);
  EXPECT_EQ(model.requests.back().model_id, kHaiku);
  auto r = chat(R"({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(r.status, 404) << r.body;
  auto e = error_of(r);
  EXPECT_EQ(e.at("code"), "model_not_found");
  EXPECT_EQ(e.at("param"), "model");
  EXPECT_NE(e.at("message").as_string().find("haiku"), std::string::npos);
  EXPECT_EQ(chat(R"({"messages": [{"role": "user", "content": "x"}]})").status, 400);
}

TEST_F(OpenAIApiTest, RouterErrorsAreInOpenAIsShape) {
  auto r = post("/v1/chat/completions", R"({"model": "haiku", "messages": []})", {}, false);
  ASSERT_EQ(r.status, 401);
  EXPECT_EQ(error_of(r).at("type"), "authentication_error");
  EXPECT_EQ(error_of(r).at("code"), "unauthorized");
  EXPECT_TRUE(r.headers.get("WWW-Authenticate"));
  auto big = chat(std::string(70 * 1024, ' '));
  ASSERT_EQ(big.status, 413);
  EXPECT_EQ(error_of(big).at("type"), "invalid_request_error");
  net::ServerRequest get;
  get.method = "GET";
  get.target = get.path = "/v1/chat/completions";
  auto m = run_sync(handler(get));
  ASSERT_EQ(m.status, 405);
  EXPECT_EQ(error_of(m).at("code"), "method_not_allowed");
}

TEST_F(OpenAIApiTest, OurLimitersRefusalIs429WithRetryAfterAndRetryAfterMs) {
  model.admit_errors.push_back(Error{.kind = ErrorKind::rate_limited, .message = "no budget", .retry_after = std::chrono::milliseconds(2500)});
  auto r = chat(R"({"model": "haiku", "stream": true, "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(r.status, 429) << r.body;  // a shed stream: a real status, not an event
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.headers.get("Retry-After"), "3");
  EXPECT_EQ(r.headers.get("retry-after-ms"), "2500");
  EXPECT_EQ(error_of(r).at("type"), "rate_limit_error");
  EXPECT_EQ(error_of(r).at("code"), "rate_limited");
  EXPECT_EQ(model.stream_calls, 0);
}

TEST_F(OpenAIApiTest, AStreamIsChunksThenTheFinishReasonTheUsageAndDone) {
  model.reply("Hello there", {"Hel", "lo there"});
  auto r = chat(R"({"model": "haiku", "stream": true, "stream_options": {"include_usage": true},
                   "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.get("Content-Type"), "text/event-stream");
  auto lines = data_lines(drain(r));
  ASSERT_EQ(lines.size(), 6u);
  auto first = parse(lines[0]);
  EXPECT_EQ(first.at("object"), "chat.completion.chunk");
  EXPECT_EQ(first.at("choices").at(0).at("delta").at("role"), "assistant");
  EXPECT_TRUE(first.at("usage").is_null());
  EXPECT_EQ(parse(lines[1]).at("choices").at(0).at("delta").at("content"), "Hel");
  EXPECT_EQ(parse(lines[2]).at("choices").at(0).at("delta").at("content"), "lo there");
  EXPECT_EQ(parse(lines[3]).at("choices").at(0).at("finish_reason"), "stop");
  EXPECT_TRUE(parse(lines[4]).at("choices").as_array().empty());
  EXPECT_EQ(parse(lines[4]).at("usage").at("completion_tokens"), 5);
  EXPECT_EQ(lines[5], "[DONE]");
  EXPECT_EQ(last_log().at("stream"), true);
  EXPECT_EQ(last_log().at("status"), 200);
}

TEST_F(OpenAIApiTest, AFailureAfterTheStreamStartedIsAnErrorEventWithoutDone) {
  model.error(Error::make(ErrorKind::upstream, "the model stream broke"), {"partial"});
  auto r = chat(R"({"model": "haiku", "stream": true, "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(r.status, 200);
  auto body = drain(r);
  auto lines = data_lines(body);
  ASSERT_EQ(lines.size(), 3u) << body;
  auto e = parse(lines[2]).at("error");
  EXPECT_EQ(e.at("type"), "server_error");
  EXPECT_EQ(e.at("code"), "model_error");
  EXPECT_EQ(body.find("[DONE]"), std::string::npos);
  EXPECT_EQ(last_log().at("error"), "model_error");
}

TEST_F(OpenAIApiTest, IdempotencyKeyReplaysTheAnswerAndAStreamedRepeatAsChunks) {
  model.reply("only once", {"only ", "once"});
  const std::string body = R"({"model": "haiku", "stream": true, "messages": [{"role": "user", "content": "x"}]})";
  auto first = chat(body, {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(first.status, 200);
  const std::string first_body = drain(first);
  auto repeat = chat(body, {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(repeat.status, 200) << repeat.body;
  EXPECT_EQ(repeat.headers.get("Idempotent-Replayed"), "true");
  auto lines = data_lines(drain(repeat));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(parse(lines[1]).at("choices").at(0).at("delta").at("content"), "only once");
  EXPECT_EQ(parse(lines[0]).at("id"), parse(data_lines(first_body)[0]).at("id"));  // the first answer again
  EXPECT_EQ(lines[3], "[DONE]");
  EXPECT_EQ(model.stream_calls, 1);
  // The same key on /chat is another request: a conflict, in /chat's shape.
  auto other = post("/chat", R"({"input": "x"})", {{"Idempotency-Key", "k-1"}});
  EXPECT_EQ(other.status, 422);
  // ... and a different body on this route, in OpenAI's shape.
  auto changed = chat(R"({"model": "haiku", "messages": [{"role": "user", "content": "y"}]})", {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(changed.status, 422);
  EXPECT_EQ(error_of(changed).at("code"), "idempotency_key_reused");
}

TEST_F(OpenAIApiTest, ConversationIdHeaderSavesTheTurn) {
  model.reply("saved answer");
  auto r = chat(R"({"model": "haiku", "messages": [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "ok"},
                   {"role": "user", "content": "remember this"}]})", {{"x-conversation-id", "conv-7"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto turns = run_sync(history->load("key:" + sha256_hex(kKey).substr(0, 16), "conv-7", 10));
  ASSERT_TRUE(turns);
  ASSERT_EQ(turns->size(), 1u);
  EXPECT_EQ((*turns)[0].user_input, "remember this");
  EXPECT_EQ((*turns)[0].assistant_reply, "saved answer");
  EXPECT_EQ((*turns)[0].model_id, kHaiku);
  EXPECT_EQ(chat(R"({"model": "haiku", "messages": [{"role": "user", "content": "x"}]})", {{"x-conversation-id", "bad id!"}}).status, 400);
}

// ---- Tools ----

constexpr const char* kTools = R"("tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "t": {"type": "number", "minimum": 0.5}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "now"}}])";

TEST_F(OpenAIApiTest, ToolsToolCallsAndToolMessagesAreTranslated) {
  model.reply_tools("", {bedrock::ContentBlock::make_tool_use("tooluse_2", "now", "{}")});
  auto r = chat(R"({"model": "haiku", )" + std::string(kTools) + R"(, "tool_choice": {"type": "function", "function": {"name": "now"}},
    "parallel_tool_calls": false, "messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": "Let me look.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"t\": 1.0}"}},
        {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": ""}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "21 C"},
      {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& req = model.requests.at(0);
  ASSERT_EQ(req.tools.size(), 2u);
  EXPECT_EQ(req.tools[0].name, "get_weather");
  EXPECT_EQ(req.tools[0].description, "Weather");
  EXPECT_EQ(req.tools[0].input_schema,
            R"({"type":"object","properties":{"city":{"type":"string"},"t":{"type":"number","minimum":0.5}},"required":["city"]})");
  EXPECT_EQ(req.tools[1].input_schema, R"({"type":"object","properties":{}})");  // no parameters: no arguments
  EXPECT_EQ(req.tool_choice.mode, bedrock::ToolChoice::Mode::tool);
  EXPECT_EQ(req.tool_choice.name, "now");
  ASSERT_EQ(req.messages.size(), 3u);  // the two tool messages are one user turn
  const auto& asked = req.messages[1].content;
  ASSERT_EQ(asked.size(), 3u);
  EXPECT_EQ(asked[0].text, "Let me look.");
  EXPECT_EQ(asked[1].type, bedrock::ContentBlock::Type::tool_use);
  EXPECT_EQ(asked[1].tool_use_id, "call_1");
  EXPECT_EQ(asked[1].input, R"({"city":"Paris","t":1})");
  EXPECT_EQ(asked[2].input, "{}");
  const auto& results = req.messages[2];
  EXPECT_EQ(results.role, "user");
  ASSERT_EQ(results.content.size(), 2u);
  EXPECT_EQ(results.content[0].type, bedrock::ContentBlock::Type::tool_result);
  EXPECT_EQ(results.content[0].tool_use_id, "call_1");
  EXPECT_EQ(results.content[0].content.at(0).text, "21 C");
  EXPECT_EQ(results.content[1].content.at(0).text, "noon");

  const auto b = parse(r.body);
  const auto& choice = b.at("choices").at(0);
  EXPECT_EQ(choice.at("finish_reason"), "tool_calls");
  EXPECT_TRUE(choice.at("message").at("content").is_null());
  const auto& call = choice.at("message").at("tool_calls").at(0);
  EXPECT_EQ(call.at("id"), "tooluse_2");
  EXPECT_EQ(call.at("type"), "function");
  EXPECT_EQ(call.at("function").at("name"), "now");
  EXPECT_EQ(call.at("function").at("arguments"), "{}");
}

TEST_F(OpenAIApiTest, BadToolInputIs400NamingTheField) {
  struct Case {
    std::string body;
    std::string param;
  };
  const std::string t = kTools;
  const std::vector<Case> cases = {
      {t + R"(, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
          "function": {"name": "now", "arguments": "{not json"}}]}])",
       "messages[1].tool_calls[0].function.arguments"},
      {t + R"(, "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
          "function": {"name": "now", "arguments": "[1]"}}]}])",
       "messages[1].tool_calls[0].function.arguments"},
      {t + R"(, "messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}])", "messages[1].tool_call_id"},
      {t + R"(, "tool_choice": "sometimes", "messages": [{"role": "user", "content": "x"}])", "tool_choice"},
      {R"("tools": [{"type": "function", "function": {"description": "no name"}}], "messages": [{"role": "user", "content": "x"}])",
       "tools[0].function.name"},
  };
  for (const auto& c : cases) {
    auto r = chat(R"({"model": "haiku", )" + c.body + "}");
    ASSERT_EQ(r.status, 400) << c.body << " -> " << r.body;
    EXPECT_EQ(error_of(r).at("param"), json::value(c.param)) << r.body;
  }
  // What Bedrock would refuse is refused before the model: a named tool that is not offered, tool
  // results with tool_choice "none" (Converse has no "none"), a tool name Bedrock does not take.
  const std::vector<std::pair<std::string, std::string>> refused = {
      {t + R"(, "tool_choice": {"type": "function", "function": {"name": "nope"}}, "messages": [{"role": "user", "content": "x"}])", "not among the tools"},
      {t + R"(, "tool_choice": "none", "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{"id": "c",
          "type": "function", "function": {"name": "now", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "c", "content": "r"}])",
       "tool_choice \"none\" cannot be honoured"},
      {R"("tools": [{"type": "function", "function": {"name": "get weather"}}], "messages": [{"role": "user", "content": "x"}])", "a tool name must be"},
      {R"("tool_choice": "required", "messages": [{"role": "user", "content": "x"}])", "no tools are given"},
  };
  for (const auto& [body, says] : refused) {
    auto r = chat(R"({"model": "haiku", )" + body + "}");
    ASSERT_EQ(r.status, 400) << body << " -> " << r.body;
    EXPECT_NE(std::string(error_of(r).at("message").as_string()).find(says), std::string::npos) << r.body;
  }
  // Titan takes no tools; the saved history holds no tool turns.
  auto titan = chat(R"({"model": "titan", )" + t + R"(, "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(titan.status, 400);
  EXPECT_NE(std::string(error_of(titan).at("message").as_string()).find("does not support tools"), std::string::npos);
  auto stateful = chat(R"({"model": "haiku", )" + t + R"(, "messages": [{"role": "user", "content": "x"}]})", {{"x-conversation-id", "c-1"}});
  ASSERT_EQ(stateful.status, 400);
  EXPECT_NE(std::string(error_of(stateful).at("message").as_string()).find("x-conversation-id"), std::string::npos);
  EXPECT_TRUE(model.requests.empty());
  // "none" without tool blocks: the tools are simply not offered.
  model.reply("ok");
  auto none = chat(R"({"model": "haiku", )" + t + R"(, "tool_choice": "none", "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(none.status, 200) << none.body;
  EXPECT_EQ(model.requests.at(0).tool_choice.mode, bedrock::ToolChoice::Mode::none);
}

TEST_F(OpenAIApiTest, AStreamedToolCallIsTheCallsHeadThenArgumentFragments) {
  const std::string args = R"({"city":"Paris","note":")" + std::string(100, 'x') + R"("})";
  model.reply_tools("Checking.", {bedrock::ContentBlock::make_tool_use("tooluse_1", "get_weather", args)}, {"Check", "ing."});
  auto r = chat(R"({"model": "haiku", "stream": true, )" + std::string(kTools) + R"(, "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto lines = data_lines(drain(r));
  ASSERT_GE(lines.size(), 7u);
  EXPECT_EQ(lines.back(), "[DONE]");
  std::string text, arguments;
  int heads = 0, fragments = 0;
  std::string finish;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    const auto c = parse(lines[i]).at("choices").at(0);
    const auto& delta = c.at("delta").as_object();
    if (auto t = delta.if_contains("content"); t && t->is_string()) text += t->as_string();
    if (auto calls = delta.if_contains("tool_calls")) {
      const auto& call = calls->at(0).as_object();
      EXPECT_EQ(call.at("index"), 0);
      if (call.contains("id")) {
        ++heads;
        EXPECT_EQ(call.at("id"), "tooluse_1");
        EXPECT_EQ(call.at("type"), "function");
        EXPECT_EQ(call.at("function").at("name"), "get_weather");
        EXPECT_EQ(call.at("function").at("arguments"), "");
      } else {
        ++fragments;
        EXPECT_FALSE(call.at("function").as_object().contains("name"));
      }
      arguments += call.at("function").at("arguments").as_string();
    }
    if (c.at("finish_reason").is_string()) finish = std::string(c.at("finish_reason").as_string());
  }
  EXPECT_EQ(text, "Checking.");
  EXPECT_EQ(heads, 1);
  EXPECT_GE(fragments, 2);
  EXPECT_EQ(arguments, args);
  EXPECT_EQ(finish, "tool_calls");
}

TEST_F(OpenAIApiTest, ToolCallsStreamAsTheModelSendsThem) {
  // Text, then a call whose input comes in fragments, then one without input (no fragment at all).
  const std::string args = R"({"city":"Paris"})";
  model.reply_tools("Checking.", {bedrock::ContentBlock::make_tool_use("tooluse_1", "get_weather", args),
                                  bedrock::ContentBlock::make_tool_use("tooluse_2", "now", "{}")});
  auto pieces = text_deltas({"Check", "ing."});
  for (auto& p : tool_deltas(1, "tooluse_1", "get_weather", {R"({"city")", R"(:"Par)", R"(is"})"})) pieces.push_back(p);
  for (auto& p : tool_deltas(2, "tooluse_2", "now", {})) pieces.push_back(p);
  model.stream(pieces);
  const std::string body = R"({"model": "haiku", "stream": true, )" + std::string(kTools) + R"(, "messages": [{"role": "user", "content": "x"}]})";
  auto r = chat(body, {{"Idempotency-Key", "stream-tools-1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const auto writes = drain_writes(r);
  // One write for the start, one per piece as it arrived, one for the end: the calls are not held back.
  ASSERT_EQ(writes.size(), 1 + pieces.size() + 1);
  auto delta_of = [&](const std::string& w) { return parse(data_lines(w).at(0)).at("choices").at(0).at("delta"); };
  EXPECT_EQ(delta_of(writes[3]), parse(R"({"tool_calls":[{"index":0,"id":"tooluse_1","type":"function","function":{"name":"get_weather","arguments":""}}]})"));
  EXPECT_EQ(delta_of(writes[4]), parse(R"({"tool_calls":[{"index":0,"function":{"arguments":"{\"city\""}}]})"));
  EXPECT_EQ(delta_of(writes[7]), parse(R"({"tool_calls":[{"index":1,"id":"tooluse_2","type":"function","function":{"name":"now","arguments":""}}]})"));

  // Assembled by index, as a client does: the same calls as the buffered answer; "{}" for the call
  // without input (sent with the end), each call named once.
  std::map<std::int64_t, std::string> assembled;
  int heads = 0;
  std::string finish;
  for (const auto& w : writes) {
    for (const auto& line : data_lines(w)) {
      if (line == "[DONE]") continue;
      const auto c = parse(line).at("choices").at(0);
      if (auto calls = c.at("delta").as_object().if_contains("tool_calls")) {
        const auto& call = calls->at(0).as_object();
        heads += call.contains("id") ? 1 : 0;
        assembled[call.at("index").as_int64()] += call.at("function").at("arguments").as_string();
      }
      if (c.at("finish_reason").is_string()) finish = std::string(c.at("finish_reason").as_string());
    }
  }
  EXPECT_EQ(heads, 2);
  EXPECT_EQ(assembled, (std::map<std::int64_t, std::string>{{0, args}, {1, "{}"}}));
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_NE(writes.back().find(R"("index":1,"function":{"arguments":"{}"})"), std::string::npos) << writes.back();

  // The stored answer is the buffered one; a streamed repeat replays the same calls.
  auto repeat = chat(body, {{"Idempotency-Key", "stream-tools-1"}});
  EXPECT_EQ(repeat.headers.get("Idempotent-Replayed"), "true");
  std::map<std::int64_t, std::string> replayed;
  for (const auto& line : data_lines(drain(repeat))) {
    if (line == "[DONE]") continue;
    const auto chunk = parse(line);
    if (auto calls = chunk.at("choices").at(0).at("delta").as_object().if_contains("tool_calls"))
      replayed[calls->at(0).at("index").as_int64()] += calls->at(0).at("function").at("arguments").as_string();
  }
  EXPECT_EQ(replayed, assembled);
  EXPECT_EQ(model.stream_calls, 1);
}

TEST_F(OpenAIApiTest, AToolInputSentInOnePieceIsOneFragment) {
  model.reply_tools("", {bedrock::ContentBlock::make_tool_use("tooluse_1", "get_weather", R"({"city":"Oslo"})")});
  model.stream(tool_deltas(0, "tooluse_1", "get_weather", {R"({"city":"Oslo"})"}));
  auto r = chat(R"({"model": "haiku", "stream": true, )" + std::string(kTools) + R"(, "messages": [{"role": "user", "content": "x"}]})");
  const auto writes = drain_writes(r);
  ASSERT_EQ(writes.size(), 4u);  // start, the call's head, its input, the end
  auto lines = data_lines(writes[2]);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(parse(lines[0]).at("choices").at(0).at("delta").at("tool_calls").at(0).at("function").at("arguments"), R"({"city":"Oslo"})");
  EXPECT_EQ(writes.back().find("tool_calls\":["), std::string::npos) << writes.back();  // nothing repeated at the end
}

}  // namespace
}  // namespace ba::test
