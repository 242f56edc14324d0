#include "ratelimit/limiter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ba::ratelimit {

namespace asio = boost::asio;

asio::awaitable<Result<Grant>> InProcessBudgetStore::reserve(const Key& key, Cost cost,
                                                              std::optional<SteadyTime> deadline) {
  std::lock_guard lock(mu_);
  co_return budget_.reserve(key, cost, Now::from(clock_), deadline);
}

bool InProcessBudgetStore::settle(ReservationId id, Cost actual) {
  std::lock_guard lock(mu_);
  return budget_.settle(id, actual, Now::from(clock_));
}

bool InProcessBudgetStore::cancel(ReservationId id) {
  std::lock_guard lock(mu_);
  return budget_.cancel(id, Now::from(clock_));
}

Result<SteadyTime> InProcessBudgetStore::ready_at(ReservationId id, SteadyTime) {
  std::lock_guard lock(mu_);
  return budget_.ready_at(id, Now::from(clock_));
}

void InProcessBudgetStore::on_response(const Key& key, Feedback feedback) {
  std::lock_guard lock(mu_);
  budget_.on_response(key, feedback, Now::from(clock_));
}

KeySnapshot InProcessBudgetStore::snapshot(const Key& key) {
  std::lock_guard lock(mu_);
  return budget_.snapshot(key, Now::from(clock_));
}

std::size_t InProcessBudgetStore::outstanding() const {
  std::lock_guard lock(mu_);
  return budget_.outstanding();
}

asio::awaitable<Result<Permit>> LimiterAdmission::acquire(const Key& key, Cost cost,
                                                          std::optional<SteadyTime> deadline) {
  auto grant = co_await store_.reserve(key, cost, deadline);
  if (!grant) co_return fail(std::move(grant.error()));
  Permit permit{.id = grant->id, .key = key, .reserved = cost};
  const auto start = clock_.now();
  SteadyTime ready = grant->ready_at;
  if (ready <= start) co_return permit;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (true) {
    timer.expires_after(ready - clock_.now());
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      store_.cancel(grant->id);
      co_return fail(ErrorKind::cancelled, "cancelled while waiting for rate-limit budget");
    }
    auto now_ready = store_.ready_at(grant->id, ready);
    if (!now_ready) co_return fail(std::move(now_ready.error()));  // shed by a re-plan; nothing charged
    if (*now_ready <= ready) break;
    ready = *now_ready;  // a throttle moved our turn: wait again
  }
  permit.waited = ready - start;
  co_return permit;
}

}  // namespace ba::ratelimit
