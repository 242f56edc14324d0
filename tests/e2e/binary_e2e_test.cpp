// Runs the real bedrock-agent binary: serve --simulate --port 0, then /health, /chat, SIGTERM.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "e2e/e2e_harness.hpp"
#include "support/child_process.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;

std::string binary() { return std::string(BA_BINARY_DIR) + "/bedrock-agent"; }

net::HttpResponse call(boost::asio::io_context& io, net::HttpClient& client, net::HttpRequest req) {
  std::optional<Result<net::HttpResponse>> out;
  boost::asio::co_spawn(io, client.send(std::move(req)), [&](std::exception_ptr, Result<net::HttpResponse> r) {
    out = std::move(r);
    io.stop();
  });
  io.restart();
  io.run();
  if (!out || !*out) throw std::runtime_error("request failed");
  return std::move(**out);
}

// The first log line whose msg is `msg` ("listening", "simulator listening"), as an object; nullopt if
// the process ended first.
std::optional<json::object> first_line(Child& child, std::string_view msg) {
  while (auto l = child.line()) {
    auto v = json::parse(*l);
    if (v.is_object() && v.as_object().contains("msg") && v.at("msg").as_string() == msg) return v.as_object();
  }
  return std::nullopt;
}

std::optional<int> listening_port(Child& child, std::string_view msg) {
  auto line = first_line(child, msg);
  if (!line) return std::nullopt;
  return static_cast<int>(line->at("port").to_number<int>());
}

TEST(BinaryE2E, ServeSimulateAnswersAndStopsCleanlyOnSigterm) {
  auto dir = std::filesystem::temp_directory_path() / ("ba-bin-" + uuid_v4());
  Child child({binary(), "serve", "--simulate", "--port", "0", "--history", "sqlite:" + (dir / "h.db").string()});
  auto listening = first_line(child, "listening");
  ASSERT_TRUE(listening) << child.rest();
  auto port = listening->at("port").to_number<int>();
  ASSERT_GT(port, 0);
  EXPECT_EQ(listening->at("credentials").as_string(), "static (simulator)");
  EXPECT_TRUE(listening->at("simulate").as_bool());

  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  std::string base = "http://127.0.0.1:" + std::to_string(port);
  auto h = call(io, *client, net::HttpRequest{.method = "GET", .url = base + "/health"});
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(json::parse(h.body).at("status").as_string(), "ok");
  auto c = call(io, *client,
                net::HttpRequest{.method = "POST",
                                 .url = base + "/chat",
                                 .headers = {{"Content-Type", "application/json"}},
                                 .body = R"({"input": "echo:hello from the binary"})"});
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(json::parse(c.body).at("response").as_string(), "hello from the binary");
  client.reset();

  // The request log line of that chat.
  bool saw_chat_log = false;
  while (auto l = child.line()) {
    auto v = json::parse(*l);
    if (v.is_object() && v.as_object().contains("route") && v.at("route").as_string() == "/chat") {
      saw_chat_log = true;
      EXPECT_EQ(v.at("status").as_int64(), 200);
      EXPECT_EQ(l->find("hello from the binary"), std::string::npos);
      break;
    }
  }
  EXPECT_TRUE(saw_chat_log);

  child.signal(SIGTERM);
  EXPECT_EQ(child.wait_exit(), 0);
  EXPECT_TRUE(std::filesystem::exists(dir / "h.db"));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// --idle-timeout reaches the server: every kept-open answer announces it, so that clients retire an idle
// connection before the agent closes it (and a load balancer's own timeout can be set below it).
TEST(BinaryE2E, IdleTimeoutIsAnnouncedOnKeptConnections) {
  Child child({binary(), "serve", "--simulate", "--port", "0", "--history", "none", "--idle-timeout", "7"});
  auto listening = first_line(child, "listening");
  ASSERT_TRUE(listening) << child.rest();
  const std::string base = "http://127.0.0.1:" + std::to_string(listening->at("port").to_number<int>());
  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  auto h = call(io, *client, net::HttpRequest{.method = "GET", .url = base + "/health"});
  EXPECT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(h.headers.get("Keep-Alive"), "timeout=7");
  EXPECT_EQ(h.headers.get("Connection"), "keep-alive");
  client.reset();
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait_exit(), 0);
}

// serve gives the chat use case its idempotency store (on the history backend): a repeat with the same
// Idempotency-Key is the stored answer, byte for byte; the same key with another body is 422.
TEST(BinaryE2E, IdempotencyKeysAreWiredIntoServe) {
  auto dir = std::filesystem::temp_directory_path() / ("ba-bin-" + uuid_v4());
  Child child({binary(), "serve", "--simulate", "--port", "0", "--history", "sqlite:" + (dir / "h.db").string()});
  auto port = listening_port(child, "listening");
  ASSERT_TRUE(port) << child.rest();
  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  const std::string url = "http://127.0.0.1:" + std::to_string(*port) + "/chat";
  auto chat = [&](std::string body) {
    return call(io, *client,
                net::HttpRequest{.method = "POST",
                                 .url = url,
                                 .headers = {{"Content-Type", "application/json"}, {"Idempotency-Key", "key-1"}},
                                 .body = std::move(body)});
  };
  auto first = chat(R"({"input": "echo:only once"})");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_FALSE(first.headers.has("Idempotent-Replayed"));
  auto repeat = chat(R"({"input": "echo:only once"})");
  EXPECT_EQ(repeat.status, 200) << repeat.body;
  EXPECT_EQ(repeat.headers.get("Idempotent-Replayed"), "true");
  EXPECT_EQ(repeat.body, first.body);
  auto reused = chat(R"({"input": "echo:something else"})");
  EXPECT_EQ(reused.status, 422) << reused.body;
  client.reset();
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait_exit(), 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// Issue 3 through the real binary: the rate-limit flags reach the limiter that serve wires in.
TEST(BinaryE2E, RateLimitFlagsAreWiredIntoServe) {
  auto dir = std::filesystem::temp_directory_path() / ("ba-bin-" + uuid_v4());
  Child child({binary(), "serve", "--simulate", "--port", "0", "--history", "sqlite:" + (dir / "h.db").string(),
               "--max-rpm", "1", "--max-tokens-clamp", "100", "--retry-max-attempts", "2", "--retry-base-ms", "1",
               "--request-timeout", "20"});
  auto listening = first_line(child, "listening");
  ASSERT_TRUE(listening) << child.rest();
  EXPECT_EQ(listening->at("max_tokens_clamp").as_int64(), 100);
  std::string base = "http://127.0.0.1:" + std::to_string(listening->at("port").to_number<int>());

  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  auto h = json::parse(call(io, *client, net::HttpRequest{.method = "GET", .url = base + "/health"}).body);
  EXPECT_EQ(h.at("rate_limit").at("max_rpm").to_number<double>(), 1.0) << h;
  EXPECT_EQ(h.at("rate_limit").at("retry_max_attempts").as_int64(), 2) << h;
  EXPECT_EQ(h.at("rate_limit").at("default_deadline_ms").as_int64(), 20'000) << h;
  EXPECT_TRUE(h.at("rate_limit").at("adaptive").as_bool()) << h;
  EXPECT_EQ(h.at("rate_limit").at("budget").as_string(), "per_process") << h;

  auto c = call(io, *client,
                net::HttpRequest{.method = "POST",
                                 .url = base + "/chat",
                                 .headers = {{"Content-Type", "application/json"}},
                                 .body = R"({"input": "echo:clamped", "max_tokens": 5000})"});
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(json::parse(c.body).at("max_tokens").as_int64(), 100);

  // --max-rpm 1: the next request cannot be admitted within 300 ms.
  auto limited = call(io, *client,
                      net::HttpRequest{.method = "POST",
                                       .url = base + "/chat",
                                       .headers = {{"Content-Type", "application/json"}, {"X-Request-Timeout-Ms", "300"}},
                                       .body = R"({"input": "echo:too soon"})"});
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(json::parse(limited.body).at("error").at("type").as_string(), "rate_limited");
  EXPECT_TRUE(limited.headers.get("retry-after"));
  auto m = call(io, *client, net::HttpRequest{.method = "GET", .url = base + "/metrics"});
  EXPECT_NE(m.body.find("ba_rate_limited_total{model=\"anthropic.claude-3-sonnet-20240229-v1:0\"} 1"), std::string::npos)
      << m.body;
  client.reset();

  child.signal(SIGTERM);
  EXPECT_EQ(child.wait_exit(), 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// `--history none`: a stateless proxy through the real binary. Chats answer, the request log still
// comes out (batched), and a request that needs stored history gets a 400 that says why.
TEST(BinaryE2E, HistoryNoneAnswersStandaloneChatsAndRefusesHistory) {
  Child child({binary(), "serve", "--simulate", "--port", "0", "--history", "none"});
  auto listening = first_line(child, "listening");
  ASSERT_TRUE(listening) << child.rest();
  EXPECT_EQ(listening->at("history").as_string(), "none");
  const int port = static_cast<int>(listening->at("port").to_number<int>());
  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/chat";
  auto chat = [&](std::string body) {
    return call(io, *client,
                net::HttpRequest{.method = "POST", .url = url, .headers = {{"Content-Type", "application/json"}},
                                 .body = std::move(body)});
  };
  auto first = chat(R"({"input": "echo:one"})");
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string id(json::parse(first.body).at("conversation_id").as_string());
  auto standalone = chat(R"({"input": "echo:two", "include_history": false, "conversation_id": ")" + id + R"("})");
  EXPECT_EQ(standalone.status, 200) << standalone.body;
  auto refused = chat(R"({"input": "echo:three", "conversation_id": ")" + id + R"("})");
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_NE(refused.body.find("--history none"), std::string::npos) << refused.body;
  client.reset();

  int logged = 0;
  while (logged < 3) {
    auto l = child.line();
    ASSERT_TRUE(l) << "the request log lines never came";
    auto v = json::parse(*l);
    if (v.is_object() && v.as_object().contains("route") && v.at("route").as_string() == "/chat") ++logged;
  }
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait_exit(), 0);
}

TEST(BinaryE2E, RefusesAPublicAddressWithoutKeys) {
  Child child({binary(), "serve", "--host", "0.0.0.0", "--port", "0", "--history", "sqlite::memory:"});
  std::string err = child.rest();
  EXPECT_EQ(child.wait_exit(), 2);
  EXPECT_NE(err.find("--api-keys-file"), std::string::npos) << err;
  EXPECT_NE(err.find("--allow-anonymous"), std::string::npos) << err;
}

TEST(BinaryE2E, BadOptionsExitWith2) {
  {
    Child child({binary(), "serve", "--api", "nope"});
    std::string err = child.rest();
    EXPECT_EQ(child.wait_exit(), 2) << err;
  }
  {
    Child child({binary(), "serve", "--model-id", "not a model id!", "--history", "sqlite::memory:"});
    std::string err = child.rest();
    EXPECT_EQ(child.wait_exit(), 2) << err;
    EXPECT_NE(err.find("--model-id"), std::string::npos) << err;
  }
  {
    Child child({binary(), "serve", "--max-rpm", "0", "--history", "sqlite::memory:"});
    std::string err = child.rest();
    EXPECT_EQ(child.wait_exit(), 2) << err;
    EXPECT_NE(err.find("--max-rpm"), std::string::npos) << err;
  }
  {
    Child child({binary(), "serve", "--history", "postgres://x"});
    std::string err = child.rest();
    EXPECT_EQ(child.wait_exit(), 2) << err;
    EXPECT_NE(err.find("sqlite:PATH"), std::string::npos) << err;
  }
}

// serve behind a Bedrock (the simulator, as its own process) answering after `ttft_ms`; SIGTERM while
// a chat is in flight. Returns the chat's status (-1: the connection was closed) and how long the
// process took to exit after the signal.
struct DrainRun {
  int status = 0;
  std::string body;
  std::string retry_after;
  std::chrono::steady_clock::duration exit_after{};
  int exit_code = -1;
};

// With `stream`, the chat is streamed and the model takes `per_token_ms` a token (the signal goes at
// `signal_ms`, once deltas are flowing).
struct DrainChat {
  bool stream = false;
  int per_token_ms = 0;
  int signal_ms = 0;  // 0: ttft_ms / 3
};

DrainRun sigterm_during_a_chat(const std::filesystem::path& db, int ttft_ms, int drain_s,
                               const std::string& idempotency_key = {}, DrainChat shape = {}) {
  Child sim({binary(), "simulate-bedrock", "--port", "0", "--ttft-ms", std::to_string(ttft_ms), "--per-token-ms",
             std::to_string(shape.per_token_ms)});
  auto sim_port = listening_port(sim, "simulator listening");
  if (!sim_port) throw std::runtime_error("simulator did not start: " + sim.rest());
  Child agent({binary(), "serve", "--port", "0", "--history", "sqlite:" + db.string(), "--drain-timeout",
               std::to_string(drain_s)},
              {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:" + std::to_string(*sim_port),
               "AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_REGION=us-east-1",
               "AWS_PROFILE=none-such"});
  auto port = listening_port(agent, "listening");
  if (!port) throw std::runtime_error("agent did not start: " + agent.rest());

  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  DrainRun run;
  bool done = false;
  net::HttpRequest chat{.method = "POST",
                        .url = "http://127.0.0.1:" + std::to_string(*port) + "/chat",
                        .headers = {{"Content-Type", "application/json"}},
                        .body = shape.stream ? R"({"input": "echo:drained while it streamed its many words", "conversation_id": "drain-1", "stream": true})"
                                             : R"({"input": "echo:drained", "conversation_id": "drain-1"})"};
  if (!idempotency_key.empty()) chat.headers.set("Idempotency-Key", idempotency_key);
  boost::asio::co_spawn(io, client->send(std::move(chat)), [&](std::exception_ptr, Result<net::HttpResponse> r) {
    run.status = r ? r->status : -1;
    if (r) {
      run.body = r->body;
      if (auto ra = r->headers.get("Retry-After")) run.retry_after = std::string(*ra);
    }
    done = true;
  });
  // The signal goes once the chat is in flight (the model answers after ttft_ms).
  boost::asio::steady_timer signal_at(io, std::chrono::milliseconds(shape.signal_ms ? shape.signal_ms : ttft_ms / 3));
  std::chrono::steady_clock::time_point signalled;
  signal_at.async_wait([&](boost::system::error_code) {
    signalled = std::chrono::steady_clock::now();
    agent.signal(SIGTERM);
  });
  io.run();
  EXPECT_TRUE(done);
  run.exit_code = agent.wait_exit();
  run.exit_after = std::chrono::steady_clock::now() - signalled;
  return run;
}

// SIGTERM stops accepting and lets the chat in flight finish (its answer and its saved turn), then the
// process exits as soon as nothing is left, well before the drain timeout.
TEST(BinaryE2E, SigtermLetsAChatInFlightFinishThenExits) {
  auto dir = std::filesystem::temp_directory_path() / ("ba-bin-" + uuid_v4());
  std::filesystem::create_directories(dir);
  // The model answers 3 s after the signal: longer than a fixed short grace would wait.
  auto run = sigterm_during_a_chat(dir / "h.db", 4500, 20);
  EXPECT_EQ(run.status, 200) << run.body;
  EXPECT_EQ(json::parse(run.body).at("response").as_string(), "drained");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_LT(run.exit_after, std::chrono::seconds(15));  // not the whole 20 s drain
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// A chat still running when the drain timeout ends is cancelled: the Bedrock call is aborted (the model
// would answer 10 s after the signal; the process exits long before), the caller gets a clean 503 it may
// retry, nothing is saved (no half turn) and its Idempotency-Key claim is released, not left in progress.
TEST(BinaryE2E, AChatPastTheDrainTimeoutIsCancelledWithNothingSaved) {
  auto dir = std::filesystem::temp_directory_path() / ("ba-bin-" + uuid_v4());
  std::filesystem::create_directories(dir);
  auto run = sigterm_during_a_chat(dir / "h.db", 15000, 1, "drain-key-1");
  ASSERT_EQ(run.status, 503) << run.body;
  auto error = json::parse(run.body).at("error");
  EXPECT_EQ(error.at("type").as_string(), "unavailable") << run.body;
  EXPECT_NE(std::string(error.at("message").as_string()).find("shutting down"), std::string::npos) << run.body;
  EXPECT_EQ(run.retry_after, "1");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_LT(run.exit_after, std::chrono::seconds(8));  // 1 s drain, then the cancellation; not the model's 10 s
  // Restarted on the same file: the conversation was never written.
  Child again({binary(), "serve", "--simulate", "--port", "0", "--history", "sqlite:" + (dir / "h.db").string()});
  auto port = listening_port(again, "listening");
  ASSERT_TRUE(port) << again.rest();
  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  auto got = call(io, *client,
                  net::HttpRequest{.method = "GET",
                                   .url = "http://127.0.0.1:" + std::to_string(*port) + "/conversations/drain-1"});
  EXPECT_EQ(got.status, 404) << got.body;
  // The repeat with the same Idempotency-Key runs (a claim left in progress would answer 409 until it
  // expired) and is answered and saved once.
  auto repeat = call(io, *client,
                     net::HttpRequest{.method = "POST",
                                      .url = "http://127.0.0.1:" + std::to_string(*port) + "/chat",
                                      .headers = {{"Content-Type", "application/json"}, {"Idempotency-Key", "drain-key-1"}},
                                      .body = R"({"input": "echo:drained", "conversation_id": "drain-1"})"});
  EXPECT_EQ(repeat.status, 200) << repeat.body;
  got = call(io, *client,
             net::HttpRequest{.method = "GET",
                              .url = "http://127.0.0.1:" + std::to_string(*port) + "/conversations/drain-1"});
  EXPECT_EQ(got.status, 200) << got.body;
  client.reset();
  again.signal(SIGTERM);
  EXPECT_EQ(again.wait_exit(), 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// A stream under way when the drain timeout ends: the caller has its first deltas, then the stream ends
// with an error event it may retry on (its status, 200, went out long before); the Bedrock call is
// aborted, nothing is saved and the Idempotency-Key is released.
TEST(BinaryE2E, AStreamPastTheDrainTimeoutEndsWithAnErrorEventAndNothingSaved) {
  auto dir = std::filesystem::temp_directory_path() / ("ba-bin-" + uuid_v4());
  std::filesystem::create_directories(dir);
  // 8 words at 1.5 s each: the stream runs for 12 s; the signal at 2 s, the 1 s drain ends at 3 s.
  auto run = sigterm_during_a_chat(dir / "h.db", 100, 1, "drain-key-2", DrainChat{.stream = true, .per_token_ms = 1500, .signal_ms = 2000});
  ASSERT_EQ(run.status, 200) << run.body;
  EXPECT_NE(run.body.find("event: delta"), std::string::npos) << run.body;  // deltas before the drain ended
  EXPECT_EQ(run.body.find("event: done"), std::string::npos) << run.body;
  const auto error_at = run.body.rfind("event: error");
  ASSERT_NE(error_at, std::string::npos) << run.body;
  EXPECT_NE(run.body.find("shutting down", error_at), std::string::npos) << run.body;
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_LT(run.exit_after, std::chrono::seconds(8));  // not the stream's 12 s

  Child again({binary(), "serve", "--simulate", "--port", "0", "--history", "sqlite:" + (dir / "h.db").string()});
  auto port = listening_port(again, "listening");
  ASSERT_TRUE(port) << again.rest();
  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  const std::string base = "http://127.0.0.1:" + std::to_string(*port);
  EXPECT_EQ(call(io, *client, net::HttpRequest{.method = "GET", .url = base + "/conversations/drain-1"}).status, 404);
  auto repeat = call(io, *client,
                     net::HttpRequest{.method = "POST",
                                      .url = base + "/chat",
                                      .headers = {{"Content-Type", "application/json"}, {"Idempotency-Key", "drain-key-2"}},
                                      .body = R"({"input": "echo:again", "conversation_id": "drain-1"})"});
  EXPECT_EQ(repeat.status, 200) << repeat.body;  // the key was released, not left in progress (409)
  client.reset();
  again.signal(SIGTERM);
  EXPECT_EQ(again.wait_exit(), 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// serve --simulate with two targets in two regions: a simulator per region (in the start-up line), and
// the answer names the target that served.
TEST(BinaryE2E, TargetsInTwoRegionsAreWiredIntoServe) {
  Child child({binary(), "serve", "--simulate", "--port", "0", "--history", "none", "--target",
               "model=anthropic.claude-3-haiku-20240307-v1:0 region=us-east-1 rpm=1", "--target",
               "model=anthropic.claude-3-haiku-20240307-v1:0,region=eu-west-1,rpm=100"});
  auto listening = first_line(child, "listening");
  ASSERT_TRUE(listening) << child.rest();
  EXPECT_EQ(listening->at("model").as_string(), "anthropic.claude-3-haiku-20240307-v1:0");
  const auto& targets = listening->at("targets").as_array();
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[1].at("region").as_string(), "eu-west-1");
  EXPECT_NE(targets[0].at("endpoint").as_string(), targets[1].at("endpoint").as_string());

  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  const std::string url = "http://127.0.0.1:" + std::to_string(listening->at("port").to_number<int>()) + "/chat";
  std::vector<std::string> regions;
  for (int i = 0; i < 2; ++i) {  // us-east-1 has 1 request per minute: the second goes to eu-west-1
    auto c = call(io, *client,
                  net::HttpRequest{.method = "POST",
                                   .url = url,
                                   .headers = {{"Content-Type", "application/json"}},
                                   .body = R"({"input": "echo:hi"})"});
    ASSERT_EQ(c.status, 200) << c.body;
    regions.emplace_back(json::parse(c.body).at("served_by").at("region").as_string());
  }
  EXPECT_EQ(regions, (std::vector<std::string>{"us-east-1", "eu-west-1"}));
  client.reset();
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait_exit(), 0);
}

// /health shows each target's state: a circuit opened by a 503 (--circuit-failures 1), then a target
// whose model is reported missing (ResourceNotFoundException) out of rotation. Faults are scripted in the
// region simulators that --simulate starts (their URLs are in the listening line).
TEST(BinaryE2E, HealthShowsEachTargetsCircuitAndRotation) {
  Child child({binary(), "serve", "--simulate", "--port", "0", "--history", "none", "--circuit-failures", "1",
               "--target", "model=anthropic.claude-3-haiku-20240307-v1:0 region=us-east-1", "--target",
               "model=anthropic.claude-3-haiku-20240307-v1:0 region=eu-west-1 weight=1"});
  auto listening = first_line(child, "listening");
  ASSERT_TRUE(listening) << child.rest();
  const auto& targets = listening->at("targets").as_array();
  ASSERT_EQ(targets.size(), 2u);
  const std::string east(targets[0].at("endpoint").as_string()), west(targets[1].at("endpoint").as_string());
  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  const std::string base = "http://127.0.0.1:" + std::to_string(listening->at("port").to_number<int>());
  auto post = [&](std::string url) { return call(io, *client, net::HttpRequest{.method = "POST", .url = std::move(url)}); };
  auto chat = [&] {
    auto c = call(io, *client,
                  net::HttpRequest{.method = "POST",
                                   .url = base + "/chat",
                                   .headers = {{"Content-Type", "application/json"}},
                                   .body = R"({"input": "echo:hi"})"});
    EXPECT_EQ(c.status, 200) << c.body;
    return std::string(json::parse(c.body).at("served_by").at("region").as_string());
  };
  auto health = [&] { return json::parse(call(io, *client, net::HttpRequest{.method = "GET", .url = base + "/health"}).body); };

  auto h = health();
  ASSERT_TRUE(h.as_object().contains("targets")) << h;
  EXPECT_EQ(h.at("targets").at(0).at("circuit").as_string(), "closed") << h;
  EXPECT_TRUE(h.at("targets").at(0).at("in_rotation").as_bool()) << h;

  ASSERT_EQ(post(east + "/sim/fault?kind=503&count=1").status, 200);
  EXPECT_EQ(chat(), "eu-west-1");
  h = health();
  EXPECT_EQ(h.at("targets").at(0).at("circuit").as_string(), "open") << h;
  EXPECT_EQ(h.at("status").as_string(), "ok") << h;

  ASSERT_EQ(post(west + "/sim/fault?kind=not-found&count=1").status, 200);
  EXPECT_EQ(chat(), "us-east-1");  // eu-west-1 out of rotation; us-east-1 (circuit open) is the one left
  h = health();
  EXPECT_FALSE(h.at("targets").at(1).at("in_rotation").as_bool()) << h;
  EXPECT_EQ(h.at("targets").at(0).at("circuit").as_string(), "closed") << h;  // its success closed it
  client.reset();
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait_exit(), 0);
}

TEST(BinaryE2E, BadTargetsExitWith2NamingTheFlagOrTheLine) {
  {
    Child child({binary(), "serve", "--history", "none", "--target", "region=us-east-1 rmp=5"});
    std::string err = child.rest();
    EXPECT_EQ(child.wait_exit(), 2) << err;
    EXPECT_NE(err.find("--target 'region=us-east-1 rmp=5': unknown key 'rmp'"), std::string::npos) << err;
  }
  auto dir = std::filesystem::temp_directory_path() / ("ba-bin-" + uuid_v4());
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "targets.conf").string();
  {
    std::ofstream(file) << "# regions\nregion=us-east-1 rpm=600\nregion=us-west-2 tpm=lots\n";
    Child child({binary(), "serve", "--history", "none", "--targets-file", file});
    std::string err = child.rest();
    EXPECT_EQ(child.wait_exit(), 2) << err;
    EXPECT_NE(err.find(file + ":3: tpm=lots is not a number"), std::string::npos) << err;
  }
  {
    std::ofstream(file) << "region=us-east-1\nregion=us-east-1 rpm=5\n";
    Child child({binary(), "serve", "--history", "none", "--targets-file", file});
    std::string err = child.rest();
    EXPECT_EQ(child.wait_exit(), 2) << err;
    EXPECT_NE(err.find("given twice"), std::string::npos) << err;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// --max-rpm/--max-tpm auto through the real binary: each target's budgets come from its region's Service
// Quotas (here a separate simulator, `simulate-bedrock --rpm 2`, whose catalogue says 2 requests per
// minute, read through quotas_endpoint= with a verified SigV4 signature), and they are the budgets served.
TEST(BinaryE2E, AutoQuotasAreReadAtStartUpAndBecomeTheTargetsBudgets) {
  Child quotas({binary(), "simulate-bedrock", "--port", "0", "--rpm", "2", "--tpm", "90000", "--access-key-id",
                "AKIDSIMULATOR00000000", "--secret-access-key", "simulator-secret-key-not-a-real-secret", "--region",
                "us-east-1"});
  auto quotas_port = listening_port(quotas, "simulator listening");
  ASSERT_TRUE(quotas_port) << quotas.rest();
  const std::string quotas_url = "http://127.0.0.1:" + std::to_string(*quotas_port);
  Child child({binary(), "serve", "--simulate", "--port", "0", "--history", "none", "--max-rpm", "auto:100",
               "--max-tpm", "auto", "--target",
               "model=anthropic.claude-3-haiku-20240307-v1:0 region=us-east-1 quotas_endpoint=" + quotas_url,
               "--target", "model=anthropic.claude-3-haiku-20240307-v1:0 region=eu-west-1 rpm=7 tpm=auto:1234 quotas_endpoint=http://127.0.0.1:1"});
  std::vector<std::string> warnings;
  std::optional<json::object> listening;
  while (auto l = child.line()) {
    auto v = json::parse(*l);
    if (!v.is_object() || !v.as_object().contains("msg")) continue;
    if (v.at("level").as_string() == "warn") warnings.emplace_back(v.at("msg").as_string());
    if (v.at("msg").as_string() == "listening") {
      listening = v.as_object();
      break;
    }
  }
  ASSERT_TRUE(listening) << child.rest();
  const auto& targets = listening->at("targets").as_array();
  ASSERT_EQ(targets.size(), 2u);
  EXPECT_EQ(targets[0].at("rpm").to_number<double>(), 2) << targets[0];
  EXPECT_EQ(targets[0].at("tpm").to_number<double>(), 90000) << targets[0];
  EXPECT_TRUE(targets[0].at("rpm_source").as_string().starts_with("quota L-")) << targets[0];
  EXPECT_EQ(targets[1].at("rpm").to_number<double>(), 7) << targets[1];  // not auto
  EXPECT_EQ(targets[1].at("tpm").to_number<double>(), 1234) << targets[1];  // Service Quotas unreachable: the fallback
  EXPECT_EQ(targets[1].at("tpm_source").as_string(), "fallback");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("anthropic.claude-3-haiku-20240307-v1:0 in eu-west-1: --max-tpm auto: Service Quotas "
                             "could not be read"),
            std::string::npos)
      << warnings[0];
  EXPECT_NE(warnings[0].find("using the configured 1234"), std::string::npos) << warnings[0];

  // The budgets served: us-east-1 takes 2 requests in a minute, the third goes to eu-west-1.
  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  const std::string url = "http://127.0.0.1:" + std::to_string(listening->at("port").to_number<int>()) + "/chat";
  std::vector<std::string> regions;
  for (int i = 0; i < 3; ++i) {
    auto c = call(io, *client,
                  net::HttpRequest{.method = "POST",
                                   .url = url,
                                   .headers = {{"Content-Type", "application/json"}},
                                   .body = R"({"input": "echo:hi"})"});
    ASSERT_EQ(c.status, 200) << c.body;
    regions.emplace_back(json::parse(c.body).at("served_by").at("region").as_string());
  }
  EXPECT_EQ(regions, (std::vector<std::string>{"us-east-1", "us-east-1", "eu-west-1"}));
  client.reset();
  child.signal(SIGTERM);
  EXPECT_EQ(child.wait_exit(), 0);
  quotas.signal(SIGTERM);
  EXPECT_EQ(quotas.wait_exit(), 0);
}

TEST(BinaryE2E, BadAutoBudgetsExitWith2) {
  {
    Child child({binary(), "serve", "--history", "none", "--max-tpm", "automatic"});
    std::string err = child.rest();
    EXPECT_EQ(child.wait_exit(), 2) << err;
    EXPECT_NE(err.find("--max-tpm"), std::string::npos) << err;
  }
  {
    Child child({binary(), "serve", "--history", "none", "--target", "region=us-east-1 rpm=600 rpm_quota=L-12345678"});
    std::string err = child.rest();
    EXPECT_EQ(child.wait_exit(), 2) << err;
    EXPECT_NE(err.find("rpm_quota needs rpm=auto"), std::string::npos) << err;
  }
  {
    Child child({binary(), "serve", "--history", "none", "--target",
                 "model=arn:aws:bedrock:us-west-2:123456789012:provisioned-model/abc123 units=2 tpm_per_unit=1000 tpm=auto"});
    std::string err = child.rest();
    EXPECT_EQ(child.wait_exit(), 2) << err;
    EXPECT_NE(err.find("provisioned target"), std::string::npos) << err;
  }
}

// Durability (docs/storage.md): a 200 means the turn's transaction committed (synchronous=NORMAL in WAL
// mode), so the turn survives the process being killed right after the answer: SIGKILL, no drain, no
// checkpoint; restarted on the same file, every answered turn is there.
TEST(BinaryE2E, AnAnsweredTurnSurvivesKillMinus9) {
  auto dir = std::filesystem::temp_directory_path() / ("ba-bin-" + uuid_v4());
  const std::string db = "sqlite:" + (dir / "h.db").string();
  constexpr int kTurns = 12;
  {
    Child agent({binary(), "serve", "--simulate", "--port", "0", "--history", db});
    auto port = listening_port(agent, "listening");
    ASSERT_TRUE(port) << agent.rest();
    boost::asio::io_context io;
    auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
    for (int i = 0; i < kTurns; ++i) {
      auto c = call(io, *client,
                    net::HttpRequest{.method = "POST",
                                     .url = "http://127.0.0.1:" + std::to_string(*port) + "/chat",
                                     .headers = {{"Content-Type", "application/json"}},
                                     .body = R"({"input": "echo:turn )" + std::to_string(i) +
                                             R"(", "conversation_id": "kept-1"})"});
      ASSERT_EQ(c.status, 200) << c.body;
    }
    agent.signal(SIGKILL);  // straight after the last answer
    EXPECT_EQ(agent.wait_exit(), 128 + SIGKILL);
    client.reset();
  }
  Child again({binary(), "serve", "--simulate", "--port", "0", "--history", db});
  auto port = listening_port(again, "listening");
  ASSERT_TRUE(port) << again.rest();
  boost::asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  auto got = call(io, *client,
                  net::HttpRequest{.method = "GET",
                                   .url = "http://127.0.0.1:" + std::to_string(*port) + "/conversations/kept-1"});
  ASSERT_EQ(got.status, 200) << got.body;
  const json::value answer = json::parse(got.body);
  const auto& turns = answer.at("turns").as_array();
  ASSERT_EQ(turns.size(), static_cast<std::size_t>(kTurns)) << got.body;
  EXPECT_EQ(turns.back().at("input").as_string(), "echo:turn " + std::to_string(kTurns - 1));
  client.reset();
  again.signal(SIGTERM);
  EXPECT_EQ(again.wait_exit(), 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace ba::test
