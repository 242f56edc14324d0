#pragma once
// A small async CloudFormation client: the Query protocol (POST form-urlencoded
// `Action=...&Version=2010-05-15&...`, SigV4 signing name "cloudformation", XML responses and errors),
// with only the operations `bedrock-agent deploy` needs. An AWS client (namespace ba::aws) kept beside
// its only user, the deploy command (src/deploy/).
//
// Endpoint: AWS_ENDPOINT_URL_CLOUDFORMATION, else AWS_ENDPOINT_URL, else
// https://cloudformation.{region}.amazonaws.com (aws/endpoints.hpp).
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/http_message.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::net {
class HttpClient;
}

namespace ba::aws {

class CredentialsProvider;

inline constexpr std::string_view kCloudFormationVersion = "2010-05-15";
inline constexpr std::string_view kStsVersion = "2011-06-15";

// Query-protocol form fields in order, e.g. {"Parameters.member.1.ParameterKey", "ModelId"}.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

// "Action=A&Version=2010-05-15&k=v..." with RFC 3986 percent-encoding of keys and values.
std::string encode_query_body(std::string_view action, const QueryParams& params,
                              std::string_view version = kCloudFormationVersion);

struct StackParameter {
  std::string key;
  std::string value;
  bool use_previous_value = false;  // UPDATE only: keep the stack's current value (value ignored)
};

struct StackOutput {
  std::string key;
  std::string value;
  std::string description;
};

struct StackInfo {
  std::string stack_id;
  std::string stack_name;
  std::string status;         // CREATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE, REVIEW_IN_PROGRESS, ...
  std::string status_reason;
  std::vector<StackOutput> outputs;
  std::vector<StackParameter> parameters;

  std::optional<std::string> output(std::string_view key) const;
};

struct StackEvent {
  std::string event_id;
  std::string timestamp;  // ISO 8601 as CloudFormation sends it
  std::string logical_resource_id;
  std::string physical_resource_id;
  std::string resource_type;
  std::string resource_status;
  std::string resource_status_reason;
};

struct CreateChangeSetRequest {
  std::string stack_name;
  std::string change_set_name;
  std::string change_set_type = "CREATE";  // CREATE (new stack) or UPDATE
  std::string template_body;                // one of template_body / template_url
  std::string template_url;
  std::vector<StackParameter> parameters;
  std::vector<std::string> capabilities;    // CAPABILITY_IAM, CAPABILITY_NAMED_IAM, ...
  std::string description;
  std::vector<std::pair<std::string, std::string>> tags;
};

struct ChangeSetRef {
  std::string id;        // change set ARN
  std::string stack_id;  // stack ARN
};

struct ChangeSetInfo {
  std::string id;
  std::string status;            // CREATE_PENDING, CREATE_IN_PROGRESS, CREATE_COMPLETE, FAILED, ...
  std::string execution_status;  // UNAVAILABLE, AVAILABLE, EXECUTE_IN_PROGRESS, ...
  std::string status_reason;
  std::size_t changes = 0;       // entries in Changes (first page)
};

// Request serializations (exposed for tests).
QueryParams create_change_set_params(const CreateChangeSetRequest& request);

// Response parsing (exposed for tests). Bodies are the XML documents CloudFormation returns.
Result<std::vector<StackInfo>> parse_describe_stacks(std::string_view xml);
Result<ChangeSetRef> parse_create_change_set(std::string_view xml);
Result<ChangeSetInfo> parse_describe_change_set(std::string_view xml);
// Events newest first, as CloudFormation returns them; `next_token` gets NextToken if any.
Result<std::vector<StackEvent>> parse_describe_stack_events(std::string_view xml, std::string* next_token = nullptr);
// <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse> -> a classified Error.
Error parse_query_error(const net::HttpResponse& response);

Result<std::string> parse_get_caller_identity(std::string_view xml);  // the Account

// True for the ValidationError CloudFormation answers when a stack does not exist.
bool is_stack_missing(const Error& error);
// True for a change set that FAILED only because the template and parameters change nothing.
bool is_no_changes(const ChangeSetInfo& info);

struct CloudFormationConfig {  // also used for STS below
  std::string region;    // signing region
  std::string endpoint;  // base URL; empty: resolved with aws::resolve_endpoint("CloudFormation" or "STS", ...)
  std::chrono::milliseconds connect_timeout{5000}, read_timeout{60000};
  int max_attempts = 4;  // per call, for throttles and 5xx (exponential backoff from retry_base)
  std::chrono::milliseconds retry_base{500};
};

class CloudFormationClient {
 public:
  virtual ~CloudFormationClient() = default;

  // The stack, or nullopt when it does not exist.
  virtual boost::asio::awaitable<Result<std::optional<StackInfo>>> describe_stack(std::string stack_name) = 0;
  virtual boost::asio::awaitable<Result<ChangeSetRef>> create_change_set(CreateChangeSetRequest request) = 0;
  virtual boost::asio::awaitable<Result<ChangeSetInfo>> describe_change_set(std::string stack_name,
                                                                            std::string change_set_name) = 0;
  virtual boost::asio::awaitable<Status> execute_change_set(std::string stack_name, std::string change_set_name) = 0;
  virtual boost::asio::awaitable<Status> delete_change_set(std::string stack_name, std::string change_set_name) = 0;
  // The first page of events (newest first).
  virtual boost::asio::awaitable<Result<std::vector<StackEvent>>> describe_stack_events(std::string stack_name) = 0;
  virtual boost::asio::awaitable<Status> delete_stack(std::string stack_name) = 0;

  // Any action: signs and sends, returns the 2xx body or the parsed error.
  virtual boost::asio::awaitable<Result<std::string>> call(std::string action, QueryParams params) = 0;
};

// Throws std::invalid_argument (start-up only) when the region is empty or the endpoint is not http(s).
// `http`, `credentials` and `clock` must outlive the client. Retries sleep on an Asio steady_timer.
std::unique_ptr<CloudFormationClient> make_cloudformation_client(net::HttpClient& http,
                                                                 CredentialsProvider& credentials,
                                                                 CloudFormationConfig config,
                                                                 Clock& clock = system_clock());

// STS GetCallerIdentity over the same Query protocol (version 2011-06-15, signing name "sts"; endpoint
// AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else https://sts.{region}.amazonaws.com): the account id.
// Throws std::invalid_argument like make_cloudformation_client.
boost::asio::awaitable<Result<std::string>> get_caller_account(net::HttpClient& http, CredentialsProvider& credentials,
                                                               CloudFormationConfig config,
                                                               Clock& clock = system_clock());

}  // namespace ba::aws
