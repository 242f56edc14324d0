// Issue 3 end to end: the API server, the RetryingClient (budgets, retries, deadline) and the real
// Bedrock client against the simulator's scripted faults, on loopback. No timed assertions.
#include <gtest/gtest.h>

#include "e2e/e2e_harness.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

constexpr const char* kModel = "anthropic.claude-3-sonnet-20240229-v1:0";

json::value body_json(const net::HttpResponse& r) { return json::parse(r.body); }
std::string error_type(const net::HttpResponse& r) {
  return std::string(body_json(r).at("error").at("type").as_string());
}
std::string error_message(const net::HttpResponse& r) {
  return std::string(body_json(r).at("error").at("message").as_string());
}
json::object last_chat_log(const Stack& s) {
  for (auto it = s.logs.rbegin(); it != s.logs.rend(); ++it) {
    auto o = json::parse(*it).as_object();
    if (o.at("route").as_string() == "/chat") return o;
  }
  ADD_FAILURE() << "no /chat log line";
  return {};
}
// The value of one sample line `name{model="..."} value` in the Prometheus text, or -1 when absent.
double metric(Stack& s, const std::string& name) {
  auto r = s.send("GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  const std::string prefix = name + "{model=\"" + kModel + "\"} ";
  auto pos = r.body.find(prefix);
  if (pos == std::string::npos) return -1;
  return std::stod(r.body.substr(pos + prefix.size(), r.body.find('\n', pos) - pos - prefix.size()));
}
std::size_t turns(Stack& s, const std::string& id) {
  auto g = s.send("GET", "/conversations/" + id);
  if (g.status != 200) return 0;
  return body_json(g).at("turns").as_array().size();
}

TEST(RateLimitE2E, TwoThrottlesThenSuccessIsA200AfterThreeAttempts) {
  Stack s;
  s.simulator->script_fault(sim::Fault{sim::FaultKind::throttle, {}}, 2);
  auto r = s.chat_call({{"input", "echo:third time lucky"}, {"conversation_id", "t-1"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r).at("response").as_string(), "third time lucky");
  EXPECT_EQ(s.simulator->stats().requests_total, 3u);
  auto log = last_chat_log(s);
  EXPECT_EQ(log.at("attempts").as_int64(), 3);
  EXPECT_EQ(log.at("throttles").as_int64(), 2);
  EXPECT_EQ(log.at("status").as_int64(), 200);
  EXPECT_TRUE(log.contains("queued_ms"));
  EXPECT_TRUE(log.contains("backoff_ms"));
  EXPECT_EQ(metric(s, "ba_upstream_throttles_total"), 2);
  EXPECT_EQ(metric(s, "ba_retries_total"), 2);
  EXPECT_EQ(turns(s, "t-1"), 1u);
}

TEST(RateLimitE2E, ThrottlesWithTheDefaultAdaptiveRateStillSucceed) {
  StackOptions o;
  o.rate_limit.adaptive = true;  // the production default: a throttle empties the local buckets, so the retry waits for a refill
  Stack s(o);
  s.simulator->script_fault(sim::Fault{sim::FaultKind::throttle, {}}, 1);
  auto r = s.chat_call({{"input", "echo:adaptive"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(s.simulator->stats().requests_total, 2u);
  EXPECT_EQ(last_chat_log(s).at("attempts").as_int64(), 2);
  EXPECT_EQ(metric(s, "ba_upstream_throttles_total"), 1);
}

TEST(RateLimitE2E, ServiceUnavailableOnEveryAttemptIs503AndSavesNothing) {
  Stack s;
  ASSERT_EQ(s.chat_call({{"input", "echo:seed"}, {"conversation_id", "u-1"}}).status, 200);
  const auto before = s.simulator->stats().requests_total;
  s.simulator->script_fault(sim::Fault{sim::FaultKind::unavailable, {}}, 3);  // max_attempts = 3
  auto r = s.chat_call({{"input", "echo:q"}, {"conversation_id", "u-1"}});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(error_type(r), "unavailable");
  EXPECT_EQ(s.simulator->stats().requests_total - before, 3u);
  EXPECT_EQ(last_chat_log(s).at("attempts").as_int64(), 3);
  EXPECT_EQ(turns(s, "u-1"), 1u);
  // The script is used up: the next request succeeds at once.
  EXPECT_EQ(s.chat_call({{"input", "echo:again"}, {"conversation_id", "u-1"}}).status, 200);
}

TEST(RateLimitE2E, DroppedConnectionThenSuccessIs200) {
  Stack s;
  s.simulator->script_fault(sim::Fault{sim::FaultKind::drop, {}}, 1);
  auto r = s.chat_call({{"input", "echo:after a drop"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r).at("response").as_string(), "after a drop");
  EXPECT_EQ(last_chat_log(s).at("attempts").as_int64(), 2);
}

TEST(RateLimitE2E, InternalServerErrorIsRetried) {
  Stack s;
  s.simulator->script_fault(sim::Fault{sim::FaultKind::internal, {}}, 1);
  auto r = s.chat_call({{"input", "echo:after a 500"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(s.simulator->stats().requests_total, 2u);
  EXPECT_EQ(last_chat_log(s).at("attempts").as_int64(), 2);
  EXPECT_EQ(metric(s, "ba_upstream_throttles_total"), -1);  // a 500 is not a throttle
}

TEST(RateLimitE2E, StreamingIsRetriedBeforeTheFirstDelta) {
  Stack s;
  s.simulator->script_fault(sim::Fault{sim::FaultKind::throttle, {}}, 1);
  auto r = s.chat_call({{"input", "echo:streamed after a throttle"}, {"stream", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("event: done"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("event: error"), std::string::npos) << r.body;
  EXPECT_EQ(s.simulator->stats().requests_total, 2u);
  EXPECT_EQ(last_chat_log(s).at("attempts").as_int64(), 2);
}

TEST(RateLimitE2E, ValidationExceptionIsNotRetried) {
  Stack s;
  s.simulator->script_fault(sim::Fault{sim::FaultKind::validation, {}}, 1);
  auto r = s.chat_call({{"input", "echo:q"}});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(error_type(r), "invalid_request");
  EXPECT_EQ(s.simulator->stats().requests_total, 1u);
  EXPECT_EQ(last_chat_log(s).at("attempts").as_int64(), 1);
}

TEST(RateLimitE2E, DailyCapThrottleIsQuotaExceededAndNotRetried) {
  Stack s;
  s.simulator->script_fault(sim::Fault{sim::FaultKind::throttle_daily, {}}, 3);
  auto r = s.chat_call({{"input", "echo:q"}});
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(error_type(r), "quota_exceeded");
  EXPECT_NE(error_message(r).find("daily"), std::string::npos) << error_message(r);
  EXPECT_EQ(s.simulator->stats().requests_total, 1u);
  EXPECT_EQ(last_chat_log(s).at("error").as_string(), "quota_exceeded");
}

TEST(RateLimitE2E, OwnBudgetExhaustedWithAShortDeadlineIs429RateLimitedWithoutCallingBedrock) {
  StackOptions o;
  o.rate_limit.limits.rpm = 1;  // one request, then the next slot is a minute away
  Stack s(o);
  ASSERT_EQ(s.chat_call({{"input", "echo:first"}}).status, 200);
  ASSERT_EQ(s.simulator->stats().requests_total, 1u);

  auto r = s.chat_call({{"input", "echo:second"}}, {{"X-Request-Timeout-Ms", "200"}});
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(error_type(r), "rate_limited");
  ASSERT_TRUE(r.headers.get("retry-after"));
  const int retry_after = std::stoi(std::string(*r.headers.get("retry-after")));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 60);
  EXPECT_EQ(s.simulator->stats().requests_total, 1u);  // zero upstream calls for the refused request
  EXPECT_EQ(metric(s, "ba_rate_limited_total"), 1);
  EXPECT_EQ(last_chat_log(s).at("error").as_string(), "rate_limited");
  EXPECT_EQ(last_chat_log(s).at("attempts").as_int64(), 0);

  auto bad = s.chat_call({{"input", "echo:third"}}, {{"X-Request-Timeout-Ms", "soon"}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(s.simulator->stats().requests_total, 1u);
}

// Issue 13: a stream is admitted before its headers go out, so a shed stream is a real 429.
TEST(RateLimitE2E, AShedStreamIsA429WithRetryAfterBeforeAnySseHeaders) {
  StackOptions o;
  o.rate_limit.limits.rpm = 1;
  Stack s(o);
  auto first = s.chat_call({{"input", "echo:first"}, {"stream", true}});
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_NE(first.body.find("event: done"), std::string::npos) << first.body;

  auto r = s.chat_call({{"input", "echo:second"}, {"stream", true}}, {{"X-Request-Timeout-Ms", "1000"}});
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(r.headers.get("content-type"), "application/json");
  EXPECT_EQ(error_type(r), "rate_limited");
  ASSERT_TRUE(r.headers.get("retry-after"));
  EXPECT_GE(std::stoi(std::string(*r.headers.get("retry-after"))), 1);
  EXPECT_EQ(r.body.find("event:"), std::string::npos) << r.body;
  EXPECT_EQ(s.simulator->stats().requests_total, 1u);
  EXPECT_EQ(last_chat_log(s).at("status").as_int64(), 429);
  EXPECT_TRUE(last_chat_log(s).at("stream").as_bool());
  EXPECT_EQ(last_chat_log(s).at("attempts").as_int64(), 0);
}

TEST(RateLimitE2E, OwnDailyBudgetIsQuotaExceeded) {
  StackOptions o;
  o.rate_limit.limits.daily_tokens = 2000;
  Stack s(o);
  // The first call settles at its real usage (a few hundred tokens of input and echoed output) ...
  auto first = s.chat_call({{"input", "echo:" + std::string(600, 'a') + " " + std::string(600, 'b')},
                            {"max_tokens", 1000}});
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_GT(body_json(first).at("usage").at("input_tokens").as_int64(), 50);
  // ... so a second one reserving ~1900 (below the cap by itself) no longer fits today.
  auto r = s.chat_call({{"input", "echo:second"}, {"max_tokens", 1900}});
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(error_type(r), "quota_exceeded");
  EXPECT_NE(error_message(r).find("daily"), std::string::npos) << error_message(r);
  EXPECT_TRUE(r.headers.get("retry-after"));
  EXPECT_EQ(s.simulator->stats().requests_total, 1u);
}

TEST(RateLimitE2E, MaxTokensIsClampedAndReported) {
  StackOptions o;
  o.rate_limit.model_overrides[kModel] = ratelimit::ModelOverride{.default_max_tokens = 200, .max_tokens_clamp = 300};
  Stack s(o);
  auto r = s.chat_call({{"input", "echo:clamped"}, {"max_tokens", 100'000}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_json(r).at("max_tokens").as_int64(), 300);
  EXPECT_EQ(last_chat_log(s).at("max_tokens").as_int64(), 300);
  auto d = s.chat_call({{"input", "echo:default"}});
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(body_json(d).at("max_tokens").as_int64(), 200);
  auto h = body_json(s.send("GET", "/health"));
  EXPECT_EQ(h.at("rate_limit").at("max_tokens_clamp").as_int64(), 300);
  EXPECT_EQ(h.at("rate_limit").at("default_max_tokens").as_int64(), 200);
}

}  // namespace
}  // namespace ba::test
