#include "ratelimit/retry.hpp"

#include <algorithm>
#include <cmath>

namespace ba::ratelimit {

std::string_view to_string(RetryStatus s) {
  switch (s) {
    case RetryStatus::yes: return "retry";
    case RetryStatus::no_not_retryable: return "not_retryable";
    case RetryStatus::no_attempts_exhausted: return "attempts_exhausted";
    case RetryStatus::no_deadline: return "deadline";
    case RetryStatus::no_budget: return "retry_budget_exhausted";
    case RetryStatus::no_partial_stream: return "partial_stream";
  }
  return "unknown";
}

RetryBudget::RetryBudget(const RetryConfig& c)
    : capacity_(c.budget_capacity),
      level_(c.budget_capacity),
      retry_cost_(c.retry_cost),
      timeout_cost_(c.timeout_retry_cost),
      no_retry_increment_(c.no_retry_increment) {}

int RetryBudget::try_acquire(const Error& error) {
  int cost = error.kind == ErrorKind::timeout ? timeout_cost_ : retry_cost_;
  std::lock_guard lock(mu_);
  if (cost > level_) return 0;
  level_ -= cost;
  return cost;
}

void RetryBudget::on_success(int spent) {
  std::lock_guard lock(mu_);
  level_ = std::min(capacity_, level_ + (spent > 0 ? spent : no_retry_increment_));
}

int RetryBudget::available() const {
  std::lock_guard lock(mu_);
  return level_;
}

bool is_retryable(const Error& e) {
  switch (e.kind) {
    case ErrorKind::invalid_input:
    case ErrorKind::unauthorized:
    case ErrorKind::forbidden:
    case ErrorKind::not_found:
    case ErrorKind::quota_exceeded:
    case ErrorKind::cancelled:
    case ErrorKind::rate_limited:
    case ErrorKind::too_large:
      return false;
    default:
      return e.retryable;
  }
}

std::chrono::milliseconds RetryPolicy::backoff_ceiling(int attempt, bool throttle) const {
  double base = static_cast<double>((throttle ? config_.throttle_base : config_.base).count());
  double exp = std::ldexp(1.0, std::clamp(attempt - 1, 0, 62));
  double ceiling = std::min(static_cast<double>(config_.cap.count()), base * exp);
  return std::chrono::milliseconds{static_cast<std::int64_t>(ceiling)};
}

std::chrono::milliseconds RetryPolicy::backoff(int attempt, bool throttle, Random& random) const {
  auto ceiling = backoff_ceiling(attempt, throttle);
  // uniform() is in [0,1), so the delay stays within [0, ceiling].
  return std::chrono::milliseconds{static_cast<std::int64_t>(random.uniform() * static_cast<double>(ceiling.count()))};
}

RetryDecision RetryPolicy::decide(const Error& error, int attempt, SteadyTime now, std::optional<SteadyTime> deadline,
                                  RetryBudget& budget, Random& random) const {
  if (!is_retryable(error)) return {RetryStatus::no_not_retryable};
  if (attempt >= config_.max_attempts) return {RetryStatus::no_attempts_exhausted};
  auto delay = backoff(attempt, error.throttle, random);
  if (error.retry_after) delay = std::max(delay, *error.retry_after);
  if (deadline && now + delay >= *deadline) return {RetryStatus::no_deadline, delay};
  int cost = budget.try_acquire(error);
  if (cost == 0) return {RetryStatus::no_budget, delay};
  return {RetryStatus::yes, delay, cost};
}

}  // namespace ba::ratelimit
