#pragma once
// Admission: reserve a request's cost before sending, wait (on a timer, never blocking a thread) until
// the budget allows it, or be rejected at once; settle with the real cost after the reply.
//
//   BudgetStore  — where budgets live. InProcessBudgetStore (a locked Budget) is the default; a store
//                  shared by processes/Lambda instances (DynamoDB conditional updates, Redis) implements
//                  the same interface later. reserve() is awaitable for that reason; settle/cancel/
//                  on_response are fire-and-forget (a remote store may spawn its own update).
//   Admission    — what callers use. LimiterAdmission waits on an asio steady_timer until the grant's
//                  ready_at, then asks the store again (a throttle meanwhile may have moved it later);
//                  grants are ordered FIFO per key by the store, so waiters wake in order. When the
//                  store re-plans a key so that grants may go earlier (a refund, fresh state from a
//                  shared table), it tells its listener; the admission then wakes that key's waiters,
//                  which ask ready_at() again and go, or wait for the new time.
//                  If the awaiting coroutine is cancelled (terminal/partial cancellation through its
//                  cancellation slot), the reservation is cancelled and its capacity refunded.
//
// Permits settle exactly once, explicitly: call Admission::settle(permit, actual) after the call (with
// Cost{1, 0} if nothing was charged). The store ignores a second settle of the same permit; a permit
// that is never settled keeps its reservation (the full estimated cost stays charged).
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "ratelimit/budget.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace boost::asio {
class io_context;
}

namespace ba::ratelimit {

class BudgetStore {
 public:
  virtual ~BudgetStore() = default;
  virtual boost::asio::awaitable<Result<Grant>> reserve(const Key& key, Cost cost,
                                                        std::optional<SteadyTime> deadline) = 0;
  virtual bool settle(ReservationId id, Cost actual) = 0;
  virtual bool cancel(ReservationId id) = 0;
  // Asked by a waiter when its timer fires: the reservation's send time now (a throttle may have
  // re-planned the queue), or rate_limited if the re-plan shed it. A store that never moves grants
  // answers the time it granted.
  virtual Result<SteadyTime> ready_at(ReservationId id, SteadyTime granted) { (void)id; return granted; }
  virtual void on_response(const Key& key, Feedback feedback) = 0;
  // New budgets for `model` from now on (quotas read from the account: auto_quotas.hpp). False when the
  // store cannot change them while running (the shared table: every instance computes the fleet's
  // supply from its own budgets, so they change at a restart).
  virtual bool set_limits(const std::string& model, const BudgetLimits& limits) {
    (void)model;
    (void)limits;
    return false;
  }

  // Called (from any thread, never under the store's lock) when grants of `key` may now go earlier
  // than they were told. One listener per store (the admission that uses it).
  using ReplanListener = std::function<void(const Key&)>;
  void set_replan_listener(ReplanListener listener) { listener_ = std::move(listener); }

 protected:
  void notify_replan(const Key& key) const {
    if (listener_) listener_(key);
  }

 private:
  ReplanListener listener_;
};

class InProcessBudgetStore final : public BudgetStore {
 public:
  InProcessBudgetStore(RateLimitConfig config, const Clock& clock) : budget_(std::move(config)), clock_(clock) {}
  boost::asio::awaitable<Result<Grant>> reserve(const Key& key, Cost cost, std::optional<SteadyTime> deadline) override;
  bool settle(ReservationId id, Cost actual) override;
  bool cancel(ReservationId id) override;
  Result<SteadyTime> ready_at(ReservationId id, SteadyTime granted) override;
  void on_response(const Key& key, Feedback feedback) override;
  bool set_limits(const std::string& model, const BudgetLimits& limits) override;

  KeySnapshot snapshot(const Key& key);
  std::size_t outstanding() const;

 private:
  mutable std::mutex mu_;
  Budget budget_;
  const Clock& clock_;
};

struct Permit {
  ReservationId id = 0;
  Key key;
  Cost reserved;
  std::chrono::nanoseconds waited{0};  // time spent queued for budget
};

class Admission {
 public:
  virtual ~Admission() = default;
  // Errors: rate_limited (+retry_after), quota_exceeded (daily cap), invalid_input (cost too large),
  // cancelled (the caller went away while queued).
  virtual boost::asio::awaitable<Result<Permit>> acquire(const Key& key, Cost cost,
                                                         std::optional<SteadyTime> deadline) = 0;
  virtual void settle(const Permit& permit, Cost actual) = 0;
  virtual void on_response(const Key& key, Feedback feedback) = 0;
};

class LimiterAdmission final : public Admission {
 public:
  // Becomes `store`'s re-plan listener (and stops being it when destroyed).
  LimiterAdmission(BudgetStore& store, const Clock& clock);
  ~LimiterAdmission() override;
  LimiterAdmission(const LimiterAdmission&) = delete;
  LimiterAdmission& operator=(const LimiterAdmission&) = delete;

  boost::asio::awaitable<Result<Permit>> acquire(const Key& key, Cost cost, std::optional<SteadyTime> deadline) override;
  void settle(const Permit& permit, Cost actual) override { store_.settle(permit.id, actual); }
  void on_response(const Key& key, Feedback feedback) override { store_.on_response(key, feedback); }

  // Wakes `key`'s waiters so they ask the store for their send time again (the store's listener).
  void wake(const Key& key);

 private:
  struct Waiter;
  BudgetStore& store_;
  const Clock& clock_;
  std::mutex mu_;
  std::multimap<Key, std::weak_ptr<Waiter>> waiters_;
};

// An Admission used from several io threads (`serve --threads N`) whose store is not thread-safe (the
// shared budget on DynamoDB keeps its cache and queue positions unlocked): every use runs on one
// owner's io_context. acquire() hops there and back (the inner acquire runs on the owner, its waiting
// timer too; the caller resumes on its own executor; a cancellation of the caller reaches it), settle()
// and on_response() are posted there. Called on the owner's thread, it calls the inner admission
// directly: no hop. (The in-process store needs none: it is locked, and LimiterAdmission wakes each
// waiter on its own executor.)
class OwnedAdmission final : public Admission {
 public:
  // `inner` and `owner` must outlive the calls; work posted to `owner` after it stopped is not run
  // (a settle then is lost, as a process that exits loses its unsettled reservations).
  OwnedAdmission(Admission& inner, boost::asio::io_context& owner) : inner_(inner), owner_(owner) {}
  boost::asio::awaitable<Result<Permit>> acquire(const Key& key, Cost cost, std::optional<SteadyTime> deadline) override;
  void settle(const Permit& permit, Cost actual) override;
  void on_response(const Key& key, Feedback feedback) override;

 private:
  Admission& inner_;
  boost::asio::io_context& owner_;
};

}  // namespace ba::ratelimit
