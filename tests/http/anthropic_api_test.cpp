// POST /v1/messages (http/anthropic_api.cpp): Anthropic's request translated to the chat use case
// (stateless), its answers, events and errors in Anthropic's shape. The official client's view is in
// tests/e2e/compat_clients_e2e_test.cpp.
#include <gtest/gtest.h>

#include "http/compat_fixture.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

class AnthropicApiTest : public CompatApiTest {
 protected:
  net::ServerResponse messages(std::string body, net::Headers headers = {}) {
    headers.set("x-api-key", kKey);
    headers.set("anthropic-version", "2023-06-01");
    return post("/v1/messages", std::move(body), std::move(headers));
  }
  static json::object error_of(const net::ServerResponse& r) {
    auto v = parse(r.body).as_object();
    EXPECT_EQ(v.at("type"), "error") << r.body;
    return v.at("error").as_object();
  }
  // (event name, data) of an SSE body.
  static std::vector<std::pair<std::string, json::value>> events(const std::string& body) {
    std::vector<std::pair<std::string, json::value>> out;
    for (std::size_t at = 0; (at = body.find("event: ", at)) != std::string::npos;) {
      auto nl = body.find('\n', at);
      auto data = body.find("data: ", nl);
      auto end = body.find('\n', data);
      out.emplace_back(body.substr(at + 7, nl - at - 7), parse(body.substr(data + 6, end - data - 6)));
      at = end;
    }
    return out;
  }
};

TEST_F(AnthropicApiTest, TheRequestIsTranslatedAndTheAnswerHasAnthropicsShape) {
  model.reply("Bonjour.");
  model.script.back().result->stop_reason = "max_tokens";
  auto r = messages(R"({"model": "haiku", "max_tokens": 300,
    "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use French."}],
    "messages": [
      {"role": "user", "content": "Hi"},
      {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4A=="}},
                                   {"type": "text", "text": "What is this?"}]},
      {"role": "assistant", "content": [{"type": "text", "text": "A"}]},
      {"role": "user", "content": "Go on"}],
    "temperature": 0.3, "top_p": 0.8, "top_k": 20, "stop_sequences": ["STOP"], "metadata": {"user_id": "u-1"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& req = model.requests.at(0);
  EXPECT_EQ(req.model_id, kHaiku);
  EXPECT_EQ(req.system, "Be brief.\n\nUse French.");
  ASSERT_EQ(req.messages.size(), 3u);  // consecutive user turns combined, as Anthropic does
  ASSERT_EQ(req.messages[0].content.size(), 3u);
  EXPECT_EQ(req.messages[0].content[1].type, bedrock::ContentBlock::Type::image);
  EXPECT_EQ(req.messages[0].content[1].format, "jpeg");
  EXPECT_EQ(req.max_tokens, 300);
  EXPECT_EQ(req.top_k, 20);
  EXPECT_EQ(req.stop_sequences, std::vector<std::string>{"STOP"});
  auto b = parse(r.body).as_object();
  EXPECT_EQ(b.at("type"), "message");
  EXPECT_EQ(b.at("role"), "assistant");
  EXPECT_TRUE(b.at("id").as_string().starts_with("msg_"));
  EXPECT_EQ(b.at("model"), kHaiku);
  EXPECT_EQ(b.at("content").at(0).at("text"), "Bonjour.");
  EXPECT_EQ(b.at("stop_reason"), "max_tokens");
  EXPECT_TRUE(b.at("stop_sequence").is_null());
  EXPECT_EQ(b.at("usage").at("input_tokens"), 10);
  EXPECT_EQ(b.at("usage").at("output_tokens"), 5);
  EXPECT_EQ(last_log().at("route"), "/v1/messages");
}

TEST_F(AnthropicApiTest, UnsupportedFieldsAndBlocksAre400NamingThem) {
  struct Case {
    std::string body;
    std::string says;
  };
  const std::string m = R"("messages": [{"role": "user", "content": "x"}])";
  const std::vector<Case> cases = {
      {R"({"model": "haiku", )" + m + "}", "max_tokens: Field required"},
      {R"({"model": "haiku", "max_tokens": 5, "tools": [{"name": "f"}], )" + m + "}", "tools.0.input_schema: Field required"},
      {R"({"model": "haiku", "max_tokens": 5, "tools": [{"type": "web_search_20250305", "name": "web_search"}], )" + m + "}",
       "server tools"},
      {R"({"model": "haiku", "max_tokens": 5, "tool_choice": {"type": "sometimes"}, )" + m + "}", "tool_choice.type"},
      {R"({"model": "haiku", "max_tokens": 5, "thinking": {"type": "enabled"}, )" + m + "}", "thinking"},
      {R"({"model": "haiku", "max_tokens": 5, "frob": 1, )" + m + "}", "frob: Extra inputs are not permitted"},
      {R"({"model": "haiku", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": {"type": "forever"}}]}]})",
       "cache_control.type: Input should be 'ephemeral'"},
      {R"({"model": "haiku", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]})", "document"},
      {R"({"model": "haiku", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]})",
       "no tools are given"},
      {R"({"model": "haiku", "max_tokens": 5, "tools": [{"name": "f", "input_schema": {"type": "object"}}], "messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]})",
       "tool calls belong in assistant messages"},
      {R"({"model": "haiku", "max_tokens": 5, "tools": [{"name": "f", "input_schema": {"type": "object"}}], "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "search_result", "source": "s"}]}]}]})",
       "only text, image and document blocks"},
      {R"({"model": "haiku", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]}]})",
       "does not fetch URLs"},
      {R"({"model": "titan", "max_tokens": 5, "top_k": 5, )" + m + "}", "top_k is supported for Anthropic Claude models only"},
      {R"({"model": "haiku", "max_tokens": 5, "temperature": 1.5, )" + m + "}", "temperature"},
  };
  for (const auto& c : cases) {
    auto r = messages(c.body);
    ASSERT_EQ(r.status, 400) << c.body << " -> " << r.body;
    auto e = error_of(r);
    EXPECT_EQ(e.at("type"), "invalid_request_error");
    EXPECT_NE(e.at("message").as_string().find(c.says), std::string::npos) << r.body;
  }
  EXPECT_TRUE(model.requests.empty());
  auto unknown = messages(R"({"model": "claude-opus-9", "max_tokens": 5, )" + m + "}");
  ASSERT_EQ(unknown.status, 404);
  EXPECT_EQ(error_of(unknown).at("type"), "not_found_error");
}

TEST_F(AnthropicApiTest, RouterAndLimiterErrorsAreInAnthropicsShape) {
  auto r = post("/v1/messages", R"({})", {}, false);
  ASSERT_EQ(r.status, 401);
  EXPECT_EQ(error_of(r).at("type"), "authentication_error");
  auto big = messages(std::string(70 * 1024, ' '));
  ASSERT_EQ(big.status, 413);
  EXPECT_EQ(error_of(big).at("type"), "request_too_large");
  model.admit_errors.push_back(Error{.kind = ErrorKind::rate_limited, .message = "no budget", .retry_after = std::chrono::milliseconds(900)});
  auto limited = messages(R"({"model": "haiku", "max_tokens": 5, "stream": true, "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(limited.status, 429);
  EXPECT_FALSE(limited.stream);
  EXPECT_EQ(error_of(limited).at("type"), "rate_limit_error");
  EXPECT_EQ(limited.headers.get("Retry-After"), "1");
  EXPECT_EQ(limited.headers.get("retry-after-ms"), "900");
  model.error(Error::make(ErrorKind::unavailable, "Bedrock is unavailable"));
  auto down = messages(R"({"model": "haiku", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(down.status, 503);
  EXPECT_EQ(error_of(down).at("type"), "overloaded_error");
}

TEST_F(AnthropicApiTest, AStreamIsAnthropicsEventSequence) {
  model.reply("Hello there", {"Hel", "lo there"});
  auto r = messages(R"({"model": "haiku", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto ev = events(drain(r));
  std::vector<std::string> names;
  for (const auto& [name, data] : ev) {
    names.push_back(name);
    EXPECT_EQ(data.at("type"), json::value(name));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"message_start", "content_block_start", "ping", "content_block_delta",
                                             "content_block_delta", "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(ev[0].second.at("message").at("content").as_array().size(), 0u);
  EXPECT_EQ(ev[3].second.at("delta").at("text"), "Hel");
  EXPECT_EQ(ev[3].second.at("delta").at("type"), "text_delta");
  EXPECT_EQ(ev[6].second.at("delta").at("stop_reason"), "end_turn");
  EXPECT_EQ(ev[6].second.at("usage").at("output_tokens"), 5);
  EXPECT_EQ(ev[6].second.at("usage").at("input_tokens"), 10);
}

TEST_F(AnthropicApiTest, AFailureAfterTheStreamStartedIsAnErrorEvent) {
  model.error(Error{.kind = ErrorKind::throttled, .message = "Too many requests", .retry_after = std::chrono::seconds(2)}, {"par"});
  auto r = messages(R"({"model": "haiku", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(r.status, 200);
  auto ev = events(drain(r));
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().first, "error");
  EXPECT_EQ(ev.back().second.at("error").at("type"), "rate_limit_error");
  EXPECT_EQ(ev.back().second.at("error").at("message"), "Too many requests");
}

TEST_F(AnthropicApiTest, AStreamedRepeatOfAnIdempotencyKeyIsTheSameEventSequence) {
  model.reply("once", {"once"});
  const std::string body = R"({"model": "haiku", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "x"}]})";
  auto first = messages(body, {{"Idempotency-Key", "a-1"}});
  auto first_events = events(drain(first));
  auto repeat = messages(body, {{"Idempotency-Key", "a-1"}});
  ASSERT_EQ(repeat.status, 200);
  EXPECT_EQ(repeat.headers.get("Idempotent-Replayed"), "true");
  auto again = events(drain(repeat));
  ASSERT_EQ(again.size(), first_events.size());
  for (std::size_t i = 0; i < again.size(); ++i) EXPECT_EQ(again[i].second, first_events[i].second) << i;
  EXPECT_EQ(model.stream_calls, 1);
}

// ---- Tools ----

constexpr const char* kTools = R"("tools": [{"name": "get_weather", "description": "Weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
    {"name": "now", "input_schema": {"type": "object"}, "type": "custom"}])";

TEST_F(AnthropicApiTest, ToolsAndToolBlocksAreTranslated) {
  model.reply_tools("Checking.", {bedrock::ContentBlock::make_tool_use("tooluse_1", "get_weather", R"({"city":"Rome"})")});
  auto r = messages(R"({"model": "haiku", "max_tokens": 50, )" + std::string(kTools) + R"(, "tool_choice": {"type": "any"},
    "messages": [{"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": [{"type": "text", "text": "Looking."}, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "21 C", "is_error": true},
                                   {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                                   {"type": "text", "text": "And Rome?"}]}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& req = model.requests.at(0);
  ASSERT_EQ(req.tools.size(), 2u);
  EXPECT_EQ(req.tools[0].input_schema, R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})");
  EXPECT_EQ(req.tool_choice.mode, bedrock::ToolChoice::Mode::any);
  const auto& call = req.messages[1].content.at(1);
  EXPECT_EQ(call.type, bedrock::ContentBlock::Type::tool_use);
  EXPECT_EQ(call.tool_use_id, "toolu_1");
  EXPECT_EQ(call.input, R"({"city":"Paris"})");
  const auto& res = req.messages[2].content;
  ASSERT_EQ(res.size(), 3u);
  EXPECT_TRUE(res[0].is_error);
  EXPECT_EQ(res[0].content.at(0).text, "21 C");
  EXPECT_FALSE(res[1].is_error);
  EXPECT_EQ(res[1].content.size(), 2u);

  const auto b = parse(r.body);
  EXPECT_EQ(b.at("stop_reason"), "tool_use");
  const auto& content = b.at("content").as_array();
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0].at("text"), "Checking.");
  EXPECT_EQ(content[1], parse(R"({"type":"tool_use","id":"tooluse_1","name":"get_weather","input":{"city":"Rome"}})"));
}

TEST_F(AnthropicApiTest, AStreamedToolUseIsItsOwnBlockWithInputJsonDeltas) {
  const std::string input = R"({"city":"Paris","note":")" + std::string(100, 'x') + R"("})";
  // Text then a tool: the text block is index 0, the tool's index 1.
  model.reply_tools("Checking.", {bedrock::ContentBlock::make_tool_use("tooluse_1", "get_weather", input)}, {"Check", "ing."});
  auto r = messages(R"({"model": "haiku", "max_tokens": 50, "stream": true, )" + std::string(kTools) +
                    R"(, "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto ev = events(drain(r));
  std::vector<std::string> names;
  std::string partial;
  for (const auto& [name, data] : ev) {
    names.push_back(name);
    if (name == "content_block_delta" && data.at("delta").at("type") == "input_json_delta") {
      EXPECT_EQ(data.at("index"), 1);
      partial += data.at("delta").at("partial_json").as_string();
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"message_start", "content_block_start", "ping", "content_block_delta",
                                             "content_block_delta", "content_block_stop", "content_block_start",
                                             "content_block_delta", "content_block_delta", "content_block_stop",
                                             "message_delta", "message_stop"}));
  EXPECT_EQ(ev[6].second.at("index"), 1);
  EXPECT_EQ(ev[6].second.at("content_block"), parse(R"({"type":"tool_use","id":"tooluse_1","name":"get_weather","input":{}})"));
  EXPECT_EQ(partial, input);
  EXPECT_EQ(ev[10].second.at("delta").at("stop_reason"), "tool_use");

  // Only a tool call: no text block at all, the tool is index 0.
  model.reply_tools("", {bedrock::ContentBlock::make_tool_use("tooluse_2", "now", "{}")});
  auto only = messages(R"({"model": "haiku", "max_tokens": 50, "stream": true, )" + std::string(kTools) +
                       R"(, "messages": [{"role": "user", "content": "x"}]})");
  auto ev2 = events(drain(only));
  names.clear();
  for (const auto& [name, data] : ev2) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"message_start", "ping", "content_block_start", "content_block_delta",
                                             "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(ev2[2].second.at("index"), 0);
  EXPECT_EQ(ev2[3].second.at("delta").at("partial_json"), "{}");
}

TEST_F(AnthropicApiTest, ToolUseBlocksStreamAsTheModelSendsThem) {
  // Text, then a call whose input comes in fragments, then one without input (no fragment at all).
  const std::string input = R"({"city":"Paris"})";
  model.reply_tools("Checking.", {bedrock::ContentBlock::make_tool_use("tooluse_1", "get_weather", input),
                                  bedrock::ContentBlock::make_tool_use("tooluse_2", "now", "{}")});
  auto pieces = text_deltas({"Check", "ing."});
  for (auto& p : tool_deltas(1, "tooluse_1", "get_weather", {R"({"city")", R"(:"Paris"})"})) pieces.push_back(p);
  for (auto& p : tool_deltas(2, "tooluse_2", "now", {})) pieces.push_back(p);
  model.stream(pieces);
  auto r = messages(R"({"model": "haiku", "max_tokens": 50, "stream": true, )" + std::string(kTools) +
                    R"(, "messages": [{"role": "user", "content": "x"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto writes = drain_writes(r);
  ASSERT_EQ(writes.size(), 1 + pieces.size() + 1);  // each piece written as it arrived
  // The first tool call's start closes the text block and opens block 1, in the same write.
  auto at3 = events(writes[3]);
  ASSERT_EQ(at3.size(), 2u);
  EXPECT_EQ(at3[0].first, "content_block_stop");
  EXPECT_EQ(at3[0].second.at("index"), 0);
  EXPECT_EQ(at3[1].second, parse(R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"tooluse_1","name":"get_weather","input":{}}})"));
  EXPECT_EQ(events(writes[4]).at(0).second,
            parse(R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\""}})"));

  std::string all;
  for (const auto& w : writes) all += w;
  auto ev = events(all);
  std::vector<std::string> names;
  std::map<std::int64_t, std::string> partial;
  for (const auto& [name, data] : ev) {
    names.push_back(name + (data.as_object().contains("index") ? "@" + std::to_string(data.at("index").as_int64()) : ""));
    if (name == "content_block_delta" && data.at("delta").at("type") == "input_json_delta")
      partial[data.at("index").as_int64()] += data.at("delta").at("partial_json").as_string();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"message_start", "content_block_start@0", "ping", "content_block_delta@0",
                                             "content_block_delta@0", "content_block_stop@0", "content_block_start@1",
                                             "content_block_delta@1", "content_block_delta@1", "content_block_stop@1",
                                             "content_block_start@2", "content_block_delta@2", "content_block_stop@2",
                                             "message_delta", "message_stop"}));
  // The inputs as a client assembles them: the call without input gets "{}", an object.
  EXPECT_EQ(partial, (std::map<std::int64_t, std::string>{{1, input}, {2, "{}"}}));
  EXPECT_EQ(ev[10].second.at("content_block").at("id"), "tooluse_2");
  EXPECT_EQ(ev[13].second.at("delta").at("stop_reason"), "tool_use");
}

TEST_F(AnthropicApiTest, AToolUseAloneWithItsInputInOnePieceIsBlockZero) {
  model.reply_tools("", {bedrock::ContentBlock::make_tool_use("tooluse_1", "get_weather", R"({"city":"Oslo"})")});
  model.stream(tool_deltas(0, "tooluse_1", "get_weather", {R"({"city":"Oslo"})"}));
  auto r = messages(R"({"model": "haiku", "max_tokens": 50, "stream": true, )" + std::string(kTools) +
                    R"(, "messages": [{"role": "user", "content": "x"}]})");
  auto ev = events(drain(r));
  std::vector<std::string> names;
  for (const auto& [name, data] : ev) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"message_start", "content_block_start", "ping", "content_block_delta",
                                             "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(ev[1].second.at("index"), 0);
  EXPECT_EQ(ev[3].second.at("delta").at("partial_json"), R"({"city":"Oslo"})");
  EXPECT_EQ(ev[4].second.at("index"), 0);
}

TEST_F(AnthropicApiTest, AStreamedRepeatReplaysTheToolUse) {
  model.reply_tools("", {bedrock::ContentBlock::make_tool_use("tooluse_2", "now", R"({"tz":"UTC"})")});
  const std::string body = R"({"model": "haiku", "max_tokens": 50, "stream": true, )" + std::string(kTools) +
                           R"(, "messages": [{"role": "user", "content": "x"}]})";
  auto once = messages(body, {{"Idempotency-Key", "t-1"}});
  auto first = events(drain(once));
  auto repeat = messages(body, {{"Idempotency-Key", "t-1"}});
  EXPECT_EQ(repeat.headers.get("Idempotent-Replayed"), "true");
  auto again = events(drain(repeat));
  ASSERT_EQ(again.size(), first.size());
  for (std::size_t i = 0; i < again.size(); ++i) EXPECT_EQ(again[i].second, first[i].second) << i;
}

}  // namespace
}  // namespace ba::test
