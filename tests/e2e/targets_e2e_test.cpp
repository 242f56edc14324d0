// Routing over targets through the real server: two simulators as two regions with quotas of their own,
// the real Bedrock client per region, a RetryingClient per target and the router (as serve wires them
// for --target), the API server and a real HTTP caller.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/chat_service.hpp"
#include "aws/credentials.hpp"
#include "bedrock/client.hpp"
#include "e2e/e2e_harness.hpp"
#include "http/api.hpp"
#include "net/http_client.hpp"
#include "net/http_server.hpp"
#include "ratelimit/router.hpp"
#include "sim/simulator.hpp"
#include "store/sqlite_history.hpp"

namespace ba::test {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

const char* kModel = "anthropic.claude-3-haiku-20240307-v1:0";

struct RegionOptions {
  std::string region;
  double rpm = 100'000;            // our budget for the target
  std::int64_t sim_rpm = 0;        // the region's quota (the simulator's)
  std::vector<std::string> models;  // the models the region offers (empty: any)
};

class TwoRegions {
 public:
  explicit TwoRegions(std::vector<RegionOptions> regions, ratelimit::RouterConfig rc = {}) {
    dir_ = std::filesystem::temp_directory_path() / ("ba-targets-" + uuid_v4());
    std::filesystem::create_directories(dir_);
    upstream_http = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
    credentials = aws::make_static_provider(
        {.access_key_id = "AKIDE2ETEST", .secret_access_key = "e2e-secret", .source = "static"});
    const ratelimit::RateLimitConfig base = test_rate_limit();
    std::vector<ratelimit::RouterTarget> rts;
    for (const auto& r : regions) {
      auto t = std::make_unique<Target>();
      sim::SimulatorOptions so;
      so.region = r.region;
      so.access_key_id = "AKIDE2ETEST";
      so.secret_access_key = "e2e-secret";
      so.rpm = r.sim_rpm;
      so.models = r.models;
      t->simulator = sim::make_simulator(io, so);
      auto port = t->simulator->start();
      if (!port) throw std::runtime_error(port.error().message);
      t->model = bedrock::make_bedrock_client(
          *upstream_http, *credentials,
          bedrock::BedrockConfig{.region = r.region, .endpoint = "http://127.0.0.1:" + std::to_string(*port)});
      ratelimit::RateLimitConfig c = base;
      c.limits.rpm = r.rpm;
      c.retry.max_attempts = 1;
      t->store = std::make_unique<ratelimit::InProcessBudgetStore>(c, system_clock());
      t->admission = std::make_unique<ratelimit::LimiterAdmission>(*t->store, system_clock());
      t->retry_budget = std::make_unique<ratelimit::RetryBudget>(c.retry);
      t->client = std::make_unique<ratelimit::RetryingClient>(
          *t->model, *t->admission, *t->retry_budget, registry, system_clock(), random,
          ratelimit::RetryingClient::Options{.region = r.region, .config = c});
      rts.push_back({kModel, r.region, t->client.get()});
      targets.push_back(std::move(t));
    }
    rc.retry = base.retry;
    retry_budget = std::make_unique<ratelimit::RetryBudget>(base.retry);
    router = std::make_unique<ratelimit::Router>(
        std::move(rts), *retry_budget, registry, system_clock(), random, rc,
        [this](std::string_view level, std::string_view msg) { logs.push_back(std::string(level) + " " + std::string(msg)); });

    auto h = store::make_sqlite_history((dir_ / "history.db").string());
    if (!h) throw std::runtime_error(h.error().message);
    history = std::move(*h);
    agent::ChatConfig cc;
    cc.model_id = kModel;
    cc.rate_limit = base;
    chat = std::make_unique<agent::ChatService>(*router, *history, cc);
    context = std::make_unique<http::ApiContext>(http::ApiContext{
        .chat = *chat,
        .history = *history,
        .keys = keys,
        .config = {.request_timeout = base.default_deadline,
                   .model_id = kModel,
                   .region = regions.front().region,
                   .credentials_source = "static",
                   .rate_limit = base},
        .metrics = &registry,
        .log = [this](std::string_view line) { request_logs.emplace_back(line); },
    });
    net::ServerOptions so;
    so.error_response = http::server_error_response;
    server = net::make_http_server(io, so, http::make_api_handler(*context));
    auto port = server->start();
    if (!port) throw std::runtime_error(port.error().message);
    base_url = "http://127.0.0.1:" + std::to_string(*port);
    caller = net::make_http_client(io, net::ClientConfig{.use_proxy_env = false});
  }

  ~TwoRegions() {
    server->stop(0ms);
    for (auto& t : targets) t->simulator->stop(0ms);
    io.restart();
    io.run_for(500ms);
    caller.reset();
    server.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // `n` chats at once (each with `body`); their responses in order.
  std::vector<net::HttpResponse> chats(int n, const std::string& body = R"({"input":"echo:hello"})") {
    std::vector<std::optional<net::HttpResponse>> out(n);
    int done = 0;
    for (int i = 0; i < n; ++i) {
      net::HttpRequest req;
      req.method = "POST";
      req.url = base_url + "/chat";
      req.headers.set("Content-Type", "application/json");
      req.body = body;
      asio::co_spawn(io, caller->send(std::move(req)), [&, i](std::exception_ptr, Result<net::HttpResponse> r) {
        if (r) out[i] = std::move(*r);
        if (++done == n) io.stop();
      });
    }
    io.restart();
    io.run();
    std::vector<net::HttpResponse> rs;
    for (auto& o : out) {
      if (!o) throw std::runtime_error("a chat failed at the HTTP level");
      rs.push_back(std::move(*o));
    }
    return rs;
  }

  // The region an answer names as the one that served it.
  static std::string served_region(const net::HttpResponse& r) {
    auto v = json::parse(r.body);
    return std::string(v.at("served_by").at("region").as_string());
  }

  void wait(std::chrono::milliseconds d) {
    asio::steady_timer t(io, d);
    t.async_wait([&](auto) { io.stop(); });
    io.restart();
    io.run();
  }

  std::string metrics() {
    net::HttpRequest req{.method = "GET", .url = base_url + "/metrics"};
    std::optional<Result<net::HttpResponse>> out;
    asio::co_spawn(io, caller->send(std::move(req)), [&](std::exception_ptr, Result<net::HttpResponse> r) {
      out = std::move(r);
      io.stop();
    });
    io.restart();
    io.run();
    return out && *out ? (*out)->body : std::string();
  }

  struct Target {
    std::unique_ptr<sim::Simulator> simulator;
    std::unique_ptr<bedrock::ModelClient> model;
    std::unique_ptr<ratelimit::InProcessBudgetStore> store;
    std::unique_ptr<ratelimit::LimiterAdmission> admission;
    std::unique_ptr<ratelimit::RetryBudget> retry_budget;
    std::unique_ptr<ratelimit::RetryingClient> client;
  };

  asio::io_context io;
  std::unique_ptr<net::HttpClient> upstream_http;
  std::unique_ptr<aws::CredentialsProvider> credentials;
  metrics::Registry registry;
  SeededRandom random{42};
  std::vector<std::unique_ptr<Target>> targets;
  std::unique_ptr<ratelimit::RetryBudget> retry_budget;
  std::unique_ptr<ratelimit::Router> router;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<agent::ChatService> chat;
  http::ApiKeys keys;
  std::unique_ptr<http::ApiContext> context;
  std::unique_ptr<net::HttpServer> server;
  std::unique_ptr<net::HttpClient> caller;
  std::string base_url;
  std::vector<std::string> logs;
  std::vector<std::string> request_logs;

 private:
  std::filesystem::path dir_;
};

// 50 chats at once against two regions of 30 requests each: the first region takes its 30, the rest
// go to the second at once, nothing is throttled upstream and nothing fails.
TEST(TargetsE2E, LoadAboveOneRegionsQuotaIsServedWithinTheCombinedQuota) {
  TwoRegions rig({{.region = "us-east-1", .rpm = 30, .sim_rpm = 30}, {.region = "us-west-2", .rpm = 30, .sim_rpm = 30}});
  auto rs = rig.chats(50);
  std::map<std::string, int> by_region;
  for (const auto& r : rs) {
    ASSERT_EQ(r.status, 200) << r.body;
    ++by_region[TwoRegions::served_region(r)];
  }
  const auto a = rig.targets[0]->simulator->stats();
  const auto b = rig.targets[1]->simulator->stats();
  EXPECT_EQ(a.throttled + b.throttled, 0u);  // <= 1% of 50 upstream calls is 0
  EXPECT_EQ(a.succeeded, 30u);
  EXPECT_EQ(b.succeeded, 20u);
  EXPECT_EQ(by_region["us-east-1"], 30);
  EXPECT_EQ(by_region["us-west-2"], 20);
  // The request log and /metrics name the target.
  ASSERT_EQ(rig.request_logs.size(), 50u);
  EXPECT_NE(rig.request_logs.back().find("\"target_region\":\"us-"), std::string::npos) << rig.request_logs.back();
  const std::string m = rig.metrics();
  EXPECT_NE(m.find("ba_target_requests_total{model=\"anthropic.claude-3-haiku-20240307-v1:0\",region=\"us-west-2\","
                   "outcome=\"ok\"} 20"),
            std::string::npos)
      << m;
}

// One region answering 503: its circuit opens, the other serves; after the cool-down a probe goes
// back, and once the region has recovered it serves again.
TEST(TargetsE2E, ARegionAnswering503OpensItsCircuitAndReturnsAfterRecovery) {
  ratelimit::RouterConfig rc;
  rc.circuit.failures_to_open = 2;
  rc.circuit.cool_down = 300ms;
  TwoRegions rig({{.region = "us-east-1"}, {.region = "us-west-2"}}, rc);
  rig.targets[0]->simulator->script_fault(sim::Fault{.kind = sim::FaultKind::unavailable}, 3);
  for (int i = 0; i < 2; ++i) {  // each: 503 from us-east-1, then us-west-2 serves
    auto r = rig.chats(1);
    ASSERT_EQ(r[0].status, 200) << r[0].body;
    EXPECT_EQ(TwoRegions::served_region(r[0]), "us-west-2");
  }
  EXPECT_EQ(rig.router->status()[0].circuit, ratelimit::Circuit::State::open);
  for (int i = 0; i < 3; ++i) {  // open: us-east-1 is not called
    auto r = rig.chats(1);
    ASSERT_EQ(r[0].status, 200);
    EXPECT_EQ(TwoRegions::served_region(r[0]), "us-west-2");
  }
  EXPECT_EQ(rig.targets[0]->simulator->stats().requests_total, 2u);
  EXPECT_NE(rig.metrics().find("ba_target_circuit_open{model=\"anthropic.claude-3-haiku-20240307-v1:0\",region=\"us-"
                               "east-1\"} 1"),
            std::string::npos);

  rig.wait(400ms);  // the cool-down: the probe meets the third 503 and the circuit opens again
  auto probe = rig.chats(1);
  ASSERT_EQ(probe[0].status, 200);
  EXPECT_EQ(TwoRegions::served_region(probe[0]), "us-west-2");
  EXPECT_EQ(rig.targets[0]->simulator->stats().requests_total, 3u);

  rig.wait(400ms);  // recovered: the probe succeeds and us-east-1 is first again
  for (int i = 0; i < 2; ++i) {
    auto r = rig.chats(1);
    ASSERT_EQ(r[0].status, 200);
    EXPECT_EQ(TwoRegions::served_region(r[0]), "us-east-1");
  }
  EXPECT_EQ(rig.router->status()[0].circuit, ratelimit::Circuit::State::closed);
  EXPECT_EQ(rig.targets[0]->simulator->stats().throttled + rig.targets[1]->simulator->stats().throttled, 0u);
}

// A target whose model the region does not offer: Bedrock's ValidationException at the first call, a
// clear error log, the target out of rotation; the other region serves that call and the next ones.
TEST(TargetsE2E, AModelMissingInARegionIsTakenOutOfRotationAtTheFirstCall) {
  TwoRegions rig({{.region = "us-east-1", .models = {"anthropic.claude-3-sonnet-20240229-v1:0"}}, {.region = "us-west-2"}});
  for (int i = 0; i < 3; ++i) {
    auto r = rig.chats(1);
    ASSERT_EQ(r[0].status, 200) << r[0].body;
    EXPECT_EQ(TwoRegions::served_region(r[0]), "us-west-2");
  }
  EXPECT_EQ(rig.targets[0]->simulator->stats().requests_total, 1u);
  ASSERT_EQ(rig.logs.size(), 1u);
  EXPECT_NE(rig.logs[0].find("us-east-1"), std::string::npos) << rig.logs[0];
  EXPECT_NE(rig.logs[0].find("taken out of rotation"), std::string::npos) << rig.logs[0];
  EXPECT_TRUE(rig.router->status()[0].removed);
}

// A validation error of the request itself is the caller's 400 and never spills to another region.
TEST(TargetsE2E, AValidationErrorIsNotSentToTheOtherRegion) {
  TwoRegions rig({{.region = "us-east-1"}, {.region = "us-west-2"}});
  rig.targets[0]->simulator->script_fault(sim::Fault{.kind = sim::FaultKind::validation}, 1);
  auto r = rig.chats(1);
  EXPECT_EQ(r[0].status, 400) << r[0].body;
  EXPECT_EQ(rig.targets[1]->simulator->stats().requests_total, 0u);
  EXPECT_FALSE(rig.router->status()[0].removed);
}

// A stream that already sent text to its caller is never retried on another region: the caller gets
// the deltas, then the stream's error event, and the other region is not called. (Retrying there would
// send a second answer after the first one's beginning.)
TEST(TargetsE2E, AStreamThatStartedIsNeverRetriedOnAnotherRegion) {
  TwoRegions rig({{.region = "us-east-1"}, {.region = "us-west-2"}});
  rig.targets[0]->simulator->script_fault(sim::Fault{.kind = sim::FaultKind::drop_mid_stream}, 1);
  auto r = rig.chats(1, R"({"input":"echo:one two three four five six seven eight","stream":true})");
  ASSERT_EQ(r[0].status, 200) << r[0].body;  // the stream's head went out before the failure
  EXPECT_NE(r[0].body.find("event: delta"), std::string::npos) << r[0].body;
  EXPECT_NE(r[0].body.find("event: error"), std::string::npos) << r[0].body;
  EXPECT_EQ(r[0].body.find("event: done"), std::string::npos) << r[0].body;
  EXPECT_EQ(rig.targets[0]->simulator->stats().requests_total, 1u);
  EXPECT_EQ(rig.targets[1]->simulator->stats().requests_total, 0u);
  // The next stream is served by the first region again: one failure does not take it out of rotation.
  auto next = rig.chats(1, R"({"input":"echo:again","stream":true})");
  ASSERT_EQ(next[0].status, 200);
  EXPECT_NE(next[0].body.find("event: done"), std::string::npos) << next[0].body;
  EXPECT_NE(next[0].body.find("us-east-1"), std::string::npos) << next[0].body;
  EXPECT_EQ(rig.targets[1]->simulator->stats().requests_total, 0u);
}

// A stream that failed before its first byte reached the caller (the region answered 503) is still free
// to go elsewhere: the other region serves the whole stream.
TEST(TargetsE2E, AStreamThatFailedBeforeItsFirstByteSpillsToTheOtherRegion) {
  TwoRegions rig({{.region = "us-east-1"}, {.region = "us-west-2"}});
  rig.targets[0]->simulator->script_fault(sim::Fault{.kind = sim::FaultKind::unavailable}, 1);
  auto r = rig.chats(1, R"({"input":"echo:hello there","stream":true})");
  ASSERT_EQ(r[0].status, 200) << r[0].body;
  EXPECT_EQ(r[0].body.find("event: error"), std::string::npos) << r[0].body;
  EXPECT_NE(r[0].body.find("event: done"), std::string::npos) << r[0].body;
  EXPECT_NE(r[0].body.find("us-west-2"), std::string::npos) << r[0].body;
  EXPECT_EQ(rig.targets[0]->simulator->stats().requests_total, 1u);
  EXPECT_EQ(rig.targets[1]->simulator->stats().requests_total, 1u);
}

}  // namespace
}  // namespace ba::test
