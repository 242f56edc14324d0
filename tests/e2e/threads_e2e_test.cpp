// `serve --threads 4` through the real binary (issue 17): many connections at once, spread over the io
// threads, against a Bedrock simulator in its own process. What the threads share must add up: SQLite
// history, the rate limiter's budget, the Idempotency-Key's claim, the metrics, and the drain on SIGTERM.
// (Every other binary test runs with the default, one io thread per core.)
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/http_client.hpp"
#include "support/child_process.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace json = boost::json;
namespace asio = boost::asio;

constexpr int kThreads = 4;

std::string binary() { return std::string(BA_BINARY_DIR) + "/bedrock-agent"; }

std::optional<json::object> first_line(Child& child, std::string_view msg) {
  while (auto l = child.line()) {
    auto v = json::parse(*l);
    if (v.is_object() && v.as_object().contains("msg") && v.at("msg").as_string() == msg) return v.as_object();
  }
  return std::nullopt;
}

// A response, or the failure of the call (status -1).
struct Answer {
  int status = -1;
  std::string body;
  net::Headers headers;
};

// Sends `requests` at once, each on a connection of its own (the client's pool has none idle), from this
// thread's io_context, and returns the answers in the same order.
std::vector<Answer> send_all(std::vector<net::HttpRequest> requests) {
  asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  std::vector<Answer> out(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    asio::co_spawn(io, client->send(std::move(requests[i])), [&out, i](std::exception_ptr, Result<net::HttpResponse> r) {
      if (!r) return;
      out[i] = Answer{r->status, std::move(r->body), std::move(r->headers)};
    });
  }
  io.run();
  return out;
}

Answer send_one(net::HttpRequest request) {
  std::vector<net::HttpRequest> one;
  one.push_back(std::move(request));
  return std::move(send_all(std::move(one)).front());
}

// A simulator process (answering after `ttft_ms`) and `serve --threads 4` in front of it, SQLite history
// in a fresh folder. The agent's log lines are read on a thread of their own (its stderr must not fill).
class ThreadedAgent {
 public:
  ThreadedAgent(int ttft_ms, std::vector<std::string> extra = {}) {
    dir_ = std::filesystem::temp_directory_path() / ("ba-threads-" + uuid_v4());
    std::filesystem::create_directories(dir_);
    sim_.emplace(std::vector<std::string>{binary(), "simulate-bedrock", "--port", "0", "--ttft-ms",
                                          std::to_string(ttft_ms), "--per-token-ms", "0"});
    auto sim_line = first_line(*sim_, "simulator listening");
    if (!sim_line) throw std::runtime_error("simulator did not start: " + sim_->rest());
    sim_url_ = "http://127.0.0.1:" + std::to_string(sim_line->at("port").to_number<int>());
    std::vector<std::string> args{binary(), "serve", "--port", "0", "--threads", std::to_string(kThreads),
                                  "--history", "sqlite:" + (dir_ / "h.db").string(), "--retry-max-attempts", "1"};
    for (auto& a : extra) args.push_back(std::move(a));
    agent_.emplace(std::move(args), std::vector<std::string>{"AWS_ENDPOINT_URL_BEDROCK_RUNTIME=" + sim_url_,
                                                             "AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret",
                                                             "AWS_REGION=us-east-1", "AWS_PROFILE=none-such"});
    auto listening = first_line(*agent_, "listening");
    if (!listening) throw std::runtime_error("agent did not start: " + agent_->rest());
    startup = *listening;
    base = "http://127.0.0.1:" + std::to_string(listening->at("port").to_number<int>());
    reader_ = std::thread([this] {
      while (!exited_) {
        while (auto l = agent_->line()) {
          std::lock_guard lock(mu_);
          lines_.push_back(std::move(*l));
        }
      }
    });
  }

  ~ThreadedAgent() {
    if (!exited_) stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // SIGTERM (unless signal_term() sent it: a second one stops at once); the exit code once it ended.
  int stop() {
    if (!signalled_.exchange(true)) agent_->signal(SIGTERM);
    const int code = agent_->wait_exit();
    exited_ = true;  // the pipe is at its end: the reader's line() returns nothing now
    if (reader_.joinable()) reader_.join();
    return code;
  }

  void signal_term() {
    signalled_ = true;
    agent_->signal(SIGTERM);
  }

  std::vector<std::string> lines() {
    std::lock_guard lock(mu_);
    return lines_;
  }

  json::object sim_stats() {
    auto r = send_one(net::HttpRequest{.method = "GET", .url = sim_url_ + "/sim/stats"});
    return json::parse(r.body).as_object();
  }

  net::HttpRequest chat(std::string body, net::Headers headers = {}) const {
    headers.set("Content-Type", "application/json");
    return net::HttpRequest{.method = "POST", .url = base + "/chat", .headers = std::move(headers), .body = std::move(body)};
  }

  std::string base;
  json::object startup;

 private:
  std::filesystem::path dir_;
  std::optional<Child> sim_;
  std::optional<Child> agent_;
  std::string sim_url_;
  std::atomic<bool> exited_{false};
  std::atomic<bool> signalled_{false};
  std::mutex mu_;
  std::vector<std::string> lines_;
  std::thread reader_;
};

// The value of the Prometheus sample `name{labels}`, 0 if absent.
double sample(const std::string& metrics, const std::string& series) {
  auto at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(metrics.substr(at + series.size() + 2));
}

// 32 connections at once, each a conversation of three turns (one after the other on it): every turn is
// answered and saved in its own conversation, and the counts the threads wrote add up (the metrics, the
// request log, the model calls the simulator saw, the tokens).
TEST(ThreadsE2E, ManyConnectionsOnFourThreadsKeepEveryConversationAndTheCountsAddUp) {
  ThreadedAgent agent(5, {"--max-rpm", "100000"});
  EXPECT_EQ(agent.startup.at("threads").to_number<int>(), kThreads);
  constexpr int kConversations = 32;
  constexpr int kTurns = 3;
  std::int64_t input_tokens = 0, output_tokens = 0;
  for (int turn = 0; turn < kTurns; ++turn) {
    std::vector<net::HttpRequest> requests;
    for (int c = 0; c < kConversations; ++c) {
      requests.push_back(agent.chat(json::serialize(json::object{
          {"input", "echo:c" + std::to_string(c) + " t" + std::to_string(turn)},
          {"conversation_id", "conv-" + std::to_string(c)}})));
    }
    auto answers = send_all(std::move(requests));
    for (int c = 0; c < kConversations; ++c) {
      ASSERT_EQ(answers[c].status, 200) << answers[c].body;
      auto body = json::parse(answers[c].body);
      EXPECT_EQ(body.at("response").as_string(), "c" + std::to_string(c) + " t" + std::to_string(turn));
      input_tokens += body.at("usage").at("input_tokens").as_int64();
      output_tokens += body.at("usage").at("output_tokens").as_int64();
    }
  }
  std::vector<net::HttpRequest> reads;
  for (int c = 0; c < kConversations; ++c)
    reads.push_back(net::HttpRequest{.method = "GET", .url = agent.base + "/conversations/conv-" + std::to_string(c)});
  auto conversations = send_all(std::move(reads));
  for (int c = 0; c < kConversations; ++c) {
    ASSERT_EQ(conversations[c].status, 200) << conversations[c].body;
    const auto turns = json::parse(conversations[c].body).at("turns").as_array();
    ASSERT_EQ(turns.size(), static_cast<std::size_t>(kTurns)) << conversations[c].body;
    for (int turn = 0; turn < kTurns; ++turn) {  // in order, none from another conversation
      EXPECT_EQ(turns[turn].at("response").as_string(), "c" + std::to_string(c) + " t" + std::to_string(turn));
    }
  }

  const int chats = kConversations * kTurns;
  EXPECT_EQ(agent.sim_stats().at("requests_total").to_number<int>(), chats);
  auto metrics = send_one(net::HttpRequest{.method = "GET", .url = agent.base + "/metrics"}).body;
  EXPECT_EQ(sample(metrics, R"(ba_http_requests_total{route="/chat",status="200"})"), chats) << metrics;
  const std::string model = "anthropic.claude-3-sonnet-20240229-v1:0";
  EXPECT_EQ(sample(metrics, "ba_model_tokens_total{model=\"" + model + "\",direction=\"input\"}"),
            static_cast<double>(input_tokens))
      << metrics;
  EXPECT_EQ(sample(metrics, "ba_model_tokens_total{model=\"" + model + "\",direction=\"output\"}"),
            static_cast<double>(output_tokens))
      << metrics;
  EXPECT_EQ(agent.stop(), 0);
  int logged = 0;
  for (const auto& l : agent.lines()) {
    auto v = json::parse(l);
    if (v.is_object() && v.as_object().contains("route") && v.at("route").as_string() == "/chat" &&
        v.at("status").as_int64() == 200)
      ++logged;
  }
  EXPECT_EQ(logged, chats);  // one whole line each, none lost or torn by a thread
}

// --max-rpm 6 (a full bucket of 6 requests, then one every 10 s) and 48 chats at once that cannot wait
// for a refill (a 5 s deadline, so a 7th would go 10 s later: refused at once): the threads share one
// budget, so exactly 6 are admitted and sent, 42 refused.
TEST(ThreadsE2E, TheRateLimitBudgetIsOneForAllThreads) {
  ThreadedAgent agent(5, {"--max-rpm", "6", "--no-adaptive"});
  constexpr int kChats = 48;
  std::vector<net::HttpRequest> requests;
  for (int i = 0; i < kChats; ++i)
    requests.push_back(agent.chat(R"({"input": "echo:budget"})", {{"X-Request-Timeout-Ms", "5000"}}));
  auto answers = send_all(std::move(requests));
  int admitted = 0, refused = 0;
  for (const auto& a : answers) {
    if (a.status == 200) ++admitted;
    if (a.status == 429) ++refused;
  }
  EXPECT_EQ(admitted, 6);
  EXPECT_EQ(refused, kChats - 6);
  EXPECT_EQ(agent.sim_stats().at("requests_total").to_number<int>(), 6);
  auto metrics = send_one(net::HttpRequest{.method = "GET", .url = agent.base + "/metrics"}).body;
  EXPECT_EQ(sample(metrics, R"(ba_rate_limited_total{model="anthropic.claude-3-sonnet-20240229-v1:0"})"), kChats - 6)
      << metrics;
  EXPECT_EQ(agent.stop(), 0);
}

// One Idempotency-Key sent on 16 connections at once (spread over the four threads), while the model
// takes 1.5 s to answer: one claim wins and calls the model once; the others are told it is in progress
// (409) or, once it is done, get its stored answer. A repeat afterwards is the same answer.
TEST(ThreadsE2E, OneIdempotencyKeyFromManyConnectionsCallsTheModelOnce) {
  ThreadedAgent agent(1500);
  constexpr int kCopies = 16;
  std::vector<net::HttpRequest> requests;
  for (int i = 0; i < kCopies; ++i)
    requests.push_back(agent.chat(R"({"input": "echo:once", "conversation_id": "idem-1"})", {{"Idempotency-Key", "k-threads"}}));
  auto answers = send_all(std::move(requests));
  int fresh = 0, replayed = 0, in_progress = 0;
  std::string body;
  for (const auto& a : answers) {
    if (a.status == 200 && !a.headers.has("Idempotent-Replayed")) {
      ++fresh;
      body = a.body;
    } else if (a.status == 200) {
      ++replayed;
    } else if (a.status == 409) {
      ++in_progress;
    } else {
      ADD_FAILURE() << a.status << " " << a.body;
    }
  }
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(fresh + replayed + in_progress, kCopies);
  EXPECT_EQ(agent.sim_stats().at("requests_total").to_number<int>(), 1);
  auto again = send_one(agent.chat(R"({"input": "echo:once", "conversation_id": "idem-1"})", {{"Idempotency-Key", "k-threads"}}));
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.headers.get("Idempotent-Replayed"), "true");
  EXPECT_EQ(again.body, body);
  auto conversation = send_one(net::HttpRequest{.method = "GET", .url = agent.base + "/conversations/idem-1"});
  EXPECT_EQ(json::parse(conversation.body).at("turns").as_array().size(), 1u) << conversation.body;  // one turn
  EXPECT_EQ(agent.sim_stats().at("requests_total").to_number<int>(), 1);
  EXPECT_EQ(agent.stop(), 0);
}

// Sends `n` chats (conversations drain-0..n-1) to a model that answers after the simulator's ttft, waits
// until the simulator has all of them in flight (so they are being handled on every io thread), then
// SIGTERM. Returns the answers and the exit code.
struct DrainResult {
  std::vector<Answer> answers;
  int exit_code = -1;
};

DrainResult drain_with_chats_in_flight(ThreadedAgent& agent, int n) {
  DrainResult out;
  out.answers.resize(n);
  asio::io_context io;
  auto client = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  std::atomic<int> done{0};
  for (int i = 0; i < n; ++i) {
    auto req = agent.chat(json::serialize(json::object{{"input", "echo:drain " + std::to_string(i)},
                                                       {"conversation_id", "drain-" + std::to_string(i)}}));
    asio::co_spawn(io, client->send(std::move(req)), [&out, &done, i](std::exception_ptr, Result<net::HttpResponse> r) {
      ++done;
      if (r) out.answers[i] = Answer{r->status, std::move(r->body), std::move(r->headers)};
    });
  }
  // The chats go out while this thread asks the simulator (on another connection, another io_context)
  // how many it holds: a busy-wait on the answers, not on time.
  std::thread caller([&io] { io.run(); });
  while (done < n && agent.sim_stats().at("in_flight").to_number<int>() < n) {
  }
  agent.signal_term();
  caller.join();
  EXPECT_EQ(done, n);
  out.exit_code = agent.stop();
  return out;
}

// SIGTERM with 12 chats in flight on the four threads and a drain long enough: every one is answered and
// saved, then the process exits 0 (its threads joined).
TEST(ThreadsE2E, SigtermLetsTheChatsInFlightOnEveryThreadFinish) {
  ThreadedAgent agent(2000, {"--drain-timeout", "20"});
  constexpr int kChats = 12;
  auto run = drain_with_chats_in_flight(agent, kChats);
  for (int i = 0; i < kChats; ++i) {
    ASSERT_EQ(run.answers[i].status, 200) << run.answers[i].body;
    EXPECT_EQ(json::parse(run.answers[i].body).at("response").as_string(), "drain " + std::to_string(i));
  }
  EXPECT_EQ(run.exit_code, 0);
}

// The drain times out (1 s) while the model would take 15 s: the chats in flight on every thread are
// cancelled and answered 503 with Retry-After, and the process exits 0.
TEST(ThreadsE2E, ADrainTimeoutCancelsTheChatsInFlightOnEveryThread) {
  ThreadedAgent agent(15000, {"--drain-timeout", "1"});
  constexpr int kChats = 12;
  auto run = drain_with_chats_in_flight(agent, kChats);
  for (int i = 0; i < kChats; ++i) {
    ASSERT_EQ(run.answers[i].status, 503) << run.answers[i].body;
    EXPECT_EQ(run.answers[i].headers.get("Retry-After"), "1");
  }
  EXPECT_EQ(run.exit_code, 0);
}

}  // namespace
}  // namespace ba::test
