// The CloudFormation Query client: request serialization (checked against the official model), XML
// response and error parsing, and the client's retries against a fake endpoint.
#include "deploy/cloudformation.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "aws/credentials.hpp"
#include "deploy/query_model.hpp"
#include "net/http_client.hpp"
#include "support/server_harness.hpp"

namespace ba::aws {
namespace {

using test::Form;
using test::parse_form;
using test::QueryModel;

std::optional<QueryModel> cfn_model() {
  return QueryModel::load(test::shared_dir() / "reference/aws-models/cloudformation-2010-05-15.json");
}

Form form_of(std::string_view action, const QueryParams& p) { return parse_form(encode_query_body(action, p)); }

TEST(QueryBody, EncodesActionVersionAndEveryValue) {
  auto body = encode_query_body("DescribeStacks", {{"StackName", "a b&c=d/é"}});
  EXPECT_EQ(body, "Action=DescribeStacks&Version=2010-05-15&StackName=a%20b%26c%3Dd%2F%C3%A9");
  auto form = parse_form(body);
  ASSERT_EQ(form.size(), 3u);
  EXPECT_EQ(form[2].second, "a b&c=d/é");
}

TEST(QueryBody, CreateChangeSetFlattensListsAsTheModelSays) {
  CreateChangeSetRequest r;
  r.stack_name = "ai-agent-stack";
  r.change_set_name = "bedrock-agent-1";
  r.change_set_type = "UPDATE";
  r.template_body = "Resources: {}";
  r.parameters = {{"ModelId", "anthropic.claude-3-sonnet-20240229-v1:0"}, {"ArtifactKey", "", true}};
  r.capabilities = {"CAPABILITY_IAM"};
  r.tags = {{"application", "bedrock-agent"}};
  auto p = create_change_set_params(r);
  auto has = [&](std::string k, std::string v) {
    return std::ranges::find(p, std::pair<std::string, std::string>{k, v}) != p.end();
  };
  EXPECT_TRUE(has("Parameters.member.1.ParameterKey", "ModelId"));
  EXPECT_TRUE(has("Parameters.member.1.ParameterValue", "anthropic.claude-3-sonnet-20240229-v1:0"));
  EXPECT_TRUE(has("Parameters.member.2.ParameterKey", "ArtifactKey"));
  EXPECT_TRUE(has("Parameters.member.2.UsePreviousValue", "true"));
  EXPECT_TRUE(has("Capabilities.member.1", "CAPABILITY_IAM"));
  EXPECT_TRUE(has("Tags.member.1.Key", "application"));
  EXPECT_TRUE(has("Tags.member.1.Value", "bedrock-agent"));

  auto model = cfn_model();
  if (!model) GTEST_SKIP() << "no CloudFormation model under " << test::shared_dir() << " (set BA_SHARED_DIR)";
  EXPECT_EQ(model->check(form_of("CreateChangeSet", p)), std::vector<std::string>{});
}

// The checker itself must catch what CloudFormation would reject (else the flow tests prove nothing).
TEST(QueryModelCheck, FlagsUnknownMembersMissingRequiredBadEnumsAndGaps) {
  auto model = cfn_model();
  if (!model) GTEST_SKIP() << "no CloudFormation model under " << test::shared_dir() << " (set BA_SHARED_DIR)";
  EXPECT_EQ(model->signing_name(), "cloudformation");
  EXPECT_EQ(model->api_version(), "2010-05-15");
  EXPECT_FALSE(model->check(form_of("DescribeStack", {})).empty());  // no such action
  EXPECT_TRUE(model->check(form_of("DescribeStacks", {})).empty());  // StackName is optional
  EXPECT_FALSE(model->check(form_of("DescribeStacks", {{"Stackname", "x"}})).empty());
  EXPECT_FALSE(model->check(form_of("DeleteStack", {})).empty());  // StackName required
  EXPECT_FALSE(model->check(form_of("CreateChangeSet", {{"StackName", "s"}})).empty());  // no ChangeSetName
  QueryParams base{{"StackName", "s"}, {"ChangeSetName", "c1"}};
  auto with = [&](QueryParams extra) {
    QueryParams p = base;
    p.insert(p.end(), extra.begin(), extra.end());
    return model->check(form_of("CreateChangeSet", p));
  };
  EXPECT_TRUE(with({{"Capabilities.member.1", "CAPABILITY_IAM"}}).empty());
  EXPECT_FALSE(with({{"Capabilities.member.1", "CAPABILITY_ROOT"}}).empty());          // enum
  EXPECT_FALSE(with({{"Capabilities.1", "CAPABILITY_IAM"}}).empty());                  // not flattened
  EXPECT_FALSE(with({{"Capabilities.member.2", "CAPABILITY_IAM"}}).empty());           // gap
  EXPECT_FALSE(with({{"Parameters.member.1.Key", "A"}}).empty());                      // not a member
  EXPECT_FALSE(with({{"Tags.member.1.Key", "k"}}).empty());                            // Tag needs Value
  EXPECT_FALSE(with({{"ChangeSetType", "REPLACE"}}).empty());                           // enum
  EXPECT_FALSE(with({{"Parameters.member.1.UsePreviousValue", "yes"}}).empty());       // boolean
  EXPECT_FALSE(model->check(form_of("CreateChangeSet", {{"StackName", "s"}, {"ChangeSetName", "1-bad"}})).empty());
}

TEST(QueryResponses, ParsesDescribeStacks) {
  const char* xml = R"(<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStacksResult><Stacks><member>
    <StackId>arn:aws:cloudformation:us-east-1:123:stack/s/1</StackId><StackName>s</StackName>
    <StackStatus>UPDATE_COMPLETE</StackStatus>
    <Parameters><member><ParameterKey>ModelId</ParameterKey><ParameterValue>m</ParameterValue></member></Parameters>
    <Outputs>
      <member><OutputKey>ApiUrl</OutputKey><OutputValue>https://x/prod</OutputValue><Description>u</Description></member>
      <member><OutputKey>ApiKeyId</OutputKey><OutputValue>k1</OutputValue></member>
    </Outputs>
  </member></Stacks></DescribeStacksResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeStacksResponse>)";
  auto stacks = parse_describe_stacks(xml);
  ASSERT_TRUE(stacks) << stacks.error().message;
  ASSERT_EQ(stacks->size(), 1u);
  const auto& s = stacks->front();
  EXPECT_EQ(s.stack_id, "arn:aws:cloudformation:us-east-1:123:stack/s/1");
  EXPECT_EQ(s.status, "UPDATE_COMPLETE");
  EXPECT_EQ(s.output("ApiUrl"), "https://x/prod");
  EXPECT_EQ(s.output("ApiKeyId"), "k1");
  EXPECT_EQ(s.output("Nope"), std::nullopt);
  ASSERT_EQ(s.parameters.size(), 1u);
  EXPECT_EQ(s.parameters[0].value, "m");

  EXPECT_FALSE(parse_describe_stacks("<CreateChangeSetResponse/>"));  // the wrong document
  EXPECT_FALSE(parse_describe_stacks("not xml"));
}

TEST(QueryResponses, ParsesChangeSetsAndEvents) {
  auto ref = parse_create_change_set(
      "<CreateChangeSetResponse><CreateChangeSetResult><Id>arn:cs</Id><StackId>arn:st</StackId>"
      "</CreateChangeSetResult></CreateChangeSetResponse>");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->id, "arn:cs");
  EXPECT_EQ(ref->stack_id, "arn:st");

  auto cs = parse_describe_change_set(
      "<DescribeChangeSetResponse><DescribeChangeSetResult><ChangeSetId>arn:cs</ChangeSetId><Status>FAILED</Status>"
      "<ExecutionStatus>UNAVAILABLE</ExecutionStatus><StatusReason>The submitted information didn&apos;t contain "
      "changes. Submit different information to create a change set.</StatusReason><Changes/>"
      "</DescribeChangeSetResult></DescribeChangeSetResponse>");
  ASSERT_TRUE(cs);
  EXPECT_TRUE(is_no_changes(*cs));
  cs->status_reason = "Template format error";
  EXPECT_FALSE(is_no_changes(*cs));

  std::string next;
  auto events = parse_describe_stack_events(
      "<DescribeStackEventsResponse><DescribeStackEventsResult><StackEvents>"
      "<member><EventId>e2</EventId><LogicalResourceId>F</LogicalResourceId><ResourceType>AWS::Lambda::Function"
      "</ResourceType><ResourceStatus>CREATE_FAILED</ResourceStatus><ResourceStatusReason>boom &amp; bust"
      "</ResourceStatusReason><Timestamp>2026-11-25T15:00:01Z</Timestamp></member>"
      "<member><EventId>e1</EventId><ResourceStatus>CREATE_IN_PROGRESS</ResourceStatus></member>"
      "</StackEvents><NextToken>t</NextToken></DescribeStackEventsResult></DescribeStackEventsResponse>",
      &next);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].event_id, "e2");
  EXPECT_EQ((*events)[0].resource_status_reason, "boom & bust");
  EXPECT_EQ(next, "t");
}

TEST(QueryResponses, ParsesErrors) {
  net::HttpResponse r;
  r.status = 400;
  r.body = R"(<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>
    <Code>ValidationError</Code><Message>Stack with id nope does not exist</Message></Error>
    <RequestId>req-1</RequestId></ErrorResponse>)";
  Error e = parse_query_error(r);
  EXPECT_EQ(e.code, "ValidationError");
  EXPECT_EQ(e.request_id, "req-1");
  EXPECT_TRUE(is_stack_missing(e));
  EXPECT_FALSE(e.retryable);

  r.body = "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
  e = parse_query_error(r);
  EXPECT_EQ(e.kind, ErrorKind::throttled);
  EXPECT_TRUE(e.retryable);
  EXPECT_FALSE(is_stack_missing(e));

  r.status = 503;
  r.body = "";
  e = parse_query_error(r);
  EXPECT_EQ(e.kind, ErrorKind::unavailable);
  EXPECT_TRUE(e.retryable);
}

TEST(StsResponse, ParsesTheAccount) {
  auto account = parse_get_caller_identity(
      "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>"
      "<Arn>arn:aws:iam::123456789012:user/x</Arn><UserId>U</UserId><Account>123456789012</Account>"
      "</GetCallerIdentityResult></GetCallerIdentityResponse>");
  ASSERT_TRUE(account);
  EXPECT_EQ(*account, "123456789012");
}

// The client against a loopback server: signing name, content type, retry of a throttle, error on a
// validation error without retrying it.
TEST(CloudFormationClient, SignsRetriesThrottlesAndReportsErrors) {
  std::atomic<int> calls{0};
  std::mutex mu;
  std::vector<net::ServerRequest> seen;
  net::testing::ServerThread server({}, [&](net::ServerRequest& r) -> boost::asio::awaitable<net::ServerResponse> {
    {
      std::lock_guard lock(mu);
      seen.push_back(r);
    }
    net::ServerResponse resp;
    int n = ++calls;
    if (n == 1) {
      resp.status = 400;
      resp.body = "<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
    } else if (n == 2) {
      resp.body = "<DescribeStacksResponse><DescribeStacksResult><Stacks><member><StackId>id</StackId>"
                  "<StackName>s</StackName><StackStatus>CREATE_COMPLETE</StackStatus></member></Stacks>"
                  "</DescribeStacksResult></DescribeStacksResponse>";
    } else {
      resp.status = 400;
      resp.body = "<ErrorResponse><Error><Code>ValidationError</Code><Message>Stack with id s does not exist"
                  "</Message></Error></ErrorResponse>";
    }
    co_return resp;
  });
  boost::asio::io_context io;
  auto http = net::make_http_client(io);
  auto creds = make_static_provider(Credentials{.access_key_id = "AKID", .secret_access_key = "secret"});
  CloudFormationConfig cfg;
  cfg.region = "eu-west-1";
  cfg.endpoint = server.url("");
  cfg.retry_base = std::chrono::milliseconds(1);
  auto cfn = make_cloudformation_client(*http, *creds, cfg);

  auto first = net::testing::run_until_done(io, cfn->describe_stack("s"));
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->status, "CREATE_COMPLETE");
  EXPECT_EQ(calls.load(), 2);  // the throttle was retried

  auto missing = net::testing::run_until_done(io, cfn->describe_stack("s"));
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());  // "does not exist" is an answer, not an error
  EXPECT_EQ(calls.load(), 3);

  auto del = net::testing::run_until_done(io, cfn->delete_stack("s"));
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().code, "ValidationError");
  EXPECT_EQ(calls.load(), 4);  // not retried

  std::lock_guard lock(mu);
  for (const auto& r : seen) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/");
    EXPECT_TRUE(r.headers.get("Content-Type").value_or("").starts_with("application/x-www-form-urlencoded"));
    EXPECT_NE(r.headers.get("Authorization").value_or("").find("/eu-west-1/cloudformation/aws4_request"),
              std::string::npos);
  }
  EXPECT_EQ(test::form_value(parse_form(seen.back().body), "Action"), "DeleteStack");
}

TEST(CloudFormationClient, RejectsAMissingRegionOrABadEndpoint) {
  boost::asio::io_context io;
  auto http = net::make_http_client(io);
  auto creds = make_static_provider(Credentials{.access_key_id = "AKID", .secret_access_key = "secret"});
  EXPECT_THROW(make_cloudformation_client(*http, *creds, CloudFormationConfig{}), std::invalid_argument);
  CloudFormationConfig bad;
  bad.region = "us-east-1";
  bad.endpoint = "ftp://x";
  EXPECT_THROW(make_cloudformation_client(*http, *creds, bad), std::invalid_argument);
}

}  // namespace
}  // namespace ba::aws
