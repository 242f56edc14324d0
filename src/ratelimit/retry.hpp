#pragma once
// Retry decisions (pure; time and randomness injected):
//   backoff  = U(0, min(cap, base·2^(attempt−1))) — full jitter; base = throttle_base for throttles;
//              an Error::retry_after hint raises the delay to at least that value;
//   retryable = error.retryable, and never for invalid_input / unauthorized / forbidden / not_found /
//              quota_exceeded / cancelled / rate_limited (a "per day" throttle arrives as quota_exceeded);
//   deadline = no retry when now + delay would reach the deadline;
//   budget   = RetryBudget, the SDKs' retry quota: capacity 500, a retry costs 5 (10 after a timeout),
//              a first-try success refunds 1, a success after retries refunds what its retries took.
#include <chrono>
#include <mutex>
#include <optional>
#include <string_view>

#include "ratelimit/config.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::ratelimit {

enum class RetryStatus {
  yes,                    // retry after `delay`
  no_not_retryable,       // the error says a retry will not help
  no_attempts_exhausted,  // max_attempts reached
  no_deadline,            // the next delay would cross the deadline
  no_budget,              // the retry budget is empty (overflow)
  no_partial_stream,      // a streaming reply already delivered text
};
std::string_view to_string(RetryStatus s);

class RetryBudget {
 public:
  explicit RetryBudget(const RetryConfig& c = {});
  // Takes the cost of one retry after `error`; returns the cost taken (0 = not enough, no retry).
  int try_acquire(const Error& error);
  // After a successful call: `spent` = what that call's retries took (0 for a first-try success).
  void on_success(int spent);
  int available() const;
  int capacity() const { return capacity_; }

 private:
  mutable std::mutex mu_;
  int capacity_;
  int level_;
  int retry_cost_;
  int timeout_cost_;
  int no_retry_increment_;
};

bool is_retryable(const Error& e);

struct RetryDecision {
  RetryStatus status = RetryStatus::no_not_retryable;
  std::chrono::milliseconds delay{0};
  int cost = 0;  // taken from the budget when status == yes
};

class RetryPolicy {
 public:
  explicit RetryPolicy(RetryConfig c = {}) : config_(c) {}

  // attempt = the attempt that just failed (1 for the first try).
  RetryDecision decide(const Error& error, int attempt, SteadyTime now, std::optional<SteadyTime> deadline,
                       RetryBudget& budget, Random& random) const;

  // U(0, min(cap, base·2^(attempt−1))) with base chosen by `throttle`.
  std::chrono::milliseconds backoff(int attempt, bool throttle, Random& random) const;
  std::chrono::milliseconds backoff_ceiling(int attempt, bool throttle) const;
  const RetryConfig& config() const { return config_; }

 private:
  RetryConfig config_;
};

}  // namespace ba::ratelimit
