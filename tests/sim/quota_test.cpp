#include "sim/quota.hpp"

#include <gtest/gtest.h>

namespace ba::sim {
namespace {

using namespace std::chrono_literals;

TEST(QuotaModel, ThirdRequestInTheSameMinuteIsThrottledWithRpm2) {
  ManualClock clock;
  QuotaModel q({.requests_per_minute = 2}, clock);
  EXPECT_EQ(q.admit("m", 10, 100).verdict, QuotaVerdict::admitted);
  EXPECT_EQ(q.admit("m", 10, 100).verdict, QuotaVerdict::admitted);
  EXPECT_EQ(q.admit("m", 10, 100).verdict, QuotaVerdict::too_many_requests);
  EXPECT_STREQ(throttle_message(QuotaVerdict::too_many_requests), "Too many requests, please wait before trying again.");
}

TEST(QuotaModel, RequestBucketRefillsContinuouslyOverTheMinute) {
  ManualClock clock;
  QuotaModel q({.requests_per_minute = 2}, clock);
  ASSERT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted);
  ASSERT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted);
  clock.advance(29s);  // 2/min refills one request every 30 s
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::too_many_requests);
  clock.advance(1s);
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted);
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::too_many_requests);
  clock.advance(10min);  // never above one minute's capacity
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted);
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted);
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::too_many_requests);
}

TEST(QuotaModel, BurstSecondsSizeTheRequestBucketButNotItsRate) {
  ManualClock clock;
  QuotaModel q({.requests_per_minute = 600, .burst_seconds = 10}, clock);  // 10/s, holds 100
  for (int i = 0; i < 100; ++i) ASSERT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted) << i;
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::too_many_requests);
  clock.advance(90ms);  // refills at 600/min whatever the burst: 0.9 of a request
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::too_many_requests);
  clock.advance(20ms);
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted);
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::too_many_requests);
  clock.advance(10min);  // never above 10 s of the rate
  for (int i = 0; i < 100; ++i) ASSERT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted) << i;
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::too_many_requests);
}

TEST(QuotaModel, OneSecondBurstAdmitsOneSecondOfTheRate) {
  ManualClock clock;
  QuotaModel q({.requests_per_minute = 600, .burst_seconds = 1}, clock);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted) << i;
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::too_many_requests);
  // Steady state: exactly one request per 100 ms.
  for (int i = 0; i < 50; ++i) {
    clock.advance(100ms);
    ASSERT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted) << i;
    ASSERT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::too_many_requests) << i;
  }
}

TEST(QuotaModel, BurstSecondsSizeTheTokenBucketAndCapRefunds) {
  ManualClock clock;
  QuotaModel q({.tokens_per_minute = 6000, .burst_seconds = 10}, clock);  // 100 tokens/s, holds 1,000
  EXPECT_DOUBLE_EQ(q.tokens_available("m"), 1000);
  auto a = q.admit("m", 100, 800);  // reserves 900
  ASSERT_EQ(a.verdict, QuotaVerdict::admitted);
  EXPECT_EQ(q.admit("m", 100, 100).verdict, QuotaVerdict::too_many_tokens);
  clock.advance(5s);  // +500
  EXPECT_DOUBLE_EQ(q.tokens_available("m"), 600);
  q.settle("m", a.reserved, 100, 0);  // 800 back, capped at the capacity
  EXPECT_DOUBLE_EQ(q.tokens_available("m"), 1000);
  // A reservation above the bucket never passes, even below the per-minute quota.
  EXPECT_EQ(q.admit("m", 100, 1000).verdict, QuotaVerdict::too_many_tokens);
}

TEST(QuotaModel, DefaultBurstIsOneMinute) {
  ManualClock clock;
  QuotaModel q({.requests_per_minute = 600, .tokens_per_minute = 6000}, clock);
  EXPECT_DOUBLE_EQ(q.tokens_available("m"), 6000);
  for (int i = 0; i < 600; ++i) ASSERT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted) << i;
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::too_many_requests);
}

TEST(QuotaModel, QuotasArePerModelId) {
  ManualClock clock;
  QuotaModel q({.requests_per_minute = 1}, clock);
  EXPECT_EQ(q.admit("a", 1, 1).verdict, QuotaVerdict::admitted);
  EXPECT_EQ(q.admit("b", 1, 1).verdict, QuotaVerdict::admitted);
  EXPECT_EQ(q.admit("a", 1, 1).verdict, QuotaVerdict::too_many_requests);
}

TEST(QuotaModel, TokensReserveInputPlusMaxTokensAndSettleToActualUsage) {
  ManualClock clock;
  QuotaModel q({.tokens_per_minute = 1000}, clock);
  auto a = q.admit("m", 100, 500);  // reserves 600
  ASSERT_EQ(a.verdict, QuotaVerdict::admitted);
  EXPECT_EQ(a.reserved, 600);
  EXPECT_DOUBLE_EQ(q.tokens_available("m"), 400);
  // Another 100 + 500 does not fit while the first is in flight.
  auto b = q.admit("m", 100, 500);
  EXPECT_EQ(b.verdict, QuotaVerdict::too_many_tokens);
  EXPECT_STREQ(throttle_message(b.verdict), "Too many tokens, please wait before trying again.");
  // The first used only 20 output tokens: 480 go back.
  q.settle("m", a.reserved, 100, 20);
  EXPECT_DOUBLE_EQ(q.tokens_available("m"), 880);
  EXPECT_EQ(q.admit("m", 100, 500).verdict, QuotaVerdict::admitted);
}

TEST(QuotaModel, BurndownMultipliesOutputTokens) {
  ManualClock clock;
  QuotaModel q({.tokens_per_minute = 10'000, .burndown = 5}, clock);
  auto a = q.admit("m", 100, 1000);
  EXPECT_EQ(a.reserved, 5100);
  q.settle("m", a.reserved, 100, 10);  // charged 100 + 50
  EXPECT_DOUBLE_EQ(q.tokens_available("m"), 10'000 - 150);
}

TEST(QuotaModel, TokenBucketRefillsWithTime) {
  ManualClock clock;
  QuotaModel q({.tokens_per_minute = 600}, clock);
  auto a = q.admit("m", 100, 500);
  q.settle("m", a.reserved, 100, 500);
  EXPECT_DOUBLE_EQ(q.tokens_available("m"), 0);
  EXPECT_EQ(q.admit("m", 10, 10).verdict, QuotaVerdict::too_many_tokens);
  clock.advance(2s);  // 10 tokens per second
  EXPECT_EQ(q.admit("m", 10, 10).verdict, QuotaVerdict::admitted);
}

TEST(QuotaModel, ReservationLargerThanTheQuotaIsAlwaysThrottled) {
  ManualClock clock;
  QuotaModel q({.tokens_per_minute = 1000}, clock);
  EXPECT_EQ(q.admit("m", 10, 4096).verdict, QuotaVerdict::too_many_tokens);
  clock.advance(1h);
  EXPECT_EQ(q.admit("m", 10, 4096).verdict, QuotaVerdict::too_many_tokens);
}

TEST(QuotaModel, ThrottledRequestsChargeNothing) {
  ManualClock clock;
  QuotaModel q({.requests_per_minute = 1, .tokens_per_minute = 100}, clock);
  EXPECT_EQ(q.admit("m", 10, 200).verdict, QuotaVerdict::too_many_tokens);  // does not take the request slot
  EXPECT_EQ(q.admit("m", 10, 20).verdict, QuotaVerdict::admitted);
}

TEST(QuotaModel, DailyCapCountsSettledTokensPerUtcDay) {
  // Start at midnight UTC so the day boundary is predictable.
  ManualClock clock(WallTime{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}.time_since_epoch()});
  QuotaModel q({.tokens_per_day = 1000}, clock);
  auto a = q.admit("m", 100, 400);
  ASSERT_EQ(a.verdict, QuotaVerdict::admitted);
  q.settle("m", a.reserved, 100, 400);
  auto b = q.admit("m", 100, 400);
  ASSERT_EQ(b.verdict, QuotaVerdict::admitted);
  q.settle("m", b.reserved, 100, 300);  // 900 used today
  auto c = q.admit("m", 50, 100);
  EXPECT_EQ(c.verdict, QuotaVerdict::too_many_tokens_per_day);
  EXPECT_STREQ(throttle_message(c.verdict), "Too many tokens per day, please wait before trying again.");
  EXPECT_EQ(q.admit("m", 50, 50).verdict, QuotaVerdict::admitted);
  clock.advance(24h);  // a new UTC day
  EXPECT_EQ(q.admit("m", 100, 800).verdict, QuotaVerdict::admitted);
}

TEST(QuotaModel, ResetRefillsEverything) {
  ManualClock clock;
  QuotaModel q({.requests_per_minute = 1}, clock);
  ASSERT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted);
  ASSERT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::too_many_requests);
  q.reset();
  EXPECT_EQ(q.admit("m", 1, 1).verdict, QuotaVerdict::admitted);
}

TEST(QuotaModel, NoLimitsAdmitsEverything) {
  ManualClock clock;
  QuotaModel q({}, clock);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(q.admit("m", 1'000'000, 1'000'000).verdict, QuotaVerdict::admitted);
}

}  // namespace
}  // namespace ba::sim
