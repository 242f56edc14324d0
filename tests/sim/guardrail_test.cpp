// The simulator's guardrail: a request naming a guardrail whose last user message holds the trigger word
// is blocked in Bedrock's shape (Converse and InvokeModel, buffered and streamed).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "sim/sim_harness.hpp"
#include "sim/simulator.hpp"

namespace ba::sim {
namespace {

namespace json = boost::json;

constexpr std::string_view kClaude = "anthropic.claude-3-haiku-20240307-v1:0";

std::string guarded(std::string_view text, std::string_view trace = "enabled") {
  auto body = json::parse(testing::converse_body(text)).as_object();
  json::object g{{"guardrailIdentifier", "gr1"}, {"guardrailVersion", "DRAFT"}};
  if (!trace.empty()) g["trace"] = trace;
  body["guardrailConfig"] = g;
  return json::serialize(body);
}

class SimGuardrail : public ::testing::Test {
 protected:
  testing::Answer send(net::ServerRequest req) {
    if (!sim_) sim_ = make_simulator(io, opts);
    return testing::run(io, testing::call(*sim_, std::move(req)));
  }
  boost::asio::io_context io;
  SimulatorOptions opts;
  std::unique_ptr<Simulator> sim_;
};

TEST_F(SimGuardrail, ConverseIsBlockedOnTheTriggerWord) {
  auto a = send(testing::model_request(kClaude, "converse", guarded("Tell me something FORBIDDEN")));
  ASSERT_EQ(a.response.status, 200) << a.body;
  auto b = json::parse(a.body).as_object();
  EXPECT_EQ(b.at("stopReason"), "guardrail_intervened");
  EXPECT_EQ(b.at("output").at("message").at("content").at(0).at("text"), "Sorry, the model cannot answer this question.");
  EXPECT_EQ(b.at("usage").at("outputTokens"), 0);
  EXPECT_EQ(b.at("trace").at("guardrail").at("inputAssessment").at("gr1").at("wordPolicy").at("customWords").at(0).at("action"),
            "BLOCKED");
  EXPECT_EQ(sim_->stats().guardrail_interventions, 1u);

  auto plain = send(testing::model_request(kClaude, "converse", guarded("Tell me something nice")));
  EXPECT_EQ(json::parse(plain.body).at("stopReason"), "end_turn");
  auto untraced = send(testing::model_request(kClaude, "converse", guarded("forbidden", "")));
  EXPECT_FALSE(json::parse(untraced.body).as_object().contains("trace"));
  // Without a guardrail the word is just a word.
  auto unguarded = send(testing::model_request(kClaude, "converse", testing::converse_body("forbidden")));
  EXPECT_EQ(json::parse(unguarded.body).at("stopReason"), "end_turn");
}

TEST_F(SimGuardrail, ConverseStreamEndsWithTheInterventionAndTheTrace) {
  auto a = send(testing::model_request(kClaude, "converse-stream", guarded("forbidden")));
  ASSERT_EQ(a.response.status, 200);
  auto frames = testing::decode_frames(a.body).frames;
  std::string text, stop;
  for (const auto& f : frames) {
    if (f.event_type == "contentBlockDelta") text += f.json().at("delta").at("text").as_string();
    if (f.event_type == "messageStop") stop = f.json().at("stopReason").as_string();
  }
  EXPECT_EQ(text, "Sorry, the model cannot answer this question.");
  EXPECT_EQ(stop, "guardrail_intervened");
  EXPECT_TRUE(frames.back().json().as_object().contains("trace"));
}

TEST_F(SimGuardrail, InvokeModelTakesTheGuardrailFromItsHeaders) {
  auto req = testing::model_request(kClaude, "invoke", testing::claude_body("forbidden"));
  req.headers.add("X-Amzn-Bedrock-GuardrailIdentifier", "gr1");
  req.headers.add("X-Amzn-Bedrock-GuardrailVersion", "1");
  auto a = send(std::move(req));
  ASSERT_EQ(a.response.status, 200) << a.body;
  auto b = json::parse(a.body).as_object();
  EXPECT_EQ(b.at("amazon-bedrock-guardrailAction"), "INTERVENED");
  EXPECT_EQ(b.at("content").at(0).at("text"), "Sorry, the model cannot answer this question.");
}

TEST_F(SimGuardrail, AMalformedGuardrailConfigIsAValidationError) {
  auto body = json::parse(testing::converse_body("x")).as_object();
  body["guardrailConfig"] = json::object{{"guardrailIdentifier", "gr1"}};
  auto a = send(testing::model_request(kClaude, "converse", json::serialize(body)));
  EXPECT_EQ(a.response.status, 400);
  body["guardrailConfig"] = json::object{{"guardrailIdentifier", "gr1"}, {"guardrailVersion", "1"}, {"trace", "loud"}};
  EXPECT_EQ(send(testing::model_request(kClaude, "converse", json::serialize(body))).response.status, 400);
}

}  // namespace
}  // namespace ba::sim
