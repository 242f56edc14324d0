#pragma once
// A bedrock::ModelClient decorator: admission (reserve -> call -> settle with the real charge), adaptive
// send rate, retries with full-jitter backoff on an asio timer, the retry budget and the deadline, and
// metrics per model. One call here = up to max_attempts calls of the inner client.
//
//   reserve : Cost{1, estimate_input_tokens + max_tokens × burndown} (max_tokens defaulted/clamped per model)
//   settle  : success -> usage.input + cache_write + output × burndown; failure -> 0 tokens (Bedrock charges
//             nothing for a throttled/failed call); a stream that failed after delivering text keeps its
//             reservation (it was charged, by an amount we cannot see).
//   retry   : RetryPolicy::decide; streaming calls are retried only while no delta has been delivered.
//   deadline: CallOptions::deadline, else now + config.default_deadline; admission never waits past it and
//             no backoff sleep crosses it.
//   latency : a LatencyTracker (one per client) learns the model's p90 time to answer (unary: the call;
//             stream: time to first delta) from successful calls. Before each attempt, if now + p90 passes
//             the deadline, nothing is reserved or sent (first attempt: rate_limited, retry_after 1 s;
//             a retry: the last attempt's error, no_deadline); otherwise admission and backoff must
//             leave p90 before the deadline. No estimate before 5 samples: nothing changes.
// start() returns the call in two phases (bedrock::ModelCall): admit() is the first attempt's deadline
// check and admission wait; send() makes the attempts. Its report() is a CallStats (a CallReport plus
// the budget details). The non-virtual overloads fill an optional CallStats* (tests).
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "bedrock/model_client.hpp"
#include "ratelimit/config.hpp"
#include "ratelimit/latency.hpp"
#include "ratelimit/limiter.hpp"
#include "ratelimit/retry.hpp"
#include "util/clock.hpp"
#include "util/metrics.hpp"

namespace ba::ratelimit {

// The call report (attempts, throttles, queued, backoff, max_tokens) and what the budget saw.
struct CallStats : bedrock::CallReport {
  std::int64_t reserved_tokens = 0;             // estimated cost of one attempt
  std::int64_t charged_tokens = 0;              // settled total over all attempts
  RetryStatus final_status = RetryStatus::yes;  // why retrying stopped (yes = it succeeded)
};

// Metric names (label "model"): ba_ratelimit_waits_total, ba_ratelimit_wait_seconds (histogram),
// ba_upstream_throttles_total, ba_retries_total, ba_retry_budget_exhausted_total, ba_rate_limited_total.
struct RateLimitMetrics {
  explicit RateLimitMetrics(metrics::Registry& registry);
  metrics::Family<metrics::Counter>& waits;
  metrics::Family<metrics::Histogram>& wait_seconds;
  metrics::Family<metrics::Counter>& throttles;
  metrics::Family<metrics::Counter>& retries;
  metrics::Family<metrics::Counter>& budget_exhausted;
  metrics::Family<metrics::Counter>& rate_limited;
};

// What a failed call tells the adaptive rate: not a throttle -> success (the rate is not lowered for a
// validation or server error); Bedrock's "Too many tokens" / "Too many requests" name the dimension.
Feedback feedback_for(const Error& e);

class RetryingCall;

class RetryingClient final : public bedrock::ModelClient {
 public:
  struct Options {
    std::string region = "us-east-1";
    RateLimitConfig config;
  };
  // All references must outlive the client. retry_budget is usually shared by every client of a process.
  RetryingClient(bedrock::ModelClient& inner, Admission& admission, RetryBudget& retry_budget,
                 metrics::Registry& registry, const Clock& clock, Random& random, Options options);

  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat(const bedrock::ChatRequest& request,
                                                             bedrock::CallOptions options) override;
  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat_stream(const bedrock::ChatRequest& request,
                                                                    bedrock::DeltaHandler on_delta,
                                                                    bedrock::CallOptions options) override;

  std::unique_ptr<bedrock::ModelCall> start(bedrock::ChatRequest request, bedrock::CallOptions options) override;
  // Forwarded as is: CountTokens is free (no quota), so it takes no budget, no admission and no retry.
  boost::asio::awaitable<Result<std::int64_t>> count_tokens(const bedrock::ChatRequest& request,
                                                            bedrock::CallOptions options) override {
    return inner_.count_tokens(request, options);
  }
  // start() whose first admission must be granted by `admit_limit` (else rate_limited at once, with
  // retry_after = when it could go; not counted in ba_rate_limited_total): a router asking a target
  // whether it can send the request by then.
  std::unique_ptr<bedrock::ModelCall> start_within(bedrock::ChatRequest request, bedrock::CallOptions options,
                                                   SteadyTime admit_limit);
  const Options& options() const { return options_; }

  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat(const bedrock::ChatRequest& request,
                                                             bedrock::CallOptions options, CallStats* stats);
  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat_stream(const bedrock::ChatRequest& request,
                                                                    bedrock::DeltaHandler on_delta,
                                                                    bedrock::CallOptions options, CallStats* stats);

  // What this client has learned of its models' latency (tests, diagnostics).
  const LatencyTracker& latency() const { return latency_; }

 private:
  friend class RetryingCall;
  // chat() and chat_stream(): one RetryingCall, sent, its stats copied out.
  static boost::asio::awaitable<Result<bedrock::ChatResponse>> run(std::unique_ptr<RetryingCall> call,
                                                                   bedrock::DeltaHandler on_delta, CallStats* stats);

  bedrock::ModelClient& inner_;
  Admission& admission_;
  RetryBudget& retry_budget_;
  RateLimitMetrics metrics_;
  const Clock& clock_;
  Random& random_;
  Options options_;
  RetryPolicy policy_;
  LatencyTracker latency_;
};

}  // namespace ba::ratelimit
