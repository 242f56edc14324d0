#pragma once
// The seam between the chat service and a model: Bedrock over HTTP, or a scripted fake in tests.
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string_view>

#include "bedrock/types.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::bedrock {

// Called with each text delta as it arrives; returns false to cancel the upstream call.
using DeltaHandler = std::function<boost::asio::awaitable<bool>(std::string_view text)>;

struct CallOptions {
  std::optional<SteadyTime> deadline;
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
