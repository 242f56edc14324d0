#include "http/api.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "support/fake_model.hpp"
#include "http/errors.hpp"
#include "http/sse.hpp"
#include "support/run_sync.hpp"
#include "store/sqlite_history.hpp"
#include "util/encoding.hpp"
#include "util/metrics.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

class CollectingWriter final : public net::BodyWriter {
 public:
  explicit CollectingWriter(int accept = 1'000'000) : accept_(accept) {}
  boost::asio::awaitable<bool> write(std::string_view chunk) override {
    if (accept_-- <= 0) co_return false;
    body += chunk;
    ++writes;
    co_return true;
  }
  std::string body;
  int writes = 0;

 private:
  int accept_;
};

json::value parse(const std::string& s) { return json::parse(s); }

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { build({}); }

  void build(std::vector<std::string> keys, std::string credentials_source = "environment") {
    auto s = store::make_sqlite_history(":memory:");
    ASSERT_TRUE(s);
    history = std::move(*s);
    agent::ChatConfig cfg;
    cfg.model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
    service = std::make_unique<agent::ChatService>(model, *history, cfg);
    api_keys = http::ApiKeys(keys);
    context = std::make_unique<http::ApiContext>(http::ApiContext{
        .chat = *service,
        .history = *history,
        .keys = api_keys,
        .config = {.body_limit = 4096,
                   .version = "0.1.0",
                   .model_id = cfg.model_id,
                   .region = "us-east-1",
                   .credentials_source = std::move(credentials_source)},
        .metrics = &registry,
        .log = [this](std::string_view line) { logs.emplace_back(line); },
    });
    handler = http::make_api_handler(*context);
  }

  net::ServerResponse call(std::string method, std::string path, std::string body = {}, net::Headers headers = {}) {
    net::ServerRequest req;
    req.method = std::move(method);
    req.target = path;
    req.path = std::move(path);
    req.headers = std::move(headers);
    req.body = std::move(body);
    req.remote_address = "127.0.0.1";
    return run_sync(handler(req));
  }

  net::ServerResponse chat(const std::string& body, net::Headers headers = {}) {
    return call("POST", "/chat", body, std::move(headers));
  }

  std::string error_type(const net::ServerResponse& r) {
    return std::string(parse(r.body).at("error").at("type").as_string());
  }
  std::string error_message(const net::ServerResponse& r) {
    return std::string(parse(r.body).at("error").at("message").as_string());
  }
  json::object last_log() { return parse(logs.back()).as_object(); }

  FakeModel model;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<agent::ChatService> service;
  http::ApiKeys api_keys;
  metrics::Registry registry;
  std::unique_ptr<http::ApiContext> context;
  net::Handler handler;
  std::vector<std::string> logs;
};

TEST_F(ApiTest, ChatAnswersWithTheDocumentedFields) {
  model.reply("I can help with many things.");
  auto r = chat(R"({"input": "Hello, how can you help me?"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.get("content-type"), "application/json");
  auto b = parse(r.body).as_object();
  EXPECT_EQ(b.at("response").as_string(), "I can help with many things.");
  EXPECT_EQ(b.at("model_id").as_string(), "anthropic.claude-3-sonnet-20240229-v1:0");
  EXPECT_EQ(b.at("stop_reason").as_string(), "end_turn");
  EXPECT_EQ(b.at("usage").at("input_tokens").as_int64(), 10);
  EXPECT_EQ(b.at("usage").at("output_tokens").as_int64(), 5);
  EXPECT_EQ(b.at("conversation_id").as_string().size(), 36u);
  ASSERT_TRUE(r.headers.get("x-request-id"));
  EXPECT_EQ(b.at("request_id").as_string(), *r.headers.get("x-request-id"));
}

TEST_F(ApiTest, HistoryFlowsAcrossTurnsAndCanBeReadAndDeleted) {
  model.reply("first answer");
  auto r1 = chat(R"({"input": "first question", "conversation_id": "my-conv.1"})");
  ASSERT_EQ(r1.status, 200) << r1.body;
  EXPECT_EQ(parse(r1.body).at("conversation_id").as_string(), "my-conv.1");
  model.reply("second answer");
  auto r2 = chat(R"({"input": "second question", "conversation_id": "my-conv.1", "include_history": true})");
  ASSERT_EQ(r2.status, 200);
  ASSERT_EQ(model.requests.back().messages.size(), 3u);
  EXPECT_EQ(model.requests.back().messages[1].content[0].text, "first answer");

  model.reply("third answer");
  ASSERT_EQ(chat(R"({"input": "q3", "conversation_id": "my-conv.1", "include_history": false})").status, 200);
  EXPECT_EQ(model.requests.back().messages.size(), 1u);

  auto g = call("GET", "/conversations/my-conv.1");
  ASSERT_EQ(g.status, 200) << g.body;
  auto turns = parse(g.body).at("turns").as_array();
  ASSERT_EQ(turns.size(), 3u);
  EXPECT_EQ(turns[0].at("seq").as_int64(), 1);
  EXPECT_EQ(turns[0].at("input").as_string(), "first question");
  EXPECT_EQ(turns[0].at("response").as_string(), "first answer");
  EXPECT_EQ(turns[2].at("input").as_string(), "q3");
  EXPECT_EQ(last_log().at("route").as_string(), "/conversations/{id}");

  auto d = call("DELETE", "/conversations/my-conv.1");
  EXPECT_EQ(d.status, 204);
  EXPECT_TRUE(d.body.empty());
  auto gone = call("GET", "/conversations/my-conv.1");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(error_type(gone), "not_found");
  EXPECT_EQ(call("DELETE", "/conversations/my-conv.1").status, 404);
}

TEST_F(ApiTest, OptionalFieldsReachTheModel) {
  model.reply("ok");
  auto r = chat(R"({"input": "hi", "system": "be terse", "max_tokens": 64, "temperature": 0, "stream": false})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& req = model.requests.back();
  EXPECT_EQ(req.system, "be terse");
  EXPECT_EQ(req.max_tokens, 64);
  ASSERT_TRUE(req.temperature);
  EXPECT_EQ(*req.temperature, 0.0);
  EXPECT_TRUE(model.last_options.deadline.has_value());
}

TEST_F(ApiTest, BadInputIs400WithAnActionableMessage) {
  struct Case {
    std::string body;
    std::string needle;
  };
  std::vector<Case> cases = {
      {"{not json", "not valid JSON"},
      {"[1,2]", "JSON object"},
      {R"({})", "'input' is required"},
      {R"({"input": 42})", "'input' must be a string"},
      {R"({"input": ""})", "non-empty"},
      {R"({"input": "   "})", "non-empty"},
      {R"({"input": "hi", "conversation_id": "has spaces"})", "1-128 characters"},
      {R"({"input": "hi", "conversation_id": 7})", "'conversation_id' must be a string"},
      {R"({"input": "hi", "include_history": "yes"})", "'include_history' must be true or false"},
      {R"({"input": "hi", "max_tokens": 1.5})", "'max_tokens' must be an integer"},
      {R"({"input": "hi", "max_tokens": 0})", "max_tokens must be a positive integer"},
      {R"({"input": "hi", "max_tokens": -3})", "max_tokens must be a positive integer"},
      {R"({"input": "hi", "temperature": 2})", "temperature"},
      {R"({"input": "hi", "temperature": "warm"})", "'temperature' must be a number"},
      {R"({"input": "hi", "system": ["x"]})", "'system' must be a string"},
      {R"({"input": "hi", "stream": 1})", "'stream' must be true or false"},
      {R"({"input": "hi", "conversationId": "x"})", "unknown field 'conversationId'"},
  };
  for (const auto& c : cases) {
    auto r = chat(c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(error_type(r), "invalid_request") << c.body;
    EXPECT_NE(error_message(r).find(c.needle), std::string::npos) << c.body << " -> " << error_message(r);
    EXPECT_TRUE(r.headers.get("x-request-id")) << c.body;
  }
  EXPECT_TRUE(model.requests.empty());
  auto bad_id = call("GET", "/conversations/bad%20id");
  EXPECT_EQ(bad_id.status, 400);
  EXPECT_NE(error_message(bad_id).find("1-128"), std::string::npos);
}

TEST_F(ApiTest, OversizedBodyIs413) {
  std::string big = R"({"input": ")" + std::string(5000, 'x') + R"("})";
  auto r = chat(big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(error_type(r), "payload_too_large");
  EXPECT_NE(error_message(r).find("limit is 4096"), std::string::npos);
}

TEST_F(ApiTest, UnknownRouteIs404AndWrongMethodIs405WithAllow) {
  auto r = call("GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_type(r), "not_found");
  EXPECT_NE(error_message(r).find("POST /chat"), std::string::npos);
  EXPECT_EQ(call("GET", "/conversations/a/b").status, 404);
  EXPECT_EQ(last_log().at("route").as_string(), "(unmatched)");

  auto m = call("GET", "/chat");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.headers.get("allow"), "POST");
  EXPECT_EQ(error_type(m), "method_not_allowed");
  auto m2 = call("PUT", "/conversations/abc");
  EXPECT_EQ(m2.status, 405);
  EXPECT_EQ(m2.headers.get("allow"), "GET, HEAD, DELETE");
  auto m3 = call("POST", "/health");
  EXPECT_EQ(m3.status, 405);
  EXPECT_EQ(m3.headers.get("allow"), "GET, HEAD");
}

struct UpstreamCase {
  ErrorKind kind;
  int http_status;
  std::string code;
  int expected_status;
  std::string expected_type;
};

TEST_F(ApiTest, UpstreamErrorsMapToStatusesAndLeaveHistoryUnchanged) {
  std::vector<UpstreamCase> cases = {
      {ErrorKind::invalid_input, 400, "ValidationException", 400, "invalid_request"},
      {ErrorKind::throttled, 429, "ThrottlingException", 429, "throttled"},
      {ErrorKind::quota_exceeded, 429, "ThrottlingException", 429, "quota_exceeded"},
      {ErrorKind::rate_limited, 0, "", 429, "rate_limited"},
      {ErrorKind::unavailable, 503, "ServiceUnavailableException", 503, "unavailable"},
      {ErrorKind::timeout, 408, "ModelTimeoutException", 504, "timeout"},
      {ErrorKind::upstream, 424, "ModelErrorException", 424, "model_error"},
      {ErrorKind::upstream, 0, "modelStreamErrorException", 502, "model_error"},
      {ErrorKind::network, 0, "", 502, "network_error"},
      {ErrorKind::forbidden, 403, "AccessDeniedException", 502, "model_error"},
      {ErrorKind::internal, 0, "", 500, "internal_error"},
  };
  model.reply("seed");
  ASSERT_EQ(chat(R"({"input": "seed", "conversation_id": "c"})").status, 200);
  for (const auto& c : cases) {
    Error e = Error::make(c.kind, "upstream says " + c.code);
    e.http_status = c.http_status;
    e.code = c.code;
    model.error(e);
    auto r = chat(R"({"input": "q", "conversation_id": "c"})");
    EXPECT_EQ(r.status, c.expected_status) << c.code;
    EXPECT_EQ(error_type(r), c.expected_type) << c.code;
    EXPECT_NE(error_message(r).find("upstream says"), std::string::npos) << error_message(r);
    EXPECT_EQ(last_log().at("error").as_string(), c.expected_type);
  }
  auto turns = run_sync(history->load("anonymous", "c", 100));
  ASSERT_TRUE(turns);
  EXPECT_EQ(turns->size(), 1u);
}

// Issue 3: max_tokens above the model's clamp is clamped (was a 400 before) and reported.
TEST_F(ApiTest, MaxTokensAboveTheClampIsClampedAndReported) {
  model.reply("ok");
  auto r = chat(R"({"input": "hi", "max_tokens": 99999999999})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(model.requests.back().max_tokens, 4096);  // Claude 3 Sonnet's maximum output
  EXPECT_EQ(parse(r.body).at("max_tokens").as_int64(), 4096);
  EXPECT_EQ(last_log().at("max_tokens").as_int64(), 4096);
  model.reply("ok");
  auto d = chat(R"({"input": "hi"})");
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(parse(d.body).at("max_tokens").as_int64(), 1024);
}

TEST_F(ApiTest, RequestTimeoutHeaderShortensTheDeadlineOnly) {
  ManualClock clock;
  context->clock = &clock;
  context->config.request_timeout = std::chrono::milliseconds(25'000);
  handler = http::make_api_handler(*context);
  const SteadyTime now = clock.now();

  model.reply("a");
  ASSERT_EQ(chat(R"({"input": "q"})").status, 200);
  EXPECT_EQ(model.last_options.deadline, now + std::chrono::milliseconds(25'000));

  model.reply("b");
  net::Headers h;
  h.set("X-Request-Timeout-Ms", "1500");
  ASSERT_EQ(chat(R"({"input": "q"})", h).status, 200);
  EXPECT_EQ(model.last_options.deadline, now + std::chrono::milliseconds(1500));

  model.reply("c");
  net::Headers longer;
  longer.set("X-Request-Timeout-Ms", "60000");  // above the default: ignored
  ASSERT_EQ(chat(R"({"input": "q"})", longer).status, 200);
  EXPECT_EQ(model.last_options.deadline, now + std::chrono::milliseconds(25'000));

  const auto calls = model.requests.size();
  for (const char* bad : {"soon", "-5", "1.5", "0", ""}) {
    net::Headers b;
    b.set("X-Request-Timeout-Ms", bad);
    auto r = chat(R"({"input": "q"})", b);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(error_type(r), "invalid_request") << bad;
    EXPECT_NE(error_message(r).find("X-Request-Timeout-Ms"), std::string::npos) << bad;
  }
  EXPECT_EQ(model.requests.size(), calls);

  // x-ba-deadline-ms (absolute Unix ms) is ignored unless the API runs in Lambda mode.
  const auto wall_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall().time_since_epoch()).count();
  net::Headers lambda;
  lambda.set("x-ba-deadline-ms", std::to_string(wall_ms + 3000));
  model.reply("d");
  ASSERT_EQ(chat(R"({"input": "q"})", lambda).status, 200);
  EXPECT_EQ(model.last_options.deadline, now + std::chrono::milliseconds(25'000));

  context->config.trust_lambda_headers = true;
  handler = http::make_api_handler(*context);
  model.reply("e");
  ASSERT_EQ(chat(R"({"input": "q"})", lambda).status, 200);
  EXPECT_EQ(model.last_options.deadline, now + std::chrono::milliseconds(3000));
  // The shorter of the two wins.
  lambda.set("X-Request-Timeout-Ms", "1000");
  model.reply("f");
  ASSERT_EQ(chat(R"({"input": "q"})", lambda).status, 200);
  EXPECT_EQ(model.last_options.deadline, now + std::chrono::milliseconds(1000));
}

TEST_F(ApiTest, LocalRateLimitIs429WithRetryAfterAtLeastOneSecond) {
  Error e = Error::make(ErrorKind::rate_limited, "rate limit for m: no capacity before the deadline");
  e.retry_after = std::chrono::milliseconds(200);
  model.error(e);
  auto r = chat(R"({"input": "q"})");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(error_type(r), "rate_limited");
  EXPECT_EQ(r.headers.get("retry-after"), "1");
}

TEST_F(ApiTest, TheCallReportLandsInTheLogLine) {
  model.reply("ok");
  model.report = bedrock::CallReport{.attempts = 3,
                                     .throttles = 2,
                                     .queued = std::chrono::milliseconds(4),
                                     .backoff = std::chrono::milliseconds(9),
                                     .max_tokens = 1024};
  ASSERT_EQ(chat(R"({"input": "q"})").status, 200);
  auto l = last_log();
  EXPECT_EQ(l.at("attempts").as_int64(), 3);
  EXPECT_EQ(l.at("throttles").as_int64(), 2);
  EXPECT_EQ(l.at("queued_ms").as_int64(), 4);
  EXPECT_EQ(l.at("backoff_ms").as_int64(), 9);
  EXPECT_EQ(l.at("max_tokens").as_int64(), 1024);
  // Failures are logged with their attempts too.
  Error e = Error::make(ErrorKind::unavailable, "Service unavailable");
  e.http_status = 503;
  model.error(e);
  model.report->attempts = 3;
  model.report->throttles = 0;
  ASSERT_EQ(chat(R"({"input": "q"})").status, 503);
  EXPECT_EQ(last_log().at("attempts").as_int64(), 3);
  EXPECT_EQ(last_log().at("error").as_string(), "unavailable");
  // A 5xx line says what failed; a 4xx one (the caller's mistake, already in its answer) does not.
  EXPECT_EQ(last_log().at("error_message").as_string(), "Service unavailable");
  ASSERT_EQ(chat(R"({"input": 7})").status, 400);
  EXPECT_EQ(last_log().at("error").as_string(), "invalid_request");
  EXPECT_FALSE(last_log().contains("error_message"));
}

TEST_F(ApiTest, HealthShowsTheRateLimitConfigWhenSet) {
  ratelimit::RateLimitConfig rl;
  rl.limits.rpm = 7;
  rl.limits.tpm = 9000;
  rl.retry.max_attempts = 4;
  context->config.rate_limit = rl;
  auto b = parse(call("GET", "/health").body);
  ASSERT_TRUE(b.as_object().contains("rate_limit")) << b;
  EXPECT_EQ(b.at("rate_limit").at("max_rpm").to_number<double>(), 7);
  EXPECT_EQ(b.at("rate_limit").at("max_tpm").to_number<double>(), 9000);
  EXPECT_EQ(b.at("rate_limit").at("retry_max_attempts").as_int64(), 4);
  EXPECT_EQ(b.at("rate_limit").at("max_tokens_clamp").as_int64(), 4096);
}

// /health is read by people: whole numbers read 50, not boost::json's 5E1.
TEST_F(ApiTest, HealthWritesWholeNumbersAsIntegers) {
  context->config.rate_limit = ratelimit::RateLimitConfig{};
  auto r = call("GET", "/health");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("max_rpm":50,)"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("max_tpm":0,)"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("burndown":1,)"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("E1"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("E0"), std::string::npos) << r.body;
}

TEST_F(ApiTest, ThrottleCarriesRetryAfter) {
  Error e = Error::make(ErrorKind::throttled, "Too many requests, please wait before trying again.");
  e.retry_after = std::chrono::milliseconds(1500);
  model.error(e);
  auto r = chat(R"({"input": "q"})");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers.get("retry-after"), "2");
}

TEST_F(ApiTest, MissingCredentialsAre503WithGuidanceAndHealthSaysSo) {
  build({}, "");
  model.error(Error::make(ErrorKind::unauthorized, "no credentials found"));
  auto r = chat(R"({"input": "q"})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(error_type(r), "unavailable");
  auto msg = error_message(r);
  EXPECT_NE(msg.find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_NE(msg.find("AWS_PROFILE"), std::string::npos);
  EXPECT_NE(msg.find("--simulate"), std::string::npos);

  auto h = call("GET", "/health");
  EXPECT_EQ(h.status, 200);
  auto b = parse(h.body);
  EXPECT_EQ(b.at("status").as_string(), "degraded");
  EXPECT_FALSE(b.at("credentials").at("found").as_bool());
  EXPECT_NE(std::string(b.at("credentials").at("hint").as_string()).find("--simulate"), std::string::npos);
  EXPECT_EQ(b.at("history").at("status").as_string(), "ok");
}

TEST_F(ApiTest, HealthReportsReadiness) {
  auto h = call("GET", "/health");
  EXPECT_EQ(h.status, 200);
  auto b = parse(h.body);
  EXPECT_EQ(b.at("status").as_string(), "ok");
  EXPECT_TRUE(b.at("credentials").at("found").as_bool());
  EXPECT_EQ(b.at("credentials").at("source").as_string(), "environment");
  EXPECT_EQ(b.at("model").at("id").as_string(), "anthropic.claude-3-sonnet-20240229-v1:0");
  EXPECT_TRUE(model.requests.empty());  // /health never calls the model
}

TEST_F(ApiTest, ApiKeysAreRequiredAndIsolateConversations) {
  build({"alice-secret-key", "bob-secret-key"});
  auto none = chat(R"({"input": "hi"})");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(error_type(none), "unauthorized");
  EXPECT_NE(error_message(none).find("Authorization: Bearer"), std::string::npos);
  auto wrong = chat(R"({"input": "hi"})", {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(call("GET", "/conversations/x").status, 401);
  EXPECT_EQ(call("GET", "/metrics").status, 401);
  EXPECT_EQ(call("GET", "/health").status, 200);  // health is open
  EXPECT_TRUE(model.requests.empty());

  model.reply("for alice");
  auto a = chat(R"({"input": "alice's secret", "conversation_id": "conv-a"})",
                {{"Authorization", "bearer alice-secret-key"}});
  ASSERT_EQ(a.status, 200) << a.body;
  auto log = last_log();
  std::string caller(log.at("caller").as_string());
  EXPECT_EQ(caller, http::key_fingerprint("alice-secret-key"));
  EXPECT_TRUE(caller.starts_with("key:"));

  // Bob cannot read, delete or continue Alice's conversation.
  net::Headers bob{{"x-api-key", "bob-secret-key"}};
  EXPECT_EQ(call("GET", "/conversations/conv-a", "", bob).status, 404);
  EXPECT_EQ(call("DELETE", "/conversations/conv-a", "", bob).status, 404);
  const auto calls = model.requests.size();
  for (const char* include_history : {"true", "false"}) {
    auto hijack = chat(std::string(R"({"input": "mine?", "conversation_id": "conv-a", "include_history": )") +
                           include_history + "}",
                       bob);
    EXPECT_EQ(hijack.status, 404) << include_history;
  }
  EXPECT_EQ(model.requests.size(), calls);  // refused before the model was called: nothing spent
  auto mine = call("GET", "/conversations/conv-a", "", {{"x-api-key", "alice-secret-key"}});
  ASSERT_EQ(mine.status, 200);
  EXPECT_EQ(parse(mine.body).at("turns").as_array().size(), 1u);

  for (const auto& line : logs) {
    EXPECT_EQ(line.find("alice-secret-key"), std::string::npos) << line;
    EXPECT_EQ(line.find("bob-secret-key"), std::string::npos) << line;
    EXPECT_EQ(line.find("alice's secret"), std::string::npos) << line;
    EXPECT_EQ(line.find("for alice"), std::string::npos) << line;
  }
}

TEST_F(ApiTest, InLambdaModeTheGatewayCallerOwnsConversations) {
  net::Headers alice{{"x-ba-caller", "apikey:alice-key-id"}};
  net::Headers bob{{"x-ba-caller", "apikey:bob-key-id"}};
  // Outside Lambda mode a client-sent x-ba-caller is ignored: everyone is the same anonymous owner.
  model.reply("1");
  ASSERT_EQ(chat(R"({"input": "q", "conversation_id": "shared"})", alice).status, 200);
  EXPECT_EQ(last_log().at("caller").as_string(), "anonymous");
  EXPECT_EQ(call("GET", "/conversations/shared", "", bob).status, 200);

  context->config.trust_lambda_headers = true;
  handler = http::make_api_handler(*context);
  model.reply("2");
  ASSERT_EQ(chat(R"({"input": "q", "conversation_id": "alices"})", alice).status, 200);
  EXPECT_EQ(last_log().at("caller").as_string(), "apikey:alice-key-id");
  EXPECT_EQ(call("GET", "/conversations/alices", "", alice).status, 200);
  EXPECT_EQ(call("GET", "/conversations/alices", "", bob).status, 404);
  EXPECT_EQ(call("DELETE", "/conversations/alices", "", bob).status, 404);
  // No gateway identity: the anonymous owner, who cannot see Alice's conversation either.
  EXPECT_EQ(call("GET", "/conversations/alices").status, 404);
}

TEST_F(ApiTest, OneLogLinePerRequestWithTheDocumentedFields) {
  model.reply("the reply text");
  auto r = chat(R"({"input": "the user text", "conversation_id": "c-1"})");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(logs.size(), 1u);
  auto l = last_log();
  for (const char* k : {"ts", "level", "request_id", "method", "route", "status", "latency_ms", "model",
                        "input_tokens", "output_tokens", "caller"}) {
    EXPECT_TRUE(l.contains(k)) << k;
  }
  EXPECT_EQ(l.at("request_id").as_string(), *r.headers.get("x-request-id"));
  EXPECT_EQ(l.at("route").as_string(), "/chat");
  EXPECT_EQ(l.at("status").as_int64(), 200);
  EXPECT_EQ(l.at("caller").as_string(), "anonymous");
  EXPECT_EQ(l.at("input_tokens").as_int64(), 10);
  EXPECT_EQ(logs[0].find("the user text"), std::string::npos);
  EXPECT_EQ(logs[0].find("the reply text"), std::string::npos);
  call("GET", "/conversations/c-1");
  ASSERT_EQ(logs.size(), 2u);
  // The route template, not the raw path (looked for outside the random request id, which may hold "c-1").
  std::string line = logs[1];
  const std::string id(parse(line).at("request_id").as_string());
  line.erase(line.find(id), id.size());
  EXPECT_EQ(line.find("c-1"), std::string::npos) << logs[1];
  EXPECT_EQ(parse(logs[1]).at("route").as_string(), "/conversations/{id}");
}

TEST_F(ApiTest, StreamingSendsDeltasThenDone) {
  model.reply("Hello world", {"Hel", "lo ", "world"});
  auto r = chat(R"({"input": "hi", "stream": true, "conversation_id": "s1"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.get("content-type"), "text/event-stream");
  ASSERT_TRUE(r.stream);
  EXPECT_TRUE(logs.empty());  // logged when the stream ends
  CollectingWriter w;
  run_sync([&]() -> boost::asio::awaitable<bool> {
    co_await r.stream(w);
    co_return true;
  }());
  std::string expected = http::sse_event("delta", R"({"text":"Hel"})") + http::sse_event("delta", R"({"text":"lo "})") +
                         http::sse_event("delta", R"({"text":"world"})");
  ASSERT_TRUE(w.body.starts_with(expected)) << w.body;
  std::string rest = w.body.substr(expected.size());
  ASSERT_TRUE(rest.starts_with("event: done\ndata: ")) << rest;
  auto done = parse(rest.substr(18, rest.find('\n', 18) - 18));
  EXPECT_EQ(done.at("conversation_id").as_string(), "s1");
  EXPECT_EQ(done.at("stop_reason").as_string(), "end_turn");
  EXPECT_EQ(done.at("usage").at("output_tokens").as_int64(), 5);
  EXPECT_EQ(done.at("max_tokens").as_int64(), 1024);
  EXPECT_EQ(done.at("request_id").as_string(), *r.headers.get("x-request-id"));
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(last_log().at("status").as_int64(), 200);
  EXPECT_EQ(last_log().at("output_tokens").as_int64(), 5);
  auto turns = run_sync(history->load("anonymous", "s1", 10));
  ASSERT_TRUE(turns);
  EXPECT_EQ(turns->size(), 1u);
}

TEST_F(ApiTest, StreamingSendsTextDeltasOnly) {
  // /chat's stream is the reply's text: the model's other pieces (reasoning, a tool call) are not events.
  model.reply("Hello");
  auto pieces = text_deltas({"Hel"});
  pieces.push_back({.kind = bedrock::StreamDelta::Kind::reasoning_text, .text = "thinking"});
  for (auto& p : tool_deltas(1, "tooluse_1", "f", {"{}"})) pieces.push_back(p);
  pieces.push_back(bedrock::StreamDelta::make_text("lo", 2));
  model.stream(pieces);
  auto r = chat(R"({"input": "hi", "stream": true, "conversation_id": "s2"})");
  ASSERT_EQ(r.status, 200) << r.body;
  CollectingWriter w;
  run_sync([&]() -> boost::asio::awaitable<bool> {
    co_await r.stream(w);
    co_return true;
  }());
  const std::string expected = http::sse_event("delta", R"({"text":"Hel"})") + http::sse_event("delta", R"({"text":"lo"})");
  ASSERT_TRUE(w.body.starts_with(expected + "event: done\n")) << w.body;
}

TEST_F(ApiTest, StreamingErrorMidStreamIsAnErrorEventAndSavesNothing) {
  Error e = Error::make(ErrorKind::upstream, "The model stream failed");
  e.code = "modelStreamErrorException";
  model.error(e, {"partial "});
  auto r = chat(R"({"input": "hi", "stream": true, "conversation_id": "s2"})");
  ASSERT_TRUE(r.stream);
  CollectingWriter w;
  run_sync([&]() -> boost::asio::awaitable<bool> {
    co_await r.stream(w);
    co_return true;
  }());
  EXPECT_NE(w.body.find("event: delta"), std::string::npos);
  auto pos = w.body.find("event: error\ndata: ");
  ASSERT_NE(pos, std::string::npos) << w.body;
  auto err = parse(w.body.substr(pos + 19, w.body.find('\n', pos + 19) - pos - 19));
  EXPECT_EQ(err.at("type").as_string(), "model_error");
  EXPECT_EQ(err.at("message").as_string(), "The model stream failed");
  EXPECT_EQ(w.body.find("event: done"), std::string::npos);
  EXPECT_FALSE(run_sync(history->load("anonymous", "s2", 10)));
}

TEST_F(ApiTest, ClientDisconnectCancelsTheUpstreamCall) {
  model.reply("a b c", {"a ", "b ", "c"});
  auto r = chat(R"({"input": "hi", "stream": true, "conversation_id": "s3"})");
  ASSERT_TRUE(r.stream);
  CollectingWriter w(1);  // accepts one chunk, then the client is gone
  run_sync([&]() -> boost::asio::awaitable<bool> {
    co_await r.stream(w);
    co_return true;
  }());
  EXPECT_TRUE(model.cancelled);
  EXPECT_EQ(w.writes, 1);
  EXPECT_FALSE(run_sync(history->load("anonymous", "s3", 10)));
  EXPECT_EQ(last_log().at("error").as_string(), "client_disconnected");
}

// Issue 13: a stream is admitted before its headers go out.
TEST_F(ApiTest, AShedStreamGetsA429WithRetryAfterNotAnSseError) {
  Error shed = Error::make(ErrorKind::rate_limited, "rate limit for the model: no budget before the deadline");
  shed.retry_after = std::chrono::milliseconds(2500);
  model.admit_errors.push_back(shed);
  model.reply("never sent");
  auto r = chat(R"({"input": "hi", "stream": true, "conversation_id": "shed"})",
                {{"X-Request-Timeout-Ms", "1000"}});
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_FALSE(r.stream);
  EXPECT_EQ(r.headers.get("content-type"), "application/json");
  EXPECT_EQ(r.headers.get("retry-after"), "3");
  EXPECT_EQ(error_type(r), "rate_limited");
  EXPECT_NE(error_message(r).find("no budget"), std::string::npos);
  EXPECT_EQ(model.stream_calls, 0);  // nothing was sent
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(last_log().at("status").as_int64(), 429);
  EXPECT_EQ(last_log().at("error").as_string(), "rate_limited");
  EXPECT_TRUE(last_log().at("stream").as_bool());
  EXPECT_EQ(last_log().at("max_tokens").as_int64(), 1024);  // the call report: admission was asked
  EXPECT_FALSE(run_sync(history->load("anonymous", "shed", 10)));
}

TEST_F(ApiTest, AnAdmittedStreamIsAdmittedOnceBeforeItsHeadersThenStreams) {
  model.reply("ok then", {"ok ", "then"});
  auto r = chat(R"({"input": "hi", "stream": true})");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(r.stream);
  EXPECT_EQ(model.admits, 1);       // before the headers
  EXPECT_EQ(model.stream_calls, 0);  // the call itself runs in the body
  CollectingWriter w;
  run_sync([&]() -> boost::asio::awaitable<bool> {
    co_await r.stream(w);
    co_return true;
  }());
  EXPECT_EQ(model.admits, 1);
  EXPECT_EQ(model.stream_calls, 1);
  EXPECT_TRUE(w.body.starts_with(http::sse_event("delta", R"({"text":"ok "})"))) << w.body;
  EXPECT_NE(w.body.find("event: done"), std::string::npos);
  EXPECT_EQ(last_log().at("status").as_int64(), 200);
}

TEST_F(ApiTest, AStreamThatFailsAfterAdmissionBeforeItsFirstDeltaGetsAnErrorEvent) {
  Error e = Error::make(ErrorKind::unavailable, "Bedrock is unavailable");
  e.http_status = 503;
  e.request_id = "up-1";
  model.error(e);
  auto r = chat(R"({"input": "hi", "stream": true, "conversation_id": "s4"})");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(r.stream);
  CollectingWriter w;
  run_sync([&]() -> boost::asio::awaitable<bool> {
    co_await r.stream(w);
    co_return true;
  }());
  ASSERT_TRUE(w.body.starts_with("event: error\ndata: ")) << w.body;
  auto err = parse(w.body.substr(19, w.body.find('\n', 19) - 19));
  EXPECT_EQ(err.at("type").as_string(), "unavailable");
  EXPECT_EQ(err.at("message").as_string(), "Bedrock is unavailable");
  EXPECT_EQ(w.body.find("event: done"), std::string::npos);
  EXPECT_EQ(last_log().at("error").as_string(), "unavailable");
  EXPECT_EQ(last_log().at("upstream_request_id").as_string(), "up-1");
  EXPECT_FALSE(run_sync(history->load("anonymous", "s4", 10)));
}

TEST_F(ApiTest, StreamingValidationErrorsAreOrdinaryJsonErrors) {
  auto r = chat(R"({"input": "", "stream": true})");
  EXPECT_EQ(r.status, 400);
  EXPECT_FALSE(r.stream);
}

// Issue 13: the router writes the log line and the metrics once per request, a stream's once its body
// was written.
TEST_F(ApiTest, AStreamIsLoggedAndCountedOnceItsBodyIsDone) {
  model.reply("streamed", {"streamed"});
  auto r = chat(R"({"input": "hi", "stream": true})");
  ASSERT_TRUE(r.stream);
  EXPECT_TRUE(logs.empty());
  EXPECT_EQ(registry.render().find(R"(ba_http_requests_total{route="/chat")"), std::string::npos);
  CollectingWriter w;
  run_sync([&]() -> boost::asio::awaitable<bool> {
    co_await r.stream(w);
    co_return true;
  }());
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(last_log().at("route").as_string(), "/chat");
  EXPECT_EQ(last_log().at("request_id").as_string(), *r.headers.get("x-request-id"));
  EXPECT_NE(registry.render().find(R"(ba_http_requests_total{route="/chat",status="200"} 1)"), std::string::npos);
}

TEST_F(ApiTest, EveryRouteGetsOneLogLineWithItsRouteLabel) {
  model.reply("x");
  const std::vector<std::pair<std::string, std::string>> calls = {
      {"POST", "/chat"}, {"GET", "/conversations/c-9"}, {"GET", "/health"}, {"GET", "/metrics"},
      {"GET", "/files"}, {"POST", "/files/presign"},   {"GET", "/files/abc"}, {"GET", "/nowhere"},
      {"PUT", "/chat"}};
  const std::vector<std::string> routes = {"/chat",         "/conversations/{id}", "/health",
                                           "/metrics",      "/files",              "/files/presign",
                                           "/files/{id}",   "(unmatched)",         "/chat"};
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const auto n = logs.size();
    auto r = call(calls[i].first, calls[i].second, calls[i].first == "POST" ? R"({"input": "hi"})" : "");
    ASSERT_EQ(logs.size(), n + 1) << calls[i].second;
    EXPECT_EQ(last_log().at("route").as_string(), routes[i]) << calls[i].second;
    EXPECT_EQ(last_log().at("status").as_int64(), r.status) << calls[i].second;
    EXPECT_TRUE(r.headers.get("x-request-id")) << calls[i].second;
  }
}

TEST_F(ApiTest, MetricsRenderRequestCounters) {
  model.reply("x");
  chat(R"({"input": "hi"})");
  auto m = call("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_TRUE(m.headers.get("content-type")->starts_with("text/plain"));
  EXPECT_NE(m.body.find(R"(ba_http_requests_total{route="/chat",status="200"} 1)"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("ba_model_tokens_total"), std::string::npos);
}

TEST_F(ApiTest, CallerRequestIdIsKeptWhenSane) {
  model.reply("x");
  auto r = chat(R"({"input": "hi"})", {{"x-request-id", "trace-123"}});
  EXPECT_EQ(r.headers.get("x-request-id"), "trace-123");
  auto r2 = call("GET", "/health", "", {{"x-request-id", "bad id with spaces"}});
  EXPECT_NE(r2.headers.get("x-request-id"), "bad id with spaces");
}

TEST_F(ApiTest, EveryAnswerCarriesTheSecurityHeadersUnlessItsRouteSetsItsOwn) {
  model.reply("x");
  std::vector<net::ServerResponse> answers;
  answers.push_back(chat(R"({"input": "hi"})"));
  answers.push_back(chat("not json"));
  answers.push_back(call("GET", "/nope"));
  answers.push_back(call("GET", "/chat"));
  answers.push_back(call("GET", "/health"));
  answers.push_back(call("GET", "/metrics"));
  answers.push_back(http::server_error_response(400, "bad_request", "no Host header"));
  for (const auto& r : answers) {
    SCOPED_TRACE(std::to_string(r.status) + " " + r.body.substr(0, 60));
    EXPECT_EQ(r.headers.get("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(r.headers.get("Content-Security-Policy"), "default-src 'none'; frame-ancestors 'none'");
    EXPECT_EQ(r.headers.get("X-Frame-Options"), "DENY");
    EXPECT_EQ(r.headers.get("Cache-Control"), "no-store");
    EXPECT_EQ(r.headers.get("Referrer-Policy"), "no-referrer");
    EXPECT_FALSE(r.headers.has("Access-Control-Allow-Origin"));
    EXPECT_FALSE(r.headers.has("Vary"));
  }
  // The chat page keeps its own policy (scripts from /assets) and its caching.
  auto page = call("GET", "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.headers.get("Content-Security-Policy"), "default-src 'none'; frame-ancestors 'none'");
  EXPECT_NE(page.headers.get("Cache-Control"), "no-store");
  EXPECT_EQ(page.headers.get("X-Content-Type-Options"), "nosniff");
}

TEST_F(ApiTest, CorsIsOffUnlessOriginsAreConfigured) {
  model.reply("x");
  auto r = chat(R"({"input": "hi"})", {{"Origin", "https://app.example"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.headers.has("Access-Control-Allow-Origin"));
  auto pre = call("OPTIONS", "/chat", "",
                  {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(pre.status, 405);
  EXPECT_FALSE(pre.headers.has("Access-Control-Allow-Origin"));
}

TEST_F(ApiTest, AConfiguredOriginGetsPreflightAndReadableAnswersOthersDoNot) {
  build({"k1"});
  context->config.cors_origins = {"https://app.example", "http://localhost:5173"};
  model.reply("x");

  // The preflight carries no credentials: answered before authentication, with the route's methods and
  // the headers the page asked for.
  auto pre = call("OPTIONS", "/conversations/abc", "",
                  {{"Origin", "http://localhost:5173"},
                   {"Access-Control-Request-Method", "DELETE"},
                   {"Access-Control-Request-Headers", "authorization, content-type, x-stainless-os"}});
  EXPECT_EQ(pre.status, 204);
  EXPECT_EQ(pre.headers.get("Access-Control-Allow-Origin"), "http://localhost:5173");
  EXPECT_EQ(pre.headers.get("Access-Control-Allow-Methods"), "GET, HEAD, DELETE");
  EXPECT_EQ(pre.headers.get("Access-Control-Allow-Headers"), "authorization, content-type, x-stainless-os");
  EXPECT_EQ(pre.headers.get("Access-Control-Max-Age"), "600");
  EXPECT_EQ(pre.headers.get("Vary"), "Origin");
  EXPECT_TRUE(pre.body.empty());

  // The real request still needs its key; the answer (an error too) is readable by the page.
  auto denied = chat(R"({"input": "hi"})", {{"Origin", "https://app.example"}});
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(denied.headers.get("Access-Control-Allow-Origin"), "https://app.example");
  auto ok = chat(R"({"input": "hi"})", {{"Origin", "https://app.example"}, {"x-api-key", "k1"}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.headers.get("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_NE(ok.headers.get("Access-Control-Expose-Headers").value_or("").find("x-request-id"), std::string::npos);
  EXPECT_EQ(ok.headers.get("Vary"), "Origin");

  // Another origin (a prefix or a different port included) gets nothing a browser would honour.
  for (std::string other : {"https://evil.example", "https://app.example.evil", "http://localhost:5174", "null"}) {
    SCOPED_TRACE(other);
    auto r = call("OPTIONS", "/chat", "", {{"Origin", other}, {"Access-Control-Request-Method", "POST"}});
    EXPECT_EQ(r.status, 405);
    EXPECT_FALSE(r.headers.has("Access-Control-Allow-Origin"));
    auto a = chat(R"({"input": "hi"})", {{"Origin", other}, {"x-api-key", "k1"}});
    EXPECT_FALSE(a.headers.has("Access-Control-Allow-Origin"));
  }
  // A preflight for a path with no route is the usual 404; a malformed header list is not echoed.
  EXPECT_EQ(call("OPTIONS", "/nope", "", {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "GET"}})
                .status,
            404);
  auto odd = call("OPTIONS", "/chat", "",
                  {{"Origin", "https://app.example"},
                   {"Access-Control-Request-Method", "POST"},
                   {"Access-Control-Request-Headers", "x-a\r\nSet-Cookie: a=b"}});
  EXPECT_EQ(odd.status, 204);
  EXPECT_FALSE(odd.headers.has("Access-Control-Allow-Headers"));
}

TEST_F(ApiTest, AnyOriginWhenConfiguredWithAStar) {
  context->config.cors_origins = {"*"};
  model.reply("x");
  auto r = chat(R"({"input": "hi"})", {{"Origin", "https://anything.example"}});
  EXPECT_EQ(r.headers.get("Access-Control-Allow-Origin"), "*");
  auto pre = call("OPTIONS", "/v1/chat/completions", "",
                  {{"Origin", "https://anything.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(pre.status, 204);
  EXPECT_EQ(pre.headers.get("Access-Control-Allow-Origin"), "*");
}

TEST(ApiKeysTest, LoadsAFileWithComments) {
  auto path = std::filesystem::temp_directory_path() / ("ba-keys-" + uuid_v4());
  {
    std::ofstream f(path);
    f << "# team keys\n\n  key-one  \n#disabled\nkey-two\n";
  }
  auto keys = http::ApiKeys::load_file(path.string());
  std::filesystem::remove(path);
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ(keys->size(), 2u);
  EXPECT_EQ(keys->authenticate({{"x-api-key", "key-one"}}), http::key_fingerprint("key-one"));
  EXPECT_EQ(keys->authenticate({{"Authorization", "Bearer key-two"}}), http::key_fingerprint("key-two"));
  EXPECT_FALSE(keys->authenticate({{"Authorization", "Bearer #disabled"}}));
  EXPECT_FALSE(keys->authenticate({{"Authorization", "Basic key-one"}}));
  EXPECT_NE(http::key_fingerprint("key-one"), http::key_fingerprint("key-two"));
  EXPECT_EQ(http::key_fingerprint("key-one").find("key-one"), std::string::npos);
}

TEST(ApiKeysTest, EmptyOrMissingFileIsAnError) {
  auto missing = http::ApiKeys::load_file("/nonexistent/keys.txt");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/keys.txt"), std::string::npos);
  auto path = std::filesystem::temp_directory_path() / ("ba-keys-" + uuid_v4());
  {
    std::ofstream f(path);
    f << "# nothing here\n";
  }
  auto empty = http::ApiKeys::load_file(path.string());
  std::filesystem::remove(path);
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("holds no key"), std::string::npos);
}

TEST(SseTest, MultiLineDataBecomesSeveralDataLines) {
  EXPECT_EQ(http::sse_event("delta", "{}"), "event: delta\ndata: {}\n\n");
  EXPECT_EQ(http::sse_event("x", "a\nb"), "event: x\ndata: a\ndata: b\n\n");
}

}  // namespace
}  // namespace ba::test
