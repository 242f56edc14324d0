#include <gtest/gtest.h>

#include <cmath>

#include "ratelimit/adaptive.hpp"
#include "ratelimit/retry.hpp"

namespace ba::ratelimit {
namespace {

using namespace std::chrono_literals;

Error err(ErrorKind k, bool retryable, bool throttle = false) {
  Error e = Error::make(k, "x");
  e.retryable = retryable;
  e.throttle = throttle;
  return e;
}

// ---- backoff ----

TEST(Retry, FullJitterStaysWithinBoundsAndSpreadsOverThem) {
  RetryPolicy p(RetryConfig{.base = 100ms, .throttle_base = 1000ms, .cap = 20'000ms});
  SeededRandom rng(42);
  for (bool throttle : {false, true}) {
    for (int attempt = 1; attempt <= 12; ++attempt) {
      auto base = throttle ? 1000.0 : 100.0;
      auto ceiling = std::min(20'000.0, base * std::pow(2.0, attempt - 1));
      EXPECT_EQ(p.backoff_ceiling(attempt, throttle).count(), static_cast<std::int64_t>(ceiling));
      std::int64_t lo = INT64_MAX, hi = -1;
      for (int i = 0; i < 5000; ++i) {
        auto d = p.backoff(attempt, throttle, rng).count();
        ASSERT_GE(d, 0);
        ASSERT_LE(d, static_cast<std::int64_t>(ceiling)) << "attempt " << attempt;
        lo = std::min(lo, d);
        hi = std::max(hi, d);
      }
      EXPECT_LT(lo, ceiling * 0.05) << attempt;  // full jitter reaches near 0 ...
      EXPECT_GT(hi, ceiling * 0.95) << attempt;  // ... and near the ceiling
    }
  }
}

TEST(Retry, NeverRetriesValidationAccessNotFoundOrDailyQuota) {
  RetryPolicy p;
  RetryBudget budget;
  SeededRandom rng(1);
  for (auto k : {ErrorKind::invalid_input, ErrorKind::forbidden, ErrorKind::not_found, ErrorKind::quota_exceeded,
                 ErrorKind::unauthorized, ErrorKind::cancelled}) {
    auto d = p.decide(err(k, true, k == ErrorKind::quota_exceeded), 1, SteadyTime{}, std::nullopt, budget, rng);
    EXPECT_EQ(d.status, RetryStatus::no_not_retryable) << to_string(k);
  }
  EXPECT_EQ(p.decide(err(ErrorKind::upstream, false), 1, SteadyTime{}, std::nullopt, budget, rng).status,
            RetryStatus::no_not_retryable);
  EXPECT_EQ(budget.available(), 500);  // nothing taken
}

TEST(Retry, RetriesThrottles5xxNetworkAndTimeoutsUpToMaxAttempts) {
  RetryPolicy p(RetryConfig{.max_attempts = 3});
  RetryBudget budget;
  SeededRandom rng(7);
  auto thr = p.decide(err(ErrorKind::throttled, true, true), 1, SteadyTime{}, std::nullopt, budget, rng);
  EXPECT_EQ(thr.status, RetryStatus::yes);
  EXPECT_EQ(thr.cost, 5);
  EXPECT_LE(thr.delay, 1000ms);  // throttle base, attempt 1
  EXPECT_EQ(p.decide(err(ErrorKind::unavailable, true), 2, SteadyTime{}, std::nullopt, budget, rng).status,
            RetryStatus::yes);
  EXPECT_EQ(p.decide(err(ErrorKind::network, true), 1, SteadyTime{}, std::nullopt, budget, rng).status,
            RetryStatus::yes);
  auto to = p.decide(err(ErrorKind::timeout, true), 1, SteadyTime{}, std::nullopt, budget, rng);
  EXPECT_EQ(to.status, RetryStatus::yes);
  EXPECT_EQ(to.cost, 10);
  EXPECT_EQ(budget.available(), 500 - 5 - 5 - 5 - 10);
  EXPECT_EQ(p.decide(err(ErrorKind::throttled, true, true), 3, SteadyTime{}, std::nullopt, budget, rng).status,
            RetryStatus::no_attempts_exhausted);
}

TEST(Retry, DeadlineAndRetryAfter) {
  RetryPolicy p(RetryConfig{.base = 100ms, .throttle_base = 100ms, .cap = 1000ms});
  RetryBudget budget;
  SeededRandom rng(3);
  SteadyTime now{};
  Error e = err(ErrorKind::throttled, true, true);
  e.retry_after = 3000ms;
  auto far = p.decide(e, 1, now, now + 10s, budget, rng);
  EXPECT_EQ(far.status, RetryStatus::yes);
  EXPECT_GE(far.delay, 3000ms);  // the hint is honoured
  auto near = p.decide(e, 1, now, now + 2s, budget, rng);
  EXPECT_EQ(near.status, RetryStatus::no_deadline);
  EXPECT_EQ(budget.available(), 495);  // a refused retry takes no budget
  // Without a hint, a deadline shorter than any possible delay (ceiling 100 ms) always refuses.
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(p.decide(err(ErrorKind::unavailable, true), 1, now, now, budget, rng).status, RetryStatus::no_deadline);
}

TEST(Retry, BudgetExhaustsAndRefillsOnSuccess) {
  RetryPolicy p(RetryConfig{.max_attempts = 1000});
  RetryBudget budget;  // 500, cost 5
  SeededRandom rng(9);
  int granted = 0;
  RetryDecision d;
  while ((d = p.decide(err(ErrorKind::throttled, true, true), 1, SteadyTime{}, std::nullopt, budget, rng)).status ==
         RetryStatus::yes)
    ++granted;
  EXPECT_EQ(granted, 100);
  EXPECT_EQ(d.status, RetryStatus::no_budget);
  EXPECT_EQ(budget.available(), 0);
  budget.on_success(0);  // first-try success refunds 1: not enough for a retry
  EXPECT_EQ(budget.available(), 1);
  EXPECT_EQ(p.decide(err(ErrorKind::throttled, true, true), 1, SteadyTime{}, std::nullopt, budget, rng).status,
            RetryStatus::no_budget);
  budget.on_success(10);  // a success after retries refunds what they took
  EXPECT_EQ(budget.available(), 11);
  EXPECT_EQ(p.decide(err(ErrorKind::throttled, true, true), 1, SteadyTime{}, std::nullopt, budget, rng).status,
            RetryStatus::yes);
  for (int i = 0; i < 1000; ++i) budget.on_success(5);
  EXPECT_EQ(budget.available(), 500);  // capped
}

// ---- adaptive (CUBIC) ----

// Successful responses at `per_second` for `seconds`.
void successes(CubicRate& c, SteadyTime& t, double per_second, double seconds) {
  auto step = std::chrono::duration_cast<SteadyTime::duration>(std::chrono::duration<double>(1.0 / per_second));
  for (int i = 0; i < static_cast<int>(per_second * seconds); ++i) {
    t += step;
    c.on_success(t);
  }
}

TEST(Adaptive, OffUntilTheFirstThrottleThenDecreases) {
  SteadyTime t{};
  CubicRate c(t);
  successes(c, t, 10, 5);
  EXPECT_FALSE(c.enabled());
  EXPECT_NEAR(c.measured_rate(), 10, 0.5);
  double measured = c.measured_rate();
  t += 100ms;
  c.on_throttle(t);
  ASSERT_TRUE(c.enabled());
  EXPECT_NEAR(c.w_max(), measured, 0.5);
  EXPECT_NEAR(c.fill_rate(), 0.7 * c.w_max(), 1e-9);
  double first = c.fill_rate();
  // Back-to-back throttles keep cutting (W_max = min(measured, fill_rate)).
  t += 10ms;
  c.on_throttle(t);
  EXPECT_NEAR(c.fill_rate(), 0.7 * first, 0.05);
  for (int i = 0; i < 30; ++i) {
    t += 10ms;
    c.on_throttle(t);
  }
  EXPECT_EQ(c.fill_rate(), CubicRate::kMinFillRate);  // floor 0.5/s
}

TEST(Adaptive, RecoversOnSuccessPastThePreviousMaximum) {
  SteadyTime t{};
  CubicRate c(t);
  successes(c, t, 10, 5);
  c.on_throttle(t);
  double w_max = c.w_max();
  double after_throttle = c.fill_rate();
  double k = std::cbrt(w_max * 0.3 / 0.4);
  successes(c, t, 10, 0.5);
  EXPECT_LT(c.fill_rate(), w_max);  // the concave part: still below W_max
  EXPECT_GT(c.fill_rate(), after_throttle);
  successes(c, t, 10, k + 2.0);  // past the plateau at K: convex growth above W_max
  EXPECT_GT(c.fill_rate(), w_max);
  EXPECT_LE(c.fill_rate(), 2.0 * c.measured_rate() + 1e-9);  // never above twice the measured rate
}

}  // namespace
}  // namespace ba::ratelimit
