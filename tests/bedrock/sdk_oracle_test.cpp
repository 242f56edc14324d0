// Differential test: the official @aws-sdk/client-bedrock-runtime serializes the same Converse input;
// our path and body must match it byte for byte (tests/node/bedrock_request_oracle.mjs).
#include <boost/json.hpp>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "aws/credentials.hpp"
#include "bedrock/client.hpp"
#include "bedrock/converse_codec.hpp"
#include "net/http_client.hpp"
#include "bedrock/model_id.hpp"
#include "util/encoding.hpp"

namespace ba::bedrock {
namespace {
namespace json = boost::json;

bool node_available() {
  if (!std::filesystem::exists(std::filesystem::path(BA_SOURCE_DIR) / "node_modules" / "@aws-sdk" / "client-bedrock-runtime"))
    return false;
  return std::system("node --version > /dev/null 2>&1") == 0;
}

// Runs the oracle with `lines` on stdin; one output line per input line.
std::vector<std::string> run_oracle(const std::vector<std::string>& lines) {
  std::string dir_tmpl = (std::filesystem::temp_directory_path() / "ba-bedrock-XXXXXX").string();
  if (!::mkdtemp(dir_tmpl.data())) return {};
  const std::filesystem::path dir = dir_tmpl;
  {
    std::ofstream in(dir / "in.jsonl", std::ios::binary);
    for (const auto& l : lines) in << l << "\n";
  }
  const std::string cmd = "cd '" + std::string(BA_SOURCE_DIR) +
                          "' && NODE_NO_WARNINGS=1 node tests/node/bedrock_request_oracle.mjs < '" +
                          (dir / "in.jsonl").string() + "' > '" + (dir / "out.jsonl").string() + "' 2>/dev/null";
  std::vector<std::string> out;
  if (std::system(cmd.c_str()) == 0) {
    std::ifstream f(dir / "out.jsonl", std::ios::binary);
    for (std::string line; std::getline(f, line);) out.push_back(line);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return out;
}

// The SDK's input for a request: written from the API reference, independently of the codec.
std::string sdk_input(const ChatRequest& r, bool stream) {
  json::object input;
  input["modelId"] = r.model_id;
  json::array messages;
  for (const auto& m : r.messages) {
    json::array content;
    for (const auto& b : m.content) {
      if (b.type == ContentBlock::Type::text) content.push_back(json::object{{"text", b.text}});
      if (b.type == ContentBlock::Type::image)
        content.push_back(json::object{{"image", json::object{{"format", b.format}, {"source", json::object{{"bytes", base64_encode(b.bytes)}}}}}});
      if (b.type == ContentBlock::Type::document)
        content.push_back(json::object{{"document", json::object{{"format", b.format}, {"name", b.name},
                                                                 {"source", json::object{{"bytes", base64_encode(b.bytes)}}}}}});
      if (b.type == ContentBlock::Type::tool_use)
        content.push_back(json::object{{"toolUse", json::object{{"name", b.name}, {"toolUseId", b.tool_use_id}, {"input", json::parse(b.input)}}}});
      if (b.type == ContentBlock::Type::tool_result) {
        json::array parts;
        for (const auto& p : b.content) {
          if (p.is_json()) parts.push_back(json::object{{"json", json::parse(p.text)}});
          else if (p.type == ContentBlock::Type::image)
            parts.push_back(json::object{{"image", json::object{{"format", p.format}, {"source", json::object{{"bytes", base64_encode(p.bytes)}}}}}});
          else if (p.type == ContentBlock::Type::document)
            parts.push_back(json::object{{"document", json::object{{"format", p.format}, {"name", p.name},
                                                                    {"source", json::object{{"bytes", base64_encode(p.bytes)}}}}}});
          else parts.push_back(json::object{{"text", p.text}});
        }
        json::object result{{"toolUseId", b.tool_use_id}, {"content", parts}};
        if (b.is_error) result["status"] = "error";
        content.push_back(json::object{{"toolResult", result}});
      }
      if (b.type == ContentBlock::Type::reasoning) {  // members in reverse order: the SDK writes the model's
        json::object rc;
        if (b.is_redacted_reasoning()) {
          rc["redactedContent"] = base64_encode(b.bytes);  // the oracle makes it a Uint8Array (a blob)
        } else {
          json::object text{{"signature", b.signature}, {"text", b.text}};
          if (b.signature.empty()) text.erase("signature");
          rc["reasoningText"] = text;
        }
        content.push_back(json::object{{"reasoningContent", rc}});
      }
      if (b.cache_point) content.push_back(json::object{{"cachePoint", json::object{{"type", "default"}}}});
    }
    messages.push_back(json::object{{"role", m.role}, {"content", content}});
  }
  input["messages"] = messages;
  if (!r.system.empty()) input["system"] = json::array{json::object{{"text", r.system}}};
  if (!r.system.empty() && r.system_cache_point)
    input["system"].as_array().push_back(json::object{{"cachePoint", json::object{{"type", "default"}}}});
  json::object config{{"maxTokens", r.max_tokens}};
  if (r.temperature) config["temperature"] = *r.temperature;
  if (r.top_p) config["topP"] = *r.top_p;
  if (!r.stop_sequences.empty()) {
    json::array stops;
    for (const auto& s : r.stop_sequences) stops.push_back(json::string(s));
    config["stopSequences"] = stops;
  }
  input["inferenceConfig"] = config;
  if (!r.tools.empty() && r.tool_choice.mode != ToolChoice::Mode::none) {
    json::array tools;
    for (const auto& t : r.tools) {
      json::object spec{{"inputSchema", json::object{{"json", json::parse(t.input_schema)}}}, {"name", t.name}};
      if (!t.description.empty()) spec["description"] = t.description;
      tools.push_back(json::object{{"toolSpec", spec}});
      if (t.cache_point) tools.push_back(json::object{{"cachePoint", json::object{{"type", "default"}}}});
    }
    json::object choice;
    if (r.tool_choice.mode == ToolChoice::Mode::auto_) choice["auto"] = json::object{};
    if (r.tool_choice.mode == ToolChoice::Mode::any) choice["any"] = json::object{};
    if (r.tool_choice.mode == ToolChoice::Mode::tool) choice["tool"] = json::object{{"name", r.tool_choice.name}};
    input["toolConfig"] = json::object{{"toolChoice", choice}, {"tools", tools}};
  }
  if (r.top_k || r.reasoning) {  // a document: the SDK writes it as given
    json::object fields;
    if (r.top_k) fields["top_k"] = *r.top_k;
    if (r.reasoning) fields["thinking"] = json::object{{"type", "enabled"}, {"budget_tokens", r.reasoning->budget_tokens}};
    input["additionalModelRequestFields"] = fields;
  }
  if (r.guardrail) {
    json::object g{{"guardrailIdentifier", r.guardrail->identifier}, {"guardrailVersion", r.guardrail->version}};
    if (!r.guardrail->trace.empty()) g["trace"] = r.guardrail->trace;
    input["guardrailConfig"] = g;
  }
  if (r.output_format) {  // structured output: the schema as a string (JsonSchemaDefinition.schema)
    json::object schema{{"schema", r.output_format->schema}};
    if (!r.output_format->name.empty()) schema["name"] = r.output_format->name;
    if (!r.output_format->description.empty()) schema["description"] = r.output_format->description;
    input["outputConfig"] = json::object{
        {"textFormat", json::object{{"structure", json::object{{"jsonSchema", schema}}}, {"type", "json_schema"}}}};
  }
  return json::serialize(json::object{{"op", stream ? "converse-stream" : "converse"}, {"input", input}});
}

std::vector<ChatRequest> cases() {
  std::vector<ChatRequest> out;
  ChatRequest full;
  full.model_id = "us.anthropic.claude-3-5-sonnet-20240620-v1:0";
  full.system = "Be brief.";
  full.max_tokens = 512;
  full.temperature = 0.5;
  full.top_p = 0.9;
  full.stop_sequences = {"END", "\n\nHuman:"};
  full.top_k = 40;  // POST /v1/messages' top_k, as Converse's additionalModelRequestFields
  full.messages.push_back(Message{.role = "user",
                                  .content = {ContentBlock::make_text("Describe these."),
                                              ContentBlock{.type = ContentBlock::Type::image, .format = "webp", .bytes = std::string("RIFF\0\x01\xfe", 7)},
                                              ContentBlock{.type = ContentBlock::Type::document, .format = "pdf", .name = "Q3 report", .bytes = "%PDF-1.7"}}});
  full.messages.push_back(Message{.role = "assistant", .content = {ContentBlock::make_text("Sure.")}});
  full.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("Go on")}});
  out.push_back(full);

  ChatRequest minimal;
  minimal.model_id = "amazon.titan-text-express-v1";
  minimal.max_tokens = 1;
  minimal.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("Hi")}});
  out.push_back(minimal);

  ChatRequest arn = minimal;
  arn.model_id = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6";
  arn.temperature = 1.0;
  arn.top_p = 0.0;
  out.push_back(arn);

  // What the chat service sends for attached files: the blocks first (every image and document format,
  // sanitized document names), the text last; binary bytes of every value.
  ChatRequest attached = minimal;
  attached.model_id = "anthropic.claude-3-sonnet-20240229-v1:0";
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes.push_back(static_cast<char>(i));
  attached.messages[0].content.clear();
  for (std::string f : {"png", "jpeg", "gif", "webp"}) {
    attached.messages[0].content.push_back(ContentBlock{.type = ContentBlock::Type::image, .format = f, .bytes = all_bytes + f});
  }
  int n = 0;
  for (std::string f : {"pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"}) {
    attached.messages[0].content.push_back(ContentBlock{.type = ContentBlock::Type::document,
                                                        .format = f,
                                                        .name = "Report (v" + std::to_string(++n) + ") [final]-" + f,
                                                        .bytes = f + all_bytes});
  }
  attached.messages[0].content.push_back(ContentBlock::make_text("Compare the attached files."));
  out.push_back(attached);

  ChatRequest text = minimal;
  text.model_id = "anthropic.claude-3-haiku-20240307-v1:0";
  text.temperature = 0.123456789;
  text.messages[0].content[0].text = "h\xc3\xa9llo \"quoted\" back\\slash / tab\t nl\n cr\r bell\x07 \xe2\x80\xa8 \xf0\x9f\x98\x80";
  out.push_back(text);

  // Tools: a two-turn round trip (text and two tool calls, their results, one failed), every choice.
  ChatRequest tools = minimal;
  tools.model_id = "anthropic.claude-3-5-sonnet-20240620-v1:0";
  tools.system = "Use the tools.";
  tools.messages[0].content[0].text = "Weather in Paris and the time?";
  tools.messages.push_back(Message{.role = "assistant",
                                   .content = {ContentBlock::make_text("Checking."),
                                               ContentBlock::make_tool_use("tooluse_AbC-1", "get_weather",
                                                                           R"({"city":"Paris","days":2,"unit":"celsius","lat":48.85,"nested":{"a":[1,2.5,true,null,"x"]}})"),
                                               ContentBlock::make_tool_use("call:2.x", "now", "{}")}});
  ContentBlock ok{.type = ContentBlock::Type::tool_result};
  ok.tool_use_id = "tooluse_AbC-1";
  ok.content = {ContentBlock::make_text("21 \u00b0C \"sunny\""), ContentBlock::make_text("light wind")};
  ContentBlock failed{.type = ContentBlock::Type::tool_result};
  failed.tool_use_id = "call:2.x";
  failed.content = {ContentBlock::make_text("clock unavailable")};
  failed.is_error = true;
  tools.messages.push_back(Message{.role = "user", .content = {ok, failed, ContentBlock::make_text("And tomorrow?")}});
  tools.tools = {ToolSpec{.name = "get_weather", .description = "Current weather for a city",
                          .input_schema = R"({"type":"object","properties":{"city":{"type":"string","description":"City name"},"days":{"type":"integer","minimum":1,"maximum":7.5}},"required":["city"]})"},
                 ToolSpec{.name = "now", .input_schema = R"({"type":"object","properties":{}})"}};
  tools.top_k = 5;
  for (auto mode : {ToolChoice::Mode::auto_, ToolChoice::Mode::any, ToolChoice::Mode::tool}) {
    tools.tool_choice = ToolChoice{.mode = mode, .name = mode == ToolChoice::Mode::tool ? "get_weather" : ""};
    out.push_back(tools);
  }
  ChatRequest none = minimal;  // tool_choice none without tool blocks: no toolConfig
  none.tools = tools.tools;
  none.tool_choice.mode = ToolChoice::Mode::none;
  out.push_back(none);

  // Structured output (response_format json_schema): with tools and top_k, and with a schema alone.
  ChatRequest structured = tools;
  structured.model_id = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
  structured.output_format = OutputFormat{
      .schema = R"({"type":"object","properties":{"city":{"type":"string"},"temp":{"type":"number","minimum":-90.5}},"required":["city"],"additionalProperties":false})",
      .name = "weather_report",
      .description = "The \"report\" \u00e9"};
  out.push_back(structured);
  ChatRequest schema_only = minimal;
  schema_only.model_id = "anthropic.claude-haiku-4-5-20251001-v1:0";
  schema_only.output_format = OutputFormat{.schema = R"({"type":"object"})"};
  out.push_back(schema_only);

  // Tool results holding JSON, an image, a document and text.
  ChatRequest rich = tools;
  ContentBlock shown{.type = ContentBlock::Type::tool_result};
  shown.tool_use_id = "tooluse_AbC-1";
  shown.content = {ContentBlock::make_json(R"({"temp":21.5,"tags":["a",null,true],"nested":{"x":[]}})"),
                   ContentBlock{.type = ContentBlock::Type::image, .format = "png", .bytes = all_bytes},
                   ContentBlock{.type = ContentBlock::Type::document, .format = "csv", .name = "readings", .bytes = "t,v\n1,2\n"},
                   ContentBlock::make_text("see the chart")};
  ContentBlock listed{.type = ContentBlock::Type::tool_result};
  listed.tool_use_id = "call:2.x";
  listed.content = {ContentBlock::make_json("[1,2,3]")};
  rich.messages[2] = Message{.role = "user", .content = {shown, listed}};
  out.push_back(rich);

  // Extended thinking: the budget (with top_k, and alone) and a tool turn sent back with its reasoning
  // first: a signed text (escapes, non-ASCII) and redacted content of every byte value.
  ChatRequest thinking = tools;
  thinking.model_id = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
  thinking.max_tokens = 4096;
  thinking.reasoning = ReasoningConfig{.budget_tokens = 2048};
  thinking.tool_choice = ToolChoice{};
  auto& turn = thinking.messages[1].content;
  turn.insert(turn.begin(), {ContentBlock::make_reasoning("Let me \"think\"\n\u00e9 \xf0\x9f\x98\x80", "EqQBCkgIARABGAIiQL+/sig=="),
                             ContentBlock::make_redacted_reasoning(all_bytes)});
  out.push_back(thinking);
  thinking.top_k.reset();
  thinking.temperature.reset();
  out.push_back(thinking);
  return out;
}

TEST(SdkOracle, ConverseRequestsMatchTheOfficialClient) {
  if (!node_available()) GTEST_SKIP() << "node or node_modules/@aws-sdk/client-bedrock-runtime not available";
  const auto requests = cases();
  std::vector<std::string> lines;
  for (const auto& r : requests) {
    lines.push_back(sdk_input(r, false));
    lines.push_back(sdk_input(r, true));
  }
  const auto out = run_oracle(lines);
  ASSERT_EQ(out.size(), lines.size()) << "the oracle failed";
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto& req = requests[i / 2];
    const bool stream = i % 2 == 1;
    const json::object o = json::parse(out[i]).as_object();
    ASSERT_FALSE(o.contains("error")) << json::serialize(o);
    EXPECT_EQ(o.at("method").as_string(), "POST");
    EXPECT_EQ(std::string(o.at("path").as_string()),
              model_path(req.model_id, stream ? Operation::converse_stream : Operation::converse));
    EXPECT_EQ(o.at("content_type").as_string(), "application/json");
    EXPECT_EQ(std::string(o.at("body").as_string()), converse::encode_request(req)) << "case " << i;
  }
}

// Prompt caching: cache points after the system prompt, message blocks of every kind and tools.
std::vector<ChatRequest> cache_cases() {
  std::vector<ChatRequest> out;
  for (const auto& base : cases()) {
    ChatRequest r = base;
    r.model_id = "us.anthropic.claude-sonnet-4-20250514-v1:0";
    r.system_cache_point = true;
    for (auto& m : r.messages) m.content.back().cache_point = true;
    if (!r.messages.front().content.empty()) r.messages.front().content.front().cache_point = true;
    if (!r.tools.empty()) r.tools.front().cache_point = true;
    out.push_back(std::move(r));
  }
  return out;
}

TEST(SdkOracle, CachePointsMatchTheOfficialClient) {
  if (!node_available()) GTEST_SKIP() << "node or node_modules/@aws-sdk/client-bedrock-runtime not available";
  const auto requests = cache_cases();
  std::vector<std::string> lines;
  for (const auto& r : requests) {
    lines.push_back(sdk_input(r, false));
    lines.push_back(sdk_input(r, true));
  }
  const auto out = run_oracle(lines);
  ASSERT_EQ(out.size(), lines.size()) << "the oracle failed";
  std::size_t with_points = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const json::object o = json::parse(out[i]).as_object();
    ASSERT_FALSE(o.contains("error")) << json::serialize(o);
    const std::string body = converse::encode_request(requests[i / 2]);
    EXPECT_EQ(std::string(o.at("body").as_string()), body) << "case " << i;
    with_points += body.find(R"({"cachePoint":{"type":"default"}})") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(with_points, out.size());
}

// CountTokens (POST /v1/messages/count_tokens upstream): the same conversation in the SDK's
// CountTokensCommand input, written from the API reference ({"input": {"converse": {...}}}).
std::string sdk_count_input(const ChatRequest& r) {
  json::object converse = json::parse(sdk_input(r, false)).at("input").as_object();
  converse.erase("modelId");
  converse.erase("inferenceConfig");  // ConverseTokensRequest has none
  json::object input{{"modelId", r.model_id}, {"input", json::object{{"converse", converse}}}};
  return json::serialize(json::object{{"op", "count-tokens"}, {"input", input}});
}

TEST(SdkOracle, CountTokensRequestsMatchTheOfficialClient) {
  if (!node_available()) GTEST_SKIP() << "node or node_modules/@aws-sdk/client-bedrock-runtime not available";
  const auto requests = cases();
  std::vector<std::string> lines;
  for (const auto& r : requests) lines.push_back(sdk_count_input(r));
  const auto out = run_oracle(lines);
  ASSERT_EQ(out.size(), lines.size()) << "the oracle failed";
  for (std::size_t i = 0; i < out.size(); ++i) {
    const json::object o = json::parse(out[i]).as_object();
    ASSERT_FALSE(o.contains("error")) << json::serialize(o);
    EXPECT_EQ(std::string(o.at("path").as_string()), model_path(requests[i].model_id, Operation::count_tokens));
    EXPECT_EQ(std::string(o.at("body").as_string()), converse::encode_count_tokens(requests[i])) << "case " << i;
  }
}

// Records the requests it is sent; answers a minimal Converse reply.
class CapturingHttp final : public net::HttpClient {
 public:
  std::vector<net::HttpRequest> sent;
  boost::asio::awaitable<Result<net::HttpResponse>> send(net::HttpRequest request, net::RequestOptions) override {
    sent.push_back(std::move(request));
    net::HttpResponse r;
    r.status = 200;
    r.body = R"({"output":{"message":{"role":"assistant","content":[{"text":"x"}]}},"stopReason":"end_turn"})";
    co_return r;
  }
  boost::asio::awaitable<Result<net::HttpResponse>> send_streaming(net::HttpRequest request, net::BodySink,
                                                                   net::RequestOptions) override {
    sent.push_back(std::move(request));
    co_return fail(ErrorKind::network, "not used");
  }
};

// AWS_BEARER_TOKEN_BEDROCK: the official client, made with it set, authenticates with the bearer token
// alone; ours (BedrockConfig::bearer_token, which serve fills from that variable) sends the same
// Authorization and, like it, none of SigV4's headers.
TEST(SdkOracle, ABedrockApiKeyIsSentAsTheOfficialClientSendsIt) {
  if (!node_available()) GTEST_SKIP() << "node or node_modules/@aws-sdk/client-bedrock-runtime not available";
  const std::string token = "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl";
  const ChatRequest req = cases().at(1);
  json::object line = json::parse(sdk_input(req, false)).as_object();
  line["bearer"] = token;
  const auto out = run_oracle({json::serialize(line)});
  ASSERT_EQ(out.size(), 1u) << "the oracle failed";
  const json::object sdk = json::parse(out[0]).as_object();
  ASSERT_FALSE(sdk.contains("error")) << out[0];
  const auto& sdk_headers = sdk.at("headers").as_object();

  CapturingHttp http;
  auto creds = aws::make_static_provider({.access_key_id = "AKIDEXAMPLE", .secret_access_key = "secret"});
  auto client = make_bedrock_client(http, *creds,
                                    BedrockConfig{.region = "us-east-1", .endpoint = "http://127.0.0.1:9", .bearer_token = token});
  boost::asio::io_context io;
  boost::asio::co_spawn(io, client->chat(req, {}), [](std::exception_ptr, Result<ChatResponse>) {});
  io.run();
  ASSERT_EQ(http.sent.size(), 1u);
  const auto& ours = http.sent[0];

  EXPECT_EQ(std::string(sdk_headers.at("authorization").as_string()), "Bearer " + token);
  EXPECT_EQ(ours.headers.get("authorization").value_or(""), "Bearer " + token);
  for (std::string_view h : {"x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}) {
    EXPECT_FALSE(sdk_headers.contains(h)) << h;
    EXPECT_FALSE(ours.headers.get(h).has_value()) << h;
  }
  EXPECT_EQ(std::string(sdk.at("body").as_string()), ours.body);
  EXPECT_TRUE(ours.url.ends_with(std::string(sdk.at("path").as_string()))) << ours.url;
}

// Guardrails: Converse's guardrailConfig in the body (after toolConfig), byte for byte.
TEST(SdkOracle, GuardrailConfigMatchesTheOfficialClient) {
  if (!node_available()) GTEST_SKIP() << "node or node_modules/@aws-sdk/client-bedrock-runtime not available";
  std::vector<ChatRequest> requests;
  for (auto r : cases()) {
    r.guardrail = GuardrailConfig{.identifier = "gr1abc", .version = "DRAFT"};
    requests.push_back(r);
    r.guardrail = GuardrailConfig{.identifier = "arn:aws:bedrock:us-east-1:123456789012:guardrail/gr1abc", .version = "12",
                                  .trace = "enabled_full"};
    requests.push_back(r);
  }
  std::vector<std::string> lines;
  for (const auto& r : requests) {
    lines.push_back(sdk_input(r, false));
    lines.push_back(sdk_input(r, true));
  }
  const auto out = run_oracle(lines);
  ASSERT_EQ(out.size(), lines.size()) << "the oracle failed";
  for (std::size_t i = 0; i < out.size(); ++i) {
    const json::object o = json::parse(out[i]).as_object();
    ASSERT_FALSE(o.contains("error")) << json::serialize(o);
    const std::string body = converse::encode_request(requests[i / 2]);
    EXPECT_EQ(std::string(o.at("body").as_string()), body) << "case " << i;
    EXPECT_NE(body.find("\"guardrailConfig\":{\"guardrailIdentifier\""), std::string::npos);
  }
}

// Guardrails over InvokeModel: the X-Amzn-Bedrock-GuardrailIdentifier / -GuardrailVersion / -Trace headers
// our client sends equal the official client's for the same input (names compared case-insensitively, as
// HTTP does), and the body is untouched.
TEST(SdkOracle, InvokeModelGuardrailHeadersMatchTheOfficialClient) {
  if (!node_available()) GTEST_SKIP() << "node or node_modules/@aws-sdk/client-bedrock-runtime not available";
  for (const char* trace_name : {"", "enabled", "disabled", "enabled_full"}) {
    const std::string trace = trace_name;
    for (const bool stream : {false, true}) {
      ChatRequest req = cases().at(4);  // Claude 3 Haiku, one user message
      req.guardrail = GuardrailConfig{.identifier = "gr1abc", .version = "3", .trace = trace};
      CapturingHttp http;
      auto creds = aws::make_static_provider({.access_key_id = "AKIDEXAMPLE", .secret_access_key = "secret"});
      auto client = make_bedrock_client(http, *creds,
                                        BedrockConfig{.region = "us-east-1", .endpoint = "http://127.0.0.1:9", .api = Api::invoke});
      boost::asio::io_context io;
      if (stream) {
        boost::asio::co_spawn(io, client->chat_stream(req, [](const StreamDelta&) -> boost::asio::awaitable<bool> { co_return true; }, {}),
                              [](std::exception_ptr, Result<ChatResponse>) {});
      } else {
        boost::asio::co_spawn(io, client->chat(req, {}), [](std::exception_ptr, Result<ChatResponse>) {});
      }
      io.run();
      ASSERT_EQ(http.sent.size(), 1u);
      const auto& ours = http.sent[0];

      json::object input{{"modelId", req.model_id}, {"body", ours.body}, {"contentType", "application/json"},
                         {"guardrailIdentifier", "gr1abc"}, {"guardrailVersion", "3"}};
      if (!stream) input["accept"] = "application/json";
      if (!trace.empty()) {
        std::string upper = trace;
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        input["trace"] = upper;
      }
      const auto out = run_oracle({json::serialize(json::object{{"op", stream ? "invoke-stream" : "invoke"}, {"input", input}})});
      ASSERT_EQ(out.size(), 1u) << "the oracle failed";
      const json::object sdk = json::parse(out[0]).as_object();
      ASSERT_FALSE(sdk.contains("error")) << out[0];
      const auto& h = sdk.at("headers").as_object();
      for (std::string_view name : {"x-amzn-bedrock-guardrailidentifier", "x-amzn-bedrock-guardrailversion", "x-amzn-bedrock-trace"}) {
        const std::string theirs = h.contains(name) ? std::string(h.at(name).as_string()) : std::string("(absent)");
        EXPECT_EQ(std::string(ours.headers.get(name).value_or("(absent)")), theirs) << name << " trace=" << trace;
      }
      EXPECT_EQ(std::string(sdk.at("body").as_string()), ours.body);
      EXPECT_TRUE(ours.url.ends_with(std::string(sdk.at("path").as_string()))) << ours.url;
    }
  }
}

}  // namespace
}  // namespace ba::bedrock
