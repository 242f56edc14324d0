#include "baseline_client.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>

namespace ba::bench {
namespace asio = boost::asio;
using namespace std::chrono;

namespace {
asio::awaitable<void> sleep_for(duration<double> d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration_cast<steady_clock::duration>(d));
  co_await timer.async_wait(asio::use_awaitable);
}
}  // namespace

asio::awaitable<void> BaselineClient::wait_for_rate_limit() {
  for (;;) {  // the original recursed; a loop is the same without the stack
    auto now = steady_clock::now();
    while (!timestamps_.empty() && now - timestamps_.front() >= minutes(1)) timestamps_.pop_front();
    if (static_cast<int>(timestamps_.size()) < max_rpm_) {
      timestamps_.push_back(now);
      co_return;
    }
    auto wait = duration<double>(minutes(1) - (now - timestamps_.front())) +
                duration<double>(0.1 + 0.9 * random_.uniform());
    co_await sleep_for(wait);
  }
}

asio::awaitable<Result<bedrock::ChatResponse>> BaselineClient::chat(const bedrock::ChatRequest& request,
                                                                    bedrock::CallOptions options) {
  constexpr int kMaxRetries = 5;
  for (int attempt = 0;; ++attempt) {
    co_await wait_for_rate_limit();
    auto result = co_await inner_.chat(request, options);
    if (result || !result.error().throttle || attempt >= kMaxRetries) co_return result;
    co_await sleep_for(duration<double>(std::pow(2.0, attempt) + random_.uniform()));
  }
}

asio::awaitable<Result<bedrock::ChatResponse>> BaselineClient::chat_stream(const bedrock::ChatRequest& request,
                                                                           bedrock::DeltaHandler on_delta,
                                                                           bedrock::CallOptions options) {
  co_await wait_for_rate_limit();
  co_return co_await inner_.chat_stream(request, std::move(on_delta), options);
}

}  // namespace ba::bench
