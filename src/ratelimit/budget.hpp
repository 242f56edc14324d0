#pragma once
// Pure, deterministic budget logic (time passed in, not thread-safe; see limiter.hpp for the locked,
// awaitable wrapper). Per key (model + region):
//   - an RPM and a TPM token bucket: capacity = the per-minute amount, continuous refill at amount/60 s,
//     starting full (so a burst up to one minute's budget is allowed, then the steady rate);
//   - a daily token cap per UTC calendar day (resets at 00:00 UTC; wall clock), counting reservations;
//   - adaptive (config.adaptive), per dimension (requests, tokens): only the dimension Bedrock named is
//     adapted ("Too many tokens" -> TPM, "Too many requests" -> RPM, an unnamed throttle -> both).
//     Rate in force = scale(t) x the configured rate, a function of the state the last decrease set
//     (base, ceiling, at) and the time since; before the first throttle scale = 1. With m = minutes
//     since `at`, knee = 0.95 x ceiling, m_knee = max(0, (knee - base) / 0.10):
//         scale(t) = min(1, base + 0.10 m)                          for m <= m_knee (well below the last
//                                                                   throttle point: +10% of the rate a minute)
//                  = min(1, max(base, knee) + 0.01 (m - m_knee))    after (probing near it: +1% a minute)
//     Successes do not change it; each reply (on_response) sets the buckets' refill rates to it.
//     A throttle at t lowers the rate unless it comes within 1 s of the last decrease (the same burst):
//         current = scale(t); ceiling = current; at = t;
//         base = max(0.02, clamp(accepted, 0.5 x current, 0.9 x current))  with a measured accepted rate,
//         base = max(0.02, 0.9 x current)                                  without.
//     The accepted rate (requests only, as a fraction of the configured RPM) is measured while our own
//     request rate binds, i.e. our RPM bucket holds less than 1 request at the throttle, so we send at
//     exactly the rate in force and Bedrock accepted that minus what it throttled:
//         accepted = current - (request throttles per second) x 60 / configured RPM,
//     throttles counted from 250 ms after the last decrease (throttles of calls sent before it arrive
//     within that) over a window of at least 500 ms, averaging over at most the last 30 s. Not measured:
//     the first throttle (no window), a throttle with requests left in our bucket (it came from a burst
//     after a quieter spell, not from the rate), the token dimension (x0.9 only: replies carry no token
//     counts to on_response). The state is small: base, ceiling, at, adapted per dimension, plus the
//     throttle count and its start per key; a shared store can keep the same numbers in one item.
//     Every throttle (decrease or not) also empties the named buckets (Bedrock's is empty) and re-plans
//     the queue: reservations still waiting get new send times, in FIFO order, from the emptied bucket at
//     the rate now in force (a waiter learns its new time from ready_at(id) when it wakes); one that
//     would now pass its deadline is shed (rate_limited). A budget set above the real quota so converges
//     just under it, in tokens as well as requests. Bucket capacities stay at the configured amounts.
// reserve() works like a reservation in a GCRA/Go rate.Limiter: the cost is debited at once (levels may
// go negative) and the grant says when the request may be sent (ready_at: the time every bucket is back
// to >= 0). Waiters per key are served in FIFO order: ready_at is never earlier than that of any waiter
// still queued ahead. If ready_at would pass the caller's deadline nothing is debited and the request is
// rejected with kind rate_limited and retry_after = ready_at − now. A cost above a bucket's capacity is
// rejected as invalid_input (it could never run). settle() adjusts to the real cost (refund or debit),
// cancel() refunds everything; each reservation is settled or cancelled at most once. A refund (from a
// settle or a cancel) re-plans the key's queue the way a throttle does, without emptying the buckets:
// the waiters' send times are computed again in FIFO order from the refilled buckets, so the capacity
// a cheap reply gives back goes to the requests already waiting, in order, not to later arrivals.
// The deadline check counts the refunds to come: a reservation is charged in full while it is out,
// but a reply is usually charged a fraction of it (max_tokens is a ceiling), and each refund re-plans
// the queue. So a request is shed at once only if it would pass its deadline even when every token
// reservation still out (in flight or queued ahead of it) is settled at the key's recent charged share
// (ChargeRatio). Otherwise it is queued with its send time computed at full cost, and if the refunds
// have not moved that time to before its deadline when the deadline comes, it gives up then
// (ready_at() answers rate_limited; nothing was sent, its place returns to the queue).
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ratelimit/config.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::ratelimit {

struct Key {
  std::string model;
  std::string region;
  std::string str() const { return region + "/" + model; }
  auto operator<=>(const Key&) const = default;
};

struct Cost {
  std::int64_t requests = 1;
  std::int64_t tokens = 0;
};

struct Now {
  SteadyTime steady;
  WallTime wall;
  static Now from(const Clock& c) { return Now{c.now(), c.wall()}; }
};

using ReservationId = std::uint64_t;

// What a reply from Bedrock tells the adaptive rate.
enum class Feedback {
  success,
  throttled,           // a throttle that names no dimension (or a ModelNotReady/ServiceUnavailable)
  throttled_requests,  // "Too many requests"
  throttled_tokens,    // "Too many tokens"
};

// What share of a token reservation replies are charged, learned from settles: an exponentially
// weighted mean of charged ÷ reserved (weight 1/8), used once a few settles were seen; until then 1
// (no refund expected). Requests are always charged in full.
class ChargeRatio {
 public:
  void add(std::int64_t reserved_tokens, std::int64_t charged_tokens);
  double expected() const { return samples_ >= kMinSamples ? mean_ : 1.0; }

 private:
  static constexpr int kMinSamples = 3;
  double mean_ = 1.0;
  int samples_ = 0;
};

struct Grant {
  ReservationId id = 0;
  SteadyTime ready_at;  // send at or after this time
};

// A token bucket with continuous refill; capacity 0 = unlimited.
class TokenBucket {
 public:
  TokenBucket() = default;
  TokenBucket(double capacity, double per_second, SteadyTime now, double initial_level);
  bool limited() const { return capacity_ > 0; }
  double capacity() const { return capacity_; }
  double rate() const { return rate_; }
  double level(SteadyTime now) const;            // after refill to now (not stored)
  SteadyTime ready_at(double cost, SteadyTime now) const;  // when level − cost reaches 0
  void debit(double cost, SteadyTime now);        // may go negative
  void drain(SteadyTime now);                     // a level above 0 drops to 0
  void credit(double amount, SteadyTime now);     // capped at capacity
  void set_rate(double capacity, double per_second, SteadyTime now);

 private:
  void refill(SteadyTime now);
  double capacity_ = 0;
  double rate_ = 0;
  double level_ = 0;
  SteadyTime last_{};
};

struct KeySnapshot {
  double requests_available = 0;  // RPM bucket level (may be negative while waiters are queued)
  double tokens_available = 0;    // TPM bucket level
  std::int64_t daily_used = 0;
  std::size_t waiting = 0;        // reservations with ready_at in the future
  bool adaptive_enabled = false;  // a throttle has been seen: the rates below are in force
  double adaptive_fill_rate = 0;  // requests per second in force (the configured RPM / 60 until then)
  double adaptive_scale = 1;      // fraction of the configured request rate in force
  double adaptive_token_scale = 1;  // fraction of the configured token rate in force
};

class Budget {
 public:
  explicit Budget(RateLimitConfig config) : config_(std::move(config)) {}

  // Errors: invalid_input (cost can never fit), rate_limited (deadline; retry_after set),
  // quota_exceeded (daily cap reached; retry_after until the next UTC midnight).
  Result<Grant> reserve(const Key& key, Cost cost, Now now, std::optional<SteadyTime> deadline = std::nullopt);
  // false: unknown or already settled. `moved` (optional) is set when a refund moved a queued
  // reservation's send time earlier (its waiter should ask ready_at() again now).
  bool settle(ReservationId id, Cost actual, Now now, bool* moved = nullptr);
  bool cancel(ReservationId id, Now now, bool* moved = nullptr);  // refunds requests and tokens
  // The reservation's send time now (a throttle since reserve() may have moved it later); rate_limited
  // (retry_after set) if a re-plan shed it because the new time passed its deadline, or if its deadline
  // has come before its send time (the refunds it was queued for did not come in time): it is then
  // gone, nothing stays charged, and `moved` says whether that let later waiters go earlier. An
  // unknown id answers `now`.
  Result<SteadyTime> ready_at(ReservationId id, Now now, bool* moved = nullptr);
  void on_response(const Key& key, Feedback feedback, Now now);  // feeds the adaptive rate
  void on_response(const Key& key, bool throttled, Now now) {
    on_response(key, throttled ? Feedback::throttled : Feedback::success, now);
  }
  // New budgets for `model` (its keys in every region): the buckets take the new capacity and rate (the
  // adaptive scale in force is kept) and queued reservations are planned again at the new rate, as after
  // a throttle but without emptying the buckets. Returns the keys whose waiters may now go earlier.
  std::vector<Key> set_limits(const std::string& model, const BudgetLimits& limits, Now now);

  std::optional<Key> key_of(ReservationId id) const {
    auto it = reservations_.find(id);
    return it == reservations_.end() ? std::nullopt : std::optional<Key>(it->second.key);
  }
  KeySnapshot snapshot(const Key& key, Now now);
  std::size_t outstanding() const { return reservations_.size(); }
  const RateLimitConfig& config() const { return config_; }

 private:
  // The adaptive state of one dimension (requests or tokens): the rate in force is a function of the
  // state set by the last decrease and the time since (scale()); a decrease is computed from that state,
  // the time and, optionally, the measured accepted rate (throttled()). See the header comment.
  struct Adaptive {
    bool adapted = false;  // a throttle has been seen
    double base = 1.0;     // scale set by the last decrease
    double ceiling = 1.0;  // scale in force just before it (where Bedrock throttled)
    SteadyTime at{};       // time of the last decrease
    double scale(SteadyTime now) const;  // fraction of the configured rate in force at `now`
    // A throttle at `now`; `accepted` = the measured accepted rate as a fraction of the configured one.
    // False if it was not a decrease (within the hold of the last one).
    bool throttled(SteadyTime now, std::optional<double> accepted);
  };
  // Request throttles per second since shortly after the last request-rate decrease (at most the last
  // kThrottleWindow): with our rate binding, the accepted rate = the rate in force - this.
  struct ThrottleRate {
    double count = 0;
    SteadyTime since{};
    bool started = false;
    void add(SteadyTime now);
    void restart(SteadyTime from);
    std::optional<double> per_second(SteadyTime now) const;  // none until a long enough window
  };
  struct KeyState {
    TokenBucket rpm, tpm;
    Adaptive requests, tokens;
    ThrottleRate throttles;
    std::int64_t day = 0;
    std::int64_t daily_used = 0;
    std::multiset<SteadyTime> waiters;  // ready_at of queued reservations
    std::int64_t outstanding_tokens = 0;  // reserved tokens not yet settled (in flight and queued)
    ChargeRatio charged;
  };
  struct Reservation {
    Key key;
    Cost cost;
    SteadyTime ready_at;
    std::int64_t day;
    std::optional<SteadyTime> deadline;
  };
  KeyState& state(const Key& key, Now now);
  void roll_day(KeyState& s, Now now);
  // Settles `id` at `actual` (a settle: `actual` is what Bedrock charged; a cancel: nothing); true when
  // that refunded something to a key with waiters (then re-planned).
  bool adjust(ReservationId id, Cost actual, bool settled, Now now);
  // When a request of `cost` could go if the `refundable` reserved tokens still out ahead of it are
  // settled at the key's charged share (SteadyTime::max() if never).
  SteadyTime expected_ready(const KeyState& s, Cost cost, double refundable, Now now) const;
  // Returns true when some queued reservation now goes earlier than before.
  bool replan(const Key& key, KeyState& s, bool drain_requests, bool drain_tokens, Now now);

  RateLimitConfig config_;
  std::map<Key, KeyState> keys_;
  std::map<ReservationId, Reservation> reservations_;
  std::map<ReservationId, std::chrono::milliseconds> shed_;  // shed by a re-plan: retry_after
  ReservationId next_id_ = 1;
};

std::int64_t utc_day(WallTime t);
std::chrono::milliseconds until_next_utc_day(WallTime t);

}  // namespace ba::ratelimit
