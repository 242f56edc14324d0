#pragma once
// Everything the rate limiter reads from flags/env, with the defaults documented in docs/rate-limiting.md.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace ba::ratelimit {

// Per model+region budgets. 0 means "no limit" for that dimension.
struct BudgetLimits {
  double rpm = 50;                // --max-rpm, env MAX_REQUESTS_PER_MINUTE
  double tpm = 0;                 // --max-tpm, env MAX_TOKENS_PER_MINUTE (Bedrock-charged tokens)
  std::int64_t daily_tokens = 0;  // optional cap per UTC day (resets at 00:00 UTC)
};

// Overrides for one model family, matched by substring of the model id (see cost.hpp).
struct ModelOverride {
  std::optional<double> burndown;          // output-token factor
  std::optional<int> default_max_tokens;   // used when the caller gives none
  std::optional<int> max_tokens_clamp;     // requests asking for more are clamped
};

struct RetryConfig {
  int max_attempts = 3;                                 // including the first try (SDK standard mode)
  std::chrono::milliseconds base{100};                  // backoff base for non-throttle errors
  std::chrono::milliseconds throttle_base{1000};        // backoff base for throttles
  std::chrono::milliseconds cap{20'000};                // backoff cap
  // Retry budget (the SDKs' retry quota): a token bucket refilled by successes.
  int budget_capacity = 500;
  int retry_cost = 5;
  int timeout_retry_cost = 10;
  int no_retry_increment = 1;                           // refund on a first-try success
};

struct RateLimitConfig {
  BudgetLimits limits;                                  // default for every model+region
  std::map<std::string, BudgetLimits> per_model;        // exact model id -> limits
  std::map<std::string, ModelOverride> model_overrides; // id substring -> burndown/max_tokens overrides
  std::optional<int> default_max_tokens;                // overrides every family's default
  RetryConfig retry;
  std::chrono::milliseconds default_deadline{25'000};   // under API Gateway's 29 s
  bool adaptive = true;                                 // AIMD on the budgets after Bedrock throttles (budget.hpp)
  double chars_per_token = 3.0;                         // input estimate: ceil(bytes / this)

  const BudgetLimits& limits_for(const std::string& model_id) const {
    auto it = per_model.find(model_id);
    return it == per_model.end() ? limits : it->second;
  }
};

}  // namespace ba::ratelimit
