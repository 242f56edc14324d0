#pragma once
// A fake CloudFormation + STS + S3 endpoint on 127.0.0.1:0 for the deploy flow (one server, as
// AWS_ENDPOINT_URL points every service at it). CloudFormation is a scripted state machine of one
// account: stacks, change sets (CREATE / UPDATE, "didn't contain changes" when nothing changed) and events
// released a few per DescribeStackEvents call. Every request is checked: SigV4 (sim::check_auth with the
// service's signing name and region) and, for the Query protocol, the official service model
// (query_model.hpp). Problems are collected in problems() for the test to assert empty.
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "aws/xml.hpp"
#include "deploy/query_model.hpp"
#include "support/server_harness.hpp"
#include "sim/auth.hpp"
#include "util/encoding.hpp"

namespace ba::test {

inline constexpr const char* kFakeAccount = "123456789012";
inline constexpr const char* kFakeAccessKey = "AKIDDEPLOYTEST";
inline constexpr const char* kFakeSecretKey = "deploy-test-secret";
inline constexpr const char* kFakeRegion = "us-east-1";

struct FakeEvent {
  std::string id, stack_id, stack_name, logical_id, physical_id, type, status, reason, timestamp;
};

struct FakeStack {
  std::string id, name, status, reason;
  std::map<std::string, std::string> parameters;
  std::string template_body;
  std::vector<FakeEvent> events;    // released, oldest first
  std::deque<FakeEvent> pending;    // scripted, released by DescribeStackEvents
  std::vector<std::pair<std::string, std::string>> outputs;
  bool deleted = false;
};

struct FakeChangeSet {
  std::string name, id, stack_id, type, status, reason;
  std::map<std::string, std::string> parameters;
  std::string template_body;
  int polls_left = 0;
  std::size_t changes = 0;
};

struct Call {
  std::string service;  // cloudformation, sts, s3
  std::string action;   // Query Action, or "METHOD /path" for S3
  Form form;
};

class FakeAws {
 public:
  FakeAws(const QueryModel& cloudformation, const QueryModel& sts)
      : cfn_model_(cloudformation), sts_model_(sts),
        server_(net::ServerOptions{.body_limit = 64 * 1024 * 1024},
                [this](net::ServerRequest& r) -> boost::asio::awaitable<net::ServerResponse> {
                  co_return handle(r);
                }) {}

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }

  // Knobs.
  int change_set_polls = 2;        // DescribeChangeSet answers CREATE_PENDING this many times first
  std::size_t events_per_poll = 2; // events released per DescribeStackEvents
  std::string fail_resource;       // this logical id fails on create/update -> rollback
  std::string change_set_failure;  // the next change set FAILS with this reason
  int throttle_next = 0;           // the next N CloudFormation calls get 400 Throttling
  bool check_artifacts = true;     // the package must be in this fake's S3 (false: a real S3 elsewhere)
  std::string access_key = kFakeAccessKey;  // the credentials signatures are verified with
  std::string secret_key = kFakeSecretKey;

  // Seeds a settled stack, as a previous deploy left it (its events carry "OLD-EVENT").
  void seed_stack(const std::string& name, const std::string& status, std::map<std::string, std::string> params = {}) {
    std::lock_guard lock(mu_);
    FakeStack s;
    s.name = name;
    s.id = stack_arn(name);
    s.status = status;
    s.parameters = std::move(params);
    s.template_body = "previous template";
    s.outputs = outputs_for(name);
    for (const char* st : {"CREATE_IN_PROGRESS", status.c_str()}) {
      s.events.push_back(event(s, name, "AWS::CloudFormation::Stack", st, "OLD-EVENT"));
    }
    stacks_.push_back(std::move(s));
  }

  std::vector<std::string> problems() const {
    std::lock_guard lock(mu_);
    return problems_;
  }
  std::vector<Call> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<Call> calls(const std::string& action) const {
    std::lock_guard lock(mu_);
    std::vector<Call> out;
    for (const auto& c : calls_) {
      if (c.action == action) out.push_back(c);
    }
    return out;
  }
  std::optional<std::string> object(const std::string& bucket, const std::string& key) const {
    std::lock_guard lock(mu_);
    auto b = buckets_.find(bucket);
    if (b == buckets_.end()) return std::nullopt;
    auto o = b->second.find(key);
    if (o == b->second.end()) return std::nullopt;
    return o->second;
  }
  bool has_bucket(const std::string& bucket) const {
    std::lock_guard lock(mu_);
    return buckets_.contains(bucket);
  }
  void add_bucket(const std::string& bucket) {
    std::lock_guard lock(mu_);
    buckets_[bucket];
  }
  std::optional<FakeStack> stack(const std::string& name) const {
    std::lock_guard lock(mu_);
    for (const auto& s : stacks_) {
      if (s.name == name && !s.deleted) return s;
    }
    return std::nullopt;
  }

 private:
  static std::string stack_arn(const std::string& name) {
    return std::string("arn:aws:cloudformation:") + kFakeRegion + ":" + kFakeAccount + ":stack/" + name + "/" +
           uuid_v4();
  }
  static std::vector<std::pair<std::string, std::string>> outputs_for(const std::string& name) {
    return {{"ApiUrl", "https://abc123.execute-api.us-east-1.amazonaws.com/prod"},
            {"ApiKeyId", "key-" + name},
            {"ConversationTableName", name + "-ConversationTable-XYZ"},
            {"BudgetTableName", name + "-BudgetTable-XYZ"},
            {"FilesBucketName", name + "-filesbucket-xyz"}};
  }
  FakeEvent event(const FakeStack& s, const std::string& logical, const std::string& type, const std::string& status,
                  const std::string& reason) {
    ++clock_;
    char ts[32];
    std::snprintf(ts, sizeof ts, "2026-11-25T15:%02d:%02d.000Z", (clock_ / 60) % 60, clock_ % 60);
    return FakeEvent{uuid_v4(), s.id, s.name, logical, logical + "-physical", type, status, reason, ts};
  }

  // --------------------------------------------------------------- dispatch
  net::ServerResponse handle(net::ServerRequest& r) {
    std::lock_guard lock(mu_);
    const bool form = r.method == "POST" && r.path == "/" &&
                      r.headers.get("Content-Type").value_or("").starts_with("application/x-www-form-urlencoded");
    if (!form) return s3(r);
    Form f = parse_form(r.body);
    const std::string action = form_value(f, "Action").value_or("");
    const bool sts = action == "GetCallerIdentity";
    const QueryModel& model = sts ? sts_model_ : cfn_model_;
    calls_.push_back({sts ? "sts" : "cloudformation", action, f});
    for (auto& p : model.check(f)) problems_.push_back(std::move(p));
    check_signature(r, model.signing_name());
    if (sts) {
      return xml_ok("GetCallerIdentity", "<Arn>arn:aws:iam::" + std::string(kFakeAccount) +
                                             ":user/deployer</Arn><UserId>AIDA</UserId><Account>" + kFakeAccount +
                                             "</Account>");
    }
    if (throttle_next > 0) {
      --throttle_next;
      return xml_error(400, "Throttling", "Rate exceeded");
    }
    if (action == "DescribeStacks") return describe_stacks(f);
    if (action == "CreateChangeSet") return create_change_set(f);
    if (action == "DescribeChangeSet") return describe_change_set(f);
    if (action == "ExecuteChangeSet") return execute_change_set(f);
    if (action == "DeleteChangeSet") return delete_change_set(f);
    if (action == "DescribeStackEvents") return describe_stack_events(f);
    if (action == "DeleteStack") return delete_stack(f);
    problems_.push_back("unexpected action " + action);
    return xml_error(400, "InvalidAction", "not faked: " + action);
  }

  void check_signature(const net::ServerRequest& r, const std::string& service) {
    sim::AuthConfig auth;
    auth.access_key_id = access_key;
    auth.secret_access_key = secret_key;
    auth.region = kFakeRegion;
    auth.service = service;
    if (auto failure = sim::check_auth(r, auth, std::chrono::system_clock::now())) {
      problems_.push_back(r.method + " " + r.target + ": SigV4 (" + service + "): " + failure->message);
    }
  }

  // --------------------------------------------------------------- Query responses
  static net::ServerResponse xml(int status, std::string body) {
    net::ServerResponse resp;
    resp.status = status;
    resp.headers.set("Content-Type", "text/xml");
    resp.headers.set("x-amzn-RequestId", uuid_v4());
    resp.body = std::move(body);
    return resp;
  }
  static net::ServerResponse xml_ok(const std::string& action, const std::string& result) {
    return xml(200, "<" + action + "Response xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><" +
                        action + "Result>" + result + "</" + action + "Result><ResponseMetadata><RequestId>" +
                        uuid_v4() + "</RequestId></ResponseMetadata></" + action + "Response>");
  }
  static net::ServerResponse xml_error(int status, const std::string& code, const std::string& message) {
    return xml(status, "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><Error>"
                       "<Type>Sender</Type><Code>" + code + "</Code><Message>" + aws::xml_escape(message) +
                       "</Message></Error><RequestId>" + uuid_v4() + "</RequestId></ErrorResponse>");
  }

  FakeStack* find_stack(const std::string& ref) {
    for (auto& s : stacks_) {
      if (s.id == ref) return &s;  // by id: deleted stacks too
    }
    for (auto& s : stacks_) {
      if (s.name == ref && !s.deleted) return &s;
    }
    return nullptr;
  }
  net::ServerResponse missing(const std::string& ref) {
    return xml_error(400, "ValidationError", "Stack with id " + ref + " does not exist");
  }

  net::ServerResponse describe_stacks(const Form& f) {
    const std::string ref = form_value(f, "StackName").value_or("");
    FakeStack* s = find_stack(ref);
    if (!s) return missing(ref);
    std::string m = "<Stacks><member><StackId>" + s->id + "</StackId><StackName>" + s->name +
                    "</StackName><CreationTime>2026-11-25T15:00:00.000Z</CreationTime><StackStatus>" + s->status +
                    "</StackStatus>";
    if (!s->reason.empty()) m += "<StackStatusReason>" + aws::xml_escape(s->reason) + "</StackStatusReason>";
    m += "<Parameters>";
    for (const auto& [k, v] : s->parameters) {
      m += "<member><ParameterKey>" + k + "</ParameterKey><ParameterValue>" + aws::xml_escape(v) +
           "</ParameterValue></member>";
    }
    m += "</Parameters>";
    if (s->status == "CREATE_COMPLETE" || s->status == "UPDATE_COMPLETE" || s->status == "UPDATE_ROLLBACK_COMPLETE") {
      m += "<Outputs>";
      for (const auto& [k, v] : s->outputs) {
        m += "<member><OutputKey>" + k + "</OutputKey><OutputValue>" + v + "</OutputValue><Description>d</Description></member>";
      }
      m += "</Outputs>";
    }
    m += "</member></Stacks>";
    return xml_ok("DescribeStacks", m);
  }

  net::ServerResponse create_change_set(const Form& f) {
    const std::string name = form_value(f, "StackName").value_or("");
    const std::string cs_name = form_value(f, "ChangeSetName").value_or("");
    const std::string type = form_value(f, "ChangeSetType").value_or("UPDATE");
    std::map<std::string, std::string> params;
    for (int i = 1;; ++i) {
      auto k = form_value(f, "Parameters.member." + std::to_string(i) + ".ParameterKey");
      if (!k) break;
      params[*k] = form_value(f, "Parameters.member." + std::to_string(i) + ".ParameterValue").value_or("");
    }
    std::string body = form_value(f, "TemplateBody").value_or("");
    if (auto url = form_value(f, "TemplateURL")) {
      // https://BUCKET.s3... or path-style ENDPOINT/BUCKET/KEY: the key must exist in some bucket.
      bool found = false;
      for (const auto& [b, objects] : buckets_) {
        for (const auto& [k, v] : objects) {
          if (url->ends_with("/" + k) && url->find(b) != std::string::npos) {
            body = v;
            found = true;
          }
        }
      }
      if (!found && check_artifacts) problems_.push_back("TemplateURL " + *url + " names no uploaded object");
    }
    if (body.empty() && check_artifacts) problems_.push_back("CreateChangeSet without a template");
    // The package must be in S3 before the change set refers to it.
    if (!check_artifacts) {
    } else if (!params.contains("ArtifactBucket") || !params.contains("ArtifactKey")) {
      problems_.push_back("CreateChangeSet without ArtifactBucket/ArtifactKey");
    } else {
      auto b = buckets_.find(params["ArtifactBucket"]);
      if (b == buckets_.end() || !b->second.contains(params["ArtifactKey"])) {
        problems_.push_back("ArtifactKey " + params["ArtifactKey"] + " was not uploaded before CreateChangeSet");
      }
    }
    bool iam = false;
    for (const auto& [k, v] : f) iam = iam || (k.starts_with("Capabilities.member.") && v == "CAPABILITY_IAM");
    if (!iam) {
      return xml_error(400, "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]");
    }

    FakeStack* s = find_stack(name);
    if (type == "CREATE") {
      if (s && s->status != "REVIEW_IN_PROGRESS") {
        return xml_error(400, "AlreadyExistsException", "Stack [" + name + "] already exists");
      }
      if (!s) {
        FakeStack fresh;
        fresh.name = name;
        fresh.id = stack_arn(name);
        fresh.status = "REVIEW_IN_PROGRESS";
        fresh.events.push_back(event(fresh, name, "AWS::CloudFormation::Stack", "REVIEW_IN_PROGRESS", "User Initiated"));
        stacks_.push_back(std::move(fresh));
        s = &stacks_.back();
      }
    } else if (type == "UPDATE") {
      if (!s) return xml_error(400, "ValidationError", "Stack [" + name + "] does not exist");
    }
    FakeChangeSet cs;
    cs.name = cs_name;
    cs.id = std::string("arn:aws:cloudformation:") + kFakeRegion + ":" + kFakeAccount + ":changeSet/" + cs_name + "/" +
            uuid_v4();
    cs.stack_id = s->id;
    cs.type = type;
    cs.parameters = params;
    cs.template_body = body;
    cs.polls_left = change_set_polls;
    if (!change_set_failure.empty()) {
      cs.status = "FAILED";
      cs.reason = change_set_failure;
      change_set_failure.clear();
    } else if (type == "UPDATE" && params == s->parameters && body == s->template_body) {
      cs.status = "FAILED";
      cs.reason =
          "The submitted information didn't contain changes. Submit different information to create a change set.";
    } else {
      cs.status = "CREATE_COMPLETE";
      cs.changes = type == "CREATE" ? 5 : 1;
    }
    change_sets_.push_back(cs);
    return xml_ok("CreateChangeSet", "<Id>" + cs.id + "</Id><StackId>" + cs.stack_id + "</StackId>");
  }

  FakeChangeSet* find_change_set(const Form& f) {
    const std::string ref = form_value(f, "ChangeSetName").value_or("");
    const std::string stack = form_value(f, "StackName").value_or("");
    FakeStack* s = stack.empty() ? nullptr : find_stack(stack);
    for (auto& cs : change_sets_) {
      if (cs.id == ref) return &cs;
      if (cs.name == ref && s && cs.stack_id == s->id) return &cs;
    }
    return nullptr;
  }

  net::ServerResponse describe_change_set(const Form& f) {
    FakeChangeSet* cs = find_change_set(f);
    if (!cs) return xml_error(404, "ChangeSetNotFound", "ChangeSet not found");
    std::string status = cs->status, exec = cs->status == "CREATE_COMPLETE" ? "AVAILABLE" : "UNAVAILABLE";
    if (cs->polls_left > 0) {
      --cs->polls_left;
      status = "CREATE_PENDING";
      exec = "UNAVAILABLE";
    }
    std::string m = "<ChangeSetName>" + cs->name + "</ChangeSetName><ChangeSetId>" + cs->id + "</ChangeSetId><StackId>" +
                    cs->stack_id + "</StackId><Status>" + status + "</Status><ExecutionStatus>" + exec +
                    "</ExecutionStatus>";
    if (status == cs->status && !cs->reason.empty()) m += "<StatusReason>" + aws::xml_escape(cs->reason) + "</StatusReason>";
    m += "<Changes>";
    for (std::size_t i = 0; status == "CREATE_COMPLETE" && i < cs->changes; ++i) {
      m += "<member><Type>Resource</Type><ResourceChange><Action>Add</Action><LogicalResourceId>R" + std::to_string(i) +
           "</LogicalResourceId></ResourceChange></member>";
    }
    m += "</Changes>";
    return xml_ok("DescribeChangeSet", m);
  }

  net::ServerResponse delete_change_set(const Form& f) {
    FakeChangeSet* cs = find_change_set(f);
    if (!cs) return xml_error(404, "ChangeSetNotFound", "ChangeSet not found");
    cs->status = "DELETED";
    return xml_ok("DeleteChangeSet", "");
  }

  net::ServerResponse execute_change_set(const Form& f) {
    FakeChangeSet* cs = find_change_set(f);
    if (!cs) return xml_error(404, "ChangeSetNotFound", "ChangeSet not found");
    if (cs->status != "CREATE_COMPLETE" || cs->polls_left > 0) {
      return xml_error(400, "InvalidChangeSetStatus", "ChangeSet is in " + cs->status + " and cannot be executed");
    }
    cs->status = "EXECUTE_IN_PROGRESS";
    FakeStack* s = find_stack(cs->stack_id);
    const bool create = cs->type == "CREATE";
    const std::string verb = create ? "CREATE" : "UPDATE";
    const std::string st = "AWS::CloudFormation::Stack";
    auto push = [&](const std::string& logical, const std::string& type, const std::string& status,
                    const std::string& reason = "") { s->pending.push_back(event(*s, logical, type, status, reason)); };
    push(s->name, st, verb + "_IN_PROGRESS", "User Initiated");
    push("ConversationTable", "AWS::DynamoDB::Table", verb + "_IN_PROGRESS");
    push("ConversationTable", "AWS::DynamoDB::Table", verb + "_COMPLETE");
    if (fail_resource.empty()) {
      push("AgentFunction", "AWS::Lambda::Function", verb + "_IN_PROGRESS");
      push("AgentFunction", "AWS::Lambda::Function", verb + "_COMPLETE");
      if (!create) push(s->name, st, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS");
      push(s->name, st, verb + "_COMPLETE");
      s->parameters = cs->parameters;
      s->template_body = cs->template_body;
      s->outputs = outputs_for(s->name);
    } else {
      push(fail_resource, "AWS::Lambda::Function", verb + "_IN_PROGRESS");
      push(fail_resource, "AWS::Lambda::Function", verb + "_FAILED",
           "Resource handler returned message: \"Error occurred while GetObject. S3 Error Code: NoSuchKey\"");
      push("ApiKey", "AWS::ApiGateway::ApiKey", verb + "_FAILED", "Resource creation cancelled");
      push(s->name, st, create ? "ROLLBACK_IN_PROGRESS" : "UPDATE_ROLLBACK_IN_PROGRESS",
           "The following resource(s) failed to " + std::string(create ? "create" : "update") + ": [" +
               fail_resource + "].");
      push("ConversationTable", "AWS::DynamoDB::Table", create ? "DELETE_COMPLETE" : "UPDATE_COMPLETE");
      push(s->name, st, create ? "ROLLBACK_COMPLETE" : "UPDATE_ROLLBACK_COMPLETE");
    }
    return xml_ok("ExecuteChangeSet", "");
  }

  net::ServerResponse delete_stack(const Form& f) {
    const std::string ref = form_value(f, "StackName").value_or("");
    FakeStack* s = find_stack(ref);
    if (!s) return xml_ok("DeleteStack", "");  // AWS: deleting a missing stack succeeds
    const std::string st = "AWS::CloudFormation::Stack";
    s->pending.push_back(event(*s, s->name, st, "DELETE_IN_PROGRESS", "User Initiated"));
    s->pending.push_back(event(*s, "AgentFunction", "AWS::Lambda::Function", "DELETE_IN_PROGRESS", ""));
    s->pending.push_back(event(*s, "AgentFunction", "AWS::Lambda::Function", "DELETE_COMPLETE", ""));
    s->pending.push_back(event(*s, "ConversationTable", "AWS::DynamoDB::Table", "DELETE_SKIPPED", ""));
    s->pending.push_back(event(*s, "BudgetTable", "AWS::DynamoDB::Table", "DELETE_IN_PROGRESS", ""));
    s->pending.push_back(event(*s, "BudgetTable", "AWS::DynamoDB::Table", "DELETE_COMPLETE", ""));
    s->pending.push_back(event(*s, s->name, st, "DELETE_COMPLETE", ""));
    return xml_ok("DeleteStack", "");
  }

  net::ServerResponse describe_stack_events(const Form& f) {
    const std::string ref = form_value(f, "StackName").value_or("");
    FakeStack* s = find_stack(ref);
    if (!s) return missing(ref);
    for (std::size_t i = 0; i < events_per_poll && !s->pending.empty(); ++i) {
      FakeEvent e = std::move(s->pending.front());
      s->pending.pop_front();
      if (e.type == "AWS::CloudFormation::Stack") {
        s->status = e.status;
        s->reason = e.reason;
        if (e.status == "DELETE_COMPLETE") s->deleted = true;
      }
      s->events.push_back(std::move(e));
    }
    std::string m = "<StackEvents>";
    for (auto it = s->events.rbegin(); it != s->events.rend(); ++it) {
      m += "<member><EventId>" + it->id + "</EventId><StackId>" + it->stack_id + "</StackId><StackName>" +
           it->stack_name + "</StackName><LogicalResourceId>" + it->logical_id +
           "</LogicalResourceId><PhysicalResourceId>" + it->physical_id + "</PhysicalResourceId><ResourceType>" +
           it->type + "</ResourceType><Timestamp>" + it->timestamp + "</Timestamp><ResourceStatus>" + it->status +
           "</ResourceStatus>";
      if (!it->reason.empty()) m += "<ResourceStatusReason>" + aws::xml_escape(it->reason) + "</ResourceStatusReason>";
      m += "</member>";
    }
    m += "</StackEvents>";
    return xml_ok("DescribeStackEvents", m);
  }

  // --------------------------------------------------------------- S3 (path-style)
  net::ServerResponse s3(net::ServerRequest& r) {
    std::string path = net::uri_decode(r.path);
    std::string bucket = path.substr(1);
    std::string key;
    if (auto slash = bucket.find('/'); slash != std::string::npos) {
      key = bucket.substr(slash + 1);
      bucket = bucket.substr(0, slash);
    }
    calls_.push_back({"s3", r.method + (key.empty() ? " /bucket" : " /bucket/key"), {{"bucket", bucket}, {"key", key}}});
    check_signature(r, "s3");
    if (auto h = r.headers.get("x-amz-content-sha256"); !h || (*h != sha256_hex(r.body) && *h != "UNSIGNED-PAYLOAD")) {
      problems_.push_back(r.method + " " + r.target + ": x-amz-content-sha256 missing or wrong");
    }
    net::ServerResponse resp;
    auto b = buckets_.find(bucket);
    if (key.empty()) {
      if (r.method == "HEAD") {
        resp.status = b == buckets_.end() ? 404 : 200;
      } else if (r.method == "PUT") {
        if (!r.body.empty() && r.body.find("LocationConstraint") == std::string::npos) {
          problems_.push_back("CreateBucket body without LocationConstraint");
        }
        buckets_[bucket];
        resp.status = 200;
      } else {
        problems_.push_back("unexpected S3 bucket request " + r.method);
        resp.status = 400;
      }
      return resp;
    }
    if (b == buckets_.end()) {
      resp.status = 404;
      if (r.method != "HEAD") resp.body = "<Error><Code>NoSuchBucket</Code><Message>no bucket</Message></Error>";
      return resp;
    }
    if (r.method == "HEAD") {
      auto o = b->second.find(key);
      resp.status = o == b->second.end() ? 404 : 200;
      if (o != b->second.end()) resp.headers.set("ETag", "\"" + sha256_hex(o->second).substr(0, 32) + "\"");
    } else if (r.method == "PUT") {
      b->second[key] = r.body;
      resp.status = 200;
      resp.headers.set("ETag", "\"" + sha256_hex(r.body).substr(0, 32) + "\"");
    } else {
      problems_.push_back("unexpected S3 object request " + r.method);
      resp.status = 400;
    }
    return resp;
  }

  const QueryModel& cfn_model_;
  const QueryModel& sts_model_;
  mutable std::mutex mu_;
  std::deque<FakeStack> stacks_;  // never erased (deleted stacks stay visible by id)
  std::vector<FakeChangeSet> change_sets_;
  std::map<std::string, std::map<std::string, std::string>> buckets_;
  std::vector<std::string> problems_;
  std::vector<Call> calls_;
  int clock_ = 0;
  // Last: started after the state above exists, stopped (destroyed) first.
  net::testing::ServerThread server_;
};

}  // namespace ba::test
