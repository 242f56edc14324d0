#pragma once
// The original design's rate limiting, reimplemented faithfully as the quota benchmark's baseline:
//   - a per-process list of request timestamps checked against MAX_REQUESTS_PER_MINUTE;
//   - when full, sleep until the oldest timestamp leaves the minute plus U(0.1, 1) s, then check again
//     (the original's sleep-and-recurse);
//   - on ThrottlingException, up to 5 retries sleeping 1·2^attempt + U(0, 1) seconds.
// It counts requests only, knows nothing of tokens or deadlines and has no retry budget. The one liberty
// taken: its sleeps are asio timers instead of blocking sleeps, which can only help it (the original
// blocked a worker thread per waiting request).
#include <boost/asio/awaitable.hpp>
#include <deque>

#include "bedrock/model_client.hpp"
#include "util/clock.hpp"

namespace ba::bench {

class BaselineClient final : public bedrock::ModelClient {
 public:
  BaselineClient(bedrock::ModelClient& inner, int max_requests_per_minute, Random& random)
      : inner_(inner), max_rpm_(max_requests_per_minute), random_(random) {}

  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat(const bedrock::ChatRequest& request,
                                                             bedrock::CallOptions options) override;
  boost::asio::awaitable<Result<bedrock::ChatResponse>> chat_stream(const bedrock::ChatRequest& request,
                                                                    bedrock::DeltaHandler on_delta,
                                                                    bedrock::CallOptions options) override;

 private:
  boost::asio::awaitable<void> wait_for_rate_limit();

  bedrock::ModelClient& inner_;
  int max_rpm_;
  Random& random_;
  std::deque<SteadyTime> timestamps_;
};

}  // namespace ba::bench
