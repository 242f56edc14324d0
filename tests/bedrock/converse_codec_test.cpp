#include "bedrock/converse_codec.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace ba::bedrock {
namespace {

boost::json::value J(std::string_view s) { return boost::json::parse(s); }

// The text a stream event carried ("" for none or for another kind of piece).
std::string text_of(const Result<std::optional<StreamDelta>>& r) {
  return r.value() && r.value()->kind == StreamDelta::Kind::text ? r.value()->text : std::string();
}

ChatRequest full_request() {
  ChatRequest r;
  r.model_id = "anthropic.claude-3-haiku-20240307-v1:0";
  r.system = "Be brief.";
  r.max_tokens = 512;
  r.temperature = 0.5;
  r.top_p = 0.9;
  r.stop_sequences = {"END"};
  Message user{.role = "user"};
  user.content.push_back(ContentBlock::make_text("Hi"));
  user.content.push_back(ContentBlock{.type = ContentBlock::Type::image, .format = "png", .bytes = "PNGDATA"});
  user.content.push_back(
      ContentBlock{.type = ContentBlock::Type::document, .format = "pdf", .name = "doc1", .bytes = std::string("%PDF\0\xff", 6)});
  r.messages.push_back(user);
  r.messages.push_back(Message{.role = "assistant", .content = {ContentBlock::make_text("Hello")}});
  r.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("More")}});
  return r;
}

TEST(ConverseCodec, EncodesTheDocumentedRequestShape) {
  // bedrock-protocol.md section 2, with our own content (base64 of the raw bytes).
  const auto expected = J(R"({"messages":[
      {"role":"user","content":[{"text":"Hi"},
        {"image":{"format":"png","source":{"bytes":"UE5HREFUQQ=="}}},
        {"document":{"format":"pdf","name":"doc1","source":{"bytes":"JVBERgD/"}}}]},
      {"role":"assistant","content":[{"text":"Hello"}]},
      {"role":"user","content":[{"text":"More"}]}],
     "system":[{"text":"Be brief."}],
     "inferenceConfig":{"maxTokens":512,"temperature":0.5,"topP":0.9,"stopSequences":["END"]}})");
  const std::string body = converse::encode_request(full_request());
  EXPECT_EQ(J(body), expected) << body;
  EXPECT_EQ(body.find("modelId"), std::string::npos);  // the id goes in the path only
}

TEST(ConverseCodec, OmitsUnsetFieldsAndWritesPlainNumbers) {
  ChatRequest r;
  r.model_id = "amazon.nova-pro-v1:0";
  r.max_tokens = 100;
  r.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("q\"\n")}});
  EXPECT_EQ(converse::encode_request(r),
            R"({"messages":[{"role":"user","content":[{"text":"q\"\n"}]}],"inferenceConfig":{"maxTokens":100}})");
  r.temperature = 0.7;
  r.top_p = 1.0;
  EXPECT_EQ(converse::encode_request(r),
            R"({"messages":[{"role":"user","content":[{"text":"q\"\n"}]}],"inferenceConfig":{"maxTokens":100,"temperature":0.7,"topP":1}})");
}

TEST(ConverseCodec, DecodesResponseWithCacheUsageAndUnknownKeys) {
  auto r = converse::decode_response(R"({"output":{"message":{"role":"assistant","content":[
        {"text":"Hel"},{"reasoningContent":{"reasoningText":{"text":"hmm"}}},{"text":"lo"}]}},
      "stopReason":"max_tokens",
      "usage":{"inputTokens":30,"outputTokens":12,"totalTokens":42,"cacheReadInputTokens":7,"cacheWriteInputTokens":3,"cacheDetails":[]},
      "metrics":{"latencyMs":512},"trace":{"x":1},"newTopLevelThing":[1,2]})");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->text, "Hello");
  EXPECT_EQ(r->stop_reason, "max_tokens");
  EXPECT_EQ(r->usage.input_tokens, 30);
  EXPECT_EQ(r->usage.output_tokens, 12);
  EXPECT_EQ(r->usage.cache_read_input_tokens, 7);
  EXPECT_EQ(r->usage.cache_write_input_tokens, 3);
  EXPECT_EQ(r->latency_ms, 512);
}

// The reply's DOM starts in a buffer on the decoder's stack and grows onto the heap: a reply of many
// blocks and a long text, far past that buffer, decodes whole.
TEST(ConverseCodec, DecodesAReplyLargerThanItsStackArena) {
  std::string body = R"({"output":{"message":{"role":"assistant","content":[)";
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    const std::string text = "block " + std::to_string(i) + " " + std::string(200, char('a' + i % 26));
    body += (i ? "," : "") + std::string(R"({"text":")") + text + R"(\n"})";  // JSON escape: a newline
    expected += text + "\n";
  }
  body += R"(]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":2}})";
  ASSERT_GT(body.size(), 100'000u);
  auto r = converse::decode_response(body);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->text, expected);
  EXPECT_EQ(r->stop_reason, "end_turn");
  EXPECT_EQ(r->usage.output_tokens, 2);
}

TEST(ConverseCodec, MalformedResponsesAreClearErrors) {
  for (const char* body : {"", "not json", "[1,2]", R"({"output":{}})", R"({"output":{"message":{"content":"x"}}})",
                           R"({"stopReason":"end_turn"})", R"({"output":{"message":{"content":[{"text":"x"}]}})"
                           "trailing"}) {
    auto r = converse::decode_response(body);
    ASSERT_FALSE(r.has_value()) << body;
    EXPECT_EQ(r.error().kind, ErrorKind::upstream) << body;
    EXPECT_NE(r.error().message.find("malformed Converse response"), std::string::npos) << r.error().message;
  }
}

TEST(ConverseCodec, StreamEventsAccumulate) {
  StreamAccumulator acc;
  EXPECT_EQ(text_of(converse::apply_stream_event(acc, "messageStart", R"({"role":"assistant"})")), "");
  EXPECT_EQ(text_of(converse::apply_stream_event(acc, "contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hel"}})")), "Hel");
  EXPECT_EQ(text_of(converse::apply_stream_event(acc, "contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"lo"}})")), "lo");
  EXPECT_EQ(text_of(converse::apply_stream_event(acc, "contentBlockDelta",
                                         R"({"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"city\":"}}})")),
            "");
  EXPECT_EQ(text_of(converse::apply_stream_event(acc, "contentBlockStop", R"({"contentBlockIndex":0})")), "");
  EXPECT_FALSE(acc.finished);
  EXPECT_EQ(text_of(converse::apply_stream_event(acc, "messageStop", R"({"stopReason":"end_turn"})")), "");
  EXPECT_TRUE(acc.finished);
  EXPECT_FALSE(acc.has_metadata);
  EXPECT_EQ(text_of(converse::apply_stream_event(acc, "metadata",
                                         R"({"usage":{"inputTokens":8,"outputTokens":4,"totalTokens":12,"cacheReadInputTokens":2},"metrics":{"latencyMs":99}})")),
            "");
  EXPECT_EQ(text_of(converse::apply_stream_event(acc, "someFutureEvent", "not even json")), "");
  auto resp = acc.to_response();
  EXPECT_EQ(resp.text, "Hello");
  EXPECT_EQ(resp.stop_reason, "end_turn");
  EXPECT_EQ(resp.usage.input_tokens, 8);
  EXPECT_EQ(resp.usage.output_tokens, 4);
  EXPECT_EQ(resp.usage.cache_read_input_tokens, 2);
  EXPECT_EQ(resp.latency_ms, 99);
}

TEST(ConverseCodec, EachStreamEventKindIsAPiece) {
  using Kind = StreamDelta::Kind;
  StreamAccumulator acc;
  auto piece = [&](std::string_view type, std::string_view payload) {
    auto r = converse::apply_stream_event(acc, type, payload);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : std::nullopt;
  };
  auto text = piece("contentBlockDelta", R"({"contentBlockIndex":2,"delta":{"text":"Hi"}})");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->kind, Kind::text);
  EXPECT_EQ(text->block_index, 2);
  EXPECT_EQ(text->text, "Hi");

  auto start = piece("contentBlockStart", R"({"contentBlockIndex":3,"start":{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather"}}})");
  ASSERT_TRUE(start);
  EXPECT_EQ(start->kind, Kind::tool_use_start);
  EXPECT_EQ(start->block_index, 3);
  EXPECT_EQ(start->tool_use_id, "tooluse_1");
  EXPECT_EQ(start->name, "get_weather");
  EXPECT_TRUE(start->text.empty());

  auto input = piece("contentBlockDelta", R"({"contentBlockIndex":3,"delta":{"toolUse":{"input":"{\"city\":"}}})");
  ASSERT_TRUE(input);
  EXPECT_EQ(input->kind, Kind::tool_use_input);
  EXPECT_EQ(input->block_index, 3);
  EXPECT_EQ(input->text, R"({"city":)");
  EXPECT_EQ(input->tool_use_id, "tooluse_1");  // the call it belongs to
  EXPECT_EQ(input->name, "get_weather");
  EXPECT_FALSE(piece("contentBlockDelta", R"({"contentBlockIndex":3,"delta":{"toolUse":{"input":""}}})"));  // nothing to hand on
  ASSERT_TRUE(piece("contentBlockDelta", R"({"contentBlockIndex":3,"delta":{"toolUse":{"input":"\"Oslo\"}"}}})"));
  EXPECT_FALSE(piece("contentBlockStop", R"({"contentBlockIndex":3})"));

  auto thinking = piece("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"Hmm"}}})");
  ASSERT_TRUE(thinking);
  EXPECT_EQ(thinking->kind, Kind::reasoning_text);
  EXPECT_EQ(thinking->text, "Hmm");
  auto signature = piece("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"c2ln"}}})");
  ASSERT_TRUE(signature);
  EXPECT_EQ(signature->kind, Kind::reasoning_signature);
  EXPECT_EQ(signature->text, "c2ln");
  auto redacted = piece("contentBlockDelta", R"({"contentBlockIndex":1,"delta":{"reasoningContent":{"redactedContent":"AAEC"}}})");
  ASSERT_TRUE(redacted);
  EXPECT_EQ(redacted->kind, Kind::reasoning_redacted);
  EXPECT_EQ(redacted->block_index, 1);
  EXPECT_EQ(redacted->text, "AAEC");  // base64, as on the wire
  EXPECT_FALSE(piece("contentBlockDelta", R"({"contentBlockIndex":1,"delta":{"reasoningContent":{}}})"));
  EXPECT_FALSE(piece("contentBlockDelta", R"({"contentBlockIndex":2,"delta":{"citation":{"title":"t"}}})"));  // not ours to show
  EXPECT_FALSE(piece("messageStart", R"({"role":"assistant"})"));
  EXPECT_FALSE(piece("messageStop", R"({"stopReason":"tool_use"})"));

  // The accumulator: text only from text pieces; the tool call's input from its fragments.
  auto r = acc.to_response();
  EXPECT_EQ(r.text, "Hi");
  ASSERT_EQ(r.tool_uses.size(), 1u);
  EXPECT_EQ(r.tool_uses[0].input, R"({"city":"Oslo"})");
}

TEST(ConverseCodec, BadStreamPayloadIsAnError) {
  StreamAccumulator acc;
  auto r = converse::apply_stream_event(acc, "contentBlockDelta", "{\"delta\":");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::upstream);
  auto r2 = converse::apply_stream_event(acc, "contentBlockDelta", R"({"contentBlockIndex":0})");
  ASSERT_FALSE(r2.has_value());
}

TEST(ValidateRequest, RejectsWhatBedrockWould) {
  auto ok = full_request();
  ASSERT_TRUE(validate_request(ok).has_value()) << validate_request(ok).error().message;
  auto expect_bad = [](ChatRequest r, std::string_view needle) {
    auto s = validate_request(r);
    ASSERT_FALSE(s.has_value()) << needle;
    EXPECT_EQ(s.error().kind, ErrorKind::invalid_input);
    EXPECT_NE(s.error().message.find(needle), std::string::npos) << s.error().message;
  };
  { auto r = ok; r.messages.clear(); expect_bad(r, "messages must not be empty"); }
  { auto r = ok; r.max_tokens = 0; expect_bad(r, "max_tokens"); }
  { auto r = ok; r.temperature = 1.5; expect_bad(r, "temperature"); }
  { auto r = ok; r.temperature = -0.1; expect_bad(r, "temperature"); }
  { auto r = ok; r.top_p = 1.01; expect_bad(r, "top_p"); }
  { auto r = ok; r.model_id = ""; expect_bad(r, "model id"); }
  { auto r = ok; r.messages[0].role = "system"; expect_bad(r, "first message"); }
  { auto r = ok; r.messages[1].role = "bot"; expect_bad(r, "messages[1].role"); }
  { auto r = ok; r.messages[1].content.clear(); expect_bad(r, "messages[1] has no content"); }
  { auto r = ok; r.messages[0].content[1].format = "bmp"; expect_bad(r, "image format"); }
  { auto r = ok; r.messages[0].content[2].format = "exe"; expect_bad(r, "document format"); }
  { auto r = ok; r.messages[0].content[2].name = ""; expect_bad(r, "document name"); }
  { auto r = ok; r.messages[0].content[0].text = ""; expect_bad(r, "text must not be empty"); }
  { auto r = ok; r.stop_sequences = {""}; expect_bad(r, "stop sequences"); }
  { auto r = ok; r.temperature = 0.0; r.top_p = 1.0; EXPECT_TRUE(validate_request(r).has_value()); }
}

}  // namespace
}  // namespace ba::bedrock
