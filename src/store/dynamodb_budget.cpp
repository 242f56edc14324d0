#include "store/dynamodb_budget.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <array>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <optional>

#include "aws/dynamodb.hpp"
#include "ratelimit/budget.hpp"
#include "store/dynamodb_table.hpp"
#include "util/metrics.hpp"

namespace ba::store {

namespace asio = boost::asio;
namespace json = boost::json;
namespace dyn = aws::dynamodb;
using ratelimit::Cost;
using ratelimit::Feedback;
using ratelimit::Grant;
using ratelimit::Key;
using ratelimit::ReservationId;

std::optional<std::string> parse_shared_budget_spec(std::string_view spec) {
  constexpr std::string_view prefix = "dynamodb:";
  if (!spec.starts_with(prefix)) return std::nullopt;
  std::string table(spec.substr(prefix.size()));
  // DynamoDB table names: 3-255 of [a-zA-Z0-9_.-].
  if (table.size() < 3 || table.size() > 255) return std::nullopt;
  for (char c : table) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-';
    if (!ok) return std::nullopt;
  }
  return table;
}

std::string budget_item_pk(const Key& key) { return "budget#" + key.region + "/" + key.model; }

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kMilli = 1000;      // stored amounts are thousandths of a request or token
constexpr std::int64_t kPpm = 1'000'000;   // scales are stored in parts per million
constexpr double kSlack = 0.05;            // a bucket may run this far past full before a write clamps it
// The adaptive rule of ratelimit::Budget, written as a function of time (so increases need no write):
// a throttle multiplies the scale in force by 0.9 (at most once per 5 s for the fleet, floor 2%); then
// it climbs by 10% of the configured rate per minute while below 95% of the scale of the last throttle,
// and by 1% per minute above that, up to 100%.
constexpr double kDecrease = 0.9;
constexpr double kMinScale = 0.02;
constexpr double kFastPerMs = 0.10 / 60'000.0;
constexpr double kSlowPerMs = 0.01 / 60'000.0;
constexpr std::int64_t kDecreaseIntervalMs = 5'000;
// A throttle while the bucket had capacity left empties it without lowering the rate, once a minute;
// another such throttle within the minute lowers the rate too (Bedrock's rate, not its bucket, binds).
constexpr std::int64_t kBurstMemoryMs = 60'000;
constexpr std::int64_t kItemTtlSeconds = 24 * 3600;  // an item idle for a day goes (TTL)
constexpr std::int64_t kShareWindowMs = 60'000;

std::int64_t wall_ms(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// One bucket's shared state, as stored.
struct Dim {
  std::int64_t b = 0, q = 0, t0 = 0;  // supply base, queue end (all reservations ever), Unix ms
  std::int64_t s = kPpm, ts = kPpm;
  std::int64_t tb = 0;  // Unix ms of the last throttle answered by emptying the bucket alone
};

// The fleet changed this bucket's rate (or emptied it for a throttle) within the last 5 s: a throttle
// now is part of the same burst. (t0 is also the item's creation time: that is not a change.)
bool changed_recently(const Dim& d, std::int64_t now_ms) {
  const bool adapted = d.s != kPpm || d.ts != kPpm || d.tb != 0;
  return adapted && now_ms - d.t0 < kDecreaseIntervalMs;
}

struct Segment {
  double start, end, a, k;  // scale(u) = a + k (u - start) on [start, end)
};

// The scale in force after t0 as up to three linear pieces.
int segments(const Dim& d, bool adaptive, std::array<Segment, 3>& out) {
  double s = adaptive ? static_cast<double>(d.s) / kPpm : 1.0;
  double t = static_cast<double>(d.t0);
  int n = 0;
  if (s < 1.0) {
    const double knee = std::min(1.0, 0.95 * static_cast<double>(d.ts) / kPpm);
    if (s < knee) {
      double end = t + (knee - s) / kFastPerMs;
      out[n++] = {t, end, s, kFastPerMs};
      t = end;
      s = knee;
    }
    double end = t + (1.0 - s) / kSlowPerMs;
    out[n++] = {t, end, s, kSlowPerMs};
    t = end;
  }
  out[n++] = {t, kInf, 1.0, 0.0};
  return n;
}

// ∫ scale(u) du from t0 to t (ms · scale).
double integral(const Dim& d, bool adaptive, double t) {
  std::array<Segment, 3> seg{};
  int n = segments(d, adaptive, seg);
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    if (t <= seg[i].start) break;
    double x = std::min(t, seg[i].end) - seg[i].start;
    sum += seg[i].a * x + seg[i].k * x * x / 2;
  }
  return sum;
}

double scale_at(const Dim& d, bool adaptive, double t) {
  std::array<Segment, 3> seg{};
  int n = segments(d, adaptive, seg);
  for (int i = 0; i < n; ++i) {
    if (t < seg[i].end) return seg[i].a + seg[i].k * std::max(0.0, t - seg[i].start);
  }
  return 1.0;
}

// The time t (Unix ms) at which ∫ scale from t0 reaches `target` (t0 when target <= 0).
double solve(const Dim& d, bool adaptive, double target) {
  std::array<Segment, 3> seg{};
  int n = segments(d, adaptive, seg);
  if (target <= 0) return static_cast<double>(d.t0);
  for (int i = 0; i < n; ++i) {
    const Segment& g = seg[i];
    double len = g.end - g.start;
    double total = std::isinf(len) ? kInf : g.a * len + g.k * len * len / 2;
    if (target <= total) {
      double x = g.k == 0 ? target / g.a : (-g.a + std::sqrt(g.a * g.a + 2 * g.k * target)) / g.k;
      return g.start + x;
    }
    target -= total;
  }
  return kInf;
}

json::value n_attr(std::int64_t v) { return dyn::attr_n(v); }

struct Metrics {
  explicit Metrics(metrics::Registry& r)
      : writes(r.counter("ba_shared_budget_writes_total", "Writes to the shared budget table", {"op"})),
        errors(r.counter("ba_shared_budget_errors_total",
                         "Shared budget table calls that failed (network, 5xx, throttling)", {"op"})),
        fallback_reservations(r.counter("ba_shared_budget_fallback_total",
                                        "Reservations served from this instance's local share while the table "
                                        "was unavailable")),
        fallback(r.gauge("ba_shared_budget_fallback", "1 while the shared budget serves from the local share")) {}
  metrics::Family<metrics::Counter>& writes;
  metrics::Family<metrics::Counter>& errors;
  metrics::Family<metrics::Counter>& fallback_reservations;
  metrics::Family<metrics::Gauge>& fallback;
};

class DynamoBudget;

// Everything the store's coroutines touch: owned by a shared_ptr so a write still in flight when the
// store goes keeps it alive.
struct Core : std::enable_shared_from_this<Core> {
  struct KeyState {
    Key key;
    std::string pk;
    bool known = false;  // the cache below has been filled from the table
    SteadyTime fetched{};  // when
    std::int64_t v = 0, n = 0;
    Dim r, t;
    std::int64_t mine = 0;  // reservations this instance made through the table
    std::deque<std::array<std::int64_t, 3>> samples;  // {wall ms, n, mine}: for the fallback share
    std::int64_t largest_tokens = 0;                   // largest token cost seen (fallback capacity)
    ratelimit::ChargeRatio charged;                    // what replies are charged of a reservation
    std::unique_ptr<ratelimit::Budget> local;          // the fallback share
    std::uint64_t local_episode = 0;                   // the outage it was made for
    std::size_t waiting = 0;
    bool polling = false;
    bool limits_checked = false;  // the item's recorded budgets compared with ours (once)
  };
  struct Reservation {
    KeyState* ks;
    Cost cost;
    double pr = 0, pt = 0;  // positions (thousandths) in the fleet's queue
    std::optional<SteadyTime> deadline;
    std::int64_t day = 0;
    bool local = false;
    ReservationId local_id = 0;
    bool waiting = false;
  };

  Core(dyn::Client& client, DynamoBudgetOptions options, const Clock& clock)
      : client(client), options(std::move(options)), clock(clock) {
    if (this->options.metrics) {
      m.emplace(*this->options.metrics);
      m->fallback.labels({}).set(0);
    }
  }

  dyn::Client& client;
  DynamoBudgetOptions options;
  const Clock& clock;
  std::optional<Metrics> m;
  std::optional<asio::any_io_executor> executor;
  std::function<void(const Key&)> notify;
  std::map<Key, KeyState> keys;
  std::map<ReservationId, Reservation> reservations;
  ReservationId next_id = 1;
  SharedBudgetStats stats;
  bool in_fallback = false;
  // The store is gone: background calls still in flight touch nothing else (the clock and the
  // listener may be gone too), and the poll stops.
  std::atomic<bool> closed{false};
  std::uint64_t episode = 0;  // outages so far
  SteadyTime retry_table_at{};

  // ---- helpers ----
  const ratelimit::BudgetLimits& limits(const Key& key) const { return options.config.limits_for(key.model); }
  bool adaptive() const { return options.config.adaptive; }

  KeyState& state(const Key& key) {
    auto it = keys.find(key);
    if (it != keys.end()) return it->second;
    KeyState ks;
    ks.key = key;
    ks.pk = budget_item_pk(key);
    return keys.emplace(key, std::move(ks)).first->second;
  }

  dyn::Item item_key(const KeyState& ks) const {
    return dyn::Item{{"pk", dyn::attr_s(ks.pk)}, {"sk", dyn::attr_n(0)}};
  }

  void log(std::string_view level, std::string_view message) const {
    if (options.log) options.log(level, message);
  }

  void count_write(std::string_view op) {
    ++stats.writes;
    if (m) m->writes.labels({std::string(op)}).inc();
  }

  // A failed reservation (or table check) opens the circuit: reservations are served from the local
  // share until retry_table_at. Background calls (settle, poll, throttle, clamp) only count: a settle
  // that timed out while a Lambda container was frozen must not send the next chat to the fallback.
  void count_error(std::string_view op, const Error& e, bool opens_circuit = false) {
    ++stats.errors;
    if (m) m->errors.labels({std::string(op)}).inc();
    if (!opens_circuit) return;
    if (!in_fallback) {
      in_fallback = true;
      ++episode;
      if (m) m->fallback.labels({}).set(1);
      log("warn", "shared budget table " + options.table + " unavailable (" + std::string(op) + ": " + e.message +
                      "); serving from this instance's share of the budget until it answers again");
    }
    retry_table_at = clock.now() + options.retry_after_failure;
  }

  void table_ok() {
    if (in_fallback) {
      in_fallback = false;
      if (m) m->fallback.labels({}).set(0);
      log("info", "shared budget table " + options.table + " answers again; the fleet's budget is shared again");
    }
  }

  // Capacity (thousandths) of a bucket, and the part of it a reservation may use.
  static double capacity(double per_minute) { return per_minute * kMilli; }
  static double usable(double per_minute) { return capacity(per_minute) * (1 - kSlack); }
  // Supply rate in thousandths per ms at scale 1.
  static double rate(double per_minute) { return per_minute * kMilli / 60'000.0; }

  // Supply since t0 (thousandths) at `now_ms`.
  double supplied(const Dim& d, double per_minute, double now_ms) const {
    return rate(per_minute) * integral(d, adaptive(), now_ms);
  }

  // Unix ms at which a position `p` in dimension d may go (now_ms if already).
  double send_time(const Dim& d, double per_minute, double p, double now_ms) const {
    double target = (p - usable(per_minute) - static_cast<double>(d.b)) / rate(per_minute);
    return std::max(now_ms, solve(d, adaptive(), target));
  }

  // When a reservation with positions (pr, pt) may go, from the cache (a steady time).
  SteadyTime ready_time(const KeyState& ks, double pr, double pt) const {
    const auto& l = limits(ks.key);
    const auto now = clock.now();
    const double now_ms = static_cast<double>(wall_ms(clock.wall()));
    double at = now_ms;
    if (l.rpm > 0) at = std::max(at, send_time(ks.r, l.rpm, pr, now_ms));
    if (l.tpm > 0) at = std::max(at, send_time(ks.t, l.tpm, pt, now_ms));
    if (std::isinf(at)) return SteadyTime::max();
    return now + std::chrono::ceil<SteadyTime::duration>(std::chrono::duration<double, std::milli>(at - now_ms));
  }

  // The same, counting the refunds to come: the token reservations queued ahead of `pt` (beyond the
  // supply, so certainly not settled yet) give back all but the key's charged share when they settle.
  // Reservations in flight may give back too; they are not counted (the estimate stays on the safe
  // side). This decides whether a request waits or is shed; the send time is always ready_time().
  SteadyTime expected_time(const KeyState& ks, double pr, double pt, Cost cost) const {
    const auto& l = limits(ks.key);
    if (l.tpm <= 0) return ready_time(ks, pr, pt);
    const double now_ms = static_cast<double>(wall_ms(clock.wall()));
    const double supply = static_cast<double>(ks.t.b) + supplied(ks.t, l.tpm, now_ms) + usable(l.tpm);
    const double ahead = std::max(0.0, pt - static_cast<double>(cost.tokens * kMilli) - supply);
    return ready_time(ks, pr, pt - ahead * (1.0 - ks.charged.expected()));
  }

  bool absorb(KeyState& ks, const dyn::Item& item) {
    auto v = dyn::get_n(item, "v");
    if (!v || (ks.known && *v <= ks.v)) return false;
    ks.known = true;
    ks.fetched = clock.now();
    ks.v = *v;
    ks.n = dyn::get_n(item, "n").value_or(0);
    auto dim = [&](std::string_view p, Dim& d) {
      std::string s(p);
      d.b = dyn::get_n(item, s + "_b").value_or(0);
      d.q = dyn::get_n(item, s + "_q").value_or(0);
      d.t0 = dyn::get_n(item, s + "_t0").value_or(0);
      d.s = dyn::get_n(item, s + "_s").value_or(kPpm);
      d.ts = dyn::get_n(item, s + "_ts").value_or(kPpm);
      d.tb = dyn::get_n(item, s + "_tb").value_or(0);
    };
    dim("r", ks.r);
    dim("t", ks.t);
    if (!ks.limits_checked) check_limits(ks, item);
    return true;
  }

  // Every instance computes the supply from its own --max-rpm/--max-tpm: the item records the budgets
  // of the instance that created it, and an instance configured otherwise says so (once per key).
  void check_limits(KeyState& ks, const dyn::Item& item) {
    ks.limits_checked = true;
    const auto& l = limits(ks.key);
    const auto rpm = dyn::get_n(item, "max_rpm"), tpm = dyn::get_n(item, "max_tpm");
    if (!rpm || !tpm) return;  // an item from before the budgets were recorded
    const auto mine_rpm = static_cast<std::int64_t>(l.rpm), mine_tpm = static_cast<std::int64_t>(l.tpm);
    if (*rpm == mine_rpm && *tpm == mine_tpm) return;
    log("warn", "shared budget for " + ks.key.str() + ": the table's item was created by an instance with --max-rpm " +
                    std::to_string(*rpm) + " --max-tpm " + std::to_string(*tpm) + ", this one has " +
                    std::to_string(mine_rpm) + " and " + std::to_string(mine_tpm) +
                    "; every instance sharing a budget must have the same budgets (each computes the "
                    "fleet's supply from its own)");
  }

  // ---- the fallback share ----
  // This instance's reservations through the table over the share window (after share() trimmed it).
  // samples.front() is the last sample before the window when there is one (share() keeps it as the
  // baseline); otherwise it is in the window, and its own reservation counts too.
  std::int64_t own_recent(const KeyState& ks) const {
    if (ks.samples.empty()) return 0;
    const auto& first = ks.samples.front();
    const bool baseline = first[0] <= wall_ms(clock.wall()) - kShareWindowMs;
    return std::max<std::int64_t>(0, ks.samples.back()[2] - (baseline ? first[2] : first[2] - 1));
  }

  double share(KeyState& ks) {
    const std::int64_t now_ms = wall_ms(clock.wall());
    while (ks.samples.size() > 1 && ks.samples[1][0] <= now_ms - kShareWindowMs) ks.samples.pop_front();
    if (ks.samples.empty()) return options.default_share;
    // Over the window; with one sample, since the item was created (an underestimate for a process
    // younger than the item: on the safe side).
    const std::array<std::int64_t, 3> a = ks.samples.size() > 1 ? ks.samples.front() : std::array<std::int64_t, 3>{0, 0, 0};
    const auto& b = ks.samples.back();
    const std::int64_t fleet = b[1] - a[1];
    if (fleet <= 0) return options.default_share;
    return std::clamp(static_cast<double>(b[2] - a[2]) / static_cast<double>(fleet), options.min_share, 1.0);
  }

  Result<Grant> reserve_locally(KeyState& ks, Cost cost, std::optional<SteadyTime> deadline) {
    // One local budget per outage (its buckets carry over between chats), made anew for the next
    // outage once the last one's reservations are settled.
    if (!ks.local || (ks.local_episode != episode && ks.local->outstanding() == 0)) {
      ks.local_episode = episode;
      const double sh = share(ks);
      ratelimit::RateLimitConfig c = options.config;
      ratelimit::BudgetLimits l = limits(ks.key);
      // Room for the largest request seen, so the share never turns a valid request into a 400.
      const double token_share =
          l.tpm > 0 ? std::max(sh, std::min(1.0, static_cast<double>(std::max(ks.largest_tokens, cost.tokens)) / l.tpm))
                    : sh;
      l.rpm = l.rpm > 0 ? std::max(1.0, l.rpm * sh) : 0;
      l.tpm = l.tpm * token_share;
      l.daily_tokens = l.daily_tokens > 0 ? static_cast<std::int64_t>(static_cast<double>(l.daily_tokens) * token_share) : 0;
      c.limits = l;
      c.per_model.clear();
      ks.local = std::make_unique<ratelimit::Budget>(c);
      // What this instance sent through the table within the window is spent from its share already: a
      // local bucket starting full would let the fleet send its table reservations and then every share
      // again (seen when the table timed out under load: 56 admitted of a budget of 30).
      const std::int64_t spent = l.rpm > 0 ? std::min<std::int64_t>(own_recent(ks), static_cast<std::int64_t>(l.rpm)) : 0;
      if (spent > 0) {
        const auto now = ratelimit::Now::from(clock);
        if (auto pre = ks.local->reserve(ks.key, Cost{.requests = spent, .tokens = 0}, now)) {
          ks.local->settle(pre->id, Cost{.requests = spent, .tokens = 0}, now);
        }
      }
      log("info", "shared budget fallback for " + ks.key.str() + ": this instance's share is " +
                      std::to_string(static_cast<int>(sh * 100 + 0.5)) + "%, " + std::to_string(spent) +
                      " request(s) of it already sent through the table in the last minute");
    }
    auto g = ks.local->reserve(ks.key, cost, ratelimit::Now::from(clock), deadline);
    if (!g) return fail(std::move(g.error()));
    ++stats.fallback_reservations;
    if (m) m->fallback_reservations.labels({}).inc();
    const ReservationId id = next_id++;
    reservations.emplace(id, Reservation{.ks = &ks, .cost = cost, .deadline = deadline, .local = true, .local_id = g->id});
    return Grant{id, g->ready_at};
  }

  // ---- table calls ----
  asio::awaitable<Result<dyn::Item>> update(KeyState& ks, std::string op, std::string expression, dyn::Condition cond) {
    count_write(op);
    auto r = co_await client.update_item(options.table, item_key(ks), std::move(expression), std::move(cond));
    if (!r && r.error().kind == ErrorKind::conflict) ++stats.conditional_failures;
    co_return r;
  }

  asio::awaitable<Result<std::optional<dyn::Item>>> read(KeyState& ks) {
    ++stats.reads;
    co_return co_await client.get_item(options.table, item_key(ks), true);
  }

  // Creates the key's item (full buckets) unless another instance already did.
  asio::awaitable<Status> create_item(KeyState& ks) {
    const std::int64_t now_ms = wall_ms(clock.wall());
    dyn::Item item = item_key(ks);
    item["v"] = n_attr(1);
    item["n"] = n_attr(0);
    item["expires_at"] = n_attr(now_ms / 1000 + kItemTtlSeconds);
    item["max_rpm"] = n_attr(static_cast<std::int64_t>(limits(ks.key).rpm));
    item["max_tpm"] = n_attr(static_cast<std::int64_t>(limits(ks.key).tpm));
    for (const char* d : {"r", "t"}) {
      std::string p(d);
      item[p + "_b"] = n_attr(0);
      item[p + "_q"] = n_attr(0);
      item[p + "_t0"] = n_attr(now_ms);
      item[p + "_s"] = n_attr(kPpm);
      item[p + "_ts"] = n_attr(kPpm);
    }
    count_write("create");
    dyn::Condition absent{"attribute_not_exists(pk)", {}, {}};  // a named local: GCC 12 and temporaries in co_await
    auto st = co_await client.put_item(options.table, std::move(item), std::move(absent));
    if (!st && st.error().kind == ErrorKind::conflict) {
      ++stats.conditional_failures;
      co_return Status{};  // someone else created it
    }
    co_return st;
  }

  static std::string day_attr(std::int64_t day) { return "d" + std::to_string(day); }

  // A bucket left idle refills past full (its supply S passes its queue end q). Once the cache shows it
  // more than kSlack · capacity past full, the next reservation SETs the queue end to `floor` + its
  // cost instead of ADDing its cost, with floor = S − kSlack/2 · capacity, conditioned on q <= floor
  // (and no throttle rebase since the cache: S is then at least what the cache says). Reservations
  // made since the cache are below floor and keep their places; the bucket ends kSlack/2 past full
  // (more if refunds came meanwhile), never below full, however stale the cache. The condition fails
  // only if the queue end passed floor already (another instance's clamp, and the fleet reserving
  // faster than the bucket fills): the write is then read and retried. No write of its own: a
  // dimension the traffic does not bind (the requests of a token-bound quota) costs nothing.
  std::optional<std::int64_t> clamp_floor(const KeyState& ks, const Dim& d, double per_minute, std::int64_t now_ms) const {
    if (!ks.known) return std::nullopt;
    const double supply = static_cast<double>(d.b) + supplied(d, per_minute, static_cast<double>(now_ms));
    if (supply - static_cast<double>(d.q) <= kSlack * capacity(per_minute)) return std::nullopt;
    return static_cast<std::int64_t>(std::floor(supply - kSlack / 2 * capacity(per_minute)));
  }

  // The reservation write: ADD the cost to the queue ends; the new item gives the positions.
  asio::awaitable<Result<dyn::Item>> write_reserve(KeyState& ks, Cost cost, std::int64_t day) {
    const auto& l = limits(ks.key);
    const std::int64_t now_ms = wall_ms(clock.wall());
    for (int attempt = 0; attempt < 3; ++attempt) {
      std::string set = "SET expires_at = :exp";
      std::string add = " ADD v :one, n :one";
      dyn::Condition cond{"attribute_exists(pk)", {}, {}};
      cond.values[":exp"] = n_attr(now_ms / 1000 + kItemTtlSeconds);
      cond.values[":one"] = n_attr(1);
      // A bucket that the cache shows more than kSlack past full (a dimension the traffic does not
      // bind, or an idle spell) is clamped by this same write: see clamp_floor().
      auto queue = [&](const char* name, const Dim& d, double per_minute, std::int64_t amount) {
        const std::string p(name);
        if (auto floor = clamp_floor(ks, d, per_minute, now_ms)) {
          set += ", " + p + "_q = :" + p + "end";
          cond.values[":" + p + "end"] = n_attr(*floor + amount);
          cond.expression += " AND " + p + "_q <= :" + p + "floor AND " + p + "_t0 = :" + p + "t0";
          cond.values[":" + p + "floor"] = n_attr(*floor);
          cond.values[":" + p + "t0"] = n_attr(d.t0);
          return;
        }
        add += ", " + p + "_q :c" + p;
        cond.values[":c" + p] = n_attr(amount);
      };
      if (l.rpm > 0) queue("r", ks.r, l.rpm, cost.requests * kMilli);
      if (l.tpm > 0) queue("t", ks.t, l.tpm, cost.tokens * kMilli);
      std::string expr = set + add;
      if (l.daily_tokens > 0) {
        expr += ", #day :tokens REMOVE #yesterday";
        cond.names["#day"] = day_attr(day);
        cond.names["#yesterday"] = day_attr(day - 1);
        cond.values[":tokens"] = n_attr(cost.tokens);
        cond.values[":dmax"] = n_attr(l.daily_tokens - cost.tokens);
        cond.expression += " AND (attribute_not_exists(#day) OR #day <= :dmax)";
      }
      auto r = co_await update(ks, "reserve", std::move(expr), std::move(cond));
      if (r || r.error().kind != ErrorKind::conflict) co_return r;
      // The item is missing, or the daily cap is reached: a consistent read tells which.
      auto current = co_await read(ks);
      if (!current) co_return std::unexpected(std::move(current.error()));
      if (*current) {
        absorb(ks, **current);
        const auto used = dyn::get_n(**current, day_attr(day));
        if (l.daily_tokens > 0 && used && *used > l.daily_tokens - cost.tokens) {
          Error e = Error::make(ErrorKind::quota_exceeded, "daily token budget for " + ks.key.model + " exhausted");
          e.retry_after = ratelimit::until_next_utc_day(clock.wall());
          co_return std::unexpected(std::move(e));
        }
        continue;  // another instance created the item meanwhile
      }
      if (auto st = co_await create_item(ks); !st) co_return std::unexpected(std::move(st.error()));
    }
    co_return fail(ErrorKind::internal, "shared budget: the budget item could not be created");
  }

  // Gives a reservation back. `tail` (its queue ends after the write) lets the last reservation in the
  // queue leave it outright; otherwise its amounts return as supply.
  asio::awaitable<void> give_back(KeyState& ks, Cost amount, std::int64_t day, std::optional<std::pair<std::int64_t, std::int64_t>> tail) {
    const auto& l = limits(ks.key);
    const bool any = (l.rpm > 0 && amount.requests != 0) || (l.tpm > 0 && amount.tokens != 0) ||
                     (l.daily_tokens > 0 && amount.tokens != 0 && day == ratelimit::utc_day(clock.wall()));
    if (!any) co_return;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool as_tail = tail && attempt == 0;
      std::string expr = "ADD v :one";
      dyn::Condition cond{"attribute_exists(pk)", {}, {}};
      cond.values[":one"] = n_attr(1);
      if (l.rpm > 0 && amount.requests != 0) {
        expr += as_tail ? ", r_q :nr" : ", r_b :pr";
        cond.values[as_tail ? ":nr" : ":pr"] = n_attr(as_tail ? -amount.requests * kMilli : amount.requests * kMilli);
        if (as_tail) {
          cond.expression += " AND r_q = :tr";
          cond.values[":tr"] = n_attr(tail->first);
        }
      }
      if (l.tpm > 0 && amount.tokens != 0) {
        expr += as_tail ? ", t_q :nt" : ", t_b :pt";
        cond.values[as_tail ? ":nt" : ":pt"] = n_attr(as_tail ? -amount.tokens * kMilli : amount.tokens * kMilli);
        if (as_tail) {
          cond.expression += " AND t_q = :tt";
          cond.values[":tt"] = n_attr(tail->second);
        }
      }
      if (l.daily_tokens > 0 && amount.tokens != 0 && day == ratelimit::utc_day(clock.wall())) {
        expr += ", #day :dt";
        cond.names["#day"] = day_attr(day);
        cond.values[":dt"] = n_attr(-amount.tokens);
      }
      auto r = co_await update(ks, as_tail ? "cancel" : "settle", std::move(expr), std::move(cond));
      if (closed) co_return;
      if (r) {
        table_ok();
        if (absorb(ks, *r) && ks.waiting > 0 && notify) notify(ks.key);
        co_return;
      }
      if (r.error().kind == ErrorKind::conflict && as_tail) continue;  // not the tail any more
      if (r.error().kind != ErrorKind::conflict) count_error("settle", r.error());
      co_return;  // the amount stays charged: conservative
    }
  }

  void spawn_give_back(KeyState& ks, Cost amount, std::int64_t day,
                       std::optional<std::pair<std::int64_t, std::int64_t>> tail = std::nullopt) {
    if (!executor) return;
    asio::co_spawn(*executor, [self = shared_from_this(), &ks, amount, day, tail]() -> asio::awaitable<void> {
      co_await self->give_back(ks, amount, day, tail);
    }, asio::detached);
  }

  // While this instance has waiters on `ks`, read the item every poll_interval: other instances'
  // refunds move them earlier, throttles later.
  void start_polling(KeyState& ks) {
    if (ks.polling || !executor) return;
    ks.polling = true;
    asio::co_spawn(*executor, [self = shared_from_this(), &ks]() -> asio::awaitable<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor);
      while (ks.waiting > 0 && !self->closed) {
        timer.expires_after(self->options.poll_interval);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec || ks.waiting == 0 || self->closed) break;
        if (self->in_fallback) continue;
        auto item = co_await self->read(ks);
        if (self->closed) break;
        if (!item) {
          self->count_error("poll", item.error());
          continue;
        }
        if (*item && self->absorb(ks, **item) && self->notify) self->notify(ks.key);
      }
      ks.polling = false;
    }, asio::detached);
  }

  // ---- throttle feedback: the fleet's adaptive rate ----
  asio::awaitable<void> decrease(KeyState& ks, bool requests, bool tokens) {
    const auto& l = limits(ks.key);
    requests = requests && l.rpm > 0;
    tokens = tokens && l.tpm > 0;
    for (int attempt = 0; attempt < 3 && (requests || tokens); ++attempt) {
      auto current = co_await read(ks);
      if (closed) co_return;
      if (!current) {
        count_error("throttle", current.error());
        co_return;
      }
      if (!*current) co_return;
      absorb(ks, **current);
      const std::int64_t now_ms = wall_ms(clock.wall());
      std::string set = "SET ";
      dyn::Condition cond{"attribute_exists(pk)", {}, {}};
      cond.values[":now"] = n_attr(now_ms);
      bool first = true;
      auto plan = [&](const char* name, Dim& d, double per_minute) {
        if (changed_recently(d, now_ms)) return false;  // the fleet answered a throttle just now
        const std::string p(name);
        const double s_now = scale_at(d, true, static_cast<double>(now_ms));
        const auto dold = static_cast<std::int64_t>(std::floor(supplied(d, per_minute, static_cast<double>(now_ms))));
        const auto u = static_cast<std::int64_t>(std::floor(usable(per_minute)));
        if (!first) set += ", ";
        first = false;
        cond.expression += " AND " + p + "_t0 = :" + p + "t0";
        cond.values[":" + p + "t0"] = n_attr(d.t0);
        if (d.q - d.b < u + dold) {
          // Capacity left in the bucket: Bedrock says it is not there. Empty it: the supply restarts
          // at q − U, so the next reservation waits for its own refill (exactly as read, or retry).
          cond.expression += " AND " + p + "_q = :" + p + "q AND " + p + "_b = :" + p + "b";
          cond.values[":" + p + "q"] = n_attr(d.q);
          cond.values[":" + p + "b"] = n_attr(d.b);
          set += p + "_b = :" + p + "nb";
          cond.values[":" + p + "nb"] = n_attr(d.q - u);
          if (now_ms - d.tb >= kBurstMemoryMs) {
            // The first such throttle in a minute: the fleet was not sending at its rate (it had
            // capacity left), so this throttle says Bedrock's bucket is smaller than ours (a burst
            // after a quiet spell), not that the rate is too high. Empty the bucket, keep the rate: the
            // scale goes on from where it is, on the same curve (t0 and s move, ts stays).
            set += ", " + p + "_t0 = :now, " + p + "_s = :" + p + "s, " + p + "_tb = :now";
            cond.values[":" + p + "s"] = n_attr(static_cast<std::int64_t>(s_now * kPpm));
            return true;
          }
        } else {
          // A queue already: rebase the supply where it is (refunds meanwhile add to it, commuting).
          set += p + "_b = " + p + "_b + :" + p + "d";
          cond.values[":" + p + "d"] = n_attr(dold);
        }
        set += ", " + p + "_t0 = :now, " + p + "_s = :" + p + "s, " + p + "_ts = :" + p + "ts";
        cond.values[":" + p + "s"] = n_attr(static_cast<std::int64_t>(std::max(kMinScale, s_now * kDecrease) * kPpm));
        cond.values[":" + p + "ts"] = n_attr(static_cast<std::int64_t>(s_now * kPpm));
        return true;
      };
      const bool r = requests && plan("r", ks.r, l.rpm);
      const bool t = tokens && plan("t", ks.t, l.tpm);
      if (!r && !t) co_return;
      cond.values[":one"] = n_attr(1);
      std::string expr = set + " ADD v :one";
      auto out = co_await update(ks, "throttle", std::move(expr), std::move(cond));
      if (closed) co_return;
      if (out) {
        if (absorb(ks, *out) && notify) notify(ks.key);
        co_return;
      }
      if (out.error().kind != ErrorKind::conflict) {
        count_error("throttle", out.error());
        co_return;
      }
      // Another instance wrote meanwhile: read again and decide again.
    }
  }
};

class DynamoBudget final : public SharedBudgetStore {
 public:
  DynamoBudget(dyn::Client& client, DynamoBudgetOptions options, const Clock& clock)
      : core_(std::make_shared<Core>(client, std::move(options), clock)) {
    core_->notify = [this](const Key& key) { notify_replan(key); };
  }
  ~DynamoBudget() override {
    core_->notify = nullptr;
    core_->closed = true;
  }

  asio::awaitable<Result<Grant>> reserve(const Key& key, Cost cost, std::optional<SteadyTime> deadline) override {
    Core& c = *core_;
    auto keep = core_;
    if (!c.executor) c.executor = co_await asio::this_coro::executor;
    Core::KeyState& ks = c.state(key);
    const auto& l = c.limits(key);
    if (l.rpm > 0 && static_cast<double>(cost.requests) > l.rpm)
      co_return fail(ErrorKind::invalid_input, "request count above the per-minute request budget");
    if (l.tpm > 0 && static_cast<double>(cost.tokens) > l.tpm)
      co_return fail(ErrorKind::invalid_input, "request needs " + std::to_string(cost.tokens) +
                                                   " tokens (input + max_tokens x burndown) but the per-minute budget is " +
                                                   std::to_string(static_cast<std::int64_t>(l.tpm)) +
                                                   "; lower max_tokens or the input");
    if (l.daily_tokens > 0 && cost.tokens > l.daily_tokens)
      co_return fail(ErrorKind::invalid_input, "request needs more tokens than the daily budget");
    ks.largest_tokens = std::max(ks.largest_tokens, cost.tokens);

    if (c.in_fallback) {
      if (c.clock.now() < c.retry_table_at) co_return c.reserve_locally(ks, cost, deadline);
      // This reservation probes the table; the others stay on the local share until it answers.
      c.retry_table_at = c.clock.now() + c.options.retry_after_failure;
    }
    if (!c.options.table_checked) {
      EnsureTableOptions check_only{.create_missing = false};
      auto st = co_await ensure_dynamodb_table(c.client, c.options.table, check_only);
      if (!st) {
        const bool permanent = st.error().kind == ErrorKind::not_found || st.error().kind == ErrorKind::invalid_input;
        c.count_error("check", st.error(), true);
        if (permanent) c.retry_table_at = SteadyTime::max();  // never written to; restart with a good table
        co_return c.reserve_locally(ks, cost, deadline);
      }
      c.options.table_checked = true;
    }

    // Seen from the cache, the wait would pass the deadline even with the refunds to come: no write.
    if (ks.known && deadline && c.clock.now() - ks.fetched < std::chrono::seconds(1)) {
      const auto pr = static_cast<double>(ks.r.q + cost.requests * kMilli);
      const auto pt = static_cast<double>(ks.t.q + cost.tokens * kMilli);
      const SteadyTime at = c.expected_time(ks, pr, pt, cost);
      if (at > *deadline) co_return shed(key, at);
    }

    const std::int64_t day = ratelimit::utc_day(c.clock.wall());
    auto item = co_await c.write_reserve(ks, cost, day);
    if (!item) {
      if (item.error().kind == ErrorKind::quota_exceeded) co_return fail(std::move(item.error()));
      c.count_error("reserve", item.error(), true);
      co_return c.reserve_locally(ks, cost, deadline);
    }
    c.table_ok();
    ++c.stats.reservations;
    c.absorb(ks, *item);
    // Our place in the fleet's queue: the queue ends after our ADD.
    const std::int64_t re = dyn::get_n(*item, "r_q").value_or(0), te = dyn::get_n(*item, "t_q").value_or(0);
    const auto pr = static_cast<double>(re);
    const auto pt = static_cast<double>(te);
    ++ks.mine;
    ks.samples.push_back({wall_ms(c.clock.wall()), dyn::get_n(*item, "n").value_or(0), ks.mine});
    if (ks.samples.size() > 4096) ks.samples.pop_front();

    const SteadyTime at = c.ready_time(ks, pr, pt);
    if (deadline && at > *deadline) {
      // Past the deadline at full cost; unless the refunds to come may still bring it in time, leave
      // the queue (others reserved since the cache was filled).
      const SteadyTime expected = c.expected_time(ks, pr, pt, cost);
      if (expected > *deadline) {
        c.spawn_give_back(ks, cost, day, std::make_pair(re, te));
        co_return shed(key, expected);
      }
    }
    const ReservationId id = c.next_id++;
    Core::Reservation res{.ks = &ks, .cost = cost, .pr = pr, .pt = pt, .deadline = deadline, .day = day};
    if (at > c.clock.now()) {
      res.waiting = true;
      ++ks.waiting;
      c.start_polling(ks);
    }
    c.reservations.emplace(id, res);
    co_return Grant{id, at};
  }

  bool settle(ReservationId id, Cost actual) override { return release(id, actual); }
  bool cancel(ReservationId id) override { return release(id, std::nullopt); }

  Result<SteadyTime> ready_at(ReservationId id, SteadyTime granted) override {
    Core& c = *core_;
    auto it = c.reservations.find(id);
    if (it == c.reservations.end()) return c.clock.now();
    Core::Reservation& r = it->second;
    if (r.local) return r.ks->local->ready_at(r.local_id, ratelimit::Now::from(c.clock));
    if (!r.waiting) return granted;
    const SteadyTime at = c.ready_time(*r.ks, r.pr, r.pt);
    if (r.deadline && at > *r.deadline) {
      // This waiter cannot go in time: a throttle slowed the fleet, or its deadline came before the
      // refunds it was queued for. Its place returns as supply.
      const SteadyTime expected = c.expected_time(*r.ks, r.pr, r.pt, r.cost);
      if (expected > *r.deadline || c.clock.now() >= *r.deadline) {
        Core::Reservation gone = r;
        c.reservations.erase(it);
        stop_waiting(gone);
        c.spawn_give_back(*gone.ks, gone.cost, gone.day);
        return fail(shed_error(gone.ks->key, expected > *gone.deadline ? expected : at));
      }
    }
    if (at <= c.clock.now()) stop_waiting(r);
    return at;
  }

  void on_response(const Key& key, Feedback feedback) override {
    Core& c = *core_;
    if (!c.adaptive() || feedback == Feedback::success) return;
    Core::KeyState& ks = c.state(key);
    if (ks.local) ks.local->on_response(key, feedback, ratelimit::Now::from(c.clock));
    if (!c.executor || (c.in_fallback && c.clock.now() < c.retry_table_at)) return;
    const bool requests = feedback == Feedback::throttled || feedback == Feedback::throttled_requests;
    const bool tokens = feedback == Feedback::throttled || feedback == Feedback::throttled_tokens;
    // Another instance already lowered the rate within the interval: nothing to write.
    const std::int64_t now_ms = wall_ms(c.clock.wall());
    if (ks.known && (!requests || changed_recently(ks.r, now_ms)) && (!tokens || changed_recently(ks.t, now_ms)))
      return;
    asio::co_spawn(*c.executor, [self = core_, &ks, requests, tokens]() -> asio::awaitable<void> {
      co_await self->decrease(ks, requests, tokens);
    }, asio::detached);
  }

  SharedBudgetStats stats() const override {
    SharedBudgetStats s = core_->stats;
    s.fallback = core_->in_fallback;
    return s;
  }

 private:
  // Settles at `actual`, or cancels (nullopt: nothing was charged), once. Through the table, what is
  // not charged returns as supply.
  bool release(ReservationId id, std::optional<Cost> actual) {
    Core& c = *core_;
    auto it = c.reservations.find(id);
    if (it == c.reservations.end()) return false;
    Core::Reservation r = it->second;
    c.reservations.erase(it);
    stop_waiting(r);
    if (r.local) {
      const auto now = ratelimit::Now::from(c.clock);
      if (actual) {
        r.ks->local->settle(r.local_id, *actual, now);
        r.ks->charged.add(r.cost.tokens, actual->tokens);
      }
      else r.ks->local->cancel(r.local_id, now);
      return true;
    }
    const Cost charged = actual.value_or(Cost{0, 0});
    if (actual) r.ks->charged.add(r.cost.tokens, actual->tokens);
    c.spawn_give_back(*r.ks, Cost{r.cost.requests - charged.requests, r.cost.tokens - charged.tokens}, r.day);
    return true;
  }

  Result<Grant> shed(const Key& key, SteadyTime at) const { return fail(shed_error(key, at)); }

  Error shed_error(const Key& key, SteadyTime at) const {
    Error e = Error::make(ErrorKind::rate_limited,
                          "rate limit for " + key.model + ": no capacity in the shared budget before the deadline");
    e.retry_after = at == SteadyTime::max()
                        ? std::chrono::milliseconds{60'000}
                        : std::chrono::ceil<std::chrono::milliseconds>(std::max(at - core_->clock.now(), SteadyTime::duration::zero()));
    return e;
  }

  void stop_waiting(Core::Reservation& r) {
    if (!r.waiting) return;
    r.waiting = false;
    --r.ks->waiting;
  }

  std::shared_ptr<Core> core_;
};

}  // namespace

std::unique_ptr<SharedBudgetStore> make_dynamodb_budget(aws::dynamodb::Client& client, DynamoBudgetOptions options,
                                                        const Clock& clock) {
  return std::make_unique<DynamoBudget>(client, std::move(options), clock);
}

}  // namespace ba::store
