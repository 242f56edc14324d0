#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "e2e/e2e_harness.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

json::value body_json(const net::HttpResponse& r) { return json::parse(r.body); }
std::string error_type(const net::HttpResponse& r) {
  return std::string(body_json(r).at("error").at("type").as_string());
}

// Events of an SSE body: (name, data) pairs.
std::vector<std::pair<std::string, std::string>> sse_events(const std::string& body) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find("\n\n", pos);
    if (end == std::string::npos) break;
    std::string block = body.substr(pos, end - pos);
    pos = end + 2;
    std::string name, data;
    std::size_t lp = 0;
    while (lp <= block.size()) {
      auto nl = block.find('\n', lp);
      std::string line = block.substr(lp, nl == std::string::npos ? std::string::npos : nl - lp);
      if (line.starts_with("event: ")) name = line.substr(7);
      if (line.starts_with("data: ")) data += line.substr(6);
      if (nl == std::string::npos) break;
      lp = nl + 1;
    }
    out.emplace_back(name, data);
  }
  return out;
}

TEST(ChatE2E, ChatThenHistoryAcrossTurns) {
  Stack s;
  auto r1 = s.chat_call({{"input", "echo:Paris is the capital of France."}});
  ASSERT_EQ(r1.status, 200) << r1.body;
  auto b1 = body_json(r1);
  EXPECT_EQ(b1.at("response").as_string(), "Paris is the capital of France.");
  EXPECT_EQ(b1.at("stop_reason").as_string(), "end_turn");
  EXPECT_GT(b1.at("usage").at("input_tokens").as_int64(), 0);
  EXPECT_GT(b1.at("usage").at("output_tokens").as_int64(), 0);
  EXPECT_EQ(b1.at("request_id").as_string(), *r1.headers.get("x-request-id"));
  std::string id(b1.at("conversation_id").as_string());

  auto r2 = s.chat_call({{"input", "echo:And Berlin of Germany."}, {"conversation_id", id}});
  ASSERT_EQ(r2.status, 200) << r2.body;
  EXPECT_EQ(body_json(r2).at("conversation_id").as_string(), id);

  auto g = s.send("GET", "/conversations/" + id);
  ASSERT_EQ(g.status, 200) << g.body;
  auto turns = body_json(g).at("turns").as_array();
  ASSERT_EQ(turns.size(), 2u);
  EXPECT_EQ(turns[0].at("response").as_string(), "Paris is the capital of France.");
  EXPECT_EQ(turns[1].at("input").as_string(), "echo:And Berlin of Germany.");
  // The second call sent the first turn as history: more input tokens than the first call.
  EXPECT_GT(body_json(r2).at("usage").at("input_tokens").as_int64(),
            b1.at("usage").at("input_tokens").as_int64());

  auto d = s.send("DELETE", "/conversations/" + id);
  EXPECT_EQ(d.status, 204);
  EXPECT_EQ(s.send("GET", "/conversations/" + id).status, 404);
}

TEST(ChatE2E, IncludeHistoryFalseSendsOnlyTheNewInput) {
  Stack s;
  auto r1 = s.chat_call({{"input", "echo:one two three four five six seven"}, {"conversation_id", "h-1"}});
  ASSERT_EQ(r1.status, 200);
  auto with = s.chat_call({{"input", "echo:x"}, {"conversation_id", "h-1"}});
  auto without = s.chat_call({{"input", "echo:x"}, {"conversation_id", "h-1"}, {"include_history", false}});
  ASSERT_EQ(with.status, 200);
  ASSERT_EQ(without.status, 200);
  EXPECT_LT(body_json(without).at("usage").at("input_tokens").as_int64(),
            body_json(with).at("usage").at("input_tokens").as_int64());
}

TEST(ChatE2E, StreamingDeliversDeltasAndDone) {
  Stack s;
  auto r = s.chat_call({{"input", "echo:streaming works end to end"}, {"stream", true}, {"conversation_id", "st-1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.get("content-type"), "text/event-stream");
  auto events = sse_events(r.body);
  ASSERT_GE(events.size(), 2u) << r.body;
  std::string text;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    ASSERT_EQ(events[i].first, "delta") << r.body;
    text += json::parse(events[i].second).at("text").as_string();
  }
  EXPECT_EQ(text, "streaming works end to end");
  ASSERT_EQ(events.back().first, "done");
  auto done = json::parse(events.back().second);
  EXPECT_EQ(done.at("conversation_id").as_string(), "st-1");
  EXPECT_EQ(done.at("stop_reason").as_string(), "end_turn");
  EXPECT_EQ(done.at("request_id").as_string(), *r.headers.get("x-request-id"));
  auto g = s.send("GET", "/conversations/st-1");
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(body_json(g).at("turns").as_array().size(), 1u);
}

TEST(ChatE2E, StreamExceptionMidStreamIsAnErrorEventAndNothingIsSaved) {
  Stack s;
  s.simulator->script_fault(sim::Fault{sim::FaultKind::stream_exception, "modelStreamErrorException"}, 1);
  auto r = s.chat_call({{"input", "echo:a b c d e f g h"}, {"stream", true}, {"conversation_id", "st-2"}});
  ASSERT_EQ(r.status, 200);
  auto events = sse_events(r.body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().first, "error") << r.body;
  auto err = json::parse(events.back().second);
  EXPECT_EQ(err.at("type").as_string(), "model_error");
  EXPECT_FALSE(err.at("message").as_string().empty());
  EXPECT_EQ(s.send("GET", "/conversations/st-2").status, 404);
}

TEST(ChatE2E, ClientDisconnectCancelsTheUpstreamStream) {
  StackOptions o;
  o.sim.per_token = std::chrono::milliseconds(20);
  o.sim.reply_tokens = 200;
  Stack s(o);
  net::HttpRequest req;
  req.method = "POST";
  req.url = s.base + "/chat";
  req.headers.set("Content-Type", "application/json");
  req.body = R"({"input": "tell me a long story", "stream": true, "conversation_id": "gone-1"})";
  int chunks = 0;
  auto r = s.run(s.caller->send_streaming(std::move(req), [&](std::string_view) -> boost::asio::awaitable<bool> {
    co_return ++chunks < 2;  // hang up after the first chunk
  }));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::cancelled);
  // Wait (on timers) until the server has logged the request, i.e. the upstream call ended.
  s.run([&]() -> boost::asio::awaitable<bool> {
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
    for (int i = 0; i < 1000 && (s.logs.empty() || s.simulator->stats().in_flight > 0); ++i) {
      t.expires_after(std::chrono::milliseconds(10));
      co_await t.async_wait(boost::asio::use_awaitable);
    }
    co_return true;
  }());
  ASSERT_FALSE(s.logs.empty());
  auto log = json::parse(s.logs.back());
  EXPECT_EQ(log.at("error").as_string(), "client_disconnected");
  // The simulator saw the upstream stream end early: it charged fewer output tokens than the full reply.
  auto stats = s.simulator->stats();
  EXPECT_EQ(stats.in_flight, 0);
  EXPECT_LT(stats.output_tokens, 200);
  EXPECT_EQ(s.send("GET", "/conversations/gone-1").status, 404);
}

struct FaultCase {
  sim::FaultKind fault;
  int status;
  std::string type;
};

// One attempt per request (retries off) so each scripted fault reaches the caller; retries are covered
// by ratelimit_e2e_test.cpp.
TEST(ChatE2E, UpstreamErrorsMapToStatusesAndLeaveHistoryUnchanged) {
  StackOptions o;
  o.rate_limit.retry.max_attempts = 1;
  Stack s(o);
  ASSERT_EQ(s.chat_call({{"input", "echo:seed"}, {"conversation_id", "f-1"}}).status, 200);
  std::vector<FaultCase> cases = {
      {sim::FaultKind::throttle, 429, "throttled"},
      {sim::FaultKind::validation, 400, "invalid_request"},
      {sim::FaultKind::unavailable, 503, "unavailable"},
      {sim::FaultKind::internal, 503, "unavailable"},
      {sim::FaultKind::model_timeout, 504, "timeout"},
      {sim::FaultKind::model_error, 424, "model_error"},
      {sim::FaultKind::access_denied, 502, "model_error"},
      {sim::FaultKind::not_found, 502, "model_error"},
      {sim::FaultKind::drop, 502, "network_error"},
  };
  for (const auto& c : cases) {
    s.simulator->script_fault(sim::Fault{c.fault, {}}, 1);
    auto r = s.chat_call({{"input", "echo:q"}, {"conversation_id", "f-1"}});
    EXPECT_EQ(r.status, c.status) << sim::to_string(sim::Fault{c.fault, {}}) << " " << r.body;
    EXPECT_EQ(error_type(r), c.type) << sim::to_string(sim::Fault{c.fault, {}});
    EXPECT_FALSE(body_json(r).at("error").at("message").as_string().empty());
  }
  auto g = s.send("GET", "/conversations/f-1");
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(body_json(g).at("turns").as_array().size(), 1u);
}

TEST(ChatE2E, BadRequestsOverTheWire) {
  Stack s;
  EXPECT_EQ(s.send("POST", "/chat", "{oops").status, 400);
  EXPECT_EQ(s.send("POST", "/chat", R"({"input": ""})").status, 400);
  auto bad_id = s.chat_call({{"input", "x"}, {"conversation_id", "not valid!"}});
  EXPECT_EQ(bad_id.status, 400);
  EXPECT_NE(body_json(bad_id).at("error").at("message").as_string().find("1-128"), std::string::npos);
  auto big = s.send("POST", "/chat", R"({"input": ")" + std::string(100'000, 'x') + R"("})");
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(error_type(big), "payload_too_large");
  EXPECT_EQ(s.send("GET", "/nowhere").status, 404);
  auto m = s.send("GET", "/chat");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.headers.get("allow"), "POST");
  EXPECT_EQ(s.send("GET", "/conversations/unknown-id").status, 404);
  EXPECT_EQ(s.simulator->stats().requests_total, 0u);
}

TEST(ChatE2E, ApiKeysIsolateCallers) {
  StackOptions o;
  o.api_keys = {"alice-key", "bob-key"};
  Stack s(o);
  EXPECT_EQ(s.chat_call({{"input", "echo:hi"}}).status, 401);
  EXPECT_EQ(s.chat_call({{"input", "echo:hi"}}, {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(s.send("GET", "/health").status, 200);
  auto a = s.chat_call({{"input", "echo:alice only"}, {"conversation_id", "priv"}}, {{"Authorization", "Bearer alice-key"}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(s.send("GET", "/conversations/priv", "", {{"x-api-key", "bob-key"}}).status, 404);
  EXPECT_EQ(s.send("DELETE", "/conversations/priv", "", {{"x-api-key", "bob-key"}}).status, 404);
  EXPECT_EQ(s.send("GET", "/conversations/priv", "", {{"x-api-key", "alice-key"}}).status, 200);
  for (const auto& l : s.logs) {
    EXPECT_EQ(l.find("alice-key"), std::string::npos);
    EXPECT_EQ(l.find("alice only"), std::string::npos);
  }
}

TEST(ChatE2E, NoCredentialsGives503WithGuidance) {
  StackOptions o;
  o.no_credentials = true;
  Stack s(o);
  auto h = s.send("GET", "/health");
  ASSERT_EQ(h.status, 200);
  EXPECT_FALSE(body_json(h).at("credentials").at("found").as_bool());
  auto r = s.chat_call({{"input", "echo:hi"}});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(error_type(r), "unavailable");
  auto msg = std::string(body_json(r).at("error").at("message").as_string());
  EXPECT_NE(msg.find("AWS_ACCESS_KEY_ID"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--simulate"), std::string::npos) << msg;
  EXPECT_EQ(s.simulator->stats().requests_total, 0u);
}

}  // namespace
}  // namespace ba::test
