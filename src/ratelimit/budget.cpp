#include "ratelimit/budget.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ba::ratelimit {
namespace {

using Secs = std::chrono::duration<double>;

std::chrono::milliseconds ceil_ms(SteadyTime::duration d) {
  return std::chrono::ceil<std::chrono::milliseconds>(std::max(d, SteadyTime::duration::zero()));
}

}  // namespace

std::int64_t utc_day(WallTime t) {
  return std::chrono::floor<std::chrono::days>(t).time_since_epoch().count();
}

std::chrono::milliseconds until_next_utc_day(WallTime t) {
  auto next = std::chrono::floor<std::chrono::days>(t) + std::chrono::days{1};
  return std::chrono::ceil<std::chrono::milliseconds>(next - t);
}

// ---- TokenBucket ----

TokenBucket::TokenBucket(double capacity, double per_second, SteadyTime now, double initial_level)
    : capacity_(capacity), rate_(per_second), level_(initial_level), last_(now) {}

void TokenBucket::refill(SteadyTime now) {
  if (now <= last_) return;
  level_ = std::min(capacity_, level_ + rate_ * Secs(now - last_).count());
  last_ = now;
}

double TokenBucket::level(SteadyTime now) const {
  if (now <= last_) return level_;
  return std::min(capacity_, level_ + rate_ * Secs(now - last_).count());
}

SteadyTime TokenBucket::ready_at(double cost, SteadyTime now) const {
  if (!limited()) return now;
  double after = level(now) - cost;
  if (after >= 0) return now;
  if (!(rate_ > 0)) return SteadyTime::max();
  auto wait = std::chrono::ceil<SteadyTime::duration>(Secs(-after / rate_));
  return now + wait;
}

void TokenBucket::debit(double cost, SteadyTime now) {
  if (!limited()) return;
  refill(now);
  level_ -= cost;
}

void TokenBucket::credit(double amount, SteadyTime now) {
  if (!limited()) return;
  refill(now);
  level_ = std::min(capacity_, level_ + amount);
}

void TokenBucket::drain(SteadyTime now) {
  if (!limited()) return;
  refill(now);
  level_ = std::min(level_, 0.0);
}

void TokenBucket::set_rate(double capacity, double per_second, SteadyTime now) {
  refill(now);
  capacity_ = capacity;
  rate_ = per_second;
  level_ = std::min(level_, capacity_);
}

// ---- ChargeRatio ----

void ChargeRatio::add(std::int64_t reserved_tokens, std::int64_t charged_tokens) {
  if (reserved_tokens <= 0 || charged_tokens <= 0) return;  // nothing charged: a failed call, not a reply
  const double ratio = std::min(1.0, static_cast<double>(charged_tokens) / static_cast<double>(reserved_tokens));
  mean_ = samples_ == 0 ? ratio : mean_ + (ratio - mean_) / 8.0;
  if (samples_ < kMinSamples) ++samples_;
}

// ---- Budget ----

Budget::KeyState& Budget::state(const Key& key, Now now) {
  auto it = keys_.find(key);
  if (it != keys_.end()) return it->second;
  const BudgetLimits& l = config_.limits_for(key.model);
  KeyState s;
  if (l.rpm > 0) s.rpm = TokenBucket(l.rpm, l.rpm / 60.0, now.steady, l.rpm);
  if (l.tpm > 0) s.tpm = TokenBucket(l.tpm, l.tpm / 60.0, now.steady, l.tpm);
  s.day = utc_day(now.wall);
  return keys_.emplace(key, std::move(s)).first->second;
}

void Budget::roll_day(KeyState& s, Now now) {
  auto d = utc_day(now.wall);
  if (d != s.day) {
    s.day = d;
    s.daily_used = 0;
  }
}

Result<Grant> Budget::reserve(const Key& key, Cost cost, Now now, std::optional<SteadyTime> deadline) {
  KeyState& s = state(key, now);
  const BudgetLimits& l = config_.limits_for(key.model);
  if (s.rpm.limited() && static_cast<double>(cost.requests) > s.rpm.capacity())
    return fail(ErrorKind::invalid_input, "request count above the per-minute request budget");
  if (s.tpm.limited() && static_cast<double>(cost.tokens) > s.tpm.capacity())
    return fail(ErrorKind::invalid_input, "request needs " + std::to_string(cost.tokens) +
                                              " tokens (input + max_tokens x burndown) but the per-minute budget is " +
                                              std::to_string(static_cast<std::int64_t>(s.tpm.capacity())) +
                                              "; lower max_tokens or the input");
  if (l.daily_tokens > 0 && cost.tokens > l.daily_tokens)
    return fail(ErrorKind::invalid_input, "request needs more tokens than the daily budget");

  roll_day(s, now);
  if (l.daily_tokens > 0 && s.daily_used + cost.tokens > l.daily_tokens) {
    Error e = Error::make(ErrorKind::quota_exceeded, "daily token budget for " + key.model + " exhausted");
    e.retry_after = until_next_utc_day(now.wall);
    return fail(std::move(e));
  }

  // Waiters whose time has come are no longer queued.
  s.waiters.erase(s.waiters.begin(), s.waiters.upper_bound(now.steady));

  SteadyTime ready = now.steady;
  ready = std::max(ready, s.rpm.ready_at(static_cast<double>(cost.requests), now.steady));
  ready = std::max(ready, s.tpm.ready_at(static_cast<double>(cost.tokens), now.steady));
  if (!s.waiters.empty()) ready = std::max(ready, *s.waiters.rbegin());  // FIFO

  if (ready == SteadyTime::max() || (deadline && ready > *deadline)) {
    // At full cost it would pass the deadline; with the refunds the reservations still out should give
    // back, it may not: then it queues, and gives up at its deadline if they do not come in time.
    const SteadyTime expected = expected_ready(s, cost, static_cast<double>(s.outstanding_tokens), now);
    if (!deadline || expected > *deadline) {
      Error e = Error::make(ErrorKind::rate_limited, "rate limit for " + key.model + ": no capacity before the deadline");
      e.retry_after = expected == SteadyTime::max() ? std::chrono::milliseconds{60'000} : ceil_ms(expected - now.steady);
      return fail(std::move(e));
    }
  }

  s.rpm.debit(static_cast<double>(cost.requests), now.steady);
  s.tpm.debit(static_cast<double>(cost.tokens), now.steady);
  s.daily_used += cost.tokens;
  s.outstanding_tokens += cost.tokens;
  if (ready > now.steady) s.waiters.insert(ready);

  ReservationId id = next_id_++;
  reservations_.emplace(id, Reservation{key, cost, ready, s.day, deadline});
  return Grant{id, ready};
}

SteadyTime Budget::expected_ready(const KeyState& s, Cost cost, double refundable, Now now) const {
  SteadyTime at = s.rpm.ready_at(static_cast<double>(cost.requests), now.steady);
  const double back = refundable * (1.0 - s.charged.expected());
  // A refund is credited up to the capacity, which the cost never exceeds: level + back >= cost is
  // the whole condition.
  return std::max(at, s.tpm.ready_at(static_cast<double>(cost.tokens) - back, now.steady));
}

bool Budget::adjust(ReservationId id, Cost actual, bool settled, Now now) {
  auto it = reservations_.find(id);
  Reservation r = std::move(it->second);
  reservations_.erase(it);
  KeyState& s = state(r.key, now);
  s.outstanding_tokens -= r.cost.tokens;
  if (settled) s.charged.add(r.cost.tokens, actual.tokens);
  if (auto w = s.waiters.find(r.ready_at); w != s.waiters.end()) s.waiters.erase(w);
  auto refund_requests = static_cast<double>(r.cost.requests - actual.requests);
  auto refund_tokens = static_cast<double>(r.cost.tokens - actual.tokens);
  if (refund_requests >= 0) s.rpm.credit(refund_requests, now.steady);
  else s.rpm.debit(-refund_requests, now.steady);
  if (refund_tokens >= 0) s.tpm.credit(refund_tokens, now.steady);
  else s.tpm.debit(-refund_tokens, now.steady);
  roll_day(s, now);
  if (r.day == s.day) s.daily_used = std::max<std::int64_t>(0, s.daily_used - (r.cost.tokens - actual.tokens));
  // Capacity given back goes to the requests already queued, in order, before any later arrival.
  s.waiters.erase(s.waiters.begin(), s.waiters.upper_bound(now.steady));
  const bool refunded = (refund_requests > 0 && s.rpm.limited()) || (refund_tokens > 0 && s.tpm.limited());
  if (!refunded || s.waiters.empty()) return false;
  return replan(r.key, s, false, false, now);
}

bool Budget::settle(ReservationId id, Cost actual, Now now, bool* moved) {
  if (!reservations_.contains(id)) return false;
  bool m = adjust(id, actual, true, now);
  if (moved) *moved = m;
  return true;
}

bool Budget::cancel(ReservationId id, Now now, bool* moved) {
  shed_.erase(id);
  if (!reservations_.contains(id)) return false;
  bool m = adjust(id, Cost{0, 0}, false, now);
  if (moved) *moved = m;
  return true;
}

Result<SteadyTime> Budget::ready_at(ReservationId id, Now now, bool* moved) {
  if (moved) *moved = false;
  if (auto it = reservations_.find(id); it != reservations_.end()) {
    const Reservation& r = it->second;
    if (!r.deadline || r.ready_at <= now.steady || now.steady < *r.deadline) return r.ready_at;
    // Queued for refunds that have not come: its deadline is here and its send time is not.
    Error e = Error::make(ErrorKind::rate_limited, "rate limit for " + r.key.model +
                                                       ": the queue did not reach this request before its deadline");
    e.retry_after = ceil_ms(r.ready_at - now.steady);
    const bool m = adjust(id, Cost{0, 0}, false, now);
    if (moved) *moved = m;
    return fail(std::move(e));
  }
  if (auto it = shed_.find(id); it != shed_.end()) {
    Error e = Error::make(ErrorKind::rate_limited,
                          "rate limit: Bedrock throttled and the re-planned queue would pass the deadline");
    e.retry_after = it->second;
    shed_.erase(it);
    return fail(std::move(e));
  }
  return now.steady;
}

namespace {
constexpr double kDecrease = 0.9;          // a decrease: at most x0.9 of the rate in force ...
constexpr double kMaxDecrease = 0.5;       // ... at least x0.5, the measured accepted rate in between
constexpr double kFastIncreasePerMinute = 0.1;   // well below the last throttle point
constexpr double kSlowIncreasePerMinute = 0.01;  // probing near it
constexpr double kProbeBelow = 0.95;             // "near": from 95% of the rate of the last throttle
constexpr double kMinScale = 0.02;
constexpr auto kHold = std::chrono::seconds(1);  // throttles within this of a decrease are the same burst
constexpr auto kSettle = std::chrono::milliseconds(250);  // throttles of calls sent before a decrease arrive within this
constexpr auto kMinThrottleWindow = std::chrono::milliseconds(500);  // a shorter measurement is not used
constexpr auto kThrottleWindow = std::chrono::seconds(30);
}  // namespace

double Budget::Adaptive::scale(SteadyTime now) const {
  if (!adapted) return 1.0;
  const double minutes = std::max(0.0, Secs(now - at).count()) / 60.0;
  const double knee = kProbeBelow * ceiling;
  double s;
  if (base < knee) {
    const double fast_minutes = (knee - base) / kFastIncreasePerMinute;
    s = minutes <= fast_minutes ? base + kFastIncreasePerMinute * minutes
                                : knee + kSlowIncreasePerMinute * (minutes - fast_minutes);
  } else {
    s = base + kSlowIncreasePerMinute * minutes;
  }
  return std::min(1.0, s);
}

bool Budget::Adaptive::throttled(SteadyTime now, std::optional<double> accepted) {
  if (adapted && now - at < kHold) return false;
  const double current = scale(now);
  double next = current * kDecrease;
  if (accepted) next = std::clamp(*accepted, current * kMaxDecrease, next);
  ceiling = current;
  base = std::max(kMinScale, next);
  at = now;
  adapted = true;
  return true;
}

void Budget::ThrottleRate::add(SteadyTime now) {
  if (!started || now < since) return;
  if (now - since > kThrottleWindow) {  // keep the average, forget the older part of the window
    count *= Secs(kThrottleWindow).count() / Secs(now - since).count();
    since = now - kThrottleWindow;
  }
  count += 1;
}

void Budget::ThrottleRate::restart(SteadyTime from) {
  count = 0;
  since = from;
  started = true;
}

std::optional<double> Budget::ThrottleRate::per_second(SteadyTime now) const {
  if (!started || now - since < kMinThrottleWindow) return std::nullopt;
  return count / Secs(now - since).count();
}

void Budget::on_response(const Key& key, Feedback feedback, Now now) {
  if (!config_.adaptive) return;
  KeyState& s = state(key, now);
  const BudgetLimits& l = config_.limits_for(key.model);
  const bool requests = feedback == Feedback::throttled || feedback == Feedback::throttled_requests;
  const bool tokens = feedback == Feedback::throttled || feedback == Feedback::throttled_tokens;
  if (feedback != Feedback::success) {
    if (requests) {
      // While our request rate binds (our bucket cannot send another request now), we send at exactly
      // the rate in force, so Bedrock accepts that minus the throttles per second. A throttle with
      // requests still in our bucket came from a burst after a quieter spell: no measurement then.
      s.throttles.add(now.steady);
      std::optional<double> accepted;
      const bool rate_bound = s.rpm.limited() && s.rpm.level(now.steady) < 1.0;
      if (auto per_second = s.throttles.per_second(now.steady); per_second && rate_bound)
        accepted = s.requests.scale(now.steady) - *per_second * 60.0 / l.rpm;
      if (s.requests.throttled(now.steady, accepted)) s.throttles.restart(now.steady + kSettle);
    }
    if (tokens) s.tokens.throttled(now.steady, std::nullopt);
  }
  if (s.rpm.limited()) s.rpm.set_rate(s.rpm.capacity(), l.rpm * s.requests.scale(now.steady) / 60.0, now.steady);
  if (s.tpm.limited()) s.tpm.set_rate(s.tpm.capacity(), l.tpm * s.tokens.scale(now.steady) / 60.0, now.steady);
  // Bedrock's bucket is empty right now, so what ours still holds is not really there.
  if (feedback != Feedback::success) replan(key, s, requests, tokens, now);
}

std::vector<Key> Budget::set_limits(const std::string& model, const BudgetLimits& limits, Now now) {
  config_.per_model[model] = limits;
  std::vector<Key> moved;
  for (auto& [key, s] : keys_) {
    if (key.model != model) continue;
    auto apply = [&](TokenBucket& b, double per_minute, double scale) {
      if (per_minute <= 0) {
        b = TokenBucket();
      } else if (!b.limited()) {
        b = TokenBucket(per_minute, per_minute * scale / 60.0, now.steady, per_minute);
      } else {
        b.set_rate(per_minute, per_minute * scale / 60.0, now.steady);
      }
    };
    apply(s.rpm, limits.rpm, s.requests.scale(now.steady));
    apply(s.tpm, limits.tpm, s.tokens.scale(now.steady));
    if (replan(key, s, false, false, now)) moved.push_back(key);
  }
  return moved;
}

bool Budget::replan(const Key& key, KeyState& s, bool drain_requests, bool drain_tokens, Now now) {
  // The key's queued reservations (send time still ahead), in FIFO order.
  std::vector<std::pair<ReservationId, Reservation*>> queued;
  for (auto& [id, r] : reservations_) {
    if (r.key == key && r.ready_at > now.steady) queued.emplace_back(id, &r);
  }
  std::sort(queued.begin(), queued.end(), [](const auto& a, const auto& b) {
    return a.second->ready_at != b.second->ready_at ? a.second->ready_at < b.second->ready_at : a.first < b.first;
  });
  // Take their debits back, empty the buckets Bedrock says are empty, then schedule them again in order
  // at the rates now in force, as reserve() would have (with the same deadline check).
  double refundable = static_cast<double>(s.outstanding_tokens);  // in flight, then each queued one ahead
  for (const auto& [id, r] : queued) {
    refundable -= static_cast<double>(r->cost.tokens);
    s.rpm.credit(static_cast<double>(r->cost.requests), now.steady);
    s.tpm.credit(static_cast<double>(r->cost.tokens), now.steady);
  }
  if (drain_requests) s.rpm.drain(now.steady);
  if (drain_tokens) s.tpm.drain(now.steady);
  s.waiters.clear();
  bool moved_earlier = false;
  SteadyTime previous = now.steady;
  for (const auto& [id, r] : queued) {
    SteadyTime ready = previous;
    ready = std::max(ready, s.rpm.ready_at(static_cast<double>(r->cost.requests), now.steady));
    ready = std::max(ready, s.tpm.ready_at(static_cast<double>(r->cost.tokens), now.steady));
    if (ready == SteadyTime::max() || (r->deadline && ready > *r->deadline)) {
      const SteadyTime expected = expected_ready(s, r->cost, refundable, now);
      if (!r->deadline || expected > *r->deadline) {
        shed_[id] = expected == SteadyTime::max() ? std::chrono::milliseconds{60'000} : ceil_ms(expected - now.steady);
        if (r->day == s.day) s.daily_used = std::max<std::int64_t>(0, s.daily_used - r->cost.tokens);
        s.outstanding_tokens -= r->cost.tokens;
        reservations_.erase(id);
        continue;
      }
    }
    refundable += static_cast<double>(r->cost.tokens);
    s.rpm.debit(static_cast<double>(r->cost.requests), now.steady);
    s.tpm.debit(static_cast<double>(r->cost.tokens), now.steady);
    if (ready < r->ready_at) moved_earlier = true;
    r->ready_at = ready;
    if (ready > now.steady) s.waiters.insert(ready);
    previous = ready;
  }
  return moved_earlier;
}

KeySnapshot Budget::snapshot(const Key& key, Now now) {
  KeyState& s = state(key, now);
  roll_day(s, now);
  s.waiters.erase(s.waiters.begin(), s.waiters.upper_bound(now.steady));
  return KeySnapshot{
      .requests_available = s.rpm.limited() ? s.rpm.level(now.steady) : 0,
      .tokens_available = s.tpm.limited() ? s.tpm.level(now.steady) : 0,
      .daily_used = s.daily_used,
      .waiting = s.waiters.size(),
      .adaptive_enabled = s.requests.adapted || s.tokens.adapted,
      .adaptive_fill_rate = s.rpm.limited() ? s.rpm.rate() : 0,
      .adaptive_scale = s.requests.scale(now.steady),
      .adaptive_token_scale = s.tokens.scale(now.steady),
  };
}

}  // namespace ba::ratelimit
