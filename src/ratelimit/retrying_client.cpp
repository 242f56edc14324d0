#include "ratelimit/retrying_client.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on Asio awaitable frames of coroutine lambdas.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

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

void fill_report(bedrock::CallReport* report, const CallStats& st) {
  if (!report) return;
  report->attempts = st.attempts;
  report->throttles = st.throttles;
  report->queued = st.queued;
  report->backoff = st.backoff;
  report->max_tokens = st.max_tokens;
}

}  // namespace

Feedback feedback_for(const Error& e) {
  if (!e.throttle) return Feedback::success;
  if (icontains(e.message, "too many tokens")) return Feedback::throttled_tokens;
  if (icontains(e.message, "too many requests")) return Feedback::throttled_requests;
  return Feedback::throttled;
}

asio::awaitable<Result<ChatResponse>> RetryingClient::chat(const ChatRequest& request, bedrock::CallOptions options) {
  return run(request, nullptr, options, nullptr);
}

asio::awaitable<Result<ChatResponse>> RetryingClient::chat(const ChatRequest& request, bedrock::CallOptions options,
                                                           CallStats* stats) {
  return run(request, nullptr, options, stats);
}

asio::awaitable<Result<ChatResponse>> RetryingClient::chat_stream(const ChatRequest& request,
                                                                  bedrock::DeltaHandler on_delta,
                                                                  bedrock::CallOptions options) {
  return run(request, std::move(on_delta), options, nullptr);
}

asio::awaitable<Result<ChatResponse>> RetryingClient::chat_stream(const ChatRequest& request,
                                                                  bedrock::DeltaHandler on_delta,
                                                                  bedrock::CallOptions options, CallStats* stats) {
  return run(request, std::move(on_delta), options, stats);
}

asio::awaitable<Result<ChatResponse>> RetryingClient::run(const ChatRequest& original,
                                                          bedrock::DeltaHandler delta_handler,
                                                          bedrock::CallOptions options, CallStats* stats) {
  CallStats local;
  CallStats& st = stats ? *stats : local;
  st = CallStats{};
  // The caller's report is filled however the call ends (when the frame's locals go).
  struct ReportOnExit {
    const CallStats& st;
    bedrock::CallReport* out;
    ~ReportOnExit() { fill_report(out, st); }
  } report_on_exit{st, options.report};
  const bedrock::DeltaHandler* on_delta = delta_handler ? &delta_handler : nullptr;

  const RateLimitConfig& cfg = options_.config;
  const ModelProfile profile = model_profile(original.model_id, cfg);
  ChatRequest request = original;
  request.max_tokens = effective_max_tokens(original.max_tokens, profile);
  st.max_tokens = request.max_tokens;

  const Key key{original.model_id, options_.region};
  const Cost cost{1, estimate_cost(estimate_input_tokens(request, cfg.chars_per_token), request.max_tokens,
                                   profile.burndown)};
  st.reserved_tokens = cost.tokens;
  const SteadyTime deadline = options.deadline ? *options.deadline : clock_.now() + cfg.default_deadline;
  options.deadline = deadline;
  options.report = nullptr;  // ours to fill (by the public overloads), not the inner client's
  const std::vector<std::string> labels{original.model_id};

  const CallKind kind = on_delta ? CallKind::stream : CallKind::unary;

  int retry_spent = 0;
  Result<ChatResponse> result;  // from attempt 2 on: the previous attempt's error
  for (int attempt = 1;; ++attempt) {
    // Deadline-aware admission: the model must have its recent p90 latency left after the send.
    const std::chrono::nanoseconds expected = latency_.expected(original.model_id, kind);
    SteadyTime admit_by = deadline;
    if (expected > std::chrono::nanoseconds::zero()) {
      const SteadyTime now = clock_.now();
      if (now + expected > deadline) {
        st.final_status = RetryStatus::no_deadline;
        if (attempt > 1) co_return result;  // a retry that cannot finish in time is not sent
        metrics_.rate_limited.labels(labels).inc();
        Error e = Error::make(ErrorKind::rate_limited,
                              "rate limit for " + original.model_id + ": the time left before the deadline (" +
                                  std::to_string(std::max<std::int64_t>(0, ceil_ms(deadline - now))) +
                                  " ms) does not cover " + latency_note(latency_, expected));
        e.retry_after = std::chrono::milliseconds{1000};
        co_return fail(std::move(e));
      }
      admit_by = deadline - expected;
    }

    auto permit = co_await admission_.acquire(key, cost, admit_by);
    if (!permit) {
      Error e = std::move(permit.error());
      if (e.kind == ErrorKind::rate_limited || e.kind == ErrorKind::quota_exceeded)
        metrics_.rate_limited.labels(labels).inc();
      if (e.kind == ErrorKind::rate_limited && expected > std::chrono::nanoseconds::zero())
        e.message += " (the send must leave " + latency_note(latency_, expected) + ")";
      st.final_status = RetryStatus::no_not_retryable;
      co_return fail(std::move(e));
    }
    if (permit->waited > std::chrono::nanoseconds::zero()) {
      metrics_.waits.labels(labels).inc();
      metrics_.wait_seconds.labels(labels).observe(std::chrono::duration<double>(permit->waited).count());
      st.queued += std::chrono::ceil<std::chrono::milliseconds>(permit->waited);
    }

    ++st.attempts;
    bool delivered = false;
    std::optional<SteadyTime> first_delta;
    const SteadyTime sent = clock_.now();
    if (on_delta) {
      bedrock::DeltaHandler wrapped = [&delivered, &first_delta, &clock = clock_,
                                       on_delta](std::string_view text) -> asio::awaitable<bool> {
        if (!delivered) first_delta = clock.now();
        delivered = true;
        co_return co_await (*on_delta)(text);
      };
      result = co_await inner_.chat_stream(request, wrapped, options);
    } else {
      result = co_await inner_.chat(request, options);
    }

    if (result) {
      // Unary: the call's duration. Stream: time to the first delta (the whole call if it had none).
      latency_.record(original.model_id, kind, (first_delta ? *first_delta : clock_.now()) - sent);
      admission_.on_response(key, Feedback::success);
      std::int64_t charged = charged_tokens(result->usage, profile.burndown);
      admission_.settle(*permit, Cost{1, charged});
      st.charged_tokens += charged;
      retry_budget_.on_success(retry_spent);
      st.final_status = RetryStatus::yes;
      co_return result;
    }

    Error& err = result.error();
    // Settle before the feedback: a throttle empties the bucket, and the refund of this attempt's
    // reservation must not refill it.
    if (delivered) {
      admission_.settle(*permit, permit->reserved);  // charged, amount unknown: keep the reservation
      st.charged_tokens += permit->reserved.tokens;
    } else {
      admission_.settle(*permit, Cost{1, 0});
    }
    admission_.on_response(key, feedback_for(err));
    if (err.throttle) {
      ++st.throttles;
      metrics_.throttles.labels(labels).inc();
    }
    if (delivered) {
      st.final_status = RetryStatus::no_partial_stream;
      co_return result;
    }

    // admit_by, not deadline: a backoff that leaves the model less than its expected latency is not slept.
    RetryDecision d = policy_.decide(err, attempt, clock_.now(), admit_by, retry_budget_, random_);
    st.final_status = d.status;
    if (d.status == RetryStatus::no_budget) metrics_.budget_exhausted.labels(labels).inc();
    if (d.status != RetryStatus::yes) co_return result;

    retry_spent += d.cost;
    metrics_.retries.labels(labels).inc();
    st.backoff += d.delay;
    if (d.delay > std::chrono::milliseconds::zero()) {
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(d.delay);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return fail(ErrorKind::cancelled, "cancelled during retry backoff");
    }
  }
}

}  // namespace ba::ratelimit
