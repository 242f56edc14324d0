#include "deploy/cloudformation.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <stdexcept>

#include "aws/credentials.hpp"
#include "aws/endpoints.hpp"
#include "aws/errors.hpp"
#include "aws/sigv4.hpp"
#include "aws/xml.hpp"
#include "net/http_client.hpp"
#include "net/url.hpp"
#include "util/encoding.hpp"

namespace ba::aws {

using boost::asio::awaitable;

std::string encode_query_body(std::string_view action, const QueryParams& params, std::string_view version) {
  std::string body = "Action=" + net::uri_encode(action) + "&Version=" + net::uri_encode(version);
  for (const auto& [k, v] : params) {
    body += '&';
    body += net::uri_encode(k);
    body += '=';
    body += net::uri_encode(v);
  }
  return body;
}

std::optional<std::string> StackInfo::output(std::string_view key) const {
  for (const auto& o : outputs) {
    if (o.key == key) return o.value;
  }
  return std::nullopt;
}

QueryParams create_change_set_params(const CreateChangeSetRequest& r) {
  QueryParams p;
  p.emplace_back("StackName", r.stack_name);
  p.emplace_back("ChangeSetName", r.change_set_name);
  p.emplace_back("ChangeSetType", r.change_set_type);
  if (!r.template_body.empty()) p.emplace_back("TemplateBody", r.template_body);
  if (!r.template_url.empty()) p.emplace_back("TemplateURL", r.template_url);
  for (std::size_t i = 0; i < r.parameters.size(); ++i) {
    const auto& param = r.parameters[i];
    const std::string prefix = "Parameters.member." + std::to_string(i + 1) + ".";
    p.emplace_back(prefix + "ParameterKey", param.key);
    if (param.use_previous_value) p.emplace_back(prefix + "UsePreviousValue", "true");
    else p.emplace_back(prefix + "ParameterValue", param.value);
  }
  for (std::size_t i = 0; i < r.capabilities.size(); ++i) {
    p.emplace_back("Capabilities.member." + std::to_string(i + 1), r.capabilities[i]);
  }
  if (!r.description.empty()) p.emplace_back("Description", r.description);
  for (std::size_t i = 0; i < r.tags.size(); ++i) {
    const std::string prefix = "Tags.member." + std::to_string(i + 1) + ".";
    p.emplace_back(prefix + "Key", r.tags[i].first);
    p.emplace_back(prefix + "Value", r.tags[i].second);
  }
  return p;
}

namespace {

// The <{Action}Result> element of a Query response, or an internal error naming what was expected.
Result<XmlNode> parse_result(std::string_view xml, std::string_view action) {
  auto root = parse_xml(xml);
  if (!root) return std::unexpected(std::move(root.error()));
  const std::string wrapper = std::string(action) + "Result";
  if (root->name() != std::string(action) + "Response" || !root->child(wrapper)) {
    return fail(ErrorKind::internal, std::string(action) + ": unexpected response <" + root->name() + ">");
  }
  return root;
}

std::vector<const XmlNode*> members(const XmlNode* list) {
  if (!list) return {};
  return list->children("member");
}

}  // namespace

Result<std::vector<StackInfo>> parse_describe_stacks(std::string_view xml) {
  auto root = parse_result(xml, "DescribeStacks");
  if (!root) return std::unexpected(std::move(root.error()));
  std::vector<StackInfo> out;
  for (const XmlNode* m : members(root->path({"DescribeStacksResult", "Stacks"}))) {
    StackInfo s;
    s.stack_id = m->child_text("StackId");
    s.stack_name = m->child_text("StackName");
    s.status = m->child_text("StackStatus");
    s.status_reason = m->child_text("StackStatusReason");
    for (const XmlNode* o : members(m->child("Outputs"))) {
      s.outputs.push_back({o->child_text("OutputKey"), o->child_text("OutputValue"), o->child_text("Description")});
    }
    for (const XmlNode* p : members(m->child("Parameters"))) {
      s.parameters.push_back({p->child_text("ParameterKey"), p->child_text("ParameterValue"), false});
    }
    out.push_back(std::move(s));
  }
  return out;
}

Result<ChangeSetRef> parse_create_change_set(std::string_view xml) {
  auto root = parse_result(xml, "CreateChangeSet");
  if (!root) return std::unexpected(std::move(root.error()));
  const XmlNode* r = root->child("CreateChangeSetResult");
  ChangeSetRef ref{r->child_text("Id"), r->child_text("StackId")};
  if (ref.id.empty()) return fail(ErrorKind::internal, "CreateChangeSet: no Id in the response");
  return ref;
}

Result<ChangeSetInfo> parse_describe_change_set(std::string_view xml) {
  auto root = parse_result(xml, "DescribeChangeSet");
  if (!root) return std::unexpected(std::move(root.error()));
  const XmlNode* r = root->child("DescribeChangeSetResult");
  ChangeSetInfo info;
  info.id = r->child_text("ChangeSetId");
  info.status = r->child_text("Status");
  info.execution_status = r->child_text("ExecutionStatus");
  info.status_reason = r->child_text("StatusReason");
  info.changes = members(r->child("Changes")).size();
  if (info.status.empty()) return fail(ErrorKind::internal, "DescribeChangeSet: no Status in the response");
  return info;
}

Result<std::vector<StackEvent>> parse_describe_stack_events(std::string_view xml, std::string* next_token) {
  auto root = parse_result(xml, "DescribeStackEvents");
  if (!root) return std::unexpected(std::move(root.error()));
  const XmlNode* r = root->child("DescribeStackEventsResult");
  std::vector<StackEvent> out;
  for (const XmlNode* m : members(r->child("StackEvents"))) {
    StackEvent e;
    e.event_id = m->child_text("EventId");
    e.timestamp = m->child_text("Timestamp");
    e.logical_resource_id = m->child_text("LogicalResourceId");
    e.physical_resource_id = m->child_text("PhysicalResourceId");
    e.resource_type = m->child_text("ResourceType");
    e.resource_status = m->child_text("ResourceStatus");
    e.resource_status_reason = m->child_text("ResourceStatusReason");
    out.push_back(std::move(e));
  }
  if (next_token) *next_token = r->child_text("NextToken");
  return out;
}

Result<std::string> parse_get_caller_identity(std::string_view xml) {
  auto root = parse_result(xml, "GetCallerIdentity");
  if (!root) return std::unexpected(std::move(root.error()));
  std::string account = root->child("GetCallerIdentityResult")->child_text("Account");
  if (account.empty()) return fail(ErrorKind::internal, "GetCallerIdentity: no Account in the response");
  return account;
}

Error parse_query_error(const net::HttpResponse& response) {
  std::string code, message, request_id;
  if (auto root = parse_xml(response.body)) {
    const XmlNode* err = root->name() == "Error" ? &*root : root->child("Error");
    if (err) {
      code = std::string(trim(err->child_text("Code")));
      message = err->child_text("Message");
    }
    request_id = root->child_text("RequestId");
  }
  Error e = classify_error(code, response.status, std::move(message));
  if (e.code.empty() && !code.empty()) e.code = code;
  e.request_id = !request_id.empty() ? request_id
                                     : std::string(response.headers.get("x-amzn-RequestId").value_or(""));
  return e;
}

bool is_stack_missing(const Error& error) {
  return error.code == "ValidationError" && error.message.find("does not exist") != std::string::npos;
}

bool is_no_changes(const ChangeSetInfo& info) {
  if (info.status != "FAILED") return false;
  const auto& r = info.status_reason;
  return r.find("didn't contain changes") != std::string::npos ||
         r.find("No updates are to be performed") != std::string::npos;
}

namespace {

// One Query-protocol service: signs, sends, retries throttles and 5xx on a steady_timer.
class QuerySender {
 public:
  QuerySender(net::HttpClient& http, CredentialsProvider& credentials, CloudFormationConfig config, Clock& clock,
              std::string_view service_id, std::string_view prefix, std::string signing_name, std::string version)
      : http_(http),
        credentials_(credentials),
        config_(std::move(config)),
        clock_(clock),
        signing_name_(std::move(signing_name)),
        version_(std::move(version)) {
    if (config_.region.empty()) throw std::invalid_argument(std::string(service_id) + ": no region");
    if (config_.endpoint.empty()) config_.endpoint = resolve_endpoint(service_id, prefix, config_.region);
    while (!config_.endpoint.empty() && config_.endpoint.back() == '/') config_.endpoint.pop_back();
    if (!net::parse_url(config_.endpoint)) {
      throw std::invalid_argument(std::string(service_id) + ": bad endpoint URL '" + config_.endpoint + "'");
    }
    if (config_.max_attempts < 1) config_.max_attempts = 1;
  }

  awaitable<Result<std::string>> call(const std::string& action, const QueryParams& params) {
    const std::string body = encode_query_body(action, params, version_);
    auto delay = config_.retry_base;
    for (int attempt = 1;; ++attempt) {
      auto creds = co_await credentials_.get();
      if (!creds) co_return std::unexpected(std::move(creds.error()));
      net::HttpRequest req;
      req.method = "POST";
      req.url = config_.endpoint + "/";
      req.headers.set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8");
      req.body = body;
      SigningParams sp;
      sp.region = config_.region;
      sp.service = signing_name_;
      sp.time = clock_.wall();
      sign_request(req, *creds, sp);
      net::RequestOptions ro;
      ro.connect_timeout = config_.connect_timeout;
      ro.read_timeout = config_.read_timeout;
      auto resp = co_await http_.send(std::move(req), ro);
      Error err;
      if (!resp) {
        err = std::move(resp.error());
        err.retryable = err.kind == ErrorKind::network || err.kind == ErrorKind::timeout;
      } else if (resp->status >= 200 && resp->status < 300) {
        co_return std::move(resp->body);
      } else {
        err = parse_query_error(*resp);
      }
      if (!err.retryable || attempt >= config_.max_attempts) {
        if (err.message.find(action) == std::string::npos) err.message = action + ": " + err.message;
        co_return std::unexpected(std::move(err));
      }
      auto wait = err.retry_after ? std::max(*err.retry_after, delay) : delay;
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
      timer.expires_after(wait);
      co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      delay *= 2;
    }
  }

 private:
  net::HttpClient& http_;
  CredentialsProvider& credentials_;
  CloudFormationConfig config_;
  Clock& clock_;
  std::string signing_name_;
  std::string version_;
};

class Client final : public CloudFormationClient {
 public:
  Client(net::HttpClient& http, CredentialsProvider& credentials, CloudFormationConfig config, Clock& clock)
      : sender_(http, credentials, std::move(config), clock, "CloudFormation", "cloudformation", "cloudformation",
                std::string(kCloudFormationVersion)) {}

  awaitable<Result<std::string>> call(std::string action, QueryParams params) override {
    co_return co_await sender_.call(action, params);
  }

  awaitable<Result<std::optional<StackInfo>>> describe_stack(std::string stack_name) override {
    QueryParams params{{"StackName", stack_name}};
    auto body = co_await call("DescribeStacks", std::move(params));
    if (!body) {
      if (is_stack_missing(body.error())) co_return std::optional<StackInfo>{};
      co_return std::unexpected(std::move(body.error()));
    }
    auto stacks = parse_describe_stacks(*body);
    if (!stacks) co_return std::unexpected(std::move(stacks.error()));
    if (stacks->empty()) co_return std::optional<StackInfo>{};
    co_return std::optional<StackInfo>(std::move(stacks->front()));
  }

  awaitable<Result<ChangeSetRef>> create_change_set(CreateChangeSetRequest request) override {
    auto body = co_await call("CreateChangeSet", create_change_set_params(request));
    if (!body) co_return std::unexpected(std::move(body.error()));
    co_return parse_create_change_set(*body);
  }

  awaitable<Result<ChangeSetInfo>> describe_change_set(std::string stack_name, std::string change_set_name) override {
    QueryParams params{{"ChangeSetName", change_set_name}, {"StackName", stack_name}};
    auto body = co_await call("DescribeChangeSet", std::move(params));
    if (!body) co_return std::unexpected(std::move(body.error()));
    co_return parse_describe_change_set(*body);
  }

  awaitable<Status> execute_change_set(std::string stack_name, std::string change_set_name) override {
    QueryParams params{{"ChangeSetName", change_set_name}, {"StackName", stack_name}};
    auto body = co_await call("ExecuteChangeSet", std::move(params));
    if (!body) co_return std::unexpected(std::move(body.error()));
    co_return Status{};
  }

  awaitable<Status> delete_change_set(std::string stack_name, std::string change_set_name) override {
    QueryParams params{{"ChangeSetName", change_set_name}, {"StackName", stack_name}};
    auto body = co_await call("DeleteChangeSet", std::move(params));
    if (!body) co_return std::unexpected(std::move(body.error()));
    co_return Status{};
  }

  awaitable<Result<std::vector<StackEvent>>> describe_stack_events(std::string stack_name) override {
    QueryParams params{{"StackName", stack_name}};
    auto body = co_await call("DescribeStackEvents", std::move(params));
    if (!body) co_return std::unexpected(std::move(body.error()));
    co_return parse_describe_stack_events(*body);
  }

  awaitable<Status> delete_stack(std::string stack_name) override {
    QueryParams params{{"StackName", stack_name}};
    auto body = co_await call("DeleteStack", std::move(params));
    if (!body) co_return std::unexpected(std::move(body.error()));
    co_return Status{};
  }

 private:
  QuerySender sender_;
};

}  // namespace

std::unique_ptr<CloudFormationClient> make_cloudformation_client(net::HttpClient& http,
                                                                 CredentialsProvider& credentials,
                                                                 CloudFormationConfig config, Clock& clock) {
  return std::make_unique<Client>(http, credentials, std::move(config), clock);
}

awaitable<Result<std::string>> get_caller_account(net::HttpClient& http, CredentialsProvider& credentials,
                                                CloudFormationConfig config, Clock& clock) {
  QuerySender sts(http, credentials, std::move(config), clock, "STS", "sts", "sts", std::string(kStsVersion));
  auto body = co_await sts.call("GetCallerIdentity", {});
  if (!body) co_return std::unexpected(std::move(body.error()));
  co_return parse_get_caller_identity(*body);
}

}  // namespace ba::aws
