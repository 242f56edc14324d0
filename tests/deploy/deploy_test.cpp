// `bedrock-agent deploy` against a fake CloudFormation + STS + S3 endpoint (fake_aws.hpp). Every request
// the fake receives is checked against the official service models and for a valid SigV4 signature.
#include "deploy/deploy.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "aws/s3.hpp"
#include "deploy/fake_aws.hpp"
#include "net/http_client.hpp"
#include "support/child_process.hpp"

namespace ba::deploy {
namespace {

namespace fs = std::filesystem;
using test::FakeAws;
using test::QueryModel;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("ba-deploy-" + uuid_v4())) { fs::create_directories(path_); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write(const fs::path& p, std::string_view content) {
  std::ofstream out(p, std::ios::binary);
  out << content;
}

class DeployFlow : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto models = test::shared_dir() / "reference/aws-models";
    cfn_model_ = QueryModel::load(models / "cloudformation-2010-05-15.json");
    sts_model_ = QueryModel::load(models / "sts-2011-06-15.json");
    if (!cfn_model_ || !sts_model_) GTEST_SKIP() << "no AWS models under " << models << " (set BA_SHARED_DIR)";
    fake_ = std::make_unique<FakeAws>(*cfn_model_, *sts_model_);
    package_ = dir_.path() / "bedrock-agent-lambda.zip";
    zip_ = std::string("PK\x03\x04", 4) + "bootstrap v1";
    write(package_, zip_);
    fs::create_directories(dir_.path() / "home");
  }

  std::map<std::string, std::string> env() const {
    return {{"AWS_ACCESS_KEY_ID", test::kFakeAccessKey},
            {"AWS_SECRET_ACCESS_KEY", test::kFakeSecretKey},
            {"AWS_ENDPOINT_URL", fake_->endpoint()},
            {"AWS_EC2_METADATA_DISABLED", "true"}};
  }

  DeployOptions options() const {
    DeployOptions o;
    o.region = test::kFakeRegion;
    o.package_path = package_.string();
    o.template_path = (fs::path(BA_SOURCE_DIR) / "deploy/template.yaml").string();
    o.poll_interval = std::chrono::milliseconds(1);
    o.home = (dir_.path() / "home").string();
    auto vars = env();
    o.getenv = [vars](std::string_view name) -> std::optional<std::string> {
      auto it = vars.find(std::string(name));
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
    return o;
  }

  int run(const DeployOptions& o) {
    std::ostringstream out, err;
    int rc = run_deploy(o, out, err);
    out_ = out.str();
    err_ = err.str();
    return rc;
  }

  std::vector<std::string> actions() const {
    std::vector<std::string> a;
    for (const auto& c : fake_->calls()) a.push_back(c.action);
    return a;
  }
  std::size_t count(const std::string& action) const { return fake_->calls(action).size(); }

  void expect_conforming() const {
    EXPECT_EQ(fake_->problems(), std::vector<std::string>{}) << "stdout:\n" << out_ << "\nstderr:\n" << err_;
  }

  TempDir dir_;
  std::optional<QueryModel> cfn_model_, sts_model_;
  std::unique_ptr<FakeAws> fake_;
  fs::path package_;
  std::string zip_;
  std::string out_, err_;
  const std::string bucket_ = "bedrock-agent-artifacts-123456789012-us-east-1";
};

TEST_F(DeployFlow, CreatesANewStackAndPrintsTheEndpointAndHowToGetTheKey) {
  ASSERT_EQ(run(options()), 0) << out_ << err_;
  expect_conforming();

  // Package: artifacts bucket named from the account, content-addressed key, the zip's bytes.
  EXPECT_TRUE(fake_->has_bucket(bucket_));
  EXPECT_EQ(fake_->object(bucket_, artifact_key(zip_)), zip_);
  EXPECT_EQ(artifact_key(zip_), "bedrock-agent/" + sha256_hex(zip_) + ".zip");

  // One change set of type CREATE with the template, the parameters and CAPABILITY_IAM.
  auto created = fake_->calls("CreateChangeSet");
  ASSERT_EQ(created.size(), 1u);
  const auto& f = created[0].form;
  EXPECT_EQ(test::form_value(f, "ChangeSetType"), "CREATE");
  EXPECT_EQ(test::form_value(f, "StackName"), "ai-agent-stack");
  std::ifstream t(fs::path(BA_SOURCE_DIR) / "deploy/template.yaml");
  std::stringstream tb;
  tb << t.rdbuf();
  EXPECT_EQ(test::form_value(f, "TemplateBody"), tb.str());
  std::map<std::string, std::string> params;
  for (int i = 1; auto k = test::form_value(f, "Parameters.member." + std::to_string(i) + ".ParameterKey"); ++i) {
    params[*k] = test::form_value(f, "Parameters.member." + std::to_string(i) + ".ParameterValue").value_or("?");
  }
  EXPECT_EQ(params["ModelId"], "anthropic.claude-3-sonnet-20240229-v1:0");
  EXPECT_EQ(params["MaxRequestsPerMinute"], "50");
  EXPECT_EQ(params["ArtifactBucket"], bucket_);
  EXPECT_EQ(params["ArtifactKey"], artifact_key(zip_));
  EXPECT_EQ(test::form_value(f, "Capabilities.member.1"), "CAPABILITY_IAM");

  // Waited for the change set, executed it, followed the events to the end.
  EXPECT_GE(count("DescribeChangeSet"), 3u);  // two CREATE_PENDING answers first
  EXPECT_EQ(count("ExecuteChangeSet"), 1u);
  auto stack = fake_->stack("ai-agent-stack");
  ASSERT_TRUE(stack);
  EXPECT_EQ(stack->status, "CREATE_COMPLETE");
  EXPECT_NE(out_.find("CREATE_IN_PROGRESS  AWS::DynamoDB::Table  ConversationTable"), std::string::npos) << out_;
  EXPECT_NE(out_.find("CREATE_COMPLETE  AWS::CloudFormation::Stack  ai-agent-stack"), std::string::npos) << out_;
  EXPECT_LT(out_.find("ConversationTable"), out_.find("AgentFunction"));  // oldest first

  EXPECT_NE(out_.find("Endpoint: https://abc123.execute-api.us-east-1.amazonaws.com/prod/chat"), std::string::npos)
      << out_;
  EXPECT_NE(out_.find("aws apigateway get-api-key --api-key key-ai-agent-stack --include-value"), std::string::npos)
      << out_;
}

TEST_F(DeployFlow, HonoursOptionsAndAnExplicitArtifactBucket) {
  fake_->add_bucket("my-artifacts");
  auto o = options();
  o.stack_name = "other-stack";
  o.model_id = "anthropic.claude-3-haiku-20240307-v1:0";
  o.max_rpm = 120;
  o.max_tpm = 40000;
  o.artifact_bucket = "my-artifacts";
  o.parameters = {"ThrottleRateLimit=20", "MaxRequestsPerMinute=7"};
  ASSERT_EQ(run(o), 0) << out_ << err_;
  expect_conforming();
  EXPECT_EQ(count("GetCallerIdentity"), 0u);  // no account lookup with --artifact-bucket
  EXPECT_EQ(count("PUT /bucket"), 0u);        // the bucket existed
  EXPECT_EQ(fake_->object("my-artifacts", artifact_key(zip_)), zip_);
  auto stack = fake_->stack("other-stack");
  ASSERT_TRUE(stack);
  EXPECT_EQ(stack->parameters["ModelId"], "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(stack->parameters["MaxTokensPerMinute"], "40000");
  EXPECT_EQ(stack->parameters["ThrottleRateLimit"], "20");
  EXPECT_EQ(stack->parameters["MaxRequestsPerMinute"], "7");  // --parameter wins
}

TEST_F(DeployFlow, UpdatesAnExistingStackAndPrintsOnlyNewEvents) {
  ASSERT_EQ(run(options()), 0) << out_ << err_;
  // New code: a new zip means a new key, so the stack changes.
  zip_ = std::string("PK\x03\x04", 4) + "bootstrap v2";
  write(package_, zip_);
  ASSERT_EQ(run(options()), 0) << out_ << err_;
  expect_conforming();
  auto created = fake_->calls("CreateChangeSet");
  ASSERT_EQ(created.size(), 2u);
  EXPECT_EQ(test::form_value(created[1].form, "ChangeSetType"), "UPDATE");
  EXPECT_EQ(count("ExecuteChangeSet"), 2u);
  EXPECT_EQ(fake_->stack("ai-agent-stack")->status, "UPDATE_COMPLETE");
  EXPECT_EQ(fake_->stack("ai-agent-stack")->parameters["ArtifactKey"], artifact_key(zip_));
  EXPECT_EQ(out_.find("CREATE_COMPLETE  AWS::CloudFormation::Stack"), std::string::npos) << out_;  // old events
  EXPECT_NE(out_.find("UPDATE_COMPLETE  AWS::CloudFormation::Stack  ai-agent-stack"), std::string::npos) << out_;
  EXPECT_NE(out_.find("ApiKeyId = key-ai-agent-stack"), std::string::npos) << out_;
}

TEST_F(DeployFlow, NothingChangedStopsCleanlyWithoutExecuting) {
  ASSERT_EQ(run(options()), 0) << out_ << err_;
  ASSERT_EQ(run(options()), 0) << out_ << err_;
  expect_conforming();
  EXPECT_NE(out_.find("Already uploaded"), std::string::npos) << out_;  // content-addressed: not sent again
  EXPECT_NE(out_.find("No changes"), std::string::npos) << out_;
  EXPECT_EQ(count("ExecuteChangeSet"), 1u);  // the first run only
  EXPECT_EQ(count("DeleteChangeSet"), 1u);   // the empty change set is cleaned up
  EXPECT_NE(out_.find("Endpoint: "), std::string::npos) << out_;  // still tells where the API is
}

TEST_F(DeployFlow, AFailedCreateExitsNonZeroWithTheFailingEventsReason) {
  fake_->fail_resource = "AgentFunction";
  EXPECT_EQ(run(options()), 1) << out_ << err_;
  expect_conforming();
  EXPECT_EQ(fake_->stack("ai-agent-stack")->status, "ROLLBACK_COMPLETE");
  EXPECT_NE(err_.find("ROLLBACK_COMPLETE"), std::string::npos) << err_;
  EXPECT_NE(err_.find("AgentFunction"), std::string::npos) << err_;
  EXPECT_NE(err_.find("S3 Error Code: NoSuchKey"), std::string::npos) << err_;
  EXPECT_EQ(err_.find("Resource creation cancelled"), std::string::npos) << err_;  // the cause, not the cascade
  EXPECT_NE(err_.find("--delete"), std::string::npos) << err_;

  // The next deploy refuses to update a ROLLBACK_COMPLETE stack and says what to do.
  EXPECT_EQ(run(options()), 1);
  EXPECT_NE(err_.find("cannot be updated"), std::string::npos) << err_;
  EXPECT_EQ(count("CreateChangeSet"), 1u);
}

TEST_F(DeployFlow, AFailedUpdateRollsBackAndFails) {
  ASSERT_EQ(run(options()), 0) << out_ << err_;
  fake_->fail_resource = "AgentFunction";
  write(package_, "PK\x03\x04 v3");
  EXPECT_EQ(run(options()), 1) << out_ << err_;
  expect_conforming();
  EXPECT_NE(err_.find("UPDATE_ROLLBACK_COMPLETE"), std::string::npos) << err_;
  EXPECT_NE(err_.find("NoSuchKey"), std::string::npos) << err_;
}

TEST_F(DeployFlow, AChangeSetThatFailsForAnotherReasonFails) {
  fake_->change_set_failure = "Template error: instance of Fn::GetAtt references undefined resource X";
  EXPECT_EQ(run(options()), 1) << out_ << err_;
  expect_conforming();
  EXPECT_NE(err_.find("Fn::GetAtt references undefined resource"), std::string::npos) << err_;
  EXPECT_EQ(count("ExecuteChangeSet"), 0u);
}

TEST_F(DeployFlow, ThrottledCallsAreRetried) {
  fake_->throttle_next = 1;
  auto o = options();
  ASSERT_EQ(run(o), 0) << out_ << err_;
  expect_conforming();
  EXPECT_EQ(count("DescribeStacks"), 3u);  // throttled + retried + the final one for the outputs
}

TEST_F(DeployFlow, NoWaitReturnsOnceExecutionStarted) {
  auto o = options();
  o.no_wait = true;
  ASSERT_EQ(run(o), 0) << out_ << err_;
  expect_conforming();
  EXPECT_EQ(count("ExecuteChangeSet"), 1u);
  EXPECT_EQ(fake_->stack("ai-agent-stack")->status, "REVIEW_IN_PROGRESS");  // no events were followed
}

TEST_F(DeployFlow, DeleteTearsTheStackDownAndNamesWhatIsRetained) {
  fake_->seed_stack("ai-agent-stack", "UPDATE_COMPLETE");
  auto o = options();
  o.remove = true;
  o.package_path = (dir_.path() / "absent.zip").string();  // not needed to delete
  ASSERT_EQ(run(o), 0) << out_ << err_;
  expect_conforming();
  auto del = fake_->calls("DeleteStack");
  ASSERT_EQ(del.size(), 1u);
  EXPECT_TRUE(test::form_value(del[0].form, "StackName").value_or("").starts_with("arn:aws:cloudformation:"));
  EXPECT_FALSE(fake_->stack("ai-agent-stack"));
  EXPECT_NE(out_.find("DELETE_COMPLETE  AWS::CloudFormation::Stack"), std::string::npos) << out_;
  EXPECT_EQ(out_.find("OLD-EVENT"), std::string::npos) << out_;
  EXPECT_NE(out_.find("aws dynamodb delete-table --table-name ai-agent-stack-ConversationTable-XYZ"), std::string::npos)
      << out_;
  EXPECT_NE(out_.find("aws s3 rb s3://ai-agent-stack-filesbucket-xyz"), std::string::npos) << out_;
  // The budget table is deleted with the stack (DeletionPolicy: Delete): not in the retained list.
  EXPECT_NE(out_.find("DELETE_COMPLETE  AWS::DynamoDB::Table  BudgetTable"), std::string::npos) << out_;
  EXPECT_EQ(out_.find("--table-name ai-agent-stack-BudgetTable-XYZ"), std::string::npos) << out_;

  // Again: nothing to delete, and still success.
  ASSERT_EQ(run(o), 0) << out_ << err_;
  EXPECT_NE(out_.find("does not exist"), std::string::npos) << out_;
  EXPECT_EQ(count("DeleteStack"), 1u);
}

TEST_F(DeployFlow, ABusyStackIsNotTouched) {
  fake_->seed_stack("ai-agent-stack", "UPDATE_IN_PROGRESS");
  EXPECT_EQ(run(options()), 1);
  EXPECT_NE(err_.find("busy"), std::string::npos) << err_;
  EXPECT_EQ(count("CreateChangeSet"), 0u);
}

TEST_F(DeployFlow, AMissingPackageSaysHowToBuildIt) {
  auto o = options();
  o.package_path = (dir_.path() / "nope.zip").string();
  EXPECT_EQ(run(o), 2);
  EXPECT_NE(err_.find("make package"), std::string::npos) << err_;
  EXPECT_TRUE(fake_->calls().empty());
}

TEST_F(DeployFlow, BadOptionsAreRejectedBeforeAnyCall) {
  auto o = options();
  o.stack_name = "1-starts-with-a-digit";
  EXPECT_EQ(run(o), 2);
  o = options();
  o.parameters = {"NoEquals"};
  EXPECT_EQ(run(o), 2);
  EXPECT_TRUE(fake_->calls().empty());
}

TEST_F(DeployFlow, ALargeTemplateGoesThroughS3) {
  std::ifstream t(fs::path(BA_SOURCE_DIR) / "deploy/template.yaml");
  std::stringstream tb;
  tb << t.rdbuf();
  std::string big = tb.str() + "\n# " + std::string(60'000, 'x') + "\n";
  auto o = options();
  o.template_path = (dir_.path() / "big.yaml").string();
  write(o.template_path, big);
  ASSERT_EQ(run(o), 0) << out_ << err_;
  expect_conforming();
  auto created = fake_->calls("CreateChangeSet");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_FALSE(test::form_value(created[0].form, "TemplateBody"));
  EXPECT_TRUE(test::form_value(created[0].form, "TemplateURL"));
}

// The package goes to a real S3 implementation (s3rver) through AWS_ENDPOINT_URL_S3 while CloudFormation
// and STS are reached through their own AWS_ENDPOINT_URL_* variables.
TEST_F(DeployFlow, UploadsToARealS3ThroughPerServiceEndpoints) {
  if (!test::node_package_available("s3rver")) GTEST_SKIP() << "node or node_modules/s3rver missing";
  auto s3rver = test::start_s3rver(dir_.path() / "s3rver");
  fake_->check_artifacts = false;
  fake_->access_key = "S3RVER";
  fake_->secret_key = "S3RVER";
  auto o = options();
  std::map<std::string, std::string> vars = {{"AWS_ACCESS_KEY_ID", "S3RVER"},
                                             {"AWS_SECRET_ACCESS_KEY", "S3RVER"},
                                             {"AWS_ENDPOINT_URL_CLOUDFORMATION", fake_->endpoint()},
                                             {"AWS_ENDPOINT_URL_STS", fake_->endpoint()},
                                             {"AWS_ENDPOINT_URL_S3", s3rver.endpoint()},
                                             {"AWS_ENDPOINT_URL", "http://127.0.0.1:1"},  // must not be used
                                             {"AWS_EC2_METADATA_DISABLED", "true"}};
  o.getenv = [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  ASSERT_EQ(run(o), 0) << out_ << err_;
  expect_conforming();
  EXPECT_NE(out_.find("Created artifacts bucket " + bucket_), std::string::npos) << out_;
  EXPECT_EQ(count("PUT /bucket/key"), 0u);  // nothing went to the fake's S3

  // Read the object back from s3rver.
  boost::asio::io_context io;
  auto http = net::make_http_client(io);
  auto creds = aws::make_static_provider(aws::Credentials{.access_key_id = "S3RVER", .secret_access_key = "S3RVER"});
  aws::S3Config cfg;
  cfg.region = test::kFakeRegion;
  cfg.endpoint = s3rver.endpoint();
  cfg.path_style = true;
  aws::S3Client s3(*http, *creds, cfg);
  auto got = net::testing::run_until_done(io, s3.get_object_bytes(bucket_, artifact_key(zip_)));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->second, zip_);

  // A second deploy finds bucket and object in place and changes nothing.
  ASSERT_EQ(run(o), 0) << out_ << err_;
  EXPECT_NE(out_.find("Already uploaded"), std::string::npos) << out_;
  EXPECT_NE(out_.find("No changes"), std::string::npos) << out_;
  expect_conforming();
}

// The fake's signature check must be able to fail, for every service (else "conforming" means nothing).
TEST_F(DeployFlow, TheFakeCatchesABadSignature) {
  auto o = options();
  auto base = o.getenv;
  o.getenv = [base](std::string_view name) -> std::optional<std::string> {
    if (name == "AWS_SECRET_ACCESS_KEY") return std::string("not-the-secret");
    return base(name);
  };
  (void)run(o);  // the fake answers anyway
  std::set<std::string> services;
  for (const auto& p : fake_->problems()) {
    for (const char* s : {"(cloudformation)", "(sts)", "(s3)"}) {
      if (p.find(std::string("SigV4 ") + s) != std::string::npos) services.insert(s);
    }
  }
  EXPECT_EQ(services, (std::set<std::string>{"(cloudformation)", "(sts)", "(s3)"}));
}

TEST(DeployNames, ArtifactBucketAndKey) {
  EXPECT_EQ(artifact_bucket_name("123456789012", "eu-west-3"), "bedrock-agent-artifacts-123456789012-eu-west-3");
  EXPECT_EQ(artifact_key("abc"), "bedrock-agent/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.zip");
}

}  // namespace
}  // namespace ba::deploy
