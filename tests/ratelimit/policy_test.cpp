#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
}  // namespace ba::ratelimit
