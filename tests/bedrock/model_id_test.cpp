#include "bedrock/model_id.hpp"

#include <gtest/gtest.h>

namespace ba::bedrock {
namespace {

struct FamilyCase {
  const char* id;
  ModelFamily family;
};

TEST(ModelFamily, Table) {
  const FamilyCase cases[] = {
      {"anthropic.claude-3-5-sonnet-20240620-v1:0", ModelFamily::anthropic_claude},
      {"anthropic.claude-3-haiku-20240307-v1:0", ModelFamily::anthropic_claude},
      {"anthropic.claude-v2:1", ModelFamily::anthropic_claude},
      {"us.anthropic.claude-3-5-sonnet-20240620-v1:0", ModelFamily::anthropic_claude},
      {"eu.anthropic.claude-3-7-sonnet-20250219-v1:0", ModelFamily::anthropic_claude},
      {"apac.anthropic.claude-sonnet-4-20250514-v1:0", ModelFamily::anthropic_claude},
      {"global.anthropic.claude-sonnet-4-5-20250929-v1:0", ModelFamily::anthropic_claude},
      {"us-gov.anthropic.claude-3-haiku-20240307-v1:0", ModelFamily::anthropic_claude},
      {"jp.anthropic.claude-sonnet-4-5-20250929-v1:0", ModelFamily::anthropic_claude},
      {"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
       ModelFamily::anthropic_claude},
      {"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0",
       ModelFamily::anthropic_claude},
      {"amazon.titan-text-express-v1", ModelFamily::amazon_titan_text},
      {"amazon.titan-text-lite-v1", ModelFamily::amazon_titan_text},
      {"amazon.titan-text-premier-v1:0", ModelFamily::amazon_titan_text},
      {"amazon.titan-tg1-large", ModelFamily::amazon_titan_text},
      {"arn:aws:bedrock:us-west-2::foundation-model/amazon.titan-text-express-v1", ModelFamily::amazon_titan_text},
      {"amazon.titan-embed-text-v2:0", ModelFamily::other},
      {"amazon.nova-pro-v1:0", ModelFamily::other},
      {"us.amazon.nova-lite-v1:0", ModelFamily::other},
      {"meta.llama3-1-70b-instruct-v1:0", ModelFamily::other},
      {"mistral.mistral-large-2402-v1:0", ModelFamily::other},
      {"arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef123456", ModelFamily::other},
      {"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6", ModelFamily::other},
      {"arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/abcdef123456",
       ModelFamily::other},
  };
  for (const auto& c : cases) EXPECT_EQ(model_family(c.id), c.family) << c.id;
}

TEST(ModelId, DescribeSplitsPrefixAndArn) {
  auto p = describe_model_id("us.anthropic.claude-3-5-sonnet-20240620-v1:0");
  EXPECT_EQ(p.kind, ModelIdInfo::Kind::inference_profile);
  EXPECT_EQ(p.geo_prefix, "us");
  EXPECT_EQ(p.base_model_id, "anthropic.claude-3-5-sonnet-20240620-v1:0");

  auto b = describe_model_id("anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(b.kind, ModelIdInfo::Kind::base);
  EXPECT_EQ(b.geo_prefix, "");

  auto a = describe_model_id("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(a.kind, ModelIdInfo::Kind::arn);
  EXPECT_EQ(a.arn_resource_type, "inference-profile");
  EXPECT_EQ(a.geo_prefix, "eu");
  EXPECT_EQ(a.base_model_id, "anthropic.claude-3-haiku-20240307-v1:0");

  auto pt = describe_model_id("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef123456");
  EXPECT_EQ(pt.arn_resource_type, "provisioned-model");
  EXPECT_EQ(pt.base_model_id, "");
}

TEST(ModelId, AcceptsTheDocumentedForms) {
  for (const char* id : {
           "anthropic.claude-3-5-sonnet-20240620-v1:0",
           "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
           "amazon.titan-text-express-v1",
           "my_custom_model-1",
           "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
           "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
           "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6",
           "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef123456",
           "arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:provisioned-model/abcdef123456",
           "arn:aws:sagemaker:us-east-1:123456789012:endpoint/my-endpoint",
       }) {
    EXPECT_TRUE(validate_model_id(id).has_value()) << id << ": " << validate_model_id(id).error().message;
  }
}

TEST(ModelId, RejectsBadIds) {
  const std::string too_long(2049, 'a');
  EXPECT_TRUE(validate_model_id(std::string(2048, 'a')).has_value());
  for (const std::string& id : {
           std::string(""),
           too_long,
           std::string("anthropic claude"),
           std::string("anthropic.claude/../../x"),
           std::string("anthropic.claude?x=1"),
           std::string("arn:aws:bedrock:us-east-1"),
           std::string("arn:aws:s3:::bucket/key"),
           std::string("arn:aws:bedrock:us-east-1:123456789012:bucket/x"),
           std::string("arn:aws:bedrock:us-east-1:12345:provisioned-model/abcdef123456"),
           std::string("arn:aws:bedrock:us-east-1:123456789012:foundation-model/anthropic.claude-v2"),
           std::string("arn:aws:bedrock:us-east-1::provisioned-model/abcdef123456"),
           std::string("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/"),
       }) {
    auto r = validate_model_id(id);
    ASSERT_FALSE(r.has_value()) << id;
    EXPECT_EQ(r.error().kind, ErrorKind::invalid_input);
    EXPECT_NE(r.error().message.find("invalid model id"), std::string::npos);
  }
}

TEST(ModelPath, PercentEncodesEverythingButUnreserved) {
  EXPECT_EQ(model_path("us.anthropic.claude-3-5-sonnet-20240620-v1:0", Operation::converse),
            "/model/us.anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse");
  EXPECT_EQ(model_path("anthropic.claude-v2:1", Operation::converse_stream), "/model/anthropic.claude-v2%3A1/converse-stream");
  EXPECT_EQ(model_path("amazon.titan-text-express-v1", Operation::invoke), "/model/amazon.titan-text-express-v1/invoke");
  EXPECT_EQ(model_path("a_b~c", Operation::invoke_stream), "/model/a_b~c/invoke-with-response-stream");
  EXPECT_EQ(model_path("arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdef123456", Operation::converse),
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aprovisioned-model%2Fabcdef123456/converse");
}

}  // namespace
}  // namespace ba::bedrock
