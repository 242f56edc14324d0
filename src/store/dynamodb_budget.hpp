#pragma once
// One Bedrock quota shared by every instance (Lambda containers, replicas): a ratelimit::BudgetStore
// whose buckets live in a DynamoDB table (`--shared-budget dynamodb:TABLE`). docs/rate-limiting.md,
// "Shared budget", explains the design; in short:
//
// One item per budget key (model + region): pk = "budget#<region>/<model>", sk = 0, in a table with the
// history table's schema (pk S HASH + sk N RANGE, TTL on expires_at). Per bucket (r = requests,
// t = tokens; amounts in thousandths of a request or token):
//   <d>_b   supply base: everything supplied before <d>_t0, plus refunds
//   <d>_q   queue end: every amount ever reserved
//   <d>_t0  Unix ms of the last adaptive change; the supply is S(t) = b + R · ∫ scale(u) du from t0 to t
//   <d>_s, <d>_ts   adaptive scale at t0 and at the last throttle (parts per million)
// plus v (version, +1 per write), n (reservations ever made, for the fallback share), expires_at, and
// d<UTC day> (tokens reserved that day, with a daily cap).
//
// A reservation is one conditional UpdateItem that ADDs its cost to <d>_q and returns the new item:
// its position in a fleet-wide FIFO queue is P = q. It may be sent once S(t) + U ≥ P, U being 95%
// of the bucket's capacity (the other 5% absorbs a bucket that refilled past full before a write
// clamps it). A settle ADDs the refund to <d>_b: the supply grows, so every waiter, on every instance,
// moves earlier in order, and later arrivals stay behind them. A throttle (at most one per 5 s for
// the fleet, conditioned on <d>_t0) rebases the supply at the lowered scale and empties the bucket;
// the scale then climbs back as a function of time, so no write is needed for increases.
// Writes per chat: one reservation and, when it gives tokens back, one settle; no Scan, no Query.
//
// Waiters learn of other instances' refunds and throttles from the item each write returns and, while
// some wait, from a GetItem every poll_interval (a coroutine, not a thread; correctness needs neither).
// When the table cannot be reached (or throttles us), the store serves from a local budget holding this
// instance's share of the fleet's recent reservations (fallback_share), warns once, counts it in
// /metrics, and tries the table again after `retry_after_failure`. It never fails a chat for that.
//
// Not thread-safe: call it from the io_context of the DynamoDB client (one thread), as serve does.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ratelimit/config.hpp"
#include "ratelimit/limiter.hpp"
#include "util/clock.hpp"

namespace ba::aws::dynamodb {
class Client;
}
namespace ba::metrics {
class Registry;
}

namespace ba::store {

struct DynamoBudgetOptions {
  std::string table;
  ratelimit::RateLimitConfig config;                 // the same budgets on every instance
  std::chrono::milliseconds poll_interval{200};      // GetItem while this instance has waiters
  std::chrono::milliseconds retry_after_failure{5'000};  // how long the local share serves after a failure
  double default_share = 0.1;  // fallback share before this instance has seen the fleet's traffic
  double min_share = 0.05;     // never less than this share in fallback (so chats still go)
  // Log lines ("warn"/"info", message); may be empty.
  std::function<void(std::string_view level, std::string_view message)> log;
  metrics::Registry* metrics = nullptr;  // ba_shared_budget_* families when set
  // The table's key schema was checked at start-up. When false (it could not be reached then), the
  // store checks it before its first write; a table that is not ours is never written to.
  bool table_checked = true;
};

struct SharedBudgetStats {
  std::uint64_t writes = 0;             // UpdateItem/PutItem sent (conditional failures included)
  std::uint64_t conditional_failures = 0;
  std::uint64_t reads = 0;              // GetItem sent
  std::uint64_t errors = 0;             // calls that failed for another reason (network, 5xx, throttle)
  std::uint64_t reservations = 0;       // granted through the table
  std::uint64_t fallback_reservations = 0;  // granted from the local share
  bool fallback = false;                // serving from the local share right now
};

class SharedBudgetStore : public ratelimit::BudgetStore {
 public:
  virtual SharedBudgetStats stats() const = 0;
};

// `clock` must outlive the store and the calls its callers await; `client` must also outlive the
// background writes still in flight when the store goes (they then touch nothing else, and a poll
// stops). The client should not retry
// by itself (max_attempts 1): a retried ADD whose first attempt landed would count twice.
std::unique_ptr<SharedBudgetStore> make_dynamodb_budget(aws::dynamodb::Client& client, DynamoBudgetOptions options,
                                                        const Clock& clock = system_clock());

// "dynamodb:TABLE" -> TABLE; nullopt for anything else (start-up reports the accepted form).
std::optional<std::string> parse_shared_budget_spec(std::string_view spec);

// The item key of a budget key.
std::string budget_item_pk(const ratelimit::Key& key);

}  // namespace ba::store
