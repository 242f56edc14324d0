#include "ratelimit/limiter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
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
  bool moved = false;
  std::optional<Key> key;
  bool found;
  {
    std::lock_guard lock(mu_);
    key = budget_.key_of(id);
    found = budget_.settle(id, actual, Now::from(clock_), &moved);
  }
  if (moved && key) notify_replan(*key);
  return found;
}

bool InProcessBudgetStore::cancel(ReservationId id) {
  bool moved = false;
  std::optional<Key> key;
  bool found;
  {
    std::lock_guard lock(mu_);
    key = budget_.key_of(id);
    found = budget_.cancel(id, Now::from(clock_), &moved);
  }
  if (moved && key) notify_replan(*key);
  return found;
}

Result<SteadyTime> InProcessBudgetStore::ready_at(ReservationId id, SteadyTime) {
  bool moved = false;
  std::optional<Key> key;
  Result<SteadyTime> at;
  {
    std::lock_guard lock(mu_);
    key = budget_.key_of(id);
    at = budget_.ready_at(id, Now::from(clock_), &moved);
  }
  if (moved && key) notify_replan(*key);
  return at;
}

void InProcessBudgetStore::on_response(const Key& key, Feedback feedback) {
  std::lock_guard lock(mu_);
  budget_.on_response(key, feedback, Now::from(clock_));
}

bool InProcessBudgetStore::set_limits(const std::string& model, const BudgetLimits& limits) {
  std::vector<Key> moved;
  {
    std::lock_guard lock(mu_);
    moved = budget_.set_limits(model, limits, Now::from(clock_));
  }
  for (const auto& key : moved) notify_replan(key);
  return true;
}

KeySnapshot InProcessBudgetStore::snapshot(const Key& key) {
  std::lock_guard lock(mu_);
  return budget_.snapshot(key, Now::from(clock_));
}

std::size_t InProcessBudgetStore::outstanding() const {
  std::lock_guard lock(mu_);
  return budget_.outstanding();
}

// A queued acquire: its timer, and whether the store's listener (not the caller) woke it.
struct LimiterAdmission::Waiter {
  explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool woken = false;
};

LimiterAdmission::LimiterAdmission(BudgetStore& store, const Clock& clock) : store_(store), clock_(clock) {
  store_.set_replan_listener([this](const Key& key) { wake(key); });
}

LimiterAdmission::~LimiterAdmission() { store_.set_replan_listener(nullptr); }

void LimiterAdmission::wake(const Key& key) {
  std::lock_guard lock(mu_);
  auto [first, last] = waiters_.equal_range(key);
  for (auto it = first; it != last; ++it) {
    auto waiter = it->second.lock();
    if (!waiter) continue;
    // On the waiter's own executor: its timer is not thread-safe.
    asio::post(waiter->timer.get_executor(), [weak = it->second] {
      if (auto w = weak.lock()) {
        w->woken = true;
        w->timer.cancel();
      }
    });
  }
}

asio::awaitable<Result<Permit>> LimiterAdmission::acquire(const Key& key, Cost cost,
                                                          std::optional<SteadyTime> deadline) {
  auto grant = co_await store_.reserve(key, cost, deadline);
  if (!grant) co_return fail(std::move(grant.error()));
  Permit permit{.id = grant->id, .key = key, .reserved = cost};
  const auto start = clock_.now();
  SteadyTime ready = grant->ready_at;
  if (ready <= start) co_return permit;

  auto waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
  std::multimap<Key, std::weak_ptr<Waiter>>::iterator registered;
  {
    std::lock_guard lock(mu_);
    registered = waiters_.emplace(key, waiter);
  }
  struct Unregister {
    LimiterAdmission& self;
    std::multimap<Key, std::weak_ptr<Waiter>>::iterator it;
    ~Unregister() {
      std::lock_guard lock(self.mu_);
      self.waiters_.erase(it);
    }
  } unregister{*this, registered};

  while (true) {
    // A grant past the deadline was queued for refunds still to come (budget.hpp): wake at the
    // deadline at the latest.
    const SteadyTime wake = deadline ? std::min(ready, *deadline) : ready;
    waiter->timer.expires_after(wake - clock_.now());
    auto [ec] = co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    const bool woken = waiter->woken;
    waiter->woken = false;
    if (ec) {
      auto state = co_await asio::this_coro::cancellation_state;
      if (!woken || state.cancelled() != asio::cancellation_type::none) {
        store_.cancel(grant->id);
        co_return fail(ErrorKind::cancelled, "cancelled while waiting for rate-limit budget");
      }
    }
    auto now_ready = store_.ready_at(grant->id, ready);
    if (!now_ready) co_return fail(std::move(now_ready.error()));  // shed; nothing charged
    // Woken early (a refund): go if our new time has come. Timer expired: go unless a throttle moved
    // our turn later (or, woken for the deadline, unless refunds brought it to the deadline).
    if (woken ? *now_ready <= clock_.now() : *now_ready <= wake) {
      ready = std::min(ready, *now_ready);
      break;
    }
    if (!woken && wake < ready) {  // the deadline came first, and the store did not say so
      store_.cancel(grant->id);
      Error e = Error::make(ErrorKind::rate_limited,
                            "rate limit for " + key.model + ": the queue did not reach this request before its deadline");
      e.retry_after = std::chrono::ceil<std::chrono::milliseconds>(
          std::max(*now_ready - clock_.now(), SteadyTime::duration::zero()));
      co_return fail(std::move(e));
    }
    ready = *now_ready;  // wait again, for the new time
  }
  permit.waited = std::max(ready, start) - start;
  co_return permit;
}

asio::awaitable<Result<Permit>> OwnedAdmission::acquire(const Key& key, Cost cost, std::optional<SteadyTime> deadline) {
  if (owner_.get_executor().running_in_this_thread()) co_return co_await inner_.acquire(key, cost, deadline);
  // The caller's frame (and `key`) outlives the spawned coroutine: it awaits its end.
  co_return co_await asio::co_spawn(owner_, inner_.acquire(key, cost, deadline), asio::use_awaitable);
}

void OwnedAdmission::settle(const Permit& permit, Cost actual) {
  if (owner_.get_executor().running_in_this_thread()) return inner_.settle(permit, actual);
  asio::post(owner_, [&inner = inner_, permit, actual] { inner.settle(permit, actual); });
}

void OwnedAdmission::on_response(const Key& key, Feedback feedback) {
  if (owner_.get_executor().running_in_this_thread()) return inner_.on_response(key, feedback);
  asio::post(owner_, [&inner = inner_, key, feedback] { inner.on_response(key, feedback); });
}

}  // namespace ba::ratelimit
