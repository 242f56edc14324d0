#pragma once
// The seam between the chat service and a model: Bedrock over HTTP, or a scripted fake in tests.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string_view>

#include "bedrock/types.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::bedrock {

// Called with each text delta as it arrives; returns false to cancel the upstream call.
using DeltaHandler = std::function<boost::asio::awaitable<bool>(std::string_view text)>;

// Per-call details a decorating client (ratelimit::RetryingClient) reports back, for the response and
// the request log. Plain clients leave it untouched.
struct CallReport {
  int attempts = 0;                       // upstream calls made
  int throttles = 0;                      // upstream throttles received
  std::chrono::milliseconds queued{0};    // time waited for local rate-limit budget
  std::chrono::milliseconds backoff{0};   // time slept between retries
  int max_tokens = 0;                     // max_tokens sent (after default and clamp); 0: not known
};

struct CallOptions {
  std::optional<SteadyTime> deadline;
  CallReport* report = nullptr;  // optional out-parameter, filled by decorators that know more
};

class ModelClient {
 public:
  virtual ~ModelClient() = default;
  // One attempt, no retries (retry policy lives in ratelimit/ and is applied by the caller).
  virtual boost::asio::awaitable<Result<ChatResponse>> chat(const ChatRequest& request, CallOptions options) = 0;
  // Streams text deltas to `on_delta`; the returned response carries the full text, usage and stop reason.
  virtual boost::asio::awaitable<Result<ChatResponse>> chat_stream(const ChatRequest& request, DeltaHandler on_delta,
                                                                   CallOptions options) = 0;
};

}  // namespace ba::bedrock
