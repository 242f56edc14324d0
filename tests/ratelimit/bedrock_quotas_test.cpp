// Which Bedrock quota limits a target (ratelimit/bedrock_quotas.hpp), with names as Service Quotas lists them.
#include <gtest/gtest.h>

#include "ratelimit/bedrock_quotas.hpp"

namespace ba::ratelimit {
namespace {

std::vector<QuotaEntry> catalogue() {
  return {
      {"L-A1", "On-demand InvokeModel requests per minute for Anthropic Claude 3.5 Sonnet V2", 50},
      {"L-A2", "On-demand InvokeModel tokens per minute for Anthropic Claude 3.5 Sonnet V2", 400000},
      {"L-A3", "On-demand InvokeModel tokens per minute for Anthropic Claude 3.5 Sonnet", 300000},
      {"L-B1", "Cross-Region InvokeModel requests per minute for Anthropic Claude Sonnet 4", 200},
      {"L-B2", "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4", 200000},
      {"L-B3", "Cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4 V1 1M Context Length", 1000000},
      {"L-B4", "Global cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4", 500000},
      {"L-B5", "On-demand InvokeModel tokens per minute for Anthropic Claude Sonnet 4", 100000},
      {"L-B6", "Model invocation max tokens per day for Anthropic Claude Sonnet 4", 288000000},
      {"L-C1", "On-demand model inference tokens per minute for Meta Llama 3.1 70B Instruct", 300000},
      {"L-D1", "On-demand InvokeModel tokens per minute for Nova Pro", 800000},
      {"L-E1", "Batch inference job size (in GB) for Anthropic Claude Sonnet 4", 1},
  };
}

TEST(BedrockQuotas, NamesParseIntoKindDimensionAndModel) {
  auto p = parse_quota_name("Global cross-Region InvokeModel tokens per minute for Anthropic Claude Sonnet 4");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, QuotaKind::global);
  EXPECT_TRUE(p->tokens);
  EXPECT_EQ(p->model, "Anthropic Claude Sonnet 4");
  p = parse_quota_name("On-demand model inference requests per minute for Meta Llama 3.1 70B Instruct");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, QuotaKind::on_demand);
  EXPECT_FALSE(p->tokens);
  EXPECT_FALSE(parse_quota_name("Model invocation max tokens per day for Anthropic Claude Sonnet 4"));
  EXPECT_FALSE(parse_quota_name("Batch inference job size (in GB) for Anthropic Claude Sonnet 4"));
  EXPECT_FALSE(parse_quota_name("On-demand latency-optimized InvokeModel tokens per minute for X"));
}

TEST(BedrockQuotas, ModelIdsBecomeTheWordsOfTheirDisplayNames) {
  EXPECT_EQ(model_quota_words("anthropic.claude-3-5-sonnet-20241022-v2:0"),
            quota_words("Anthropic Claude 3.5 Sonnet V2"));
  EXPECT_EQ(model_quota_words("anthropic.claude-sonnet-4-20250514-v1:0"), quota_words("Anthropic Claude Sonnet 4"));
  EXPECT_EQ(model_quota_words("meta.llama3-1-70b-instruct-v1:0"), quota_words("Meta Llama 3.1 70B Instruct"));
  EXPECT_EQ(model_quota_words("anthropic.claude-haiku-4-5-20251001-v1:0"), quota_words("Anthropic Claude Haiku 4.5"));
  EXPECT_NE(model_quota_words("anthropic.claude-3-5-sonnet-20240620-v1:0"),
            quota_words("Anthropic Claude 3.5 Sonnet V2"));
}

TEST(BedrockQuotas, TheKindFollowsTheIdsPrefix) {
  EXPECT_EQ(quota_kind("anthropic.claude-sonnet-4-20250514-v1:0"), QuotaKind::on_demand);
  EXPECT_EQ(quota_kind("us.anthropic.claude-sonnet-4-20250514-v1:0"), QuotaKind::cross_region);
  EXPECT_EQ(quota_kind("eu.anthropic.claude-sonnet-4-20250514-v1:0"), QuotaKind::cross_region);
  EXPECT_EQ(quota_kind("global.anthropic.claude-sonnet-4-20250514-v1:0"), QuotaKind::global);
  EXPECT_EQ(quota_kind("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-20250514-v1:0"),
            QuotaKind::on_demand);
  EXPECT_FALSE(quota_kind("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"));
  EXPECT_FALSE(quota_kind("arn:aws:bedrock:us-west-2:123456789012:provisioned-model/abc123"));
}

TEST(BedrockQuotas, MatchesOnDemandCrossRegionAndGlobalQuotasOfTheModel) {
  const auto q = catalogue();
  auto m = match_bedrock_quotas("anthropic.claude-3-5-sonnet-20241022-v2:0", q);
  ASSERT_TRUE(m.rpm.quota && m.tpm.quota);
  EXPECT_EQ(m.rpm.quota->code, "L-A1");
  EXPECT_EQ(m.tpm.quota->code, "L-A2");  // not "3.5 Sonnet" (v1)
  m = match_bedrock_quotas("us.anthropic.claude-sonnet-4-20250514-v1:0", q);
  EXPECT_EQ(m.rpm.quota->code, "L-B1");
  EXPECT_EQ(m.tpm.quota->code, "L-B2");  // not the 1M context length quota
  m = match_bedrock_quotas("global.anthropic.claude-sonnet-4-20250514-v1:0", q);
  EXPECT_FALSE(m.rpm.quota);
  EXPECT_NE(m.rpm.problem.find("Global cross-Region InvokeModel requests per minute"), std::string::npos)
      << m.rpm.problem;
  EXPECT_EQ(m.tpm.quota->code, "L-B4");
  m = match_bedrock_quotas("anthropic.claude-sonnet-4-20250514-v1:0", q);
  EXPECT_EQ(m.tpm.quota->code, "L-B5");
  m = match_bedrock_quotas("meta.llama3-1-70b-instruct-v1:0", q);
  EXPECT_EQ(m.tpm.quota->code, "L-C1");
  m = match_bedrock_quotas("amazon.nova-pro-v1:0", q);  // a name without the provider
  EXPECT_EQ(m.tpm.quota->code, "L-D1");
}

TEST(BedrockQuotas, AmbiguousOrUnderivableQuotasAreProblemsAndPinsDecide) {
  auto q = catalogue();
  q.push_back({"L-A9", "On-demand model inference tokens per minute for Anthropic Claude 3.5 Sonnet V2", 1});
  auto m = match_bedrock_quotas("anthropic.claude-3-5-sonnet-20241022-v2:0", q);
  EXPECT_FALSE(m.tpm.quota);
  EXPECT_NE(m.tpm.problem.find("2 bedrock quotas match"), std::string::npos) << m.tpm.problem;
  EXPECT_NE(m.tpm.problem.find("tpm_quota="), std::string::npos) << m.tpm.problem;
  m = match_bedrock_quotas("anthropic.claude-3-5-sonnet-20241022-v2:0", q, {.rpm_code = "", .tpm_code = "L-A9"});
  ASSERT_TRUE(m.tpm.quota);
  EXPECT_EQ(m.tpm.quota->value, 1);

  const std::string app_profile = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
  m = match_bedrock_quotas(app_profile, q);
  EXPECT_FALSE(m.tpm.quota);
  EXPECT_NE(m.tpm.problem.find("pin it with tpm_quota="), std::string::npos) << m.tpm.problem;
  m = match_bedrock_quotas(app_profile, q, {.rpm_code = "L-B1", .tpm_code = "L-NOPE"});
  EXPECT_EQ(m.rpm.quota->value, 200);
  EXPECT_FALSE(m.tpm.quota);
  EXPECT_NE(m.tpm.problem.find("L-NOPE"), std::string::npos);
}

}  // namespace
}  // namespace ba::ratelimit
