// The router over targets: order, spill on budget, circuit, retries across targets, errors that never
// spill, a model missing in its region. Fake models, real budgets and admissions, a frozen clock.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <exception>
#include <map>
#include <memory>

#include "support/fake_model.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/retrying_client.hpp"
#include "ratelimit/router.hpp"

namespace ba::ratelimit {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using bedrock::ChatRequest;
using bedrock::ChatResponse;

const char* kModel = "anthropic.claude-3-haiku-20240307-v1:0";

template <class T>
T run_sync(asio::io_context& io, asio::awaitable<T> aw) {
  std::optional<T> out;
  std::exception_ptr ex;
  asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T v) {
    ex = e;
    out.emplace(std::move(v));
  });
  io.run();
  io.restart();
  if (ex) std::rethrow_exception(ex);
  return std::move(*out);
}

Error upstream(ErrorKind kind, int status, std::string message, bool retryable, bool throttle = false) {
  Error e = Error::make(kind, std::move(message));
  e.http_status = status;
  e.retryable = retryable;
  e.throttle = throttle;
  return e;
}

struct Rig {
  struct Target {
    std::string region;
    test::FakeModel model;
    std::unique_ptr<InProcessBudgetStore> store;
    std::unique_ptr<LimiterAdmission> admission;
    std::unique_ptr<RetryBudget> retry_budget;
    std::unique_ptr<RetryingClient> client;
  };

  explicit Rig(std::vector<double> rpms, RouterConfig rc = {}, std::vector<double> weights = {}) {
    rc.retry.base = 0ms;
    rc.retry.throttle_base = 0ms;
    rc.circuit.failures_to_open = rc.circuit.failures_to_open == 5 ? 2 : rc.circuit.failures_to_open;
    rc.circuit.cool_down = 10s;
    const char* regions[] = {"us-east-1", "us-west-2", "eu-west-1"};
    std::vector<RouterTarget> rts;
    for (std::size_t i = 0; i < rpms.size(); ++i) {
      auto t = std::make_unique<Target>();
      t->region = regions[i];
      RateLimitConfig c;
      c.limits = BudgetLimits{.rpm = rpms[i], .tpm = 0};
      c.retry.max_attempts = 1;
      c.adaptive = false;
      t->store = std::make_unique<InProcessBudgetStore>(c, clock);
      t->admission = std::make_unique<LimiterAdmission>(*t->store, clock);
      t->retry_budget = std::make_unique<RetryBudget>(c.retry);
      t->client = std::make_unique<RetryingClient>(t->model, *t->admission, *t->retry_budget, registry, clock, random,
                                                   RetryingClient::Options{.region = t->region, .config = c});
      rts.push_back({kModel, t->region, t->client.get(), i < weights.size() ? weights[i] : 1.0});
      targets.push_back(std::move(t));
    }
    router = std::make_unique<Router>(std::move(rts), retry_budget, registry, clock, random, rc,
                                      [this](std::string_view level, std::string_view msg) {
                                        logs.push_back(std::string(level) + ": " + std::string(msg));
                                      });
  }

  struct Outcome {
    Result<ChatResponse> result;
    bedrock::CallReport report;
  };
  Outcome call(std::string model = kModel) {
    ChatRequest req;
    req.model_id = std::move(model);
    req.messages.push_back({"user", {bedrock::ContentBlock::make_text("hi")}});
    req.max_tokens = 10;
    auto c = router->start(req, bedrock::CallOptions{.deadline = clock.now() + 20s});
    auto r = run_sync(io, c->send(nullptr));
    return {std::move(r), c->report()};
  }

  asio::io_context io;
  ManualClock clock;
  SeededRandom random{7};
  metrics::Registry registry;
  RetryBudget retry_budget{RetryConfig{}};
  std::vector<std::unique_ptr<Target>> targets;
  std::unique_ptr<Router> router;
  std::vector<std::string> logs;
};

TEST(Circuit, OpensAfterConsecutiveFailuresAndProbesAfterTheCoolDown) {
  ManualClock clock;
  Circuit c(CircuitConfig{.failures_to_open = 3, .cool_down = 10s});
  EXPECT_FALSE(c.on_failure(clock.now()));
  c.on_success();  // resets the count
  EXPECT_FALSE(c.on_failure(clock.now()));
  EXPECT_FALSE(c.on_failure(clock.now()));
  EXPECT_TRUE(c.on_failure(clock.now()));
  EXPECT_EQ(c.state(clock.now()), Circuit::State::open);
  EXPECT_FALSE(c.available(clock.now()));
  clock.advance(10s);
  EXPECT_TRUE(c.available(clock.now()));  // the probe
  c.on_chosen(clock.now());
  EXPECT_FALSE(c.available(clock.now()));  // one probe at a time
  EXPECT_TRUE(c.on_failure(clock.now()));  // the probe failed: open again
  EXPECT_FALSE(c.available(clock.now()));
  clock.advance(10s);
  c.on_chosen(clock.now());
  c.on_success();
  EXPECT_EQ(c.state(clock.now()), Circuit::State::closed);
  EXPECT_TRUE(c.available(clock.now()));
}

TEST(Router, TheFirstTargetServesWhileItHasBudgetThenTheNext) {
  Rig rig({2, 100});
  for (auto& t : rig.targets) {
    for (int i = 0; i < 4; ++i) t->model.reply("ok");
  }
  auto a = rig.call();
  ASSERT_TRUE(a.result);
  EXPECT_EQ(a.report.region, "us-east-1");
  EXPECT_EQ(a.report.model_id, kModel);
  ASSERT_TRUE(rig.call().result);
  auto c = rig.call();  // the first target's 2 requests are spent: its next send is 30 s away
  ASSERT_TRUE(c.result);
  EXPECT_EQ(c.report.region, "us-west-2");
  EXPECT_EQ(rig.targets[0]->model.buffered_calls, 2);
  EXPECT_EQ(rig.targets[1]->model.buffered_calls, 1);
  EXPECT_NE(rig.registry.render().find("ba_target_requests_total{model=\"anthropic.claude-3-haiku-20240307-v1:0\","
                                       "region=\"us-west-2\",outcome=\"ok\"} 1"),
            std::string::npos)
      << rig.registry.render();
}

TEST(Router, WhenNoTargetCanSendInTimeTheRequestIsRefusedWithTheEarliestTime) {
  Rig rig({1, 1});
  for (auto& t : rig.targets) t->model.reply("ok");
  ASSERT_TRUE(rig.call().result);
  ASSERT_TRUE(rig.call().result);
  ChatRequest req;
  req.model_id = kModel;
  req.messages.push_back({"user", {bedrock::ContentBlock::make_text("hi")}});
  auto c = rig.router->start(req, bedrock::CallOptions{.deadline = rig.clock.now() + 5s});
  auto st = run_sync(rig.io, c->admit());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::rate_limited);
  ASSERT_TRUE(st.error().retry_after);
  EXPECT_GT(*st.error().retry_after, 5s);
}

TEST(Router, AServerErrorIsRetriedOnTheOtherTargetAndOpensTheCircuit) {
  Rig rig({100, 100});
  auto& a = rig.targets[0]->model;
  auto& b = rig.targets[1]->model;
  for (int i = 0; i < 3; ++i) a.error(upstream(ErrorKind::unavailable, 503, "ServiceUnavailableException", true));
  for (int i = 0; i < 4; ++i) b.reply("ok");
  auto first = rig.call();
  ASSERT_TRUE(first.result);
  EXPECT_EQ(first.report.region, "us-west-2");
  EXPECT_EQ(first.report.attempts, 2);
  auto second = rig.call();  // the second failure opens the first target's circuit (failures_to_open 2)
  ASSERT_TRUE(second.result);
  EXPECT_EQ(a.buffered_calls, 2);
  EXPECT_EQ(rig.router->status()[0].circuit, Circuit::State::open);
  ASSERT_TRUE(rig.call().result);
  EXPECT_EQ(a.buffered_calls, 2);  // open: not tried
  EXPECT_EQ(b.buffered_calls, 3);
  ASSERT_FALSE(rig.logs.empty());
  EXPECT_NE(rig.logs.back().find("circuit open"), std::string::npos);

  // After the cool-down one probe goes to the first target; its success closes the circuit.
  rig.clock.advance(10s);
  a.script.clear();
  a.reply("back");
  a.reply("again");
  auto probe = rig.call();
  ASSERT_TRUE(probe.result);
  EXPECT_EQ(probe.report.region, "us-east-1");
  EXPECT_EQ(rig.router->status()[0].circuit, Circuit::State::closed);
  EXPECT_EQ(rig.call().report.region, "us-east-1");
}

TEST(Router, AStreamThatStartedAToolCallNeverSpills) {
  Rig rig({100, 100});
  rig.targets[0]->model.error(upstream(ErrorKind::unavailable, 503, "ServiceUnavailableException", true));
  rig.targets[0]->model.stream(test::tool_deltas(0, "tooluse_1", "f", {}));  // a tool call's start, then the failure
  rig.targets[1]->model.reply("ok");
  ChatRequest req;
  req.model_id = kModel;
  req.messages.push_back({"user", {bedrock::ContentBlock::make_text("hi")}});
  req.max_tokens = 10;
  auto c = rig.router->start(req, bedrock::CallOptions{.deadline = rig.clock.now() + 20s, .stream = true});
  int pieces = 0;
  bedrock::DeltaHandler sink = [&](const bedrock::StreamDelta& d) -> asio::awaitable<bool> {
    EXPECT_EQ(d.kind, bedrock::StreamDelta::Kind::tool_use_start);
    ++pieces;
    co_return true;
  };
  auto r = run_sync(rig.io, c->send(sink));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::unavailable);
  EXPECT_EQ(pieces, 1);
  EXPECT_EQ(rig.targets[1]->model.stream_calls, 0);  // not spilled to the other region
  EXPECT_EQ(c->report().region, "us-east-1");
}

TEST(Router, ValidationErrorsNeverSpill) {
  Rig rig({100, 100});
  rig.targets[0]->model.error(upstream(ErrorKind::invalid_input, 400, "messages: bad", false));
  rig.targets[1]->model.reply("ok");
  auto r = rig.call();
  ASSERT_FALSE(r.result);
  EXPECT_EQ(r.result.error().kind, ErrorKind::invalid_input);
  EXPECT_EQ(rig.targets[1]->model.buffered_calls, 0);
  EXPECT_EQ(rig.router->status()[0].circuit, Circuit::State::closed);
}

TEST(Router, AModelMissingInItsRegionIsTakenOutOfRotation) {
  Rig rig({100, 100});
  rig.targets[0]->model.error(upstream(ErrorKind::invalid_input, 400, "The provided model identifier is invalid.", false));
  for (int i = 0; i < 2; ++i) rig.targets[1]->model.reply("ok");
  auto r = rig.call();
  ASSERT_TRUE(r.result);
  EXPECT_EQ(r.report.region, "us-west-2");
  EXPECT_EQ(r.report.attempts, 2);
  ASSERT_EQ(rig.logs.size(), 1u);
  EXPECT_NE(rig.logs[0].find("taken out of rotation"), std::string::npos);
  EXPECT_TRUE(rig.router->status()[0].removed);
  ASSERT_TRUE(rig.call().result);
  EXPECT_EQ(rig.targets[0]->model.buffered_calls, 1);  // not tried again
}

TEST(Router, WhenEveryTargetIsMissingTheCallerIsTold) {
  Rig rig({100});
  rig.targets[0]->model.error(upstream(ErrorKind::not_found, 404, "Model not found", false));
  auto r = rig.call();
  ASSERT_FALSE(r.result);
  EXPECT_EQ(r.result.error().kind, ErrorKind::unavailable);
  EXPECT_NE(r.result.error().message.find("does not exist there"), std::string::npos);
  auto again = rig.call();
  ASSERT_FALSE(again.result);
  EXPECT_NE(again.result.error().message.find("no target left"), std::string::npos);
  EXPECT_EQ(rig.targets[0]->model.buffered_calls, 1);
}

TEST(Router, OtherModelsGoToTheFirstTargetOnly) {
  Rig rig({100, 100});
  rig.targets[0]->model.error(upstream(ErrorKind::unavailable, 503, "down", true));
  rig.targets[0]->model.reply("ok");
  auto r = rig.call("anthropic.claude-3-sonnet-20240229-v1:0");
  ASSERT_TRUE(r.result);
  EXPECT_EQ(r.report.region, "us-east-1");
  EXPECT_EQ(rig.targets[0]->model.requests.back().model_id, "anthropic.claude-3-sonnet-20240229-v1:0");
  EXPECT_EQ(rig.targets[1]->model.buffered_calls, 0);
}

// Weights: among targets that can all take a call now, calls spread in proportion to the weights
// (the draw uses the injected Random: the counts are the same at every run).
TEST(Router, WeightsSpreadCallsAmongTargetsThatCanTakeThem) {
  Rig rig({100'000, 100'000, 100'000}, {}, {3, 1, 0.5});
  for (auto& t : rig.targets)
    for (int i = 0; i < 900; ++i) t->model.reply("ok");
  std::map<std::string, int> served;
  for (int i = 0; i < 900; ++i) {
    auto o = rig.call();
    ASSERT_TRUE(o.result) << o.result.error().message;
    ++served[o.report.region];
  }
  // Expected 600 / 200 / 100.
  EXPECT_NEAR(served["us-east-1"], 600, 45);
  EXPECT_NEAR(served["us-west-2"], 200, 40);
  EXPECT_NEAR(served["eu-west-1"], 100, 30);
}

// A heavy target that cannot take a call within spill_after passes it on; the spread is then over the
// others.
TEST(Router, AWeightedTargetWithoutBudgetPassesCallsToTheOthers) {
  Rig rig({10, 100'000}, {}, {9, 1});
  for (auto& t : rig.targets)
    for (int i = 0; i < 50; ++i) t->model.reply("ok");
  std::map<std::string, int> served;
  for (int i = 0; i < 50; ++i) {
    auto o = rig.call();
    ASSERT_TRUE(o.result) << o.result.error().message;
    ++served[o.report.region];
  }
  EXPECT_EQ(served["us-east-1"], 10);  // its budget (the clock is frozen: no refill)
  EXPECT_EQ(served["us-west-2"], 40);
}

// All weights 1: the configured order, as before.
TEST(Router, EqualWeightsKeepTheConfiguredOrder) {
  Rig rig({100'000, 100'000}, {}, {1, 1});
  for (int i = 0; i < 20; ++i) rig.targets[0]->model.reply("ok");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(rig.call().report.region, "us-east-1");
}

}  // namespace
}  // namespace ba::ratelimit
