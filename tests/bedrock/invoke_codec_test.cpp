#include "bedrock/invoke_codec.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "util/encoding.hpp"

namespace ba::bedrock {
namespace {

boost::json::value J(std::string_view s) { return boost::json::parse(s); }

// The text a stream event carried ("" for none or for another kind of piece).
std::string text_of(const Result<std::optional<StreamDelta>>& r) {
  return r.value() && r.value()->kind == StreamDelta::Kind::text ? r.value()->text : std::string();
}

ChatRequest chat(std::string model) {
  ChatRequest r;
  r.model_id = std::move(model);
  r.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("Hi")}});
  return r;
}

std::string chunk(std::string_view model_json) {
  return R"({"bytes":")" + base64_encode(model_json) + R"(","p":"abcdefgh"})";
}

TEST(ClaudeBody, RequestMatchesTheMessagesApi) {
  auto r = chat("us.anthropic.claude-3-5-sonnet-20240620-v1:0");
  r.system = "Be brief.";
  r.max_tokens = 1024;
  r.temperature = 0.25;
  r.top_p = 0.75;
  r.stop_sequences = {"\n\nHuman:"};
  r.messages[0].content.push_back(ContentBlock{.type = ContentBlock::Type::image, .format = "jpeg", .bytes = "JPG"});
  r.messages[0].content.push_back(ContentBlock{.type = ContentBlock::Type::document, .format = "pdf", .name = "report", .bytes = "PDF"});
  r.messages[0].content.push_back(ContentBlock{.type = ContentBlock::Type::document, .format = "md", .name = "notes", .bytes = "# Title"});
  r.messages.push_back(Message{.role = "assistant", .content = {ContentBlock::make_text("Hello")}});
  r.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("Again")}});
  auto body = invoke::encode_request(r, ModelFamily::anthropic_claude);
  ASSERT_TRUE(body.has_value()) << body.error().message;
  EXPECT_EQ(J(*body), J(R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":1024,"system":"Be brief.",
    "messages":[{"role":"user","content":[{"type":"text","text":"Hi"},
        {"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"SlBH"}},
        {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"UERG"},"title":"report"},
        {"type":"document","source":{"type":"text","media_type":"text/plain","data":"# Title"},"title":"notes"}]},
      {"role":"assistant","content":[{"type":"text","text":"Hello"}]},
      {"role":"user","content":[{"type":"text","text":"Again"}]}],
    "temperature":0.25,"top_p":0.75,"stop_sequences":["\n\nHuman:"]})"))
      << *body;
  EXPECT_EQ(body->find("\"model\""), std::string::npos);
  EXPECT_EQ(body->find("\"stream\""), std::string::npos);
}

TEST(ClaudeBody, MinimalRequestOmitsUnsetFields) {
  auto body = invoke::encode_request(chat("anthropic.claude-3-haiku-20240307-v1:0"), ModelFamily::anthropic_claude);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(*body,
            R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":1024,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]})");
}

TEST(ClaudeBody, UnsupportedDocumentFormatsPointToConverse) {
  auto r = chat("anthropic.claude-3-haiku-20240307-v1:0");
  r.messages[0].content.push_back(ContentBlock{.type = ContentBlock::Type::document, .format = "docx", .name = "d", .bytes = "PK"});
  auto body = invoke::encode_request(r, ModelFamily::anthropic_claude);
  ASSERT_FALSE(body.has_value());
  EXPECT_EQ(body.error().kind, ErrorKind::invalid_input);
  EXPECT_NE(body.error().message.find("Converse"), std::string::npos);
  r.messages[0].content.back() = ContentBlock{.type = ContentBlock::Type::document, .format = "txt", .name = "d", .bytes = "\xff\xfe"};
  EXPECT_FALSE(invoke::encode_request(r, ModelFamily::anthropic_claude).has_value());
}

TEST(ClaudeBody, TopKIsClaudesOwnFieldAndTitanRefusesIt) {
  auto r = chat("anthropic.claude-3-haiku-20240307-v1:0");
  r.top_k = 40;
  auto body = invoke::encode_request(r, ModelFamily::anthropic_claude);
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(J(*body).at("top_k"), 40);
  auto titan = invoke::encode_request(r, ModelFamily::amazon_titan_text);
  ASSERT_FALSE(titan.has_value());
  EXPECT_EQ(titan.error().kind, ErrorKind::invalid_input);
}

TEST(ClaudeBody, ResponseParsed) {
  auto r = invoke::decode_response(R"({"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude",
      "content":[{"type":"text","text":"4"},{"type":"tool_use","id":"x","name":"y","input":{}},{"type":"text","text":"2"}],
      "stop_reason":"end_turn","stop_sequence":null,
      "usage":{"input_tokens":30,"output_tokens":265,"cache_read_input_tokens":5,"cache_creation_input_tokens":6}})",
                                   ModelFamily::anthropic_claude);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->text, "42");
  EXPECT_EQ(r->stop_reason, "end_turn");
  EXPECT_EQ(r->usage.input_tokens, 30);
  EXPECT_EQ(r->usage.output_tokens, 265);
  EXPECT_EQ(r->usage.cache_read_input_tokens, 5);
  EXPECT_EQ(r->usage.cache_write_input_tokens, 6);
  auto bad = invoke::decode_response(R"({"type":"message"})", ModelFamily::anthropic_claude);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().kind, ErrorKind::upstream);
}

TEST(ClaudeStream, ChunksAccumulate) {
  StreamAccumulator acc;
  const ModelFamily f = ModelFamily::anthropic_claude;
  EXPECT_EQ(text_of(invoke::apply_stream_chunk(acc, chunk(R"({"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"usage":{"input_tokens":8,"output_tokens":1}}})"), f)), "");
  EXPECT_EQ(text_of(invoke::apply_stream_chunk(acc, chunk(R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"), f)), "");
  EXPECT_EQ(text_of(invoke::apply_stream_chunk(acc, chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}})"), f)), "Hel");
  EXPECT_EQ(text_of(invoke::apply_stream_chunk(acc, chunk(R"({"type":"ping"})"), f)), "");
  EXPECT_EQ(text_of(invoke::apply_stream_chunk(acc, chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}})"), f)), "lo");
  EXPECT_EQ(text_of(invoke::apply_stream_chunk(acc, chunk(R"({"type":"content_block_stop","index":0})"), f)), "");
  EXPECT_EQ(text_of(invoke::apply_stream_chunk(acc, chunk(R"({"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"output_tokens":3}})"), f)), "");
  EXPECT_FALSE(acc.finished);
  EXPECT_EQ(acc.usage.input_tokens, 8);
  EXPECT_EQ(acc.usage.output_tokens, 3);
  EXPECT_EQ(text_of(invoke::apply_stream_chunk(acc, chunk(R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":9,"outputTokenCount":4,"invocationLatency":511,"firstByteLatency":358}})"), f)), "");
  EXPECT_TRUE(acc.finished);
  EXPECT_EQ(acc.text, "Hello");
  EXPECT_EQ(acc.stop_reason, "max_tokens");
  EXPECT_EQ(acc.usage.input_tokens, 9);  // Bedrock's invocation metrics are authoritative
  EXPECT_EQ(acc.usage.output_tokens, 4);
  EXPECT_EQ(acc.latency_ms, 511);
}

TEST(ClaudeStream, EachChunkKindIsAPiece) {
  using Kind = StreamDelta::Kind;
  StreamAccumulator acc;
  auto piece = [&](std::string_view model_json) {
    auto r = invoke::apply_stream_chunk(acc, chunk(model_json), ModelFamily::anthropic_claude);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : std::nullopt;
  };
  EXPECT_FALSE(piece(R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})"));
  auto thinking = piece(R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm"}})");
  ASSERT_TRUE(thinking);
  EXPECT_EQ(thinking->kind, Kind::reasoning_text);
  EXPECT_EQ(thinking->text, "Hmm");
  auto signature = piece(R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}})");
  ASSERT_TRUE(signature);
  EXPECT_EQ(signature->kind, Kind::reasoning_signature);
  EXPECT_EQ(signature->text, "c2ln");
  auto redacted = piece(R"({"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"AAEC"}})");
  ASSERT_TRUE(redacted);
  EXPECT_EQ(redacted->kind, Kind::reasoning_redacted);
  EXPECT_EQ(redacted->block_index, 1);
  EXPECT_EQ(redacted->text, "AAEC");

  auto first_text = piece(R"({"type":"content_block_start","index":2,"content_block":{"type":"text","text":"A"}})");
  ASSERT_TRUE(first_text);  // a text block that starts with text
  EXPECT_EQ(first_text->kind, Kind::text);
  EXPECT_EQ(first_text->text, "A");
  auto text = piece(R"({"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"B"}})");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->block_index, 2);

  auto start = piece(R"({"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_1","name":"now","input":{}}})");
  ASSERT_TRUE(start);
  EXPECT_EQ(start->kind, Kind::tool_use_start);
  EXPECT_EQ(start->block_index, 3);
  EXPECT_EQ(start->tool_use_id, "toolu_1");
  EXPECT_EQ(start->name, "now");
  EXPECT_FALSE(piece(R"({"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":""}})"));
  auto input = piece(R"({"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"tz\":\"UTC\"}"}})");
  ASSERT_TRUE(input);
  EXPECT_EQ(input->kind, Kind::tool_use_input);
  EXPECT_EQ(input->text, R"({"tz":"UTC"})");
  EXPECT_EQ(input->tool_use_id, "toolu_1");
  EXPECT_FALSE(piece(R"({"type":"content_block_stop","index":3})"));
  EXPECT_EQ(acc.text, "AB");
  ASSERT_EQ(acc.tool_uses.size(), 1u);
  EXPECT_EQ(acc.tool_uses[0].input, R"({"tz":"UTC"})");
}

TEST(ClaudeStream, ErrorsAndBadChunks) {
  StreamAccumulator acc;
  auto e = invoke::apply_stream_chunk(acc, chunk(R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"),
                                      ModelFamily::anthropic_claude);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().kind, ErrorKind::unavailable);
  EXPECT_TRUE(e.error().retryable);
  EXPECT_NE(e.error().message.find("Overloaded"), std::string::npos);
  EXPECT_FALSE(invoke::apply_stream_chunk(acc, R"({"bytes":"!!notbase64"})", ModelFamily::anthropic_claude).has_value());
  EXPECT_FALSE(invoke::apply_stream_chunk(acc, R"({"nobytes":1})", ModelFamily::anthropic_claude).has_value());
  EXPECT_FALSE(invoke::apply_stream_chunk(acc, chunk("{not json"), ModelFamily::anthropic_claude).has_value());
}

TEST(TitanBody, TranscriptAndConfig) {
  auto r = chat("amazon.titan-text-express-v1");
  r.system = "You are terse.";
  r.messages.push_back(Message{.role = "assistant", .content = {ContentBlock::make_text("Hello")}});
  r.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("Line 1"), ContentBlock::make_text("Line 2")}});
  r.max_tokens = 300;
  r.temperature = 0.5;
  r.stop_sequences = {"User:"};
  auto body = invoke::encode_request(r, ModelFamily::amazon_titan_text);
  ASSERT_TRUE(body.has_value()) << body.error().message;
  EXPECT_EQ(*body,
            R"({"inputText":"You are terse.\n\nUser: Hi\nBot: Hello\nUser: Line 1\nLine 2\nBot:","textGenerationConfig":{"maxTokenCount":300,"temperature":0.5,"stopSequences":["User:"]}})");
  EXPECT_EQ(invoke::titan_transcript(chat("amazon.titan-text-lite-v1")), "User: Hi\nBot:");
}

TEST(TitanBody, RejectsImagesAndDocuments) {
  auto r = chat("amazon.titan-text-express-v1");
  r.messages[0].content.push_back(ContentBlock{.type = ContentBlock::Type::image, .format = "png", .bytes = "x"});
  auto body = invoke::encode_request(r, ModelFamily::amazon_titan_text);
  ASSERT_FALSE(body.has_value());
  EXPECT_EQ(body.error().kind, ErrorKind::invalid_input);
  EXPECT_NE(body.error().message.find("Titan Text models accept text only"), std::string::npos) << body.error().message;
  r.messages[0].content.back() = ContentBlock{.type = ContentBlock::Type::document, .format = "pdf", .name = "d", .bytes = "x"};
  body = invoke::encode_request(r, ModelFamily::amazon_titan_text);
  ASSERT_FALSE(body.has_value());
  EXPECT_NE(body.error().message.find("document"), std::string::npos);
}

TEST(TitanBody, ResponseAndStopReasons) {
  auto r = invoke::decode_response(
      R"({"inputTextTokenCount":5,"results":[{"tokenCount":12,"outputText":" Paris.","completionReason":"FINISH"}],"extra":1})",
      ModelFamily::amazon_titan_text);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->text, " Paris.");
  EXPECT_EQ(r->stop_reason, "end_turn");
  EXPECT_EQ(r->usage.input_tokens, 5);
  EXPECT_EQ(r->usage.output_tokens, 12);
  EXPECT_EQ(invoke::titan_stop_reason("FINISHED"), "end_turn");
  EXPECT_EQ(invoke::titan_stop_reason("FINISH"), "end_turn");
  EXPECT_EQ(invoke::titan_stop_reason("LENGTH"), "max_tokens");
  EXPECT_EQ(invoke::titan_stop_reason("STOP_CRITERIA_MET"), "stop_sequence");
  EXPECT_EQ(invoke::titan_stop_reason("CONTENT_FILTERED"), "content_filtered");
  EXPECT_EQ(invoke::titan_stop_reason("RAG_QUERY_WHEN_RAG_DISABLED"), "rag_query_when_rag_disabled");
  auto len = invoke::decode_response(R"({"inputTextTokenCount":5,"results":[{"tokenCount":1,"outputText":"x","completionReason":"LENGTH"}]})",
                                     ModelFamily::amazon_titan_text);
  EXPECT_EQ(len.value().stop_reason, "max_tokens");
  EXPECT_FALSE(invoke::decode_response(R"({"results":[]})", ModelFamily::amazon_titan_text).has_value());
}

TEST(TitanStream, ChunksAccumulate) {
  StreamAccumulator acc;
  const ModelFamily f = ModelFamily::amazon_titan_text;
  EXPECT_EQ(text_of(invoke::apply_stream_chunk(acc, chunk(R"({"outputText":" Hel","index":0,"totalOutputTextTokenCount":2,"completionReason":null,"inputTextTokenCount":5})"), f)), " Hel");
  EXPECT_FALSE(acc.finished);
  EXPECT_EQ(text_of(invoke::apply_stream_chunk(acc, chunk(R"({"outputText":"lo","index":0,"totalOutputTextTokenCount":3,"completionReason":"STOP_CRITERIA_MET","inputTextTokenCount":null,
      "amazon-bedrock-invocationMetrics":{"inputTokenCount":5,"outputTokenCount":3,"invocationLatency":200,"firstByteLatency":100}})"), f)), "lo");
  EXPECT_TRUE(acc.finished);
  EXPECT_EQ(acc.text, " Hello");
  EXPECT_EQ(acc.stop_reason, "stop_sequence");
  EXPECT_EQ(acc.usage.input_tokens, 5);
  EXPECT_EQ(acc.usage.output_tokens, 3);
  EXPECT_EQ(acc.latency_ms, 200);
}

TEST(InvokeCodec, OtherFamilyIsRejectedClearly) {
  auto body = invoke::encode_request(chat("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef123456"), ModelFamily::other);
  ASSERT_FALSE(body.has_value());
  EXPECT_EQ(body.error().kind, ErrorKind::invalid_input);
  EXPECT_NE(body.error().message.find("use the Converse API"), std::string::npos);
}

}  // namespace
}  // namespace ba::bedrock
