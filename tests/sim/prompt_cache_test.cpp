// The simulator's prompt cache: cache points keyed by their prefix, a TTL on an injected clock, and
// Bedrock's usage fields (cacheReadInputTokens / cacheWriteInputTokens apart from inputTokens).
#include "sim/prompt_cache.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "sim/sim_harness.hpp"
#include "sim/simulator.hpp"
#include "util/encoding.hpp"

namespace ba::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::string_view kModel = "us.anthropic.claude-sonnet-4-20250514-v1:0";

// A Converse body: a 400-byte system prompt (100 tokens) with a cache point, then `question`.
std::string cached_body(std::string_view question, bool history_point = false) {
  json::object body{{"system", json::array{json::object{{"text", std::string(400, 's')}},
                                           json::object{{"cachePoint", {{"type", "default"}}}}}},
                    {"inferenceConfig", {{"maxTokens", 10}}}};
  json::array messages;
  if (history_point) {
    messages.push_back(json::object{{"role", "user"}, {"content", json::array{json::object{{"text", std::string(200, 'u')}}}}});
    messages.push_back(json::object{{"role", "assistant"},
                                    {"content", json::array{json::object{{"text", std::string(200, 'a')}},
                                                            json::object{{"cachePoint", {{"type", "default"}}}}}}});
  }
  messages.push_back(json::object{{"role", "user"}, {"content", json::array{json::object{{"text", question}}}}});
  body["messages"] = std::move(messages);
  return json::serialize(body);
}

TEST(SimPromptCache, PrefixesAreKeyedInBedrocksOrder) {
  auto body = json::parse(cached_body("q?", true)).as_object();
  auto points = converse_cache_points(body);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[0].tokens, 100);
  EXPECT_EQ(points[1].tokens, 200);  // 400 + 200 + 200 bytes
  EXPECT_NE(points[0].key, points[1].key);
  // Another question after the same prefix: the same keys.
  auto other = converse_cache_points(json::parse(cached_body("something else", true)).as_object());
  EXPECT_EQ(other[0].key, points[0].key);
  EXPECT_EQ(other[1].key, points[1].key);
  // Another system prompt: other keys.
  auto changed = json::parse(cached_body("q?", true)).as_object();
  changed["system"].as_array()[0].as_object()["text"] = std::string(400, 't');
  EXPECT_NE(converse_cache_points(changed)[0].key, points[0].key);
  EXPECT_TRUE(converse_cache_points(json::object{{"messages", json::array{}}}).empty());
}

TEST(SimPromptCache, WritesThenReadsUntilTheTtlRunsOut) {
  ManualClock clock;
  PromptCache cache(clock);
  const std::vector<CachePoint> system{{"sys", 100}};
  const std::vector<CachePoint> both{{"sys", 100}, {"hist", 250}};
  auto u = cache.use("m", system, 120);
  EXPECT_EQ(u.read, 0);
  EXPECT_EQ(u.write, 100);
  u = cache.use("m", system, 120);
  EXPECT_EQ(u.read, 100);
  EXPECT_EQ(u.write, 0);
  u = cache.use("other-model", system, 120);  // per model
  EXPECT_EQ(u.write, 100);
  u = cache.use("m", both, 300);  // the system prefix is read, the rest up to the history point written
  EXPECT_EQ(u.read, 100);
  EXPECT_EQ(u.write, 150);
  clock.advance(4min);
  EXPECT_EQ(cache.use("m", both, 300).read, 250);  // a hit refreshes the TTL...
  clock.advance(4min);
  EXPECT_EQ(cache.use("m", both, 300).read, 250);  // ...so 8 minutes later it is still there
  clock.advance(5min);
  u = cache.use("m", both, 300);  // expired: written again
  EXPECT_EQ(u.read, 0);
  EXPECT_EQ(u.write, 250);
  u = cache.use("m", both, 200);  // never more than the request's input tokens
  EXPECT_EQ(u.read, 200);
  EXPECT_EQ(u.write, 0);
  cache.clear();
  EXPECT_EQ(cache.use("m", system, 120).write, 100);
}

class SimPromptCacheServer : public ::testing::Test {
 protected:
  testing::Answer send(std::string_view op, std::string body) {
    if (!sim_) {
      opts.clock = &clock;
      sim_ = make_simulator(io, opts);
    }
    return testing::run(io, testing::call(*sim_, testing::model_request(kModel, op, std::move(body))));
  }
  boost::asio::io_context io;
  ManualClock clock;
  SimulatorOptions opts;
  std::unique_ptr<Simulator> sim_;
};

TEST_F(SimPromptCacheServer, TheSecondIdenticalCallReadsTheCache) {
  auto first = send("converse", cached_body("hi"));
  ASSERT_EQ(first.response.status, 200) << first.body;
  auto u1 = json::parse(first.body).at("usage").as_object();
  EXPECT_EQ(u1.at("cacheWriteInputTokens").as_int64(), 100);
  EXPECT_EQ(u1.at("cacheReadInputTokens").as_int64(), 0);
  EXPECT_EQ(u1.at("inputTokens").as_int64(), 1);  // "hi": the uncached rest
  EXPECT_EQ(u1.at("totalTokens").as_int64(), 1 + 100 + u1.at("outputTokens").as_int64());

  auto second = send("converse-stream", cached_body("hi"));
  ASSERT_EQ(second.response.status, 200) << second.body;
  auto frames = testing::decode_frames(second.body);
  ASSERT_FALSE(frames.frames.empty());
  auto meta = frames.frames.back().json();
  EXPECT_EQ(meta.at("usage").at("cacheReadInputTokens").as_int64(), 100);
  EXPECT_EQ(meta.at("usage").at("cacheWriteInputTokens").as_int64(), 0);
  EXPECT_EQ(meta.at("usage").at("inputTokens").as_int64(), 1);
  // Settled usage: the write counted as input, the read not.
  EXPECT_EQ(sim_->stats().input_tokens, (1 + 100) + 1);

  clock.advance(6min);  // past the 5-minute TTL: written again
  auto third = send("converse", cached_body("hi"));
  EXPECT_EQ(json::parse(third.body).at("usage").at("cacheWriteInputTokens").as_int64(), 100);
}

// InvokeModel with Claude's native body: cache_control marks are the points; usage in Claude's names
// (and, streamed, in the invocation metrics); more than 4 marks is Bedrock's 400.
std::string claude_cached_body(std::string_view question, int marks = 1) {
  json::array system;
  for (int i = 0; i < marks; ++i)
    system.push_back(json::object{{"type", "text"}, {"text", std::string(400, static_cast<char>('s' + i))},
                                  {"cache_control", {{"type", "ephemeral"}}}});
  json::object body{{"anthropic_version", "bedrock-2023-05-31"},
                    {"max_tokens", 10},
                    {"system", std::move(system)},
                    {"messages", json::array{json::object{{"role", "user"}, {"content", question}}}}};
  return json::serialize(body);
}

TEST_F(SimPromptCacheServer, ClaudesCacheControlMarksAreCachePointsOverInvokeModel) {
  auto first = send("invoke", claude_cached_body("hi"));
  ASSERT_EQ(first.response.status, 200) << first.body;
  auto u1 = json::parse(first.body).at("usage").as_object();
  EXPECT_EQ(u1.at("cache_creation_input_tokens").as_int64(), 100);
  EXPECT_EQ(u1.at("cache_read_input_tokens").as_int64(), 0);
  EXPECT_EQ(u1.at("input_tokens").as_int64(), 1);

  auto second = send("invoke-with-response-stream", claude_cached_body("hi"));
  ASSERT_EQ(second.response.status, 200) << second.body;
  auto frames = testing::decode_frames(second.body);
  ASSERT_FALSE(frames.frames.empty());
  auto chunk = [](const testing::Frame& f) {
    return json::parse(base64_decode(std::string(f.json().at("bytes").as_string())).value());
  };
  auto start = chunk(frames.frames.front());
  EXPECT_EQ(start.at("message").at("usage").at("cache_read_input_tokens").as_int64(), 100);
  EXPECT_EQ(start.at("message").at("usage").at("cache_creation_input_tokens").as_int64(), 0);
  auto last = chunk(frames.frames.back());
  EXPECT_EQ(last.at("amazon-bedrock-invocationMetrics").at("cacheReadInputTokenCount").as_int64(), 100);
  EXPECT_EQ(last.at("amazon-bedrock-invocationMetrics").at("cacheWriteInputTokenCount").as_int64(), 0);
  EXPECT_EQ(sim_->stats().input_tokens, (1 + 100) + 1);  // the write counted as input, the read not

  auto five = send("invoke", claude_cached_body("hi", 5));
  EXPECT_EQ(five.response.status, 400);
  EXPECT_NE(five.body.find("A maximum of 4 blocks with cache_control may be provided. Found 5."), std::string::npos) << five.body;
}

TEST_F(SimPromptCacheServer, WithoutCachePointsUsageHasNoCacheFields) {
  auto a = send("converse", testing::converse_body("hello"));
  ASSERT_EQ(a.response.status, 200) << a.body;
  EXPECT_FALSE(json::parse(a.body).at("usage").as_object().contains("cacheReadInputTokens"));
}

}  // namespace
}  // namespace ba::sim
