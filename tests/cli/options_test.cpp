// The serve options as the rate limiter sees them (cli/options.hpp, make_rate_limit_config).
#include "cli/options.hpp"

#include <gtest/gtest.h>

namespace ba::test {
namespace {

TEST(MakeRateLimitConfig, DefaultsGiveTheLimiterItsDefaults) {
  const cli::ServeOptions o;
  const auto c = cli::make_rate_limit_config(o);
  EXPECT_EQ(c.limits.rpm, 50);
  EXPECT_EQ(c.limits.tpm, 0);
  EXPECT_EQ(c.limits.daily_tokens, 0);
  EXPECT_TRUE(c.model_overrides.empty());  // the model table's burndown and max_tokens
  EXPECT_EQ(c.retry.max_attempts, 3);
  EXPECT_EQ(c.retry.base, std::chrono::milliseconds(100));
  EXPECT_EQ(c.retry.throttle_base, std::chrono::milliseconds(1000));
  EXPECT_EQ(c.retry.cap, std::chrono::milliseconds(20'000));
  EXPECT_EQ(c.default_deadline, std::chrono::seconds(25));
  EXPECT_TRUE(c.adaptive);
}

TEST(MakeRateLimitConfig, FlagsReachTheLimiter) {
  cli::ServeOptions o;
  o.max_rpm = 120;
  o.max_tpm = 90'000;
  o.max_tokens_per_day = 1'000'000;
  o.retry_max_attempts = 5;
  o.retry_base_ms = 50;
  o.retry_throttle_base_ms = 500;
  o.retry_cap_ms = 8000;
  o.request_timeout_s = 10;
  o.no_adaptive = true;
  const auto c = cli::make_rate_limit_config(o);
  EXPECT_EQ(c.limits.rpm, 120);
  EXPECT_EQ(c.limits.tpm, 90'000);
  EXPECT_EQ(c.limits.daily_tokens, 1'000'000);
  EXPECT_EQ(c.retry.max_attempts, 5);
  EXPECT_EQ(c.retry.base, std::chrono::milliseconds(50));
  EXPECT_EQ(c.retry.throttle_base, std::chrono::milliseconds(500));
  EXPECT_EQ(c.retry.cap, std::chrono::milliseconds(8000));
  EXPECT_EQ(c.default_deadline, std::chrono::seconds(10));  // one value with the API's request timeout
  EXPECT_FALSE(c.adaptive);
}

TEST(MakeRateLimitConfig, ModelOverridesAreKeyedByTheWholeModelId) {
  cli::ServeOptions o;
  o.model_id = "us.anthropic.claude-3-5-sonnet-20240620-v1:0";
  o.burndown = 3;
  o.max_tokens_clamp = 2048;
  const auto c = cli::make_rate_limit_config(o);
  ASSERT_EQ(c.model_overrides.size(), 1u);
  const auto& ov = c.model_overrides.at(o.model_id);
  EXPECT_EQ(ov.burndown, 3.0);
  EXPECT_FALSE(ov.default_max_tokens.has_value());
  EXPECT_EQ(ov.max_tokens_clamp, 2048);
}

}  // namespace
}  // namespace ba::test
