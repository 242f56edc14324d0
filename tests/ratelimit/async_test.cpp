// The awaitable limiter and the retrying client on a real io_context, with a frozen ManualClock (so
// budget arithmetic is exact) and short real timers.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <exception>

#include "ratelimit/cost.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/retrying_client.hpp"

namespace ba::ratelimit {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using bedrock::ChatRequest;
using bedrock::ChatResponse;

template <class T>
T run_sync(asio::io_context& io, asio::awaitable<T> aw) {
  T out{};
  std::exception_ptr ex;
  asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T v) {
    ex = e;
    out = std::move(v);
  });
  io.run();
  io.restart();
  if (ex) std::rethrow_exception(ex);
  return out;
}

RateLimitConfig tpm_config(double tpm, double rpm = 0) {
  RateLimitConfig c;
  c.limits = BudgetLimits{.rpm = rpm, .tpm = tpm};
  return c;
}

const Key kKey{"m", "us-east-1"};

// ---- LimiterAdmission ----

TEST(Limiter, WaitersWakeInArrivalOrder) {
  ManualClock clock;
  InProcessBudgetStore store(tpm_config(60'000), clock);  // 1000 tokens/s
  LimiterAdmission adm(store, clock);
  asio::io_context io;
  auto drain = run_sync(io, adm.acquire(kKey, Cost{1, 60'000}, std::nullopt));
  ASSERT_TRUE(drain);
  EXPECT_EQ(drain->waited, 0ns);

  std::vector<int> order;
  std::vector<std::chrono::nanoseconds> waited(3);
  // Costs 30, 5, 20 tokens: by tokens alone the second would be ready first; FIFO keeps arrival order.
  const std::int64_t costs[] = {30, 5, 20};
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(io, adm.acquire(kKey, Cost{1, costs[i]}, std::nullopt),
                   [&, i](std::exception_ptr, Result<Permit> p) {
                     ASSERT_TRUE(p);
                     order.push_back(i);
                     waited[i] = p->waited;
                     adm.settle(*p, p->reserved);
                   });
  }
  io.run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(waited[0], 30ms);
  EXPECT_EQ(waited[1], 35ms);
  EXPECT_EQ(waited[2], 55ms);
  adm.settle(*drain, drain->reserved);
  EXPECT_EQ(store.outstanding(), 0u);
}

TEST(Limiter, ShedsAtOnceWhenTheWaitWouldPassTheDeadline) {
  ManualClock clock;
  InProcessBudgetStore store(tpm_config(6000), clock);  // 100 tokens/s
  LimiterAdmission adm(store, clock);
  asio::io_context io;
  auto drain = run_sync(io, adm.acquire(kKey, Cost{1, 6000}, std::nullopt));
  auto shed = run_sync(io, adm.acquire(kKey, Cost{1, 2000}, clock.now() + 19s));
  ASSERT_FALSE(shed);
  EXPECT_EQ(shed.error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(shed.error().retry_after, 20'000ms);
  EXPECT_EQ(store.outstanding(), 1u);  // only the drain
  auto big = run_sync(io, adm.acquire(kKey, Cost{1, 6001}, std::nullopt));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().kind, ErrorKind::invalid_input);
  adm.settle(*drain, drain->reserved);
}

TEST(Limiter, AWaiterWhoseTurnAThrottleMovedWaitsAgainOrIsShed) {
  ManualClock clock;  // frozen: timers run for exactly the budget's durations
  InProcessBudgetStore store(tpm_config(60'000), clock);  // 1000 tokens/s
  LimiterAdmission adm(store, clock);
  asio::io_context io;
  auto drain = run_sync(io, adm.acquire(kKey, Cost{1, 60'000}, std::nullopt));
  ASSERT_TRUE(drain);
  std::optional<Result<Permit>> kept, shed;
  asio::co_spawn(io, adm.acquire(kKey, Cost{1, 30}, std::nullopt),  // planned at 30 ms
                 [&](std::exception_ptr, Result<Permit> p) { kept = std::move(p); });
  asio::co_spawn(io, adm.acquire(kKey, Cost{1, 30}, clock.now() + 62ms),  // planned at 60 ms
                 [&](std::exception_ptr, Result<Permit> p) { shed = std::move(p); });
  io.poll();
  ASSERT_FALSE(kept);
  // Bedrock throttles: the queue is re-planned at 900 tokens/s from empty: 33.4 ms and 66.7 ms.
  store.on_response(kKey, Feedback::throttled_tokens);
  io.run();
  ASSERT_TRUE(kept && *kept);
  EXPECT_EQ((*kept)->waited, std::chrono::ceil<SteadyTime::duration>(std::chrono::duration<double>(30.0 / 900.0)));
  ASSERT_TRUE(shed);
  ASSERT_FALSE(*shed);
  EXPECT_EQ(shed->error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(shed->error().retry_after, 67ms);
  adm.settle(**kept, (*kept)->reserved);
  adm.settle(*drain, drain->reserved);
  EXPECT_EQ(store.outstanding(), 0u);
}

TEST(Limiter, ARefundWakesWaitersBeforeTheirPlannedTime) {
  ManualClock clock;  // frozen: only a wake-up can release the waiter before its (real) 60 s timer
  InProcessBudgetStore store(tpm_config(6000), clock);  // 100 tokens/s
  LimiterAdmission adm(store, clock);
  asio::io_context io;
  auto sent = run_sync(io, adm.acquire(kKey, Cost{1, 6000}, std::nullopt));
  ASSERT_TRUE(sent);
  std::optional<Result<Permit>> waiter;
  asio::cancellation_signal guard;  // ends the test instead of hanging if the wake-up is lost
  asio::co_spawn(io, adm.acquire(kKey, Cost{1, 3000}, std::nullopt),  // planned 30 s from now
                 asio::bind_cancellation_slot(guard.slot(), [&](std::exception_ptr, Result<Permit> p) {
                   waiter = std::move(p);
                 }));
  io.poll();
  ASSERT_FALSE(waiter);
  // The call in flight used 100 of its 6000 tokens: the refund is enough for the waiter to go now.
  adm.settle(*sent, Cost{1, 100});
  asio::steady_timer deadlock_guard(io, 10s);
  deadlock_guard.async_wait([&](boost::system::error_code ec) {
    if (!ec) guard.emit(asio::cancellation_type::terminal);
  });
  while (!waiter && io.run_one() > 0) {
  }
  deadlock_guard.cancel();
  io.run();
  ASSERT_TRUE(waiter);
  ASSERT_TRUE(*waiter) << (*waiter).error().message;
  adm.settle(**waiter, (*waiter)->reserved);
  EXPECT_EQ(store.outstanding(), 0u);
}

TEST(Limiter, AWaiterQueuedForRefundsGivesUpAtItsDeadlineIfTheyDoNotCome) {
  ManualClock clock;  // frozen: timers run for exactly the durations the limiter asks for
  InProcessBudgetStore store(tpm_config(60'000), clock);  // 1000 tokens/s
  LimiterAdmission adm(store, clock);
  asio::io_context io;
  for (int i = 0; i < 3; ++i) {  // replies are charged a tenth of the reservation
    auto p = run_sync(io, adm.acquire(kKey, Cost{1, 1000}, std::nullopt));
    ASSERT_TRUE(p);
    adm.settle(*p, Cost{1, 100});
  }
  auto sent = run_sync(io, adm.acquire(kKey, Cost{1, 59'700}, std::nullopt));  // empties the bucket
  ASSERT_TRUE(sent);
  // 1 s away at full cost, but the call in flight should give most of its tokens back: it queues
  // (not shed at once) and, no refund coming, gives up at its 30 ms deadline with nothing charged.
  auto late = run_sync(io, adm.acquire(kKey, Cost{1, 1000}, clock.now() + 30ms));
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(late.error().retry_after, 1000ms);
  EXPECT_EQ(store.outstanding(), 1u);
  // The same wait with the refund arriving before the deadline: it goes.
  std::optional<Result<Permit>> waiter;
  asio::co_spawn(io, adm.acquire(kKey, Cost{1, 1000}, clock.now() + 5s),
                 [&](std::exception_ptr, Result<Permit> p) { waiter = std::move(p); });
  io.poll();
  ASSERT_FALSE(waiter);
  adm.settle(*sent, Cost{1, 5000});
  io.run();
  ASSERT_TRUE(waiter && *waiter);
  adm.settle(**waiter, (*waiter)->reserved);
  EXPECT_EQ(store.outstanding(), 0u);
}

TEST(Feedback, ThrottleMessagesNameTheDimension) {
  auto throttle = [](std::string message) {
    Error e = Error::make(ErrorKind::throttled, std::move(message));
    e.throttle = true;
    return e;
  };
  EXPECT_EQ(feedback_for(throttle("Too many tokens, please wait before trying again.")), Feedback::throttled_tokens);
  EXPECT_EQ(feedback_for(throttle("Too many requests, please wait before trying again.")),
            Feedback::throttled_requests);
  EXPECT_EQ(feedback_for(throttle("Rate exceeded")), Feedback::throttled);
  EXPECT_EQ(feedback_for(Error::make(ErrorKind::invalid_input, "Too many tokens in the prompt")), Feedback::success);
}

TEST(Limiter, CancelledWaiterLeavesTheQueueAndRefunds) {
  ManualClock clock;
  InProcessBudgetStore store(tpm_config(6000, 100), clock);
  LimiterAdmission adm(store, clock);
  asio::io_context io;
  auto drain = run_sync(io, adm.acquire(kKey, Cost{1, 6000}, std::nullopt));
  adm.settle(*drain, drain->reserved);

  asio::cancellation_signal signal;
  std::optional<Result<Permit>> got;
  asio::co_spawn(io, adm.acquire(kKey, Cost{1, 1000}, std::nullopt),  // 10 s away
                 asio::bind_cancellation_slot(signal.slot(),
                                              [&](std::exception_ptr, Result<Permit> p) { got = std::move(p); }));
  io.poll();  // now queued on its timer
  ASSERT_FALSE(got);
  auto queued = store.snapshot(kKey);
  EXPECT_EQ(queued.waiting, 1u);
  EXPECT_NEAR(queued.tokens_available, -1000, 1e-9);
  EXPECT_NEAR(queued.requests_available, 98, 1e-9);

  signal.emit(asio::cancellation_type::terminal);
  io.run();
  ASSERT_TRUE(got);
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().kind, ErrorKind::cancelled);
  auto after = store.snapshot(kKey);
  EXPECT_EQ(after.waiting, 0u);
  EXPECT_NEAR(after.tokens_available, 0, 1e-9);
  EXPECT_NEAR(after.requests_available, 99, 1e-9);
  EXPECT_EQ(store.outstanding(), 0u);
}

// ---- RetryingClient ----

struct Step {
  Result<ChatResponse> result;
  std::vector<std::string> deltas;  // streamed before the result
  std::chrono::nanoseconds first{0};  // the model's time (on ScriptedClient::clock) to the first delta or the result
  std::chrono::nanoseconds rest{0};   // stream: from the first delta to the result
  std::vector<bedrock::StreamDelta> pieces;  // streamed after `deltas` (tool calls, reasoning)
};

class ScriptedClient final : public bedrock::ModelClient {
 public:
  std::deque<Step> script;
  std::vector<ChatRequest> seen;
  ManualClock* clock = nullptr;  // advanced by each step's first/rest, when set

  asio::awaitable<Result<ChatResponse>> chat(const ChatRequest& r, bedrock::CallOptions) override {
    seen.push_back(r);
    Step s = next();
    advance(s.first);
    co_return s.result;
  }
  asio::awaitable<Result<ChatResponse>> chat_stream(const ChatRequest& r, bedrock::DeltaHandler on_delta,
                                                    bedrock::CallOptions) override {
    seen.push_back(r);
    Step s = next();
    advance(s.first);
    bool go_on = true;
    for (const auto& d : s.deltas)
      if (go_on && !co_await on_delta(bedrock::StreamDelta::make_text(d))) go_on = false;
    for (const auto& d : s.pieces)
      if (go_on && !co_await on_delta(d)) go_on = false;
    advance(s.rest);
    co_return s.result;
  }

 private:
  Step next() {
    if (script.empty()) return Step{fail(ErrorKind::internal, "script exhausted")};
    Step s = std::move(script.front());
    script.pop_front();
    return s;
  }
  void advance(std::chrono::nanoseconds d) {
    if (clock) clock->advance(d);
  }
};

Result<ChatResponse> ok(std::int64_t in, std::int64_t out) {
  ChatResponse r;
  r.text = "hi";
  r.usage.input_tokens = in;
  r.usage.output_tokens = out;
  return r;
}

Result<ChatResponse> error(ErrorKind k, bool retryable, bool throttle, std::string code) {
  Error e = Error::make(k, code);
  e.retryable = retryable;
  e.throttle = throttle;
  e.code = std::move(code);
  return std::unexpected(std::move(e));
}

Result<ChatResponse> throttle() { return error(ErrorKind::throttled, true, true, "ThrottlingException"); }

struct Fixture : ::testing::Test {
  ManualClock clock;
  SeededRandom random{11};
  metrics::Registry registry;
  ScriptedClient inner;
  RateLimitConfig config = [] {
    RateLimitConfig c = tpm_config(100'000, 1000);
    c.retry.base = 1ms;
    c.retry.throttle_base = 2ms;
    c.retry.cap = 4ms;
    c.retry.max_attempts = 3;
    c.adaptive = false;  // on a frozen clock its measured rate is 0 (0.5/s floor: 2 s real waits)
    return c;
  }();
  std::unique_ptr<InProcessBudgetStore> store;
  std::unique_ptr<LimiterAdmission> admission;
  std::unique_ptr<RetryBudget> retry_budget;
  std::unique_ptr<RetryingClient> client;
  asio::io_context io;

  void make() {
    store = std::make_unique<InProcessBudgetStore>(config, clock);
    admission = std::make_unique<LimiterAdmission>(*store, clock);
    retry_budget = std::make_unique<RetryBudget>(config.retry);
    client = std::make_unique<RetryingClient>(inner, *admission, *retry_budget, registry, clock, random,
                                              RetryingClient::Options{.region = "us-east-1", .config = config});
  }
  double counter(const char* name) {
    return registry.counter(name, "", {"model"}).labels({kModel}).value();
  }
  static ChatRequest request(int max_tokens = 100) {
    ChatRequest r;
    r.model_id = kModel;
    r.max_tokens = max_tokens;
    r.messages.push_back({"user", {bedrock::ContentBlock::make_text(std::string(300, 'x'))}});  // ~104 tokens
    return r;
  }
  static constexpr const char* kModel = "us.anthropic.claude-sonnet-4-20250514-v1:0";
  Key key() const { return Key{kModel, "us-east-1"}; }
};

using RetryingClientTest = Fixture;

TEST_F(RetryingClientTest, ThrottleThrottleSuccessIsThreeCallsAndOneRealCharge) {
  make();
  inner.script = {{throttle()}, {throttle()}, {ok(120, 40)}};
  CallStats stats;
  auto r = run_sync(io, client->chat(request(), {}, &stats));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(inner.seen.size(), 3u);
  EXPECT_EQ(stats.attempts, 3);
  EXPECT_EQ(stats.throttles, 2);
  EXPECT_EQ(stats.final_status, RetryStatus::yes);
  EXPECT_EQ(stats.reserved_tokens, 104 + 100 * 5);  // 300 bytes / 3 + 4 framing + 100 × burndown 5
  EXPECT_EQ(stats.charged_tokens, 120 + 40 * 5);  // throttled attempts cost nothing
  EXPECT_EQ(store->outstanding(), 0u);
  // Frozen clock: the TPM bucket lost exactly the real charge; 3 requests were counted.
  auto s = store->snapshot(key());
  EXPECT_NEAR(s.tokens_available, 100'000 - 320, 1e-9);
  EXPECT_NEAR(s.requests_available, 1000 - 3, 1e-9);
  EXPECT_EQ(counter("ba_upstream_throttles_total"), 2);
  EXPECT_EQ(counter("ba_retries_total"), 2);
  EXPECT_EQ(counter("ba_retry_budget_exhausted_total"), 0);
  EXPECT_EQ(retry_budget->available(), 500);  // 2 retries took 10 and the success refunded them
  EXPECT_NE(registry.render().find("ba_retries_total{model=\"" + std::string(kModel) + "\"} 2\n"), std::string::npos);
}

// Issue 13: admit, then send. admit() reserves without sending; send() uses that reservation; a call
// dropped after admit() gives all of it back.
TEST_F(RetryingClientTest, AdmitThenSendReservesOnceAndADroppedCallRefundsEverything) {
  make();
  inner.script = {{ok(120, 40)}};
  auto call = client->start(request(), {});
  ASSERT_TRUE(run_sync(io, call->admit()));
  EXPECT_TRUE(inner.seen.empty());
  EXPECT_EQ(store->outstanding(), 1u);
  auto r = run_sync(io, call->send(nullptr));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(inner.seen.size(), 1u);
  EXPECT_EQ(store->outstanding(), 0u);
  EXPECT_EQ(call->report().attempts, 1);
  EXPECT_EQ(call->report().max_tokens, 100);
  EXPECT_NEAR(store->snapshot(key()).requests_available, 1000 - 1, 1e-9);

  auto dropped = client->start(request(), {});
  ASSERT_TRUE(run_sync(io, dropped->admit()));
  EXPECT_EQ(store->outstanding(), 1u);
  dropped.reset();
  EXPECT_EQ(store->outstanding(), 0u);
  EXPECT_EQ(inner.seen.size(), 1u);
  auto s = store->snapshot(key());
  EXPECT_NEAR(s.requests_available, 1000 - 1, 1e-9);  // the dropped call cost nothing
  EXPECT_NEAR(s.tokens_available, 100'000 - (120 + 40 * 5), 1e-9);
}

TEST_F(RetryingClientTest, ValidationErrorIsOneCallAndRefunded) {
  make();
  inner.script = {{error(ErrorKind::invalid_input, false, false, "ValidationException")}};
  CallStats stats;
  auto r = run_sync(io, client->chat(request(), {}, &stats));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_input);
  EXPECT_EQ(inner.seen.size(), 1u);
  EXPECT_EQ(stats.final_status, RetryStatus::no_not_retryable);
  EXPECT_NEAR(store->snapshot(key()).tokens_available, 100'000, 1e-9);
  EXPECT_EQ(counter("ba_retries_total"), 0);
}

TEST_F(RetryingClientTest, PerDayQuotaIsNotRetried) {
  make();
  inner.script = {{error(ErrorKind::quota_exceeded, false, true, "ThrottlingException")}, {ok(1, 1)}};
  CallStats stats;
  auto r = run_sync(io, client->chat(request(), {}, &stats));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::quota_exceeded);
  EXPECT_EQ(inner.seen.size(), 1u);
  EXPECT_EQ(stats.final_status, RetryStatus::no_not_retryable);
}

TEST_F(RetryingClientTest, StreamingRetriesOnlyBeforeTheFirstDelta) {
  make();
  inner.script = {{throttle()}, {ok(10, 2), {"he", "llo"}}};
  std::string got;
  bedrock::DeltaHandler sink = [&](const bedrock::StreamDelta& d) -> asio::awaitable<bool> {
    got += d.text;
    co_return true;
  };
  CallStats stats;
  auto r = run_sync(io, client->chat_stream(request(), sink, {}, &stats));
  ASSERT_TRUE(r);
  EXPECT_EQ(inner.seen.size(), 2u);
  EXPECT_EQ(got, "hello");

  inner.seen.clear();
  got.clear();
  inner.script = {{error(ErrorKind::unavailable, true, false, "ServiceUnavailableException"), {"par"}}, {ok(1, 1)}};
  auto r2 = run_sync(io, client->chat_stream(request(), sink, {}, &stats));
  ASSERT_FALSE(r2);
  EXPECT_EQ(inner.seen.size(), 1u);
  EXPECT_EQ(got, "par");
  EXPECT_EQ(stats.final_status, RetryStatus::no_partial_stream);
  EXPECT_EQ(stats.charged_tokens, stats.reserved_tokens);  // charged an unknown amount: keep the reservation
  EXPECT_EQ(store->outstanding(), 0u);
}

TEST_F(RetryingClientTest, AStreamThatStartedAToolCallIsNeverRetried) {
  make();
  using Kind = bedrock::StreamDelta::Kind;
  // No text reached the caller, only a tool call's start (then its first input fragment): the caller
  // already showed the call, so a retryable failure after it is the answer.
  for (const auto& pieces : {std::vector<bedrock::StreamDelta>{{.kind = Kind::tool_use_start, .tool_use_id = "t1", .name = "f"}},
                             std::vector<bedrock::StreamDelta>{{.kind = Kind::tool_use_start, .tool_use_id = "t1", .name = "f"},
                                                               {.kind = Kind::tool_use_input, .text = "{\"a\"", .tool_use_id = "t1"}}}) {
    inner.seen.clear();
    inner.script = {{throttle(), {}, {}, {}, pieces}, {ok(1, 1)}};
    std::vector<Kind> got;
    bedrock::DeltaHandler sink = [&](const bedrock::StreamDelta& d) -> asio::awaitable<bool> {
      got.push_back(d.kind);
      co_return true;
    };
    CallStats stats;
    auto r = run_sync(io, client->chat_stream(request(), sink, {}, &stats));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::throttled);
    EXPECT_EQ(inner.seen.size(), 1u);
    EXPECT_EQ(got.size(), pieces.size());
    EXPECT_EQ(stats.final_status, RetryStatus::no_partial_stream);
    EXPECT_EQ(store->outstanding(), 0u);
  }
}

TEST_F(RetryingClientTest, RetryBudgetExhaustion) {
  config.retry.budget_capacity = 5;
  make();
  inner.script = {{throttle()}, {throttle()}, {ok(1, 1)}};
  CallStats stats;
  auto r = run_sync(io, client->chat(request(), {}, &stats));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::throttled);
  EXPECT_EQ(inner.seen.size(), 2u);
  EXPECT_EQ(stats.final_status, RetryStatus::no_budget);
  EXPECT_EQ(counter("ba_retries_total"), 1);
  EXPECT_EQ(counter("ba_retry_budget_exhausted_total"), 1);
}

TEST_F(RetryingClientTest, DeadlineStopsRetriesThatWouldCrossIt) {
  make();
  Result<ChatResponse> slow = throttle();
  slow.error().retry_after = 10s;
  inner.script = {{slow}, {ok(1, 1)}};
  CallStats stats;
  auto r = run_sync(io, client->chat(request(), {.deadline = clock.now() + 1s}, &stats));
  ASSERT_FALSE(r);
  EXPECT_EQ(inner.seen.size(), 1u);
  EXPECT_EQ(stats.final_status, RetryStatus::no_deadline);
}

TEST_F(RetryingClientTest, LocalRateLimitAnswers429WithRetryAfterAndCountsIt) {
  config.limits.rpm = 1;
  make();
  inner.script = {{ok(1, 1)}, {ok(1, 1)}};
  ASSERT_TRUE(run_sync(io, client->chat(request(), {})));
  auto r = run_sync(io, client->chat(request(), {.deadline = clock.now() + 5s}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(r.error().retry_after, 60'000ms);  // 1 rpm: the next request slot is a minute away
  EXPECT_EQ(inner.seen.size(), 1u);
  EXPECT_EQ(counter("ba_rate_limited_total"), 1);
}

TEST_F(RetryingClientTest, WaitsAreCountedAndTimed) {
  config.limits.tpm = 6000;  // 100 tokens/s
  make();
  inner.script = {{ok(5090, 0)}, {ok(1, 1)}};
  CallStats s1, s2;
  ASSERT_TRUE(run_sync(io, client->chat(request(1000), {}, &s1)));  // reserves 5104, charged 5090
  EXPECT_EQ(s1.queued, 0ms);
  EXPECT_NEAR(store->snapshot(key()).tokens_available, 910, 1e-9);
  ASSERT_TRUE(run_sync(io, client->chat(request(162), {}, &s2)));  // 104 + 810 = 914: 4 short at 100/s
  EXPECT_EQ(s2.queued, 40ms);
  EXPECT_EQ(counter("ba_ratelimit_waits_total"), 1);
  auto h = registry.histogram("ba_ratelimit_wait_seconds", "", {"model"}, {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30})
               .labels({kModel})
               .snapshot();
  EXPECT_EQ(h.count, 1u);
  EXPECT_NEAR(h.sum, 0.04, 1e-9);
}

TEST_F(RetryingClientTest, MaxTokensIsDefaultedAndClampedPerModel) {
  config.limits.tpm = 0;  // 64000 × 5 would not fit 100k TPM (invalid_input, tested in Budget)
  make();
  inner.script = {{ok(1, 1)}, {ok(1, 1)}};
  CallStats clamp, dflt;
  ASSERT_TRUE(run_sync(io, client->chat(request(1'000'000), {}, &clamp)));
  EXPECT_EQ(clamp.max_tokens, 64'000);
  EXPECT_EQ(inner.seen.back().max_tokens, 64'000);
  ASSERT_TRUE(run_sync(io, client->chat(request(0), {}, &dflt)));
  EXPECT_EQ(dflt.max_tokens, 1024);
  EXPECT_EQ(inner.seen.back().max_tokens, 1024);
}

TEST_F(RetryingClientTest, ThrottleSwitchesTheAdaptiveRateOn) {
  config.adaptive = true;
  config.retry.max_attempts = 1;
  make();
  inner.script = {{ok(1, 1)}, {throttle()}};
  ASSERT_TRUE(run_sync(io, client->chat(request(), {})));
  EXPECT_FALSE(store->snapshot(key()).adaptive_enabled);
  CallStats stats;
  ASSERT_FALSE(run_sync(io, client->chat(request(), {}, &stats)));
  EXPECT_EQ(stats.final_status, RetryStatus::no_attempts_exhausted);
  EXPECT_TRUE(store->snapshot(key()).adaptive_enabled);
}

// Prompt caching: Bedrock's quota counts cache writes as input and cache reads not at all
// (InputTokenCount + CacheWriteInputTokens + OutputTokenCount x burndown); the settlement does the same.
TEST_F(RetryingClientTest, CacheWritesAreChargedAndCacheReadsAreNot) {
  make();
  auto written = ok(10, 20);
  written->usage.cache_write_input_tokens = 3000;
  auto read = ok(10, 20);
  read->usage.cache_read_input_tokens = 3000;
  inner.script = {{written}, {read}};
  CallStats first;
  ASSERT_TRUE(run_sync(io, client->chat(request(), {}, &first)));
  EXPECT_EQ(first.charged_tokens, 10 + 3000 + 20 * 5);
  CallStats second;
  ASSERT_TRUE(run_sync(io, client->chat(request(), {}, &second)));
  EXPECT_EQ(second.charged_tokens, 10 + 20 * 5);  // the 3,000 cached tokens cost the quota nothing
  EXPECT_EQ(store->outstanding(), 0u);
  // Frozen clock: the TPM bucket lost exactly the two settled charges (the reservations were settled).
  EXPECT_NEAR(store->snapshot(key()).tokens_available, 100'000 - (3110 + 110), 1e-9);
}

// ---- Deadline-aware admission (the RetryingClient's LatencyTracker) ----

struct DeadlineAdmissionTest : Fixture {
  // n successful calls on which the model takes `first` to answer (stream: to its first delta), then `rest`.
  void learn(CallKind kind, std::chrono::nanoseconds first, int n = 5, std::chrono::nanoseconds rest = 0ns) {
    inner.clock = &clock;
    for (int i = 0; i < n; ++i) {
      inner.script = {{ok(1, 1), {"a", "b"}, first, rest}};
      auto r = kind == CallKind::stream ? run_sync(io, client->chat_stream(request(), sink(), {}))
                                        : run_sync(io, client->chat(request(), {}));
      ASSERT_TRUE(r) << r.error().message;
    }
    inner.seen.clear();
  }
  static bedrock::DeltaHandler sink() {
    return [](const bedrock::StreamDelta&) -> asio::awaitable<bool> { co_return true; };
  }
};

TEST_F(DeadlineAdmissionTest, FewerThanFiveSamplesChangeNothing) {
  make();
  learn(CallKind::unary, 2s, 4);
  EXPECT_EQ(client->latency().samples(kModel, CallKind::unary), 4u);
  EXPECT_EQ(client->latency().expected(kModel, CallKind::unary), 0ns);
  inner.script = {{ok(1, 1)}};
  auto r = run_sync(io, client->chat(request(), {.deadline = clock.now() + 1500ms}));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(inner.seen.size(), 1u);
  EXPECT_EQ(counter("ba_rate_limited_total"), 0);
}

TEST_F(DeadlineAdmissionTest, TooLittleTimeForTheModelIsRefusedAtOnceWithNothingReserved) {
  make();
  learn(CallKind::unary, 2s);
  ASSERT_EQ(client->latency().expected(kModel, CallKind::unary), 2s);
  const auto before = store->snapshot(key());
  inner.script = {{ok(1, 1)}};
  CallStats stats;
  auto r = run_sync(io, client->chat(request(), {.deadline = clock.now() + 1500ms}, &stats));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::rate_limited);
  ASSERT_TRUE(r.error().retry_after);
  EXPECT_GE(*r.error().retry_after, 1s);
  EXPECT_NE(r.error().message.find("(1500 ms)"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("p90 latency of 2000 ms"), std::string::npos) << r.error().message;
  EXPECT_TRUE(inner.seen.empty());
  EXPECT_EQ(stats.attempts, 0);
  EXPECT_EQ(stats.final_status, RetryStatus::no_deadline);
  // Nothing reserved: no reservation open and the buckets as they were (the clock has not moved).
  EXPECT_EQ(store->outstanding(), 0u);
  const auto after = store->snapshot(key());
  EXPECT_EQ(after.tokens_available, before.tokens_available);
  EXPECT_EQ(after.requests_available, before.requests_available);
  EXPECT_EQ(counter("ba_rate_limited_total"), 1);
}

TEST_F(DeadlineAdmissionTest, ACallWithEnoughTimeLeftIsAdmitted) {
  make();
  learn(CallKind::unary, 2s);
  ASSERT_EQ(client->latency().expected(kModel, CallKind::unary), 2s);
  inner.script = {{ok(1, 1), {}, 2s}};
  auto r = run_sync(io, client->chat(request(), {.deadline = clock.now() + 2500ms}));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(inner.seen.size(), 1u);
  EXPECT_EQ(counter("ba_rate_limited_total"), 0);
  EXPECT_EQ(client->latency().samples(kModel, CallKind::unary), 6u);
}

TEST_F(DeadlineAdmissionTest, AQueuedWaitThatWouldLeaveTooLittleTimeIsRefused) {
  config.limits.tpm = 600'000;  // 10'000 tokens/s
  make();
  learn(CallKind::unary, 2s);
  auto drain = run_sync(io, admission->acquire(key(), Cost{1, 600'000}, std::nullopt));
  ASSERT_TRUE(drain);
  // request() reserves 604 tokens: ready in 60.4 ms, inside the deadline (2.05 s) but not inside the
  // deadline less the model's 2 s.
  inner.script = {{ok(1, 1)}};
  CallStats stats;
  auto r = run_sync(io, client->chat(request(), {.deadline = clock.now() + 2050ms}, &stats));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(r.error().retry_after, 61ms);
  EXPECT_NE(r.error().message.find("p90 latency of 2000 ms"), std::string::npos) << r.error().message;
  EXPECT_TRUE(inner.seen.empty());
  EXPECT_EQ(stats.queued, 0ms);
  EXPECT_EQ(store->outstanding(), 1u);  // only the drain
  EXPECT_EQ(counter("ba_rate_limited_total"), 1);
  admission->settle(*drain, drain->reserved);
}

TEST_F(DeadlineAdmissionTest, StreamsLearnTheTimeToTheFirstDelta) {
  make();
  learn(CallKind::stream, 500ms, 5, 3s);  // first delta after 0.5 s, done after 3.5 s
  EXPECT_EQ(client->latency().expected(kModel, CallKind::stream), 500ms);
  EXPECT_EQ(client->latency().expected(kModel, CallKind::unary), 0ns);  // kinds are learned apart

  inner.script = {{ok(1, 1), {"x"}}, {ok(1, 1)}};
  auto admitted = run_sync(io, client->chat_stream(request(), sink(), {.deadline = clock.now() + 1s}));
  ASSERT_TRUE(admitted) << admitted.error().message;  // 1 s covers the first token, not the whole answer
  auto unary = run_sync(io, client->chat(request(), {.deadline = clock.now() + 100ms}));
  ASSERT_TRUE(unary) << unary.error().message;  // no unary samples yet
  EXPECT_EQ(inner.seen.size(), 2u);

  auto refused = run_sync(io, client->chat_stream(request(), sink(), {.deadline = clock.now() + 400ms}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::rate_limited);
  EXPECT_NE(refused.error().message.find("p90 latency of 500 ms"), std::string::npos) << refused.error().message;
  EXPECT_EQ(inner.seen.size(), 2u);
}

TEST_F(DeadlineAdmissionTest, ARetryThatCannotFinishInTimeIsNotSent) {
  make();
  learn(CallKind::unary, 2s);
  // The first attempt is admitted (3 s left) and throttled after 1.5 s: 1.5 s left, the model needs 2 s.
  inner.script = {{throttle(), {}, 1500ms}, {ok(1, 1)}};
  CallStats stats;
  auto r = run_sync(io, client->chat(request(), {.deadline = clock.now() + 3s}, &stats));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::throttled);  // the upstream answer, not a local 429
  EXPECT_EQ(inner.seen.size(), 1u);
  EXPECT_EQ(stats.attempts, 1);
  EXPECT_EQ(stats.final_status, RetryStatus::no_deadline);
  EXPECT_EQ(counter("ba_retries_total"), 0);
  EXPECT_EQ(counter("ba_rate_limited_total"), 0);
  EXPECT_EQ(store->outstanding(), 0u);
}

}  // namespace
}  // namespace ba::ratelimit
