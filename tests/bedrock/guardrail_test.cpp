// Guardrails in the codecs: Converse's guardrailConfig, InvokeModel's "amazon-bedrock-guardrailAction"
// read as the stop reason guardrail_intervened (the SDK oracle checks the body and headers we send).
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "bedrock/converse_codec.hpp"
#include "bedrock/invoke_codec.hpp"

namespace ba::bedrock {
namespace {

ChatRequest request() {
  ChatRequest r;
  r.model_id = "anthropic.claude-3-haiku-20240307-v1:0";
  r.max_tokens = 10;
  r.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("hi")}});
  return r;
}

TEST(GuardrailCodec, ConverseCarriesGuardrailConfig) {
  ChatRequest r = request();
  EXPECT_EQ(converse::encode_request(r).find("guardrailConfig"), std::string::npos);
  r.guardrail = GuardrailConfig{.identifier = "abc123", .version = "DRAFT"};
  auto body = boost::json::parse(converse::encode_request(r));
  EXPECT_EQ(body.at("guardrailConfig"), boost::json::parse(R"({"guardrailIdentifier":"abc123","guardrailVersion":"DRAFT"})"));
  r.guardrail->trace = "enabled";
  body = boost::json::parse(converse::encode_request(r));
  EXPECT_EQ(body.at("guardrailConfig").at("trace"), "enabled");
  // CountTokens takes no guardrail.
  EXPECT_EQ(converse::encode_count_tokens(r).find("guardrail"), std::string::npos);
}

TEST(GuardrailCodec, ConverseStopReasonIsKept) {
  auto r = converse::decode_response(R"({"output":{"message":{"role":"assistant","content":[{"text":"Sorry."}]}},
      "stopReason":"guardrail_intervened","usage":{"inputTokens":5,"outputTokens":0,"totalTokens":5},
      "trace":{"guardrail":{"inputAssessment":{}}}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stop_reason, "guardrail_intervened");
  EXPECT_EQ(r->text, "Sorry.");
  EXPECT_EQ(r->guardrail_trace, R"({"inputAssessment":{}})");  // the trace, when Bedrock sends one
}

// --guardrail-trace: Converse's trace.guardrail, buffered and from a stream's metadata event.
TEST(GuardrailCodec, ConverseGuardrailTraceIsKeptAsJson) {
  const std::string trace =
      R"({"inputAssessment":{"gr1":{"wordPolicy":{"customWords":[{"match":"forbidden","action":"BLOCKED","detected":true}]}}}})";
  auto r = converse::decode_response(R"({"output":{"message":{"role":"assistant","content":[{"text":"Sorry."}]}},
      "stopReason":"guardrail_intervened","usage":{"inputTokens":5,"outputTokens":0,"totalTokens":5},"trace":{"guardrail":)" +
                                     trace + "}}");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(boost::json::parse(r->guardrail_trace), boost::json::parse(trace));
  auto none = converse::decode_response(R"({"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},
      "stopReason":"end_turn","usage":{"inputTokens":5,"outputTokens":1,"totalTokens":6}})");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->guardrail_trace.empty());

  StreamAccumulator acc;
  ASSERT_TRUE(converse::apply_stream_event(acc, "messageStop", R"({"stopReason":"guardrail_intervened"})"));
  ASSERT_TRUE(converse::apply_stream_event(
      acc, "metadata", R"({"usage":{"inputTokens":5,"outputTokens":0,"totalTokens":5},"metrics":{"latencyMs":3},"trace":{"guardrail":)" +
                           trace + "}}"));
  EXPECT_EQ(boost::json::parse(acc.to_response().guardrail_trace), boost::json::parse(trace));
}

TEST(GuardrailCodec, InvokeModelInterventionIsTheStopReason) {
  auto claude = invoke::decode_response(R"({"id":"m","type":"message","role":"assistant","content":[{"type":"text","text":"Sorry."}],
      "stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":0},"amazon-bedrock-guardrailAction":"INTERVENED"})",
                                        ModelFamily::anthropic_claude);
  ASSERT_TRUE(claude) << claude.error().message;
  EXPECT_EQ(claude->stop_reason, "guardrail_intervened");
  EXPECT_EQ(claude->text, "Sorry.");
  auto none = invoke::decode_response(R"({"id":"m","type":"message","role":"assistant","content":[{"type":"text","text":"ok"}],
      "stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":1},"amazon-bedrock-guardrailAction":"NONE"})",
                                      ModelFamily::anthropic_claude);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->stop_reason, "end_turn");
  auto titan = invoke::decode_response(R"({"inputTextTokenCount":3,"results":[{"tokenCount":0,"outputText":"Sorry.",
      "completionReason":"FINISH"}],"amazon-bedrock-guardrailAction":"INTERVENED"})",
                                       ModelFamily::amazon_titan_text);
  ASSERT_TRUE(titan);
  EXPECT_EQ(titan->stop_reason, "guardrail_intervened");
}

TEST(GuardrailCodec, AStreamedInterventionIsNotUndoneByLaterChunks) {
  StreamAccumulator acc;
  const auto f = ModelFamily::anthropic_claude;
  ASSERT_TRUE(invoke::apply_model_chunk(acc, R"({"type":"message_start","message":{"usage":{"input_tokens":5}}})", f));
  ASSERT_TRUE(invoke::apply_model_chunk(acc, R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Sorry."}})", f));
  ASSERT_TRUE(invoke::apply_model_chunk(
      acc, R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":0},"amazon-bedrock-guardrailAction":"INTERVENED"})", f));
  ASSERT_TRUE(invoke::apply_model_chunk(acc, R"({"type":"message_stop"})", f));
  EXPECT_EQ(acc.stop_reason, "guardrail_intervened");
  EXPECT_EQ(acc.text, "Sorry.");
}

}  // namespace
}  // namespace ba::bedrock
