#pragma once
// The seam between the chat service and a model: Bedrock over HTTP, or a scripted fake in tests.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "bedrock/types.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::bedrock {

// Called with each piece of the reply as it arrives (text, a tool call's start and input fragments,
// reasoning; bedrock::StreamDelta); returns false to cancel the upstream call.
using DeltaHandler = std::function<boost::asio::awaitable<bool>(const StreamDelta& delta)>;

// Per-call details a decorating client (ratelimit::RetryingClient) reports back, for the response and
// the request log. Plain clients report zeros.
struct CallReport {
  int attempts = 0;                       // upstream calls made
  int throttles = 0;                      // upstream throttles received
  std::chrono::milliseconds queued{0};    // time waited for local rate-limit budget
  std::chrono::milliseconds backoff{0};   // time slept between retries
  int max_tokens = 0;                     // max_tokens sent (after default and clamp); 0: not known
  // The target that served (or last tried) the call, set by a router over several targets
  // (ratelimit::Router); empty otherwise.
  std::string model_id;
  std::string region;
};

struct CallOptions {
  std::optional<SteadyTime> deadline;
  // start(): the call will be sent with a DeltaHandler (admission expects a stream's latency).
  bool stream = false;
};

// One model call in two phases, so that a caller can commit to an answer (a stream's 200 and headers)
// only once the call was admitted:
//   admit()  waits for the client's admission (rate-limit budget, deadline) and sends nothing;
//   send()   makes the call (admitting first when admit() was not awaited); with `on_delta`, streamed.
// report() is the call's report so far (a value owned by the call; read it after either phase).
// Dropping an admitted call unsent gives its budget back.
class ModelCall {
 public:
  virtual ~ModelCall() = default;
  virtual boost::asio::awaitable<Status> admit() = 0;
  virtual boost::asio::awaitable<Result<ChatResponse>> send(DeltaHandler on_delta) = 0;
  virtual const CallReport& report() const = 0;
};

class ModelClient {
 public:
  virtual ~ModelClient() = default;
  // The call as a ModelCall. The default admits at once and forwards send() to chat() / chat_stream().
  virtual std::unique_ptr<ModelCall> start(ChatRequest request, CallOptions options);
  // One attempt, no retries (retry policy lives in ratelimit/ and is applied by the caller).
  virtual boost::asio::awaitable<Result<ChatResponse>> chat(const ChatRequest& request, CallOptions options) = 0;
  // Streams the reply's pieces to `on_delta` as they arrive; the returned response carries the full text,
  // the tool calls, usage and stop reason.
  virtual boost::asio::awaitable<Result<ChatResponse>> chat_stream(const ChatRequest& request, DeltaHandler on_delta,
                                                                   CallOptions options) = 0;
  // The input tokens `request` (messages and system; max_tokens and inference settings do not count)
  // would be charged, from Bedrock's CountTokens (free: no quota, no rate-limit budget). The default: a
  // client that cannot count answers ErrorKind::invalid_input.
  virtual boost::asio::awaitable<Result<std::int64_t>> count_tokens(const ChatRequest& request, CallOptions options);
};

// The default ModelCall (a client without admission of its own): admitted at once, the report zeros.
// Inline: ba_ratelimit implements ModelClient without linking ba_bedrock.
class DirectCall final : public ModelCall {
 public:
  DirectCall(ModelClient& client, ChatRequest request, CallOptions options)
      : client_(client), request_(std::move(request)), options_(options) {}
  boost::asio::awaitable<Status> admit() override { co_return Status{}; }
  // Not a coroutine: the client's own call is awaited directly (no frame of its own).
  boost::asio::awaitable<Result<ChatResponse>> send(DeltaHandler on_delta) override {
    if (on_delta) return client_.chat_stream(request_, std::move(on_delta), options_);
    return client_.chat(request_, options_);
  }
  const CallReport& report() const override { return report_; }

 private:
  ModelClient& client_;
  ChatRequest request_;
  CallOptions options_;
  CallReport report_;
};

inline boost::asio::awaitable<Result<std::int64_t>> ModelClient::count_tokens(const ChatRequest& /*request*/,
                                                                              CallOptions /*options*/) {
  co_return fail(ErrorKind::invalid_input, "this model client cannot count tokens");
}

inline std::unique_ptr<ModelCall> ModelClient::start(ChatRequest request, CallOptions options) {
  return std::make_unique<DirectCall>(*this, std::move(request), options);
}

}  // namespace ba::bedrock
