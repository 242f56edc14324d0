#include "lambda/runtime.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <cstdlib>
#include <deque>
#include <set>

#include "support/fake_model.hpp"
#include "http/api.hpp"
#include "lambda/apigw.hpp"
#include "lambda/fake_runtime_api.hpp"
#include "store/sqlite_history.hpp"
#include "support/memory_idempotency.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

class RuntimeTest : public ::testing::Test {
 protected:
  RuntimeTest() : fake(io) {}
  ~RuntimeTest() override {
    fake.stop();
    io.restart();
    io.run_for(200ms);
  }

  std::int64_t wall_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall().time_since_epoch()).count();
  }
  void queue(std::string id, std::string body, std::int64_t in_ms = 30'000, std::string trace = {}) {
    fake.queue({std::move(id), std::move(body), wall_ms() + in_ms, std::move(trace)});
  }

  // Runs the loop until it returns (should_stop after `invocations` posts, or a hard failure).
  int run(lambda::InvocationHandler handler, std::size_t invocations) {
    lambda::RuntimeOptions o;
    o.api = fake.api();
    o.clock = &clock;
    o.log = [this](std::string_view line) { logs.emplace_back(line); };
    o.should_stop = [this, invocations] { return fake.accepted() >= invocations; };
    std::optional<int> rc;
    asio::co_spawn(io, lambda::run_runtime(io, o, std::move(handler)), [&](std::exception_ptr e, int code) {
      if (e) std::rethrow_exception(e);
      rc = code;
      io.stop();
    });
    io.restart();
    io.run();
    EXPECT_TRUE(rc.has_value());
    EXPECT_TRUE(fake.protocol_errors.empty()) << fake.protocol_errors.front();
    return rc.value_or(-1);
  }

  asio::io_context io;
  ManualClock clock;
  FakeRuntimeApi fake;
  std::vector<std::string> logs;
};

lambda::InvocationHandler echo_handler(std::vector<lambda::Invocation>* seen) {
  return [seen](const lambda::Invocation& inv) -> asio::awaitable<Result<std::string>> {
    seen->push_back(inv);
    co_return std::string(R"({"echo":)") + inv.event + "}";
  };
}

TEST_F(RuntimeTest, ManyInvocationsInOneLoopOverReusedConnections) {
  constexpr int kCount = 200;
  for (int i = 0; i < kCount; ++i) queue("req-" + std::to_string(i), R"({"n":)" + std::to_string(i) + "}");
  std::vector<lambda::Invocation> seen;
  EXPECT_EQ(run(echo_handler(&seen), kCount), 0);
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kCount));
  ASSERT_EQ(fake.posts.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    const auto& p = fake.posts[static_cast<std::size_t>(i)];
    EXPECT_EQ(p.kind, "response");
    EXPECT_EQ(p.id, "req-" + std::to_string(i));
    EXPECT_EQ(p.body, R"({"echo":{"n":)" + std::to_string(i) + "}}");
    EXPECT_EQ(seen[static_cast<std::size_t>(i)].function_arn, kArn);
  }
  EXPECT_EQ(fake.next_calls, kCount);  // stopped before asking for a 201st event
  // One keep-alive connection for 400 requests, not one per request.
  EXPECT_LE(fake.connections.size(), 2u);
}

TEST_F(RuntimeTest, NextBlocksUntilAnEventArrives) {
  // Nothing is queued when the loop starts; the event arrives later.
  asio::steady_timer later(io);
  later.expires_after(50ms);
  later.async_wait([this](boost::system::error_code) { queue("late-1", R"({"late":true})"); });
  std::vector<lambda::Invocation> seen;
  EXPECT_EQ(run(echo_handler(&seen), 1), 0);
  ASSERT_EQ(fake.posts.size(), 1u);
  EXPECT_EQ(fake.posts[0].id, "late-1");
}

TEST_F(RuntimeTest, DeadlineAndTraceIdReachTheHandler) {
  clock.advance(123'456ms);
  queue("d-1", "{}", 2'500, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
  std::vector<lambda::Invocation> seen;
  std::string trace_env;
  auto handler = [&](const lambda::Invocation& inv) -> asio::awaitable<Result<std::string>> {
    seen.push_back(inv);
    if (const char* t = std::getenv("_X_AMZN_TRACE_ID")) trace_env = t;
    co_return std::string("{}");
  };
  EXPECT_EQ(run(handler, 1), 0);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].request_id, "d-1");
  EXPECT_EQ(seen[0].deadline_unix_ms, wall_ms() + 2'500);
  EXPECT_EQ(seen[0].deadline, clock.now() + 2'500ms);
  EXPECT_EQ(seen[0].trace_id, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
  EXPECT_EQ(trace_env, seen[0].trace_id);
}

TEST_F(RuntimeTest, HandlerErrorsArePostedWithTheirType) {
  queue("e-1", "{}");
  queue("e-2", "{}");
  queue("e-3", "{}");
  queue("ok-4", "{}");
  auto handler = [](const lambda::Invocation& inv) -> asio::awaitable<Result<std::string>> {
    if (inv.request_id == "e-1") co_return fail(ErrorKind::throttled, "slow down");
    if (inv.request_id == "e-2") {
      Error e = Error::make(ErrorKind::invalid_input, "bad model input");
      e.code = "ValidationException";
      co_return std::unexpected(e);
    }
    if (inv.request_id == "e-3") throw std::runtime_error("boom");
    co_return std::string(R"({"fine":1})");
  };
  EXPECT_EQ(run(handler, 4), 0);
  ASSERT_EQ(fake.posts.size(), 4u);
  EXPECT_EQ(fake.posts[0].kind, "error");
  EXPECT_EQ(fake.posts[0].id, "e-1");
  EXPECT_EQ(fake.posts[0].error_type, "BedrockAgent.throttled");
  auto body = json::parse(fake.posts[0].body);
  EXPECT_EQ(body.at("errorMessage").as_string(), "slow down");
  EXPECT_EQ(body.at("errorType").as_string(), "BedrockAgent.throttled");
  EXPECT_TRUE(body.at("stackTrace").as_array().empty());
  EXPECT_EQ(fake.posts[1].error_type, "ValidationException");
  EXPECT_EQ(fake.posts[2].kind, "error");
  EXPECT_EQ(fake.posts[2].error_type, "BedrockAgent.internal_error");
  EXPECT_NE(json::parse(fake.posts[2].body).at("errorMessage").as_string().find("boom"), std::string::npos);
  EXPECT_EQ(fake.posts[3].kind, "response");  // the loop goes on after failures
  EXPECT_EQ(fake.posts[3].body, R"({"fine":1})");
}

TEST_F(RuntimeTest, ResponseRefusedAs413BecomesAnError) {
  queue("big-1", "{}");
  queue("next-2", "{}");
  fake.answer_413.insert("big-1");
  std::vector<lambda::Invocation> seen;
  EXPECT_EQ(run(echo_handler(&seen), 2), 0);
  ASSERT_EQ(fake.posts.size(), 3u);
  EXPECT_EQ(fake.posts[0].kind, "response");
  EXPECT_EQ(fake.posts[0].answered, 413);
  EXPECT_EQ(fake.posts[1].kind, "error");
  EXPECT_EQ(fake.posts[1].id, "big-1");
  EXPECT_EQ(fake.posts[1].error_type, "Function.ResponseSizeTooLarge");
  EXPECT_EQ(fake.posts[2].kind, "response");
  EXPECT_EQ(fake.posts[2].id, "next-2");
}

TEST_F(RuntimeTest, NextFailingHardEndsTheLoopNonZero) {
  queue("only", "{}");
  std::vector<lambda::Invocation> seen;
  auto handler = [&](const lambda::Invocation& inv) -> asio::awaitable<Result<std::string>> {
    seen.push_back(inv);
    fake.close();  // the next /next answers 500
    co_return std::string("{}");
  };
  EXPECT_EQ(run(handler, 1000), 1);
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_EQ(fake.count("response"), 1u);
  ASSERT_FALSE(logs.empty());
  EXPECT_NE(logs.back().find("next"), std::string::npos);
}

TEST_F(RuntimeTest, UnreachableRuntimeApiEndsTheLoopNonZero) {
  lambda::RuntimeOptions o;
  o.api = "127.0.0.1:1";  // nothing listens there
  o.log = [this](std::string_view line) { logs.emplace_back(line); };
  std::optional<int> rc;
  asio::co_spawn(io, lambda::run_runtime(io, o, echo_handler(nullptr)), [&](std::exception_ptr, int code) {
    rc = code;
    io.stop();
  });
  io.run();
  EXPECT_EQ(rc, 1);
}

TEST_F(RuntimeTest, ServerErrorOnAPostEndsTheLoop) {
  queue("x-1", "{}");
  queue("x-2", "{}");
  fake.answer_posts_with = 500;  // "container error: exit now"
  std::vector<lambda::Invocation> seen;
  EXPECT_EQ(run(echo_handler(&seen), 1000), 1);
  EXPECT_EQ(seen.size(), 1u);
}

TEST_F(RuntimeTest, InitErrorIsPosted) {
  lambda::RuntimeOptions o;
  o.api = fake.api();
  o.log = [this](std::string_view line) { logs.emplace_back(line); };
  Error e = Error::make(ErrorKind::unavailable, "no AWS credentials");
  std::optional<Status> st;
  asio::co_spawn(io, lambda::post_init_error(io, o, e), [&](std::exception_ptr, Status s) {
    st = s;
    io.stop();
  });
  io.run();
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->has_value());
  ASSERT_EQ(fake.posts.size(), 1u);
  EXPECT_EQ(fake.posts[0].kind, "init");
  EXPECT_EQ(fake.posts[0].error_type, "BedrockAgent.unavailable");
  EXPECT_EQ(json::parse(fake.posts[0].body).at("errorMessage").as_string(), "no AWS credentials");
}

// --- API Gateway handler over the loop -----------------------------------------------------------

constexpr std::string_view kV1Event = R"({"resource":"/{proxy+}","path":"/echo","httpMethod":"POST",
  "headers":{"content-type":"application/json","x-ba-deadline-ms":"1"},
  "multiValueHeaders":{"content-type":["application/json"],"x-ba-deadline-ms":["1"]},
  "queryStringParameters":{"a":"1"},"multiValueQueryStringParameters":{"a":["1"]},
  "requestContext":{"stage":"prod","requestId":"gw-1","identity":{"apiKeyId":"kid-1","sourceIp":"203.0.113.1"}},
  "body":"{\"x\":1}","isBase64Encoded":false})";

constexpr std::string_view kV2Event = R"({"version":"2.0","routeKey":"$default","rawPath":"/echo","rawQueryString":"b=2",
  "headers":{"content-type":"application/json"},
  "requestContext":{"http":{"method":"PUT","path":"/echo","sourceIp":"192.0.2.1"},"stage":"$default",
    "authorizer":{"jwt":{"claims":{"sub":"u-1"}}}},
  "body":"eyJ5IjoyfQ==","isBase64Encoded":true})";

TEST_F(RuntimeTest, ApiGatewayEventsRoundTripThroughTheApiHandler) {
  std::vector<net::ServerRequest> got;
  net::Handler api = [&](net::ServerRequest& req) -> asio::awaitable<net::ServerResponse> {
    got.push_back(req);
    net::ServerResponse r;
    r.status = req.method == "PUT" ? 201 : 200;
    r.headers.set("Content-Type", "application/json");
    r.headers.add("Set-Cookie", "s=1");
    r.body = req.body;
    co_return r;
  };
  queue("gw-v1", std::string(kV1Event), 7'000);
  queue("gw-v2", std::string(kV2Event), 9'000);
  EXPECT_EQ(run(lambda::make_apigw_handler(api), 2), 0);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].target, "/echo?a=1");
  EXPECT_EQ(got[0].headers.get("x-ba-caller"), "apikey:kid-1");
  // The invocation deadline replaces the forged header.
  EXPECT_EQ(got[0].headers.get("x-ba-deadline-ms"), std::to_string(wall_ms() + 7'000));
  EXPECT_EQ(got[1].method, "PUT");
  EXPECT_EQ(got[1].body, R"({"y":2})");
  EXPECT_EQ(got[1].headers.get("x-ba-caller"), "jwt:u-1");
  EXPECT_EQ(got[1].headers.get("x-ba-deadline-ms"), std::to_string(wall_ms() + 9'000));

  ASSERT_EQ(fake.posts.size(), 2u);
  auto v1 = json::parse(fake.posts[0].body).as_object();
  EXPECT_EQ(v1.at("statusCode").as_int64(), 200);
  EXPECT_EQ(v1.at("body").as_string(), R"({"x":1})");
  EXPECT_TRUE(v1.contains("multiValueHeaders"));
  auto v2 = json::parse(fake.posts[1].body).as_object();
  EXPECT_EQ(v2.at("statusCode").as_int64(), 201);
  EXPECT_EQ(v2.at("cookies"), (json::array{"s=1"}));
  EXPECT_FALSE(v2.contains("multiValueHeaders"));
}

TEST_F(RuntimeTest, NonApiGatewayEventGetsA400ProxyResponse) {
  int calls = 0;
  net::Handler api = [&](net::ServerRequest&) -> asio::awaitable<net::ServerResponse> {
    ++calls;
    co_return net::ServerResponse{};
  };
  queue("s3-1", R"({"Records":[{"eventSource":"aws:s3","s3":{"bucket":{"name":"b"}}}]})");
  EXPECT_EQ(run(lambda::make_apigw_handler(api), 1), 0);
  EXPECT_EQ(calls, 0);
  ASSERT_EQ(fake.posts.size(), 1u);
  EXPECT_EQ(fake.posts[0].kind, "response");  // not an invocation error
  auto o = json::parse(fake.posts[0].body).as_object();
  EXPECT_EQ(o.at("statusCode").as_int64(), 400);
  EXPECT_EQ(json::parse(o.at("body").as_string()).at("error").at("type").as_string(), "invalid_request");
}

TEST_F(RuntimeTest, ApiThatThrowsBecomesAnInvocationError) {
  net::Handler api = [](net::ServerRequest&) -> asio::awaitable<net::ServerResponse> {
    throw std::runtime_error("api bug");
    co_return net::ServerResponse{};
  };
  queue("t-1", std::string(kV1Event));
  EXPECT_EQ(run(lambda::make_apigw_handler(api), 1), 0);
  ASSERT_EQ(fake.posts.size(), 1u);
  EXPECT_EQ(fake.posts[0].kind, "error");
  EXPECT_EQ(fake.posts[0].error_type, "BedrockAgent.internal_error");
}

// The real HTTP API (with a scripted model) behind the Lambda adapter.
TEST_F(RuntimeTest, RealApiHandlerAnswersChatThroughApiGateway) {
  FakeModel model;
  model.reply("Hello from Bedrock");
  auto store = store::make_sqlite_history(":memory:");
  ASSERT_TRUE(store);
  agent::ChatConfig cfg;
  cfg.model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
  agent::ChatService chat(model, **store, cfg);
  http::ApiKeys keys;
  http::ApiContext ctx{.chat = chat, .history = **store, .keys = keys, .config = {.model_id = cfg.model_id},
                       .log = [](std::string_view) {}};
  auto ev = json::parse(kV1Event).as_object();
  ev["path"] = "/chat";
  ev["body"] = R"({"input":"Hi there"})";
  queue("chat-1", json::serialize(ev));
  auto health = ev;
  health["path"] = "/health";
  health["httpMethod"] = "GET";
  health["body"] = nullptr;
  queue("health-2", json::serialize(health));
  EXPECT_EQ(run(lambda::make_apigw_handler(http::make_api_handler(ctx)), 2), 0);
  ASSERT_EQ(fake.posts.size(), 2u);
  auto o = json::parse(fake.posts[0].body).as_object();
  ASSERT_EQ(o.at("statusCode").as_int64(), 200) << fake.posts[0].body;
  auto body = json::parse(o.at("body").as_string());
  EXPECT_EQ(body.at("response").as_string(), "Hello from Bedrock");
  EXPECT_TRUE(o.at("multiValueHeaders").as_object().contains("x-request-id"));
  ASSERT_EQ(model.requests.size(), 1u);
  auto h = json::parse(fake.posts[1].body).as_object();
  EXPECT_EQ(h.at("statusCode").as_int64(), 200) << fake.posts[1].body;
}

// HEAD through API Gateway (v1 and v2) is answered like GET without a body: the same status and
// headers; on a route without GET, 405 with Allow as for any other method.
TEST_F(RuntimeTest, HeadIsAnsweredLikeGetWithoutABody) {
  FakeModel model;
  auto store = store::make_sqlite_history(":memory:");
  ASSERT_TRUE(store);
  agent::ChatConfig cfg;
  cfg.model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
  agent::ChatService chat(model, **store, cfg);
  http::ApiKeys keys;
  http::ApiContext ctx{.chat = chat, .history = **store, .keys = keys, .config = {.model_id = cfg.model_id},
                       .log = [](std::string_view) {}};
  auto v1 = json::parse(kV1Event).as_object();
  v1["path"] = "/health";
  v1["httpMethod"] = "GET";
  v1["body"] = nullptr;
  queue("get-1", json::serialize(v1));
  v1["httpMethod"] = "HEAD";
  queue("head-2", json::serialize(v1));
  auto v2 = json::parse(kV2Event).as_object();
  v2["rawPath"] = "/health";
  v2["rawQueryString"] = "";
  v2["requestContext"].as_object()["http"].as_object()["method"] = "HEAD";
  v2["requestContext"].as_object()["http"].as_object()["path"] = "/health";
  v2.erase("body");
  v2["isBase64Encoded"] = false;
  queue("head-3", json::serialize(v2));
  v1["path"] = "/chat";
  queue("head-4", json::serialize(v1));
  EXPECT_EQ(run(lambda::make_apigw_handler(http::make_api_handler(ctx)), 4), 0);
  ASSERT_EQ(fake.posts.size(), 4u);
  auto get = json::parse(fake.posts[0].body).as_object();
  ASSERT_EQ(get.at("statusCode").as_int64(), 200) << fake.posts[0].body;
  EXPECT_FALSE(get.at("body").as_string().empty());
  auto head = json::parse(fake.posts[1].body).as_object();
  EXPECT_EQ(head.at("statusCode").as_int64(), 200) << fake.posts[1].body;
  EXPECT_EQ(head.at("body").as_string(), "");
  // The same headers, with the same values (but the per-request id).
  const auto& get_headers = get.at("multiValueHeaders").as_object();
  const auto& head_headers = head.at("multiValueHeaders").as_object();
  EXPECT_EQ(head_headers.size(), get_headers.size());
  for (const auto& [name, values] : get_headers) {
    if (to_lower(name) == "x-request-id") continue;
    ASSERT_TRUE(head_headers.contains(name)) << name;
    EXPECT_EQ(head_headers.at(name), values) << name;
  }
  ASSERT_TRUE(get_headers.contains("Content-Type")) << fake.posts[0].body;
  auto head2 = json::parse(fake.posts[2].body).as_object();
  EXPECT_EQ(head2.at("statusCode").as_int64(), 200) << fake.posts[2].body;
  EXPECT_EQ(head2.at("body").as_string(), "");
  EXPECT_TRUE(head2.at("headers").as_object().contains("Content-Type")) << fake.posts[2].body;
  auto post_only = json::parse(fake.posts[3].body).as_object();
  EXPECT_EQ(post_only.at("statusCode").as_int64(), 405) << fake.posts[3].body;
  EXPECT_EQ(post_only.at("body").as_string(), "");
  EXPECT_TRUE(model.requests.empty());
}

// Lambda mode runs the same API handler and chat use case, so Idempotency-Key works there too: a repeat
// is replayed from the store (no second model call), and keys belong to the API Gateway caller.
TEST_F(RuntimeTest, IdempotencyKeysWorkThroughApiGateway) {
  FakeModel model;
  model.reply("the one answer");
  model.reply("for the other caller");
  auto store = store::make_sqlite_history(":memory:");
  ASSERT_TRUE(store);
  MemoryIdempotency idem(clock);
  agent::ChatConfig cfg;
  cfg.model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
  agent::ChatService chat(model, **store, cfg, nullptr, &idem, clock);
  http::ApiKeys keys;
  http::ApiContext ctx{.chat = chat,
                       .history = **store,
                       .keys = keys,
                       .config = {.model_id = cfg.model_id, .trust_lambda_headers = true},
                       .log = [](std::string_view) {},
                       .clock = &clock};
  auto event = [](std::string api_key_id) {
    auto ev = json::parse(kV1Event).as_object();
    ev["path"] = "/chat";
    ev["body"] = R"({"input":"Hi there"})";
    ev["headers"].as_object()["Idempotency-Key"] = "key-1";
    ev["multiValueHeaders"].as_object()["Idempotency-Key"] = json::array{"key-1"};
    ev["requestContext"].as_object()["identity"].as_object()["apiKeyId"] = api_key_id;
    return json::serialize(ev);
  };
  queue("first", event("kid-1"));
  queue("repeat", event("kid-1"));
  queue("other-caller", event("kid-2"));
  EXPECT_EQ(run(lambda::make_apigw_handler(http::make_api_handler(ctx)), 3), 0);
  ASSERT_EQ(fake.posts.size(), 3u);
  auto response = [&](std::size_t i) { return json::parse(fake.posts[i].body).as_object(); };
  auto first = response(0), repeat = response(1), other = response(2);
  ASSERT_EQ(first.at("statusCode").as_int64(), 200) << fake.posts[0].body;
  EXPECT_EQ(json::parse(first.at("body").as_string()).at("response").as_string(), "the one answer");
  EXPECT_FALSE(first.at("multiValueHeaders").as_object().contains("Idempotent-Replayed"));
  ASSERT_EQ(repeat.at("statusCode").as_int64(), 200) << fake.posts[1].body;
  EXPECT_EQ(repeat.at("body"), first.at("body"));
  EXPECT_EQ(repeat.at("multiValueHeaders").at("Idempotent-Replayed"), (json::array{"true"}));
  ASSERT_EQ(other.at("statusCode").as_int64(), 200) << fake.posts[2].body;
  EXPECT_EQ(json::parse(other.at("body").as_string()).at("response").as_string(), "for the other caller");
  EXPECT_EQ(model.buffered_calls, 2);
  EXPECT_EQ(idem.completes, 2);
  // The claim lasted the request's deadline (25 s: under the invocation's 30 s) plus the margin.
  EXPECT_EQ(idem.last_ttl, 25s + 10s);
}

// The OpenAI- and Anthropic-compatible routes run through the same handler in Lambda mode; a streamed
// answer arrives as one buffered event-stream body.
TEST_F(RuntimeTest, CompatibleRoutesAnswerThroughApiGateway) {
  FakeModel model;
  model.reply("from openai route");
  model.reply("streamed", {"stream", "ed"});
  auto store = store::make_sqlite_history(":memory:");
  ASSERT_TRUE(store);
  agent::ChatConfig cfg;
  cfg.model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
  agent::ChatService chat(model, **store, cfg);
  http::ApiKeys keys;
  http::ApiContext ctx{.chat = chat, .history = **store, .keys = keys,
                       .config = {.model_id = cfg.model_id, .trust_lambda_headers = true},
                       .log = [](std::string_view) {}, .clock = &clock};
  auto ev = json::parse(kV1Event).as_object();
  ev["path"] = "/v1/chat/completions";
  ev["body"] = R"({"model":"anthropic.claude-3-sonnet-20240229-v1:0","messages":[{"role":"user","content":"Hi"}]})";
  queue("openai-1", json::serialize(ev));
  ev["path"] = "/v1/messages";
  ev["body"] = R"({"model":"anthropic.claude-3-sonnet-20240229-v1:0","max_tokens":20,"stream":true,"messages":[{"role":"user","content":"Hi"}]})";
  queue("anthropic-2", json::serialize(ev));
  EXPECT_EQ(run(lambda::make_apigw_handler(http::make_api_handler(ctx)), 2), 0);
  ASSERT_EQ(fake.posts.size(), 2u);
  auto openai = json::parse(fake.posts[0].body).as_object();
  ASSERT_EQ(openai.at("statusCode").as_int64(), 200) << fake.posts[0].body;
  EXPECT_EQ(json::parse(openai.at("body").as_string()).at("choices").at(0).at("message").at("content"), "from openai route");
  auto anthropic = json::parse(fake.posts[1].body).as_object();
  ASSERT_EQ(anthropic.at("statusCode").as_int64(), 200) << fake.posts[1].body;
  const std::string events(anthropic.at("body").as_string());
  EXPECT_NE(events.find("event: message_start"), std::string::npos) << events;
  EXPECT_NE(events.find(R"("text":"ed")"), std::string::npos) << events;
  EXPECT_NE(events.find("event: message_stop"), std::string::npos) << events;
  ASSERT_EQ(model.requests.size(), 2u);
}

// GET /v1/models and POST /v1/messages/count_tokens through API Gateway too (the same handler).
TEST_F(RuntimeTest, ModelsAndCountTokensAnswerThroughApiGateway) {
  FakeModel model;
  model.counts.push_back(12);
  auto store = store::make_sqlite_history(":memory:");
  ASSERT_TRUE(store);
  agent::ChatConfig cfg;
  cfg.model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
  cfg.model_aliases = {{"claude", cfg.model_id}};
  agent::ChatService chat(model, **store, cfg);
  http::ApiKeys keys;
  http::ApiContext ctx{.chat = chat, .history = **store, .keys = keys,
                       .config = {.model_id = cfg.model_id, .trust_lambda_headers = true},
                       .log = [](std::string_view) {}, .clock = &clock};
  auto ev = json::parse(kV1Event).as_object();
  ev["httpMethod"] = "GET";
  ev["path"] = "/v1/models/claude";
  ev["body"] = nullptr;
  queue("models-1", json::serialize(ev));
  ev["httpMethod"] = "POST";
  ev["path"] = "/v1/messages/count_tokens";
  ev["body"] = R"({"model":"claude","messages":[{"role":"user","content":"Hi"}]})";
  queue("count-2", json::serialize(ev));
  EXPECT_EQ(run(lambda::make_apigw_handler(http::make_api_handler(ctx)), 2), 0);
  ASSERT_EQ(fake.posts.size(), 2u);
  auto models = json::parse(fake.posts[0].body).as_object();
  ASSERT_EQ(models.at("statusCode").as_int64(), 200) << fake.posts[0].body;
  EXPECT_EQ(json::parse(models.at("body").as_string()).at("id"), "claude");
  auto count = json::parse(fake.posts[1].body).as_object();
  ASSERT_EQ(count.at("statusCode").as_int64(), 200) << fake.posts[1].body;
  EXPECT_EQ(json::parse(count.at("body").as_string()).at("input_tokens"), 12);
}

}  // namespace
}  // namespace ba::test
