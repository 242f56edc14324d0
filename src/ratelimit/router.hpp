#pragma once
// Quota-aware routing over several targets (targets.hpp): each target = a model id, inference profile or
// provisioned-model ARN in a region, with budgets of its own (a RetryingClient with its own budget key and
// limits, shared across instances with --shared-budget) and a circuit. docs/rate-limiting.md, "Targets".
//
//   choose : the first target (in the configured order) whose circuit lets a call through and whose
//            admission grants the request within `spill_after` (and before the deadline); else the
//            target that could send it earliest before the deadline (each refusal says when); else the
//            refusal (429 rate_limited, retry_after = the earliest).
//   retry  : an attempt failing with a throttle, 5xx, network error or timeout counts against its target's
//            circuit and is retried (RetryPolicy: attempts, retry budget, deadline) on another target at
//            once, or on the same one after the backoff when no other is available. Validation errors
//            (4xx) never spill; a stream that delivered text is not retried.
//   circuit: closed -> open after `failures_to_open` consecutive such failures; open -> one half-open
//            probe after `cool_down`; the probe's success closes it, its failure opens it again.
//   weight : when any target has a weight other than 1, the targets a call may go to are tried in a
//            weighted random order (each next one drawn with probability weight / the remaining
//            weights) instead of the configured one: among the targets that can take the call within
//            `spill_after`, each gets it with probability proportional to its weight, and a target that
//            cannot passes it to the next in that order. With every weight 1 (the default) the order is
//            the configured one: the first target is preferred, the others take what it cannot.
//   missing: a target answering that its model does not exist there (ValidationException "model
//            identifier is invalid", ResourceNotFoundException, on-demand throughput not supported) is
//            logged once and taken out of rotation; the call goes to the next target.
// Requests naming the first target's model id are routed; others (aliases) go to the first target only.
// The call's report names the target that served it (CallReport::model_id, region); /metrics counts
// ba_target_requests_total{model,region,outcome} and ba_target_circuit_open{model,region}.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "bedrock/model_client.hpp"
#include "ratelimit/retry.hpp"
#include "ratelimit/retrying_client.hpp"
#include "util/clock.hpp"
#include "util/metrics.hpp"

namespace ba::ratelimit {

struct CircuitConfig {
  int failures_to_open = 5;                      // consecutive throttles / 5xx / network failures
  std::chrono::milliseconds cool_down{30'000};   // open -> a half-open probe after this
};

class Circuit {
 public:
  enum class State { closed, open, half_open };
  explicit Circuit(CircuitConfig config = {}) : config_(config) {}
  // May a call go now? closed: yes; open: once the cool-down has passed (the call is the probe);
  // half-open: not while the probe is out (for at most a cool-down).
  bool available(SteadyTime now) const;
  void on_chosen(SteadyTime now);           // a call goes to this target now
  void on_success();
  bool on_failure(SteadyTime now);          // true when this failure opened the circuit
  State state(SteadyTime now) const;

 private:
  CircuitConfig config_;
  mutable std::mutex mu_;
  State state_ = State::closed;
  int failures_ = 0;
  SteadyTime opened_{};
  SteadyTime probe_at_{};
};

struct RouterConfig {
  std::chrono::milliseconds spill_after{250};  // a target that cannot send within this passes to the next
  CircuitConfig circuit;
  RetryConfig retry;                           // attempts over all targets, backoff on the same target
};

struct RouterTarget {
  std::string model_id;
  std::string region;
  RetryingClient* client = nullptr;  // its own budget key and limits; max_attempts 1 (the router retries)
  double weight = 1;                 // > 0
};

class RouterCall;

class Router final : public bedrock::ModelClient {
 public:
  using Log = std::function<void(std::string_view level, std::string_view message)>;
  // Every reference and client must outlive the router. `targets` is not empty.
  Router(std::vector<RouterTarget> targets, RetryBudget& retry_budget, metrics::Registry& registry,
         const Clock& clock, Random& random, RouterConfig config, Log log = {});
  ~Router() override;

  std::unique_ptr<bedrock::ModelCall> start(bedrock::ChatRequest request, bedrock::CallOptions options) override;
  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat(const bedrock::ChatRequest& request,
                                                             bedrock::CallOptions options) override;
  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat_stream(const bedrock::ChatRequest& request,
                                                                    bedrock::DeltaHandler on_delta,
                                                                    bedrock::CallOptions options) override;
  // CountTokens (free, no budget) on the first target in rotation, its model in place of the agent's.
  boost::asio::awaitable<Result<std::int64_t>> count_tokens(const bedrock::ChatRequest& request,
                                                            bedrock::CallOptions options) override;

  struct TargetStatus {
    std::string model_id, region;
    Circuit::State circuit = Circuit::State::closed;
    bool removed = false;  // taken out of rotation (its model does not exist there)
  };
  std::vector<TargetStatus> status() const;

 private:
  friend class RouterCall;
  struct State;
  static boost::asio::awaitable<Result<bedrock::ChatResponse>> run(std::unique_ptr<bedrock::ModelCall> call,
                                                                   bedrock::DeltaHandler on_delta);
  bool removed(std::size_t i) const;
  void remove(std::size_t i, const Error& e);

  std::vector<RouterTarget> targets_;
  std::vector<std::unique_ptr<State>> state_;
  RetryBudget& retry_budget_;
  const Clock& clock_;
  Random& random_;
  RouterConfig config_;
  RetryPolicy policy_;
  Log log_;
  metrics::Family<metrics::Counter>& served_;
  metrics::Family<metrics::Gauge>& open_;
};

// Whether `e` says the target's model does not exist (or cannot be called on demand) where it was sent.
bool model_missing_error(const Error& e);

}  // namespace ba::ratelimit
