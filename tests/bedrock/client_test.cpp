#include "bedrock/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <gtest/gtest.h>

#include "aws/credentials.hpp"
#include "aws/eventstream.hpp"
#include "aws/sigv4.hpp"
#include "bedrock/converse_codec.hpp"
#include "bedrock/invoke_codec.hpp"
#include "net/http_client.hpp"
#include "util/encoding.hpp"

namespace ba::bedrock {
namespace {

using boost::asio::awaitable;
using namespace std::chrono_literals;

template <class T>
T run(awaitable<T> aw) {
  boost::asio::io_context io;
  std::optional<T> out;
  std::exception_ptr ex;
  boost::asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T v) {
    ex = e;
    if (!e) out.emplace(std::move(v));
  });
  io.run();
  if (ex) std::rethrow_exception(ex);
  return std::move(*out);
}

// A scripted transport: each call takes the next script and records what it was sent.
class FakeHttp final : public net::HttpClient {
 public:
  struct Script {
    net::HttpResponse response;
    std::vector<std::string> chunks;  // streamed body (2xx on send_streaming)
    std::optional<Error> error;       // returned instead of a response (after the chunks, if any)
    std::chrono::milliseconds takes{0};
  };
  explicit FakeHttp(ManualClock& clock) : clock_(clock) {}

  std::deque<Script> scripts;
  std::vector<net::HttpRequest> requests;
  std::vector<net::RequestOptions> options;
  std::size_t chunks_consumed = 0;

  awaitable<Result<net::HttpResponse>> send(net::HttpRequest request, net::RequestOptions opts) override {
    auto s = take(std::move(request), opts);
    if (s.error) co_return std::unexpected(*s.error);
    co_return s.response;
  }

  awaitable<Result<net::HttpResponse>> send_streaming(net::HttpRequest request, net::BodySink sink,
                                                      net::RequestOptions opts) override {
    auto s = take(std::move(request), opts);
    if (s.response.status >= 200 && s.response.status <= 299) {
      for (const auto& c : s.chunks) {
        ++chunks_consumed;
        if (!co_await sink(c)) co_return fail(ErrorKind::cancelled, "sink aborted");
      }
    }
    if (s.error) co_return std::unexpected(*s.error);
    co_return s.response;
  }

 private:
  Script take(net::HttpRequest request, net::RequestOptions opts) {
    requests.push_back(std::move(request));
    options.push_back(opts);
    if (scripts.empty()) return Script{.error = Error::make(ErrorKind::internal, "no script")};
    Script s = std::move(scripts.front());
    scripts.pop_front();
    clock_.advance(s.takes);
    return s;
  }
  ManualClock& clock_;
};

class FakeCredentials final : public aws::CredentialsProvider {
 public:
  aws::Credentials creds{.access_key_id = "AKIDEXAMPLE", .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                         .session_token = "SESSIONTOKEN", .source = "static"};
  std::optional<Error> error;
  int calls = 0;
  awaitable<Result<aws::Credentials>> get() override {
    ++calls;
    if (error) co_return std::unexpected(*error);
    co_return creds;
  }
};

constexpr const char* kProfileModel = "us.anthropic.claude-3-5-sonnet-20240620-v1:0";
constexpr const char* kEndpoint = "http://127.0.0.1:8123";

net::HttpResponse ok_json(std::string body, std::string request_id = "req-1") {
  net::HttpResponse r;
  r.status = 200;
  r.headers.set("Content-Type", "application/json");
  r.headers.set("x-amzn-RequestId", std::move(request_id));
  r.body = std::move(body);
  return r;
}

net::HttpResponse ok_stream(std::string request_id = "req-s") {
  net::HttpResponse r;
  r.status = 200;
  r.headers.set("Content-Type", "application/vnd.amazon.eventstream");
  r.headers.set("x-amzn-RequestId", std::move(request_id));
  return r;
}

net::HttpResponse aws_error(int status, std::string type, std::string message) {
  net::HttpResponse r;
  r.status = status;
  r.headers.set("Content-Type", "application/json");
  r.headers.set("x-amzn-ErrorType", type + ":http://internal.amazon.com/coral/com.amazon.bedrock/");
  r.headers.set("x-amzn-RequestId", "req-err");
  r.body = R"({"message":")" + message + R"(","__type":")" + type + R"("})";
  return r;
}

std::string event(std::string type, std::string payload) {
  return aws::eventstream::encode({{":event-type", type}, {":content-type", "application/json"}, {":message-type", "event"}},
                                  payload);
}
std::string exception_frame(std::string type, std::string message) {
  return aws::eventstream::encode(
      {{":exception-type", type}, {":content-type", "application/json"}, {":message-type", "exception"}},
      R"({"message":")" + message + R"("})");
}
std::string claude_chunk(std::string_view model_json) {
  return event("chunk", R"({"bytes":")" + base64_encode(model_json) + R"("})");
}

// Splits `bytes` into pieces of the given sizes, cycling through them.
std::vector<std::string> split(const std::string& bytes, std::vector<std::size_t> sizes) {
  std::vector<std::string> out;
  std::size_t pos = 0, i = 0;
  while (pos < bytes.size()) {
    std::size_t n = std::min(sizes[i++ % sizes.size()], bytes.size() - pos);
    out.push_back(bytes.substr(pos, n));
    pos += n;
  }
  return out;
}

std::string converse_stream_body(std::string stop = "end_turn") {
  return event("messageStart", R"({"role":"assistant"})") +
         event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hel"}})") +
         event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"lo, "}})") +
         event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"world"}})") +
         event("contentBlockStop", R"({"contentBlockIndex":0})") +
         event("messageStop", R"({"stopReason":")" + stop + R"("})") +
         event("metadata", R"({"usage":{"inputTokens":11,"outputTokens":5,"totalTokens":16},"metrics":{"latencyMs":77}})");
}

ChatRequest hello(std::string model = kProfileModel) {
  ChatRequest r;
  r.model_id = std::move(model);
  r.system = "Be brief.";
  r.max_tokens = 256;
  r.messages.push_back(Message{.role = "user", .content = {ContentBlock::make_text("Hello?")}});
  return r;
}

class BedrockClientTest : public ::testing::Test {
 protected:
  ManualClock clock;
  FakeHttp http{clock};
  FakeCredentials creds;

  std::unique_ptr<ModelClient> client(Api api = Api::converse) {
    return make_bedrock_client(http, creds, BedrockConfig{.region = "us-east-1", .endpoint = std::string(kEndpoint) + "/",
                                                          .api = api, .connect_timeout = 1234ms, .read_timeout = 5678ms},
                               clock);
  }

  std::vector<StreamDelta> pieces;  // every piece the last streams delivered (text, tool calls, reasoning)

  Result<ChatResponse> stream(ModelClient& c, const ChatRequest& req, std::vector<std::string>& deltas,
                              int stop_after = -1) {
    DeltaHandler h = [this, &deltas, stop_after](const StreamDelta& d) -> awaitable<bool> {
      pieces.push_back(d);
      if (d.kind == StreamDelta::Kind::text) deltas.push_back(d.text);
      co_return stop_after < 0 || static_cast<int>(pieces.size()) < stop_after;
    };
    return run(c.chat_stream(req, h, {}));
  }

  // The captured request carries a valid SigV4 signature for these credentials, region and service.
  void expect_signed(const net::HttpRequest& sent) {
    auto auth = sent.headers.get("Authorization");
    ASSERT_TRUE(auth.has_value());
    EXPECT_TRUE(auth->starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/bedrock/aws4_request"))
        << *auth;
    auto signed_headers = auth->substr(auth->find("SignedHeaders="));
    signed_headers = signed_headers.substr(0, signed_headers.find(','));
    EXPECT_NE(signed_headers.find("host"), std::string_view::npos) << signed_headers;
    EXPECT_NE(signed_headers.find("x-amz-date"), std::string_view::npos) << signed_headers;
    EXPECT_NE(signed_headers.find("x-amz-security-token"), std::string_view::npos) << signed_headers;
    EXPECT_EQ(sent.headers.get("X-Amz-Date").value_or(""), "20231114T221320Z");
    EXPECT_EQ(sent.headers.get("X-Amz-Security-Token").value_or(""), "SESSIONTOKEN");
    // Re-signing the unsigned request independently gives the same signature.
    net::HttpRequest fresh;
    fresh.method = sent.method;
    fresh.url = sent.url;
    fresh.body = sent.body;
    for (const auto& h : sent.headers)
      if (!iequals(h.name, "Authorization") && !iequals(h.name, "X-Amz-Date") && !iequals(h.name, "X-Amz-Security-Token") &&
          !iequals(h.name, "Host"))
        fresh.headers.add(h.name, h.value);
    aws::SigningParams p;
    p.region = "us-east-1";
    p.service = "bedrock";
    p.time = clock.wall();
    auto details = aws::sign_request(fresh, creds.creds, p);
    EXPECT_EQ(fresh.headers.get("Authorization").value_or(""), *auth);
    EXPECT_NE(details.canonical_request.find("%253A"), std::string::npos) << "path must be double-encoded when signing";
  }
};

TEST_F(BedrockClientTest, ConverseSendsSignedRequestAndParsesReply) {
  http.scripts.push_back({.response = ok_json(R"({"output":{"message":{"role":"assistant","content":[{"text":"Hi there"}]}},
      "stopReason":"end_turn","usage":{"inputTokens":30,"outputTokens":12,"totalTokens":42,"cacheReadInputTokens":4},
      "metrics":{"latencyMs":512}})", "abc-123"),
                          .takes = 250ms});
  auto c = client();
  auto req = hello();
  CallOptions opts{.deadline = SteadyTime{} + 10s};
  auto r = run(c->chat(req, opts));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->text, "Hi there");
  EXPECT_EQ(r->stop_reason, "end_turn");
  EXPECT_EQ(r->usage.input_tokens, 30);
  EXPECT_EQ(r->usage.output_tokens, 12);
  EXPECT_EQ(r->usage.cache_read_input_tokens, 4);
  EXPECT_EQ(r->request_id, "abc-123");
  EXPECT_EQ(r->latency_ms, 250);

  ASSERT_EQ(http.requests.size(), 1u);
  const auto& sent = http.requests[0];
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.url, "http://127.0.0.1:8123/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse");
  EXPECT_EQ(sent.headers.get("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(sent.headers.get("Accept").value_or(""), "application/json");
  EXPECT_EQ(sent.body, converse::encode_request(req));
  expect_signed(sent);
  EXPECT_EQ(http.options[0].connect_timeout, 1234ms);
  EXPECT_EQ(http.options[0].read_timeout, 5678ms);
  EXPECT_EQ(http.options[0].deadline, opts.deadline);
}

TEST_F(BedrockClientTest, FreshCredentialsForEveryCall) {
  const std::string body = R"({"output":{"message":{"role":"assistant","content":[{"text":"x"}]}},"stopReason":"end_turn"})";
  http.scripts.push_back({.response = ok_json(body)});
  http.scripts.push_back({.response = ok_json(body)});
  auto c = client();
  ASSERT_TRUE(run(c->chat(hello(), {})).has_value());
  creds.creds.access_key_id = "AKIDROTATED";
  ASSERT_TRUE(run(c->chat(hello(), {})).has_value());
  EXPECT_EQ(creds.calls, 2);
  EXPECT_NE(http.requests[1].headers.get("Authorization").value_or("").find("Credential=AKIDROTATED/"), std::string_view::npos);
}

TEST_F(BedrockClientTest, CredentialFailureSendsNothing) {
  creds.error = Error::make(ErrorKind::unauthorized, "no credentials in the chain");
  auto r = run(client()->chat(hello(), {}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::unauthorized);
  EXPECT_TRUE(http.requests.empty());
}

TEST_F(BedrockClientTest, InvalidInputIsRejectedBeforeSending) {
  auto c = client();
  auto empty = hello();
  empty.messages.clear();
  auto zero = hello();
  zero.max_tokens = 0;
  auto hot = hello();
  hot.temperature = 1.2;
  auto top = hello();
  top.top_p = -0.5;
  for (const auto& req : {empty, zero, hot, top}) {
    auto r = run(c->chat(req, {}));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, ErrorKind::invalid_input) << r.error().message;
    std::vector<std::string> deltas;
    auto s = stream(*c, req, deltas);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().kind, ErrorKind::invalid_input);
  }
  EXPECT_TRUE(http.requests.empty());
  EXPECT_EQ(creds.calls, 0);
}

TEST_F(BedrockClientTest, HttpErrorsAreClassified) {
  http.scripts.push_back({.response = aws_error(429, "ThrottlingException", "Too many tokens, please wait before trying again.")});
  http.scripts.push_back({.response = aws_error(400, "ValidationException", "Malformed input request: bad stuff")});
  http.scripts.push_back({.response = aws_error(503, "ServiceUnavailableException", "Service unavailable")});
  net::HttpResponse bare;
  bare.status = 503;
  http.scripts.push_back({.response = bare});
  auto c = client();

  auto throttled = run(c->chat(hello(), {}));
  ASSERT_FALSE(throttled.has_value());
  EXPECT_EQ(throttled.error().kind, ErrorKind::throttled);
  EXPECT_TRUE(throttled.error().retryable);
  EXPECT_TRUE(throttled.error().throttle);
  EXPECT_EQ(throttled.error().code, "ThrottlingException");
  EXPECT_EQ(throttled.error().http_status, 429);
  EXPECT_EQ(throttled.error().request_id, "req-err");

  auto invalid = run(c->chat(hello(), {}));
  ASSERT_FALSE(invalid.has_value());
  EXPECT_EQ(invalid.error().kind, ErrorKind::invalid_input);
  EXPECT_EQ(invalid.error().message, "Malformed input request: bad stuff");
  EXPECT_FALSE(invalid.error().retryable);

  for (int i = 0; i < 2; ++i) {
    auto unavailable = run(c->chat(hello(), {}));
    ASSERT_FALSE(unavailable.has_value());
    EXPECT_EQ(unavailable.error().kind, ErrorKind::unavailable);
    EXPECT_TRUE(unavailable.error().retryable);
  }
  EXPECT_EQ(http.requests.size(), 4u);  // one attempt per call: no retries inside the client
}

TEST_F(BedrockClientTest, TransportErrorPassesThrough) {
  http.scripts.push_back({.error = Error::make(ErrorKind::network, "connection refused")});
  auto r = run(client()->chat(hello(), {}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::network);
  EXPECT_EQ(http.requests.size(), 1u);
}

TEST_F(BedrockClientTest, MalformedSuccessBodyIsAnError) {
  http.scripts.push_back({.response = ok_json("<html>gateway</html>", "rid-9")});
  auto r = run(client()->chat(hello(), {}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::upstream);
  EXPECT_EQ(r.error().request_id, "rid-9");
}

TEST_F(BedrockClientTest, InvokeClaude) {
  http.scripts.push_back({.response = ok_json(R"({"id":"msg_bdrk_1","type":"message","role":"assistant","content":[{"type":"text","text":"42"}],
      "stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":30,"output_tokens":265}})")});
  auto req = hello("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0");
  auto r = run(client(Api::invoke)->chat(req, {}));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->text, "42");
  EXPECT_EQ(r->usage.output_tokens, 265);
  const auto& sent = http.requests.at(0);
  EXPECT_EQ(sent.url,
            "http://127.0.0.1:8123/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Fanthropic.claude-3-haiku-20240307-v1%3A0/invoke");
  EXPECT_EQ(sent.headers.get("Accept").value_or(""), "application/json");
  EXPECT_EQ(sent.body, invoke::encode_request(req, ModelFamily::anthropic_claude).value());
  expect_signed(sent);
}

TEST_F(BedrockClientTest, InvokeTitan) {
  http.scripts.push_back({.response = ok_json(R"({"inputTextTokenCount":5,"results":[{"tokenCount":2,"outputText":" Hi","completionReason":"LENGTH"}]})")});
  auto req = hello("amazon.titan-text-express-v1");
  auto r = run(client(Api::invoke)->chat(req, {}));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->text, " Hi");
  EXPECT_EQ(r->stop_reason, "max_tokens");
  EXPECT_EQ(http.requests.at(0).url, "http://127.0.0.1:8123/model/amazon.titan-text-express-v1/invoke");
  EXPECT_NE(http.requests.at(0).body.find("\"inputText\":\"Be brief.\\n\\nUser: Hello?\\nBot:\""), std::string::npos)
      << http.requests.at(0).body;
}

TEST_F(BedrockClientTest, InvokeWithoutFamilyTellsToUseConverse) {
  auto req = hello("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6");
  auto r = run(client(Api::invoke)->chat(req, {}));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_input);
  EXPECT_NE(r.error().message.find("use the Converse API"), std::string::npos) << r.error().message;
  EXPECT_TRUE(http.requests.empty());
}

TEST_F(BedrockClientTest, ConverseStreamAtAwkwardBoundaries) {
  const std::string body = converse_stream_body();
  for (auto sizes : std::vector<std::vector<std::size_t>>{{1}, {3, 11, 2}, {7}, {body.size()}, {12, 1000}}) {
    http.scripts.push_back({.response = ok_stream(), .chunks = split(body, sizes), .takes = 40ms});
    std::vector<std::string> deltas;
    auto r = stream(*client(), hello(), deltas);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(deltas, (std::vector<std::string>{"Hel", "lo, ", "world"}));
    EXPECT_EQ(r->text, "Hello, world");
    EXPECT_EQ(r->stop_reason, "end_turn");
    EXPECT_EQ(r->usage.input_tokens, 11);
    EXPECT_EQ(r->usage.output_tokens, 5);
    EXPECT_EQ(r->request_id, "req-s");
    EXPECT_EQ(r->latency_ms, 40);
  }
  const auto& sent = http.requests.back();
  EXPECT_EQ(sent.url, "http://127.0.0.1:8123/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream");
  EXPECT_EQ(sent.headers.get("Accept").value_or(""), "application/vnd.amazon.eventstream");
  EXPECT_EQ(sent.body, converse::encode_request(hello()));
  expect_signed(sent);
}

TEST_F(BedrockClientTest, InvokeStreamClaude) {
  const std::string body =
      claude_chunk(R"({"type":"message_start","message":{"usage":{"input_tokens":8,"output_tokens":1}}})") +
      claude_chunk(R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})") +
      claude_chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"4"}})") +
      claude_chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"2"}})") +
      claude_chunk(R"({"type":"content_block_stop","index":0})") +
      claude_chunk(R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}})") +
      claude_chunk(R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":8,"outputTokenCount":4,"invocationLatency":511,"firstByteLatency":358}})");
  http.scripts.push_back({.response = ok_stream(), .chunks = split(body, {5, 17, 64})});
  std::vector<std::string> deltas;
  auto r = stream(*client(Api::invoke), hello("anthropic.claude-3-haiku-20240307-v1:0"), deltas);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(deltas, (std::vector<std::string>{"4", "2"}));
  EXPECT_EQ(r->text, "42");
  EXPECT_EQ(r->stop_reason, "end_turn");
  EXPECT_EQ(r->usage.input_tokens, 8);
  EXPECT_EQ(r->usage.output_tokens, 4);
  const auto& sent = http.requests.at(0);
  EXPECT_EQ(sent.url, "http://127.0.0.1:8123/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream");
  EXPECT_EQ(sent.headers.get("X-Amzn-Bedrock-Accept").value_or(""), "application/json");
  EXPECT_EQ(sent.headers.get("Content-Type").value_or(""), "application/json");
  expect_signed(sent);
}

// A piece as "kind@index:id/name:text", to compare a stream's pieces at a glance.
std::string describe(const StreamDelta& d) {
  const char* kinds[] = {"text", "tool_use_start", "tool_use_input", "reasoning_text", "reasoning_signature",
                         "reasoning_redacted"};
  return std::string(kinds[static_cast<int>(d.kind)]) + "@" + std::to_string(d.block_index) + ":" + d.tool_use_id + "/" +
         d.name + ":" + d.text;
}
std::vector<std::string> describe(const std::vector<StreamDelta>& pieces) {
  std::vector<std::string> out;
  for (const auto& p : pieces) out.push_back(describe(p));
  return out;
}

TEST_F(BedrockClientTest, ConverseStreamDeliversReasoningTextAndToolCallsAsTheyArrive) {
  const std::string body =
      event("messageStart", R"({"role":"assistant"})") +
      event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"Think"}}})") +
      event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"ing."}}})") +
      event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"c2ln"}}})") +
      event("contentBlockStop", R"({"contentBlockIndex":0})") +
      event("contentBlockDelta", R"({"contentBlockIndex":1,"delta":{"reasoningContent":{"redactedContent":"AAEC"}}})") +
      event("contentBlockStop", R"({"contentBlockIndex":1})") +
      event("contentBlockDelta", R"({"contentBlockIndex":2,"delta":{"text":"Let me look."}})") +
      event("contentBlockStop", R"({"contentBlockIndex":2})") +
      event("contentBlockStart", R"({"contentBlockIndex":3,"start":{"toolUse":{"toolUseId":"tooluse_a","name":"get_weather"}}})") +
      event("contentBlockDelta", R"({"contentBlockIndex":3,"delta":{"toolUse":{"input":"{\"city\":"}}})") +
      event("contentBlockDelta", R"({"contentBlockIndex":3,"delta":{"toolUse":{"input":""}}})") +
      event("contentBlockDelta", R"({"contentBlockIndex":3,"delta":{"toolUse":{"input":"\"Paris\"}"}}})") +
      event("contentBlockStop", R"({"contentBlockIndex":3})") +
      event("contentBlockStart", R"({"contentBlockIndex":4,"start":{"toolUse":{"toolUseId":"tooluse_b","name":"now"}}})") +
      event("contentBlockStop", R"({"contentBlockIndex":4})") +
      event("messageStop", R"({"stopReason":"tool_use"})") +
      event("metadata", R"({"usage":{"inputTokens":11,"outputTokens":5,"totalTokens":16},"metrics":{"latencyMs":77}})");
  for (auto sizes : std::vector<std::vector<std::size_t>>{{1}, {7, 3}, {body.size()}}) {
    http.scripts.push_back({.response = ok_stream(), .chunks = split(body, sizes)});
    pieces.clear();
    std::vector<std::string> deltas;
    auto r = stream(*client(), hello(), deltas);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(describe(pieces), (std::vector<std::string>{
                                    "reasoning_text@0:/:Think", "reasoning_text@0:/:ing.", "reasoning_signature@0:/:c2ln",
                                    "reasoning_redacted@1:/:AAEC", "text@2:/:Let me look.",
                                    "tool_use_start@3:tooluse_a/get_weather:",
                                    "tool_use_input@3:tooluse_a/get_weather:{\"city\":",  // the empty fragment is not delivered
                                    "tool_use_input@3:tooluse_a/get_weather:\"Paris\"}", "tool_use_start@4:tooluse_b/now:"}));
    EXPECT_EQ(r->text, "Let me look.");  // reasoning is not the reply's text
    ASSERT_EQ(r->tool_uses.size(), 2u);
    EXPECT_EQ(r->tool_uses[0].input, R"({"city":"Paris"})");
    EXPECT_EQ(r->tool_uses[1].input, "{}");
    EXPECT_EQ(r->stop_reason, "tool_use");
  }
}

TEST_F(BedrockClientTest, InvokeStreamClaudeDeliversThinkingAndToolCalls) {
  const std::string body =
      claude_chunk(R"({"type":"message_start","message":{"usage":{"input_tokens":8,"output_tokens":1}}})") +
      claude_chunk(R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})") +
      claude_chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm."}})") +
      claude_chunk(R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}})") +
      claude_chunk(R"({"type":"content_block_stop","index":0})") +
      claude_chunk(R"({"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"AAEC"}})") +
      claude_chunk(R"({"type":"content_block_stop","index":1})") +
      claude_chunk(R"({"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}})") +
      claude_chunk(R"({"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Looking."}})") +
      claude_chunk(R"({"type":"content_block_stop","index":2})") +
      claude_chunk(R"({"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}})") +
      claude_chunk(R"({"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":""}})") +
      claude_chunk(R"({"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}})") +
      claude_chunk(R"({"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"is\"}"}})") +
      claude_chunk(R"({"type":"content_block_stop","index":3})") +
      claude_chunk(R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":4}})") +
      claude_chunk(R"({"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":8,"outputTokenCount":4,"invocationLatency":511,"firstByteLatency":358}})");
  http.scripts.push_back({.response = ok_stream(), .chunks = split(body, {5, 17, 64})});
  std::vector<std::string> deltas;
  auto r = stream(*client(Api::invoke), hello("anthropic.claude-3-haiku-20240307-v1:0"), deltas);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(describe(pieces), (std::vector<std::string>{"reasoning_text@0:/:Hmm.", "reasoning_signature@0:/:c2ln",
                                                        "reasoning_redacted@1:/:AAEC", "text@2:/:Looking.",
                                                        "tool_use_start@3:toolu_1/get_weather:",
                                                        "tool_use_input@3:toolu_1/get_weather:{\"city\": \"Par",
                                                        "tool_use_input@3:toolu_1/get_weather:is\"}"}));
  EXPECT_EQ(r->text, "Looking.");
  ASSERT_EQ(r->tool_uses.size(), 1u);
  EXPECT_EQ(r->tool_uses[0].input, R"({"city": "Paris"})");
}

TEST_F(BedrockClientTest, ATruncatedStreamAfterOnlyAToolCallIsNotRetryable) {
  // No text reached the caller, but a tool call did: a retry would show the caller a second reply.
  const std::string body =
      event("messageStart", R"({"role":"assistant"})") +
      event("contentBlockStart", R"({"contentBlockIndex":0,"start":{"toolUse":{"toolUseId":"tooluse_a","name":"now"}}})");
  http.scripts.push_back({.response = ok_stream(), .chunks = {body}});
  std::vector<std::string> deltas;
  auto r = stream(*client(), hello(), deltas);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::network);
  EXPECT_TRUE(deltas.empty());
  EXPECT_EQ(pieces.size(), 1u);
  EXPECT_FALSE(r.error().retryable);
}

TEST_F(BedrockClientTest, InvokeStreamTitan) {
  auto titan = [](std::string_view j) { return claude_chunk(j); };
  const std::string body =
      titan(R"({"outputText":" Hel","index":0,"totalOutputTextTokenCount":2,"completionReason":null,"inputTextTokenCount":5})") +
      titan(R"({"outputText":"lo","index":0,"totalOutputTextTokenCount":3,"completionReason":"FINISH","inputTextTokenCount":null,
          "amazon-bedrock-invocationMetrics":{"inputTokenCount":5,"outputTokenCount":3,"invocationLatency":200,"firstByteLatency":100}})");
  http.scripts.push_back({.response = ok_stream(), .chunks = split(body, {9})});
  std::vector<std::string> deltas;
  auto r = stream(*client(Api::invoke), hello("amazon.titan-text-lite-v1"), deltas);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(deltas, (std::vector<std::string>{" Hel", "lo"}));
  EXPECT_EQ(r->stop_reason, "end_turn");
  EXPECT_EQ(r->usage.output_tokens, 3);
}

TEST_F(BedrockClientTest, InStreamThrottlingIsThrottled) {
  const std::string body = event("messageStart", R"({"role":"assistant"})") +
                           event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hel"}})") +
                           exception_frame("throttlingException", "Too many tokens, please wait before trying again.") +
                           event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"never"}})");
  http.scripts.push_back({.response = ok_stream("rid-t"), .chunks = split(body, {13})});
  std::vector<std::string> deltas;
  auto r = stream(*client(), hello(), deltas);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::throttled);
  EXPECT_TRUE(r.error().throttle);
  EXPECT_EQ(r.error().code, "ThrottlingException");
  EXPECT_EQ(r.error().request_id, "rid-t");
  EXPECT_NE(r.error().message.find("Too many tokens"), std::string::npos);
  EXPECT_EQ(deltas, (std::vector<std::string>{"Hel"}));
}

TEST_F(BedrockClientTest, InStreamModelErrorAndUntypedError) {
  http.scripts.push_back({.response = ok_stream(),
                          .chunks = {exception_frame("modelStreamErrorException", "The model failed")}});
  http.scripts.push_back(
      {.response = ok_stream(),
       .chunks = {aws::eventstream::encode({{":message-type", "error"}, {":error-code", "InternalFailure"},
                                            {":error-message", "Something broke"}},
                                           "")}});
  auto c = client();
  std::vector<std::string> deltas;
  auto model = stream(*c, hello(), deltas);
  ASSERT_FALSE(model.has_value());
  EXPECT_EQ(model.error().kind, ErrorKind::upstream);
  EXPECT_EQ(model.error().message, "The model failed");
  auto untyped = stream(*c, hello(), deltas);
  ASSERT_FALSE(untyped.has_value());
  EXPECT_EQ(untyped.error().code, "InternalFailure");
  EXPECT_NE(untyped.error().message.find("Something broke"), std::string::npos);
  EXPECT_TRUE(deltas.empty());
}

TEST_F(BedrockClientTest, CorruptFrameIsANetworkError) {
  std::string body = converse_stream_body();
  body[body.size() / 2] ^= 0x20;  // flips a bit inside some frame: its CRC no longer matches
  http.scripts.push_back({.response = ok_stream(), .chunks = split(body, {32})});
  std::vector<std::string> deltas;
  auto r = stream(*client(), hello(), deltas);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::network);
  EXPECT_LT(http.chunks_consumed, split(body, {32}).size());  // stopped reading at the bad frame
}

TEST_F(BedrockClientTest, TruncatedStreamIsAnError) {
  const std::string body = converse_stream_body();
  // A partial frame at the end.
  http.scripts.push_back({.response = ok_stream(), .chunks = {body.substr(0, body.size() - 10)}});
  // Whole frames, but no messageStop.
  const std::string no_stop = event("messageStart", R"({"role":"assistant"})") +
                              event("contentBlockDelta", R"({"contentBlockIndex":0,"delta":{"text":"Hel"}})");
  http.scripts.push_back({.response = ok_stream(), .chunks = {no_stop}});
  // Nothing at all.
  http.scripts.push_back({.response = ok_stream(), .chunks = {}});
  auto c = client();
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> deltas;
    auto r = stream(*c, hello(), deltas);
    ASSERT_FALSE(r.has_value()) << "case " << i;
    EXPECT_EQ(r.error().kind, ErrorKind::network) << "case " << i;
    EXPECT_EQ(r.error().retryable, deltas.empty()) << "case " << i;
  }
}

TEST_F(BedrockClientTest, ConnectionDropMidStreamIsAnError) {
  const std::string body = converse_stream_body();
  http.scripts.push_back({.response = ok_stream(), .chunks = {body.substr(0, 200)},
                          .error = Error::make(ErrorKind::network, "connection reset")});
  std::vector<std::string> deltas;
  auto r = stream(*client(), hello(), deltas);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::network);
}

TEST_F(BedrockClientTest, DeltaHandlerCanCancel) {
  http.scripts.push_back({.response = ok_stream(), .chunks = split(converse_stream_body(), {1})});
  std::vector<std::string> deltas;
  auto r = stream(*client(), hello(), deltas, /*stop_after=*/1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::cancelled);
  EXPECT_EQ(deltas, (std::vector<std::string>{"Hel"}));
  EXPECT_LT(http.chunks_consumed, converse_stream_body().size());
}

TEST_F(BedrockClientTest, StreamHttpErrorIsClassified) {
  http.scripts.push_back({.response = aws_error(429, "ThrottlingException", "Too many requests, please wait before trying again."),
                          .chunks = {"never fed"}});
  std::vector<std::string> deltas;
  auto r = stream(*client(), hello(), deltas);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::throttled);
  EXPECT_TRUE(r.error().retryable);
  EXPECT_EQ(http.chunks_consumed, 0u);
}

// A Bedrock API key (AWS_BEARER_TOKEN_BEDROCK): the call carries it as a bearer token, with no SigV4
// header, and the credentials provider is not asked (it may have nothing).
TEST_F(BedrockClientTest, ABearerTokenReplacesSigV4) {
  const std::string body = R"({"output":{"message":{"role":"assistant","content":[{"text":"x"}]}},"stopReason":"end_turn"})";
  http.scripts.push_back({.response = ok_json(body)});
  http.scripts.push_back({.response = ok_stream(), .chunks = {converse_stream_body()}});
  creds.error = Error::make(ErrorKind::unauthorized, "no credentials in the chain");
  auto c = make_bedrock_client(http, creds,
                               BedrockConfig{.region = "us-east-1", .endpoint = kEndpoint, .bearer_token = "ABSKexample-key"},
                               clock);
  ASSERT_TRUE(run(c->chat(hello(), {})).has_value());
  std::vector<std::string> deltas;
  ASSERT_TRUE(stream(*c, hello(), deltas).has_value());
  EXPECT_EQ(creds.calls, 0);
  ASSERT_EQ(http.requests.size(), 2u);
  for (const auto& sent : http.requests) {
    EXPECT_EQ(sent.headers.get("Authorization").value_or(""), "Bearer ABSKexample-key");
    for (std::string_view h : {"X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"})
      EXPECT_FALSE(sent.headers.get(h).has_value()) << h;
    EXPECT_EQ(sent.body, converse::encode_request(hello()));
  }
}

TEST_F(BedrockClientTest, CountTokensPostsTheConversationAndReadsInputTokens) {
  http.scripts.push_back({.response = ok_json(R"({"inputTokens":17})")});
  auto c = client();
  auto req = hello("anthropic.claude-3-5-haiku-20241022-v1:0");
  auto n = run(c->count_tokens(req, {}));
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_EQ(*n, 17);
  ASSERT_EQ(http.requests.size(), 1u);
  const auto& sent = http.requests[0];
  EXPECT_EQ(sent.url, "http://127.0.0.1:8123/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/count-tokens");
  EXPECT_EQ(sent.body, R"({"input":{"converse":{"messages":[{"role":"user","content":[{"text":"Hello?"}]}],)"
                       R"("system":[{"text":"Be brief."}]}}})");
  EXPECT_EQ(sent.headers.get("Accept").value_or(""), "application/json");
  EXPECT_TRUE(sent.headers.get("Authorization").value_or("").starts_with("AWS4-HMAC-SHA256 "));

  // A model without token counting: Bedrock's ValidationException, as invalid_input.
  http.scripts.push_back({.response = aws_error(400, "ValidationException", "The provided model doesn't support counting tokens.")});
  auto refused = run(c->count_tokens(req, {}));
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().kind, ErrorKind::invalid_input);
  EXPECT_EQ(refused.error().request_id, "req-err");
  http.scripts.push_back({.response = ok_json(R"({"tokens":1})")});
  auto odd = run(c->count_tokens(req, {}));
  ASSERT_FALSE(odd.has_value());
  EXPECT_EQ(odd.error().kind, ErrorKind::upstream);
}

TEST(BedrockConfigTest, MissingRegionOrEndpointThrowsAtStartUp) {
  ManualClock clock;
  FakeHttp http{clock};
  FakeCredentials creds;
  EXPECT_THROW(make_bedrock_client(http, creds, BedrockConfig{.region = "", .endpoint = kEndpoint}, clock),
               std::invalid_argument);
  EXPECT_THROW(make_bedrock_client(http, creds, BedrockConfig{.region = "us-east-1", .endpoint = ""}, clock),
               std::invalid_argument);
  EXPECT_THROW(make_bedrock_client(http, creds, BedrockConfig{.region = "us-east-1", .endpoint = "ftp://x"}, clock),
               std::invalid_argument);
}

}  // namespace
}  // namespace ba::bedrock
