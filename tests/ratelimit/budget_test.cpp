#include "ratelimit/budget.hpp"

#include <gtest/gtest.h>

#include "ratelimit/cost.hpp"

namespace ba::ratelimit {
namespace {

using namespace std::chrono_literals;

RateLimitConfig limits(double rpm, double tpm, std::int64_t daily = 0) {
  RateLimitConfig c;
  c.limits = BudgetLimits{.rpm = rpm, .tpm = tpm, .daily_tokens = daily};
  return c;
}

const Key kKey{"anthropic.claude-sonnet-4", "us-east-1"};

TEST(Budget, RpmBurstThenSteadyRate) {
  ManualClock clock;
  Budget b(limits(60, 0));
  auto t0 = clock.now();
  for (int i = 0; i < 60; ++i) {
    auto g = b.reserve(kKey, Cost{1, 0}, Now::from(clock));
    ASSERT_TRUE(g) << i;
    EXPECT_EQ(g->ready_at, t0) << i;
  }
  auto g61 = b.reserve(kKey, Cost{1, 0}, Now::from(clock));
  ASSERT_TRUE(g61);
  EXPECT_EQ(g61->ready_at, t0 + 1s);  // 60 rpm refills one request per second
  auto g62 = b.reserve(kKey, Cost{1, 0}, Now::from(clock));
  EXPECT_EQ(g62->ready_at, t0 + 2s);
  clock.advance(10s);  // 10 refilled, 2 already promised
  EXPECT_NEAR(b.snapshot(kKey, Now::from(clock)).requests_available, 8, 1e-9);
}

TEST(Budget, TpmChargesTokensNotRequests) {
  ManualClock clock;
  Budget b(limits(0, 6000));  // 100 tokens/s
  auto t0 = clock.now();
  EXPECT_EQ(b.reserve(kKey, Cost{1, 5000}, Now::from(clock))->ready_at, t0);
  EXPECT_EQ(b.reserve(kKey, Cost{1, 2000}, Now::from(clock))->ready_at, t0 + 10s);  // 1000 short at 100/s
  // A different key has its own budget.
  EXPECT_EQ(b.reserve(Key{"other", "us-east-1"}, Cost{1, 6000}, Now::from(clock))->ready_at, t0);
  EXPECT_EQ(b.reserve(Key{kKey.model, "eu-west-1"}, Cost{1, 6000}, Now::from(clock))->ready_at, t0);
}

TEST(Budget, CostAboveCapacityIsInvalid) {
  ManualClock clock;
  Budget b(limits(50, 6000, 100'000));
  auto g = b.reserve(kKey, Cost{1, 6001}, Now::from(clock));
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().kind, ErrorKind::invalid_input);
  EXPECT_EQ(b.outstanding(), 0u);
  EXPECT_TRUE(b.reserve(kKey, Cost{1, 6000}, Now::from(clock)));
}

TEST(Budget, SettleRefundsAndDebitsExactlyOnce) {
  ManualClock clock;
  Budget b(limits(0, 6000));
  auto g = b.reserve(kKey, Cost{1, 6000}, Now::from(clock));
  EXPECT_NEAR(b.snapshot(kKey, Now::from(clock)).tokens_available, 0, 1e-9);
  EXPECT_TRUE(b.settle(g->id, Cost{1, 1000}, Now::from(clock)));  // refund 5000
  EXPECT_NEAR(b.snapshot(kKey, Now::from(clock)).tokens_available, 5000, 1e-9);
  EXPECT_FALSE(b.settle(g->id, Cost{1, 0}, Now::from(clock)));  // second settle ignored
  EXPECT_NEAR(b.snapshot(kKey, Now::from(clock)).tokens_available, 5000, 1e-9);

  auto g2 = b.reserve(kKey, Cost{1, 1000}, Now::from(clock));  // 4000 left
  EXPECT_TRUE(b.settle(g2->id, Cost{1, 3000}, Now::from(clock)));  // debit 2000 more
  EXPECT_NEAR(b.snapshot(kKey, Now::from(clock)).tokens_available, 2000, 1e-9);
  EXPECT_EQ(b.outstanding(), 0u);
}

TEST(Budget, DailyCapPerUtcDay) {
  // ManualClock starts at 2023-11-14T22:13:20Z; the next UTC midnight is 6400 s later.
  ManualClock clock;
  Budget b(limits(0, 0, 10'000));
  auto g1 = b.reserve(kKey, Cost{1, 6000}, Now::from(clock));
  ASSERT_TRUE(g1);
  auto g2 = b.reserve(kKey, Cost{1, 5000}, Now::from(clock));
  ASSERT_FALSE(g2);
  EXPECT_EQ(g2.error().kind, ErrorKind::quota_exceeded);
  EXPECT_EQ(g2.error().retry_after, std::chrono::milliseconds{6'400'000});
  b.settle(g1->id, Cost{1, 2000}, Now::from(clock));  // the real charge was lower
  EXPECT_EQ(b.snapshot(kKey, Now::from(clock)).daily_used, 2000);
  EXPECT_TRUE(b.reserve(kKey, Cost{1, 5000}, Now::from(clock)));
  EXPECT_FALSE(b.reserve(kKey, Cost{1, 5000}, Now::from(clock)));
  clock.advance(6400s);  // a new UTC day
  EXPECT_EQ(b.snapshot(kKey, Now::from(clock)).daily_used, 0);
  EXPECT_TRUE(b.reserve(kKey, Cost{1, 9000}, Now::from(clock)));
}

TEST(Budget, DeadlineShedsWithRetryAfterAndDebitsNothing) {
  ManualClock clock;
  Budget b(limits(0, 6000));
  auto t0 = clock.now();
  b.reserve(kKey, Cost{1, 6000}, Now::from(clock));
  // 3000 tokens at 100/s: 30 s away; a 29 s deadline cannot make it.
  auto g = b.reserve(kKey, Cost{1, 3000}, Now::from(clock), t0 + 29s);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(g.error().retry_after, std::chrono::milliseconds{30'000});
  EXPECT_NEAR(b.snapshot(kKey, Now::from(clock)).tokens_available, 0, 1e-9);
  // With a long enough deadline it is granted for exactly 30 s later.
  auto ok = b.reserve(kKey, Cost{1, 3000}, Now::from(clock), t0 + 30s);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->ready_at, t0 + 30s);
  // Retry-After counts the waiters ahead: another 1000 tokens is 40 s away.
  clock.advance(5s);
  auto shed = b.reserve(kKey, Cost{1, 1000}, Now::from(clock), clock.now() + 1s);
  ASSERT_FALSE(shed);
  EXPECT_EQ(shed.error().retry_after, std::chrono::milliseconds{35'000});
}

TEST(Budget, FifoNewArrivalNeverOvertakesAQueuedWaiter) {
  ManualClock clock;
  Budget b(limits(0, 6000));
  auto t0 = clock.now();
  auto a = b.reserve(kKey, Cost{1, 6000}, Now::from(clock));
  auto w = b.reserve(kKey, Cost{1, 6000}, Now::from(clock));  // queued: 60 s
  ASSERT_EQ(w->ready_at, t0 + 60s);
  EXPECT_EQ(b.snapshot(kKey, Now::from(clock)).waiting, 1u);
  // A's call was cheaper than reserved: 3000 refunded. The waiter ahead gets it (30 s earlier), and a
  // 1-token request arriving now still goes after the waiter.
  bool moved = false;
  b.settle(a->id, Cost{1, 3000}, Now::from(clock), &moved);
  EXPECT_TRUE(moved);
  EXPECT_EQ(*b.ready_at(w->id, Now::from(clock)), t0 + 30s);
  auto c = b.reserve(kKey, Cost{1, 1}, Now::from(clock));
  EXPECT_GE(c->ready_at, t0 + 30s);
  // Once the waiter leaves (cancelled), its place and tokens are free again.
  b.cancel(c->id, Now::from(clock));
  b.cancel(w->id, Now::from(clock));
  EXPECT_EQ(b.snapshot(kKey, Now::from(clock)).waiting, 0u);
  auto d = b.reserve(kKey, Cost{1, 1}, Now::from(clock));
  EXPECT_EQ(d->ready_at, t0);  // A is charged the 3000 it used; 3000 are left
}

TEST(Budget, RefundsRePlanTheQueueInOrder) {
  ManualClock clock;
  Budget b(limits(0, 6000));  // 100 tokens/s
  auto t0 = clock.now();
  auto a = b.reserve(kKey, Cost{1, 6000}, Now::from(clock));  // max_tokens reserved, sent at once
  auto w1 = b.reserve(kKey, Cost{1, 3000}, Now::from(clock));
  auto w2 = b.reserve(kKey, Cost{1, 3000}, Now::from(clock));
  ASSERT_EQ(w1->ready_at, t0 + 30s);
  ASSERT_EQ(w2->ready_at, t0 + 60s);
  clock.advance(2s);  // A answers using 400 of its 6000 tokens
  bool moved = false;
  ASSERT_TRUE(b.settle(a->id, Cost{1, 400}, Now::from(clock), &moved));
  EXPECT_TRUE(moved);
  // The 5600 given back go to the waiters in order: W1 at once, W2 once 200 more have refilled.
  EXPECT_EQ(*b.ready_at(w1->id, Now::from(clock)), clock.now());
  EXPECT_EQ(*b.ready_at(w2->id, Now::from(clock)), clock.now() + 2s);
  auto late = b.reserve(kKey, Cost{1, 100}, Now::from(clock));
  EXPECT_EQ(late->ready_at, clock.now() + 3s);  // behind W2
  // A settle that gives nothing back moves nobody.
  moved = true;
  b.settle(w1->id, Cost{1, 3000}, Now::from(clock), &moved);
  EXPECT_FALSE(moved);
  // A cancelled waiter's place goes to the ones behind it.
  ASSERT_TRUE(b.cancel(w2->id, Now::from(clock), &moved));
  EXPECT_TRUE(moved);
  EXPECT_EQ(*b.ready_at(late->id, Now::from(clock)), clock.now());
}

TEST(Budget, TheDeadlineCheckCountsTheRefundsToCome) {
  ManualClock clock;
  Budget b(limits(0, 6000));  // 100 tokens/s
  // Replies use a tenth of what is reserved (max_tokens is a ceiling): the key learns it from settles.
  for (int i = 0; i < 3; ++i) {
    auto g = b.reserve(kKey, Cost{1, 1000}, Now::from(clock));
    ASSERT_TRUE(b.settle(g->id, Cost{1, 100}, Now::from(clock)));
  }
  clock.advance(60s);  // full again
  const auto t0 = clock.now();
  ASSERT_TRUE(b.reserve(kKey, Cost{1, 3000}, Now::from(clock)));
  auto a = b.reserve(kKey, Cost{1, 3000}, Now::from(clock));  // both sent at once; the bucket is empty
  // At full cost C would wait 30 s, past its 10 s deadline; but the 6000 tokens in flight should give
  // 5400 back: it queues, its send time still computed at full cost.
  auto c = b.reserve(kKey, Cost{1, 3000}, Now::from(clock), t0 + 10s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->ready_at, t0 + 30s);
  // One that would not fit even so is shed at once, told when it could go with the refunds counted:
  // 9000 out, 8100 back, 900 short of 6000 at 100/s.
  auto e = b.reserve(kKey, Cost{1, 6000}, Now::from(clock), t0 + 5s);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(e.error().retry_after, std::chrono::milliseconds{9000});
  // A's reply is charged 300: the refund moves C to t0 + 3 s, inside its deadline.
  clock.advance(2s);
  bool moved = false;
  ASSERT_TRUE(b.settle(a->id, Cost{1, 300}, Now::from(clock), &moved));
  EXPECT_TRUE(moved);
  EXPECT_EQ(*b.ready_at(c->id, Now::from(clock)), t0 + 3s);
  // D queues the same way (in flight and ahead: 6000, 5400 expected back), but no refund comes before
  // its deadline: then it gives up, with nothing charged.
  auto d = b.reserve(kKey, Cost{1, 3000}, Now::from(clock), t0 + 4s);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->ready_at, t0 + 33s);
  EXPECT_EQ(*b.ready_at(d->id, Now::from(clock)), t0 + 33s);  // before its deadline: still waiting
  clock.advance(2s);
  auto gone = b.ready_at(d->id, Now::from(clock), &moved);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(gone.error().retry_after, std::chrono::milliseconds{29'000});
  EXPECT_EQ(b.outstanding(), 2u);  // the first reservation and C
}

TEST(Budget, WithoutSettlesTheDeadlineCheckExpectsNoRefund) {
  ManualClock clock;
  Budget b(limits(0, 6000));
  const auto t0 = clock.now();
  ASSERT_TRUE(b.reserve(kKey, Cost{1, 6000}, Now::from(clock)));
  auto late = b.reserve(kKey, Cost{1, 3000}, Now::from(clock), t0 + 10s);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().retry_after, std::chrono::milliseconds{30'000});
  // A settle that charged nothing (a failed call) teaches nothing, and a few replies are needed.
  ChargeRatio ratio;
  for (int i = 0; i < 5; ++i) ratio.add(1000, 0);
  EXPECT_EQ(ratio.expected(), 1.0);
  ratio.add(1000, 100);
  ratio.add(1000, 100);
  EXPECT_EQ(ratio.expected(), 1.0);  // two replies are not enough
  ratio.add(1000, 100);
  EXPECT_DOUBLE_EQ(ratio.expected(), 0.1);
}

TEST(Budget, CancelRefundsEverything) {
  ManualClock clock;
  Budget b(limits(10, 6000));
  auto g = b.reserve(kKey, Cost{1, 4000}, Now::from(clock));
  EXPECT_TRUE(b.cancel(g->id, Now::from(clock)));
  auto s = b.snapshot(kKey, Now::from(clock));
  EXPECT_NEAR(s.tokens_available, 6000, 1e-9);
  EXPECT_NEAR(s.requests_available, 10, 1e-9);
  EXPECT_FALSE(b.cancel(g->id, Now::from(clock)));
  EXPECT_EQ(b.outstanding(), 0u);
}

TEST(Budget, AdaptiveThrottleEmptiesTheBucketsAndLowersTheRatesOncePerBurst) {
  ManualClock clock;
  Budget b(limits(6000, 60'000));  // 100 requests/s, 1,000 tokens/s
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(b.reserve(kKey, Cost{1, 10}, Now::from(clock))->ready_at, clock.now());
    clock.advance(100ms);
    b.on_response(kKey, false, Now::from(clock));
  }
  auto before = b.snapshot(kKey, Now::from(clock));
  EXPECT_FALSE(before.adaptive_enabled);
  EXPECT_DOUBLE_EQ(before.adaptive_scale, 1.0);
  EXPECT_GT(before.tokens_available, 50'000);

  // Bedrock throttled: its bucket is empty, so ours is emptied too and the rates drop to 90%.
  b.on_response(kKey, true, Now::from(clock));
  auto s = b.snapshot(kKey, Now::from(clock));
  ASSERT_TRUE(s.adaptive_enabled);
  EXPECT_DOUBLE_EQ(s.adaptive_scale, 0.9);
  EXPECT_DOUBLE_EQ(s.adaptive_fill_rate, 90.0);
  EXPECT_LE(s.tokens_available, 0.0);
  EXPECT_LE(s.requests_available, 0.0);
  // The next send waits for 10 tokens at 900 tokens/s.
  auto g = b.reserve(kKey, Cost{1, 10}, Now::from(clock));
  EXPECT_EQ(g->ready_at, clock.now() + std::chrono::nanoseconds(static_cast<std::int64_t>(10.0 / 900.0 * 1e9) + 1))
      << (g->ready_at - clock.now()).count();

  // More throttles of the same burst (within 1 s of the decrease) do not lower the rates again ...
  clock.advance(500ms);
  b.on_response(kKey, true, Now::from(clock));
  EXPECT_NEAR(b.snapshot(kKey, Now::from(clock)).adaptive_scale, 0.9 + 0.1 * 0.5 / 60, 1e-9);  // climbing
  // ... a later one does, from the rate in force then (it has risen by 10% a minute for 1.5 s). Our
  // buckets refilled meanwhile (not rate-bound): x0.9, whatever the successes per second were.
  clock.advance(1s);
  const double in_force = 0.9 + 0.1 * 1.5 / 60;
  EXPECT_NEAR(b.snapshot(kKey, Now::from(clock)).adaptive_scale, in_force, 1e-9);
  b.on_response(kKey, true, Now::from(clock));
  EXPECT_NEAR(b.snapshot(kKey, Now::from(clock)).adaptive_scale, in_force * 0.9, 1e-9);
  EXPECT_NEAR(b.snapshot(kKey, Now::from(clock)).adaptive_fill_rate, 100 * in_force * 0.9, 1e-9);

  // The rate climbs back to the configured one with time (AdaptiveRateInForceDependsOnlyOn... below).
  clock.advance(std::chrono::minutes(30));
  b.on_response(kKey, false, Now::from(clock));
  EXPECT_DOUBLE_EQ(b.snapshot(kKey, Now::from(clock)).adaptive_scale, 1.0);
  EXPECT_DOUBLE_EQ(b.snapshot(kKey, Now::from(clock)).adaptive_fill_rate, 100.0);

  RateLimitConfig off = limits(6000, 0);
  off.adaptive = false;
  Budget b2(off);
  b2.on_response(kKey, true, Now::from(clock));
  EXPECT_EQ(b2.reserve(kKey, Cost{1, 0}, Now::from(clock))->ready_at, clock.now());
  EXPECT_FALSE(b2.snapshot(kKey, Now::from(clock)).adaptive_enabled);
}

// ---- cost model ----

TEST(Cost, ModelTableBurndownAndClamp) {
  auto s4 = model_profile("us.anthropic.claude-sonnet-4-20250514-v1:0");
  EXPECT_EQ(s4.burndown, 5.0);
  EXPECT_EQ(s4.max_tokens_clamp, 64'000);
  EXPECT_EQ(model_profile("anthropic.claude-opus-4-1-20250805-v1:0").burndown, 5.0);
  EXPECT_EQ(model_profile("global.anthropic.claude-sonnet-4-5-20250929-v1:0").burndown, 5.0);
  EXPECT_EQ(model_profile("anthropic.claude-3-7-sonnet-20250219-v1:0").burndown, 1.0);
  auto c35 = model_profile("anthropic.claude-3-5-sonnet-20240620-v1:0");
  EXPECT_EQ(c35.burndown, 1.0);
  EXPECT_EQ(c35.max_tokens_clamp, 8192);
  EXPECT_EQ(model_profile("amazon.titan-text-premier-v1:0").max_tokens_clamp, 3072);
  EXPECT_EQ(model_profile("amazon.titan-text-express-v1").max_tokens_clamp, 8192);
  EXPECT_EQ(model_profile("meta.llama3").family, "default");
}

TEST(Cost, OverridesLongestKeyWins) {
  RateLimitConfig c;
  c.model_overrides["claude"] = ModelOverride{.burndown = 2.0};
  c.model_overrides["claude-3-5-sonnet"] = ModelOverride{.burndown = 3.0, .max_tokens_clamp = 100};
  c.default_max_tokens = 512;
  auto p = model_profile("anthropic.claude-3-5-sonnet-20240620-v1:0", c);
  EXPECT_EQ(p.burndown, 3.0);
  EXPECT_EQ(p.max_tokens_clamp, 100);
  EXPECT_EQ(p.default_max_tokens, 100);  // a default never exceeds the clamp
  EXPECT_EQ(model_profile("anthropic.claude-3-haiku", c).burndown, 2.0);
  EXPECT_EQ(model_profile("anthropic.claude-3-haiku", c).default_max_tokens, 512);
}

TEST(Cost, MaxTokensDefaultAndClamp) {
  auto p = model_profile("anthropic.claude-3-5-haiku-20241022-v1:0");
  EXPECT_EQ(effective_max_tokens(0, p), p.default_max_tokens);
  EXPECT_EQ(effective_max_tokens(-1, p), p.default_max_tokens);
  EXPECT_EQ(effective_max_tokens(500, p), 500);
  EXPECT_EQ(effective_max_tokens(1'000'000, p), 8192);
}

TEST(Cost, EstimatesAndCharges) {
  EXPECT_EQ(estimate_text_tokens(""), 0);
  EXPECT_EQ(estimate_text_tokens("abc"), 1);
  EXPECT_EQ(estimate_text_tokens("abcd"), 2);
  EXPECT_EQ(estimate_text_tokens(std::string(300, 'x')), 100);
  EXPECT_EQ(estimate_text_tokens(std::string(300, 'x'), 4.0), 75);

  bedrock::ChatRequest r;
  r.system = std::string(30, 's');                                                    // 10
  r.messages.push_back({"user", {bedrock::ContentBlock::make_text(std::string(60, 'u'))}});  // 4 + 20
  bedrock::ContentBlock img{.type = bedrock::ContentBlock::Type::image, .format = "png", .bytes = "x"};
  bedrock::ContentBlock pdf{.type = bedrock::ContentBlock::Type::document, .format = "pdf", .name = "abc",
                            .bytes = std::string(80, 'p')};
  r.messages.push_back({"assistant", {img, pdf}});  // 4 + 1600 + 10 + 1
  EXPECT_EQ(estimate_input_tokens(r), 10 + 24 + 4 + 1600 + 10 + 1);

  // Tools count as text: definitions (8 + name + description + schema), calls (4 + id + name + input),
  // results (4 + id + text).
  const std::int64_t before = estimate_input_tokens(r);
  r.tools.push_back(bedrock::ToolSpec{.name = "fff", .description = std::string(30, 'd'), .input_schema = std::string(60, '{')});
  EXPECT_EQ(estimate_input_tokens(r), before + 8 + 1 + 10 + 20);
  r.messages.push_back({"assistant", {bedrock::ContentBlock::make_tool_use("iii", "nnn", std::string(90, 'j'))}});
  bedrock::ContentBlock result{.type = bedrock::ContentBlock::Type::tool_result};
  result.tool_use_id = "iii";
  result.content.push_back(bedrock::ContentBlock::make_text(std::string(33, 'r')));
  r.messages.push_back({"user", {result}});
  EXPECT_EQ(estimate_input_tokens(r), before + 39 + (4 + 4 + 1 + 1 + 30) + (4 + 4 + 1 + 11));

  EXPECT_EQ(estimate_cost(500, 1000, 5.0), 5500);  // bedrock-protocol.md §6
  EXPECT_EQ(estimate_cost(500, 1000, 1.0), 1500);
  bedrock::Usage u{.input_tokens = 100, .output_tokens = 20, .cache_read_input_tokens = 7,
                   .cache_write_input_tokens = 30};
  EXPECT_EQ(charged_tokens(u, 5.0), 100 + 30 + 100);
  EXPECT_EQ(charged_tokens(u, 1.0), 150);
}

}  // namespace
}  // namespace ba::ratelimit

namespace ba::ratelimit {
namespace {

TEST(Budget, AdaptiveProbesSlowlyNearTheRateOfTheLastThrottle) {
  using namespace std::chrono_literals;
  ManualClock clock;
  RateLimitConfig c;
  c.limits = BudgetLimits{.rpm = 600, .tpm = 60'000, .daily_tokens = 0};
  Budget b(c);
  const Key key{.model = "m", .region = "r"};
  b.on_response(key, true, Now::from(clock));  // throttled at scale 1.0 -> 0.9
  EXPECT_DOUBLE_EQ(b.snapshot(key, Now::from(clock)).adaptive_scale, 0.9);
  clock.advance(30s);  // well below the throttle point: +10% a minute
  b.on_response(key, false, Now::from(clock));
  EXPECT_NEAR(b.snapshot(key, Now::from(clock)).adaptive_scale, 0.95, 1e-9);
  clock.advance(60s);  // within 5% of it: +1% a minute
  b.on_response(key, false, Now::from(clock));
  EXPECT_NEAR(b.snapshot(key, Now::from(clock)).adaptive_scale, 0.96, 1e-9);
  EXPECT_NEAR(b.snapshot(key, Now::from(clock)).adaptive_fill_rate, 600 * 0.96 / 60, 1e-9);
}

}  // namespace
}  // namespace ba::ratelimit

namespace ba::ratelimit {
namespace {

using namespace std::chrono_literals;

TEST(Budget, AThrottleAdaptsOnlyTheDimensionBedrockNamed) {
  ManualClock clock;
  RateLimitConfig c;
  c.limits = BudgetLimits{.rpm = 600, .tpm = 60'000};
  Budget b(c);
  const Key key{"m", "r"};
  b.on_response(key, Feedback::throttled_tokens, Now::from(clock));
  auto s = b.snapshot(key, Now::from(clock));
  EXPECT_DOUBLE_EQ(s.adaptive_token_scale, 0.9);
  EXPECT_DOUBLE_EQ(s.adaptive_scale, 1.0);
  EXPECT_LE(s.tokens_available, 0.0);             // the token bucket was emptied
  EXPECT_NEAR(s.requests_available, 600, 1e-9);  // the request bucket was not

  clock.advance(10s);
  b.on_response(key, Feedback::throttled_requests, Now::from(clock));
  s = b.snapshot(key, Now::from(clock));
  EXPECT_DOUBLE_EQ(s.adaptive_scale, 0.9);
  EXPECT_NEAR(s.adaptive_token_scale, 0.9 + 0.1 * 10 / 60, 1e-9);  // climbing since its decrease
  EXPECT_LE(s.requests_available, 0.0);
  EXPECT_NEAR(s.tokens_available, 10 * 1000 * 0.9, 1e-6);  // refilled 10 s at 90%, not emptied again

  clock.advance(10s);
  b.on_response(key, Feedback::throttled, Now::from(clock));  // unnamed: both, x0.9 of the rates in force
  s = b.snapshot(key, Now::from(clock));
  EXPECT_NEAR(s.adaptive_scale, (0.9 + 0.1 * 10 / 60) * 0.9, 1e-9);
  EXPECT_NEAR(s.adaptive_token_scale, (0.9 + 0.1 * 20 / 60) * 0.9, 1e-9);
}

TEST(Budget, AdaptiveRateInForceDependsOnlyOnTheLastDecreaseAndTheTimeSince) {
  ManualClock clock;
  Budget quiet(limits(600, 0)), busy(limits(600, 0));
  quiet.on_response(kKey, true, Now::from(clock));  // nothing measured: x0.9
  busy.on_response(kKey, true, Now::from(clock));
  auto scale_at = [&](Budget& b, std::chrono::seconds after) {
    return b.snapshot(kKey, Now{clock.now() + after, clock.wall() + after}).adaptive_scale;
  };
  // +10% of the configured rate a minute up to 95% of the rate of the last throttle (1.0 here), then +1%.
  EXPECT_DOUBLE_EQ(scale_at(quiet, 0s), 0.9);
  EXPECT_NEAR(scale_at(quiet, 15s), 0.925, 1e-9);
  EXPECT_NEAR(scale_at(quiet, 30s), 0.95, 1e-9);
  EXPECT_NEAR(scale_at(quiet, 90s), 0.96, 1e-9);
  EXPECT_NEAR(scale_at(quiet, 330s), 1.0, 1e-9);
  EXPECT_DOUBLE_EQ(scale_at(quiet, 3600s), 1.0);
  // Successes (or their absence) change nothing: only the time since the decrease counts.
  for (int i = 0; i < 90; ++i) {
    clock.advance(1s);
    busy.on_response(kKey, false, Now::from(clock));
  }
  EXPECT_NEAR(busy.snapshot(kKey, Now::from(clock)).adaptive_scale, 0.96, 1e-9);
  EXPECT_NEAR(busy.snapshot(kKey, Now::from(clock)).adaptive_fill_rate, 10 * 0.96, 1e-9);
  EXPECT_NEAR(quiet.snapshot(kKey, Now::from(clock)).adaptive_scale, 0.96, 1e-9);
}

void throttle(Budget& b, const ManualClock& clock) { b.on_response(kKey, Feedback::throttled_requests, Now::from(clock)); }
double scale(Budget& b, const ManualClock& clock) { return b.snapshot(kKey, Now::from(clock)).adaptive_scale; }

TEST(Budget, AdaptiveDecreaseGoesToTheMeasuredAcceptedRateWhenOurRateBinds) {
  ManualClock clock;
  Budget b(limits(1200, 0));  // 20 requests/s
  throttle(b, clock);  // the first throttle: nothing measured, x0.9
  ASSERT_DOUBLE_EQ(scale(b, clock), 0.9);
  // 100 requests queue: our rate binds, we send at exactly the rate in force.
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(b.reserve(kKey, Cost{1, 0}, Now::from(clock)));
  // Throttles within the hold (1 s) lower nothing, but those after the first 250 ms are counted.
  clock.advance(100ms);
  throttle(b, clock);  // a call sent before the decrease: not counted
  for (int i = 0; i < 4; ++i) {
    clock.advance(200ms);
    throttle(b, clock);  // at 0.3, 0.5, 0.7, 0.9 s
  }
  EXPECT_NEAR(scale(b, clock), 0.9 + 0.1 * 0.9 / 60, 1e-9);
  clock.advance(350ms);
  ASSERT_LT(b.snapshot(kKey, Now::from(clock)).requests_available, 1.0);
  const double in_force = 0.9 + 0.1 * 1.25 / 60;
  ASSERT_NEAR(scale(b, clock), in_force, 1e-9);
  // At 1.25 s: 5 throttles in the 1 s since 0.25 s. We sent 20 x in_force per second, Bedrock
  // accepted 5 a second fewer: the rate goes straight there.
  throttle(b, clock);
  EXPECT_NEAR(scale(b, clock), in_force - 5.0 / 20, 1e-9);
  EXPECT_NEAR(b.snapshot(kKey, Now::from(clock)).adaptive_fill_rate, 20 * in_force - 5, 1e-9);
}

TEST(Budget, AdaptiveDecreaseIsBetweenHalfAndNinetyPercentOfTheRateInForce) {
  ManualClock clock;
  Budget b(limits(1200, 0));
  throttle(b, clock);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(b.reserve(kKey, Cost{1, 0}, Now::from(clock)));
  // Accepted would be below 0 (30 throttles a second at 18/s): halved.
  for (int i = 0; i < 30; ++i) {
    clock.advance(std::chrono::milliseconds(1000 / 30));
    throttle(b, clock);
  }
  clock.advance(500ms);
  double in_force = scale(b, clock);
  throttle(b, clock);
  EXPECT_NEAR(scale(b, clock), in_force * 0.5, 1e-9);
  // A single throttle after 20 quiet seconds (our rate still binding): at most x0.9.
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(b.reserve(kKey, Cost{1, 0}, Now::from(clock)));
  clock.advance(20s);
  ASSERT_LT(b.snapshot(kKey, Now::from(clock)).requests_available, 1.0);
  in_force = scale(b, clock);
  throttle(b, clock);
  EXPECT_NEAR(scale(b, clock), in_force * 0.9, 1e-9);
}

TEST(Budget, AdaptiveIgnoresTheThrottleRateWhenOurBucketStillHeldRequests) {
  ManualClock clock;
  Budget b(limits(1200, 0));  // 20 requests/s, bucket of 1,200
  throttle(b, clock);
  clock.advance(300ms);
  for (int i = 0; i < 20; ++i) throttle(b, clock);  // many throttles, but our bucket refills (nothing queued)
  clock.advance(1s);
  ASSERT_GT(b.snapshot(kKey, Now::from(clock)).requests_available, 1.0);
  const double in_force = scale(b, clock);
  throttle(b, clock);  // a burst, not our rate: x0.9
  EXPECT_NEAR(scale(b, clock), in_force * 0.9, 1e-9);
}

TEST(Budget, AdaptiveFirstThrottleIsNeverMeasured) {
  ManualClock clock;
  Budget b(limits(600, 0));
  ASSERT_TRUE(b.reserve(kKey, Cost{600, 0}, Now::from(clock)));  // our rate binds
  ASSERT_TRUE(b.reserve(kKey, Cost{1, 0}, Now::from(clock)));
  ASSERT_LT(b.snapshot(kKey, Now::from(clock)).requests_available, 1.0);
  throttle(b, clock);
  EXPECT_DOUBLE_EQ(scale(b, clock), 0.9);
}

TEST(Budget, AThrottleReplansTheQueueFromAnEmptyBucketAtTheLowerRate) {
  ManualClock clock;
  Budget b(limits(0, 60'000));  // 1,000 tokens/s
  const auto t0 = clock.now();
  auto first = b.reserve(kKey, Cost{1, 59'000}, Now::from(clock));
  ASSERT_EQ(first->ready_at, t0);
  // 1,000 tokens left: `a` fits now, `c` and `d` queue for 1 s and 2 s.
  auto a = b.reserve(kKey, Cost{1, 1000}, Now::from(clock));
  auto c = b.reserve(kKey, Cost{1, 1000}, Now::from(clock));
  auto d = b.reserve(kKey, Cost{1, 1000}, Now::from(clock), t0 + 3s);
  ASSERT_EQ(a->ready_at, t0);
  ASSERT_EQ(c->ready_at, t0 + 1s);
  ASSERT_EQ(d->ready_at, t0 + 2s);
  EXPECT_EQ(b.snapshot(kKey, Now::from(clock)).waiting, 2u);

  // At 0.5 s Bedrock throttles a call: its bucket is empty. c and d were planned with 500 tokens that
  // are not there, at a rate that is now 900 tokens/s.
  clock.advance(500ms);
  b.on_response(kKey, Feedback::throttled_tokens, Now::from(clock));
  const auto now = clock.now();
  auto rc = b.ready_at(c->id, Now::from(clock));
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, now + std::chrono::ceil<SteadyTime::duration>(std::chrono::duration<double>(1000.0 / 900.0)));
  // d would now go at ~2.72 s, within its 3 s deadline; first and a were already sent and keep their times.
  auto rd = b.ready_at(d->id, Now::from(clock));
  ASSERT_TRUE(rd);
  EXPECT_GT(*rd, *rc);
  EXPECT_LE(*rd, t0 + 3s);
  EXPECT_EQ(*b.ready_at(a->id, Now::from(clock)), t0);
  EXPECT_EQ(b.snapshot(kKey, Now::from(clock)).waiting, 2u);
  // A new request queues behind them (FIFO).
  auto e = b.reserve(kKey, Cost{1, 10}, Now::from(clock));
  EXPECT_GE(e->ready_at, *rd);
}

TEST(Budget, AReplanShedsWaitersItWouldPushPastTheirDeadline) {
  ManualClock clock;
  Budget b(limits(0, 60'000));  // 1,000 tokens/s
  const auto t0 = clock.now();
  ASSERT_TRUE(b.reserve(kKey, Cost{1, 60'000}, Now::from(clock)));
  auto early = b.reserve(kKey, Cost{1, 1000}, Now::from(clock), t0 + 1500ms);  // at 1 s
  auto late = b.reserve(kKey, Cost{1, 1000}, Now::from(clock), t0 + 2100ms);   // at 2 s
  ASSERT_EQ(early->ready_at, t0 + 1s);
  ASSERT_EQ(late->ready_at, t0 + 2s);
  b.on_response(kKey, Feedback::throttled_tokens, Now::from(clock));  // 900 tokens/s from empty
  auto re = b.ready_at(early->id, Now::from(clock));
  ASSERT_TRUE(re);
  EXPECT_LE(*re, t0 + 1500ms);
  auto rl = b.ready_at(late->id, Now::from(clock));  // would be ~2.22 s: past 2.1 s
  ASSERT_FALSE(rl);
  EXPECT_EQ(rl.error().kind, ErrorKind::rate_limited);
  ASSERT_TRUE(rl.error().retry_after);
  EXPECT_EQ(*rl.error().retry_after, 2223ms);
  EXPECT_EQ(b.outstanding(), 2u);  // the first and `early`; `late` is gone
  EXPECT_EQ(b.snapshot(kKey, Now::from(clock)).waiting, 1u);
  EXPECT_FALSE(b.cancel(late->id, Now::from(clock)));  // nothing left to refund
  // Asked again (or never known): ready now.
  EXPECT_EQ(*b.ready_at(late->id, Now::from(clock)), clock.now());
}

}  // namespace
}  // namespace ba::ratelimit
