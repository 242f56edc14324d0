// Budgets from the account's quotas (ratelimit/auto_quotas.hpp): read, applied, refreshed, and the
// fallback with one warning when they cannot be read. The Service Quotas call is a fake here; the real
// client against the simulator is in tests/sim/service_quotas_test.cpp and tests/e2e/targets_e2e_test.cpp.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "ratelimit/auto_quotas.hpp"
#include "ratelimit/limiter.hpp"
#include "support/run_sync.hpp"

namespace ba::ratelimit {
namespace {

const std::string kModel = "us.anthropic.claude-sonnet-4-20250514-v1:0";

struct FakeQuotas {
  std::map<std::string, std::vector<QuotaEntry>> by_region;
  int failures = 0;  // the next N calls fail
  int calls = 0;
  AutoQuotas::ListQuotas fn() {
    return [this](const std::string& region) -> boost::asio::awaitable<Result<std::vector<QuotaEntry>>> {
      ++calls;
      if (failures > 0) {
        --failures;
        co_return fail(ErrorKind::forbidden, "Service Quotas ListServiceQuotas: AccessDeniedException");
      }
      co_return by_region[region];
    };
  }
};

struct Logged {
  std::vector<std::pair<std::string, std::string>> lines;
  AutoQuotas::Log fn() {
    return [this](std::string_view level, std::string_view msg) { lines.emplace_back(level, msg); };
  }
  int count(std::string_view level) const {
    int n = 0;
    for (const auto& l : lines) n += l.first == level;
    return n;
  }
};

AutoQuotaTarget target(std::string region = "us-east-1") {
  AutoQuotaTarget t;
  t.model_id = kModel;
  t.region = std::move(region);
  t.rpm_auto = true;
  t.tpm_auto = true;
  t.fallback.rpm = 50;
  t.fallback.tpm = 1000;
  return t;
}

std::vector<QuotaEntry> sonnet(double rpm, double tpm) {
  return {{"L-R", "Cross-Region InvokeModel requests per minute for Anthropic Claude Sonnet 4", rpm},
          {"L-T", "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4", tpm}};
}

void refresh(AutoQuotas& a) {
  test::run_sync([](AutoQuotas& q) -> boost::asio::awaitable<bool> {
    co_await q.refresh();
    co_return true;
  }(a));
}

TEST(AutoQuotas, AppliedQuotasBecomeTheBudgetsAndARefreshChangesThem) {
  ManualClock clock;
  RateLimitConfig config;
  config.limits = {.rpm = 50, .tpm = 1000};
  InProcessBudgetStore store(config, clock);
  const Key key{kModel, "us-east-1"};
  (void)store.snapshot(key);  // the key exists with the configured budgets
  FakeQuotas fake;
  fake.by_region["us-east-1"] = sonnet(600, 400'000);
  Logged log;
  AutoQuotas auto_quotas({target()}, fake.fn(), log.fn());
  auto_quotas.set_store(0, &store);
  refresh(auto_quotas);
  EXPECT_EQ(auto_quotas.limits(0).rpm, 600);
  EXPECT_EQ(auto_quotas.limits(0).tpm, 400'000);
  EXPECT_EQ(auto_quotas.rpm_source(0), "quota L-R");
  auto snap = store.snapshot(key);
  EXPECT_DOUBLE_EQ(snap.adaptive_fill_rate, 10.0);  // 600 per minute
  EXPECT_DOUBLE_EQ(snap.requests_available, 50.0);  // the level carries over; the bucket refills at the new rate
  clock.advance(std::chrono::seconds(60));
  EXPECT_DOUBLE_EQ(store.snapshot(key).requests_available, 600.0);

  // A quota increase (or decrease) in the account reaches the budget at the next refresh.
  fake.by_region["us-east-1"] = sonnet(120, 100'000);
  refresh(auto_quotas);
  snap = store.snapshot(key);
  EXPECT_DOUBLE_EQ(snap.adaptive_fill_rate, 2.0);
  EXPECT_DOUBLE_EQ(snap.requests_available, 120.0);  // clamped to the new capacity
  EXPECT_EQ(auto_quotas.refreshes(), 2u);
  EXPECT_EQ(log.count("warn"), 0);
  EXPECT_EQ(log.count("info"), 2);  // one line per change
}

TEST(AutoQuotas, FallsBackWithOneWarningNamingTheTargetAndKeepsWhatWasRead) {
  FakeQuotas fake;
  fake.failures = 2;
  Logged log;
  AutoQuotaTarget other = target("eu-west-1");
  other.rpm_auto = false;  // only tpm is read
  AutoQuotas a({target(), other}, fake.fn(), log.fn());
  refresh(a);
  EXPECT_EQ(a.limits(0).rpm, 50);  // the configured values
  EXPECT_EQ(a.limits(0).tpm, 1000);
  EXPECT_EQ(a.rpm_source(0), "fallback");
  ASSERT_EQ(log.count("warn"), 3);  // rpm and tpm of the first, tpm of the second
  EXPECT_NE(log.lines[0].second.find(kModel + " in us-east-1"), std::string::npos) << log.lines[0].second;
  EXPECT_NE(log.lines[0].second.find("AccessDeniedException"), std::string::npos) << log.lines[0].second;
  EXPECT_NE(log.lines[0].second.find("using the configured 50"), std::string::npos) << log.lines[0].second;
  EXPECT_EQ(fake.calls, 2);  // one listing per region

  // The same failure again: no new warning. Then the quotas are read: an info line says so.
  fake.failures = 2;
  refresh(a);
  EXPECT_EQ(log.count("warn"), 3);
  fake.by_region["us-east-1"] = sonnet(300, 90'000);
  fake.by_region["eu-west-1"] = sonnet(100, 30'000);
  refresh(a);
  EXPECT_EQ(a.limits(1).tpm, 30'000);
  EXPECT_EQ(a.limits(1).rpm, 50);  // not auto
  EXPECT_EQ(a.limits(0).rpm, 300);
  EXPECT_EQ(a.tpm_source(0), "quota L-T");

  // A failure after a successful read keeps the values read (and says so).
  fake.failures = 2;
  refresh(a);
  EXPECT_EQ(a.limits(0).rpm, 300);
  EXPECT_NE(log.lines.back().second.find("keeping"), std::string::npos) << log.lines.back().second;
}

TEST(AutoQuotas, NoMatchingQuotaFallsBackWithTheReason) {
  FakeQuotas fake;
  fake.by_region["us-east-1"] = {{"L-X", "Cross-Region InvokeModel tokens per minute for Amazon Nova Pro", 5}};
  Logged log;
  AutoQuotas a({target()}, fake.fn(), log.fn());
  refresh(a);
  EXPECT_EQ(a.limits(0).tpm, 1000);
  ASSERT_GE(log.lines.size(), 2u);
  EXPECT_NE(log.lines[1].second.find("no bedrock quota named 'Cross-Region InvokeModel tokens per minute"),
            std::string::npos)
      << log.lines[1].second;
}

TEST(AutoQuotas, TheRefreshLoopRunsOnTheIoContextsTimersUntilTheObjectGoes) {
  boost::asio::io_context io;
  FakeQuotas fake;
  fake.by_region["us-east-1"] = sonnet(600, 400'000);
  auto a = std::make_unique<AutoQuotas>(std::vector<AutoQuotaTarget>{target()}, fake.fn(), AutoQuotas::Log{},
                                        std::chrono::milliseconds(1));
  a->start(io);
  while (a->refreshes() < 3) io.run_one();
  EXPECT_EQ(a->limits(0).rpm, 600);
  a.reset();  // cancels the timer: the loop ends and io runs out of work
  io.run();
  EXPECT_GE(fake.calls, 3);
}

}  // namespace
}  // namespace ba::ratelimit
