// The simulator's handler in-process: wire formats, faults, quotas, authentication, stats.
#include "sim/simulator.hpp"

#include <gtest/gtest.h>

#include <boost/asio/detached.hpp>

#include "aws/sigv4.hpp"
#include "sim/sim_harness.hpp"
#include "util/encoding.hpp"

namespace ba::sim {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using testing::Answer;
using testing::call;
using testing::claude_body;
using testing::converse_body;
using testing::decode_frames;
using testing::model_request;
using testing::titan_body;

constexpr std::string_view kClaude = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
constexpr std::string_view kTitan = "amazon.titan-text-express-v1";

class SimTest : public ::testing::Test {
 protected:
  Answer send(net::ServerRequest req, int fail_after = -1) {
    return testing::run(io, call(*sim(), std::move(req), fail_after));
  }
  Simulator* sim() {
    if (!sim_) sim_ = make_simulator(io, opts);
    return sim_.get();
  }
  static std::string header(const Answer& a, std::string_view name) {
    return std::string(a.response.headers.get(name).value_or(""));
  }
  static void expect_error(const Answer& a, int status, std::string_view type, std::string_view message_prefix = {}) {
    EXPECT_EQ(a.response.status, status);
    EXPECT_EQ(header(a, "x-amzn-ErrorType"), std::string(type) + ":http://internal.amazon.com/coral/com.amazon.bedrock/");
    EXPECT_EQ(header(a, "Content-Type"), "application/json");
    EXPECT_FALSE(header(a, "x-amzn-RequestId").empty());
    auto body = json::parse(a.body).as_object();
    EXPECT_EQ(body.at("__type").as_string(), type);
    EXPECT_TRUE(std::string_view(body.at("message").as_string()).starts_with(message_prefix)) << body.at("message");
  }

  boost::asio::io_context io;
  SimulatorOptions opts;
  std::unique_ptr<Simulator> sim_;
};

TEST_F(SimTest, ConverseReplyAndUsage) {
  auto a = send(model_request(kClaude, "converse", converse_body("Hello there")));
  ASSERT_EQ(a.response.status, 200) << a.body;
  EXPECT_EQ(header(a, "Content-Type"), "application/json");
  EXPECT_EQ(header(a, "x-amzn-RequestId").size(), 36u);
  auto b = json::parse(a.body).as_object();
  EXPECT_EQ(b.at("stopReason").as_string(), "end_turn");
  const auto& msg = b.at("output").at("message").as_object();
  EXPECT_EQ(msg.at("role").as_string(), "assistant");
  const std::string text(msg.at("content").as_array().at(0).at("text").as_string());
  EXPECT_EQ(std::count(text.begin(), text.end(), ' '), 19);
  EXPECT_EQ(b.at("usage").at("inputTokens").as_int64(), 3);
  EXPECT_EQ(b.at("usage").at("outputTokens").as_int64(), 20);
  EXPECT_EQ(b.at("usage").at("totalTokens").as_int64(), 23);
  EXPECT_EQ(b.at("metrics").at("latencyMs").as_int64(), 0);
  // Deterministic: the same request gets the same reply.
  auto again = send(model_request(kClaude, "converse", converse_body("Hello there")));
  EXPECT_EQ(json::parse(again.body).at("output").at("message").at("content").at(0).at("text").as_string(), text);
}

TEST_F(SimTest, ConverseClampedByMaxTokens) {
  auto a = send(model_request(kClaude, "converse", converse_body("[[tokens=30]]", 4)));
  auto b = json::parse(a.body);
  EXPECT_EQ(b.at("stopReason").as_string(), "max_tokens");
  EXPECT_EQ(b.at("usage").at("outputTokens").as_int64(), 4);
}

TEST_F(SimTest, ModelIdInThePathIsPercentDecoded) {
  opts.rpm = 1;
  auto raw = model_request(kClaude, "converse", converse_body("x"));
  raw.path = raw.target = "/model/" + std::string(kClaude) + "/converse";  // ':' left as is
  EXPECT_EQ(send(std::move(raw)).response.status, 200);
  // The percent-encoded spelling (%3A) is the same model id, so it shares the quota.
  auto encoded = model_request(kClaude, "converse", converse_body("x"));
  ASSERT_NE(encoded.path.find("%3A0"), std::string::npos);
  expect_error(send(std::move(encoded)), 429, "ThrottlingException");
  // Another model id has its own quota.
  EXPECT_EQ(send(model_request("anthropic.claude-3-haiku-20240307-v1:0", "converse", converse_body("x"))).response.status, 200);
}

TEST_F(SimTest, ConverseStreamFrames) {
  opts.ttft = 3ms;
  opts.per_token = 1ms;
  auto a = send(model_request(kClaude, "converse-stream", converse_body("[[tokens=4]]")));
  ASSERT_EQ(a.response.status, 200);
  EXPECT_EQ(header(a, "Content-Type"), "application/vnd.amazon.eventstream");
  EXPECT_FALSE(header(a, "x-amzn-RequestId").empty());
  auto frames = decode_frames(a.body);
  EXPECT_FALSE(frames.partial);
  std::vector<std::string> types;
  std::string text;
  for (const auto& f : frames.frames) {
    EXPECT_EQ(f.message_type, "event");
    EXPECT_EQ(f.content_type, "application/json");
    types.push_back(f.event_type);
    if (f.event_type == "contentBlockDelta") {
      EXPECT_EQ(f.json().at("contentBlockIndex").as_int64(), 0);
      text += f.json().at("delta").at("text").as_string();
    }
  }
  EXPECT_EQ(types, (std::vector<std::string>{"messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockDelta",
                                             "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"}));
  EXPECT_EQ(frames.frames[0].json().at("role").as_string(), "assistant");
  EXPECT_EQ(frames.frames[6].json().at("stopReason").as_string(), "end_turn");
  auto meta = frames.frames[7].json();
  EXPECT_EQ(meta.at("usage").at("outputTokens").as_int64(), 4);
  EXPECT_EQ(meta.at("usage").at("totalTokens").as_int64(), 7);
  EXPECT_EQ(meta.at("metrics").at("latencyMs").as_int64(), 3 + 4 * 1);
  // The same request through Converse gives the same text.
  auto c = send(model_request(kClaude, "converse", converse_body("[[tokens=4]]")));
  EXPECT_EQ(json::parse(c.body).at("output").at("message").at("content").at(0).at("text").as_string(), text);
}

TEST_F(SimTest, InvokeModelClaude) {
  opts.ttft = 2ms;
  opts.per_token = 1ms;
  auto a = send(model_request(kClaude, "invoke", claude_body("[[tokens=3]]", 50)));
  ASSERT_EQ(a.response.status, 200) << a.body;
  EXPECT_EQ(header(a, "Content-Type"), "application/json");
  EXPECT_EQ(header(a, "X-Amzn-Bedrock-Input-Token-Count"), "3");
  EXPECT_EQ(header(a, "X-Amzn-Bedrock-Output-Token-Count"), "3");
  EXPECT_EQ(header(a, "X-Amzn-Bedrock-Invocation-Latency"), "5");
  auto b = json::parse(a.body).as_object();
  EXPECT_TRUE(std::string_view(b.at("id").as_string()).starts_with("msg_bdrk_"));
  EXPECT_EQ(b.at("type").as_string(), "message");
  EXPECT_EQ(b.at("model").as_string(), "claude-3-5-haiku-20241022");
  EXPECT_EQ(b.at("content").at(0).at("type").as_string(), "text");
  EXPECT_EQ(b.at("stop_reason").as_string(), "end_turn");
  EXPECT_TRUE(b.at("stop_sequence").is_null());
  EXPECT_EQ(b.at("usage").at("output_tokens").as_int64(), 3);
}

TEST_F(SimTest, InvokeModelTitan) {
  auto a = send(model_request(kTitan, "invoke", titan_body("[[tokens=9]]", 6)));
  ASSERT_EQ(a.response.status, 200) << a.body;
  auto b = json::parse(a.body).as_object();
  EXPECT_EQ(b.at("inputTextTokenCount").as_int64(), 3);
  EXPECT_EQ(b.at("results").at(0).at("tokenCount").as_int64(), 6);
  EXPECT_EQ(b.at("results").at(0).at("completionReason").as_string(), "LENGTH");
}

TEST_F(SimTest, InvokeModelRejectsUnknownFamiliesAndMalformedBodies) {
  expect_error(send(model_request("meta.llama3-8b-instruct-v1:0", "invoke", "{}")), 400, "ValidationException",
               "The provided model identifier is invalid.");
  expect_error(send(model_request(kClaude, "invoke", R"({"anthropic_version":"bedrock-2023-05-31","messages":[]})")), 400,
               "ValidationException", "Malformed input request: #: required key [max_tokens] not found");
  expect_error(send(model_request(kTitan, "invoke", claude_body("x"))), 400, "ValidationException",
               "Malformed input request: #: extraneous key");
  expect_error(send(model_request(kClaude, "converse", "not json")), 400, "ValidationException", "Malformed input request: ");
  EXPECT_EQ(sim()->stats().validation_errors, 4u);
}

TEST_F(SimTest, InvokeModelWithResponseStreamClaudeChunks) {
  auto a = send(model_request(kClaude, "invoke-with-response-stream", claude_body("[[tokens=2]]")));
  ASSERT_EQ(a.response.status, 200);
  EXPECT_EQ(header(a, "Content-Type"), "application/vnd.amazon.eventstream");
  EXPECT_EQ(header(a, "X-Amzn-Bedrock-Content-Type"), "application/json");
  std::vector<std::string> types;
  json::value last;
  for (const auto& f : decode_frames(a.body).frames) {
    EXPECT_EQ(f.event_type, "chunk");
    auto bytes = base64_decode(f.json().at("bytes").as_string());
    ASSERT_TRUE(bytes);
    last = json::parse(*bytes);
    types.push_back(std::string(last.at("type").as_string()));
  }
  EXPECT_EQ(types, (std::vector<std::string>{"message_start", "content_block_start", "content_block_delta",
                                             "content_block_delta", "content_block_stop", "message_delta", "message_stop"}));
  const auto& m = last.at("amazon-bedrock-invocationMetrics");
  EXPECT_EQ(m.at("inputTokenCount").as_int64(), 3);
  EXPECT_EQ(m.at("outputTokenCount").as_int64(), 2);
  EXPECT_TRUE(m.as_object().contains("invocationLatency"));
  EXPECT_TRUE(m.as_object().contains("firstByteLatency"));
}

TEST_F(SimTest, InvokeModelWithResponseStreamTitanChunks) {
  auto a = send(model_request(kTitan, "invoke-with-response-stream", titan_body("echo: one two")));
  std::string text;
  json::value last;
  for (const auto& f : decode_frames(a.body).frames) {
    last = json::parse(*base64_decode(f.json().at("bytes").as_string()));
    text += last.at("outputText").as_string();
  }
  EXPECT_EQ(text, "one two");
  EXPECT_EQ(last.at("completionReason").as_string(), "FINISH");
  EXPECT_EQ(last.at("totalOutputTextTokenCount").as_int64(), 2);
}

TEST_F(SimTest, EveryHeaderFaultHasBedrocksWireFormat) {
  struct Case {
    std::string fault;
    int status;
    std::string type;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"throttle", 429, "ThrottlingException", "Too many requests, please wait before trying again."},
      {"throttle-tokens", 429, "ThrottlingException", "Too many tokens, please wait before trying again."},
      {"throttle-daily", 429, "ThrottlingException", "Too many tokens per day, please wait before trying again."},
      {"500", 500, "InternalServerException", ""},
      {"503", 503, "ServiceUnavailableException", ""},
      {"timeout", 408, "ModelTimeoutException", ""},
      {"model-not-ready", 429, "ModelNotReadyException", ""},
      {"model-error", 424, "ModelErrorException", ""},
      {"access-denied", 403, "AccessDeniedException", ""},
      {"not-found", 404, "ResourceNotFoundException", ""},
      {"service-quota", 400, "ServiceQuotaExceededException", ""},
      {"validation", 400, "ValidationException", "Malformed input request: "},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fault);
    expect_error(send(model_request(kClaude, "converse", converse_body("x"), c.fault)), c.status, c.type, c.message);
  }
  auto s = sim()->stats();
  EXPECT_EQ(s.faults["throttle"], 1u);
  EXPECT_EQ(s.faults["500"], 1u);
  EXPECT_EQ(s.throttled, 3u);
  EXPECT_EQ(s.succeeded, 0u);
  EXPECT_EQ(s.requests["Converse"], cases.size());
}

TEST_F(SimTest, UnknownFaultHeaderIsRejected) {
  expect_error(send(model_request(kClaude, "converse", converse_body("x"), "explode")), 400, "ValidationException",
               "x-sim-fault");
}

TEST_F(SimTest, FaultHeaderCanBeDisabled) {
  opts.fault_header = false;
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x"), "500")).response.status, 200);
}

TEST_F(SimTest, DropAbortsTheConnection) {
  auto a = send(model_request(kClaude, "converse", converse_body("x"), "drop"));
  EXPECT_TRUE(a.response.abort_connection);
}

TEST_F(SimTest, StreamExceptionFrameHalfWay) {
  auto a = send(model_request(kClaude, "converse-stream", converse_body("[[tokens=6]]"),
                              "stream-exception:modelStreamErrorException"));
  ASSERT_EQ(a.response.status, 200);
  auto frames = decode_frames(a.body).frames;
  ASSERT_FALSE(frames.empty());
  int deltas = 0;
  for (const auto& f : frames) deltas += f.event_type == "contentBlockDelta";
  EXPECT_EQ(deltas, 3);
  const auto& last = frames.back();
  EXPECT_EQ(last.message_type, "exception");
  EXPECT_EQ(last.exception_type, "modelStreamErrorException");
  EXPECT_EQ(last.content_type, "application/json");
  EXPECT_TRUE(last.json().as_object().contains("message"));
}

TEST_F(SimTest, StreamExceptionOnInvokeStream) {
  auto a = send(model_request(kTitan, "invoke-with-response-stream", titan_body("[[tokens=4]]"),
                              "stream-exception:modelTimeoutException"));
  auto frames = decode_frames(a.body).frames;
  ASSERT_EQ(frames.size(), 3u);  // two chunks, then the exception
  EXPECT_EQ(frames[2].exception_type, "modelTimeoutException");
}

TEST_F(SimTest, DropMidStreamCutsAFrame) {
  auto a = send(model_request(kClaude, "converse-stream", converse_body("[[tokens=8]]"), "drop-mid-stream"));
  EXPECT_TRUE(a.threw);
  auto frames = decode_frames(a.body);
  EXPECT_TRUE(frames.partial);
  EXPECT_EQ(frames.frames.size(), 1u + 4u);  // messageStart + 4 deltas
}

TEST_F(SimTest, MidStreamFaultsDoNotApplyToBufferedOperations) {
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x"), "drop-mid-stream")).response.status, 200);
}

TEST_F(SimTest, ScriptedFaultsHitTheNextRequestsInOrder) {
  opts.fault_script = {{Fault{FaultKind::unavailable}, 2}};
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x"))).response.status, 503);
  sim()->script_fault(Fault{FaultKind::throttle}, 1);
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x"))).response.status, 503);
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x"))).response.status, 429);
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x"))).response.status, 200);
}

TEST_F(SimTest, FaultProbabilitiesAreSeeded) {
  opts.fault_rates = {{Fault{FaultKind::internal}, 0.5}};
  opts.seed = 99;
  auto run_once = [&] {
    sim_.reset();
    std::string pattern;
    for (int i = 0; i < 40; ++i)
      pattern += send(model_request(kClaude, "converse", converse_body("x"))).response.status == 500 ? 'F' : '.';
    return pattern;
  };
  const auto first = run_once();
  EXPECT_EQ(run_once(), first);
  const auto failures = std::count(first.begin(), first.end(), 'F');
  EXPECT_GT(failures, 5);
  EXPECT_LT(failures, 35);
}

TEST_F(SimTest, RpmQuotaThrottlesAndRefillsWithTheInjectedClock) {
  ManualClock clock;
  opts.clock = &clock;
  opts.rpm = 2;
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x"))).response.status, 200);
  EXPECT_EQ(send(model_request(kClaude, "invoke", claude_body("x"))).response.status, 200);
  expect_error(send(model_request(kClaude, "converse-stream", converse_body("x"))), 429, "ThrottlingException",
               "Too many requests, please wait before trying again.");
  clock.advance(30s);
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x"))).response.status, 200);
  EXPECT_EQ(sim()->stats().throttled, 1u);
}

TEST_F(SimTest, TpmQuotaReservesMaxTokensAndSettlesUsage) {
  ManualClock clock;
  opts.clock = &clock;
  opts.tpm = 1000;
  // 1 input + 600 max_tokens reserved; 20 output tokens used: 979 left afterwards.
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x", 600))).response.status, 200);
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x", 900))).response.status, 200);
  expect_error(send(model_request(kClaude, "converse", converse_body("x", 990))), 429, "ThrottlingException",
               "Too many tokens, please wait before trying again.");
  // Without maxTokens Converse reserves the default maximum (4096): never fits in 1000.
  expect_error(send(model_request(kClaude, "converse", converse_body("x"))), 429, "ThrottlingException",
               "Too many tokens, please wait before trying again.");
  clock.advance(60s);
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x", 990))).response.status, 200);
  auto s = sim()->stats();
  EXPECT_EQ(s.input_tokens, 3);
  EXPECT_EQ(s.output_tokens, 60);
}

TEST_F(SimTest, StreamCutByTheClientSettlesWhatWasSent) {
  ManualClock clock;
  opts.clock = &clock;
  opts.tpm = 1000;
  // messageStart + 2 deltas written, then the client goes away.
  auto a = send(model_request(kClaude, "converse-stream", converse_body("[[tokens=10]]", 900)), 3);
  EXPECT_EQ(decode_frames(a.body).frames.size(), 3u);
  auto s = sim()->stats();
  EXPECT_EQ(s.output_tokens, 2);
  EXPECT_EQ(s.succeeded, 0u);
  EXPECT_EQ(s.in_flight, 0);
  // The reservation was given back: 1000 - (4 + 2) is available again.
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x", 990))).response.status, 200);
}

TEST_F(SimTest, DailyCap) {
  ManualClock clock;
  opts.clock = &clock;
  opts.tokens_per_day = 100;
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x", 50))).response.status, 200);  // charged 21
  expect_error(send(model_request(kClaude, "converse", converse_body("x", 90))), 429, "ThrottlingException",
               "Too many tokens per day, please wait before trying again.");
  clock.advance(24h);
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x", 90))).response.status, 200);
}

TEST_F(SimTest, AuthorizationIsRequired) {
  auto req = model_request(kClaude, "converse", converse_body("x"));
  req.headers.remove("Authorization");
  auto a = send(std::move(req));
  EXPECT_EQ(a.response.status, 403);
  EXPECT_EQ(header(a, "x-amzn-ErrorType"),
            "MissingAuthenticationTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/");
  req = model_request(kClaude, "converse", converse_body("x"));
  req.headers.set("Authorization", "Basic dXNlcjpwYXNz");
  EXPECT_EQ(send(std::move(req)).response.status, 400);
  req = model_request(kClaude, "converse", converse_body("x"));
  req.headers.set("Authorization", "Bearer bedrock-api-key-xyz");
  EXPECT_EQ(send(std::move(req)).response.status, 200);
  EXPECT_EQ(sim()->stats().auth_failures, 2u);
}

TEST_F(SimTest, ABedrockApiKeyIsCheckedAndItsSchemeCounted) {
  opts.api_key = "ABSK-sim-key";
  auto bearer = [](std::string token) {
    auto req = model_request(kClaude, "converse", converse_body("x"));
    req.headers.remove("X-Amz-Date");
    req.headers.set("Authorization", "Bearer " + token);
    return req;
  };
  EXPECT_EQ(send(bearer("ABSK-sim-key")).response.status, 200);
  auto wrong = send(bearer("ABSK-other"));
  EXPECT_EQ(wrong.response.status, 403);
  EXPECT_EQ(header(wrong, "x-amzn-ErrorType"),
            "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/");
  auto mixed = bearer("ABSK-sim-key");
  mixed.headers.set("X-Amz-Security-Token", "session");  // a client that signs and sends a key
  EXPECT_EQ(send(std::move(mixed)).response.status, 200);
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x"))).response.status, 200);  // SigV4 still works
  const auto st = sim()->stats();
  EXPECT_EQ(st.auth_schemes.at("bearer"), 2u);
  EXPECT_EQ(st.auth_schemes.at("sigv4"), 1u);
  EXPECT_EQ(st.bearer_with_sigv4_headers, 1u);
  EXPECT_EQ(st.auth_failures, 1u);
  const auto j = json::parse(to_json(st));
  EXPECT_EQ(j.at("auth_schemes").at("bearer"), 2);
  EXPECT_EQ(j.at("bearer_with_sigv4_headers"), 1);
}

std::string count_body(std::string_view text) {
  return R"({"input":{"converse":)" + converse_body(text) + "}}";
}

TEST_F(SimTest, CountTokensCountsAsConverseReportsUsageAndIsFree) {
  opts.rpm = 1;  // one Converse call a minute; CountTokens takes none of it
  const std::string text = "How many tokens are in this sentence, roughly?";
  auto converse = send(model_request(kClaude, "converse", converse_body(text)));
  ASSERT_EQ(converse.response.status, 200) << converse.body;
  const auto usage = json::parse(converse.body).at("usage").at("inputTokens").as_int64();
  for (int i = 0; i < 3; ++i) {
    auto a = send(model_request(kClaude, "count-tokens", count_body(text)));
    ASSERT_EQ(a.response.status, 200) << a.body;
    EXPECT_EQ(json::parse(a.body), json::parse(R"({"inputTokens":)" + std::to_string(usage) + "}"));
  }
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body(text))).response.status, 429);
  const auto st = sim()->stats();
  EXPECT_EQ(st.requests.at("CountTokens"), 3u);
  EXPECT_EQ(st.input_tokens, usage);  // counting is not usage
}

TEST_F(SimTest, CountTokensRefusesModelsWithoutCountingAndMalformedBodies) {
  auto titan = send(model_request(kTitan, "count-tokens", count_body("x")));
  expect_error(titan, 400, "ValidationException", "The provided model doesn't support counting tokens.");
  expect_error(send(model_request(kClaude, "count-tokens", converse_body("x"))), 400, "ValidationException");
  expect_error(send(model_request(kClaude, "count-tokens", R"({"input":{"converse":{"messages":[],"inferenceConfig":{}}}})")),
               400, "ValidationException");
  auto unsigned_req = model_request(kClaude, "count-tokens", count_body("x"));
  unsigned_req.headers.remove("Authorization");
  EXPECT_EQ(send(std::move(unsigned_req)).response.status, 403);
}

// Signs like a real client with aws::sign_request, then hands the result to the simulator.
net::ServerRequest signed_request(const aws::Credentials& creds, WallTime when, std::string body,
                                  std::string_view op = "converse") {
  net::HttpRequest http;
  http.method = "POST";
  const std::string path = "/model/" + net::uri_encode(kClaude) + "/" + std::string(op);
  http.url = "http://127.0.0.1:4000" + path;
  http.headers.add("Content-Type", "application/json");
  http.headers.add("User-Agent", "test/1.0");  // not signed
  http.body = std::move(body);
  aws::sign_request(http, creds, aws::SigningParams{.region = "us-east-1", .service = "bedrock", .time = when});
  net::ServerRequest req;
  req.method = http.method;
  req.path = path;
  req.target = path;
  req.headers = http.headers;
  req.body = http.body;
  return req;
}

TEST_F(SimTest, SigV4IsVerifiedWithConfiguredCredentials) {
  ManualClock clock;
  opts.clock = &clock;
  opts.access_key_id = "AKIDEXAMPLE";
  opts.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  const aws::Credentials good{.access_key_id = "AKIDEXAMPLE", .secret_access_key = opts.secret_access_key};
  EXPECT_EQ(send(signed_request(good, clock.wall(), converse_body("x"))).response.status, 200);

  // With a session token, it is signed too.
  auto with_token = good;
  with_token.session_token = "session-token";
  EXPECT_EQ(send(signed_request(with_token, clock.wall(), converse_body("x"))).response.status, 200);

  auto wrong_secret = good;
  wrong_secret.secret_access_key = "not-the-secret";
  auto a = send(signed_request(wrong_secret, clock.wall(), converse_body("x")));
  EXPECT_EQ(a.response.status, 403);
  EXPECT_EQ(header(a, "x-amzn-ErrorType"),
            "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/");
  EXPECT_TRUE(std::string_view(json::parse(a.body).at("message").as_string())
                  .starts_with("The request signature we calculated does not match the signature you provided."));

  // A body changed after signing.
  auto tampered = signed_request(good, clock.wall(), converse_body("x"));
  tampered.body = converse_body("y");
  EXPECT_EQ(send(std::move(tampered)).response.status, 403);

  auto unknown = good;
  unknown.access_key_id = "AKIDOTHER";
  a = send(signed_request(unknown, clock.wall(), converse_body("x")));
  EXPECT_EQ(a.response.status, 403);
  EXPECT_TRUE(header(a, "x-amzn-ErrorType").starts_with("UnrecognizedClientException:"));

  // Signed 6 minutes ago: expired.
  a = send(signed_request(good, clock.wall() - 6min, converse_body("x")));
  EXPECT_EQ(a.response.status, 403);
  EXPECT_TRUE(std::string_view(json::parse(a.body).at("message").as_string()).starts_with("Signature expired: "));
  EXPECT_EQ(sim()->stats().auth_failures, 4u);
}

TEST_F(SimTest, StatsAndAdminEndpoints) {
  send(model_request(kClaude, "converse", converse_body("[[tokens=5]]")));
  send(model_request(kClaude, "converse-stream", converse_body("[[tokens=5]]")));
  send(model_request(kClaude, "converse", converse_body("x"), "throttle"));
  net::ServerRequest get;
  get.method = "GET";
  get.path = get.target = "/sim/stats";
  auto a = send(get);
  ASSERT_EQ(a.response.status, 200);
  auto s = json::parse(a.body).as_object();
  EXPECT_EQ(s.at("requests").at("Converse").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(s.at("requests").at("ConverseStream").to_number<std::uint64_t>(), 1u);
  EXPECT_EQ(s.at("succeeded").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(s.at("throttled").to_number<std::uint64_t>(), 1u);
  EXPECT_EQ(s.at("output_tokens").as_int64(), 10);
  EXPECT_EQ(s.at("faults").at("throttle").to_number<std::uint64_t>(), 1u);

  net::ServerRequest fault;
  fault.method = "POST";
  fault.path = "/sim/fault";
  fault.query = "kind=503&count=2";
  fault.target = fault.path + "?" + fault.query;
  EXPECT_EQ(send(fault).response.status, 200);
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x"))).response.status, 503);

  net::ServerRequest reset;
  reset.method = "POST";
  reset.path = reset.target = "/sim/reset";
  EXPECT_EQ(send(reset).response.status, 200);
  EXPECT_EQ(send(model_request(kClaude, "converse", converse_body("x"))).response.status, 200);  // script cleared
  auto after = sim()->stats();
  EXPECT_EQ(after.requests_total, 1u);
  EXPECT_EQ(after.throttled, 0u);
}

TEST_F(SimTest, UnknownRoutes) {
  auto a = send(model_request(kClaude, "explode", "{}"));
  EXPECT_EQ(a.response.status, 404);
  net::ServerRequest get;
  get.method = "GET";
  get.path = get.target = "/model/x/converse";
  EXPECT_EQ(send(get).response.status, 404);
}

// Latency uses timers: many requests wait at once on one thread.
TEST_F(SimTest, ConcurrentRequestsWaitOnTimersNotThreads) {
  opts.ttft = 500ms;  // long enough that every request is waiting before the first timer fires
  auto* s = sim();
  int done = 0;
  constexpr int kRequests = 1000;
  for (int i = 0; i < kRequests; ++i) {
    boost::asio::co_spawn(
        io,
        [&, i]() -> boost::asio::awaitable<void> {
          auto a = co_await call(*s, model_request(kClaude, i % 2 ? "converse" : "converse-stream",
                                                   converse_body("[[tokens=3]]")));
          if (a.response.status == 200) ++done;
        },
        boost::asio::detached);
  }
  io.run();
  EXPECT_EQ(done, kRequests);
  EXPECT_EQ(s->stats().peak_in_flight, kRequests);
  EXPECT_EQ(s->stats().in_flight, 0);
}

}  // namespace
}  // namespace ba::sim

namespace ba::sim {
namespace {

TEST_F(SimTest, StatsCountTheContentBlocksOtherThanText) {
  const std::string body = R"({"messages": [{"role": "user", "content": [
      {"document": {"format": "txt", "name": "notes", "source": {"bytes": "aGk="}}},
      {"image": {"format": "png", "source": {"bytes": "aGk="}}},
      {"document": {"format": "txt", "name": "more", "source": {"bytes": "aGk="}}},
      {"text": "what do they say?"}]}]})";
  auto r = send(model_request(kClaude, "converse", body));
  ASSERT_EQ(r.response.status, 200) << r.body;
  auto s = sim()->stats();
  EXPECT_EQ(s.content_blocks["document"], 2u);
  EXPECT_EQ(s.content_blocks["image"], 1u);
  EXPECT_EQ(s.content_blocks.count("text"), 0u);
}

}  // namespace
}  // namespace ba::sim
