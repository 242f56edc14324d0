// The shared budget (store/dynamodb_budget.hpp) against dynalite: several stores stand for several
// instances (each with its own cache, sharing only the table), with one ManualClock so the schedule is
// exact. Nothing here sleeps on a budget: grants are checked by their send times, and the few waits
// are for writes that the stores send in the background.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <thread>
#include <vector>

#include "support/dynamodb_rig.hpp"
#include "ratelimit/limiter.hpp"
#include "store/dynamodb_budget.hpp"
#include "store/dynamodb_table.hpp"
#include "util/encoding.hpp"
#include "util/metrics.hpp"

namespace ba::store {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ratelimit::Cost;
using ratelimit::Feedback;
using ratelimit::Grant;
using ratelimit::Key;
using test::DynamoRig;

ratelimit::RateLimitConfig budgets(double rpm, double tpm, std::int64_t daily = 0) {
  ratelimit::RateLimitConfig c;
  c.limits = ratelimit::BudgetLimits{.rpm = rpm, .tpm = tpm, .daily_tokens = daily};
  return c;
}

Key fresh_key() { return Key{"model-" + uuid_v4().substr(0, 8), "us-east-1"}; }

// A store is single-threaded: it is called on the rig's thread (reserve(), on_rig()) and destroyed
// there too, where its polls run. Destroyed on the test's thread, its destructor raced a poll reading
// the store's notify callback (ThreadSanitizer, FourInstancesDrawOneBudgetInOneFifoQueue).
struct OnRig {
  DynamoRig* rig = nullptr;
  void operator()(SharedBudgetStore* s) const {
    auto task = [s]() -> asio::awaitable<int> {
      delete s;
      co_return 0;
    };
    rig->run(task());
  }
};
using Store = std::unique_ptr<SharedBudgetStore, OnRig>;

class SharedBudget : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::dynalite_available()) GTEST_SKIP() << test::kNoDynalite;
    rig_ = test::shared_rig();
    static const std::string table = [] {
      std::string t = DynamoRig::unique_table("budget");
      auto st = test::shared_rig()->run(ensure_dynamodb_table(test::shared_rig()->client(), t,
                                                              {.create_missing = true,
                                                               .poll_interval = std::chrono::milliseconds(50)}));
      if (!st) throw std::runtime_error(st.error().message);
      return t;
    }();
    table_ = table;
  }


  Store instance(ratelimit::RateLimitConfig config, DynamoRig* rig = nullptr, std::vector<std::string>* logged = nullptr) {
    DynamoBudgetOptions o;
    o.table = table_;
    o.config = std::move(config);
    o.poll_interval = 20ms;
    if (logged) o.log = [logged](std::string_view level, std::string_view message) {
      logged->push_back(std::string(level) + ": " + std::string(message));
    };
    DynamoRig* on = rig ? rig : rig_;
    return Store(make_dynamodb_budget(on->client(), std::move(o), clock_).release(), OnRig{on});
  }

  Result<Grant> reserve(SharedBudgetStore& s, const Key& key, Cost cost,
                        std::optional<SteadyTime> deadline = std::nullopt, DynamoRig* rig = nullptr) {
    auto task = [&]() -> asio::awaitable<Result<Grant>> { co_return co_await s.reserve(key, cost, deadline); };
    return (rig ? rig : rig_)->run(task());
  }

  // Runs `f` on the rig's thread (the stores are single-threaded).
  template <class F>
  auto on_rig(F f, DynamoRig* rig = nullptr) {
    using T = decltype(f());
    auto task = [&]() -> asio::awaitable<T> { co_return f(); };
    return (rig ? rig : rig_)->run(task());
  }

  // Waits (up to 10 s) for the stores' background writes and polls to make `pred` true.
  template <class F>
  bool eventually(F pred, DynamoRig* rig = nullptr) {
    for (int i = 0; i < 1000; ++i) {
      if (on_rig(pred, rig)) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  std::optional<aws::dynamodb::Item> item(const Key& key) {
    auto got = rig_->run(rig_->client().get_item(
        table_, aws::dynamodb::Item{{"pk", aws::dynamodb::attr_s(budget_item_pk(key))}, {"sk", aws::dynamodb::attr_n(0)}}));
    if (!got) throw std::runtime_error(got.error().message);
    return *got;
  }

  DynamoRig* rig_ = nullptr;
  std::string table_;
  ManualClock clock_{WallTime{std::chrono::seconds{1'800'000'000}}};
};

TEST(SharedBudgetSpec, AcceptsOnlyDynamodbTable) {
  EXPECT_EQ(parse_shared_budget_spec("dynamodb:my-budget_1.x"), "my-budget_1.x");
  EXPECT_FALSE(parse_shared_budget_spec("my-table"));
  EXPECT_FALSE(parse_shared_budget_spec("dynamodb:"));
  EXPECT_FALSE(parse_shared_budget_spec("dynamodb:ab"));
  EXPECT_FALSE(parse_shared_budget_spec("dynamodb:bad/name"));
  EXPECT_FALSE(parse_shared_budget_spec("redis:host"));
}

TEST_F(SharedBudget, FourInstancesDrawOneBudgetInOneFifoQueue) {
  const Key key = fresh_key();
  std::vector<Store> fleet;
  for (int i = 0; i < 4; ++i) fleet.push_back(instance(budgets(60, 0)));  // 1 request/s, 60 of burst
  const SteadyTime t0 = clock_.now();
  // 100 requests, taken in turn by the four instances. 95% of the burst goes at once (57), then one a
  // second, in arrival order whichever instance each arrived on.
  std::vector<SteadyTime> ready;
  for (int i = 0; i < 100; ++i) {
    auto g = reserve(*fleet[i % 4], key, Cost{1, 0});
    ASSERT_TRUE(g) << g.error().message;
    ready.push_back(g->ready_at);
  }
  for (int i = 0; i < 100; ++i) {
    const auto expected = i < 57 ? t0 : t0 + std::chrono::seconds(i - 56);
    EXPECT_NEAR(std::chrono::duration<double>(ready[i] - expected).count(), 0.0, 0.002) << "request " << i;
  }
  // Two writes' worth per reservation at most: one each here (no tokens to give back).
  std::uint64_t writes = 0;
  for (auto& s : fleet) writes += on_rig([&] { return s->stats().writes; });
  EXPECT_LE(writes, 100u + 2u);  // + the item's creation (and at most one lost race for it)
}

TEST_F(SharedBudget, ConcurrentInstancesNeverAdmitMoreThanCapacityPlusRefill) {
  const Key key = fresh_key();
  std::vector<Store> fleet;
  for (int i = 0; i < 4; ++i) fleet.push_back(instance(budgets(120, 12'000)));  // 2 req/s, 200 tokens/s
  const SteadyTime t0 = clock_.now();
  std::vector<Result<Grant>> grants(160);
  int done = 0;
  // Every reservation in flight at once, on one io thread: the table orders them.
  on_rig([&] {
    for (int i = 0; i < 160; ++i) {
      asio::co_spawn(
          rig_->io(),
          [&, i]() -> asio::awaitable<void> {
            grants[i] = co_await fleet[i % 4]->reserve(key, Cost{1, 100 + (i % 3) * 50}, std::nullopt);
            ++done;
          },
          asio::detached);
    }
    return true;
  });
  ASSERT_TRUE(eventually([&] { return done == 160; }));
  std::vector<std::pair<double, Cost>> sent;
  for (auto& g : grants) {
    ASSERT_TRUE(g) << g.error().message;
    sent.emplace_back(std::chrono::duration<double>(g->ready_at - t0).count(), Cost{});
  }
  for (int i = 0; i < 160; ++i) sent[i].second = Cost{1, 100 + (i % 3) * 50};
  std::sort(sent.begin(), sent.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // By any send time x, what was admitted fits the bucket plus what refilled by then.
  double requests = 0, tokens = 0;
  for (const auto& [x, cost] : sent) {
    requests += static_cast<double>(cost.requests);
    tokens += static_cast<double>(cost.tokens);
    EXPECT_LE(requests, 120 + 2 * x + 1e-6) << "at " << x << " s";
    EXPECT_LE(tokens, 12'000 + 200 * x + 1e-6) << "at " << x << " s";
  }
}

TEST_F(SharedBudget, ARefundOnOneInstanceMovesAWaiterOnAnother) {
  const Key key = fresh_key();
  auto a = instance(budgets(0, 6000));  // 100 tokens/s; 5700 usable at once
  auto b = instance(budgets(0, 6000));
  auto sent = reserve(*a, key, Cost{1, 5700});
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->ready_at, clock_.now());
  auto waiter = reserve(*b, key, Cost{1, 3000});
  ASSERT_TRUE(waiter);
  EXPECT_EQ(waiter->ready_at, clock_.now() + 30s);
  // B's waiters are told when A's refund reaches B (its poll of the item).
  std::atomic<int> woken{0};
  b->set_replan_listener([&](const Key&) { ++woken; });
  ASSERT_TRUE(on_rig([&] { return a->settle(sent->id, Cost{1, 200}); }));  // 5500 tokens back
  ASSERT_TRUE(eventually([&] { return woken.load() > 0; }));
  auto now_ready = on_rig([&] { return b->ready_at(waiter->id, waiter->ready_at); });
  ASSERT_TRUE(now_ready);
  EXPECT_EQ(*now_ready, clock_.now());
  // A later arrival on A still queues behind B's waiter (200 + 3000 + 3000 > 5700: 5 s of refill).
  auto later = reserve(*a, key, Cost{1, 3000});
  ASSERT_TRUE(later);
  EXPECT_EQ(later->ready_at, clock_.now() + 5s);
  on_rig([&] { return b->settle(waiter->id, Cost{1, 3000}) && a->settle(later->id, Cost{1, 3000}); });
}

TEST_F(SharedBudget, AThrottleSeenByOneInstanceSlowsTheOthers) {
  const Key key = fresh_key();
  auto a = instance(budgets(600, 0));  // 10 requests/s
  auto b = instance(budgets(600, 0));
  ASSERT_TRUE(reserve(*a, key, Cost{1, 0}));
  ASSERT_TRUE(reserve(*b, key, Cost{1, 0}));
  clock_.advance(2s);  // the item's creation is not a rate change: a throttle now counts
  on_rig([&] {
    a->on_response(key, Feedback::throttled_requests);
    return true;
  });
  // A's writes: a reservation that found no item, the item, the reservation, the throttle.
  ASSERT_TRUE(eventually([&] { return a->stats().writes >= 4; }));
  auto stored = item(key);
  ASSERT_TRUE(stored);
  // The fleet had capacity left, so the throttle came from a burst Bedrock's bucket could not hold: the
  // bucket is emptied for every instance and the rate kept.
  EXPECT_EQ(aws::dynamodb::get_n(*stored, "r_s"), 1'000'000);
  EXPECT_GT(aws::dynamodb::get_n(*stored, "r_tb").value_or(0), 0);
  // B had a full bucket a moment ago; after A's throttle it is empty for B too: the next request waits
  // for one request's refill at 10/s.
  auto g = reserve(*b, key, Cost{1, 0});
  ASSERT_TRUE(g);
  EXPECT_GE(g->ready_at, clock_.now() + 99ms);
  EXPECT_LE(g->ready_at, clock_.now() + 101ms);
  // A second throttle within 5 s (from either) changes nothing.
  const auto v = aws::dynamodb::get_n(*item(key), "v");
  on_rig([&] {
    b->on_response(key, Feedback::throttled_requests);
    return true;
  });
  EXPECT_EQ(aws::dynamodb::get_n(*item(key), "v"), v);
  // Another throttle later in the same minute: Bedrock's rate binds, not its bucket. The fleet's rate
  // goes to 90% and the bucket is emptied again.
  clock_.advance(6s);
  on_rig([&] {
    b->on_response(key, Feedback::throttled_requests);
    return true;
  });
  ASSERT_TRUE(eventually([&] { return b->stats().writes >= 3; }));  // B's reservation, its item-less try, the throttle
  EXPECT_EQ(aws::dynamodb::get_n(*item(key), "r_s"), 900'000);
  auto slower = reserve(*a, key, Cost{1, 0});
  ASSERT_TRUE(slower);
  EXPECT_GT(slower->ready_at, clock_.now() + 100ms);  // a request's refill at 9/s: 111 ms
  EXPECT_LE(slower->ready_at, clock_.now() + 112ms);
}

TEST_F(SharedBudget, AnIdleBucketIsClampedByTheNextReservationWithoutAWriteOfItsOwn) {
  const Key key = fresh_key();
  auto a = instance(budgets(600, 0));  // 10 requests/s, 10,000 thousandths a second
  auto b = instance(budgets(600, 0));
  ASSERT_TRUE(reserve(*a, key, Cost{1, 0}));
  ASSERT_EQ(a->stats().writes, 3u);  // no item yet, the item, the reservation
  // A minute idle: the supply ran 600 requests past the queue end, a whole bucket past full. The next
  // reservation clamps it, in its own write: the queue end goes to the supply less 2.5% of the
  // bucket (15 requests), plus its cost.
  clock_.advance(60s);
  auto g = reserve(*a, key, Cost{1, 0});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->ready_at, clock_.now());
  EXPECT_EQ(a->stats().writes, 4u);
  EXPECT_EQ(aws::dynamodb::get_n(*item(key), "r_q"), 600'000 - 15'000 + 1'000);
  ASSERT_TRUE(reserve(*b, key, Cost{1, 0}));  // another instance: its place is after the clamp
  EXPECT_EQ(aws::dynamodb::get_n(*item(key), "r_q"), 587'000);
  // A's cache does not know B's reservation; its next clamp still keeps it: the queue end is set
  // from the supply, not from A's stale view of the queue.
  clock_.advance(30s);
  ASSERT_TRUE(reserve(*a, key, Cost{1, 0}));
  EXPECT_EQ(a->stats().writes, 5u);
  EXPECT_EQ(a->stats().conditional_failures, 1u);  // only the first reservation's missing item
  EXPECT_EQ(aws::dynamodb::get_n(*item(key), "r_q"), 900'000 - 15'000 + 1'000);
}

TEST_F(SharedBudget, AnInstanceWithOtherBudgetsThanTheItemsCreatorSaysSoOnce) {
  const Key key = fresh_key();
  std::vector<std::string> same_log, other_log;
  auto a = instance(budgets(600, 20'000));
  auto same = instance(budgets(600, 20'000), nullptr, &same_log);
  auto other = instance(budgets(1200, 20'000), nullptr, &other_log);
  ASSERT_TRUE(reserve(*a, key, Cost{1, 100}));  // creates the item, recording 600 RPM and 20,000 TPM
  ASSERT_TRUE(reserve(*same, key, Cost{1, 100}));
  ASSERT_TRUE(reserve(*other, key, Cost{1, 100}));
  ASSERT_TRUE(reserve(*other, key, Cost{1, 100}));
  EXPECT_TRUE(same_log.empty());
  ASSERT_EQ(other_log.size(), 1u);
  EXPECT_NE(other_log[0].find("warn: shared budget for us-east-1/" + key.model), std::string::npos) << other_log[0];
  EXPECT_NE(other_log[0].find("--max-rpm 600 --max-tpm 20000, this one has 1200 and 20000"), std::string::npos)
      << other_log[0];
}

TEST_F(SharedBudget, TheDailyCapIsTheFleets) {
  const Key key = fresh_key();
  auto a = instance(budgets(0, 0, 1000));
  auto b = instance(budgets(0, 0, 1000));
  auto first = reserve(*a, key, Cost{1, 600});
  ASSERT_TRUE(first);
  auto second = reserve(*b, key, Cost{1, 600});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().kind, ErrorKind::quota_exceeded);
  ASSERT_TRUE(second.error().retry_after);
  // A's call used 100: the other 500 come back to the fleet.
  on_rig([&] { return a->settle(first->id, Cost{1, 100}); });
  ASSERT_TRUE(eventually([&] { return a->stats().writes >= 4; }));  // (no item), item, reserve, settle
  EXPECT_TRUE(reserve(*b, key, Cost{1, 600}));
}

TEST_F(SharedBudget, ADeadlineTheQueueCannotMeetIsShedWithNothingCharged) {
  const Key key = fresh_key();
  auto a = instance(budgets(60, 0));
  auto b = instance(budgets(60, 0));
  for (int i = 0; i < 57; ++i) ASSERT_TRUE(reserve(*a, key, Cost{1, 0}));
  // B has never seen the item: it reserves, finds its turn 1 s away, past a 500 ms deadline, and
  // leaves the queue (it was the last in it).
  auto shed = reserve(*b, key, Cost{1, 0}, clock_.now() + 500ms);
  ASSERT_FALSE(shed);
  EXPECT_EQ(shed.error().kind, ErrorKind::rate_limited);
  EXPECT_EQ(shed.error().retry_after, 1000ms);
  ASSERT_TRUE(eventually([&] { return b->stats().writes >= 2; }));
  // Now B knows the queue: a second try is shed from its cache, without a write.
  const auto writes = on_rig([&] { return b->stats().writes; });
  EXPECT_FALSE(reserve(*b, key, Cost{1, 0}, clock_.now() + 500ms));
  EXPECT_EQ(on_rig([&] { return b->stats().writes; }), writes);
  // Nothing stayed charged: the next request is the first in the queue again.
  auto next = reserve(*a, key, Cost{1, 0});
  ASSERT_TRUE(next);
  EXPECT_EQ(next->ready_at, clock_.now() + 1s);
}

TEST_F(SharedBudget, AnInstanceThatNeverSettlesHoldsOnlyWhatItReserved) {
  // A frozen or killed instance cannot give back what it reserved; that amount is spent, as Bedrock
  // would have charged it, and refills within the bucket's minute. Nothing else is held for it.
  const Key key = fresh_key();
  auto frozen = instance(budgets(0, 6000));
  auto live = instance(budgets(0, 6000));
  ASSERT_TRUE(reserve(*frozen, key, Cost{1, 5000}));  // never settled
  auto g = reserve(*live, key, Cost{1, 3000});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->ready_at, clock_.now() + 23s);  // 5000 + 3000 - 5700 usable, at 100/s
  on_rig([&] { return live->settle(g->id, Cost{1, 3000}); });
  clock_.advance(80s);  // once the 8000 tokens spent have refilled, the bucket is whole again
  auto after = reserve(*live, key, Cost{1, 5700});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->ready_at, clock_.now());
}

TEST(SharedBudgetOutage, ServesFromTheLocalShareWhileTheTableIsDownAndReturnsToIt) {
  if (!test::dynalite_available()) GTEST_SKIP() << test::kNoDynalite;
  const auto dir = std::filesystem::temp_directory_path() / ("ba-budget-outage-" + uuid_v4().substr(0, 8));
  std::filesystem::create_directories(dir);
  auto start = [&](int port) {
    return std::make_unique<test::NodeServer>(
        "dynalite/cli.js", std::vector<std::string>{"--host", "127.0.0.1", "--port", "{port}", "--path", dir.string()},
        std::vector<std::string>{}, port);
  };
  auto server = start(0);
  const int port = server->port();
  DynamoRig rig(server->endpoint(), aws::dynamodb::ClientConfig{.connect_timeout = std::chrono::milliseconds(500),
                                                                 .read_timeout = std::chrono::milliseconds(1000),
                                                                 .max_attempts = 1});
  const std::string table = DynamoRig::unique_table("outage");
  ASSERT_TRUE(rig.run(ensure_dynamodb_table(rig.client(), table,
                                            {.create_missing = true, .poll_interval = std::chrono::milliseconds(50)})));
  ManualClock clock{WallTime{std::chrono::seconds{1'800'000'000}}};
  metrics::Registry registry;
  std::vector<std::string> logged;
  DynamoBudgetOptions o;
  o.table = table;
  o.config = budgets(600, 0);
  o.retry_after_failure = 1s;
  o.metrics = &registry;
  o.log = [&](std::string_view level, std::string_view message) { logged.push_back(std::string(level) + ": " + std::string(message)); };
  Store store(make_dynamodb_budget(rig.client(), o, clock).release(), OnRig{&rig});
  const Key key{"m", "us-east-1"};
  auto reserve = [&] {
    auto task = [&]() -> asio::awaitable<Result<Grant>> { co_return co_await store->reserve(key, Cost{1, 0}, std::nullopt); };
    return rig.run(task());
  };
  auto stats = [&] {
    auto task = [&]() -> asio::awaitable<SharedBudgetStats> { co_return store->stats(); };
    return rig.run(task());
  };
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(reserve());  // this instance alone: its share is 100%
  EXPECT_FALSE(stats().fallback);

  server.reset();  // the table's endpoint goes away
  auto during = reserve();
  ASSERT_TRUE(during) << "a chat must not fail because the budget table is down: " << during.error().message;
  EXPECT_TRUE(stats().fallback);
  EXPECT_EQ(stats().fallback_reservations, 1u);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(reserve());  // the circuit is open: no wait for the table
  EXPECT_EQ(stats().fallback_reservations, 11u);
  // The local share is one budget for the outage (all of 600 RPM here: this instance made every
  // reservation the table saw), not a fresh bucket per chat, and the 20 requests this instance already
  // sent through the table this minute are spent from it: the 601st request of the minute waits (the
  // 581st served locally). Each chat settles before the next (as sequential chats do).
  auto settle = [&](ratelimit::ReservationId id) {
    auto task = [&]() -> asio::awaitable<bool> { co_return store->settle(id, Cost{1, 0}); };
    return rig.run(task());
  };
  for (int i = 11; i < 580; ++i) {
    auto g = reserve();
    ASSERT_TRUE(g);
    ASSERT_EQ(g->ready_at, clock.now()) << i;
    ASSERT_TRUE(settle(g->id));
  }
  auto waits = reserve();
  ASSERT_TRUE(waits);
  EXPECT_GT(waits->ready_at, clock.now());
  ASSERT_FALSE(logged.empty());
  EXPECT_NE(logged.front().find("warn: shared budget table " + table + " unavailable"), std::string::npos);
  EXPECT_NE(logged.at(1).find("share is 100%, 20 request(s) of it already sent through the table"), std::string::npos)
      << logged.at(1);
  EXPECT_NE(registry.render().find("ba_shared_budget_fallback 1"), std::string::npos);

  server = start(port);  // back on its port, with its data
  clock.advance(2s);  // past the circuit's retry time
  auto after = reserve();
  ASSERT_TRUE(after) << after.error().message;
  EXPECT_FALSE(stats().fallback);
  EXPECT_EQ(stats().fallback_reservations, 581u);
  EXPECT_NE(registry.render().find("ba_shared_budget_fallback 0"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ba::store
