// EMF lines checked against the CloudWatch embedded metric format specification: a root JSON object
// with _aws.Timestamp (number, ms), _aws.CloudWatchMetrics (array of MetricDirective: Namespace,
// Dimensions = array of DimensionSets of member names, Metrics = array of {Name, Unit}), and every
// referenced dimension (string) and metric (number) present on the root.
#include "lambda/emf.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "util/clock.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::int64_t kNow = 1'764'000'000'000;

// Checks the EMF structure per the specification; returns the metric name -> unit map.
std::map<std::string, std::string> check_emf(const json::object& root) {
  std::map<std::string, std::string> units;
  const json::object& aws = root.at("_aws").as_object();
  EXPECT_TRUE(aws.at("Timestamp").is_int64());
  const json::array& directives = aws.at("CloudWatchMetrics").as_array();
  EXPECT_EQ(directives.size(), 1u);
  for (const auto& d : directives) {
    const json::object& dir = d.as_object();
    const auto& ns = dir.at("Namespace").as_string();
    EXPECT_FALSE(ns.empty());
    EXPECT_LE(ns.size(), 255u);
    const json::array& dims = dir.at("Dimensions").as_array();
    for (const auto& set : dims) {
      EXPECT_LE(set.as_array().size(), 30u);
      for (const auto& name : set.as_array()) {
        // A dimension's target member: a string on the root.
        EXPECT_TRUE(root.contains(name.as_string())) << name;
        if (!root.contains(name.as_string())) continue;
        EXPECT_TRUE(root.at(name.as_string()).is_string()) << name;
      }
    }
    const json::array& metrics = dir.at("Metrics").as_array();
    EXPECT_LE(metrics.size(), 100u);
    for (const auto& m : metrics) {
      const auto& name = m.at("Name").as_string();
      EXPECT_TRUE(root.contains(name)) << name;
      if (!root.contains(name)) continue;
      EXPECT_TRUE(root.at(name).is_number()) << name;
      units[std::string(name)] = std::string(m.at("Unit").as_string());
    }
  }
  return units;
}

json::object emf(std::string_view line, std::string model = "m") {
  auto out = lambda::emf_from_request_log(line, {.model_id = std::move(model)}, kNow);
  EXPECT_TRUE(out.has_value()) << line;
  if (!out) return {};
  return json::parse(*out).as_object();
}

TEST(Emf, ChatRequestLineBecomesAnEmfDocument) {
  auto o = emf(R"({"ts":"2025-11-25T15:00:00.000Z","level":"info","msg":"request","request_id":"r1","method":"POST",
    "route":"/chat","status":200,"latency_ms":812,"model":"anthropic.claude-3-haiku-20240307-v1:0","stream":false,
    "input_tokens":12,"output_tokens":40,"caller":"apikey:k","attempts":3,"throttles":2,"queued_ms":150,
    "backoff_ms":900,"max_tokens":1024})");
  auto units = check_emf(o);
  EXPECT_EQ(units, (std::map<std::string, std::string>{{"Requests", "Count"},
                                                       {"Latency", "Milliseconds"},
                                                       {"InputTokens", "Count"},
                                                       {"OutputTokens", "Count"},
                                                       {"Throttles", "Count"},
                                                       {"Retries", "Count"},
                                                       {"QueuedMs", "Milliseconds"},
                                                       {"BackoffMs", "Milliseconds"},
                                                       {"RateLimited", "Count"},
                                                       {"Errors", "Count"}}));
  const auto& dir = o.at("_aws").at("CloudWatchMetrics").as_array()[0].as_object();
  EXPECT_EQ(dir.at("Namespace").as_string(), "BedrockAgent");
  EXPECT_EQ(json::serialize(dir.at("Dimensions")), R"([["Model"]])");
  EXPECT_EQ(o.at("_aws").at("Timestamp").as_int64(), kNow);
  EXPECT_EQ(o.at("Model").as_string(), "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(o.at("Latency").as_int64(), 812);
  EXPECT_EQ(o.at("InputTokens").as_int64(), 12);
  EXPECT_EQ(o.at("OutputTokens").as_int64(), 40);
  EXPECT_EQ(o.at("Throttles").as_int64(), 2);
  EXPECT_EQ(o.at("Retries").as_int64(), 2);
  EXPECT_EQ(o.at("QueuedMs").as_int64(), 150);
  EXPECT_EQ(o.at("BackoffMs").as_int64(), 900);
  EXPECT_EQ(o.at("RateLimited").as_int64(), 0);
  EXPECT_EQ(o.at("Errors").as_int64(), 0);
  EXPECT_EQ(o.at("Requests").as_int64(), 1);
  // The request log's own fields stay (one line per request: log and metrics at once).
  EXPECT_EQ(o.at("request_id").as_string(), "r1");
  EXPECT_EQ(o.at("caller").as_string(), "apikey:k");
}

TEST(Emf, A429CountsAsRateLimitedAndA5xxAsAnError) {
  auto limited = emf(R"({"msg":"request","route":"/chat","status":429,"latency_ms":3,"error":"rate_limited"})");
  check_emf(limited);
  EXPECT_EQ(limited.at("RateLimited").as_int64(), 1);
  EXPECT_EQ(limited.at("Errors").as_int64(), 0);
  // Absent token counts and no model call: zeros, never missing members.
  EXPECT_EQ(limited.at("InputTokens").as_int64(), 0);
  EXPECT_EQ(limited.at("Retries").as_int64(), 0);

  auto failed = emf(R"({"msg":"request","route":"/chat","status":502,"latency_ms":3,"attempts":1})");
  EXPECT_EQ(failed.at("Errors").as_int64(), 1);
  EXPECT_EQ(failed.at("RateLimited").as_int64(), 0);
  EXPECT_EQ(failed.at("Retries").as_int64(), 0);
}

TEST(Emf, ModelDimensionFallsBackToTheConfiguredModel) {
  auto o = emf(R"({"msg":"request","route":"/conversations/{id}","status":404,"latency_ms":1})", "us.model-x");
  check_emf(o);
  EXPECT_EQ(o.at("Model").as_string(), "us.model-x");
}

TEST(Emf, HealthMetricsAndOtherLinesCarryNoMetrics) {
  const lambda::EmfOptions opts{.model_id = "m"};
  EXPECT_FALSE(lambda::emf_from_request_log(R"({"msg":"request","route":"/health","status":200})", opts, kNow));
  EXPECT_FALSE(lambda::emf_from_request_log(R"({"msg":"request","route":"/metrics","status":200})", opts, kNow));
  EXPECT_FALSE(lambda::emf_from_request_log(R"({"msg":"listening"})", opts, kNow));
  EXPECT_FALSE(lambda::emf_from_request_log("not json", opts, kNow));
  EXPECT_FALSE(lambda::emf_from_request_log("[1,2]", opts, kNow));
}

TEST(Emf, SinkWritesOneLinePerRequest) {
  ManualClock clock;
  std::vector<std::string> out;
  auto sink = lambda::make_emf_log_sink({.model_id = "m"}, [&](std::string_view l) { out.emplace_back(l); }, &clock);
  sink(R"({"msg":"request","route":"/chat","status":200,"latency_ms":5})");
  sink(R"({"msg":"request","route":"/health","status":200,"latency_ms":1})");
  ASSERT_EQ(out.size(), 2u);
  auto first = json::parse(out[0]).as_object();
  check_emf(first);
  EXPECT_EQ(first.at("_aws").at("Timestamp").as_int64(),
            std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall().time_since_epoch()).count());
  EXPECT_EQ(out[1], R"({"msg":"request","route":"/health","status":200,"latency_ms":1})");
}

}  // namespace
}  // namespace ba::test
