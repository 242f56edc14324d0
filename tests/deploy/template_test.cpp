// deploy/template.yaml: cfn-lint clean (errors, warnings and informational findings), and the parts the
// application relies on are there (routes behind API keys, the environment the Lambda mode reads, the
// table schemas, least-privilege IAM, alarms, outputs). The YAML is decoded by cfn-lint's own loader
// (python3 -m cfnlint's `cfnlint.decode`); both tests skip when cfn-lint is not installed.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "support/shell.hpp"
#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>

namespace {

namespace json = boost::json;
using ba::test::cfn_lint_available;

TEST(Template, CfnLintFindsNothing) {
  if (!cfn_lint_available()) GTEST_SKIP() << "cfn-lint is not installed (pip install cfn-lint)";
  auto [rc, out] = ba::test::shell("cfn-lint --include-checks I --format parseable -- " +
                                   ba::test::quote(ba::test::template_path()));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << out;
}

class TemplateContent : public ::testing::Test {
 protected:
  // Decoded once for the suite (loading cfnlint takes seconds).
  static void SetUpTestSuite() {
    available_ = cfn_lint_available();
    if (available_) cached_ = ba::test::decode_template();
  }
  void SetUp() override {
    if (!available_) GTEST_SKIP() << "cfn-lint is not installed (pip install cfn-lint)";
    if (!cached_) GTEST_SKIP() << "python3 cannot import cfnlint.decode (cfn-lint installed for another python?)";
    t_ = *cached_;
  }
  const json::object& resources() const { return t_.at("Resources").as_object(); }
  const json::object& props(std::string_view logical) const {
    return resources().at(logical).as_object().at("Properties").as_object();
  }
  std::vector<std::string> of_type(std::string_view type) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : resources()) {
      if (v.as_object().at("Type").as_string() == type) out.emplace_back(k);
    }
    return out;
  }
  std::string s(const json::value& v) const { return json::serialize(v); }

  json::object t_;
  static inline bool available_ = false;
  static inline std::optional<json::object> cached_;
};

TEST_F(TemplateContent, EveryRouteIsALambdaProxyMethodBehindAnApiKey) {
  // Resource logical id -> full path.
  std::map<std::string, std::string> path;
  auto resolve = [&](auto& self, const std::string& id) -> std::string {
    if (auto it = path.find(id); it != path.end()) return it->second;
    const auto& p = props(id);
    const auto& parent = p.at("ParentId");
    std::string base = parent.as_object().contains("Ref") ? self(self, std::string(parent.at("Ref").as_string())) : "";
    return path[id] = base + "/" + std::string(p.at("PathPart").as_string());
  };
  std::set<std::string> routes;
  for (const auto& m : of_type("AWS::ApiGateway::Method")) {
    const auto& p = props(m);
    EXPECT_EQ(p.at("ApiKeyRequired"), json::value(true)) << m;
    EXPECT_EQ(p.at("AuthorizationType").as_string(), "NONE") << m;
    const auto& integ = p.at("Integration").as_object();
    EXPECT_EQ(integ.at("Type").as_string(), "AWS_PROXY") << m;
    EXPECT_NE(s(integ.at("Uri")).find("${AgentFunction.Arn}"), std::string::npos) << m;
    routes.insert(std::string(p.at("HttpMethod").as_string()) + " " +
                  resolve(resolve, std::string(p.at("ResourceId").at("Ref").as_string())));
  }
  const std::set<std::string> expected = {
      "POST /chat",        "GET /conversations/{id}", "DELETE /conversations/{id}", "GET /health", "HEAD /health",
      "GET /metrics",
      "POST /files",       "GET /files",              "POST /files/presign",        "GET /files/{id}",
      "PUT /files/{id}",   "DELETE /files/{id}",
      // The compatible APIs.
      "POST /v1/chat/completions", "POST /v1/messages", "POST /v1/messages/count_tokens", "GET /v1/models",
      "GET /v1/models/{id+}"};
  EXPECT_EQ(routes, expected);
  // The deployment waits for every method.
  const auto& deps = resources().at("ApiDeployment").at("DependsOn").as_array();
  EXPECT_EQ(deps.size(), expected.size());
}

TEST_F(TemplateContent, UsagePlanThrottlesPerKeyAndTheKeyIsInIt) {
  const auto& plan = props("UsagePlan");
  EXPECT_EQ(s(plan.at("Throttle").at("RateLimit")), R"({"Ref":"ThrottleRateLimit"})");
  EXPECT_EQ(s(plan.at("Throttle").at("BurstLimit")), R"({"Ref":"ThrottleBurstLimit"})");
  const auto& key = props("UsagePlanKey");
  EXPECT_EQ(s(key.at("KeyId")), R"({"Ref":"ApiKey"})");
  EXPECT_EQ(s(key.at("UsagePlanId")), R"({"Ref":"UsagePlan"})");
}

TEST_F(TemplateContent, TheFunctionGetsTheEnvironmentTheLambdaModeReads) {
  const auto& fn = props("AgentFunction");
  EXPECT_EQ(fn.at("Runtime").as_string(), "provided.al2023");
  EXPECT_EQ(fn.at("Handler").as_string(), "bootstrap");
  EXPECT_EQ(s(fn.at("Code")), R"({"S3Bucket":{"Ref":"ArtifactBucket"},"S3Key":{"Ref":"ArtifactKey"}})");
  const auto& vars = fn.at("Environment").at("Variables").as_object();
  EXPECT_EQ(s(vars.at("MODEL_ID")), R"({"Ref":"ModelId"})");
  // QuotasFromAccount=true: "auto:<the parameter>" (the account's quota, the parameter as the fallback).
  EXPECT_EQ(s(vars.at("MAX_REQUESTS_PER_MINUTE")),
            R"({"Fn::If":["QuotasFromAccount",{"Fn::Sub":"auto:${MaxRequestsPerMinute}"},{"Ref":"MaxRequestsPerMinute"}]})");
  EXPECT_EQ(s(vars.at("MAX_TOKENS_PER_MINUTE")),
            R"({"Fn::If":["QuotasFromAccount",{"Fn::Sub":"auto:${MaxTokensPerMinute}"},{"Ref":"MaxTokensPerMinute"}]})");
  EXPECT_EQ(s(t_.at("Parameters").at("QuotasFromAccount").at("Default")), R"("false")");
  EXPECT_EQ(s(vars.at("CONVERSATION_TABLE")), R"({"Ref":"ConversationTable"})");
  EXPECT_EQ(s(vars.at("BUDGET_TABLE")), R"({"Ref":"BudgetTable"})");  // the shared rate-limit budget
  EXPECT_EQ(s(vars.at("FILES_BUCKET")), R"({"Ref":"FilesBucket"})");
  EXPECT_FALSE(vars.contains("AWS_REGION"));  // reserved: Lambda sets it
  EXPECT_EQ(s(t_.at("Parameters").at("ModelId").at("Default")), R"("anthropic.claude-3-sonnet-20240229-v1:0")");
  EXPECT_EQ(s(t_.at("Parameters").at("MaxRequestsPerMinute").at("Default")), "50");
}

TEST_F(TemplateContent, TableAndBucketAreLockedDown) {
  const auto& table = props("ConversationTable");
  EXPECT_EQ(table.at("BillingMode").as_string(), "PAY_PER_REQUEST");
  EXPECT_EQ(s(table.at("KeySchema")),
            R"([{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}])");
  EXPECT_EQ(s(table.at("AttributeDefinitions")),  // docs/storage.md: pk S, sk N
            R"([{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"N"}])");
  EXPECT_EQ(s(table.at("TimeToLiveSpecification")), R"({"AttributeName":"expires_at","Enabled":true})");
  EXPECT_EQ(table.at("PointInTimeRecoverySpecification").at("PointInTimeRecoveryEnabled"), json::value(true));

  const auto& bucket = props("FilesBucket");
  for (const char* k : {"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"}) {
    EXPECT_EQ(bucket.at("PublicAccessBlockConfiguration").at(k), json::value(true)) << k;
  }
  EXPECT_NE(s(bucket.at("BucketEncryption")).find("AES256"), std::string::npos);
  EXPECT_NE(s(bucket.at("LifecycleConfiguration")).find(R"("ExpirationInDays":{"Ref":"RetentionDays"})"),
            std::string::npos);
  const std::string policy = s(props("FilesBucketPolicy").at("PolicyDocument"));
  EXPECT_NE(policy.find(R"("Effect":"Deny")"), std::string::npos);
  EXPECT_NE(policy.find(R"("aws:SecureTransport":"false")"), std::string::npos);
  EXPECT_NE(s(props("FunctionLogGroup").at("RetentionInDays")).find("LogRetentionDays"), std::string::npos);
}

// The shared rate-limit budget: the history table's key schema and TTL attribute, on demand; ephemeral
// (no point-in-time recovery, deleted with the stack).
TEST_F(TemplateContent, BudgetTableSharesTheHistorySchemaAndIsEphemeral) {
  const auto& table = props("BudgetTable");
  EXPECT_EQ(resources().at("BudgetTable").at("Type").as_string(), "AWS::DynamoDB::Table");
  EXPECT_EQ(table.at("BillingMode").as_string(), "PAY_PER_REQUEST");
  EXPECT_EQ(s(table.at("KeySchema")),
            R"([{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}])");
  EXPECT_EQ(s(table.at("AttributeDefinitions")),
            R"([{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"N"}])");
  EXPECT_EQ(s(table.at("KeySchema")), s(props("ConversationTable").at("KeySchema")));
  EXPECT_EQ(s(table.at("TimeToLiveSpecification")), R"({"AttributeName":"expires_at","Enabled":true})");
  EXPECT_FALSE(table.contains("PointInTimeRecoverySpecification"));
  EXPECT_FALSE(table.contains("TableName"));  // CloudFormation names it: one per stack
  EXPECT_EQ(resources().at("BudgetTable").at("DeletionPolicy").as_string(), "Delete");
  EXPECT_EQ(s(t_.at("Outputs").at("BudgetTableName").at("Value")), R"({"Ref":"BudgetTable"})");
}

TEST_F(TemplateContent, IamIsLeastPrivilege) {
  const auto& statements = props("FunctionRole").at("Policies").at(0).at("PolicyDocument").at("Statement").as_array();
  bool bedrock = false, guardrail = false, quotas = false;
  std::size_t budget = 0;
  for (const auto& entry : statements) {
    // A conditional statement ({"Fn::If": [condition, statement, AWS::NoValue]}): its statement.
    const bool conditional = entry.as_object().contains("Fn::If");
    const auto& st = conditional ? entry.at("Fn::If").at(1) : entry;
    if (conditional) {
      const auto& branches = entry.at("Fn::If").as_array();
      ASSERT_EQ(branches.size(), 3u);
      EXPECT_EQ(s(branches[2]), R"({"Ref":"AWS::NoValue"})");
      if (branches[0].as_string() == "HasGuardrail") {
        // The guardrail's, only when one is configured.
        EXPECT_EQ(s(st.at("Action")), R"("bedrock:ApplyGuardrail")");
        EXPECT_EQ(s(st.at("Resource")),
                  R"({"Fn::Sub":"arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:guardrail/${GuardrailId}"})");
        guardrail = true;
      } else {
        // Only with QuotasFromAccount=true: reading the applied quotas. Service Quotas' List/Get actions
        // have no resource-level permissions, so this is the one statement on "*".
        EXPECT_EQ(s(branches[0]), R"("QuotasFromAccount")");
        EXPECT_EQ(s(st.at("Action")), R"(["servicequotas:ListServiceQuotas","servicequotas:GetServiceQuota"])");
        EXPECT_EQ(s(st.at("Resource")), R"("*")");
        quotas = true;
      }
      continue;
    }
    const std::string actions = s(st.at("Action"));
    const std::string resource = s(st.at("Resource"));
    EXPECT_EQ(actions.find('*'), std::string::npos) << actions;    // no wildcard actions
    EXPECT_NE(resource, R"("*")") << actions;                      // no wildcard resources
    if (actions.find("bedrock:") != std::string::npos) {
      bedrock = true;
      EXPECT_EQ(actions, R"(["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream","bedrock:CountTokens"])");
      EXPECT_EQ(resource,
                R"({"Fn::Sub":"arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${ModelId}"})");
    }
    if (resource.find("BudgetTable") != std::string::npos) {
      // Conditional writes of the budget items and the start-up schema check: nothing else (no Scan,
      // Query, DeleteItem or CreateTable), and no other statement names the table.
      ++budget;
      EXPECT_EQ(st.at("Effect").as_string(), "Allow");
      EXPECT_EQ(actions, R"(["dynamodb:GetItem","dynamodb:PutItem","dynamodb:UpdateItem","dynamodb:DescribeTable"])");
      EXPECT_EQ(resource, R"({"Fn::GetAtt":["BudgetTable","Arn"]})");  // the table itself, no index, no "/*"
    } else if (actions.find("dynamodb:") != std::string::npos) {
      EXPECT_EQ(resource, R"({"Fn::GetAtt":["ConversationTable","Arn"]})");
    }
  }
  EXPECT_TRUE(bedrock);
  EXPECT_TRUE(guardrail);
  EXPECT_TRUE(quotas);
  EXPECT_EQ(budget, 1u);
  // The guardrail reaches the function as the option it reads, only when configured.
  const auto& vars = props("AgentFunction").at("Environment").at("Variables").as_object();
  EXPECT_EQ(s(vars.at("BEDROCK_AGENT_GUARDRAIL")),
            R"({"Fn::If":["HasGuardrail",{"Fn::Sub":"${GuardrailId}:${GuardrailVersion}"},{"Ref":"AWS::NoValue"}]})");
  EXPECT_EQ(s(t_.at("Parameters").at("GuardrailId").at("Default")), R"("")");
}

TEST_F(TemplateContent, AlarmsWatchThrottlesAndErrors) {
  std::set<std::string> watched;
  for (const auto& a : of_type("AWS::CloudWatch::Alarm")) {
    const auto& p = props(a);
    watched.insert(std::string(p.at("Namespace").as_string()) + "/" + std::string(p.at("MetricName").as_string()));
    if (p.at("Namespace").as_string() == "BedrockAgent") {
      EXPECT_EQ(s(p.at("Dimensions")), R"([{"Name":"Model","Value":{"Ref":"ModelId"}}])") << a;
    }
  }
  for (const char* m : {"BedrockAgent/Throttles", "BedrockAgent/Errors", "AWS/Lambda/Errors", "AWS/Lambda/Throttles",
                        "AWS/ApiGateway/5XXError"}) {
    EXPECT_TRUE(watched.contains(m)) << m;
  }
}

TEST_F(TemplateContent, OutputsTheApiUrlAndTheKeyId) {
  const auto& outputs = t_.at("Outputs").as_object();
  EXPECT_NE(s(outputs.at("ApiUrl").at("Value")).find("execute-api"), std::string::npos);
  EXPECT_EQ(s(outputs.at("ApiKeyId").at("Value")), R"({"Ref":"ApiKey"})");
  for (const char* p : {"ArtifactBucket", "ArtifactKey", "ModelId", "MaxRequestsPerMinute", "MaxTokensPerMinute",
                        "MaxTokensPerDay"}) {
    EXPECT_TRUE(t_.at("Parameters").as_object().contains(p)) << p;  // what `deploy` passes
  }
}

}  // namespace
