// Targets: the one format of --target values and targets-file lines, and its validation messages.
#include <gtest/gtest.h>

#include "ratelimit/targets.hpp"

namespace ba::ratelimit {
namespace {

TEST(Targets, ParsesEveryKey) {
  auto t = parse_target("model=us.anthropic.claude-3-5-sonnet-20240620-v1:0 region=us-west-2 rpm=600, tpm=400000 "
                        "endpoint=http://127.0.0.1:9000");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->model_id, "us.anthropic.claude-3-5-sonnet-20240620-v1:0");
  EXPECT_EQ(t->region, "us-west-2");
  EXPECT_EQ(t->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(t->effective_rpm(50), 600);
  EXPECT_EQ(t->effective_tpm(0), 400000);
  EXPECT_FALSE(t->provisioned());
}

TEST(Targets, MissingBudgetsAndModelTakeTheDefaults) {
  auto t = parse_target("region=eu-west-1");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->model_id.empty());
  EXPECT_EQ(t->effective_rpm(50), 50);
  EXPECT_EQ(t->effective_tpm(1000), 1000);
}

TEST(Targets, ProvisionedThroughputIsItsOwnBudgetFromModelUnits) {
  auto t = parse_target("model=arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123 region=us-east-1 "
                        "units=2 tpm_per_unit=60000");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(t->provisioned());
  EXPECT_EQ(t->effective_tpm(5), 120000);
  EXPECT_EQ(t->effective_rpm(50), 0);  // no request quota unless rpm_per_unit says so

  auto not_arn = parse_target("model=anthropic.claude-3-haiku-20240307-v1:0 units=1 tpm_per_unit=10");
  ASSERT_FALSE(not_arn);
  EXPECT_NE(not_arn.error().message.find("provisioned-model ARN"), std::string::npos);
  EXPECT_FALSE(parse_target("model=arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc units=1"));
  EXPECT_FALSE(parse_target("model=arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc units=1 "
                            "tpm_per_unit=10 rpm=5"));
  EXPECT_FALSE(parse_target("region=us-east-1 tpm_per_unit=10"));
}

TEST(Targets, BadValuesNameTheKey) {
  auto check = [](std::string_view text, std::string_view needle) {
    auto t = parse_target(text);
    ASSERT_FALSE(t) << text;
    EXPECT_EQ(t.error().kind, ErrorKind::invalid_input);
    EXPECT_NE(t.error().message.find(needle), std::string::npos) << t.error().message;
  };
  check("region=us-east-1 rmp=5", "unknown key 'rmp'");
  check("region=us-east-1 rpm=fast", "rpm=fast is not a number");
  check("region=us-east-1 rpm=-1", "rpm=-1 is not a number");
  check("region=us-east-1 region=eu-west-1", "given twice");
  check("region=US_EAST", "is not a region name");
  check("model=has space region=us-east-1 x", "expected key=value");
  check("model=bad/../model", "model 'bad/../model'");
  check("endpoint=ftp://x", "http:// or https://");
  check("rpm=", "has no value");
}

TEST(Targets, FileErrorsNameTheLine) {
  auto ok = parse_targets("# two regions\n"
                          "model=anthropic.claude-3-haiku-20240307-v1:0 region=us-east-1 rpm=600  # first\n"
                          "\n"
                          "  model=anthropic.claude-3-haiku-20240307-v1:0 region=us-west-2 rpm=300\n",
                          "targets.conf");
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1].region, "us-west-2");

  auto bad = parse_targets("region=us-east-1\n# fine\nregion=us-west-2 tpm=lots\n", "targets.conf");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("targets.conf:3: tpm=lots", 0), 0u) << bad.error().message;

  auto empty = parse_targets("# nothing\n\n", "t.conf");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("no targets"), std::string::npos);

  auto missing = load_targets_file("/nonexistent/targets.conf");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/targets.conf"), std::string::npos);
}

}  // namespace
}  // namespace ba::ratelimit

namespace ba::ratelimit {
namespace {

TEST(TargetsAuto, AutoBudgetsPinsAndWeightsParse) {
  auto t = parse_target("model=us.anthropic.claude-sonnet-4-20250514-v1:0 rpm=auto:600 tpm=auto tpm_quota=L-1234ABCD weight=2.5");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_TRUE(t->rpm_auto);
  EXPECT_EQ(t->rpm, 600);  // the fallback
  EXPECT_TRUE(t->tpm_auto);
  EXPECT_FALSE(t->tpm);
  EXPECT_EQ(t->tpm_quota, "L-1234ABCD");
  EXPECT_EQ(t->weight, 2.5);
  EXPECT_EQ(parse_target("region=us-east-1")->weight, 1);
  auto b = parse_budget_value("auto:0");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->automatic);
  EXPECT_EQ(b->value, 0);
}

TEST(TargetsAuto, BadAutoValuesNameTheKey) {
  auto msg = [](std::string_view text) {
    auto t = parse_target(text);
    return t ? std::string("(parsed)") : t.error().message;
  };
  EXPECT_EQ(msg("rpm=auto:x"), "rpm=auto:x is not a number >= 0, auto or auto:N");
  EXPECT_EQ(msg("rpm=5 rpm_quota=L-1"), "rpm_quota needs rpm=auto");
  EXPECT_EQ(msg("tpm=auto tpm_quota=Q-1"), "tpm_quota=Q-1 is not a quota code (like L-1234ABCD)");
  EXPECT_EQ(msg("weight=0"), "weight must be > 0");
  EXPECT_EQ(msg("quotas_endpoint=ftp://x"), "quotas_endpoint 'ftp://x' must be an http:// or https:// URL");
  EXPECT_NE(msg("model=arn:aws:bedrock:us-west-2:123456789012:provisioned-model/abc units=1 tpm_per_unit=5 rpm=auto")
                .find("provisioned target"),
            std::string::npos);
}

}  // namespace
}  // namespace ba::ratelimit
