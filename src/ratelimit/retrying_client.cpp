#include "ratelimit/retrying_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <optional>

#include "ratelimit/cost.hpp"
#include "util/encoding.hpp"

namespace ba::ratelimit {

namespace asio = boost::asio;
using bedrock::ChatRequest;
using bedrock::ChatResponse;

RateLimitMetrics::RateLimitMetrics(metrics::Registry& r)
    : waits(r.counter("ba_ratelimit_waits_total", "Requests that waited for rate-limit budget", {"model"})),
      wait_seconds(r.histogram("ba_ratelimit_wait_seconds", "Time requests waited for rate-limit budget", {"model"},
                               {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30})),
      throttles(r.counter("ba_upstream_throttles_total", "Throttling errors received from Bedrock", {"model"})),
      retries(r.counter("ba_retries_total", "Retries sent to Bedrock", {"model"})),
      budget_exhausted(
          r.counter("ba_retry_budget_exhausted_total", "Retries refused because the retry budget was empty", {"model"})),
      rate_limited(r.counter("ba_rate_limited_total", "Requests answered 429 by the local rate limiter", {"model"})) {}

RetryingClient::RetryingClient(bedrock::ModelClient& inner, Admission& admission, RetryBudget& retry_budget,
                               metrics::Registry& registry, const Clock& clock, Random& random, Options options)
    : inner_(inner),
      admission_(admission),
      retry_budget_(retry_budget),
      metrics_(registry),
      clock_(clock),
      random_(random),
      options_(std::move(options)),
      policy_(options_.config.retry) {}

namespace {

std::int64_t ceil_ms(std::chrono::nanoseconds d) { return std::chrono::ceil<std::chrono::milliseconds>(d).count(); }

// "the model's recent p90 latency of 2000 ms"
std::string latency_note(const LatencyTracker& tracker, std::chrono::nanoseconds expected) {
  const auto p = static_cast<int>(std::lround(tracker.options().percentile * 100));
  return "the model's recent p" + std::to_string(p) + " latency of " + std::to_string(ceil_ms(expected)) + " ms";
}

}  // namespace

Feedback feedback_for(const Error& e) {
  if (!e.throttle) return Feedback::success;
  if (icontains(e.message, "too many tokens")) return Feedback::throttled_tokens;
  if (icontains(e.message, "too many requests")) return Feedback::throttled_requests;
  return Feedback::throttled;
}

// One call: the state its attempts share lives here (on the heap), not in a coroutine frame.
class RetryingCall final : public bedrock::ModelCall {
 public:
  RetryingCall(RetryingClient& client, ChatRequest request, bedrock::CallOptions options,
               std::optional<SteadyTime> admit_limit = std::nullopt)
      : c_(client),
        admit_limit_(admit_limit),
        profile_(model_profile(request.model_id, client.options_.config)),
        request_(std::move(request)),
        key_{request_.model_id, client.options_.region},
        labels_{request_.model_id} {
    const RateLimitConfig& cfg = c_.options_.config;
    request_.max_tokens = effective_max_tokens(request_.max_tokens, profile_);
    st_.max_tokens = request_.max_tokens;
    cost_ = Cost{1, estimate_cost(estimate_input_tokens(request_, cfg.chars_per_token), request_.max_tokens,
                                  profile_.burndown)};
    st_.reserved_tokens = cost_.tokens;
    deadline_ = options.deadline ? *options.deadline : c_.clock_.now() + cfg.default_deadline;
    options_ = options;
    options_.deadline = deadline_;
  }

  ~RetryingCall() override {
    if (permit_) c_.admission_.settle(*permit_, Cost{0, 0});  // admitted, never sent: all of it back
  }

  // Not a coroutine: the caller awaits admit_attempt()'s frame directly (memory per waiting chat).
  asio::awaitable<Status> admit() override { return admit_attempt(); }

  asio::awaitable<Result<ChatResponse>> send(bedrock::DeltaHandler on_delta) override;

  const bedrock::CallReport& report() const override { return st_; }
  const CallStats& stats() const { return st_; }

 private:
  // The deadline check of attempt_ (plain): sets expected_ and admit_by_; false when the model's expected
  // latency no longer fits before the deadline (`refusal` says so for a first attempt).
  bool fits_deadline(Error& refusal);
  // The deadline check and the admission wait of attempt_; on success permit_ is set.
  asio::awaitable<Status> admit_attempt();

  RetryingClient& c_;
  std::optional<SteadyTime> admit_limit_;  // the first admission's limit (start_within)
  ModelProfile profile_;
  ChatRequest request_;
  Key key_;
  std::vector<std::string> labels_;
  Cost cost_;
  SteadyTime deadline_;
  SteadyTime admit_by_;
  std::chrono::nanoseconds expected_{0};
  bedrock::CallOptions options_;
  CallStats st_;
  std::optional<Permit> permit_;  // the current attempt's, until it is settled
  int attempt_ = 1;
  int retry_spent_ = 0;
  bool delivered_ = false;
  std::optional<SteadyTime> first_delta_;
};

bool RetryingCall::fits_deadline(Error& refusal) {
  // Deadline-aware admission: the model must have its recent p90 latency left after the send.
  const CallKind kind = options_.stream ? CallKind::stream : CallKind::unary;
  expected_ = c_.latency_.expected(request_.model_id, kind);
  admit_by_ = deadline_;
  if (admit_limit_ && attempt_ == 1) admit_by_ = std::min(admit_by_, *admit_limit_);
  if (expected_ <= std::chrono::nanoseconds::zero()) return true;
  const SteadyTime now = c_.clock_.now();
  if (now + expected_ > deadline_) {
    st_.final_status = RetryStatus::no_deadline;
    if (attempt_ == 1) {
      c_.metrics_.rate_limited.labels(labels_).inc();
      refusal = Error::make(ErrorKind::rate_limited,
                            "rate limit for " + request_.model_id + ": the time left before the deadline (" +
                                std::to_string(std::max<std::int64_t>(0, ceil_ms(deadline_ - now))) +
                                " ms) does not cover " + latency_note(c_.latency_, expected_));
      refusal.retry_after = std::chrono::milliseconds{1000};
    }
    return false;
  }
  admit_by_ = deadline_ - expected_;
  if (admit_limit_ && attempt_ == 1) admit_by_ = std::min(admit_by_, *admit_limit_);
  return true;
}

asio::awaitable<Status> RetryingCall::admit_attempt() {
  if (permit_) co_return Status{};  // admitted already (admit() before send())
  {
    Error refusal;
    if (!fits_deadline(refusal)) co_return fail(std::move(refusal));
  }
  auto permit = co_await c_.admission_.acquire(key_, cost_, admit_by_);
  if (!permit) {
    Error e = std::move(permit.error());
    if ((e.kind == ErrorKind::rate_limited && !admit_limit_) || e.kind == ErrorKind::quota_exceeded)
      c_.metrics_.rate_limited.labels(labels_).inc();
    if (e.kind == ErrorKind::rate_limited && expected_ > std::chrono::nanoseconds::zero())
      e.message += " (the send must leave " + latency_note(c_.latency_, expected_) + ")";
    st_.final_status = RetryStatus::no_not_retryable;
    co_return fail(std::move(e));
  }
  if (permit->waited > std::chrono::nanoseconds::zero()) {
    c_.metrics_.waits.labels(labels_).inc();
    c_.metrics_.wait_seconds.labels(labels_).observe(std::chrono::duration<double>(permit->waited).count());
    st_.queued += std::chrono::ceil<std::chrono::milliseconds>(permit->waited);
  }
  permit_ = std::move(*permit);
  co_return Status{};
}

asio::awaitable<Result<ChatResponse>> RetryingCall::send(bedrock::DeltaHandler on_delta) {
  Result<ChatResponse> result;  // from attempt 2 on: the previous attempt's error
  for (;; ++attempt_) {
    // Cancelled before this attempt (a drain's cancellation that came while the request awaited
    // something else): Bedrock is not called.
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
      if (permit_) c_.admission_.settle(*permit_, Cost{0, 0});
      permit_.reset();
      st_.final_status = RetryStatus::no_not_retryable;
      co_return fail(ErrorKind::cancelled, "cancelled before calling the model");
    }
    if (!permit_) {
      auto admitted = co_await admit_attempt();
      if (!admitted) {
        if (attempt_ > 1 && st_.final_status == RetryStatus::no_deadline) co_return result;  // not sent
        co_return fail(std::move(admitted.error()));
      }
    }
    const Permit permit = std::move(*permit_);
    permit_.reset();

    ++st_.attempts;
    delivered_ = false;
    first_delta_.reset();
    const SteadyTime sent = c_.clock_.now();
    if (on_delta) {
      bedrock::DeltaHandler wrapped = [this, &on_delta](const bedrock::StreamDelta& d) -> asio::awaitable<bool> {
        if (!delivered_) first_delta_ = c_.clock_.now();
        delivered_ = true;  // any piece (text, a tool call, reasoning): the attempt is never retried
        co_return co_await on_delta(d);
      };
      result = co_await c_.inner_.chat_stream(request_, wrapped, options_);
    } else {
      result = co_await c_.inner_.chat(request_, options_);
    }

    const CallKind kind = on_delta ? CallKind::stream : CallKind::unary;
    if (result) {
      // Unary: the call's duration. Stream: time to the first delta (the whole call if it had none).
      c_.latency_.record(request_.model_id, kind, (first_delta_ ? *first_delta_ : c_.clock_.now()) - sent);
      c_.admission_.on_response(key_, Feedback::success);
      std::int64_t charged = charged_tokens(result->usage, profile_.burndown);
      c_.admission_.settle(permit, Cost{1, charged});
      st_.charged_tokens += charged;
      c_.retry_budget_.on_success(retry_spent_);
      st_.final_status = RetryStatus::yes;
      co_return result;
    }

    Error& err = result.error();
    // Settle before the feedback: a throttle empties the bucket, and the refund of this attempt's
    // reservation must not refill it.
    if (delivered_) {
      c_.admission_.settle(permit, permit.reserved);  // charged, amount unknown: keep the reservation
      st_.charged_tokens += permit.reserved.tokens;
    } else {
      c_.admission_.settle(permit, Cost{1, 0});
    }
    c_.admission_.on_response(key_, feedback_for(err));
    if (err.throttle) {
      ++st_.throttles;
      c_.metrics_.throttles.labels(labels_).inc();
    }
    if (delivered_) {
      st_.final_status = RetryStatus::no_partial_stream;
      co_return result;
    }

    // Cancelled (a server draining at shutdown cancels the request's coroutine): no further attempt.
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
      st_.final_status = RetryStatus::no_not_retryable;
      co_return fail(ErrorKind::cancelled, "cancelled: " + err.message);
    }
    // admit_by, not deadline: a backoff that leaves the model less than its expected latency is not slept.
    RetryDecision d = c_.policy_.decide(err, attempt_, c_.clock_.now(), admit_by_, c_.retry_budget_, c_.random_);
    st_.final_status = d.status;
    if (d.status == RetryStatus::no_budget) c_.metrics_.budget_exhausted.labels(labels_).inc();
    if (d.status != RetryStatus::yes) co_return result;

    retry_spent_ += d.cost;
    c_.metrics_.retries.labels(labels_).inc();
    st_.backoff += d.delay;
    if (d.delay > std::chrono::milliseconds::zero()) {
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(d.delay);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return fail(ErrorKind::cancelled, "cancelled during retry backoff");
    }
  }
}

std::unique_ptr<bedrock::ModelCall> RetryingClient::start(ChatRequest request, bedrock::CallOptions options) {
  return std::make_unique<RetryingCall>(*this, std::move(request), options);
}

std::unique_ptr<bedrock::ModelCall> RetryingClient::start_within(ChatRequest request, bedrock::CallOptions options,
                                                                 SteadyTime admit_limit) {
  return std::make_unique<RetryingCall>(*this, std::move(request), options, admit_limit);
}

asio::awaitable<Result<ChatResponse>> RetryingClient::run(std::unique_ptr<RetryingCall> call,
                                                          bedrock::DeltaHandler on_delta, CallStats* stats) {
  auto result = co_await call->send(std::move(on_delta));
  if (stats) *stats = call->stats();
  co_return result;
}

asio::awaitable<Result<ChatResponse>> RetryingClient::chat(const ChatRequest& request, bedrock::CallOptions options) {
  return run(std::make_unique<RetryingCall>(*this, request, options), nullptr, nullptr);
}

asio::awaitable<Result<ChatResponse>> RetryingClient::chat(const ChatRequest& request, bedrock::CallOptions options,
                                                           CallStats* stats) {
  return run(std::make_unique<RetryingCall>(*this, request, options), nullptr, stats);
}

asio::awaitable<Result<ChatResponse>> RetryingClient::chat_stream(const ChatRequest& request,
                                                                  bedrock::DeltaHandler on_delta,
                                                                  bedrock::CallOptions options) {
  options.stream = true;
  return run(std::make_unique<RetryingCall>(*this, request, options), std::move(on_delta), nullptr);
}

asio::awaitable<Result<ChatResponse>> RetryingClient::chat_stream(const ChatRequest& request,
                                                                  bedrock::DeltaHandler on_delta,
                                                                  bedrock::CallOptions options, CallStats* stats) {
  options.stream = true;
  return run(std::make_unique<RetryingCall>(*this, request, options), std::move(on_delta), stats);
}

}  // namespace ba::ratelimit
