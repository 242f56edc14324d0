#include "ratelimit/router.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <optional>

#include "util/encoding.hpp"

namespace ba::ratelimit {

namespace asio = boost::asio;
using bedrock::ChatRequest;
using bedrock::ChatResponse;

// --- Circuit ---------------------------------------------------------------------------------------

bool Circuit::available(SteadyTime now) const {
  std::lock_guard lock(mu_);
  switch (state_) {
    case State::closed: return true;
    case State::open: return now >= opened_ + config_.cool_down;
    case State::half_open: return now >= probe_at_ + config_.cool_down;  // the probe never answered
  }
  return true;
}

void Circuit::on_chosen(SteadyTime now) {
  std::lock_guard lock(mu_);
  if (state_ == State::closed) return;
  state_ = State::half_open;
  probe_at_ = now;
}

void Circuit::on_success() {
  std::lock_guard lock(mu_);
  state_ = State::closed;
  failures_ = 0;
}

bool Circuit::on_failure(SteadyTime now) {
  std::lock_guard lock(mu_);
  if (state_ == State::half_open) {  // the probe failed
    state_ = State::open;
    opened_ = now;
    return true;
  }
  if (state_ == State::open) return false;
  if (++failures_ >= std::max(1, config_.failures_to_open)) {
    state_ = State::open;
    opened_ = now;
    failures_ = 0;
    return true;
  }
  return false;
}

Circuit::State Circuit::state(SteadyTime now) const {
  std::lock_guard lock(mu_);
  if (state_ == State::open && now >= opened_ + config_.cool_down) return State::half_open;
  return state_;
}

bool model_missing_error(const Error& e) {
  if (e.http_status == 0) return false;  // ours (validated before sending), not Bedrock's answer
  if (e.kind == ErrorKind::not_found) return true;
  if (e.kind != ErrorKind::invalid_input) return false;
  return icontains(e.message, "model identifier is invalid") || icontains(e.message, "on-demand throughput") ||
         icontains(e.message, "model is not supported in this region");
}

// --- Router ----------------------------------------------------------------------------------------

struct Router::State {
  explicit State(CircuitConfig c) : circuit(c) {}
  Circuit circuit;
  std::atomic<bool> removed{false};
  std::vector<std::string> labels;
};

Router::Router(std::vector<RouterTarget> targets, RetryBudget& retry_budget, metrics::Registry& registry,
               const Clock& clock, Random& random, RouterConfig config, Log log)
    : targets_(std::move(targets)),
      retry_budget_(retry_budget),
      clock_(clock),
      random_(random),
      config_(config),
      policy_(config_.retry),
      log_(std::move(log)),
      served_(registry.counter("ba_target_requests_total", "Model calls by the target that answered and outcome",
                               {"model", "region", "outcome"})),
      open_(registry.gauge("ba_target_circuit_open", "1 while a target's circuit is open (or it was removed)",
                           {"model", "region"})) {
  for (const auto& t : targets_) {
    auto s = std::make_unique<State>(config_.circuit);
    s->labels = {t.model_id, t.region};
    open_.labels(s->labels).set(0);
    state_.push_back(std::move(s));
  }
}

Router::~Router() = default;

bool Router::removed(std::size_t i) const { return state_[i]->removed.load(std::memory_order_relaxed); }

void Router::remove(std::size_t i, const Error& e) {
  if (state_[i]->removed.exchange(true)) return;
  open_.labels(state_[i]->labels).set(1);
  if (log_) {
    log_("error", "target " + targets_[i].model_id + " in " + targets_[i].region +
                      ": Bedrock says the model does not exist or cannot be called there (" + e.message +
                      "); taken out of rotation until restart");
  }
}

boost::asio::awaitable<Result<std::int64_t>> Router::count_tokens(const bedrock::ChatRequest& request,
                                                                  bedrock::CallOptions options) {
  std::size_t i = 0;
  while (i + 1 < targets_.size() && removed(i)) ++i;
  if (request.model_id != targets_.front().model_id) co_return co_await targets_.front().client->count_tokens(request, options);
  bedrock::ChatRequest routed = request;
  routed.model_id = targets_[i].model_id;
  co_return co_await targets_[i].client->count_tokens(routed, options);
}

std::vector<Router::TargetStatus> Router::status() const {
  std::vector<TargetStatus> out;
  const SteadyTime now = clock_.now();
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    out.push_back({targets_[i].model_id, targets_[i].region, state_[i]->circuit.state(now), removed(i)});
  }
  return out;
}

namespace {

// Errors that say the target (not the request) is in trouble: counted against its circuit, and a reason
// to try another target.
bool target_failure(const Error& e) {
  if (e.throttle) return true;
  switch (e.kind) {
    case ErrorKind::unavailable:
    case ErrorKind::network:
    case ErrorKind::timeout:
    case ErrorKind::throttled: return true;
    case ErrorKind::internal: return e.http_status >= 500;
    default: return false;
  }
}

const char* outcome_of(const Error& e) {
  if (e.throttle || e.kind == ErrorKind::throttled) return "throttled";
  return "error";
}

}  // namespace

class RouterCall final : public bedrock::ModelCall {
 public:
  RouterCall(Router& router, ChatRequest request, bedrock::CallOptions options)
      : r_(router), request_(std::move(request)), options_(options), tried_(router.targets_.size(), false) {
    routed_ = request_.model_id == r_.targets_.front().model_id;
    const auto& cfg = r_.targets_.front().client->options().config;
    deadline_ = options.deadline ? *options.deadline : r_.clock_.now() + cfg.default_deadline;
    options_.deadline = deadline_;
  }

  asio::awaitable<Status> admit() override { return choose(); }
  asio::awaitable<Result<ChatResponse>> send(bedrock::DeltaHandler on_delta) override;
  const bedrock::CallReport& report() const override { return report_; }

 private:
  std::size_t candidates() const { return routed_ ? r_.targets_.size() : 1; }
  ChatRequest request_for(std::size_t i) const {
    ChatRequest req = request_;
    if (routed_) req.model_id = r_.targets_[i].model_id;
    return req;
  }
  void adopt(std::size_t i, std::unique_ptr<bedrock::ModelCall> call) {
    call_ = std::move(call);
    target_ = i;
    r_.state_[i]->circuit.on_chosen(r_.clock_.now());
    report_.model_id = r_.targets_[i].model_id;
    report_.region = r_.targets_[i].region;
  }
  void merge(const bedrock::CallReport& rep) {
    report_.attempts += rep.attempts;
    report_.throttles += rep.throttles;
    report_.queued += rep.queued;
    report_.backoff += rep.backoff;
    if (rep.max_tokens) report_.max_tokens = rep.max_tokens;
  }
  asio::awaitable<Status> choose();

  Router& r_;
  ChatRequest request_;
  bedrock::CallOptions options_;
  SteadyTime deadline_;
  bool routed_ = true;
  std::vector<bool> tried_;  // targets that failed this call
  std::unique_ptr<bedrock::ModelCall> call_;  // admitted, not sent
  std::size_t target_ = 0;
  bedrock::CallReport report_;
  int attempt_ = 1;
  int retry_spent_ = 0;
  bool delivered_ = false;
};

asio::awaitable<Status> RouterCall::choose() {
  if (call_) co_return Status{};
  const SteadyTime now = r_.clock_.now();
  const std::size_t n = candidates();
  // In order: targets not removed, not failed in this call, whose circuit lets a call through; when none
  // is, every target not removed (a circuit open everywhere must not stop the service).
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < n; ++i) {
    if (!r_.removed(i) && !tried_[i] && r_.state_[i]->circuit.available(now)) order.push_back(i);
  }
  if (order.empty()) {
    for (std::size_t i = 0; i < n; ++i) {
      if (!r_.removed(i) && r_.state_[i]->circuit.available(now)) order.push_back(i);
    }
  }
  if (order.empty()) {
    for (std::size_t i = 0; i < n; ++i) {
      if (!r_.removed(i)) order.push_back(i);
    }
  }
  if (order.empty()) {
    co_return fail(ErrorKind::unavailable,
                   "no target left for " + request_.model_id +
                       ": every target's model was reported missing in its region (see the error log)");
  }
  // Weights: a weighted random order (Efraimidis-Spirakis: sort by u^(1/w), largest first).
  bool weighted = false;
  for (std::size_t i : order) weighted = weighted || r_.targets_[i].weight != 1;
  if (weighted && order.size() > 1) {
    std::vector<std::pair<double, std::size_t>> keyed;
    for (std::size_t i : order) {
      const double w = r_.targets_[i].weight > 0 ? r_.targets_[i].weight : 1;
      keyed.emplace_back(std::pow(r_.random_.uniform(), 1.0 / w), i);
    }
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (std::size_t k = 0; k < keyed.size(); ++k) order[k] = keyed[k].second;
  }
  const SteadyTime limit = std::min(deadline_, now + r_.config_.spill_after);
  std::optional<Error> refusal;
  std::optional<std::size_t> earliest;
  std::chrono::milliseconds earliest_after = std::chrono::milliseconds::max();
  for (std::size_t i : order) {
    auto call = r_.targets_[i].client->start_within(request_for(i), options_, limit);
    auto st = co_await call->admit();
    if (st) {
      adopt(i, std::move(call));
      co_return Status{};
    }
    Error& e = st.error();
    if (e.kind != ErrorKind::rate_limited && e.kind != ErrorKind::quota_exceeded) co_return fail(std::move(e));
    if (e.kind == ErrorKind::rate_limited) {
      const auto after = e.retry_after.value_or(std::chrono::milliseconds::max());
      if (!earliest || after < earliest_after) {
        earliest = i;
        earliest_after = after;
      }
    }
    if (!refusal || e.kind == ErrorKind::rate_limited) refusal = std::move(e);
  }
  if (earliest && r_.clock_.now() + earliest_after < deadline_) {
    // Nobody within spill_after: the one that can send soonest, queued up to the deadline.
    auto call = r_.targets_[*earliest].client->start(request_for(*earliest), options_);
    auto st = co_await call->admit();
    merge(call->report());
    if (!st) co_return fail(std::move(st.error()));
    adopt(*earliest, std::move(call));
    co_return Status{};
  }
  co_return fail(std::move(*refusal));
}

asio::awaitable<Result<ChatResponse>> RouterCall::send(bedrock::DeltaHandler on_delta) {
  Result<ChatResponse> result;  // from attempt 2 on: the previous attempt's error
  bedrock::DeltaHandler wrapped;
  if (on_delta) {
    wrapped = [this, &on_delta](const bedrock::StreamDelta& d) -> asio::awaitable<bool> {
      delivered_ = true;  // any piece (text, a tool call, reasoning): never spilled to another target
      co_return co_await on_delta(d);
    };
  }
  for (;; ++attempt_) {
    if (!call_) {
      auto admitted = co_await choose();
      if (!admitted) {
        if (attempt_ > 1) co_return result;  // a retry that cannot be admitted: the last attempt's error
        co_return fail(std::move(admitted.error()));
      }
    }
    auto call = std::move(call_);
    const std::size_t i = target_;
    auto& st = *r_.state_[i];
    result = co_await call->send(wrapped);
    merge(call->report());
    call.reset();
    if (result) {
      st.circuit.on_success();
      r_.open_.labels(st.labels).set(0);
      r_.served_.labels({st.labels[0], st.labels[1], "ok"}).inc();
      r_.retry_budget_.on_success(retry_spent_);
      co_return result;
    }
    Error& err = result.error();
    const SteadyTime now = r_.clock_.now();
    if (model_missing_error(err) && !delivered_) {
      r_.served_.labels({st.labels[0], st.labels[1], "model_missing"}).inc();
      r_.remove(i, err);
      tried_[i] = true;
      bool other = false;
      for (std::size_t j = 0; j < candidates(); ++j) other = other || !r_.removed(j);
      if (!other) {
        err = Error::make(ErrorKind::unavailable, "target " + r_.targets_[i].model_id + " in " +
                                                      r_.targets_[i].region +
                                                      ": the model does not exist there or cannot be called on "
                                                      "demand (" + err.message + "); no other target is configured");
        co_return result;
      }
      --attempt_;  // another target, at once: a configuration error is not one of the request's attempts
      continue;
    }
    r_.served_.labels({st.labels[0], st.labels[1], outcome_of(err)}).inc();
    if (!target_failure(err)) co_return result;  // the request's own error: never spills
    if (st.circuit.on_failure(now)) {
      r_.open_.labels(st.labels).set(1);
      if (r_.log_) {
        r_.log_("warn", "target " + r_.targets_[i].model_id + " in " + r_.targets_[i].region +
                            ": circuit open after repeated throttles or errors (" + err.message +
                            "); calls go to the other targets, a probe after the cool-down");
      }
    }
    if (delivered_) co_return result;
    tried_[i] = true;
    RetryDecision d = r_.policy_.decide(err, attempt_, now, deadline_, r_.retry_budget_, r_.random_);
    if (d.status != RetryStatus::yes) co_return result;
    retry_spent_ += d.cost;
    bool other = false;
    for (std::size_t j = 0; j < candidates(); ++j) {
      other = other || (j != i && !r_.removed(j) && !tried_[j] && r_.state_[j]->circuit.available(now));
    }
    if (!other && d.delay > std::chrono::milliseconds::zero()) {
      report_.backoff += d.delay;
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(d.delay);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return fail(ErrorKind::cancelled, "cancelled during retry backoff");
    }
  }
}

std::unique_ptr<bedrock::ModelCall> Router::start(ChatRequest request, bedrock::CallOptions options) {
  return std::make_unique<RouterCall>(*this, std::move(request), options);
}

asio::awaitable<Result<ChatResponse>> Router::run(std::unique_ptr<bedrock::ModelCall> call,
                                                  bedrock::DeltaHandler on_delta) {
  co_return co_await call->send(std::move(on_delta));
}

asio::awaitable<Result<ChatResponse>> Router::chat(const ChatRequest& request, bedrock::CallOptions options) {
  return run(start(request, options), nullptr);
}

asio::awaitable<Result<ChatResponse>> Router::chat_stream(const ChatRequest& request, bedrock::DeltaHandler on_delta,
                                                          bedrock::CallOptions options) {
  options.stream = true;
  return run(start(request, options), std::move(on_delta));
}

}  // namespace ba::ratelimit
